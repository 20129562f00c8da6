import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeUser, InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { makePng } from '../fakes/fal-fixtures.js';
import { falErrors } from '../fakes/fal-server.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/**
 * fal failures reach the member in words they understand, privately: the public "queued" message is
 * removed and the reason is shown to the member alone.
 */
describe('Discord: failed generations', () => {
  let h: DiscordHarness;
  let member: FakeUser;

  beforeAll(async () => {
    h = await startDiscordHarness();
    member = (await h.memberWithKey('unlucky')).user;
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Runs a public /imagine that fails; returns the private answer after checking the public placeholder is gone. */
  async function failing(prompt: string, model: string, user = member): Promise<{ interaction: InteractionHandle; answer: MessageSnapshot }> {
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt, model }, user, channelId: h.general.id });
    expect((await interaction.waitForAck(3_000)).type).toBe(5);
    const answer = await interaction.waitForFollowUp((message) => message.content.includes(prompt), 30_000);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(new RegExp(`^Your generation \\*\\*${prompt}\\*\\* did not work\\. `));
    // The public placeholder was shown as queued, then removed; nothing about the failure is public.
    const history = interaction.originalHistory();
    expect(history.some((message) => message.content.startsWith('Queued'))).toBe(true);
    expect(interaction.original()?.deleted).toBe(true);
    const visible = h.discord.channelMessages(h.general.id, { includeInteractions: true });
    expect(visible.some((message) => message.content.includes(prompt))).toBe(false);
    // No stack, no raw fal answer.
    expect(answer.content).not.toMatch(/Error|detail|HTTP \d|at .*\.ts/);
    return { interaction, answer };
  }

  it('an invalid key: re-register it in a DM with /key set', async () => {
    const { user, key } = await h.memberWithKey('revoked');
    h.fal.removeKey(key);
    const { answer } = await failing('a forgotten password', 'schnell', user);
    expect(answer.content).toMatch(/fal rejected your key/);
    expect(answer.content).toMatch(/`\/key set` in a direct message/);
  });

  it('a safety block: the content policy, in plain words', async () => {
    h.fal.setOutput('fal-ai/flux/dev', h.fal.modelErrorFrom(falErrors.contentPolicy()));
    const { answer } = await failing('something flagged', 'dev');
    expect(answer.content).toMatch(/content policy blocked this request/);
    expect(answer.content).toMatch(/try rewording the prompt/);
  });

  it('a provider outage: try again later', async () => {
    h.fal.failNext('submit', { ...falErrors.internal(), endpointId: 'fal-ai/flux-pro/kontext', times: Number.POSITIVE_INFINITY });
    const image = h.discord.addAttachment('photo.png', makePng(8, 8), 'image/png');
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'an outage sunset', model: 'kontext', image }, user: member, channelId: h.general.id });
    const answer = await interaction.waitForFollowUp((message) => message.content.includes('an outage sunset'), 30_000);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/fal is having trouble right now/);
    expect(answer.content).toMatch(/try again later/);
    expect(interaction.original()?.deleted).toBe(true);
  });

  it('a private request that fails edits its private reply; nothing was ever public', async () => {
    h.fal.setOutput('fal-ai/flux/schnell', h.fal.modelErrorFrom(falErrors.contentPolicy()));
    try {
      const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a private mishap', private: true }, user: member, channelId: h.general.id });
      const answer = await interaction.waitForOriginal((message) => message.content.includes('did not work'), 30_000);
      expect(answer.ephemeral).toBe(true);
      expect(interaction.originalHistory().every((message) => message.ephemeral)).toBe(true);
      expect(answer.content).toMatch(/content policy/);
    } finally {
      h.fal.setOutput('fal-ai/flux/schnell', () => h.fal.imageOutput({ width: 64, height: 48 }));
    }
  });

  it('a member without a key is told how to register, privately, before anything is queued', async () => {
    const stranger = h.discord.user({ username: 'stranger' });
    const before = h.fal.submits().length;
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'anything' }, user: stranger, channelId: h.general.id });
    expect((await interaction.waitForAck(3_000)).type).toBe(5);
    const answer = await interaction.waitForFollowUp(() => true, 10_000);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/`\/key set` in a direct message/);
    expect(interaction.original()?.deleted).toBe(true);
    expect(h.fal.submits().length).toBe(before);
  });
});
