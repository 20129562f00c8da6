import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { imageDimensions, inspectStream, sniff, sniffContentType, SNIFF_BYTES } from '../../src/storage/sniff.js';
import { StorageError } from '../../src/storage/types.js';
import { collect, sha256 } from './streams.js';

const u16be = (value: number) => Buffer.from([value >> 8, value & 0xff]);
const u16le = (value: number) => Buffer.from([value & 0xff, value >> 8]);
const u32be = (value: number) => {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
};
const u32le = (value: number) => {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return buffer;
};
const u24le = (value: number) => Buffer.from([value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff]);
const text = (value: string) => Buffer.from(value, 'latin1');

function png(width: number, height: number): Buffer {
  const ihdr = Buffer.concat([u32be(width), u32be(height), Buffer.from([8, 6, 0, 0, 0])]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    u32be(13),
    text('IHDR'),
    ihdr,
    u32be(0), // CRC, not checked
  ]);
}

function jpegSegment(marker: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xff, marker]), u16be(payload.length + 2), payload]);
}

function jpeg(width: number, height: number, options: { sof?: number; before?: Buffer[]; fill?: boolean } = {}): Buffer {
  const sof = Buffer.concat([Buffer.from([8]), u16be(height), u16be(width), Buffer.from([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])]);
  const sofSegment = jpegSegment(options.sof ?? 0xc0, sof);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    jpegSegment(0xe0, Buffer.concat([text('JFIF\0'), Buffer.from([1, 1, 0, 0, 1, 0, 1, 0, 0])])),
    ...(options.before ?? []),
    options.fill ? Buffer.from([0xff, 0xff]) : Buffer.alloc(0),
    sofSegment,
    jpegSegment(0xda, Buffer.alloc(10)),
  ]);
}

function gif(width: number, height: number): Buffer {
  return Buffer.concat([text('GIF89a'), u16le(width), u16le(height), Buffer.from([0xf7, 0, 0])]);
}

function webp(chunk: 'VP8 ' | 'VP8L' | 'VP8X', data: Buffer): Buffer {
  const body = Buffer.concat([text('WEBP'), text(chunk), u32le(data.length), data]);
  return Buffer.concat([text('RIFF'), u32le(body.length), body]);
}

function webpLossy(width: number, height: number): Buffer {
  return webp('VP8 ', Buffer.concat([Buffer.from([0x30, 0x01, 0x00, 0x9d, 0x01, 0x2a]), u16le(width), u16le(height)]));
}

function webpLossless(width: number, height: number): Buffer {
  return webp('VP8L', Buffer.concat([Buffer.from([0x2f]), u32le(((width - 1) | ((height - 1) << 14)) >>> 0)]));
}

function webpExtended(width: number, height: number): Buffer {
  return webp('VP8X', Buffer.concat([Buffer.from([0x10, 0, 0, 0]), u24le(width - 1), u24le(height - 1)]));
}

function ftyp(brand: string): Buffer {
  const body = Buffer.concat([text('ftyp'), text(brand), u32be(0x200), text('isomiso2mp41')]);
  return Buffer.concat([u32be(body.length + 4), body]);
}

function ebml(docType: string): Buffer {
  const docTypeElement = Buffer.concat([Buffer.from([0x42, 0x82, 0x80 | docType.length]), text(docType)]);
  const header = Buffer.concat([Buffer.from([0x42, 0x86, 0x81, 0x01, 0x42, 0xf7, 0x81, 0x01]), docTypeElement]);
  return Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x80 | header.length]), header]);
}

describe('sniff', () => {
  it('detects PNG with its IHDR size', () => {
    expect(sniff(png(640, 480))).toEqual({ contentType: 'image/png', width: 640, height: 480 });
  });

  it('detects baseline and progressive JPEG, skipping segments and fill bytes before SOFn', () => {
    expect(sniff(jpeg(1920, 1080))).toEqual({ contentType: 'image/jpeg', width: 1920, height: 1080 });
    expect(sniff(jpeg(800, 600, { sof: 0xc2 }))).toEqual({ contentType: 'image/jpeg', width: 800, height: 600 });
    const exif = jpegSegment(0xe1, Buffer.concat([text('Exif\0\0'), randomBytes(30_000)]));
    // DHT (C4) sits inside the SOF marker range and must not be read as a frame header.
    const dht = jpegSegment(0xc4, Buffer.alloc(30, 1));
    expect(sniff(jpeg(4000, 3000, { before: [exif, dht], fill: true }))).toEqual({
      contentType: 'image/jpeg',
      width: 4000,
      height: 3000,
    });
  });

  it('still names a JPEG whose SOF lies past the sniffed head', () => {
    const big = jpeg(10, 10, { before: [jpegSegment(0xe2, Buffer.alloc(65_000)), jpegSegment(0xe2, Buffer.alloc(10_000))] });
    expect(sniff(big.subarray(0, SNIFF_BYTES))).toEqual({ contentType: 'image/jpeg' });
  });

  it('detects GIF', () => {
    expect(sniff(gif(320, 200))).toEqual({ contentType: 'image/gif', width: 320, height: 200 });
  });

  it('detects the three WebP flavours', () => {
    expect(sniff(webpLossy(1024, 768))).toEqual({ contentType: 'image/webp', width: 1024, height: 768 });
    expect(sniff(webpLossless(16383, 1))).toEqual({ contentType: 'image/webp', width: 16383, height: 1 });
    expect(sniff(webpLossless(333, 12345))).toEqual({ contentType: 'image/webp', width: 333, height: 12345 });
    expect(sniff(webpExtended(5000, 7000))).toEqual({ contentType: 'image/webp', width: 5000, height: 7000 });
  });

  it('detects ISO-BMFF video by ftyp brand', () => {
    expect(sniff(ftyp('isom'))).toEqual({ contentType: 'video/mp4' });
    expect(sniff(ftyp('mp42'))).toEqual({ contentType: 'video/mp4' });
    expect(sniff(ftyp('qt  '))).toEqual({ contentType: 'video/quicktime' });
    expect(sniff(ftyp('avif'))).toEqual({ contentType: 'image/avif' });
  });

  it('tells WebM from Matroska', () => {
    expect(sniff(ebml('webm'))).toEqual({ contentType: 'video/webm' });
    expect(sniff(ebml('matroska'))).toEqual({ contentType: 'video/x-matroska' });
  });

  it('returns the type without a size when the header is cut short', () => {
    expect(sniff(png(1, 1).subarray(0, 12))).toEqual({ contentType: 'image/png' });
    expect(sniff(webpLossy(10, 10).subarray(0, 20))).toEqual({ contentType: 'image/webp' });
    expect(sniff(gif(1, 1).subarray(0, 7))).toEqual({ contentType: 'image/gif' });
  });

  it('returns undefined for anything else', () => {
    expect(sniff(Buffer.alloc(0))).toBeUndefined();
    expect(sniff(text('<!DOCTYPE html><html>'))).toBeUndefined();
    expect(sniff(text('{"error":"not found"}'))).toBeUndefined();
    expect(sniff(Buffer.from([0xff, 0xd8]))).toBeUndefined();
    expect(sniff(text('RIFF\0\0\0\0WAVEfmt '))).toBeUndefined();
  });

  it('offers type-only and size-only shortcuts', () => {
    expect(sniffContentType(gif(2, 3))).toBe('image/gif');
    expect(sniffContentType(text('hello'))).toBeUndefined();
    expect(imageDimensions(png(7, 9))).toEqual({ width: 7, height: 9 });
    expect(imageDimensions(ftyp('isom'))).toBeUndefined();
  });
});

describe('inspectStream', () => {
  it('passes bytes through untouched while measuring them', async () => {
    const chunks = [png(100, 50), randomBytes(50_000), randomBytes(50_000)];
    const input = Buffer.concat(chunks);
    const inspector = inspectStream();
    const [output] = await Promise.all([collect(inspector), pipeline(Readable.from(chunks), inspector)]);
    expect(output.equals(input)).toBe(true);

    const result = inspector.result();
    expect(result.bytes).toBe(input.length);
    expect(result.sha256).toBe(createHash('sha256').update(input).digest('hex'));
    expect(result.head.equals(input.subarray(0, SNIFF_BYTES))).toBe(true);
    expect(sniff(result.head)).toEqual({ contentType: 'image/png', width: 100, height: 50 });
  });

  it('keeps the whole body as head when it is short', async () => {
    const input = gif(1, 1);
    const inspector = inspectStream();
    await Promise.all([collect(inspector), pipeline(Readable.from([input]), inspector)]);
    expect(inspector.result()).toEqual({ bytes: input.length, sha256: sha256(input), head: input });
  });

  it('has no result before the stream ends', () => {
    expect(() => inspectStream().result()).toThrow(/before the stream ended/);
  });

  it('accepts a body of exactly the expected size', async () => {
    const input = randomBytes(3000);
    const inspector = inspectStream({ expectedBytes: 3000 });
    await Promise.all([collect(inspector), pipeline(Readable.from([input]), inspector)]);
    expect(inspector.result().bytes).toBe(3000);
  });

  it.each([
    ['longer', 3001],
    ['shorter', 2999],
  ])('fails with SIZE_MISMATCH when the body is %s than expected', async (_, actual) => {
    const inspector = inspectStream({ expectedBytes: 3000 });
    const error = await Promise.all([collect(inspector), pipeline(Readable.from([randomBytes(actual)]), inspector)]).then(
      () => undefined,
      (rejection: unknown) => rejection,
    );
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe('SIZE_MISMATCH');
  });

  it('stops an oversized body as soon as it passes the expected size', async () => {
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 16 * 1024;
        this.push(Buffer.alloc(16 * 1024));
      },
    });
    const inspector = inspectStream({ expectedBytes: 100_000 });
    inspector.resume();
    await expect(pipeline(endless, inspector)).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
    expect(produced).toBeLessThan(1024 * 1024);
    expect(endless.destroyed).toBe(true);
  });

  it('rejects a nonsensical expected size', () => {
    expect(() => inspectStream({ expectedBytes: -1 })).toThrow(RangeError);
    expect(() => inspectStream({ expectedBytes: 1.5 })).toThrow(RangeError);
  });
});
