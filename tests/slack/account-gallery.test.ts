import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackUser } from '../../src/bots/slack/context.js';
import type { Asset } from '../../src/db/index.js';
import type { EphemeralMessage, FakeUser, InboundResult, Json, SlackMessage } from '../fakes/slack-server.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/**
 * `/gallery [search]` on Slack: ephemeral pages of one's results (thumbnail, prompt, model, date,
 * share link), "Older" pagination, and deleting with a confirmation; nothing of it shows in the channel.
 */
describe('/gallery on Slack', () => {
  let h: SlackHarness;
  let owner: FakeUser;
  /** Oldest first, as generated. */
  const made: Array<{ prompt: string; asset: Asset; shareUrl: string }> = [];
  const prompts = ['a red kite', 'a green lighthouse', 'a blue whale', 'a stone lighthouse at night', 'an orange fox', 'a purple moth', 'a yellow tram'];
  /** Index of the one video among `prompts`. */
  const VIDEO = 5;

  type Element = { type?: string; action_id?: string; url?: string; value?: string; style?: string; text?: { text?: string } };
  type Section = { type: string; text?: { text?: string }; accessory?: { type?: string; image_url?: string }; fields?: Array<{ text: string }> };
  const buttonsOf = (message: { blocks: Json[] }): Element[] =>
    message.blocks.filter((block) => block['type'] === 'actions').flatMap((block) => (block['elements'] as Element[] | undefined) ?? []);
  const labelOf = (element: Element) => element.text?.text;
  const actionLabels = (message: { blocks: Json[] }) => buttonsOf(message).filter((button) => button.url === undefined).map(labelOf);
  const buttonId = (message: { blocks: Json[] }, label: string) => {
    const id = buttonsOf(message).find((button) => labelOf(button) === label)?.action_id;
    if (!id) throw new Error(`no "${label}" button in ${JSON.stringify(message.blocks)}`);
    return id;
  };
  /** The card headings: the sections whose text starts with a bold link `*<url|n. prompt>*`. */
  const cards = (message: { blocks: Json[] }) =>
    (message.blocks as unknown as Section[]).filter((block) => block.type === 'section' && /^\*<[^|>]+\|\d+\. /.test(block.text?.text ?? ''));
  const titles = (message: { blocks: Json[] }) => cards(message).map((card) => /^\*<[^|>]+\|([^>]+)>\*/.exec(card.text?.text ?? '')?.[1]);
  const cardUrls = (message: { blocks: Json[] }) => cards(message).map((card) => /^\*<([^|>]+)\|/.exec(card.text?.text ?? '')?.[1]);
  const ref = (user: FakeUser) => slackUser(user.teamId, user.id, user.name);
  const owned = () => h.harness.app.owner!;
  const shareUrlIn = (message: { text: string; blocks: Json[] }) => new RegExp(`${h.harness.baseUrl}/s/[A-Za-z0-9_-]+`).exec(JSON.stringify([message.text, message.blocks]))?.[0];

  function acked(result: InboundResult): InboundResult {
    expect(result.status).toBe(200);
    expect(result.late).toBe(false);
    return result;
  }

  const nextEphemeral = (user: FakeUser, before: number, what = 'an ephemeral answer'): Promise<EphemeralMessage> =>
    h.slack.waitFor(() => h.slack.ephemerals(user).slice(before)[0], 10_000, what);

  /** Every message in #general, deleted and threaded ones included: a private answer adds none. */
  const channelRecord = () => h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).length;

  /** Generates through Slack and waits for the result threaded under the status message. */
  async function generate(user: FakeUser, command: '/imagine' | '/animate', text: string, prompt: string): Promise<{ asset: Asset; shareUrl: string; post: SlackMessage }> {
    const before = h.slack.messages(h.general).length;
    acked(await h.slack.slashCommand({ command, text, user, channel: h.general }));
    const status = await h.slack.waitFor(
      () => h.slack.messages(h.general).slice(before).find((message) => message.botId !== undefined && message.text.includes(prompt)),
      10_000,
      `the status of "${prompt}"`,
    );
    const post = await h.slack.waitFor(
      () => h.slack.thread(h.general, status.ts).find((message) => message.ts !== status.ts && message.botId !== undefined && message.blocks.length > 0 && shareUrlIn(message)),
      20_000,
      `the result of "${prompt}"`,
    );
    const shareUrl = shareUrlIn(post)!;
    const asset = owned().repos.assets.getAssetByShareId(shareUrl.split('/s/')[1]!)!;
    expect(asset).toBeDefined();
    // The status message says "Done" last: after that the job makes no more Slack calls.
    await h.slack.waitFor(() => h.slack.message(h.general, status.ts)?.text.startsWith('Done'), 10_000, `"${prompt}" done`);
    return { asset, shareUrl, post };
  }

  /** Runs /gallery (or /atelier gallery) and returns the private page it shows. */
  async function gallery(user: FakeUser, search = '', where: { dm?: boolean; command?: '/gallery' | '/atelier' } = {}): Promise<EphemeralMessage> {
    const channel = where.dm ? h.slack.dmChannel(user) : h.general;
    const before = h.slack.ephemerals(user).length;
    const recordBefore = channelRecord();
    const command = where.command ?? '/gallery';
    acked(await h.slack.slashCommand({ command, text: command === '/atelier' ? `gallery ${search}` : search, user, channel }));
    const shown = await nextEphemeral(user, before, `the gallery of ${user.name}`);
    expect(shown.channel).toBe(channel.id);
    expect(shown.source).toBe('response_url');
    expect(channelRecord()).toBe(recordBefore);
    return shown;
  }

  /** Presses a button on a message and returns the private answer. */
  async function press(message: EphemeralMessage | SlackMessage, label: string, user: FakeUser): Promise<EphemeralMessage> {
    return pressId(message, buttonId(message, label), user);
  }
  async function pressId(message: EphemeralMessage | SlackMessage, actionId: string, user: FakeUser): Promise<EphemeralMessage> {
    const before = h.slack.ephemerals(user).length;
    const recordBefore = channelRecord();
    acked(await h.slack.blockAction({ actionId, message, user }));
    const answer = await nextEphemeral(user, before, `the answer to ${actionId}`);
    expect(answer.source).toBe('response_url');
    // The press answered privately, and posted nothing in the channel (a deletion may only take posts away).
    expect(channelRecord()).toBe(recordBefore);
    return answer;
  }

  beforeAll(async () => {
    h = await startSlackHarness();
    owner = (await h.memberWithKey('collector')).user;
    h.fal.setOutput('fal-ai/veo3', () => h.fal.videoOutput({ durationSeconds: 4 }));
    for (const [index, prompt] of prompts.entries()) {
      // One video and one FLUX dev image, for the model and thumbnail checks.
      const result =
        index === VIDEO
          ? await generate(owner, '/animate', `${prompt} --duration 4s`, prompt)
          : await generate(owner, '/imagine', index === 2 ? `${prompt} --model dev` : prompt, prompt);
      made.push({ prompt, asset: result.asset, shareUrl: result.shareUrl });
      // Distinct creation times keep "newest first" unambiguous.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }, 120_000);

  afterAll(async () => {
    try {
      if (h) expect(h.slack.inbound().filter((result) => result.status !== 200 || result.late)).toEqual([]);
    } finally {
      await h?.close();
    }
  });

  it('shows the newest results first, privately: thumbnail, prompt, model, date and share link; "Older" pages on', async () => {
    const shown = await gallery(owner);
    const newestFirst = [...made].reverse();
    expect(shown.text).toMatch(/Your gallery, newest first/);
    expect(titles(shown)).toEqual(newestFirst.slice(0, 5).map((item, index) => `${index + 1}. ${item.prompt}`));
    expect(cardUrls(shown)).toEqual(newestFirst.slice(0, 5).map((item) => item.shareUrl));
    const today = new Date().toISOString().slice(0, 10);
    const sections = shown.blocks as unknown as Section[];
    for (const [index, card] of cards(shown).entries()) {
      const item = newestFirst[index]!;
      // The fields follow their card: model, date and the share link.
      const fields = sections[sections.indexOf(card) + 1]?.fields?.map((field) => field.text) ?? [];
      const model = item.asset.kind === 'video' ? 'Veo 3' : item.prompt === 'a blue whale' ? 'FLUX.1 [dev]' : 'FLUX.1 [schnell]';
      expect(fields).toEqual([`*Model*\n${model}`, `*Date*\n${today}`, `*Link*\n${item.shareUrl}`]);
      // Images show a thumbnail from Atelier's media URL (never fal's); a video never shows its video file as an image.
      if (item.asset.kind === 'image') {
        expect(card.accessory).toMatchObject({ type: 'image', image_url: expect.stringMatching(new RegExp(`^${h.harness.baseUrl}/media/`)) });
      } else if (card.accessory) {
        expect(card.accessory.image_url).not.toMatch(/\.mp4$/);
      }
    }
    expect(JSON.stringify(shown.blocks)).not.toContain('fal.media');
    // Every block Slack would accept: at most 50 blocks, section texts within 3000 characters.
    expect(shown.blocks.length).toBeLessThanOrEqual(50);
    for (const section of sections) expect((section.text?.text ?? '').length).toBeLessThanOrEqual(3000);

    const links = buttonsOf(shown).filter((button) => button.url !== undefined);
    expect(links.map((button) => button.url)).toEqual(newestFirst.slice(0, 5).map((item) => item.shareUrl));
    expect(links.map(labelOf)).toEqual(['Open 1', 'Open 2', 'Open 3', 'Open 4', 'Open 5']);
    expect(actionLabels(shown)).toEqual(['Delete 1', 'Delete 2', 'Delete 3', 'Delete 4', 'Delete 5', 'Older']);
    expect(buttonsOf(shown).filter((button) => labelOf(button)?.startsWith('Delete')).map((button) => button.action_id)).toEqual(
      newestFirst.slice(0, 5).map((item) => `delete:${item.asset.id}`),
    );

    const older = await press(shown, 'Older', owner);
    expect(older.text).toMatch(/\(older\)/);
    expect(titles(older)).toEqual(newestFirst.slice(5).map((item, index) => `${index + 1}. ${item.prompt}`));
    expect(actionLabels(older)).toEqual(['Delete 1', 'Delete 2']);
  });

  it('works the same in a DM with the bot, and as /atelier gallery', async () => {
    const inDm = await gallery(owner, '', { dm: true });
    expect(titles(inDm)).toHaveLength(5);
    const viaAtelier = await gallery(owner, '', { command: '/atelier' });
    expect(titles(viaAtelier)).toEqual(titles(inDm));
  });

  it('searches the prompts', async () => {
    const search = await gallery(owner, 'lighthouse');
    expect(search.text).toContain('"lighthouse"');
    expect(titles(search)).toEqual(['1. a stone lighthouse at night', '2. a green lighthouse']);
    expect(actionLabels(search)).toEqual(['Delete 1', 'Delete 2']);
    const viaAtelier = await gallery(owner, 'lighthouse', { command: '/atelier' });
    expect(titles(viaAtelier)).toEqual(titles(search));
    const several = await gallery(owner, '  stone   lighthouse ');
    expect(titles(several)).toEqual(['1. a stone lighthouse at night']);
    const none = await gallery(owner, 'submarine');
    expect(none.text).toMatch(/nothing here yet/);
    expect(cards(none)).toEqual([]);
    expect(buttonsOf(none)).toEqual([]);
  });

  it("a member without results sees nothing, not someone else's", async () => {
    const stranger = h.slack.user({ name: 'stranger' });
    const shown = await gallery(stranger);
    expect(shown.text).toMatch(/nothing here yet/);
    expect(cards(shown)).toEqual([]);
  });

  /** A result of its own for each deletion test, so the listings above see the same gallery in any order. */
  async function freshResult(prompt: string) {
    const { user } = await h.memberWithKey('deleter');
    return { user, ...(await generate(user, '/imagine', prompt, prompt)) };
  }

  it('Delete asks for confirmation; "Delete for good" removes the file, its share link and the public post; others are refused', async () => {
    const { user, asset, shareUrl, post } = await freshResult('a kite to delete');
    expect(buttonsOf(post).map((button) => button.action_id)).toContain(`delete:${asset.id}`);

    // Another member pressing Delete on the public result is refused privately; nothing is removed.
    const other = h.slack.user({ name: 'other' });
    const refusal = await pressId(post, `delete:${asset.id}`, other);
    expect(refusal.text).toMatch(/owner or a moderator/);
    expect(buttonsOf(refusal)).toEqual([]);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(true);

    // The owner is asked first, privately.
    const confirm = await pressId(post, `delete:${asset.id}`, user);
    expect(confirm.text).toContain('a kite to delete');
    expect(buttonsOf(confirm)).toEqual([expect.objectContaining({ action_id: `deleteyes:${asset.id}`, style: 'danger', text: expect.objectContaining({ text: 'Delete for good' }) })]);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(true);
    expect((await fetch(shareUrl)).status).toBe(200);

    // A forged "Delete for good" from someone else does nothing either.
    const forged = await pressId(confirm, `deleteyes:${asset.id}`, other);
    expect(forged.text).toMatch(/owner or a moderator/);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(true);

    const beforeYes = h.slack.ephemerals(user).length;
    acked(await h.slack.blockAction({ actionId: buttonId(confirm, 'Delete for good'), message: confirm, user }));
    const yes = await nextEphemeral(user, beforeYes, 'the deletion answer');
    expect(yes.text).toMatch(/^Deleted/);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(false);
    expect((await fetch(shareUrl)).status).toBe(410);
    expect(owned().repos.assets.getAsset(asset.id)).toMatchObject({ removedBy: 'owner' });
    // The public result post (which showed the image from our media URL) is taken down.
    await h.slack.waitFor(() => h.slack.message(h.general, post.ts)?.deleted, 5_000, 'the result post to be deleted');
    expect((await gallery(user)).text).toMatch(/nothing here yet/);

    const twice = await pressId(confirm, `deleteyes:${asset.id}`, user);
    expect(twice.text).toMatch(/already deleted/);
    const again = await pressId(confirm, `delete:${asset.id}`, user);
    expect(again.text).toMatch(/deleted/);
  });

  it('Delete from the gallery page works the same, and the next page no longer lists it', async () => {
    const { user, asset, shareUrl } = await freshResult('a tram to forget');
    const page = await gallery(user);
    expect(titles(page)).toEqual(['1. a tram to forget']);
    const confirm = await press(page, 'Delete 1', user);
    const yes = await press(confirm, 'Delete for good', user);
    expect(yes.text).toMatch(/^Deleted/);
    expect((await fetch(shareUrl)).status).toBe(410);
    expect(owned().services.gallery.mine(ref(user), { limit: 10 }).items).toEqual([]);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(false);
  });

  it('a stale "Older" button answers privately', async () => {
    const shown = await gallery(owner);
    const stale = await pressId(shown, 'gallery::not-a-cursor', owner);
    expect(stale.text).toMatch(/run \/gallery again/);
  });
});
