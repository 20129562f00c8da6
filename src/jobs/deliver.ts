import { Worker, type Job as BullJob } from 'bullmq';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Message } from '../../commands/context.js';
import type { Asset, Job, Post, Repositories } from '../db/index.js';
import type { Platform, UserRef } from '../domain.js';
import { AppError, fromSerialized } from '../errors.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Logger } from '../logger.js';
import { openReply } from './reply-seal.js';
import type { MetricsRegistry } from '../metrics.js';
import type { StorageDriver } from '../storage/types.js';
import { DELIVER_QUEUE } from './queues.js';
import type { DeliverJobData, GenerateProgress, ReviewJobData } from './types.js';

/** A stored output as a chat message shows it: with our share page and media URLs, never fal's. */
export interface DeliveredAsset extends Asset {
  shareUrl: string;
  mediaUrl: string;
  /** A still image for a video, when one could be made. */
  posterUrl?: string;
  /** Shown blurred until clicked: flagged outputs by default; the community's policy decides. */
  spoiler: boolean;
}

export type Delivery =
  | { status: 'succeeded'; job: Job; assets: DeliveredAsset[] }
  | { status: 'failed'; job: Job; error: AppError }
  | { status: 'cancelled'; job: Job }
  /** The community's policy holds the result until a moderator approves it. */
  | { status: 'held'; job: Job }
  /** The community's policy does not allow any of the outputs; `reason` says which rule, in plain words. */
  | { status: 'blocked'; job: Job; reason: string };

/** Outcomes only their owner sees: no result in the channel, the public placeholder goes. */
export function isPrivateNotice(delivery: Delivery): boolean {
  return delivery.status === 'failed' || delivery.status === 'held' || delivery.status === 'blocked';
}

export interface DeliverOptions {
  /**
   * A held result a moderator approved: it is posted anew where it was asked (the command's own
   * placeholder is long gone), or to its owner alone for a private job.
   */
  afterReview?: boolean;
}

/** A public message a deliverer posted: what a removal takes down again. */
export interface PostedMessage {
  channelId: string;
  messageId: string;
}

/** Implemented by each platform adapter: posts the result where it was asked. */
export interface Deliverer {
  /** Posts the outcome; returns the public messages that show the result (ephemeral ones need no retracting). */
  deliver(delivery: Delivery, options?: DeliverOptions): Promise<PostedMessage[] | void>;
  /**
   * Takes a result post down after a removal: deletes it when none of its outputs remain, else shows
   * only the remaining ones. Idempotent: a message already gone is fine. Resolves true when the post
   * is gone for good (it need not be retracted again).
   */
  retract?(post: Post, remaining: Extract<Delivery, { status: 'succeeded' }>): Promise<boolean | void>;
  /** What moderation needs of a platform (review channel posts, private notes); absent: no moderation there. */
  readonly moderation?: ModerationOutlet;
}

/** How the moderation service reaches a platform: messages in a review channel, and private notes to members. */
export interface ModerationOutlet {
  /**
   * Posts a message in a channel of the community; `assets` are shown (attached where the platform
   * allows). `copies`: files posted beside it, which a removal takes down like the result's own.
   */
  post(channelId: string, message: Message, assets: readonly DeliveredAsset[]): Promise<PostedMessage & { copies?: PostedMessage[] }>;
  /** Replaces a posted message; only `assets` stay shown (a removed output's copy goes). A message already gone is fine. */
  edit(post: PostedMessage, message: Message, assets: readonly DeliveredAsset[]): Promise<void>;
  /** A private message to a member (a DM); false when they cannot receive one. */
  tell(member: UserRef, message: Message): Promise<boolean>;
  /** A link that opens the message in the chat client, when the platform has one. */
  permalink(workspaceId: string, post: PostedMessage): Promise<string | undefined>;
}

/** The community's say over what is posted: implemented by the moderation service. */
export interface DeliveryModeration {
  /** Applies the community's output policy to a result before it is posted (spoilers, holds, blocks). */
  screen(delivery: Delivery): Promise<Delivery>;
  /** After posting: queues the review-channel mirror of what was posted (or held). */
  afterDelivery(delivery: Delivery, posted: readonly PostedMessage[]): Promise<void>;
  /** Runs a queued mirror. */
  mirror(jobId: string): Promise<void>;
}

export interface PipelineEventMap {
  progress: [job: Job, progress: GenerateProgress];
  delivered: [delivery: Delivery];
}

/** What adapters subscribe to: progress from any worker host, and outcomes once recorded. */
export class PipelineEvents extends EventEmitter<PipelineEventMap> {}

export interface LinkBuilder {
  shareUrl(asset: Pick<Asset, 'shareId'>): string;
  mediaUrl(asset: Pick<Asset, 'storageKey'>): string;
}

export function createLinks(publicUrl: string, storage: StorageDriver): LinkBuilder {
  return {
    shareUrl: (asset) => `${publicUrl}/s/${asset.shareId}`,
    mediaUrl: (asset) => storage.publicUrl(asset.storageKey),
  };
}

export function withLinks(asset: Asset, links: LinkBuilder): DeliveredAsset {
  return {
    ...asset,
    shareUrl: links.shareUrl(asset),
    mediaUrl: links.mediaUrl(asset),
    spoiler: asset.nsfw,
    ...(asset.posterStorageKey ? { posterUrl: links.mediaUrl({ storageKey: asset.posterStorageKey }) } : {}),
  };
}

export interface DeliverWorkerOptions {
  redis: Redis;
  /** Opens the sealed reply routes of jobs before their adapter sees them. */
  keyring: Keyring;
  prefix: string;
  repos: Repositories;
  links: LinkBuilder;
  deliverers: ReadonlyMap<Platform, Deliverer>;
  events: PipelineEvents;
  metrics: MetricsRegistry;
  logger: Logger;
  /** The communities' policies; without it every result is posted as is. */
  moderation?: DeliveryModeration;
}

/**
 * The `deliver` worker runs in the process that owns SQLite and the chat connections: it records the
 * outcome (assets with share ids, job status), then hands it to the adapter of the platform that asked.
 * Recording is idempotent, so a retried delivery never duplicates rows; a result is marked delivered
 * only after its adapter posted it, so a crash in between re-posts rather than loses it.
 */
export function createDeliverWorker(options: DeliverWorkerOptions) {
  const { repos, links, logger } = options;
  const log = logger.child({ component: 'deliver-worker' });

  function record(data: DeliverJobData, job: Job): Delivery {
    const at = Date.now();
    const { outcome } = data;
    if (outcome.falRequestId && !job.falRequestId) repos.jobs.setFalRequestId(job.id, outcome.falRequestId);
    switch (outcome.status) {
      case 'succeeded': {
        const assets = repos.assets.recordAssets(job.id, outcome.assets);
        if (repos.jobs.finishJob(job.id, { status: 'succeeded', at })) {
          options.metrics.jobsFinished.inc({ status: 'succeeded' });
          options.metrics.rehostedBytes.inc({}, assets.reduce((sum, asset) => sum + asset.bytes, 0));
          if (outcome.timings.falMs !== undefined) options.metrics.falLatency.observe(outcome.timings.falMs / 1000, { model: job.modelId });
        }
        return { status: 'succeeded', job: reload(job.id), assets: assets.map((asset) => withLinks(asset, links)) };
      }
      case 'failed': {
        const error = fromSerialized(outcome.error);
        if (repos.jobs.finishJob(job.id, { status: 'failed', errorCode: error.code, errorMessage: error.message, at })) {
          options.metrics.jobsFinished.inc({ status: 'failed', code: error.code });
        }
        return { status: 'failed', job: reload(job.id), error };
      }
      case 'cancelled':
        if (repos.jobs.finishJob(job.id, { status: 'cancelled', at })) options.metrics.jobsFinished.inc({ status: 'cancelled' });
        return { status: 'cancelled', job: reload(job.id) };
    }
  }

  function reload(jobId: string): Job {
    const job = repos.jobs.getJob(jobId);
    if (!job) throw new Error(`job ${jobId} vanished`);
    return openReply(options.keyring, job);
  }

  async function process(bullJob: BullJob<DeliverJobData | ReviewJobData, void, 'deliver' | 'review'>): Promise<void> {
    if (bullJob.name === 'review') {
      await options.moderation?.mirror(bullJob.data.jobId);
      return;
    }
    // Jobs are told apart by name: every job not named 'review' carries DeliverJobData.
    const data = bullJob.data as DeliverJobData;
    const job = repos.jobs.getJob(data.jobId);
    if (!job) {
      log.warn({ jobId: data.jobId }, 'delivery for an unknown job dropped');
      return;
    }
    const recorded = record(data, job);
    if (recorded.job.deliveredAt !== null) return;
    const delivery = options.moderation ? await options.moderation.screen(recorded) : recorded;
    const deliverer = options.deliverers.get(data.platform);
    let posted: PostedMessage[] = [];
    if (!deliverer) {
      // The platform is not connected in this process (its token is unset): the record is kept and
      // shows in the gallery; there is nobody to post to.
      log.warn({ jobId: job.id, platform: data.platform }, 'no deliverer for platform; result recorded only');
    } else {
      posted = (await deliverer.deliver(delivery)) ?? [];
      if (posted.length) repos.posts.record(job.id, posted.map((message) => ({ platform: data.platform, ...message })));
    }
    repos.jobs.markDelivered(job.id, Date.now());
    options.events.emit('delivered', delivery);
    await options.moderation?.afterDelivery(delivery, posted).catch((error: unknown) => log.error({ err: error, jobId: job.id }, 'could not queue the review mirror'));
  }

  const worker = new Worker<DeliverJobData | ReviewJobData, void, 'deliver' | 'review'>(DELIVER_QUEUE, process, {
    connection: options.redis,
    prefix: options.prefix,
    // SQLite writes are synchronous and short; the concurrency lets slow chat APIs overlap.
    concurrency: 8,
    autorun: false,
  });
  worker.on('error', (error) => log.error({ err: error }, 'deliver worker error'));
  worker.on('failed', (bullJob, error) => log.warn({ jobId: bullJob?.data.jobId, name: bullJob?.name, err: error }, 'delivery failed; will retry'));

  return {
    worker,
    async start() {
      void worker.run();
      await worker.waitUntilReady();
    },
    async close() {
      await worker.close();
    },
  };
}

export type DeliverWorker = ReturnType<typeof createDeliverWorker>;
