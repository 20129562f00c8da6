import { keyHint, type Keyring } from '../crypto/keyring.js';
import type { Repositories } from '../db/index.js';
import type { UserRef } from '../domain.js';
import { AppError } from '../errors.js';
import { checkFalKey, type FalTransport } from '../fal/client.js';
import { keyBinding } from '../jobs/types.js';

export interface KeyStatus {
  hint: string;
  createdAt: number;
  validatedAt: number | null;
  lastUsedAt: number | null;
}

/**
 * Registering, showing and removing a user's fal key. The clear key exists only inside `register`
 * (checked with fal, then sealed); everything after that sees the envelope or the hint.
 */
export class KeyService {
  constructor(
    private readonly repos: Repositories,
    private readonly keyring: Keyring,
    private readonly transport: FalTransport,
  ) {}

  /** Checks the key against fal, stores it encrypted, and returns what may be shown: the hint. */
  async register(user: UserRef & { displayName?: string | undefined }, key: string): Promise<KeyStatus> {
    const trimmed = key.trim();
    if (!trimmed) throw new AppError('INVALID_KEY', 'empty key', { reason: 'the key was empty' });
    await checkFalKey(trimmed, this.transport);
    const stored = this.repos.users.upsertUser(user);
    const now = Date.now();
    const saved = this.repos.keys.setFalKey(stored.id, {
      ciphertext: this.keyring.encrypt(trimmed, keyBinding(stored.id)),
      hint: keyHint(trimmed),
      validatedAt: now,
      createdAt: now,
    });
    return { hint: saved.hint, createdAt: saved.createdAt, validatedAt: saved.validatedAt, lastUsedAt: saved.lastUsedAt };
  }

  status(user: UserRef): KeyStatus | undefined {
    const found = this.repos.users.findUser(user);
    const key = found && this.repos.keys.getFalKey(found.id);
    return key && { hint: key.hint, createdAt: key.createdAt, validatedAt: key.validatedAt, lastUsedAt: key.lastUsedAt };
  }

  remove(user: UserRef): boolean {
    const found = this.repos.users.findUser(user);
    return found ? this.repos.keys.removeFalKey(found.id) : false;
  }
}

/** Something shaped like a fal key pasted into a public message: the adapters refuse to keep it. */
export function looksLikeFalKey(text: string): boolean {
  return /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9a-f]{32}\b/i.test(text);
}
