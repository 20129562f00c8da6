import type { Button, Card, Message } from '../../commands/context.js';
import { componentId } from '../../commands/define.js';
import { getModel } from '../catalog/index.js';
import type { Job, ModAction } from '../db/index.js';
import type { DeliveredAsset } from '../jobs/deliver.js';
import { sentence } from '../text.js';

/**
 * What moderators read in their review channel, platform-neutral like every other message. Buttons
 * carry the job (and output) they act on; the handlers check the presser is a moderator.
 */

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1).trimEnd()}…` : text);
const modelName = (modelId: string) => getModel(modelId)?.name ?? modelId;

/** Where a job's review stands: posted and open, held (waiting), approved, or every output removed. */
export type ReviewStatus = 'posted' | 'held' | 'approved' | 'removed';

export interface OutputReview {
  job: Job;
  /** The outputs still standing (removed ones are not shown). */
  assets: readonly DeliveredAsset[];
  /** The owner's platform user id. */
  ownerId: string;
  /** A link to the result post, when it was posted publicly. */
  postLink: string | undefined;
  status: ReviewStatus;
  /** The latest decision, in words ("Removed by @mod: reason"). */
  note?: string | undefined;
}

export const APPROVE = 'modok';
export const REMOVE = 'modrm';
export const BAN_OWNER = 'modban';

export const approvedNote = (moderatorId: string) => `Approved by <@${moderatorId}>.`;

export function removedNote(by: string, reason: string | null, positions?: readonly number[]): string {
  const which = positions?.length ? ` (output ${positions.map((position) => position + 1).join(', ')})` : '';
  // The owner and the policy give no reason worth repeating; a moderator's is the point.
  if (by === 'owner') return `Deleted by its owner${which}. The files and share links are gone.`;
  if (by === 'policy') return `Blocked by the policy${which}. The files and share links are gone.`;
  return `Removed by <@${by}>${which}${reason ? `: ${sentence(clip(reason.trim(), 300))}` : '.'} The files and share links are gone.`;
}

function outputCards(review: Pick<OutputReview, 'job' | 'assets' | 'ownerId' | 'postLink'>): Card[] {
  const { job, assets } = review;
  return assets.map((asset, index) => ({
    title: clip(job.prompt, 250) + (assets.length > 1 ? ` (${asset.position + 1})` : ''),
    url: asset.shareUrl,
    ...(asset.kind === 'image' ? { imageUrl: asset.mediaUrl } : asset.posterUrl ? { imageUrl: asset.posterUrl } : {}),
    fields: [
      { name: 'Model', value: modelName(job.modelId), inline: true },
      { name: 'Owner', value: `<@${review.ownerId}>`, inline: true },
      { name: 'Where', value: `<#${job.channelId}>${job.private ? ' (private)' : ''}`, inline: true },
      ...(index === 0 && review.postLink ? [{ name: 'Post', value: review.postLink }] : []),
      { name: 'Share link', value: asset.shareUrl },
    ],
    // Moderators choose to look at what fal flagged.
    ...(asset.nsfw ? { spoiler: true } : {}),
  }));
}

function reviewButtons(job: Job, assets: readonly DeliveredAsset[], open: boolean): Button[][] {
  const rows: Button[][] = [
    [
      ...(open ? [{ kind: 'action' as const, id: componentId(APPROVE, job.id), label: 'Approve', style: 'success' as const }] : []),
      { kind: 'action', id: componentId(REMOVE, job.id), label: assets.length > 1 ? 'Remove all' : 'Remove', style: 'danger' },
      { kind: 'action', id: componentId(BAN_OWNER, job.id), label: 'Ban owner', style: 'secondary' },
    ],
  ];
  // Several outputs: each can go on its own (a message holds 5 buttons a row).
  if (assets.length > 1) {
    rows.push(assets.slice(0, 5).map((asset) => ({ kind: 'action', id: componentId(REMOVE, job.id, asset.position), label: `Remove ${asset.position + 1}`, style: 'danger' })));
  }
  return rows;
}

/** A job's outputs in the review channel: posted (mirrored), held (waiting), or decided. */
export function outputReviewMessage(review: OutputReview): Message {
  const { job, status } = review;
  const where = `<#${job.channelId}>`;
  if (status === 'removed' || review.assets.length === 0) {
    return { text: [`A result by <@${review.ownerId}> in ${where}: **${clip(job.prompt, 200)}**`, review.note].filter(Boolean).join('\n') };
  }
  const headline =
    status === 'held'
      ? `**Waiting for review**: a result by <@${review.ownerId}> for ${where}. Approve posts it there; Remove deletes it.`
      : `New result by <@${review.ownerId}> in ${where}${job.private ? ' (shown only to them)' : ''}.`;
  return {
    text: [headline, review.note].filter(Boolean).join('\n'),
    cards: outputCards(review),
    buttons: reviewButtons(job, review.assets, status === 'held' || status === 'posted'),
  };
}

export interface ReportReview {
  job: Job;
  asset: DeliveredAsset;
  ownerId: string;
  postLink: string | undefined;
  /** Reporters' platform ids and reasons, oldest first. */
  reports: ReadonlyArray<{ reporterId: string; reason: string | null }>;
  /** Open, or decided: kept (approved) or removed. */
  status: 'open' | 'approved' | 'removed';
  note?: string | undefined;
}

/** One reported output; later reports of it update this message (grouped) rather than add new ones. */
export function reportReviewMessage(review: ReportReview): Message {
  const { job, asset, reports, status } = review;
  const count = reports.length === 1 ? 'Reported by 1 member' : `Reported by ${reports.length} members`;
  const reasons = reports
    .slice(-5)
    .map((report) => `• <@${report.reporterId}>: ${report.reason ? clip(report.reason, 200) : '(no reason given)'}`);
  const more = reports.length > 5 ? [`…and ${reports.length - 5} earlier reports`] : [];
  const open = status === 'open';
  const shown = status === 'removed' ? [] : [asset];
  return {
    text: [`**${count}**: a result by <@${review.ownerId}> in <#${job.channelId}>`, ...reasons, ...more, review.note].filter(Boolean).join('\n'),
    cards: shown.length ? outputCards({ job, assets: shown, ownerId: review.ownerId, postLink: review.postLink }) : [],
    buttons: shown.length
      ? [
          [
            ...(open ? [{ kind: 'action' as const, id: componentId(APPROVE, job.id), label: 'Approve', style: 'success' as const }] : []),
            { kind: 'action', id: componentId(REMOVE, job.id, asset.position), label: 'Remove', style: 'danger' },
            { kind: 'action', id: componentId(BAN_OWNER, job.id), label: 'Ban owner', style: 'secondary' },
          ],
        ]
      : [],
  };
}

const ACTION_WORDS: Record<string, string> = {
  settings: 'changed settings',
  channel: 'set the review channel',
  'blocklist-add': 'added to the blocklist',
  'blocklist-remove': 'removed from the blocklist',
  ban: 'banned',
  unban: 'unbanned',
  approve: 'approved',
  remove: 'removed',
  hold: 'held for review',
  block: 'blocked',
};

function describeTarget(action: ModAction): string {
  const target = action.target ?? '';
  if (action.action === 'ban' || action.action === 'unban') return `<@${target}>`;
  if (action.action.startsWith('blocklist')) return `\`${clip(target, 80)}\``;
  return clip(target, 200);
}

/** Discord caps a message's text at 2000 characters, Slack a section at 3000: lists stop short of both. */
const LIST_BUDGET = 1900;

/** A heading and as many whole lines as fit; the rest are counted, never cut mid-line. */
export function fitLines(heading: string, lines: readonly string[], more: (left: number) => string): string {
  const kept: string[] = [];
  let length = heading.length;
  for (const [index, line] of lines.entries()) {
    const tail = index < lines.length - 1 ? more(lines.length - index - 1).length + 1 : 0;
    if (length + line.length + 1 + tail > LIST_BUDGET) {
      kept.push(more(lines.length - index));
      break;
    }
    kept.push(line);
    length += line.length + 1;
  }
  return [heading, ...kept].join('\n');
}

/** The audit log as moderators read it, newest first. */
export function auditLogMessage(actions: readonly ModAction[], community: string): Message {
  if (actions.length === 0) return { text: `No moderation actions in ${community} yet.`, private: true };
  const lines = actions.map((action) => {
    const when = new Date(action.createdAt).toISOString().slice(0, 16).replace('T', ' ');
    const who = action.actor === 'policy' ? 'The policy' : `<@${action.actor}>`;
    const target = action.target ? ` ${describeTarget(action)}` : '';
    const why = action.reason ? `: ${clip(action.reason, 150)}` : '';
    return `\`${when}\` ${who} ${ACTION_WORDS[action.action] ?? action.action}${target}${why}`;
  });
  return { text: fitLines('**Moderation log** (newest first, UTC)', lines, (left) => `…and ${left} older (not shown: they do not fit in one message)`), private: true };
}
