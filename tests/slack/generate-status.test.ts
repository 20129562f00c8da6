import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeUser, Json } from '../fakes/slack-server.js';
import { FAST_TUNING } from '../helpers/app.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/**
 * The status message of a Slack job is one message updated in place through every stage: queued with
 * its position in line, waiting at fal, running (with fal's last log line), saving, done.
 */
describe('Slack status message', () => {
  let h: SlackHarness;
  let alice: FakeUser;
  let bob: FakeUser;

  type Element = { type: string; action_id?: string; text?: { text: string } };
  const buttonsOf = (blocks: Json[]): Element[] => blocks.filter((block) => block['type'] === 'actions').flatMap((block) => block['elements'] as Element[]);

  beforeAll(async () => {
    // One generation at a time, and fal polled slowly enough for every stage to be shown.
    h = await startSlackHarness({
      app: { env: { WORKER_CONCURRENCY: '1' }, appOptions: { workerTuning: { ...FAST_TUNING.workerTuning, pollIntervalMs: 250 } } },
    });
    alice = (await h.memberWithKey('alice')).user;
    bob = (await h.memberWithKey('bob')).user;
  });
  afterAll(async () => {
    h?.fal.release();
    await h?.close();
  });

  it('goes from queued (with the position in line) to waiting at fal, running, saving and done', async () => {
    // Two jobs of another member go first: one runs (held at fal), one waits.
    h.fal.hold('fal-ai/flux/dev');
    for (const prompt of ['first in line', 'second in line']) {
      const ack = await h.slack.slashCommand({ command: '/imagine', text: `${prompt} --model dev`, user: bob, channel: h.general });
      expect(ack.late).toBe(false);
    }
    await h.fal.waitForSubmit('fal-ai/flux/dev', 1, 10_000);
    await h.slack.waitFor(() => h.slack.messages(h.general).find((message) => message.text.startsWith('Queued: second in line')), 5_000, 'the second job to be queued');

    h.fal.setProgression('fal-ai/flux/schnell', [{ status: 'IN_QUEUE', queuePosition: 2 }, { status: 'IN_PROGRESS', logs: ['denoising 10/20'] }]);
    h.fal.setOutput('fal-ai/flux/schnell', () => h.fal.imageOutput({ width: 32, height: 32, host: 'slow.fal.media' }));
    // Saving takes a moment: the download of the output is slow.
    h.fal.cdnDelivery({ url: 'slow.fal.media', headerDelayMs: 600 });

    const ack = await h.slack.slashCommand({ command: '/imagine', text: 'a tidal pool', user: alice, channel: h.general });
    expect(ack.late).toBe(false);
    const status = await h.slack.waitFor(() => h.slack.messages(h.general).find((message) => message.text.includes('a tidal pool')), 5_000, 'the status message');
    const queued = await h.slack.waitFor(() => {
      const current = h.slack.message(h.general, status.ts);
      return current?.text.startsWith('Queued') ? current : undefined;
    }, 5_000, 'the queued state');
    expect(queued.text).toBe('Queued (position 2 in line): a tidal pool with FLUX.1 [schnell].');
    expect(buttonsOf(queued.blocks).map((button) => button.text?.text)).toEqual(['Cancel']);

    h.fal.release();
    const done = await h.slack.waitFor(() => {
      const current = h.slack.message(h.general, status.ts);
      return current?.text.startsWith('Done') ? current : undefined;
    }, 20_000, 'the done state');

    const texts = [...done.revisions.map((revision) => revision.text), done.text];
    const stages = [
      /^Working on it…$/,
      /^Queued \(position 2 in line\): a tidal pool with FLUX\.1 \[schnell\]\.$/,
      /^Waiting at fal \(position 3\): a tidal pool with FLUX\.1 \[schnell\]$/,
      /^Generating a tidal pool with FLUX\.1 \[schnell\]…\n> denoising 10\/20$/,
      /^Saving your result: a tidal pool with FLUX\.1 \[schnell\]…$/,
      /^Done: a tidal pool \(result in the thread\)$/,
    ];
    // Each stage in this order (other "waiting" states may come between), and never back.
    let at = -1;
    for (const stage of stages) {
      const next = texts.findIndex((text, index) => index > at && stage.test(text));
      expect(next, `${stage} after ${texts[at] ?? 'the start'} in ${JSON.stringify(texts)}`).toBeGreaterThan(at);
      at = next;
    }
    // Cancel stays while the job can be cancelled, and goes once it is done.
    const revisions = done.revisions.map((revision) => ({ text: revision.text, buttons: buttonsOf(revision.blocks).map((button) => button.text?.text) }));
    expect(revisions.find((revision) => revision.text.startsWith('Generating'))?.buttons).toEqual(['Cancel']);
    expect(revisions.find((revision) => revision.text.startsWith('Saving'))?.buttons).toEqual([]);
    expect(buttonsOf(done.blocks)).toEqual([]);
    // One message throughout, edited with chat.update, and the result in its thread.
    const updates = h.slack.calls('chat.update').filter((call) => call.params['ts'] === status.ts);
    expect(updates).toHaveLength(texts.length - 1);
    for (let index = 1; index < updates.length; index += 1) expect(updates[index]!.at - updates[index - 1]!.at).toBeGreaterThanOrEqual(195);
    const thread = h.slack.thread(h.general, status.ts);
    expect(thread).toHaveLength(2);
    expect(JSON.stringify(thread[1]!.blocks)).toContain('/s/');
  });
});
