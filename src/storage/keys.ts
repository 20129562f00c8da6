import { StorageError } from './types.js';

/** S3's own limit (in bytes; our keys are ASCII so characters equal bytes). */
const MAX_KEY_LENGTH = 1024;

const EXTENSION_BY_TYPE: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  // Non-standard spellings that upstream servers still send.
  'image/jpg': 'jpg',
  'image/pjpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
  // Beyond the original list because sniff() can report them; without these they would be stored as .bin.
  'image/avif': 'avif',
  'video/x-matroska': 'mkv',
  'video/mp4': 'mp4',
  'video/webm': 'webm',
  'video/quicktime': 'mov',
};

const TYPE_BY_EXTENSION: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  mkv: 'video/x-matroska',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mov: 'video/quicktime',
};

const OCTET_STREAM = 'application/octet-stream';

/** `outputs/<owner>/<job>/<index>.<ext>`; every part is checked so a hostile id cannot escape the prefix. */
export function outputKey(ownerId: string | number, jobId: string, index: number, ext: string): string {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new StorageError('INVALID_KEY', `output index must be a non-negative integer (got ${index})`);
  }
  const extension = ext.replace(/^\./, '').toLowerCase();
  for (const [label, part] of [
    ['owner id', String(ownerId)],
    ['job id', jobId],
    ['extension', extension],
  ] as const) {
    if (part === '' || part.includes('/')) {
      throw new StorageError('INVALID_KEY', `${label} must be a non-empty single path segment (got ${JSON.stringify(part)})`);
    }
  }
  const key = `outputs/${ownerId}/${jobId}/${index}.${extension}`;
  assertSafeKey(key);
  return key;
}

/** File extension (without the dot) for a MIME type; parameters and case are ignored; unknown → 'bin'. */
export function extensionFor(contentType: string): string {
  return EXTENSION_BY_TYPE[essence(contentType)] ?? 'bin';
}

/** MIME type to serve a key with, from its extension; unknown → application/octet-stream. */
export function contentTypeForKey(key: string): string {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return OCTET_STREAM;
  return TYPE_BY_EXTENSION[name.slice(dot + 1).toLowerCase()] ?? OCTET_STREAM;
}

/**
 * Keys become file paths (local driver) and URL paths (both drivers), so only a small, URL-safe
 * alphabet is allowed and anything that a path resolver would reinterpret is refused.
 */
export function assertSafeKey(key: string): void {
  const reject = (why: string): never => {
    throw new StorageError('INVALID_KEY', `invalid storage key ${JSON.stringify(key)}: ${why}`);
  };
  if (typeof key !== 'string' || key.length === 0) reject('empty');
  if (key.length > MAX_KEY_LENGTH) reject(`longer than ${MAX_KEY_LENGTH} characters`);
  if (key.includes('\\')) reject('backslash');
  if (key.startsWith('/')) reject('absolute path');
  if (key.includes('..')) reject('".." is not allowed');
  if (!/^[A-Za-z0-9._/-]+$/.test(key)) reject('only A-Z a-z 0-9 . _ / - are allowed');
  for (const segment of key.split('/')) {
    if (segment === '') reject('empty path segment');
    // `a/./b` and `a/b` would be the same file but different S3 objects.
    if (segment === '.') reject('"." segment');
  }
}

function essence(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}
