import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Asset } from '../../src/db/index.js';
import type { EphemeralMessage, FakeChannel, FakeFile, FakeUser, Json, SlackMessage } from '../fakes/slack-server.js';
import { makePng } from '../fakes/fal-fixtures.js';
import { eventually, FAST_TUNING } from '../helpers/app.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

const MAX_UPLOAD_BYTES = 1024 * 1024;

/**
 * With SLACK_UPLOAD_RESULTS=true (a PUBLIC_URL Slack cannot reach) results are uploaded through the
 * files upload flow instead of shown as image blocks of our URL. Videos are uploaded when within the
 * limit, else linked with a poster.
 */
describe('Slack result uploads', () => {
  let h: SlackHarness;
  let alice: FakeUser;

  type Element = { type: string; action_id?: string; url?: string; text?: { text: string } };
  const buttonsOf = (message: { blocks: Json[] }): Element[] => message.blocks.filter((block) => block['type'] === 'actions').flatMap((block) => block['elements'] as Element[]);
  /** The labels of the buttons this file is about (other buttons may come and go). */
  const mainLabels = (message: { blocks: Json[] }) =>
    buttonsOf(message)
      .map((button) => button.text?.text ?? '')
      .filter((label) => /^(Open|Rerun|Vary|Delete)\b/.test(label));
  const imagesOf = (message: { blocks: Json[] }) => message.blocks.filter((block) => block['type'] === 'image').map((block) => block['image_url'] as string);
  const isResult = (message: SlackMessage) => JSON.stringify(message.blocks).includes('/s/');
  const owned = () => h.harness.app.owner!;
  const seen = (channel: FakeChannel | string) => new Set(h.slack.messages(channel, { includeReplies: true, includeDeleted: true }).map((message) => message.ts));

  async function stored(asset: Asset): Promise<Buffer> {
    const { body } = await h.harness.app.storage.read(asset.storageKey);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Waits for the result of a command typed just now (a slash command or a modal submission) in #general. */
  async function resultAfter(before: Set<string>): Promise<{ status: SlackMessage; result: SlackMessage; assets: Asset[] }> {
    const status = await h.slack.waitFor(() => h.slack.messages(h.general).find((message) => !before.has(message.ts) && message.botId !== undefined), 5_000, 'the status message');
    const result = await h.slack.waitFor(() => h.slack.thread(h.general, status.ts).find((message) => message.ts !== status.ts && isResult(message)), 20_000, 'the result');
    const shareId = /\/s\/([\w-]+)/.exec(JSON.stringify(result.blocks))![1]!;
    const jobId = owned().repos.assets.getAssetByShareId(shareId)!.jobId;
    await eventually(() => owned().repos.jobs.getJob(jobId)?.deliveredAt, 5_000);
    return { status, result, assets: owned().repos.assets.listJobAssets(jobId) };
  }

  async function imagine(text: string) {
    const before = seen(h.general);
    const uploads = h.slack.uploads().length;
    const ack = await h.slack.slashCommand({ command: '/imagine', text, user: alice, channel: h.general });
    expect(ack.late).toBe(false);
    return { ...(await resultAfter(before)), uploads: () => h.slack.uploads().slice(uploads) };
  }

  /** /animate through its modal, with a first frame (so the video gets a poster). */
  async function animate(prompt: string, frame: FakeFile) {
    const views = h.slack.views().length;
    await h.slack.slashCommand({ command: '/animate', text: '', user: alice, channel: h.general });
    const view = await h.slack.waitFor(() => h.slack.views().slice(views)[0], 5_000, 'the modal');
    const before = seen(h.general);
    const uploads = h.slack.uploads().length;
    const ack = await h.slack.submitView({ view, values: { prompt: { prompt }, first_frame: { first_frame: { type: 'file_input', files: [frame.raw] } } } });
    expect(ack.late).toBe(false);
    return { ...(await resultAfter(before)), uploads: () => h.slack.uploads().slice(uploads) };
  }

  /** Presses a button; returns the private answer it got through its response_url. */
  async function press(message: SlackMessage | EphemeralMessage, actionId: string, user: FakeUser): Promise<EphemeralMessage> {
    const ephemerals = h.slack.ephemerals(user).length;
    const ack = await h.slack.blockAction({ message, actionId, user });
    expect(ack.status).toBe(200);
    expect(ack.late).toBe(false);
    return h.slack.waitFor(() => h.slack.ephemerals(user).slice(ephemerals)[0], 10_000, `the answer to ${actionId}`);
  }

  async function deleteForGood(result: SlackMessage, asset: Asset): Promise<void> {
    const confirm = await press(result, `delete:${asset.id}`, alice);
    expect(buttonsOf(confirm).map((button) => button.action_id)).toEqual([`deleteyes:${asset.id}`]);
    const done = await press(confirm, `deleteyes:${asset.id}`, alice);
    expect(done.text).toMatch(/^Deleted/);
  }

  beforeAll(async () => {
    h = await startSlackHarness({
      uploadResults: true,
      app: { appOptions: { slack: { deliverer: { progressIntervalMs: 200, maxUploadBytes: MAX_UPLOAD_BYTES } }, workerTuning: { ...FAST_TUNING.workerTuning, shutdownGraceMs: 200 } } },
    });
    alice = (await h.memberWithKey('alice')).user;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('an image result is uploaded with its exact bytes into the thread, and the result post shows no image URL', async () => {
    const { status, result, assets, uploads } = await imagine('a ceramic owl');
    const [asset] = assets;
    const [upload] = uploads();
    expect(uploads()).toHaveLength(1);
    expect(upload).toMatchObject({ completed: true, channelId: h.general.id, threadTs: status.ts, uploadField: 'body', declaredLength: asset!.bytes });
    expect(upload!.uploadAuthorization).toBe(`Bearer ${h.slack.botToken}`);
    expect(upload!.filename).toMatch(/^atelier-[\w-]{8}-1\.png$/);
    expect(upload!.bytes!.equals(await stored(asset!))).toBe(true);
    // Shared in the status message's thread, before the result post.
    const thread = h.slack.thread(h.general, status.ts);
    expect(thread.map((message) => message.ts)).toEqual([status.ts, upload!.messageTs, result.ts]);
    expect(thread[1]!.files.map((file) => file.id)).toEqual([upload!.fileId]);

    expect(imagesOf(result)).toEqual([]);
    expect(JSON.stringify(result.blocks)).not.toContain('/media/');
    expect(mainLabels(result)).toEqual(['Open share page', 'Rerun', 'Vary', 'Delete']);
    expect(buttonsOf(result)[0]!.url).toBe(owned().links.shareUrl(asset!));
    expect(JSON.stringify(result.blocks)).toContain('a ceramic owl');
    // Both are recorded as the job's posts, for a removal to take down.
    expect(owned().repos.posts.forJob(asset!.jobId).map((post) => post.messageId)).toEqual([`file:${upload!.fileId}:${asset!.id}`, result.ts]);
  });

  it('the uploaded bytes are exactly what fal generated', async () => {
    let produced: Buffer | undefined;
    h.fal.setOutput('fal-ai/flux/schnell', async () => {
      const output = h.fal.imageOutput({ width: 50, height: 40, seed: 77 });
      produced = await h.fal.cdnObject((output['images'] as Array<{ url: string }>)[0]!.url)!.bytes();
      return output;
    });
    try {
      const { uploads } = await imagine('a seeded pattern');
      expect(produced).toBeDefined();
      expect(uploads()[0]!.bytes!.equals(produced!)).toBe(true);
    } finally {
      h.fal.setOutput('fal-ai/flux/schnell', () => h.fal.imageOutput({ width: 64, height: 48 }));
    }
  });

  it('deleting one of several uploaded outputs deletes only its file and leaves the post showing the others', async () => {
    h.fal.setOutput('fal-ai/flux/schnell', ({ input }) => h.fal.imageOutput({ width: 20, height: 20, count: Number(input['num_images']) }));
    try {
      const { result, assets, uploads } = await imagine('three glass marbles --n 3');
      expect(assets).toHaveLength(3);
      expect(uploads()).toHaveLength(3);
      for (const [index, upload] of uploads().entries()) expect(upload.bytes!.equals(await stored(assets[index]!))).toBe(true);

      const deletes = h.slack.calls('files.delete').length;
      await deleteForGood(result, assets[1]!);
      // Only the removed output's upload goes.
      await h.slack.waitFor(() => h.slack.calls('files.delete').length > deletes, 5_000, 'files.delete');
      expect(h.slack.calls('files.delete').slice(deletes).map((call) => call.params['file'])).toEqual([uploads()[1]!.fileId]);
      const edited = h.slack.message(h.general, result.ts)!;
      expect(edited.deleted).toBe(false);
      expect(JSON.stringify(edited.blocks)).not.toContain(assets[1]!.shareId);
      expect(JSON.stringify(edited.blocks)).toContain(assets[0]!.shareId);
      expect(JSON.stringify(edited.blocks)).toContain(assets[2]!.shareId);
      // Still no image URL: the remaining outputs are the uploads above.
      expect(imagesOf(edited)).toEqual([]);

      for (const asset of [assets[0]!, assets[2]!]) await deleteForGood(h.slack.message(h.general, result.ts)!, asset);
      expect(h.slack.message(h.general, result.ts)?.deleted).toBe(true);
      // Every upload is gone now (a repeated delete of an already deleted file is harmless).
      const deleted = new Set(h.slack.calls('files.delete').slice(deletes).map((call) => call.params['file']));
      expect(deleted).toEqual(new Set(uploads().map((upload) => upload.fileId)));
    } finally {
      h.fal.setOutput('fal-ai/flux/schnell', () => h.fal.imageOutput({ width: 64, height: 48 }));
    }
  });

  it('a video within the limit is uploaded with its exact bytes', async () => {
    const kling = 'fal-ai/kling-video/v2.1/pro/image-to-video';
    let produced: Buffer | undefined;
    h.fal.setOutput(kling, async () => {
      const output = h.fal.videoOutput({ bytes: 300 * 1024, durationSeconds: 5 });
      produced = await h.fal.cdnObject((output['video'] as { url: string }).url)!.bytes();
      return output;
    });
    const frame = h.slack.addFile({ name: 'frame.png', bytes: makePng(40, 30, { seed: 31 }), user: alice });
    const { result, assets, uploads } = await animate('a paper plane glides', frame);
    const [asset] = assets;
    expect(asset!.kind).toBe('video');
    expect(uploads()).toHaveLength(1);
    expect(uploads()[0]!.filename).toMatch(/\.mp4$/);
    expect(uploads()[0]!.bytes!.equals(produced!)).toBe(true);
    expect(uploads()[0]!.bytes!.equals(await stored(asset!))).toBe(true);
    // The share page is linked (chat clients unfurl it into a player).
    expect(result.text).toContain(owned().links.shareUrl(asset!));
  });

  it('a video over the limit is not uploaded: the post links it and shows its poster', async () => {
    const kling = 'fal-ai/kling-video/v2.1/pro/image-to-video';
    h.fal.setOutput(kling, () => h.fal.videoOutput({ bytes: MAX_UPLOAD_BYTES + 256 * 1024, durationSeconds: 5 }));
    const frame = h.slack.addFile({ name: 'frame2.png', bytes: makePng(40, 30, { seed: 32 }), user: alice });
    const { result, assets, uploads } = await animate('a long train passes', frame);
    const [asset] = assets;
    expect(asset!.bytes).toBeGreaterThan(MAX_UPLOAD_BYTES);
    expect(uploads()).toEqual([]);
    const delivered = owned().services.gallery.get(asset!.id)!;
    expect(delivered.posterUrl).toBeDefined();
    expect(imagesOf(result)).toEqual([delivered.posterUrl]);
    expect(imagesOf(result)).not.toContain(delivered.mediaUrl);
    expect(result.text).toContain(delivered.shareUrl);
    expect(mainLabels(result)).toEqual(['Open share page', 'Rerun', 'Delete']);
  });
});
