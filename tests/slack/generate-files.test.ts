import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeChannel, FakeFile, FakeUser, SlackMessage } from '../fakes/slack-server.js';
import { makeJpeg, makePng } from '../fakes/fal-fixtures.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

const MAX_INPUT_BYTES = 64 * 1024;

/**
 * Files shared with the bot: a message that mentions it, or a DM to it, with images attached starts an
 * image job with those images as references. The worker downloads them from url_private with the bot
 * token and fal receives exactly those bytes; the type and size are checked.
 */
describe('Slack mentions and DMs with files', () => {
  let h: SlackHarness;
  let alice: FakeUser;

  const isResult = (message: SlackMessage) => JSON.stringify(message.blocks).includes('/s/');
  const owned = () => h.harness.app.owner!;
  const totalJobs = () => Object.values(owned().repos.jobs.countJobsByStatus()).reduce((sum, count) => sum + count, 0);
  const seen = (channel: FakeChannel | string) => new Set(h.slack.messages(channel, { includeReplies: true, includeDeleted: true }).map((message) => message.ts));

  /** The bytes fal received for each URL of a submit's `image_urls` / `image_url`. */
  function falBytes(urls: unknown): Buffer[] {
    const list = Array.isArray(urls) ? urls : [urls];
    return list.map((url) => {
      const upload = h.fal.uploads().find((candidate) => candidate.fileUrl === url);
      if (!upload) throw new Error(`fal never received an upload for ${String(url)}`);
      return upload.bytes;
    });
  }

  /** The submit to fal of the job with this prompt. */
  const submitFor = (endpointId: string, prompt: string) =>
    h.fal.waitFor(() => h.fal.submits(endpointId).find((submit) => submit.input['prompt'] === prompt), 10_000);

  /** The downloads of these Slack files, each with the bot token. */
  function expectDownloadedWithBotToken(files: FakeFile[]): void {
    for (const file of files) {
      const downloads = h.slack.fileDownloads().filter((download) => download.fileId === file.id);
      expect(downloads.length, `downloads of ${file.name}`).toBeGreaterThanOrEqual(1);
      for (const download of downloads) {
        expect(download.authorization).toBe(`Bearer ${h.slack.botToken}`);
        expect(download.authorized).toBe(true);
        expect(download.status).toBe(200);
      }
    }
  }

  beforeAll(async () => {
    h = await startSlackHarness({ app: { env: { MAX_INPUT_BYTES: String(MAX_INPUT_BYTES) } } });
    alice = (await h.memberWithKey('alice')).user;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('a mention with two images runs the edit model on exactly those bytes and answers in the thread of the mention', async () => {
    const first = makePng(24, 16, { seed: 11 });
    const second = makeJpeg(20, 20);
    const files = [h.slack.addFile({ name: 'sketch.png', bytes: first, user: alice }), h.slack.addFile({ name: 'palette.jpg', bytes: second, user: alice })];
    const before = seen(h.general);

    const event = await h.slack.appMention({ text: 'paint this in these colours --seed 9', user: alice, channel: h.general, files });
    expect(event.status).toBe(200);
    expect(event.late).toBe(false);
    const mention = h.slack.messages(h.general).find((message) => !before.has(message.ts) && message.user === alice.id)!;
    const result = await h.slack.waitFor(() => h.slack.thread(h.general, mention.ts).find((message) => message.botId !== undefined && isResult(message)), 20_000, 'the result');

    const submit = await submitFor('fal-ai/nano-banana/edit', 'paint this in these colours');
    expect(submit.input['seed']).toBe(9);
    expect(falBytes(submit.input['image_urls'])).toEqual([first, second]);
    expectDownloadedWithBotToken(files);

    // Everything the bot posted is in the mention's thread: the status message (now done) and the result.
    const botPosts = h.slack.messages(h.general, { includeReplies: true }).filter((message) => !before.has(message.ts) && message.botId !== undefined);
    expect(botPosts.every((message) => message.threadTs === mention.ts)).toBe(true);
    expect(botPosts.map((message) => message.ts)).toContain(result.ts);
    await h.slack.waitFor(() => h.slack.thread(h.general, mention.ts).find((message) => message.text.startsWith('Done: paint this in these colours')), 5_000, 'the status to say done');
    expect(h.slack.messages(h.general).filter((message) => !before.has(message.ts)).map((message) => message.ts)).toEqual([mention.ts]);
    expect(JSON.stringify(result.blocks)).toContain('Nano Banana (edit)');
  });

  it('a mention inside a thread answers in that thread; --model picks the model for the image', async () => {
    const parent = await h.slack.appMention({ text: 'a first idea', user: alice, channel: h.general });
    expect(parent.late).toBe(false);
    const root = h.slack.messages(h.general).at(-1)!;
    await h.slack.waitFor(() => h.slack.thread(h.general, root.ts).find((message) => message.botId !== undefined && isResult(message)), 20_000, 'the first result');

    const bytes = makePng(30, 30, { seed: 12 });
    const file = h.slack.addFile({ name: 'photo.png', bytes, user: alice });
    await h.slack.appMention({ text: 'make it night --model kontext', user: alice, channel: h.general, files: [file], threadTs: root.ts });
    const result = await h.slack.waitFor(
      () => h.slack.thread(h.general, root.ts).find((message) => message.botId !== undefined && isResult(message) && JSON.stringify(message.blocks).includes('make it night')),
      20_000,
      'the result in the thread',
    );
    expect(result.threadTs).toBe(root.ts);
    const submit = await submitFor('fal-ai/flux-pro/kontext', 'make it night');
    expect(falBytes(submit.input['image_url'])).toEqual([bytes]);
    expectDownloadedWithBotToken([file]);
  });

  it('a DM with an image starts a job whose status and result stay in the DM', async () => {
    const bytes = makePng(16, 24, { seed: 13 });
    const file = h.slack.addFile({ name: 'pet.png', bytes, user: alice });
    const generalBefore = seen(h.general);
    const ephemerals = h.slack.ephemerals(alice).length;

    const event = await h.slack.directMessage({ text: 'as a watercolour', user: alice, files: [file] });
    expect(event.late).toBe(false);
    const result = await h.slack.waitFor(
      () => h.slack.dmMessages(alice, { includeReplies: true }).find((message) => message.botId !== undefined && isResult(message) && JSON.stringify(message.blocks).includes('as a watercolour')),
      20_000,
      'the result in the DM',
    );
    expect(JSON.stringify(result.blocks)).toContain('as a watercolour');
    const submit = await submitFor('fal-ai/nano-banana/edit', 'as a watercolour');
    expect(falBytes(submit.input['image_urls'])).toEqual([bytes]);
    expectDownloadedWithBotToken([file]);
    expect(h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).filter((message) => !generalBefore.has(message.ts))).toEqual([]);
    expect(h.slack.ephemerals(alice).slice(ephemerals)).toEqual([]);
  });

  it('a DM inside a DM thread is answered in that thread', async () => {
    await h.slack.directMessage({ text: 'a starting point', user: alice });
    const root = h.slack.dmMessages(alice).filter((message) => message.user === alice.id).at(-1)!;
    await h.slack.waitFor(() => h.slack.dmMessages(alice).find((message) => message.botId !== undefined && message.threadTs !== undefined && h.slack.thread(h.slack.dmChannel(alice), message.ts).some(isResult)), 20_000, 'the first result');
    const bytes = makePng(10, 10, { seed: 16 });
    const file = h.slack.addFile({ name: 'reply.png', bytes, user: alice });
    await h.slack.directMessage({ text: 'now in blue', user: alice, files: [file], threadTs: root.ts });
    const result = await h.slack.waitFor(
      () => h.slack.thread(h.slack.dmChannel(alice), root.ts).find((message) => message.botId !== undefined && isResult(message) && JSON.stringify(message.blocks).includes('now in blue')),
      20_000,
      'the result in the DM thread',
    );
    expect(result.threadTs).toBe(root.ts);
  });

  it('a DM with only an image varies it with a default prompt', async () => {
    const bytes = makePng(12, 12, { seed: 14 });
    const file = h.slack.addFile({ name: 'only.png', bytes, user: alice });
    const submits = h.fal.submits('fal-ai/nano-banana/edit').length;
    await h.slack.directMessage({ text: '', user: alice, files: [file] });
    const submit = await h.fal.waitFor(() => h.fal.submits('fal-ai/nano-banana/edit').slice(submits).find((candidate) => candidate.input['prompt'] === 'a variation of this image'), 10_000);
    await h.slack.waitFor(() => h.slack.dmMessages(alice, { includeReplies: true }).find((message) => isResult(message) && JSON.stringify(message.blocks).includes('a variation of this image')), 20_000, 'the result');
    expect(falBytes(submit.input['image_urls'])).toEqual([bytes]);
  });

  /** A refused mention: one private answer to the user in the channel, nothing fetched, no job, nothing left in the channel. */
  async function refusedMention(files: FakeFile[]): Promise<string> {
    const before = seen(h.general);
    const jobs = totalJobs();
    const submits = h.fal.submits().length;
    const uploads = h.fal.uploads().length;
    const downloads = h.slack.fileDownloads().length;
    const ephemerals = h.slack.ephemerals(alice).length;
    const event = await h.slack.appMention({ text: 'use this', user: alice, channel: h.general, files });
    expect(event.late).toBe(false);
    const answer = await h.slack.waitFor(() => h.slack.ephemerals(alice).slice(ephemerals)[0], 5_000, 'the private answer');
    expect(answer.channel).toBe(h.general.id);
    await h.slack.waitFor(
      () => h.slack.messages(h.general, { includeReplies: true }).every((message) => before.has(message.ts) || message.user === alice.id),
      5_000,
      'the placeholder to go',
    );
    expect(totalJobs()).toBe(jobs);
    expect(h.fal.submits()).toHaveLength(submits);
    expect(h.fal.uploads()).toHaveLength(uploads);
    expect(h.slack.fileDownloads()).toHaveLength(downloads);
    return answer.text;
  }

  it('a file that is not an image is refused privately before anything is downloaded', async () => {
    const text = await refusedMention([h.slack.addFile({ name: 'notes.pdf', bytes: '%PDF-1.4 not an image', user: alice })]);
    expect(text).toMatch(/notes\.pdf is application\/pdf/);
    expect(text).toMatch(/PNG, JPEG, WebP or GIF/);
  });

  it('an image over the size limit is refused privately before anything is downloaded', async () => {
    const big = Buffer.concat([makePng(8, 8, { seed: 15 }), Buffer.alloc(MAX_INPUT_BYTES + 1, 7)]);
    const text = await refusedMention([h.slack.addFile({ name: 'huge.png', bytes: big, user: alice })]);
    expect(text).toBe('That attachment is too large (the limit is 64 KiB).');
  });

  it('a file that claims to be an image but is not fails privately after the download, and fal gets nothing', async () => {
    const liar = h.slack.addFile({ name: 'fake.png', bytes: 'just some text, honestly', mimetype: 'image/png', user: alice });
    const before = seen(h.general);
    const submits = h.fal.submits().length;
    const uploads = h.fal.uploads().length;
    await h.slack.appMention({ text: 'use this one', user: alice, channel: h.general, files: [liar] });
    // A mention has no response_url: the failure reaches the user by DM, and the public status message goes.
    const failure = await h.slack.waitFor(() => h.slack.dmMessages(alice).find((message) => message.text.includes('use this one')), 20_000, 'the failure by DM');
    expect(failure.text).toMatch(/did not work/);
    expect(failure.text).toMatch(/fake\.png is not a PNG, JPEG, WebP or GIF image/);
    expectDownloadedWithBotToken([liar]);
    expect(h.fal.submits()).toHaveLength(submits);
    expect(h.fal.uploads()).toHaveLength(uploads);
    await h.slack.waitFor(
      () => h.slack.messages(h.general, { includeReplies: true }).every((message) => before.has(message.ts) || message.user === alice.id),
      5_000,
      'the status message to go',
    );
  });
});
