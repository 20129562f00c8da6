import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { discordUser } from '../../src/bots/discord/context.js';
import type { Asset, Job } from '../../src/db/index.js';
import type { CommandOptionValue, FakeChannel, FakeUser, InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { eventually } from '../helpers/app.js';
import { buttonId, buttonLabels, buttonsOf, embedsOf, MODERATOR_PERMISSIONS, PERMISSIONS, startDiscordHarness, type DiscordHarness, type WireEmbed } from '../helpers/discord.js';

/**
 * The review channel on Discord, end to end: posted results are mirrored there; held results wait
 * there until a moderator approves (posted where asked, owner told) or removes them (owner told, file
 * and link gone); the NSFW policy blurs, holds or blocks what fal flags.
 */
describe('Discord review channel: mirroring, holds and the NSFW policy', () => {
  let h: DiscordHarness;
  let admin: FakeUser;
  let moderator: FakeUser;
  let owner: FakeUser;
  let viewer: FakeUser;
  let review: FakeChannel;

  const { MANAGE_MESSAGES, VIEW_AND_SEND } = PERMISSIONS;
  const MODERATOR = MODERATOR_PERMISSIONS;
  const SCHNELL = 'fal-ai/flux/schnell';
  type Embed = WireEmbed;

  const owned = () => h.harness.app.owner!;
  const community = () => ({ platform: 'discord' as const, workspaceId: h.guild.id });
  const ref = (user: FakeUser) => discordUser({ id: user.id, username: user.username, globalName: user.global_name });
  const field = (embed: Embed | undefined, name: string) => embed?.fields?.find((candidate) => candidate.name === name)?.value;
  const labels = buttonLabels;
  const settled = (interaction: InteractionHandle) => interaction.waitForOriginal((message) => !message.loading, 10_000);
  const totalJobs = () => Object.values(owned().repos.jobs.countJobsByStatus()).reduce((sum, n) => sum + n, 0);
  const permalink = (message: MessageSnapshot) => `https://discord.com/channels/${h.guild.id}/${message.channelId}/${message.id}`;
  /** The bot's public messages in #general that show a job's result (interaction replies and channel posts). */
  const publicPostsOf = (job: Job) =>
    h.discord.channelMessages(h.general.id, { includeInteractions: true }).filter((message) => JSON.stringify(message.raw).includes(job.prompt));

  /** Runs `/mod …` as the server owner; returns its private answer. */
  async function mod(subcommand: string, options: Record<string, CommandOptionValue>): Promise<MessageSnapshot> {
    const interaction = h.discord.slashCommand({ name: 'mod', subcommand, options, user: admin, channelId: h.general.id });
    const answer = await settled(interaction);
    expect(answer.ephemeral).toBe(true);
    return answer;
  }

  /** Starts /imagine; waits until the job is delivered (posted, held or blocked). */
  async function imagine(prompt: string, options: Record<string, CommandOptionValue> = {}): Promise<{ interaction: InteractionHandle; job: Job }> {
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt, ...options }, user: owner, channelId: h.general.id, memberPermissions: VIEW_AND_SEND });
    const queued = await settled(interaction);
    expect(queued.content).toMatch(/^Queued/);
    const found = owned().repos.users.findUser(ref(owner))!;
    const job = await eventually(() => owned().repos.jobs.listRecentJobs(found.id, 50).find((candidate) => candidate.prompt === prompt && candidate.deliveredAt !== null), 20_000);
    return { interaction, job };
  }

  const assetsOf = (job: Job): Asset[] => owned().repos.assets.listJobAssets(job.id);

  /** The job's message in the review channel (the output mirror, found by its Remove button). */
  async function reviewMessageOf(job: Job): Promise<MessageSnapshot> {
    const message = await h.discord.waitForChannelMessage(review.id, (candidate) => buttonsOf(candidate).some((button) => button.custom_id === `modrm:${job.id}`), 20_000);
    // Decisions update the messages recorded for the job: wait until this one is.
    await eventually(() => owned().repos.moderation.findReviewPost(job.id, 'output'));
    return message;
  }

  /** Presses a button as a moderator (or `as` someone else) and returns the interaction. */
  function press(message: MessageSnapshot, label = 'Approve', user: FakeUser = moderator, permissions: bigint = MODERATOR): InteractionHandle {
    return h.discord.button({ customId: buttonId(message, label), message, user, memberPermissions: permissions });
  }

  /** Remove (or Ban owner): the button opens a form asking why; the answer to the form is returned. */
  async function pressWithReason(message: MessageSnapshot, label: string, reason: string): Promise<MessageSnapshot> {
    const opened = press(message, label);
    expect((await opened.waitForAck()).type).toBe(9);
    expect(JSON.stringify(opened.modal())).toContain('"custom_id":"reason"');
    const submitted = h.discord.modalSubmit({ from: opened, fields: { reason }, memberPermissions: MODERATOR });
    const answer = await settled(submitted);
    expect(answer.ephemeral).toBe(true);
    return answer;
  }

  beforeAll(async () => {
    h = await startDiscordHarness();
    review = h.discord.addChannel(h.guild.id, { name: 'mod-review' });
    admin = h.discord.getUser(h.guild.ownerId)!;
    moderator = h.discord.user({ username: 'moderator' });
    viewer = h.discord.user({ username: 'viewer' });
    owner = (await h.memberWithKey('artist')).user;
    expect((await mod('channel', { channel: review })).content).toMatch(/is now the review channel/);
  });

  beforeEach(async () => {
    h.fal.setOutput(SCHNELL, ({ input }) => h.fal.imageOutput({ width: 40, height: 30, count: Number(input['num_images'] ?? 1) }));
    await mod('settings', { nsfw: 'spoiler', other: 'allow' });
  });

  afterAll(async () => {
    h?.fal.release();
    await h?.close();
  });

  it('mirrors a posted result with prompt, model, owner, where, links and buttons; Approve marks it reviewed', async () => {
    const { interaction, job } = await imagine('a harbour at dawn');
    const post = await interaction.waitForOriginal((message) => message.embeds.length > 0);
    const [asset] = assetsOf(job);
    const shareUrl = owned().links.shareUrl(asset!);

    const mirror = await reviewMessageOf(job);
    expect(mirror.content).toBe(`New result by <@${owner.id}> in <#${h.general.id}>.`);
    const [card] = embedsOf(mirror);
    expect(card?.title).toBe('a harbour at dawn');
    expect(card?.url).toBe(shareUrl);
    expect(field(card, 'Model')).toBe('FLUX.1 [schnell]');
    expect(field(card, 'Owner')).toBe(`<@${owner.id}>`);
    expect(field(card, 'Where')).toBe(`<#${h.general.id}>`);
    expect(field(card, 'Post')).toBe(permalink(post));
    expect(field(card, 'Share link')).toBe(shareUrl);
    // The image itself is attached, so moderators see it even where our URL is out of Discord's reach.
    expect(mirror.attachments).toHaveLength(1);
    expect(mirror.attachments[0]?.filename).toMatch(/^atelier-/);
    expect(card?.image?.url).toBe(mirror.attachments[0]?.url);
    expect(labels(mirror)).toEqual(['Approve', 'Remove', 'Ban owner']);
    // Recorded (right after Discord answered the post): decisions find it to update it.
    expect(await eventually(() => owned().repos.moderation.findReviewPost(job.id, 'output')?.messageId)).toBe(mirror.id);

    const approve = press(mirror, 'Approve');
    const ack = await approve.waitForAck();
    expect(ack.type).toBe(5);
    expect(ack.data?.['flags']).toBe(64);
    expect((await settled(approve)).content).toBe('Approved.');
    const decided = await h.discord.waitFor(() => {
      const current = h.discord.message(mirror.id);
      return current?.content.includes('Approved by') ? current : undefined;
    });
    expect(decided.content).toBe(`New result by <@${owner.id}> in <#${h.general.id}>.\nApproved by <@${moderator.id}>.`);
    expect(labels(decided)).toEqual(['Remove', 'Ban owner']);
    expect(decided.attachments.map((attachment) => attachment.id)).toEqual(mirror.attachments.map((attachment) => attachment.id));
    expect(owned().repos.jobs.getJob(job.id)?.reviewState).toBe('approved');
    // The result post itself is untouched, and the mirror was posted once.
    expect(h.discord.message(post.id)?.revision).toBe(post.revision);
    expect(h.discord.channelMessages(review.id).filter((message) => message.content.includes('a harbour at dawn') || embedsOf(message)[0]?.title === 'a harbour at dawn')).toHaveLength(1);
  });

  it('holds a result until a moderator approves it: then it is posted where asked and the owner is told', async () => {
    await mod('settings', { other: 'hold' });
    const { interaction, job } = await imagine('a lantern festival');
    // The owner learns privately that it waits; the channel shows nothing of it.
    const notice = await interaction.waitForFollowUp((message) => message.ephemeral, 10_000);
    expect(notice.content).toBe("Your result for **a lantern festival** is ready and waits for a moderator's review. I will let you know when they decide.");
    expect(interaction.original()?.deleted).toBe(true);
    expect(publicPostsOf(job)).toEqual([]);
    expect(owned().repos.jobs.getJob(job.id)?.reviewState).toBe('held');
    const [asset] = assetsOf(job);
    expect(asset?.held).toBe(true);
    // Held outputs are the owner's alone: another member's view of their gallery leaves it out.
    expect(owned().services.gallery.publicOf(ref(owner), { limit: 50 }).items.map((item) => item.id)).not.toContain(asset!.id);

    const waiting = await reviewMessageOf(job);
    expect(waiting.content).toBe(`**Waiting for review**: a result by <@${owner.id}> for <#${h.general.id}>. Approve posts it there; Remove deletes it.`);
    expect(field(embedsOf(waiting)[0], 'Post')).toBeUndefined();
    expect(waiting.attachments).toHaveLength(1);
    expect(labels(waiting)).toEqual(['Approve', 'Remove', 'Ban owner']);

    const approve = press(waiting, 'Approve');
    expect((await settled(approve)).content).toBe(`Approved and posted in <#${h.general.id}>.`);
    // Posted anew in the channel (the command's token is not used: its placeholder is gone), mentioning the owner.
    const posted = await h.discord.waitForChannelMessage(h.general.id, (message) => embedsOf(message)[0]?.title === 'a lantern festival', 10_000);
    expect(posted.content.startsWith(`<@${owner.id}>`)).toBe(true);
    expect(posted.attachments).toHaveLength(1);
    expect(posted.attachments[0]?.filename).not.toMatch(/^SPOILER_/);
    expect(labels(posted)).toContain('Report');
    const told = await h.discord.waitForDm(owner.id, (message) => message.content.includes('approved your result for **a lantern festival**'));
    expect(told.content).toBe(`The moderators approved your result for **a lantern festival**; it is now posted in <#${h.general.id}>.`);
    const decided = await h.discord.waitFor(() => {
      const current = h.discord.message(waiting.id);
      return current?.content.includes('Approved by') ? current : undefined;
    });
    expect(labels(decided)).toEqual(['Remove', 'Ban owner']);
    expect(owned().repos.jobs.getJob(job.id)?.reviewState).toBe('approved');
    expect(owned().repos.assets.getAsset(asset!.id)?.held).toBe(false);
    expect(owned().services.gallery.publicOf(ref(owner), { limit: 50 }).items.map((item) => item.id)).toContain(asset!.id);
    // The new post is what a later removal takes down.
    expect(owned().repos.posts.forJob(job.id).map((record) => record.messageId)).toEqual([posted.id]);

    // A second moderator pressing Approve on the same message (before it changed for them) posts nothing more.
    const late = h.discord.button({ customId: `modok:${job.id}`, message: waiting.raw, user: admin, skipComponentCheck: true });
    expect((await settled(late)).content).toBe('Another moderator decided on this result already.');
    expect(publicPostsOf(job)).toHaveLength(1);
  });

  it('two moderators approving a held result at once post it once', async () => {
    await mod('settings', { other: 'hold' });
    const { job } = await imagine('a shared decision');
    const waiting = await reviewMessageOf(job);
    const answers = await Promise.all([press(waiting), press(waiting, 'Approve', admin, MODERATOR)].map((interaction) => settled(interaction)));
    expect(answers.map((answer) => answer.content).sort()).toEqual(['Another moderator decided on this result already.', `Approved and posted in <#${h.general.id}>.`]);
    await h.discord.waitForChannelMessage(h.general.id, (message) => embedsOf(message)[0]?.title === 'a shared decision', 10_000);
    await h.discord.waitForDm(owner.id, (message) => message.content.includes('**a shared decision**'));
    expect(publicPostsOf(job)).toHaveLength(1);
    expect(owned().repos.posts.forJob(job.id)).toHaveLength(1);
    expect(h.discord.dmMessages(owner.id).filter((message) => message.content.includes('**a shared decision**'))).toHaveLength(1);
    expect(owned().repos.moderation.recentActions(community(), 10).filter((action) => action.action === 'approve' && action.target?.includes('a shared decision'))).toHaveLength(1);
  });

  it('a private result held for review is shown to its owner alone once approved', async () => {
    await mod('settings', { other: 'hold' });
    const { interaction, job } = await imagine('a secret garden', { private: true });
    const notice = await interaction.waitForOriginal((message) => message.content.includes('waits for a moderator'), 10_000);
    expect(notice.ephemeral).toBe(true);
    const waiting = await reviewMessageOf(job);
    expect(waiting.content).toBe(`**Waiting for review**: a result by <@${owner.id}> for <#${h.general.id}>. Approve posts it there; Remove deletes it.`);
    expect(embedsOf(waiting)[0]?.fields?.find((candidate) => candidate.name === 'Where')?.value).toBe(`<#${h.general.id}> (private)`);
    expect((await settled(press(waiting, 'Approve'))).content).toBe('Approved and posted to its owner.');
    const shown = await interaction.waitForOriginal((message) => message.embeds.length > 0, 10_000);
    expect(shown.ephemeral).toBe(true);
    expect(embedsOf(shown)[0]?.title).toBe('a secret garden');
    expect(publicPostsOf(job)).toEqual([]);
    const told = await h.discord.waitForDm(owner.id, (message) => message.content.includes('**a secret garden**'));
    expect(told.content).toBe('The moderators approved your result for **a secret garden**.');
  });

  it('holds a result until a moderator removes it: never posted, owner told why, file and link gone', async () => {
    await mod('settings', { other: 'hold' });
    const { interaction, job } = await imagine('a forbidden door');
    await interaction.waitForFollowUp((message) => message.ephemeral, 10_000);
    const [asset] = assetsOf(job);
    const shareUrl = owned().links.shareUrl(asset!);
    const waiting = await reviewMessageOf(job);

    const opened = press(waiting, 'Remove');
    expect((await opened.waitForAck()).type).toBe(9);
    expect(opened.modal()?.['custom_id']).toBe(`modrmform:${job.id}:`);
    const answer = await settled(h.discord.modalSubmit({ from: opened, fields: { reason: 'not for this server' }, memberPermissions: MODERATOR }));
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toBe('Removed: its file, share link and posts are gone. The owner was told.');

    expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(false);
    expect((await fetch(shareUrl)).status).toBe(410);
    expect(owned().repos.assets.getAsset(asset!.id)).toMatchObject({ removedBy: `moderator:discord:${moderator.id}`, removedReason: 'not for this server' });
    expect(owned().repos.jobs.getJob(job.id)?.reviewState).toBe('rejected');
    const told = await h.discord.waitForDm(owner.id, (message) => message.content.includes('a forbidden door'));
    expect(told.content).toMatch(/^The moderators removed your result for \*\*a forbidden door\*\*: not for this server\. Its file and share link are gone\.$/);
    const decided = await h.discord.waitFor(() => {
      const current = h.discord.message(waiting.id);
      return current && current.components.length === 0 ? current : undefined;
    });
    expect(decided.content).toMatch(new RegExp(`^A result by <@${owner.id}> in <#${h.general.id}>: \\*\\*a forbidden door\\*\\*\\nRemoved by <@${moderator.id}>: not for this server\\. The files and share links are gone\\.$`));
    expect(decided.embeds).toEqual([]);
    expect(decided.attachments).toEqual([]);
    // It never showed in the channel, and the owner's own gallery no longer has it.
    expect(publicPostsOf(job)).toEqual([]);
    expect(owned().services.gallery.mine(ref(owner), { limit: 50 }).items.map((item) => item.id)).not.toContain(asset!.id);
    const log = owned().repos.moderation.recentActions(community(), 2);
    expect(log.map((action) => [action.actor, action.action, action.reason])).toEqual([
      [moderator.id, 'remove', 'not for this server'],
      ['policy', 'hold', null],
    ]);
  });

  it('flagged outputs are posted as spoilers by default, in the channel and in the review channel', async () => {
    h.fal.setOutput(SCHNELL, () => h.fal.imageOutput({ width: 40, height: 30, nsfw: [true] }));
    const { interaction, job } = await imagine('a crimson storm');
    const post = await interaction.waitForOriginal((message) => message.embeds.length > 0);
    expect(post.attachments[0]?.filename).toMatch(/^SPOILER_/);
    expect(embedsOf(post)[0]?.image).toBeUndefined();
    const mirror = await reviewMessageOf(job);
    expect(mirror.attachments[0]?.filename).toMatch(/^SPOILER_/);
    expect(embedsOf(mirror)[0]?.image).toBeUndefined();
  });

  it('block keeps flagged outputs off the channel for good and tells the owner privately; the others are posted', async () => {
    await mod('settings', { nsfw: 'block' });
    h.fal.setOutput(SCHNELL, ({ input }) => h.fal.imageOutput({ width: 40, height: 30, count: Number(input['num_images'] ?? 1), nsfw: [true, false] }));

    // Every output flagged: nothing is posted, the owner alone learns why.
    const all = await imagine('a grim ritual');
    const notice = await all.interaction.waitForFollowUp((message) => message.ephemeral, 10_000);
    expect(notice.content).toBe('Your result for **a grim ritual** was not posted: the moderators here do not allow outputs flagged as NSFW.');
    expect(all.interaction.original()?.deleted).toBe(true);
    expect(publicPostsOf(all.job)).toEqual([]);
    const [blocked] = assetsOf(all.job);
    expect(await h.harness.app.storage.exists(blocked!.storageKey)).toBe(false);
    expect((await fetch(owned().links.shareUrl(blocked!))).status).toBe(410);
    expect(owned().repos.assets.getAsset(blocked!.id)?.removedBy).toBe('policy');

    // One of two flagged: the other is posted (and mirrored); the owner is told about the one kept back.
    const some = await imagine('a grim and gentle pair', { count: 2 });
    const post = await some.interaction.waitForOriginal((message) => message.embeds.length > 0);
    const [flagged, clean] = assetsOf(some.job);
    expect(embedsOf(post).map((embed) => embed.url)).toEqual([owned().links.shareUrl(clean!)]);
    expect(post.attachments).toHaveLength(1);
    expect(JSON.stringify(post.raw)).not.toContain(flagged!.shareId);
    expect(await h.harness.app.storage.exists(flagged!.storageKey)).toBe(false);
    const dm = await h.discord.waitForDm(owner.id, (message) => message.content.includes('a grim and gentle pair'));
    expect(dm.content).toMatch(/^1 of your results for \*\*a grim and gentle pair\*\* was not posted: /);
    const mirror = await reviewMessageOf(some.job);
    expect(embedsOf(mirror).map((embed) => embed.url)).toEqual([owned().links.shareUrl(clean!)]);

    // The fully blocked result was never mirrored (its mirror would have come before this one's).
    expect(h.discord.channelMessages(review.id).some((message) => buttonsOf(message).some((button) => button.custom_id?.includes(all.job.id)))).toBe(false);
    const policyBlocks = owned()
      .repos.moderation.recentActions(community(), 10)
      .filter((action) => action.actor === 'policy' && action.action === 'block');
    expect(policyBlocks.map((action) => action.target)).toEqual([
      `"a grim and gentle pair" (output 1) by <@${owner.id}>`,
      `"a grim ritual" (output 1) by <@${owner.id}>`,
    ]);
  });

  it('hold applies to flagged outputs only when asked; an approved flagged result is still posted blurred', async () => {
    await mod('settings', { nsfw: 'hold' });
    h.fal.setOutput(SCHNELL, () => h.fal.imageOutput({ width: 40, height: 30, nsfw: [true] }));
    const flagged = await imagine('a dark cathedral');
    await flagged.interaction.waitForFollowUp((message) => message.ephemeral, 10_000);
    const waiting = await reviewMessageOf(flagged.job);
    expect(waiting.content).toMatch(/^\*\*Waiting for review\*\*/);
    expect(waiting.attachments[0]?.filename).toMatch(/^SPOILER_/);
    expect((await settled(press(waiting, 'Approve'))).content).toBe(`Approved and posted in <#${h.general.id}>.`);
    const posted = await h.discord.waitForChannelMessage(h.general.id, (message) => embedsOf(message)[0]?.title === 'a dark cathedral', 10_000);
    expect(posted.attachments[0]?.filename).toMatch(/^SPOILER_/);
    expect(embedsOf(posted)[0]?.image).toBeUndefined();

    // An unflagged output is not held.
    h.fal.setOutput(SCHNELL, () => h.fal.imageOutput({ width: 40, height: 30 }));
    const clean = await imagine('a bright chapel');
    const post = await clean.interaction.waitForOriginal((message) => message.embeds.length > 0);
    expect(post.ephemeral).toBe(false);
    expect((await reviewMessageOf(clean.job)).content).toMatch(/^New result/);
  });

  it('a refused review button or form changes nothing and calls nothing', async () => {
    await mod('settings', { other: 'hold' });
    const { job } = await imagine('a contested sculpture');
    const waiting = await reviewMessageOf(job);
    const [asset] = assetsOf(job);
    const jobsBefore = totalJobs();
    const submitsBefore = h.fal.submits().length;

    for (const label of ['Approve', 'Remove', 'Ban owner']) {
      const refused = press(waiting, label, viewer, VIEW_AND_SEND);
      const ack = await refused.waitForAck();
      // No form opens for a non-moderator.
      expect(ack.type).not.toBe(9);
      const answer = await settled(refused);
      expect(answer.ephemeral).toBe(true);
      expect(answer.content, label).toBe('Only moderators of this server can do that.');
    }
    // Forms submitted without the buttons (forged custom ids) are checked too.
    for (const customId of [`modrmform:${job.id}:`, `modbanform:${job.id}`]) {
      const forged = h.discord.modalSubmit({ customId, fields: { reason: 'forged' }, user: viewer, channelId: review.id, memberPermissions: VIEW_AND_SEND });
      expect((await settled(forged)).content, customId).toBe('Only moderators of this server can do that.');
    }

    expect(owned().repos.jobs.getJob(job.id)?.reviewState).toBe('held');
    expect(owned().repos.assets.getAsset(asset!.id)?.removedAt).toBeNull();
    expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(true);
    expect(owned().services.moderation.isBanned(community(), owner.id)).toBe(false);
    expect(h.discord.message(waiting.id)?.revision).toBe(waiting.revision);
    expect(publicPostsOf(job)).toEqual([]);
    expect(totalJobs()).toBe(jobsBefore);
    expect(h.fal.submits()).toHaveLength(submitsBefore);
  });

  it("a moderator of another server cannot decide on this server's results", async () => {
    await mod('settings', { other: 'hold' });
    const { job } = await imagine('a guarded vault');
    const waiting = await reviewMessageOf(job);
    const [asset] = assetsOf(job);
    const elsewhere = h.discord.guild({ name: 'Other Server', channels: [{ name: 'lobby' }] });
    const lobby = elsewhere.channels[0]!;
    const foreign = { user: moderator, guildId: elsewhere.id, channelId: lobby.id, memberPermissions: MODERATOR };
    const jobsBefore = totalJobs();
    const submitsBefore = h.fal.submits().length;
    const approve = h.discord.button({ customId: `modok:${job.id}`, message: { ...waiting.raw, id: h.discord.snowflake(), channel_id: lobby.id }, skipComponentCheck: true, ...foreign });
    expect((await settled(approve)).content).toBe('That result does not exist here any more.');
    for (const customId of [`modrmform:${job.id}:`, `modbanform:${job.id}`]) {
      const forged = h.discord.modalSubmit({ customId, fields: { reason: 'cross-server' }, ...foreign });
      expect((await settled(forged)).content, customId).toBe('That result does not exist here any more.');
    }
    expect(owned().repos.jobs.getJob(job.id)?.reviewState).toBe('held');
    expect(owned().repos.assets.getAsset(asset!.id)?.removedAt).toBeNull();
    expect(owned().services.moderation.isBanned({ platform: 'discord', workspaceId: elsewhere.id }, owner.id)).toBe(false);
    expect(owned().services.moderation.isBanned(community(), owner.id)).toBe(false);
    expect(publicPostsOf(job)).toEqual([]);
    expect(totalJobs()).toBe(jobsBefore);
    expect(h.fal.submits()).toHaveLength(submitsBefore);
    // The real moderators here still can.
    expect((await settled(press(waiting, 'Approve'))).content).toBe(`Approved and posted in <#${h.general.id}>.`);
  });

  it('a held result waits across a restart; approved after it, then removed, its post goes too', async () => {
    await mod('settings', { other: 'hold' });
    const { job } = await imagine('a patient owl');
    const waiting = await reviewMessageOf(job);

    await h.restart();

    expect((await settled(press(waiting, 'Approve'))).content).toBe(`Approved and posted in <#${h.general.id}>.`);
    const posted = await h.discord.waitForChannelMessage(h.general.id, (message) => embedsOf(message)[0]?.title === 'a patient owl', 10_000);
    await h.discord.waitForDm(owner.id, (message) => message.content.includes('approved your result for **a patient owl**'));
    await eventually(() => owned().repos.posts.forJob(job.id).length === 1);
    const decided = await h.discord.waitFor(() => (h.discord.message(waiting.id)?.content.includes('Approved by') ? h.discord.message(waiting.id) : undefined));

    const opened = press(decided, 'Remove');
    expect((await opened.waitForAck()).type).toBe(9);
    const answer = await settled(h.discord.modalSubmit({ from: opened, fields: { reason: '' }, memberPermissions: MODERATOR }));
    expect(answer.content).toBe('Removed: its file, share link and posts are gone. The owner was told.');
    expect(h.discord.message(posted.id)?.deleted).toBe(true);
    const [asset] = assetsOf(job);
    expect(owned().repos.assets.getAsset(asset!.id)).toMatchObject({ removedBy: `moderator:discord:${moderator.id}`, removedReason: 'removed by a moderator' });
    expect((await fetch(owned().links.shareUrl(asset!))).status).toBe(410);
    const told = await h.discord.waitForDm(owner.id, (message) => message.content.startsWith('The moderators removed your result for **a patient owl**'));
    expect(told.content).toBe('The moderators removed your result for **a patient owl**. Its file and share link are gone.');
  });
});
