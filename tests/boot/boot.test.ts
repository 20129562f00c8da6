import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it, type TestContext } from 'vitest';
import { freePort } from '../helpers/app.js';
import { bootFixture, Semaphore, type BootFixture } from './process.js';

const WARN = 40;

// Each test boots real processes (about 2 s each on an idle machine), so they run concurrently, each
// with its own data dir, port and Redis prefix, removed when the test finishes. A few at a time: more
// only makes every process slower on a small machine and the timing assertions flaky.
const slots = new Semaphore(3);

// (The context's onTestFinished: the global one cannot tell concurrent tests apart.)
async function setup(context: TestContext): Promise<BootFixture> {
  const release = await slots.acquire();
  const fixture = await bootFixture().catch((error: unknown) => {
    release();
    throw error;
  });
  context.onTestFinished(async () => {
    try {
      await fixture.cleanup();
    } finally {
      release();
    }
  });
  return fixture;
}

describe.concurrent('npm start (src/main.ts)', { timeout: 120_000 }, () => {
  it('starts headless with defaults, generates its secret, answers probes and stops on SIGTERM', async (context) => {
    const { dir, port, start } = await setup(context);
    const app = start('src/main.ts');
    const up = await app.waitForLog((line) => line.msg === 'Atelier is up');
    expect(up).toMatchObject({ storage: 'local', falProxy: 'off' });

    // The chat platforms say they are off and what turns them on.
    const discord = app.logs.find((line) => line.msg?.startsWith('Discord: disabled'));
    expect(discord?.msg).toContain('DISCORD_TOKEN');
    const slack = app.logs.find((line) => line.msg?.startsWith('Slack: disabled'));
    expect(slack?.msg).toContain('SLACK_BOT_TOKEN');
    expect(app.logs.some((line) => line.msg === 'HTTP server listening' && line.port === port)).toBe(true);
    expect(app.logs.some((line) => line.msg === 'generation worker started')).toBe(true);

    // SQLite and the generated secret, in the data dir next to the database.
    expect(existsSync(`${dir}/data/atelier.db`)).toBe(true);
    const secretFile = `${dir}/data/key-encryption.secret`;
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    const warning = app.logs.find((line) => line.level === WARN && String(line.msg).includes('KEY_ENCRYPTION_SECRET'));
    expect(warning?.file).toBe(secretFile);
    // The warning names the file, never the secret itself.
    const generated = readFileSync(secretFile, 'utf8').trim();
    expect(generated.length).toBeGreaterThanOrEqual(48);

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, checks: { redis: 'ok', database: 'ok', storage: 'ok' } });

    app.kill('SIGTERM');
    const exit = await app.waitForExit(10_000);
    expect(exit.code).toBe(0);
    expect(app.logs.some((line) => line.msg === 'shutting down: finishing in-flight work' && line.signal === 'SIGTERM')).toBe(true);
    expect(app.logs.at(-1)?.msg).toBe('stopped');
    expect(app.output).not.toContain(generated);
  });

  it('reuses the generated secret on the next boot, and a worker sharing the data dir uses it too', async (context) => {
    const { dir, start } = await setup(context);
    const first = start('src/main.ts');
    await first.waitForLog((line) => line.msg === 'Atelier is up');
    const secret = readFileSync(`${dir}/data/key-encryption.secret`, 'utf8');
    first.kill('SIGTERM');
    expect((await first.waitForExit(10_000)).code).toBe(0);

    // A restart runs next to a worker without KEY_ENCRYPTION_SECRET: both read the file, nobody regenerates it.
    const second = start('src/main.ts');
    const worker = start('src/worker-main.ts');
    await second.waitForLog((line) => line.msg === 'Atelier is up');
    await worker.waitForLog((line) => line.msg === 'Atelier generation worker is up');
    expect(readFileSync(`${dir}/data/key-encryption.secret`, 'utf8')).toBe(secret);
    for (const booted of [second, worker]) {
      expect(booted.logs.some((line) => line.level === WARN && String(line.msg).includes('KEY_ENCRYPTION_SECRET'))).toBe(false);
    }

    second.kill('SIGINT');
    worker.kill('SIGINT');
    expect((await second.waitForExit(10_000)).code).toBe(0);
    expect((await worker.waitForExit(10_000)).code).toBe(0);
  });

  it('exits 69 quickly, naming REDIS_URL and how to start Redis, when Redis is unreachable', async (context) => {
    const { start } = await setup(context);
    const closedPort = await freePort();
    const app = start('src/main.ts', { REDIS_URL: `redis://:hunter2-redis-password@127.0.0.1:${closedPort}` });
    const exit = await app.waitForExit(30_000);
    // No retrying for ever: a refused connection ends the process (the wait above bounds a hang).
    expect(exit.code).toBe(69);
    const stderr = app.stderr.join('\n');
    expect(stderr).toContain('REDIS_URL');
    expect(stderr).toContain(`127.0.0.1:${closedPort}`);
    expect(stderr).toContain('redis-server');
    // The password in the URL is not printed.
    expect(app.output).not.toContain('hunter2-redis-password');
  });

  it('exits 78 naming every bad variable, without echoing secrets', async (context) => {
    const { start } = await setup(context);
    const secret = `s3cr3t-${randomBytes(24).toString('hex')}`;
    const app = start('src/main.ts', { PORT: 'abc', WORKER_CONCURRENCY: 'zero', KEY_ENCRYPTION_SECRET: secret });
    const exit = await app.waitForExit(30_000);
    expect(exit.code).toBe(78);
    const stderr = app.stderr.join('\n');
    expect(stderr).toContain('PORT must be a whole number');
    expect(stderr).toContain('(got "abc")');
    expect(stderr).toContain('WORKER_CONCURRENCY');
    expect(stderr).toContain('.env.example');
    expect(app.output).not.toContain(secret);
  });

  it('exits 78 naming KEY_ENCRYPTION_SECRET when it is too short, without echoing it', async (context) => {
    const { start } = await setup(context);
    const app = start('src/main.ts', { KEY_ENCRYPTION_SECRET: 'too-short-hunter2' });
    const exit = await app.waitForExit(30_000);
    expect(exit.code).toBe(78);
    expect(app.stderr.join('\n')).toContain('KEY_ENCRYPTION_SECRET must be at least 32 characters');
    expect(app.output).not.toContain('too-short-hunter2');
  });

  it('exits 78 naming the secret file when it is empty, rather than replacing it', async (context) => {
    const { dir, start } = await setup(context);
    mkdirSync(`${dir}/data`, { recursive: true });
    writeFileSync(`${dir}/data/key-encryption.secret`, '', { mode: 0o600 });
    const app = start('src/main.ts');
    const exit = await app.waitForExit(30_000);
    expect(exit.code).toBe(78);
    expect(app.stderr.join('\n')).toContain(`${dir}/data/key-encryption.secret is empty`);
    expect(readFileSync(`${dir}/data/key-encryption.secret`, 'utf8')).toBe('');
  });

  it('exits non-zero naming PORT when the port is taken', async (context) => {
    const { port, start } = await setup(context);
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '0.0.0.0', resolve));
    try {
      const app = start('src/main.ts');
      const exit = await app.waitForExit(30_000);
      expect(exit.code).toBe(70);
      expect(app.stderr.join('\n')).toContain(`PORT=${port} is already in use`);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('never logs KEY_ENCRYPTION_SECRET, even at trace level', async (context) => {
    const { dir, port, start } = await setup(context);
    const current = `current-${randomBytes(24).toString('base64url')}`;
    const previous = `previous-${randomBytes(24).toString('base64url')}`;
    const app = start('src/main.ts', { KEY_ENCRYPTION_SECRET: `${current},${previous}`, LOG_LEVEL: 'trace' });
    await app.waitForLog((line) => line.msg === 'Atelier is up');
    // A configured secret: nothing is generated and nothing warns about it.
    expect(existsSync(`${dir}/data/key-encryption.secret`)).toBe(false);
    for (const path of ['/healthz', '/readyz', '/metrics', '/s/nope', '/media/nope.png']) await (await fetch(`http://127.0.0.1:${port}${path}`)).text();
    app.kill('SIGTERM');
    expect((await app.waitForExit(10_000)).code).toBe(0);
    expect(app.stdout.length).toBeGreaterThan(3);
    for (const fragment of [current, previous, current.slice(-16), previous.slice(-16)]) expect(app.output).not.toContain(fragment);
  });
});

describe.concurrent('npm run start:worker (src/worker-main.ts)', { timeout: 120_000 }, () => {
  it('runs only a generation worker', async (context) => {
    const { dir, port, start } = await setup(context);
    const worker = start('src/worker-main.ts', { KEY_ENCRYPTION_SECRET: randomBytes(36).toString('base64'), WORKER_HEALTH_PORT: String(port) });
    await worker.waitForLog((line) => line.msg === 'Atelier generation worker is up');
    expect(worker.logs.some((line) => line.msg === 'generation worker started')).toBe(true);
    // No owner parts: no share pages, no SQLite, no chat adapters; only the probes a container needs.
    expect(worker.logs.some((line) => line.msg === 'Atelier is up' || line.msg === 'HTTP server listening')).toBe(false);
    expect(worker.logs.some((line) => String(line.msg).startsWith('Discord'))).toBe(false);
    expect(existsSync(`${dir}/data/atelier.db`)).toBe(false);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, checks: { redis: 'ok', storage: 'ok' } });
    expect((await fetch(`http://127.0.0.1:${port}/s/anything`)).status).toBe(404);
    worker.kill('SIGTERM');
    const exit = await worker.waitForExit(10_000);
    expect(exit.code).toBe(0);
    expect(worker.logs.at(-1)?.msg).toBe('stopped');
  });

  it('refuses to start without KEY_ENCRYPTION_SECRET when no secret file exists', async (context) => {
    const { dir, start } = await setup(context);
    const worker = start('src/worker-main.ts');
    const exit = await worker.waitForExit(30_000);
    expect(exit.code).toBe(78);
    expect(worker.stderr.join('\n')).toContain('KEY_ENCRYPTION_SECRET must be set for a worker-only process');
    // It must not generate a secret of its own, which could never open the owner's envelopes.
    expect(existsSync(`${dir}/data/key-encryption.secret`)).toBe(false);
  });
});
