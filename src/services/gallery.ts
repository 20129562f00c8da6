import type { Asset, GalleryPage, GalleryQuery, Repositories } from '../db/index.js';
import type { UserRef } from '../domain.js';
import { withLinks, type DeliveredAsset, type LinkBuilder } from '../jobs/deliver.js';
import type { Logger } from '../logger.js';
import type { StorageDriver } from '../storage/types.js';

export interface GalleryView {
  items: DeliveredAsset[];
  nextCursor?: string;
}

export type GalleryFilters = Omit<GalleryQuery, 'publicOnly'>;

/** A user's history, and removal that really removes: the stored object, then the record and link. */
export class GalleryService {
  constructor(
    private readonly repos: Repositories,
    private readonly storage: StorageDriver,
    private readonly links: LinkBuilder,
    private readonly logger: Logger,
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
    return removed ?? asset;
  }

  private view(page: GalleryPage): GalleryView {
    return {
      items: page.items.map((asset) => withLinks(asset, this.links)),
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    };
  }
}
