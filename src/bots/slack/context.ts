import type { webApi } from '@slack/bolt';
import type { CommandContext, FormSpec, MemberStanding, Message } from '../../../commands/context.js';
import type { UserRef } from '../../domain.js';
import { toSlackMessage, toSlackModal } from './render.js';

type WebClient = webApi.WebClient;

/** What a result needs to find its way back, stored with the job (it survives restarts). */
export interface SlackReplyRoute {
  platform: 'slack';
  teamId: string;
  channelId: string;
  userId: string;
  /** The status message the job updates in place; the result is threaded under it. */
  statusTs: string | null;
  /** The conversation thread this was asked in (a mention's thread), if any. */
  threadTs: string | null;
  /** Where ephemeral answers go for 30 minutes (slash commands and buttons). */
  responseUrl: string | null;
  /** When the response_url was issued: its 30 minutes count from here. */
  createdAt: number;
  /** Results only for the user: ephemeral while response_url lives, then by DM. */
  private: boolean;
  isIm: boolean;
}

/** Everything a Slack request tells us about where and who. */
export interface SlackOrigin {
  teamId: string;
  userId: string;
  userName?: string | undefined;
  channelId: string;
  isIm: boolean;
  triggerId?: string | undefined;
  responseUrl?: string | undefined;
  /** When Slack issued the response_url, if earlier than this request (a modal opened by a slash command). */
  responseUrlIssuedAt?: number | undefined;
  threadTs?: string | undefined;
}

export function slackUser(teamId: string, userId: string, name?: string): UserRef & { displayName?: string } {
  // Slack user ids belong to one workspace.
  return { platform: 'slack', workspaceId: teamId, platformUserId: userId, ...(name ? { displayName: name } : {}) };
}

/** The Web API error code of a failed Slack call (`not_in_channel`…), if it is one. */
export function slackErrorCode(error: unknown): string | undefined {
  const code = (error as { data?: { error?: unknown } } | undefined)?.data?.error;
  return typeof code === 'string' ? code : undefined;
}

/** The bot may not post in the channel (not invited, archived, gone): answers go to the user alone. */
export function isChannelClosed(error: unknown): boolean {
  const code = slackErrorCode(error);
  return code === 'not_in_channel' || code === 'channel_not_found' || code === 'is_archived';
}

const CHANNEL_CLOSED_HINT = 'I am not a member of this channel, so only you see this. Invite me to the channel to share results there.';

/** Posts an ephemeral answer through a response_url (what Bolt's `respond` does, usable after a restart too). */
export async function postToResponseUrl(responseUrl: string, body: Record<string, unknown>, fetchImpl: typeof fetch = fetch): Promise<boolean> {
  const response = await fetchImpl(responseUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await response.body?.cancel();
  return response.ok;
}

/**
 * Slack tells nothing about standing in its payloads: the Web API is asked, once per request and
 * question (users.info for admins, usergroups.users.list for a group).
 */
function slackStanding(client: WebClient, userId: string): MemberStanding {
  let admin: Promise<boolean> | undefined;
  const groups = new Map<string, Promise<boolean>>();
  return {
    managesMessages: false,
    isAdmin() {
      admin ??= client.users.info({ user: userId }).then(
        ({ user }) => Boolean(user?.is_admin || user?.is_owner || user?.is_primary_owner),
        () => false,
      );
      return admin;
    },
    inGroup(groupId) {
      let member = groups.get(groupId);
      if (!member) {
        member = client.usergroups.users.list({ usergroup: groupId }).then(
          ({ users }) => (users ?? []).includes(userId),
          () => false,
        );
        groups.set(groupId, member);
      }
      return member;
    },
  };
}

/**
 * Translates one Slack request to the platform-neutral context. Slack has no "defer": the request is
 * acknowledged before this is made, a public "deferral" is a status message the job edits in place,
 * and private answers go to the user alone (response_url, else chat.postEphemeral).
 */
export class SlackContext implements CommandContext {
  readonly platform = 'slack' as const;
  readonly user: UserRef & { displayName?: string };
  readonly workspaceId: string;
  readonly channelId: string;
  readonly isDirectMessage: boolean;
  readonly standing: MemberStanding;
  private deferredPrivate: boolean | undefined;
  private statusTs: string | undefined;
  private formOpened = false;
  /** The bot could not post in the channel; the first private answer says why. */
  private channelClosed = false;
  private readonly releases: Array<() => void> = [];

  constructor(
    private readonly client: WebClient,
    private readonly origin: SlackOrigin,
    /** Holds a job's edits of a status message this handler posted until the handler is done (its own answer first). */
    private readonly holdStatus?: (channelId: string, ts: string) => () => void,
  ) {
    this.user = slackUser(origin.teamId, origin.userId, origin.userName);
    this.workspaceId = origin.teamId;
    this.channelId = origin.channelId;
    this.isDirectMessage = origin.isIm;
    this.standing = slackStanding(client, origin.userId);
  }

  async defer(options: { private?: boolean } = {}): Promise<void> {
    if (this.deferredPrivate !== undefined) return;
    this.deferredPrivate = options.private ?? false;
    if (!this.deferredPrivate) {
      try {
        const posted = await this.client.chat.postMessage({
          channel: this.origin.channelId,
          text: 'Working on it…',
          ...(this.origin.threadTs ? { thread_ts: this.origin.threadTs } : {}),
        });
        this.setStatus(posted.ts);
      } catch (error) {
        if (!isChannelClosed(error)) throw error;
        // Slash commands work in channels the bot is not in; their answers (and the job's) are then private.
        this.deferredPrivate = true;
        this.channelClosed = true;
      }
    }
  }

  /** The handler is done: progress and results may edit its status message now. */
  release(): void {
    for (const release of this.releases.splice(0)) release();
  }

  private setStatus(ts: string | undefined): void {
    this.statusTs = ts;
    if (ts && this.holdStatus) this.releases.push(this.holdStatus(this.origin.channelId, ts));
  }

  async reply(message: Message): Promise<void> {
    if (message.private) {
      if (this.statusTs) {
        // The public placeholder goes; the answer is for the user alone.
        await this.client.chat.delete({ channel: this.origin.channelId, ts: this.statusTs }).catch(() => undefined);
        this.statusTs = undefined;
      }
      await this.ephemeral(message);
      return;
    }
    if (this.deferredPrivate) {
      await this.ephemeral(message);
      return;
    }
    const rendered = toSlackMessage(message);
    if (this.statusTs) {
      await this.client.chat.update({ channel: this.origin.channelId, ts: this.statusTs, ...rendered });
      return;
    }
    try {
      const posted = await this.client.chat.postMessage({
        channel: this.origin.channelId,
        ...rendered,
        ...(this.origin.threadTs ? { thread_ts: this.origin.threadTs } : {}),
      });
      this.setStatus(posted.ts);
    } catch (error) {
      if (!isChannelClosed(error)) throw error;
      this.channelClosed = true;
      await this.ephemeral(message);
    }
  }

  async followUp(message: Message): Promise<void> {
    if (message.private) return this.ephemeral(message);
    const thread = this.origin.threadTs ?? this.statusTs;
    await this.client.chat.postMessage({ channel: this.origin.channelId, ...toSlackMessage(message), ...(thread ? { thread_ts: thread } : {}) });
  }

  async openForm(form: FormSpec): Promise<void> {
    if (!this.origin.triggerId || this.formOpened) throw new Error('a form needs a fresh trigger');
    this.formOpened = true;
    await this.client.views.open({
      trigger_id: this.origin.triggerId,
      view: toSlackModal(form, JSON.stringify({ channelId: this.origin.channelId, isIm: this.origin.isIm })),
    });
  }

  async sendDirectMessage(message: Message): Promise<void> {
    const opened = await this.client.conversations.open({ users: this.origin.userId });
    const channel = opened.channel?.id;
    if (!channel) throw new Error('Slack opened no DM channel');
    await this.client.chat.postMessage({ channel, ...toSlackMessage(message) });
  }

  replyRoute(): SlackReplyRoute {
    return {
      platform: 'slack',
      teamId: this.origin.teamId,
      channelId: this.origin.channelId,
      userId: this.origin.userId,
      statusTs: this.statusTs ?? null,
      threadTs: this.origin.threadTs ?? null,
      responseUrl: this.origin.responseUrl ?? null,
      createdAt: this.origin.responseUrlIssuedAt ?? Date.now(),
      private: this.deferredPrivate ?? false,
      isIm: this.origin.isIm,
    };
  }

  private async ephemeral(message: Message): Promise<void> {
    if (this.channelClosed) {
      this.channelClosed = false;
      message = { ...message, text: message.text ? `${CHANNEL_CLOSED_HINT}\n\n${message.text}` : CHANNEL_CLOSED_HINT };
    }
    const rendered = toSlackMessage(message);
    if (this.origin.responseUrl) {
      const ok = await postToResponseUrl(this.origin.responseUrl, { response_type: 'ephemeral', replace_original: false, ...rendered }).catch(() => false);
      if (ok) return;
    }
    await this.client.chat.postEphemeral({
      channel: this.origin.channelId,
      user: this.origin.userId,
      ...rendered,
      ...(this.origin.threadTs ? { thread_ts: this.origin.threadTs } : {}),
    });
  }
}
