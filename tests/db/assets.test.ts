import { describe, expect, it } from 'vitest';
import { newAsset, newJob, useTempDatabases, userRef } from './fixtures.js';

const openTemp = useTempDatabases();

async function setup(jobOverrides: Parameters<typeof newJob>[1] = {}) {
  const temp = await openTemp();
  const user = temp.repos.users.upsertUser(userRef());
  const created = temp.repos.jobs.createJobWithinLimit(newJob(user.id, { id: 'job-1', ...jobOverrides }), 10);
  if (!created.ok) throw new Error('job not created');
  return { ...temp, user, job: created.job };
}

const SHARE_ID = /^[A-Za-z0-9_-]{22,}$/;

describe('recordAssets', () => {
  it('stores outputs with the job’s owner, model and prompt, in the order given', async () => {
    const { repos, user } = await setup({ modelId: 'fal-ai/flux/dev', prompt: 'a red fox' });
    const stored = repos.assets.recordAssets('job-1', [
      newAsset({ seed: 42, inferenceMs: 1500, nsfw: true }),
      newAsset({ kind: 'video', contentType: 'video/mp4', durationSeconds: 5.5, posterStorageKey: 'p.jpg', id: 'asset-b' }),
    ]);
    expect(stored).toHaveLength(2);
    const [first, second] = stored;
    expect(first).toMatchObject({
      jobId: 'job-1',
      ownerUserId: user.id,
      position: 0,
      modelId: 'fal-ai/flux/dev',
      prompt: 'a red fox',
      seed: 42,
      inferenceMs: 1500,
      nsfw: true,
      visibility: 'public',
      removedAt: null,
      removedBy: null,
      removedReason: null,
      posterStorageKey: null,
      durationSeconds: null,
    });
    expect(second).toMatchObject({ id: 'asset-b', position: 1, kind: 'video', durationSeconds: 5.5, posterStorageKey: 'p.jpg', nsfw: false });
    expect(first?.shareId).toMatch(SHARE_ID);
    expect(repos.assets.listJobAssets('job-1')).toEqual(stored);
    expect(repos.assets.getAsset('asset-b')).toEqual(second);
    expect(repos.assets.getAssetByShareId(second?.shareId ?? '')).toEqual(second);
    expect(repos.assets.getAsset('nope')).toBeUndefined();
    expect(repos.assets.getAssetByShareId('nope')).toBeUndefined();
  });

  it('is idempotent per (job, position): a replay returns the first rows and share ids', async () => {
    const { repos, db } = await setup();
    const first = repos.assets.recordAssets('job-1', [newAsset(), newAsset()]);
    const replay = repos.assets.recordAssets('job-1', [newAsset({ storageKey: 'different' }), newAsset()]);
    expect(replay).toEqual(first);

    // A longer replay adds only the new position and returns all, in the order asked.
    const extended = repos.assets.recordAssets('job-1', [newAsset({ position: 2 }), newAsset({ position: 0 }), newAsset({ position: 1 })]);
    expect(extended.map((a) => a.position)).toEqual([2, 0, 1]);
    expect(extended.slice(1)).toEqual(first);
    expect(db.prepare('SELECT count(*) FROM assets').pluck().get()).toBe(3);
  });

  it('replays from a second connection return the same rows', async () => {
    const temp = await setup();
    const second = temp.reopen();
    const first = temp.repos.assets.recordAssets('job-1', [newAsset()]);
    expect(second.repos.assets.recordAssets('job-1', [newAsset()])).toEqual(first);
  });

  it('defaults visibility from the job and refuses unknown jobs and duplicate positions', async () => {
    const { repos } = await setup({ private: true });
    expect(repos.assets.recordAssets('job-1', [newAsset()])[0]?.visibility).toBe('private');
    expect(repos.assets.recordAssets('job-1', [newAsset({ position: 1, visibility: 'public' })])[0]?.visibility).toBe('public');
    expect(() => repos.assets.recordAssets('missing-job', [newAsset()])).toThrow(/no job/);
    expect(() => repos.assets.recordAssets('job-1', [newAsset({ position: 5 }), newAsset({ position: 5 })])).toThrow(/duplicate/);
    expect(repos.assets.listJobAssets('job-1')).toHaveLength(2);
  });

  it('gives every asset a distinct base64url share id of at least 128 bits', async () => {
    const { repos, user } = await setup();
    const shareIds = new Set<string>();
    for (let j = 0; j < 50; j++) {
      const created = repos.jobs.createJobWithinLimit(newJob(user.id), 100);
      if (!created.ok) throw new Error('job not created');
      repos.jobs.finishJob(created.job.id, { status: 'succeeded', at: j });
      for (const asset of repos.assets.recordAssets(created.job.id, [newAsset(), newAsset(), newAsset(), newAsset()])) {
        expect(asset.shareId).toMatch(SHARE_ID);
        expect(Buffer.from(asset.shareId, 'base64url').length).toBeGreaterThanOrEqual(16);
        shareIds.add(asset.shareId);
      }
    }
    expect(shareIds.size).toBe(200);
  });
});

describe('removeAsset', () => {
  it('hides the asset, keeps it reachable by share id, and keeps the first removal', async () => {
    const { repos, user } = await setup();
    const [kept, removed] = repos.assets.recordAssets('job-1', [newAsset(), newAsset()]);
    if (!kept || !removed) throw new Error('assets not recorded');

    const result = repos.assets.removeAsset(removed.id, { by: `user:${user.id}`, reason: 'regret', at: 1000 });
    expect(result).toMatchObject({ id: removed.id, removedAt: 1000, removedBy: `user:${user.id}`, removedReason: 'regret' });
    const again = repos.assets.removeAsset(removed.id, { by: 'admin', reason: 'abuse', at: 2000 });
    expect(again).toEqual(result);

    expect(repos.assets.getAssetByShareId(removed.shareId)).toEqual(result);
    expect(repos.assets.gallery(user.id, { limit: 10 }).items.map((a) => a.id)).toEqual([kept.id]);
    expect(repos.assets.listJobAssets('job-1')).toHaveLength(2);
    expect(repos.assets.removeAsset('missing', { by: 'admin', at: 1 })).toBeUndefined();
    expect(repos.assets.removeAsset(kept.id, { by: 'admin', at: 3 })).toMatchObject({ removedReason: null });
  });

  it('keeps the full-text index consistent through updates and deletes', async () => {
    const { repos, db, user } = await setup({ prompt: 'lighthouse in a storm' });
    repos.assets.recordAssets('job-1', [newAsset(), newAsset()]);
    expect(repos.assets.gallery(user.id, { limit: 10, search: 'lighthouse' }).items).toHaveLength(2);
    db.prepare("UPDATE assets SET prompt = 'quiet meadow' WHERE position = 0").run();
    expect(repos.assets.gallery(user.id, { limit: 10, search: 'lighthouse' }).items).toHaveLength(1);
    expect(repos.assets.gallery(user.id, { limit: 10, search: 'meadow' }).items).toHaveLength(1);
    db.prepare("DELETE FROM jobs WHERE id = 'job-1'").run(); // cascades to assets
    expect(repos.assets.gallery(user.id, { limit: 10, search: 'lighthouse' }).items).toHaveLength(0);
    expect(() => db.exec("INSERT INTO assets_fts (assets_fts, rank) VALUES ('integrity-check', 1)")).not.toThrow();
  });
});
