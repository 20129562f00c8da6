import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discordUser } from '../../src/bots/discord/context.js';
import type { Asset } from '../../src/db/index.js';
import type { FakeUser, InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/** /gallery on Discord: private pages of one's results, filters, another member's public results, deleting. */
describe('/gallery on Discord', () => {
  let h: DiscordHarness;
  let owner: FakeUser;
  /** Oldest first, as generated. */
  const made: Array<{ prompt: string; asset: Asset; shareUrl: string }> = [];
  const prompts = ['a red kite', 'a green lighthouse', 'a blue whale', 'a stone lighthouse at night', 'an orange fox', 'a purple moth', 'a yellow tram'];

  type Button = { type: number; style?: number; custom_id?: string; label?: string; url?: string };
  type Embed = { title?: string; url?: string; thumbnail?: { url?: string }; image?: { url?: string }; fields?: Array<{ name: string; value: string }> };
  const buttonsOf = (message: MessageSnapshot): Button[] =>
    (message.components as Array<{ components?: Button[] }>).flatMap((row) => row.components ?? []);
  const actionLabels = (message: MessageSnapshot) => buttonsOf(message).filter((button) => button.custom_id !== undefined).map((button) => button.label);
  const buttonId = (message: MessageSnapshot, label: string) => {
    const id = buttonsOf(message).find((button) => button.label === label)?.custom_id;
    if (!id) throw new Error(`no "${label}" button in ${JSON.stringify(message.components)}`);
    return id;
  };
  const embedsOf = (message: MessageSnapshot) => message.embeds as Embed[];
  const titles = (message: MessageSnapshot) => embedsOf(message).map((embed) => embed.title);
  const ref = (user: FakeUser) => discordUser({ id: user.id, username: user.username, globalName: user.global_name });
  const settled = (interaction: InteractionHandle) => interaction.waitForOriginal((message) => !message.loading, 10_000);
  const owned = () => h.harness.app.owner!;

  /** Generates through Discord and waits for the result post; returns the stored asset. */
  async function generate(user: FakeUser, command: 'imagine' | 'animate', options: Record<string, string | boolean>): Promise<{ asset: Asset; shareUrl: string; post: MessageSnapshot }> {
    const interaction = h.discord.slashCommand({ name: command, options, user, channelId: h.general.id });
    const post = await interaction.waitForOriginal((message) => message.embeds.length > 0, 20_000);
    const shareUrl = (post.embeds[0] as Embed).url!;
    const asset = owned().repos.assets.getAssetByShareId(shareUrl.split('/s/')[1]!)!;
    expect(asset).toBeDefined();
    return { asset, shareUrl, post };
  }

  /** Runs /gallery (or presses a gallery button) and returns the private page it shows. */
  async function page(interaction: InteractionHandle): Promise<MessageSnapshot> {
    const ack = await interaction.waitForAck();
    expect(ack.type).toBe(5);
    expect(ack.data?.['flags']).toBe(64);
    const shown = await settled(interaction);
    expect(shown.ephemeral).toBe(true);
    expect(interaction.followUps()).toEqual([]);
    return shown;
  }
  const gallery = (user: FakeUser, options: Record<string, string | FakeUser> = {}, where: { dm?: boolean } = {}) =>
    page(h.discord.slashCommand({ name: 'gallery', options, user, ...(where.dm ? { dm: true } : { channelId: h.general.id }) }));
  const press = (message: MessageSnapshot, label: string, user: FakeUser) => page(h.discord.button({ customId: buttonId(message, label), message, user }));

  beforeAll(async () => {
    h = await startDiscordHarness();
    owner = (await h.memberWithKey('collector')).user;
    h.fal.setOutput('fal-ai/veo3', () => h.fal.videoOutput({ durationSeconds: 4 }));
    for (const [index, prompt] of prompts.entries()) {
      // One video (for the kind filter) and one FLUX dev image (for the model filter).
      const result =
        index === 5
          ? await generate(owner, 'animate', { prompt, duration: '4s' })
          : await generate(owner, 'imagine', { prompt, ...(index === 2 ? { model: 'dev' } : {}) });
      made.push({ prompt, asset: result.asset, shareUrl: result.shareUrl });
      // Distinct creation times keep "newest first" unambiguous.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });

  afterAll(async () => {
    await h?.close();
  });

  it('shows the newest results first, privately, with image, prompt, model, date and share link; "Older" pages on', async () => {
    const shown = await gallery(owner);
    const newestFirst = [...made].reverse();
    expect(shown.content).toMatch(/Your gallery, newest first/);
    expect(titles(shown)).toEqual(newestFirst.slice(0, 5).map((item, index) => `${index + 1}. ${item.prompt}`));
    const today = new Date().toISOString().slice(0, 10);
    for (const [index, embed] of embedsOf(shown).entries()) {
      const item = newestFirst[index]!;
      expect(embed.url).toBe(item.shareUrl);
      expect(embed.fields).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ name: 'Model', value: item.asset.kind === 'video' ? 'Veo 3' : item.prompt === 'a blue whale' ? 'FLUX.1 [dev]' : 'FLUX.1 [schnell]' }),
          expect.objectContaining({ name: 'Date', value: today }),
          expect.objectContaining({ name: 'Link', value: item.shareUrl }),
        ]),
      );
      // Images show themselves (from Atelier's media URL, not fal's).
      if (item.asset.kind === 'image') expect(embed.thumbnail?.url).toMatch(new RegExp(`^${h.harness.baseUrl}/`));
    }
    expect(JSON.stringify(shown.raw)).not.toContain('fal.media');
    const links = buttonsOf(shown).filter((button) => button.style === 5);
    expect(links.map((button) => button.url)).toEqual(newestFirst.slice(0, 5).map((item) => item.shareUrl));
    expect(actionLabels(shown)).toEqual(['Delete 1', 'Delete 2', 'Delete 3', 'Delete 4', 'Delete 5', 'Older']);

    const older = await press(shown, 'Older', owner);
    expect(older.content).toMatch(/\(older\)/);
    expect(titles(older)).toEqual(newestFirst.slice(5).map((item, index) => `${index + 1}. ${item.prompt}`));
    expect(actionLabels(older)).toEqual(['Delete 1', 'Delete 2']);
    // The channel saw none of it.
    const publicIds = h.discord.channelMessages(h.general.id, { includeInteractions: true }).map((message) => message.id);
    expect(publicIds).not.toContain(shown.id);
    expect(publicIds).not.toContain(older.id);
  });

  it('works the same in a DM with the bot', async () => {
    const shown = await gallery(owner, {}, { dm: true });
    expect(shown.guildId).toBeNull();
    expect(titles(shown)).toHaveLength(5);
  });

  it('filters by kind, and "Older" keeps the filter', async () => {
    const videos = await gallery(owner, { kind: 'video' });
    expect(titles(videos)).toEqual(['1. a purple moth']);
    expect(videos.content).toMatch(/videos/);
    expect(actionLabels(videos)).toEqual(['Delete 1']);
    const images = await gallery(owner, { kind: 'image' });
    expect(titles(images)).toEqual(['1. a yellow tram', '2. an orange fox', '3. a stone lighthouse at night', '4. a blue whale', '5. a green lighthouse']);
    const olderImages = await press(images, 'Older', owner);
    expect(titles(olderImages)).toEqual(['1. a red kite']);
  });

  it('searches the prompts and filters by model (aliases work); an unknown model is refused privately', async () => {
    const search = await gallery(owner, { search: 'lighthouse' });
    expect(search.content).toContain('"lighthouse"');
    expect(titles(search)).toEqual(['1. a stone lighthouse at night', '2. a green lighthouse']);
    const none = await gallery(owner, { search: 'submarine' });
    expect(none.content).toMatch(/nothing here yet/);
    expect(none.embeds).toEqual([]);
    const byModel = await gallery(owner, { model: 'dev' });
    expect(titles(byModel)).toEqual(['1. a blue whale']);
    const both = await gallery(owner, { model: 'schnell', search: 'lighthouse', kind: 'image' });
    expect(titles(both)).toEqual(['1. a stone lighthouse at night', '2. a green lighthouse']);
    const unknown = await gallery(owner, { model: 'nope' });
    expect(unknown.content).toMatch(/don't know that model/);
    expect(unknown.embeds).toEqual([]);
  });

  it("user: shows another member's public results only, without Delete buttons", async () => {
    const viewer = (await h.memberWithKey('viewer')).user;
    const secret = await generate(owner, 'imagine', { prompt: 'a private sketch', private: true });
    try {
      expect(secret.post.ephemeral).toBe(true);
      const shown = await gallery(viewer, { user: owner });
      expect(shown.content).toContain(`<@${owner.id}>`);
      // The mention names the member without pinging them.
      expect(shown.raw['mentions']).toEqual([]);
      const urls = embedsOf(shown).map((embed) => embed.url);
      expect(urls).toHaveLength(5);
      expect(urls).not.toContain(secret.shareUrl);
      expect(urls).toEqual([...made].reverse().slice(0, 5).map((item) => item.shareUrl));
      expect(actionLabels(shown)).toEqual(['Older']);
      const older = await press(shown, 'Older', viewer);
      expect(embedsOf(older).map((embed) => embed.url)).toEqual([...made].reverse().slice(5).map((item) => item.shareUrl));
      expect(actionLabels(older)).toEqual([]);
      // The owner's own view does include the private one.
      expect(titles(await gallery(owner))[0]).toBe('1. a private sketch');
    } finally {
      // Later tests (in any order) see the owner's gallery as it was.
      const asset = owned().services.gallery.get(secret.asset.id);
      if (asset) await owned().services.gallery.remove(asset, { by: 'test' });
    }
  });

  it("a member without results sees nothing, not someone else's", async () => {
    const stranger = h.discord.user({ username: 'stranger' });
    const shown = await gallery(stranger);
    expect(shown.content).toMatch(/nothing here yet/);
    expect(shown.embeds).toEqual([]);
  });

  /** A result of its own for each deletion test, so the listings above see the same gallery in any order. */
  async function freshResult(prompt: string) {
    const { user } = await h.memberWithKey('deleter');
    return { user, ...(await generate(user, 'imagine', { prompt })) };
  }

  it('Delete asks for confirmation; "Delete for good" removes the file and its share link; others are refused', async () => {
    const { user, asset, shareUrl, post } = await freshResult('a kite to delete');
    expect(post.ephemeral).toBe(false);
    const mediaUrl = (post.embeds[0] as Embed).image?.url;
    expect(mediaUrl).toBeDefined();

    // Another member pressing Delete on the public post is refused privately; nothing is removed.
    const other = h.discord.user({ username: 'other' });
    const refused = h.discord.button({ customId: `delete:${asset.id}`, message: post, user: other });
    const refusal = await settled(refused);
    expect(refusal.ephemeral).toBe(true);
    expect(refusal.content).toMatch(/owner or a moderator/);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(true);

    // The owner is asked first, privately.
    const ask = h.discord.button({ customId: `delete:${asset.id}`, message: post, user });
    const confirm = await settled(ask);
    expect(confirm.ephemeral).toBe(true);
    expect(confirm.content).toContain('a kite to delete');
    expect(buttonsOf(confirm)).toEqual([expect.objectContaining({ custom_id: `deleteyes:${asset.id}`, label: 'Delete for good', style: 4 })]);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(true);
    expect((await fetch(shareUrl)).status).toBe(200);

    // A forged "Delete for good" from someone else does nothing either.
    const forged = await settled(h.discord.button({ customId: `deleteyes:${asset.id}`, message: confirm, user: other }));
    expect(forged.ephemeral).toBe(true);
    expect(forged.content).toMatch(/owner or a moderator/);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(true);

    const yes = await press(confirm, 'Delete for good', user);
    expect(yes.content).toMatch(/^Deleted/);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(false);
    expect((await fetch(shareUrl)).status).toBe(410);
    expect(owned().repos.assets.getAsset(asset.id)).toMatchObject({ removedBy: 'owner' });
    expect((await gallery(user)).content).toMatch(/nothing here yet/);

    const twice = await press(confirm, 'Delete for good', user);
    expect(twice.content).toMatch(/already deleted/);
    // The result post itself is gone from the channel.
    expect(h.discord.message(post.id)?.deleted).toBe(true);
  });

  it('deleting a result also takes its image out of the public result post', async () => {
    const { user, asset, post } = await freshResult('a post that should go');
    const confirm = await settled(h.discord.button({ customId: `delete:${asset.id}`, message: post, user }));
    await press(confirm, 'Delete for good', user);
    await h.discord.waitFor(() => {
      const now = h.discord.message(post.id);
      return now && (now.deleted || now.attachments.length === 0) ? now : undefined;
    }, 5_000);
  });

  it("a moderator may delete someone else's result", async () => {
    const { asset, shareUrl, post } = await freshResult('a whale to moderate');
    const moderator = h.discord.user({ username: 'mod' });
    const manageMessages = (1n << 13n).toString();
    const confirm = await settled(h.discord.button({ customId: `delete:${asset.id}`, message: post, user: moderator, memberPermissions: manageMessages }));
    expect(confirm.ephemeral).toBe(true);
    const yes = await page(h.discord.button({ customId: buttonId(confirm, 'Delete for good'), message: confirm, user: moderator, memberPermissions: manageMessages }));
    expect(yes.content).toMatch(/^Deleted/);
    expect(await h.harness.app.storage.exists(asset.storageKey)).toBe(false);
    expect((await fetch(shareUrl)).status).toBe(410);
    expect(owned().repos.assets.getAsset(asset.id)?.removedBy).toBe(`moderator:discord:${moderator.id}`);
    expect(owned().services.gallery.mine(ref(moderator), { limit: 10 }).items).toEqual([]);
  });

  it('a stale "Older" button answers privately', async () => {
    const shown = await gallery(owner);
    const stale = await page(h.discord.button({ customId: 'gallery::not-a-cursor', message: shown, user: owner, skipComponentCheck: true }));
    expect(stale.content).toMatch(/run \/gallery again/);
  });
});
