import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Asset, Job } from '../../src/db/index.js';
import type { FakeChannel, FakeUser } from '../fakes/slack-server.js';
import { actionLabels, escaped, slackDriver, startSlackHarness, wording, type SlackHarness } from '../helpers/slack.js';

/**
 * Moderation on Slack with results uploaded as files (SLACK_UPLOAD_RESULTS): a removal deletes the
 * uploaded files on Slack too. And everything moderators set (review channel, policies, moderators,
 * blocklist, bans, held results) survives a restart of the app.
 */
describe('moderation on Slack: uploaded files and restarts', () => {
  let h: SlackHarness;
  let admin: FakeUser;
  let review: FakeChannel;
  let owner: FakeUser;

  const d = slackDriver(() => h);
  const { owned } = d;
  const community = () => ({ platform: 'slack' as const, workspaceId: h.slack.defaultTeam.id });
  const mod = (user: FakeUser, text: string) => d.command(user, '/mod', text);
  const assetsOf = (job: Job): Asset[] => owned().repos.assets.listJobAssets(job.id);
  const shareUrl = (asset: Asset) => `${h.harness.baseUrl}/s/${asset.shareId}`;

  /** The Slack file ids the app recorded for each output of the job (`file:<id>:<asset>` posts), where it was asked or in review. */
  const uploadedFiles = (job: Job, kind: 'result' | 'review' = 'result'): Map<string, string> =>
    new Map(
      owned()
        .repos.posts.forJob(job.id)
        .filter((post) => post.kind === kind && post.messageId.startsWith('file:'))
        .map((post) => {
          const [, fileId = '', assetId = ''] = post.messageId.split(':');
          return [assetId, fileId];
        }),
    );

  /** Asks Slack (the fake, through its Web API) about a file, as any client would. */
  async function filesInfo(fileId: string): Promise<{ ok: boolean; error?: string }> {
    const response = await fetch(`${h.slack.apiUrl}files.info`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.slack.botToken}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ file: fileId }).toString(),
    });
    return (await response.json()) as { ok: boolean; error?: string };
  }

  beforeAll(async () => {
    h = await startSlackHarness({ uploadResults: true });
    admin = h.slack.user({ name: 'admin', isAdmin: true });
    review = h.slack.channel({ name: 'review' });
    owner = (await h.memberWithKey('uploader')).user;
    h.fal.setOutput('fal-ai/flux/schnell', ({ input }) => h.fal.imageOutput({ width: 24, height: 24, count: Number(input['num_images'] ?? 1) }));
    expect((await mod(admin, `channel ${escaped.channel(review)}`)).text).toContain('is now the review channel');
  });

  afterAll(async () => {
    try {
      if (h) expect(h.slack.inbound().filter((result) => result.status !== 200 || result.late)).toEqual([]);
    } finally {
      await h?.close();
    }
  });

  it('Remove deletes the uploaded files on Slack, the post, the stored object and the share link', async () => {
    const deletesBefore = h.slack.calls('files.delete').length;
    const job = await d.imagine(owner, 'an uploaded orchard', '--n 2');
    const assets = assetsOf(job);
    expect(assets).toHaveLength(2);
    const files = uploadedFiles(job);
    expect([...files.keys()].sort()).toEqual(assets.map((asset) => asset.id).sort());
    for (const fileId of files.values()) expect(h.slack.file(fileId)).toBeDefined();
    const post = await h.slack.waitFor(() => d.resultPost(job), 10_000, 'the result post');

    // Slack cannot reach our media URLs here: the mirror shows the share links, not image blocks of
    // them, and the files are uploaded beside it for the moderators to see.
    const mirror = await d.mirrorOf(job, review);
    expect(mirror.blocks.some((block) => block['type'] === 'image')).toBe(false);
    for (const asset of assets) expect(wording(mirror)).toContain(shareUrl(asset));
    const reviewFiles = await h.slack.waitFor(() => uploadedFiles(job, 'review').size === 2 && uploadedFiles(job, 'review'), 10_000, 'the review copies');
    for (const fileId of reviewFiles.values()) {
      expect(h.slack.messages(review).some((message) => message.files.some((file) => file.id === fileId))).toBe(true);
    }

    // One output first: only its file goes, the post keeps the other.
    const first = await d.throughForm(mirror, 'Remove 1', admin, 'the first one', `modrmform:${job.id}:0`);
    expect(first.text).toMatch(/^Removed/);
    const firstFile = files.get(assets[0]!.id)!;
    const secondFile = files.get(assets[1]!.id)!;
    await h.slack.waitFor(() => h.slack.deletedFile(firstFile), 10_000, 'the first file deleted');
    expect(h.slack.file(firstFile)).toBeUndefined();
    // Its copy in the review channel goes too; the other's stays.
    expect(await filesInfo(reviewFiles.get(assets[0]!.id)!)).toMatchObject({ ok: false, error: 'file_deleted' });
    expect(await filesInfo(reviewFiles.get(assets[1]!.id)!)).toMatchObject({ ok: true });
    expect(await filesInfo(firstFile)).toMatchObject({ ok: false, error: 'file_deleted' });
    expect(h.slack.file(secondFile)).toBeDefined();
    expect(await filesInfo(secondFile)).toMatchObject({ ok: true });
    expect(h.slack.message(h.general, post.ts)?.deleted).toBe(false);
    expect(await h.harness.app.storage.exists(assets[0]!.storageKey)).toBe(false);
    expect(await h.harness.app.storage.exists(assets[1]!.storageKey)).toBe(true);
    expect((await fetch(shareUrl(assets[0]!))).status).toBe(410);

    // Then the rest: the other file and the post go.
    const updated = await h.slack.waitFor(() => h.slack.message(review, mirror.ts)!.text.includes('Removed by') && h.slack.message(review, mirror.ts), 10_000, 'the mirror updated');
    const rest = await d.throughForm(updated, 'Remove', admin, 'the rest', `modrmform:${job.id}:`);
    expect(rest.text).toMatch(/^Removed/);
    await h.slack.waitFor(() => h.slack.deletedFile(secondFile), 10_000, 'the second file deleted');
    expect(await filesInfo(secondFile)).toMatchObject({ ok: false, error: 'file_deleted' });
    expect(await filesInfo(reviewFiles.get(assets[1]!.id)!)).toMatchObject({ ok: false, error: 'file_deleted' });
    await h.slack.waitFor(() => h.slack.message(h.general, post.ts)?.deleted, 10_000, 'the post deleted');
    // The messages that shared the files show no file any more.
    for (const fileId of [firstFile, secondFile]) {
      expect(h.slack.messages(h.general, { includeReplies: true }).some((message) => message.files.some((file) => file.id === fileId))).toBe(false);
    }
    expect(await h.harness.app.storage.exists(assets[1]!.storageKey)).toBe(false);
    expect((await fetch(shareUrl(assets[1]!))).status).toBe(410);
    expect(owned().repos.posts.forJob(job.id).every((recorded) => recorded.deletedAt !== null)).toBe(true);
    expect(owned().services.gallery.mine(d.ref(owner), { limit: 50 }).items.filter((item) => item.jobId === job.id)).toEqual([]);
    await d.waitForDm(owner, 'removed your result', 'an uploaded orchard');

    // Once more from a stale button: already gone, no Slack call fails.
    const deletes = h.slack.calls('files.delete').length;
    const again = await d.throughForm(mirror, 'Remove all', admin, 'again', `modrmform:${job.id}:`);
    expect(again.text).toContain('removed already');
    expect(h.slack.calls('files.delete')).toHaveLength(deletes);
    // Each file (the posted ones and their review copies) was deleted once, successfully.
    const deleted = h.slack.calls('files.delete').slice(deletesBefore).map((call) => [call.params['file'], call.ok]);
    expect(deleted.sort()).toEqual(
      [firstFile, secondFile, ...reviewFiles.values()].map((fileId) => [fileId, true]).sort(),
    );
  });

  it('a file deleted on Slack already does not stop a removal', async () => {
    const job = await d.imagine(owner, 'a twice deleted barn');
    const [asset] = assetsOf(job);
    const fileId = uploadedFiles(job).get(asset!.id)!;
    // Someone deleted the upload in the Slack client already.
    const response = await fetch(`${h.slack.apiUrl}files.delete`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.slack.botToken}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ file: fileId }).toString(),
    });
    expect(await response.json()).toMatchObject({ ok: true });
    const mirror = await d.mirrorOf(job, review);
    const answer = await d.throughForm(mirror, 'Remove', admin, 'duplicate', `modrmform:${job.id}:`);
    expect(answer.text).toMatch(/^Removed/);
    expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(false);
    expect((await fetch(shareUrl(asset!))).status).toBe(410);
    await h.slack.waitFor(() => d.resultPost(job, { includeDeleted: true })?.deleted, 10_000, 'the post deleted');
    expect(owned().repos.posts.forJob(job.id).every((recorded) => recorded.deletedAt !== null)).toBe(true);
  });

  it('settings, moderators, the blocklist, bans and held results survive a restart', async () => {
    const ann = h.slack.user({ name: 'ann' });
    const gus = h.slack.user({ name: 'gus' });
    const mods = h.slack.usergroup({ handle: 'reviewers', users: [gus] });
    const { user: eve } = await h.memberWithKey('eve');
    const { user: waiter } = await h.memberWithKey('waiter');

    const changed = await mod(admin, `settings nsfw=block other=hold daily_cap=5 models=schnell, dev moderators=${escaped.user(ann)} ${escaped.group(mods)}`);
    expect(changed.text).toContain('Changed:');
    expect((await mod(ann, 'blocklist add kraken')).text).toContain('`kraken`');
    expect((await mod(gus, `ban ${escaped.user(eve)} sea monsters`)).text).toContain('is banned');
    const held = await d.imagine(waiter, 'a lighthouse keeper');
    expect(held.reviewState).toBe('held');
    await d.mirrorOf(held, review);
    const before = (await mod(admin, 'settings')).text;
    const logBefore = owned().services.moderation.recentActions(community(), 50);

    await h.restart();

    expect(owned().services.moderation.settings(community())).toMatchObject({
      reviewChannelId: review.id,
      nsfwPolicy: 'block',
      otherPolicy: 'hold',
      dailyCap: 5,
      allowedModels: ['fal-ai/flux/schnell', 'fal-ai/flux/dev'],
      moderatorUserIds: [ann.id],
      moderatorGroupId: mods.id,
    });
    // The named moderator and the group's member still moderate, and read the same settings.
    const after = await mod(ann, 'settings');
    expect(after.text).toBe(before);
    expect((await mod(gus, 'blocklist list')).text).toContain('kraken');
    expect((await mod(h.slack.user({ name: 'nobody' }), 'log')).text).toMatch(/^Only moderators/);
    expect(owned().services.moderation.recentActions(community(), 50).slice(-logBefore.length)).toEqual(logBefore);

    // The blocklist and the ban still refuse before anything reaches fal.
    const submits = h.fal.submits().length;
    const jobs = owned().repos.jobs.countJobsByStatus();
    expect((await d.command(waiter, '/imagine', 'a Kraken at sea')).text).toContain('("kraken")');
    expect((await d.command(eve, '/imagine', 'a calm sea')).text).toContain('banned you from generating here (sea monsters)');
    expect((await d.command(waiter, '/imagine', 'a calm sea --model flux-pro')).text).toMatch(/allow only some image models|I don't know the model/);
    expect(h.fal.submits()).toHaveLength(submits);
    expect(owned().repos.jobs.countJobsByStatus()).toEqual(jobs);

    // The held result waits through the restart; Approve posts it (uploaded) where it was asked.
    const mirror = await d.mirrorOf(held, review);
    expect(actionLabels(mirror)).toEqual(['Approve', 'Remove', 'Ban owner']);
    const approved = await d.press(mirror, 'Approve', gus);
    expect(approved.text).toContain(`Approved and posted in <#${h.general.id}>`);
    const post = await h.slack.waitFor(() => d.resultPost(held), 10_000, 'the approved post');
    const [asset] = assetsOf(held);
    expect(wording(post)).toContain(shareUrl(asset!));
    const fileId = uploadedFiles(held).get(asset!.id);
    expect(fileId && h.slack.file(fileId)).toBeTruthy();
    await d.waitForDm(waiter, 'approved your result', 'a lighthouse keeper');

    // Back to the defaults for whatever runs next.
    await mod(admin, 'settings nsfw=spoiler other=allow daily_cap=0 models=all moderators=none');
    await mod(admin, `unban ${escaped.user(eve)}`);
    await mod(admin, 'blocklist remove kraken');
  });
});
