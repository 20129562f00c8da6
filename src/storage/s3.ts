import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertSafeKey, contentTypeForKey } from './keys.js';
import { assertValidRange } from './range.js';
import { inspectStream } from './sniff.js';
import {
  StorageError,
  type ByteRange,
  type PutOptions,
  type ReadResult,
  type StorageDriver,
  type StoredObject,
} from './types.js';

const MiB = 1024 * 1024;
/** S3 allows at most this many parts per multipart upload. */
const MAX_PARTS = 10_000;
/** S3's minimum for every part but the last (lib-storage's own constant is private). */
const MIN_PART_SIZE = 5 * MiB;
/** SigV4 presigned URLs cannot live longer than a week. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const DEFAULT_PRESIGN_SECONDS = 3600;
const CHECK_TIMEOUT_MS = 5_000;

export interface S3StorageOptions {
  bucket: string;
  region: string;
  /** For S3-compatibles (MinIO, R2, s3rver…); omit for AWS. */
  endpoint?: string | undefined;
  forcePathStyle?: boolean | undefined;
  /** A public (CDN or bucket) base URL; without it, clients go through our /media route. */
  publicUrl?: string | undefined;
  /** The bot's own public origin. */
  publicBaseUrl: string;
  /** Static credentials (tests); otherwise the standard AWS provider chain resolves them. */
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  /**
   * Memory for one upload is bounded by about (queueSize + 1) × partSize, whatever the body size:
   * lib-storage buffers whole parts. Defaults: 8 MiB × 4.
   */
  partSize?: number;
  queueSize?: number;
}

export class S3Storage implements StorageDriver {
  readonly name = 's3' as const;
  readonly client: S3Client;
  readonly bucket: string;
  private readonly publicBase: string;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(options: S3StorageOptions) {
    const config: S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle ?? false,
      // Since 3.729 the SDK adds CRC32 checksums to every upload (stream bodies as aws-chunked with a
      // trailer) and validates response checksums. Many S3-compatibles reject or mis-store that:
      // s3rver saves the aws-chunked framing as the object's bytes (tests/helpers/s3rver.ts). Only
      // send checksums when an operation requires them; our own sha256 is the integrity record.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    if (options.endpoint) config.endpoint = options.endpoint;
    if (options.credentials) config.credentials = options.credentials;
    this.client = new S3Client(config);
    this.bucket = options.bucket;
    const base = options.publicUrl ? options.publicUrl : `${options.publicBaseUrl.replace(/\/+$/, '')}/media`;
    this.publicBase = base.replace(/\/+$/, '');
    this.partSize = Math.max(options.partSize ?? 8 * MiB, MIN_PART_SIZE);
    this.queueSize = Math.max(1, options.queueSize ?? 4);
  }

  async put(key: string, body: Readable, options: PutOptions): Promise<StoredObject> {
    try {
      assertSafeKey(key);
    } catch (error) {
      body.destroy();
      throw error;
    }
    const inspector = inspectStream({ expectedBytes: options.expectedBytes });

    // The inspector errors only for causes on our side of the upload: its own SIZE_MISMATCH, or the
    // body's error (or premature close) that pipeline forwards to it. An S3 failure instead closes it
    // without an error. Record it now: lib-storage may replace the original error with its own
    // AbortMultipartUpload failure (s3rver, for one, does not implement that call).
    let streamError: unknown;
    inspector.on('error', (error) => {
      streamError ??= error;
    });
    const piping = pipeline(body, inspector).catch(() => undefined);

    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: inspector, ContentType: options.contentType },
      queueSize: this.queueSize,
      // Grow parts for huge declared sizes so the part count stays under S3's limit.
      partSize: Math.max(this.partSize, Math.ceil((options.expectedBytes ?? 0) / MAX_PARTS)),
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      inspector.destroy();
      body.destroy();
      await piping;
      if (streamError !== undefined) throw streamError;
      throw new StorageError('UNAVAILABLE', `cannot upload ${key} to bucket ${this.bucket}`, { cause: error });
    }
    await piping;

    const { bytes, sha256 } = inspector.result();
    if (options.expectedBytes !== undefined && bytes !== options.expectedBytes) {
      // Unreachable while the inspector fails the stream first; kept so a mismatched object can never survive.
      await this.delete(key);
      throw new StorageError('SIZE_MISMATCH', `expected ${options.expectedBytes} bytes, got ${bytes}`);
    }
    return { key, bytes, sha256, contentType: options.contentType };
  }

  async read(key: string, range?: ByteRange): Promise<ReadResult> {
    assertSafeKey(key);
    if (range) assertValidRange(range);
    let response;
    try {
      response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end ?? ''}` : undefined,
        }),
      );
    } catch (error) {
      if (isNotFound(error)) throw new StorageError('NOT_FOUND', `no object at ${key}`, { cause: error });
      if (statusOf(error) === 416 || nameOf(error) === 'InvalidRange') {
        throw new StorageError('INVALID_RANGE', `range ${range?.start}-${range?.end ?? ''} is not satisfiable for ${key}`, {
          cause: error,
        });
      }
      throw new StorageError('UNAVAILABLE', `cannot read ${key} from bucket ${this.bucket}`, { cause: error });
    }

    const body = response.Body;
    if (!(body instanceof Readable)) {
      // The Node runtime always yields an IncomingMessage; anything else means a foreign request handler.
      throw new StorageError('UNAVAILABLE', `unexpected body type for ${key}`);
    }
    const contentType = response.ContentType ?? contentTypeForKey(key);
    if (!range) return { body, size: response.ContentLength ?? 0, contentType };

    const parsed = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.ContentRange ?? '');
    if (!parsed) {
      body.destroy();
      throw new StorageError('UNAVAILABLE', `the server ignored the Range request for ${key}`);
    }
    const [start, end, size] = [Number(parsed[1]), Number(parsed[2]), Number(parsed[3])];
    if (start >= size) {
      // Some S3-compatibles (s3rver) answer 206 "bytes 0-0/0" for an empty object; AWS answers 416.
      body.destroy();
      throw new StorageError('INVALID_RANGE', `range start ${start} is beyond the object (${size} bytes)`);
    }
    return { body, size, contentType, range: { start, end } };
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (isNotFound(error)) return;
      throw new StorageError('UNAVAILABLE', `cannot delete ${key} from bucket ${this.bucket}`, { cause: error });
    }
  }

  async exists(key: string): Promise<boolean> {
    assertSafeKey(key);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw new StorageError('UNAVAILABLE', `cannot check ${key} in bucket ${this.bucket}`, { cause: error });
    }
  }

  publicUrl(key: string): string {
    assertSafeKey(key);
    return `${this.publicBase}/${key}`;
  }

  async presignedUrl(key: string, expiresSeconds = DEFAULT_PRESIGN_SECONDS): Promise<string> {
    assertSafeKey(key);
    if (!Number.isInteger(expiresSeconds) || expiresSeconds < 1 || expiresSeconds > MAX_PRESIGN_SECONDS) {
      throw new RangeError(`expiresSeconds must be an integer from 1 to ${MAX_PRESIGN_SECONDS} (got ${expiresSeconds})`);
    }
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: expiresSeconds });
  }

  async check(): Promise<void> {
    try {
      // A readiness probe must answer quickly even when the endpoint black-holes packets.
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
    } catch (error) {
      throw new StorageError('UNAVAILABLE', `bucket ${this.bucket} is not reachable`, { cause: error });
    }
  }

  /** Closes pooled sockets; call on shutdown (not part of StorageDriver because the local driver holds none). */
  destroy(): void {
    this.client.destroy();
  }
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function nameOf(error: unknown): string | undefined {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : undefined;
}

function isNotFound(error: unknown): boolean {
  const name = nameOf(error);
  // A missing bucket is a misconfiguration, not a missing object.
  if (name === 'NoSuchBucket') return false;
  return statusOf(error) === 404 || name === 'NoSuchKey' || name === 'NotFound';
}
