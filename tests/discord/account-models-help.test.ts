import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listModels } from '../../src/catalog/index.js';
import type { InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/** /models and /help on Discord: private answers that fit Discord's message limits. */
describe('/models and /help on Discord', () => {
  let h: DiscordHarness;

  type Embed = { title?: string; description?: string; footer?: { text?: string }; fields?: Array<{ name: string; value: string }> };
  const settled = (interaction: InteractionHandle) => interaction.waitForOriginal((message) => !message.loading, 10_000);
  const textOf = (message: MessageSnapshot) => JSON.stringify([message.content, message.embeds]);

  /** Runs a command and returns its one private answer (no error reply, no follow-up). */
  async function ask(name: string, options: Record<string, string> = {}, where: { dm?: boolean } = {}): Promise<MessageSnapshot> {
    const interaction = h.discord.slashCommand({ name, options, ...(where.dm ? { dm: true } : { channelId: h.general.id }) });
    const shown = await settled(interaction);
    expect(shown.ephemeral).toBe(true);
    expect(interaction.followUps()).toEqual([]);
    // Discord accepted every callback and edit (no 400 for a message over its limits).
    expect(interaction.attempts().every((attempt) => attempt.outcome === 'ok')).toBe(true);
    expect(h.discord.requests.filter((request) => request.path.includes(interaction.token) && (request.status ?? 0) >= 400)).toEqual([]);
    return shown;
  }

  beforeAll(async () => {
    h = await startDiscordHarness();
  });

  afterAll(async () => {
    await h?.close();
  });

  it('/models lists the models privately: kind and mode, how to pick each, its inputs and a price hint', async () => {
    const shown = await ask('models');
    const models = listModels();
    const embeds = shown.embeds as Embed[];
    expect(embeds).toHaveLength(Math.min(models.length, 10));
    expect(embeds.map((embed) => embed.footer?.text)).toEqual(models.slice(0, 10).map((model) => model.id));
    const text = textOf(shown);
    for (const model of models.slice(0, 10)) {
      expect(text).toContain(model.name);
      expect(text).toContain(`model:${model.aliases[0] ?? model.id}`);
      expect(text).toContain(model.priceHint);
    }
    expect(text).toContain('references (required, up to 1)');
    expect(text).toContain('first_frame (required, up to 1)');
    expect(text).toContain('landscape_16_9');
  });

  it('/models kind: narrows to one kind; in a DM too', async () => {
    const videos = await ask('models', { kind: 'video' }, { dm: true });
    expect((videos.embeds as Embed[]).map((embed) => embed.footer?.text)).toEqual(listModels({ kind: 'video' }).slice(0, 10).map((model) => model.id));
    const images = await ask('models', { kind: 'image' });
    expect((images.embeds as Embed[]).map((embed) => embed.footer?.text)).toEqual(listModels({ kind: 'image' }).slice(0, 10).map((model) => model.id));
    const bad = await ask('models', { kind: 'audio' });
    expect(bad.content).toContain('kind');
    expect(bad.embeds).toEqual([]);
  });

  it('/help explains keys, commands and limits, privately, in a channel and in a DM', async () => {
    for (const dm of [false, true]) {
      const shown = await ask('help', {}, { dm });
      const text = shown.content;
      // Not clipped at Discord's 2000 characters: the last paragraph is there whole.
      expect(text.endsWith('…')).toBe(false);
      expect(text.length).toBeLessThanOrEqual(2000);
      expect(text).toContain('/key set');
      expect(text).toMatch(/direct message/);
      expect(text).toMatch(/encrypted/);
      expect(text).toMatch(/last four characters/);
      expect(text).toContain('/key status');
      expect(text).toContain('/key remove');
      for (const name of ['/imagine', '/animate', '/gallery', '/jobs', '/models']) expect(text).toContain(name);
      expect(text).toContain('25 MiB');
      expect(text).toContain('3 generations in progress');
      expect(text).toMatch(/delete/);
    }
  });

  it('an unknown command answers privately', async () => {
    const shown = await ask('teleport');
    expect(shown.content).toContain('/help');
  });
});
