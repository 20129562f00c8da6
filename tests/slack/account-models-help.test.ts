import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listModels } from '../../src/catalog/index.js';
import type { EphemeralMessage, FakeUser, Json } from '../fakes/slack-server.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/** `/atelier models` and `/atelier help` on Slack: ephemeral answers within Block Kit's limits. */
describe('/atelier models and /atelier help on Slack', () => {
  let h: SlackHarness;

  type Block = { type: string; text?: { type?: string; text?: string }; fields?: Array<{ text: string }>; elements?: Array<{ text?: string }> };
  const blocksOf = (message: { blocks: Json[] }) => message.blocks as unknown as Block[];
  const textOf = (message: { text: string; blocks: Json[] }) => JSON.stringify([message.text, message.blocks]);
  /** The model cards: a context block (the footer) carries each model's id. */
  const footers = (message: { blocks: Json[] }) =>
    blocksOf(message)
      .filter((block) => block.type === 'context')
      .map((block) => block.elements?.[0]?.text);

  /** Runs `/atelier <text>` and returns its one private answer, checked against Slack's limits. */
  async function ask(text: string, where: { dm?: boolean } = {}): Promise<EphemeralMessage> {
    const user: FakeUser = h.slack.user({ name: 'curious' });
    const channel = where.dm ? h.slack.dmChannel(user) : h.general;
    const recordBefore = h.slack.messages(channel, { includeReplies: true, includeDeleted: true }).length;
    const result = await h.slack.slashCommand({ command: '/atelier', text, user, channel });
    expect(result.status).toBe(200);
    expect(result.late).toBe(false);
    const shown = await h.slack.waitFor(() => h.slack.ephemerals(user)[0], 10_000, `the answer to /atelier ${text}`);
    expect(shown.channel).toBe(channel.id);
    // Slack accepted it (a response_url post over its limits would be refused), and it was the only answer.
    const post = h.slack.responses().find((candidate) => candidate.url === result.responseUrl);
    expect(post?.status).toBe(200);
    expect(post?.responseType).toBe('ephemeral');
    expect(h.slack.ephemerals(user)).toHaveLength(1);
    expect(h.slack.messages(channel, { includeReplies: true, includeDeleted: true })).toHaveLength(recordBefore);
    // Block Kit's limits: 50 blocks, 3000 characters a section, 10 fields of 2000 characters.
    const blocks = blocksOf(shown);
    expect(blocks.length).toBeLessThanOrEqual(50);
    for (const block of blocks) {
      expect((block.text?.text ?? '').length).toBeLessThanOrEqual(3000);
      expect((block.fields ?? []).length).toBeLessThanOrEqual(10);
      for (const field of block.fields ?? []) expect(field.text.length).toBeLessThanOrEqual(2000);
    }
    return shown;
  }

  beforeAll(async () => {
    h = await startSlackHarness();
  });

  afterAll(async () => {
    try {
      if (h) expect(h.slack.inbound().filter((result) => result.status !== 200 || result.late)).toEqual([]);
    } finally {
      await h?.close();
    }
  });

  it('/atelier models lists the models privately: kind and mode, how to pick each, its inputs and a price hint', async () => {
    const shown = await ask('models');
    const models = listModels();
    expect(footers(shown)).toEqual(models.slice(0, 10).map((model) => model.id));
    const text = textOf(shown);
    for (const model of models.slice(0, 10)) {
      expect(text).toContain(model.name);
      expect(text).toContain(model.aliases[0] ?? model.id);
      expect(text).toContain(model.priceHint);
    }
    expect(text).toContain('references (required, up to 1)');
    expect(text).toContain('first_frame (required, up to 1)');
    expect(text).toContain('landscape_16_9');
    // Markdown bold is Slack's single-star bold.
    expect(text).not.toContain('**');
  });

  it('/atelier models <kind> narrows to one kind, in a DM too; an unknown kind is refused naming the option', async () => {
    const videos = await ask('models video', { dm: true });
    expect(footers(videos)).toEqual(listModels({ kind: 'video' }).slice(0, 10).map((model) => model.id));
    const images = await ask('models IMAGE');
    expect(footers(images)).toEqual(listModels({ kind: 'image' }).slice(0, 10).map((model) => model.id));
    const bad = await ask('models audio');
    expect(bad.text).toContain('kind');
    expect(footers(bad)).toEqual([]);
  });

  it('/atelier help explains keys, commands and limits, privately, in a channel and in a DM; so do /atelier and an unknown verb', async () => {
    for (const [text, dm] of [
      ['help', false],
      ['help', true],
      ['', false],
      ['teleport me', false],
    ] as const) {
      const shown = await ask(text, { dm });
      const body = blocksOf(shown)
        .map((block) => block.text?.text ?? '')
        .join('\n');
      // Not clipped at Slack's 3000 characters: the last paragraph is there whole.
      expect(body.endsWith('…')).toBe(false);
      expect(body).toMatch(/delete any of your results/);
      expect(body).toMatch(/fal key|your key/i);
      expect(body).toMatch(/encrypted/);
      expect(body).toMatch(/last four characters/);
      for (const name of ['/imagine', '/animate', '/gallery']) expect(body).toContain(name);
      expect(body).toContain('25 MiB');
      expect(body).toContain('3 generations in progress');
      expect(body).not.toContain('**');
    }
  });

  // Help and model lists speak Slack's syntax (src/words.ts).
  it('/atelier help and /atelier models use the Slack command syntax', async () => {
    const help = textOf(await ask('help'));
    for (const name of ['/atelier key', '/atelier key status', '/atelier key remove', '/atelier jobs', '/atelier models']) expect(help).toContain(name);
    expect(help).not.toContain('/key set');
    expect(help).not.toContain('prompt:');
    const models = textOf(await ask('models'));
    expect(models).toContain('--model schnell');
    expect(models).not.toContain('model:schnell');
  });
});
