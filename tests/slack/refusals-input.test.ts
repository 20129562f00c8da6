import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROMPT_MAX_LENGTH } from '../../commands/generate.js';
import { slackUser } from '../../src/bots/slack/context.js';
import { getModel } from '../../src/catalog/index.js';
import type { EphemeralMessage, FakeFile, FakeUser, InboundResult, Json, SlackMessage, ViewValues } from '../fakes/slack-server.js';
import { makePng } from '../fakes/fal-fixtures.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/**
 * Bad input on Slack gets one clear ephemeral answer and nothing else: no job, no fal call, no download
 * of the files, and nothing left in the channel (a public "Working on it…" placeholder, if one was
 * posted, is deleted before the answer). Requests come as slash-command text, mentions with files, and
 * the /imagine and /animate modals with file inputs.
 */
describe('refusals of bad input on Slack', () => {
  let h: SlackHarness;
  const png = makePng(16, 16, { seed: 3 });
  /** Small, so an oversize file is cheap to make. */
  const MAX_INPUT_BYTES = 64 * 1024;

  beforeAll(async () => {
    h = await startSlackHarness({ app: { env: { MAX_INPUT_BYTES: String(MAX_INPUT_BYTES) } } });
  });

  afterAll(async () => {
    try {
      if (h) expect(h.slack.inbound().filter((result) => result.status !== 200 || result.late)).toEqual([]);
    } finally {
      await h?.close();
    }
  });

  const ref = (user: FakeUser) => slackUser(user.teamId, user.id, user.name);
  const totalJobs = () => Object.values(h.harness.app.owner!.repos.jobs.countJobsByStatus()).reduce((sum, count) => sum + count, 0);
  /** The bot's messages in #general (thread replies too), deleted ones included. */
  const botRecord = (): SlackMessage[] => h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).filter((message) => message.botId !== undefined);
  const image = (user: FakeUser, name = 'in.png') => h.slack.addFile({ name, bytes: png, mimetype: 'image/png', user });
  const fileValue = (...files: FakeFile[]) => ({ type: 'file_input', files: files.map((file) => file.raw) });

  function acked(result: InboundResult): InboundResult {
    expect(result.status).toBe(200);
    expect(result.acked).toBe(true);
    expect(result.late).toBe(false);
    return result;
  }

  type Request = (user: FakeUser) => Promise<unknown>;
  const command =
    (name: '/imagine' | '/animate', text: string): Request =>
    async (user) =>
      acked(await h.slack.slashCommand({ command: name, text, user, channel: h.general }));
  const mention =
    (text: string, files: (user: FakeUser) => FakeFile[] = () => []): Request =>
    async (user) =>
      acked(await h.slack.appMention({ text, files: files(user), user, channel: h.general }));
  /** `/imagine` or `/animate` with no text opens the modal; the modal is submitted with `values`. */
  const modal =
    (name: '/imagine' | '/animate', values: (user: FakeUser) => ViewValues): Request =>
    async (user) => {
      const before = h.slack.views({ user }).length;
      const opened = acked(await h.slack.slashCommand({ command: name, text: '', user, channel: h.general }));
      const view = await h.slack.waitFor(() => h.slack.views({ openOnly: true, user }).slice(before)[0] ?? h.slack.views({ openOnly: true, user }).find((candidate) => candidate.triggerId === opened.triggerId), 5_000, 'the modal');
      expect(view.callbackId).toBe(name === '/imagine' ? 'slack-imagine' : 'slack-animate');
      const submitted = acked(await h.slack.submitView({ view, values: values(user) }));
      // No errors on the modal: it closes, and the answer comes as an ephemeral message.
      expect((submitted.json as Json | undefined)?.['response_action']).toBeUndefined();
      return submitted;
    };

  /** Sends a request and checks every promise of a refusal; returns the ephemeral answer's text. */
  async function refused(request: Request, who?: FakeUser): Promise<string> {
    const user = who ?? (await h.memberWithKey('refused')).user;
    const owner = h.harness.app.owner!;
    const jobsBefore = totalJobs();
    const falBefore = h.fal.requests.length;
    const uploadsBefore = h.fal.uploads().length;
    const downloadsBefore = h.slack.fileDownloads().length;
    const botBefore = botRecord().length;
    const before = h.slack.ephemerals(user).length;

    await request(user);
    const answer = await h.slack.waitFor(() => h.slack.ephemerals(user).slice(before)[0], 10_000, 'the ephemeral answer');
    expect(answer.user).toBe(user.id);
    expect(answer.channel).toBe(h.general.id);
    expect(answer.blocks.filter((block) => block['type'] !== 'section')).toEqual([]);
    const text = answer.text;
    expect(text).not.toMatch(/\[object Object\]|\bat .+\.ts:\d+|Error:/);

    // Nothing in the channel: every bot post since (a status placeholder) is deleted.
    expect(botRecord().slice(botBefore).filter((message) => !message.deleted)).toEqual([]);
    // No job, and nothing reached fal or fetched the files.
    expect(totalJobs()).toBe(jobsBefore);
    const found = owner.repos.users.findUser(ref(user));
    expect(found ? owner.repos.jobs.listRecentJobs(found.id, 10) : []).toEqual([]);
    expect(owner.services.generation.activeJobs(ref(user))).toEqual([]);
    expect(h.fal.requests.slice(falBefore).map((request) => request.route)).toEqual([]);
    expect(h.fal.uploads()).toHaveLength(uploadsBefore);
    expect(h.slack.fileDownloads().slice(downloadsBefore)).toEqual([]);
    // One answer only.
    expect(h.slack.ephemerals(user).slice(before).map((message) => message.text)).toEqual([text]);
    return text;
  }

  it('no key registered: says a fal key is needed, privately', async () => {
    const text = await refused(command('/imagine', 'a cat'), h.slack.user({ name: 'nokey' }));
    expect(text).toMatch(/not registered a fal key/);
    expect(text).toMatch(/encrypted/);
    expect(await refused(mention('a cat'), h.slack.user({ name: 'nokeymention' }))).toMatch(/not registered a fal key/);
  });

  it('no key, with --private: the whole exchange is ephemeral (no placeholder at all)', async () => {
    const user = h.slack.user({ name: 'nokeyprivate' });
    const botBefore = botRecord().length;
    const text = await refused(command('/imagine', 'a cat --private'), user);
    expect(text).toMatch(/not registered a fal key/);
    expect(botRecord()).toHaveLength(botBefore);
  });

  it('an unknown model: says so and lists the models', async () => {
    const text = await refused(command('/imagine', 'a cat --model midjourney'));
    expect(text).toContain('don\'t know the model "midjourney"');
    expect(text).toMatch(/Try one of: .*schnell.*kontext/);
  });

  it('a video model for /imagine points to /animate', async () => {
    const text = await refused(command('/imagine', 'a cat --model veo3'));
    expect(text).toContain('makes videos; use /animate');
    expect(text).not.toMatch(/Try one of: .*veo3/);
  });

  it('params that fail the schema name the field and the allowed values or range', async () => {
    const range = await refused(command('/imagine', 'a cat num_inference_steps=50'));
    expect(range).toContain('num_inference_steps');
    expect(range).toContain('at most 12');
    const choice = await refused(command('/imagine', 'a cat output_format=gif'));
    expect(choice).toContain('output_format');
    expect(choice).toMatch(/jpeg, png/);
    const type = await refused(command('/imagine', 'a cat num_inference_steps=many'));
    expect(type).toContain('num_inference_steps');
    expect(type).toContain('whole number');
    const unknown = await refused(command('/imagine', 'a cat steps=8'));
    expect(unknown).toContain('"steps"');
    expect(unknown).toContain('num_inference_steps');
    const reserved = await refused(command('/imagine', 'a cat sync_mode=true'));
    expect(reserved).toContain('sync_mode');
  });

  it('bad flag values name the option: seed, count and a size the model does not offer', async () => {
    const seed = await refused(command('/imagine', 'a cat --seed abc'));
    expect(seed).toContain('seed');
    const count = await refused(command('/imagine', 'a cat --n 9'));
    // Named as the member typed it.
    expect(count).toContain('--n');
    expect(count).toMatch(/4/);
    const size = await refused(command('/imagine', 'a cat --size huge'));
    expect(size).toContain('huge');
    expect(size).toContain('landscape_16_9');
    const aspect = await refused(mention('edit this --model kontext --size huge', (user) => [image(user)]));
    expect(aspect).toContain('aspect_ratio');
    expect(aspect).toContain('16:9');
  });

  // Slack flags are free text: a bad value is explained in plain words, naming the flag as typed.
  it('a bad --seed or --n is explained in plain words', async () => {
    const seed = await refused(command('/imagine', 'a cat --seed abc'));
    expect(seed).toMatch(/--seed must be a number \(got "abc"\)/);
    expect(seed).not.toMatch(/Invalid input|expected number/);
    const count = await refused(command('/imagine', 'a cat --n 9'));
    expect(count).toMatch(/--n must be at most 4 \(got 9\)/);
    expect(count).not.toMatch(/Too big|expected number/);
  });

  it('an unknown flag, or a flag without its value, is refused before anything is posted', async () => {
    const botBefore = botRecord().length;
    const flag = await refused(command('/imagine', 'a cat --style fancy'));
    expect(flag).toContain('--style');
    expect(flag).toContain('--model');
    const missing = await refused(command('/animate', 'waves --duration'));
    expect(missing).toContain('--duration');
    expect(missing).toMatch(/needs a value/);
    expect(botRecord()).toHaveLength(botBefore);
  });

  it('an option the model does not have is named with its values (the /animate modal)', async () => {
    const kling = getModel('kling')!.id;
    const text = await refused(
      modal('/animate', (user) => ({
        prompt: { prompt: 'move' },
        model: { model: kling },
        duration: { duration: '7' },
        first_frame: { first_frame: fileValue(image(user)) },
      })),
    );
    expect(text).toContain('duration');
    expect(text).toMatch(/5, 10/);
  });

  it('an empty or whitespace-only prompt is refused (flags only, and the modal)', async () => {
    expect(await refused(command('/imagine', '--model dev'))).toMatch(/prompt is required/);
    expect(await refused(command('/animate', '--duration 5'))).toMatch(/prompt is required/);
    expect(await refused(modal('/imagine', () => ({ prompt: { prompt: '   \n ' } })))).toMatch(/prompt is required/);
  });

  it('a too-long prompt says the limit', async () => {
    const text = await refused(command('/imagine', 'x'.repeat(PROMPT_MAX_LENGTH + 1)));
    expect(text).toContain('prompt');
    expect(text).toContain(`at most ${PROMPT_MAX_LENGTH} characters`);
  });

  it('a file of the wrong type says which types are accepted (a mention, and the modal)', async () => {
    const notes = (user: FakeUser) => h.slack.addFile({ name: 'notes.txt', bytes: 'just some text', mimetype: 'text/plain', user });
    const viaMention = await refused(mention('edit this', (user) => [notes(user)]));
    expect(viaMention).toContain('notes.txt');
    expect(viaMention).toContain('text/plain');
    expect(viaMention).toMatch(/PNG, JPEG, WebP or GIF/);
    const viaModal = await refused(modal('/imagine', (user) => ({ prompt: { prompt: 'edit this' }, references: { references: fileValue(notes(user)) } })));
    expect(viaModal).toContain('notes.txt');
    expect(viaModal).toMatch(/PNG, JPEG, WebP or GIF/);
  });

  it('an oversize file (by the size Slack declares) says the limit (a mention, and the modal)', async () => {
    const big = (user: FakeUser) =>
      h.slack.addFile({ name: 'big.png', bytes: Buffer.concat([png, Buffer.alloc(MAX_INPUT_BYTES + 1 - png.length)]), mimetype: 'image/png', user });
    expect(big(h.slack.defaultUser()).size).toBe(MAX_INPUT_BYTES + 1);
    const viaMention = await refused(mention('edit this --model kontext', (user) => [big(user)]));
    expect(viaMention).toContain('too large');
    expect(viaMention).toContain('64 KiB');
    const viaModal = await refused(
      modal('/imagine', (user) => ({ prompt: { prompt: 'edit this' }, model: { model: getModel('kontext')!.id }, references: { references: fileValue(big(user)) } })),
    );
    expect(viaModal).toContain('too large');
  });

  it('more files than the model takes says how many it takes', async () => {
    const two = await refused(mention('edit this --model kontext', (user) => [image(user), image(user, 'second.png')]));
    expect(two).toContain('at most 1 reference image');
    const textOnly = await refused(mention('edit this --model schnell', (user) => [image(user)]));
    expect(textOnly).toContain('takes no attachments');
  });

  it('a model that needs an image says so when none is attached', async () => {
    const text = await refused(command('/animate', 'move --model kling'));
    expect(text).toMatch(/needs a first-frame image/);
  });
});
