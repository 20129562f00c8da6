import type { Readable } from 'node:stream';

export interface PutOptions {
  contentType: string;
  /** declared length, if known; verified */
  expectedBytes?: number;
}

export interface StoredObject {
  key: string;
  bytes: number;
  /** hex */
  sha256: string;
  contentType: string;
}

export interface ByteRange {
  start: number;
  /** inclusive */
  end?: number;
}

export interface ReadResult {
  body: Readable;
  /** total object size, not the length of the range */
  size: number;
  contentType: string;
  /** Present when a range was asked for; `end` is clamped to the last byte of the object. */
  range?: { start: number; end: number };
}

export interface StorageDriver {
  readonly name: 'local' | 's3';
  /** Streams body into the object at key; never buffers the whole body; computes sha256 and byte count while streaming.
   *  If expectedBytes is given and differs from what arrived, the write is discarded (no partial object left) and a StorageError with code 'SIZE_MISMATCH' is thrown.
   *  Overwrites an existing object at the same key (retries are idempotent). */
  put(key: string, body: Readable, options: PutOptions): Promise<StoredObject>;
  /** Throws StorageError 'NOT_FOUND'; 'INVALID_RANGE' when the range starts past the last byte (HTTP 416). */
  read(key: string, range?: ByteRange): Promise<ReadResult>;
  /** Idempotent: deleting a missing key is fine. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Where a browser/chat client can fetch the object: an absolute URL. Local: `${publicBaseUrl}/media/${key}`; S3 with publicUrl: `${publicUrl}/${key}`; S3 without: `${publicBaseUrl}/media/${key}` (our /media route then redirects to a presigned URL). */
  publicUrl(key: string): string;
  /** S3: a presigned GET URL valid for `expiresSeconds`; local: undefined (the /media route streams the file). */
  presignedUrl(key: string, expiresSeconds?: number): Promise<string | undefined>;
  /** Cheap reachability check for /readyz. */
  check(): Promise<void>;
  /** Releases connections (the S3 client's sockets) on shutdown. */
  destroy?(): void;
}

/**
 * 'INVALID_RANGE' is beyond the original brief: an unsatisfiable range is neither a missing object
 * nor an outage, and the /media route needs to tell it apart to answer 416.
 */
export type StorageErrorCode = 'NOT_FOUND' | 'SIZE_MISMATCH' | 'INVALID_KEY' | 'INVALID_RANGE' | 'UNAVAILABLE';

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}

export function isStorageError(error: unknown, code?: StorageErrorCode): error is StorageError {
  return error instanceof StorageError && (code === undefined || error.code === code);
}
