import type { Database, Statement } from 'better-sqlite3';
import { OUTPUT_POLICIES, PLATFORMS, type CommunityRef, type OutputPolicy, type Platform } from '../domain.js';
import { oneOf, parseJson } from './mapping.js';

/** A community's moderation settings; a community that never changed one has the defaults. */
export interface CommunitySettings extends CommunityRef {
  reviewChannelId: string | null;
  /** Members who moderate besides those the platform empowers (Discord's Manage Messages, Slack's admins). */
  moderatorUserIds: string[];
  /** A Discord role or a Slack user group whose members moderate. */
  moderatorGroupId: string | null;
  /** For outputs fal flags (`has_nsfw_concepts`). */
  nsfwPolicy: OutputPolicy;
  /** For every other output. */
  otherPolicy: OutputPolicy;
  /** Catalog ids; null: every model. */
  allowedModels: string[] | null;
  /** Generations per member per rolling day; null: no cap. */
  dailyCap: number | null;
  /** Null until a moderator changed something. */
  updatedAt: number | null;
}

export type SettingsPatch = Partial<Omit<CommunitySettings, 'platform' | 'workspaceId' | 'updatedAt'>>;

export const DEFAULT_SETTINGS: Omit<CommunitySettings, 'platform' | 'workspaceId'> = {
  reviewChannelId: null,
  moderatorUserIds: [],
  moderatorGroupId: null,
  nsfwPolicy: 'spoiler',
  otherPolicy: 'allow',
  allowedModels: null,
  dailyCap: null,
  updatedAt: null,
};

export interface BlockedPattern {
  pattern: string;
  addedBy: string;
  createdAt: number;
}

export interface Ban {
  platformUserId: string;
  bannedBy: string;
  reason: string | null;
  createdAt: number;
}

/** One line of the audit log. */
export interface ModAction extends CommunityRef {
  id: number;
  /** The moderator's platform user id, or `policy` for what the settings did by themselves. */
  actor: string;
  action: string;
  target: string | null;
  reason: string | null;
  createdAt: number;
}

export type NewModAction = Omit<ModAction, 'id' | 'createdAt'> & { createdAt?: number };

export type ReviewPostKind = 'output' | 'report';

/** A message in a review channel. */
export interface ReviewPost {
  id: number;
  jobId: string;
  /** The reported output (report posts only). */
  assetId: string | null;
  kind: ReviewPostKind;
  platform: Platform;
  channelId: string;
  messageId: string;
  createdAt: number;
  closedAt: number | null;
  outcome: string | null;
}

interface SettingsRow {
  platform: string;
  workspace_id: string;
  review_channel_id: string | null;
  moderator_user_ids: string;
  moderator_group_id: string | null;
  nsfw_policy: string;
  other_policy: string;
  allowed_models: string | null;
  daily_cap: number | null;
  updated_at: number;
}

interface ReviewPostRow {
  id: number;
  job_id: string;
  asset_id: string | null;
  kind: string;
  platform: string;
  channel_id: string;
  message_id: string;
  created_at: number;
  closed_at: number | null;
  outcome: string | null;
}

interface ModActionRow {
  id: number;
  platform: string;
  workspace_id: string;
  actor: string;
  action: string;
  target: string | null;
  reason: string | null;
  created_at: number;
}

const stringList = (text: string, column: string): string[] => {
  const parsed = parseJson(text, column);
  return Array.isArray(parsed) ? parsed.filter((item): item is string => typeof item === 'string') : [];
};

function toSettings(row: SettingsRow): CommunitySettings {
  return {
    platform: oneOf(row.platform, PLATFORMS, 'community_settings.platform'),
    workspaceId: row.workspace_id,
    reviewChannelId: row.review_channel_id,
    moderatorUserIds: stringList(row.moderator_user_ids, 'community_settings.moderator_user_ids'),
    moderatorGroupId: row.moderator_group_id,
    nsfwPolicy: oneOf(row.nsfw_policy, OUTPUT_POLICIES, 'community_settings.nsfw_policy'),
    otherPolicy: oneOf(row.other_policy, OUTPUT_POLICIES, 'community_settings.other_policy'),
    allowedModels: row.allowed_models === null ? null : stringList(row.allowed_models, 'community_settings.allowed_models'),
    dailyCap: row.daily_cap,
    updatedAt: row.updated_at,
  };
}

const toReviewPost = (row: ReviewPostRow): ReviewPost => ({
  id: row.id,
  jobId: row.job_id,
  assetId: row.asset_id,
  kind: oneOf(row.kind, ['output', 'report'] as const, 'review_posts.kind'),
  platform: oneOf(row.platform, PLATFORMS, 'review_posts.platform'),
  channelId: row.channel_id,
  messageId: row.message_id,
  createdAt: row.created_at,
  closedAt: row.closed_at,
  outcome: row.outcome,
});

const toModAction = (row: ModActionRow): ModAction => ({
  id: row.id,
  platform: oneOf(row.platform, PLATFORMS, 'mod_actions.platform'),
  workspaceId: row.workspace_id,
  actor: row.actor,
  action: row.action,
  target: row.target,
  reason: row.reason,
  createdAt: row.created_at,
});

const SETTINGS_COLUMNS =
  'platform, workspace_id, review_channel_id, moderator_user_ids, moderator_group_id, nsfw_policy, other_policy, allowed_models, daily_cap, updated_at';
const REVIEW_POST_COLUMNS = 'id, job_id, asset_id, kind, platform, channel_id, message_id, created_at, closed_at, outcome';

/** Settings, blocklists, bans, review messages and the audit log of every community. */
export class ModerationRepository {
  readonly #now: () => number;
  readonly #getSettings: Statement<[string, string], SettingsRow>;
  readonly #putSettings: Statement<[Record<string, unknown>], SettingsRow>;
  readonly #patterns: Statement<[string, string], { pattern: string; added_by: string; created_at: number }>;
  readonly #addPattern: Statement<[string, string, string, string, number]>;
  readonly #removePattern: Statement<[string, string, string]>;
  readonly #getBan: Statement<[string, string, string], { platform_user_id: string; banned_by: string; reason: string | null; created_at: number }>;
  readonly #addBan: Statement<[string, string, string, string, string | null, number]>;
  readonly #removeBan: Statement<[string, string, string]>;
  readonly #log: Statement<[string, string, string, string, string | null, string | null, number]>;
  readonly #recent: Statement<[string, string, number], ModActionRow>;
  readonly #addReviewPost: Statement<[string, string | null, string, string, string, string, number], ReviewPostRow>;
  readonly #findReviewPost: Statement<[string, string, string], ReviewPostRow>;
  readonly #reviewPostsOfJob: Statement<[string], ReviewPostRow>;
  readonly #closeReviewPost: Statement<[number, string, number]>;

  constructor(db: Database, now: () => number) {
    this.#now = now;
    this.#getSettings = db.prepare(`SELECT ${SETTINGS_COLUMNS} FROM community_settings WHERE platform = ? AND workspace_id = ?`);
    this.#putSettings = db.prepare(`
      INSERT INTO community_settings (${SETTINGS_COLUMNS})
      VALUES (@platform, @workspace_id, @review_channel_id, @moderator_user_ids, @moderator_group_id,
              @nsfw_policy, @other_policy, @allowed_models, @daily_cap, @updated_at)
      ON CONFLICT (platform, workspace_id) DO UPDATE SET
        review_channel_id = excluded.review_channel_id,
        moderator_user_ids = excluded.moderator_user_ids, moderator_group_id = excluded.moderator_group_id,
        nsfw_policy = excluded.nsfw_policy, other_policy = excluded.other_policy,
        allowed_models = excluded.allowed_models, daily_cap = excluded.daily_cap, updated_at = excluded.updated_at
      RETURNING ${SETTINGS_COLUMNS}
    `);
    this.#patterns = db.prepare('SELECT pattern, added_by, created_at FROM blocklist WHERE platform = ? AND workspace_id = ? ORDER BY pattern');
    this.#addPattern = db.prepare(
      'INSERT INTO blocklist (platform, workspace_id, pattern, added_by, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    );
    this.#removePattern = db.prepare('DELETE FROM blocklist WHERE platform = ? AND workspace_id = ? AND pattern = ?');
    this.#getBan = db.prepare(
      'SELECT platform_user_id, banned_by, reason, created_at FROM bans WHERE platform = ? AND workspace_id = ? AND platform_user_id = ?',
    );
    this.#addBan = db.prepare(
      'INSERT INTO bans (platform, workspace_id, platform_user_id, banned_by, reason, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    );
    this.#removeBan = db.prepare('DELETE FROM bans WHERE platform = ? AND workspace_id = ? AND platform_user_id = ?');
    this.#log = db.prepare(
      'INSERT INTO mod_actions (platform, workspace_id, actor, action, target, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.#recent = db.prepare(`
      SELECT id, platform, workspace_id, actor, action, target, reason, created_at FROM mod_actions
      WHERE platform = ? AND workspace_id = ? ORDER BY created_at DESC, id DESC LIMIT ?
    `);
    this.#addReviewPost = db.prepare(`
      INSERT INTO review_posts (job_id, asset_id, kind, platform, channel_id, message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
      RETURNING ${REVIEW_POST_COLUMNS}
    `);
    // The open one first, else the latest.
    this.#findReviewPost = db.prepare(
      `SELECT ${REVIEW_POST_COLUMNS} FROM review_posts WHERE job_id = ? AND kind = ? AND coalesce(asset_id, '') = ?
       ORDER BY closed_at IS NOT NULL, id DESC LIMIT 1`,
    );
    this.#reviewPostsOfJob = db.prepare(`SELECT ${REVIEW_POST_COLUMNS} FROM review_posts WHERE job_id = ? ORDER BY id`);
    this.#closeReviewPost = db.prepare('UPDATE review_posts SET closed_at = ?, outcome = ? WHERE id = ?');
  }

  settings(community: CommunityRef): CommunitySettings {
    const row = this.#getSettings.get(community.platform, community.workspaceId);
    return row ? toSettings(row) : { ...community, ...DEFAULT_SETTINGS };
  }

  updateSettings(community: CommunityRef, patch: SettingsPatch): CommunitySettings {
    const next = { ...this.settings(community), ...patch };
    const row = this.#putSettings.get({
      platform: community.platform,
      workspace_id: community.workspaceId,
      review_channel_id: next.reviewChannelId,
      moderator_user_ids: JSON.stringify(next.moderatorUserIds),
      moderator_group_id: next.moderatorGroupId,
      nsfw_policy: next.nsfwPolicy,
      other_policy: next.otherPolicy,
      allowed_models: next.allowedModels === null ? null : JSON.stringify(next.allowedModels),
      daily_cap: next.dailyCap,
      updated_at: this.#now(),
    });
    if (!row) throw new Error('settings upsert returned no row');
    return toSettings(row);
  }

  blocklist(community: CommunityRef): BlockedPattern[] {
    return this.#patterns
      .all(community.platform, community.workspaceId)
      .map((row) => ({ pattern: row.pattern, addedBy: row.added_by, createdAt: row.created_at }));
  }

  /** False when the pattern was on the list already. */
  addPattern(community: CommunityRef, pattern: string, addedBy: string): boolean {
    return this.#addPattern.run(community.platform, community.workspaceId, pattern, addedBy, this.#now()).changes > 0;
  }

  /** False when the pattern was not on the list. */
  removePattern(community: CommunityRef, pattern: string): boolean {
    return this.#removePattern.run(community.platform, community.workspaceId, pattern).changes > 0;
  }

  ban(community: CommunityRef, platformUserId: string): Ban | undefined {
    const row = this.#getBan.get(community.platform, community.workspaceId, platformUserId);
    return row && { platformUserId: row.platform_user_id, bannedBy: row.banned_by, reason: row.reason, createdAt: row.created_at };
  }

  /** False when the member was banned already. */
  addBan(community: CommunityRef, platformUserId: string, bannedBy: string, reason: string | null): boolean {
    return this.#addBan.run(community.platform, community.workspaceId, platformUserId, bannedBy, reason, this.#now()).changes > 0;
  }

  /** False when the member was not banned. */
  removeBan(community: CommunityRef, platformUserId: string): boolean {
    return this.#removeBan.run(community.platform, community.workspaceId, platformUserId).changes > 0;
  }

  log(action: NewModAction): void {
    this.#log.run(action.platform, action.workspaceId, action.actor, action.action, action.target, action.reason, action.createdAt ?? this.#now());
  }

  /** Newest first. */
  recentActions(community: CommunityRef, limit: number): ModAction[] {
    return this.#recent.all(community.platform, community.workspaceId, Math.max(1, Math.min(Math.trunc(limit), 100))).map(toModAction);
  }

  recordReviewPost(post: Omit<ReviewPost, 'id' | 'createdAt' | 'closedAt' | 'outcome'>): ReviewPost {
    const row = this.#addReviewPost.get(post.jobId, post.assetId, post.kind, post.platform, post.channelId, post.messageId, this.#now());
    if (!row) throw new Error('review post insert returned no row');
    return toReviewPost(row);
  }

  /** The open message of this kind for the job (or output), else the latest decided one. */
  findReviewPost(jobId: string, kind: ReviewPostKind, assetId: string | null = null): ReviewPost | undefined {
    const row = this.#findReviewPost.get(jobId, kind, assetId ?? '');
    return row && toReviewPost(row);
  }

  reviewPostsOfJob(jobId: string): ReviewPost[] {
    return this.#reviewPostsOfJob.all(jobId).map(toReviewPost);
  }

  closeReviewPost(id: number, outcome: string): void {
    this.#closeReviewPost.run(this.#now(), outcome, id);
  }
}
