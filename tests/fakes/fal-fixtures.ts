// Byte-level fixtures for the fake fal server: real (tiny) PNG / JPEG images, an MP4 header, and
// deterministic pseudo-random byte streams that can be regenerated from any offset, so a 300 MB
// "video" never has to sit in memory.
import { createCipheriv, createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// PNG

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO-HDLC, the one PNG and zip use). */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** Three colour bytes derived from a seed and an image index. */
function seedColour(seed: number, index: number): [number, number, number] {
  const h = createHash('sha256').update(`${seed}:${index}`).digest();
  return [h[0] ?? 0, h[1] ?? 0, h[2] ?? 0];
}

export interface PngOptions {
  /** Picks the colour, so different seeds give different bytes. Default 0. */
  seed?: number;
  /** Index of the image within one output; also changes the colour. Default 0. */
  index?: number;
  /** All-black image (what fal returns for NSFW-flagged images). */
  black?: boolean;
}

/** A real, decodable 8-bit RGB PNG of the given size (a horizontal colour gradient). */
export function makePng(width: number, height: number, options: PngOptions = {}): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`bad PNG size ${width}x${height}`);
  }
  const [r, g, b] = options.black ? [0, 0, 0] : seedColour(options.seed ?? 0, options.index ?? 0);
  const row = Buffer.alloc(1 + width * 3); // filter byte 0 (None) + RGB
  for (let x = 0; x < width; x++) {
    const shade = options.black ? 0 : x & 0x3f;
    row[1 + x * 3] = (r + shade) & 0xff;
    row[2 + x * 3] = (g + shade) & 0xff;
    row[3 + x * 3] = (b + shade) & 0xff;
  }
  const raw = Buffer.alloc(row.length * height);
  for (let y = 0; y < height; y++) row.copy(raw, y * row.length);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  ihdr[10] = 0; // compression
  ihdr[11] = 0; // filter
  ihdr[12] = 0; // interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---------------------------------------------------------------------------------------------
// JPEG

function jpegSegment(marker: number, payload: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([head, payload]);
}

/**
 * A real, decodable baseline greyscale JPEG (uniform mid-grey) of the given size.
 * Each 8x8 block is "DC diff 0, EOB", coded with one-symbol Huffman tables (code '0'), so the
 * scan is 2 bits per block. Width/height are in SOF0 where any size sniffer looks.
 */
export function makeJpeg(width: number, height: number): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 65535 || height > 65535) {
    throw new RangeError(`bad JPEG size ${width}x${height}`);
  }
  const app0 = Buffer.from([0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 0, 0, 1, 0, 1, 0, 0]); // "JFIF\0" v1.1, 1:1
  const dqt = Buffer.concat([Buffer.from([0x00]), Buffer.alloc(64, 1)]);
  const sof0 = Buffer.from([8, 0, 0, 0, 0, 1, 1, 0x11, 0]);
  sof0.writeUInt16BE(height, 1);
  sof0.writeUInt16BE(width, 3);
  const oneSymbolTable = (tcTh: number): Buffer => {
    const counts = Buffer.alloc(16);
    counts[0] = 1; // one code of length 1
    return Buffer.concat([Buffer.from([tcTh]), counts, Buffer.from([0x00])]); // symbol 0 (DC cat 0 / AC EOB)
  };
  const sos = Buffer.from([1, 1, 0x00, 0, 63, 0]);
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const bits = blocks * 2;
  const scan = Buffer.alloc(Math.ceil(bits / 8));
  const rem = bits % 8;
  if (rem !== 0) scan[scan.length - 1] = (1 << (8 - rem)) - 1; // pad the last byte with 1-bits
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    jpegSegment(0xe0, app0),
    jpegSegment(0xdb, dqt),
    jpegSegment(0xc0, sof0),
    jpegSegment(0xc4, oneSymbolTable(0x00)),
    jpegSegment(0xc4, oneSymbolTable(0x10)),
    jpegSegment(0xda, sos),
    scan,
    Buffer.from([0xff, 0xd9]),
  ]);
}

/** Reads width/height from a PNG (IHDR) or JPEG (SOFn) header; undefined if neither. */
export function sniffImageSize(bytes: Buffer): { type: 'png' | 'jpeg'; width: number; height: number } | undefined {
  if (bytes.length >= 24 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.toString('ascii', 12, 16) === 'IHDR') {
    return { type: 'png', width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) return undefined;
      const marker = bytes[i + 1] ?? 0;
      const length = bytes.readUInt16BE(i + 2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { type: 'jpeg', height: bytes.readUInt16BE(i + 5), width: bytes.readUInt16BE(i + 7) };
      }
      i += 2 + length;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// MP4

function box(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + payload.length, 0);
  head.write(type, 4, 'ascii');
  return Buffer.concat([head, payload]);
}

/** Smallest total size {@link mp4Header} can describe (ftyp + moov/mvhd + an empty mdat header). */
export const MIN_MP4_BYTES = 32 + 116 + 8;

/**
 * The leading boxes of an MP4 file that is `totalBytes` long: `ftyp` (isom), `moov` holding an
 * `mvhd` with the duration, and the header of an `mdat` box that spans the rest of the file.
 * Append `totalBytes - header.length` payload bytes and the box structure is consistent.
 */
export function mp4Header(totalBytes: number, durationSeconds: number): Buffer {
  if (totalBytes < MIN_MP4_BYTES) throw new RangeError(`an MP4 needs at least ${MIN_MP4_BYTES} bytes`);
  const ftyp = box('ftyp', Buffer.concat([Buffer.from('isom'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2avc1mp41')]));
  const mvhd = Buffer.alloc(100);
  // version/flags 0, creation 0, modification 0
  mvhd.writeUInt32BE(1000, 12); // timescale
  mvhd.writeUInt32BE(Math.round(durationSeconds * 1000), 16); // duration
  mvhd.writeUInt32BE(0x00010000, 20); // rate 1.0
  mvhd.writeUInt16BE(0x0100, 24); // volume 1.0
  // matrix (unity) at 36
  mvhd.writeUInt32BE(0x00010000, 36);
  mvhd.writeUInt32BE(0x00010000, 52);
  mvhd.writeUInt32BE(0x40000000, 68);
  mvhd.writeUInt32BE(2, 96); // next_track_ID
  const moov = box('moov', box('mvhd', mvhd));
  const used = ftyp.length + moov.length;
  const mdatSize = totalBytes - used;
  let mdat: Buffer;
  if (mdatSize <= 0xffffffff) {
    mdat = Buffer.alloc(8);
    mdat.writeUInt32BE(mdatSize, 0);
    mdat.write('mdat', 4, 'ascii');
  } else {
    mdat = Buffer.alloc(16);
    mdat.writeUInt32BE(1, 0); // 64-bit "largesize" follows
    mdat.write('mdat', 4, 'ascii');
    mdat.writeBigUInt64BE(BigInt(mdatSize), 8);
  }
  return Buffer.concat([ftyp, moov, mdat]);
}

// ---------------------------------------------------------------------------------------------
// Deterministic big bytes

/**
 * Bytes [start, end) of an endless pseudo-random stream defined by `seed` (AES-128-CTR keystream
 * of sha256(seed)), in chunks of at most `chunkSize`. Any offset can be produced without
 * generating what comes before it, so ranges are cheap.
 */
export function* seededBytes(seed: string, start: number, end: number, chunkSize = 256 * 1024): Generator<Buffer> {
  if (end <= start) return;
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(Math.floor(start / 16)), 8);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  const skip = start % 16;
  if (skip) cipher.update(Buffer.alloc(skip));
  const zeros = Buffer.alloc(chunkSize);
  for (let pos = start; pos < end; ) {
    const n = Math.min(chunkSize, end - pos);
    yield cipher.update(n === chunkSize ? zeros : zeros.subarray(0, n));
    pos += n;
  }
}

/** Hex sha256 of a sequence of chunks; yields to the event loop between chunks. */
export async function sha256Of(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  let n = 0;
  for await (const chunk of chunks) {
    hash.update(chunk);
    if (++n % 64 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return hash.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// OpenAPI

export interface OpenApiDocOptions {
  endpointId: string;
  category?: string;
  /** JSON-schema properties of the `<Name>Input` schema. */
  inputProperties?: Record<string, unknown>;
  required?: string[];
  /** JSON-schema properties of the `<Name>Output` schema. Default: FLUX-like `images`/`seed`. */
  outputProperties?: Record<string, unknown>;
  title?: string;
  description?: string;
}

/** A small OpenAPI 3.0.4 document shaped like fal's per-endpoint queue schema (see fal-protocol.md §6). */
export function makeOpenApiDoc(options: OpenApiDocOptions): Record<string, unknown> {
  const name = options.endpointId
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]?.toUpperCase() + part.slice(1))
    .join('');
  const id = options.endpointId;
  const inputProperties = options.inputProperties ?? {
    prompt: { type: 'string', title: 'Prompt', examples: ['a cat'] },
    num_images: { type: 'integer', default: 1, minimum: 1, maximum: 4 },
  };
  const outputProperties = options.outputProperties ?? {
    images: { type: 'array', items: { $ref: '#/components/schemas/Image' } },
    seed: { type: 'integer' },
  };
  return {
    openapi: '3.0.4',
    info: {
      title: options.title ?? `Queue OpenAPI for ${id}`,
      version: '1.0.0',
      description: options.description ?? `The OpenAPI schema for the ${id} queue.`,
      'x-fal-metadata': {
        endpointId: id,
        category: options.category ?? 'text-to-image',
        thumbnailUrl: 'https://v3.fal.media/files/thumb.png',
        playgroundUrl: `https://fal.ai/models/${id}`,
        documentationUrl: `https://fal.ai/models/${id}/api`,
      },
    },
    components: {
      securitySchemes: { apiKeyAuth: { type: 'apiKey', in: 'header', name: 'Authorization' } },
      schemas: {
        QueueStatus: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED'] },
            request_id: { type: 'string' },
          },
          required: ['status', 'request_id'],
        },
        [`${name}Input`]: {
          title: `${name}Input`,
          type: 'object',
          properties: inputProperties,
          'x-fal-order-properties': Object.keys(inputProperties),
          required: options.required ?? (inputProperties['prompt'] ? ['prompt'] : []),
        },
        [`${name}Output`]: {
          title: `${name}Output`,
          type: 'object',
          properties: outputProperties,
          'x-fal-order-properties': Object.keys(outputProperties),
          required: Object.keys(outputProperties),
        },
        Image: {
          type: 'object',
          properties: {
            url: { type: 'string' },
            width: { type: 'integer' },
            height: { type: 'integer' },
            content_type: { type: 'string', default: 'image/jpeg' },
          },
          required: ['url'],
        },
      },
    },
    paths: {
      [`/${id}`]: {
        post: {
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}Input` } } } },
          responses: { '200': { description: 'The request status.', content: { 'application/json': { schema: { $ref: '#/components/schemas/QueueStatus' } } } } },
        },
      },
      [`/${id}/requests/{request_id}`]: {
        get: {
          parameters: [{ name: 'request_id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': { description: 'Result of the request.', content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}Output` } } } } },
        },
      },
    },
    servers: [{ url: 'https://queue.fal.run' }],
    security: [{ apiKeyAuth: [] }],
  };
}
