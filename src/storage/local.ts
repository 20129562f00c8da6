import { randomUUID } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { access, mkdir, open, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertSafeKey, contentTypeForKey } from './keys.js';
import { assertValidRange, resolveRange } from './range.js';
import { inspectStream } from './sniff.js';
import {
  StorageError,
  type ByteRange,
  type PutOptions,
  type ReadResult,
  type StorageDriver,
  type StoredObject,
} from './types.js';

/**
 * Partial writes live here until they are renamed into place. It sits inside the storage root so the
 * rename stays on one filesystem (and so is atomic), and its name contains '~', which no key may
 * contain, so no key can ever address it. Leftovers after a crash can be deleted at any time.
 */
export const LOCAL_TEMP_DIR = '~tmp';

export interface LocalStorageOptions {
  dir: string;
  /** The bot's own public origin; the /media route serves files from here. */
  publicBaseUrl: string;
}

/**
 * Files under one directory, named by key. There is no metadata sidecar: the content type comes
 * from the key's extension, which `outputKey(…, extensionFor(type))` always sets.
 */
export class LocalStorage implements StorageDriver {
  readonly name = 'local' as const;
  readonly root: string;
  private readonly tempDir: string;
  private readonly publicBase: string;

  constructor(options: LocalStorageOptions) {
    this.root = resolve(options.dir);
    this.tempDir = join(this.root, LOCAL_TEMP_DIR);
    this.publicBase = options.publicBaseUrl.replace(/\/+$/, '');
  }

  /** The returned contentType is the one `read` will serve (from the key), which may differ from options.contentType. */
  async put(key: string, body: Readable, options: PutOptions): Promise<StoredObject> {
    let target: string;
    try {
      target = this.pathFor(key);
    } catch (error) {
      // The caller handed the body over; not consuming it must not leave its source (a socket) open.
      body.destroy();
      throw error;
    }
    const temp = join(this.tempDir, `${randomUUID()}.partial`);
    const inspector = inspectStream({ expectedBytes: options.expectedBytes });
    try {
      await Promise.all([mkdir(dirname(target), { recursive: true }), mkdir(this.tempDir, { recursive: true })]);
      // 'wx': a UUID collision must not silently share a temp file with another writer.
      await pipeline(body, inspector, createWriteStream(temp, { flags: 'wx' }));
      await rename(temp, target);
    } catch (error) {
      // pipeline already destroyed the body on its own errors; this covers failures before it started.
      body.destroy();
      await rm(temp, { force: true }).catch(() => undefined);
      throw this.classify(error, `cannot write ${key}`);
    }
    const { bytes, sha256 } = inspector.result();
    return { key, bytes, sha256, contentType: contentTypeForKey(key) };
  }

  async read(key: string, range?: ByteRange): Promise<ReadResult> {
    const path = this.pathFor(key);
    if (range) assertValidRange(range);
    let handle: FileHandle;
    try {
      // Open first and stat the handle: a concurrent overwrite (rename) cannot then make size and body disagree.
      handle = await open(path, 'r');
    } catch (error) {
      if (isMissing(error)) throw notFound(key);
      throw new StorageError('UNAVAILABLE', `cannot open ${key}`, { cause: error });
    }
    try {
      const info = await handle.stat();
      // Directories are prefixes of other keys, not objects.
      if (!info.isFile()) throw notFound(key);
      const contentType = contentTypeForKey(key);
      if (!range) return { body: handle.createReadStream(), size: info.size, contentType };
      const resolved = resolveRange(range, info.size);
      return { body: handle.createReadStream(resolved), size: info.size, contentType, range: resolved };
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error instanceof StorageError ? error : new StorageError('UNAVAILABLE', `cannot read ${key}`, { cause: error });
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathFor(key);
    try {
      await unlink(path);
    } catch (error) {
      if (isMissing(error)) return;
      // unlink on a directory fails with EISDIR (Linux) or EPERM (macOS); a directory is not an object.
      if (hasCode(error, 'EISDIR', 'EPERM') && (await stat(path).then((s) => s.isDirectory()).catch(() => false))) return;
      throw new StorageError('UNAVAILABLE', `cannot delete ${key}`, { cause: error });
    }
  }

  async exists(key: string): Promise<boolean> {
    const path = this.pathFor(key);
    try {
      return (await stat(path)).isFile();
    } catch (error) {
      if (isMissing(error)) return false;
      throw new StorageError('UNAVAILABLE', `cannot stat ${key}`, { cause: error });
    }
  }

  publicUrl(key: string): string {
    assertSafeKey(key);
    return `${this.publicBase}/media/${key}`;
  }

  async presignedUrl(key: string): Promise<string | undefined> {
    assertSafeKey(key);
    return undefined;
  }

  async check(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true });
      await access(this.root, constants.R_OK | constants.W_OK);
    } catch (error) {
      throw new StorageError('UNAVAILABLE', `storage directory ${this.root} is not writable`, { cause: error });
    }
  }

  private pathFor(key: string): string {
    assertSafeKey(key);
    return join(this.root, key);
  }

  /**
   * Our own filesystem failures become UNAVAILABLE; StorageErrors pass through; anything else came
   * from the caller's body stream and is rethrown untouched so the caller sees its own error.
   */
  private classify(error: unknown, message: string): unknown {
    if (error instanceof StorageError) return error;
    const path = (error as { path?: unknown } | null)?.path;
    if (typeof path === 'string' && (path === this.root || path.startsWith(this.root + sep))) {
      return new StorageError('UNAVAILABLE', message, { cause: error });
    }
    return error;
  }
}

function notFound(key: string): StorageError {
  return new StorageError('NOT_FOUND', `no object at ${key}`);
}

function hasCode(error: unknown, ...codes: string[]): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && codes.includes(code);
}

/** ENOTDIR: a parent "directory" in the key is actually a file, so the key cannot exist either. */
function isMissing(error: unknown): boolean {
  return hasCode(error, 'ENOENT', 'ENOTDIR');
}
