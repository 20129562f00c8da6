import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newFalKey, testUser } from '../helpers/app.js';
import { MemoryContext } from '../helpers/memory-context.js';
import { CommandsHarness } from '../helpers/commands.js';

describe('/key: registration happens only in a DM, through a form', () => {
  let h: CommandsHarness;
  /** Every interaction of the file, to prove no message ever showed a full key. */
  const seen: MemoryContext[] = [];
  const track = (ctx: MemoryContext) => {
    seen.push(ctx);
    return ctx;
  };
  const keysUsed: string[] = [];

  beforeAll(async () => {
    h = await CommandsHarness.start();
  });

  afterEach(() => h.fake.reset());

  afterAll(async () => {
    try {
      // No recorded message and no log line, in any test of this file, contains a full key.
      const everything = seen.map((ctx) => JSON.stringify(ctx.messages) + JSON.stringify(ctx.forms)).join('\n');
      for (const key of keysUsed) {
        expect(everything).not.toContain(key);
        expect(h.harness.logs.text).not.toContain(key);
        expect(h.harness.logs.text).not.toContain(key.split(':')[1]);
      }
    } finally {
      await h?.close();
    }
  });

  it('/key set in a server channel answers privately with a "Register in DM" button and opens no form', async () => {
    const user = testUser('chan');
    const ctx = track(await h.run('key', { subcommand: 'set' }, { user, isDirectMessage: false }));
    expect(ctx.forms).toEqual([]);
    expect(ctx.dms).toEqual([]);
    const reply = ctx.lastReply();
    expect(reply.private).toBe(true);
    expect(reply.message.text).toMatch(/direct message/i);
    expect(ctx.actionButtons()).toEqual([expect.objectContaining({ id: 'keydm', label: 'Register in DM' })]);

    // Pressing it sends a DM whose button opens the form.
    const pressed = track(await h.press('keydm', { user }));
    expect(pressed.lastReply()).toMatchObject({ private: true });
    expect(pressed.lastText()).toMatch(/sent you a direct message/);
    expect(pressed.dms).toHaveLength(1);
    const dm = pressed.dms[0]!.message;
    expect(dm.text).toMatch(/encrypted/);
    const openId = pressed.buttonId('Set fal key', dm);

    const inDm = track(await h.press(openId, { user, isDirectMessage: true }));
    expect(inDm.events).toEqual(['openForm']);
    expect(inDm.forms[0]).toMatchObject({ id: 'keyform', fields: [expect.objectContaining({ id: 'key', style: 'short', required: true })] });
  });

  it('a user who does not accept DMs is told how to fix it', async () => {
    const ctx = track(await h.press('keydm', { user: testUser('closed'), dmClosed: true }));
    expect(ctx.lastReply().private).toBe(true);
    expect(ctx.lastText()).toMatch(/could not send you a direct message/i);
  });

  it('/key set in a DM opens the form at once', async () => {
    const ctx = track(await h.run('key', { subcommand: 'set' }, { user: testUser('dm'), isDirectMessage: true }));
    expect(ctx.events).toEqual(['openForm']);
    expect(ctx.forms.map((form) => form.id)).toEqual(['keyform']);
    expect(ctx.messages).toEqual([]);
  });

  it('submitting the form checks the key with fal, stores it encrypted and shows only its hint', async () => {
    const user = testUser('reg');
    const key = newFalKey();
    keysUsed.push(key);
    h.fake.addKey(key);
    const ctx = track(await h.press('keyform', { user, isDirectMessage: true }, { key: `  ${key}\n` }));
    expect(ctx.deferred).toEqual({ private: true });
    const reply = ctx.lastReply();
    expect(reply.private).toBe(true);
    expect(reply.message.text).toContain(`…${key.slice(-4)}`);
    expect(JSON.stringify(ctx.messages)).not.toContain(key.slice(0, -4));

    // fal was asked (the pricing route, with the key), nothing was generated.
    const checks = h.fake.requests.filter((request) => request.route === 'pricing');
    expect(checks).toHaveLength(1);
    expect(checks[0]?.headers.authorization).toBe(`Key ${key}`);
    expect(h.paidRequests()).toEqual([]);

    const stored = h.owner.repos.keys.getFalKey(h.owner.repos.users.findUser(user)!.id);
    expect(stored?.hint).toBe(`…${key.slice(-4)}`);
    expect(stored?.ciphertext.toString('utf8')).not.toContain(key);
    expect(stored?.ciphertext.toString('base64')).not.toContain(Buffer.from(key).toString('base64'));

    // The key works for generations right away.
    const generation = track(await h.run('imagine', { prompt: 'first light' }, { user }));
    const job = await h.waitForDelivery(h.jobIdFrom(generation));
    expect(job.status).toBe('succeeded');
    expect(h.fake.submits()[0]?.key).toBe(key);
  });

  it('a key fal rejects is reported privately and not stored', async () => {
    const user = testUser('bad');
    const key = newFalKey();
    keysUsed.push(key);
    const ctx = track(await h.press('keyform', { user, isDirectMessage: true }, { key }));
    expect(ctx.lastReply().private).toBe(true);
    expect(ctx.lastText()).toMatch(/rejected/);
    expect(h.fake.requests.filter((request) => request.route === 'pricing')).toHaveLength(1);
    expect(h.services.keys.status(user)).toBeUndefined();

    const malformed = track(await h.press('keyform', { user, isDirectMessage: true }, { key: 'not a key' }));
    expect(malformed.lastReply().private).toBe(true);
    expect(malformed.lastText()).toMatch(/rejected/);
    expect(h.services.keys.status(user)).toBeUndefined();

    const empty = track(await h.press('keyform', { user, isDirectMessage: true }, {}));
    expect(empty.lastReply().private).toBe(true);
    expect(h.services.keys.status(user)).toBeUndefined();
  });

  it('fal being down while checking a key stores nothing and says to try later', async () => {
    const user = testUser('down');
    const key = newFalKey();
    keysUsed.push(key);
    h.fake.addKey(key);
    h.fake.failNext('pricing', { status: 500 });
    const ctx = track(await h.press('keyform', { user, isDirectMessage: true }, { key }));
    expect(ctx.lastReply().private).toBe(true);
    expect(ctx.lastText()).toMatch(/not saved.*try again/i);
    expect(h.services.keys.status(user)).toBeUndefined();
  });

  it('/key status shows the hint and dates; /key remove forgets the key', async () => {
    const { user, key } = await h.userWithKey('status');
    keysUsed.push(key);
    const status = track(await h.run('key', { subcommand: 'status' }, { user }));
    expect(status.lastReply().private).toBe(true);
    const today = new Date().toISOString().slice(0, 10);
    expect(status.lastText()).toContain(`…${key.slice(-4)}`);
    expect(status.lastText()).toContain(today);
    expect(status.lastText()).toContain('last used never');

    const removed = track(await h.run('key', { subcommand: 'remove' }, { user }));
    expect(removed.lastReply().private).toBe(true);
    expect(removed.lastText()).toMatch(/removed/);

    const after = track(await h.run('key', { subcommand: 'status' }, { user }));
    expect(after.lastText()).toMatch(/no fal key registered/);
    expect(after.lastText()).toContain('/key set');

    const again = track(await h.run('key', { subcommand: 'remove' }, { user }));
    expect(again.lastText()).toMatch(/had no fal key/);

    // Without a key, generations are refused again.
    const refused = track(await h.run('imagine', { prompt: 'after removal' }, { user }));
    expect(refused.lastText()).toContain('/key set');
  });

  it('an unknown subcommand is refused privately', async () => {
    const ctx = track(await h.run('key', { subcommand: 'show' }, { user: testUser('odd') }));
    expect(ctx.lastReply().private).toBe(true);
    expect(ctx.lastText()).toContain('subcommand');
  });
});
