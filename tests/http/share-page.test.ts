import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePng } from '../fakes/fal-fixtures.js';
import { startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { insertAsset, metaContent, rawRequest, unescapeHtml } from './fixtures.js';

const HOSTILE_PROMPT = `He said "hi" & <script>alert('pwned')</script> it's <b>bold</b>`;

describe('share pages', () => {
  let fake: FakeFal;
  let harness: TestApp;

  beforeAll(async () => {
    fake = await startFakeFal();
    harness = await startTestApp({ fake });
  });

  afterAll(async () => {
    await harness?.close();
    await fake?.close();
  });

  const shareUrl = (shareId: string) => `${harness.baseUrl}/s/${shareId}`;
  const mediaUrl = (storageKey: string) => `${harness.baseUrl}/media/${storageKey}`;

  it('renders an image page with escaped text, OpenGraph and Twitter tags, facts and a download link', async () => {
    const png = makePng(64, 48, { seed: 5 });
    const asset = await insertAsset(harness, {
      prompt: HOSTILE_PROMPT,
      body: png,
      ext: 'png',
      contentType: 'image/png',
      width: 64,
      height: 48,
      seed: 987654,
      modelId: 'fal-ai/flux/dev',
    });
    const response = await fetch(shareUrl(asset.shareId));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await response.text();

    // The prompt never becomes markup: no script, no bold, no quote closing an attribute.
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>');
    expect(html).not.toMatch(/content="[^"]*He said "hi/);
    const title = /<title>([^<]*)<\/title>/.exec(html)?.[1];
    expect(title).toBe('He said &quot;hi&quot; &amp; &lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; it&#39;s &lt;b&gt;bold&lt;/b&gt;');
    expect(unescapeHtml(title!)).toBe(HOSTILE_PROMPT);
    expect(unescapeHtml(/<h1>([^<]*)<\/h1>/.exec(html)?.[1] ?? '')).toBe(HOSTILE_PROMPT);
    // Every tag in the page is one we wrote (nothing the prompt smuggled in).
    const tags = new Set([...html.matchAll(/<([a-z0-9]+)[\s>]/gi)].map((match) => match[1]!.toLowerCase()));
    expect([...tags].sort()).toEqual(['a', 'body', 'dd', 'dl', 'dt', 'h1', 'head', 'html', 'img', 'link', 'main', 'meta', 'p', 'style', 'title']);

    expect(metaContent(html, 'og:title')).toBe(HOSTILE_PROMPT);
    expect(metaContent(html, 'twitter:title')).toBe(HOSTILE_PROMPT);
    const description = metaContent(html, 'og:description') ?? '';
    expect(description).toContain('FLUX.1 [dev]');
    expect(description).toContain('987654');
    expect(metaContent(html, 'og:url')).toBe(`${harness.app.config.publicUrl}/s/${asset.shareId}`);
    expect(harness.app.config.publicUrl).toBe(harness.baseUrl);
    expect(html).toContain(`<link rel="canonical" href="${shareUrl(asset.shareId)}">`);
    expect(metaContent(html, 'og:type')).toBe('website');
    expect(metaContent(html, 'og:image')).toBe(mediaUrl(asset.storageKey));
    expect(metaContent(html, 'og:image:type')).toBe('image/png');
    expect(metaContent(html, 'og:image:width')).toBe('64');
    expect(metaContent(html, 'og:image:height')).toBe('48');
    expect(metaContent(html, 'og:video')).toBeUndefined();
    expect(metaContent(html, 'twitter:card')).toBe('summary_large_image');
    expect(metaContent(html, 'twitter:image')).toBe(mediaUrl(asset.storageKey));

    // Facts: model name (not the id), seed, size.
    expect(html).toContain('<dt>Model</dt><dd>FLUX.1 [dev]</dd>');
    expect(html).toContain('<dt>Seed</dt><dd>987654</dd>');
    expect(html).toContain('<dt>Size</dt><dd>64×48</dd>');

    // The download link works and asks for an attachment.
    const download = /<a href="([^"]+)" download>/.exec(html)?.[1];
    expect(download && unescapeHtml(download)).toBe(`${mediaUrl(asset.storageKey)}?download=1`);
    const file = await fetch(unescapeHtml(download!));
    expect(file.status).toBe(200);
    expect(file.headers.get('content-disposition')).toMatch(/^attachment;/);
    expect(Buffer.from(await file.arrayBuffer()).equals(png)).toBe(true);
  });

  it('collapses whitespace and clips a long prompt in the title', async () => {
    const prompt = `line one\n\n  line two\t${'x'.repeat(400)}`;
    const asset = await insertAsset(harness, { prompt, body: makePng(8, 8), ext: 'png', contentType: 'image/png' });
    const html = await (await fetch(shareUrl(asset.shareId))).text();
    const title = unescapeHtml(/<title>([^<]*)<\/title>/.exec(html)?.[1] ?? '');
    expect(title.startsWith('line one line two x')).toBe(true);
    expect(title.length).toBeLessThanOrEqual(200);
    expect(title.endsWith('…')).toBe(true);
    // The page body keeps the whole prompt.
    expect(html).toContain('x'.repeat(400));
  });

  it('never cuts an emoji in half when clipping the title', async () => {
    const prompt = '🐱'.repeat(300);
    const asset = await insertAsset(harness, { prompt, body: makePng(8, 8), ext: 'png', contentType: 'image/png' });
    const html = await (await fetch(shareUrl(asset.shareId))).text();
    expect(html).not.toContain('\uFFFD');
    const title = /<title>([^<]*)<\/title>/.exec(html)?.[1] ?? '';
    expect([...title]).toHaveLength(200);
    expect(title).toBe(`${'🐱'.repeat(199)}…`);
    expect(metaContent(html, 'og:title')).toBe(title);
  });

  it('renders a video page with og:video and no og:image when there is no poster', async () => {
    const asset = await insertAsset(harness, {
      kind: 'video',
      prompt: 'waves at dusk',
      body: randomBytes(4096),
      ext: 'mp4',
      contentType: 'video/mp4',
      modelId: 'fal-ai/veo3',
      width: 1280,
      height: 720,
      durationSeconds: 8,
    });
    const html = await (await fetch(shareUrl(asset.shareId))).text();
    const video = mediaUrl(asset.storageKey);
    expect(metaContent(html, 'og:type')).toBe('video.other');
    expect(metaContent(html, 'og:video')).toBe(video);
    expect(metaContent(html, 'og:video:type')).toBe('video/mp4');
    expect(metaContent(html, 'og:video:width')).toBe('1280');
    expect(metaContent(html, 'og:video:height')).toBe('720');
    // http:// media: no secure_url claim.
    expect(metaContent(html, 'og:video:secure_url')).toBeUndefined();
    // The video is never offered as an image.
    expect(metaContent(html, 'og:image')).toBeUndefined();
    expect(metaContent(html, 'twitter:image')).toBeUndefined();
    expect(html).not.toMatch(/<meta (property|name)="[a-z:]*image[a-z:]*" content="[^"]*\.mp4/);
    expect(metaContent(html, 'twitter:card')).toBe('summary');
    expect(metaContent(html, 'og:description')).toContain('Video generated with Veo 3');
    expect(html).toContain('<dt>Duration</dt><dd>8 s</dd>');
    expect(html).toContain(`<video src="${video}"`);
    expect(html).not.toContain('poster=');
  });

  it('offers a video poster as og:image', async () => {
    const asset = await insertAsset(harness, {
      kind: 'video',
      prompt: 'a train in the snow',
      body: randomBytes(2048),
      ext: 'mp4',
      contentType: 'video/mp4',
      modelId: 'fal-ai/veo3',
      poster: makePng(16, 9),
    });
    expect(asset.posterStorageKey).toBeTruthy();
    const html = await (await fetch(shareUrl(asset.shareId))).text();
    const poster = mediaUrl(asset.posterStorageKey!);
    expect(metaContent(html, 'og:video')).toBe(mediaUrl(asset.storageKey));
    expect(metaContent(html, 'og:image')).toBe(poster);
    expect(metaContent(html, 'twitter:image')).toBe(poster);
    expect(metaContent(html, 'twitter:card')).toBe('summary_large_image');
    expect(html).toContain(`poster="${poster}"`);
    const posterResponse = await fetch(poster);
    expect(posterResponse.status).toBe(200);
    expect(posterResponse.headers.get('content-type')).toBe('image/png');
  });

  it('answers HEAD without a body', async () => {
    const asset = await insertAsset(harness, { body: makePng(4, 4), ext: 'png', contentType: 'image/png' });
    const head = await rawRequest(harness.baseUrl, `/s/${asset.shareId}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    expect(head.body.length).toBe(0);
  });

  it('answers 404 for unknown and malformed ids', async () => {
    const unknown = randomBytes(16).toString('base64url');
    for (const path of [`/s/${unknown}`, '/s/abc', '/s/', '/s', `/s/${unknown}/extra`, '/s/%3Cscript%3Ealert(1)%3C%2Fscript%3E', `/s/${'a'.repeat(65)}`, '/s/../healthz/../s/x']) {
      const response = await rawRequest(harness.baseUrl, path);
      expect(response.status, path).toBe(404);
      expect(response.body.toString()).not.toContain('<script>');
    }
    const page = await fetch(`${harness.baseUrl}/s/${unknown}`);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('Not found');
  });

  it('answers 410 once the asset is removed, and its media is gone', async () => {
    const asset = await insertAsset(harness, {
      prompt: 'a secret sketch',
      body: makePng(12, 12),
      ext: 'png',
      contentType: 'image/png',
      kind: 'image',
    });
    const owner = harness.app.owner!;
    expect((await fetch(mediaUrl(asset.storageKey))).status).toBe(200);

    await owner.services.gallery.remove(asset, { by: 'test' });

    const page = await fetch(shareUrl(asset.shareId));
    expect(page.status).toBe(410);
    const html = await page.text();
    expect(html).toContain('Removed');
    expect(html).not.toContain('a secret sketch');
    expect(html).not.toContain(asset.storageKey);
    expect(await harness.app.storage.exists(asset.storageKey)).toBe(false);
    const media = await fetch(mediaUrl(asset.storageKey));
    expect(media.status).toBe(404);
    await media.arrayBuffer();
  });

  it('gives a held result no link preview until it is approved', async () => {
    const asset = await insertAsset(harness, { prompt: 'a held sketch', body: makePng(12, 12), ext: 'png', contentType: 'image/png', width: 12, height: 12 });
    const owner = harness.app.owner!;
    owner.repos.jobs.changeReviewState(asset.jobId, null, 'held');

    const held = await fetch(shareUrl(asset.shareId));
    expect(held.status).toBe(200);
    expect(held.headers.get('cache-control')).toBe('no-store');
    const heldHtml = await held.text();
    expect(metaContent(heldHtml, 'og:image')).toBeUndefined();
    expect(metaContent(heldHtml, 'twitter:image')).toBeUndefined();
    expect(heldHtml).toContain('<meta name="robots" content="noindex">');
    expect(heldHtml).toContain("Waiting for a moderator&#39;s review");

    owner.repos.jobs.changeReviewState(asset.jobId, 'held', 'approved');
    const approved = await fetch(shareUrl(asset.shareId));
    expect(approved.headers.get('cache-control')).toBe('public, max-age=60');
    const approvedHtml = await approved.text();
    expect(metaContent(approvedHtml, 'og:image')).toBe(mediaUrl(asset.storageKey));
    expect(approvedHtml).not.toContain('Waiting for a moderator');
  });

  it('removes a video poster along with the video', async () => {
    const asset = await insertAsset(harness, {
      kind: 'video',
      body: randomBytes(1024),
      ext: 'mp4',
      contentType: 'video/mp4',
      modelId: 'fal-ai/veo3',
      poster: makePng(8, 8),
    });
    await harness.app.owner!.services.gallery.remove(asset, { by: 'test' });
    expect((await fetch(shareUrl(asset.shareId))).status).toBe(410);
    expect(await harness.app.storage.exists(asset.storageKey)).toBe(false);
    expect(await harness.app.storage.exists(asset.posterStorageKey!)).toBe(false);
    expect((await fetch(mediaUrl(asset.posterStorageKey!))).status).toBe(404);
  });

  it('answers / and unknown routes', async () => {
    const root = await fetch(`${harness.baseUrl}/`);
    expect(root.status).toBe(200);
    expect(await root.text()).toContain('Atelier is running');
    const missing = await fetch(`${harness.baseUrl}/nope`);
    expect(missing.status).toBe(404);
    await missing.text();
    const post = await fetch(`${harness.baseUrl}/healthz`, { method: 'POST' });
    expect(post.status).toBe(404);
    await post.text();
  });
});
