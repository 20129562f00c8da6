import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageSnapshot } from '../fakes/discord-server.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/**
 * The adapter's safety net: a handler that has not answered by `safetyDeferMs` is deferred for it
 * (privately), so Discord never drops the interaction; the handler's later answer lands in that reply.
 */
describe('Discord: the safety defer for slow handlers', () => {
  const SAFETY_DEFER_MS = 100;
  let h: DiscordHarness;

  beforeAll(async () => {
    h = await startDiscordHarness({ app: { appOptions: { discord: { deliverer: { progressIntervalMs: 200 }, safetyDeferMs: SAFETY_DEFER_MS } } } });
  });
  afterAll(async () => {
    h?.discord.clearFailures();
    await h?.close();
  });

  /** /key set in a channel answers with a button that makes the bot DM the member, then reply. */
  async function registerInDmButton(): Promise<{ message: MessageSnapshot; user: ReturnType<DiscordHarness['discord']['user']> }> {
    const user = h.discord.user({ username: `slow${Date.now()}` });
    const command = h.discord.slashCommand({ name: 'key', subcommand: 'set', user, channelId: h.general.id });
    const message = await command.waitForOriginal(() => true, 5_000);
    return { message, user };
  }

  it('a handler still busy after the safety delay is deferred for it, then its answer replaces the placeholder', async () => {
    const { message, user } = await registerInDmButton();
    // Opening the DM channel is slow: the handler cannot answer in time by itself.
    h.discord.failNext({ method: 'POST', path: '/users/@me/channels', delayMs: 600 });
    const press = h.discord.button({ customId: 'keydm', message, user });
    const ack = await press.waitForAck(3_000);
    expect(ack.type).toBe(5);
    expect(ack.data?.['flags']).toBe(64);
    const answer = await press.waitForOriginal((reply) => !reply.loading, 5_000);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toBe('I sent you a direct message.');
    expect(press.attempts().filter((attempt) => attempt.outcome !== 'ok')).toEqual([]);
    expect(press.followUps()).toEqual([]);
  });

  it('an answer racing a safety defer still in flight waits for it instead of failing', async () => {
    const { message, user } = await registerInDmButton();
    // The safety defer itself is slow to land, and the handler finishes meanwhile.
    h.discord.failNext({ method: 'POST', path: /\/interactions\/\d+\/[^/]+\/callback/, delayMs: 400 });
    h.discord.failNext({ method: 'POST', path: '/users/@me/channels', delayMs: SAFETY_DEFER_MS + 50 });
    const press = h.discord.button({ customId: 'keydm', message, user });
    const ack = await press.waitForAck(3_000);
    expect(ack.type).toBe(5);
    const answer = await press.waitForOriginal((reply) => !reply.loading, 5_000);
    expect(answer.content).toBe('I sent you a direct message.');
    expect(answer.ephemeral).toBe(true);
    expect(h.harness.logs.text).not.toMatch(/could not send the error reply/);
  });
});
