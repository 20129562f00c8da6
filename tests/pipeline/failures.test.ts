import { writeFile, mkdir, rm } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { userMessage, type ErrorCode } from '../../src/errors.js';
import type { Delivery } from '../../src/jobs/deliver.js';
import type { GenerateProgress } from '../../src/jobs/types.js';
import { makePng } from '../fakes/fal-fixtures.js';
import { falErrors, type FakeFal } from '../fakes/fal-server.js';
import { testUser, type AttachmentServer, type TestApp } from '../helpers/app.js';
import { CommandsHarness } from '../helpers/commands.js';

/** Every failure class fal can answer maps to one code and one user text; retryable ones are retried. */
describe('generation failures', () => {
  let fake: FakeFal;
  let harness: TestApp;
  let attachments: AttachmentServer;

  let h: CommandsHarness;

  beforeAll(async () => {
    h = await CommandsHarness.start();
    ({ fake, harness, attachments } = h);
  });
  afterEach(() => fake.reset());
  afterAll(async () => {
    await h?.close();
  });

  async function userWithKey() {
    return h.userWithKey('failing');
  }

  async function generate(user: ReturnType<typeof testUser>, extra: Partial<Parameters<NonNullable<TestApp['app']['owner']>['service']['enqueue']>[0]> = {}) {
    const { job } = await harness.app.owner!.service.enqueue({
      user,
      workspaceId: 'guild-1',
      channelId: 'channel-1',
      kind: 'image',
      prompt: 'a lighthouse in fog',
      ...extra,
    });
    return { job, delivery: await harness.deliverer.waitFor(job.id, 25_000) };
  }

  function expectFailure(delivery: Delivery, code: ErrorCode): string {
    expect(delivery.status).toBe('failed');
    if (delivery.status !== 'failed') return '';
    expect(delivery.error.code).toBe(code);
    expect(delivery.job).toMatchObject({ status: 'failed', errorCode: code });
    const text = userMessage(delivery.error);
    expect(text).not.toMatch(/\[object Object\]|at .*\(.*:\d+:\d+\)|Error:/);
    return text;
  }

  const submitAttempts = () => fake.requests.filter((request) => request.route === 'submit').length;

  it('a key fal rejects (401) fails at once as INVALID_KEY, asking to re-register', async () => {
    const { user, key } = await userWithKey();
    fake.removeKey(key);
    const { delivery } = await generate(user);
    expect(expectFailure(delivery, 'INVALID_KEY')).toMatch(/\/key set/);
    expect(submitAttempts()).toBe(1);
  });

  it('a forbidden key (403) fails as FORBIDDEN with fal reason', async () => {
    const { user } = await userWithKey();
    fake.failNext('submit', { status: 403, body: { detail: 'User is locked. Reason: Exhausted balance.' } });
    const { delivery } = await generate(user);
    expect(expectFailure(delivery, 'FORBIDDEN')).toMatch(/Exhausted balance/);
    expect(submitAttempts()).toBe(1);
  });

  it('a content policy block fails as SAFETY_BLOCKED without retries', async () => {
    const { user } = await userWithKey();
    fake.setOutput('fal-ai/flux/schnell', fake.modelErrorFrom(falErrors.contentPolicy()));
    const { delivery } = await generate(user);
    expect(expectFailure(delivery, 'SAFETY_BLOCKED')).toMatch(/content policy/i);
    expect(fake.submits()).toHaveLength(1);
  });

  it('invalid params reported by fal (422) name the field', async () => {
    const { user } = await userWithKey();
    fake.setOutput('fal-ai/flux/schnell', fake.modelErrorFrom(falErrors.numImagesTooHigh()));
    const { delivery } = await generate(user);
    const text = expectFailure(delivery, 'INVALID_PARAMS');
    expect(text).toContain('num_images');
    if (delivery.status === 'failed') expect(delivery.error.details.field).toBe('num_images');
    expect(fake.submits()).toHaveLength(1);
  });

  it('a provider failure (500 on submit) is retried and then succeeds', async () => {
    const { user } = await userWithKey();
    fake.failNext('submit', falErrors.internal());
    const { delivery } = await generate(user);
    expect(delivery.status).toBe('succeeded');
    expect(submitAttempts()).toBe(2);
    expect(fake.submits()).toHaveLength(1);
  });

  it('a provider outage that outlasts the retries fails as PROVIDER_UNAVAILABLE', async () => {
    const { user } = await userWithKey();
    fake.failNext('submit', { ...falErrors.internal(), times: Number.POSITIVE_INFINITY });
    const { delivery } = await generate(user);
    expect(expectFailure(delivery, 'PROVIDER_UNAVAILABLE')).toMatch(/try again later/);
    expect(submitAttempts()).toBe(3);
  });

  it('a rate limit (429) is classified RATE_LIMITED and retried until it succeeds', async () => {
    const { user } = await userWithKey();
    // The client itself retries 429 three times (about 1 s, 2 s, 4 s); the fourth answer reaches us.
    fake.failNext('submit', { ...falErrors.rateLimited(), times: 4 });
    const { delivery } = await generate(user);
    expect(delivery.status).toBe('succeeded');
    expect(submitAttempts()).toBe(5);
    expect(fake.submits()).toHaveLength(1);
    expect(harness.logs.lines.some((line) => line.includes('"code":"RATE_LIMITED"') && line.includes('will retry'))).toBe(true);
  }, 40_000);

  it('a request that failed at fal is resumed on retry, never submitted again', async () => {
    const { user } = await userWithKey();
    fake.setOutput('fal-ai/flux/schnell', fake.modelErrorFrom(falErrors.internal('CUDA out of memory')));
    const { delivery } = await generate(user);
    expectFailure(delivery, 'PROVIDER_UNAVAILABLE');
    expect(fake.submits()).toHaveLength(1);
  });

  it('an attachment whose bytes are not an image is refused before anything reaches fal', async () => {
    const { user } = await userWithKey();
    const before = fake.requests.length;
    const url = attachments.add('not-really.png', Buffer.from('<html>this is not an image</html>'), 'image/png');
    const { delivery } = await generate(user, {
      model: 'kontext',
      files: [{ bucket: 'references', url, filename: 'not-really.png', contentType: 'image/png', size: 33 }],
    });
    expect(expectFailure(delivery, 'BAD_INPUT_FILE')).toMatch(/not-really\.png/);
    expect(fake.requests.slice(before)).toHaveLength(0);
  });

  it('an attachment larger than declared is cut off at MAX_INPUT_BYTES before anything reaches fal', async () => {
    const { user } = await userWithKey();
    const before = fake.requests.length;
    const big = Buffer.concat([makePng(8, 8), Buffer.alloc(26 * 1024 * 1024)]);
    const url = attachments.add('huge.png', big, 'image/png');
    const { delivery } = await generate(user, {
      model: 'kontext',
      files: [{ bucket: 'references', url, filename: 'huge.png', contentType: 'image/png', size: 1000 }],
    });
    expect(expectFailure(delivery, 'INPUT_TOO_LARGE')).toMatch(/25 MiB/);
    expect(fake.requests.slice(before)).toHaveLength(0);
  });

  it('a result that cannot be saved is retried until it is saved, without a second submit', async () => {
    const { user } = await userWithKey();
    // A file where the outputs directory should be: every write fails until it is removed.
    const blocker = `${harness.dataDir}/media/outputs`;
    await mkdir(`${harness.dataDir}/media`, { recursive: true });
    await rm(blocker, { recursive: true, force: true });
    await writeFile(blocker, 'in the way');
    const stages: string[] = [];
    const onProgress = (_job: unknown, progress: GenerateProgress) => stages.push(progress.stage);
    harness.app.owner!.events.on('progress', onProgress);
    const { job } = await harness.app.owner!.service.enqueue({
      user,
      workspaceId: 'guild-1',
      channelId: 'channel-1',
      kind: 'image',
      prompt: 'saved at last',
    });
    await waitUntil(() => stages.filter((stage) => stage === 'save_delayed').length >= 2);
    await rm(blocker);
    const delivery = await harness.deliverer.waitFor(job.id, 20_000);
    harness.app.owner!.events.off('progress', onProgress);
    expect(delivery.status).toBe('succeeded');
    expect(fake.submits()).toHaveLength(1);
  });

  it('a truncated download from the CDN is retried and the stored file is complete', async () => {
    const { user } = await userWithKey();
    fake.cdnDelivery({ truncateAfter: 100 });
    const { delivery } = await generate(user);
    expect(delivery.status).toBe('succeeded');
    if (delivery.status !== 'succeeded') return;
    const [asset] = delivery.assets;
    const stored = await harness.app.storage.read(asset!.storageKey);
    expect(stored.size).toBe(asset!.bytes);
    expect(asset!.bytes).toBeGreaterThan(100);
    expect(fake.submits()).toHaveLength(1);
  });

  it('two users generating at once each use their own key', async () => {
    const first = await userWithKey();
    const second = await userWithKey();
    const [a, b] = await Promise.all([generate(first.user, { prompt: 'first user' }), generate(second.user, { prompt: 'second user' })]);
    expect(a.delivery.status).toBe('succeeded');
    expect(b.delivery.status).toBe('succeeded');
    const keyFor = (prompt: string) => fake.submits().find((submit) => submit.input.prompt === prompt)?.key;
    expect(keyFor('first user')).toBe(first.key);
    expect(keyFor('second user')).toBe(second.key);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
