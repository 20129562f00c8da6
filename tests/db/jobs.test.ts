import { describe, expect, it } from 'vitest';
import type { FinalJobStatus } from '../../src/db/index.js';
import { newJob, useTempDatabases, userRef } from './fixtures.js';

const openTemp = useTempDatabases();

async function setup() {
  const temp = await openTemp();
  const user = temp.repos.users.upsertUser(userRef());
  return { ...temp, user };
}

describe('createJobWithinLimit', () => {
  it('creates jobs until the user has maxActive active ones, then reports the count', async () => {
    const { repos, user } = await setup();
    const created = [1, 2, 3].map(() => repos.jobs.createJobWithinLimit(newJob(user.id), 3));
    expect(created.every((result) => result.ok)).toBe(true);
    expect(repos.jobs.createJobWithinLimit(newJob(user.id), 3)).toEqual({ ok: false, active: 3 });

    // Running and saving still count; only a final status frees a slot.
    const [a, b, c] = created.map((result) => (result.ok ? result.job.id : ''));
    repos.jobs.markRunning(a ?? '', 1);
    repos.jobs.markSaving(b ?? '');
    expect(repos.jobs.createJobWithinLimit(newJob(user.id), 3)).toEqual({ ok: false, active: 3 });
    repos.jobs.finishJob(c ?? '', { status: 'failed', errorCode: 'INTERNAL', at: 2 });
    expect(repos.jobs.createJobWithinLimit(newJob(user.id), 3).ok).toBe(true);

    // Other users have their own limit.
    const other = repos.users.upsertUser(userRef());
    expect(repos.jobs.createJobWithinLimit(newJob(other.id), 3).ok).toBe(true);
    expect(repos.jobs.createJobWithinLimit(newJob(user.id), 0)).toEqual({ ok: false, active: 3 });
  });

  it('stores every field and maps it back', async () => {
    const { repos, user } = await setup();
    const reply = { interactionToken: 'tok', messageIds: ['1', '2'], nested: { ok: true } };
    const result = repos.jobs.createJobWithinLimit(
      newJob(user.id, {
        id: 'job-explicit',
        platform: 'slack',
        workspaceId: 'T1',
        channelId: 'C1',
        kind: 'video',
        modelId: 'fal-ai/kling',
        prompt: 'a whale',
        params: { prompt: 'a whale', duration: 5, image_urls: ['https://x/y.png'] },
        reply,
        private: true,
        createdAt: 1234,
      }),
      5,
    );
    expect(result).toEqual({
      ok: true,
      job: {
        id: 'job-explicit',
        userId: user.id,
        platform: 'slack',
        workspaceId: 'T1',
        channelId: 'C1',
        kind: 'video',
        modelId: 'fal-ai/kling',
        prompt: 'a whale',
        params: { prompt: 'a whale', duration: 5, image_urls: ['https://x/y.png'] },
        status: 'queued',
        falRequestId: null,
        errorCode: null,
        errorMessage: null,
        reply,
        private: true,
        createdAt: 1234,
        startedAt: null,
        finishedAt: null,
        deliveredAt: null,
        reviewState: null,
      },
    });
    expect(repos.jobs.getJob('job-explicit')).toEqual(result.ok ? result.job : undefined);
    expect(repos.jobs.getJob('missing')).toBeUndefined();

    const generated = repos.jobs.createJobWithinLimit(newJob(user.id), 5);
    expect(generated.ok && generated.job.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(generated.ok && generated.job.reply).toBeNull();
    expect(generated.ok && generated.job.private).toBe(false);
  });

  it('refuses a duplicate id without counting it against the limit', async () => {
    const { repos, user } = await setup();
    expect(repos.jobs.createJobWithinLimit(newJob(user.id, { id: 'dup' }), 5).ok).toBe(true);
    expect(() => repos.jobs.createJobWithinLimit(newJob(user.id, { id: 'dup' }), 5)).toThrow(/UNIQUE/);
    expect(repos.jobs.listActiveJobs(user.id)).toHaveLength(1);
  });
});

describe('job lifecycle', () => {
  it('moves queued → running → saving → succeeded and keeps the first start time', async () => {
    const { repos, user } = await setup();
    const created = repos.jobs.createJobWithinLimit(newJob(user.id, { id: 'j1' }), 5);
    expect(created.ok).toBe(true);
    expect(repos.jobs.markRunning('j1', 100)).toBe(true);
    expect(repos.jobs.setFalRequestId('j1', 'req-1')).toBe(true);
    expect(repos.jobs.markRunning('j1', 150)).toBe(true); // a retry
    expect(repos.jobs.markSaving('j1')).toBe(true);
    expect(repos.jobs.finishJob('j1', { status: 'succeeded', at: 200 })).toBe(true);
    expect(repos.jobs.getJob('j1')).toMatchObject({
      status: 'succeeded',
      startedAt: 100,
      finishedAt: 200,
      falRequestId: 'req-1',
      errorCode: null,
      errorMessage: null,
    });
  });

  it('never overwrites a final status', async () => {
    const { repos, user } = await setup();
    repos.jobs.createJobWithinLimit(newJob(user.id, { id: 'j2' }), 5);
    expect(repos.jobs.finishJob('j2', { status: 'cancelled', errorCode: 'CANCELLED', errorMessage: 'by user', at: 10 })).toBe(true);
    for (const status of ['succeeded', 'failed', 'cancelled'] as const) {
      expect(repos.jobs.finishJob('j2', { status, errorCode: 'INTERNAL', errorMessage: 'late', at: 20 })).toBe(false);
    }
    expect(repos.jobs.markRunning('j2', 30)).toBe(false);
    expect(repos.jobs.markSaving('j2')).toBe(false);
    expect(repos.jobs.setFalRequestId('j2', 'late')).toBe(false);
    expect(repos.jobs.getJob('j2')).toMatchObject({
      status: 'cancelled',
      errorCode: 'CANCELLED',
      errorMessage: 'by user',
      finishedAt: 10,
      startedAt: null,
      falRequestId: null,
    });
    expect(repos.jobs.finishJob('unknown', { status: 'failed', at: 1 })).toBe(false);
    expect(() => repos.jobs.finishJob('j2', { status: 'running' as FinalJobStatus, at: 1 })).toThrow(RangeError);
  });

  it('marks a job delivered exactly once', async () => {
    const one = await setup();
    const two = one.reopen();
    one.repos.jobs.createJobWithinLimit(newJob(one.user.id, { id: 'j3' }), 5);
    expect(one.repos.jobs.markDelivered('j3', 500)).toBe(true);
    expect(two.repos.jobs.markDelivered('j3', 600)).toBe(false);
    expect(one.repos.jobs.markDelivered('j3', 700)).toBe(false);
    expect(two.repos.jobs.getJob('j3')?.deliveredAt).toBe(500);
    expect(one.repos.jobs.markDelivered('unknown', 1)).toBe(false);
  });

  it('lists active jobs oldest first and counts jobs by status', async () => {
    const { repos, user } = await setup();
    const other = repos.users.upsertUser(userRef());
    expect(repos.jobs.countJobsByStatus()).toEqual({ queued: 0, running: 0, saving: 0, succeeded: 0, failed: 0, cancelled: 0 });
    for (const [id, createdAt] of [['b', 2], ['a', 1], ['c', 3], ['d', 4]] as const) {
      repos.jobs.createJobWithinLimit(newJob(user.id, { id, createdAt }), 10);
    }
    repos.jobs.createJobWithinLimit(newJob(other.id, { id: 'o' }), 10);
    repos.jobs.markRunning('c', 5);
    repos.jobs.finishJob('d', { status: 'failed', at: 6 });
    expect(repos.jobs.listActiveJobs(user.id).map((job) => job.id)).toEqual(['a', 'b', 'c']);
    expect(repos.jobs.listRecentJobs(user.id, 2).map((job) => job.id)).toEqual(['d', 'c']);
    expect(repos.jobs.countJobsByStatus()).toEqual({ queued: 3, running: 1, saving: 0, succeeded: 0, failed: 1, cancelled: 0 });
  });

  it('rejects a status outside the vocabulary at the database', async () => {
    const { repos, user, db } = await setup();
    repos.jobs.createJobWithinLimit(newJob(user.id, { id: 'j4' }), 5);
    expect(() => db.prepare("UPDATE jobs SET status = 'exploded' WHERE id = 'j4'").run()).toThrow(/CHECK/);
  });
});
