import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PROMPT_MAX_LENGTH } from '../../commands/generate.js';
import { makePng } from '../fakes/fal-fixtures.js';
import { testUser } from '../helpers/app.js';
import type { MemoryContext } from '../helpers/memory-context.js';
import { CommandsHarness, succeeded, type TestUser } from '../helpers/commands.js';

/**
 * Every request that cannot work is refused before a job exists and before anything reaches fal:
 * privately, in words that say what to fix.
 */
describe('requests refused before any job or fal call', () => {
  let h: CommandsHarness;

  beforeAll(async () => {
    h = await CommandsHarness.start();
  });

  afterEach(() => h.fake.reset());

  afterAll(async () => {
    await h?.close();
  });

  const png = makePng(16, 16, { seed: 3 });
  const attachment = (overrides: Partial<{ name: string; contentType: string; size: number }> = {}) => ({
    name: overrides.name ?? 'in.png',
    url: h.attachments.add(overrides.name ?? 'in.png', png, 'image/png'),
    contentType: overrides.contentType ?? 'image/png',
    size: overrides.size ?? png.length,
  });

  /** Runs the command and checks the shared promises of a refusal; returns the text shown. */
  async function refused(command: string, options: Record<string, unknown>, who?: TestUser): Promise<{ text: string; ctx: MemoryContext }> {
    const asker = who ?? (await h.userWithKey('refused')).user;
    const jobsBefore = h.totalJobs();
    const requestsBefore = h.fake.requests.length;
    const ctx = await h.run(command, options, { user: asker });
    const reply = ctx.lastReply();
    expect(ctx.replies).toHaveLength(1);
    expect(reply.private).toBe(true);
    expect(reply.message.buttons ?? []).toEqual([]);
    const text = ctx.lastText();
    expect(text).not.toMatch(/\[object Object\]|\bat .+\.ts:\d+|Error:/);
    expect(h.totalJobs()).toBe(jobsBefore);
    expect(h.jobsOf(asker)).toEqual([]);
    expect(h.services.generation.activeJobs(asker)).toEqual([]);
    expect(h.paidRequests(requestsBefore)).toEqual([]);
    // The attachment CDN was not touched either: the worker never saw the request.
    expect(h.fake.uploads()).toEqual([]);
    return { text, ctx };
  }

  it('no key registered: points to /key set in a DM', async () => {
    const user = testUser('nokey');
    const { text } = await refused('imagine', { prompt: 'a cat' }, user);
    expect(text).toContain('/key set');
    expect(text).toMatch(/direct message/i);
  });

  it('unknown model: lists the models', async () => {
    const { text } = await refused('imagine', { prompt: 'a cat', model: 'midjourney' });
    expect(text).toContain('don\'t know the model "midjourney"');
    expect(text).toMatch(/Try one of: .*schnell.*kontext/);
  });

  it('a video model for /imagine is refused with the image models', async () => {
    const { text } = await refused('imagine', { prompt: 'a cat', model: 'veo3' });
    expect(text).toContain('makes videos; use /animate');
    expect(text).toMatch(/Try one of: .*schnell/);
    expect(text).not.toMatch(/Try one of: .*veo3/);
  });

  it('a param out of range names the field and the range', async () => {
    const { text } = await refused('imagine', { prompt: 'a cat', params: 'num_inference_steps=50' });
    expect(text).toContain('num_inference_steps');
    expect(text).toContain('at most 12');
  });

  it('a param outside its choices names the field and the allowed values', async () => {
    const { text } = await refused('imagine', { prompt: 'a cat', params: 'output_format=gif' });
    expect(text).toContain('output_format');
    expect(text).toMatch(/jpeg, png/);
  });

  it('a param of the wrong type says what it takes', async () => {
    const { text } = await refused('imagine', { prompt: 'a cat', params: 'num_inference_steps=many' });
    expect(text).toContain('num_inference_steps');
    expect(text).toContain('whole number');
  });

  it('a size the model does not offer lists the sizes', async () => {
    const { text } = await refused('imagine', { prompt: 'a cat', model: 'kontext', image: attachment(), size: 'huge' });
    expect(text).toContain('aspect_ratio');
    expect(text).toContain('16:9');
  });

  it('an unknown param lists the allowed names', async () => {
    const { text } = await refused('imagine', { prompt: 'a cat', params: 'steps=8' });
    expect(text).toContain('"steps"');
    expect(text).toContain('num_inference_steps');
    expect(text).toContain('output_format');
  });

  it('sync_mode cannot be set through params', async () => {
    const { text } = await refused('imagine', { prompt: 'a cat', params: 'sync_mode=true' });
    expect(text).toContain('sync_mode');
  });

  it('malformed params text quotes the problem', async () => {
    const missingEquals = await refused('imagine', { prompt: 'a cat', params: 'num_inference_steps 8' });
    expect(missingEquals.text).toContain('name=value');
    const unclosed = await refused('imagine', { prompt: 'a cat', params: 'negative_prompt="no people' });
    expect(unclosed.text).toMatch(/closing quote/);
    const repeated = await refused('imagine', { prompt: 'a cat', params: 'seed=1 seed=2' });
    expect(repeated.text).toContain('more than once');
  });

  it('an empty or whitespace prompt is refused', async () => {
    expect((await refused('imagine', { prompt: '' })).text).toMatch(/prompt is required/);
    expect((await refused('imagine', { prompt: '   \n ' })).text).toMatch(/prompt is required/);
    expect((await refused('animate', { prompt: '  ' })).text).toMatch(/prompt is required/);
  });

  it('a missing prompt option is refused by the input schema', async () => {
    const { text } = await refused('imagine', {});
    expect(text).toContain('prompt is required');
  });

  it('a too-long prompt says the limit', async () => {
    const { text } = await refused('imagine', { prompt: 'x'.repeat(PROMPT_MAX_LENGTH + 1) });
    expect(text).toContain('prompt');
    expect(text).toContain(`at most ${PROMPT_MAX_LENGTH} characters`);
  });

  it('an attachment of the wrong type says which types are accepted', async () => {
    const { text } = await refused('imagine', { prompt: 'edit this', image: attachment({ name: 'notes.txt', contentType: 'text/plain' }) });
    expect(text).toContain('notes.txt');
    expect(text).toContain('text/plain');
    expect(text).toMatch(/PNG, JPEG, WebP or GIF/);
  });

  it('an oversize attachment says the limit', async () => {
    const { text } = await refused('imagine', { prompt: 'edit this', image: attachment({ size: h.services.maxInputBytes + 1 }) });
    expect(text).toContain('too large');
    expect(text).toContain('25 MiB');
  });

  it('more attachments than the model takes says how many it takes', async () => {
    const { text } = await refused('imagine', { prompt: 'edit this', model: 'kontext', image: attachment(), image2: attachment() });
    expect(text).toContain('at most 1 reference image');
    const textOnly = await refused('imagine', { prompt: 'edit this', model: 'schnell', image: attachment() });
    expect(textOnly.text).toContain('takes no attachments');
  });

  it('a model that needs an image says so when none is attached', async () => {
    const { text } = await refused('animate', { prompt: 'move', model: 'kling' });
    expect(text).toMatch(/needs a first-frame image/);
  });

  it('an option the model does not have is named', async () => {
    const { text } = await refused('animate', { prompt: 'move', model: 'kling', first_frame: attachment(), duration: '7' });
    expect(text).toContain('duration');
    expect(text).toMatch(/5, 10/);
  });

  it('a malformed attachment from the adapter is refused by the input schema', async () => {
    const { text } = await refused('imagine', { prompt: 'edit this', image: { name: 'x.png', url: 'not a url' } });
    expect(text).toContain('image.url');
  });
});

describe('the per-user limit on generations in progress', () => {
  let h: CommandsHarness;

  beforeAll(async () => {
    h = await CommandsHarness.start({ MAX_ACTIVE_JOBS_PER_USER: '2' });
  });

  afterAll(async () => {
    h?.fake.release();
    await h?.close();
  });

  it('refuses a request past the limit, privately, without a job or a fal call; frees a slot when one ends', async () => {
    const { user } = await h.userWithKey('busy');
    h.fake.hold();
    const first = await h.run('imagine', { prompt: 'one' }, { user });
    const second = await h.run('imagine', { prompt: 'two' }, { user });
    const ids = [h.jobIdFrom(first), h.jobIdFrom(second)];
    await h.fake.waitFor(() => h.fake.held().length === 2);

    const submitsBefore = h.fake.submits().length;
    const requestsBefore = h.fake.requests.length;
    const ctx = await h.run('imagine', { prompt: 'three' }, { user });
    expect(ctx.lastReply().private).toBe(true);
    expect(ctx.lastText()).toContain('2 generations in progress');
    expect(ctx.lastText()).toContain('/jobs');
    expect(h.jobsOf(user)).toHaveLength(2);
    expect(h.services.generation.activeJobs(user).map((job) => job.id).sort()).toEqual([...ids].sort());
    expect(h.fake.submits()).toHaveLength(submitsBefore);
    expect(h.paidRequests(requestsBefore)).toEqual([]);

    // Someone else is not affected by this user's limit.
    const other = await h.userWithKey('other');
    const theirs = await h.run('imagine', { prompt: 'mine' }, { user: other.user });
    expect(theirs.lastReply().private).toBe(false);
    const theirId = h.jobIdFrom(theirs);

    h.fake.release();
    for (const id of [...ids, theirId]) succeeded(await h.waitForDelivery(id));
    const again = await h.run('imagine', { prompt: 'three' }, { user });
    expect(again.lastText()).toMatch(/^Queued/);
    succeeded(await h.waitForDelivery(h.jobIdFrom(again)));
  });
});
