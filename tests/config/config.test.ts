import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const MiB = 1024 * 1024;

/** The ConfigError a bad environment throws (fails the test when it does not throw one). */
function problemsOf(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('has defaults that run everything on one machine', () => {
    const config = loadConfig({});
    expect(config).toEqual({
      env: 'development',
      port: 3000,
      publicUrl: 'http://localhost:3000',
      redisUrl: 'redis://127.0.0.1:6379',
      queuePrefix: 'atelier',
      databasePath: './data/atelier.db',
      dataDir: './data',
      storage: { driver: 'local', dir: './data/media' },
      keyEncryptionSecret: undefined,
      falProxyUrl: undefined,
      workerConcurrency: 20,
      maxActiveJobsPerUser: 3,
      maxInputBytes: 25 * MiB,
      logLevel: 'info',
      workerHealthPort: undefined,
      ffmpegPath: 'ffmpeg',
      slack: undefined,
      discord: undefined,
    });
  });

  it('never reads process.env when given a source', () => {
    const saved = process.env.PORT;
    process.env.PORT = '4321';
    try {
      expect(loadConfig({}).port).toBe(3000);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });

  it('treats empty and blank strings as unset', () => {
    const blank = Object.fromEntries(
      [
        'NODE_ENV',
        'PORT',
        'PUBLIC_URL',
        'REDIS_URL',
        'QUEUE_PREFIX',
        'DATABASE_PATH',
        'STORAGE_DRIVER',
        'STORAGE_DIR',
        'S3_BUCKET',
        'S3_REGION',
        'S3_ENDPOINT',
        'S3_FORCE_PATH_STYLE',
        'S3_PUBLIC_URL',
        'KEY_ENCRYPTION_SECRET',
        'FAL_PROXY_URL',
        'WORKER_CONCURRENCY',
        'MAX_ACTIVE_JOBS_PER_USER',
        'MAX_INPUT_BYTES',
        'LOG_LEVEL',
      ].map((name, index) => [name, index % 2 ? '' : '  ']),
    );
    expect(loadConfig(blank)).toEqual(loadConfig({}));
  });

  it('ignores whitespace around values', () => {
    const config = loadConfig({ PORT: ' 8080 ', LOG_LEVEL: 'debug\n', QUEUE_PREFIX: ' prod ' });
    expect(config.port).toBe(8080);
    expect(config.logLevel).toBe('debug');
    expect(config.queuePrefix).toBe('prod');
  });

  it('derives PUBLIC_URL from PORT unless set, without a trailing slash', () => {
    expect(loadConfig({ PORT: '8080' }).publicUrl).toBe('http://localhost:8080');
    expect(loadConfig({ PORT: '8080', PUBLIC_URL: 'https://atelier.example.com/' }).publicUrl).toBe('https://atelier.example.com');
    expect(loadConfig({ PUBLIC_URL: 'https://example.com/atelier//' }).publicUrl).toBe('https://example.com/atelier');
  });

  it('puts the data dir next to the database', () => {
    expect(loadConfig({ DATABASE_PATH: '/var/lib/atelier/db.sqlite' }).dataDir).toBe('/var/lib/atelier');
    expect(loadConfig({ DATABASE_PATH: 'atelier.db' }).dataDir).toBe('.');
    expect(loadConfig({ DATABASE_PATH: '/atelier.db' }).dataDir).toBe('/');
  });

  it.each([
    ['26214400', 26214400],
    ['10MiB', 10 * MiB],
    ['10MB', 10 * MiB],
    ['10 mib', 10 * MiB],
    ['512k', 512 * 1024],
    ['512KiB', 512 * 1024],
    ['1.5m', 1.5 * MiB],
    ['2g', 2 * 1024 * MiB],
    ['100b', 100],
  ])('reads MAX_INPUT_BYTES=%s as %d bytes', (text, bytes) => {
    expect(loadConfig({ MAX_INPUT_BYTES: text }).maxInputBytes).toBe(bytes);
  });

  it.each(['lots', '10 TB', '-5', '0', '0k', 'MiB', '1e6'])('rejects MAX_INPUT_BYTES=%s', (text) => {
    const error = problemsOf({ MAX_INPUT_BYTES: text });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^MAX_INPUT_BYTES must be a size/);
  });

  it.each(['abc', '-1', '65536', '1.5', '1e3', '0x10', '3000abc'])('rejects PORT=%s with a readable message', (text) => {
    const error = problemsOf({ PORT: text });
    expect(error.problems).toEqual([`PORT must be a whole number from 0 to 65535 (got ${JSON.stringify(text)})`]);
  });

  it.each([
    ['WORKER_CONCURRENCY', '0'],
    ['WORKER_CONCURRENCY', 'many'],
    ['MAX_ACTIVE_JOBS_PER_USER', '-2'],
    ['MAX_ACTIVE_JOBS_PER_USER', '2.5'],
  ])('rejects %s=%s', (name, text) => {
    expect(problemsOf({ [name]: text }).problems).toEqual([`${name} must be a whole number of at least 1 (got ${JSON.stringify(text)})`]);
  });

  it('reads booleans and the S3 settings', () => {
    const config = loadConfig({
      STORAGE_DRIVER: 's3',
      S3_BUCKET: 'media',
      S3_ENDPOINT: 'http://minio:9000',
      S3_FORCE_PATH_STYLE: 'yes',
      S3_PUBLIC_URL: 'https://cdn.example.com/media/',
    });
    expect(config.storage).toEqual({
      driver: 's3',
      bucket: 'media',
      region: 'us-east-1',
      endpoint: 'http://minio:9000',
      forcePathStyle: true,
      publicUrl: 'https://cdn.example.com/media',
    });
    for (const [text, value] of [['true', true], ['1', true], ['false', false], ['0', false], ['no', false]] as const) {
      const storage = loadConfig({ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_FORCE_PATH_STYLE: text }).storage;
      expect(storage.driver === 's3' && storage.forcePathStyle).toBe(value);
    }
  });

  it('requires S3_BUCKET with STORAGE_DRIVER=s3', () => {
    expect(problemsOf({ STORAGE_DRIVER: 's3' }).problems).toEqual(['S3_BUCKET is required when STORAGE_DRIVER=s3']);
    expect(problemsOf({ STORAGE_DRIVER: 's3', S3_BUCKET: '  ' }).problems).toEqual(['S3_BUCKET is required when STORAGE_DRIVER=s3']);
    // Not needed for the local driver.
    expect(loadConfig({ STORAGE_DRIVER: 'local' }).storage).toEqual({ driver: 'local', dir: './data/media' });
  });

  it('lists every bad variable by name in one error', () => {
    const error = problemsOf({
      NODE_ENV: 'prod',
      PORT: 'abc',
      PUBLIC_URL: 'ftp://example.com',
      REDIS_URL: 'localhost:6379',
      QUEUE_PREFIX: 'has space',
      STORAGE_DRIVER: 's3',
      S3_FORCE_PATH_STYLE: 'maybe',
      S3_ENDPOINT: 'minio',
      FAL_PROXY_URL: 'not a url',
      WORKER_CONCURRENCY: '0',
      MAX_ACTIVE_JOBS_PER_USER: 'x',
      MAX_INPUT_BYTES: 'lots',
      LOG_LEVEL: 'loud',
    });
    const names = error.problems.map((line) => line.split(' ')[0]);
    expect(names.sort()).toEqual(
      [
        'NODE_ENV',
        'PORT',
        'PUBLIC_URL',
        'REDIS_URL',
        'QUEUE_PREFIX',
        'S3_BUCKET',
        'S3_FORCE_PATH_STYLE',
        'S3_ENDPOINT',
        'FAL_PROXY_URL',
        'WORKER_CONCURRENCY',
        'MAX_ACTIVE_JOBS_PER_USER',
        'MAX_INPUT_BYTES',
        'LOG_LEVEL',
      ].sort(),
    );
    // One line per problem in the message, each readable: the name, what it expects, what it got.
    expect(error.name).toBe('ConfigError');
    expect(error.message.split('\n')).toEqual(['Invalid configuration:', ...error.problems.map((line) => `  - ${line}`)]);
    expect(error.problems).toContain('NODE_ENV must be one of development, production, test (got "prod")');
    expect(error.problems).toContain('LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")');
    expect(error.problems).toContain('PUBLIC_URL must be an http(s) URL (got "ftp://example.com")');
    expect(error.problems).toContain('REDIS_URL must be a redis:// or rediss:// URL (got "localhost:6379")');
    expect(error.problems).toContain('S3_FORCE_PATH_STYLE must be true or false (got "maybe")');
    for (const line of error.problems) {
      // No zod jargon.
      expect(line).not.toMatch(/Invalid input|expected (number|string)|received|NaN/);
    }
  });

  it('never echoes secrets or URL credentials in errors', () => {
    const error = problemsOf({
      REDIS_URL: 'http://admin:hunter2-redis@redis.internal:6379',
      FAL_PROXY_URL: 'ftp://proxyuser:hunter2-proxy@proxy.internal',
      PUBLIC_URL: 'redis://:hunter2-public@x',
      PORT: 'abc',
      KEY_ENCRYPTION_SECRET: 'hunter2-key-encryption-secret-value-0123456789',
    });
    expect(error.message).not.toContain('hunter2');
    expect(error.problems.join('\n')).not.toContain('hunter2');
    expect(error.problems).toContain('REDIS_URL must be a redis:// or rediss:// URL (got "[redacted]@redis.internal:6379")');
  });

  it('passes KEY_ENCRYPTION_SECRET through, rotation list included', () => {
    const secret = 'a'.repeat(40) + ',' + 'b'.repeat(40);
    expect(loadConfig({ KEY_ENCRYPTION_SECRET: secret }).keyEncryptionSecret).toBe(secret);
    expect(loadConfig({ KEY_ENCRYPTION_SECRET: `${'c'.repeat(32)},` }).keyEncryptionSecret).toBe(`${'c'.repeat(32)},`);
  });

  it.each([['short-hunter2'], [`${'a'.repeat(40)},short-hunter2`], [' , ']])('rejects KEY_ENCRYPTION_SECRET=%s without echoing it', (secret) => {
    const error = problemsOf({ KEY_ENCRYPTION_SECRET: secret, PORT: 'abc' });
    // Reported together with the other problems.
    expect(error.problems).toHaveLength(2);
    const line = error.problems.find((problem) => problem.startsWith('KEY_ENCRYPTION_SECRET '));
    expect(line).toMatch(/^KEY_ENCRYPTION_SECRET must be at least 32 characters/);
    expect(error.message).not.toContain('hunter2');
    expect(error.message).toContain('(got "[redacted]")');
  });

  it('accepts redis and rediss URLs and Redis Cluster hash tags in the prefix', () => {
    expect(loadConfig({ REDIS_URL: 'rediss://:pw@redis.example.com:6380/2' }).redisUrl).toBe('rediss://:pw@redis.example.com:6380/2');
    expect(loadConfig({ QUEUE_PREFIX: '{atelier}' }).queuePrefix).toBe('{atelier}');
  });

  it('ignores variables it does not know', () => {
    expect(() => loadConfig({ SOMETHING_ELSE: 'y', npm_config_cache: '/tmp' })).not.toThrow();
  });

  it('enables a platform only when its variables are complete, and says which are missing', () => {
    expect(loadConfig({ DISCORD_TOKEN: 'token', DISCORD_APPLICATION_ID: '123456789012345678' }).discord).toMatchObject({ applicationId: '123456789012345678', apiUrl: 'https://discord.com/api' });
    expect(() => loadConfig({ DISCORD_TOKEN: 'x' })).toThrow(/DISCORD_TOKEN and DISCORD_APPLICATION_ID go together/);
    expect(loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's' }).slack).toMatchObject({ botToken: 'xoxb-1', appToken: undefined, apiUrl: 'https://slack.com/api/' });
    expect(loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' }).slack?.appToken).toBe('xapp-1');
    expect(() => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(/SLACK_SIGNING_SECRET .* or SLACK_APP_TOKEN/);
    expect(() => loadConfig({ SLACK_SIGNING_SECRET: 's' })).toThrow(/need SLACK_BOT_TOKEN/);
  });
});
