import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackUser } from '../../src/bots/slack/context.js';
import type { DeliveryOptions, FakeUser, InboundResult, Json, SlackMessage } from '../fakes/slack-server.js';
import { newFalKey } from '../helpers/app.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/**
 * Requests that do not carry Slack's valid signature (a wrong secret, none at all, or a timestamp more
 * than five minutes old) are answered 401 by Bolt and do nothing: no handler effect, no Web API call,
 * no response_url post, no modal, no job, no fal call. Correctly signed ones still work afterwards.
 */
describe('forged and stale Slack requests', () => {
  let h: SlackHarness;
  let member: FakeUser;
  let memberKey: string;
  /** A finished public result of `member`, with its Delete button. */
  let result: { post: SlackMessage; assetId: string };
  const forged = new Set<InboundResult>();

  /** The ways a request can fail verification (timestamps computed at the time of sending). */
  const forgeries = (): Array<[string, DeliveryOptions]> => [
    ['a wrong signing secret', { badSignature: true }],
    ['another app\'s signing secret', { signingSecret: 'not-our-signing-secret' }],
    ['no signature', { omitSignature: true }],
    ['a stale timestamp (6 minutes)', { stale: true }],
    ['a timestamp just over 5 minutes old', { timestamp: Math.floor(Date.now() / 1000) - 305 }],
  ];

  const ref = (user: FakeUser) => slackUser(user.teamId, user.id, user.name);
  const owner = () => h.harness.app.owner!;
  const totalJobs = () => Object.values(owner().repos.jobs.countJobsByStatus()).reduce((sum, count) => sum + count, 0);
  const shareUrlIn = (message: { text: string; blocks: Json[] }) => new RegExp(`${h.harness.baseUrl}/s/[A-Za-z0-9_-]+`).exec(JSON.stringify([message.text, message.blocks]))?.[0];
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  function acked(result: InboundResult): InboundResult {
    expect(result.status).toBe(200);
    expect(result.late).toBe(false);
    return result;
  }

  /** Everything a handler could have done, counted. */
  function effects() {
    return {
      calls: h.slack.calls().length,
      responses: h.slack.responses().length,
      views: h.slack.views().length,
      ephemerals: h.slack.ephemerals().length,
      // The bot's messages (a mention or channel message stores the member's own message first).
      messages: h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).filter((message) => message.botId !== undefined).length,
      dms: h.slack.dmMessages(member, { includeDeleted: true }).filter((message) => message.botId !== undefined).length,
      jobs: totalJobs(),
      fal: h.fal.requests.length,
      downloads: h.slack.fileDownloads().length,
    };
  }

  /** Sends `deliver` once per forgery; each must be refused with 401 and change nothing. */
  async function expectRefused(deliver: (options: DeliveryOptions) => Promise<InboundResult>): Promise<void> {
    const before = effects();
    for (const [what, options] of forgeries()) {
      const result = await deliver(options);
      forged.add(result);
      expect(result.status, what).toBe(401);
      expect(result.acked, what).toBe(false);
      expect(effects(), what).toEqual(before);
    }
    // Bolt answers at once; give a (wrongly) started handler time to show itself anyway.
    await sleep(150);
    expect(effects()).toEqual(before);
  }

  beforeAll(async () => {
    h = await startSlackHarness();
    ({ user: member, key: memberKey } = await h.memberWithKey('member'));
    const before = h.slack.messages(h.general).length;
    acked(await h.slack.slashCommand({ command: '/imagine', text: 'a signed request', user: member, channel: h.general }));
    const status = await h.slack.waitFor(() => h.slack.messages(h.general).slice(before).find((message) => message.botId !== undefined), 10_000, 'the status message');
    await h.slack.waitFor(() => h.slack.message(h.general, status.ts)?.text.startsWith('Done'), 20_000, 'the result');
    const post = h.slack.thread(h.general, status.ts).find((message) => message.ts !== status.ts && shareUrlIn(message))!;
    const asset = owner().repos.assets.getAssetByShareId(shareUrlIn(post)!.split('/s/')[1]!)!;
    result = { post, assetId: asset.id };
  });

  afterAll(async () => {
    try {
      if (h) {
        for (const inbound of h.slack.inbound()) {
          if (forged.has(inbound)) continue;
          // Every genuine command, action, submission and event was acknowledged in time.
          expect(inbound.status).toBe(200);
          expect(inbound.late).toBe(false);
        }
      }
    } finally {
      h?.fal.release();
      await h?.close();
    }
  });

  it('slash commands: /imagine, /atelier key (a modal) and /atelier key remove do nothing', async () => {
    await expectRefused((options) => h.slack.slashCommand({ command: '/imagine', text: 'a forged cat', user: member, channel: h.general, ...options }));
    await expectRefused((options) => h.slack.slashCommand({ command: '/atelier', text: 'key', user: member, channel: h.slack.dmChannel(member), ...options }));
    await expectRefused((options) => h.slack.slashCommand({ command: '/atelier', text: 'key remove', user: member, channel: h.general, ...options }));
    await expectRefused((options) => h.slack.slashCommand({ command: '/gallery', text: '', user: member, channel: h.general, ...options }));
    expect(owner().services.keys.status(ref(member))?.hint).toBe(`…${memberKey.slice(-4)}`);
    expect(owner().services.generation.activeJobs(ref(member))).toEqual([]);

    // The same command, signed, works.
    const before = h.slack.ephemerals(member).length;
    acked(await h.slack.slashCommand({ command: '/atelier', text: 'key status', user: member, channel: h.general }));
    expect((await h.slack.waitFor(() => h.slack.ephemerals(member).slice(before)[0], 10_000)).text).toContain(`…${memberKey.slice(-4)}`);
  });

  it('button presses: Delete for good and Cancel do nothing', async () => {
    await expectRefused((options) => h.slack.blockAction({ actionId: `delete:${result.assetId}`, message: result.post, user: member, ...options }));
    await expectRefused((options) => h.slack.blockAction({ actionId: `deleteyes:${result.assetId}`, message: result.post, user: member, ...options }));
    const asset = owner().repos.assets.getAsset(result.assetId)!;
    expect(asset.removedAt).toBeNull();
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(true);
    expect(h.slack.message(h.general, result.post.ts)?.deleted).toBe(false);

    // A job in progress: a forged Cancel leaves it running (its own progress edits aside).
    h.fal.hold();
    try {
      const before = h.slack.messages(h.general).length;
      acked(await h.slack.slashCommand({ command: '/imagine', text: 'keep going', user: member, channel: h.general }));
      const status = await h.slack.waitFor(
        () => h.slack.messages(h.general).slice(before).find((message) => message.botId !== undefined && message.text.startsWith('Queued')),
        10_000,
        'the queued status',
      );
      const cancel = (status.blocks.filter((block) => block['type'] === 'actions').flatMap((block) => block['elements'] as Array<{ action_id?: string }>) ?? []).find((button) =>
        button.action_id?.startsWith('cancel:'),
      );
      const jobId = cancel!.action_id!.slice('cancel:'.length);
      await h.fal.waitFor(() => h.fal.submits().some((submit) => submit.input['prompt'] === 'keep going'), 10_000);
      const cancelsBefore = h.fal.cancels().length;
      for (const [what, options] of forgeries()) {
        const ephemeralsBefore = h.slack.ephemerals(member).length;
        const forgedPress = await h.slack.blockAction({ actionId: `cancel:${jobId}`, message: h.slack.message(h.general, status.ts)!, user: member, ...options });
        forged.add(forgedPress);
        expect(forgedPress.status, what).toBe(401);
        await sleep(100);
        expect(h.slack.ephemerals(member).slice(ephemeralsBefore), what).toEqual([]);
      }
      expect(h.fal.cancels()).toHaveLength(cancelsBefore);
      expect(owner().repos.jobs.getJob(jobId)?.status).not.toBe('cancelled');
      expect(owner().services.generation.activeJobs(ref(member)).map((job) => job.id)).toEqual([jobId]);
    } finally {
      h.fal.release();
    }
    await h.slack.waitFor(() => owner().services.generation.activeJobs(ref(member)).length === 0, 20_000, 'the held job to finish');
    // Let its delivery settle (the "Done" edit) before the next test counts calls.
    await h.slack.waitFor(() => h.slack.messages(h.general).find((message) => message.text.startsWith('Done') && message.text.includes('keep going')), 10_000, 'the held job delivered');
  });

  it('view submissions: a forged key modal submission stores nothing and leaves the modal open', async () => {
    const user = h.slack.user({ name: 'newcomer' });
    const key = newFalKey();
    h.fal.addKey(key);
    acked(await h.slack.slashCommand({ command: '/atelier', text: 'key', user, channel: h.slack.dmChannel(user) }));
    const view = await h.slack.waitFor(() => h.slack.views({ openOnly: true, user }).find((candidate) => candidate.callbackId === 'keyform'), 5_000, 'the key modal');
    await expectRefused((options) => h.slack.submitView({ view, values: { key: { key } }, ...options }));
    expect(owner().services.keys.status(ref(user))).toBeUndefined();
    expect(h.slack.view(view.id)?.open).toBe(true);

    // Signed, the same submission registers the key.
    const before = h.slack.ephemerals(user).length;
    acked(await h.slack.submitView({ view, values: { key: { key } } }));
    expect((await h.slack.waitFor(() => h.slack.ephemerals(user).slice(before)[0], 10_000)).text).toContain(`…${key.slice(-4)}`);
    expect(owner().services.keys.status(ref(user))?.hint).toBe(`…${key.slice(-4)}`);
  });

  it('events: a forged mention starts no job; a forged channel message with a key gets no answer', async () => {
    await expectRefused((options) => h.slack.appMention({ text: 'a forged mention', user: member, channel: h.general, ...options }));
    const pasted = newFalKey();
    await expectRefused((options) => h.slack.channelMessage({ text: `key ${pasted}`, user: member, channel: h.general, ...options }));
    await expectRefused((options) => h.slack.directMessage({ text: 'a forged DM request', user: member, ...options }));
    // Bolt logs the refusal without the body: the key is in no log line.
    expect(h.harness.logs.text).toMatch(/signature mismatch|verify/i);
    expect(h.harness.logs.text).not.toContain(pasted.split(':')[1]);
    expect(owner().services.generation.activeJobs(ref(member))).toEqual([]);
  });
});
