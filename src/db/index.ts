import type { Database } from 'better-sqlite3';
import { AssetRepository } from './assets.js';
import { JobRepository } from './jobs.js';
import { FalKeyRepository } from './keys.js';
import { PostRepository } from './posts.js';
import { ModerationRepository } from './moderation.js';
import { ReportRepository } from './reports.js';
import { UserRepository } from './users.js';

export { openDatabase, type Database, type OpenDatabaseOptions } from './database.js';
export { applyMigrations, appliedMigrations, MIGRATIONS, MigrationError, type AppliedMigration, type Migration } from './migrations.js';
export { UserRepository, toUser } from './users.js';
export { FalKeyRepository, toFalKey } from './keys.js';
export { JobRepository, toJob } from './jobs.js';
export { ReportRepository, type Report } from './reports.js';
export {
  DEFAULT_SETTINGS,
  ModerationRepository,
  type Ban,
  type BlockedPattern,
  type CommunitySettings,
  type ModAction,
  type NewModAction,
  type ReviewPost,
  type ReviewPostKind,
  type SettingsPatch,
} from './moderation.js';
export { PostRepository, toPost, type NewPost, type Post, type PostKind } from './posts.js';
export { AssetRepository, GALLERY_MAX_LIMIT, InvalidCursorError, newShareId, toAsset, toFtsTerms } from './assets.js';
export type * from './types.js';

export interface Repositories {
  users: UserRepository;
  keys: FalKeyRepository;
  jobs: JobRepository;
  assets: AssetRepository;
  posts: PostRepository;
  reports: ReportRepository;
  moderation: ModerationRepository;
}

export interface RepositoryOptions {
  /** The clock for default creation times; tests pass a fixed one. */
  now?: () => number;
}

/** Prepares every statement once for this connection; keep the result for the life of the connection. */
export function createRepositories(db: Database, options: RepositoryOptions = {}): Repositories {
  const now = options.now ?? Date.now;
  return {
    users: new UserRepository(db, now),
    keys: new FalKeyRepository(db, now),
    jobs: new JobRepository(db, now),
    assets: new AssetRepository(db, now),
    posts: new PostRepository(db, now),
    reports: new ReportRepository(db, now),
    moderation: new ModerationRepository(db, now),
  };
}
