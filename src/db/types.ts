import type { AssetKind, JobStatus, Platform, UserRef, Visibility } from '../domain.js';

/**
 * Domain objects returned by the repositories (camelCase, booleans as booleans, JSON parsed) and the
 * raw rows they are mapped from (snake_case, exactly as SQLite returns them). Nullable columns are
 * `T | null` rather than optional, so a reader cannot confuse "not loaded" with "not set".
 */

// ── users ────────────────────────────────────────────────────────────────────────────────────────

export interface User extends UserRef {
  id: number;
  displayName: string | null;
  createdAt: number;
}

export interface UserRow {
  id: number;
  platform: string;
  workspace_id: string;
  platform_user_id: string;
  display_name: string | null;
  created_at: number;
}

// ── fal keys ─────────────────────────────────────────────────────────────────────────────────────

export interface FalKey {
  userId: number;
  /** Exactly the bytes the caller stored: the key encrypted by src/crypto, never the clear key. */
  ciphertext: Buffer;
  /** A recognisable tail for display, such as `…a1b2`. */
  hint: string;
  createdAt: number;
  validatedAt: number | null;
  lastUsedAt: number | null;
}

export interface NewFalKey {
  ciphertext: Buffer;
  hint: string;
  validatedAt: number | null;
  /** When the key was set; defaults to the repositories' clock. */
  createdAt?: number;
}

export interface FalKeyRow {
  user_id: number;
  ciphertext: Buffer;
  hint: string;
  created_at: number;
  validated_at: number | null;
  last_used_at: number | null;
}

// ── jobs ─────────────────────────────────────────────────────────────────────────────────────────

export type FinalJobStatus = Extract<JobStatus, 'succeeded' | 'failed' | 'cancelled'>;

export interface Job {
  id: string;
  userId: number;
  platform: Platform;
  /** Guild or team; '' for DMs. */
  workspaceId: string;
  channelId: string;
  kind: AssetKind;
  modelId: string;
  prompt: string;
  /** The validated model input, as stored. */
  params: Record<string, unknown>;
  status: JobStatus;
  falRequestId: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  /** Opaque adapter routing data (interaction token, message ids…); the adapter validates it. */
  reply: unknown;
  private: boolean;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  deliveredAt: number | null;
  /** Set when the community's policy held the result for review, and after a moderator decided. */
  reviewState: ReviewState | null;
}

export const REVIEW_STATES = ['held', 'approved', 'rejected'] as const;
export type ReviewState = (typeof REVIEW_STATES)[number];

export interface NewJob {
  /** Defaults to a random UUID. */
  id?: string;
  userId: number;
  platform: Platform;
  workspaceId: string;
  channelId: string;
  kind: AssetKind;
  modelId: string;
  prompt: string;
  params: Record<string, unknown>;
  /** JSON-serialisable; null or absent when the adapter needs nothing to reply. */
  reply?: unknown;
  private?: boolean;
  /** Defaults to the repositories' clock. */
  createdAt?: number;
}

export type CreateJobResult =
  | { ok: true; job: Job }
  | { ok: false; active: number }
  /** The community's daily cap: `used` jobs in the window; the oldest of them leaves it at `freesAt`. */
  | { ok: false; daily: { used: number; freesAt: number } };

/** A community's cap on one member's generations per rolling day. */
export interface DailyCap {
  max: number;
  /** The start of the window (now minus a day). */
  since: number;
}

export interface FinishJob {
  status: FinalJobStatus;
  errorCode?: string;
  errorMessage?: string;
  at: number;
}

export interface JobRow {
  id: string;
  user_id: number;
  platform: string;
  workspace_id: string;
  channel_id: string;
  kind: string;
  model_id: string;
  prompt: string;
  params: string;
  status: string;
  fal_request_id: string | null;
  error_code: string | null;
  error_message: string | null;
  reply: string | null;
  private: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  delivered_at: number | null;
  review_state: string | null;
}

// ── assets ───────────────────────────────────────────────────────────────────────────────────────

export interface Asset {
  id: string;
  jobId: string;
  ownerUserId: number;
  /** Output index within the job. */
  position: number;
  kind: AssetKind;
  storageDriver: string;
  storageKey: string;
  contentType: string;
  bytes: number;
  sha256: string;
  width: number | null;
  height: number | null;
  durationSeconds: number | null;
  seed: number | null;
  inferenceMs: number | null;
  nsfw: boolean;
  /** 16 random bytes, base64url (22 characters): the public, unguessable name of the asset. */
  shareId: string;
  visibility: Visibility;
  /** A still frame for videos. */
  posterStorageKey: string | null;
  modelId: string;
  prompt: string;
  createdAt: number;
  removedAt: number | null;
  removedBy: string | null;
  removedReason: string | null;
  /** Waiting for a moderator's review (its job is held): shown to its owner only. */
  held: boolean;
}

/** One stored output. Owner, model and prompt come from the job. */
export interface NewAsset {
  /** Defaults to a random UUID. */
  id?: string;
  /** Output index within the job; defaults to the index in the array passed to recordAssets. */
  position?: number;
  kind: AssetKind;
  storageDriver: string;
  storageKey: string;
  contentType: string;
  bytes: number;
  sha256: string;
  width?: number | null;
  height?: number | null;
  durationSeconds?: number | null;
  seed?: number | null;
  inferenceMs?: number | null;
  nsfw?: boolean;
  /** Defaults to 'private' for a private job, 'public' otherwise. */
  visibility?: Visibility;
  posterStorageKey?: string | null;
  /** Defaults to the repositories' clock. */
  createdAt?: number;
}

export interface GalleryQuery {
  /** Clamped to 1..100. */
  limit: number;
  /** `nextCursor` from the previous page. An unreadable cursor throws InvalidCursorError. */
  cursor?: string | undefined;
  modelId?: string | undefined;
  kind?: AssetKind | undefined;
  /** Free text from the user; matched with FTS5 after reducing it to plain words. */
  search?: string | undefined;
  /** Only visibility = 'public'. */
  publicOnly?: boolean | undefined;
}

export interface GalleryPage {
  items: Asset[];
  /** Present only when there is a further page. */
  nextCursor?: string;
}

export interface RemoveAsset {
  /** Who removed it, e.g. `user:12` or `admin`. */
  by: string;
  reason?: string;
  at: number;
}

export interface AssetRow {
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
  removed_at: number | null;
  removed_by: string | null;
  removed_reason: string | null;
  held: number;
}
