import { execFileSync, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { imageDimensions, sniffContentType } from '../../src/storage/sniff.js';
import { makePng } from '../fakes/fal-fixtures.js';
import type { FakeFal } from '../fakes/fal-server.js';
import type { AttachmentServer, TestApp } from '../helpers/app.js';
import { CommandsHarness } from '../helpers/commands.js';
import { tempDir } from '../helpers/env.js';

const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;

const metaContent = (html: string, property: string) => new RegExp(`<meta property="${property}" content="([^"]*)"`).exec(html)?.[1];

async function readStored(harness: TestApp, key: string): Promise<Buffer> {
  const { body } = await harness.app.storage.read(key);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Videos get a still poster (never the video itself): a frame by ffmpeg, else the first-frame input. */
describe('video posters', () => {
  let fake: FakeFal;
  let harness: TestApp;
  let attachments: AttachmentServer;

  let h: CommandsHarness;

  beforeAll(async () => {
    h = await CommandsHarness.start();
    ({ fake, harness, attachments } = h);
  });
  afterEach(() => fake.reset());
  afterAll(async () => {
    await h?.close();
  });

  async function userWithKey() {
    return (await h.userWithKey('poster')).user;
  }

  it('uses the first-frame image when no frame can be read from the video', async () => {
    const user = await userWithKey();
    const firstFrame = makePng(40, 30, { seed: 3 });
    const url = attachments.add('start.png', firstFrame, 'image/png');
    // The fake's MP4 has a valid header but no decodable frames.
    fake.setOutput('fal-ai/kling-video/v2.1/pro/image-to-video', () => fake.videoOutput({ durationSeconds: 5 }));
    const { job } = await harness.app.owner!.service.enqueue({
      user,
      workspaceId: 'g',
      channelId: 'c',
      kind: 'video',
      prompt: 'the cat walks away',
      files: [{ bucket: 'first_frame', url, filename: 'start.png', contentType: 'image/png', size: firstFrame.length }],
    });
    const delivery = await harness.deliverer.waitFor(job.id);
    expect(delivery.status).toBe('succeeded');
    if (delivery.status !== 'succeeded') return;
    const [asset] = delivery.assets;
    expect(asset?.posterStorageKey).toMatch(/\.poster\.png$/);
    expect(await readStored(harness, asset!.posterStorageKey!)).toEqual(firstFrame);
    const html = await (await fetch(asset!.shareUrl)).text();
    expect(metaContent(html, 'og:video')).toBe(asset!.mediaUrl);
    const ogImage = metaContent(html, 'og:image');
    expect(ogImage).toBe(harness.app.storage.publicUrl(asset!.posterStorageKey!));
    expect(ogImage).not.toBe(asset!.mediaUrl);
  });

  it('has no poster (and no og:image) for a text-to-video result whose frames cannot be read', async () => {
    const user = await userWithKey();
    fake.setOutput('fal-ai/veo3', () => fake.videoOutput({ durationSeconds: 8 }));
    const { job } = await harness.app.owner!.service.enqueue({ user, workspaceId: 'g', channelId: 'c', kind: 'video', prompt: 'rain', model: 'veo3' });
    const delivery = await harness.deliverer.waitFor(job.id);
    if (delivery.status !== 'succeeded') throw new Error(delivery.status);
    expect(delivery.assets[0]?.posterStorageKey).toBeNull();
    const html = await (await fetch(delivery.assets[0]!.shareUrl)).text();
    expect(metaContent(html, 'og:image')).toBeUndefined();
  });

  it.runIf(hasFfmpeg)('extracts the first frame of a real video with ffmpeg', async () => {
    const user = await userWithKey();
    const dir = await tempDir('poster-video');
    try {
      const file = `${dir.path}/clip.mp4`;
      execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=5', '-t', '1', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', file]);
      const video = await readFile(file);
      const cdn = fake.putCdnObject(video, { contentType: 'video/mp4', fileName: 'clip.mp4' });
      fake.setOutput('fal-ai/veo3', { video: { url: cdn.url, content_type: 'video/mp4', file_size: video.length } });
      const { job } = await harness.app.owner!.service.enqueue({ user, workspaceId: 'g', channelId: 'c', kind: 'video', prompt: 'test pattern', model: 'veo3' });
      const delivery = await harness.deliverer.waitFor(job.id);
      if (delivery.status !== 'succeeded') throw new Error(delivery.status);
      const [asset] = delivery.assets;
      expect(asset?.posterStorageKey).toMatch(/\.poster\.jpg$/);
      const poster = await readStored(harness, asset!.posterStorageKey!);
      expect(sniffContentType(poster)).toBe('image/jpeg');
      expect(imageDimensions(poster)).toEqual({ width: 96, height: 64 });
      expect(asset?.durationSeconds).toBe(1);
    } finally {
      await dir.cleanup();
    }
  });
});
