import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { slackUser } from '../../src/bots/slack/context.js';
import type { EphemeralMessage, FakeUser, InboundResult, Json, SlackMessage } from '../fakes/slack-server.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/** `/atelier jobs` on Slack: the member's queued and running generations, privately, with Cancel buttons. */
describe('/atelier jobs and Cancel on Slack', () => {
  let h: SlackHarness;

  type Element = { type?: string; action_id?: string; text?: { text?: string } };
  const buttonsOf = (message: { blocks: Json[] }): Element[] =>
    message.blocks.filter((block) => block['type'] === 'actions').flatMap((block) => (block['elements'] as Element[] | undefined) ?? []);
  const ref = (user: FakeUser) => slackUser(user.teamId, user.id, user.name);
  const owned = () => h.harness.app.owner!;
  const blockText = (message: { text: string; blocks: Json[] }) => JSON.stringify([message.text, message.blocks]);

  function acked(result: InboundResult): InboundResult {
    expect(result.status).toBe(200);
    expect(result.late).toBe(false);
    return result;
  }

  const nextEphemeral = (user: FakeUser, before: number, what = 'an ephemeral answer'): Promise<EphemeralMessage> =>
    h.slack.waitFor(() => h.slack.ephemerals(user).slice(before)[0], 10_000, what);

  /** Runs `/atelier jobs` and returns its private answer. */
  async function jobs(user: FakeUser, channel: { id: string } = h.general): Promise<EphemeralMessage> {
    const before = h.slack.ephemerals(user).length;
    const channelPostsBefore = h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).length;
    acked(await h.slack.slashCommand({ command: '/atelier', text: 'jobs', user, channel: channel.id }));
    const shown = await nextEphemeral(user, before, 'the /atelier jobs answer');
    expect(shown.source).toBe('response_url');
    expect(h.slack.messages(h.general, { includeReplies: true, includeDeleted: true })).toHaveLength(channelPostsBefore);
    return shown;
  }

  /** Runs /imagine in #general; returns the job id its public status message carries on its Cancel button. */
  async function queue(user: FakeUser, prompt: string): Promise<{ jobId: string; status: SlackMessage }> {
    const before = h.slack.messages(h.general).length;
    acked(await h.slack.slashCommand({ command: '/imagine', text: prompt, user, channel: h.general }));
    const status = await h.slack.waitFor(
      () => h.slack.messages(h.general).slice(before).find((message) => message.botId !== undefined && message.text.startsWith('Queued') && message.text.includes(prompt)),
      10_000,
      `the status message of "${prompt}"`,
    );
    const cancel = buttonsOf(status).find((button) => button.action_id?.startsWith('cancel:'));
    if (!cancel?.action_id) throw new Error(`no Cancel button in ${JSON.stringify(status.blocks)}`);
    const jobId = cancel.action_id.slice('cancel:'.length);
    started.push(jobId);
    return { jobId, status };
  }

  /** Jobs a test started: each test ends only when they are all delivered, so no delivery spills into the next. */
  const started: string[] = [];

  /** Polls `check` (job rows change without the fake Slack noticing). */
  async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  beforeAll(async () => {
    h = await startSlackHarness();
  });

  afterEach(async () => {
    h.fal.release();
    const ids = started.splice(0);
    await until(() => ids.every((id) => owned().repos.jobs.getJob(id)?.deliveredAt != null), `jobs ${ids.join(', ')} delivered`);
  });

  afterAll(async () => {
    try {
      if (h) expect(h.slack.inbound().filter((result) => result.status !== 200 || result.late)).toEqual([]);
    } finally {
      h?.fal.release();
      await h?.close();
    }
  });

  it('/atelier jobs with nothing in progress says so, privately, in a channel and in a DM', async () => {
    const user = h.slack.user({ name: 'idle' });
    for (const channel of [h.general, h.slack.dmChannel(user)]) {
      const shown = await jobs(user, channel);
      expect(shown.channel).toBe(channel.id);
      expect(shown.text).toMatch(/no generations in progress/);
      expect(buttonsOf(shown)).toEqual([]);
    }
  });

  it('lists queued and running jobs with Cancel buttons; Cancel stops the job at fal and the status message says it was cancelled', async () => {
    const { user } = await h.memberWithKey('busy');
    h.fal.hold();
    const heldBefore = h.fal.held().length;
    const one = await queue(user, 'one slow cat');
    const two = await queue(user, 'two slow dogs');
    await h.fal.waitFor(() => h.fal.held().length === heldBefore + 2, 10_000);

    const shown = await jobs(user);
    expect(shown.text).toContain('(2/3)');
    const text = blockText(shown);
    expect(text).toContain('1. one slow cat');
    expect(text).toContain('2. two slow dogs');
    expect(text).toContain('FLUX.1 [schnell]');
    expect(text).toMatch(/\*Status\*/);
    expect(buttonsOf(shown)).toEqual([
      expect.objectContaining({ action_id: `cancel:${one.jobId}`, text: expect.objectContaining({ text: 'Cancel 1' }) }),
      expect.objectContaining({ action_id: `cancel:${two.jobId}`, text: expect.objectContaining({ text: 'Cancel 2' }) }),
    ]);

    const cancelsBefore = h.fal.cancels().length;
    const before = h.slack.ephemerals(user).length;
    acked(await h.slack.blockAction({ actionId: `cancel:${one.jobId}`, message: shown, user }));
    const answer = await nextEphemeral(user, before, 'the answer to Cancel 1');
    expect(answer.text).toContain('one slow cat');
    expect(answer.text).toMatch(/Cancelling/);

    // fal was asked to cancel exactly that request, with this member's key.
    const submit = h.fal.submits().find((candidate) => candidate.input['prompt'] === 'one slow cat');
    await h.fal.waitFor(() => h.fal.cancels().length > cancelsBefore, 10_000);
    expect(h.fal.cancels().slice(cancelsBefore).map((cancel) => cancel.requestId)).toEqual([submit?.requestId]);
    // The public status message becomes "Cancelled", without buttons.
    const cancelled = await h.slack.waitFor(() => {
      const message = h.slack.message(h.general, one.status.ts);
      return message?.text.startsWith('Cancelled') ? message : undefined;
    }, 10_000, 'the cancelled status');
    expect(cancelled.text).toBe('Cancelled: one slow cat.');
    expect(blockText(cancelled)).toContain('Cancelled: *one slow cat*.');
    expect(buttonsOf(cancelled)).toEqual([]);
    expect(owned().repos.jobs.getJob(one.jobId)?.status).toBe('cancelled');

    // The other job carries on and is delivered in its thread.
    h.fal.release();
    await h.slack.waitFor(() => h.slack.thread(h.general, two.status.ts).find((message) => message.ts !== two.status.ts && blockText(message).includes('/s/')), 20_000, 'the result of "two slow dogs"');
    await h.slack.waitFor(() => owned().services.generation.activeJobs(ref(user)).length === 0, 10_000);
    expect((await jobs(user)).text).toMatch(/no generations in progress/);

    // Cancelling a finished job says so, privately.
    const lateBefore = h.slack.ephemerals(user).length;
    acked(await h.slack.blockAction({ actionId: `cancel:${two.jobId}`, message: shown, user }));
    expect((await nextEphemeral(user, lateBefore, 'the answer to a late Cancel')).text).toMatch(/already finished/);
  });

  it('the Cancel button of the public status message works for its owner', async () => {
    const { user } = await h.memberWithKey('quick');
    h.fal.hold();
    const cancelsBefore = h.fal.cancels().length;
    const { jobId, status } = await queue(user, 'never mind');
    await h.fal.waitFor(() => h.fal.submits().some((submit) => submit.input['prompt'] === 'never mind'), 10_000);
    const before = h.slack.ephemerals(user).length;
    acked(await h.slack.blockAction({ actionId: `cancel:${jobId}`, message: h.slack.message(h.general, status.ts)!, user }));
    expect((await nextEphemeral(user, before)).text).toContain('never mind');
    await h.slack.waitFor(() => h.slack.message(h.general, status.ts)?.text.startsWith('Cancelled'), 10_000, 'the cancelled status');
    expect(h.fal.cancels().length).toBe(cancelsBefore + 1);
    expect(owned().services.generation.activeJobs(ref(user))).toEqual([]);
  });

  it("someone else pressing Cancel on a member's status message is refused privately and nothing is cancelled", async () => {
    const { user } = await h.memberWithKey('target');
    h.fal.hold();
    const { jobId, status } = await queue(user, 'mine to keep');
    await h.fal.waitFor(() => h.fal.submits().some((submit) => submit.input['prompt'] === 'mine to keep'), 10_000);
    const cancelsBefore = h.fal.cancels().length;
    const intruder = (await h.memberWithKey('intruder')).user;
    for (const who of [intruder, h.slack.user({ name: 'keyless' })]) {
      const before = h.slack.ephemerals(who).length;
      const botPostsBefore = h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).length;
      acked(await h.slack.blockAction({ actionId: `cancel:${jobId}`, message: h.slack.message(h.general, status.ts)!, user: who }));
      const answer = await nextEphemeral(who, before, 'the refusal');
      expect(answer.text).toMatch(/not yours/);
      expect(buttonsOf(answer)).toEqual([]);
      expect(h.slack.ephemerals(who).slice(before)).toHaveLength(1);
      expect(h.slack.ephemerals(user).filter((message) => message.text.includes('not yours'))).toEqual([]);
      expect(h.slack.messages(h.general, { includeReplies: true, includeDeleted: true })).toHaveLength(botPostsBefore);
    }
    expect(h.fal.cancels().length).toBe(cancelsBefore);
    expect(owned().repos.jobs.getJob(jobId)?.status).not.toBe('cancelled');
    expect(owned().services.generation.activeJobs(ref(user)).map((job) => job.id)).toEqual([jobId]);
    expect(h.slack.message(h.general, status.ts)?.text).not.toMatch(/^Cancelled/);
  });
});
