import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useTempDatabases, userRef } from './fixtures.js';

const openTemp = useTempDatabases();

describe('users', () => {
  it('upserts one row per (platform, workspace, platform user)', async () => {
    const { repos, db } = await openTemp();
    const ref = userRef();
    const first = repos.users.upsertUser({ ...ref, displayName: 'Ada' });
    const again = repos.users.upsertUser(ref);
    expect(again).toEqual(first);
    expect(first).toMatchObject({ ...ref, displayName: 'Ada' });
    expect(typeof first.createdAt).toBe('number');

    const renamed = repos.users.upsertUser({ ...ref, displayName: 'Ada L.' });
    expect(renamed).toEqual({ ...first, displayName: 'Ada L.' });
    // No display name given: the known one stays.
    expect(repos.users.upsertUser(ref).displayName).toBe('Ada L.');

    const slackA = repos.users.upsertUser({ platform: 'slack', workspaceId: 'T1', platformUserId: ref.platformUserId });
    const slackB = repos.users.upsertUser({ platform: 'slack', workspaceId: 'T2', platformUserId: ref.platformUserId });
    expect(new Set([first.id, slackA.id, slackB.id]).size).toBe(3);
    expect(slackA.displayName).toBeNull();
    expect(db.prepare('SELECT count(*) FROM users').pluck().get()).toBe(3);
  });

  it('finds and gets users, and answers undefined for unknown ones', async () => {
    const { repos } = await openTemp();
    const user = repos.users.upsertUser(userRef('finder'));
    expect(repos.users.findUser(userRef('finder'))).toEqual(user);
    expect(repos.users.getUser(user.id)).toEqual(user);
    expect(repos.users.findUser(userRef('nobody'))).toBeUndefined();
    expect(repos.users.getUser(user.id + 1000)).toBeUndefined();
  });

  it('resolves to the same user from two connections to the same file', async () => {
    const one = await openTemp();
    const two = one.reopen();
    const ref = userRef();
    const a = one.repos.users.upsertUser(ref);
    const b = two.repos.users.upsertUser({ ...ref, displayName: 'Later' });
    expect(b.id).toBe(a.id);
    expect(one.repos.users.getUser(a.id)?.displayName).toBe('Later');
  });
});

describe('fal keys', () => {
  it('stores the ciphertext exactly as given and reads it back', async () => {
    const { repos, db } = await openTemp();
    const user = repos.users.upsertUser(userRef());
    const ciphertext = randomBytes(61);
    const stored = repos.keys.setFalKey(user.id, { ciphertext, hint: '…a1b2', validatedAt: 1_000, createdAt: 900 });
    expect(stored).toEqual({ userId: user.id, ciphertext, hint: '…a1b2', createdAt: 900, validatedAt: 1_000, lastUsedAt: null });

    const loaded = repos.keys.getFalKey(user.id);
    expect(loaded && Buffer.isBuffer(loaded.ciphertext)).toBe(true);
    expect(loaded?.ciphertext.equals(ciphertext)).toBe(true);
    const raw = db
      .prepare<[number], { type: string; bytes: Buffer }>('SELECT typeof(ciphertext) AS type, ciphertext AS bytes FROM fal_keys WHERE user_id = ?')
      .get(user.id);
    expect(raw?.type).toBe('blob');
    expect(raw?.bytes.equals(ciphertext)).toBe(true);
  });

  it('replaces a key, records use without going backwards, and removes it', async () => {
    const { repos } = await openTemp();
    const user = repos.users.upsertUser(userRef());
    repos.keys.setFalKey(user.id, { ciphertext: Buffer.from([1, 2, 3]), hint: '…0001', validatedAt: 10 });
    expect(repos.keys.touchFalKey(user.id, 50)).toBe(true);
    expect(repos.keys.touchFalKey(user.id, 40)).toBe(false);
    expect(repos.keys.getFalKey(user.id)?.lastUsedAt).toBe(50);

    const replacement = Buffer.from([9, 9]);
    const replaced = repos.keys.setFalKey(user.id, { ciphertext: replacement, hint: '…0002', validatedAt: null });
    expect(replaced.ciphertext.equals(replacement)).toBe(true);
    expect(replaced).toMatchObject({ hint: '…0002', validatedAt: null, lastUsedAt: null });

    expect(repos.keys.removeFalKey(user.id)).toBe(true);
    expect(repos.keys.removeFalKey(user.id)).toBe(false);
    expect(repos.keys.getFalKey(user.id)).toBeUndefined();
    expect(repos.keys.touchFalKey(user.id, 60)).toBe(false);
  });

  it('refuses a key for an unknown user and anything but a Buffer', async () => {
    const { repos } = await openTemp();
    expect(() => repos.keys.setFalKey(9999, { ciphertext: Buffer.from('x'), hint: '…x', validatedAt: null })).toThrow(/FOREIGN KEY/);
    const user = repos.users.upsertUser(userRef());
    // @ts-expect-error a clear-text key must not be storable by accident
    expect(() => repos.keys.setFalKey(user.id, { ciphertext: 'fal-key-in-clear', hint: '…x', validatedAt: null })).toThrow(TypeError);
  });
});
