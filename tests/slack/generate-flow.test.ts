import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackUser } from '../../src/bots/slack/context.js';
import type { FakeChannel, FakeUser, Json, SlackMessage } from '../fakes/slack-server.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/**
 * `/imagine <prompt>` with flags on Slack, end to end through the unmodified Bolt app: the command is
 * acknowledged at once, a status message is updated in place, and the result is threaded under it
 * (or kept private with --private and in DMs).
 */
describe('Slack /imagine with flags', () => {
  let h: SlackHarness;
  let alice: FakeUser;

  type Element = { type: string; action_id?: string; url?: string; value?: string; style?: string; text?: { text: string } };
  const buttonsOf = (message: { blocks: Json[] }): Element[] => message.blocks.filter((block) => block['type'] === 'actions').flatMap((block) => block['elements'] as Element[]);
  /** The labels of the buttons this file is about (other buttons may come and go). */
  const mainLabels = (message: { blocks: Json[] }) =>
    buttonsOf(message)
      .map((button) => button.text?.text ?? '')
      .filter((label) => /^(Open|Rerun|Vary|Delete)\b/.test(label));
  const imagesOf = (message: { blocks: Json[] }) => message.blocks.filter((block) => block['type'] === 'image').map((block) => block['image_url'] as string);
  const textOf = (message: { blocks: Json[] }) => JSON.stringify(message.blocks);
  const isResult = (message: SlackMessage) => textOf(message).includes('/s/');
  const owned = () => h.harness.app.owner!;
  const totalJobs = () => Object.values(owned().repos.jobs.countJobsByStatus()).reduce((sum, count) => sum + count, 0);

  /** Every message ts of a channel so far (replies and deleted ones included), to tell new ones apart. */
  const seen = (channel: FakeChannel | string) => new Set(h.slack.messages(channel, { includeReplies: true, includeDeleted: true }).map((message) => message.ts));

  /** Runs /imagine in a channel; returns the acknowledgement, the status message and the threaded result. */
  async function imagine(text: string, user: FakeUser, channel: FakeChannel = h.general) {
    const before = seen(channel);
    const ack = await h.slack.slashCommand({ command: '/imagine', text, user, channel });
    expect(ack.status).toBe(200);
    expect(ack.late).toBe(false);
    expect(ack.ackMs).toBeLessThan(3_000);
    const status = await h.slack.waitFor(() => h.slack.messages(channel).find((message) => !before.has(message.ts) && message.botId !== undefined), 5_000, 'the status message');
    const result = await h.slack.waitFor(() => h.slack.thread(channel, status.ts).find((message) => message.ts !== status.ts && isResult(message)), 20_000, 'the threaded result');
    const done = await h.slack.waitFor(() => {
      const current = h.slack.message(channel, status.ts);
      return current?.text.startsWith('Done') ? current : undefined;
    }, 5_000, 'the status message to say Done');
    return { ack, status: done, result };
  }

  beforeAll(async () => {
    h = await startSlackHarness();
    alice = (await h.memberWithKey('alice')).user;
  });
  afterAll(async () => {
    h?.fal.release();
    await h?.close();
  });

  it('passes --model, --seed, --size, --n and key=value params to fal and threads every output under the status message', async () => {
    h.fal.setOutput('fal-ai/flux/dev', ({ input }) => h.fal.imageOutput({ width: 40, height: 30, count: Number(input['num_images']), seed: Number(input['seed']) }));
    const ephemerals = h.slack.ephemerals(alice).length;
    const { status, result } = await imagine('a lighthouse in fog --model dev --seed 7 --size landscape_4_3 --n 2 num_inference_steps=12 guidance_scale=4.5', alice);

    const submit = h.fal.submits('fal-ai/flux/dev').at(-1)!;
    expect(submit.input).toEqual({ prompt: 'a lighthouse in fog', seed: 7, image_size: 'landscape_4_3', num_images: 2, num_inference_steps: 12, guidance_scale: 4.5 });

    // The status message stays at the top level of the channel; the result is the one reply under it.
    expect(status.threadTs).toBe(status.ts);
    expect(h.slack.thread(h.general, status.ts).map((message) => message.ts)).toEqual([status.ts, result.ts]);
    expect(status.text).toBe('Done: a lighthouse in fog (result in the thread)');
    expect(buttonsOf(status)).toEqual([]);

    const shareId = /\/s\/([\w-]+)/.exec(textOf(result))![1]!;
    const job = owned().repos.jobs.getJob(owned().repos.assets.getAssetByShareId(shareId)!.jobId)!;
    expect(job.falRequestId).toBe(submit.requestId);
    expect(job.userId).toBe(owned().repos.users.findUser(slackUser(alice.teamId, alice.id))!.id);
    const assets = owned().repos.assets.listJobAssets(job.id);
    expect(assets).toHaveLength(2);
    // Our media URLs as image blocks (never fal's), a share page per output, model, seed and time taken.
    expect(imagesOf(result)).toEqual(assets.map((asset) => owned().links.mediaUrl(asset)));
    expect(textOf(result)).not.toContain('fal.media');
    const sections = result.blocks.filter((block) => block['type'] === 'section').map((block) => JSON.stringify(block));
    expect(sections.filter((text) => text.includes('a lighthouse in fog (1/2)') || text.includes('a lighthouse in fog (2/2)'))).toHaveLength(2);
    const fields = result.blocks.flatMap((block) => ((block['fields'] as Array<{ text: string }> | undefined) ?? []).map((field) => field.text));
    expect(fields.filter((field) => field === '*Model*\nFLUX.1 [dev]')).toHaveLength(2);
    expect(fields.filter((field) => field === '*Seed*\n7')).toHaveLength(2);
    expect(fields.filter((field) => /^\*Time taken\*\n\d+\.\d s$/.test(field))).toHaveLength(2);
    const buttons = buttonsOf(result);
    expect(mainLabels(result)).toEqual(['Open 1', 'Vary 1', 'Delete 1', 'Open 2', 'Vary 2', 'Delete 2', 'Rerun']);
    expect(buttons.filter((button) => button.url).map((button) => button.url)).toEqual(assets.map((asset) => owned().links.shareUrl(asset)));
    expect(buttons.filter((button) => !button.url && /^(vary|delete|rerun):/.test(button.action_id ?? '')).map((button) => button.action_id)).toEqual([
      `vary:${assets[0]!.id}`,
      `delete:${assets[0]!.id}`,
      `vary:${assets[1]!.id}`,
      `delete:${assets[1]!.id}`,
      `rerun:${job.id}`,
    ]);
    // The share pages answer.
    for (const asset of assets) expect((await fetch(owned().links.shareUrl(asset))).status).toBe(200);
    // Both posts are recorded: a removal takes down the result post (the status message is not a result).
    expect(owned().repos.posts.forJob(job.id).map((post) => post.messageId)).toEqual([result.ts]);
    expect(h.slack.ephemerals(alice).slice(ephemerals)).toEqual([]);
  });

  it('a single output gets "Open share page", Rerun, Vary and Delete', async () => {
    const { result } = await imagine('a paper boat', alice);
    expect(mainLabels(result)).toEqual(['Open share page', 'Rerun', 'Vary', 'Delete']);
    expect(imagesOf(result)).toHaveLength(1);
    expect(imagesOf(result)[0]).toMatch(new RegExp(`^${h.harness.baseUrl}/media/`));
  });

  it('/animate <prompt> takes --duration, --size, --seed and params, and threads the video (uploaded, with the share link)', async () => {
    let produced: Buffer | undefined;
    h.fal.setOutput('fal-ai/veo3', async () => {
      const output = h.fal.videoOutput({ bytes: 128 * 1024, durationSeconds: 6 });
      produced = await h.fal.cdnObject((output['video'] as { url: string }).url)!.bytes();
      return output;
    });
    const uploads = h.slack.uploads().length;
    const before = seen(h.general);
    const ack = await h.slack.slashCommand({ command: '/animate', text: 'waves on a pier --duration 6s --size 9:16 --seed 3 generate_audio=false', user: alice, channel: h.general });
    expect(ack.late).toBe(false);
    const status = await h.slack.waitFor(() => h.slack.messages(h.general).find((message) => !before.has(message.ts) && message.botId !== undefined), 5_000, 'the status message');
    const result = await h.slack.waitFor(() => h.slack.thread(h.general, status.ts).find((message) => message.ts !== status.ts && isResult(message)), 20_000, 'the result');
    expect(h.fal.submits('fal-ai/veo3').at(-1)?.input).toEqual({ prompt: 'waves on a pier', duration: '6s', aspect_ratio: '9:16', seed: 3, generate_audio: false, resolution: '720p' });
    const asset = owned().repos.assets.getAssetByShareId(/\/s\/([\w-]+)/.exec(textOf(result))![1]!)!;
    expect(asset.kind).toBe('video');
    // The video itself is uploaded into the thread; the post links the share page and never shows the video URL as an image.
    const [upload] = h.slack.uploads().slice(uploads);
    expect(upload).toMatchObject({ completed: true, channelId: h.general.id, threadTs: status.ts });
    expect(upload!.bytes!.equals(produced!)).toBe(true);
    expect(result.text).toContain(owned().links.shareUrl(asset));
    expect(imagesOf(result)).not.toContain(owned().links.mediaUrl(asset));
    expect(mainLabels(result)).toEqual(['Open share page', 'Rerun', 'Delete']);
    expect(textOf(result)).toContain('*Duration*\\n6 s');
  });

  it('checks key=value params against the model schema: a bad value or an unknown parameter is refused privately, before fal', async () => {
    for (const [text, expected] of [
      ['a kite --model dev num_inference_steps=lots', /num_inference_steps/],
      ['a kite --model dev sharpness=3', /sharpness/],
      ['a kite --size gigantic', /gigantic|image_size|size/],
      ['a kite --seed -4', /seed/],
      ['a kite --sparkle', /Unknown option --sparkle/],
    ] as const) {
      const before = seen(h.general);
      const jobs = totalJobs();
      const submits = h.fal.submits().length;
      const responses = h.slack.responses().length;
      const ack = await h.slack.slashCommand({ command: '/imagine', text, user: alice, channel: h.general });
      expect(ack.late).toBe(false);
      const answer = await h.slack.waitFor(() => h.slack.responses().slice(responses)[0], 5_000, `the answer to "${text}"`);
      expect(answer.responseType).toBe('ephemeral');
      expect(JSON.stringify(answer.body)).toMatch(expected);
      expect(JSON.stringify(answer.body)).not.toMatch(/\[object Object\]|Error:|\.ts:\d+/);
      // Any public placeholder is gone again; no job, nothing sent to fal.
      await h.slack.waitFor(() => h.slack.messages(h.general).every((message) => before.has(message.ts)), 5_000, 'the placeholder to go');
      expect(totalJobs()).toBe(jobs);
      expect(h.fal.submits()).toHaveLength(submits);
    }
  });

  it('--private keeps everything for the user: queued and result as ephemerals through response_url, nothing in the channel', async () => {
    const before = seen(h.general);
    const responses = h.slack.responses().length;
    const ack = await h.slack.slashCommand({ command: '/imagine', text: 'a secret garden --private', user: alice, channel: h.general });
    expect(ack.late).toBe(false);
    const result = await h.slack.waitFor(() => h.slack.ephemerals(alice).find((message) => textOf(message).includes('/s/') && textOf(message).includes('a secret garden')), 20_000, 'the private result');
    expect(result.source).toBe('response_url');
    expect(result.channel).toBe(h.general.id);
    expect(mainLabels(result)).toEqual(['Open share page', 'Rerun', 'Vary', 'Delete']);
    const posts = h.slack.responses().slice(responses);
    expect(posts.map((post) => post.responseType)).toEqual(['ephemeral', 'ephemeral']);
    expect(JSON.stringify(posts[0]?.body)).toContain('Queued');
    // Not a single public message, not even a status message; the private job keeps no post to retract.
    expect(h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).filter((message) => !before.has(message.ts))).toEqual([]);
    expect(h.slack.calls('chat.postMessage').filter((call) => JSON.stringify(call.params).includes('a secret garden'))).toEqual([]);
    const asset = owned().repos.assets.getAssetByShareId(/\/s\/([\w-]+)/.exec(textOf(result))![1]!)!;
    expect(asset.visibility).toBe('private');
    expect(owned().repos.posts.forJob(asset.jobId)).toEqual([]);
  });

  it('asked in a DM, the status and the result stay in the DM', async () => {
    const dm = h.slack.dmChannel(alice);
    const generalBefore = seen(h.general);
    const { status, result } = await imagine('a letter by candlelight', alice, dm);
    expect(status.channel).toBe(dm.id);
    expect(result.channel).toBe(dm.id);
    expect(h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).filter((message) => !generalBefore.has(message.ts))).toEqual([]);
  });

  it('in a channel the bot is not a member of, the answers and the result come privately, with a hint to invite the bot', async () => {
    const closed = h.slack.channel({ name: 'no-bot-here', botIsMember: false });
    const responses = h.slack.responses().length;
    const ack = await h.slack.slashCommand({ command: '/imagine', text: 'a locked door', user: alice, channel: closed });
    expect(ack.late).toBe(false);
    const result = await h.slack.waitFor(() => h.slack.ephemerals(alice).find((message) => textOf(message).includes('/s/') && textOf(message).includes('a locked door')), 20_000, 'the private result');
    expect(result.channel).toBe(closed.id);
    const answers = h.slack.responses().slice(responses);
    expect(answers.map((answer) => answer.responseType)).toEqual(['ephemeral', 'ephemeral']);
    expect(JSON.stringify(answers[0]!.body)).toMatch(/not a member of this channel.*Invite me.*Queued/s);
    expect(h.slack.messages(closed, { includeReplies: true, includeDeleted: true })).toEqual([]);
    expect(h.slack.calls('chat.postMessage').filter((call) => call.params['channel'] === closed.id).map((call) => call.error)).toEqual(['not_in_channel']);
  });

  it('if the bot is removed from the channel while the job runs, the result reaches the user privately', async () => {
    const room = h.slack.channel({ name: 'soon-without-bot' });
    h.fal.hold('fal-ai/flux/schnell');
    try {
      const submits = h.fal.submits('fal-ai/flux/schnell').length;
      await h.slack.slashCommand({ command: '/imagine', text: 'a vanishing act', user: alice, channel: room });
      await h.fal.waitForSubmit('fal-ai/flux/schnell', submits + 1, 10_000);
      await h.slack.waitFor(() => h.slack.messages(room).find((message) => message.text.includes('a vanishing act')), 5_000, 'the status message');
      room.botIsMember = false;
    } finally {
      h.fal.release();
    }
    const result = await h.slack.waitFor(() => h.slack.ephemerals(alice).find((message) => textOf(message).includes('/s/') && textOf(message).includes('a vanishing act')), 20_000, 'the private result');
    expect(result.source).toBe('response_url');
    expect(h.slack.messages(room, { includeReplies: true }).filter(isResult)).toEqual([]);
  });

  it('user text is escaped: a prompt cannot notify the channel or forge a link', async () => {
    const { status, result } = await imagine('a party <!channel> & <https://evil.example|friends>', alice);
    const everything = [h.slack.message(h.general, status.ts)!, ...h.slack.message(h.general, status.ts)!.revisions, result];
    // What Slack parses: the fallback text and every mrkdwn text object (plain_text such as alt_text is shown as is).
    const mrkdwn = (value: unknown): string[] =>
      Array.isArray(value)
        ? value.flatMap(mrkdwn)
        : typeof value === 'object' && value !== null
          ? [...((value as Json)['type'] === 'mrkdwn' ? [String((value as Json)['text'])] : []), ...Object.values(value).flatMap(mrkdwn)]
          : [];
    for (const message of everything) {
      const wire = [message.text, ...mrkdwn(message.blocks)].join(' ');
      expect(wire).not.toContain('<!channel>');
      expect(wire).not.toContain('<https://evil.example');
    }
    expect(status.text).toBe('Done: a party &lt;!channel&gt; &amp; &lt;https://evil.example|friends&gt; (result in the thread)');
    // fal still gets the prompt exactly as typed.
    expect(h.fal.submits().at(-1)?.input['prompt']).toBe('a party <!channel> & <https://evil.example|friends>');
  });

  it('progress edits of the status message are throttled: at least the interval apart, however fast fal reports', async () => {
    const steps = Array.from({ length: 15 }, (_, index) => ({ status: 'IN_PROGRESS' as const, logs: [`step ${index + 1}`] }));
    h.fal.setProgression('fal-ai/flux/schnell', [{ status: 'IN_QUEUE', queuePosition: 3 }, { status: 'IN_QUEUE', queuePosition: 1 }, ...steps]);
    try {
      const { status } = await imagine('a spinning top', alice);
      const updates = h.slack.calls('chat.update').filter((call) => call.params['ts'] === status.ts);
      // Queued, at least one progress edit, and Done.
      expect(updates.length).toBeGreaterThanOrEqual(3);
      // Far fewer edits than the 17 progress reports fal produced 20 ms apart.
      expect(updates.length).toBeLessThan(10);
      for (let index = 1; index < updates.length; index += 1) {
        expect(updates[index]!.at - updates[index - 1]!.at).toBeGreaterThanOrEqual(195);
      }
      const texts = [...status.revisions.map((revision) => revision.text), status.text];
      expect(texts[0]).toBe('Working on it…');
      expect(texts[1]).toMatch(/^Queued/);
      expect(texts.at(-1)).toMatch(/^Done/);
      // Never back to an older state.
      expect(texts.slice(2, -1).every((text) => !text.startsWith('Queued') && !text.startsWith('Working'))).toBe(true);
    } finally {
      h.fal.setProgression('fal-ai/flux/schnell', [{ status: 'IN_QUEUE', queuePosition: 1 }, { status: 'IN_PROGRESS', logs: ['working'] }]);
    }
  });
});
