import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Envelope encryption for users' fal keys.
 *
 * Layout (v1): [version=1][key id: 4 bytes][iv: 12 bytes][GCM tag: 16 bytes][ciphertext]
 *
 * The key id is derived from the secret, so rotation is: put the new secret first in
 * KEY_ENCRYPTION_SECRET and keep the old one after a comma; new envelopes use the first secret and
 * old ones still open with the secret their key id names. The user reference is bound as associated
 * data, so an envelope copied onto another user's row (or job) does not decrypt.
 */

const VERSION = 1;
const KEY_ID_BYTES = 4;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES + IV_BYTES + TAG_BYTES;

interface KeyringEntry {
  id: Buffer;
  key: Buffer;
}

export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

export class Keyring {
  private readonly entries: KeyringEntry[];

  /** `secrets`: the current secret first, older ones after it (for rotation). */
  constructor(secrets: readonly string[]) {
    const usable = secrets.map((secret) => secret.trim()).filter(Boolean);
    if (usable.length === 0) throw new KeyringError('KEY_ENCRYPTION_SECRET is empty');
    for (const secret of usable) {
      if (secret.length < 32) {
        throw new KeyringError('KEY_ENCRYPTION_SECRET must be at least 32 characters (use e.g. `openssl rand -base64 48`)');
      }
    }
    this.entries = usable.map((secret) => {
      // HKDF turns any long passphrase into a uniform 256-bit key; the id names the secret without revealing it.
      const key = Buffer.from(hkdfSync('sha256', secret, 'atelier-fal-keys', 'aes-256-gcm v1', 32));
      const id = createHash('sha256').update(key).update('key-id').digest().subarray(0, KEY_ID_BYTES);
      return { id, key };
    });
  }

  /** Parses KEY_ENCRYPTION_SECRET's comma-separated form. */
  static fromSecretList(list: string): Keyring {
    return new Keyring(list.split(','));
  }

  encrypt(plaintext: string, boundTo: string): Buffer {
    const current = this.entries[0];
    if (!current) throw new KeyringError('no encryption secret');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', current.key, iv);
    cipher.setAAD(Buffer.from(boundTo, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), current.id, iv, cipher.getAuthTag(), body]);
  }

  decrypt(envelope: Buffer, boundTo: string): string {
    // An empty plaintext seals to exactly HEADER_BYTES: still a valid envelope.
    if (envelope.length < HEADER_BYTES || envelope[0] !== VERSION) {
      throw new KeyringError('unsupported key envelope');
    }
    const keyId = envelope.subarray(1, 1 + KEY_ID_BYTES);
    const entry = this.entries.find((candidate) => candidate.id.equals(keyId));
    if (!entry) throw new KeyringError('the secret that encrypted this key is not configured (KEY_ENCRYPTION_SECRET)');
    const ivStart = 1 + KEY_ID_BYTES;
    const tagStart = ivStart + IV_BYTES;
    const decipher = createDecipheriv('aes-256-gcm', entry.key, envelope.subarray(ivStart, tagStart));
    decipher.setAAD(Buffer.from(boundTo, 'utf8'));
    decipher.setAuthTag(envelope.subarray(tagStart, HEADER_BYTES));
    try {
      return Buffer.concat([decipher.update(envelope.subarray(HEADER_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new KeyringError('key envelope failed authentication');
    }
  }

  /** True when the envelope was sealed with an older secret and should be re-encrypted. */
  needsRotation(envelope: Buffer): boolean {
    const current = this.entries[0];
    return current !== undefined && !envelope.subarray(1, 1 + KEY_ID_BYTES).equals(current.id);
  }
}

/**
 * `…a1b2`: enough for a user to recognise their key, useless to anyone else. Never more than a
 * quarter of the key, so a short (mistyped) key is not shown whole.
 */
export function keyHint(key: string): string {
  const trimmed = key.trim();
  const shown = Math.min(4, Math.floor(trimmed.length / 4));
  return `…${shown > 0 ? trimmed.slice(-shown) : ''}`;
}

export interface ResolvedSecret {
  secrets: string;
  /** Set when the secret was generated on this boot: the caller logs a warning. */
  generatedAt?: string;
}

/**
 * KEY_ENCRYPTION_SECRET when set; otherwise a secret generated once into `<dataDir>/key-encryption.secret`
 * (mode 0600) and reused on later boots. Workers on other hosts need the same secret in their environment.
 */
const secretFile = (dataDir: string) => join(dataDir, 'key-encryption.secret');

export function keySecretFileExists(dataDir: string): boolean {
  return existsSync(secretFile(dataDir));
}

export function resolveKeyEncryptionSecret(configured: string | undefined, dataDir: string): ResolvedSecret {
  if (configured?.trim()) return { secrets: configured };
  const file = secretFile(dataDir);
  if (existsSync(file)) return { secrets: readSecretFile(file) };
  mkdirSync(dirname(file), { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  // Written whole to a private temp file, then linked into place: link() fails if the name exists, so
  // two processes sharing the data dir cannot both win, and neither can read a half-written file.
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  try {
    chmodSync(temp, 0o600); // the umask may have narrowed the mode, never widened it; make it exact
    linkSync(temp, file);
  } catch (error) {
    // Another process sharing the data dir generated it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { secrets: readSecretFile(file) };
    throw error;
  } finally {
    unlinkSync(temp);
  }
  return { secrets: secret, generatedAt: file };
}

function readSecretFile(file: string): string {
  const secrets = readFileSync(file, 'utf8').trim();
  if (!secrets) {
    throw new KeyringError(
      `${file} is empty. Restore it from a backup or set KEY_ENCRYPTION_SECRET; delete it only if no fal keys were ever stored with it.`,
    );
  }
  return secrets;
}
