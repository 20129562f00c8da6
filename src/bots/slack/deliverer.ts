import type { webApi } from '@slack/bolt';
import { z } from 'zod';
import type { Message } from '../../../commands/context.js';
import { deliveryMessage, progressMessage, resultMessage } from '../../../commands/render.js';
import type { Job, Post } from '../../db/index.js';
import type { Deliverer, DeliveredAsset, Delivery, PostedMessage } from '../../jobs/deliver.js';
import type { GenerateProgress } from '../../jobs/types.js';
import type { Logger } from '../../logger.js';
import { extensionFor } from '../../storage/keys.js';
import type { StorageDriver } from '../../storage/types.js';
import { postToResponseUrl, type SlackReplyRoute } from './context.js';
import { toSlackMessage } from './render.js';

type WebClient = webApi.WebClient;

const routeSchema = z.object({
  platform: z.literal('slack'),
  teamId: z.string(),
  channelId: z.string(),
  userId: z.string(),
  statusTs: z.string().nullable(),
  threadTs: z.string().nullable(),
  responseUrl: z.string().nullable(),
  createdAt: z.number(),
  private: z.boolean(),
  isIm: z.boolean(),
}) satisfies z.ZodType<SlackReplyRoute>;

/** Slack accepts large uploads; past this a video is linked (with its poster) rather than re-uploaded. */
const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
const FILE_POST_PREFIX = 'file:';

export interface SlackDelivererOptions {
  /** Upload results as files (for a PUBLIC_URL Slack cannot reach) instead of image blocks of our URLs. */
  uploadResults: boolean;
  progressIntervalMs?: number;
  /** How long a response_url works (Slack: 30 minutes). */
  responseUrlLifetimeMs?: number;
  fetch?: typeof fetch;
}

interface ProgressState {
  lastEditAt: number;
  timer?: NodeJS.Timeout | undefined;
  pending?: Message | undefined;
  chain: Promise<void>;
  done: boolean;
}

/**
 * Posts progress and results back where a Slack command was used: the status message is updated in
 * place and the result threaded under it; private results and failures reach the user alone.
 */
export class SlackDeliverer implements Deliverer {
  private readonly progress = new Map<string, ProgressState>();
  private readonly progressIntervalMs: number;
  private readonly responseUrlLifetimeMs: number;

  constructor(
    private readonly client: WebClient,
    private readonly storage: StorageDriver,
    private readonly logger: Logger,
    private readonly options: SlackDelivererOptions,
  ) {
    this.progressIntervalMs = options.progressIntervalMs ?? 2_000;
    this.responseUrlLifetimeMs = options.responseUrlLifetimeMs ?? 30 * 60_000;
  }

  onProgress(job: Job, progress: GenerateProgress): void {
    // A progress event can arrive after the outcome was recorded (events and deliveries travel apart).
    if (job.finishedAt !== null || job.deliveredAt !== null) return;
    const route = this.route(job);
    if (!route?.statusTs || route.private) return;
    const state = this.stateOf(job.id);
    if (state.done) return;
    state.pending = progressMessage(job, progress);
    const wait = state.lastEditAt + this.progressIntervalMs - Date.now();
    if (wait <= 0) this.flushProgress(job.id, route);
    else state.timer ??= setTimeout(() => this.flushProgress(job.id, route), wait);
  }

  private stateOf(jobId: string): ProgressState {
    let state = this.progress.get(jobId);
    if (!state) {
      state = { lastEditAt: 0, chain: Promise.resolve(), done: false };
      this.progress.set(jobId, state);
    }
    return state;
  }

  private flushProgress(jobId: string, route: SlackReplyRoute): void {
    const state = this.progress.get(jobId);
    if (!state || state.done || !state.pending || !route.statusTs) return;
    const message = state.pending;
    const ts = route.statusTs;
    state.pending = undefined;
    clearTimeout(state.timer);
    state.timer = undefined;
    state.lastEditAt = Date.now();
    state.chain = state.chain.then(async () => {
      await this.client.chat.update({ channel: route.channelId, ts, ...toSlackMessage(message) }).catch((error: unknown) =>
        this.logger.debug({ err: error, jobId }, 'progress update failed'),
      );
    });
  }

  async deliver(delivery: Delivery): Promise<PostedMessage[] | void> {
    const route = this.route(delivery.job);
    if (!route) {
      this.logger.warn({ jobId: delivery.job.id }, 'Slack job without a usable reply route; result kept in the gallery only');
      return;
    }
    const state = this.stateOf(delivery.job.id);
    state.done = true;
    clearTimeout(state.timer);
    await state.chain;
    try {
      return await this.post(route, delivery);
    } finally {
      this.progress.delete(delivery.job.id);
    }
  }

  private async post(route: SlackReplyRoute, delivery: Delivery): Promise<PostedMessage[]> {
    if (delivery.status === 'failed' || (delivery.status === 'succeeded' && route.private)) {
      if (route.statusTs) await this.client.chat.delete({ channel: route.channelId, ts: route.statusTs }).catch(() => undefined);
      await this.toUserAlone(route, deliveryMessage(delivery));
      return [];
    }
    if (delivery.status === 'cancelled') {
      const rendered = toSlackMessage(deliveryMessage(delivery));
      if (route.statusTs) await this.client.chat.update({ channel: route.channelId, ts: route.statusTs, ...rendered });
      else await this.toUserAlone(route, deliveryMessage(delivery));
      return [];
    }
    const thread = route.statusTs ?? route.threadTs ?? undefined;
    const posted: PostedMessage[] = [];
    const uploads = await this.uploadFiles(route, delivery.assets, thread);
    posted.push(...uploads.map((fileId) => ({ channelId: route.channelId, messageId: `${FILE_POST_PREFIX}${fileId}` })));
    const message = this.withoutUploaded(resultMessage(delivery), delivery.assets, uploads.length > 0);
    const result = await this.client.chat.postMessage({ channel: route.channelId, ...toSlackMessage(message), ...(thread ? { thread_ts: thread } : {}) });
    if (result.ts) posted.push({ channelId: route.channelId, messageId: result.ts });
    if (route.statusTs) {
      await this.client.chat
        .update({ channel: route.channelId, ts: route.statusTs, text: `Done: *${delivery.job.prompt.slice(0, 150)}* (result in the thread)`, blocks: [] })
        .catch((error: unknown) => this.logger.debug({ err: error }, 'status update failed'));
    }
    return posted;
  }

  /** Files go up when results are not served from a URL Slack can reach, and videos small enough to play inline. */
  private async uploadFiles(route: SlackReplyRoute, assets: DeliveredAsset[], thread: string | undefined): Promise<string[]> {
    const ids: string[] = [];
    for (const [index, asset] of assets.entries()) {
      const wanted = this.options.uploadResults || asset.kind === 'video';
      if (!wanted || asset.bytes > MAX_UPLOAD_BYTES) continue;
      const { body } = await this.storage.read(asset.storageKey);
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      const file = {
        file: Buffer.concat(chunks),
        filename: `atelier-${asset.shareId.slice(0, 8)}-${index + 1}.${extensionFor(asset.contentType)}`,
        title: asset.prompt.slice(0, 250),
      };
      const uploaded = await this.client.filesUploadV2(thread ? { ...file, channel_id: route.channelId, thread_ts: thread } : { ...file, channel_id: route.channelId });
      const fileIds = (uploaded.files ?? []).flatMap((entry) => (entry.files ?? []).map((file) => file.id)).filter((id): id is string => typeof id === 'string');
      ids.push(...fileIds);
    }
    return ids;
  }

  /** Uploaded images need no image block of their URL (which Slack may not reach). */
  private withoutUploaded(message: Message, assets: DeliveredAsset[], uploaded: boolean): Message {
    if (!uploaded || !this.options.uploadResults) return message;
    return {
      ...message,
      cards: (message.cards ?? []).map((card, index) => {
        if (assets[index]?.kind !== 'image') return card;
        const { imageUrl: _uploaded, ...rest } = card;
        return rest;
      }),
    };
  }

  /** Ephemeral through the response_url while it lives, else a DM: never lost, never public. */
  private async toUserAlone(route: SlackReplyRoute, message: Message): Promise<void> {
    const rendered = toSlackMessage(message);
    if (route.responseUrl && Date.now() < route.createdAt + this.responseUrlLifetimeMs) {
      const ok = await postToResponseUrl(route.responseUrl, { response_type: 'ephemeral', replace_original: false, ...rendered }, this.options.fetch).catch(() => false);
      if (ok) return;
    }
    const opened = await this.client.conversations.open({ users: route.userId });
    if (!opened.channel?.id) throw new Error('Slack opened no DM channel');
    await this.client.chat.postMessage({ channel: opened.channel.id, ...rendered });
  }

  async retract(post: Post, remaining: Extract<Delivery, { status: 'succeeded' }>): Promise<void> {
    if (post.messageId.startsWith(FILE_POST_PREFIX)) {
      // An uploaded copy of a removed output goes; copies of outputs that remain stay.
      const fileId = post.messageId.slice(FILE_POST_PREFIX.length);
      if (remaining.assets.length === 0 || this.options.uploadResults) {
        await this.client.files.delete({ file: fileId }).catch((error: unknown) => ignoreGone(error));
      }
      return;
    }
    if (remaining.assets.length === 0) {
      await this.client.chat.delete({ channel: post.channelId, ts: post.messageId }).catch((error: unknown) => ignoreGone(error));
      return;
    }
    await this.client.chat.update({ channel: post.channelId, ts: post.messageId, ...toSlackMessage(resultMessage(remaining)) });
  }

  private route(job: Job): SlackReplyRoute | undefined {
    const parsed = routeSchema.safeParse(job.reply);
    return parsed.success ? parsed.data : undefined;
  }
}

function ignoreGone(error: unknown): void {
  const code = (error as { data?: { error?: string } }).data?.error;
  if (code === 'message_not_found' || code === 'file_not_found' || code === 'file_deleted') return;
  throw error;
}
