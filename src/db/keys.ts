import type { Database } from 'better-sqlite3';
import { columns } from './mapping.js';
import type { FalKey, FalKeyRow, NewFalKey } from './types.js';

const KEY_COLUMNS = columns(['user_id', 'ciphertext', 'hint', 'created_at', 'validated_at', 'last_used_at']);

export function toFalKey(row: FalKeyRow): FalKey {
  return {
    userId: row.user_id,
    ciphertext: row.ciphertext,
    hint: row.hint,
    createdAt: row.created_at,
    validatedAt: row.validated_at,
    lastUsedAt: row.last_used_at,
  };
}

/** Stores fal keys exactly as the caller encrypted them; this layer never sees a clear key. */
export class FalKeyRepository {
  readonly #get;
  readonly #set;
  readonly #touch;
  readonly #remove;
  readonly #all;
  readonly #reseal;
  readonly #now: () => number;

  constructor(db: Database, now: () => number) {
    this.#now = now;
    this.#get = db.prepare<[number], FalKeyRow>(`SELECT ${KEY_COLUMNS} FROM fal_keys WHERE user_id = ?`);
    // A replaced key is a new key: its creation time is now and it has not been used yet.
    this.#set = db.prepare<[number, Buffer, string, number, number | null], FalKeyRow>(`
      INSERT INTO fal_keys (user_id, ciphertext, hint, created_at, validated_at, last_used_at)
      VALUES (?, ?, ?, ?, ?, NULL)
      ON CONFLICT (user_id) DO UPDATE SET
        ciphertext = excluded.ciphertext,
        hint = excluded.hint,
        created_at = excluded.created_at,
        validated_at = excluded.validated_at,
        last_used_at = NULL
      RETURNING ${KEY_COLUMNS}
    `);
    // Concurrent jobs may report out of order; never move last_used_at backwards.
    this.#touch = db.prepare<[number, number, number]>(
      'UPDATE fal_keys SET last_used_at = ? WHERE user_id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
    );
    this.#remove = db.prepare<[number]>('DELETE FROM fal_keys WHERE user_id = ?');
    this.#all = db.prepare<[], FalKeyRow>(`SELECT ${KEY_COLUMNS} FROM fal_keys ORDER BY user_id`);
    // Only the envelope changes: the key, its hint and its history stay as they were.
    this.#reseal = db.prepare<[Buffer, number, Buffer]>('UPDATE fal_keys SET ciphertext = ? WHERE user_id = ? AND ciphertext = ?');
  }

  /** Every stored key (for secret rotation, an offline admin task). */
  listFalKeys(): FalKey[] {
    return this.#all.all().map(toFalKey);
  }

  /** Replaces an envelope with one sealed under a newer secret, unless the key changed meanwhile. */
  resealFalKey(userId: number, previous: Buffer, next: Buffer): boolean {
    return this.#reseal.run(next, userId, previous).changes > 0;
  }

  setFalKey(userId: number, key: NewFalKey): FalKey {
    if (!Buffer.isBuffer(key.ciphertext)) throw new TypeError('ciphertext must be a Buffer');
    const row = this.#set.get(userId, key.ciphertext, key.hint, key.createdAt ?? this.#now(), key.validatedAt);
    if (!row) throw new Error('setFalKey returned no row');
    return toFalKey(row);
  }

  getFalKey(userId: number): FalKey | undefined {
    const row = this.#get.get(userId);
    return row && toFalKey(row);
  }

  /** Records a use of the key. False when the user has no key (or a later use is already recorded). */
  touchFalKey(userId: number, at: number): boolean {
    return this.#touch.run(at, userId, at).changes > 0;
  }

  removeFalKey(userId: number): boolean {
    return this.#remove.run(userId).changes > 0;
  }
}
