import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deliveryMessage } from '../../commands/index.js';
import { testUser } from '../helpers/app.js';
import { CommandsHarness, succeeded } from '../helpers/commands.js';

describe('/jobs and the Cancel button', () => {
  let h: CommandsHarness;

  beforeAll(async () => {
    h = await CommandsHarness.start();
  });

  afterEach(() => {
    h.fake.release();
    h.fake.reset();
  });

  afterAll(async () => {
    await h?.close();
  });

  it('/jobs with nothing in progress says so, privately', async () => {
    const ctx = await h.run('jobs', {}, { user: testUser('idle') });
    expect(ctx.lastReply().private).toBe(true);
    expect(ctx.lastText()).toMatch(/no generations in progress/);
    expect(ctx.actionButtons()).toEqual([]);
  });

  it('lists active jobs with Cancel buttons; Cancel stops the job at fal and it is delivered as cancelled', async () => {
    const { user } = await h.userWithKey('owner');
    h.fake.hold();
    const one = h.jobIdFrom(await h.run('imagine', { prompt: 'one slow cat' }, { user }));
    const two = h.jobIdFrom(await h.run('imagine', { prompt: 'two slow dogs' }, { user }));
    await h.fake.waitFor(() => h.fake.held().length === 2);

    const list = await h.run('jobs', {}, { user });
    const reply = list.lastReply();
    expect(reply.private).toBe(true);
    expect(reply.message.text).toContain('(2/3)');
    expect(reply.message.cards?.map((card) => card.title)).toEqual(['1. one slow cat', '2. two slow dogs']);
    expect(reply.message.cards?.[0]?.fields).toContainEqual(expect.objectContaining({ name: 'Model', value: 'FLUX.1 [schnell]' }));
    expect(list.actionButtons()).toEqual([
      expect.objectContaining({ id: `cancel:${one}`, label: 'Cancel 1' }),
      expect.objectContaining({ id: `cancel:${two}`, label: 'Cancel 2' }),
    ]);

    // Someone else pressing it is refused, privately, and nothing is cancelled.
    const intruder = await h.userWithKey('intruder');
    const refused = await h.press(`cancel:${one}`, { user: intruder.user });
    expect(refused.lastReply().private).toBe(true);
    expect(refused.lastText()).toMatch(/not yours/);
    const stranger = await h.press(`cancel:${one}`, { user: testUser('stranger') });
    expect(stranger.lastText()).toMatch(/not yours/);
    expect(h.fake.cancels()).toEqual([]);
    expect(h.owner.repos.jobs.getJob(one)?.status).not.toBe('cancelled');

    const pressed = await h.press(list.buttonId('Cancel 1'), { user });
    expect(pressed.events).toEqual(['defer', 'reply']);
    expect(pressed.lastReply().private).toBe(true);
    expect(pressed.lastText()).toContain('one slow cat');

    const delivery = await h.waitForDelivery(one);
    expect(delivery.status).toBe('cancelled');
    const submit = h.fake.submits().find((candidate) => candidate.input.prompt === 'one slow cat');
    expect(h.fake.cancels().map((cancel) => cancel.requestId)).toEqual([submit?.requestId]);
    expect(h.owner.repos.jobs.getJob(one)?.status).toBe('cancelled');
    expect(deliveryMessage(delivery).text).toMatch(/^Cancelled: \*\*one slow cat\*\*/);

    // The other job carries on.
    h.fake.release();
    succeeded(await h.waitForDelivery(two));
    const after = await h.run('jobs', {}, { user });
    expect(after.lastText()).toMatch(/no generations in progress/);

    // Cancelling a finished job says so.
    const late = await h.press(`cancel:${two}`, { user });
    expect(late.lastReply().private).toBe(true);
    expect(late.lastText()).toMatch(/already finished/);
  });

  it('the Cancel button of the queued reply works too', async () => {
    const { user } = await h.userWithKey('quick');
    h.fake.hold();
    const queued = await h.run('imagine', { prompt: 'never mind' }, { user });
    const jobId = h.jobIdFrom(queued);
    await h.fake.waitFor(() => h.fake.held().length === 1);
    const pressed = await h.press(queued.buttonId('Cancel'), { user });
    expect(pressed.lastReply().private).toBe(true);
    expect((await h.waitForDelivery(jobId)).status).toBe('cancelled');
    expect(h.fake.cancels()).toHaveLength(1);
  });

  it('a button with an unknown handler answers privately', async () => {
    const ctx = await h.press('nonsense:1', { user: testUser('x') });
    expect(ctx.lastReply().private).toBe(true);
    expect(ctx.lastText()).toMatch(/no longer works/);
  });
});
