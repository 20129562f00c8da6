import type { StorageConfig } from '../config.js';
import { LocalStorage } from './local.js';
import { S3Storage } from './s3.js';
import type { StorageDriver } from './types.js';

export interface CreateStorageOptions {
  /** The bot's own public origin (config.publicUrl); /media URLs hang off it. */
  publicBaseUrl: string;
  /** Static S3 credentials; without them the standard AWS provider chain is used. */
  s3Credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

export function createStorage(config: StorageConfig, options: CreateStorageOptions): StorageDriver {
  if (config.driver === 'local') {
    return new LocalStorage({ dir: config.dir, publicBaseUrl: options.publicBaseUrl });
  }
  return new S3Storage({
    bucket: config.bucket,
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle,
    publicUrl: config.publicUrl,
    publicBaseUrl: options.publicBaseUrl,
    credentials: options.s3Credentials,
  });
}

export * from './types.js';
export { assertSafeKey, contentTypeForKey, extensionFor, outputKey } from './keys.js';
export { imageDimensions, inspectStream, sniff, sniffContentType, SNIFF_BYTES, StreamInspector } from './sniff.js';
export type { InspectOptions, InspectResult, Sniffed } from './sniff.js';
export { LocalStorage, LOCAL_TEMP_DIR } from './local.js';
export type { LocalStorageOptions } from './local.js';
export { S3Storage } from './s3.js';
export type { S3StorageOptions } from './s3.js';
