import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Keyring, KeyringError, keyHint, keySecretFileExists, resolveKeyEncryptionSecret } from '../../src/crypto/keyring.js';
import { tempDir } from '../helpers/env.js';

const secret = () => randomBytes(36).toString('base64');
const FAL_KEY = '3f1e2d4c-5b6a-4789-9abc-def012345678:0123456789abcdef0123456789abcdef';
const ALICE = 'discord:guild-1:alice';
const BOB = 'discord:guild-1:bob';

/** The KeyringError `run` throws (fails the test when it throws nothing or something else). */
function keyringError(run: () => unknown): KeyringError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KeyringError);
    return error as KeyringError;
  }
  throw new Error('expected a KeyringError');
}

describe('Keyring envelopes', () => {
  it('round-trips a key bound to its user', () => {
    const keyring = new Keyring([secret()]);
    const envelope = keyring.encrypt(FAL_KEY, ALICE);
    expect(Buffer.isBuffer(envelope)).toBe(true);
    expect(envelope.includes(Buffer.from(FAL_KEY))).toBe(false);
    expect(envelope.includes(Buffer.from(FAL_KEY.slice(-16)))).toBe(false);
    expect(keyring.decrypt(envelope, ALICE)).toBe(FAL_KEY);
    // A fresh IV each time: the same key never seals to the same bytes.
    expect(keyring.encrypt(FAL_KEY, ALICE).equals(envelope)).toBe(false);
  });

  it('round-trips empty and non-ASCII plaintexts', () => {
    const keyring = new Keyring([secret()]);
    for (const text of ['', 'ключ-🔑', 'x'.repeat(10_000)]) expect(keyring.decrypt(keyring.encrypt(text, ALICE), ALICE)).toBe(text);
  });

  it('opens with another Keyring built from the same secret (a restart, or a worker host)', () => {
    const value = secret();
    expect(new Keyring([value]).decrypt(new Keyring([value]).encrypt(FAL_KEY, ALICE), ALICE)).toBe(FAL_KEY);
    expect(Keyring.fromSecretList(value).decrypt(new Keyring([value]).encrypt(FAL_KEY, ALICE), ALICE)).toBe(FAL_KEY);
  });

  it('refuses an envelope bound to another user', () => {
    const keyring = new Keyring([secret()]);
    const envelope = keyring.encrypt(FAL_KEY, ALICE);
    const error = keyringError(() => keyring.decrypt(envelope, BOB));
    expect(error.message).toBe('key envelope failed authentication');
    keyringError(() => keyring.decrypt(envelope, ''));
    keyringError(() => keyring.decrypt(envelope, `${ALICE} `));
  });

  it('refuses an envelope with any single byte changed', () => {
    const keyring = new Keyring([secret()]);
    const envelope = keyring.encrypt(FAL_KEY, ALICE);
    for (let index = 0; index < envelope.length; index += 1) {
      for (const flip of [0x01, 0x80]) {
        const tampered = Buffer.from(envelope);
        tampered[index]! ^= flip;
        expect(() => keyring.decrypt(tampered, ALICE), `byte ${index} ^ ${flip}`).toThrow(KeyringError);
      }
    }
  });

  it('refuses truncated, extended and foreign envelopes with a clear message', () => {
    const keyring = new Keyring([secret()]);
    const envelope = keyring.encrypt(FAL_KEY, ALICE);
    for (const broken of [envelope.subarray(0, envelope.length - 1), Buffer.concat([envelope, Buffer.from([0])]), envelope.subarray(0, 20), Buffer.alloc(0)]) {
      expect(() => keyring.decrypt(broken, ALICE)).toThrow(KeyringError);
    }
    const version2 = Buffer.from(envelope);
    version2[0] = 2;
    expect(keyringError(() => keyring.decrypt(version2, ALICE)).message).toBe('unsupported key envelope');
    expect(keyringError(() => keyring.decrypt(Buffer.from(FAL_KEY), ALICE)).message).toBe('unsupported key envelope');
  });

  it('names KEY_ENCRYPTION_SECRET when the secret that sealed an envelope is not configured', () => {
    const envelope = new Keyring([secret()]).encrypt(FAL_KEY, ALICE);
    const error = keyringError(() => new Keyring([secret()]).decrypt(envelope, ALICE));
    expect(error.message).toContain('KEY_ENCRYPTION_SECRET');
    expect(error.message).toContain('not configured');
  });

  it('rotates: new secret first, old one after it', () => {
    const oldSecret = secret();
    const newSecret = secret();
    const before = new Keyring([oldSecret]);
    const oldEnvelope = before.encrypt(FAL_KEY, ALICE);

    const rotated = Keyring.fromSecretList(`${newSecret},${oldSecret}`);
    expect(rotated.decrypt(oldEnvelope, ALICE)).toBe(FAL_KEY);
    expect(rotated.needsRotation(oldEnvelope)).toBe(true);
    const newEnvelope = rotated.encrypt(FAL_KEY, ALICE);
    expect(rotated.needsRotation(newEnvelope)).toBe(false);
    expect(rotated.decrypt(newEnvelope, ALICE)).toBe(FAL_KEY);
    // Re-sealed envelopes no longer need the old secret...
    expect(new Keyring([newSecret]).decrypt(newEnvelope, ALICE)).toBe(FAL_KEY);
    // ...and the old secret alone cannot open them.
    expect(() => before.decrypt(newEnvelope, ALICE)).toThrow(/not configured/);
    // Binding still applies to old envelopes under rotation.
    expect(() => rotated.decrypt(oldEnvelope, BOB)).toThrow(KeyringError);
    // Whitespace around the list's items is ignored.
    expect(Keyring.fromSecretList(` ${newSecret} , ${oldSecret} `).decrypt(oldEnvelope, ALICE)).toBe(FAL_KEY);
  });

  it('rejects short and empty secrets without echoing them', () => {
    const short = 'short-secret-value';
    const error = keyringError(() => new Keyring([short]));
    expect(error.message).toContain('at least 32 characters');
    expect(error.message).not.toContain(short);
    expect(keyringError(() => new Keyring([secret(), 'x'.repeat(31)])).message).toContain('at least 32');
    expect(keyringError(() => new Keyring([])).message).toContain('KEY_ENCRYPTION_SECRET');
    expect(keyringError(() => Keyring.fromSecretList(' , ')).message).toContain('KEY_ENCRYPTION_SECRET');
    expect(() => new Keyring(['x'.repeat(32)])).not.toThrow();
  });
});

describe('keyHint', () => {
  it('shows the last four characters of a key', () => {
    expect(keyHint(FAL_KEY)).toBe('…cdef');
    expect(keyHint(`  ${FAL_KEY}\n`)).toBe('…cdef');
  });

  it('never shows a short key whole', () => {
    expect(keyHint('abc')).toBe('…');
    expect(keyHint('')).toBe('…');
    expect(keyHint('abcdefgh')).toBe('…gh');
    for (let length = 0; length < 40; length += 1) {
      const key = 'k'.repeat(length);
      const shown = keyHint(key).length - 1;
      expect(shown).toBeLessThanOrEqual(Math.max(0, Math.floor(length / 4)));
    }
  });
});

describe('resolveKeyEncryptionSecret', () => {
  let dir: { path: string; cleanup: () => Promise<void> };

  beforeEach(async () => {
    dir = await tempDir('atelier-keyring');
  });

  afterEach(async () => {
    await dir.cleanup();
  });

  it('generates a secret once into the data dir with mode 0600 and reuses it', () => {
    const dataDir = join(dir.path, 'nested', 'data');
    expect(keySecretFileExists(dataDir)).toBe(false);
    const first = resolveKeyEncryptionSecret(undefined, dataDir);
    const file = join(dataDir, 'key-encryption.secret');
    expect(first.generatedAt).toBe(file);
    expect(first.secrets.length).toBeGreaterThanOrEqual(48);
    expect(keySecretFileExists(dataDir)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(`${first.secrets}\n`);
    // No temp files left behind.
    expect(readdirSync(dataDir)).toEqual(['key-encryption.secret']);

    const second = resolveKeyEncryptionSecret(undefined, dataDir);
    expect(second).toEqual({ secrets: first.secrets });
    expect(second.generatedAt).toBeUndefined();

    // What it generated is a usable secret, and envelopes survive a "restart".
    const envelope = Keyring.fromSecretList(first.secrets).encrypt(FAL_KEY, ALICE);
    expect(Keyring.fromSecretList(second.secrets).decrypt(envelope, ALICE)).toBe(FAL_KEY);
  });

  it('treats an empty configured value as unset', () => {
    const resolved = resolveKeyEncryptionSecret('', dir.path);
    expect(resolved.generatedAt).toBe(join(dir.path, 'key-encryption.secret'));
  });

  it('prefers the configured value and writes nothing', () => {
    const configured = secret();
    expect(resolveKeyEncryptionSecret(configured, dir.path)).toEqual({ secrets: configured });
    expect(existsSync(join(dir.path, 'key-encryption.secret'))).toBe(false);
    // Even when a generated file exists.
    resolveKeyEncryptionSecret(undefined, dir.path);
    expect(resolveKeyEncryptionSecret(configured, dir.path)).toEqual({ secrets: configured });
  });

  it('generates distinct secrets for distinct data dirs', () => {
    const a = resolveKeyEncryptionSecret(undefined, join(dir.path, 'a')).secrets;
    const b = resolveKeyEncryptionSecret(undefined, join(dir.path, 'b')).secrets;
    expect(a).not.toBe(b);
  });

  it('refuses an empty secret file with a message naming the file and the variable', () => {
    const file = join(dir.path, 'key-encryption.secret');
    writeFileSync(file, '\n', { mode: 0o600 });
    const error = keyringError(() => resolveKeyEncryptionSecret(undefined, dir.path));
    expect(error.message).toContain(file);
    expect(error.message).toContain('KEY_ENCRYPTION_SECRET');
    // Not silently replaced: the envelopes sealed with the lost secret would become unreadable.
    expect(readFileSync(file, 'utf8')).toBe('\n');
  });
});
