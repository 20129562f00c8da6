import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SlackMessage } from '../fakes/slack-server.js';
import { eventually, FAST_TUNING } from '../helpers/app.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/** A deploy between a Slack command and its result: the job resumes at fal and the result is posted once. */
describe('Slack: a restart between the command and the result', () => {
  let h: SlackHarness;

  const isResult = (message: SlackMessage) => JSON.stringify(message.blocks).includes('/s/');

  beforeAll(async () => {
    // The old process hands the held job back quickly instead of waiting for it (the default grace is 10 s).
    h = await startSlackHarness({ app: { appOptions: { workerTuning: { ...FAST_TUNING.workerTuning, shutdownGraceMs: 200 } } } });
  });
  afterAll(async () => {
    h?.fal.release();
    await h?.close();
  });

  it('delivers exactly one result, from one fal request, under the original status message', async () => {
    const { user } = await h.memberWithKey('patient');
    h.fal.hold('fal-ai/flux/schnell');
    const ack = await h.slack.slashCommand({ command: '/imagine', text: 'a clock tower at noon', user, channel: h.general });
    expect(ack.late).toBe(false);
    const submit = await h.fal.waitForSubmit('fal-ai/flux/schnell', 1, 10_000);
    const status = await h.slack.waitFor(() => h.slack.messages(h.general).find((message) => message.text.includes('a clock tower at noon')), 5_000, 'the status message');

    await h.restart();
    h.fal.release();

    const result = await h.slack.waitFor(() => h.slack.thread(h.general, status.ts).find((message) => message.ts !== status.ts && isResult(message)), 30_000, 'the result');
    await h.slack.waitFor(() => h.slack.message(h.general, status.ts)?.text.startsWith('Done'), 5_000, 'the status to say done');
    // Give a duplicate delivery the time to show itself.
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    expect(h.fal.submits()).toHaveLength(1);
    expect(h.fal.submits()[0]?.requestId).toBe(submit.requestId);
    expect(h.slack.thread(h.general, status.ts).map((message) => message.ts)).toEqual([status.ts, result.ts]);
    expect(h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).map((message) => message.ts)).toEqual([status.ts, result.ts]);
    expect(h.slack.calls('chat.postMessage').filter((call) => JSON.stringify(call.params).includes('/s/'))).toHaveLength(1);
    expect(h.slack.ephemerals(user)).toEqual([]);
    expect(h.slack.dmMessages(user)).toEqual([]);
    expect(h.slack.message(h.general, status.ts)?.text).toBe('Done: a clock tower at noon (result in the thread)');

    const owner = h.harness.app.owner!;
    const asset = owner.repos.assets.getAssetByShareId(/\/s\/([\w-]+)/.exec(JSON.stringify(result.blocks))![1]!)!;
    const job = owner.repos.jobs.getJob(asset.jobId)!;
    expect(job.status).toBe('succeeded');
    await eventually(() => owner.repos.jobs.getJob(job.id)?.deliveredAt);
    // One post recorded: the result, which a removal would take down.
    expect(owner.repos.posts.forJob(job.id).map((post) => post.messageId)).toEqual([result.ts]);

    // The buttons work in the new process: Delete takes the post down.
    const responses = h.slack.responses().length;
    const press = await h.slack.blockAction({ message: result, actionId: `delete:${asset.id}`, user });
    expect(press.late).toBe(false);
    const confirm = await h.slack.waitFor(() => h.slack.ephemerals(user).find((message) => message.text.startsWith('Delete a clock tower')), 10_000, 'the confirmation');
    await h.slack.blockAction({ message: confirm, actionId: `deleteyes:${asset.id}`, user });
    await h.slack.waitFor(() => h.slack.message(h.general, result.ts)?.deleted, 10_000, 'the result post to go');
    expect(h.slack.responses().slice(responses).every((post) => post.status === 200)).toBe(true);
  });
});
