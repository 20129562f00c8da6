import { z } from 'zod';
import { getModel, listModels } from '../src/catalog/index.js';
import { ASSET_KINDS, type AssetKind } from '../src/domain.js';
import { AppError } from '../src/errors.js';
import { InvalidCursorError } from '../src/db/index.js';
import type { DeliveredAsset } from '../src/jobs/deliver.js';
import type { InputFileRef } from '../src/jobs/types.js';
import type { GalleryView } from '../src/services/gallery.js';
import { startGeneration } from './generate.js';
import type { Button, CommandContext, Message } from './context.js';
import { componentId, defineCommand, type ComponentHandler, type Services } from './define.js';
import { modelName } from './render.js';

export const GALLERY_PAGE_SIZE = 5;

const dateOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** What a gallery page shows; carried in the "Older" button so the next page keeps the filters. */
interface GalleryFilter {
  kind?: AssetKind | undefined;
  search?: string | undefined;
  /** A catalog id (aliases are resolved before this). */
  modelId?: string | undefined;
}

/** Platforms cap custom ids at 100 characters (Discord); a page whose filters do not fit gets no "Older" button. */
const MAX_COMPONENT_ID = 100;

function olderButtonId(filter: GalleryFilter, cursor: string): string | undefined {
  const id = componentId('gallery', filter.kind ?? '', cursor, filter.modelId ?? '', filter.search ?? '');
  return id.length <= MAX_COMPONENT_ID ? id : undefined;
}

function galleryMessage(view: GalleryView, title: string, moreId: string | undefined, ownView = true): Message {
  if (view.items.length === 0) return { text: `${title}: nothing here yet.`, private: true };
  // One row of links and one of Delete buttons (a row holds 5 buttons, a message 5 rows), then "Older".
  const buttons: Button[][] = [
    view.items.map((asset, index): Button => ({ kind: 'link', url: asset.shareUrl, label: `Open ${index + 1}` })),
    ...(ownView
      ? [view.items.map((asset, index): Button => ({ kind: 'action', id: componentId('delete', asset.id), label: `Delete ${index + 1}`, style: 'danger' }))]
      : []),
  ];
  if (moreId) buttons.push([{ kind: 'action', id: moreId, label: 'Older', style: 'secondary' }]);
  return {
    text: title,
    cards: view.items.map((asset, index) => ({
      title: `${index + 1}. ${asset.prompt.slice(0, 200)}`,
      url: asset.shareUrl,
      // A video shows its poster (a still), never the video URL as an image.
      ...(asset.kind === 'image' ? { thumbnailUrl: asset.mediaUrl } : asset.posterUrl ? { thumbnailUrl: asset.posterUrl } : {}),
      fields: [
        { name: 'Model', value: modelName(asset.modelId), inline: true },
        { name: 'Date', value: dateOf(asset.createdAt), inline: true },
        { name: 'Link', value: asset.shareUrl },
        // Only its owner sees a held result; nobody else will until a moderator approves it.
        ...(asset.held ? [{ name: 'Status', value: "Waiting for a moderator's review" }] : []),
      ],
      ...(asset.spoiler ? { spoiler: true } : {}),
    })),
    buttons,
    private: true,
  };
}

async function showOwnGallery(ctx: CommandContext, services: Services, filter: GalleryFilter, cursor: string | undefined): Promise<void> {
  let view: GalleryView;
  try {
    view = services.gallery.mine(ctx.user, {
      limit: GALLERY_PAGE_SIZE,
      ...(filter.kind ? { kind: filter.kind } : {}),
      ...(filter.search ? { search: filter.search } : {}),
      ...(filter.modelId ? { modelId: filter.modelId } : {}),
      ...(cursor ? { cursor } : {}),
    });
  } catch (error) {
    if (error instanceof InvalidCursorError) throw new AppError('NOT_FOUND', 'bad cursor', { reason: 'That page is no longer available; run /gallery again.' });
    throw error;
  }
  const matching = [filter.search && `"${filter.search}"`, filter.modelId && modelName(filter.modelId), filter.kind && `${filter.kind}s`].filter(Boolean);
  const title = matching.length ? `Your results matching ${matching.join(', ')}, newest first` : 'Your gallery, newest first';
  const moreId = view.nextCursor ? olderButtonId(filter, view.nextCursor) : undefined;
  await ctx.reply(galleryMessage(view, cursor ? `${title} (older)` : title, moreId));
}

/** Another member's public results: no private ones, no Delete buttons. */
async function showMemberGallery(ctx: CommandContext, services: Services, memberId: string, cursor: string | undefined): Promise<void> {
  let view: GalleryView;
  try {
    view = services.gallery.publicOf(
      { platform: ctx.platform, workspaceId: ctx.user.workspaceId, platformUserId: memberId },
      { limit: GALLERY_PAGE_SIZE, ...(cursor ? { cursor } : {}) },
    );
  } catch (error) {
    if (error instanceof InvalidCursorError) throw new AppError('NOT_FOUND', 'bad cursor', { reason: 'That page is no longer available; run /gallery again.' });
    throw error;
  }
  const moreId = view.nextCursor ? componentId('galleryof', memberId, view.nextCursor) : undefined;
  // Both platforms render <@id> as the member's name.
  const title = `Public results of <@${memberId}>, newest first`;
  await ctx.reply(galleryMessage(view, cursor ? `${title} (older)` : title, moreId && moreId.length <= MAX_COMPONENT_ID ? moreId : undefined, false));
}

function resolveModelFilter(name: string | undefined): string | undefined {
  if (!name?.trim()) return undefined;
  const model = getModel(name);
  if (!model) {
    const known = listModels().map((candidate) => candidate.aliases[0] ?? candidate.id);
    throw new AppError('UNKNOWN_MODEL', `unknown model filter ${name}`, { allowed: known });
  }
  return model.id;
}

export const gallery = defineCommand({
  name: 'gallery',
  description: 'Your generated images and videos (only you see this)',
  dm: true,
  options: [
    { name: 'kind', description: 'Only images or only videos', type: 'string', choices: ASSET_KINDS.map((kind) => ({ name: kind, value: kind })) },
    { name: 'search', description: 'Words from the prompt', type: 'string', maxLength: 200 },
    { name: 'model', description: 'Only results of this model', type: 'string', autocomplete: true },
    { name: 'user', description: "Another member's public results", type: 'user' },
  ],
  input: z.object({
    kind: z.enum(ASSET_KINDS).optional(),
    search: z.string().max(200).optional(),
    model: z.string().optional(),
    user: z.string().optional(),
  }),
  async run(ctx, input, services) {
    await ctx.defer({ private: true });
    if (input.user && input.user !== ctx.user.platformUserId) return showMemberGallery(ctx, services, input.user, undefined);
    const filter: GalleryFilter = {
      kind: input.kind,
      search: input.search?.trim() || undefined,
      modelId: resolveModelFilter(input.model),
    };
    await showOwnGallery(ctx, services, filter, undefined);
  },
});

/** A result as the person pressing a button may see it: gone and other people's private results are refused alike. */
function visibleAsset(ctx: CommandContext, services: Services, assetId: string | undefined): DeliveredAsset {
  const asset = services.gallery.get(assetId ?? '');
  if (!asset || asset.removedAt !== null) throw new AppError('NOT_FOUND', 'no such asset', { reason: 'That result was deleted.' });
  if (asset.visibility === 'private' && !services.gallery.isOwner(ctx.user, asset)) {
    throw new AppError('NOT_FOUND', 'private asset of another user', { reason: 'That result was deleted.' });
  }
  return asset;
}

async function mayDelete(ctx: CommandContext, services: Services, asset: DeliveredAsset): Promise<{ owner: boolean }> {
  const owner = services.gallery.isOwner(ctx.user, asset);
  if (!owner && !(await services.moderation.isModerator(ctx))) {
    throw new AppError('NOT_ALLOWED', 'not the owner', { reason: 'Only its owner or a moderator can delete this.' });
  }
  return { owner };
}

export const galleryComponents: ComponentHandler[] = [
  {
    name: 'report',
    /** Any member may report a result they can see; the reason is optional. */
    async run(ctx, [assetId], services) {
      const asset = visibleAsset(ctx, services, assetId);
      await ctx.openForm({
        id: componentId('reportform', asset.id),
        title: 'Report this result',
        fields: [{ id: 'reason', label: 'What is wrong with it? (optional)', style: 'paragraph', required: false, maxLength: 500 }],
      });
    },
  },
  {
    name: 'reportform',
    async run(ctx, [assetId], services, values) {
      await ctx.defer({ private: true });
      visibleAsset(ctx, services, assetId);
      await services.moderation.report(ctx.user, assetId ?? '', values?.reason);
      await ctx.reply({ text: 'Thank you. The moderators will review this result.', private: true });
    },
  },
  {
    name: 'galleryof',
    async run(ctx, [memberId, cursor], services) {
      await ctx.defer({ private: true });
      await showMemberGallery(ctx, services, memberId ?? '', cursor || undefined);
    },
  },
  {
    name: 'gallery',
    async run(ctx, [kind, cursor, modelId, ...search], services) {
      await ctx.defer({ private: true });
      const filter: GalleryFilter = {
        kind: kind === 'image' || kind === 'video' ? kind : undefined,
        // The search text may itself contain ':' (the id separator).
        search: search.join(':') || undefined,
        modelId: modelId || undefined,
      };
      await showOwnGallery(ctx, services, filter, cursor || undefined);
    },
  },
  {
    name: 'delete',
    async run(ctx, [assetId], services) {
      const asset = visibleAsset(ctx, services, assetId);
      await mayDelete(ctx, services, asset);
      await ctx.reply({
        text: `Delete **${asset.prompt.slice(0, 150)}**? This removes the file and its share link for good.`,
        buttons: [[{ kind: 'action', id: componentId('deleteyes', asset.id), label: 'Delete for good', style: 'danger' }]],
        private: true,
      });
    },
  },
  {
    name: 'deleteyes',
    async run(ctx, [assetId], services) {
      await ctx.defer({ private: true });
      const asset = services.gallery.get(assetId ?? '');
      if (!asset) throw new AppError('NOT_FOUND', 'no such asset', { reason: 'That item no longer exists.' });
      const { owner } = await mayDelete(ctx, services, asset);
      if (asset.removedAt !== null) throw new AppError('NOT_FOUND', 'already removed', { reason: 'That item was already deleted.' });
      if (owner) {
        await services.gallery.remove(asset, { by: 'owner', reason: 'deleted by owner' });
      } else {
        // A moderator's deletion is a moderation action: logged, and the owner is told.
        const actor = await services.moderation.assertModerator(ctx);
        await services.moderation.remove(actor, asset.jobId, asset.position, 'deleted by a moderator');
      }
      await ctx.reply({ text: 'Deleted. The file and its share link are gone.', private: true });
    },
  },
  {
    name: 'rerun',
    async run(ctx, [jobId], services) {
      const job = services.generation.getJob(jobId ?? '');
      if (!job) throw new AppError('NOT_FOUND', 'no such job', { reason: 'That generation no longer exists.' });
      // The job keeps its validated settings but not the attachments it was given.
      const needsFiles = Object.values(getModel(job.modelId)?.buckets ?? {}).some((bucket) => bucket.required);
      if (needsFiles) {
        throw new AppError('NOT_ALLOWED', 'rerun of a job with attachments', {
          reason: `Rerun cannot reuse the images you attached. Run the command again and attach them, or use Vary on a result.`,
        });
      }
      // Same model and settings, a new seed.
      const { seed: _seed, prompt: _prompt, ...params } = job.params;
      await startGeneration(ctx, services, job.kind, { prompt: job.prompt, model: job.modelId, private: job.private }, [], params);
    },
  },
  {
    name: 'vary',
    /** A variation of one image result: the result itself goes to the default edit model with the same prompt. */
    async run(ctx, [assetId], services) {
      const asset = visibleAsset(ctx, services, assetId);
      if (asset.kind !== 'image') throw new AppError('NOT_ALLOWED', 'vary of a video', { reason: 'Only images can be varied.' });
      const extension = asset.contentType.split('/')[1] ?? 'png';
      const file: InputFileRef = {
        bucket: 'references',
        // The worker reads our stored copy; the URL is only for the record.
        storageKey: asset.storageKey,
        url: asset.mediaUrl,
        filename: `result-${asset.position + 1}.${extension}`,
        contentType: asset.contentType,
        size: asset.bytes,
      };
      await startGeneration(ctx, services, 'image', { prompt: asset.prompt, private: asset.visibility === 'private' }, [file]);
    },
  },
];
