import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listModels } from '../../src/catalog/index.js';
import type { FakeChannel, FakeFile, FakeUser, FakeView, Json, SlackMessage } from '../fakes/slack-server.js';
import { makeJpeg, makePng } from '../fakes/fal-fixtures.js';
import { falErrors } from '../fakes/fal-server.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

const RESPONSE_URL_LIFETIME_MS = 2_000;

/**
 * `/imagine` and `/animate` with no text open a modal (prompt, a model from the catalog, size or
 * duration, file inputs for reference images or first/last frames); submitting it runs the job with
 * those files, and the result goes where the command was typed.
 */
describe('Slack generation modals', () => {
  let h: SlackHarness;
  let alice: FakeUser;

  type Input = { type: string; block_id: string; optional?: boolean; element: Json & { type: string; action_id: string } };
  const inputsOf = (view: FakeView) => view.blocks.filter((block) => block['type'] === 'input') as unknown as Input[];
  const isResult = (message: SlackMessage) => JSON.stringify(message.blocks).includes('/s/');
  const seen = (channel: FakeChannel | string) => new Set(h.slack.messages(channel, { includeReplies: true, includeDeleted: true }).map((message) => message.ts));
  const fileValue = (...files: FakeFile[]) => ({ type: 'file_input', files: files.map((file) => file.raw) });

  function falBytes(urls: unknown): Buffer[] {
    const list = Array.isArray(urls) ? urls : [urls];
    return list.map((url) => {
      const upload = h.fal.uploads().find((candidate) => candidate.fileUrl === url);
      if (!upload) throw new Error(`fal never received an upload for ${String(url)}`);
      return upload.bytes;
    });
  }

  /** Types the command with no text; returns the modal it opened. */
  async function openModal(command: '/imagine' | '/animate', channel: FakeChannel): Promise<FakeView> {
    const views = h.slack.views().length;
    const before = seen(channel);
    const ack = await h.slack.slashCommand({ command, text: '', user: alice, channel });
    expect(ack.status).toBe(200);
    expect(ack.late).toBe(false);
    const view = await h.slack.waitFor(() => h.slack.views().slice(views)[0], 5_000, 'the modal');
    expect(view.open).toBe(true);
    expect(view.openedVia).toBe('views.open');
    expect(view.triggerId).toBe(ack.triggerId);
    expect(view.userId).toBe(alice.id);
    // Opening the modal posts nothing.
    expect(h.slack.messages(channel, { includeReplies: true }).filter((message) => !before.has(message.ts))).toEqual([]);
    return view;
  }

  /** Submits the modal; returns the threaded result in the channel the command was typed in. */
  async function submit(view: FakeView, values: Record<string, Record<string, unknown>>, channel: FakeChannel): Promise<{ status: SlackMessage; result: SlackMessage }> {
    const before = seen(channel);
    const ack = await h.slack.submitView({ view, values });
    expect(ack.status).toBe(200);
    expect(ack.late).toBe(false);
    // An empty ack closes the modal.
    expect(h.slack.view(view.id)?.open).toBe(false);
    const status = await h.slack.waitFor(() => h.slack.messages(channel).find((message) => !before.has(message.ts) && message.botId !== undefined), 5_000, 'the status message');
    const result = await h.slack.waitFor(() => h.slack.thread(channel, status.ts).find((message) => message.ts !== status.ts && isResult(message)), 20_000, 'the result');
    return { status, result };
  }

  beforeAll(async () => {
    // A short response_url lifetime, to see that a modal's is counted from the command that opened it.
    h = await startSlackHarness({ app: { appOptions: { slack: { deliverer: { progressIntervalMs: 200, responseUrlLifetimeMs: RESPONSE_URL_LIFETIME_MS } } } } });
    alice = (await h.memberWithKey('alice')).user;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('/imagine opens a modal with the prompt, the image models of the catalog, a size and reference-image inputs', async () => {
    const view = await openModal('/imagine', h.general);
    expect(view.callbackId).toBe('slack-imagine');
    const inputs = inputsOf(view);
    expect(inputs.map((input) => [input.block_id, input.element.type, input.optional ?? false])).toEqual([
      ['prompt', 'plain_text_input', false],
      ['model', 'static_select', true],
      ['size', 'plain_text_input', true],
      ['references', 'file_input', true],
    ]);
    const models = (inputs[1]!.element['options'] as Array<{ value: string }>).map((option) => option.value);
    expect(models).toEqual(listModels({ kind: 'image' }).map((model) => model.id));
    expect(inputs[3]!.element['max_files']).toBe(3);
    expect(inputs[3]!.element['filetypes']).toEqual(expect.arrayContaining(['png', 'jpg', 'webp', 'gif']));
  });

  it('submitting it with two reference images runs the edit model on exactly those bytes, in the channel', async () => {
    const view = await openModal('/imagine', h.general);
    const first = makePng(20, 14, { seed: 21 });
    const second = makeJpeg(18, 18);
    const files = [h.slack.addFile({ name: 'a.png', bytes: first, user: alice }), h.slack.addFile({ name: 'b.jpg', bytes: second, user: alice })];
    const submits = h.fal.submits('fal-ai/nano-banana/edit').length;
    const { status, result } = await submit(view, { prompt: { prompt: 'merge these two' }, size: { size: '16:9' }, references: { references: fileValue(...files) } }, h.general);

    const sent = h.fal.submits('fal-ai/nano-banana/edit')[submits]!;
    expect(sent.input).toMatchObject({ prompt: 'merge these two', aspect_ratio: '16:9' });
    expect(falBytes(sent.input['image_urls'])).toEqual([first, second]);
    for (const file of files) {
      const download = h.slack.fileDownloads().find((candidate) => candidate.fileId === file.id);
      expect(download?.authorization).toBe(`Bearer ${h.slack.botToken}`);
    }
    expect(status.channel).toBe(h.general.id);
    expect(result.threadTs).toBe(status.ts);
    expect(JSON.stringify(result.blocks)).toContain('merge these two');
  });

  it('the model picked in the modal is used, with the size', async () => {
    const view = await openModal('/imagine', h.general);
    const submits = h.fal.submits('fal-ai/flux/dev').length;
    const { result } = await submit(view, { prompt: { prompt: 'a brass compass' }, model: { model: 'fal-ai/flux/dev' }, size: { size: 'square_hd' } }, h.general);
    expect(h.fal.submits('fal-ai/flux/dev')[submits]?.input).toMatchObject({ prompt: 'a brass compass', image_size: 'square_hd' });
    expect(JSON.stringify(result.blocks)).toContain('FLUX.1 [dev]');
  });

  it('/animate opens a modal with the video models, a duration and first/last frame inputs; the frames reach fal exactly', async () => {
    const view = await openModal('/animate', h.general);
    expect(view.callbackId).toBe('slack-animate');
    const inputs = inputsOf(view);
    expect(inputs.map((input) => [input.block_id, input.element.type])).toEqual([
      ['prompt', 'plain_text_input'],
      ['model', 'static_select'],
      ['duration', 'plain_text_input'],
      ['first_frame', 'file_input'],
      ['last_frame', 'file_input'],
    ]);
    expect((inputs[1]!.element['options'] as Array<{ value: string }>).map((option) => option.value)).toEqual(listModels({ kind: 'video' }).map((model) => model.id));
    expect(inputs[3]!.element['max_files']).toBe(1);
    expect(inputs[4]!.element['max_files']).toBe(1);

    const start = makePng(32, 18, { seed: 22 });
    const end = makePng(32, 18, { seed: 23 });
    const startFile = h.slack.addFile({ name: 'start.png', bytes: start, user: alice });
    const endFile = h.slack.addFile({ name: 'end.png', bytes: end, user: alice });
    const kling = 'fal-ai/kling-video/v2.1/pro/image-to-video';
    let produced: Buffer | undefined;
    h.fal.setOutput(kling, async () => {
      const output = h.fal.videoOutput({ bytes: 200 * 1024, durationSeconds: 10 });
      produced = await h.fal.cdnObject((output['video'] as { url: string }).url)!.bytes();
      return output;
    });
    const submits = h.fal.submits(kling).length;
    const uploads = h.slack.uploads().length;
    const { result } = await submit(
      view,
      {
        prompt: { prompt: 'the sun sets' },
        model: { model: kling },
        duration: { duration: '10' },
        first_frame: { first_frame: fileValue(startFile) },
        last_frame: { last_frame: fileValue(endFile) },
      },
      h.general,
    );
    const sent = h.fal.submits(kling)[submits]!;
    expect(sent.input).toMatchObject({ prompt: 'the sun sets', duration: '10' });
    expect(falBytes(sent.input['image_url'])).toEqual([start]);
    expect(falBytes(sent.input['tail_image_url'])).toEqual([end]);
    expect(JSON.stringify(result.blocks)).toContain('Kling 2.1 Pro');
    // A video small enough is uploaded into the thread, byte for byte, even without SLACK_UPLOAD_RESULTS.
    const [upload] = h.slack.uploads().slice(uploads);
    expect(upload).toMatchObject({ completed: true, channelId: h.general.id, threadTs: result.threadTs });
    expect(upload!.bytes!.equals(produced!)).toBe(true);
  });

  it('a modal opened in a DM answers in the DM', async () => {
    const dm = h.slack.dmChannel(alice);
    const generalBefore = seen(h.general);
    const view = await openModal('/imagine', dm);
    const { status } = await submit(view, { prompt: { prompt: 'a quiet note' } }, dm);
    expect(status.channel).toBe(dm.id);
    expect(h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).filter((message) => !generalBefore.has(message.ts))).toEqual([]);
  });

  it('the response_url a modal carries expires with its slash command: a late failure comes by DM instead', async () => {
    const view = await openModal('/imagine', h.general);
    // The modal stays open past the response_url's life (30 minutes on Slack, shortened here).
    await new Promise((resolve) => setTimeout(resolve, RESPONSE_URL_LIFETIME_MS + 200));
    h.fal.failNext('submit', falErrors.validation('prompt', 'too dull'));
    const responses = h.slack.responses().length;
    const ack = await h.slack.submitView({ view, values: { prompt: { prompt: 'a forgotten modal' } } });
    expect(ack.late).toBe(false);
    const failure = await h.slack.waitFor(() => h.slack.dmMessages(alice).find((message) => message.text.includes('a forgotten modal')), 20_000, 'the failure by DM');
    expect(failure.text).toMatch(/did not work/);
    // The response_url was not used for it (the queued answer went to the channel's status message).
    expect(h.slack.responses().slice(responses)).toEqual([]);
  });

  it('when the modal cannot be opened (the trigger expired), the user is told privately', async () => {
    const responses = h.slack.responses().length;
    const views = h.slack.views().length;
    h.slack.failNext('views.open', { error: 'expired_trigger_id' });
    const ack = await h.slack.slashCommand({ command: '/animate', text: '', user: alice, channel: h.general });
    expect(ack.late).toBe(false);
    const answer = await h.slack.waitFor(() => h.slack.responses().slice(responses)[0], 5_000, 'the private answer');
    expect(answer.responseType).toBe('ephemeral');
    expect(JSON.stringify(answer.body)).toContain('I could not open the form in time');
    expect(h.slack.views().slice(views)).toEqual([]);
  });

  it('a file of the wrong type in the modal is refused privately, through the command’s response_url', async () => {
    const view = await openModal('/imagine', h.general);
    const before = seen(h.general);
    const responses = h.slack.responses().length;
    const submits = h.fal.submits().length;
    const text = h.slack.addFile({ name: 'list.txt', bytes: 'eggs, milk', user: alice });
    const ack = await h.slack.submitView({ view, values: { prompt: { prompt: 'from a list' }, references: { references: fileValue(text) } } });
    expect(ack.late).toBe(false);
    const answer = await h.slack.waitFor(() => h.slack.responses().slice(responses)[0], 5_000, 'the private answer');
    expect(answer.responseType).toBe('ephemeral');
    expect(JSON.stringify(answer.body)).toMatch(/list\.txt is text\/plain/);
    await h.slack.waitFor(() => h.slack.messages(h.general, { includeReplies: true }).every((message) => before.has(message.ts)), 5_000, 'the placeholder to go');
    expect(h.fal.submits()).toHaveLength(submits);
    expect(h.slack.fileDownloads().filter((download) => download.fileId === text.id)).toEqual([]);
  });
});
