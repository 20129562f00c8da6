import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discordUser } from '../../src/bots/discord/context.js';
import type { FakeUser, InteractionHandle, Json, MessageSnapshot } from '../fakes/discord-server.js';
import { newFalKey } from '../helpers/app.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/**
 * /key on Discord, end to end through the unmodified discord.js: registration happens in a DM, in a
 * modal; every answer is private; the key shows up in no message the bot sent and in no log line.
 */
describe('/key on Discord', () => {
  let h: DiscordHarness;
  /** Every key typed in this file (valid or not): none may ever leave the modal. */
  const keysUsed: string[] = [];

  beforeAll(async () => {
    h = await startDiscordHarness();
  });

  afterAll(async () => {
    try {
      if (h) for (const key of keysUsed) expectKeyNowhere(key);
    } finally {
      await h?.close();
    }
  });

  const ref = (user: FakeUser) => discordUser({ id: user.id, username: user.username, globalName: user.global_name });
  const hintOf = (key: string) => `…${key.slice(-4)}`;

  type Button = { type: number; style?: number; custom_id?: string; label?: string; url?: string };
  const buttonsOf = (message: MessageSnapshot): Button[] =>
    (message.components as Array<{ components?: Button[] }>).flatMap((row) => row.components ?? []);

  /** The first answer to settle: an edited deferred reply, or a direct reply. */
  const settled = (interaction: InteractionHandle) => interaction.waitForOriginal((message) => !message.loading, 10_000);

  /** Every REST body the bot sent the fake (JSON, multipart payloads, fields, files) and every log line. */
  function sentText(): string {
    return h.discord.requests
      .map((request) =>
        [
          request.path,
          JSON.stringify(request.query),
          JSON.stringify(request.json ?? null),
          JSON.stringify(request.multipart?.payload ?? null),
          JSON.stringify(request.multipart?.fields ?? {}),
          ...(request.multipart?.files ?? []).map((file) => `${file.filename}\n${file.bytes.toString('latin1')}`),
        ].join('\n'),
      )
      .join('\n');
  }

  function expectKeyNowhere(key: string): void {
    const [id = '', secret = ''] = key.split(':');
    const sent = sentText();
    for (const part of [key, secret, id, key.slice(0, -4)]) {
      expect(sent).not.toContain(part);
      expect(h.harness.logs.text).not.toContain(part);
    }
  }

  /** No message of these interactions is visible to other members of the channel. */
  function expectNothingPublic(...interactions: InteractionHandle[]): void {
    const ids = new Set(interactions.map((interaction) => interaction.id));
    const visible = h.discord.guilds().flatMap((guild) =>
      guild.channels.flatMap((channel) => h.discord.channelMessages(channel.id, { includeInteractions: true })),
    );
    expect(visible.filter((message) => message.interactionId !== null && ids.has(message.interactionId))).toEqual([]);
  }

  it('in a server channel: a private button → a DM with "Set fal key" → the modal → a private confirmation with only the hint', async () => {
    const user = h.discord.user({ username: 'keeper' });
    const key = newFalKey();
    keysUsed.push(key);
    h.fal.addKey(key);
    const falBefore = h.fal.requests.length;

    // 1. /key set in #general: answered privately, with a button, and no form.
    const set = h.discord.slashCommand({ name: 'key', subcommand: 'set', user, channelId: h.general.id });
    const setAck = await set.waitForAck();
    expect(setAck.type).toBe(4);
    const setReply = await settled(set);
    expect(setReply.ephemeral).toBe(true);
    expect(setReply.content).toMatch(/direct message/i);
    expect(set.modal()).toBeUndefined();
    expect(buttonsOf(setReply)).toEqual([expect.objectContaining({ custom_id: 'keydm', label: 'Register in DM' })]);
    expect(h.discord.dmMessages(user.id)).toEqual([]);

    // 2. The button sends a DM (with the bot's token, to the user's DM channel) and says so privately.
    const dmPress = h.discord.button({ customId: 'keydm', message: setReply, user });
    const dmAnswer = await settled(dmPress);
    expect(dmAnswer.ephemeral).toBe(true);
    expect(dmAnswer.content).toMatch(/sent you a direct message/);
    const dm = await h.discord.waitForDm(user.id, (message) => buttonsOf(message).length > 0);
    expect(dm.guildId).toBeNull();
    expect(dm.content).toMatch(/encrypted/);
    expect(dm.content).toMatch(/last four characters/);
    const [setKeyButton] = buttonsOf(dm);
    expect(setKeyButton).toMatchObject({ custom_id: 'keyopen', label: 'Set fal key' });

    // 3. "Set fal key" pressed in the DM opens the modal: one short, required text field.
    const open = h.discord.button({ customId: 'keyopen', message: dm, user, dm: true });
    const openAck = await open.waitForAck();
    expect(openAck.type).toBe(9);
    const modal = open.modal() as Json;
    expect(modal['custom_id']).toBe('keyform');
    const inputs = (modal['components'] as Array<{ components: Json[] }>).flatMap((row) => row.components);
    expect(inputs).toEqual([expect.objectContaining({ type: 4, custom_id: 'key', style: 1, required: true })]);
    expect(open.original()).toBeUndefined();

    // 4. Submitting it: deferred privately, checked with fal, stored encrypted, confirmed with the hint only.
    const submit = h.discord.modalSubmit({ from: open, fields: { key: `  ${key}\n` } });
    const submitAck = await submit.waitForAck();
    expect(submitAck.type).toBe(5);
    expect(submitAck.data?.['flags']).toBe(64);
    const confirmation = await settled(submit);
    expect(confirmation.ephemeral).toBe(true);
    expect(confirmation.content).toContain(hintOf(key));
    expect(confirmation.content).toMatch(/stored encrypted/);
    expect(confirmation.content).not.toContain(key.slice(0, -4));

    const checks = h.fal.requests.slice(falBefore).filter((request) => request.route === 'pricing');
    expect(checks).toHaveLength(1);
    expect(checks[0]?.headers.authorization).toBe(`Key ${key}`);
    expect(h.fal.submits().filter((submitted) => submitted.key === key)).toEqual([]);

    const owner = h.harness.app.owner!;
    const stored = owner.repos.keys.getFalKey(owner.repos.users.findUser(ref(user))!.id);
    expect(stored?.hint).toBe(hintOf(key));
    expect(stored?.ciphertext.toString('latin1')).not.toContain(key.split(':')[1]);
    expect(stored?.validatedAt).toEqual(expect.any(Number));

    // Nothing of it was visible in the channel, and the key is in no request body and no log line
    // (the scan does see what was sent: the confirmation with the hint is there).
    expectNothingPublic(set, dmPress, open, submit);
    expect(sentText()).toContain(hintOf(key));
    expectKeyNowhere(key);

    // The key works for a generation right away.
    const imagine = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'first light' }, user, channelId: h.general.id });
    await imagine.waitForOriginal((message) => message.embeds.length > 0 && message.attachments.length > 0, 20_000);
    expect(h.fal.submits().filter((submitted) => submitted.key === key)).toHaveLength(1);
  });

  it('/key set in a DM opens the modal at once, with no message', async () => {
    const user = h.discord.user({ username: 'direct' });
    const set = h.discord.slashCommand({ name: 'key', subcommand: 'set', user, dm: true });
    const ack = await set.waitForAck();
    expect(ack.type).toBe(9);
    expect(set.modal()?.['custom_id']).toBe('keyform');
    expect(set.original()).toBeUndefined();
    expect(set.followUps()).toEqual([]);

    // The modal opened from the command registers the key as well.
    const key = newFalKey();
    keysUsed.push(key);
    h.fal.addKey(key);
    const submit = h.discord.modalSubmit({ from: set, fields: { key } });
    const confirmation = await settled(submit);
    expect(confirmation.ephemeral).toBe(true);
    expect(confirmation.content).toContain(hintOf(key));
    expect(h.harness.app.owner!.services.keys.status(ref(user))?.hint).toBe(hintOf(key));
    expectKeyNowhere(key);
  });

  it('a key fal rejects is refused privately and nothing is stored', async () => {
    const user = h.discord.user({ username: 'rejected' });
    const key = newFalKey(); // never added to the fake fal: it answers 401
    keysUsed.push(key);
    const falBefore = h.fal.requests.length;
    const set = h.discord.slashCommand({ name: 'key', subcommand: 'set', user, dm: true });
    await set.waitForAck();
    const submit = h.discord.modalSubmit({ from: set, fields: { key } });
    const answer = await settled(submit);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/fal rejected your key/);
    expect(answer.content).toContain('/key set');
    expect(submit.followUps()).toEqual([]);
    expect(h.fal.requests.slice(falBefore).filter((request) => request.route === 'pricing')).toHaveLength(1);
    expect(h.harness.app.owner!.services.keys.status(ref(user))).toBeUndefined();

    // Something that is not a key at all: the same private refusal, nothing stored.
    const again = h.discord.slashCommand({ name: 'key', subcommand: 'set', user, dm: true });
    await again.waitForAck();
    const malformed = await settled(h.discord.modalSubmit({ from: again, fields: { key: 'this is not a fal key' } }));
    expect(malformed.ephemeral).toBe(true);
    expect(malformed.content).toMatch(/rejected/);
    expect(h.harness.app.owner!.services.keys.status(ref(user))).toBeUndefined();
    expectKeyNowhere(key);
  });

  it('fal being down during the check stores nothing and says to try again', async () => {
    const user = h.discord.user({ username: 'outage' });
    const key = newFalKey();
    keysUsed.push(key);
    h.fal.addKey(key);
    h.fal.failNext('pricing', { status: 500 });
    const set = h.discord.slashCommand({ name: 'key', subcommand: 'set', user, dm: true });
    await set.waitForAck();
    const answer = await settled(h.discord.modalSubmit({ from: set, fields: { key } }));
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/not saved.*try again/i);
    expect(h.harness.app.owner!.services.keys.status(ref(user))).toBeUndefined();
    expectKeyNowhere(key);
  });

  it('a member who does not accept DMs gets a private explanation', async () => {
    const user = h.discord.user({ username: 'closed', dmsClosed: true });
    const set = h.discord.slashCommand({ name: 'key', subcommand: 'set', user, channelId: h.general.id });
    const setReply = await settled(set);
    const press = h.discord.button({ customId: 'keydm', message: setReply, user });
    const ack = await press.waitForAck();
    expect(ack.type).toBe(4);
    const answer = await settled(press);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/could not send you a direct message/i);
    expect(answer.content).toMatch(/Allow direct messages/);
    expect(press.followUps()).toEqual([]);
    // The DM was attempted (and refused with 50007); nothing reached the user or the channel.
    const refusedDm = h.discord.requests.find((request) => request.method === 'POST' && request.status === 403 && /^\/channels\/\d+\/messages$/.test(request.path));
    expect(refusedDm?.error?.['code']).toBe(50007);
    expect(h.discord.dmMessages(user.id)).toEqual([]);
    expectNothingPublic(set, press);
  });

  // A fal key pasted into /imagine's prompt must not be echoed in the channel, stored, or sent to fal.
  it('a key pasted into a public command is refused privately and never echoed', async () => {
    const { user, key } = await h.memberWithKey('paster');
    const falBefore = h.fal.requests.length;
    const imagine = h.discord.slashCommand({ name: 'imagine', options: { prompt: `use ${key} please` }, user, channelId: h.general.id });
    // The answer: an ephemeral follow-up after a deleted public placeholder, or an ephemeral reply.
    const answer = await h.discord.waitFor(() => {
      const followUp = imagine.followUps().find((message) => !message.deleted);
      const original = imagine.original();
      return followUp ?? (original && !original.loading && !original.deleted ? original : undefined);
    }, 10_000);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toContain('/key set');
    expectNothingPublic(imagine);
    expect(h.fal.requests.slice(falBefore).filter((request) => ['submit', 'run'].includes(request.route))).toEqual([]);
    expect(h.harness.app.owner!.services.generation.activeJobs(ref(user))).toEqual([]);
    expectKeyNowhere(key);
  });

  it('/key status shows the hint and dates privately; /key remove forgets the key', async () => {
    const { user, key } = await h.memberWithKey('status');
    keysUsed.push(key);
    const today = new Date().toISOString().slice(0, 10);

    const status = h.discord.slashCommand({ name: 'key', subcommand: 'status', user, channelId: h.general.id });
    const shown = await settled(status);
    expect(shown.ephemeral).toBe(true);
    expect(shown.content).toContain(hintOf(key));
    expect(shown.content).toContain(today);
    expect(shown.content).toContain('last used never');

    // Once the key was used, status says when.
    const imagine = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a used key' }, user, channelId: h.general.id });
    await imagine.waitForOriginal((message) => message.embeds.length > 0, 20_000);
    const used = await settled(h.discord.slashCommand({ name: 'key', subcommand: 'status', user, dm: true }));
    expect(used.ephemeral).toBe(true);
    expect(used.content).toMatch(new RegExp(`last used ${today}`));

    const remove = h.discord.slashCommand({ name: 'key', subcommand: 'remove', user, channelId: h.general.id });
    const removed = await settled(remove);
    expect(removed.ephemeral).toBe(true);
    expect(removed.content).toMatch(/removed/);
    expect(h.harness.app.owner!.services.keys.status(ref(user))).toBeUndefined();

    const after = h.discord.slashCommand({ name: 'key', subcommand: 'status', user, channelId: h.general.id });
    const none = await settled(after);
    expect(none.ephemeral).toBe(true);
    expect(none.content).toMatch(/no fal key registered/);
    expect(none.content).toContain('/key set');

    const again = h.discord.slashCommand({ name: 'key', subcommand: 'remove', user, dm: true });
    expect((await settled(again)).content).toMatch(/had no fal key/);
    expectNothingPublic(status, remove, after, again);
    expectKeyNowhere(key);
  });
});
