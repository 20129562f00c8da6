import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tempDir } from './env.js';

/**
 * The slice of s3rver 3.7's API we use. The package ships no types, and loading it through
 * createRequire keeps an ambient `declare module` out of the shared tree.
 */
interface S3rverOptions {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  /** Buckets created on run(); s3rver has no other way to pre-create one without a client call. */
  configureBuckets: { name: string; configs?: Array<string | Buffer> }[];
  /** Path-style only: bucket names are not looked up in the Host header. */
  vhostBuckets: boolean;
}
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: S3rverOptions) => S3rverInstance;

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as S3rverConstructor;

export interface RunningS3rver {
  endpoint: string;
  bucket: string;
  /** s3rver's built-in account; it checks only the access key id and skips SigV4 verification. */
  credentials: { accessKeyId: 'S3RVER'; secretAccessKey: 'S3RVER' };
  close(): Promise<void>;
}

/**
 * A real s3rver on 127.0.0.1 with a random port, its own temp directory and one fresh bucket.
 *
 * Client settings it needs (see src/storage/s3.ts), checked against s3rver 3.7.1 and client-s3 3.1169:
 * - `forcePathStyle: true`: the endpoint is an IP address, so virtual-host buckets cannot work.
 * - `requestChecksumCalculation: 'WHEN_REQUIRED'`: with the default ('WHEN_SUPPORTED') the SDK
 *   sends stream bodies as aws-chunked with a CRC32 trailer, and s3rver, which does not decode
 *   aws-chunked, stores the framing as the object: a PutObject of "hello world" read back as
 *   "b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n". (Buffer bodies, which is
 *   what lib-storage's Upload sends, get a plain checksum header instead and survive.)
 * - `responseChecksumValidation: 'WHEN_REQUIRED'`: not strictly needed for s3rver, which returns no
 *   checksum headers so there is nothing to validate; other S3-compatibles need it.
 * - Any region works; credentials must use the S3RVER access key id (secrets and SigV4 signatures
 *   are not verified, so these tests cannot catch signing mistakes).
 * s3rver does not implement AbortMultipartUpload (it answers 405), so a failed multipart upload
 * leaves its parts in s3rver's directory; that directory is removed on close.
 */
export async function startS3rver(): Promise<RunningS3rver> {
  const directory = await tempDir('atelier-s3rver');
  const bucket = `atelier-test-${randomBytes(6).toString('hex')}`;
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: directory.path,
    configureBuckets: [{ name: bucket }],
    vhostBuckets: false,
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (error) {
    await directory.cleanup();
    throw error;
  }
  let closed = false;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await server.close();
      } finally {
        await directory.cleanup();
      }
    },
  };
}
