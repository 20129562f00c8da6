import { z } from 'zod';
import { ASSET_KINDS } from '../src/domain.js';
import { AppError } from '../src/errors.js';
import { InvalidCursorError } from '../src/db/index.js';
import type { GalleryView } from '../src/services/gallery.js';
import { startGeneration } from './generate.js';
import type { Button, CommandContext, Message } from './context.js';
import { componentId, defineCommand, type ComponentHandler, type Services } from './define.js';
import { modelName } from './render.js';

export const GALLERY_PAGE_SIZE = 5;

const dateOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function galleryMessage(view: GalleryView, title: string, ownView: boolean, moreId: string | undefined): Message {
  if (view.items.length === 0) return { text: `${title}: nothing here yet.`, private: true };
  const buttons: Button[][] = view.items.map((asset, index) => [
    { kind: 'link', url: asset.shareUrl, label: `Open ${index + 1}` },
    ...(ownView ? [{ kind: 'action' as const, id: componentId('delete', asset.id), label: `Delete ${index + 1}`, style: 'danger' as const }] : []),
  ]);
  if (moreId) buttons.push([{ kind: 'action', id: moreId, label: 'Older', style: 'secondary' }]);
  return {
    text: title,
    cards: view.items.map((asset, index) => ({
      title: `${index + 1}. ${asset.prompt.slice(0, 200)}`,
      url: asset.shareUrl,
      ...(asset.kind === 'image' ? { thumbnailUrl: asset.mediaUrl } : {}),
      fields: [
        { name: 'Model', value: modelName(asset.modelId), inline: true },
        { name: 'Date', value: dateOf(asset.createdAt), inline: true },
        { name: 'Link', value: asset.shareUrl },
      ],
      ...(asset.nsfw ? { spoiler: true } : {}),
    })),
    buttons: buttons.slice(0, 5),
    private: true,
  };
}

async function showOwnGallery(ctx: CommandContext, services: Services, kind: string | undefined, cursor: string | undefined): Promise<void> {
  let view: GalleryView;
  try {
    view = services.gallery.mine(ctx.user, {
      limit: GALLERY_PAGE_SIZE,
      ...(kind === 'image' || kind === 'video' ? { kind } : {}),
      ...(cursor ? { cursor } : {}),
    });
  } catch (error) {
    if (error instanceof InvalidCursorError) throw new AppError('NOT_FOUND', 'bad cursor', { reason: 'That page is no longer available; run /gallery again.' });
    throw error;
  }
  const moreId = view.nextCursor ? componentId('gallery', kind ?? '', view.nextCursor) : undefined;
  await ctx.reply(galleryMessage(view, 'Your gallery, newest first', true, moreId && moreId.length <= 100 ? moreId : undefined));
}

export const gallery = defineCommand({
  name: 'gallery',
  description: 'Your generated images and videos (only you see this)',
  dm: true,
  options: [
    { name: 'kind', description: 'Only images or only videos', type: 'string', choices: ASSET_KINDS.map((kind) => ({ name: kind, value: kind })) },
    { name: 'search', description: 'Words from the prompt', type: 'string', maxLength: 200 },
    { name: 'model', description: 'Only results of this model', type: 'string', autocomplete: true },
  ],
  input: z.object({
    kind: z.enum(ASSET_KINDS).optional(),
    search: z.string().max(200).optional(),
    model: z.string().optional(),
  }),
  async run(ctx, input, services) {
    await ctx.defer({ private: true });
    if (!input.search && !input.model) return showOwnGallery(ctx, services, input.kind, undefined);
    const view = services.gallery.mine(ctx.user, {
      limit: GALLERY_PAGE_SIZE,
      ...(input.kind ? { kind: input.kind } : {}),
      ...(input.search ? { search: input.search } : {}),
      ...(input.model ? { modelId: input.model } : {}),
    });
    await ctx.reply(galleryMessage(view, `Your results matching ${[input.search, input.model].filter(Boolean).join(', ')}`, true, undefined));
  },
});

export const galleryComponents: ComponentHandler[] = [
  {
    name: 'gallery',
    async run(ctx, [kind, cursor], services) {
      await ctx.defer({ private: true });
      await showOwnGallery(ctx, services, kind || undefined, cursor);
    },
  },
  {
    name: 'delete',
    async run(ctx, [assetId], services) {
      const asset = services.gallery.get(assetId ?? '');
      if (!asset || asset.removedAt !== null) throw new AppError('NOT_FOUND', 'no such asset', { reason: 'That item was already deleted.' });
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
      const owner = services.gallery.isOwner(ctx.user, asset);
      if (!owner && !ctx.canModerate) throw new AppError('NOT_ALLOWED', 'not the owner', { reason: 'Only its owner or a moderator can delete this.' });
      await services.gallery.remove(asset, { by: owner ? 'owner' : `moderator:${ctx.platform}:${ctx.user.platformUserId}`, reason: owner ? 'deleted by owner' : 'deleted by a moderator' });
      await ctx.reply({ text: 'Deleted. The file and its share link are gone.', private: true });
    },
  },
  {
    name: 'rerun',
    async run(ctx, [jobId], services) {
      const job = services.generation.getJob(jobId ?? '');
      if (!job) throw new AppError('NOT_FOUND', 'no such job', { reason: 'That generation no longer exists.' });
      // Same model and settings, a new seed.
      const { seed: _seed, prompt: _prompt, ...params } = job.params;
      await startGeneration(ctx, services, job.kind, { prompt: job.prompt, model: job.modelId, private: job.private }, [], params);
    },
  },
];
