import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger, REDACTED_PATHS } from '../../src/logger.js';
import { LogCapture } from '../helpers/app.js';

const secret = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;

describe('createLogger', () => {
  it('writes JSON lines at the configured level', () => {
    const capture = new LogCapture();
    const logger = createLogger('warn', capture);
    logger.info('hidden');
    logger.warn({ jobId: 'j1' }, 'shown');
    expect(capture.lines).toHaveLength(1);
    expect(JSON.parse(capture.lines[0]!)).toMatchObject({ level: 40, msg: 'shown', jobId: 'j1', service: 'atelier' });
  });

  it('redacts every secret-bearing field, top level and one level down', () => {
    const capture = new LogCapture();
    const logger = createLogger('trace', capture);
    const values: string[] = [];
    const v = (label: string) => {
      const value = secret(label);
      values.push(value);
      return value;
    };
    logger.info(
      {
        falKey: v('falKey'),
        key: v('key'),
        apiKey: v('apiKey'),
        token: v('token'),
        botToken: v('botToken'),
        appToken: v('appToken'),
        signingSecret: v('signingSecret'),
        secret: v('secret'),
        secrets: v('secrets'),
        password: v('password'),
        authorization: v('authorization'),
        keyEncryptionSecret: v('kes'),
        encryptedKey: v('encryptedKey'),
        redisUrl: `redis://:${v('redisPassword')}@redis:6379`,
        headers: { authorization: `Key ${v('header')}`, cookie: v('cookie') },
        req: { headers: { authorization: `Bearer ${v('reqAuth')}`, cookie: v('reqCookie') } },
        user: { falKey: v('userFalKey'), token: v('userToken'), credentials: v('creds') },
        config: { keyEncryptionSecret: v('configKes'), redisUrl: `redis://:${v('configRedis')}@h` },
        jobId: 'visible-job-id',
      },
      'everything',
    );
    const text = capture.text;
    for (const value of values) expect(text, value).not.toContain(value);
    expect(text).toContain('[redacted]');
    expect(text).toContain('visible-job-id');
  });

  it('does not log the resolved configuration secret through a logged config object', () => {
    const capture = new LogCapture();
    const kes = secret('kes').padEnd(40, 'x');
    const config = loadConfig({ KEY_ENCRYPTION_SECRET: kes, REDIS_URL: 'redis://:hunter2pw@127.0.0.1:6379' });
    createLogger('info', capture).info({ config }, 'config');
    expect(capture.text).not.toContain(kes);
    expect(capture.text).not.toContain('hunter2pw');
  });

  it('keeps the list free of duplicates', () => {
    expect(new Set(REDACTED_PATHS).size).toBe(REDACTED_PATHS.length);
  });
});
