import { Queue, type ConnectionOptions, type DefaultJobOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { DeliverJobData, GenerateJobData, GenerateOutcome, ReviewJobData } from './types.js';

export const GENERATE_QUEUE = 'generate';
export const DELIVER_QUEUE = 'deliver';

export type GenerateQueue = Queue<GenerateJobData, GenerateOutcome, 'generate'>;
/** `deliver` jobs post outcomes; `review` jobs mirror them to a review channel. Both run in the owning process. */
export type DeliverQueue = Queue<DeliverJobData | ReviewJobData, void, 'deliver' | 'review'>;

export interface QueueTuning {
  /** Attempts for retryable fal failures (rate limit, outage). */
  attempts: number;
  /** First retry delay; doubles each attempt. */
  backoffMs: number;
}

export const DEFAULT_TUNING: QueueTuning = { attempts: 5, backoffMs: 5_000 };

/** BullMQ workers block on Redis, so their connections must not give up on a request. */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  const merged = { maxRetriesPerRequest: null, enableReadyCheck: true, ...options };
  // ioredis 6 types the reply mapping per overload; ours is always the default ('legacy').
  return new Redis(url, merged as RedisOptions & { replyMapping?: 'legacy' });
}

export function connectionOf(redis: Redis): ConnectionOptions {
  return redis;
}

export function generateJobOptions(tuning: QueueTuning): DefaultJobOptions {
  return {
    attempts: tuning.attempts,
    backoff: { type: 'exponential', delay: tuning.backoffMs },
    // Finished jobs live on in SQLite; Redis keeps a short tail for dedupe and inspection.
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  };
}

export function deliverJobOptions(tuning: QueueTuning): DefaultJobOptions {
  return {
    // Delivery retries for a long time: a result is never dropped because a chat API was down.
    attempts: 50,
    backoff: { type: 'exponential', delay: Math.min(tuning.backoffMs, 2_000) },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

export function createQueues(redis: Redis, prefix: string, tuning: QueueTuning = DEFAULT_TUNING) {
  const generate: GenerateQueue = new Queue(GENERATE_QUEUE, {
    connection: connectionOf(redis),
    prefix,
    defaultJobOptions: generateJobOptions(tuning),
  });
  const deliver: DeliverQueue = new Queue(DELIVER_QUEUE, {
    connection: connectionOf(redis),
    prefix,
    defaultJobOptions: deliverJobOptions(tuning),
  });
  return {
    generate,
    deliver,
    async close() {
      await Promise.all([generate.close(), deliver.close()]);
    },
  };
}
export type Queues = ReturnType<typeof createQueues>;

/** The Redis key and channel a cancel request travels on (workers may run on other hosts). */
export const cancelKey = (prefix: string, jobId: string) => `${prefix}:cancel:${jobId}`;
export const cancelChannel = (prefix: string) => `${prefix}:cancel`;
