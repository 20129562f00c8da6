import type { webApi } from '@slack/bolt';
import { z } from 'zod';
import type { Message } from '../../../commands/context.js';
import { deliveryMessage, progressMessage, resultMessage } from '../../../commands/render.js';
import type { Job, Post } from '../../db/index.js';
import type { UserRef } from '../../domain.js';
import {
  isPrivateNotice,
  type DeliverOptions,
  type Deliverer,
  type DeliveredAsset,
  type Delivery,
  type ModerationOutlet,
  type PostedMessage,
} from '../../jobs/deliver.js';
import type { GenerateProgress } from '../../jobs/types.js';
import type { Logger } from '../../logger.js';
import { extensionFor } from '../../storage/keys.js';
import type { StorageDriver } from '../../storage/types.js';
import { EditQueue, type FinalEdits } from '../edit-queue.js';
import { isChannelClosed, postToResponseUrl, slackErrorCode, type SlackReplyRoute } from './context.js';
import { toSlackMessage, type SlackMessage } from './render.js';

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
/** Posts of uploaded files are recorded as `file:<file id>:<asset id>` (older ones: `file:<file id>`). */
const FILE_POST_PREFIX = 'file:';

export interface SlackDelivererOptions {
  /** Upload results as files (for a PUBLIC_URL Slack cannot reach) instead of image blocks of our URLs. */
  uploadResults: boolean;
  /** Edits of one status message (its queued answer, progress, done) are at most this frequent. */
  progressIntervalMs?: number;
  /** How long a response_url works (Slack: 30 minutes). */
  responseUrlLifetimeMs?: number;
  /** Larger files are linked (with a poster for videos) instead of uploaded. */
  maxUploadBytes?: number;
  fetch?: typeof fetch;
}

const statusKey = (channelId: string, ts: string) => `${channelId}/${ts}`;

/**
 * Posts progress and results back where a Slack command was used: the status message is updated in
 * place and the result threaded under it; private results and failures reach the user alone.
 *
 * Every edit of a status message (the command's own "queued" answer, progress, the final state) is
 * spaced at least `progressIntervalMs` from the previous one; progress in between is coalesced.
 */
export class SlackDeliverer implements Deliverer, ModerationOutlet {
  /** By status message (`channel/ts`). */
  private readonly statuses: EditQueue;
  private readonly responseUrlLifetimeMs: number;
  private readonly maxUploadBytes: number;

  constructor(
    private readonly client: WebClient,
    private readonly storage: StorageDriver,
    private readonly logger: Logger,
    private readonly options: SlackDelivererOptions,
  ) {
    this.statuses = new EditQueue(options.progressIntervalMs ?? 2_000);
    this.responseUrlLifetimeMs = options.responseUrlLifetimeMs ?? 30 * 60_000;
    this.maxUploadBytes = options.maxUploadBytes ?? MAX_UPLOAD_BYTES;
  }

  /**
   * Called when a handler posted a status message: progress and results for it wait until the
   * handler's own answer (e.g. "Queued") is out, and keep their distance from it. Returns the
   * release, to call when the handler is done.
   */
  holdEdits(channelId: string, ts: string): () => void {
    return this.statuses.hold(statusKey(channelId, ts));
  }

  onProgress(job: Job, progress: GenerateProgress): void {
    // A progress event can arrive after the outcome was recorded (events and deliveries travel apart).
    if (job.finishedAt !== null || job.deliveredAt !== null) return;
    const route = this.route(job);
    if (!route?.statusTs || route.private) return;
    const { channelId, statusTs } = route;
    this.statuses.progress(statusKey(channelId, statusTs), progressMessage(job, progress), async (message) => {
      await this.client.chat
        .update({ channel: channelId, ts: statusTs, ...toSlackMessage(message) })
        .catch((error: unknown) => this.logger.debug({ err: error, jobId: job.id }, 'progress update failed'));
    });
  }

  /** The final edit of a status message, spaced from the previous one. */
  private async editStatus(final: FinalEdits | undefined, channelId: string, ts: string, message: { text: string; blocks: SlackMessage['blocks'] }): Promise<void> {
    const edit = async () => void (await this.client.chat.update({ channel: channelId, ts, ...message }));
    await (final ? final.spaced(edit) : edit());
  }

  get moderation(): ModerationOutlet {
    return this;
  }

  async deliver(delivery: Delivery, options: DeliverOptions = {}): Promise<PostedMessage[] | void> {
    const parsed = this.route(delivery.job);
    // An approved result is a new post: the command's status message made way for the review notice.
    const route = parsed && options.afterReview ? { ...parsed, statusTs: null } : parsed;
    if (!route) {
      this.logger.warn({ jobId: delivery.job.id }, 'Slack job without a usable reply route; result kept in the gallery only');
      return;
    }
    // Stop progress for good, and wait for edits in flight (and the command's own answer) so none
    // can land after the outcome.
    const key = route.statusTs ? statusKey(route.channelId, route.statusTs) : undefined;
    const final = key ? await this.statuses.finish(key) : undefined;
    try {
      return await this.postOutcome(route, delivery, final);
    } finally {
      if (key) this.statuses.forget(key);
    }
  }

  private async postOutcome(route: SlackReplyRoute, delivery: Delivery, final: FinalEdits | undefined): Promise<PostedMessage[]> {
    if (isPrivateNotice(delivery) || (delivery.status === 'succeeded' && route.private)) {
      if (route.statusTs) await this.client.chat.delete({ channel: route.channelId, ts: route.statusTs }).catch(() => undefined);
      await this.toUserAlone(route, deliveryMessage(delivery));
      return [];
    }
    if (delivery.status !== 'succeeded') {
      if (route.statusTs) await this.editStatus(final, route.channelId, route.statusTs, toSlackMessage(deliveryMessage(delivery)));
      else await this.toUserAlone(route, deliveryMessage(delivery));
      return [];
    }
    // Under the status message; for a mention, in the conversation's thread (the status is a reply there).
    const thread = route.threadTs ?? route.statusTs ?? undefined;
    const posted: PostedMessage[] = [];
    try {
      const uploads = await this.uploadFiles(route.channelId, delivery.assets.filter((asset) => this.uploads(asset)), thread);
      posted.push(...uploads.map((upload) => ({ channelId: route.channelId, messageId: `${FILE_POST_PREFIX}${upload.fileId}:${upload.assetId}` })));
      const message = this.withoutUploaded(resultMessage(delivery), delivery.assets);
      const result = await this.client.chat.postMessage({ channel: route.channelId, ...toSlackMessage(message), ...(thread ? { thread_ts: thread } : {}) });
      if (result.ts) posted.push({ channelId: route.channelId, messageId: result.ts });
    } catch (error) {
      if (!isChannelClosed(error)) throw error;
      // The bot was removed from the channel (or it was archived) while the job ran: the result reaches its owner alone.
      this.logger.info({ jobId: delivery.job.id, channelId: route.channelId }, 'cannot post in the channel any more; sending the result to the user');
      await this.toUserAlone(route, resultMessage(delivery));
      return posted;
    }
    if (route.statusTs) {
      await this.editStatus(final, route.channelId, route.statusTs, toSlackMessage({ text: `Done: **${delivery.job.prompt.slice(0, 150)}** (result in the thread)` })).catch(
        (error: unknown) => this.logger.debug({ err: error }, 'status update failed'),
      );
    }
    return posted;
  }

  /** Whether an output is uploaded as a file: all of them with SLACK_UPLOAD_RESULTS, videos small enough to play inline. */
  private uploads(asset: DeliveredAsset): boolean {
    return (this.options.uploadResults || asset.kind === 'video') && asset.bytes <= this.maxUploadBytes;
  }

  /** Uploads the outputs' files to a channel (in a thread when given). */
  private async uploadFiles(channelId: string, assets: readonly DeliveredAsset[], thread: string | undefined): Promise<Array<{ fileId: string; assetId: string }>> {
    const uploaded: Array<{ fileId: string; assetId: string }> = [];
    for (const asset of assets) {
      const { body } = await this.storage.read(asset.storageKey);
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      const file = {
        file: Buffer.concat(chunks),
        filename: `atelier-${asset.shareId.slice(0, 8)}-${asset.position + 1}.${extensionFor(asset.contentType)}`,
        title: asset.prompt.slice(0, 250),
      };
      const result = await this.client.filesUploadV2(thread ? { ...file, channel_id: channelId, thread_ts: thread } : { ...file, channel_id: channelId });
      const fileIds = (result.files ?? []).flatMap((entry) => (entry.files ?? []).map((file) => file.id)).filter((id): id is string => typeof id === 'string');
      uploaded.push(...fileIds.map((fileId) => ({ fileId, assetId: asset.id })));
    }
    return uploaded;
  }

  /** Uploaded images need no image block of their URL (which Slack may not reach). */
  private withoutUploaded(message: Message, assets: DeliveredAsset[]): Message {
    return {
      ...message,
      cards: (message.cards ?? []).map((card, index) => {
        const asset = assets[index];
        if (!asset || asset.kind !== 'image' || !this.uploads(asset)) return card;
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

  async retract(post: Post, remaining: Extract<Delivery, { status: 'succeeded' }>): Promise<boolean> {
    if (post.messageId.startsWith(FILE_POST_PREFIX)) {
      // An uploaded copy of a removed output goes; copies of outputs that remain stay.
      const [fileId = '', assetId] = post.messageId.slice(FILE_POST_PREFIX.length).split(':');
      const stays = assetId ? remaining.assets.some((asset) => asset.id === assetId) : remaining.assets.length > 0 && !this.options.uploadResults;
      if (stays) return false;
      await this.client.files.delete({ file: fileId }).catch((error: unknown) => ignoreGone(error));
      return true;
    }
    if (remaining.assets.length === 0) {
      await this.client.chat.delete({ channel: post.channelId, ts: post.messageId }).catch((error: unknown) => ignoreGone(error));
      // The status message the result was threaded under ("Done: <prompt>") goes with it: nothing of a
      // removed result stays in the channel.
      const route = this.route(remaining.job);
      if (route?.statusTs && route.channelId === post.channelId && route.statusTs !== post.messageId) {
        await this.client.chat.delete({ channel: route.channelId, ts: route.statusTs }).catch((error: unknown) => ignoreGone(error));
      }
      return true;
    }
    await this.client.chat.update({ channel: post.channelId, ts: post.messageId, ...toSlackMessage(this.withoutUploaded(resultMessage(remaining), remaining.assets)) });
    return false;
  }

  /**
   * A review-channel message. Outputs show as image blocks of our URLs; when Slack cannot reach them
   * (SLACK_UPLOAD_RESULTS), their files are uploaded beside it, so moderators see what they judge.
   */
  async post(channelId: string, message: Message, assets: readonly DeliveredAsset[]): Promise<PostedMessage & { copies: PostedMessage[] }> {
    const uploaded = this.options.uploadResults ? await this.uploadFiles(channelId, assets.filter((asset) => asset.bytes <= this.maxUploadBytes), undefined) : [];
    const posted = await this.client.chat.postMessage({ channel: channelId, ...toSlackMessage(this.reviewable(message, assets)) });
    if (!posted.ts) throw new Error('Slack returned no message ts');
    return { channelId, messageId: posted.ts, copies: uploaded.map((upload) => ({ channelId, messageId: `${FILE_POST_PREFIX}${upload.fileId}:${upload.assetId}` })) };
  }

  async edit(post: PostedMessage, message: Message, assets: readonly DeliveredAsset[]): Promise<void> {
    await this.client.chat
      .update({ channel: post.channelId, ts: post.messageId, ...toSlackMessage(this.reviewable(message, assets)) })
      .catch((error: unknown) => ignoreGone(error));
  }

  async tell(member: UserRef, message: Message): Promise<boolean> {
    try {
      const opened = await this.client.conversations.open({ users: member.platformUserId });
      if (!opened.channel?.id) return false;
      await this.client.chat.postMessage({ channel: opened.channel.id, ...toSlackMessage(message) });
      return true;
    } catch (error) {
      const code = slackErrorCode(error);
      if (code === 'user_not_found' || code === 'user_disabled' || code === 'cannot_dm_bot') return false;
      throw error;
    }
  }

  async permalink(_workspaceId: string, post: PostedMessage): Promise<string | undefined> {
    if (post.messageId.startsWith(FILE_POST_PREFIX)) return undefined;
    const answer = await this.client.chat.getPermalink({ channel: post.channelId, message_ts: post.messageId }).catch(() => undefined);
    return answer?.permalink;
  }

  /** With SLACK_UPLOAD_RESULTS our URLs are out of Slack's reach: images go, their share links stay. */
  private reviewable(message: Message, assets: readonly DeliveredAsset[]): Message {
    if (!this.options.uploadResults) return message;
    const shown = new Set(assets.flatMap((asset) => [asset.mediaUrl, asset.posterUrl]));
    return {
      ...message,
      cards: (message.cards ?? []).map((card) => {
        if (!card.imageUrl || !shown.has(card.imageUrl)) return card;
        const { imageUrl: _unreachable, ...rest } = card;
        return rest;
      }),
    };
  }

  private route(job: Job): SlackReplyRoute | undefined {
    const parsed = routeSchema.safeParse(job.reply);
    return parsed.success ? parsed.data : undefined;
  }
}

function ignoreGone(error: unknown): void {
  const code = slackErrorCode(error);
  if (code === 'message_not_found' || code === 'file_not_found' || code === 'file_deleted') return;
  throw error;
}
