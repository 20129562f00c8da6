// Self-test of the fake fal server, driven by the REAL, unmodified @fal-ai/client 1.10.1 in proxy mode.
import { createHash } from 'node:crypto';
import { ApiError, ValidationError, createFalClient, type QueueStatus } from '@fal-ai/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeOpenApiDoc, sniffImageSize } from './fal-fixtures.js';
import { falErrors, proxiedFetch, startFakeFal, type FakeFal } from './fal-server.js';

const KEY = 'key-id-1:secret-1';
const OTHER_KEY = 'key-id-2:secret-2';

let fake: FakeFal;
let falFetch: typeof fetch;

beforeAll(async () => {
  fake = await startFakeFal();
  falFetch = proxiedFetch(fake.proxyUrl);
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.reset();
  fake.addKey(KEY);
});

function client(key = KEY) {
  return createFalClient({ credentials: key, proxyUrl: { url: fake.proxyUrl, when: 'always' }, fetch: falFetch });
}

/** Downloads a fal CDN URL through the proxy and returns its bytes. */
async function download(url: string, init?: RequestInit): Promise<{ response: Response; bytes: Buffer }> {
  const response = await falFetch(url, init);
  return { response, bytes: Buffer.from(await response.arrayBuffer()) };
}

async function expectRejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('fake fal: queue', () => {
  it('submit -> status -> result round trip with queue.submit/status/result', async () => {
    fake.setOutput('fal-ai/flux/dev', ({ input }) =>
      fake.imageOutput({ width: 1024, height: 768, count: 2, seed: 7, prompt: String(input['prompt']) }),
    );
    const fal = client();
    const submitted = await fal.queue.submit('fal-ai/flux/dev', { input: { prompt: 'a cat', num_images: 2 } });
    expect(submitted.status).toBe('IN_QUEUE');
    expect(submitted.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(submitted.status_url).toBe(`https://queue.fal.run/fal-ai/flux/requests/${submitted.request_id}/status`);

    const rid = submitted.request_id;
    const s1 = await fal.queue.status('fal-ai/flux/dev', { requestId: rid, logs: true });
    expect(s1).toMatchObject({ status: 'IN_QUEUE', queue_position: 1 });
    const s2 = await fal.queue.status('fal-ai/flux/dev', { requestId: rid, logs: true });
    expect(s2.status).toBe('IN_PROGRESS');
    expect(s2.status === 'IN_PROGRESS' && s2.logs[0]).toMatchObject({ level: 'INFO', source: 'USER', message: expect.any(String) });
    const s3 = await fal.queue.status('fal-ai/flux/dev', { requestId: rid, logs: false });
    expect(s3.status).toBe('COMPLETED');
    expect(s3.status === 'COMPLETED' && typeof s3.metrics?.inference_time).toBe('number');

    const result = await fal.queue.result('fal-ai/flux/dev', { requestId: rid });
    expect(result.requestId).toBe(rid);
    expect(result.data.images).toHaveLength(2);
    expect(result.data).toMatchObject({ seed: 7, has_nsfw_concepts: [false, false], prompt: 'a cat' });

    const [sub] = fake.submits('fal-ai/flux/dev');
    expect(sub).toMatchObject({ requestId: rid, key: KEY, input: { prompt: 'a cat', num_images: 2 }, priority: 'normal' });
    expect(fake.requests.every((r) => r.viaProxy)).toBe(true);
    // A poll of an earlier test may still land after the reset: only this request's traffic counts.
    const mine = fake.requests.filter((r) => r.route === 'submit' || r.targetUrl?.pathname.includes(rid));
    expect(mine.map((r) => r.route)).toEqual(['submit', 'status', 'status', 'status', 'result']);
    expect(fake.requests[0]?.targetUrl?.toString()).toBe('https://queue.fal.run/fal-ai/flux/dev');
    expect(fake.requests[0]?.headers['authorization']).toBe(`Key ${KEY}`);

    // The images are real PNGs with the declared size, byte-identical on the CDN.
    for (const image of result.data.images) {
      const { response, bytes } = await download(image.url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('image/png');
      expect(sniffImageSize(bytes)).toEqual({ type: 'png', width: 1024, height: 768 });
      expect(bytes.length).toBe(image.file_size);
      expect(bytes.equals(await fake.cdnObject(image.url)!.bytes())).toBe(true);
    }
  });

  it('fal.subscribe with the default producer and progression', async () => {
    const updates: QueueStatus[] = [];
    let enqueued = '';
    const result = await client().subscribe('fal-ai/flux/schnell', {
      input: { prompt: 'default' },
      pollInterval: 10,
      logs: true,
      onEnqueue: (rid) => (enqueued = rid),
      onQueueUpdate: (status) => updates.push(status),
    });
    expect(result.requestId).toBe(enqueued);
    expect(updates.map((u) => u.status)).toEqual(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']);
    const image = result.data.images[0]!;
    expect(image).toMatchObject({ width: 64, height: 48, content_type: 'image/png' });
    expect(result.data.seed).toBe(42);
    const { bytes } = await download(image.url);
    expect(sniffImageSize(bytes)).toEqual({ type: 'png', width: 64, height: 48 });

    // fal.run (sync endpoint on fal.run) uses the same producer.
    const run = await client().run('fal-ai/flux/schnell', { input: { prompt: 'sync' } });
    expect(run.data.images[0]?.width).toBe(64);
    expect(fake.requests.at(-1)?.targetUrl?.toString()).toBe('https://fal.run/fal-ai/flux/schnell');
  });

  it('fal.subscribe in streaming mode, a configured progression, workflows/ app roots and JPEG outputs', async () => {
    const id = 'workflows/acme/pipeline/variant';
    fake.setProgression(id, [{ status: 'IN_QUEUE', queuePosition: 3 }, 'IN_QUEUE', { status: 'IN_PROGRESS', logs: ['a', 'b'] }]);
    fake.setOutput(id, () => fake.imageOutput({ width: 300, height: 200, contentType: 'image/jpeg' }));
    const updates: string[] = [];
    const result = await client().subscribe(id, {
      input: { prompt: 'x' },
      mode: 'streaming',
      onQueueUpdate: (s) => updates.push(s.status),
    });
    expect(updates).toEqual(['IN_QUEUE', 'IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']);
    const data = result.data as { images: Array<{ url: string; content_type: string }> };
    expect(data.images[0]?.content_type).toBe('image/jpeg');
    const { bytes } = await download(data.images[0]!.url);
    expect(sniffImageSize(bytes)).toEqual({ type: 'jpeg', width: 300, height: 200 });
    const statusTarget = fake.requests.find((r) => r.route === 'status-stream')?.targetUrl;
    expect(statusTarget?.pathname).toBe(`/workflows/acme/pipeline/requests/${result.requestId}/status/stream`);
  });

  it('rejects a bad key with 401 at once (no retries) and hides requests from other accounts', async () => {
    const started = Date.now();
    const error = await expectRejection(client('wrong-key').queue.submit('fal-ai/flux/dev', { input: { prompt: 'x' } }));
    expect(Date.now() - started).toBeLessThan(500);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError<unknown>).status).toBe(401);
    expect((error as ApiError<unknown>).body).toEqual({ detail: 'Invalid API key' });
    expect(fake.requests.filter((r) => r.route === 'submit')).toHaveLength(1);
    expect(fake.submits()).toHaveLength(0);

    const empty = await expectRejection(client('').queue.submit('fal-ai/flux/dev', { input: { prompt: 'x' } }));
    expect((empty as ApiError<unknown>).status).toBe(401);

    fake.addKey(OTHER_KEY);
    const { request_id } = await client().queue.submit('fal-ai/flux/dev', { input: { prompt: 'x' } });
    const hidden = await expectRejection(client(OTHER_KEY).queue.status('fal-ai/flux/dev', { requestId: request_id }));
    expect((hidden as ApiError<unknown>).status).toBe(404);
  });

  it('a 422 on submit surfaces as ValidationError with fieldErrors', async () => {
    fake.failNext('submit', falErrors.numImagesTooHigh());
    const error = await expectRejection(client().queue.submit('fal-ai/flux/dev', { input: { prompt: 'x', num_images: 8 } }));
    expect(error).toBeInstanceOf(ValidationError);
    const v = error as ValidationError;
    expect(v.status).toBe(422);
    expect(v.getFieldErrors('num_images')).toEqual([
      { loc: ['body', 'num_images'], msg: 'ensure this value is less than or equal to 4', type: 'value_error.number.not_le', ctx: { limit_value: 4 } },
    ]);
    // The failure was consumed: the next submit works.
    await client().queue.submit('fal-ai/flux/dev', { input: { prompt: 'x' } });
    expect(fake.submits()).toHaveLength(1);
  });

  it('model errors fail the result GET; injected 500s are not retried on result', async () => {
    fake.setOutput('fal-ai/flux/dev', () => fake.modelErrorFrom(falErrors.contentPolicy()));
    const policy = await expectRejection(client().subscribe('fal-ai/flux/dev', { input: { prompt: 'bad' }, pollInterval: 5 }));
    expect(policy).toBeInstanceOf(ValidationError);
    expect((policy as ValidationError).fieldErrors[0]?.type).toBe('content_policy_violation');
    expect((policy as ValidationError).requestId).toBe(fake.submits()[0]?.requestId);

    fake.setOutput('fal-ai/flux/dev', () => fake.imageOutput({ width: 8, height: 8 }));
    fake.failNext('result', { ...falErrors.internal('boom'), endpointId: 'fal-ai/flux/dev' });
    const started = Date.now();
    const internal = await expectRejection(client().subscribe('fal-ai/flux/dev', { input: { prompt: 'x' }, pollInterval: 5 }));
    expect(Date.now() - started).toBeLessThan(900);
    expect(internal).toBeInstanceOf(ApiError);
    expect((internal as ApiError<unknown>).status).toBe(500);
    expect((internal as ApiError<unknown>).body).toEqual({ detail: 'boom', error_type: 'internal_error' });
    expect(fake.requests.filter((r) => r.route === 'result' && r.status === 500)).toHaveLength(1);
  });

  it('hold/release: a request stays IN_PROGRESS across a "worker crash" until released', async () => {
    fake.hold('fal-ai/flux');
    const worker1 = client();
    const { request_id: rid } = await worker1.queue.submit('fal-ai/flux/dev', { input: { prompt: 'held' } });
    const statuses: string[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await worker1.queue.status('fal-ai/flux/dev', { requestId: rid })).status);
    expect(statuses).toEqual(['IN_QUEUE', 'IN_PROGRESS', 'IN_PROGRESS', 'IN_PROGRESS', 'IN_PROGRESS']);
    expect(fake.held()).toEqual([rid]);
    expect(fake.requestState(rid)).toMatchObject({ state: 'IN_PROGRESS', held: true, completed: false });
    const early = await expectRejection(worker1.queue.result('fal-ai/flux/dev', { requestId: rid }));
    expect((early as ApiError<unknown>).status).toBe(400);

    // "Worker 1 dies"; worker 2 resumes polling the same request id.
    const worker2 = client();
    const resumed = worker2.queue.subscribeToStatus('fal-ai/flux/dev', { requestId: rid, pollInterval: 10 });
    await fake.waitFor(() => fake.requests.filter((r) => r.route === 'status').length >= 8);
    expect(fake.requestState(rid)?.completed).toBe(false);
    fake.release(rid);
    expect((await resumed).status).toBe('COMPLETED');
    const result = await worker2.queue.result('fal-ai/flux/dev', { requestId: rid });
    expect(result.requestId).toBe(rid);

    // The hold still applies to new requests until release().
    const { request_id: rid2 } = await worker2.queue.submit('fal-ai/flux/dev', { input: { prompt: 'again' } });
    expect(fake.requestState(rid2)?.held).toBe(true);
    fake.release();
    expect(fake.requestState(rid2)?.held).toBe(false);
  });

  it('cancel', async () => {
    fake.hold();
    const fal = client();
    const { request_id: rid } = await fal.queue.submit('fal-ai/flux/dev', { input: { prompt: 'x' } });
    await fal.queue.status('fal-ai/flux/dev', { requestId: rid });
    await fal.queue.cancel('fal-ai/flux/dev', { requestId: rid });
    expect(fake.cancels()).toMatchObject([{ requestId: rid, key: KEY, outcome: 'CANCELLATION_REQUESTED' }]);
    expect(fake.requests.at(-1)).toMatchObject({ route: 'cancel', status: 202, method: 'PUT' });
    expect((await fal.queue.status('fal-ai/flux/dev', { requestId: rid })).status).toBe('COMPLETED');
    const error = await expectRejection(fal.queue.result('fal-ai/flux/dev', { requestId: rid }));
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError<unknown>).status).toBe(400);
    expect((error as ApiError<unknown>).body).toEqual({ detail: 'Request was cancelled' });
    await fal.queue.cancel('fal-ai/flux/dev', { requestId: rid });
    expect(fake.cancels()[1]?.outcome).toBe('ALREADY_COMPLETED');
    const unknown = await expectRejection(fal.queue.cancel('fal-ai/flux/dev', { requestId: 'nope' }));
    expect((unknown as ApiError<unknown>).status).toBe(404);
  });

  it('subscribe timeout sends the cancel PUT', async () => {
    fake.hold();
    const error = await expectRejection(client().subscribe('fal-ai/flux/dev', { input: { prompt: 'x' }, pollInterval: 10, timeout: 150 }));
    expect(String(error)).toMatch(/timed out/);
    await fake.waitFor(() => fake.cancels().length === 1);
  });
});

describe('fake fal: storage and CDN', () => {
  it('storage.upload: bytes arrive identical, through the proxy, and the CDN serves them', async () => {
    const bytes = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31) & 0xff));
    const url = await client().storage.upload(new Blob([bytes], { type: 'image/webp' }));
    expect(url).toMatch(/^https:\/\/v3\.fal\.media\/files\//);
    const [upload] = fake.uploads();
    expect(upload).toMatchObject({ fileUrl: url, contentType: 'image/webp', putContentType: 'image/webp', key: KEY, multipart: false });
    expect(upload?.bytes.equals(bytes)).toBe(true);
    expect(upload?.fileName).toMatch(/\.webp$/);

    const initiate = fake.requests.find((r) => r.route === 'upload-initiate');
    expect(initiate?.targetUrl?.toString()).toBe('https://rest.fal.ai/storage/upload/initiate?storage_type=fal-cdn-v3');
    const put = fake.requests.find((r) => r.route === 'upload');
    expect(put).toMatchObject({ viaProxy: true, method: 'PUT', status: 200 });
    expect(put?.headers['authorization']).toBeUndefined();

    const served = await download(url);
    expect(served.response.headers.get('content-type')).toBe('image/webp');
    expect(served.bytes.equals(bytes)).toBe(true);
    // Range support.
    const part = await download(url, { headers: { range: 'bytes=10-19' } });
    expect(part.response.status).toBe(206);
    expect(part.response.headers.get('content-range')).toBe(`bytes 10-19/${bytes.length}`);
    expect(part.bytes.equals(bytes.subarray(10, 20))).toBe(true);
  });

  it('Blobs in submit input are uploaded and replaced by their URL', async () => {
    const png = Buffer.from('not really a png');
    await client().queue.submit('fal-ai/flux-pro/kontext', {
      // The endpoint's input type says string; the client uploads Blobs found in the input and substitutes the URL.
      input: { prompt: 'edit', image_url: new Blob([png], { type: 'image/png' }) as unknown as string },
    });
    const [upload] = fake.uploads();
    expect(fake.submits()[0]?.input['image_url']).toBe(upload?.fileUrl);
    expect(upload?.bytes.equals(png)).toBe(true);
  });

  it('serves a big generated video byte-exactly (streamed, never held in memory)', async () => {
    const size = 50 * 1024 * 1024 + 123;
    fake.setOutput('fal-ai/veo3', () => fake.videoOutput({ bytes: size, durationSeconds: 8 }));
    const result = await client().subscribe('fal-ai/veo3', { input: { prompt: 'waves' }, pollInterval: 5 });
    const video = result.data.video as { url: string; content_type: string; file_size: number; file_name: string };
    expect(video).toMatchObject({ content_type: 'video/mp4', file_size: size });
    const object = fake.cdnObject(video.url)!;
    expect(object.size).toBe(size);

    const response = await falFetch(video.url);
    expect(response.headers.get('content-length')).toBe(String(size));
    const hash = createHash('sha256');
    let length = 0;
    let head = Buffer.alloc(0);
    const reader = response.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (head.length < 16) head = Buffer.concat([head, value]);
      hash.update(value);
      length += value.length;
    }
    expect(length).toBe(size);
    expect(head.toString('ascii', 4, 8)).toBe('ftyp');
    expect(hash.digest('hex')).toBe(await object.sha256());

    // A range deep inside matches the same bytes.
    const tail = await download(video.url, { headers: { range: `bytes=${size - 1000}-` } });
    expect(tail.response.status).toBe(206);
    const expected = Buffer.concat([...object.chunks(size - 1000, size)]);
    expect(tail.bytes.equals(expected)).toBe(true);
  });

  it('CDN truncation, slow delivery, stalls, 404 and injected errors', async () => {
    const object = fake.putCdnObject(Buffer.alloc(200_000, 7), { contentType: 'application/octet-stream', fileName: 'x.bin' });

    fake.cdnDelivery({ url: object.url, truncateAfter: 1000 });
    const truncated = await falFetch(object.url);
    expect(truncated.headers.get('content-length')).toBe('200000');
    await expect(truncated.arrayBuffer()).rejects.toThrow();
    // The rule was used up: the next download is whole.
    expect((await download(object.url)).bytes.length).toBe(200_000);

    const slow = fake.putCdnObject(Buffer.alloc(20_000, 1), { contentType: 'application/octet-stream' });
    fake.cdnDelivery({ url: slow.url, bytesPerSecond: 100_000, headerDelayMs: 50 });
    const started = Date.now();
    expect((await download(slow.url)).bytes.length).toBe(20_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);

    fake.cdnDelivery({ stallAfter: 10 });
    const stalled = await falFetch(object.url, { signal: AbortSignal.timeout(200) });
    await expect(stalled.arrayBuffer()).rejects.toThrow();

    expect((await falFetch('https://v3.fal.media/files/nope/x.png')).status).toBe(404);
    fake.failNext('cdn', { status: 503, body: 'upstream', times: 2 });
    expect((await falFetch(object.url)).status).toBe(503);
    expect((await falFetch(object.url)).status).toBe(503);
    expect((await falFetch(object.url)).status).toBe(200);
  });

  it('multipart upload protocol (what the client does for files over 90 MB)', async () => {
    // Driven by hand with small parts: a real >90 MB upload through the client takes seconds.
    const auth = { authorization: `Key ${KEY}`, 'content-type': 'application/json' };
    const initiate = await falFetch('https://rest.fal.ai/storage/upload/initiate-multipart?storage_type=fal-cdn-v3', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ content_type: 'video/mp4', file_name: 'big.mp4' }),
    });
    const { upload_url, file_url } = (await initiate.json()) as { upload_url: string; file_url: string };
    const parsed = new URL(upload_url);
    const parts = [Buffer.alloc(1000, 1), Buffer.alloc(500, 2)];
    const etags: Array<{ partNumber: number; etag: string }> = [];
    for (const [i, part] of parts.entries()) {
      const response = await falFetch(`${parsed.origin}${parsed.pathname}/${i + 1}${parsed.search}`, { method: 'PUT', body: part });
      etags.push((await response.json()) as { partNumber: number; etag: string });
    }
    expect(etags.map((e) => e.partNumber)).toEqual([1, 2]);
    const complete = await falFetch(`${parsed.origin}${parsed.pathname}/complete${parsed.search}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ parts: etags }),
    });
    expect(complete.status).toBe(200);
    const [upload] = fake.uploads();
    expect(upload).toMatchObject({ fileUrl: file_url, multipart: true, contentType: 'video/mp4', fileName: 'big.mp4' });
    expect(upload?.bytes.equals(Buffer.concat(parts))).toBe(true);
    expect((await download(file_url)).bytes.equals(Buffer.concat(parts))).toBe(true);
  });
});

describe('fake fal: proxy, pricing and schemas', () => {
  it('a request without x-fal-target-url gets 400 and is recorded as not proxied', async () => {
    const response = await fetch(fake.proxyUrl, { method: 'POST', body: '{}' });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ detail: 'missing x-fal-target-url' });
    expect(fake.requests).toMatchObject([{ viaProxy: false, route: 'no-proxy-header', targetUrl: undefined, status: 400 }]);
  });

  it('pricing validates keys', async () => {
    const url = 'https://api.fal.ai/v1/models/pricing?endpoint_id=fal-ai/flux/dev';
    const ok = await falFetch(url, { headers: { authorization: `Key ${KEY}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({
      prices: [{ endpoint_id: 'fal-ai/flux/dev', unit_price: 0.025, unit: 'image', currency: 'USD' }],
      has_more: false,
      next_cursor: null,
    });
    const bad = await falFetch(url, { headers: { authorization: 'Key nope' } });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: { type: 'authorization_error' } });
    fake.failNext('pricing', { status: 429 });
    expect((await falFetch(url, { headers: { authorization: `Key ${KEY}` } })).status).toBe(429);
  });

  it('serves registered OpenAPI documents on both schema routes', async () => {
    const doc = makeOpenApiDoc({ endpointId: 'fal-ai/flux/dev', category: 'text-to-image' });
    fake.setOpenApi('fal-ai/flux/dev', doc, { display_name: 'FLUX.1 [dev]' });
    const direct = await falFetch('https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=fal-ai/flux/dev');
    expect(await direct.json()).toEqual(doc);
    expect((await falFetch('https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=x/y')).status).toBe(404);

    const listed = await falFetch(
      'https://api.fal.ai/v1/models?endpoint_id=fal-ai/flux/dev&endpoint_id=x/unknown&expand=openapi-3.0',
    );
    expect(await listed.json()).toEqual({
      models: [
        {
          endpoint_id: 'fal-ai/flux/dev',
          metadata: { display_name: 'FLUX.1 [dev]', category: 'text-to-image', description: expect.any(String), status: 'active', tags: [] },
          openapi: doc,
        },
      ],
      has_more: false,
      next_cursor: null,
    });
  });
});
