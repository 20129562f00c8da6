import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { AssetKind } from '../domain.js';
import { AppError } from '../errors.js';
import type { FalTransport } from '../fal/client.js';
import { extensionFor, outputKey } from '../storage/keys.js';
import { imageDimensions, sniffContentType } from '../storage/sniff.js';
import type { StorageDriver } from '../storage/types.js';

/** One media file in a fal result, with what fal declared about it. */
export interface FalOutputFile {
  url: string;
  contentType?: string;
  fileSize?: number;
  width?: number;
  height?: number;
  durationSeconds?: number;
}

export interface FalOutputs {
  files: FalOutputFile[];
  seed?: number;
  nsfw: boolean[];
  inferenceMs?: number;
}

type UnknownRecord = Record<string, unknown>;
const isRecord = (value: unknown): value is UnknownRecord => typeof value === 'object' && value !== null && !Array.isArray(value);
const numberOf = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

function toOutputFile(value: unknown): FalOutputFile | undefined {
  if (!isRecord(value) || typeof value.url !== 'string') return undefined;
  const file: FalOutputFile = { url: value.url };
  if (typeof value.content_type === 'string') file.contentType = value.content_type;
  const size = numberOf(value.file_size);
  if (size !== undefined) file.fileSize = size;
  const width = numberOf(value.width);
  const height = numberOf(value.height);
  if (width !== undefined) file.width = width;
  if (height !== undefined) file.height = height;
  const duration = numberOf(value.duration);
  if (duration !== undefined) file.durationSeconds = duration;
  return file;
}

/** Reads the media out of a fal result: `images[]`/`image` for image models, `video`/`videos[]` for video models. */
export function extractOutputs(data: unknown, kind: AssetKind): FalOutputs {
  if (!isRecord(data)) throw new AppError('PROVIDER_UNAVAILABLE', 'fal returned no result', {}, { retryable: false });
  const candidates: unknown[] =
    kind === 'image'
      ? [...(Array.isArray(data.images) ? data.images : []), ...(data.image ? [data.image] : [])]
      : [...(data.video ? [data.video] : []), ...(Array.isArray(data.videos) ? data.videos : [])];
  const files = candidates.map(toOutputFile).filter((file): file is FalOutputFile => file !== undefined);
  if (files.length === 0) {
    throw new AppError('PROVIDER_UNAVAILABLE', `fal returned no ${kind}`, {}, { retryable: false });
  }
  const outputs: FalOutputs = {
    files,
    nsfw: Array.isArray(data.has_nsfw_concepts) ? data.has_nsfw_concepts.map((flag) => flag === true) : [],
  };
  const seed = numberOf(data.seed);
  if (seed !== undefined) outputs.seed = seed;
  const inference = isRecord(data.timings) ? numberOf(data.timings.inference) : undefined;
  if (inference !== undefined) outputs.inferenceMs = Math.round(inference * 1000);
  return outputs;
}

/** A failure while copying a finished result into our storage: retried until it is saved. */
export class SaveError extends AppError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('STORAGE_FAILED', message, {}, { ...options, retryable: true });
    this.name = 'SaveError';
  }
}

const HEAD_BYTES = 64 * 1024;

/**
 * Reads from a web stream until `HEAD_BYTES` (or the end) so the real type can be sniffed before the
 * object is named, then hands back a Node stream that replays those bytes followed by the rest.
 * Memory stays bounded by one head plus the storage driver's buffers, whatever the file's size.
 */
async function peekHead(body: WebReadableStream<Uint8Array>): Promise<{ head: Buffer; stream: Readable }> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  let finished = false;
  while (length < HEAD_BYTES) {
    const { done, value } = await reader.read();
    if (done) {
      finished = true;
      break;
    }
    chunks.push(value);
    length += value.byteLength;
  }
  const head = Buffer.concat(chunks);
  async function* replay() {
    yield head;
    if (finished) return;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  return { head, stream: Readable.from(replay(), { objectMode: false }) };
}

const familyOf = (contentType: string | undefined) => contentType?.split('/')[0]?.toLowerCase();

export interface RehostOptions {
  storage: StorageDriver;
  transport: FalTransport;
  ownerId: number;
  jobId: string;
  position: number;
  kind: AssetKind;
  signal?: AbortSignal;
}

export interface RehostedFile {
  storageKey: string;
  contentType: string;
  bytes: number;
  sha256: string;
  width?: number;
  height?: number;
  durationSeconds?: number;
}

/**
 * Streams one fal output into our storage. The type is taken from the bytes (checked against what fal
 * declared), the size against fal's declared size or Content-Length; a mismatch discards the object.
 */
export async function rehostOutput(file: FalOutputFile, options: RehostOptions): Promise<RehostedFile> {
  let response: Response;
  try {
    response = await options.transport.fetch(file.url, options.signal ? { signal: options.signal } : {});
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new SaveError(`downloading output ${options.position} failed: ${(error as Error).message}`, { cause: error });
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new SaveError(`downloading output ${options.position} answered HTTP ${response.status}`);
  }
  const headerLength = Number(response.headers.get('content-length') ?? Number.NaN);
  const expectedBytes = file.fileSize ?? (Number.isFinite(headerLength) ? headerLength : undefined);
  const declaredType = file.contentType ?? response.headers.get('content-type')?.split(';')[0]?.trim();

  const { head, stream } = await peekHead(response.body as WebReadableStream<Uint8Array>);
  const sniffed = sniffContentType(head);
  const contentType = sniffed ?? (familyOf(declaredType) === options.kind ? declaredType : undefined);
  if (!contentType || familyOf(contentType) !== options.kind) {
    stream.destroy();
    throw new SaveError(
      `output ${options.position} is not ${options.kind === 'image' ? 'an image' : 'a video'} (declared ${declaredType ?? 'nothing'}, bytes look like ${sniffed ?? 'unknown'})`,
    );
  }
  const storageKey = outputKey(options.ownerId, options.jobId, options.position, extensionFor(contentType));
  try {
    const stored = await options.storage.put(storageKey, stream, {
      contentType,
      ...(expectedBytes !== undefined ? { expectedBytes } : {}),
    });
    const dimensions = options.kind === 'image' ? imageDimensions(head) : undefined;
    const width = dimensions?.width ?? file.width;
    const height = dimensions?.height ?? file.height;
    const durationSeconds = options.kind === 'video' ? (mp4DurationSeconds(head) ?? file.durationSeconds) : undefined;
    return {
      storageKey,
      contentType,
      bytes: stored.bytes,
      sha256: stored.sha256,
      ...(width !== undefined ? { width } : {}),
      ...(height !== undefined ? { height } : {}),
      ...(durationSeconds !== undefined ? { durationSeconds } : {}),
    };
  } catch (error) {
    stream.destroy();
    if (options.signal?.aborted) throw error;
    throw new SaveError(`saving output ${options.position} failed: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Reads an MP4/MOV duration from `moov/mvhd` when the movie header sits in the first bytes (fast-start
 * files, which is what generation services write); undefined otherwise.
 */
export function mp4DurationSeconds(head: Buffer): number | undefined {
  const findBox = (from: number, to: number, type: string): { start: number; end: number } | undefined => {
    let offset = from;
    while (offset + 8 <= to) {
      let size = head.readUInt32BE(offset);
      let headerBytes = 8;
      if (size === 1 && offset + 16 <= to) {
        size = Number(head.readBigUInt64BE(offset + 8));
        headerBytes = 16;
      } else if (size === 0) {
        size = to - offset;
      }
      if (size < headerBytes) return undefined;
      if (head.toString('latin1', offset + 4, offset + 8) === type) return { start: offset + headerBytes, end: Math.min(offset + size, to) };
      offset += size;
    }
    return undefined;
  };
  const moov = findBox(0, head.length, 'moov');
  const mvhd = moov && findBox(moov.start, moov.end, 'mvhd');
  if (!mvhd || mvhd.end - mvhd.start < 32) return undefined;
  const version = head.readUInt8(mvhd.start);
  const timescale = version === 1 ? head.readUInt32BE(mvhd.start + 20) : head.readUInt32BE(mvhd.start + 12);
  const duration = version === 1 ? Number(head.readBigUInt64BE(mvhd.start + 24)) : head.readUInt32BE(mvhd.start + 16);
  if (!timescale) return undefined;
  return Math.round((duration / timescale) * 1000) / 1000;
}

/** Video length when the file does not say: what fal declared, else the duration the model was asked for ("5", "8s"). */
export function durationFromInput(input: Record<string, unknown>): number | undefined {
  const raw = input.duration;
  if (typeof raw === 'number') return raw;
  if (typeof raw === 'string') {
    const parsed = Number.parseFloat(raw);
    return Number.isFinite(parsed) ? parsed : undefined;
  }
  return undefined;
}
