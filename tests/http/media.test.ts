import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Asset } from '../../src/db/index.js';
import { makePng } from '../fakes/fal-fixtures.js';
import { startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { insertAsset, rawRequest } from './fixtures.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('/media on local storage', () => {
  let fake: FakeFal;
  let harness: TestApp;
  let png: Buffer;
  let video: Buffer;
  let image: Asset;
  let clip: Asset;

  beforeAll(async () => {
    fake = await startFakeFal();
    harness = await startTestApp({ fake });
    png = makePng(40, 30, { seed: 3 });
    // Not a real MP4, but /media serves by key extension, not by content.
    video = randomBytes(100_000);
    image = await insertAsset(harness, { body: png, ext: 'png', contentType: 'image/png', width: 40, height: 30 });
    clip = await insertAsset(harness, { kind: 'video', body: video, ext: 'mp4', contentType: 'video/mp4', modelId: 'fal-ai/veo3' });
  });

  afterAll(async () => {
    await harness?.close();
    await fake?.close();
  });

  const mediaUrl = (asset: Asset) => `${harness.baseUrl}/media/${asset.storageKey}`;

  it('serves the stored bytes with type, ranges and a cache header bounded so removals take effect', async () => {
    const response = await fetch(mediaUrl(image));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.get('accept-ranges')).toBe('bytes');
    expect(response.headers.get('content-length')).toBe(String(png.length));
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const cache = response.headers.get('cache-control') ?? '';
    expect(cache).toContain('public');
    expect(cache).not.toContain('immutable');
    expect(Number(/max-age=(\d+)/.exec(cache)?.[1])).toBe(24 * 3600);
    expect(response.headers.get('content-disposition')).toBeNull();
    expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(sha256(png));

    const mp4 = await fetch(mediaUrl(clip));
    expect(mp4.headers.get('content-type')).toBe('video/mp4');
    expect(Buffer.from(await mp4.arrayBuffer()).equals(video)).toBe(true);
  });

  it('answers byte ranges with 206 and the exact bytes', async () => {
    const closed = await fetch(mediaUrl(clip), { headers: { range: 'bytes=100-1099' } });
    expect(closed.status).toBe(206);
    expect(closed.headers.get('content-range')).toBe(`bytes 100-1099/${video.length}`);
    expect(closed.headers.get('content-length')).toBe('1000');
    expect(closed.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await closed.arrayBuffer()).equals(video.subarray(100, 1100))).toBe(true);

    const open = await fetch(mediaUrl(clip), { headers: { range: `bytes=${video.length - 10}-` } });
    expect(open.status).toBe(206);
    expect(open.headers.get('content-range')).toBe(`bytes ${video.length - 10}-${video.length - 1}/${video.length}`);
    expect(Buffer.from(await open.arrayBuffer()).equals(video.subarray(-10))).toBe(true);

    const single = await fetch(mediaUrl(clip), { headers: { range: 'bytes=0-0' } });
    expect(single.status).toBe(206);
    expect(Buffer.from(await single.arrayBuffer()).equals(video.subarray(0, 1))).toBe(true);

    // An end past the object is clamped to the last byte.
    const clamped = await fetch(mediaUrl(clip), { headers: { range: `bytes=${video.length - 5}-${video.length + 1000}` } });
    expect(clamped.status).toBe(206);
    expect(clamped.headers.get('content-range')).toBe(`bytes ${video.length - 5}-${video.length - 1}/${video.length}`);
    expect(Buffer.from(await clamped.arrayBuffer()).equals(video.subarray(-5))).toBe(true);
  });

  it('answers 416 with the object size for a start past the end', async () => {
    for (const start of [video.length, video.length + 1000]) {
      const response = await fetch(mediaUrl(clip), { headers: { range: `bytes=${start}-` } });
      expect(response.status).toBe(416);
      expect(response.headers.get('content-range')).toBe(`bytes */${video.length}`);
      await response.arrayBuffer();
    }
  });

  it('ignores a Range header it cannot parse and sends the whole object', async () => {
    for (const range of ['bytes=9-3', 'items=0-5', 'bytes=0-1,4-5']) {
      const response = await fetch(mediaUrl(image), { headers: { range } });
      expect(response.status, range).toBe(200);
      expect(Buffer.from(await response.arrayBuffer()).equals(png)).toBe(true);
    }
  });

  it('answers HEAD with headers and no body', async () => {
    const head = await rawRequest(harness.baseUrl, `/media/${image.storageKey}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(png.length));
    expect(head.headers['content-type']).toBe('image/png');
    expect(head.body.length).toBe(0);

    const ranged = await rawRequest(harness.baseUrl, `/media/${clip.storageKey}`, { method: 'HEAD', headers: { range: 'bytes=10-19' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers['content-range']).toBe(`bytes 10-19/${video.length}`);
    expect(ranged.body.length).toBe(0);
  });

  it('sets content-disposition for ?download=1', async () => {
    const response = await fetch(`${mediaUrl(image)}?download=1`);
    expect(response.status).toBe(200);
    const disposition = response.headers.get('content-disposition') ?? '';
    expect(disposition).toMatch(/^attachment; filename="[A-Za-z0-9._-]+\.png"$/);
    expect(disposition).toContain(image.jobId);
    expect(Buffer.from(await response.arrayBuffer()).equals(png)).toBe(true);
  });

  it('answers 404 for unknown keys and malformed paths', async () => {
    for (const path of [
      '/media/outputs/1/no-such-job/0.png',
      '/media/',
      '/media/outputs',
      '/media/%E0%A4%A',
      '/media/outputs/1/x/0.png/../../../../etc/passwd',
    ]) {
      const response = await rawRequest(harness.baseUrl, path);
      expect(response.status, path).toBe(404);
    }
  });

  it('never serves files outside the storage directory', async () => {
    // The storage dir is <dataDir>/media, and the SQLite file sits next to it: the obvious target.
    const dbName = 'atelier.db';
    for (const path of [
      '/media/../../etc/passwd',
      '/media/../atelier.db',
      `/media/..%2F${dbName}`,
      `/media/%2e%2e/${dbName}`,
      `/media/%2e%2e%2f${dbName}`,
      `/media/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd`,
      `/media/outputs/%2e%2e/%2e%2e/${dbName}`,
      `/media/..\\${dbName}`,
      `/media/%5c..%5c${dbName}`,
      `/media/outputs\\..\\..\\${dbName}`,
      '/media//etc/passwd',
      '/media/%2Fetc%2Fpasswd',
      `/media/./${dbName}`,
      '/media/~tmp',
    ]) {
      const response = await rawRequest(harness.baseUrl, path);
      expect(response.status, path).toBe(404);
      expect(response.body.toString('latin1'), path).not.toContain('SQLite format');
      expect(response.body.toString('latin1'), path).not.toContain('root:');
    }
  });

  it('keeps serving after an abandoned download', async () => {
    const controller = new AbortController();
    const response = await fetch(mediaUrl(clip), { signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.closed.catch(() => undefined);
    const again = await fetch(mediaUrl(image));
    expect(again.status).toBe(200);
    expect(Buffer.from(await again.arrayBuffer()).equals(png)).toBe(true);
  });
});

describe('/media on S3 without S3_PUBLIC_URL', () => {
  let fake: FakeFal;
  let s3: RunningS3rver;
  let harness: TestApp;
  let png: Buffer;
  let image: Asset;

  beforeAll(async () => {
    fake = await startFakeFal();
    s3 = await startS3rver();
    harness = await startTestApp({ fake, s3 });
    png = makePng(20, 10, { seed: 9 });
    image = await insertAsset(harness, { body: png, ext: 'png', contentType: 'image/png' });
  });

  afterAll(async () => {
    await harness?.close();
    await s3?.close();
    await fake?.close();
  });

  it('links media through our /media route', () => {
    expect(harness.app.owner!.links.mediaUrl(image)).toBe(`${harness.baseUrl}/media/${image.storageKey}`);
  });

  it('redirects to a presigned URL that serves the bytes', async () => {
    const response = await fetch(`${harness.baseUrl}/media/${image.storageKey}`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    const location = response.headers.get('location') ?? '';
    expect(location.startsWith(`${s3.endpoint}/${s3.bucket}/${image.storageKey}?`)).toBe(true);
    expect(new URL(location).searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    // The redirect must not be cached for longer than the signature lives.
    expect(response.headers.get('cache-control')).toMatch(/private/);

    const target = await fetch(location);
    expect(target.status).toBe(200);
    expect(Buffer.from(await target.arrayBuffer()).equals(png)).toBe(true);

    const followed = await fetch(`${harness.baseUrl}/media/${image.storageKey}`);
    expect(followed.status).toBe(200);
    expect(Buffer.from(await followed.arrayBuffer()).equals(png)).toBe(true);
  });

  it('answers 404 for unknown keys and traversal attempts instead of redirecting', async () => {
    for (const path of ['/media/outputs/1/no-such-job/0.png', '/media/%2e%2e/secret', `/media/..%2F${s3.bucket}`, '/media/a\\b']) {
      const response = await rawRequest(harness.baseUrl, path);
      expect(response.status, path).toBe(404);
      expect(response.headers.location, path).toBeUndefined();
    }
  });
});
