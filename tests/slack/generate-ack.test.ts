import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeUser, InboundResult, SlackMessage } from '../fakes/slack-server.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

const SLOW_MS = 3_500;

/**
 * Slack wants an HTTP 200 within 3 seconds for every command, action and view submission (events
 * are retried otherwise). The app acknowledges first and does the work after: even when every Web
 * API call it then makes takes longer than the deadline, the acks are in time.
 */
describe('Slack acknowledgements', () => {
  let h: SlackHarness;
  let alice: FakeUser;

  const isResult = (message: SlackMessage) => JSON.stringify(message.blocks).includes('/s/');

  function expectInTime(result: InboundResult): void {
    expect(result.status).toBe(200);
    expect(result.acked).toBe(true);
    expect(result.late).toBe(false);
    // Far less than the slow Web API calls the handler makes after the ack.
    expect(result.ackMs).toBeLessThan(1_500);
  }

  beforeAll(async () => {
    h = await startSlackHarness();
    alice = (await h.memberWithKey('alice')).user;
  });
  afterAll(async () => {
    h?.slack.clearFailures();
    await h?.close();
  });

  it('commands, buttons, view submissions and mentions are acked at once, however slow the work after is', async () => {
    // A finished result (for its Rerun button) and an open modal, while Slack is fast.
    await h.slack.slashCommand({ command: '/imagine', text: 'a first try', user: alice, channel: h.general });
    const first = await h.slack.waitFor(() => h.slack.messages(h.general, { includeReplies: true }).find((message) => isResult(message)), 20_000, 'the first result');
    const views = h.slack.views().length;
    expectInTime(await h.slack.slashCommand({ command: '/imagine', text: '', user: alice, channel: h.general }));
    const view = await h.slack.waitFor(() => h.slack.views().slice(views)[0], 5_000, 'the modal');
    const before = new Set(h.slack.messages(h.general, { includeReplies: true }).map((message) => message.ts));

    // From now on, the next status messages take longer to post than Slack waits for an ack.
    h.slack.failNext('chat.postMessage', { delayMs: SLOW_MS, times: 4 });
    const started = Date.now();
    // Other members too, so that no one reaches the limit of jobs in progress.
    const bob = (await h.memberWithKey('bob')).user;
    const carol = (await h.memberWithKey('carol')).user;
    const acks = [
      await h.slack.slashCommand({ command: '/imagine', text: 'a slow command', user: bob, channel: h.general }),
      await h.slack.blockAction({ message: first, actionId: JSON.stringify(first.blocks).match(/"action_id":"(rerun:[^"]+)"/)![1]!, user: alice }),
      await h.slack.submitView({ view, values: { prompt: { prompt: 'a slow modal' } } }),
      await h.slack.appMention({ text: 'a slow mention', user: carol, channel: h.general }),
    ];
    for (const ack of acks) expectInTime(ack);
    expect(Date.now() - started).toBeLessThan(SLOW_MS);
    expect(h.slack.view(view.id)?.open).toBe(false);

    // The work still happens, after the acks: four status messages, then four results.
    for (const prompt of ['a slow command', 'a first try', 'a slow modal', 'a slow mention']) {
      await h.slack.waitFor(
        () => h.slack.messages(h.general, { includeReplies: true }).find((message) => !before.has(message.ts) && isResult(message) && JSON.stringify(message.blocks).includes(prompt)),
        20_000,
        `the result of "${prompt}"`,
      );
    }
    const statuses = h.slack.calls('chat.postMessage').filter((call) => call.params['text'] === 'Working on it…' && call.at >= started);
    expect(statuses).toHaveLength(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(SLOW_MS);
  });

  it('opening the modal is acked before views.open is called, and the trigger is still fresh', async () => {
    const views = h.slack.views().length;
    h.slack.failNext('views.open', { delayMs: 1_500 });
    const ack = await h.slack.slashCommand({ command: '/imagine', text: '', user: alice, channel: h.general });
    expectInTime(ack);
    const view = await h.slack.waitFor(() => h.slack.views().slice(views)[0], 5_000, 'the modal');
    expect(view.triggerId).toBe(ack.triggerId);
    const call = h.slack.calls('views.open').at(-1)!;
    expect(call.ok).toBe(true);
  });
});
