import type { FalClient, QueueStatus } from '@fal-ai/client';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Keyring } from '../crypto/keyring.js';
import type { AssetKind } from '../domain.js';
import { AppError } from '../errors.js';
import { createUserFalClient, type FalTransport } from '../fal/client.js';
import { classifyFalError, isRequestLost } from '../fal/errors.js';
import type { Logger } from '../logger.js';
import type { StorageDriver } from '../storage/types.js';
import { fetchInputFile } from './inputs.js';
import { durationFromInput, extractOutputs, rehostOutput, SaveError } from './outputs.js';
import { bufferStream, extractPosterFrame } from './poster.js';
import { extensionFor, outputKey } from '../storage/keys.js';
import { cancelChannel, cancelKey, GENERATE_QUEUE, type DeliverQueue } from './queues.js';
import {
  keyBinding,
  type AssetDescriptor,
  type GenerateJobData,
  type GenerateOutcome,
  type GenerateProgress,
  type GenerationTimings,
} from './types.js';

export interface GenerateWorkerOptions {
  redis: Redis;
  /** A second connection for the cancel subscription (a subscribed ioredis connection can do nothing else). */
  subscriber: Redis;
  prefix: string;
  deliverQueue: DeliverQueue;
  keyring: Keyring;
  storage: StorageDriver;
  transport: FalTransport;
  logger: Logger;
  concurrency: number;
  maxInputBytes: number;
  slackBotToken?: string | undefined;
  /** How often fal's status is polled. */
  pollIntervalMs?: number;
  /** How long a request may take at fal before it is cancelled there. */
  timeoutMs?: Partial<Record<AssetKind, number>>;
  /** Delay before the first retry of a postponed save; doubles up to `maxSaveDelayMs`. */
  saveRetryBaseMs?: number;
  maxSaveDelayMs?: number;
  /** How long a finished result may keep failing to save before the user is told it is lost. */
  saveGiveUpAfterMs?: number;
  /** BullMQ lock settings: a crashed worker's jobs are taken over after about `lockDurationMs`. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** On shutdown, how long in-flight jobs may take to finish before they are left to be resumed elsewhere. */
  shutdownGraceMs?: number;
  /** Video posters: ffmpeg when it runs, else the first-frame input. */
  ffmpegPath?: string | undefined;
}

const DEFAULT_TIMEOUT_MS: Record<AssetKind, number> = { image: 10 * 60_000, video: 30 * 60_000 };

/** Abort reasons: a user's cancel, and a shutdown that hands in-flight jobs back to the queue. */
const USER_CANCEL = 'atelier:user-cancel';
const SHUTDOWN = 'atelier:shutdown';

class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

/**
 * The `generate` worker: stateless, runs on any host that reaches Redis. Returns the outcome and
 * hands it to the `deliver` queue, which the process that owns SQLite and the chat connections reads.
 */
export function createGenerateWorker(options: GenerateWorkerOptions) {
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const timeouts = { ...DEFAULT_TIMEOUT_MS, ...options.timeoutMs };
  const saveRetryBaseMs = options.saveRetryBaseMs ?? 5_000;
  const maxSaveDelayMs = options.maxSaveDelayMs ?? 5 * 60_000;
  const saveGiveUpAfterMs = options.saveGiveUpAfterMs ?? 24 * 3600_000;
  const log = options.logger.child({ component: 'generate-worker' });

  const isCancelRequested = async (jobId: string) => (await options.redis.exists(cancelKey(options.prefix, jobId))) === 1;

  async function deliver(data: GenerateJobData, outcome: GenerateOutcome): Promise<void> {
    // The deliver job shares the generate job's id, so a replay after a crash adds nothing twice.
    await options.deliverQueue.add('deliver', { jobId: data.jobId, platform: data.platform, outcome }, { jobId: data.jobId });
  }

  async function report(job: Job<GenerateJobData>, progress: Omit<GenerateProgress, 'at'>): Promise<void> {
    await job.updateProgress({ ...progress, at: Date.now() } satisfies GenerateProgress);
  }

  async function submit(job: Job<GenerateJobData>, fal: FalClient, signal: AbortSignal): Promise<string> {
    const data = job.data;
    const input: Record<string, unknown> = { ...data.input };
    if (data.files.length > 0) {
      await report(job, { stage: 'uploading' });
      const uploaded = await Promise.all(
        data.files.map(async (ref) => {
          const file = await fetchInputFile(ref, {
            maxBytes: options.maxInputBytes,
            fetch,
            storage: options.storage,
            slackBotToken: options.slackBotToken,
            signal,
          });
          try {
            return { bucket: ref.bucket, url: await fal.storage.upload(file) };
          } catch (error) {
            throw classifyFalError(error);
          }
        }),
      );
      for (const [bucket, field] of Object.entries(data.fileFields)) {
        const urls = uploaded.filter((item) => item.bucket === bucket).map((item) => item.url);
        if (urls.length > 0) input[field.field] = field.multiple ? urls : urls[0];
      }
    }
    signal.throwIfAborted();
    let requestId: string;
    try {
      ({ request_id: requestId } = await fal.queue.submit(data.modelId, { input, abortSignal: signal }));
    } catch (error) {
      if (signal.aborted) throw error;
      throw classifyFalError(error);
    }
    // Recorded before anything else: from here on a retry or a takeover resumes, never resubmits.
    await job.updateData({ ...job.data, falRequestId: requestId });
    await report(job, { stage: 'submitted', falRequestId: requestId });
    log.info({ jobId: data.jobId, modelId: data.modelId, falRequestId: requestId }, 'submitted to fal');
    return requestId;
  }

  async function waitForCompletion(job: Job<GenerateJobData>, fal: FalClient, requestId: string, signal: AbortSignal) {
    const { modelId, jobId } = job.data;
    let seenLogs = 0;
    let lastStage: string | undefined;
    let lastPosition: number | undefined;
    for (;;) {
      if (await isCancelRequested(jobId)) throw new CancelledError();
      const status: QueueStatus = await fal.queue.status(modelId, { requestId, logs: true, abortSignal: signal });
      if (status.status === 'COMPLETED') return status;
      const logs = (status.status === 'IN_PROGRESS' ? (status.logs ?? []) : []).map((line) => line.message);
      const fresh = logs.slice(seenLogs);
      seenLogs = Math.max(seenLogs, logs.length);
      const stage = status.status === 'IN_QUEUE' ? 'in_queue' : 'running';
      const position = status.status === 'IN_QUEUE' ? status.queue_position : undefined;
      if (stage !== lastStage || position !== lastPosition || fresh.length > 0) {
        await report(job, {
          stage,
          falRequestId: requestId,
          ...(position !== undefined ? { queuePosition: position } : {}),
          ...(fresh.length ? { logs: fresh } : {}),
        });
        lastStage = stage;
        lastPosition = position;
      }
      await sleep(pollIntervalMs, undefined, { signal });
    }
  }

  async function save(job: Job<GenerateJobData>, falData: unknown, requestId: string, signal: AbortSignal): Promise<AssetDescriptor[]> {
    const data = job.data;
    const outputs = extractOutputs(falData, data.kind);
    await report(job, { stage: 'saving', falRequestId: requestId });
    const requestedDuration = durationFromInput(data.input);
    const assets: AssetDescriptor[] = [];
    // One after another: a worker holds many jobs, and parallel multi-GB streams per job buy nothing.
    for (const [position, file] of outputs.files.entries()) {
      const stored = await rehostOutput(file, {
        storage: options.storage,
        transport: options.transport,
        ownerId: data.ownerId,
        jobId: data.jobId,
        position,
        kind: data.kind,
        signal,
      });
      const durationSeconds = data.kind === 'video' ? (stored.durationSeconds ?? requestedDuration) : undefined;
      const posterStorageKey = data.kind === 'video' ? await makePoster(data, stored.storageKey, position, signal) : undefined;
      assets.push({
        position,
        kind: data.kind,
        storageDriver: options.storage.name,
        ...stored,
        ...(durationSeconds !== undefined ? { durationSeconds } : {}),
        ...(outputs.seed !== undefined ? { seed: outputs.seed } : {}),
        ...(outputs.inferenceMs !== undefined ? { inferenceMs: outputs.inferenceMs } : {}),
        nsfw: outputs.nsfw[position] ?? false,
        ...(posterStorageKey ? { posterStorageKey } : {}),
      });
    }
    return assets;
  }

  /** A poster for a stored video: its first frame by ffmpeg, else the first-frame image the user gave. */
  async function makePoster(data: GenerateJobData, videoKey: string, position: number, signal: AbortSignal): Promise<string | undefined> {
    let frame: Buffer | undefined;
    if (options.ffmpegPath) {
      const { body } = await options.storage.read(videoKey);
      frame = await extractPosterFrame(body, options.ffmpegPath, signal);
    }
    let contentType = 'image/jpeg';
    if (!frame) {
      const firstFrame = data.files.find((file) => file.bucket === 'first_frame');
      if (!firstFrame) return undefined;
      try {
        const file = await fetchInputFile(firstFrame, { maxBytes: options.maxInputBytes, fetch, slackBotToken: options.slackBotToken, signal });
        frame = Buffer.from(await file.arrayBuffer());
        contentType = file.type;
      } catch (error) {
        log.info({ jobId: data.jobId, err: (error as Error).message }, 'no poster: the first frame could not be fetched again');
        return undefined;
      }
    }
    const key = outputKey(data.ownerId, data.jobId, position, `poster.${extensionFor(contentType)}`);
    await options.storage.put(key, bufferStream(frame), { contentType, expectedBytes: frame.length });
    return key;
  }

  async function process(job: Job<GenerateJobData>, token: string | undefined, bullSignal?: AbortSignal): Promise<GenerateOutcome> {
    const data = job.data;
    const startedAt = Date.now();
    // The time limit covers waiting on fal only: once fal has produced a result, saving it is never cut short.
    const timeout = AbortSignal.timeout(timeouts[data.kind]);
    const signal = AbortSignal.any([timeout, ...(bullSignal ? [bullSignal] : [])]);
    const saveSignal = bullSignal ?? new AbortController().signal;
    let saving = false;
    let requestId = data.falRequestId;
    let fal: FalClient | undefined;
    const timings: GenerationTimings = {};
    try {
      if (await isCancelRequested(data.jobId)) throw new CancelledError();
      // Decrypted here, at the moment of use, and dropped with this closure.
      fal = createUserFalClient(options.keyring.decrypt(Buffer.from(data.encryptedKey, 'base64'), keyBinding(data.ownerId)), options.transport);
      if (!requestId) {
        requestId = await submit(job, fal, signal);
        timings.submitMs = Date.now() - startedAt;
      } else {
        log.info({ jobId: data.jobId, falRequestId: requestId }, 'resuming fal request');
      }
      const falStarted = Date.now();
      const completed = await waitForCompletion(job, fal, requestId, signal);
      const result = await fal.queue.result(data.modelId, { requestId, abortSignal: signal });
      timings.falMs = Date.now() - falStarted;
      const saveStarted = Date.now();
      saving = true;
      const assets = await save(job, result.data, requestId, saveSignal);
      timings.saveMs = Date.now() - saveStarted;
      const inferenceSeconds = completed.status === 'COMPLETED' ? completed.metrics?.inference_time : undefined;
      const withInference = assets.map((asset) =>
        asset.inferenceMs === undefined && typeof inferenceSeconds === 'number' ? { ...asset, inferenceMs: Math.round(inferenceSeconds * 1000) } : asset,
      );
      const outcome: GenerateOutcome = { status: 'succeeded', falRequestId: requestId, assets: withInference, timings };
      await deliver(data, outcome);
      return outcome;
    } catch (caught) {
      if (bullSignal?.reason === SHUTDOWN) {
        // Back to the queue without using an attempt; whoever takes it resumes the fal request.
        log.info({ jobId: data.jobId, falRequestId: requestId }, 'shutting down: job handed back to the queue');
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      if (caught instanceof CancelledError || bullSignal?.reason === USER_CANCEL) {
        if (requestId && fal) {
          await fal.queue.cancel(data.modelId, { requestId }).catch((error: unknown) => log.warn({ jobId: data.jobId, err: classifyFalError(error) }, 'fal cancel failed'));
        }
        const outcome: GenerateOutcome = { status: 'cancelled', ...(requestId ? { falRequestId: requestId } : {}) };
        await deliver(data, outcome);
        return outcome;
      }
      if (timeout.aborted && !saving) {
        if (requestId && fal) await fal.queue.cancel(data.modelId, { requestId }).catch(() => undefined);
        return fail(job, new AppError('PROVIDER_TIMEOUT', `no result from fal within ${timeouts[data.kind]} ms`), requestId);
      }
      // A retry resumes the same fal request (never a new submit, so never a second bill); a request
      // fal no longer knows cannot be resumed, and is reported rather than silently submitted again.
      const error = isRequestLost(caught) ? lostRequest(caught) : classifyFalError(caught);
      if (error instanceof SaveError) return postponeSave(job, token, error);
      if (error.retryable && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) {
        log.warn({ jobId: data.jobId, code: error.code, attempt: job.attemptsMade + 1, err: error.message }, 'generation failed, will retry');
        throw error;
      }
      return fail(job, error, requestId);
    }
  }

  async function postponeSave(job: Job<GenerateJobData>, token: string | undefined, error: SaveError): Promise<never> {
    const attempts = (job.data.saveAttempts ?? 0) + 1;
    const failingSince = job.data.saveFailingSince ?? Date.now();
    if (Date.now() - failingSince > saveGiveUpAfterMs) {
      return fail(job, error, job.data.falRequestId);
    }
    const delay = Math.min(maxSaveDelayMs, saveRetryBaseMs * 2 ** (attempts - 1));
    log.warn({ jobId: job.data.jobId, attempt: attempts, delay, err: error.message }, 'result not saved yet, retrying later');
    await job.updateData({ ...job.data, saveAttempts: attempts, saveFailingSince: failingSince });
    await job.updateProgress({ stage: 'save_delayed', at: Date.now(), ...(job.data.falRequestId ? { falRequestId: job.data.falRequestId } : {}) } satisfies GenerateProgress);
    // A postponed save is not a failed attempt: it never uses up the job's attempts, so a result is never dropped.
    await job.moveToDelayed(Date.now() + delay, token);
    throw new DelayedError();
  }

  async function fail(job: Job<GenerateJobData>, error: AppError, requestId: string | undefined): Promise<never> {
    log.warn({ jobId: job.data.jobId, code: error.code, err: error.message }, 'generation failed');
    await deliver(job.data, { status: 'failed', error: error.toJSON(), ...(requestId ? { falRequestId: requestId } : {}) });
    throw new UnrecoverableError(`${error.code}: ${error.message}`);
  }

  const worker = new Worker<GenerateJobData, GenerateOutcome, 'generate'>(GENERATE_QUEUE, process, {
    connection: options.redis,
    prefix: options.prefix,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    // Deploys kill workers; a job whose worker died resumes its fal request elsewhere instead of failing.
    maxStalledCount: 10,
    autorun: false,
  });
  worker.on('error', (error) => log.error({ err: error }, 'generate worker error'));

  const channel = cancelChannel(options.prefix);
  const onCancel = (received: string, jobId: string) => {
    if (received === channel) worker.cancelJob(jobId, USER_CANCEL);
  };

  return {
    worker,
    async start() {
      await options.subscriber.subscribe(channel);
      options.subscriber.on('message', onCancel);
      void worker.run();
      await worker.waitUntilReady();
    },
    /** Stops taking jobs; in-flight ones get `graceMs` to finish, then go back to the queue to be resumed. */
    async close(graceMs = options.shutdownGraceMs ?? 10_000) {
      options.subscriber.off('message', onCancel);
      await options.subscriber.unsubscribe(channel).catch(() => undefined);
      const closing = worker.close();
      const timedOut = await Promise.race([closing.then(() => false), sleep(graceMs).then(() => true)]);
      if (timedOut) {
        worker.cancelAllJobs(SHUTDOWN);
        await closing;
      }
    },
  };
}

function lostRequest(raw: unknown): AppError {
  const error = classifyFalError(raw);
  return new AppError(error.code, error.message, error.details, { retryable: false });
}

export type GenerateWorker = ReturnType<typeof createGenerateWorker>;
