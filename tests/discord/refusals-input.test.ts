import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROMPT_MAX_LENGTH } from '../../commands/generate.js';
import { discordUser } from '../../src/bots/discord/context.js';
import type { CommandOptionValue, FakeAttachment, FakeUser, InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { makePng } from '../fakes/fal-fixtures.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/**
 * Bad input on Discord gets one clear private answer and nothing else: no job, no fal call, no
 * download of the attachments, and nothing left in the channel (a public "thinking…" placeholder is
 * deleted and the answer comes as an ephemeral follow-up, or the whole exchange is ephemeral).
 */
describe('refusals of bad input on Discord', () => {
  let h: DiscordHarness;
  const png = makePng(16, 16, { seed: 3 });

  beforeAll(async () => {
    h = await startDiscordHarness();
  });

  afterAll(async () => {
    await h?.close();
  });

  const ref = (user: FakeUser) => discordUser({ id: user.id, username: user.username, globalName: user.global_name });
  const totalJobs = () => Object.values(h.harness.app.owner!.repos.jobs.countJobsByStatus()).reduce((sum, count) => sum + count, 0);
  const image = (name = 'in.png') => h.discord.addAttachment(name, png, 'image/png');

  /** Runs a command in #general and checks every promise of a refusal; returns the text shown. */
  async function refused(name: string, options: Record<string, CommandOptionValue>, who?: FakeUser): Promise<string> {
    const user = who ?? (await h.memberWithKey('refused')).user;
    const owner = h.harness.app.owner!;
    const jobsBefore = totalJobs();
    const falBefore = h.fal.requests.length;
    const uploadsBefore = h.fal.uploads().length;
    const cdnBefore = h.discord.cdnRequests.length;
    const channelPostsBefore = h.discord.channelMessages(h.general.id).length;

    const interaction = h.discord.slashCommand({ name, options, user, channelId: h.general.id });
    const ack = await interaction.waitForAck();
    const answer = await answerOf(interaction);
    expect(answer.ephemeral).toBe(true);
    expect(answer.components).toEqual([]);
    expect(answer.embeds).toEqual([]);
    if (ack.type === 5 && ack.data?.['flags'] !== 64) {
      // A public placeholder went first: it is gone, and the answer is an ephemeral follow-up.
      expect(interaction.original()?.deleted).toBe(true);
      expect(interaction.followUps().map((message) => message.id)).toEqual([answer.id]);
    } else {
      expect(interaction.followUps()).toEqual([]);
    }
    const text = answer.content;
    expect(text).not.toMatch(/\[object Object\]|\bat .+\.ts:\d+|Error:/);

    // Nothing in the channel: no visible interaction message, no channel post.
    const visible = h.discord.channelMessages(h.general.id, { includeInteractions: true }).filter((message) => message.interactionId === interaction.id);
    expect(visible).toEqual([]);
    expect(h.discord.channelMessages(h.general.id)).toHaveLength(channelPostsBefore);
    // No job, and nothing reached fal or fetched the attachments.
    expect(totalJobs()).toBe(jobsBefore);
    const found = owner.repos.users.findUser(ref(user));
    expect(found ? owner.repos.jobs.listRecentJobs(found.id, 10) : []).toEqual([]);
    expect(owner.services.generation.activeJobs(ref(user))).toEqual([]);
    expect(h.fal.requests.slice(falBefore).map((request) => request.route)).toEqual([]);
    expect(h.fal.uploads()).toHaveLength(uploadsBefore);
    expect(h.discord.cdnRequests.slice(cdnBefore)).toEqual([]);
    return text;
  }

  /** The one answer: an ephemeral follow-up after a public placeholder, or the settled original. */
  function answerOf(interaction: InteractionHandle): Promise<MessageSnapshot> {
    return h.discord.waitFor(
      () => {
        const followUp = interaction.followUps().find((message) => !message.deleted);
        if (followUp) return followUp;
        const original = interaction.original();
        return original && !original.loading && !original.deleted ? original : undefined;
      },
      10_000,
      `the answer to interaction ${interaction.id}`,
    );
  }

  it('no key registered: points to /key set in a DM', async () => {
    const text = await refused('imagine', { prompt: 'a cat' }, h.discord.user({ username: 'nokey' }));
    expect(text).toContain('/key set');
    expect(text).toMatch(/direct message/i);
  });

  it('no key, with private: the whole exchange is ephemeral', async () => {
    const user = h.discord.user({ username: 'nokeyprivate' });
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a cat', private: true }, user, channelId: h.general.id });
    const ack = await interaction.waitForAck();
    expect(ack.type).toBe(5);
    expect(ack.data?.['flags']).toBe(64);
    const answer = await answerOf(interaction);
    expect(answer.id).toBe(interaction.original()?.id);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toContain('/key set');
    expect(interaction.followUps()).toEqual([]);
    expect(h.harness.app.owner!.services.generation.activeJobs(ref(user))).toEqual([]);
  });

  it('an unknown model: says so and lists the models', async () => {
    const text = await refused('imagine', { prompt: 'a cat', model: 'midjourney' });
    expect(text).toContain('don\'t know the model "midjourney"');
    expect(text).toMatch(/Try one of: .*schnell.*kontext/);
  });

  it('a video model for /imagine points to /animate', async () => {
    const text = await refused('imagine', { prompt: 'a cat', model: 'veo3' });
    expect(text).toContain('makes videos; use /animate');
    expect(text).not.toMatch(/Try one of: .*veo3/);
  });

  it('params that fail the schema name the field and the allowed values or range', async () => {
    const range = await refused('imagine', { prompt: 'a cat', params: 'num_inference_steps=50' });
    expect(range).toContain('num_inference_steps');
    expect(range).toContain('at most 12');
    const choice = await refused('imagine', { prompt: 'a cat', params: 'output_format=gif' });
    expect(choice).toContain('output_format');
    expect(choice).toMatch(/jpeg, png/);
    const type = await refused('imagine', { prompt: 'a cat', params: 'num_inference_steps=many' });
    expect(type).toContain('num_inference_steps');
    expect(type).toContain('whole number');
    const unknown = await refused('imagine', { prompt: 'a cat', params: 'steps=8' });
    expect(unknown).toContain('"steps"');
    expect(unknown).toContain('num_inference_steps');
    const reserved = await refused('imagine', { prompt: 'a cat', params: 'sync_mode=true' });
    expect(reserved).toContain('sync_mode');
    const malformed = await refused('imagine', { prompt: 'a cat', params: 'num_inference_steps 8' });
    expect(malformed).toContain('name=value');
  });

  it('a size the model does not offer lists the sizes', async () => {
    const text = await refused('imagine', { prompt: 'a cat', model: 'kontext', image: image(), size: 'huge' });
    expect(text).toContain('aspect_ratio');
    expect(text).toContain('16:9');
  });

  it('an option the model does not have is named with its values', async () => {
    const text = await refused('animate', { prompt: 'move', model: 'kling', first_frame: image(), duration: '7' });
    expect(text).toContain('duration');
    expect(text).toMatch(/5, 10/);
  });

  it('an empty or whitespace-only prompt is refused', async () => {
    expect(await refused('imagine', { prompt: '' })).toMatch(/prompt is required/);
    expect(await refused('imagine', { prompt: '   \n ' })).toMatch(/prompt is required/);
    expect(await refused('animate', { prompt: '  ' })).toMatch(/prompt is required/);
  });

  it('a too-long prompt says the limit', async () => {
    const text = await refused('imagine', { prompt: 'x'.repeat(PROMPT_MAX_LENGTH + 1) });
    expect(text).toContain('prompt');
    expect(text).toContain(`at most ${PROMPT_MAX_LENGTH} characters`);
  });

  it('an attachment of the wrong type says which types are accepted', async () => {
    const notes: FakeAttachment = h.discord.addAttachment('notes.txt', 'just some text', 'text/plain');
    const text = await refused('imagine', { prompt: 'edit this', image: notes });
    expect(text).toContain('notes.txt');
    expect(text).toContain('text/plain');
    expect(text).toMatch(/PNG, JPEG, WebP or GIF/);
  });

  it('an oversize attachment (by the size Discord declares) says the limit', async () => {
    const maxBytes = h.harness.app.owner!.services.maxInputBytes;
    const big = h.discord.addAttachment('big.png', Buffer.concat([png, Buffer.alloc(maxBytes + 1 - png.length)]), 'image/png');
    expect(big.size).toBe(maxBytes + 1);
    const text = await refused('imagine', { prompt: 'edit this', model: 'kontext', image: big });
    expect(text).toContain('too large');
    expect(text).toContain('25 MiB');
  });

  it('more attachments than the model takes says how many it takes', async () => {
    const two = await refused('imagine', { prompt: 'edit this', model: 'kontext', image: image(), image2: image('second.png') });
    expect(two).toContain('at most 1 reference image');
    const textOnly = await refused('imagine', { prompt: 'edit this', model: 'schnell', image: image() });
    expect(textOnly).toContain('takes no attachments');
  });

  it('a model that needs an image says so when none is attached', async () => {
    const text = await refused('animate', { prompt: 'move', model: 'kling' });
    expect(text).toMatch(/needs a first-frame image/);
  });
});
