import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { applyMigrations, MIGRATIONS, type Migration } from './migrations.js';

export type { Database } from 'better-sqlite3';

export interface OpenDatabaseOptions {
  /** Defaults to the app's schema; tests pass their own list. */
  migrations?: readonly Migration[];
}

const BUSY_TIMEOUT_MS = 5000;

function isInMemory(path: string): boolean {
  return path === '' || path === ':memory:' || path.startsWith('file:');
}

/**
 * Opens (creating if needed) the SQLite file, sets the connection pragmas and brings the schema up
 * to date. Several processes (bots, workers, HTTP) may open the same file: WAL lets readers run
 * beside one writer, and the busy timeout makes a writer wait for the lock instead of failing.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): Database {
  if (!isInMemory(path)) mkdirSync(dirname(path), { recursive: true });
  const db = new BetterSqlite3(path, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // With WAL, NORMAL only risks the last commits on power loss (never corruption) and saves an fsync per commit.
    db.pragma('synchronous = NORMAL');
    applyMigrations(db, options.migrations ?? MIGRATIONS);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
