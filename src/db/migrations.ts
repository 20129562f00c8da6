import type { Database } from 'better-sqlite3';

export interface Migration {
  /** Positive, strictly increasing; never renumber or edit a migration once it has shipped. */
  version: number;
  name: string;
  up: string | ((db: Database) => void);
}

/**
 * The schema, oldest first. Times are unix milliseconds. Tables are STRICT so a wrong type from a
 * caller fails loudly instead of being stored as-is.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    up: /* sql */ `
      CREATE TABLE users (
        id               INTEGER PRIMARY KEY,
        platform         TEXT    NOT NULL,
        workspace_id     TEXT    NOT NULL DEFAULT '',
        platform_user_id TEXT    NOT NULL,
        display_name     TEXT,
        created_at       INTEGER NOT NULL,
        UNIQUE (platform, workspace_id, platform_user_id)
      ) STRICT;

      CREATE TABLE fal_keys (
        user_id      INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        ciphertext   BLOB    NOT NULL,
        hint         TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        validated_at INTEGER,
        last_used_at INTEGER
      ) STRICT;

      CREATE TABLE jobs (
        id             TEXT    PRIMARY KEY,
        user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        platform       TEXT    NOT NULL,
        workspace_id   TEXT    NOT NULL DEFAULT '',
        channel_id     TEXT    NOT NULL,
        kind           TEXT    NOT NULL CHECK (kind IN ('image', 'video')),
        model_id       TEXT    NOT NULL,
        prompt         TEXT    NOT NULL,
        params         TEXT    NOT NULL CHECK (json_valid(params)),
        status         TEXT    NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'running', 'saving', 'succeeded', 'failed', 'cancelled')),
        fal_request_id TEXT,
        error_code     TEXT,
        error_message  TEXT,
        reply          TEXT    CHECK (reply IS NULL OR json_valid(reply)),
        private        INTEGER NOT NULL DEFAULT 0 CHECK (private IN (0, 1)),
        created_at     INTEGER NOT NULL,
        started_at     INTEGER,
        finished_at    INTEGER,
        delivered_at   INTEGER
      ) STRICT;

      -- The per-user limit check counts (user_id, status IN active) inside a write lock: keep it a seek.
      CREATE INDEX jobs_user_status ON jobs (user_id, status);
      CREATE INDEX jobs_user_created ON jobs (user_id, created_at);
      -- Metrics and boot-time recovery look jobs up by status across all users.
      CREATE INDEX jobs_status ON jobs (status);

      CREATE TABLE assets (
        id                 TEXT    PRIMARY KEY,
        job_id             TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        owner_user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        position           INTEGER NOT NULL CHECK (position >= 0),
        kind               TEXT    NOT NULL CHECK (kind IN ('image', 'video')),
        storage_driver     TEXT    NOT NULL,
        storage_key        TEXT    NOT NULL,
        content_type       TEXT    NOT NULL,
        bytes              INTEGER NOT NULL CHECK (bytes >= 0),
        sha256             TEXT    NOT NULL,
        width              INTEGER,
        height             INTEGER,
        duration_seconds   REAL,
        seed               INTEGER,
        inference_ms       INTEGER,
        nsfw               INTEGER NOT NULL DEFAULT 0 CHECK (nsfw IN (0, 1)),
        share_id           TEXT    NOT NULL UNIQUE,
        visibility         TEXT    NOT NULL CHECK (visibility IN ('public', 'private')),
        poster_storage_key TEXT,
        model_id           TEXT    NOT NULL,
        prompt             TEXT    NOT NULL,
        created_at         INTEGER NOT NULL,
        removed_at         INTEGER,
        removed_by         TEXT,
        removed_reason     TEXT,
        UNIQUE (job_id, position)
      ) STRICT;

      -- Removed rows never show in a gallery, so they need not sit in its index.
      CREATE INDEX assets_gallery ON assets (owner_user_id, created_at DESC, id DESC)
        WHERE removed_at IS NULL;

      -- External-content FTS over the prompt (the text lives once, in assets). owner_user_id is indexed
      -- as a token so a search can be narrowed to one owner inside FTS, instead of materialising
      -- every matching row in the database and filtering afterwards.
      CREATE VIRTUAL TABLE assets_fts USING fts5 (
        prompt,
        owner_user_id,
        content = 'assets',
        content_rowid = 'rowid',
        tokenize = 'porter unicode61 remove_diacritics 2'
      );

      CREATE TRIGGER assets_fts_insert AFTER INSERT ON assets BEGIN
        INSERT INTO assets_fts (rowid, prompt, owner_user_id) VALUES (new.rowid, new.prompt, new.owner_user_id);
      END;
      CREATE TRIGGER assets_fts_delete AFTER DELETE ON assets BEGIN
        INSERT INTO assets_fts (assets_fts, rowid, prompt, owner_user_id)
          VALUES ('delete', old.rowid, old.prompt, old.owner_user_id);
      END;
      CREATE TRIGGER assets_fts_update AFTER UPDATE OF prompt, owner_user_id ON assets BEGIN
        INSERT INTO assets_fts (assets_fts, rowid, prompt, owner_user_id)
          VALUES ('delete', old.rowid, old.prompt, old.owner_user_id);
        INSERT INTO assets_fts (rowid, prompt, owner_user_id) VALUES (new.rowid, new.prompt, new.owner_user_id);
      END;
    `,
  },
  {
    version: 2,
    name: 'posts: where results were posted on the chat platforms',
    up: /* sql */ `
      CREATE TABLE posts (
        id          INTEGER PRIMARY KEY,
        job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        platform    TEXT    NOT NULL,
        channel_id  TEXT    NOT NULL,
        message_id  TEXT    NOT NULL,
        kind        TEXT    NOT NULL DEFAULT 'result' CHECK (kind IN ('result', 'review')),
        created_at  INTEGER NOT NULL,
        deleted_at  INTEGER,
        UNIQUE (platform, channel_id, message_id)
      ) STRICT;
      CREATE INDEX posts_by_job ON posts (job_id) WHERE deleted_at IS NULL;
    `,
  },
  {
    version: 3,
    name: 'reports: members flag results for the moderators',
    up: /* sql */ `
      CREATE TABLE reports (
        id                INTEGER PRIMARY KEY,
        asset_id          TEXT    NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
        reporter_user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        reason            TEXT,
        created_at        INTEGER NOT NULL,
        UNIQUE (asset_id, reporter_user_id)
      ) STRICT;
      CREATE INDEX reports_by_asset ON reports (asset_id, created_at);
    `,
  },
  {
    version: 4,
    name: 'moderation: community settings, blocklists, bans, review posts, audit log',
    up: /* sql */ `
      -- One row per Discord server or Slack workspace that changed a setting; absent means the defaults.
      CREATE TABLE community_settings (
        platform             TEXT    NOT NULL,
        workspace_id         TEXT    NOT NULL,
        review_channel_id    TEXT,
        -- Who moderates besides Discord's Manage Messages and Slack's workspace admins: these users,
        -- and the members of this group (a Discord role, a Slack user group).
        moderator_user_ids   TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(moderator_user_ids)),
        moderator_group_id   TEXT,
        nsfw_policy          TEXT    NOT NULL DEFAULT 'spoiler' CHECK (nsfw_policy IN ('allow', 'spoiler', 'hold', 'block')),
        other_policy         TEXT    NOT NULL DEFAULT 'allow' CHECK (other_policy IN ('allow', 'spoiler', 'hold', 'block')),
        -- NULL: every model in the catalog.
        allowed_models       TEXT    CHECK (allowed_models IS NULL OR json_valid(allowed_models)),
        -- NULL: no cap.
        daily_cap            INTEGER CHECK (daily_cap IS NULL OR daily_cap > 0),
        updated_at           INTEGER NOT NULL,
        PRIMARY KEY (platform, workspace_id)
      ) STRICT;

      CREATE TABLE blocklist (
        platform     TEXT    NOT NULL,
        workspace_id TEXT    NOT NULL,
        -- As the moderator typed it (lower-cased): a word, a phrase, a word with * wildcards, or /regex/.
        pattern      TEXT    NOT NULL,
        added_by     TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        PRIMARY KEY (platform, workspace_id, pattern)
      ) STRICT;

      -- By platform user id: a member can be banned before they ever used the bot.
      CREATE TABLE bans (
        platform         TEXT    NOT NULL,
        workspace_id     TEXT    NOT NULL,
        platform_user_id TEXT    NOT NULL,
        banned_by        TEXT    NOT NULL,
        reason           TEXT,
        created_at       INTEGER NOT NULL,
        PRIMARY KEY (platform, workspace_id, platform_user_id)
      ) STRICT;

      -- Messages in a review channel: one per job for its outputs (posted or held), one per reported output.
      CREATE TABLE review_posts (
        id          INTEGER PRIMARY KEY,
        job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        asset_id    TEXT    REFERENCES assets (id) ON DELETE CASCADE,
        kind        TEXT    NOT NULL CHECK (kind IN ('output', 'report')),
        platform    TEXT    NOT NULL,
        channel_id  TEXT    NOT NULL,
        message_id  TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        -- Set when a moderator acted on it (approve, remove); the message then shows the outcome.
        closed_at   INTEGER,
        outcome     TEXT
      ) STRICT;
      -- One open message per job (outputs) or per output (reports); a decided one stays on record.
      CREATE UNIQUE INDEX review_posts_open ON review_posts (job_id, kind, coalesce(asset_id, '')) WHERE closed_at IS NULL;
      CREATE INDEX review_posts_by_job ON review_posts (job_id);

      -- A held job's outputs wait for a moderator: not posted, not in other members' galleries.
      ALTER TABLE jobs ADD COLUMN review_state TEXT CHECK (review_state IN ('held', 'approved', 'rejected'));
      ALTER TABLE assets ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1));
      -- Held results waiting for a moderator are few: the metrics count them without a scan.
      CREATE INDEX jobs_held ON jobs (review_state) WHERE review_state = 'held';

      CREATE TABLE mod_actions (
        id           INTEGER PRIMARY KEY,
        platform     TEXT    NOT NULL,
        workspace_id TEXT    NOT NULL,
        -- The moderator's platform user id, or 'policy' for what the settings did by themselves.
        actor        TEXT    NOT NULL,
        action       TEXT    NOT NULL,
        -- What it was done to: a user id, an asset id, a setting name, a pattern.
        target       TEXT,
        reason       TEXT,
        created_at   INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX mod_actions_recent ON mod_actions (platform, workspace_id, created_at DESC, id DESC);
      -- The daily cap counts a member's jobs in one community over the last day.
      CREATE INDEX jobs_workspace_user_created ON jobs (platform, workspace_id, user_id, created_at);
    `,
  },
];

export interface AppliedMigration {
  version: number;
  name: string;
  appliedAt: number;
}

export class MigrationError extends Error {
  readonly version: number;
  constructor(migration: Migration, cause: unknown) {
    super(`Migration ${migration.version} (${migration.name}) failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'MigrationError';
    this.version = migration.version;
  }
}

function checkOrder(migrations: readonly Migration[]): void {
  let previous = 0;
  for (const migration of migrations) {
    if (!Number.isSafeInteger(migration.version) || migration.version <= previous) {
      throw new Error(`Migration versions must be positive and strictly increasing (saw ${migration.version} after ${previous})`);
    }
    previous = migration.version;
  }
}

/**
 * Applies every migration not yet recorded, each in its own transaction together with its
 * `schema_migrations` row, so a failure leaves the earlier ones applied and none of the failed one.
 * Safe to run at every boot and from several processes at once: each transaction takes the write
 * lock first (BEGIN IMMEDIATE) and re-checks whether another process got there before it.
 * Returns the versions this call applied.
 */
export function applyMigrations(db: Database, migrations: readonly Migration[] = MIGRATIONS, now: () => number = Date.now): number[] {
  checkOrder(migrations);
  db.exec(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT    NOT NULL,
      applied_at INTEGER NOT NULL
    ) STRICT
  `);
  const isApplied = db.prepare<[number], { one: number }>('SELECT 1 AS one FROM schema_migrations WHERE version = ?');
  const record = db.prepare<[number, string, number]>('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');

  const applied: number[] = [];
  for (const migration of migrations) {
    // Cheap check outside the lock so an up-to-date database never takes the write lock at boot.
    if (isApplied.get(migration.version)) continue;
    const run = db.transaction(() => {
      if (isApplied.get(migration.version)) return false;
      if (typeof migration.up === 'string') db.exec(migration.up);
      else migration.up(db);
      record.run(migration.version, migration.name, now());
      return true;
    });
    try {
      if (run.immediate()) applied.push(migration.version);
    } catch (error) {
      throw new MigrationError(migration, error);
    }
  }
  return applied;
}

export function appliedMigrations(db: Database): AppliedMigration[] {
  return db
    .prepare<[], { version: number; name: string; applied_at: number }>(
      'SELECT version, name, applied_at FROM schema_migrations ORDER BY version',
    )
    .all()
    .map((row) => ({ version: row.version, name: row.name, appliedAt: row.applied_at }));
}
