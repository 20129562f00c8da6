import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Asset, Job } from '../../src/db/index.js';
import type { OutputPolicy } from '../../src/domain.js';
import type { FakeChannel, FakeUser, SlackMessage } from '../fakes/slack-server.js';
import { eventually } from '../helpers/app.js';
import { actionLabels, buttonId, escaped, slackDriver, startSlackHarness, wording, type SlackHarness } from '../helpers/slack.js';

/**
 * The review channel on Slack, end to end through the unmodified Bolt app: every posted result is
 * mirrored there; held results wait there for Approve or Remove; reports land there, grouped per
 * output; Remove takes the post, the file, the share link and the gallery entry down.
 */
describe('moderation on Slack: the review channel', () => {
  let h: SlackHarness;
  let admin: FakeUser;
  let review: FakeChannel;
  let owner: FakeUser;

  const d = slackDriver(() => h);
  const { owned, ref, acked, nextEphemeral, imagine, press, throughForm } = d;
  const community = () => ({ platform: 'slack' as const, workspaceId: h.slack.defaultTeam.id });
  const mod = (user: FakeUser, text: string) => d.command(user, '/mod', text);

  async function setPolicy(nsfw: OutputPolicy, other: OutputPolicy): Promise<void> {
    const answer = await mod(admin, `settings nsfw=${nsfw} other=${other}`);
    expect(answer.text).toContain(`Outputs fal flags as NSFW: ${nsfw} (`);
    expect(answer.text).toContain(`Other outputs: ${other} (`);
    expect(owned().services.moderation.settings(community())).toMatchObject({ nsfwPolicy: nsfw, otherPolicy: other });
  }

  const assetsOf = (job: Job): Asset[] => owned().repos.assets.listJobAssets(job.id);
  const shareUrl = (asset: Asset) => `${h.harness.baseUrl}/s/${asset.shareId}`;
  const resultPost = (job: Job, options: { includeDeleted?: boolean } = {}) => d.resultPost(job, options);
  const mirrorOf = (job: Job) => d.mirrorOf(job, review);
  const reviewMessage = (ts: string): SlackMessage => {
    const message = h.slack.message(review, ts);
    if (!message) throw new Error(`no review message ${ts}`);
    return message;
  };
  /** Bot messages in the review channel that concern this job. */
  const reviewMessagesOf = (job: Job) =>
    h.slack.messages(review, { includeDeleted: true }).filter((message) => wording(message).includes(job.id) || assetsOf(job).some((asset) => wording(message).includes(asset.shareId)));
  const dmsTo = d.dmTexts;

  beforeAll(async () => {
    h = await startSlackHarness();
    admin = h.slack.user({ name: 'admin', isAdmin: true });
    review = h.slack.channel({ name: 'review' });
    owner = (await h.memberWithKey('painter')).user;
    // Prompts with "flagged" come back flagged by fal.
    h.fal.setOutput('fal-ai/flux/schnell', ({ input }) => {
      const count = Number(input['num_images'] ?? 1);
      return h.fal.imageOutput({ width: 32, height: 32, count, nsfw: Array.from({ length: count }, () => String(input['prompt']).includes('flagged')) });
    });
    const answer = await mod(admin, `channel ${escaped.channel(review)}`);
    expect(answer.text).toContain(`<#${review.id}> is now the review channel`);
  });

  afterAll(async () => {
    try {
      if (h) expect(h.slack.inbound().filter((result) => result.status !== 200 || result.late)).toEqual([]);
    } finally {
      await h?.close();
    }
  });

  it('/mod channel greets the review channel and stores it', async () => {
    expect(owned().services.moderation.settings(community()).reviewChannelId).toBe(review.id);
    const greeting = h.slack.messages(review).find((message) => message.text.includes('This is now the review channel'));
    expect(greeting?.text).toContain(`<@${admin.id}>`);
    // A channel the bot is not in is refused on the spot, and the setting stays.
    const closed = h.slack.channel({ name: 'closed', botIsMember: false });
    const refusal = await mod(admin, `channel ${escaped.channel(closed)}`);
    expect(refusal.text).toContain(`I cannot post in <#${closed.id}>`);
    expect(owned().services.moderation.settings(community()).reviewChannelId).toBe(review.id);
  });

  it('mirrors every posted result: prompt, model, owner, where, a link to the post, the share link, and the buttons', async () => {
    await setPolicy('spoiler', 'allow');
    const job = await imagine(owner, 'a lighthouse at dawn');
    const post = await h.slack.waitFor(() => resultPost(job), 10_000, 'the result post');
    const [asset] = assetsOf(job);
    const mirror = await mirrorOf(job);
    const text = wording(mirror);
    expect(mirror.text).toContain(`New result by <@${owner.id}> in <#${h.general.id}>`);
    expect(text).toContain('a lighthouse at dawn');
    expect(text).toContain('FLUX.1 [schnell]');
    expect(text).toContain(`<@${owner.id}>`);
    expect(text).toContain(`<#${h.general.id}>`);
    expect(text).toContain(h.slack.permalink(h.general.id, post.ts));
    expect(text).toContain(shareUrl(asset!));
    // The image itself, from our media URL.
    expect(mirror.blocks.some((block) => block['type'] === 'image' && String(block['image_url']).startsWith(`${h.harness.baseUrl}/media/`))).toBe(true);
    expect(actionLabels(mirror)).toEqual(['Approve', 'Remove', 'Ban owner']);
    expect(buttonId(mirror, 'Approve')).toBe(`modok:${job.id}`);
    expect(buttonId(mirror, 'Remove')).toBe(`modrm:${job.id}`);
    expect(buttonId(mirror, 'Ban owner')).toBe(`modban:${job.id}`);
    // Once per result.
    expect(reviewMessagesOf(job)).toHaveLength(1);

    // Approve marks a posted result reviewed: the mirror closes, the post stays.
    const approved = await press(mirror, 'Approve', admin);
    expect(approved.text).toBe('Approved.');
    const closed = await h.slack.waitFor(() => reviewMessage(mirror.ts).text.includes('Approved by') && reviewMessage(mirror.ts), 10_000, 'the mirror to close');
    expect(closed.text).toContain(`Approved by <@${admin.id}>`);
    expect(actionLabels(closed)).toEqual(['Remove', 'Ban owner']);
    expect(resultPost(job)).toBeDefined();
    expect(owned().repos.jobs.getJob(job.id)?.reviewState).toBe('approved');
  });

  it('flagged outputs are posted as spoilers by default, and mirrored as spoilers', async () => {
    await setPolicy('spoiler', 'allow');
    const job = await imagine(owner, 'a flagged statue');
    const post = await h.slack.waitFor(() => resultPost(job), 10_000, 'the result post');
    const [asset] = assetsOf(job);
    expect(asset?.nsfw).toBe(true);
    // Slack cannot blur: no image block, a link the viewer chooses to open.
    expect(post.blocks.some((block) => block['type'] === 'image')).toBe(false);
    expect(wording(post)).toContain('Flagged as sensitive');
    const mirror = await mirrorOf(job);
    expect(mirror.blocks.some((block) => block['type'] === 'image')).toBe(false);
    expect(wording(mirror)).toContain('Flagged as sensitive');
  });

  it('hold, then Approve: nothing public until a moderator approves; then it is posted where asked and the owner is told', async () => {
    await setPolicy('spoiler', 'hold');
    const submits = h.fal.submits().length;
    const before = h.slack.ephemerals(owner).length;
    const job = await imagine(owner, 'a held harbour');
    expect(h.fal.submits()).toHaveLength(submits + 1);
    expect(job.reviewState).toBe('held');
    // The owner learns privately that it waits; nothing shows in #general.
    const notice = await nextEphemeral(owner, before, 'the held notice');
    expect(notice.text).toContain('waits for a moderator');
    expect(resultPost(job)).toBeUndefined();
    expect(h.slack.messages(h.general, { includeReplies: true }).filter((message) => message.text.includes('a held harbour'))).toEqual([]);
    const [asset] = assetsOf(job);
    expect(asset?.held).toBe(true);
    // Public galleries do not list it while it is held.
    expect(owned().services.gallery.publicOf(ref(owner), { limit: 50 }).items.map((item) => item.id)).not.toContain(asset?.id);

    const waiting = await mirrorOf(job);
    expect(waiting.text).toContain('Waiting for review');
    expect(waiting.text).toContain(`<@${owner.id}>`);
    expect(wording(waiting)).toContain('a held harbour');
    expect(actionLabels(waiting)).toEqual(['Approve', 'Remove', 'Ban owner']);

    const answer = await press(waiting, 'Approve', admin);
    expect(answer.text).toBe(`Approved and posted in <#${h.general.id}>.`);
    const post = await h.slack.waitFor(() => resultPost(job), 10_000, 'the approved result in #general');
    expect(wording(post)).toContain(shareUrl(asset!));
    expect(owned().repos.jobs.getJob(job.id)?.reviewState).toBe('approved');
    expect(owned().repos.assets.getAsset(asset!.id)?.held).toBe(false);
    expect(owned().repos.posts.forJob(job.id).map((recorded) => recorded.messageId)).toContain(post.ts);
    await h.slack.waitFor(() => dmsTo(owner).find((text) => text.includes('approved your result') && text.includes('a held harbour')), 10_000, 'the owner told');
    const decided = await h.slack.waitFor(() => reviewMessage(waiting.ts).text.includes('Approved by') && reviewMessage(waiting.ts), 10_000, 'the review message decided');
    expect(actionLabels(decided)).toEqual(['Remove', 'Ban owner']);

    // A second Approve (another moderator, a double click) posts nothing more.
    const again = await press(waiting, 'Approve', admin);
    expect(again.text).toContain('decided on this result already');
    expect(h.slack.messages(h.general, { includeReplies: true }).filter((message) => wording(message).includes(`delete:${asset!.id}`))).toHaveLength(1);

    // The approved post is a recorded post like any other: Remove takes it down.
    const removed = await throughForm(decided, 'Remove', admin, 'changed our minds', 'modrmform:');
    expect(removed.text).toMatch(/^Removed/);
    await h.slack.waitFor(() => h.slack.message(h.general, post.ts)?.deleted, 10_000, 'the approved post deleted');
    expect((await fetch(shareUrl(asset!))).status).toBe(410);
    await setPolicy('spoiler', 'allow');
  });

  it('a flagged output held for review is posted as a spoiler once approved', async () => {
    await setPolicy('hold', 'allow');
    const job = await imagine(owner, 'a flagged held vase');
    expect(job.reviewState).toBe('held');
    const waiting = await mirrorOf(job);
    // Moderators choose to look at it too.
    expect(waiting.blocks.some((block) => block['type'] === 'image')).toBe(false);
    expect(wording(waiting)).toContain('Flagged as sensitive');
    await press(waiting, 'Approve', admin);
    const post = await h.slack.waitFor(() => resultPost(job), 10_000, 'the approved post');
    expect(post.blocks.some((block) => block['type'] === 'image')).toBe(false);
    expect(wording(post)).toContain('Flagged as sensitive');
    await setPolicy('spoiler', 'allow');
  });

  it('a held private result goes to its owner alone once approved; nothing shows in the channel', async () => {
    await setPolicy('spoiler', 'hold');
    const before = h.slack.ephemerals(owner).length;
    const job = await imagine(owner, 'a secret garden', '--private');
    expect(job).toMatchObject({ private: true, reviewState: 'held' });
    const waiting = await mirrorOf(job);
    expect(wording(waiting)).toContain('(private)');
    const answer = await press(waiting, 'Approve', admin);
    expect(answer.text).toBe('Approved and posted to its owner.');
    const [asset] = assetsOf(job);
    await h.slack.waitFor(
      () => h.slack.ephemerals(owner).slice(before).find((message) => wording(message).includes(asset!.shareId)),
      10_000,
      'the private result',
    );
    expect(resultPost(job, { includeDeleted: true })).toBeUndefined();
    expect(h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).filter((message) => wording(message).includes(asset!.shareId))).toEqual([]);
    await d.waitForDm(owner, 'approved your result', 'a secret garden');
    await setPolicy('spoiler', 'allow');
  });

  it('a result asked by a mention (in its thread) is mirrored with a link, and Remove takes its thread replies down', async () => {
    await setPolicy('spoiler', 'allow');
    acked(await h.slack.appMention({ text: 'a mentioned comet', user: owner, channel: h.general }));
    const job = await eventually(() => d.jobsOf(owner).find((candidate) => candidate.prompt === 'a mentioned comet'), 10_000);
    await eventually(() => owned().repos.jobs.getJob(job.id)?.deliveredAt, 20_000);
    const post = await h.slack.waitFor(() => resultPost(job), 10_000, 'the result post');
    expect(post.threadTs).toBeDefined();
    const mirror = await mirrorOf(job);
    expect(wording(mirror)).toContain(h.slack.permalink(h.general.id, post.ts));
    await throughForm(mirror, 'Remove', admin, 'off topic', 'modrmform:');
    await h.slack.waitFor(() => h.slack.message(h.general, post.ts)?.deleted, 10_000, 'the result deleted');
    // The member's own message stays; the bot's replies about the result go.
    await h.slack.waitFor(
      () => h.slack.messages(h.general, { includeReplies: true }).filter((message) => message.botId !== undefined && message.text.includes('a mentioned comet')).length === 0,
      10_000,
      "the bot's replies gone",
    );
    expect(h.slack.messages(h.general).some((message) => message.botId === undefined && message.text.includes('a mentioned comet'))).toBe(true);
  });

  it('a result with several outputs: each can be removed on its own; the post and the mirror keep the others', async () => {
    await setPolicy('spoiler', 'allow');
    const job = await imagine(owner, 'a pair of kites', '--n 2');
    const assets = assetsOf(job);
    expect(assets).toHaveLength(2);
    const post = await h.slack.waitFor(() => resultPost(job), 10_000, 'the result post');
    const mirror = await mirrorOf(job);
    expect(actionLabels(mirror)).toEqual(['Approve', 'Remove all', 'Ban owner', 'Remove 1', 'Remove 2']);
    expect(buttonId(mirror, 'Remove 2')).toBe(`modrm:${job.id}:1`);

    const answer = await throughForm(mirror, 'Remove 2', admin, 'the second one', `modrmform:${job.id}:1`);
    expect(answer.text).toMatch(/^Removed/);
    expect(await h.harness.app.storage.exists(assets[1]!.storageKey)).toBe(false);
    expect(await h.harness.app.storage.exists(assets[0]!.storageKey)).toBe(true);
    expect((await fetch(shareUrl(assets[1]!))).status).toBe(410);
    expect((await fetch(shareUrl(assets[0]!))).status).toBe(200);
    // The post now shows only the first output.
    const edited = await h.slack.waitFor(() => !wording(h.slack.message(h.general, post.ts)!).includes(assets[1]!.shareId) && h.slack.message(h.general, post.ts), 10_000, 'the post edited');
    expect(edited.deleted).toBe(false);
    expect(wording(edited)).toContain(assets[0]!.shareId);
    const updated = await h.slack.waitFor(() => reviewMessage(mirror.ts).text.includes('Removed by') && reviewMessage(mirror.ts), 10_000, 'the mirror updated');
    expect(updated.text).toContain('(output 2)');
    expect(wording(updated)).toContain(assets[0]!.shareId);
    expect(wording(updated)).not.toContain(assets[1]!.shareId);
    expect(actionLabels(updated)).toEqual(['Approve', 'Remove', 'Ban owner']);

    // "Remove" now takes the rest: the post goes.
    await throughForm(updated, 'Remove', admin, 'the rest', `modrmform:${job.id}:`);
    await h.slack.waitFor(() => h.slack.message(h.general, post.ts)?.deleted, 10_000, 'the post deleted');
    expect(await h.harness.app.storage.exists(assets[0]!.storageKey)).toBe(false);
  });

  it('Ban owner asks why, bans the owner here and tells them privately', async () => {
    await setPolicy('spoiler', 'allow');
    const { user: troll } = await h.memberWithKey('troll');
    const job = await imagine(troll, 'a rude gesture');
    const mirror = await mirrorOf(job);
    const answer = await throughForm(mirror, 'Ban owner', admin, 'rude outputs', `modbanform:${job.id}`);
    expect(answer.text).toContain(`<@${troll.id}> is banned from generating here.`);
    expect(answer.text).toContain('They were told privately.');
    expect(owned().services.moderation.isBanned(community(), troll.id)).toBe(true);
    await d.waitForDm(troll, 'banned you from generating', 'rude outputs');
    // The result itself stays: banning is not removing.
    expect(resultPost(job)).toBeDefined();
    const submits = h.fal.submits().length;
    const refused = await d.command(troll, '/imagine', 'another rude gesture');
    expect(refused.text).toContain('banned you from generating here (rude outputs)');
    // Rerun and Vary on their own earlier result are new generations too.
    const post = resultPost(job)!;
    expect((await press(post, 'Rerun', troll)).text).toContain('banned you from generating here');
    expect((await press(post, 'Vary', troll)).text).toContain('banned you from generating here');
    expect(h.fal.submits()).toHaveLength(submits);
    expect(d.jobsOf(troll).map((candidate) => candidate.prompt)).toEqual(['a rude gesture']);
  });

  it('hold, then Remove: never posted, the file and the link are gone, the owner is told why', async () => {
    await setPolicy('spoiler', 'hold');
    const job = await imagine(owner, 'a held shipwreck');
    const [asset] = assetsOf(job);
    const waiting = await mirrorOf(job);
    expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(true);

    const answer = await throughForm(waiting, 'Remove', admin, 'not for this workspace', 'modrmform:');
    expect(answer.text).toMatch(/^Removed/);
    expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(false);
    expect((await fetch(shareUrl(asset!))).status).toBe(410);
    expect(owned().repos.assets.getAsset(asset!.id)).toMatchObject({ removedBy: `moderator:slack:${admin.id}`, removedReason: 'not for this workspace' });
    expect(owned().repos.jobs.getJob(job.id)?.reviewState).toBe('rejected');
    await h.slack.waitFor(() => dmsTo(owner).find((text) => text.includes('removed your result') && text.includes('not for this workspace')), 10_000, 'the owner told');
    const decided = await h.slack.waitFor(() => reviewMessage(waiting.ts).text.includes('Removed by') && reviewMessage(waiting.ts), 10_000, 'the review message decided');
    expect(decided.text).toContain(`<@${admin.id}>`);
    expect(actionLabels(decided)).toEqual([]);
    expect(resultPost(job, { includeDeleted: true })).toBeUndefined();
    // Approve on the stale message cannot bring it back.
    const late = await press(waiting, 'Approve', admin);
    expect(late.text).toContain('removed already');
    expect(resultPost(job, { includeDeleted: true })).toBeUndefined();
    await setPolicy('spoiler', 'allow');
  });

  it('reports land in the review channel, grouped into one message per output', async () => {
    await setPolicy('spoiler', 'allow');
    const job = await imagine(owner, 'a reported windmill');
    const post = await h.slack.waitFor(() => resultPost(job), 10_000, 'the result post');
    const [asset] = assetsOf(job);
    await mirrorOf(job);

    async function report(member: FakeUser, reason: string): Promise<void> {
      const opened = h.slack.views({ user: member }).length;
      acked(await h.slack.blockAction({ actionId: `report:${asset!.id}`, message: post, user: member }));
      const view = await h.slack.waitFor(() => h.slack.views({ user: member }).slice(opened).find((candidate) => candidate.open && candidate.callbackId === `reportform:${asset!.id}`), 10_000, 'the report form');
      const before = h.slack.ephemerals(member).length;
      acked(await h.slack.submitView({ view, values: { reason: { reason } }, user: member }));
      expect((await nextEphemeral(member, before, 'the thanks')).text).toContain('moderators will review');
    }

    const first = h.slack.user({ name: 'watcher' });
    await report(first, 'looks like spam');
    const reportPost = await eventually(() => owned().repos.moderation.findReviewPost(job.id, 'report', asset!.id), 10_000);
    const shown = reviewMessage(reportPost.messageId);
    expect(shown.text).toContain('Reported by 1 member');
    expect(shown.text).toContain(`<@${first.id}>: looks like spam`);
    expect(wording(shown)).toContain(shareUrl(asset!));
    expect(actionLabels(shown)).toEqual(['Approve', 'Remove', 'Ban owner']);
    expect(buttonId(shown, 'Remove')).toBe(`modrm:${job.id}:0`);

    const second = h.slack.user({ name: 'another' });
    await report(second, '');
    await report(first, 'still spam');
    const grouped = await h.slack.waitFor(
      () => reviewMessage(reportPost.messageId).text.includes('Reported by 2 members') && reviewMessage(reportPost.messageId).text.includes('still spam') && reviewMessage(reportPost.messageId),
      10_000,
      'the grouped report',
    );
    expect(grouped.text).toContain(`<@${second.id}>: (no reason given)`);
    // Still one report message (edited in place), beside the one mirror.
    expect(h.slack.messages(review).filter((message) => message.text.includes('Reported by') && wording(message).includes(asset!.shareId))).toHaveLength(1);
    expect(reviewMessagesOf(job)).toHaveLength(2);
    expect(owned().repos.reports.forAsset(asset!.id)).toHaveLength(2);
    // Nothing of it shows in #general.
    expect(h.slack.messages(h.general, { includeReplies: true }).filter((message) => message.text.includes('Reported by'))).toEqual([]);

    // Remove from the report message closes both the report and the mirror.
    const answer = await throughForm(grouped, 'Remove', admin, 'reported twice', 'modrmform:');
    expect(answer.text).toMatch(/^Removed/);
    await h.slack.waitFor(() => resultPost(job, { includeDeleted: true })?.deleted, 10_000, 'the result post deleted');
    const closedReport = await h.slack.waitFor(() => actionLabels(reviewMessage(reportPost.messageId)).length === 0 && reviewMessage(reportPost.messageId), 10_000, 'the report closed');
    expect(closedReport.text).toContain('Removed by');
    const mirror = await mirrorOf(job);
    expect(mirror.text).toContain('Removed by');
  });

  it('Remove takes the post, the stored file, the share link and the gallery entry down; pressing it twice is fine', async () => {
    await setPolicy('spoiler', 'allow');
    const job = await imagine(owner, 'a removable castle');
    const post = await h.slack.waitFor(() => resultPost(job), 10_000, 'the result post');
    const [asset] = assetsOf(job);
    expect((await fetch(shareUrl(asset!))).status).toBe(200);
    expect(owned().services.gallery.mine(ref(owner), { limit: 50 }).items.map((item) => item.id)).toContain(asset!.id);
    const mirror = await mirrorOf(job);

    const answer = await throughForm(mirror, 'Remove', admin, 'too gory', 'modrmform:');
    expect(answer.text).toMatch(/^Removed/);
    expect(answer.channel).toBe(review.id);
    // The post is deleted on Slack, through the Web API.
    await h.slack.waitFor(() => h.slack.message(h.general, post.ts)?.deleted, 10_000, 'the result post deleted');
    expect(h.slack.calls('chat.delete').some((call) => call.params['ts'] === post.ts && call.ok)).toBe(true);
    // Nothing in the channel shows the removed result any more: not the post, not its "Done" status above it.
    await h.slack.waitFor(
      () => h.slack.messages(h.general, { includeReplies: true }).every((message) => !message.text.includes('a removable castle')),
      10_000,
      'every message about the removed result gone',
    );
    expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(false);
    expect((await fetch(shareUrl(asset!))).status).toBe(410);
    expect((await fetch(`${h.harness.baseUrl}/media/${asset!.storageKey}`)).status).toBe(404);
    expect(owned().services.gallery.mine(ref(owner), { limit: 50 }).items.map((item) => item.id)).not.toContain(asset!.id);
    expect(owned().services.gallery.publicOf(ref(owner), { limit: 50 }).items.map((item) => item.id)).not.toContain(asset!.id);
    // The owner's own /gallery does not list it either.
    const before = h.slack.ephemerals(owner).length;
    acked(await h.slack.slashCommand({ command: '/gallery', text: 'removable castle', user: owner, channel: h.general }));
    expect((await nextEphemeral(owner, before, 'the gallery')).text).toMatch(/nothing here yet/);
    expect(owned().repos.assets.getAsset(asset!.id)).toMatchObject({ removedBy: `moderator:slack:${admin.id}`, removedReason: 'too gory' });
    expect(owned().repos.posts.forJob(job.id).every((recorded) => recorded.deletedAt !== null)).toBe(true);
    await h.slack.waitFor(() => dmsTo(owner).find((text) => text.includes('removed your result') && text.includes('too gory')), 10_000, 'the owner told');
    const decided = await h.slack.waitFor(() => reviewMessage(mirror.ts).text.includes('Removed by') && reviewMessage(mirror.ts), 10_000, 'the mirror decided');
    expect(decided.text).toContain('too gory');
    expect(actionLabels(decided)).toEqual([]);
    const log = owned().services.moderation.recentActions(community(), 50);
    expect(log.find((action) => action.action === 'remove' && action.target?.includes('a removable castle'))).toMatchObject({ actor: admin.id, reason: 'too gory' });

    // Twice: nothing more happens, and the moderator is told so.
    const deletes = h.slack.calls('chat.delete').length;
    const dms = h.slack.dmMessages(owner).length;
    const twice = await throughForm(mirror, 'Remove', admin, 'again', 'modrmform:');
    expect(twice.text).toContain('removed already');
    expect(h.slack.calls('chat.delete')).toHaveLength(deletes);
    expect(h.slack.dmMessages(owner)).toHaveLength(dms);
    expect(owned().repos.assets.getAsset(asset!.id)?.removedReason).toBe('too gory');
  });

  it('removing a result whose post is already gone from Slack works all the same', async () => {
    await setPolicy('spoiler', 'allow');
    const job = await imagine(owner, 'a vanished bridge');
    const post = await h.slack.waitFor(() => resultPost(job), 10_000, 'the result post');
    const [asset] = assetsOf(job);
    const mirror = await mirrorOf(job);
    // Someone deleted the post in the Slack client already.
    h.slack.deleteMessage(h.general, post.ts);
    const answer = await throughForm(mirror, 'Remove', admin, 'duplicate', 'modrmform:');
    expect(answer.text).toMatch(/^Removed/);
    expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(false);
    expect((await fetch(shareUrl(asset!))).status).toBe(410);
    expect(owned().repos.posts.forJob(job.id).every((recorded) => recorded.deletedAt !== null)).toBe(true);
    await h.slack.waitFor(() => reviewMessage(mirror.ts).text.includes('Removed by'), 10_000, 'the mirror decided');
  });

  it('a moderator deleting from the result post is a logged removal; the owner is told', async () => {
    await setPolicy('spoiler', 'allow');
    const job = await imagine(owner, 'a deleted lantern');
    const post = await h.slack.waitFor(() => resultPost(job), 10_000, 'the result post');
    const [asset] = assetsOf(job);
    const mirror = await mirrorOf(job);
    const confirm = await press(post, 'Delete', admin);
    const yes = await press(confirm, 'Delete for good', admin);
    expect(yes.text).toMatch(/^Deleted/);
    await h.slack.waitFor(() => h.slack.message(h.general, post.ts)?.deleted, 10_000, 'the result post deleted');
    expect(owned().repos.assets.getAsset(asset!.id)?.removedBy).toBe(`moderator:slack:${admin.id}`);
    await h.slack.waitFor(() => dmsTo(owner).find((text) => text.includes('removed your result') && text.includes('a deleted lantern')), 10_000, 'the owner told');
    await h.slack.waitFor(() => reviewMessage(mirror.ts).text.includes('Removed by'), 10_000, 'the mirror decided');
  });

  it('two moderators at once: one Approve posts a held result once; one Remove removes once and tells the owner once', async () => {
    const second = h.slack.user({ name: 'second-admin', isAdmin: true });
    await setPolicy('spoiler', 'hold');
    const held = await imagine(owner, 'a doubly approved tower');
    const waiting = await mirrorOf(held);
    const answers = await Promise.all([press(waiting, 'Approve', admin), press(waiting, 'Approve', second)]);
    expect(answers.filter((answer) => answer.text === `Approved and posted in <#${h.general.id}>.`)).toHaveLength(1);
    expect(answers.filter((answer) => answer.text.includes('decided on this result already'))).toHaveLength(1);
    await h.slack.waitFor(() => resultPost(held), 10_000, 'the approved post');
    expect(h.slack.messages(h.general, { includeReplies: true }).filter((message) => wording(message).includes(`delete:${assetsOf(held)[0]!.id}`))).toHaveLength(1);
    await setPolicy('spoiler', 'allow');

    const job = await imagine(owner, 'a doubly removed tower');
    const mirror = await mirrorOf(job);
    const dms = h.slack.dmMessages(owner).length;
    const [first, other] = await Promise.all([
      throughForm(mirror, 'Remove', admin, 'first', 'modrmform:'),
      throughForm(mirror, 'Remove', second, 'second', 'modrmform:'),
    ]);
    expect([first.text, other.text].filter((text) => text.startsWith('Removed'))).toHaveLength(1);
    expect([first.text, other.text].filter((text) => text.includes('removed already'))).toHaveLength(1);
    await d.waitForDm(owner, 'removed your result', 'a doubly removed tower');
    expect(h.slack.dmMessages(owner).slice(dms).filter((message) => message.text.includes('a doubly removed tower'))).toHaveLength(1);
    expect(owned().services.moderation.recentActions(community(), 50).filter((action) => action.action === 'remove' && action.target?.includes('a doubly removed tower'))).toHaveLength(1);
  });

  it('reports made at the same moment still make one review message', async () => {
    await setPolicy('spoiler', 'allow');
    const job = await imagine(owner, 'a much reported mill');
    const post = await h.slack.waitFor(() => resultPost(job), 10_000, 'the result post');
    const [asset] = assetsOf(job);
    const reporters = [h.slack.user({ name: 'r1' }), h.slack.user({ name: 'r2' }), h.slack.user({ name: 'r3' })];
    const views = await Promise.all(
      reporters.map(async (member) => {
        acked(await h.slack.blockAction({ actionId: `report:${asset!.id}`, message: post, user: member }));
        return d.formOpened(member, 0, `reportform:${asset!.id}`);
      }),
    );
    await Promise.all(views.map((view, index) => h.slack.submitView({ view, values: { reason: { reason: `reason ${index + 1}` } }, user: reporters[index]! })));
    const reportPost = await eventually(() => owned().repos.moderation.findReviewPost(job.id, 'report', asset!.id), 10_000);
    await h.slack.waitFor(() => reviewMessage(reportPost.messageId).text.includes('Reported by 3 members'), 10_000, 'three reports grouped');
    expect(h.slack.messages(review).filter((message) => message.text.includes('Reported by') && wording(message).includes(asset!.shareId))).toHaveLength(1);

    // Once a moderator kept it, a later report opens a new message; the decided one stays as it was.
    const kept = await press(reviewMessage(reportPost.messageId), 'Approve', admin);
    expect(kept.text).toMatch(/^Approved/);
    await h.slack.waitFor(() => reviewMessage(reportPost.messageId).text.includes('Approved by'), 10_000, 'the report decided');
    const late = h.slack.user({ name: 'late' });
    acked(await h.slack.blockAction({ actionId: `report:${asset!.id}`, message: post, user: late }));
    const form = await d.formOpened(late, 0, `reportform:${asset!.id}`);
    acked(await h.slack.submitView({ view: form, values: { reason: { reason: 'again' } }, user: late }));
    await h.slack.waitFor(() => h.slack.messages(review).filter((message) => message.text.includes('Reported by') && wording(message).includes(asset!.shareId)).length === 2, 10_000, 'a new report message');
    expect(reviewMessage(reportPost.messageId).text).toContain('Approved by');
  });

  it('block: a flagged output is never posted nor kept; the owner is told privately', async () => {
    await setPolicy('block', 'allow');
    const before = h.slack.ephemerals(owner).length;
    const job = await imagine(owner, 'a flagged gargoyle');
    const [asset] = assetsOf(job);
    const notice = await nextEphemeral(owner, before, 'the blocked notice');
    expect(notice.text).toContain('was not posted');
    expect(notice.text).toContain('NSFW');
    expect(resultPost(job, { includeDeleted: true })).toBeUndefined();
    expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(false);
    expect((await fetch(shareUrl(asset!))).status).toBe(410);
    expect(owned().repos.assets.getAsset(asset!.id)?.removedBy).toBe('policy');
    expect(owned().services.moderation.recentActions(community(), 50).find((action) => action.action === 'block' && action.target?.includes('a flagged gargoyle'))).toMatchObject({ actor: 'policy' });
    // Nothing to review: nothing was posted.
    expect(owned().repos.moderation.findReviewPost(job.id, 'output')).toBeUndefined();
    await setPolicy('spoiler', 'allow');
  });
});
