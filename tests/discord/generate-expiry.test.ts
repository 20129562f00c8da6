import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeUser, InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { eventually } from '../helpers/app.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/**
 * Interaction tokens die after 15 minutes (here: TOKEN_LIFETIME_MS). A result that arrives later is
 * posted in the channel mentioning the member, or sent by DM when the channel is gone or the result
 * is private: never lost, never twice.
 */
describe('Discord results after the interaction token expired', () => {
  const TOKEN_LIFETIME_MS = 2_500;
  let h: DiscordHarness;
  let member: FakeUser;

  type Embed = { title?: string; url?: string; image?: { url?: string } };
  const isResult = (message: MessageSnapshot) => message.embeds.length > 0;
  const titleOf = (message: MessageSnapshot) => (message.embeds[0] as Embed | undefined)?.title;

  beforeAll(async () => {
    h = await startDiscordHarness({ tokenLifetimeMs: TOKEN_LIFETIME_MS });
    member = (await h.memberWithKey('latecomer')).user;
  });
  afterAll(async () => {
    h?.fal.release();
    await h?.close();
  });

  /** Starts a generation that fal holds, and waits until it is queued at fal and shown as queued. */
  async function heldGeneration(options: { prompt: string; private?: boolean; channelId?: string }): Promise<InteractionHandle> {
    h.fal.hold('fal-ai/flux/schnell');
    const submitted = h.fal.submits().length;
    const interaction = h.discord.slashCommand({
      name: 'imagine',
      options: { prompt: options.prompt, ...(options.private ? { private: true } : {}) },
      user: member,
      channelId: options.channelId ?? h.general.id,
    });
    await interaction.waitForAck(3_000);
    await interaction.waitForOriginal((message) => !message.loading, 5_000);
    await h.fal.waitForSubmit(undefined, submitted + 1, 10_000);
    return interaction;
  }

  /** No copy of the result anywhere but where it is expected. */
  function resultsEverywhere(interaction: InteractionHandle, prompt: string): MessageSnapshot[] {
    const channels = h.guild.channels.map((channel) => channel.id);
    return [
      ...interaction.originalHistory().slice(-1),
      ...interaction.followUps(),
      ...channels.flatMap((id) => (h.discord.getChannel(id)?.deleted ? [] : h.discord.channelMessages(id))),
      ...h.discord.dmMessages(member.id),
    ].filter((message) => isResult(message) && titleOf(message) === prompt);
  }

  it('a token Discord expired early: the result is posted in the channel, mentioning the member', async () => {
    const interaction = await heldGeneration({ prompt: 'a late owl' });
    interaction.expireToken();
    h.fal.release();
    const posted = await h.discord.waitForChannelMessage(h.general.id, (message) => titleOf(message) === 'a late owl', 20_000);
    expect(posted.content.startsWith(`<@${member.id}>`)).toBe(true);
    // The mention pings this member and nobody else.
    const post = h.discord.requests.find((request) => request.route === 'create-message' && request.path === `/channels/${h.general.id}/messages` && JSON.stringify(request.json).includes('a late owl'));
    expect((post?.json as { allowed_mentions?: unknown }).allowed_mentions).toEqual({ parse: [], users: [member.id] });
    expect(posted.attachments).toHaveLength(1);
    expect((posted.embeds[0] as Embed).image?.url).toBe(posted.attachments[0]?.url);
    expect(posted.components.length).toBeGreaterThan(0);
    // The original stays the queued message: the result went to the channel once.
    expect(interaction.original()?.content).not.toBe('');
    expect(isResult(interaction.original()!)).toBe(false);
    expect(resultsEverywhere(interaction, 'a late owl')).toHaveLength(1);

    // Removing the result takes the channel post down too (with the bot token: the interaction's is dead).
    const owner = h.harness.app.owner!;
    const asset = owner.repos.assets.getAssetByShareId((posted.embeds[0] as Embed).url!.split('/s/')[1]!)!;
    await eventually(() => owner.repos.jobs.getJob(asset.jobId)?.deliveredAt);
    await owner.services.gallery.remove(asset, { by: 'owner' });
    expect(h.discord.message(posted.id)?.deleted).toBe(true);
  });

  it('after the token lifetime: the result goes to the channel without trying the dead token', async () => {
    const interaction = await heldGeneration({ prompt: 'a patient heron' });
    await new Promise((resolve) => setTimeout(resolve, TOKEN_LIFETIME_MS + 100));
    const webhookCallsBefore = h.discord.requests.filter((request) => request.path.includes(interaction.token)).length;
    h.fal.release();
    const posted = await h.discord.waitForChannelMessage(h.general.id, (message) => titleOf(message) === 'a patient heron', 20_000);
    expect(posted.content.startsWith(`<@${member.id}>`)).toBe(true);
    expect(h.discord.requests.filter((request) => request.path.includes(interaction.token)).length).toBe(webhookCallsBefore);
    expect(resultsEverywhere(interaction, 'a patient heron')).toHaveLength(1);
  });

  it('the channel is gone too: the result arrives by DM', async () => {
    const doomed = h.discord.addChannel(h.guild.id, { name: 'doomed' });
    const interaction = await heldGeneration({ prompt: 'a vanishing room', channelId: doomed.id });
    interaction.expireToken();
    h.discord.deleteChannel(doomed.id, { notify: true });
    h.fal.release();
    const dm = await h.discord.waitForDm(member.id, (message) => titleOf(message) === 'a vanishing room', 20_000);
    expect(dm.attachments).toHaveLength(1);
    expect(resultsEverywhere(interaction, 'a vanishing room')).toHaveLength(1);
    // The DM copy is what a removal takes down.
    const owner = h.harness.app.owner!;
    const asset = owner.repos.assets.getAssetByShareId((dm.embeds[0] as Embed).url!.split('/s/')[1]!)!;
    await eventually(() => owner.repos.jobs.getJob(asset.jobId)?.deliveredAt);
    expect(owner.repos.posts.forJob(asset.jobId).map((post) => post.messageId)).toEqual([dm.id]);
    await owner.services.gallery.remove(asset, { by: 'owner' });
    expect(h.discord.message(dm.id)?.deleted).toBe(true);
  });

  it('a private result after expiry goes by DM, never to the channel', async () => {
    const interaction = await heldGeneration({ prompt: 'a private diary', private: true });
    interaction.expireToken();
    h.fal.release();
    const dm = await h.discord.waitForDm(member.id, (message) => titleOf(message) === 'a private diary', 20_000);
    expect(dm.attachments).toHaveLength(1);
    expect(h.discord.channelMessages(h.general.id).some((message) => titleOf(message) === 'a private diary')).toBe(false);
    expect(resultsEverywhere(interaction, 'a private diary')).toHaveLength(1);
  });

  it('a failure after expiry is told by DM, not in the channel', async () => {
    h.fal.setOutput('fal-ai/flux/schnell', h.fal.modelError(422, {
      detail: [{ loc: ['body', 'prompt'], msg: 'flagged by a content checker', type: 'content_policy_violation' }],
    }));
    try {
      const interaction = await heldGeneration({ prompt: 'a forbidden thing' });
      interaction.expireToken();
      h.fal.release();
      const dm = await h.discord.waitForDm(member.id, (message) => message.content.includes('a forbidden thing'), 20_000);
      expect(dm.content).toMatch(/content policy/);
      expect(h.discord.channelMessages(h.general.id).some((message) => message.content.includes('a forbidden thing'))).toBe(false);
    } finally {
      h.fal.setOutput('fal-ai/flux/schnell', () => h.fal.imageOutput({ width: 64, height: 48 }));
    }
  });

  it('a cancellation after expiry is told by DM, not in the channel', async () => {
    const interaction = await heldGeneration({ prompt: 'a cancelled kite' });
    interaction.expireToken();
    const queued = interaction.original()!;
    const cancelId = (queued.components as Array<{ components: Array<{ custom_id?: string; label?: string }> }>)
      .flatMap((row) => row.components)
      .find((button) => button.label === 'Cancel')?.custom_id;
    const press = h.discord.button({ customId: cancelId!, message: queued, user: member });
    expect((await press.waitForOriginal((message) => !message.loading, 5_000)).content).toMatch(/Cancelling/);
    const dm = await h.discord.waitForDm(member.id, (message) => message.content.includes('a cancelled kite'), 20_000);
    expect(dm.content).toMatch(/^Cancelled/);
    expect(h.discord.channelMessages(h.general.id).some((message) => message.content.includes('a cancelled kite'))).toBe(false);
    h.fal.release();
  });
});
