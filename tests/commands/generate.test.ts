import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deliveryMessage } from '../../commands/index.js';
import { makePng } from '../fakes/fal-fixtures.js';
import { CommandsHarness, succeeded } from '../helpers/commands.js';

describe('/imagine and /animate through the commands layer', () => {
  let h: CommandsHarness;

  beforeAll(async () => {
    h = await CommandsHarness.start();
  });

  afterEach(() => h.fake.reset());

  afterAll(async () => {
    await h?.close();
  });

  const png = (seed: number) => makePng(32, 24, { seed });
  const attach = (name: string, bytes: Buffer, contentType = 'image/png') => ({
    name,
    url: h.attachments.add(name, bytes, contentType),
    contentType,
    size: bytes.length,
  });

  it('defers, queues with a Cancel button, runs with the user key and renders the result card', async () => {
    const { user, key } = await h.userWithKey('alice');
    const ctx = await h.run('imagine', { prompt: 'a lighthouse at dawn' }, { user });

    expect(ctx.events).toEqual(['defer', 'reply']);
    expect(ctx.deferred).toEqual({ private: false });
    const reply = ctx.lastReply();
    expect(reply.private).toBe(false);
    expect(reply.message.text).toMatch(/^Queued/);
    expect(reply.message.text).toContain('a lighthouse at dawn');
    expect(reply.message.text).toContain('FLUX.1 [schnell]');
    const jobId = h.jobIdFrom(ctx);
    expect(ctx.actionButtons(reply.message)).toEqual([{ kind: 'action', id: `cancel:${jobId}`, label: 'Cancel', style: 'secondary' }]);
    // The adapter's route is stored with the job, sealed, so the deliverer can post here later.
    const stored = h.owner.repos.jobs.getJob(jobId)?.reply;
    expect(stored).toEqual({ sealed: expect.any(String) });
    expect(JSON.stringify(stored)).not.toContain(ctx.user.platformUserId);

    const delivery = succeeded(await h.waitForDelivery(jobId));
    expect(delivery.job.reply).toEqual(ctx.replyRoute());
    const [submit] = h.fake.submits('fal-ai/flux/schnell');
    expect(submit?.key).toBe(key);
    expect(submit?.input.prompt).toBe('a lighthouse at dawn');

    const asset = delivery.assets[0]!;
    const message = deliveryMessage(delivery);
    expect(message.private).toBe(false);
    expect(message.cards).toHaveLength(1);
    const card = message.cards![0]!;
    expect(card.title).toBe('a lighthouse at dawn');
    expect(card.imageUrl).toBe(asset.mediaUrl);
    expect(card.imageUrl!.startsWith(h.harness.baseUrl)).toBe(true);
    expect(card.url).toBe(asset.shareUrl);
    const fields = Object.fromEntries((card.fields ?? []).map((field) => [field.name, field.value]));
    expect(fields).toMatchObject({ Model: 'FLUX.1 [schnell]', Seed: '42' });
    expect(fields['Time taken']).toMatch(/^\d+\.\d s$/);
    const buttons = (message.buttons ?? []).flat();
    expect(buttons).toContainEqual({ kind: 'link', url: asset.shareUrl, label: 'Open share page' });
    expect(buttons.filter((button) => button.kind === 'action').map((button) => button.label)).toEqual(['Rerun', 'Vary', 'Delete', 'Report']);
    // Never fal's URLs: they expire, and they are not ours to hand out.
    expect(JSON.stringify(message)).not.toMatch(/fal\.(media|run|ai)/);
    const media = await fetch(asset.mediaUrl);
    expect(media.status).toBe(200);
    expect(media.headers.get('content-type')).toBe('image/png');
  });

  it('a private /imagine defers and answers privately, and so is its result', async () => {
    const { user } = await h.userWithKey('pat');
    const ctx = await h.run('imagine', { prompt: 'secret garden', private: true }, { user });
    expect(ctx.deferred).toEqual({ private: true });
    expect(ctx.lastReply().private).toBe(true);
    const delivery = succeeded(await h.waitForDelivery(h.jobIdFrom(ctx)));
    expect(deliveryMessage(delivery).private).toBe(true);
  });

  it('attached images pick the default edit model and reach fal as uploads', async () => {
    const { user } = await h.userWithKey('bea');
    const first = png(1);
    const second = png(2);
    const { delivery } = await h.imagine(user, { prompt: 'blend these', image: attach('a.png', first), image2: attach('b.png', second) });
    succeeded(delivery);
    expect(delivery.job.modelId).toBe('fal-ai/nano-banana/edit');
    const [submit] = h.fake.submits('fal-ai/nano-banana/edit');
    const uploads = h.fake.uploads();
    expect(uploads.map((upload) => upload.bytes.length).sort()).toEqual([first.length, second.length].sort());
    expect(submit?.input.image_urls).toEqual(expect.arrayContaining(uploads.map((upload) => upload.fileUrl)));
    expect(submit?.input.image_urls).toHaveLength(2);
  });

  it('model:kontext takes one image into image_url and size into aspect_ratio', async () => {
    const { user } = await h.userWithKey('cy');
    const { delivery } = await h.imagine(user, { prompt: 'make it night', model: 'kontext', image: attach('day.png', png(3)), size: '16:9', seed: 99 });
    succeeded(delivery);
    expect(delivery.job.modelId).toBe('fal-ai/flux-pro/kontext');
    const [submit] = h.fake.submits('fal-ai/flux-pro/kontext');
    const [upload] = h.fake.uploads();
    expect(submit?.input).toMatchObject({ prompt: 'make it night', image_url: upload?.fileUrl, aspect_ratio: '16:9', seed: 99 });
  });

  it('params are typed by the schema, and count/size/seed map to the model fields', async () => {
    const { user } = await h.userWithKey('dee');
    const { delivery } = await h.imagine(user, {
      prompt: 'a red fox',
      params: 'num_inference_steps=8 output_format=png',
      count: 2,
      size: 'landscape_16_9',
      seed: 1234,
    });
    succeeded(delivery);
    const [submit] = h.fake.submits('fal-ai/flux/schnell');
    expect(submit?.input).toMatchObject({ prompt: 'a red fox', num_inference_steps: 8, output_format: 'png', num_images: 2, image_size: 'landscape_16_9', seed: 1234 });
    expect(typeof submit?.input.num_inference_steps).toBe('number');
  });

  it('several outputs get a card each and buttons with distinct ids, Rerun once', async () => {
    const { user } = await h.userWithKey('kim');
    h.fake.setOutput('fal-ai/flux/schnell', ({ input }) => h.fake.imageOutput({ width: 64, height: 48, count: Number(input.num_images), seed: 5 }));
    const delivery = succeeded((await h.imagine(user, { prompt: 'four moons', count: 4 })).delivery);
    expect(delivery.assets).toHaveLength(4);
    const message = deliveryMessage(delivery);
    expect(message.cards?.map((card) => card.title)).toEqual(['four moons (1/4)', 'four moons (2/4)', 'four moons (3/4)', 'four moons (4/4)']);
    expect(message.cards?.map((card) => card.imageUrl)).toEqual(delivery.assets.map((asset) => asset.mediaUrl));
    const rows = message.buttons ?? [];
    expect(rows.length).toBeLessThanOrEqual(5);
    for (const row of rows) expect(row.length).toBeLessThanOrEqual(5);
    const actions = rows.flat().filter((button) => button.kind === 'action');
    expect(new Set(actions.map((button) => button.id)).size).toBe(actions.length);
    expect(actions.filter((button) => button.label === 'Rerun')).toHaveLength(1);
    expect(rows.flat().filter((button) => button.kind === 'link').map((button) => button.url)).toEqual(delivery.assets.map((asset) => asset.shareUrl));
    expect(actions.map((button) => button.id)).toEqual(expect.arrayContaining(delivery.assets.map((asset) => `delete:${asset.id}`)));
  });

  it('/animate takes size and seed for a model that has them', async () => {
    const { user } = await h.userWithKey('lou');
    h.fake.setOutput('fal-ai/veo3', () => h.fake.videoOutput({ durationSeconds: 4 }));
    const ctx = await h.run('animate', { prompt: 'rain on a window', size: '9:16', seed: 3, duration: '4' }, { user });
    succeeded(await h.waitForDelivery(h.jobIdFrom(ctx)));
    expect(h.fake.submits('fal-ai/veo3')[0]?.input).toMatchObject({ prompt: 'rain on a window', aspect_ratio: '9:16', seed: 3, duration: '4s', resolution: '720p' });
  });

  it('a WIDTHxHEIGHT size becomes an image_size object', async () => {
    const { user } = await h.userWithKey('eve');
    succeeded((await h.imagine(user, { prompt: 'a wide field', size: '1024x512' })).delivery);
    expect(h.fake.submits('fal-ai/flux/schnell')[0]?.input.image_size).toEqual({ width: 1024, height: 512 });
  });

  it('/animate maps first_frame and last_frame to the video model fields', async () => {
    const { user } = await h.userWithKey('fay');
    h.fake.setOutput('fal-ai/kling-video/v2.1/pro/image-to-video', () => h.fake.videoOutput({ durationSeconds: 10 }));
    const start = png(4);
    const end = png(5);
    const ctx = await h.run('animate', { prompt: 'the sun sets', first_frame: attach('start.png', start), last_frame: attach('end.png', end), duration: '10s' }, { user });
    expect(ctx.events).toEqual(['defer', 'reply']);
    expect(ctx.lastText()).toContain('Kling 2.1 Pro');
    const delivery = succeeded(await h.waitForDelivery(h.jobIdFrom(ctx)));
    expect(delivery.job.modelId).toBe('fal-ai/kling-video/v2.1/pro/image-to-video');
    const [submit] = h.fake.submits('fal-ai/kling-video/v2.1/pro/image-to-video');
    const byLength = new Map(h.fake.uploads().map((upload) => [upload.bytes.length, upload.fileUrl]));
    expect(submit?.input).toMatchObject({ prompt: 'the sun sets', duration: '10' });
    expect(submit?.input.image_url).toBe(byLength.get(start.length));
    expect(submit?.input.tail_image_url).toBe(byLength.get(end.length));
    expect(submit?.input.image_url).not.toBe(submit?.input.tail_image_url);

    const message = deliveryMessage(delivery);
    const asset = delivery.assets[0]!;
    expect(asset.kind).toBe('video');
    // Videos are linked in the text (chat clients unfurl the share page into a player); the card shows
    // the poster (here the first frame), never the video URL as an image.
    expect(message.text).toContain(asset.shareUrl);
    expect(asset.posterUrl).toBeDefined();
    expect(message.cards?.[0]?.imageUrl).toBe(asset.posterUrl);
    expect(message.cards?.[0]?.imageUrl).not.toBe(asset.mediaUrl);
    expect((message.cards?.[0]?.fields ?? []).find((field) => field.name === 'Duration')?.value).toBe('10 s');
    expect((message.buttons ?? []).flat().map((button) => button.label)).not.toContain('Vary');
  });

  it('Rerun queues the same prompt, model and settings without the seed', async () => {
    const { user } = await h.userWithKey('gus');
    const first = succeeded((await h.imagine(user, { prompt: 'a paper boat', params: 'num_inference_steps=6', seed: 7, size: 'square' })).delivery);
    const rerunId = (deliveryMessage(first).buttons ?? []).flat().find((button) => button.kind === 'action' && button.label === 'Rerun');
    expect(rerunId?.kind === 'action' && rerunId.id).toBe(`rerun:${first.job.id}`);

    const ctx = await h.press(`rerun:${first.job.id}`, { user });
    expect(ctx.events).toEqual(['defer', 'reply']);
    const secondId = h.jobIdFrom(ctx);
    expect(secondId).not.toBe(first.job.id);
    const second = succeeded(await h.waitForDelivery(secondId));
    expect(second.job).toMatchObject({ prompt: 'a paper boat', modelId: 'fal-ai/flux/schnell' });
    const submits = h.fake.submits('fal-ai/flux/schnell');
    expect(submits).toHaveLength(2);
    expect(submits[0]?.input.seed).toBe(7);
    expect(submits[1]?.input).toMatchObject({ prompt: 'a paper boat', num_inference_steps: 6, image_size: 'square' });
    expect(submits[1]?.input).not.toHaveProperty('seed');
  });

  it('Rerun of an edit explains that the images must be attached again, and queues nothing', async () => {
    const { user } = await h.userWithKey('hal');
    const first = succeeded((await h.imagine(user, { prompt: 'add a hat', model: 'kontext', image: attach('cat.png', png(6)) })).delivery);
    const before = h.totalJobs();
    const ctx = await h.press(`rerun:${first.job.id}`, { user });
    expect(ctx.lastReply().private).toBe(true);
    expect(ctx.lastText()).toMatch(/attach/i);
    expect(h.totalJobs()).toBe(before);
  });

  it('Vary edits the result itself with the default edit model', async () => {
    const { user } = await h.userWithKey('ivy');
    const first = succeeded((await h.imagine(user, { prompt: 'a blue vase' })).delivery);
    const asset = first.assets[0]!;
    const ctx = await h.press(`vary:${asset.id}`, { user });
    expect(ctx.events).toEqual(['defer', 'reply']);
    const second = succeeded(await h.waitForDelivery(h.jobIdFrom(ctx)));
    expect(second.job).toMatchObject({ prompt: 'a blue vase', modelId: 'fal-ai/nano-banana/edit' });
    // What fal received is the stored result's bytes, uploaded with the user's key.
    const [upload] = h.fake.uploads();
    expect(upload?.bytes.length).toBe(asset.bytes);
    expect(h.fake.submits('fal-ai/nano-banana/edit')[0]?.input.image_urls).toEqual([upload?.fileUrl]);
  });
});
