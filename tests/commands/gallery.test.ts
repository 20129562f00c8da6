import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveredAsset } from '../../src/jobs/deliver.js';
import { testUser } from '../helpers/app.js';
import type { MemoryContext } from '../helpers/memory-context.js';
import { CommandsHarness, succeeded, type TestUser } from '../helpers/commands.js';

describe('/gallery, its pages and filters, and deleting results', () => {
  let h: CommandsHarness;
  let owner: TestUser;
  /** Oldest first, as generated. */
  const made: Array<{ prompt: string; asset: DeliveredAsset }> = [];

  const prompts = ['a red kite', 'a green lighthouse', 'a blue whale', 'a stone lighthouse at night', 'an orange fox', 'a purple moth', 'a yellow tram'];

  beforeAll(async () => {
    h = await CommandsHarness.start();
    owner = (await h.userWithKey('collector')).user;
    h.fake.setOutput('fal-ai/veo3', () => h.fake.videoOutput({ durationSeconds: 4 }));
    for (const [index, prompt] of prompts.entries()) {
      if (index === 5) {
        // One video, for the kind filter.
        const ctx = await h.run('animate', { prompt, duration: '4s' }, { user: owner });
        const delivery = succeeded(await h.waitForDelivery(h.jobIdFrom(ctx)));
        made.push({ prompt, asset: delivery.assets[0]! });
      } else {
        const delivery = succeeded((await h.imagine(owner, { prompt, ...(index === 2 ? { model: 'dev' } : {}) })).delivery);
        made.push({ prompt, asset: delivery.assets[0]! });
      }
      // Distinct creation times keep "newest first" unambiguous.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });

  afterAll(async () => {
    await h?.close();
  });

  it("user: shows another member's public results only, without Delete buttons", async () => {
    const viewer = (await h.userWithKey('viewer')).user;
    const secret = succeeded((await h.imagine(owner, { prompt: 'a private sketch', private: true })).delivery);
    const ctx = await h.run('gallery', { user: owner.platformUserId }, { user: viewer });
    expect(ctx.lastReply().private).toBe(true);
    const shown = (ctx.lastReply().message.cards ?? []).map((card) => card.url);
    expect(shown).not.toContain(secret.assets[0]!.shareUrl);
    expect(shown.length).toBe(5);
    expect(ctx.actionButtons().map((button) => button.label)).toEqual(['Older']);
    const older = await h.press(ctx.buttonId('Older'), { user: viewer });
    expect((older.lastReply().message.cards ?? []).length).toBeGreaterThan(0);
    expect(older.actionButtons().some((button) => button.label.startsWith('Delete'))).toBe(false);
    // Removing the private one keeps later tests' view of the owner's gallery as it was.
    await h.services.gallery.remove(h.services.gallery.get(secret.assets[0]!.id)!, { by: 'test' });
  });

  const titles = (ctx: MemoryContext) => (ctx.lastReply().message.cards ?? []).map((card) => card.title);

  it('shows the newest results first, privately, with share links; "Older" pages on', async () => {
    const ctx = await h.run('gallery', {}, { user: owner });
    expect(ctx.deferred).toEqual({ private: true });
    const reply = ctx.lastReply();
    expect(reply.private).toBe(true);
    const newestFirst = [...made].reverse();
    expect(titles(ctx)).toEqual(newestFirst.slice(0, 5).map((item, index) => `${index + 1}. ${item.prompt}`));
    const firstCard = reply.message.cards![0]!;
    expect(firstCard.url).toBe(newestFirst[0]!.asset.shareUrl);
    expect(firstCard.fields).toContainEqual(expect.objectContaining({ name: 'Link', value: newestFirst[0]!.asset.shareUrl }));
    expect(ctx.linkButtons().map((button) => button.url)).toEqual(newestFirst.slice(0, 5).map((item) => item.asset.shareUrl));
    expect(ctx.actionButtons().map((button) => button.label)).toEqual(['Delete 1', 'Delete 2', 'Delete 3', 'Delete 4', 'Delete 5', 'Older']);
    // What a platform can show: at most 5 rows of at most 5 buttons, custom ids of at most 100 characters.
    expect(reply.message.buttons!.length).toBeLessThanOrEqual(5);
    for (const row of reply.message.buttons!) expect(row.length).toBeLessThanOrEqual(5);
    for (const button of ctx.actionButtons()) expect(button.id.length).toBeLessThanOrEqual(100);
    expect(JSON.stringify(reply.message)).not.toMatch(/fal\.media/);

    const older = await h.press(ctx.buttonId('Older'), { user: owner });
    expect(older.lastReply().private).toBe(true);
    expect(titles(older)).toEqual(newestFirst.slice(5).map((item, index) => `${index + 1}. ${item.prompt}`));
    expect(older.actionButtons().map((button) => button.label)).not.toContain('Older');
  });

  it('filters by kind', async () => {
    const videos = await h.run('gallery', { kind: 'video' }, { user: owner });
    expect(titles(videos)).toEqual(['1. a purple moth']);
    expect(videos.lastReply().message.cards?.[0]?.thumbnailUrl).toBeUndefined();
    const images = await h.run('gallery', { kind: 'image' }, { user: owner });
    expect(titles(images)).toEqual(['1. a yellow tram', '2. an orange fox', '3. a stone lighthouse at night', '4. a blue whale', '5. a green lighthouse']);
    const olderImages = await h.press(images.buttonId('Older'), { user: owner });
    expect(titles(olderImages)).toEqual(['1. a red kite']);
  });

  it('filters by words of the prompt and by model (aliases work)', async () => {
    const search = await h.run('gallery', { search: 'lighthouse' }, { user: owner });
    expect(search.lastReply().private).toBe(true);
    expect(search.lastText()).toContain('lighthouse');
    expect(titles(search)).toEqual(['1. a stone lighthouse at night', '2. a green lighthouse']);
    const none = await h.run('gallery', { search: 'submarine' }, { user: owner });
    expect(none.lastText()).toMatch(/nothing here yet/);
    const byModel = await h.run('gallery', { model: 'dev' }, { user: owner });
    expect(titles(byModel)).toEqual(['1. a blue whale']);
    const unknown = await h.run('gallery', { model: 'nope' }, { user: owner });
    expect(unknown.lastReply().private).toBe(true);
    expect(unknown.lastText()).toMatch(/don't know that model/);
  });

  it("shows nobody else's results", async () => {
    const stranger = await h.run('gallery', {}, { user: testUser('stranger') });
    expect(stranger.lastReply().private).toBe(true);
    expect(stranger.lastText()).toMatch(/nothing here yet/);
  });

  it('a stale "Older" button answers privately', async () => {
    const ctx = await h.press('gallery::not-a-cursor', { user: owner });
    expect(ctx.lastReply().private).toBe(true);
    expect(ctx.lastText()).toMatch(/run \/gallery again/);
  });

  /** A result of its own for each deletion test, so the listing tests above see the same gallery in any order. */
  async function freshResult(prompt: string): Promise<{ user: TestUser; asset: DeliveredAsset }> {
    const { user } = await h.userWithKey('deleter');
    const delivery = succeeded((await h.imagine(user, { prompt })).delivery);
    return { user, asset: delivery.assets[0]! };
  }

  it('Delete asks first; deleteyes removes the file, the share page answers 410 and the gallery forgets it', async () => {
    const { user: owner, asset: target } = await freshResult('a red kite');
    const confirm = await h.press(`delete:${target.id}`, { user: owner });
    expect(confirm.lastReply().private).toBe(true);
    expect(confirm.lastText()).toContain('a red kite');
    expect(await h.harness.app.storage.exists(target.storageKey)).toBe(true);
    const yesId = confirm.buttonId('Delete for good');
    expect(yesId).toBe(`deleteyes:${target.id}`);

    // Someone else pressing either button is refused, and nothing is removed.
    const other = testUser('other');
    const otherConfirm = await h.press(`delete:${target.id}`, { user: other });
    expect(otherConfirm.lastReply().private).toBe(true);
    expect(otherConfirm.lastText()).toMatch(/owner or a moderator/);
    const otherYes = await h.press(yesId, { user: other });
    expect(otherYes.lastReply().private).toBe(true);
    expect(otherYes.lastText()).toMatch(/owner or a moderator/);
    expect(await h.harness.app.storage.exists(target.storageKey)).toBe(true);
    expect((await fetch(target.shareUrl)).status).toBe(200);

    const yes = await h.press(yesId, { user: owner });
    expect(yes.lastReply().private).toBe(true);
    expect(yes.lastText()).toMatch(/^Deleted/);
    expect(await h.harness.app.storage.exists(target.storageKey)).toBe(false);
    expect((await fetch(target.shareUrl)).status).toBe(410);
    expect((await fetch(target.mediaUrl)).status).toBe(404);
    expect(h.owner.repos.assets.getAsset(target.id)).toMatchObject({ removedBy: 'owner' });
    expect(h.services.gallery.mine(owner, { limit: 100 }).items).toEqual([]);
    const listed = await h.run('gallery', {}, { user: owner });
    expect(listed.lastText()).toMatch(/nothing here yet/);
    const search = await h.run('gallery', { search: 'kite' }, { user: owner });
    expect(search.lastText()).toMatch(/nothing here yet/);

    const twice = await h.press(yesId, { user: owner });
    expect(twice.lastReply().private).toBe(true);
    expect(twice.lastText()).toMatch(/already deleted/);
    const confirmAgain = await h.press(`delete:${target.id}`, { user: owner });
    expect(confirmAgain.lastText()).toMatch(/deleted/);
  });

  it('a moderator may delete someone else\'s result', async () => {
    const { asset: target } = await freshResult('a blue whale');
    const moderator = testUser('mod');
    const confirm = await h.press(`delete:${target.id}`, { user: moderator, canModerate: true });
    const yes = await h.press(confirm.buttonId('Delete for good'), { user: moderator, canModerate: true });
    expect(yes.lastReply().private).toBe(true);
    expect(yes.lastText()).toMatch(/^Deleted/);
    expect(await h.harness.app.storage.exists(target.storageKey)).toBe(false);
    expect((await fetch(target.shareUrl)).status).toBe(410);
    expect(h.owner.repos.assets.getAsset(target.id)?.removedBy).toBe(`moderator:test:${moderator.platformUserId}`);
  });
});
