import type { Asset, GalleryPage, GalleryQuery, Repositories } from '../db/index.js';
import type { Platform, UserRef } from '../domain.js';
import { AppError } from '../errors.js';
import type { Keyring } from '../crypto/keyring.js';
import { openReply } from '../jobs/reply-seal.js';
import { withLinks, type DeliveredAsset, type Deliverer, type LinkBuilder } from '../jobs/deliver.js';
import type { Logger } from '../logger.js';
import type { StorageDriver } from '../storage/types.js';

export interface GalleryView {
  items: DeliveredAsset[];
  nextCursor?: string;
}

export type GalleryFilters = Omit<GalleryQuery, 'publicOnly'>;

/** A user's history, and removal that really removes: the stored object, then the record and link. */
export class GalleryService {
  private readonly removalListeners: Array<(asset: Asset, removal: { by: string; reason?: string }) => Promise<void>> = [];

  constructor(
    private readonly repos: Repositories,
    private readonly storage: StorageDriver,
    private readonly links: LinkBuilder,
    private readonly logger: Logger,
    /** The adapters' deliverers, which also take down what they posted. */
    private readonly deliverers: ReadonlyMap<Platform, Deliverer> = new Map(),
    /** Opens jobs' sealed reply routes for the adapters. */
    private readonly keyring?: Keyring,
  ) {}

  /** The user's own results (private ones included), newest first. */
  mine(user: UserRef, filters: GalleryFilters): GalleryView {
    const owner = this.repos.users.findUser(user);
    if (!owner) return { items: [] };
    return this.view(this.repos.assets.gallery(owner.id, filters));
  }

  /** Another member's public results only. */
  publicOf(user: UserRef, filters: GalleryFilters): GalleryView {
    const owner = this.repos.users.findUser(user);
    if (!owner) return { items: [] };
    return this.view(this.repos.assets.gallery(owner.id, { ...filters, publicOnly: true }));
  }

  get(assetId: string): DeliveredAsset | undefined {
    const asset = this.repos.assets.getAsset(assetId);
    return asset && withLinks(asset, this.links);
  }

  /**
   * A member flags a result for the moderators. Reports of one result are grouped (one per member);
   * returns how many members have reported it.
   */
  report(reporter: UserRef & { displayName?: string | undefined }, assetId: string, reason: string | undefined): { reports: number } {
    const asset = this.repos.assets.getAsset(assetId);
    if (!asset || asset.removedAt !== null) throw new AppError('NOT_FOUND', 'no such asset', { reason: 'That result was already removed.' });
    const user = this.repos.users.upsertUser(reporter);
    this.repos.reports.report(asset.id, user.id, reason?.trim() ? reason.trim().slice(0, 500) : null);
    const reports = this.repos.reports.forAsset(asset.id).length;
    this.logger.info({ assetId: asset.id, reports }, 'result reported');
    return { reports };
  }

  isOwner(user: UserRef, asset: Asset): boolean {
    const owner = this.repos.users.findUser(user);
    return owner !== undefined && owner.id === asset.ownerUserId;
  }

  /**
   * Deletes the stored file(s) first, then marks the record removed (the share link answers 410 and
   * galleries hide it). Idempotent: removing an already removed item changes nothing.
   */
  async remove(asset: Asset, removal: { by: string; reason?: string }): Promise<Asset> {
    await this.storage.delete(asset.storageKey);
    if (asset.posterStorageKey) await this.storage.delete(asset.posterStorageKey);
    const removed = this.repos.assets.removeAsset(asset.id, { ...removal, at: Date.now() });
    this.logger.info({ assetId: asset.id, by: removal.by }, 'asset removed');
    await this.retractPosts(asset.jobId);
    for (const listener of this.removalListeners) {
      // Copies elsewhere (a review channel) follow; the file and link are gone whatever they do.
      await listener(removed ?? asset, removal).catch((error: unknown) => this.logger.warn({ err: error, assetId: asset.id }, 'a removal follow-up failed'));
    }
    return removed ?? asset;
  }

  /** Called after every removal, whoever asked for it (the moderation service updates its review messages). */
  onRemove(listener: (asset: Asset, removal: { by: string; reason?: string }) => Promise<void>): void {
    this.removalListeners.push(listener);
  }

  /** The chat messages that showed the job's results lose the removed output (or go entirely). */
  private async retractPosts(jobId: string): Promise<void> {
    const stored = this.repos.jobs.getJob(jobId);
    if (!stored) return;
    const job = this.keyring ? openReply(this.keyring, stored) : stored;
    const remaining = this.repos.assets
      .listJobAssets(jobId)
      .filter((asset) => asset.removedAt === null)
      .map((asset) => withLinks(asset, this.links));
    for (const post of this.repos.posts.forJob(jobId)) {
      const deliverer = this.deliverers.get(post.platform);
      if (!deliverer?.retract) continue;
      try {
        const gone = await deliverer.retract(post, { status: 'succeeded', job, assets: remaining });
        if (gone === true || remaining.length === 0) this.repos.posts.markDeleted(post.id, Date.now());
      } catch (error) {
        // The file and link are gone already; a message the platform will not let us touch is logged.
        this.logger.warn({ err: error, jobId, postId: post.id }, 'could not take down a posted result');
      }
    }
  }

  private view(page: GalleryPage): GalleryView {
    return {
      items: page.items.map((asset) => withLinks(asset, this.links)),
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    };
  }
}
