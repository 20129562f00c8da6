import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discordUser } from '../../src/bots/discord/context.js';
import type { Asset, Job } from '../../src/db/index.js';
import type { FakeChannel, FakeUser, InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { eventually } from '../helpers/app.js';
import { buttonId, buttonLabels, buttonsOf, embedsOf, MODERATOR_PERMISSIONS, PERMISSIONS, startDiscordHarness, type DiscordHarness, type WireEmbed } from '../helpers/discord.js';

/**
 * Reports and moderators' decisions on Discord, end to end: reports land in the review channel,
 * grouped per output; Remove takes a result down everywhere (post, file, share link, galleries) and
 * is idempotent; Ban owner stops the member from generating here.
 */
describe('Discord reports, removals and bans from the review channel', () => {
  let h: DiscordHarness;
  let moderator: FakeUser;
  let owner: FakeUser;
  let review: FakeChannel;

  const { MANAGE_MESSAGES, VIEW_AND_SEND } = PERMISSIONS;
  const MODERATOR = MODERATOR_PERMISSIONS;
  const SCHNELL = 'fal-ai/flux/schnell';
  type Embed = WireEmbed;

  const owned = () => h.harness.app.owner!;
  const community = () => ({ platform: 'discord' as const, workspaceId: h.guild.id });
  const ref = (user: FakeUser) => discordUser({ id: user.id, username: user.username, globalName: user.global_name });
  const labels = buttonLabels;
  const settled = (interaction: InteractionHandle) => interaction.waitForOriginal((message) => !message.loading, 10_000);
  const totalJobs = () => Object.values(owned().repos.jobs.countJobsByStatus()).reduce((sum, n) => sum + n, 0);
  const current = (message: MessageSnapshot) => h.discord.message(message.id)!;
  const reportMessages = (job: Job) => h.discord.channelMessages(review.id).filter((message) => message.content.startsWith('**Reported by') && buttonsOf(message).some((button) => button.custom_id?.includes(job.id)));
  const outputMirrorOf = async (job: Job) => {
    const message = await h.discord.waitForChannelMessage(review.id, (candidate) => buttonsOf(candidate).some((button) => button.custom_id === `modrm:${job.id}`), 20_000);
    await eventually(() => owned().repos.moderation.findReviewPost(job.id, 'output'));
    return message;
  };
  /** Waits until a message changed from what the snapshot shows. */
  const changed = (message: MessageSnapshot, predicate: (now: MessageSnapshot) => boolean = () => true) =>
    h.discord.waitFor(() => {
      const now = h.discord.message(message.id);
      return now && now.revision > message.revision && predicate(now) ? now : undefined;
    }, 10_000, `message ${message.id} to change`);

  /** Runs /imagine to its posted result. */
  async function generate(user: FakeUser, prompt: string, count?: number): Promise<{ post: MessageSnapshot; job: Job; assets: Asset[] }> {
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt, ...(count ? { count } : {}) }, user, channelId: h.general.id, memberPermissions: VIEW_AND_SEND });
    const post = await interaction.waitForOriginal((message) => message.embeds.length > 0, 20_000);
    const asset = owned().repos.assets.getAssetByShareId((embedsOf(post)[0]!.url ?? '').split('/s/')[1] ?? '')!;
    const job = await eventually(() => {
      const found = owned().repos.jobs.getJob(asset.jobId);
      return found?.deliveredAt ? found : undefined;
    });
    return { post, job, assets: owned().repos.assets.listJobAssets(job.id) };
  }

  /** A member presses Report on a result and submits the form. */
  async function report(post: MessageSnapshot, reporter: FakeUser, reason: string, label = 'Report'): Promise<MessageSnapshot> {
    const press = h.discord.button({ customId: buttonId(post, label), message: post, user: reporter, memberPermissions: VIEW_AND_SEND });
    expect((await press.waitForAck()).type).toBe(9);
    const answer = await settled(h.discord.modalSubmit({ from: press, fields: { reason }, memberPermissions: VIEW_AND_SEND }));
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toBe('Thank you. The moderators will review this result.');
    return answer;
  }

  /** A moderator presses a button that asks why (Remove, Ban owner) and submits the reason. */
  async function decide(message: MessageSnapshot, label: string, reason: string): Promise<MessageSnapshot> {
    const opened = h.discord.button({ customId: buttonId(message, label), message, user: moderator, memberPermissions: MODERATOR });
    expect((await opened.waitForAck()).type).toBe(9);
    const answer = await settled(h.discord.modalSubmit({ from: opened, fields: { reason }, memberPermissions: MODERATOR }));
    expect(answer.ephemeral).toBe(true);
    return answer;
  }

  /** A member's /gallery page (their own, or another member's public results) as Discord shows it. */
  async function galleryPage(user: FakeUser, of?: FakeUser): Promise<string> {
    const page = await settled(h.discord.slashCommand({ name: 'gallery', options: of ? { user: of } : {}, user, channelId: h.general.id }));
    expect(page.ephemeral).toBe(true);
    return JSON.stringify(page.raw);
  }

  beforeAll(async () => {
    h = await startDiscordHarness();
    review = h.discord.addChannel(h.guild.id, { name: 'mod-review' });
    moderator = h.discord.user({ username: 'moderator' });
    owner = (await h.memberWithKey('artist')).user;
    const admin = h.discord.getUser(h.guild.ownerId)!;
    const set = await settled(h.discord.slashCommand({ name: 'mod', subcommand: 'channel', options: { channel: review }, user: admin, channelId: h.general.id }));
    expect(set.content).toMatch(/is now the review channel/);
    h.fal.setOutput(SCHNELL, ({ input }) => h.fal.imageOutput({ width: 40, height: 30, count: Number(input['num_images'] ?? 1) }));
  });

  afterAll(async () => {
    await h?.close();
  });

  it('reports land in the review channel, grouped into one message per output', async () => {
    const { post, job, assets } = await generate(owner, 'a neon alley');
    await outputMirrorOf(job);
    const [first, second, third, fourth] = ['ada', 'bo', 'cy', 'di'].map((name) => h.discord.user({ username: `reporter-${name}` }));

    await report(post, first!, 'too dark for this channel');
    const grouped = await h.discord.waitFor(() => reportMessages(job)[0], 10_000);
    expect(grouped.content).toBe(`**Reported by 1 member**: a result by <@${owner.id}> in <#${h.general.id}>\n• <@${first!.id}>: too dark for this channel`);
    const [card] = embedsOf(grouped);
    expect(card?.title).toBe('a neon alley');
    expect(card?.fields?.find((field) => field.name === 'Post')?.value).toBe(`https://discord.com/channels/${h.guild.id}/${h.general.id}/${post.id}`);
    expect(grouped.attachments).toHaveLength(1);
    expect(labels(grouped)).toEqual(['Approve', 'Remove', 'Ban owner']);
    expect(buttonId(grouped, 'Remove')).toBe(`modrm:${job.id}:0`);

    // A second member: the same message, updated.
    await report(post, second!, '');
    const twice = await changed(grouped, (now) => now.content.startsWith('**Reported by 2 members**'));
    expect(twice.content.split('\n').slice(1)).toEqual([`• <@${first!.id}>: too dark for this channel`, `• <@${second!.id}>: (no reason given)`]);
    // The same member again stays one report (their reason updated).
    await report(post, first!, 'really too dark');
    const again = await changed(twice);
    expect(again.content.split('\n').slice(1)).toEqual([`• <@${first!.id}>: really too dark`, `• <@${second!.id}>: (no reason given)`]);
    // Two at once still make one message.
    await Promise.all([report(post, third!, 'spam'), report(post, fourth!, 'off topic')]);
    const four = await h.discord.waitFor(() => (current(grouped).content.startsWith('**Reported by 4 members**') ? current(grouped) : undefined), 10_000);
    expect(four.id).toBe(grouped.id);
    expect(reportMessages(job).map((message) => message.id)).toEqual([grouped.id]);
    expect(owned().repos.reports.forAsset(assets[0]!.id)).toHaveLength(4);
    // Reporting posts nothing public.
    expect(h.discord.channelMessages(h.general.id)).toEqual([]);

    // Approve keeps the result: the report closes; a later report opens a new message.
    const keep = h.discord.button({ customId: buttonId(four, 'Approve'), message: four, user: moderator, memberPermissions: MODERATOR });
    expect((await settled(keep)).content).toBe('Approved.');
    const closed = await changed(four, (now) => now.content.includes('Approved by'));
    expect(labels(closed)).toEqual(['Remove', 'Ban owner']);
    expect(h.discord.message(post.id)?.deleted).toBe(false);
    await report(post, h.discord.user({ username: 'latecomer' }), 'still bad');
    await eventually(() => reportMessages(job).length === 2);
  });

  it('a report after the result was approved is still decided by Approve', async () => {
    const { post, job } = await generate(owner, 'a rusty robot');
    const mirror = await outputMirrorOf(job);
    expect((await settled(h.discord.button({ customId: buttonId(mirror, 'Approve'), message: mirror, user: moderator, memberPermissions: MODERATOR }))).content).toBe('Approved.');
    await report(post, h.discord.user({ username: 'worried' }), 'looks scary');
    const reported = await h.discord.waitFor(() => reportMessages(job)[0], 10_000);
    const keep = h.discord.button({ customId: buttonId(reported, 'Approve'), message: reported, user: moderator, memberPermissions: MODERATOR });
    expect((await settled(keep)).content).toBe('Approved.');
    const closed = await changed(reported, (now) => now.content.includes('Approved by'));
    expect(labels(closed)).toEqual(['Remove', 'Ban owner']);
    expect(owned().repos.moderation.findReviewPost(job.id, 'report', owned().repos.assets.listJobAssets(job.id)[0]!.id)?.outcome).toBe('approved');
  });

  it('Remove takes a reported result down everywhere: post, file, share link, galleries; once', async () => {
    const kept = await generate(owner, 'a quiet meadow');
    const { post, job, assets } = await generate(owner, 'a shocking scene');
    const [asset] = assets;
    const shareUrl = owned().links.shareUrl(asset!);
    const mirror = await outputMirrorOf(job);
    const viewer = h.discord.user({ username: 'viewer' });
    await report(post, viewer, 'shocking');
    const reported = await h.discord.waitFor(() => reportMessages(job)[0], 10_000);
    expect(await galleryPage(owner)).toContain('a shocking scene');
    expect(await galleryPage(viewer, owner)).toContain('a shocking scene');
    expect((await fetch(shareUrl)).status).toBe(200);

    const answer = await decide(reported, 'Remove', 'graphic violence');
    expect(answer.content).toBe('Removed: its file, share link and posts are gone. The owner was told.');
    // The post is deleted on Discord, the stored object and the share link are gone.
    expect(h.discord.message(post.id)?.deleted).toBe(true);
    expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(false);
    expect((await fetch(shareUrl)).status).toBe(410);
    expect((await fetch(owned().links.mediaUrl(asset!))).status).toBe(404);
    // Who and why are recorded.
    expect(owned().repos.assets.getAsset(asset!.id)).toMatchObject({ removedBy: `moderator:discord:${moderator.id}`, removedReason: 'graphic violence' });
    expect(owned().repos.assets.getAsset(asset!.id)?.removedAt).not.toBeNull();
    // Every gallery hides it; the other result stays.
    const mine = await galleryPage(owner);
    expect(mine).not.toContain('a shocking scene');
    expect(mine).toContain('a quiet meadow');
    const theirs = await galleryPage(viewer, owner);
    expect(theirs).not.toContain('a shocking scene');
    expect(theirs).toContain('a quiet meadow');
    expect(h.discord.message(kept.post.id)?.deleted).toBe(false);
    // The owner is told privately; both review messages show the decision and lose their buttons and copies.
    const told = await h.discord.waitForDm(owner.id, (message) => message.content.includes('a shocking scene'));
    expect(told.content).toMatch(/^The moderators removed your result for \*\*a shocking scene\*\*: graphic violence\. Its file and share link are gone\.$/);
    for (const message of [reported, mirror]) {
      const decided = await changed(message, (now) => now.content.includes(`Removed by <@${moderator.id}>`));
      expect(decided.components).toEqual([]);
      expect(decided.attachments).toEqual([]);
      expect(decided.embeds).toEqual([]);
      expect(decided.content).toContain('graphic violence');
    }
    const [logged] = owned().repos.moderation.recentActions(community(), 1);
    expect(logged).toMatchObject({ actor: moderator.id, action: 'remove', reason: 'graphic violence', target: `"a shocking scene" (output 1) by <@${owner.id}>` });
    const log = await settled(h.discord.slashCommand({ name: 'mod', subcommand: 'log', options: { count: 1 }, user: moderator, channelId: h.general.id, memberPermissions: MODERATOR }));
    expect(log.content).toContain(`<@${moderator.id}> removed "a shocking scene" (output 1) by <@${owner.id}>: graphic violence`);

    // Idempotent: removing again changes nothing and tells nobody again.
    const deletesBefore = h.discord.requests.filter((request) => request.method === 'DELETE').length;
    const dmsBefore = h.discord.dmMessages(owner.id).length;
    const again = await settled(h.discord.modalSubmit({ customId: `modrmform:${job.id}:0`, fields: { reason: 'again' }, user: moderator, channelId: review.id, memberPermissions: MODERATOR }));
    expect(again.content).toBe('That was removed already.');
    expect(h.discord.requests.filter((request) => request.method === 'DELETE')).toHaveLength(deletesBefore);
    expect(h.discord.dmMessages(owner.id)).toHaveLength(dmsBefore);
    expect(owned().repos.assets.getAsset(asset!.id)?.removedReason).toBe('graphic violence');
    // Reporting what is gone is refused.
    const stale = h.discord.button({ customId: `report:${asset!.id}`, message: { ...post.raw, id: h.discord.snowflake() }, user: viewer, skipComponentCheck: true });
    expect((await settled(stale)).content).toBe('That result was deleted.');
  });

  it('Remove on one output of several leaves the others, in the post and in the review channel', async () => {
    const { post, job, assets } = await generate(owner, 'three paper boats', 3);
    const mirror = await outputMirrorOf(job);
    expect(labels(mirror)).toEqual(['Approve', 'Remove all', 'Ban owner', 'Remove 1', 'Remove 2', 'Remove 3']);
    const answer = await decide(mirror, 'Remove 2', 'this one is off');
    expect(answer.content).toBe('Removed: its file, share link and posts are gone. The owner was told.');
    const shares = assets.map((asset) => owned().links.shareUrl(asset));
    expect((await fetch(shares[1]!)).status).toBe(410);
    expect((await fetch(shares[0]!)).status).toBe(200);
    const edited = await changed(post);
    expect(edited.deleted).toBe(false);
    expect(embedsOf(edited).map((embed) => embed.url)).toEqual([shares[0], shares[2]]);
    expect(edited.attachments.map((attachment) => attachment.id)).toEqual([post.attachments[0]!.id, post.attachments[2]!.id]);
    const decided = await changed(mirror, (now) => now.content.includes('Removed by'));
    expect(decided.content).toContain('(output 2): this one is off');
    expect(embedsOf(decided).map((embed) => embed.url)).toEqual([shares[0], shares[2]]);
    expect(decided.attachments.map((attachment) => attachment.id)).toEqual([mirror.attachments[0]!.id, mirror.attachments[2]!.id]);
    expect(labels(decided)).toEqual(['Approve', 'Remove all', 'Ban owner', 'Remove 1', 'Remove 3']);
  });

  it("the owner's own Delete closes the review messages of the result too", async () => {
    const { post, job, assets } = await generate(owner, 'a regrettable sketch');
    const mirror = await outputMirrorOf(job);
    await report(post, h.discord.user({ username: 'critic' }), 'ugly');
    const reported = await h.discord.waitFor(() => reportMessages(job)[0], 10_000);
    const ask = h.discord.button({ customId: buttonId(post, 'Delete'), message: post, user: owner, memberPermissions: VIEW_AND_SEND });
    const confirm = await settled(ask);
    const done = await settled(h.discord.button({ customId: buttonId(confirm, 'Delete for good'), message: confirm, user: owner, memberPermissions: VIEW_AND_SEND }));
    expect(done.content).toMatch(/^Deleted/);
    expect(h.discord.message(post.id)?.deleted).toBe(true);
    for (const message of [mirror, reported]) {
      const decided = await changed(message, (now) => now.components.length === 0);
      expect(decided.content).toContain('Deleted by its owner. The files and share links are gone.');
      expect(decided.attachments).toEqual([]);
    }
    expect(owned().repos.moderation.reviewPostsOfJob(job.id).map((record) => record.closedAt !== null)).toEqual([true, true]);
    // The owner's own deletion is not a moderation action: no log line, no note to them.
    expect(owned().repos.moderation.recentActions(community(), 20).some((action) => action.target?.includes('a regrettable sketch'))).toBe(false);
    expect(h.discord.dmMessages(owner.id).some((message) => message.content.includes('a regrettable sketch'))).toBe(false);
    expect(owned().repos.assets.getAsset(assets[0]!.id)?.removedBy).toBe('owner');
  });

  it('two moderators deciding at once: one removal, one note to the owner, one log line', async () => {
    const { post, job, assets } = await generate(owner, 'a contested banner');
    const mirror = await outputMirrorOf(job);
    const second = h.discord.user({ username: 'second-moderator' });
    const dmsBefore = h.discord.dmMessages(owner.id).length;
    const submit = (user: FakeUser, reason: string) =>
      settled(h.discord.modalSubmit({ customId: `modrmform:${job.id}:`, fields: { reason }, user, channelId: review.id, message: mirror, memberPermissions: MODERATOR }));
    const answers = await Promise.all([submit(moderator, 'first reason'), submit(second, 'second reason')]);
    expect(answers.map((answer) => answer.content).sort()).toEqual(['Removed: its file, share link and posts are gone. The owner was told.', 'That was removed already.']);
    expect(h.discord.message(post.id)?.deleted).toBe(true);
    const removal = owned().repos.assets.getAsset(assets[0]!.id)!;
    const winner = removal.removedReason === 'first reason' ? moderator : second;
    expect(removal.removedBy).toBe(`moderator:discord:${winner.id}`);
    await h.discord.waitForDm(owner.id, (message) => message.content.includes('a contested banner'));
    // Give a duplicate note every chance to arrive before counting.
    await changed(mirror, (now) => now.components.length === 0);
    expect(h.discord.dmMessages(owner.id).slice(dmsBefore).filter((message) => message.content.includes('a contested banner'))).toHaveLength(1);
    const removals = owned().repos.moderation.recentActions(community(), 10).filter((action) => action.action === 'remove' && action.target?.includes('a contested banner'));
    expect(removals).toHaveLength(1);
    expect(removals[0]?.actor).toBe(winner.id);
  });

  it('Ban owner from a review message stops the member generating here, and tells them', async () => {
    const rulebreaker = (await h.memberWithKey('rulebreaker')).user;
    const { job } = await generate(rulebreaker, 'a rude gesture');
    const mirror = await outputMirrorOf(job);
    const opened = h.discord.button({ customId: buttonId(mirror, 'Ban owner'), message: mirror, user: moderator, memberPermissions: MODERATOR });
    expect((await opened.waitForAck()).type).toBe(9);
    expect(opened.modal()?.['custom_id']).toBe(`modbanform:${job.id}`);
    const answer = await settled(h.discord.modalSubmit({ from: opened, fields: { reason: 'repeated rudeness' }, memberPermissions: MODERATOR }));
    expect(answer.content).toBe(`<@${rulebreaker.id}> is banned from generating here. They were told privately.`);
    const dm = await h.discord.waitForDm(rulebreaker.id);
    expect(dm.content).toMatch(/^The moderators have banned you from generating in this server: repeated rudeness\.$/);
    expect(owned().repos.moderation.ban(community(), rulebreaker.id)).toMatchObject({ bannedBy: moderator.id, reason: 'repeated rudeness' });

    const jobsBefore = totalJobs();
    const submitsBefore = h.fal.submits().length;
    const refused = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'one more' }, user: rulebreaker, channelId: h.general.id, memberPermissions: VIEW_AND_SEND });
    const notice = await refused.waitForFollowUp((message) => message.ephemeral, 10_000);
    expect(notice.content).toBe('The moderators of this server have banned you from generating here (repeated rudeness). Ask them if you think this is a mistake.');
    expect(totalJobs()).toBe(jobsBefore);
    expect(h.fal.submits()).toHaveLength(submitsBefore);
    // Their result already posted stays (a ban is about new generations); the ban shows in the log.
    expect(h.discord.message(mirror.id)?.deleted).toBe(false);
    expect(owned().repos.moderation.recentActions(community(), 1)[0]).toMatchObject({ action: 'ban', target: rulebreaker.id, reason: 'repeated rudeness' });
    // The ban is per server: the member is not banned by user id anywhere else.
    expect(owned().services.moderation.isBanned({ platform: 'discord', workspaceId: 'another-guild' }, rulebreaker.id)).toBe(false);
    expect(owned().services.generation.activeJobs(ref(rulebreaker))).toEqual([]);
  });
});
