import { DiscordAPIError, MessageFlags, Routes, type REST, type RawFile } from 'discord.js';
import { z } from 'zod';
import type { Message } from '../../../commands/context.js';
import { deliveryMessage, progressMessage } from '../../../commands/render.js';
import type { Job } from '../../db/index.js';
import type { Deliverer, DeliveredAsset, Delivery } from '../../jobs/deliver.js';
import type { GenerateProgress } from '../../jobs/types.js';
import type { Logger } from '../../logger.js';
import { extensionFor } from '../../storage/keys.js';
import type { StorageDriver } from '../../storage/types.js';
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

/** Discord error codes that mean "this way back is closed; try another". */
const TOKEN_GONE = new Set([10015, 50027, 10008]);
const CHANNEL_GONE = new Set([10003, 50001, 50013, 50083]);

export interface DiscordDelivererOptions {
  /** How long an interaction token works (Discord: 15 minutes). */
  tokenLifetimeMs?: number;
  /** Progress edits per job are at most this frequent (the result itself is never delayed). */
  progressIntervalMs?: number;
}

interface ProgressState {
  lastEditAt: number;
  timer?: NodeJS.Timeout | undefined;
  pending?: Message | undefined;
  /** Edits of one job go out one after another, so a stale progress never lands after the result. */
  chain: Promise<void>;
  done: boolean;
}

/**
 * Posts progress and results back where a Discord command was used: by editing the deferred reply
 * while its token lives, then in the channel mentioning the user, then by DM. Uses plain REST with
 * the stored reply route, so it works for jobs that outlived a restart.
 */
export class DiscordDeliverer implements Deliverer {
  private readonly tokenLifetimeMs: number;
  private readonly progressIntervalMs: number;
  private readonly progress = new Map<string, ProgressState>();

  constructor(
    private readonly rest: REST,
    private readonly storage: StorageDriver,
    private readonly logger: Logger,
    options: DiscordDelivererOptions = {},
  ) {
    this.tokenLifetimeMs = options.tokenLifetimeMs ?? 15 * 60_000;
    this.progressIntervalMs = options.progressIntervalMs ?? 2_000;
  }

  /** Called for every progress event of a Discord job; edits are throttled per job. */
  onProgress(job: Job, progress: GenerateProgress): void {
    const route = this.route(job);
    if (!route || !this.tokenAlive(route)) return;
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

  private flushProgress(jobId: string, route: DiscordReplyRoute): void {
    const state = this.progress.get(jobId);
    if (!state || state.done || !state.pending) return;
    const message = state.pending;
    state.pending = undefined;
    clearTimeout(state.timer);
    state.timer = undefined;
    state.lastEditAt = Date.now();
    state.chain = state.chain.then(() =>
      this.editOriginal(route, toDiscordPayload(message)).catch((error: unknown) =>
        this.logger.debug({ err: error, jobId }, 'progress edit failed'),
      ),
    );
  }

  async deliver(delivery: Delivery): Promise<void> {
    const route = this.route(delivery.job);
    if (!route) {
      this.logger.warn({ jobId: delivery.job.id }, 'Discord job without a usable reply route; result kept in the gallery only');
      return;
    }
    // Stop progress for good, and wait for an edit in flight so it cannot land after the result.
    const state = this.stateOf(delivery.job.id);
    state.done = true;
    clearTimeout(state.timer);
    await state.chain;
    try {
      await this.post(route, delivery);
    } finally {
      this.progress.delete(delivery.job.id);
    }
  }

  private async post(route: DiscordReplyRoute, delivery: Delivery): Promise<void> {
    const message = deliveryMessage(delivery);
    const { payload, files } = delivery.status === 'succeeded' ? await this.withAttachments(message, delivery.assets, route) : { payload: toDiscordPayload(message), files: [] };
    const privateOutcome = delivery.status === 'failed' || delivery.job.private;

    if (this.tokenAlive(route)) {
      try {
        if (delivery.status === 'failed' && !route.ephemeral) {
          // The public "queued" post goes; the reason is for the user alone.
          await this.rest.delete(Routes.webhookMessage(route.applicationId, route.interactionToken, '@original'), { auth: false }).catch(() => undefined);
          await this.rest.post(Routes.webhook(route.applicationId, route.interactionToken), {
            body: { ...payload, flags: MessageFlags.Ephemeral },
            auth: false,
          });
        } else {
          await this.editOriginal(route, payload, files);
        }
        return;
      } catch (error) {
        if (!isCode(error, TOKEN_GONE)) throw error;
        this.logger.info({ jobId: delivery.job.id }, 'interaction token expired; posting the result another way');
      }
    }
    if (!privateOutcome && route.guildId) {
      try {
        await this.sendToChannel(route.channelId, { ...payload, content: `<@${route.userId}> ${payload.content}`.trim(), allowed_mentions: { parse: [], users: [route.userId] } }, files);
        return;
      } catch (error) {
        if (!isCode(error, CHANNEL_GONE)) throw error;
        this.logger.info({ jobId: delivery.job.id, channelId: route.channelId }, 'channel is gone or closed to the bot; sending the result by DM');
      }
    }
    try {
      const dm = (await this.rest.post(Routes.userChannels(), { body: { recipient_id: route.userId } })) as { id: string };
      await this.sendToChannel(dm.id, payload, files);
    } catch (error) {
      // The user closed DMs: the result stays in their /gallery, which is where they will find it.
      if (isCode(error, new Set([50007]))) {
        this.logger.warn({ jobId: delivery.job.id }, 'could not DM the user; the result is in their gallery');
        return;
      }
      throw error;
    }
  }

  /** Small outputs go up as files (so they outlive any URL); flagged images as spoilers. */
  private async withAttachments(message: Message, assets: DeliveredAsset[], route: DiscordReplyRoute): Promise<{ payload: DiscordPayload; files: RawFile[] }> {
    const files: RawFile[] = [];
    const cards = [...(message.cards ?? [])];
    const spoilerLinks: string[] = [];
    let budget = route.attachmentSizeLimit;
    for (const [index, asset] of assets.entries()) {
      if (asset.bytes > budget) {
        if (asset.nsfw && asset.kind === 'image') spoilerLinks.push(`||${asset.mediaUrl}||`);
        continue;
      }
      const name = `${asset.nsfw ? 'SPOILER_' : ''}atelier-${asset.shareId.slice(0, 8)}-${index + 1}.${extensionFor(asset.contentType)}`;
      files.push({ name, data: await this.readAll(asset.storageKey), contentType: asset.contentType });
      budget -= asset.bytes;
      const card = cards[index];
      if (card && asset.kind === 'image' && !asset.nsfw) cards[index] = { ...card, imageUrl: `attachment://${name}` };
    }
    const text = [message.text, ...spoilerLinks].filter(Boolean).join('\n');
    const payload = toDiscordPayload({ ...message, cards, ...(text ? { text } : {}) });
    return { payload, files };
  }

  private async readAll(storageKey: string): Promise<Buffer> {
    const { body } = await this.storage.read(storageKey);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }

  private async editOriginal(route: DiscordReplyRoute, payload: DiscordPayload, files: RawFile[] = []): Promise<void> {
    await this.rest.patch(Routes.webhookMessage(route.applicationId, route.interactionToken, '@original'), {
      body: { ...payload, attachments: files.map((file, id) => ({ id, filename: file.name })) },
      files,
      auth: false,
    });
  }

  private async sendToChannel(channelId: string, payload: DiscordPayload, files: RawFile[]): Promise<void> {
    await this.rest.post(Routes.channelMessages(channelId), {
      body: { ...payload, ...(files.length ? { attachments: files.map((file, id) => ({ id, filename: file.name })) } : {}) },
      files,
    });
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

function isCode(error: unknown, codes: ReadonlySet<number>): boolean {
  return error instanceof DiscordAPIError && typeof error.code === 'number' && codes.has(error.code);
}
