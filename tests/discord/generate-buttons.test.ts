import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Asset } from '../../src/db/index.js';
import type { FakeUser, InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { eventually } from '../helpers/app.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/** The buttons on queued and result messages: Cancel, Delete, Rerun, Vary. */
describe('Discord result buttons', () => {
  let h: DiscordHarness;
  let owner: FakeUser;
  let other: FakeUser;

  type Button = { type: number; style?: number; custom_id?: string; label?: string; url?: string };
  type Embed = { title?: string; url?: string; fields?: Array<{ name: string; value: string }> };
  const buttonsOf = (message: MessageSnapshot): Button[] => (message.components as Array<{ components?: Button[] }>).flatMap((row) => row.components ?? []);
  const buttonId = (message: MessageSnapshot, label: string) => {
    const id = buttonsOf(message).find((button) => button.label === label)?.custom_id;
    if (!id) throw new Error(`no "${label}" button in ${JSON.stringify(message.components)}`);
    return id;
  };
  const isResult = (message: MessageSnapshot) => message.embeds.length > 0;
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  const owned = () => h.harness.app.owner!;
  const MANAGE_MESSAGES = 1n << 13n;
  const VIEW_AND_SEND = (1n << 10n) | (1n << 11n);

  /** Runs /imagine to its result; returns the result message and its stored asset. */
  async function generate(prompt: string, extra: Record<string, string | number> = {}): Promise<{ interaction: InteractionHandle; post: MessageSnapshot; asset: Asset }> {
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt, ...extra }, user: owner, channelId: h.general.id });
    const post = await interaction.waitForOriginal(isResult, 20_000);
    const shareUrl = (post.embeds[0] as Embed).url!;
    const asset = owned().repos.assets.getAssetByShareId(shareUrl.split('/s/')[1]!)!;
    // Delivered, with the post recorded (what a removal takes down).
    await eventually(() => owned().repos.jobs.getJob(asset.jobId)?.deliveredAt);
    return { interaction, post, asset };
  }

  /** Presses a button; returns the interaction and its settled first answer. */
  async function press(message: MessageSnapshot, label: string, user: FakeUser, memberPermissions?: bigint) {
    const interaction = h.discord.button({ customId: buttonId(message, label), message, user, ...(memberPermissions !== undefined ? { memberPermissions } : {}) });
    const ack = await interaction.waitForAck(3_000);
    const answer = await interaction.waitForOriginal((reply) => !reply.loading, 10_000);
    return { interaction, ack, answer };
  }

  beforeAll(async () => {
    h = await startDiscordHarness();
    owner = (await h.memberWithKey('maker')).user;
    other = (await h.memberWithKey('bystander')).user;
  });
  afterAll(async () => {
    h?.fal.release();
    await h?.close();
  });

  it('Cancel on the queued message stops the job at fal and says so', async () => {
    h.fal.hold('fal-ai/flux/schnell');
    const submitted = h.fal.submits('fal-ai/flux/schnell').length;
    try {
      const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a never-finished bridge' }, user: owner, channelId: h.general.id });
      const queued = await interaction.waitForOriginal((message) => buttonsOf(message).some((button) => button.label === 'Cancel'), 5_000);
      const submit = await h.fal.waitForSubmit('fal-ai/flux/schnell', submitted + 1, 10_000);

      // Another member cannot cancel it.
      const refused = await press(queued, 'Cancel', other);
      expect(refused.answer.ephemeral).toBe(true);
      expect(refused.answer.content).toMatch(/not yours/);

      const { ack, answer } = await press(interaction.original()!, 'Cancel', owner);
      expect(ack.data?.['flags']).toBe(64);
      expect(answer.ephemeral).toBe(true);
      expect(answer.content).toMatch(/Cancelling \*\*a never-finished bridge\*\*/);

      await h.fal.waitFor(() => h.fal.cancels().find((cancel) => cancel.requestId === submit.requestId), 10_000);
      const cancelled = await interaction.waitForOriginal((message) => message.content.startsWith('Cancelled'), 10_000);
      expect(cancelled.content).toBe('Cancelled: **a never-finished bridge**.');
      expect(cancelled.components).toEqual([]);
    } finally {
      h.fal.release();
    }
  });

  it('Delete by the owner removes the stored file and the share link answers 410', async () => {
    const { post, asset } = await generate('a sandcastle');
    const shareUrl = (post.embeds[0] as Embed).url!;
    expect((await fetch(shareUrl)).status).toBe(200);

    const { ack, answer } = await press(post, 'Delete', owner);
    expect(ack.type).toBe(4);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/Delete \*\*a sandcastle\*\*\?/);
    const confirmed = await press(answer, 'Delete for good', owner);
    expect(confirmed.answer.ephemeral).toBe(true);
    expect(confirmed.answer.content).toMatch(/Deleted/);

    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(false);
    expect(owned().repos.assets.getAsset(asset.id)?.removedAt).not.toBeNull();
    expect((await fetch(shareUrl)).status).toBe(410);
    expect((await fetch(owned().links.mediaUrl(asset))).status).toBeGreaterThanOrEqual(400);
    // The result post (with its attached copy) is taken down too.
    expect(h.discord.message(post.id)?.deleted).toBe(true);
    expect(owned().repos.posts.forJob(asset.jobId)).toEqual([]);
  });

  it('deleting one output of several leaves the post showing the others, with their files', async () => {
    h.fal.setOutput('fal-ai/flux/schnell', ({ input }) => h.fal.imageOutput({ width: 20, height: 20, count: Number(input['num_images']) }));
    try {
      const { post } = await generate('three paper cranes', { count: 3 });
      expect(post.attachments).toHaveLength(3);
      const assets = owned().repos.assets.listJobAssets(owned().repos.assets.getAssetByShareId((post.embeds[0] as Embed).url!.split('/s/')[1]!)!.jobId);
      const { answer } = await press(post, 'Delete 2', owner);
      await press(answer, 'Delete for good', owner);

      const edited = h.discord.message(post.id)!;
      expect(edited.deleted).toBe(false);
      expect((edited.embeds as Embed[]).map((embed) => embed.url)).toEqual([assets[0], assets[2]].map((asset) => owned().links.shareUrl(asset!)));
      // The remaining files are the same uploads, still shown inline; the removed one is gone.
      expect(edited.attachments.map((attachment) => attachment.id)).toEqual([post.attachments[0]!.id, post.attachments[2]!.id]);
      expect((edited.embeds as Array<{ image?: { url?: string } }>).map((embed) => embed.image?.url)).toEqual([post.attachments[0]!.url, post.attachments[2]!.url]);
      expect(buttonsOf(edited).map((button) => button.label)).toEqual(['Open 1', 'Vary 1', 'Delete 1', 'Report 1', 'Open 2', 'Vary 2', 'Delete 2', 'Report 2', 'Rerun']);
      expect(JSON.stringify(edited.raw)).not.toContain(assets[1]!.shareId);
    } finally {
      h.fal.setOutput('fal-ai/flux/schnell', () => h.fal.imageOutput({ width: 64, height: 48 }));
    }
  });

  it('Delete is refused for another member without Manage Messages, and allowed with it', async () => {
    const { post, asset } = await generate('a shared mural');
    const shareUrl = (post.embeds[0] as Embed).url!;

    const refused = await press(post, 'Delete', other, VIEW_AND_SEND);
    expect(refused.answer.ephemeral).toBe(true);
    expect(refused.answer.content).toMatch(/Only its owner or a moderator/);
    expect(buttonsOf(refused.answer)).toEqual([]);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(true);
    expect((await fetch(shareUrl)).status).toBe(200);

    const moderator = await press(post, 'Delete', other, VIEW_AND_SEND | MANAGE_MESSAGES);
    expect(moderator.answer.ephemeral).toBe(true);
    const confirmed = await press(moderator.answer, 'Delete for good', other, VIEW_AND_SEND | MANAGE_MESSAGES);
    expect(confirmed.answer.content).toMatch(/Deleted/);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(false);
    expect((await fetch(shareUrl)).status).toBe(410);
    expect(owned().repos.assets.getAsset(asset.id)?.removedBy).toBe(`moderator:discord:${other.id}`);
    expect(h.discord.message(post.id)?.deleted).toBe(true);
  });

  it('Rerun queues the same prompt and model again, with a new seed', async () => {
    const { post } = await generate('a copper teapot', { model: 'dev', seed: 31337, size: 'portrait_4_3' });
    const before = h.fal.submits('fal-ai/flux/dev').length;
    const first = h.fal.submits('fal-ai/flux/dev').at(-1)!;
    expect(first.input).toMatchObject({ prompt: 'a copper teapot', seed: 31337, image_size: 'portrait_4_3' });

    const rerun = h.discord.button({ customId: buttonId(post, 'Rerun'), message: post, user: owner });
    expect((await rerun.waitForAck(3_000)).type).toBe(5);
    const done = await rerun.waitForOriginal(isResult, 20_000);
    expect(done.ephemeral).toBe(false);
    expect((done.embeds[0] as Embed).title).toBe('a copper teapot');

    const submits = h.fal.submits('fal-ai/flux/dev');
    expect(submits).toHaveLength(before + 1);
    const again = submits.at(-1)!;
    const { seed: firstSeed, ...firstRest } = first.input;
    const { seed: againSeed, ...againRest } = again.input;
    expect(againRest).toEqual(firstRest);
    expect(firstSeed).toBe(31337);
    expect(againSeed).not.toBe(31337);
    // The original result is untouched; the rerun is a new message.
    expect(isResult(h.discord.message(post.id)!)).toBe(true);
  });

  it('Vary sends the output itself as a reference to the edit model, with the same prompt', async () => {
    const { post, asset } = await generate('a glass apple');
    const before = h.fal.submits('fal-ai/nano-banana/edit').length;
    const vary = h.discord.button({ customId: buttonId(post, 'Vary'), message: post, user: other });
    expect((await vary.waitForAck(3_000)).type).toBe(5);
    const done = await vary.waitForOriginal(isResult, 20_000);
    expect((done.embeds[0] as Embed).fields?.find((field) => field.name === 'Model')?.value).toBe('Nano Banana (edit)');

    const submit = h.fal.submits('fal-ai/nano-banana/edit')[before]!;
    expect(submit.input['prompt']).toBe('a glass apple');
    const [reference] = submit.input['image_urls'] as string[];
    // The reference fal got is exactly the stored output (re-uploaded to fal, not our URL).
    expect(sha256(await h.fal.cdnObject(reference!)!.bytes())).toBe(asset.sha256);
    // The variation is the presser's, with their own key.
    const variation = owned().repos.assets.getAssetByShareId((done.embeds[0] as Embed).url!.split('/s/')[1]!)!;
    expect(variation.ownerUserId).not.toBe(asset.ownerUserId);
  });

  it('buttons on a deleted result answer privately that it is gone', async () => {
    const { post, asset } = await generate('a fleeting cloud');
    await owned().services.gallery.remove(asset, { by: 'owner' });
    expect(h.discord.message(post.id)?.deleted).toBe(true);
    // A copy of the post the removal could not reach (say, forwarded): its buttons still answer sensibly.
    const stale = { ...post.raw, id: h.discord.snowflake() };
    for (const label of ['Vary', 'Delete']) {
      const interaction = h.discord.button({ customId: buttonId(post, label), message: stale, user: owner });
      const answer = await interaction.waitForOriginal((reply) => !reply.loading, 10_000);
      expect(answer.ephemeral).toBe(true);
      expect(answer.content).toMatch(/deleted/i);
    }
  });
});
