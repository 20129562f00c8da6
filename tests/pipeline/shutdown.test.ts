import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { FAST_TUNING, newFalKey, startTestApp, testUser, type TestApp } from '../helpers/app.js';

/** SIGTERM's path (app.close): stop taking jobs, let in-flight ones finish or hand them back. */
describe('graceful shutdown', () => {
  let fake: FakeFal;
  const running: TestApp[] = [];

  beforeAll(async () => {
    fake = await startFakeFal();
  });
  afterEach(async () => {
    while (running.length) await running.pop()?.close();
    fake.reset();
  });
  afterAll(async () => {
    await fake?.close();
  });

  async function start(options: Partial<Parameters<typeof startTestApp>[0]> = {}) {
    const harness = await startTestApp({ fake, ...options });
    running.push(harness);
    return harness;
  }

  async function queueHeldJob(harness: TestApp) {
    const user = testUser('shutdown');
    const key = newFalKey();
    fake.addKey(key);
    await harness.app.owner!.services.keys.register(user, key);
    fake.hold('fal-ai/flux/schnell');
    const { job } = await harness.app.owner!.service.enqueue({ user, workspaceId: 'g', channelId: 'c', kind: 'image', prompt: 'mid-flight' });
    await fake.waitForSubmit('fal-ai/flux/schnell');
    return job;
  }

  it('lets an in-flight job finish before closing', async () => {
    const harness = await start();
    const job = await queueHeldJob(harness);
    const closing = harness.app.close();
    setTimeout(() => fake.release(), 200);
    await closing;
    expect(fake.submits()).toHaveLength(1);
    // Completed by the closing worker; whatever was not delivered yet is delivered on the next start.
    const restarted = await start({ share: { dataDir: harness.dataDir, prefix: harness.prefix } });
    const delivered = harness.deliverer.forJob(job.id)[0] ?? (await restarted.deliverer.waitFor(job.id));
    expect(delivered.status).toBe('succeeded');
    expect(fake.submits()).toHaveLength(1);
  });

  it('hands a job that outlasts the grace period back to the queue, where it resumes', async () => {
    const harness = await start({ appOptions: { workerTuning: { ...FAST_TUNING.workerTuning, shutdownGraceMs: 100 } } });
    const job = await queueHeldJob(harness);
    await harness.app.close();
    expect(harness.deliverer.forJob(job.id)).toHaveLength(0);

    const restarted = await start({ share: { dataDir: harness.dataDir, prefix: harness.prefix } });
    fake.release();
    const delivery = await restarted.deliverer.waitFor(job.id, 20_000);
    expect(delivery.status).toBe('succeeded');
    expect(fake.submits()).toHaveLength(1);
  }, 30_000);
});
