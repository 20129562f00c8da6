import { join } from 'node:path';
import { afterEach } from 'vitest';
import { createRepositories, openDatabase, type Database, type NewAsset, type NewJob, type Repositories } from '../../src/db/index.js';
import { tempDir } from '../helpers/env.js';

export interface TestDb {
  path: string;
  db: Database;
  repos: Repositories;
  /** Another connection to the same file, as a second process would have. */
  reopen(): { db: Database; repos: Repositories };
}

/**
 * A real SQLite file in a fresh temp dir per call; every connection opened through it is closed and
 * the dir removed after the test, so files never see each other's data and may run in any order.
 */
export function useTempDatabases(): (name?: string) => Promise<TestDb> {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return async (name = 'atelier-db') => {
    const dir = await tempDir(name);
    cleanups.push(dir.cleanup);
    const path = join(dir.path, 'data', 'atelier.db');
    const open = () => {
      const db = openDatabase(path);
      cleanups.push(() => {
        if (db.open) db.close();
      });
      return { db, repos: createRepositories(db) };
    };
    return { path, ...open(), reopen: open };
  };
}

let counter = 0;

export function userRef(name = `u${++counter}`) {
  return { platform: 'discord' as const, workspaceId: '', platformUserId: name };
}

export function newJob(userId: number, overrides: Partial<NewJob> = {}): NewJob {
  return {
    userId,
    platform: 'discord',
    workspaceId: 'guild-1',
    channelId: 'channel-1',
    kind: 'image',
    modelId: 'fal-ai/flux/dev',
    prompt: 'a cat in a hat',
    params: { prompt: 'a cat in a hat', num_images: 1 },
    ...overrides,
  };
}

export function newAsset(overrides: Partial<NewAsset> = {}): NewAsset {
  return {
    kind: 'image',
    storageDriver: 'local',
    storageKey: `media/${++counter}.png`,
    contentType: 'image/png',
    bytes: 1234,
    sha256: 'ab'.repeat(32),
    width: 1024,
    height: 768,
    ...overrides,
  };
}
