import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { falErrors, startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { newFalKey, startTestApp, testUser, type TestApp } from '../helpers/app.js';
import { testRedisUrl } from '../helpers/env.js';

/** Dumps every value under a prefix as text, whatever its Redis type. */
async function dumpRedis(redis: Redis, prefix: string): Promise<string> {
  const parts: string[] = [];
  for (const key of await redis.keys(`${prefix}:*`)) {
    const type = await redis.type(key);
    parts.push(key);
    if (type === 'string') parts.push((await redis.get(key)) ?? '');
    else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
    else if (type === 'list') parts.push(...(await redis.lrange(key, 0, -1)));
    else if (type === 'set') parts.push(...(await redis.smembers(key)));
    else if (type === 'zset') parts.push(...(await redis.zrange(key, '0', '-1')));
    else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
  }
  return parts.join('\n');
}

describe('a fal key never appears in clear', () => {
  let fake: FakeFal;
  let harness: TestApp;
  let redis: Redis;

  beforeAll(async () => {
    fake = await startFakeFal();
    harness = await startTestApp({ fake });
    redis = new Redis(testRedisUrl);
  });
  afterAll(async () => {
    await redis?.quit();
    await harness?.close();
    await fake?.close();
  });

  it('not in logs, Redis job data, nor the SQLite file, across success, failure and retry', async () => {
    const owner = harness.app.owner!;
    const user = testUser('secretive');
    const key = newFalKey();
    fake.addKey(key);
    await owner.services.keys.register(user, key);

    const run = async (prompt: string) => {
      const { job } = await owner.service.enqueue({ user, workspaceId: 'guild-1', channelId: 'c', kind: 'image', prompt });
      return harness.deliverer.waitFor(job.id);
    };
    expect((await run('works')).status).toBe('succeeded');
    fake.failNext('submit', falErrors.internal());
    expect((await run('retried')).status).toBe('succeeded');
    fake.setOutput('fal-ai/flux/schnell', fake.modelErrorFrom(falErrors.contentPolicy()));
    expect((await run('blocked')).status).toBe('failed');
    // A key check that fal rejects, too.
    await expect(owner.services.keys.register(testUser('other'), `${key.slice(0, -4)}beef`)).rejects.toMatchObject({ code: 'INVALID_KEY' });

    const secretParts = [key, key.split(':')[1] ?? key];
    const logs = harness.logs.text;
    expect(logs.length).toBeGreaterThan(0);
    const redisDump = await dumpRedis(redis, harness.prefix);
    expect(redisDump).toContain('encryptedKey');
    const dbPath = `${harness.dataDir}/atelier.db`;
    const sqlite = Buffer.concat([
      await readFile(dbPath),
      ...(existsSync(`${dbPath}-wal`) ? [await readFile(`${dbPath}-wal`)] : []),
    ]);
    for (const part of secretParts) {
      expect(logs).not.toContain(part);
      expect(redisDump).not.toContain(part);
      expect(sqlite.includes(Buffer.from(part, 'utf8'))).toBe(false);
    }
    // What may be stored and shown: the hint.
    expect(sqlite.includes(Buffer.from(`…${key.slice(-4)}`, 'utf8'))).toBe(true);
  });
});

describe('adapters reply routes are sealed in the database', () => {
  let fake: FakeFal;
  let harness: TestApp;

  beforeAll(async () => {
    fake = await startFakeFal();
    harness = await startTestApp({ fake });
  });
  afterAll(async () => {
    await harness?.close();
    await fake?.close();
  });

  it('stores an interaction token only sealed, and hands it back to the adapter opened', async () => {
    const owner = harness.app.owner!;
    const user = testUser('routed');
    const key = newFalKey();
    fake.addKey(key);
    await owner.services.keys.register(user, key);
    const token = `interaction-token-${newFalKey()}`;
    const { job } = await owner.service.enqueue({ user, workspaceId: 'g', channelId: 'c', kind: 'image', prompt: 'sealed', reply: { platform: 'test', token } });
    const delivery = await harness.deliverer.waitFor(job.id);
    expect(delivery.job.reply).toEqual({ platform: 'test', token });
    expect(JSON.stringify(owner.repos.jobs.getJob(job.id)?.reply)).not.toContain(token);
    const dbPath = `${harness.dataDir}/atelier.db`;
    const bytes = Buffer.concat([await readFile(dbPath), ...(existsSync(`${dbPath}-wal`) ? [await readFile(`${dbPath}-wal`)] : [])]);
    expect(bytes.includes(Buffer.from(token))).toBe(false);
  });
});
