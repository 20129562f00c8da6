import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Asset } from '../../src/db/index.js';
import type { EphemeralMessage, FakeUser, Json, SlackMessage } from '../fakes/slack-server.js';
import { eventually } from '../helpers/app.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/** The buttons on Slack status and result messages: Cancel, Rerun, Vary, Delete. */
describe('Slack result buttons', () => {
  let h: SlackHarness;
  let owner: FakeUser;
  let other: FakeUser;
  let otherKey: string;

  type Element = { type: string; action_id?: string; url?: string; text?: { text: string } };
  const buttonsOf = (message: { blocks: Json[] }): Element[] => message.blocks.filter((block) => block['type'] === 'actions').flatMap((block) => block['elements'] as Element[]);
  const actionId = (message: { blocks: Json[] }, label: string) => {
    const id = buttonsOf(message).find((button) => button.text?.text === label)?.action_id;
    if (!id) throw new Error(`no "${label}" button in ${JSON.stringify(message.blocks)}`);
    return id;
  };
  const isResult = (message: SlackMessage) => JSON.stringify(message.blocks).includes('/s/');
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  const owned = () => h.harness.app.owner!;
  const seen = () => new Set(h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).map((message) => message.ts));

  /** The status message and threaded result of a command typed (or a button pressed) just now. */
  async function outcomeAfter(before: Set<string>): Promise<{ status: SlackMessage; result: SlackMessage; asset: Asset }> {
    const status = await h.slack.waitFor(() => h.slack.messages(h.general).find((message) => !before.has(message.ts) && message.botId !== undefined), 5_000, 'the status message');
    const result = await h.slack.waitFor(() => h.slack.thread(h.general, status.ts).find((message) => message.ts !== status.ts && isResult(message)), 20_000, 'the result');
    const asset = owned().repos.assets.getAssetByShareId(/\/s\/([\w-]+)/.exec(JSON.stringify(result.blocks))![1]!)!;
    // Delivered, with the post recorded (what a removal takes down).
    await eventually(() => owned().repos.jobs.getJob(asset.jobId)?.deliveredAt);
    return { status, result, asset };
  }

  async function generate(text: string) {
    const before = seen();
    const ack = await h.slack.slashCommand({ command: '/imagine', text, user: owner, channel: h.general });
    expect(ack.late).toBe(false);
    return outcomeAfter(before);
  }

  /** Presses a button; checks the ack came in time and returns the private answer it got, if any. */
  async function press(message: SlackMessage | EphemeralMessage, label: string, user: FakeUser): Promise<EphemeralMessage> {
    const ephemerals = h.slack.ephemerals(user).length;
    const ack = await h.slack.blockAction({ message, actionId: actionId(message, label), user });
    expect(ack.status).toBe(200);
    expect(ack.late).toBe(false);
    expect(ack.ackMs).toBeLessThan(3_000);
    return h.slack.waitFor(() => h.slack.ephemerals(user).slice(ephemerals)[0], 10_000, `the answer to ${label}`);
  }

  beforeAll(async () => {
    h = await startSlackHarness();
    owner = (await h.memberWithKey('maker')).user;
    ({ user: other, key: otherKey } = await h.memberWithKey('bystander'));
  });
  afterAll(async () => {
    h?.fal.release();
    await h?.close();
  });

  it('Cancel on the status message stops the job at fal; another member cannot', async () => {
    h.fal.hold('fal-ai/flux/schnell');
    const submits = h.fal.submits('fal-ai/flux/schnell').length;
    try {
      const before = seen();
      await h.slack.slashCommand({ command: '/imagine', text: 'a never-finished bridge', user: owner, channel: h.general });
      const status = await h.slack.waitFor(
        () => h.slack.messages(h.general).find((message) => !before.has(message.ts) && buttonsOf(message).some((button) => button.text?.text === 'Cancel')),
        5_000,
        'the status message with Cancel',
      );
      const submit = await h.fal.waitForSubmit('fal-ai/flux/schnell', submits + 1, 10_000);

      const refused = await press(status, 'Cancel', other);
      expect(refused.text).toBe('That job does not exist or is not yours.');
      expect(refused.source).toBe('response_url');
      expect(h.fal.cancels().filter((cancel) => cancel.requestId === submit.requestId)).toEqual([]);

      const answer = await press(h.slack.message(h.general, status.ts)!, 'Cancel', owner);
      expect(answer.text).toBe('Cancelling a never-finished bridge…');
      expect(JSON.stringify(answer.blocks)).toContain('Cancelling *a never-finished bridge*…');
      const cancel = await h.fal.waitFor(() => h.fal.cancels().find((candidate) => candidate.requestId === submit.requestId), 10_000);
      expect(cancel.key).toBe(submit.key);
      const cancelled = await h.slack.waitFor(() => {
        const current = h.slack.message(h.general, status.ts);
        return current?.text.startsWith('Cancelled') ? current : undefined;
      }, 10_000, 'the status to say cancelled');
      expect(cancelled.text).toBe('Cancelled: a never-finished bridge.');
      expect(buttonsOf(cancelled)).toEqual([]);
      expect(h.slack.thread(h.general, status.ts).filter(isResult)).toEqual([]);
      // Nothing else was said in the channel.
      expect(h.slack.messages(h.general, { includeReplies: true }).filter((message) => !before.has(message.ts)).map((message) => message.ts)).toEqual([status.ts]);
    } finally {
      h.fal.release();
    }
  });

  it('Delete by the owner removes the stored file, the share link answers 410 and the result post is deleted', async () => {
    const { result, asset } = await generate('a sandcastle');
    const shareUrl = owned().links.shareUrl(asset);
    expect((await fetch(shareUrl)).status).toBe(200);

    const confirm = await press(result, 'Delete', owner);
    expect(confirm.text).toBe('Delete a sandcastle? This removes the file and its share link for good.');
    expect(confirm.source).toBe('response_url');
    expect(buttonsOf(confirm).map((button) => button.text?.text)).toEqual(['Delete for good']);
    // Nothing is removed before the confirmation.
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(true);

    const done = await press(confirm, 'Delete for good', owner);
    expect(done.text).toBe('Deleted. The file and its share link are gone.');
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(false);
    expect(owned().repos.assets.getAsset(asset.id)?.removedAt).not.toBeNull();
    expect((await fetch(shareUrl)).status).toBe(410);
    expect((await fetch(owned().links.mediaUrl(asset))).status).toBeGreaterThanOrEqual(400);
    expect(h.slack.message(h.general, result.ts)?.deleted).toBe(true);
    expect(h.slack.calls('chat.delete').some((call) => call.params['ts'] === result.ts && call.ok)).toBe(true);
    expect(owned().repos.posts.forJob(asset.jobId)).toEqual([]);
  });

  it('Delete by another member is refused privately and removes nothing', async () => {
    const { result, asset } = await generate('a shared mural');
    const answer = await press(result, 'Delete', other);
    expect(answer.text).toBe('Only its owner or a moderator can delete this.');
    expect(answer.source).toBe('response_url');
    expect(buttonsOf(answer)).toEqual([]);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(true);
    expect((await fetch(owned().links.shareUrl(asset))).status).toBe(200);
    expect(h.slack.message(h.general, result.ts)?.deleted).toBe(false);

    // The owner's confirmation button, pressed by someone else, is refused too.
    const confirm = await press(result, 'Delete', owner);
    const forged = await press(confirm, 'Delete for good', other);
    expect(forged.text).toBe('Only its owner or a moderator can delete this.');
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(true);
  });

  it('Rerun queues the same prompt, model and params again with a new seed, as a new status message and result', async () => {
    const { result } = await generate('a copper teapot --model dev --seed 31337 --size portrait_4_3 num_inference_steps=9');
    const first = h.fal.submits('fal-ai/flux/dev').at(-1)!;
    expect(first.input).toMatchObject({ prompt: 'a copper teapot', seed: 31337, image_size: 'portrait_4_3', num_inference_steps: 9 });
    const before = seen();
    const submits = h.fal.submits('fal-ai/flux/dev').length;

    const ack = await h.slack.blockAction({ message: result, actionId: actionId(result, 'Rerun'), user: owner });
    expect(ack.late).toBe(false);
    const again = await outcomeAfter(before);
    expect(JSON.stringify(again.result.blocks)).toContain('a copper teapot');
    expect(again.asset.jobId).not.toBe(owned().repos.assets.getAssetByShareId(/\/s\/([\w-]+)/.exec(JSON.stringify(result.blocks))![1]!)!.jobId);

    const submit = h.fal.submits('fal-ai/flux/dev')[submits]!;
    const { seed: firstSeed, ...firstRest } = first.input;
    const { seed: againSeed, ...againRest } = submit.input;
    expect(againRest).toEqual(firstRest);
    expect(firstSeed).toBe(31337);
    expect(againSeed).not.toBe(31337);
    // The original result is untouched.
    expect(h.slack.message(h.general, result.ts)?.deleted).toBe(false);
    expect(h.slack.message(h.general, result.ts)?.edited).toBe(false);
  });

  it('Vary sends the output itself to the edit model with the same prompt, as a job of whoever pressed it', async () => {
    const { result, asset } = await generate('a glass apple');
    const submits = h.fal.submits('fal-ai/nano-banana/edit').length;
    const before = seen();
    const ack = await h.slack.blockAction({ message: result, actionId: actionId(result, 'Vary'), user: other });
    expect(ack.late).toBe(false);
    const variation = await outcomeAfter(before);
    expect(JSON.stringify(variation.result.blocks)).toContain('Nano Banana (edit)');

    const submit = h.fal.submits('fal-ai/nano-banana/edit')[submits]!;
    expect(submit.input['prompt']).toBe('a glass apple');
    const [reference] = submit.input['image_urls'] as string[];
    const upload = h.fal.uploads().find((candidate) => candidate.fileUrl === reference)!;
    expect(sha256(upload.bytes)).toBe(asset.sha256);
    // The variation is the presser's, made with the presser's key.
    expect(variation.asset.ownerUserId).not.toBe(asset.ownerUserId);
    expect(submit.key).toBe(otherKey);
  });

  it('buttons on a deleted result answer privately that it is gone', async () => {
    const { result, asset } = await generate('a fleeting cloud');
    await owned().services.gallery.remove(asset, { by: 'owner' });
    expect(h.slack.message(h.general, result.ts)?.deleted).toBe(true);
    for (const label of ['Vary', 'Delete']) {
      const answer = await press(result, label, owner);
      expect(answer.text).toBe('That result was deleted.');
    }
  });
});
