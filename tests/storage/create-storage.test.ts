import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StorageConfig } from '../../src/config.js';
import { createStorage, LocalStorage, S3Storage, type StorageDriver } from '../../src/storage/index.js';
import { tempDir } from '../helpers/env.js';

const publicBaseUrl = 'https://atelier.example/';
const key = 'outputs/42/job_1/0.png';

describe('createStorage', () => {
  const created: StorageDriver[] = [];
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    dir = await tempDir('atelier-create-storage');
  });
  afterAll(async () => {
    for (const driver of created) if (driver instanceof S3Storage) driver.destroy();
    await dir?.cleanup();
  });

  function make(config: StorageConfig): StorageDriver {
    const driver = createStorage(config, {
      publicBaseUrl,
      s3Credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    created.push(driver);
    return driver;
  }

  it('builds the local driver with /media URLs on our origin and no presigning', async () => {
    const storage = make({ driver: 'local', dir: dir.path });
    expect(storage).toBeInstanceOf(LocalStorage);
    expect(storage.name).toBe('local');
    expect(storage.publicUrl(key)).toBe('https://atelier.example/media/outputs/42/job_1/0.png');
    expect(await storage.presignedUrl(key)).toBeUndefined();
    await storage.check();
  });

  const s3Base = {
    driver: 's3',
    bucket: 'atelier-media',
    region: 'eu-west-3',
    endpoint: undefined,
    forcePathStyle: false,
    publicUrl: undefined,
  } as const;

  it('builds the S3 driver that sends clients through /media when there is no public URL', () => {
    const storage = make(s3Base);
    expect(storage).toBeInstanceOf(S3Storage);
    expect(storage.name).toBe('s3');
    expect(storage.publicUrl(key)).toBe('https://atelier.example/media/outputs/42/job_1/0.png');
  });

  it('uses the public bucket/CDN URL when configured', () => {
    const storage = make({ ...s3Base, publicUrl: 'https://cdn.example/atelier' });
    expect(storage.publicUrl(key)).toBe('https://cdn.example/atelier/outputs/42/job_1/0.png');
  });

  it('presigns for AWS virtual-host style by default and path style when forced', async () => {
    const aws = await make(s3Base).presignedUrl(key, 300);
    const awsUrl = new URL(aws ?? '');
    expect(awsUrl.host).toBe('atelier-media.s3.eu-west-3.amazonaws.com');
    expect(awsUrl.pathname).toBe(`/${key}`);
    expect(awsUrl.searchParams.get('X-Amz-Expires')).toBe('300');

    const compatible = await make({ ...s3Base, endpoint: 'http://minio.internal:9000', forcePathStyle: true }).presignedUrl(key);
    const compatibleUrl = new URL(compatible ?? '');
    expect(compatibleUrl.origin).toBe('http://minio.internal:9000');
    expect(compatibleUrl.pathname).toBe(`/atelier-media/${key}`);
    expect(compatibleUrl.searchParams.get('X-Amz-Expires')).toBe('3600');
  });
});
