import { randomBytes, randomUUID } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { ASSET_KINDS, VISIBILITIES, type AssetKind } from '../domain.js';
import { columns, oneOf } from './mapping.js';
import type { Asset, AssetRow, GalleryPage, GalleryQuery, NewAsset, RemoveAsset } from './types.js';

const ASSET_COLUMN_NAMES = [
  'id', 'job_id', 'owner_user_id', 'position', 'kind', 'storage_driver', 'storage_key', 'content_type', 'bytes',
  'sha256', 'width', 'height', 'duration_seconds', 'seed', 'inference_ms', 'nsfw', 'share_id', 'visibility',
  'poster_storage_key', 'model_id', 'prompt', 'created_at', 'removed_at', 'removed_by', 'removed_reason', 'held',
] as const;
const ASSET_COLUMNS = columns(ASSET_COLUMN_NAMES);

export const GALLERY_MAX_LIMIT = 100;
/** Bounds the FTS query a user can build, whatever they paste into the search box. */
const MAX_SEARCH_TERMS = 16;
const MAX_TERM_LENGTH = 64;

export function toAsset(row: AssetRow): Asset {
  return {
    id: row.id,
    jobId: row.job_id,
    ownerUserId: row.owner_user_id,
    position: row.position,
    kind: oneOf(row.kind, ASSET_KINDS, 'assets.kind'),
    storageDriver: row.storage_driver,
    storageKey: row.storage_key,
    contentType: row.content_type,
    bytes: row.bytes,
    sha256: row.sha256,
    width: row.width,
    height: row.height,
    durationSeconds: row.duration_seconds,
    seed: row.seed,
    inferenceMs: row.inference_ms,
    nsfw: row.nsfw === 1,
    shareId: row.share_id,
    visibility: oneOf(row.visibility, VISIBILITIES, 'assets.visibility'),
    posterStorageKey: row.poster_storage_key,
    modelId: row.model_id,
    prompt: row.prompt,
    createdAt: row.created_at,
    removedAt: row.removed_at,
    removedBy: row.removed_by,
    removedReason: row.removed_reason,
    held: row.held === 1,
  };
}

/** 128 random bits, base64url without padding: 22 characters, safe in URLs and unguessable. */
export function newShareId(): string {
  return randomBytes(16).toString('base64url');
}

/** Thrown by `gallery` for a cursor it did not issue (tampered, truncated); the HTTP layer answers 400. */
export class InvalidCursorError extends RangeError {
  constructor() {
    super('Invalid gallery cursor');
    this.name = 'InvalidCursorError';
  }
}

interface CursorPosition {
  createdAt: number;
  id: string;
}

/**
 * `<created_at in 9 base-36 digits>-<id>`: short enough to ride in a chat button's custom id (Discord allows 100
 * characters, and the id also carries the filters).
 */
function encodeCursor(position: CursorPosition): string {
  return `${position.createdAt.toString(36).padStart(9, '0')}-${position.id}`;
}

function decodeCursor(cursor: string): CursorPosition {
  const match = /^([0-9a-z]{9})-([A-Za-z0-9_-]{8,64})$/.exec(cursor);
  if (!match?.[1] || !match[2]) throw new InvalidCursorError();
  const createdAt = Number.parseInt(match[1], 36);
  if (!Number.isSafeInteger(createdAt)) throw new InvalidCursorError();
  return { createdAt, id: match[2] };
}

/**
 * Turns free text into an FTS5 query that cannot be a syntax error: only runs of letters, digits and
 * combining marks survive, each wrapped in double quotes (so `OR`, `NEAR`, `-`, `*`, `:`, `^` and
 * parentheses are never operators), joined by implicit AND. Undefined when nothing searchable is left.
 */
export function toFtsTerms(text: string): string | undefined {
  const words = text.normalize('NFKC').match(/[\p{L}\p{N}\p{M}]+/gu);
  if (!words) return undefined;
  return words
    .slice(0, MAX_SEARCH_TERMS)
    .map((word) => `"${word.slice(0, MAX_TERM_LENGTH)}"`)
    .join(' ');
}

interface GalleryParams {
  owner: number;
  limit: number;
  cursorAt?: number;
  cursorId?: string;
  modelId?: string;
  kind?: AssetKind;
  match?: string;
}

interface JobForAssets {
  user_id: number;
  model_id: string;
  prompt: string;
  private: number;
}

interface InsertAssetParams {
  id: string;
  job_id: string;
  owner_user_id: number;
  position: number;
  kind: string;
  storage_driver: string;
  storage_key: string;
  content_type: string;
  bytes: number;
  sha256: string;
  width: number | null;
  height: number | null;
  duration_seconds: number | null;
  seed: number | null;
  inference_ms: number | null;
  nsfw: number;
  share_id: string;
  visibility: string;
  poster_storage_key: string | null;
  model_id: string;
  prompt: string;
  created_at: number;
}

export class AssetRepository {
  readonly #db: Database;
  readonly #now: () => number;
  readonly #get;
  readonly #byShareId;
  readonly #byJob;
  readonly #jobForAssets;
  readonly #insert;
  readonly #remove;
  readonly #record;
  /** One prepared statement per filter combination, so each shape gets its own best plan. */
  readonly #galleryStatements = new Map<string, Statement<[GalleryParams], AssetRow>>();

  constructor(db: Database, now: () => number) {
    this.#db = db;
    this.#now = now;
    this.#get = db.prepare<[string], AssetRow>(`SELECT ${ASSET_COLUMNS} FROM assets WHERE id = ?`);
    this.#byShareId = db.prepare<[string], AssetRow>(`SELECT ${ASSET_COLUMNS} FROM assets WHERE share_id = ?`);
    this.#byJob = db.prepare<[string], AssetRow>(`SELECT ${ASSET_COLUMNS} FROM assets WHERE job_id = ? ORDER BY position`);
    this.#jobForAssets = db.prepare<[string], JobForAssets>('SELECT user_id, model_id, prompt, private FROM jobs WHERE id = ?');
    // Idempotent per output: a replayed save keeps the first row and, with it, the share id already handed out.
    this.#insert = db.prepare<[InsertAssetParams]>(`
      INSERT INTO assets (${ASSET_COLUMN_NAMES.filter((name) => !name.startsWith('removed_') && name !== 'held').join(', ')})
      VALUES (@id, @job_id, @owner_user_id, @position, @kind, @storage_driver, @storage_key, @content_type, @bytes,
              @sha256, @width, @height, @duration_seconds, @seed, @inference_ms, @nsfw, @share_id, @visibility,
              @poster_storage_key, @model_id, @prompt, @created_at)
      ON CONFLICT (job_id, position) DO NOTHING
    `);
    // The first removal wins: a second one neither moves the date nor replaces who did it or why.
    this.#remove = db.prepare<[number, string, string | null, string]>(
      'UPDATE assets SET removed_at = ?, removed_by = ?, removed_reason = ? WHERE id = ? AND removed_at IS NULL',
    );
    this.#record = db.transaction((jobId: string, assets: readonly NewAsset[]): Asset[] => {
      const job = this.#jobForAssets.get(jobId);
      if (!job) throw new Error(`recordAssets: no job ${jobId}`);
      const positions = assets.map((asset, index) => asset.position ?? index);
      if (new Set(positions).size !== positions.length) throw new RangeError('recordAssets: duplicate positions');
      const createdAt = this.#now();
      assets.forEach((asset, index) => {
        this.#insert.run({
          id: asset.id ?? randomUUID(),
          job_id: jobId,
          owner_user_id: job.user_id,
          position: positions[index] ?? index,
          kind: asset.kind,
          storage_driver: asset.storageDriver,
          storage_key: asset.storageKey,
          content_type: asset.contentType,
          bytes: asset.bytes,
          sha256: asset.sha256,
          width: asset.width ?? null,
          height: asset.height ?? null,
          duration_seconds: asset.durationSeconds ?? null,
          seed: asset.seed ?? null,
          inference_ms: asset.inferenceMs ?? null,
          nsfw: asset.nsfw ? 1 : 0,
          // A collision of 128 random bits is not a case worth code: the UNIQUE constraint would refuse it.
          share_id: newShareId(),
          visibility: asset.visibility ?? (job.private ? 'private' : 'public'),
          poster_storage_key: asset.posterStorageKey ?? null,
          model_id: job.model_id,
          prompt: job.prompt,
          created_at: asset.createdAt ?? createdAt,
        });
      });
      const stored = new Map(this.#byJob.all(jobId).map((row) => [row.position, row]));
      return positions.map((position) => {
        const row = stored.get(position);
        if (!row) throw new Error(`recordAssets: position ${position} was not stored`);
        return toAsset(row);
      });
    });
  }

  /**
   * Stores a job's outputs (owner, model and prompt copied from the job) and returns them in the order
   * given. Replaying the same job/positions stores nothing new and returns the rows from the first call.
   */
  recordAssets(jobId: string, assets: readonly NewAsset[]): Asset[] {
    return this.#record.immediate(jobId, assets);
  }

  getAsset(id: string): Asset | undefined {
    const row = this.#get.get(id);
    return row && toAsset(row);
  }

  /** Includes removed assets (check `removedAt`) so the HTTP layer can answer 410 rather than 404. */
  getAssetByShareId(shareId: string): Asset | undefined {
    const row = this.#byShareId.get(shareId);
    return row && toAsset(row);
  }

  /** All of a job's outputs, removed ones included, by position. */
  listJobAssets(jobId: string): Asset[] {
    return this.#byJob.all(jobId).map(toAsset);
  }

  /**
   * A page of the owner's live assets, newest first. Pages by keyset on (created_at, id) from an opaque
   * cursor, so a deep page costs the same as the first and rows added meanwhile never shift a page.
   */
  gallery(ownerUserId: number, query: GalleryQuery): GalleryPage {
    const prepared = this.#prepareGallery(ownerUserId, query);
    if (!prepared) return { items: [] };
    const { statement, params } = prepared;
    const rows = statement.all(params);
    const items = rows.slice(0, params.limit - 1).map(toAsset);
    const last = items.at(-1);
    return rows.length >= params.limit && last ? { items, nextCursor: encodeCursor(last) } : { items };
  }

  /** The EXPLAIN QUERY PLAN lines of the statement `gallery` would run; for tests and the bench. */
  explainGallery(ownerUserId: number, query: GalleryQuery): string[] {
    const prepared = this.#prepareGallery(ownerUserId, query);
    if (!prepared) return [];
    return this.#db
      .prepare<[GalleryParams], { detail: string }>(`EXPLAIN QUERY PLAN ${prepared.statement.source}`)
      .all(prepared.params)
      .map((row) => row.detail);
  }

  #prepareGallery(
    ownerUserId: number,
    query: GalleryQuery,
  ): { statement: Statement<[GalleryParams], AssetRow>; params: GalleryParams } | undefined {
    // One extra row tells whether a next page exists without a count.
    const limit = Math.max(1, Math.min(Math.trunc(query.limit) || 1, GALLERY_MAX_LIMIT)) + 1;
    const params: GalleryParams = { owner: ownerUserId, limit };
    const where = ['owner_user_id = @owner', 'removed_at IS NULL'];
    if (query.cursor !== undefined) {
      const cursor = decodeCursor(query.cursor);
      params.cursorAt = cursor.createdAt;
      params.cursorId = cursor.id;
      where.push('(created_at, id) < (@cursorAt, @cursorId)');
    }
    if (query.modelId !== undefined) {
      params.modelId = query.modelId;
      where.push('model_id = @modelId');
    }
    if (query.kind !== undefined) {
      params.kind = query.kind;
      where.push('kind = @kind');
    }
    // Outputs waiting for a moderator are their owner's alone until approved.
    if (query.publicOnly) where.push("visibility = 'public'", 'held = 0');
    if (query.search !== undefined && query.search.trim() !== '') {
      const terms = toFtsTerms(query.search);
      // Text with no letters or digits cannot match any prompt.
      if (terms === undefined) return undefined;
      // The owner is a token in the FTS index too: FTS intersects the owner's short list with the
      // terms' lists, instead of returning every matching prompt in the database.
      params.match = `owner_user_id : "${ownerUserId}" AND prompt : (${terms})`;
      where.push('rowid IN (SELECT rowid FROM assets_fts WHERE assets_fts MATCH @match)');
    }
    // Pinned to the gallery index: walking it in order stops after `limit` hits and never sorts. Left
    // to itself, the planner drives a search from the FTS rowids and sorts them all, which for a heavy
    // owner and a common word costs ~10x more (see bench/gallery.ts); the walk's worst case is one
    // owner's index entries, checked against the FTS list without touching the table.
    const sql =
      `SELECT ${ASSET_COLUMNS} FROM assets INDEXED BY assets_gallery WHERE ${where.join(' AND ')} ` +
      'ORDER BY created_at DESC, id DESC LIMIT @limit';
    let statement = this.#galleryStatements.get(sql);
    if (!statement) {
      statement = this.#db.prepare<[GalleryParams], AssetRow>(sql);
      this.#galleryStatements.set(sql, statement);
    }
    return { statement, params };
  }

  /**
   * Hides the asset from galleries; the row and its file stay (for 410 answers and audits). Removing
   * an already removed asset keeps the first removal. Undefined when there is no such asset.
   */
  removeAsset(id: string, removal: RemoveAsset): Asset | undefined {
    this.#remove.run(removal.at, removal.by, removal.reason ?? null, id);
    return this.getAsset(id);
  }
}
