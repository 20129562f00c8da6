import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeUser, InteractionHandle } from '../fakes/discord-server.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/** Discord drops an interaction not acknowledged within 3 s: every one must be, however many arrive at once. */
describe('Discord interactions under load', () => {
  let h: DiscordHarness;
  let members: FakeUser[];

  beforeAll(async () => {
    h = await startDiscordHarness();
    h.fal.setOutput('fal-ai/veo3', () => h.fal.videoOutput({ bytes: 32 * 1024, durationSeconds: 4 }));
    members = [];
    for (let index = 0; index < 50; index += 1) members.push((await h.memberWithKey(`crowd${index}`)).user);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Every interaction got exactly one accepted first answer, within the fake's 3 s deadline. */
  async function expectAllAcknowledged(interactions: InteractionHandle[]): Promise<number[]> {
    const acks = await Promise.all(interactions.map((interaction) => interaction.waitForAck(5_000)));
    for (const interaction of interactions) {
      expect(interaction.attempts().filter((attempt) => attempt.outcome !== 'ok'), `interaction ${interaction.id}`).toEqual([]);
    }
    const times = acks.map((ack) => ack.ms);
    expect(Math.max(...times)).toBeLessThan(3_000);
    return times;
  }

  it('50 /imagine from 50 members at once: all deferred in time, all queued, all delivered once', async () => {
    const before = h.fal.submits().length;
    const interactions = members.map((user, index) =>
      h.discord.slashCommand({ name: 'imagine', options: { prompt: `crowd picture ${index}` }, user, channelId: h.general.id }),
    );
    const times = await expectAllAcknowledged(interactions);
    expect(interactions.every((interaction) => interaction.ack()?.type === 5)).toBe(true);
    expect(times).toHaveLength(50);

    const results = await Promise.all(interactions.map((interaction) => interaction.waitForOriginal((message) => message.embeds.length > 0, 60_000)));
    results.forEach((message, index) => {
      expect((message.embeds[0] as { title?: string }).title).toBe(`crowd picture ${index}`);
      expect(message.attachments).toHaveLength(1);
    });
    // Each was queued visibly before its result, and nothing went anywhere else.
    for (const interaction of interactions) {
      expect(interaction.originalHistory().some((message) => message.content.startsWith('Queued'))).toBe(true);
      expect(interaction.followUps()).toEqual([]);
    }
    // With more jobs than workers, those waiting were told their place in line.
    const queued = interactions.map((interaction) => interaction.originalHistory().find((message) => message.content.startsWith('Queued'))!.content);
    expect(queued.some((content) => /^Queued \(position \d+ in line\): \*\*crowd picture \d+\*\*/.test(content))).toBe(true);
    expect(h.fal.submits().length - before).toBe(50);
    expect(h.discord.channelMessages(h.general.id)).toEqual([]);
  }, 90_000);

  it('50 mixed interactions at once (generations, account commands, autocomplete, refusals) are all answered in time', async () => {
    const kinds = [
      (user: FakeUser, index: number) => h.discord.slashCommand({ name: 'imagine', options: { prompt: `mixed ${index}`, private: true }, user, channelId: h.general.id }),
      (user: FakeUser) => h.discord.slashCommand({ name: 'help', user, channelId: h.general.id }),
      (user: FakeUser) => h.discord.slashCommand({ name: 'models', user, channelId: h.general.id }),
      (user: FakeUser) => h.discord.slashCommand({ name: 'jobs', user, channelId: h.general.id }),
      (user: FakeUser) => h.discord.slashCommand({ name: 'gallery', user, channelId: h.general.id }),
      (user: FakeUser) => h.discord.slashCommand({ name: 'key', subcommand: 'status', user, channelId: h.general.id }),
      (user: FakeUser) => h.discord.autocomplete({ name: 'imagine', options: { prompt: 'x', model: 'fl' }, focused: 'model', user, channelId: h.general.id }),
      (user: FakeUser) => h.discord.slashCommand({ name: 'imagine', options: { prompt: 'bad', model: 'no-such-model' }, user, channelId: h.general.id }),
      (user: FakeUser) => h.discord.slashCommand({ name: 'animate', options: { prompt: 'moving', model: 'veo3', private: true }, user, channelId: h.general.id }),
      (user: FakeUser) => h.discord.slashCommand({ name: 'imagine', options: { prompt: 'in a DM' }, user, dm: true }),
    ];
    const interactions = members.map((user, index) => kinds[index % kinds.length]!(user, index));
    await expectAllAcknowledged(interactions);
    // The refusals are answered privately, the generations deliver.
    const refused = interactions.filter((_, index) => index % kinds.length === 7);
    for (const interaction of refused) {
      const answer = await interaction.waitForFollowUp(() => true, 10_000);
      expect(answer.ephemeral).toBe(true);
      expect(answer.content).toMatch(/no-such-model/);
    }
    const generations = interactions.filter((_, index) => [0, 8, 9].includes(index % kinds.length));
    const outcomes = await Promise.all(generations.map((interaction) => interaction.waitForOriginal((message) => message.embeds.length > 0 || /did not work/.test(message.content), 30_000)));
    expect(outcomes.map((message) => message.content)).not.toContainEqual(expect.stringMatching(/did not work/));
    const autocompletes = interactions.filter((_, index) => index % kinds.length === 6);
    for (const interaction of autocompletes) expect(interaction.autocompleteChoices()?.length).toBeGreaterThan(0);
  }, 90_000);
});
