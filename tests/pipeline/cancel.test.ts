import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { newFalKey, startTestApp, testUser, type TestApp } from '../helpers/app.js';

describe('cancel', () => {
  let fake: FakeFal;
  let harness: TestApp;

  beforeAll(async () => {
    fake = await startFakeFal();
    harness = await startTestApp({ fake });
  });
  afterEach(() => fake.reset());
  afterAll(async () => {
    await harness?.close();
    await fake?.close();
  });

  async function userWithKey() {
    const user = testUser('canceller');
    const key = newFalKey();
    fake.addKey(key);
    await harness.app.owner!.services.keys.register(user, key);
    return user;
  }

  const enqueue = (user: ReturnType<typeof testUser>, prompt: string) =>
    harness.app.owner!.service.enqueue({ user, workspaceId: 'guild-1', channelId: 'channel-1', kind: 'image', prompt });

  it('removes a queued job before it reaches fal', async () => {
    const user = await userWithKey();
    await harness.app.queues.generate.pause();
    try {
      const { job } = await enqueue(user, 'never generated');
      await harness.app.owner!.service.cancel(job.id, user);
      const delivery = await harness.deliverer.waitFor(job.id);
      expect(delivery.status).toBe('cancelled');
      expect(delivery.job.status).toBe('cancelled');
      expect(await harness.app.queues.generate.getJob(job.id)).toBeUndefined();
    } finally {
      await harness.app.queues.generate.resume();
    }
    expect(fake.submits()).toHaveLength(0);
  });

  it('cancels a running job at fal', async () => {
    const user = await userWithKey();
    fake.hold('fal-ai/flux/schnell');
    const { job } = await enqueue(user, 'stopped midway');
    const submit = await fake.waitForSubmit('fal-ai/flux/schnell');
    await harness.app.owner!.service.cancel(job.id, user);
    const delivery = await harness.deliverer.waitFor(job.id);
    expect(delivery.status).toBe('cancelled');
    expect(fake.cancels().map((cancel) => cancel.requestId)).toEqual([submit.requestId]);
    expect(harness.app.owner!.repos.jobs.getJob(job.id)?.status).toBe('cancelled');
    // The slot is free again.
    expect(harness.app.owner!.service.activeJobs(user)).toHaveLength(0);
  });

  it("refuses to cancel another user's job", async () => {
    const owner = await userWithKey();
    const stranger = await userWithKey();
    fake.hold('fal-ai/flux/schnell');
    const { job } = await enqueue(owner, 'not yours');
    await expect(harness.app.owner!.service.cancel(job.id, stranger)).rejects.toBeInstanceOf(AppError);
    fake.release();
    expect((await harness.deliverer.waitFor(job.id)).status).toBe('succeeded');
  });

  it('enforces the per-user limit on active jobs before creating a job', async () => {
    const user = await userWithKey();
    fake.hold('fal-ai/flux/schnell');
    const jobs = [];
    for (let index = 0; index < 3; index += 1) jobs.push((await enqueue(user, `job ${index}`)).job);
    await expect(enqueue(user, 'one too many')).rejects.toMatchObject({ code: 'TOO_MANY_JOBS' });
    expect(harness.app.owner!.service.activeJobs(user)).toHaveLength(3);
    fake.release();
    for (const job of jobs) expect((await harness.deliverer.waitFor(job.id)).status).toBe('succeeded');
    await expect.poll(async () => fake.submits().length).toBe(3);
  });
});
