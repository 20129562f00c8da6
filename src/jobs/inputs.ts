import type { InputBucket } from '../domain.js';
import { AppError } from '../errors.js';
import { sniffContentType } from '../storage/sniff.js';
import type { StorageDriver } from '../storage/types.js';
import type { InputFileRef } from './types.js';

/** What each bucket accepts, by content family. */
const BUCKET_FAMILY: Record<InputBucket, 'image' | 'video'> = {
  references: 'image',
  first_frame: 'image',
  last_frame: 'image',
  video: 'video',
};

export const ACCEPTED_INPUT_TYPES: Record<'image' | 'video', readonly string[]> = {
  image: ['image/png', 'image/jpeg', 'image/webp', 'image/gif'],
  video: ['video/mp4', 'video/webm', 'video/quicktime'],
};

export interface InputFetchOptions {
  maxBytes: number;
  fetch: typeof fetch;
  /** Where `storageKey` inputs (our own outputs) are read from. */
  storage?: StorageDriver;
  /** Bearer token for Slack's `url_private` files, from the worker's config. */
  slackBotToken?: string | undefined;
  signal?: AbortSignal;
}

/**
 * The cheap check that runs in the chat process before a job exists, on what the platform declared.
 * The worker repeats the check on the real bytes (`fetchInputFile`).
 */
export function checkDeclaredInput(ref: Pick<InputFileRef, 'bucket' | 'contentType' | 'size' | 'filename'>, maxBytes: number): void {
  if (ref.size !== undefined && ref.size > maxBytes) {
    throw new AppError('INPUT_TOO_LARGE', `${ref.filename ?? 'attachment'} is ${ref.size} bytes`, { maxBytes });
  }
  const family = BUCKET_FAMILY[ref.bucket];
  if (ref.contentType !== undefined) {
    const type = ref.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    if (!ACCEPTED_INPUT_TYPES[family].includes(type)) {
      throw new AppError('BAD_INPUT_FILE', `unsupported ${ref.bucket} type ${type}`, {
        reason: `${ref.filename ?? 'the file'} is ${type || 'of an unknown type'}, but ${describeBucket(ref.bucket)} must be ${describeTypes(family)}`,
        allowed: [...ACCEPTED_INPUT_TYPES[family]],
      });
    }
  }
}

function describeBucket(bucket: InputBucket): string {
  return bucket === 'references' ? 'reference images' : bucket === 'video' ? 'the video input' : `the ${bucket.replace('_', ' ')}`;
}

function describeTypes(family: 'image' | 'video'): string {
  return family === 'image' ? 'a PNG, JPEG, WebP or GIF image' : 'an MP4, WebM or QuickTime video';
}

/**
 * Downloads one attachment with a hard size cap (it is read at most once past the cap, then
 * aborted), and checks its real type from its bytes. Inputs are small (MAX_INPUT_BYTES), and fal's
 * upload needs a Blob, so they are held in memory; outputs never are.
 */
export async function fetchInputFile(ref: InputFileRef, options: InputFetchOptions): Promise<File> {
  // The declared type is not trusted here: the bytes decide below.
  checkDeclaredInput({ bucket: ref.bucket, ...(ref.size !== undefined ? { size: ref.size } : {}), ...(ref.filename ? { filename: ref.filename } : {}) }, options.maxBytes);
  const headers: Record<string, string> = {};
  if (ref.auth === 'slack') {
    if (!options.slackBotToken) throw new AppError('BAD_INPUT_FILE', 'no Slack token to fetch a Slack file', { reason: 'the Slack file could not be read' });
    headers.authorization = `Bearer ${options.slackBotToken}`;
  }
  if (ref.storageKey && options.storage) return readStoredInput(ref, ref.storageKey, options.storage, options.maxBytes);
  let response: Response;
  try {
    response = await options.fetch(ref.url, { headers, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new AppError('BAD_INPUT_FILE', `fetching ${ref.filename ?? 'attachment'} failed`, { reason: `${ref.filename ?? 'the attachment'} could not be downloaded` }, { cause: error, retryable: true });
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new AppError('BAD_INPUT_FILE', `attachment answered HTTP ${response.status}`, {
      reason: `${ref.filename ?? 'the attachment'} could not be downloaded (HTTP ${response.status}); it may have expired`,
    });
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    await response.body.cancel();
    throw new AppError('INPUT_TOO_LARGE', `attachment is ${declared} bytes`, { maxBytes: options.maxBytes });
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > options.maxBytes) {
      await reader.cancel();
      throw new AppError('INPUT_TOO_LARGE', 'attachment exceeded the limit while downloading', { maxBytes: options.maxBytes });
    }
    chunks.push(value);
  }
  return checkedFile(ref, Buffer.concat(chunks));
}

async function readStoredInput(ref: InputFileRef, key: string, storage: StorageDriver, maxBytes: number): Promise<File> {
  let stored;
  try {
    stored = await storage.read(key);
  } catch (error) {
    throw new AppError('BAD_INPUT_FILE', 'stored input is gone', { reason: 'that result was deleted' }, { cause: error });
  }
  if (stored.size > maxBytes) {
    stored.body.destroy();
    throw new AppError('INPUT_TOO_LARGE', `stored input is ${stored.size} bytes`, { maxBytes });
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stored.body) chunks.push(chunk as Buffer);
  return checkedFile(ref, Buffer.concat(chunks));
}

/** The real type, from the bytes, must suit the bucket. */
function checkedFile(ref: InputFileRef, bytes: Buffer<ArrayBuffer>): File {
  const family = BUCKET_FAMILY[ref.bucket];
  const sniffed = sniffContentType(bytes.subarray(0, 64 * 1024));
  if (!sniffed || !ACCEPTED_INPUT_TYPES[family].includes(sniffed)) {
    throw new AppError('BAD_INPUT_FILE', `attachment bytes are ${sniffed ?? 'unknown'}`, {
      reason: `${ref.filename ?? 'the file'} is not ${describeTypes(family)}`,
      allowed: [...ACCEPTED_INPUT_TYPES[family]],
    });
  }
  return new File([bytes], ref.filename ?? `input.${sniffed.split('/')[1] ?? 'bin'}`, { type: sniffed });
}
