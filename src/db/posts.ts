import type { Database, Statement } from 'better-sqlite3';
import { PLATFORMS, type Platform } from '../domain.js';
import { oneOf } from './mapping.js';

export type PostKind = 'result' | 'review';

/** A message the bot posted for a job: what removal takes down again. */
export interface Post {
  id: number;
  jobId: string;
  platform: Platform;
  channelId: string;
  messageId: string;
  kind: PostKind;
  createdAt: number;
  deletedAt: number | null;
}

export interface NewPost {
  platform: Platform;
  channelId: string;
  messageId: string;
  kind?: PostKind;
}

interface PostRow {
  id: number;
  job_id: string;
  platform: string;
  channel_id: string;
  message_id: string;
  kind: string;
  created_at: number;
  deleted_at: number | null;
}

const POST_COLUMNS = 'id, job_id, platform, channel_id, message_id, kind, created_at, deleted_at';

export function toPost(row: PostRow): Post {
  return {
    id: row.id,
    jobId: row.job_id,
    platform: oneOf(row.platform, PLATFORMS, 'posts.platform'),
    channelId: row.channel_id,
    messageId: row.message_id,
    kind: oneOf(row.kind, ['result', 'review'] as const, 'posts.kind'),
    createdAt: row.created_at,
    deletedAt: row.deleted_at,
  };
}

export class PostRepository {
  readonly #insert: Statement<[string, string, string, string, string, number]>;
  readonly #forJob: Statement<[string], PostRow>;
  readonly #markDeleted: Statement<[number, number]>;
  readonly #now: () => number;

  constructor(db: Database, now: () => number) {
    this.#now = now;
    // A redelivery may report the same message again: it is one post.
    this.#insert = db.prepare(
      'INSERT INTO posts (job_id, platform, channel_id, message_id, kind, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, channel_id, message_id) DO NOTHING',
    );
    this.#forJob = db.prepare(`SELECT ${POST_COLUMNS} FROM posts WHERE job_id = ? AND deleted_at IS NULL ORDER BY id`);
    this.#markDeleted = db.prepare('UPDATE posts SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL');
  }

  record(jobId: string, posts: readonly NewPost[]): void {
    const at = this.#now();
    for (const post of posts) this.#insert.run(jobId, post.platform, post.channelId, post.messageId, post.kind ?? 'result', at);
  }

  /** The job's posts still standing. */
  forJob(jobId: string): Post[] {
    return this.#forJob.all(jobId).map(toPost);
  }

  markDeleted(id: number, at: number): boolean {
    return this.#markDeleted.run(at, id).changes > 0;
  }
}
