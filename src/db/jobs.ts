import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { ACTIVE_JOB_STATUSES, ASSET_KINDS, JOB_STATUSES, PLATFORMS, type JobStatus } from '../domain.js';
import { columns, isRecord, oneOf, parseJson } from './mapping.js';
import { REVIEW_STATES, type CreateJobResult, type DailyCap, type FinishJob, type Job, type JobRow, type NewJob } from './types.js';

const JOB_COLUMNS = columns([
  'id', 'user_id', 'platform', 'workspace_id', 'channel_id', 'kind', 'model_id', 'prompt', 'params', 'status',
  'fal_request_id', 'error_code', 'error_message', 'reply', 'private', 'created_at', 'started_at', 'finished_at',
  'delivered_at', 'review_state',
]);

/** The active statuses as an SQL list; built from the domain constant so the two cannot drift. */
const ACTIVE_SQL = ACTIVE_JOB_STATUSES.map((status) => `'${status}'`).join(', ');
const FINAL_STATUSES = ['succeeded', 'failed', 'cancelled'] as const;

export function toJob(row: JobRow): Job {
  const params = parseJson(row.params, 'jobs.params');
  return {
    id: row.id,
    userId: row.user_id,
    platform: oneOf(row.platform, PLATFORMS, 'jobs.platform'),
    workspaceId: row.workspace_id,
    channelId: row.channel_id,
    kind: oneOf(row.kind, ASSET_KINDS, 'jobs.kind'),
    modelId: row.model_id,
    prompt: row.prompt,
    params: isRecord(params) ? params : {},
    status: oneOf(row.status, JOB_STATUSES, 'jobs.status'),
    falRequestId: row.fal_request_id,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    reply: row.reply === null ? null : parseJson(row.reply, 'jobs.reply'),
    private: row.private === 1,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    deliveredAt: row.delivered_at,
    reviewState: row.review_state === null ? null : oneOf(row.review_state, REVIEW_STATES, 'jobs.review_state'),
  };
}

interface InsertJobParams {
  id: string;
  user_id: number;
  platform: string;
  workspace_id: string;
  channel_id: string;
  kind: string;
  model_id: string;
  prompt: string;
  params: string;
  reply: string | null;
  private: number;
  created_at: number;
}

export class JobRepository {
  readonly #now: () => number;
  readonly #get;
  readonly #countActive;
  readonly #insert;
  readonly #markRunning;
  readonly #setFalRequestId;
  readonly #markSaving;
  readonly #finish;
  readonly #markDelivered;
  readonly #listActive;
  readonly #listRecent;
  readonly #countByStatus;
  readonly #createWithinLimit;
  readonly #countRecent;
  readonly #setReviewState;
  readonly #holdAssets;
  readonly #changeReviewState;
  readonly #countHeld;

  constructor(db: Database, now: () => number) {
    this.#now = now;
    this.#get = db.prepare<[string], JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`);
    this.#countActive = db
      .prepare<[number], number>(`SELECT count(*) FROM jobs WHERE user_id = ? AND status IN (${ACTIVE_SQL})`)
      .pluck();
    this.#insert = db.prepare<[InsertJobParams], JobRow>(`
      INSERT INTO jobs (id, user_id, platform, workspace_id, channel_id, kind, model_id, prompt, params, reply, private, created_at)
      VALUES (@id, @user_id, @platform, @workspace_id, @channel_id, @kind, @model_id, @prompt, @params, @reply, @private, @created_at)
      RETURNING ${JOB_COLUMNS}
    `);
    // A retried worker may mark running again (even from saving); started_at keeps the first start.
    this.#markRunning = db.prepare<[number, string]>(
      `UPDATE jobs SET status = 'running', started_at = coalesce(started_at, ?) WHERE id = ? AND status IN (${ACTIVE_SQL})`,
    );
    this.#setFalRequestId = db.prepare<[string, string]>(
      `UPDATE jobs SET fal_request_id = ? WHERE id = ? AND status IN (${ACTIVE_SQL})`,
    );
    this.#markSaving = db.prepare<[string]>(`UPDATE jobs SET status = 'saving' WHERE id = ? AND status IN (${ACTIVE_SQL})`);
    this.#finish = db.prepare<[string, string | null, string | null, number, string]>(`
      UPDATE jobs SET status = ?, error_code = ?, error_message = ?, finished_at = ?
      WHERE id = ? AND status IN (${ACTIVE_SQL})
    `);
    this.#markDelivered = db.prepare<[number, string]>(
      'UPDATE jobs SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL',
    );
    this.#listActive = db.prepare<[number], JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE user_id = ? AND status IN (${ACTIVE_SQL}) ORDER BY created_at, id`,
    );
    this.#listRecent = db.prepare<[number, number], JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
    );
    this.#countByStatus = db.prepare<[], { status: string; n: number }>(
      'SELECT status, count(*) AS n FROM jobs GROUP BY status',
    );
    // Failed jobs made nothing and do not count against a daily cap; cancelled ones may have.
    this.#countRecent = db.prepare<[string, string, number, number], { used: number; oldest: number | null }>(`
      SELECT count(*) AS used, min(created_at) AS oldest FROM jobs
      WHERE platform = ? AND workspace_id = ? AND user_id = ? AND created_at >= ? AND status != 'failed'
    `);
    this.#setReviewState = db.prepare<[string | null, string, string | null]>(
      'UPDATE jobs SET review_state = ? WHERE id = ? AND review_state IS ?',
    );
    this.#holdAssets = db.prepare<[number, string]>('UPDATE assets SET held = ? WHERE job_id = ?');
    this.#countHeld = db.prepare<[], number>("SELECT count(*) FROM jobs WHERE review_state = 'held'").pluck();
    this.#changeReviewState = db.transaction((id: string, from: Job['reviewState'], to: Job['reviewState']): boolean => {
      if (this.#setReviewState.run(to, id, from).changes === 0) return false;
      this.#holdAssets.run(to === 'held' ? 1 : 0, id);
      return true;
    });
    this.#createWithinLimit = db.transaction((job: InsertJobParams, maxActive: number, dailyCap: DailyCap | undefined): CreateJobResult => {
      const active = this.#countActive.get(job.user_id) ?? 0;
      if (active >= maxActive) return { ok: false, active };
      if (dailyCap) {
        const recent = this.#countRecent.get(job.platform, job.workspace_id, job.user_id, dailyCap.since);
        const used = recent?.used ?? 0;
        if (used >= dailyCap.max) return { ok: false, daily: { used, freesAt: (recent?.oldest ?? job.created_at) + 24 * 3600_000 } };
      }
      const row = this.#insert.get(job);
      if (!row) throw new Error('insert returned no row');
      return { ok: true, job: toJob(row) };
    });
  }

  /**
   * Inserts the job only if the user has fewer than `maxActive` queued/running/saving jobs. The count
   * and the insert run under one BEGIN IMMEDIATE, which takes SQLite's single write lock before
   * counting, so processes sharing the file serialise here and cannot both squeeze past the limit.
   */
  createJobWithinLimit(newJob: NewJob, maxActive: number, dailyCap?: DailyCap): CreateJobResult {
    const reply = newJob.reply === undefined || newJob.reply === null ? null : JSON.stringify(newJob.reply);
    return this.#createWithinLimit.immediate(
      {
        id: newJob.id ?? randomUUID(),
        user_id: newJob.userId,
        platform: newJob.platform,
        workspace_id: newJob.workspaceId,
        channel_id: newJob.channelId,
        kind: newJob.kind,
        model_id: newJob.modelId,
        prompt: newJob.prompt,
        params: JSON.stringify(newJob.params),
        reply,
        private: newJob.private ? 1 : 0,
        created_at: newJob.createdAt ?? this.#now(),
      },
      maxActive,
      dailyCap,
    );
  }

  getJob(id: string): Job | undefined {
    const row = this.#get.get(id);
    return row && toJob(row);
  }

  /** False when the job is unknown or already final. */
  markRunning(id: string, at: number): boolean {
    return this.#markRunning.run(at, id).changes > 0;
  }

  setFalRequestId(id: string, falRequestId: string): boolean {
    return this.#setFalRequestId.run(falRequestId, id).changes > 0;
  }

  markSaving(id: string): boolean {
    return this.#markSaving.run(id).changes > 0;
  }

  /**
   * Moves an active job to a final status. A job that is already final keeps its first outcome (a
   * late "failed" must not overwrite "cancelled", nor a retry's success a recorded failure); the
   * return value says whether this call was the one that finished it.
   */
  finishJob(id: string, outcome: FinishJob): boolean {
    if (!(FINAL_STATUSES as readonly string[]).includes(outcome.status)) {
      throw new RangeError(`finishJob needs a final status, not ${outcome.status}`);
    }
    return (
      this.#finish.run(outcome.status, outcome.errorCode ?? null, outcome.errorMessage ?? null, outcome.at, id).changes > 0
    );
  }

  /** True only for the first call per job: whoever gets true delivers the result, everyone else skips. */
  markDelivered(id: string, at: number): boolean {
    return this.#markDelivered.run(at, id).changes > 0;
  }

  /**
   * Moves a job's review state from `from` to `to` (and its outputs in or out of the held set) in one
   * transaction. False when the job was not in `from`: of two moderators deciding at once, one wins.
   */
  changeReviewState(id: string, from: Job['reviewState'], to: Job['reviewState']): boolean {
    return this.#changeReviewState.immediate(id, from, to);
  }

  /** Results waiting for a moderator, across communities. */
  countHeld(): number {
    return this.#countHeld.get() ?? 0;
  }

  /** Oldest first. */
  listActiveJobs(userId: number): Job[] {
    return this.#listActive.all(userId).map(toJob);
  }

  /** Newest first. */
  listRecentJobs(userId: number, limit: number): Job[] {
    return this.#listRecent.all(userId, Math.max(1, Math.min(Math.trunc(limit), 100))).map(toJob);
  }

  countJobsByStatus(): Record<JobStatus, number> {
    const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
    for (const { status, n } of this.#countByStatus.all()) {
      counts[oneOf(status, JOB_STATUSES, 'jobs.status')] = n;
    }
    return counts;
  }
}
