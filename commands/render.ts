import { getModel } from '../src/catalog/index.js';
import type { Job } from '../src/db/index.js';
import { userMessage } from '../src/errors.js';
import { DEFAULT_WORDS, wordsFor, type PlatformWords } from '../src/words.js';
import type { DeliveredAsset, Delivery } from '../src/jobs/deliver.js';
import type { GenerateProgress } from '../src/jobs/types.js';
import type { Button, Card, Message } from './context.js';
import { componentId } from './define.js';

/** Platform-neutral renderings shared by every adapter, so both platforms say the same things. */

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1).trimEnd()}…` : text);
const seconds = (ms: number) => `${(Math.round(ms / 100) / 10).toFixed(1)} s`;
export const modelName = (modelId: string) => getModel(modelId)?.name ?? modelId;

export function queuedMessage(job: Job, position: number): Message {
  const where = position > 0 ? ` (position ${position + 1} in line)` : '';
  return { text: `Queued${where}: **${clip(job.prompt, 200)}** with ${modelName(job.modelId)}.`, buttons: [[cancelButton(job.id)]] };
}

export function progressMessage(job: Job, progress: GenerateProgress): Message {
  const prompt = `**${clip(job.prompt, 200)}** with ${modelName(job.modelId)}`;
  switch (progress.stage) {
    case 'uploading':
      return { text: `Uploading your images for ${prompt}…`, buttons: [[cancelButton(job.id)]] };
    case 'submitted':
    case 'in_queue':
      return {
        text: `Waiting at fal${progress.queuePosition !== undefined ? ` (position ${progress.queuePosition + 1})` : ''}: ${prompt}`,
        buttons: [[cancelButton(job.id)]],
      };
    case 'running': {
      const lastLog = progress.logs?.at(-1);
      return { text: `Generating ${prompt}…${lastLog ? `\n> ${clip(lastLog, 180)}` : ''}`, buttons: [[cancelButton(job.id)]] };
    }
    case 'saving':
      return { text: `Saving your result: ${prompt}…` };
    case 'save_delayed':
      return { text: `Your result for ${prompt} is ready but saving it is taking longer than usual. It will be posted as soon as it is saved.` };
  }
}

export function cancelButton(jobId: string, label = 'Cancel'): Button {
  return { kind: 'action', id: componentId('cancel', jobId), label, style: 'secondary' };
}

function assetCard(job: Job, asset: DeliveredAsset, index: number, total: number): Card {
  const fields = [{ name: 'Model', value: modelName(job.modelId), inline: true }];
  if (asset.seed !== null) fields.push({ name: 'Seed', value: String(asset.seed), inline: true });
  // startedAt comes from the worker's progress events, which may arrive after a fast result.
  const taken = job.finishedAt !== null ? job.finishedAt - (job.startedAt ?? job.createdAt) : null;
  if (taken !== null) fields.push({ name: 'Time taken', value: seconds(taken), inline: true });
  if (asset.durationSeconds !== null) fields.push({ name: 'Duration', value: `${asset.durationSeconds} s`, inline: true });
  return {
    title: clip(job.prompt, 250) + (total > 1 ? ` (${index + 1}/${total})` : ''),
    url: asset.shareUrl,
    ...(asset.kind === 'image' ? { imageUrl: asset.mediaUrl } : asset.posterUrl ? { imageUrl: asset.posterUrl } : {}),
    fields,
    ...(asset.spoiler ? { spoiler: true } : {}),
  };
}

/** The result post: a card per output, a share link and the follow-up buttons. */
export function resultMessage(delivery: Extract<Delivery, { status: 'succeeded' }>): Message {
  const { job, assets } = delivery;
  const rerun: Button = { kind: 'action', id: componentId('rerun', job.id), label: 'Rerun', style: 'secondary' };
  const several = assets.length > 1;
  // Platforms refuse a message whose buttons repeat a custom id, so Rerun (one per job) gets its own
  // row when there are several outputs; a message holds 5 rows, enough for the 4 outputs /imagine allows.
  const buttons: Button[][] = assets.map((asset, index): Button[] => [
    { kind: 'link', url: asset.shareUrl, label: several ? `Open ${index + 1}` : 'Open share page' },
    ...(several ? [] : [rerun]),
    ...(asset.kind === 'image' ? [{ kind: 'action' as const, id: componentId('vary', asset.id), label: several ? `Vary ${index + 1}` : 'Vary', style: 'secondary' as const }] : []),
    { kind: 'action', id: componentId('delete', asset.id), label: several ? `Delete ${index + 1}` : 'Delete', style: 'danger' },
    { kind: 'action', id: componentId('report', asset.id), label: several ? `Report ${index + 1}` : 'Report', style: 'secondary' },
  ]);
  if (several) buttons.splice(4, buttons.length, [rerun]);
  // Chat clients unfurl a share link into a playable video; cards cannot embed one.
  const videoLinks = assets.filter((asset) => asset.kind === 'video').map((asset) => asset.shareUrl);
  return {
    ...(videoLinks.length ? { text: videoLinks.join('\n') } : {}),
    cards: assets.map((asset, index) => assetCard(job, asset, index, assets.length)),
    buttons,
    private: job.private,
  };
}

export function failureMessage(delivery: Extract<Delivery, { status: 'failed' }>): Message {
  return { text: `Your generation **${clip(delivery.job.prompt, 150)}** did not work. ${userMessage(delivery.error, wordsFor(delivery.job.platform))}`, private: true };
}

export function cancelledMessage(job: Job): Message {
  return { text: `Cancelled: **${clip(job.prompt, 150)}**.`, private: job.private };
}

export function heldMessage(job: Job): Message {
  return {
    text: `Your result for **${clip(job.prompt, 150)}** is ready and waits for a moderator's review. I will let you know when they decide.`,
    private: true,
  };
}

export function blockedMessage(job: Job, reason: string): Message {
  return { text: `Your result for **${clip(job.prompt, 150)}** was not posted: ${reason}`, private: true };
}

export function deliveryMessage(delivery: Delivery): Message {
  switch (delivery.status) {
    case 'succeeded':
      return resultMessage(delivery);
    case 'failed':
      return failureMessage(delivery);
    case 'cancelled':
      return cancelledMessage(delivery.job);
    case 'held':
      return heldMessage(delivery.job);
    case 'blocked':
      return blockedMessage(delivery.job, delivery.reason);
  }
}

export function errorReply(error: unknown, words: PlatformWords = DEFAULT_WORDS): Message {
  return { text: userMessage(error, words), private: true };
}
