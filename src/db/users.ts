import type { Database } from 'better-sqlite3';
import { PLATFORMS, type UserRef } from '../domain.js';
import { columns, oneOf } from './mapping.js';
import type { User, UserRow } from './types.js';

const USER_COLUMNS = columns(['id', 'platform', 'workspace_id', 'platform_user_id', 'display_name', 'created_at']);

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    platform: oneOf(row.platform, PLATFORMS, 'users.platform'),
    workspaceId: row.workspace_id,
    platformUserId: row.platform_user_id,
    displayName: row.display_name,
    createdAt: row.created_at,
  };
}

export class UserRepository {
  readonly #byId;
  readonly #byRef;
  readonly #upsert;
  readonly #now: () => number;

  constructor(db: Database, now: () => number) {
    this.#now = now;
    this.#byId = db.prepare<[number], UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`);
    this.#byRef = db.prepare<[string, string, string], UserRow>(
      `SELECT ${USER_COLUMNS} FROM users WHERE platform = ? AND workspace_id = ? AND platform_user_id = ?`,
    );
    // A missing display name never erases a known one.
    this.#upsert = db.prepare<[string, string, string, string | null, number], UserRow>(`
      INSERT INTO users (platform, workspace_id, platform_user_id, display_name, created_at)
      VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (platform, workspace_id, platform_user_id)
      DO UPDATE SET display_name = coalesce(excluded.display_name, users.display_name)
      RETURNING ${USER_COLUMNS}
    `);
  }

  /** Finds or creates the user; updates the display name when a different one is given. */
  upsertUser(ref: UserRef & { displayName?: string | undefined }): User {
    // Most calls are for a known user with an unchanged name: answer those without taking the write lock.
    const existing = this.findUser(ref);
    if (existing && (ref.displayName === undefined || ref.displayName === existing.displayName)) return existing;
    const row = this.#upsert.get(ref.platform, ref.workspaceId, ref.platformUserId, ref.displayName ?? null, this.#now());
    if (!row) throw new Error('upsert returned no row');
    return toUser(row);
  }

  getUser(id: number): User | undefined {
    const row = this.#byId.get(id);
    return row && toUser(row);
  }

  findUser(ref: UserRef): User | undefined {
    const row = this.#byRef.get(ref.platform, ref.workspaceId, ref.platformUserId);
    return row && toUser(row);
  }
}
