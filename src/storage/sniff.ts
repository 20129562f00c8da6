import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { StorageError } from './types.js';

/** Enough for every header we parse, including JPEGs with large EXIF/ICC segments before SOFn. */
export const SNIFF_BYTES = 64 * 1024;

export interface Sniffed {
  contentType: string;
  /** Pixel size from the file header; images only, absent when the header does not reach it. */
  width?: number;
  height?: number;
}

/**
 * Detects the real type of a file from its first bytes, because upstream Content-Type headers are
 * often generic (application/octet-stream) or wrong. Returns undefined for anything unrecognised.
 */
export function sniff(head: Buffer): Sniffed | undefined {
  if (isPng(head)) return withSize('image/png', pngSize(head));
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) {
    return withSize('image/jpeg', jpegSize(head));
  }
  if (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a') {
    return withSize('image/gif', head.length >= 10 ? { width: head.readUInt16LE(6), height: head.readUInt16LE(8) } : undefined);
  }
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 4) === 'WEBP') return withSize('image/webp', webpSize(head));
  if (ascii(head, 4, 4) === 'ftyp') return { contentType: ftypType(ascii(head, 8, 4)) };
  if (head.length >= 4 && head.readUInt32BE(0) === 0x1a45dfa3) return { contentType: ebmlType(head) };
  return undefined;
}

/** Just the type; see {@link sniff}. */
export function sniffContentType(head: Buffer): string | undefined {
  return sniff(head)?.contentType;
}

/** Pixel size from an image header; undefined for non-images or when the header does not reach it. */
export function imageDimensions(head: Buffer): { width: number; height: number } | undefined {
  const sniffed = sniff(head);
  return sniffed?.width !== undefined && sniffed.height !== undefined ? { width: sniffed.width, height: sniffed.height } : undefined;
}

function withSize(contentType: string, size: { width: number; height: number } | undefined): Sniffed {
  return size && size.width > 0 && size.height > 0 ? { contentType, ...size } : { contentType };
}

function ascii(buffer: Buffer, offset: number, length: number): string {
  return buffer.length >= offset + length ? buffer.toString('latin1', offset, offset + length) : '';
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function isPng(head: Buffer): boolean {
  return head.length >= 8 && head.subarray(0, 8).equals(PNG_SIGNATURE);
}

function pngSize(head: Buffer): { width: number; height: number } | undefined {
  // IHDR must be the first chunk: length(4) "IHDR"(4) width(4) height(4).
  if (head.length < 24 || ascii(head, 12, 4) !== 'IHDR') return undefined;
  return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
}

function jpegSize(head: Buffer): { width: number; height: number } | undefined {
  let offset = 2;
  while (offset + 1 < head.length) {
    if (head[offset] !== 0xff) return undefined;
    let marker = head[offset + 1] ?? 0;
    // Any number of 0xFF fill bytes may precede a marker.
    while (marker === 0xff && offset + 2 < head.length) {
      offset += 1;
      marker = head[offset + 1] ?? 0;
    }
    offset += 2;
    // Standalone markers carry no length.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue;
    if (marker === 0xd9 || marker === 0xda) return undefined; // EOI / start of scan: no SOF before image data
    if (offset + 2 > head.length) return undefined;
    const length = head.readUInt16BE(offset);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (offset + 7 > head.length) return undefined;
      return { height: head.readUInt16BE(offset + 3), width: head.readUInt16BE(offset + 5) };
    }
    if (length < 2) return undefined;
    offset += length;
  }
  return undefined;
}

function webpSize(head: Buffer): { width: number; height: number } | undefined {
  const chunk = ascii(head, 12, 4);
  if (chunk === 'VP8 ') {
    // Lossy bitstream: 3-byte frame tag, start code 9D 01 2A, then 14-bit width and height.
    if (head.length < 30 || head[23] !== 0x9d || head[24] !== 0x01 || head[25] !== 0x2a) return undefined;
    return { width: head.readUInt16LE(26) & 0x3fff, height: head.readUInt16LE(28) & 0x3fff };
  }
  if (chunk === 'VP8L') {
    // Lossless: signature 0x2F, then width-1 and height-1 as 14-bit fields packed little-endian.
    if (head.length < 25 || head[20] !== 0x2f) return undefined;
    const bits = head.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') {
    // Extended: flags(1) reserved(3), then canvas width-1 and height-1 as 24-bit little-endian.
    if (head.length < 30) return undefined;
    return { width: head.readUIntLE(24, 3) + 1, height: head.readUIntLE(27, 3) + 1 };
  }
  return undefined;
}

function ftypType(majorBrand: string): string {
  if (majorBrand === 'qt  ') return 'video/quicktime';
  // Same ISO-BMFF container, but images: calling them mp4 would make a player try to play a still.
  if (majorBrand === 'avif' || majorBrand === 'avis') return 'image/avif';
  if (['heic', 'heix', 'heim', 'heis', 'mif1', 'msf1'].includes(majorBrand)) return 'image/heic';
  return 'video/mp4';
}

/** WebM and Matroska share the EBML header; the DocType element (0x4282) tells them apart. */
function ebmlType(head: Buffer): string {
  const limit = Math.min(head.length, 64);
  for (let offset = 4; offset + 3 < limit; offset++) {
    if (head[offset] !== 0x42 || head[offset + 1] !== 0x82) continue;
    const sizeByte = head[offset + 2] ?? 0;
    // The DocType size is a one-byte EBML varint in practice (high bit set, value in the low 7 bits).
    if ((sizeByte & 0x80) === 0) break;
    const docType = ascii(head, offset + 3, sizeByte & 0x7f);
    if (docType === 'webm') return 'video/webm';
    if (docType === 'matroska') return 'video/x-matroska';
    break;
  }
  return 'video/webm';
}

export interface InspectResult {
  bytes: number;
  /** hex */
  sha256: string;
  /** The first {@link SNIFF_BYTES} bytes (fewer if the stream was shorter), for {@link sniff}. */
  head: Buffer;
}

export interface InspectOptions {
  /** When set, the stream fails with StorageError 'SIZE_MISMATCH' as soon as more arrive, or at the end if fewer did. */
  expectedBytes?: number | undefined;
  headBytes?: number;
}

/**
 * A pass-through that measures what flows through it. Failing the stream itself on a size mismatch
 * (rather than checking afterwards) means a writer downstream never commits the bad object and an
 * oversized body is cut off early instead of being stored in full first.
 */
export class StreamInspector extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private readonly headChunks: Buffer[] = [];
  private headLength = 0;
  private count = 0;
  private final: InspectResult | undefined;
  private readonly expectedBytes: number | undefined;
  private readonly headBytes: number;

  constructor(options: InspectOptions = {}) {
    super();
    if (options.expectedBytes !== undefined && !(Number.isSafeInteger(options.expectedBytes) && options.expectedBytes >= 0)) {
      throw new RangeError(`expectedBytes must be a non-negative integer (got ${options.expectedBytes})`);
    }
    this.expectedBytes = options.expectedBytes;
    this.headBytes = options.headBytes ?? SNIFF_BYTES;
  }

  /** Bytes seen so far; final once the stream has ended. */
  get bytes(): number {
    return this.count;
  }

  /** Available after the readable side has been fully consumed ('end'); throws before that. */
  result(): InspectResult {
    if (!this.final) throw new Error('inspectStream: result() called before the stream ended');
    return this.final;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.count += chunk.length;
    if (this.expectedBytes !== undefined && this.count > this.expectedBytes) {
      callback(this.mismatch(`more than the expected ${this.expectedBytes} bytes arrived`));
      return;
    }
    this.hash.update(chunk);
    if (this.headLength < this.headBytes) {
      const take = chunk.subarray(0, this.headBytes - this.headLength);
      // Copy: the producer may reuse its buffer after we hand the chunk on.
      this.headChunks.push(Buffer.from(take));
      this.headLength += take.length;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expectedBytes !== undefined && this.count !== this.expectedBytes) {
      callback(this.mismatch(`expected ${this.expectedBytes} bytes, got ${this.count}`));
      return;
    }
    this.final = { bytes: this.count, sha256: this.hash.digest('hex'), head: Buffer.concat(this.headChunks) };
    callback();
  }

  private mismatch(message: string): StorageError {
    return new StorageError('SIZE_MISMATCH', message);
  }
}

export function inspectStream(options?: InspectOptions): StreamInspector {
  return new StreamInspector(options);
}
