import type { AssetKind, InputBucket, Platform } from '../domain.js';
import type { SerializedError } from '../errors.js';

/** A file a user attached, as the platform described it. The worker fetches and checks it. */
export interface InputFileRef {
  bucket: InputBucket;
  url: string;
  filename?: string;
  /** What the platform declared; the worker trusts only the bytes it receives. */
  contentType?: string;
  size?: number;
  /** `slack`: fetch with the Slack bot token from the worker's own config (never put in job data). */
  auth?: 'slack';
  /** One of our own stored outputs (Vary): read from storage, not through PUBLIC_URL. */
  storageKey?: string;
}

export interface FileField {
  field: string;
  multiple: boolean;
}

/** Everything a stateless generation worker needs. No clear secret: the key travels encrypted. */
export interface GenerateJobData {
  jobId: string;
  ownerId: number;
  platform: Platform;
  modelId: string;
  kind: AssetKind;
  /** Validated model input without the file fields, which the worker fills with fal storage URLs. */
  input: Record<string, unknown>;
  fileFields: Partial<Record<InputBucket, FileField>>;
  files: InputFileRef[];
  /** The user's fal key as the database stores it: a base64 envelope bound to `keyBinding(ownerId)`. */
  encryptedKey: string;
  /** Set the moment fal accepts the submit; a retried or recovered job resumes it instead of submitting again. */
  falRequestId?: string;
  /** How many times saving the result was postponed (storage or download trouble). */
  saveAttempts?: number;
  /** When saving first failed; past the worker's give-up window the user is told. */
  saveFailingSince?: number;
}

/** What the worker stored for one output. */
export interface AssetDescriptor {
  position: number;
  kind: AssetKind;
  storageDriver: 'local' | 's3';
  storageKey: string;
  contentType: string;
  bytes: number;
  sha256: string;
  width?: number;
  height?: number;
  durationSeconds?: number;
  seed?: number;
  inferenceMs?: number;
  nsfw: boolean;
  /** A still image for a video (never the video itself). */
  posterStorageKey?: string;
}

export interface GenerationTimings {
  /** From pickup to fal's acceptance of the submit (input uploads included). */
  submitMs?: number;
  /** From submit to fal's COMPLETED. */
  falMs?: number;
  /** Re-hosting all outputs. */
  saveMs?: number;
}

export type GenerateOutcome =
  | {
      status: 'succeeded';
      falRequestId: string;
      assets: AssetDescriptor[];
      timings: GenerationTimings;
    }
  | { status: 'failed'; error: SerializedError; falRequestId?: string }
  | { status: 'cancelled'; falRequestId?: string };

export interface DeliverJobData {
  jobId: string;
  platform: Platform;
  outcome: GenerateOutcome;
}

/** After a delivery: mirror the job's outputs to its community's review channel (a job of its own, retried apart). */
export interface ReviewJobData {
  jobId: string;
}

export type ProgressStage = 'uploading' | 'submitted' | 'in_queue' | 'running' | 'saving' | 'save_delayed';

/** Published through BullMQ progress, so it reaches the owning process from any worker host. */
export interface GenerateProgress {
  stage: ProgressStage;
  falRequestId?: string;
  /** fal's queue position while IN_QUEUE. */
  queuePosition?: number;
  /** New fal log lines since the last event. */
  logs?: string[];
  at: number;
}

/** The additional data bound into a key envelope: an envelope only opens for its own user. */
export const keyBinding = (ownerId: number) => `user:${ownerId}`;
