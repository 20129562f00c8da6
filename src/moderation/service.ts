import type { MemberStanding } from '../../commands/context.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Asset, CommunitySettings, DailyCap, Job, ModAction, Repositories, ReviewPost, ReviewPostKind, SettingsPatch } from '../db/index.js';
import type { CommunityRef, OutputPolicy, Platform, UserRef } from '../domain.js';
import { AppError } from '../errors.js';
import {
  withLinks,
  type DeliveredAsset,
  type Delivery,
  type Deliverer,
  type DeliveryModeration,
  type LinkBuilder,
  type ModerationOutlet,
  type PostedMessage,
} from '../jobs/deliver.js';
import type { Queues } from '../jobs/queues.js';
import { openReply } from '../jobs/reply-seal.js';
import type { RequestModeration } from '../jobs/service.js';
import type { Logger } from '../logger.js';
import { sentence } from '../text.js';
import type { MetricsRegistry } from '../metrics.js';
import type { GalleryService } from '../services/gallery.js';
import { approvedNote, outputReviewMessage, removedNote, reportReviewMessage, type ReviewStatus } from './messages.js';
import { canonicalPattern, compileBlocklist, compilePattern, judgeOutputs, PatternError, type Blocklist } from './policy.js';

/** A member acting in a community (a moderator, a reporter). */
export interface CommunityMember extends CommunityRef {
  platformUserId: string;
}

/** Who asks, as the moderation checks need it: where, who, and what the platform says of them. */
export interface MemberInCommunity {
  platform: Platform;
  workspaceId: string;
  user: UserRef;
  standing: MemberStanding;
}

export interface ModerationServiceOptions {
  repos: Repositories;
  links: LinkBuilder;
  gallery: GalleryService;
  queues: Queues;
  /** The adapters' deliverers: their `moderation` outlets reach review channels and members. */
  deliverers: ReadonlyMap<Platform, Deliverer>;
  keyring: Keyring;
  logger: Logger;
  /** Stops a queued or running job on whichever host holds it. */
  cancelJob(job: Job): Promise<void>;
  /** Counts actions for /metrics. */
  metrics?: MetricsRegistry;
}

const DAY_MS = 24 * 3600_000;
const POLICY_ACTOR = 'policy';

/** A Discord user is the same person in every server; a Slack user belongs to one workspace. */
export function memberRef(community: CommunityRef, platformUserId: string): UserRef {
  return { platform: community.platform, workspaceId: community.platform === 'discord' ? '' : community.workspaceId, platformUserId };
}

const communityOf = (job: Pick<Job, 'platform' | 'workspaceId'>): CommunityRef => ({ platform: job.platform, workspaceId: job.workspaceId });
const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1).trimEnd()}…` : text);
/** A moderator's reason as the end of a sentence: ": reason." (or "." without one). */
const because = (reason: string | null) => (reason ? `: ${sentence(reason)}` : '.');

/** The words for a policy that keeps an output off the channel. */
function blockReason(nsfw: boolean): string {
  return nsfw ? 'the moderators here do not allow outputs flagged as NSFW.' : 'the moderators here do not allow these outputs to be posted.';
}

/**
 * The communities' say over generation: who moderates, what may be asked (bans, blocklist, models,
 * a daily cap), what is posted (spoilers, holds, blocks), the review channel, and the audit log.
 * Runs in the process that owns SQLite and the chat connections.
 */
export class ModerationService implements DeliveryModeration, RequestModeration {
  private readonly log: Logger;
  private readonly blocklists = new Map<string, Blocklist>();
  /** Reports of one output are grouped into one message: their updates run one at a time. */
  private readonly reportChains = new Map<string, Promise<unknown>>();
  /** Removals of one job, one at a time (see `remove`). */
  private readonly removalChains = new Map<string, Promise<unknown>>();

  constructor(private readonly options: ModerationServiceOptions) {
    this.log = options.logger.child({ component: 'moderation' });
    options.gallery.onRemove((asset, removal) => this.afterRemoval(asset, removal));
  }

  // ── who moderates ─────────────────────────────────────────────────────────────────────────────

  /**
   * Discord members with Manage Messages, Slack workspace admins (and Discord's Manage Server), the
   * members the community named, and the members of its moderator role or user group.
   */
  async isModerator(member: MemberInCommunity): Promise<boolean> {
    if (!member.workspaceId) return false;
    if (member.standing.managesMessages) return true;
    const settings = this.settings(member);
    if (settings.moderatorUserIds.includes(member.user.platformUserId)) return true;
    if (settings.moderatorGroupId && (await member.standing.inGroup(settings.moderatorGroupId))) return true;
    return member.standing.isAdmin();
  }

  async assertModerator(member: MemberInCommunity): Promise<CommunityMember> {
    if (!(await this.isModerator(member))) throw new AppError('NOT_MODERATOR', 'not a moderator');
    return { platform: member.platform, workspaceId: member.workspaceId, platformUserId: member.user.platformUserId };
  }

  // ── settings ──────────────────────────────────────────────────────────────────────────────────

  settings(community: CommunityRef): CommunitySettings {
    return this.options.repos.moderation.settings({ platform: community.platform, workspaceId: community.workspaceId });
  }

  /** Applies a change; returns the new settings and what changed, in words, for the reply and the log. */
  updateSettings(actor: CommunityMember, patch: SettingsPatch): { settings: CommunitySettings; changes: string[] } {
    const before = this.settings(actor);
    const after = { ...before, ...patch };
    if ((after.nsfwPolicy === 'hold' || after.otherPolicy === 'hold') && !after.reviewChannelId) {
      throw new AppError('INVALID_PARAMS', 'hold without a review channel', {
        field: 'nsfw',
        reason: 'held results wait in the review channel, and there is none yet: set one with `/mod channel` first',
      });
    }
    const changes = describeChanges(before, after);
    if (changes.length === 0) return { settings: before, changes };
    const settings = this.options.repos.moderation.updateSettings(actor, patch);
    this.audit(actor, 'settings', changes.map((change) => change.split(':')[0]).join(', '), changes.join('; '));
    return { settings, changes };
  }

  /** A new review channel is greeted first: a channel the bot cannot post in is refused on the spot. */
  async setReviewChannel(actor: CommunityMember, channelId: string | null): Promise<CommunitySettings> {
    const before = this.settings(actor);
    if (!channelId && (before.nsfwPolicy === 'hold' || before.otherPolicy === 'hold')) {
      throw new AppError('NOT_ALLOWED', 'clearing the review channel while holding', {
        reason: 'Results are held for review, so the review channel is needed. Change the hold policy in `/mod settings` first.',
      });
    }
    const outlet = this.outlet(actor.platform);
    if (channelId && outlet) {
      const greeting = {
        text: `This is now the review channel of Atelier, set by <@${actor.platformUserId}>. Posted and held results and members' reports show up here with Approve, Remove and Ban owner buttons.`,
      };
      try {
        await outlet.post(channelId, greeting, []);
      } catch (error) {
        this.log.info({ err: error, channelId }, 'cannot post in the chosen review channel');
        throw new AppError('NOT_ALLOWED', 'cannot post in the review channel', {
          reason: `I cannot post in <#${channelId}>. ${actor.platform === 'slack' ? 'Invite me to it' : 'Let me view it and send messages there'}, then try again.`,
        });
      }
    }
    const settings = this.options.repos.moderation.updateSettings(actor, { reviewChannelId: channelId });
    this.audit(actor, 'channel', channelId ? `<#${channelId}>` : 'none', null);
    return settings;
  }

  // ── blocklist ─────────────────────────────────────────────────────────────────────────────────

  blocklist(community: CommunityRef): string[] {
    return this.options.repos.moderation.blocklist(community).map((entry) => entry.pattern);
  }

  addToBlocklist(actor: CommunityMember, entry: string): { pattern: string; added: boolean } {
    const pattern = canonicalPattern(entry);
    try {
      compilePattern(pattern);
    } catch (error) {
      if (error instanceof PatternError) throw new AppError('INVALID_PARAMS', error.message, { field: 'pattern', reason: error.message });
      throw error;
    }
    const added = this.options.repos.moderation.addPattern(actor, pattern, actor.platformUserId);
    this.blocklists.delete(keyOf(actor));
    if (added) this.audit(actor, 'blocklist-add', pattern, null);
    return { pattern, added };
  }

  removeFromBlocklist(actor: CommunityMember, entry: string): { pattern: string; removed: boolean } {
    const pattern = canonicalPattern(entry);
    const removed = this.options.repos.moderation.removePattern(actor, pattern);
    this.blocklists.delete(keyOf(actor));
    if (removed) this.audit(actor, 'blocklist-remove', pattern, null);
    return { pattern, removed };
  }

  private blocklistOf(community: CommunityRef): Blocklist {
    const key = keyOf(community);
    let compiled = this.blocklists.get(key);
    if (!compiled) {
      compiled = compileBlocklist(this.blocklist(community));
      this.blocklists.set(key, compiled);
    }
    return compiled;
  }

  // ── requests (checked before a job exists, so before anything reaches fal) ──────────────────

  admit(request: { user: UserRef; workspaceId: string; prompt: string; params?: Record<string, unknown> | undefined }): void {
    if (!request.workspaceId) return;
    const community = { platform: request.user.platform, workspaceId: request.workspaceId };
    const ban = this.options.repos.moderation.ban(community, request.user.platformUserId);
    if (ban) throw new AppError('BANNED', 'member is banned here', ban.reason ? { reason: ban.reason } : {});
    const blocklist = this.blocklistOf(community);
    // Free-form params are text too (a negative prompt, a second prompt).
    const texts = [request.prompt, ...Object.values(request.params ?? {}).filter((value): value is string => typeof value === 'string')];
    for (const text of texts) {
      const matched = blocklist.match(text);
      if (matched !== undefined) {
        this.log.info({ community, matched }, 'prompt refused by the blocklist');
        throw new AppError('PROMPT_BLOCKED', 'prompt matches the blocklist', { matched });
      }
    }
  }

  allowedModels(community: CommunityRef): string[] | null {
    return community.workspaceId ? this.settings(community).allowedModels : null;
  }

  dailyCap(community: CommunityRef, now = Date.now()): DailyCap | undefined {
    if (!community.workspaceId) return undefined;
    const cap = this.settings(community).dailyCap;
    return cap === null ? undefined : { max: cap, since: now - DAY_MS };
  }

  // ── bans ──────────────────────────────────────────────────────────────────────────────────────

  isBanned(community: CommunityRef, platformUserId: string): boolean {
    return this.options.repos.moderation.ban(community, platformUserId) !== undefined;
  }

  /** Bans a member here: their queued and running jobs here stop, and they are told privately. */
  async ban(actor: CommunityMember, targetId: string, reason: string | null): Promise<{ already: boolean; cancelled: number; told: boolean }> {
    if (targetId === actor.platformUserId) throw new AppError('NOT_ALLOWED', 'self-ban', { reason: 'You cannot ban yourself.' });
    const added = this.options.repos.moderation.addBan(actor, targetId, actor.platformUserId, reason);
    const user = this.options.repos.users.findUser(memberRef(actor, targetId));
    const active = user
      ? this.options.repos.jobs.listActiveJobs(user.id).filter((job) => job.platform === actor.platform && job.workspaceId === actor.workspaceId)
      : [];
    for (const job of active) await this.options.cancelJob(job);
    if (!added) return { already: true, cancelled: active.length, told: false };
    this.audit(actor, 'ban', targetId, reason);
    const told = await this.tell(actor, targetId, {
      text: `The moderators have banned you from generating in ${communityWords(actor.platform)}${because(reason)}${
        active.length ? ` Your ${active.length === 1 ? 'generation there was' : `${active.length} generations there were`} cancelled.` : ''
      }`,
      private: true,
    });
    return { already: false, cancelled: active.length, told };
  }

  async unban(actor: CommunityMember, targetId: string): Promise<boolean> {
    const removed = this.options.repos.moderation.removeBan(actor, targetId);
    if (!removed) return false;
    this.audit(actor, 'unban', targetId, null);
    await this.tell(actor, targetId, { text: `The moderators lifted your ban: you can generate in ${communityWords(actor.platform)} again.`, private: true });
    return true;
  }

  // ── what is posted ────────────────────────────────────────────────────────────────────────────

  /**
   * Applies the community's output policy before a result is posted: blocked outputs are removed for
   * good, a result with a held output waits for a moderator, spoilers are set as the policy says.
   */
  async screen(delivery: Delivery): Promise<Delivery> {
    if (delivery.status !== 'succeeded' || !delivery.job.workspaceId) return delivery;
    const { job } = delivery;
    // A retried delivery of a result already held stays held.
    if (job.reviewState === 'held') return { status: 'held', job };
    const live = delivery.assets.filter((asset) => asset.removedAt === null);
    if (live.length === 0) return delivery;
    const verdicts = judgeOutputs(live, this.settings(communityOf(job)));
    const blocked = verdicts.filter((verdict) => verdict.policy === 'block');
    for (const { output } of blocked) {
      await this.options.gallery.remove(output, { by: POLICY_ACTOR, reason: blockReason(output.nsfw) });
      this.audit({ ...communityOf(job), platformUserId: POLICY_ACTOR }, 'block', this.describeOutput(job, output), blockReason(output.nsfw));
    }
    const kept = verdicts.filter((verdict) => verdict.policy !== 'block');
    if (kept.length === 0) return { status: 'blocked', job, reason: blockReason(blocked.some(({ output }) => output.nsfw)) };
    if (blocked.length) {
      const owner = this.ownerId(job);
      if (owner) {
        await this.tell(communityOf(job), owner, {
          text: `${blocked.length} of your results for **${clip(job.prompt, 150)}** ${blocked.length === 1 ? 'was' : 'were'} not posted: ${blockReason(blocked.some(({ output }) => output.nsfw))}`,
          private: true,
        });
      }
    }
    if (kept.some((verdict) => verdict.policy === 'hold')) {
      this.options.repos.jobs.changeReviewState(job.id, null, 'held');
      this.audit({ ...communityOf(job), platformUserId: POLICY_ACTOR }, 'hold', this.describeOutput(job), null);
      // The adapter reads the job's reply route: the reloaded row has it sealed.
      return { status: 'held', job: openReply(this.options.keyring, this.reload(job.id)) };
    }
    return { ...delivery, assets: kept.map(({ output, policy }) => ({ ...output, spoiler: spoilerUnder(policy, output) })) };
  }

  /** A result posted in a community (or held there) is mirrored to its review channel, by a job of its own. */
  async afterDelivery(delivery: Delivery, posted: readonly PostedMessage[]): Promise<void> {
    if (!delivery.job.workspaceId) return;
    const held = delivery.status === 'held';
    if (!held && !(delivery.status === 'succeeded' && posted.length > 0)) return;
    const settings = this.settings(communityOf(delivery.job));
    if (!settings.reviewChannelId) {
      if (held) this.log.warn({ jobId: delivery.job.id }, 'a result is held but the community has no review channel');
      return;
    }
    // BullMQ refuses ':' in custom ids; the id makes a repeated delivery queue the mirror once.
    await this.options.queues.deliver.add('review', { jobId: delivery.job.id }, { jobId: `review-${delivery.job.id}`, attempts: 10 });
  }

  /** Posts the job's review message (once). */
  async mirror(jobId: string): Promise<void> {
    const { repos } = this.options;
    const job = repos.jobs.getJob(jobId);
    if (!job || repos.moderation.findReviewPost(jobId, 'output')) return;
    const channelId = this.settings(communityOf(job)).reviewChannelId;
    const outlet = this.outlet(job.platform);
    if (!channelId || !outlet) return;
    const assets = this.liveAssets(job);
    if (assets.length === 0) return;
    const message = outputReviewMessage({
      job,
      assets,
      ownerId: this.ownerId(job) ?? '',
      postLink: await this.postLink(job, outlet),
      status: job.reviewState === 'held' ? 'held' : 'posted',
    });
    const posted = await outlet.post(channelId, message, assets);
    this.recordReviewPost(job, null, 'output', posted);
  }

  private recordReviewPost(job: Job, assetId: string | null, kind: ReviewPostKind, posted: PostedMessage & { copies?: PostedMessage[] }): void {
    const { repos } = this.options;
    repos.moderation.recordReviewPost({ jobId: job.id, assetId, kind, platform: job.platform, channelId: posted.channelId, messageId: posted.messageId });
    // Uploaded copies are the job's posts like any other: every removal takes them down.
    if (posted.copies?.length) repos.posts.record(job.id, posted.copies.map((copy) => ({ platform: job.platform, ...copy, kind: 'review' })));
  }

  // ── decisions ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Approves a job's result: a held one is posted where it was asked and its owner told; a posted
   * one is marked reviewed. Open reports of it close.
   */
  async approve(actor: CommunityMember, jobId: string): Promise<{ posted: boolean; already: boolean }> {
    const { repos } = this.options;
    const job = this.jobIn(actor, jobId);
    const assets = this.liveAssets(job);
    if (assets.length === 0) throw new AppError('NOT_FOUND', 'nothing left to approve', { reason: 'That result was removed already.' });
    let posted = false;
    if (job.reviewState === 'held') {
      // Of two moderators approving at once, one posts it.
      if (!repos.jobs.changeReviewState(job.id, 'held', 'approved')) return { posted: false, already: true };
      try {
        await this.postApproved(job, assets);
      } catch (error) {
        // Back to waiting: the next Approve tries again.
        repos.jobs.changeReviewState(job.id, 'approved', 'held');
        throw error;
      }
      posted = true;
    } else if (!repos.jobs.changeReviewState(job.id, null, 'approved')) {
      // Approved before: a report made since is still open, and this Approve (on it) decides it.
      const openReport = repos.moderation.reviewPostsOfJob(job.id).some((post) => post.kind === 'report' && post.closedAt === null);
      if (this.reload(job.id).reviewState !== 'approved' || !openReport) return { posted: false, already: true };
    }
    this.audit(actor, 'approve', this.describeOutput(job), null);
    await this.refreshReviews(this.reload(job.id), { note: approvedNote(actor.platformUserId), approved: true });
    return { posted, already: false };
  }

  private async postApproved(job: Job, assets: DeliveredAsset[]): Promise<void> {
    const { repos, keyring } = this.options;
    const deliverer = this.options.deliverers.get(job.platform);
    if (!deliverer) throw new AppError('INTERNAL', `no deliverer for ${job.platform}`);
    const settings = this.settings(communityOf(job));
    const shown = judgeOutputs(assets, settings).map(({ output, policy }) => ({ ...output, spoiler: output.nsfw || spoilerUnder(policy, output) }));
    const opened = openReply(keyring, this.reload(job.id));
    const posted = (await deliverer.deliver({ status: 'succeeded', job: opened, assets: shown }, { afterReview: true })) ?? [];
    if (posted.length) repos.posts.record(job.id, posted.map((message) => ({ platform: job.platform, ...message })));
    const owner = this.ownerId(job);
    if (owner) {
      await this.tell(communityOf(job), owner, {
        text: `The moderators approved your result for **${clip(job.prompt, 150)}**${job.private ? '' : `; it is now posted in <#${job.channelId}>`}.`,
        private: true,
      });
    }
  }

  /**
   * Removes a job's outputs (one, or all): files, share links and posts go, galleries hide them, the
   * owner is told privately and the log records who and why. Idempotent: what is gone stays gone.
   */
  async remove(actor: CommunityMember, jobId: string, position: number | undefined, reason: string | null): Promise<{ removed: number }> {
    // Removals of one job run one at a time: of two moderators removing at once, one removes (and
    // tells the owner, and is logged); the other finds nothing left.
    return serially(this.removalChains, jobId, () => this.removeNow(actor, jobId, position, reason));
  }

  private async removeNow(actor: CommunityMember, jobId: string, position: number | undefined, reason: string | null): Promise<{ removed: number }> {
    const job = this.jobIn(actor, jobId);
    const targets = this.options.repos.assets
      .listJobAssets(job.id)
      .filter((asset) => asset.removedAt === null && (position === undefined || asset.position === position));
    const removal = { by: `moderator:${actor.platform}:${actor.platformUserId}`, reason: reason ?? 'removed by a moderator' };
    for (const asset of targets) await this.options.gallery.remove(asset, removal);
    if (targets.length === 0) return { removed: 0 };
    this.audit(actor, 'remove', this.describeOutput(job, position === undefined ? undefined : targets[0]), reason);
    const owner = this.ownerId(job);
    if (owner) {
      await this.tell(communityOf(job), owner, {
        text: `The moderators removed your result for **${clip(job.prompt, 150)}**${because(reason)} Its file and share link are gone.`,
        private: true,
      });
    }
    return { removed: targets.length };
  }

  /** Every removal (a moderator's, the owner's, the policy's) updates the review messages of its job. */
  private async afterRemoval(asset: Asset, removal: { by: string; reason?: string }): Promise<void> {
    const job = this.options.repos.jobs.getJob(asset.jobId);
    if (!job) return;
    if (job.reviewState === 'held' && this.liveAssets(job).length === 0) this.options.repos.jobs.changeReviewState(job.id, 'held', 'rejected');
    const by = removal.by.startsWith('moderator:') ? (removal.by.split(':')[2] ?? removal.by) : removal.by;
    const several = this.options.repos.assets.listJobAssets(job.id).length > 1;
    await this.refreshReviews(this.reload(job.id), { note: removedNote(by, removal.reason ?? null, several ? [asset.position] : undefined) });
  }

  /** A member's report: stored (one per member), then shown in the review channel, grouped per output. */
  async report(reporter: UserRef & { displayName?: string | undefined }, assetId: string, reason: string | undefined): Promise<{ reports: number }> {
    const result = this.options.gallery.report(reporter, assetId, reason);
    // The report is stored whatever happens to its review message.
    await serially(this.reportChains, assetId, () => this.showReports(assetId)).catch((error: unknown) =>
      this.log.warn({ err: error, assetId }, 'could not show a report in the review channel'),
    );
    return result;
  }

  private async showReports(assetId: string): Promise<void> {
    const { repos } = this.options;
    const asset = repos.assets.getAsset(assetId);
    const job = asset && repos.jobs.getJob(asset.jobId);
    if (!asset || !job || asset.removedAt !== null || !job.workspaceId) return;
    const channelId = this.settings(communityOf(job)).reviewChannelId;
    const outlet = this.outlet(job.platform);
    if (!channelId || !outlet) return;
    const shown = withLinks(asset, this.options.links);
    const message = reportReviewMessage({
      job,
      asset: shown,
      ownerId: this.ownerId(job) ?? '',
      postLink: await this.postLink(job, outlet),
      reports: this.reportsOf(assetId),
      status: 'open',
    });
    const existing = repos.moderation.findReviewPost(job.id, 'report', assetId);
    if (existing && existing.closedAt === null) {
      await outlet.edit(existing, message, [shown]);
      return;
    }
    // The first report, or a report after a moderator kept the output: a new message (decided ones stay as they are).
    const posted = await outlet.post(channelId, message, [shown]);
    this.recordReviewPost(job, assetId, 'report', posted);
  }

  /** Re-renders the job's review messages after a decision; a decided message closes. */
  private async refreshReviews(job: Job, decision: { note: string; approved?: boolean }): Promise<void> {
    const outlet = this.outlet(job.platform);
    const posts = this.options.repos.moderation.reviewPostsOfJob(job.id);
    if (!outlet || posts.length === 0) return;
    const assets = this.liveAssets(job);
    const ownerId = this.ownerId(job) ?? '';
    const postLink = await this.postLink(job, outlet);
    for (const post of posts) {
      try {
        if (post.kind === 'output') {
          const status: ReviewStatus = assets.length === 0 ? 'removed' : decision.approved || job.reviewState === 'approved' ? 'approved' : job.reviewState === 'held' ? 'held' : 'posted';
          await outlet.edit(post, outputReviewMessage({ job, assets, ownerId, postLink, status, note: decision.note }), assets);
          if (status === 'removed' || status === 'approved') this.close(post, status);
        } else {
          await this.refreshReport(post, job, assets, decision, outlet, postLink);
        }
      } catch (error) {
        this.log.warn({ err: error, jobId: job.id, reviewPost: post.id }, 'could not update a review message');
      }
    }
  }

  private async refreshReport(
    post: ReviewPost,
    job: Job,
    assets: DeliveredAsset[],
    decision: { note: string; approved?: boolean },
    outlet: ModerationOutlet,
    postLink: string | undefined,
  ): Promise<void> {
    if (!post.assetId) return;
    const live = assets.find((asset) => asset.id === post.assetId);
    if (live) {
      // Open until a moderator approves; a removal of another output of the job leaves it as it is.
      if (post.closedAt !== null || !decision.approved) return;
    } else if (post.outcome === 'removed') {
      return;
    }
    // A removed output leaves every review message, closed ones too: their copies of it must go.
    const stored = live ?? this.options.repos.assets.getAsset(post.assetId);
    if (!stored) return;
    const asset = live ?? withLinks(stored, this.options.links);
    const status = live ? 'approved' : 'removed';
    const message = reportReviewMessage({ job, asset, ownerId: this.ownerId(job) ?? '', postLink, reports: this.reportsOf(asset.id), status, note: decision.note });
    await outlet.edit(post, message, live ? [live] : []);
    this.close(post, status);
  }

  private close(post: ReviewPost, outcome: string): void {
    this.options.repos.moderation.closeReviewPost(post.id, outcome);
  }

  // ── the log ───────────────────────────────────────────────────────────────────────────────────

  recentActions(community: CommunityRef, limit = 20): ModAction[] {
    return this.options.repos.moderation.recentActions(community, limit);
  }

  private audit(actor: CommunityMember, action: string, target: string | null, reason: string | null): void {
    this.options.repos.moderation.log({ platform: actor.platform, workspaceId: actor.workspaceId, actor: actor.platformUserId, action, target, reason });
    this.options.metrics?.moderationActions.inc({ action });
  }

  /** The platform user id of a job's owner, for a job of this community. */
  ownerOf(community: CommunityRef, jobId: string): string {
    const owner = this.ownerId(this.jobIn(community, jobId));
    if (!owner) throw new AppError('NOT_FOUND', 'owner unknown', { reason: 'That result has no owner any more.' });
    return owner;
  }

  // ── helpers ───────────────────────────────────────────────────────────────────────────────────

  /** A job of this community; another community's job (a forged button) is "not found" alike. */
  private jobIn(actor: CommunityRef, jobId: string): Job {
    const job = this.options.repos.jobs.getJob(jobId);
    if (!job || job.platform !== actor.platform || job.workspaceId !== actor.workspaceId) {
      throw new AppError('NOT_FOUND', 'no such job here', { reason: 'That result does not exist here any more.' });
    }
    return job;
  }

  private reload(jobId: string): Job {
    const job = this.options.repos.jobs.getJob(jobId);
    if (!job) throw new Error(`job ${jobId} vanished`);
    return job;
  }

  private liveAssets(job: Job): DeliveredAsset[] {
    return this.options.repos.assets
      .listJobAssets(job.id)
      .filter((asset) => asset.removedAt === null)
      .map((asset) => withLinks(asset, this.options.links));
  }

  private ownerId(job: Job): string | undefined {
    return this.options.repos.users.getUser(job.userId)?.platformUserId;
  }

  private reportsOf(assetId: string): Array<{ reporterId: string; reason: string | null }> {
    return this.options.repos.reports.forAsset(assetId).map((report) => ({
      reporterId: this.options.repos.users.getUser(report.reporterUserId)?.platformUserId ?? '?',
      reason: report.reason,
    }));
  }

  /** What the log says an action was done to: the prompt, the output, the owner. */
  private describeOutput(job: Job, asset?: Pick<Asset, 'position'>): string {
    const which = asset ? ` (output ${asset.position + 1})` : '';
    return `"${clip(job.prompt, 80)}"${which} by <@${this.ownerId(job) ?? '?'}>`;
  }

  private outlet(platform: Platform): ModerationOutlet | undefined {
    return this.options.deliverers.get(platform)?.moderation;
  }

  private async postLink(job: Job, outlet: ModerationOutlet): Promise<string | undefined> {
    for (const post of this.options.repos.posts.forJob(job.id)) {
      const link = await outlet.permalink(job.workspaceId, post).catch(() => undefined);
      if (link) return link;
    }
    return undefined;
  }

  private async tell(community: CommunityRef, platformUserId: string, message: { text: string; private: boolean }): Promise<boolean> {
    const outlet = this.outlet(community.platform);
    if (!outlet) return false;
    try {
      return await outlet.tell(memberRef(community, platformUserId), message);
    } catch (error) {
      this.log.warn({ err: error, community }, 'could not tell a member privately');
      return false;
    }
  }
}

/**
 * Runs tasks of one key one after another (this process owns the review messages, so in-process order
 * is enough); a failed task does not stop the next.
 */
async function serially<T>(chains: Map<string, Promise<unknown>>, key: string, task: () => Promise<T>): Promise<T> {
  const previous = chains.get(key) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(task);
  chains.set(key, next);
  try {
    return await next;
  } finally {
    if (chains.get(key) === next) chains.delete(key);
  }
}

const keyOf = (community: CommunityRef) => `${community.platform}/${community.workspaceId}`;

/** Flagged outputs a moderator approved still show blurred; `allow` shows everything as it is. */
function spoilerUnder(policy: OutputPolicy, output: { nsfw: boolean }): boolean {
  return policy === 'spoiler' || (policy === 'hold' && output.nsfw);
}

function communityWords(platform: Platform): string {
  return platform === 'slack' ? 'this workspace' : 'this server';
}

const describe = {
  policy: (policy: OutputPolicy) => policy,
  models: (models: string[] | null) => (models === null ? 'all' : models.join(', ') || 'none'),
  cap: (cap: number | null) => (cap === null ? 'none' : String(cap)),
  users: (users: string[]) => (users.length ? users.map((id) => `<@${id}>`).join(', ') : 'none'),
};

/** "nsfw: spoiler → hold" for each setting that differs. */
function describeChanges(before: CommunitySettings, after: CommunitySettings): string[] {
  const changes: string[] = [];
  const compare = (name: string, from: string, to: string) => {
    if (from !== to) changes.push(`${name}: ${from} → ${to}`);
  };
  compare('nsfw', describe.policy(before.nsfwPolicy), describe.policy(after.nsfwPolicy));
  compare('other', describe.policy(before.otherPolicy), describe.policy(after.otherPolicy));
  compare('models', describe.models(before.allowedModels), describe.models(after.allowedModels));
  compare('daily_cap', describe.cap(before.dailyCap), describe.cap(after.dailyCap));
  compare('moderators', describe.users(before.moderatorUserIds), describe.users(after.moderatorUserIds));
  compare('moderator_group', before.moderatorGroupId ?? 'none', after.moderatorGroupId ?? 'none');
  return changes;
}
