import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../src/db/index.js';
import { newAsset, newJob, useTempDatabases, userRef } from './fixtures.js';

describe('moderation records', () => {
  const temp = useTempDatabases();
  const guild = { platform: 'discord' as const, workspaceId: 'guild-1' };
  const otherGuild = { platform: 'discord' as const, workspaceId: 'guild-2' };

  it('answers defaults for an untouched community, and keeps changes for another connection (a restart)', async () => {
    const { repos, reopen } = await temp();
    expect(repos.moderation.settings(guild)).toEqual({ ...guild, ...DEFAULT_SETTINGS });
    repos.moderation.updateSettings(guild, { nsfwPolicy: 'hold', reviewChannelId: 'c-review', allowedModels: ['fal-ai/flux/dev'], dailyCap: 3 });
    repos.moderation.updateSettings(guild, { moderatorUserIds: ['u1', 'u2'], moderatorGroupId: 'role-1' });
    const after = reopen().repos.moderation.settings(guild);
    expect(after).toMatchObject({
      nsfwPolicy: 'hold',
      otherPolicy: 'allow',
      reviewChannelId: 'c-review',
      allowedModels: ['fal-ai/flux/dev'],
      dailyCap: 3,
      moderatorUserIds: ['u1', 'u2'],
      moderatorGroupId: 'role-1',
    });
    expect(after.updatedAt).toEqual(expect.any(Number));
    expect(repos.moderation.settings(otherGuild)).toEqual({ ...otherGuild, ...DEFAULT_SETTINGS });
  });

  it('keeps blocklists, bans and the log per community', async () => {
    const { repos } = await temp();
    expect(repos.moderation.addPattern(guild, 'gore', 'mod-1')).toBe(true);
    expect(repos.moderation.addPattern(guild, 'gore', 'mod-2')).toBe(false);
    expect(repos.moderation.blocklist(guild)).toEqual([{ pattern: 'gore', addedBy: 'mod-1', createdAt: expect.any(Number) }]);
    expect(repos.moderation.blocklist(otherGuild)).toEqual([]);
    expect(repos.moderation.removePattern(guild, 'gore')).toBe(true);
    expect(repos.moderation.removePattern(guild, 'gore')).toBe(false);

    expect(repos.moderation.addBan(guild, 'eve', 'mod-1', 'spam')).toBe(true);
    expect(repos.moderation.addBan(guild, 'eve', 'mod-2', null)).toBe(false);
    expect(repos.moderation.ban(guild, 'eve')).toMatchObject({ bannedBy: 'mod-1', reason: 'spam' });
    expect(repos.moderation.ban(otherGuild, 'eve')).toBeUndefined();
    expect(repos.moderation.removeBan(guild, 'eve')).toBe(true);

    repos.moderation.log({ ...guild, actor: 'mod-1', action: 'ban', target: 'eve', reason: 'spam', createdAt: 1 });
    repos.moderation.log({ ...guild, actor: 'mod-1', action: 'unban', target: 'eve', reason: null, createdAt: 2 });
    repos.moderation.log({ ...otherGuild, actor: 'mod-9', action: 'ban', target: 'x', reason: null, createdAt: 3 });
    expect(repos.moderation.recentActions(guild, 10).map((action) => action.action)).toEqual(['unban', 'ban']);
    expect(repos.moderation.recentActions(guild, 1)).toHaveLength(1);
  });

  it('holds a job and its outputs together, and lets one decision win', async () => {
    const { repos } = await temp();
    const user = repos.users.upsertUser(userRef());
    const created = repos.jobs.createJobWithinLimit(newJob(user.id), 5);
    if (!created.ok) throw new Error('job not created');
    const [asset] = repos.assets.recordAssets(created.job.id, [newAsset()]);
    expect(repos.jobs.changeReviewState(created.job.id, null, 'held')).toBe(true);
    expect(repos.assets.getAsset(asset!.id)?.held).toBe(true);
    expect(repos.assets.gallery(user.id, { limit: 10, publicOnly: true }).items).toEqual([]);
    expect(repos.assets.gallery(user.id, { limit: 10 }).items.map((item) => item.id)).toEqual([asset!.id]);
    expect(repos.jobs.changeReviewState(created.job.id, 'held', 'approved')).toBe(true);
    expect(repos.jobs.changeReviewState(created.job.id, 'held', 'rejected')).toBe(false);
    expect(repos.jobs.getJob(created.job.id)?.reviewState).toBe('approved');
    expect(repos.assets.gallery(user.id, { limit: 10, publicOnly: true }).items.map((item) => item.id)).toEqual([asset!.id]);
  });

  it('counts a member’s jobs in one community over the daily window, failed ones aside', async () => {
    const { repos } = await temp();
    const user = repos.users.upsertUser(userRef());
    const cap = { max: 2, since: 1_000 };
    expect(repos.jobs.createJobWithinLimit(newJob(user.id, { createdAt: 500 }), 10, cap).ok).toBe(true);
    const first = repos.jobs.createJobWithinLimit(newJob(user.id, { createdAt: 2_000 }), 10, cap);
    const failed = repos.jobs.createJobWithinLimit(newJob(user.id, { createdAt: 2_500 }), 10, cap);
    if (!first.ok || !failed.ok) throw new Error('jobs not created');
    repos.jobs.finishJob(failed.job.id, { status: 'failed', at: 2_600 });
    expect(repos.jobs.createJobWithinLimit(newJob(user.id, { createdAt: 3_000 }), 10, cap).ok).toBe(true);
    expect(repos.jobs.createJobWithinLimit(newJob(user.id, { createdAt: 3_500 }), 10, cap)).toEqual({ ok: false, daily: { used: 2, freesAt: 2_000 + 24 * 3600_000 } });
    expect(repos.jobs.createJobWithinLimit(newJob(user.id, { createdAt: 3_500, workspaceId: 'guild-2' }), 10, cap).ok).toBe(true);
  });

  it('keeps one open review message per job or output, and the decided ones on record', async () => {
    const { repos } = await temp();
    const user = repos.users.upsertUser(userRef());
    const created = repos.jobs.createJobWithinLimit(newJob(user.id), 5);
    if (!created.ok) throw new Error('job not created');
    const [asset] = repos.assets.recordAssets(created.job.id, [newAsset()]);
    const report = { jobId: created.job.id, assetId: asset!.id, kind: 'report' as const, platform: 'discord' as const, channelId: 'c' };
    const first = repos.moderation.recordReviewPost({ ...report, messageId: 'm1' });
    expect(() => repos.moderation.recordReviewPost({ ...report, messageId: 'm2' })).toThrow(/UNIQUE/);
    repos.moderation.closeReviewPost(first.id, 'approved');
    repos.moderation.recordReviewPost({ ...report, messageId: 'm3' });
    expect(repos.moderation.findReviewPost(created.job.id, 'report', asset!.id)).toMatchObject({ messageId: 'm3', closedAt: null });
    expect(repos.moderation.reviewPostsOfJob(created.job.id).map((post) => [post.messageId, post.outcome])).toEqual([
      ['m1', 'approved'],
      ['m3', null],
    ]);
    expect(repos.moderation.findReviewPost(created.job.id, 'output')).toBeUndefined();
  });
});
