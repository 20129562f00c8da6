import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makePng } from '../fakes/fal-fixtures.js';
import { startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { AttachmentServer, newFalKey, startTestApp, testUser, type TestApp } from '../helpers/app.js';
import { startS3rver, type RunningS3rver } from '../helpers/s3rver.js';

const sha256 = (bytes: Buffer | Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const metaContent = (html: string, property: string) =>
  new RegExp(`<meta (?:property|name)="${property.replace(/[.:]/g, '\\$&')}" content="([^"]*)"`).exec(html)?.[1];

describe.each(['local', 's3'] as const)('a generation end to end on %s storage', (driver) => {
  let fake: FakeFal;
  let s3: RunningS3rver | undefined;
  let attachments: AttachmentServer;
  let harness: TestApp;

  beforeAll(async () => {
    fake = await startFakeFal();
    attachments = await AttachmentServer.start();
    if (driver === 's3') s3 = await startS3rver();
    harness = await startTestApp({ fake, ...(s3 ? { s3 } : {}) });
  });

  afterEach(() => fake.reset());

  afterAll(async () => {
    await harness?.close();
    await s3?.close();
    await attachments?.close();
    await fake?.close();
  });

  it('runs an edit with the user key, re-hosts the output, records it and serves the share page', async () => {
    const owner = harness.app.owner!;
    const user = testUser('alice');
    const key = newFalKey();
    fake.addKey(key);
    const status = await owner.services.keys.register(user, key);
    expect(status.hint).toBe(`…${key.slice(-4)}`);

    const inputPng = makePng(32, 24, { seed: 7 });
    const inputUrl = attachments.add('cat.png', inputPng, 'image/png');
    let produced: { images: Array<{ url: string }> } | undefined;
    fake.setOutput('fal-ai/flux-pro/kontext', ({ input }) => {
      const output = { ...fake.imageOutput({ width: 96, height: 64, seed: 1234, prompt: String(input.prompt) }), timings: { inference: 1.5 } };
      produced = output as unknown as { images: Array<{ url: string }> };
      return output;
    });

    const { job } = await owner.service.enqueue({
      user,
      workspaceId: 'guild-1',
      channelId: 'channel-1',
      kind: 'image',
      prompt: 'a cat in a space suit',
      model: 'kontext',
      files: [{ bucket: 'references', url: inputUrl, filename: 'cat.png', contentType: 'image/png', size: inputPng.length }],
    });
    expect(job.modelId).toBe('fal-ai/flux-pro/kontext');

    const delivery = await harness.deliverer.waitFor(job.id);
    expect(delivery.status).toBe('succeeded');
    if (delivery.status !== 'succeeded') return;

    // What fal saw: the user's own key, the prompt, and the exact bytes of the attachment.
    const [submit] = fake.submits('fal-ai/flux-pro/kontext');
    expect(submit?.key).toBe(key);
    expect(submit?.input.prompt).toBe('a cat in a space suit');
    const [upload] = fake.uploads();
    expect(upload && sha256(upload.bytes)).toBe(sha256(inputPng));
    expect(submit?.input.image_url).toBe(upload?.fileUrl);
    expect(fake.requests.every((request) => request.viaProxy)).toBe(true);

    // The stored output is byte for byte what fal produced.
    const [asset] = delivery.assets;
    expect(asset).toBeDefined();
    if (!asset) return;
    const cdnUrl = produced?.images[0]?.url;
    const cdnObject = cdnUrl ? fake.cdnObject(cdnUrl) : undefined;
    expect(cdnObject).toBeDefined();
    const stored = await harness.app.storage.read(asset.storageKey);
    const storedBytes = await streamToBuffer(stored.body);
    expect(sha256(storedBytes)).toBe(await cdnObject!.sha256());
    expect(asset.sha256).toBe(sha256(storedBytes));
    expect(asset.bytes).toBe(storedBytes.length);

    // The gallery row.
    const page = owner.services.gallery.mine(user, { limit: 10 });
    expect(page.items).toHaveLength(1);
    const row = page.items[0]!;
    expect(row).toMatchObject({ modelId: 'fal-ai/flux-pro/kontext', prompt: 'a cat in a space suit', seed: 1234, inferenceMs: 1500, width: 96, height: 64, kind: 'image', contentType: 'image/png' });
    const recorded = owner.repos.jobs.getJob(job.id);
    expect(recorded).toMatchObject({ status: 'succeeded', falRequestId: submit!.requestId });

    // The share page: ours, with OpenGraph tags pointing at our media, which serves the same bytes.
    expect(asset.shareUrl).toBe(`${harness.baseUrl}/s/${asset.shareId}`);
    expect(asset.shareId).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    const page200 = await fetch(asset.shareUrl);
    expect(page200.status).toBe(200);
    const html = await page200.text();
    expect(html).toContain('<title>a cat in a space suit</title>');
    const ogImage = metaContent(html, 'og:image');
    expect(ogImage).toBe(asset.mediaUrl);
    expect(ogImage).not.toContain('fal.media');
    expect(metaContent(html, 'og:title')).toBe('a cat in a space suit');
    expect(metaContent(html, 'twitter:card')).toBe('summary_large_image');
    expect(html).toContain('1234');
    const media = await fetch(ogImage!);
    expect(media.status).toBe(200);
    expect(sha256(Buffer.from(await media.arrayBuffer()))).toBe(asset.sha256);
  });

  it('re-hosts a video with its duration and a share page with og:video', async () => {
    const owner = harness.app.owner!;
    const user = testUser('bob');
    const key = newFalKey();
    fake.addKey(key);
    await owner.services.keys.register(user, key);
    fake.setOutput('fal-ai/veo3', () => fake.videoOutput({ bytes: 3 * 1024 * 1024 + 17, durationSeconds: 8 }));

    const { job } = await owner.service.enqueue({
      user,
      workspaceId: 'guild-1',
      channelId: 'channel-1',
      kind: 'video',
      prompt: 'waves at dusk',
      model: 'fal-ai/veo3',
    });
    const delivery = await harness.deliverer.waitFor(job.id);
    expect(delivery.status).toBe('succeeded');
    if (delivery.status !== 'succeeded') return;
    const [asset] = delivery.assets;
    expect(asset).toMatchObject({ kind: 'video', contentType: 'video/mp4', durationSeconds: 8, bytes: 3 * 1024 * 1024 + 17 });
    const html = await (await fetch(asset!.shareUrl)).text();
    expect(metaContent(html, 'og:video')).toBe(asset!.mediaUrl);
    expect(metaContent(html, 'og:image')).toBeUndefined();
    const media = await fetch(asset!.mediaUrl);
    expect(sha256(Buffer.from(await media.arrayBuffer()))).toBe(asset!.sha256);
  });
});

async function streamToBuffer(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}
