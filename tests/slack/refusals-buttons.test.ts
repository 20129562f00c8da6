import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackUser } from '../../src/bots/slack/context.js';
import type { Asset } from '../../src/db/index.js';
import type { EphemeralMessage, FakeUser, InboundResult, Json, SlackMessage } from '../fakes/slack-server.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/**
 * Buttons pressed on Slack by someone who may not use them (or that no longer work) are answered with
 * one ephemeral message, with no fal call, no new job, and nothing in the channel.
 */
describe('buttons refused on Slack', () => {
  let h: SlackHarness;
  let author: FakeUser;
  /** A public result of `author`, threaded under its status message, with Rerun, Vary and Delete. */
  let result: { post: SlackMessage; asset: Asset; jobId: string };

  type Element = { action_id?: string; url?: string; text?: { text?: string } };
  const buttonsOf = (message: { blocks: Json[] }): Element[] =>
    message.blocks.filter((block) => block['type'] === 'actions').flatMap((block) => (block['elements'] as Element[] | undefined) ?? []);
  const buttonId = (message: { blocks: Json[] }, label: string) => {
    const id = buttonsOf(message).find((button) => button.text?.text === label)?.action_id;
    if (!id) throw new Error(`no "${label}" button in ${JSON.stringify(message.blocks)}`);
    return id;
  };
  const ref = (user: FakeUser) => slackUser(user.teamId, user.id, user.name);
  const totalJobs = () => Object.values(h.harness.app.owner!.repos.jobs.countJobsByStatus()).reduce((sum, count) => sum + count, 0);
  const channelRecord = () => h.slack.messages(h.general, { includeReplies: true, includeDeleted: true });
  const shareUrlIn = (message: { text: string; blocks: Json[] }) => new RegExp(`${h.harness.baseUrl}/s/[A-Za-z0-9_-]+`).exec(JSON.stringify([message.text, message.blocks]))?.[0];

  function acked(result: InboundResult): InboundResult {
    expect(result.status).toBe(200);
    expect(result.acked).toBe(true);
    expect(result.late).toBe(false);
    return result;
  }

  /** Generates through /imagine and waits for the result threaded under the status message. */
  async function generate(user: FakeUser, text: string, prompt: string): Promise<{ post: SlackMessage; status: SlackMessage }> {
    const before = channelRecord().length;
    acked(await h.slack.slashCommand({ command: '/imagine', text, user, channel: h.general }));
    const status = await h.slack.waitFor(() => channelRecord().slice(before).find((message) => message.botId !== undefined && !message.deleted && message.text.includes(prompt)), 10_000, 'the status message');
    const post = await h.slack.waitFor(
      () => h.slack.thread(h.general, status.ts).find((message) => message.ts !== status.ts && message.botId !== undefined && shareUrlIn(message)),
      20_000,
      `the result of "${prompt}"`,
    );
    await delivered(buttonId(post, 'Rerun').slice('rerun:'.length));
    return { post, status: h.slack.message(h.general, status.ts)! };
  }

  /** Polls `check` (job rows change without the fake Slack noticing). */
  async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  const delivered = (jobId: string) => until(() => h.harness.app.owner!.repos.jobs.getJob(jobId)?.deliveredAt != null, `job ${jobId} delivered`);

  beforeAll(async () => {
    h = await startSlackHarness();
    author = (await h.memberWithKey('author')).user;
    const { post } = await generate(author, 'a lighthouse in fog', 'a lighthouse in fog');
    const asset = h.harness.app.owner!.repos.assets.getAssetByShareId(shareUrlIn(post)!.split('/s/')[1]!)!;
    result = { post, asset, jobId: buttonId(post, 'Rerun').slice('rerun:'.length) };
  });

  afterAll(async () => {
    try {
      if (h) expect(h.slack.inbound().filter((inbound) => inbound.status !== 200 || inbound.late)).toEqual([]);
    } finally {
      h?.fal.release();
      await h?.close();
    }
  });

  /** The one private answer to a button press, checked for "nothing else happened". */
  async function refusedPress(actionId: string, message: SlackMessage | EphemeralMessage, user: FakeUser, options: { messageMayChange?: boolean } = {}): Promise<string> {
    const jobsBefore = totalJobs();
    const falBefore = h.fal.requests.length;
    const recordBefore = channelRecord().length;
    const revisionsBefore = message.ephemeral ? 0 : (h.slack.message(message.channel, message.ts)?.revisions.length ?? 0);
    const before = h.slack.ephemerals(user).length;
    acked(await h.slack.blockAction({ actionId, message, user }));
    const answer = await h.slack.waitFor(() => h.slack.ephemerals(user).slice(before)[0], 10_000, `the answer to ${actionId}`);
    expect(answer.channel).toBe(h.general.id);
    expect(buttonsOf(answer)).toEqual([]);
    // Nothing posted in the channel that is still there (a deleted placeholder at most).
    expect(channelRecord().slice(recordBefore).filter((candidate) => !candidate.deleted)).toEqual([]);
    // The message the button is on was not changed by the press (a job in progress edits its own).
    if (!message.ephemeral && !options.messageMayChange) {
      const now = h.slack.message(message.channel, message.ts);
      expect(now?.deleted).toBe(false);
      expect(now?.revisions.length).toBe(revisionsBefore);
    }
    expect(totalJobs()).toBe(jobsBefore);
    // Nothing new at fal: no submit, upload, cancel or key check (status polls of jobs already running aside).
    const sent = h.fal.requests.slice(falBefore).map((request) => request.route);
    expect(sent.filter((route) => ['submit', 'run', 'cancel', 'pricing'].includes(route) || route.startsWith('upload'))).toEqual([]);
    expect(h.slack.ephemerals(user).slice(before)).toHaveLength(1);
    return answer.text;
  }

  it("Delete on someone else's result: only its owner or a moderator", async () => {
    const other = h.slack.user({ name: 'passerby' });
    const text = await refusedPress(`delete:${result.asset.id}`, result.post, other);
    expect(text).toMatch(/owner or a moderator/);
    expect(await h.harness.app.storage.exists(result.asset.storageKey)).toBe(true);
    expect(h.harness.app.owner!.repos.assets.getAsset(result.asset.id)?.removedAt).toBeNull();
    // "Delete for good" forged by the same passer-by does nothing either.
    expect(await refusedPress(`deleteyes:${result.asset.id}`, result.post, other)).toMatch(/owner or a moderator/);
    expect(await h.harness.app.storage.exists(result.asset.storageKey)).toBe(true);
  });

  it("Cancel on someone else's job: not yours", async () => {
    h.fal.hold();
    try {
      const before = channelRecord().length;
      acked(await h.slack.slashCommand({ command: '/imagine', text: 'slow work', user: author, channel: h.general }));
      const queued = await h.slack.waitFor(
        () => channelRecord().slice(before).find((message) => message.botId !== undefined && !message.deleted && message.text.startsWith('Queued') && message.text.includes('slow work')),
        10_000,
        'the queued status',
      );
      const jobId = buttonId(queued, 'Cancel').slice('cancel:'.length);
      await h.fal.waitFor(() => h.fal.submits().some((submit) => submit.input['prompt'] === 'slow work'), 10_000);
      const cancelsBefore = h.fal.cancels().length;
      const text = await refusedPress(`cancel:${jobId}`, h.slack.message(h.general, queued.ts)!, h.slack.user({ name: 'meddler' }), { messageMayChange: true });
      expect(text).toMatch(/not yours/);
      expect(h.fal.cancels()).toHaveLength(cancelsBefore);
      expect(h.harness.app.owner!.services.generation.activeJobs(ref(author)).map((job) => job.id)).toContain(jobId);
      h.fal.release();
      // Delivered before the next test counts posts and calls.
      await delivered(jobId);
    } finally {
      h.fal.release();
    }
  });

  it('Rerun and Vary by a member without a key: told a fal key is needed, privately', async () => {
    const keyless = h.slack.user({ name: 'keyless' });
    const rerun = await refusedPress(buttonId(result.post, 'Rerun'), result.post, keyless);
    expect(rerun).toMatch(/not registered a fal key/);
    const vary = await refusedPress(buttonId(result.post, 'Vary'), result.post, keyless);
    expect(vary).toMatch(/not registered a fal key/);
    expect(h.harness.app.owner!.services.generation.activeJobs(ref(keyless))).toEqual([]);
  });

  it("Vary of someone else's private result is refused as if it were gone", async () => {
    const before = h.slack.ephemerals(author).length;
    acked(await h.slack.slashCommand({ command: '/imagine', text: 'a secret --private', user: author, channel: h.general }));
    const secret = await h.slack.waitFor(() => h.slack.ephemerals(author).slice(before).find((message) => shareUrlIn(message)), 20_000, 'the private result');
    await delivered(buttonId(secret, 'Rerun').slice('rerun:'.length));
    // The result is only visible to its author: another member can only forge the button's action id.
    const varyId = buttonId(secret, 'Vary');
    const other = (await h.memberWithKey('snoop')).user;
    const text = await refusedPress(varyId, result.post, other);
    expect(text).toMatch(/deleted/);
    expect(await refusedPress(buttonId(secret, 'Delete'), result.post, other)).toMatch(/deleted/);
  });

  it('a stale or unknown button answers privately', async () => {
    const someone = h.slack.user({ name: 'clicker' });
    expect(await refusedPress('nonsense:1', result.post, someone)).toMatch(/no longer works/);
    expect(await refusedPress('gallery::not-a-cursor', result.post, author)).toMatch(/run \/gallery again/);
    expect(await refusedPress('rerun:no-such-job', result.post, author)).toMatch(/no longer exists/);
    expect(await refusedPress('cancel:no-such-job', result.post, author)).toMatch(/does not exist/);
  });

  it('a link button (the share page) is acknowledged and does nothing else', async () => {
    const link = buttonsOf(result.post).find((button) => button.url !== undefined);
    expect(link?.action_id).toMatch(/^link:/);
    const callsBefore = h.slack.calls().length;
    const responsesBefore = h.slack.responses().length;
    acked(await h.slack.blockAction({ actionId: link!.action_id!, message: result.post, user: h.slack.user({ name: 'reader' }) }));
    // Give the handler a moment to do anything it would.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(h.slack.calls().slice(callsBefore)).toEqual([]);
    expect(h.slack.responses().slice(responsesBefore)).toEqual([]);
  });
});
