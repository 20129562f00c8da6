import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Tests are the one other place that may read the environment: to find the Redis they run against.
export const testRedisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A BullMQ prefix no other test file (or earlier run) uses. */
export function uniquePrefix(name: string): string {
  return `atelier-test-${name}-${randomBytes(4).toString('hex')}`;
}

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir(name = 'atelier'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `${name}-`));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}
