import { DiscordAPIError, MessageFlags, Routes, type REST, type RawFile } from 'discord.js';
import { z } from 'zod';
import type { Message } from '../../../commands/context.js';
import { deliveryMessage, progressMessage } from '../../../commands/render.js';
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
import { EditQueue } from '../edit-queue.js';
import type { DiscordReplyRoute } from './context.js';
import { toDiscordPayload, type DiscordPayload } from './render.js';

const routeSchema = z.object({
  platform: z.literal('discord'),
  applicationId: z.string(),
  interactionToken: z.string(),
  createdAt: z.number(),
  channelId: z.string(),
  guildId: z.string().nullable(),
  userId: z.string(),
  attachmentSizeLimit: z.number(),
  ephemeral: z.boolean(),
}) satisfies z.ZodType<DiscordReplyRoute>;

/** What a bot may upload in a channel message when no interaction told us more (Discord's default). */
const CHANNEL_ATTACHMENT_LIMIT = 10 * 1024 * 1024;
/** A user who does not accept DMs from the bot. */
const DMS_CLOSED = new Set([50007]);

/** Discord error codes that mean "this way back is closed; try another". */
const TOKEN_GONE = new Set([10015, 50027, 10008]);
const CHANNEL_GONE = new Set([10003, 50001, 50013, 50083]);
/** A message to take down is already gone (or out of reach for good). */
const MESSAGE_GONE = new Set([10003, 10008, 50001]);

type Succeeded = Extract<Delivery, { status: 'succeeded' }>;

/** What Discord answers for a message (the fields the deliverer reads). */
interface PostedDiscordMessage {
  id: string;
  channel_id: string;
  content?: string;
  flags?: number;
  attachments?: Array<{ id: string; filename: string; url: string }>;
}

export interface DiscordDelivererOptions {
  /** How long an interaction token works (Discord: 15 minutes). */
  tokenLifetimeMs?: number;
  /** Edits of one job's message (its queued answer, progress, the result) are at most this frequent. */
  progressIntervalMs?: number;
}

/**
 * Posts progress and results back where a Discord command was used: by editing the deferred reply
 * while its token lives, then in the channel mentioning the user, then by DM. Uses plain REST with
 * the stored reply route, so it works for jobs that outlived a restart.
 *
 * Every edit of an original message (the command's own "queued" answer, progress, the result) is
 * spaced at least `progressIntervalMs` from the previous one; progress in between is coalesced.
 */
export class DiscordDeliverer implements Deliverer, ModerationOutlet {
  private readonly tokenLifetimeMs: number;
  /** By interaction token: one original message each. */
  private readonly edits: EditQueue;

  constructor(
    private readonly rest: REST,
    private readonly storage: StorageDriver,
    private readonly logger: Logger,
    options: DiscordDelivererOptions = {},
  ) {
    this.tokenLifetimeMs = options.tokenLifetimeMs ?? 15 * 60_000;
    this.edits = new EditQueue(options.progressIntervalMs ?? 2_000);
  }

  /**
   * Called by the bot while a handler answers an interaction: progress and results for that
   * interaction wait until the handler's own answer (e.g. "Queued") is out, and keep their distance
   * from it. Returns the release, to call when the handler is done.
   */
  holdEdits(interactionToken: string): () => void {
    return this.edits.hold(interactionToken);
  }

  /** Called for every progress event of a Discord job; edits are throttled per job. */
  onProgress(job: Job, progress: GenerateProgress): void {
    // A progress event can arrive after the outcome was recorded (events and deliveries travel apart).
    if (job.finishedAt !== null || job.deliveredAt !== null) return;
    const route = this.route(job);
    if (!route || !this.tokenAlive(route)) return;
    this.edits.progress(route.interactionToken, progressMessage(job, progress), async (message) => {
      if (!this.tokenAlive(route)) return;
      await this.editOriginal(route, toDiscordPayload(message)).catch((error: unknown) => this.logger.debug({ err: error, jobId: job.id }, 'progress edit failed'));
    });
  }

  get moderation(): ModerationOutlet {
    return this;
  }

  /** Posts the outcome; returns the messages that show a result, for a later removal to take down. */
  async deliver(delivery: Delivery, options: DeliverOptions = {}): Promise<PostedMessage[]> {
    const route = this.route(delivery.job);
    if (!route) {
      this.logger.warn({ jobId: delivery.job.id }, 'Discord job without a usable reply route; result kept in the gallery only');
      return [];
    }
    // Stop progress for good, and wait for edits in flight (and the command's own answer) so none
    // can land after the result.
    const finishing = this.edits.finish(route.interactionToken);
    try {
      const prepared = this.prepare(route, delivery);
      prepared.catch(() => undefined); // awaited below; reading the files overlaps the wait
      const final = await finishing;
      const { payload, files } = await prepared;
      if (this.tokenAlive(route)) await final.wait();
      const posted = await this.postOutcome(route, delivery, payload, files, options);
      // Ephemeral messages vanish by themselves; everything else that shows a result can be taken down.
      if (delivery.status !== 'succeeded' || !posted || ((posted.flags ?? 0) & MessageFlags.Ephemeral) !== 0) return [];
      return [{ channelId: posted.channel_id, messageId: posted.id }];
    } finally {
      this.edits.forget(route.interactionToken);
    }
  }

  private async prepare(route: DiscordReplyRoute, delivery: Delivery): Promise<{ payload: DiscordPayload; files: RawFile[] }> {
    const message = deliveryMessage(delivery);
    return delivery.status === 'succeeded'
      ? this.withAttachments(message, delivery.assets, route.attachmentSizeLimit)
      : { payload: toDiscordPayload(message), files: [] };
  }

  /** Posts where the member will see it; returns the message that shows it (undefined when none could be). */
  private async postOutcome(
    route: DiscordReplyRoute,
    delivery: Delivery,
    payload: DiscordPayload,
    files: RawFile[],
    options: DeliverOptions,
  ): Promise<PostedDiscordMessage | undefined> {
    // Only a result is for the channel: a failure or a cancellation concerns the member alone.
    const privateOutcome = delivery.status !== 'succeeded' || delivery.job.private;
    // An approved public result is a new post: the command's placeholder made way for the review notice.
    const useToken = this.tokenAlive(route) && !(options.afterReview && !privateOutcome);

    if (useToken) {
      try {
        if (isPrivateNotice(delivery) && !route.ephemeral) {
          // The public "queued" post goes; the reason is for the user alone.
          await this.rest.delete(Routes.webhookMessage(route.applicationId, route.interactionToken, '@original'), { auth: false }).catch(() => undefined);
          await this.rest.post(Routes.webhook(route.applicationId, route.interactionToken), {
            body: { ...payload, flags: MessageFlags.Ephemeral },
            auth: false,
          });
          return undefined;
        }
        const edited = await this.editOriginal(route, payload, files);
        // The original of an ephemeral defer is ephemeral, whatever the answer says.
        return route.ephemeral ? { ...edited, flags: (edited.flags ?? 0) | MessageFlags.Ephemeral } : edited;
      } catch (error) {
        if (!isCode(error, TOKEN_GONE)) throw error;
        this.logger.info({ jobId: delivery.job.id }, 'interaction token expired; posting the result another way');
      }
    }
    if (!privateOutcome && route.guildId) {
      try {
        return await this.sendToChannel(route.channelId, { ...payload, content: `<@${route.userId}> ${payload.content}`.trim(), allowed_mentions: { parse: [], users: [route.userId] } }, files);
      } catch (error) {
        if (!isCode(error, CHANNEL_GONE)) throw error;
        this.logger.info({ jobId: delivery.job.id, channelId: route.channelId }, 'channel is gone or closed to the bot; sending the result by DM');
      }
    }
    try {
      return await this.sendToChannel(await this.dmChannel(route.userId), payload, files);
    } catch (error) {
      // The user closed DMs: the result stays in their /gallery, which is where they will find it.
      if (isCode(error, DMS_CLOSED)) {
        this.logger.warn({ jobId: delivery.job.id }, 'could not DM the user; the result is in their gallery');
        return undefined;
      }
      throw error;
    }
  }

  /**
   * After a removal: a post none of whose outputs remain is deleted; otherwise it is edited to show
   * only the remaining ones (their files stay attached). Uses the bot token, so it works after the
   * interaction token expired. A message already gone is fine.
   */
  async retract(post: Post, remaining: Succeeded): Promise<void> {
    try {
      if (remaining.assets.length === 0) {
        await this.rest.delete(Routes.channelMessage(post.channelId, post.messageId));
        return;
      }
      await this.rewrite(post, deliveryMessage(remaining), remaining.assets, { keepMention: true, reply: this.route(remaining.job) });
    } catch (error) {
      if (isCode(error, MESSAGE_GONE)) return;
      throw error;
    }
  }

  /**
   * Edits a posted message to `message`, keeping the uploaded files of `assets` (matched by name) and
   * dropping every other file. `reply`: the interaction whose token may edit it when the channel route refuses.
   */
  private async rewrite(
    post: PostedMessage,
    message: Message,
    assets: readonly DeliveredAsset[],
    options: { keepMention?: boolean; reply?: DiscordReplyRoute | undefined } = {},
  ): Promise<void> {
    const route = Routes.channelMessage(post.channelId, post.messageId);
    const current = (await this.rest.get(route)) as PostedDiscordMessage;
    const kept = new Map<number, { id: string; url: string }>();
    assets.forEach((asset, index) => {
      const attachment = current.attachments?.find((candidate) => candidate.filename.replace(/^SPOILER_/, '').startsWith(attachmentStem(asset)));
      if (attachment) kept.set(index, attachment);
    });
    const payload = this.compose(message, assets, (_asset, index) => kept.get(index)?.url);
    const mention = options.keepMention ? /^<@\d+>/.exec(current.content ?? '')?.[0] : undefined;
    const body = {
      ...payload,
      content: [mention, payload.content].filter(Boolean).join(' '),
      attachments: [...kept.values()].map((attachment) => ({ id: attachment.id })),
    };
    try {
      await this.rest.patch(route, { body });
    } catch (error) {
      // An interaction's reply may refuse edits through the channel; its token still works for a while.
      const reply = options.reply;
      if (!isCode(error, new Set([50005])) || !reply || !this.tokenAlive(reply)) throw error;
      await this.rest.patch(Routes.webhookMessage(reply.applicationId, reply.interactionToken, post.messageId), { body, auth: false });
    }
  }

  /** A review-channel message; small outputs are attached (a moderator sees them even when our URL is out of Discord's reach). */
  async post(channelId: string, message: Message, assets: readonly DeliveredAsset[]): Promise<PostedMessage> {
    const { payload, files } = await this.withAttachments(message, assets, CHANNEL_ATTACHMENT_LIMIT);
    const posted = await this.sendToChannel(channelId, payload, files);
    return { channelId: posted.channel_id, messageId: posted.id };
  }

  async edit(post: PostedMessage, message: Message, assets: readonly DeliveredAsset[]): Promise<void> {
    try {
      await this.rewrite(post, message, assets);
    } catch (error) {
      if (isCode(error, MESSAGE_GONE)) return;
      throw error;
    }
  }

  async tell(member: UserRef, message: Message): Promise<boolean> {
    try {
      await this.sendToChannel(await this.dmChannel(member.platformUserId), toDiscordPayload(message), []);
      return true;
    } catch (error) {
      if (isCode(error, DMS_CLOSED)) return false;
      throw error;
    }
  }

  async permalink(workspaceId: string, post: PostedMessage): Promise<string> {
    return `https://discord.com/channels/${workspaceId || '@me'}/${post.channelId}/${post.messageId}`;
  }

  private async dmChannel(userId: string): Promise<string> {
    const dm = (await this.rest.post(Routes.userChannels(), { body: { recipient_id: userId } })) as { id: string };
    return dm.id;
  }

  /**
   * Small outputs go up as files (so they outlive any URL); larger ones are shown by URL: an image
   * inline, a video by its share link with its poster (a still image, never the video itself).
   */
  private async withAttachments(message: Message, assets: readonly DeliveredAsset[], budget: number): Promise<{ payload: DiscordPayload; files: RawFile[] }> {
    const files: RawFile[] = [];
    const attached = new Map<number, string>();
    for (const [index, asset] of assets.entries()) {
      if (asset.bytes > budget) continue;
      const name = `${asset.spoiler ? 'SPOILER_' : ''}${attachmentStem(asset)}${index + 1}.${extensionFor(asset.contentType)}`;
      files.push({ name, data: await this.readAll(asset.storageKey), contentType: asset.contentType });
      attached.set(index, `attachment://${name}`);
      budget -= asset.bytes;
    }
    return { payload: this.compose(message, assets, (_asset, index) => attached.get(index)), files };
  }

  /**
   * The result message with each output either attached (`attachedUrl` gives its attachment URL) or
   * linked. Flagged images are spoilers: a SPOILER_ file, or a spoiler link, and never an embed image.
   * An attached video plays inline: its card shows no poster on top.
   */
  private compose(message: Message, assets: readonly DeliveredAsset[], attachedUrl: (asset: DeliveredAsset, index: number) => string | undefined): DiscordPayload {
    const cards = [...(message.cards ?? [])];
    const spoilerLinks: string[] = [];
    for (const [index, asset] of assets.entries()) {
      const card = cards[index];
      const url = attachedUrl(asset, index);
      if (url === undefined) {
        if (asset.spoiler && asset.kind === 'image') spoilerLinks.push(`||${asset.mediaUrl}||`);
        continue;
      }
      if (!card) continue;
      if (asset.kind === 'image' && !asset.spoiler) cards[index] = { ...card, imageUrl: url };
      if (asset.kind === 'video') {
        const { imageUrl: _poster, ...rest } = card;
        cards[index] = rest;
      }
    }
    const text = [message.text, ...spoilerLinks].filter(Boolean).join('\n');
    return toDiscordPayload({ ...message, cards, ...(text ? { text } : {}) });
  }

  private async readAll(storageKey: string): Promise<Buffer> {
    const { body } = await this.storage.read(storageKey);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }

  private async editOriginal(route: DiscordReplyRoute, payload: DiscordPayload, files: RawFile[] = []): Promise<PostedDiscordMessage> {
    return (await this.rest.patch(Routes.webhookMessage(route.applicationId, route.interactionToken, '@original'), {
      body: { ...payload, attachments: files.map((file, id) => ({ id, filename: file.name })) },
      files,
      auth: false,
    })) as PostedDiscordMessage;
  }

  private async sendToChannel(channelId: string, payload: DiscordPayload, files: RawFile[]): Promise<PostedDiscordMessage> {
    return (await this.rest.post(Routes.channelMessages(channelId), {
      body: { ...payload, ...(files.length ? { attachments: files.map((file, id) => ({ id, filename: file.name })) } : {}) },
      files,
    })) as PostedDiscordMessage;
  }

  private tokenAlive(route: DiscordReplyRoute): boolean {
    // A margin (a minute, for Discord's 15): an upload started just before expiry must still land.
    return Date.now() < route.createdAt + this.tokenLifetimeMs - Math.min(60_000, this.tokenLifetimeMs / 10);
  }

  private route(job: Job): DiscordReplyRoute | undefined {
    const parsed = routeSchema.safeParse(job.reply);
    return parsed.success ? parsed.data : undefined;
  }
}

/** Uploaded files are named after their output, so a later edit can tell which one is which. */
const attachmentStem = (asset: Pick<DeliveredAsset, 'shareId'>) => `atelier-${asset.shareId.slice(0, 8)}-`;

function isCode(error: unknown, codes: ReadonlySet<number>): boolean {
  return error instanceof DiscordAPIError && typeof error.code === 'number' && codes.has(error.code);
}
