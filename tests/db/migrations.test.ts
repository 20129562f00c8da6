import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  appliedMigrations,
  applyMigrations,
  MIGRATIONS,
  MigrationError,
  openDatabase,
  type Database,
  type Migration,
} from '../../src/db/index.js';
import { tempDir } from '../helpers/env.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempPath(file = 'test.db'): Promise<string> {
  const dir = await tempDir('atelier-migrations');
  cleanups.push(dir.cleanup);
  return join(dir.path, file);
}

function track(db: Database): Database {
  cleanups.push(() => {
    if (db.open) db.close();
  });
  return db;
}

/** A bare connection, so a test controls exactly which migrations run. */
function rawOpen(path: string): Database {
  return track(new BetterSqlite3(path));
}

function tables(db: Database): string[] {
  return db
    .prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all();
}

describe('openDatabase', () => {
  it('creates missing parent directories and sets the connection pragmas', async () => {
    const path = await tempPath(join('nested', 'deeper', 'atelier.db'));
    const db = track(openDatabase(path));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(tables(db)).toEqual(expect.arrayContaining(['assets', 'fal_keys', 'jobs', 'schema_migrations', 'users']));
  });

  it('accepts :memory:', () => {
    const db = track(openDatabase(':memory:'));
    expect(appliedMigrations(db).map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('is a no-op when opened again', async () => {
    const path = await tempPath();
    const first = track(openDatabase(path));
    const recorded = appliedMigrations(first);
    first.close();

    const second = track(openDatabase(path));
    expect(appliedMigrations(second)).toEqual(recorded);
    expect(applyMigrations(second)).toEqual([]);
    expect(appliedMigrations(second)).toEqual(recorded);
  });
});

describe('applyMigrations', () => {
  const createA: Migration = { version: 1, name: 'a', up: 'CREATE TABLE a (x INTEGER)' };
  const createB: Migration = {
    version: 2,
    name: 'b',
    up: (db) => {
      db.exec('CREATE TABLE b (x INTEGER)');
      db.prepare('INSERT INTO a (x) VALUES (?)').run(42);
    },
  };

  it('applies only what is missing, in order, and records each version once', async () => {
    const path = await tempPath();
    const db = rawOpen(path);
    expect(applyMigrations(db, [createA])).toEqual([1]);
    expect(applyMigrations(db, [createA, createB])).toEqual([2]);
    expect(applyMigrations(db, [createA, createB])).toEqual([]);
    expect(appliedMigrations(db).map((m) => [m.version, m.name])).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
    // The data change ran once, not once per boot.
    expect(db.prepare('SELECT count(*) FROM a').pluck().get()).toBe(1);
  });

  it('rolls a failing SQL migration back entirely and keeps the earlier ones', async () => {
    const path = await tempPath();
    const db = rawOpen(path);
    const broken: Migration = {
      version: 3,
      name: 'broken',
      // The first statement succeeds; the second fails, and must take the first down with it.
      up: 'CREATE TABLE c (x INTEGER); INSERT INTO a (x) VALUES (7); CREATE TABLE c (y INTEGER);',
    };
    let caught: unknown;
    try {
      applyMigrations(db, [createA, createB, broken]);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MigrationError);
    expect((caught as MigrationError).version).toBe(3);
    expect(tables(db)).toEqual(['a', 'b', 'schema_migrations']);
    expect(db.prepare('SELECT x FROM a').pluck().all()).toEqual([42]);
    expect(appliedMigrations(db).map((m) => m.version)).toEqual([1, 2]);
    expect(db.inTransaction).toBe(false);

    // The same file opened afresh sees the same state, and a fixed migration then applies.
    db.close();
    const again = rawOpen(path);
    const fixed: Migration = { version: 3, name: 'fixed', up: 'CREATE TABLE c (x INTEGER)' };
    expect(applyMigrations(again, [createA, createB, fixed])).toEqual([3]);
    expect(tables(again)).toEqual(['a', 'b', 'c', 'schema_migrations']);
  });

  it('rolls a throwing function migration back', async () => {
    const path = await tempPath();
    const db = rawOpen(path);
    const throwing: Migration = {
      version: 2,
      name: 'throws',
      up: (conn) => {
        conn.exec('CREATE TABLE half (x INTEGER)');
        throw new Error('boom');
      },
    };
    expect(() => applyMigrations(db, [createA, throwing])).toThrow(/Migration 2 \(throws\) failed: boom/);
    expect(tables(db)).toEqual(['a', 'schema_migrations']);
    expect(appliedMigrations(db).map((m) => m.version)).toEqual([1]);
  });

  it('refuses versions that do not strictly increase', async () => {
    const db = rawOpen(await tempPath());
    expect(() => applyMigrations(db, [createB, createA])).toThrow(/strictly increasing/);
    expect(() => applyMigrations(db, [createA, { ...createB, version: 1 }])).toThrow(/strictly increasing/);
    expect(() => applyMigrations(db, [{ ...createA, version: 0 }])).toThrow(/strictly increasing/);
  });

  it('lets a second connection to the same file find everything already applied', async () => {
    const path = await tempPath();
    const one = rawOpen(path);
    const two = rawOpen(path);
    expect(applyMigrations(one)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(applyMigrations(two)).toEqual([]);
  });

  it('keeps the app schema in strictly increasing order', () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
  });
});
