import { QueueEvents } from 'bullmq';
import { randomUUID } from 'node:crypto';
import type { Keyring } from '../crypto/keyring.js';
import { openReply, sealReply } from './reply-seal.js';
import type { Redis } from 'ioredis';
import { buildInput, chooseModel, getModel, ModelChoiceError, type CatalogModel } from '../catalog/index.js';
import type { DailyCap, Job, Repositories } from '../db/index.js';
import type { AssetKind, CommunityRef, InputBucket, UserRef } from '../domain.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { PipelineEvents } from './deliver.js';
import { checkDeclaredInput } from './inputs.js';
import { cancelChannel, cancelKey, GENERATE_QUEUE, type Queues } from './queues.js';
import { type GenerateJobData, type GenerateProgress, type InputFileRef } from './types.js';

/** A generation request as every adapter describes it, platform-neutral. */
export interface GenerationRequest {
  user: UserRef & { displayName?: string | undefined };
  /** Guild or team ('' for a DM), and the channel the result goes to. */
  workspaceId: string;
  channelId: string;
  kind: AssetKind;
  prompt: string;
  /** A catalog id or alias; omitted → the default for the kind (or the edit model when images are attached). */
  model?: string | undefined;
  /** Free-form `key=value` params (strings from chat are coerced by the schema). */
  params?: Record<string, unknown> | undefined;
  seed?: number | undefined;
  size?: string | undefined;
  count?: number | undefined;
  duration?: string | undefined;
  files?: InputFileRef[] | undefined;
  private?: boolean | undefined;
  /** Adapter routing data stored with the job (e.g. an interaction token), JSON-serialisable. */
  reply?: unknown;
}

export interface EnqueuedGeneration {
  job: Job;
  model: CatalogModel;
  /** Jobs ahead of this one in our queue, when known. */
  position: number;
}

/** The community's rules for requests (implemented by the moderation service). */
export interface RequestModeration {
  /** Throws a coded AppError when the member is banned here or the text matches the blocklist. */
  admit(request: { user: UserRef; workspaceId: string; prompt: string; params?: Record<string, unknown> | undefined }): void;
  /** Catalog ids the community allows; null: all. */
  allowedModels(community: CommunityRef): string[] | null;
  dailyCap(community: CommunityRef): DailyCap | undefined;
}

export interface GenerationServiceOptions {
  repos: Repositories;
  queues: Queues;
  /** Seals adapters' reply routes (interaction tokens, response URLs) in the database. */
  keyring: Keyring;
  redis: Redis;
  prefix: string;
  events: PipelineEvents;
  logger: Logger;
  maxActiveJobsPerUser: number;
  maxInputBytes: number;
  /** The communities' rules; without it nothing is refused for moderation reasons. */
  moderation?: RequestModeration;
}

/**
 * The owner-side API the commands use: every check that can refuse a request runs here, before a job
 * exists and before anything reaches fal.
 */
export class GenerationService {
  private readonly log: Logger;
  private queueEvents: QueueEvents | undefined;

  constructor(private readonly options: GenerationServiceOptions) {
    this.log = options.logger.child({ component: 'generation-service' });
  }

  /** Validates, checks the key and the per-user limit, records the job, and queues it. */
  async enqueue(request: GenerationRequest): Promise<EnqueuedGeneration> {
    const { repos, moderation } = this.options;
    const files = request.files ?? [];
    const community: CommunityRef = { platform: request.user.platform, workspaceId: request.workspaceId };
    // Bans and the blocklist come first: a banned member learns that, not which parameter was wrong.
    moderation?.admit({ user: request.user, workspaceId: request.workspaceId, prompt: request.prompt, params: request.params });
    const model = pickModel(request.model, request.kind, files, moderation?.allowedModels(community) ?? null);
    const attachments: Partial<Record<InputBucket, number>> = {};
    for (const file of files) attachments[file.bucket] = (attachments[file.bucket] ?? 0) + 1;
    const built = buildInput(model, {
      prompt: request.prompt,
      ...(request.params ? { params: request.params } : {}),
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
      ...(request.size !== undefined ? { size: request.size } : {}),
      ...(request.count !== undefined ? { count: request.count } : {}),
      ...(request.duration !== undefined ? { duration: request.duration } : {}),
      attachments,
    });
    if (!built.ok) {
      const [first] = built.issues;
      throw new AppError('INVALID_PARAMS', built.issues.map((issue) => issue.message).join('; '), {
        reason: first?.message ?? 'invalid input',
        ...(first?.field ? { field: first.field } : {}),
        ...(first?.allowed ? { allowed: first.allowed } : {}),
      });
    }
    for (const file of files) checkDeclaredInput(file, this.options.maxInputBytes);

    const user = repos.users.upsertUser(request.user);
    const key = repos.keys.getFalKey(user.id);
    if (!key) throw new AppError('NO_KEY', 'no fal key registered');

    const jobId = randomUUID();
    const dailyCap = moderation?.dailyCap(community);
    const created = repos.jobs.createJobWithinLimit(
      {
        id: jobId,
        userId: user.id,
        platform: request.user.platform,
        workspaceId: request.workspaceId,
        channelId: request.channelId,
        kind: model.kind,
        modelId: model.id,
        prompt: request.prompt.trim(),
        params: built.input,
        reply: sealReply(this.options.keyring, jobId, request.reply),
        private: request.private ?? false,
      },
      this.options.maxActiveJobsPerUser,
      dailyCap,
    );
    if (!created.ok) {
      if ('daily' in created) {
        throw new AppError('DAILY_LIMIT', `user made ${created.daily.used} jobs today`, { limit: dailyCap?.max ?? created.daily.used, until: created.daily.freesAt });
      }
      throw new AppError('TOO_MANY_JOBS', `user has ${created.active} active jobs`, { limit: this.options.maxActiveJobsPerUser });
    }
    const job = created.job;
    const data: GenerateJobData = {
      jobId: job.id,
      ownerId: user.id,
      platform: job.platform,
      modelId: model.id,
      kind: model.kind,
      input: built.input,
      fileFields: built.fileFields,
      files,
      encryptedKey: key.ciphertext.toString('base64'),
    };
    try {
      await this.options.queues.generate.add('generate', data, { jobId: job.id });
    } catch (error) {
      repos.jobs.finishJob(job.id, { status: 'failed', errorCode: 'INTERNAL', errorMessage: 'could not queue the job', at: Date.now() });
      throw new AppError('INTERNAL', 'queueing the job failed', {}, { cause: error });
    }
    repos.keys.touchFalKey(user.id, Date.now());
    return { job, model, position: await this.queuePosition(job.id) };
  }

  /** The user's queued and running jobs, oldest first. */
  activeJobs(user: UserRef): Job[] {
    const found = this.options.repos.users.findUser(user);
    return found ? this.options.repos.jobs.listActiveJobs(found.id) : [];
  }

  getJob(jobId: string): Job | undefined {
    return this.options.repos.jobs.getJob(jobId);
  }

  /** How many jobs wait ahead of this one in our queue (0 when it is next or already running). */
  async queuePosition(jobId: string): Promise<number> {
    const waitKey = `${this.options.prefix}:${GENERATE_QUEUE}:wait`;
    // BullMQ pushes new jobs on the left and takes from the right: the distance to the right end is the wait.
    const index = await this.options.redis.lpos(waitKey, jobId);
    if (index === null) return 0;
    const length = await this.options.redis.llen(waitKey);
    return Math.max(0, length - index - 1);
  }

  /**
   * Cancels a job of this user: a queued job is removed at once; a running one is stopped at fal by
   * whichever worker holds it (on any host). Either way the outcome arrives through delivery.
   */
  async cancel(jobId: string, requestedBy: UserRef): Promise<Job> {
    const { repos } = this.options;
    const job = repos.jobs.getJob(jobId);
    const user = repos.users.findUser(requestedBy);
    if (!job || !user || job.userId !== user.id) throw new AppError('NOT_FOUND', 'no such job', { reason: 'That job does not exist or is not yours.' });
    if (!['queued', 'running', 'saving'].includes(job.status)) {
      throw new AppError('NOT_FOUND', 'job already finished', { reason: 'That job has already finished.' });
    }
    await this.stop(job);
    return job;
  }

  /** Stops a job whoever owns it (a ban cancels the member's jobs); a finished job is left as it is. */
  async cancelJob(job: Job): Promise<void> {
    if (!['queued', 'running', 'saving'].includes(job.status)) return;
    await this.stop(job);
  }

  private async stop(job: Job): Promise<void> {
    const { redis, prefix, queues } = this.options;
    const jobId = job.id;
    // The flag covers a worker that takes the job after the broadcast below.
    await redis.set(cancelKey(prefix, jobId), '1', 'EX', 24 * 3600);
    const bullJob = await queues.generate.getJob(jobId);
    const state = bullJob ? await bullJob.getState() : undefined;
    let removed = false;
    if (bullJob && (state === 'waiting' || state === 'delayed' || state === 'prioritized')) {
      removed = await bullJob.remove().then(
        () => true,
        () => false, // taken by a worker meanwhile: it sees the flag
      );
    }
    if (removed || !bullJob) {
      await queues.deliver.add('deliver', { jobId, platform: job.platform, outcome: { status: 'cancelled' } }, { jobId });
    } else {
      await redis.publish(cancelChannel(prefix), jobId);
    }
    this.log.info({ jobId, removed }, 'cancel requested');
  }

  /**
   * Follows progress from every worker host (BullMQ's event stream in Redis), keeps the job's status
   * in SQLite current, and re-emits it for adapters.
   */
  async startProgressFeed(connection: Redis): Promise<void> {
    const { repos, events } = this.options;
    const queueEvents = new QueueEvents(GENERATE_QUEUE, { connection, prefix: this.options.prefix, autorun: false });
    queueEvents.on('progress', ({ jobId, data }) => {
      const progress = data as GenerateProgress;
      if (typeof progress !== 'object' || progress === null || typeof progress.stage !== 'string') return;
      try {
        if (progress.falRequestId) repos.jobs.setFalRequestId(jobId, progress.falRequestId);
        if (progress.stage === 'saving' || progress.stage === 'save_delayed') repos.jobs.markSaving(jobId);
        else repos.jobs.markRunning(jobId, progress.at);
        const job = repos.jobs.getJob(jobId);
        if (job) events.emit('progress', openReply(this.options.keyring, job), progress);
      } catch (error) {
        this.log.error({ err: error, jobId }, 'recording progress failed');
      }
    });
    queueEvents.on('error', (error) => this.log.error({ err: error }, 'queue events error'));
    void queueEvents.run();
    await queueEvents.waitUntilReady();
    this.queueEvents = queueEvents;
  }

  async close(): Promise<void> {
    await this.queueEvents?.close();
  }
}

/**
 * The model a request runs on. A community that allows only some models: an explicit other one is
 * refused (naming those allowed); with none asked for, the first allowed one that takes the
 * attachments stands in for the default.
 */
function pickModel(explicit: string | undefined, kind: AssetKind, files: readonly InputFileRef[], allowed: readonly string[] | null): CatalogModel {
  const model = chooseCatalogModel(explicit, kind, files);
  if (allowed === null || allowed.includes(model.id)) return model;
  const allowedNames = allowed.flatMap((id) => {
    const candidate = getModel(id);
    return candidate && candidate.kind === kind ? [candidate.aliases[0] ?? candidate.id] : [];
  });
  if (!explicit?.trim()) {
    const buckets = new Set(files.map((file) => file.bucket));
    const fitting = allowed
      .map((id) => getModel(id))
      .find((candidate) => candidate !== undefined && candidate.kind === kind && [...buckets].every((bucket) => candidate.buckets[bucket] !== undefined));
    if (fitting) return fitting;
  }
  throw new AppError('MODEL_NOT_ALLOWED', `model ${model.id} not allowed here`, {
    reason: allowedNames.length
      ? `The moderators here allow only some ${kind} models, and ${model.name} is not one of them`
      : `The moderators here allow no ${kind} model that takes ${files.length ? 'these attachments' : 'this request'}`,
    allowed: allowedNames,
  });
}

function chooseCatalogModel(explicit: string | undefined, kind: AssetKind, files: readonly InputFileRef[]): CatalogModel {
  try {
    return chooseModel({
      ...(explicit ? { explicit } : {}),
      kind,
      hasReferenceImages: files.some((file) => file.bucket !== 'video'),
    });
  } catch (error) {
    if (error instanceof ModelChoiceError) {
      const allowed = error.known.map((id) => getModel(id)?.aliases[0] ?? id);
      const other = getModel(error.requested);
      const reason =
        error.code === 'wrong_kind' && other
          ? `${other.name} makes ${other.kind}s; use ${other.kind === 'video' ? '/animate' : '/imagine'} for it`
          : `I don't know the model "${error.requested}"`;
      throw new AppError('UNKNOWN_MODEL', error.message, { allowed, reason });
    }
    throw error;
  }
}
