import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeUser, InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { makePng } from '../fakes/fal-fixtures.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/** /imagine and /animate on Discord: the life of the deferred reply, the options, and how results are shown. */
describe('/imagine and /animate on Discord: progress and results', () => {
  let h: DiscordHarness;
  let member: FakeUser;
  /** The harness's AppOptions.discord.deliverer.progressIntervalMs. */
  const INTERVAL_MS = 200;

  type Button = { type: number; style?: number; custom_id?: string; label?: string; url?: string };
  type Embed = { title?: string; url?: string; image?: { url?: string }; thumbnail?: { url?: string }; fields?: Array<{ name: string; value: string }> };
  const buttonsOf = (message: MessageSnapshot): Button[] => (message.components as Array<{ components?: Button[] }>).flatMap((row) => row.components ?? []);
  const embedsOf = (message: MessageSnapshot) => message.embeds as Embed[];
  const field = (embed: Embed | undefined, name: string) => embed?.fields?.find((candidate) => candidate.name === name)?.value;
  const isResult = (message: MessageSnapshot) => message.embeds.length > 0;
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  const owned = () => h.harness.app.owner!;
  const assetOf = (embed: Embed | undefined) => owned().repos.assets.getAssetByShareId(embed!.url!.split('/s/')[1]!)!;

  beforeAll(async () => {
    h = await startDiscordHarness();
    member = (await h.memberWithKey('painter')).user;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('edits the deferred reply through queued, running (with fal logs) and done, never two edits closer than the interval', async () => {
    h.fal.setProgression('fal-ai/flux/dev', [{ status: 'IN_QUEUE', queuePosition: 2 }, { status: 'IN_QUEUE', queuePosition: 0 }, { status: 'IN_PROGRESS', logs: ['Loading the model'] }]);
    h.fal.hold('fal-ai/flux/dev');
    let interaction: InteractionHandle;
    try {
      interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a lighthouse in fog', model: 'dev' }, user: member, channelId: h.general.id });
      const ack = await interaction.waitForAck(3_000);
      expect(ack.type).toBe(5);
      expect(ack.data?.['flags'] ?? 0).toBe(0);
      // fal's log lines show under the status (the fake keeps adding "Still working..." while held).
      const running = await interaction.waitForOriginal((message) => /\n> (Loading the model|Still working)/.test(message.content), 10_000);
      expect(running.content).toMatch(/^Generating \*\*a lighthouse in fog\*\* with FLUX\.1 \[dev\]…\n> /);
      expect(buttonsOf(running).map((button) => button.label)).toEqual(['Cancel']);
    } finally {
      h.fal.release();
    }
    const done = await interaction.waitForOriginal(isResult, 20_000);
    expect(embedsOf(done)[0]?.title).toBe('a lighthouse in fog');
    // Let a stray late progress show itself if it were to come.
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 2));

    const history = interaction.originalHistory();
    const contents = history.map((message) => message.content);
    const queued = contents.findIndex((content) => content.startsWith('Queued'));
    const generating = contents.findIndex((content) => content.startsWith('Generating'));
    const result = history.findIndex(isResult);
    expect(history[0]?.loading).toBe(true);
    expect(queued).toBe(1);
    expect(generating).toBeGreaterThan(queued);
    // The result is the last revision: no progress overwrote it.
    expect(result).toBe(history.length - 1);
    expect(interaction.original()?.embeds.length).toBe(1);
    // Every edit (queued, progress, result) keeps its distance from the one before.
    const edits = history.slice(1).map((message) => message.editedAt!);
    for (let index = 1; index < edits.length; index += 1) {
      expect(edits[index]! - edits[index - 1]!, `edit ${index + 1} after edit ${index}`).toBeGreaterThanOrEqual(INTERVAL_MS - 2);
    }
    expect(interaction.followUps()).toEqual([]);
  });

  it('passes size, seed, count and params to fal, and shows each output with model, seed and time taken', async () => {
    h.fal.setOutput('fal-ai/flux/schnell', ({ input }) => h.fal.imageOutput({ width: 40, height: 30, seed: Number(input['seed']), count: Number(input['num_images']) }));
    const before = h.fal.submits('fal-ai/flux/schnell').length;
    const interaction = h.discord.slashCommand({
      name: 'imagine',
      options: { prompt: 'two paper boats', size: 'landscape_4_3', seed: 1234, count: 2, params: 'num_inference_steps=3' },
      user: member,
      channelId: h.general.id,
    });
    const done = await interaction.waitForOriginal(isResult, 20_000);
    const submit = h.fal.submits('fal-ai/flux/schnell')[before]!;
    expect(submit.input).toMatchObject({ prompt: 'two paper boats', image_size: 'landscape_4_3', seed: 1234, num_images: 2, num_inference_steps: 3 });

    const embeds = embedsOf(done);
    expect(embeds.map((embed) => embed.title)).toEqual(['two paper boats (1/2)', 'two paper boats (2/2)']);
    expect(done.attachments).toHaveLength(2);
    for (const [index, embed] of embeds.entries()) {
      expect(field(embed, 'Model')).toBe('FLUX.1 [schnell]');
      expect(field(embed, 'Seed')).toBe('1234');
      expect(field(embed, 'Time taken')).toMatch(/^\d+\.\d s$/);
      // The inline image is the uploaded file, byte for byte the stored output.
      expect(embed.image?.url).toBe(done.attachments[index]?.url);
      expect(sha256(done.attachments[index]!.bytes)).toBe(assetOf(embed).sha256);
    }
    // Per output: its share page, Vary and Delete; one Rerun for the job.
    const buttons = buttonsOf(done);
    expect(buttons.filter((button) => button.url).map((button) => button.url)).toEqual(embeds.map((embed) => embed.url));
    expect(buttons.map((button) => button.label)).toEqual(['Open 1', 'Vary 1', 'Delete 1', 'Report 1', 'Open 2', 'Vary 2', 'Delete 2', 'Report 2', 'Rerun']);
    h.fal.setOutput('fal-ai/flux/schnell', () => h.fal.imageOutput({ width: 64, height: 48 }));
  });

  it('refuses params the model does not know, privately, without calling fal', async () => {
    const before = h.fal.submits().length;
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a kettle', params: 'warp_factor=9' }, user: member, channelId: h.general.id });
    const ack = await interaction.waitForAck(3_000);
    expect(ack.type).toBe(5);
    const answer = await interaction.waitForFollowUp(() => true, 10_000);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/warp_factor/);
    // The public "thinking…" placeholder is gone: nothing about the refusal shows in the channel.
    expect(interaction.original()?.deleted).toBe(true);
    expect(h.discord.channelMessages(h.general.id, { includeInteractions: true }).filter((message) => message.interactionId === interaction.id)).toEqual([]);
    expect(h.fal.submits().length).toBe(before);
  });

  it('refuses a size the model does not offer, naming the allowed ones', async () => {
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a kettle', size: 'gigantic' }, user: member, channelId: h.general.id });
    const answer = await interaction.waitForFollowUp(() => true, 10_000);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/square_hd/);
  });

  it('private: the deferred reply and the result are seen only by the member', async () => {
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a secret garden', private: true }, user: member, channelId: h.general.id });
    const ack = await interaction.waitForAck(3_000);
    expect(ack.data?.['flags']).toBe(64);
    const done = await interaction.waitForOriginal(isResult, 20_000);
    expect(done.ephemeral).toBe(true);
    expect(done.attachments).toHaveLength(1);
    expect(interaction.originalHistory().every((message) => message.ephemeral)).toBe(true);
    expect(h.discord.channelMessages(h.general.id, { includeInteractions: true }).some((message) => message.interactionId === interaction.id)).toBe(false);
    expect(assetOf(embedsOf(done)[0]).visibility).toBe('private');
  });

  it('attached images become references for the default edit model', async () => {
    const png = makePng(24, 24, { seed: 9 });
    const jpeg = makePng(16, 16, { seed: 10 });
    const image = h.discord.addAttachment('cat.png', png, 'image/png');
    const image2 = h.discord.addAttachment('hat.png', jpeg, 'image/png');
    const before = h.fal.submits('fal-ai/nano-banana/edit').length;
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'the cat wearing the hat', image, image2 }, user: member, channelId: h.general.id });
    const done = await interaction.waitForOriginal(isResult, 20_000);
    expect(field(embedsOf(done)[0], 'Model')).toBe('Nano Banana (edit)');
    const submit = h.fal.submits('fal-ai/nano-banana/edit')[before]!;
    const urls = submit.input['image_urls'] as string[];
    expect(urls).toHaveLength(2);
    // fal received exactly the member's bytes (re-uploaded to fal storage; Discord's URL never reaches fal).
    const uploaded = await Promise.all(urls.map((url) => h.fal.cdnObject(url)!.bytes()));
    expect(uploaded.map(sha256)).toEqual([sha256(png), sha256(jpeg)]);
    expect(JSON.stringify(submit.input)).not.toContain(h.discord.baseUrl);
  });

  it('flagged outputs (has_nsfw_concepts) are spoilers: a SPOILER_ file and no embed image', async () => {
    h.fal.setOutput('fal-ai/flux/schnell', () => h.fal.imageOutput({ width: 32, height: 32, nsfw: [true] }));
    try {
      const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a questionable statue' }, user: member, channelId: h.general.id });
      const done = await interaction.waitForOriginal(isResult, 20_000);
      expect(done.attachments).toHaveLength(1);
      expect(done.attachments[0]!.filename).toMatch(/^SPOILER_/);
      const [embed] = embedsOf(done);
      expect(embed?.image).toBeUndefined();
      expect(embed?.thumbnail).toBeUndefined();
      expect(assetOf(embed).nsfw).toBe(true);
    } finally {
      h.fal.setOutput('fal-ai/flux/schnell', () => h.fal.imageOutput({ width: 64, height: 48 }));
    }
  });

  it('an image larger than the interaction allows is shown by URL (our media URL, not fal\'s)', async () => {
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a very large map' }, user: member, channelId: h.general.id, attachmentSizeLimit: 64 });
    const done = await interaction.waitForOriginal(isResult, 20_000);
    expect(done.attachments).toEqual([]);
    const [embed] = embedsOf(done);
    const asset = assetOf(embed);
    expect(embed?.image?.url).toBe(owned().links.mediaUrl(asset));
    expect(embed?.image?.url).toMatch(new RegExp(`^${h.harness.baseUrl}/media/`));
    const response = await fetch(embed!.image!.url!);
    expect(response.status).toBe(200);
    expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(asset.sha256);
  });

  it('/animate: a first frame goes to the image-to-video model; a small video is attached, with its duration', async () => {
    h.fal.setOutput('fal-ai/kling-video/v2.1/pro/image-to-video', () => h.fal.videoOutput({ bytes: 64 * 1024, durationSeconds: 10 }));
    const frame = makePng(20, 20, { seed: 3 });
    const lastFrame = makePng(20, 20, { seed: 4 });
    const interaction = h.discord.slashCommand({
      name: 'animate',
      options: {
        prompt: 'the kite takes off',
        first_frame: h.discord.addAttachment('start.png', frame, 'image/png'),
        last_frame: h.discord.addAttachment('end.png', lastFrame, 'image/png'),
        duration: '10',
        params: 'cfg_scale=0.7',
      },
      user: member,
      channelId: h.general.id,
    });
    const done = await interaction.waitForOriginal(isResult, 20_000);
    const submit = h.fal.submits('fal-ai/kling-video/v2.1/pro/image-to-video').at(-1)!;
    expect(submit.input).toMatchObject({ prompt: 'the kite takes off', duration: '10', cfg_scale: 0.7 });
    expect(sha256(await h.fal.cdnObject(submit.input['image_url'] as string)!.bytes())).toBe(sha256(frame));
    expect(sha256(await h.fal.cdnObject(submit.input['tail_image_url'] as string)!.bytes())).toBe(sha256(lastFrame));

    const [embed] = embedsOf(done);
    const asset = assetOf(embed);
    expect(asset.kind).toBe('video');
    expect(field(embed, 'Model')).toBe('Kling 2.1 Pro (image to video)');
    expect(field(embed, 'Duration')).toBe('10 s');
    expect(done.attachments).toHaveLength(1);
    expect(done.attachments[0]!.contentType).toBe('video/mp4');
    expect(sha256(done.attachments[0]!.bytes)).toBe(asset.sha256);
    // A video is never an embed image (a poster must be a still image).
    expect(embed?.image).toBeUndefined();
    // Videos get no Vary button.
    expect(buttonsOf(done).map((button) => button.label)).toEqual(['Open share page', 'Rerun', 'Delete', 'Report']);
  });

  it('/animate: a video larger than the interaction allows is linked (share page), never used as an image', async () => {
    h.fal.setOutput('fal-ai/veo3', () => h.fal.videoOutput({ bytes: 300 * 1024, durationSeconds: 8 }));
    const interaction = h.discord.slashCommand({
      name: 'animate',
      options: { prompt: 'waves at dusk', model: 'veo3' },
      user: member,
      channelId: h.general.id,
      attachmentSizeLimit: 100 * 1024,
    });
    const done = await interaction.waitForOriginal(isResult, 20_000);
    expect(done.attachments).toEqual([]);
    const [embed] = embedsOf(done);
    const asset = assetOf(embed);
    expect(done.content).toContain(embed!.url!);
    expect(field(embed, 'Duration')).toBe('8 s');
    // No poster could be made from these bytes: then no image at all, never the video URL.
    expect(embed?.image?.url).toBe(asset.posterStorageKey ? owned().links.mediaUrl({ storageKey: asset.posterStorageKey }) : undefined);
    expect(JSON.stringify(done.raw)).not.toContain(owned().links.mediaUrl(asset));
    expect(JSON.stringify(done.raw)).not.toContain('fal.media');
  });

  it('a video with a poster: linked when large (the poster is the embed image), attached when small (no poster on top)', async () => {
    const frame = makePng(30, 20, { seed: 5 });
    const run = async (bytes: number, attachmentSizeLimit: number) => {
      h.fal.setOutput('fal-ai/kling-video/v2.1/pro/image-to-video', () => h.fal.videoOutput({ bytes, durationSeconds: 5 }));
      const interaction = h.discord.slashCommand({
        name: 'animate',
        options: { prompt: `a kite, ${bytes} bytes`, first_frame: h.discord.addAttachment('first.png', frame, 'image/png') },
        user: member,
        channelId: h.general.id,
        attachmentSizeLimit,
      });
      const done = await interaction.waitForOriginal(isResult, 20_000);
      const [embed] = embedsOf(done);
      return { done, embed, asset: assetOf(embed) };
    };

    const large = await run(200 * 1024, 100 * 1024);
    // Without a frame from ffmpeg, the first-frame input is the poster: a still image, stored with the video.
    expect(large.asset.posterStorageKey).not.toBeNull();
    expect(large.done.attachments).toEqual([]);
    expect(large.embed?.image?.url).toBe(owned().links.mediaUrl({ storageKey: large.asset.posterStorageKey! }));
    expect(large.embed?.image?.url).not.toBe(owned().links.mediaUrl(large.asset));
    expect(large.done.content).toContain(large.embed!.url!);
    const poster = await fetch(large.embed!.image!.url!);
    expect(poster.headers.get('content-type')).toMatch(/^image\//);

    const small = await run(32 * 1024, 10 * 1024 * 1024);
    expect(small.asset.posterStorageKey).not.toBeNull();
    expect(small.done.attachments.map((attachment) => attachment.contentType)).toEqual(['video/mp4']);
    expect(small.embed?.image).toBeUndefined();
  });
});
