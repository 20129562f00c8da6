import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TEMP_DIR, LocalStorage } from '../../src/storage/local.js';
import { S3Storage } from '../../src/storage/s3.js';
import { StorageError, type StorageDriver } from '../../src/storage/types.js';
import { tempDir } from '../helpers/env.js';
import { startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { collect, failingStream, hashStream, seededStream, sha256, uniqueKey } from './streams.js';

const MiB = 1024 * 1024;

interface Harness {
  driver: StorageDriver;
  close(): Promise<void>;
}

const drivers: { name: 'local' | 's3'; start(): Promise<Harness> }[] = [
  {
    name: 'local',
    async start() {
      const dir = await tempDir('atelier-storage');
      return { driver: new LocalStorage({ dir: dir.path, publicBaseUrl: 'http://bot.test' }), close: dir.cleanup };
    },
  },
  {
    name: 's3',
    async start() {
      const s3 = await startS3rver();
      const driver = s3Driver(s3);
      return {
        driver,
        async close() {
          driver.destroy();
          await s3.close();
        },
      };
    },
  },
];

function s3Driver(s3: RunningS3rver, bucket = s3.bucket): S3Storage {
  return new S3Storage({
    bucket,
    region: 'us-east-1',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    publicBaseUrl: 'http://bot.test',
    credentials: s3.credentials,
  });
}

async function expectStorageError(promise: Promise<unknown>, code: StorageError['code']): Promise<StorageError> {
  const error: unknown = await promise.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(StorageError);
  expect((error as StorageError).code).toBe(code);
  return error as StorageError;
}

describe.each(drivers)('$name driver', ({ name, start }) => {
  let harness: Harness;
  let storage: StorageDriver;

  beforeAll(async () => {
    harness = await start();
    storage = harness.driver;
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('reports its name and passes the readiness check', async () => {
    expect(storage.name).toBe(name);
    await storage.check();
  });

  it('stores bytes and reads them back with length, hash and content type', async () => {
    const key = uniqueKey('png');
    const bytes = randomBytes(100_000);
    const stored = await storage.put(key, Readable.from([bytes]), { contentType: 'image/png' });
    expect(stored).toEqual({ key, bytes: bytes.length, sha256: sha256(bytes), contentType: 'image/png' });

    const result = await storage.read(key);
    expect(result.size).toBe(bytes.length);
    expect(result.contentType).toBe('image/png');
    expect(result.range).toBeUndefined();
    expect((await collect(result.body)).equals(bytes)).toBe(true);
  });

  it('stores an empty object', async () => {
    const key = uniqueKey('webm');
    const stored = await storage.put(key, Readable.from([]), { contentType: 'video/webm', expectedBytes: 0 });
    expect(stored.bytes).toBe(0);
    expect(stored.sha256).toBe(sha256(Buffer.alloc(0)));
    const result = await storage.read(key);
    expect(result.size).toBe(0);
    expect(result.contentType).toBe('video/webm');
    expect((await collect(result.body)).length).toBe(0);
  });

  it('overwrites an existing object at the same key', async () => {
    const key = uniqueKey('jpg');
    await storage.put(key, Readable.from([Buffer.from('first version, longer than the second')]), { contentType: 'image/jpeg' });
    const second = Buffer.from('second');
    const stored = await storage.put(key, Readable.from([second]), { contentType: 'image/jpeg', expectedBytes: second.length });
    expect(stored.bytes).toBe(second.length);
    const result = await storage.read(key);
    expect(result.size).toBe(second.length);
    expect((await collect(result.body)).toString()).toBe('second');
  });

  describe('range reads', () => {
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, index) => index % 251));
    let key: string;
    beforeAll(async () => {
      key = uniqueKey('mp4');
      await storage.put(key, Readable.from([bytes]), { contentType: 'video/mp4' });
    });

    it('reads a closed range', async () => {
      const result = await storage.read(key, { start: 100, end: 199 });
      expect(result.size).toBe(1000);
      expect(result.range).toEqual({ start: 100, end: 199 });
      expect(result.contentType).toBe('video/mp4');
      expect((await collect(result.body)).equals(bytes.subarray(100, 200))).toBe(true);
    });

    it('reads an open-ended range to the end', async () => {
      const result = await storage.read(key, { start: 990 });
      expect(result.range).toEqual({ start: 990, end: 999 });
      expect((await collect(result.body)).equals(bytes.subarray(990))).toBe(true);
    });

    it('clamps an end past the object', async () => {
      const result = await storage.read(key, { start: 0, end: 5000 });
      expect(result.range).toEqual({ start: 0, end: 999 });
      expect((await collect(result.body)).equals(bytes)).toBe(true);
    });

    it('reads a single byte', async () => {
      const result = await storage.read(key, { start: 999, end: 999 });
      expect(result.range).toEqual({ start: 999, end: 999 });
      expect((await collect(result.body)).equals(bytes.subarray(999))).toBe(true);
    });

    it('rejects unsatisfiable and malformed ranges', async () => {
      await expectStorageError(storage.read(key, { start: 1000 }), 'INVALID_RANGE');
      await expectStorageError(storage.read(key, { start: 10, end: 5 }), 'INVALID_RANGE');
      await expectStorageError(storage.read(key, { start: -1 }), 'INVALID_RANGE');
      await expectStorageError(storage.read(key, { start: 1.5 }), 'INVALID_RANGE');
    });

    it('rejects a range on an empty object', async () => {
      const empty = uniqueKey('mp4');
      await storage.put(empty, Readable.from([]), { contentType: 'video/mp4' });
      await expectStorageError(storage.read(empty, { start: 0 }), 'INVALID_RANGE');
    });
  });

  it('answers exists for objects only, not for missing keys or key prefixes', async () => {
    const key = uniqueKey('gif');
    expect(await storage.exists(key)).toBe(false);
    await storage.put(key, Readable.from([Buffer.from('GIF89a')]), { contentType: 'image/gif' });
    expect(await storage.exists(key)).toBe(true);
    expect(await storage.exists(key.slice(0, key.lastIndexOf('/')))).toBe(false);
  });

  it('throws NOT_FOUND for a missing object and for a key prefix', async () => {
    const key = uniqueKey('png');
    await expectStorageError(storage.read(key), 'NOT_FOUND');
    await expectStorageError(storage.read(key, { start: 0, end: 10 }), 'NOT_FOUND');
    await storage.put(key, Readable.from([Buffer.from('x')]), { contentType: 'image/png' });
    await expectStorageError(storage.read(key.slice(0, key.lastIndexOf('/'))), 'NOT_FOUND');
  });

  it('deletes idempotently', async () => {
    const key = uniqueKey('webp');
    await storage.put(key, Readable.from([Buffer.from('RIFF')]), { contentType: 'image/webp' });
    await storage.delete(key);
    expect(await storage.exists(key)).toBe(false);
    await expectStorageError(storage.read(key), 'NOT_FOUND');
    await storage.delete(key);
    await storage.delete(uniqueKey('webp'));
  });

  describe('size verification', () => {
    it('discards a body longer than declared', async () => {
      const key = uniqueKey('png');
      const error = await expectStorageError(
        storage.put(key, Readable.from([randomBytes(1000), randomBytes(1000)]), { contentType: 'image/png', expectedBytes: 1500 }),
        'SIZE_MISMATCH',
      );
      expect(error.message).toMatch(/1500/);
      expect(await storage.exists(key)).toBe(false);
    });

    it('discards a body shorter than declared', async () => {
      const key = uniqueKey('png');
      await expectStorageError(
        storage.put(key, Readable.from([randomBytes(1000)]), { contentType: 'image/png', expectedBytes: 1001 }),
        'SIZE_MISMATCH',
      );
      expect(await storage.exists(key)).toBe(false);
    });

    it('discards a multi-part body that comes up short, leaving no object', async () => {
      const key = uniqueKey('mp4');
      const size = 20 * MiB;
      await expectStorageError(
        storage.put(key, seededStream(size, 7), { contentType: 'video/mp4', expectedBytes: size + 1 }),
        'SIZE_MISMATCH',
      );
      expect(await storage.exists(key)).toBe(false);
    });

    it('keeps the previous object when a mismatched overwrite fails', async () => {
      const key = uniqueKey('png');
      const original = randomBytes(500);
      await storage.put(key, Readable.from([original]), { contentType: 'image/png' });
      await expectStorageError(
        storage.put(key, Readable.from([randomBytes(800)]), { contentType: 'image/png', expectedBytes: 700 }),
        'SIZE_MISMATCH',
      );
      expect((await collect((await storage.read(key)).body)).equals(original)).toBe(true);
    });
  });

  it("passes the body's own error through and leaves no object", async () => {
    const key = uniqueKey('mp4');
    const cause = new Error('upstream connection reset');
    const body = failingStream(randomBytes(10_000), cause);
    await expect(storage.put(key, body, { contentType: 'video/mp4' })).rejects.toBe(cause);
    expect(body.destroyed).toBe(true);
    expect(await storage.exists(key)).toBe(false);
  });

  it('gives up when the owner destroys the body mid-way, leaving no object', async () => {
    const key = uniqueKey('mp4');
    const body = seededStream(30 * MiB, 9, 64 * 1024);
    let sent = 0;
    body.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (sent >= 10 * MiB && !body.destroyed) body.destroy();
    });
    const error: unknown = await storage.put(key, body, { contentType: 'video/mp4' }).then(
      () => undefined,
      (rejection: unknown) => rejection,
    );
    expect(error).toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    expect(await storage.exists(key)).toBe(false);
  });

  it.each(['../escape.png', 'outputs/../../etc/passwd', '/etc/passwd', 'a\\b.png', 'a//b.png', 'a/b/', '', 'a b.png', 'ä.png', 'a/./b.png'])(
    'rejects the key %j everywhere',
    async (key) => {
      const body = Readable.from([Buffer.from('x')]);
      await expectStorageError(storage.put(key, body, { contentType: 'image/png' }), 'INVALID_KEY');
      expect(body.destroyed).toBe(true);
      await expectStorageError(storage.read(key), 'INVALID_KEY');
      await expectStorageError(storage.exists(key), 'INVALID_KEY');
      await expectStorageError(storage.delete(key), 'INVALID_KEY');
      await expectStorageError(storage.presignedUrl(key), 'INVALID_KEY');
      expect(() => storage.publicUrl(key)).toThrow(StorageError);
    },
  );

  it('streams a 64 MiB body without holding it and reports the right hash', async () => {
    const size = 64 * MiB;
    const expected = await hashStream(seededStream(size, 42));
    expect(expected.bytes).toBe(size);

    const key = uniqueKey('mp4');
    const stored = await storage.put(key, seededStream(size, 42), { contentType: 'video/mp4', expectedBytes: size });
    expect(stored.bytes).toBe(size);
    expect(stored.sha256).toBe(expected.sha256);

    const result = await storage.read(key);
    expect(result.size).toBe(size);
    expect(await hashStream(result.body)).toEqual(expected);

    const tail = await storage.read(key, { start: size - 1000 });
    expect((await collect(tail.body)).length).toBe(1000);
  }, 120_000);

  it('points publicUrl at our /media route', () => {
    expect(storage.publicUrl('outputs/1/job/0.png')).toBe('http://bot.test/media/outputs/1/job/0.png');
  });
});

describe('local driver specifics', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let storage: LocalStorage;
  beforeAll(async () => {
    dir = await tempDir('atelier-storage-local');
    storage = new LocalStorage({ dir: join(dir.path, 'media'), publicBaseUrl: 'http://bot.test/' });
  });
  afterAll(async () => {
    await dir?.cleanup();
  });

  it('writes files at their key under the configured directory and leaves no temp files', async () => {
    const key = 'outputs/7/job-1/0.png';
    await storage.put(key, Readable.from([Buffer.from('png bytes')]), { contentType: 'image/png' });
    await expectStorageError(
      storage.put('outputs/7/job-1/1.png', Readable.from([Buffer.from('too long')]), { contentType: 'image/png', expectedBytes: 3 }),
      'SIZE_MISMATCH',
    );
    await expect(storage.put('outputs/7/job-1/2.png', failingStream(Buffer.from('abc'), new Error('cut')), { contentType: 'image/png' })).rejects.toThrow('cut');
    expect(await readdir(join(dir.path, 'media', 'outputs', '7', 'job-1'))).toEqual(['0.png']);
    expect(await readdir(join(dir.path, 'media', LOCAL_TEMP_DIR))).toEqual([]);
  });

  it('serves the content type from the key, whatever was declared', async () => {
    const key = 'outputs/7/job-2/0.bin';
    const stored = await storage.put(key, Readable.from([Buffer.from('?')]), { contentType: 'image/png' });
    expect(stored.contentType).toBe('application/octet-stream');
    const result = await storage.read(key);
    result.body.destroy();
    expect(result.contentType).toBe('application/octet-stream');
  });

  it('never interleaves concurrent writers to one key', async () => {
    const key = 'outputs/7/job-3/0.mp4';
    const size = 4 * MiB;
    const [a, b] = await Promise.all([
      storage.put(key, seededStream(size, 1, 16 * 1024), { contentType: 'video/mp4' }),
      storage.put(key, seededStream(size, 2, 16 * 1024), { contentType: 'video/mp4' }),
    ]);
    const final = await hashStream((await storage.read(key)).body);
    expect([a.sha256, b.sha256]).toContain(final.sha256);
  });

  it('has no presigned URLs and trims the base URL', async () => {
    expect(await storage.presignedUrl('outputs/1/job/0.png')).toBeUndefined();
    expect(storage.publicUrl('outputs/1/job/0.png')).toBe('http://bot.test/media/outputs/1/job/0.png');
  });

  it('reports UNAVAILABLE when the directory cannot be created', async () => {
    const file = join(dir.path, 'not-a-directory');
    await writeFile(file, 'x');
    const broken = new LocalStorage({ dir: join(file, 'media'), publicBaseUrl: 'http://bot.test' });
    await expectStorageError(broken.check(), 'UNAVAILABLE');
    const body = Readable.from([Buffer.from('x')]);
    await expectStorageError(broken.put('outputs/1/j/0.png', body, { contentType: 'image/png' }), 'UNAVAILABLE');
    expect(body.destroyed).toBe(true);
  });
});

describe('S3 driver specifics', () => {
  let s3: RunningS3rver;
  let storage: S3Storage;
  beforeAll(async () => {
    s3 = await startS3rver();
    storage = s3Driver(s3);
  });
  afterAll(async () => {
    storage?.destroy();
    await s3?.close();
  });

  it('returns a presigned URL that plain fetch can download', async () => {
    const key = uniqueKey('png');
    const bytes = randomBytes(20_000);
    await storage.put(key, Readable.from([bytes]), { contentType: 'image/png' });
    const url = await storage.presignedUrl(key, 60);
    expect(url.startsWith(`${s3.endpoint}/${s3.bucket}/${key}?`)).toBe(true);
    expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('60');
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('rejects presign lifetimes S3 would not honour', async () => {
    await expect(storage.presignedUrl('outputs/1/j/0.png', 0)).rejects.toThrow(RangeError);
    await expect(storage.presignedUrl('outputs/1/j/0.png', 8 * 24 * 3600)).rejects.toThrow(RangeError);
  });

  it('keeps the declared content type as object metadata', async () => {
    const key = uniqueKey('bin');
    await storage.put(key, Readable.from([Buffer.from('x')]), { contentType: 'image/webp' });
    const result = await storage.read(key);
    result.body.destroy();
    expect(result.contentType).toBe('image/webp');
  });

  it('reports UNAVAILABLE for a missing bucket', async () => {
    const missing = s3Driver(s3, `atelier-missing-${randomBytes(4).toString('hex')}`);
    try {
      await expectStorageError(missing.check(), 'UNAVAILABLE');
      await expectStorageError(missing.read('outputs/1/j/0.png'), 'UNAVAILABLE');
      const body = Readable.from([Buffer.from('x')]);
      await expectStorageError(missing.put('outputs/1/j/0.png', body, { contentType: 'image/png' }), 'UNAVAILABLE');
      expect(body.destroyed).toBe(true);
    } finally {
      missing.destroy();
    }
  });

  it('reports UNAVAILABLE when the endpoint does not answer', async () => {
    const down = await startS3rver();
    await down.close();
    const unreachable = s3Driver(down);
    try {
      await expectStorageError(unreachable.check(), 'UNAVAILABLE');
      await expectStorageError(unreachable.exists('outputs/1/j/0.png'), 'UNAVAILABLE');
    } finally {
      unreachable.destroy();
    }
  });
});
