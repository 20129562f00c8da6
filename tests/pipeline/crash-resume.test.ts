import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { newFalKey, startTestApp, testUser, type TestApp } from '../helpers/app.js';
import { testRedisUrl } from '../helpers/env.js';

/** A worker process killed after the submit is replaced, and the user is billed once. */
describe('crash resume', () => {
  let fake: FakeFal;
  let owner: TestApp;
  let replacement: TestApp | undefined;
  const children: ChildProcess[] = [];
  const secret = randomBytes(32).toString('base64url');

  beforeAll(async () => {
    fake = await startFakeFal();
    // The owner runs no generation worker: jobs go to the child process.
    owner = await startTestApp({ fake, roles: { owner: true, generate: false }, env: { KEY_ENCRYPTION_SECRET: secret } });
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await replacement?.close();
    await owner?.close();
    await fake?.close();
  });

  async function startWorkerProcess(): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'tests/helpers/worker-process.ts'], {
      env: {
        PATH: process.env.PATH ?? '',
        REDIS_URL: testRedisUrl,
        QUEUE_PREFIX: owner.prefix,
        DATABASE_PATH: `${owner.dataDir}/worker/atelier.db`,
        STORAGE_DIR: `${owner.dataDir}/media`,
        FAL_PROXY_URL: fake.proxyUrl,
        KEY_ENCRYPTION_SECRET: secret,
        PUBLIC_URL: owner.baseUrl,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve();
      });
    });
    return child;
  }

  it('resumes the fal request after the worker is killed, with exactly one submit', async () => {
    const user = testUser('crash');
    const key = newFalKey();
    fake.addKey(key);
    await owner.app.owner!.services.keys.register(user, key);
    fake.hold('fal-ai/flux/schnell');

    const worker = await startWorkerProcess();
    const { job } = await owner.app.owner!.service.enqueue({
      user,
      workspaceId: 'guild-1',
      channelId: 'channel-1',
      kind: 'image',
      prompt: 'survives a crash',
    });
    const submit = await fake.waitForSubmit('fal-ai/flux/schnell', 1, 15_000);
    // The request id reached the job (and SQLite, through the progress feed) before anything else.
    await expect.poll(() => owner.app.owner!.repos.jobs.getJob(job.id)?.falRequestId, { timeout: 5_000 }).toBe(submit.requestId);

    worker.kill('SIGKILL');
    await once(worker, 'exit');

    // A new worker (here in-process) takes over once the dead worker's lock expires.
    replacement = await startTestApp({
      fake,
      roles: { owner: false, generate: true },
      share: { dataDir: owner.dataDir, prefix: owner.prefix },
      env: { KEY_ENCRYPTION_SECRET: secret, DATABASE_PATH: `${owner.dataDir}/replacement/atelier.db` },
    });
    fake.release();

    const delivery = await owner.deliverer.waitFor(job.id, 30_000);
    expect(delivery.status).toBe('succeeded');
    expect(fake.submits()).toHaveLength(1);
    expect(owner.deliverer.forJob(job.id)).toHaveLength(1);
    expect(owner.app.owner!.repos.jobs.getJob(job.id)).toMatchObject({ status: 'succeeded', falRequestId: submit.requestId });
  }, 60_000);
});
