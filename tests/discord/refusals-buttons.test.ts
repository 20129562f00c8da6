import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discordUser } from '../../src/bots/discord/context.js';
import type { Asset } from '../../src/db/index.js';
import type { FakeUser, InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/**
 * Buttons pressed by someone who may not use them (or that no longer work) are answered privately,
 * with no fal call, no new job and nothing in the channel.
 */
describe('buttons refused on Discord', () => {
  let h: DiscordHarness;
  let author: FakeUser;
  /** A public result post of `author`, with Rerun, Vary and Delete. */
  let result: { post: MessageSnapshot; asset: Asset; jobId: string };

  type Button = { custom_id?: string; label?: string };
  const buttonsOf = (message: MessageSnapshot): Button[] =>
    (message.components as Array<{ components?: Button[] }>).flatMap((row) => row.components ?? []);
  const buttonId = (message: MessageSnapshot, label: string) => {
    const id = buttonsOf(message).find((button) => button.label === label)?.custom_id;
    if (!id) throw new Error(`no "${label}" button in ${JSON.stringify(message.components)}`);
    return id;
  };
  const ref = (user: FakeUser) => discordUser({ id: user.id, username: user.username, globalName: user.global_name });
  const totalJobs = () => Object.values(h.harness.app.owner!.repos.jobs.countJobsByStatus()).reduce((sum, count) => sum + count, 0);

  beforeAll(async () => {
    h = await startDiscordHarness();
    author = (await h.memberWithKey('author')).user;
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a lighthouse in fog' }, user: author, channelId: h.general.id });
    const post = await interaction.waitForOriginal((message) => message.embeds.length > 0, 20_000);
    const shareUrl = (post.embeds[0] as { url: string }).url;
    const asset = h.harness.app.owner!.repos.assets.getAssetByShareId(shareUrl.split('/s/')[1]!)!;
    result = { post, asset, jobId: buttonId(post, 'Rerun').slice('rerun:'.length) };
  });

  afterAll(async () => {
    h?.fal.release();
    await h?.close();
  });

  /** The one private answer to a button press, checked for "nothing else happened". */
  async function refusedPress(customId: string, message: MessageSnapshot, user: FakeUser, options: { skipComponentCheck?: boolean; messageMayChange?: boolean } = {}): Promise<string> {
    const jobsBefore = totalJobs();
    const falBefore = h.fal.requests.length;
    const press = h.discord.button({ customId, message, user, ...(options.skipComponentCheck ? { skipComponentCheck: true } : {}) });
    const ack = await press.waitForAck();
    const answer = await h.discord.waitFor(
      () => {
        const followUp = press.followUps().find((candidate) => !candidate.deleted);
        if (followUp) return followUp;
        const original = press.original();
        return original && !original.loading && !original.deleted ? original : undefined;
      },
      10_000,
      `the answer to ${customId}`,
    );
    expect(answer.ephemeral).toBe(true);
    expect(answer.components).toEqual([]);
    if (ack.type === 5 && ack.data?.['flags'] !== 64) expect(press.original()?.deleted).toBe(true);
    expect(h.discord.channelMessages(h.general.id, { includeInteractions: true }).filter((candidate) => candidate.interactionId === press.id)).toEqual([]);
    // The message the button is on was not changed by the press (a job in progress edits its own).
    if (!options.messageMayChange) expect(h.discord.message(message.id)?.revision).toBe(message.revision);
    expect(totalJobs()).toBe(jobsBefore);
    // Nothing new at fal: no submit, upload or cancel (status polls of jobs already running aside).
    const sent = h.fal.requests.slice(falBefore).map((request) => request.route);
    expect(sent.filter((route) => ['submit', 'run', 'cancel', 'pricing'].includes(route) || route.startsWith('upload'))).toEqual([]);
    return answer.content;
  }

  it("Delete on someone else's result: only its owner or a moderator", async () => {
    const other = h.discord.user({ username: 'passerby' });
    const text = await refusedPress(`delete:${result.asset.id}`, result.post, other);
    expect(text).toMatch(/owner or a moderator/);
    expect(await h.harness.app.storage.exists(result.asset.storageKey)).toBe(true);
    expect(h.harness.app.owner!.repos.assets.getAsset(result.asset.id)?.removedAt).toBeNull();
  });

  it("Cancel on someone else's job: not yours", async () => {
    h.fal.hold();
    try {
      const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'slow work' }, user: author, channelId: h.general.id });
      const queued = await interaction.waitForOriginal((message) => !message.loading && buttonsOf(message).length > 0, 10_000);
      const jobId = buttonId(queued, 'Cancel').slice('cancel:'.length);
      await h.fal.waitFor(() => h.fal.submits().some((submit) => submit.input['prompt'] === 'slow work'));
      const cancelsBefore = h.fal.cancels().length;
      const text = await refusedPress(`cancel:${jobId}`, h.discord.message(queued.id)!, h.discord.user({ username: 'meddler' }), { messageMayChange: true });
      expect(text).toMatch(/not yours/);
      expect(h.fal.cancels()).toHaveLength(cancelsBefore);
      expect(h.harness.app.owner!.services.generation.activeJobs(ref(author)).map((job) => job.id)).toContain(jobId);
    } finally {
      h.fal.release();
    }
  });

  it('Rerun and Vary by a member without a key: pointed to /key set, privately', async () => {
    const keyless = h.discord.user({ username: 'keyless' });
    const rerun = await refusedPress(buttonId(result.post, 'Rerun'), result.post, keyless);
    expect(rerun).toContain('/key set');
    const vary = await refusedPress(buttonId(result.post, 'Vary'), result.post, keyless);
    expect(vary).toContain('/key set');
    expect(h.harness.app.owner!.services.generation.activeJobs(ref(keyless))).toEqual([]);
  });

  it("Vary of someone else's private result is refused as if it were gone", async () => {
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a secret', private: true }, user: author, channelId: h.general.id });
    const post = await interaction.waitForOriginal((message) => message.embeds.length > 0, 20_000);
    expect(post.ephemeral).toBe(true);
    // The post is only visible to its author: another member can only forge the button's custom id.
    const varyId = buttonId(post, 'Vary');
    const other = (await h.memberWithKey('snoop')).user;
    const text = await refusedPress(varyId, post, other);
    expect(text).toMatch(/deleted/);
  });

  it('a stale or unknown button answers privately', async () => {
    const someone = h.discord.user({ username: 'clicker' });
    expect(await refusedPress('nonsense:1', result.post, someone, { skipComponentCheck: true })).toMatch(/no longer works/);
    expect(await refusedPress('gallery::not-a-cursor', result.post, author, { skipComponentCheck: true })).toMatch(/run \/gallery again/);
    expect(await refusedPress('rerun:no-such-job', result.post, author, { skipComponentCheck: true })).toMatch(/no longer exists/);
  });
});
