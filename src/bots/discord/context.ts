import {
  MessageFlags,
  PermissionFlagsBits,
  type ChatInputCommandInteraction,
  type MessageComponentInteraction,
  type ModalSubmitInteraction,
} from 'discord.js';
import type { CommandContext, FormSpec, MemberStanding, Message } from '../../../commands/context.js';
import type { UserRef } from '../../domain.js';
import { AppError } from '../../errors.js';
import { toDiscordModal, toDiscordPayload, type DiscordPayload } from './render.js';

/** What a result needs to find its way back, stored with the job (it survives restarts). */
export interface DiscordReplyRoute {
  platform: 'discord';
  applicationId: string;
  interactionToken: string;
  /** When the interaction was created: its token works for 15 minutes from then. */
  createdAt: number;
  channelId: string;
  guildId: string | null;
  userId: string;
  /** Largest upload this interaction allows (Discord sends it; boosted servers allow more). */
  attachmentSizeLimit: number;
  /** The deferred reply is visible only to the user. */
  ephemeral: boolean;
}

export type RepliableInteraction = ChatInputCommandInteraction | MessageComponentInteraction | ModalSubmitInteraction;

const DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024;

export function discordUser(user: { id: string; globalName?: string | null; username: string }): UserRef & { displayName: string } {
  // Discord users are global: the same person in every server.
  return { platform: 'discord', workspaceId: '', platformUserId: user.id, displayName: user.globalName ?? user.username };
}

/** discord.js takes camelCase `allowedMentions`; the rest of the payload is raw API JSON. */
export function forDiscordJs(payload: DiscordPayload) {
  const { allowed_mentions: mentions, ...rest } = payload;
  return { ...rest, allowedMentions: mentions };
}

/** The role ids of the member who used the interaction (cached member or raw API member alike). */
function memberRoleIds(interaction: RepliableInteraction): readonly string[] {
  const member = interaction.member;
  if (!member) return [];
  return Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
}

/** Everything is in the interaction: its permissions and roles as Discord computed them for this channel. */
function discordStanding(interaction: RepliableInteraction): MemberStanding {
  const permissions = interaction.memberPermissions;
  return {
    managesMessages: permissions?.has(PermissionFlagsBits.ManageMessages) ?? false,
    isAdmin: async () => permissions?.has(PermissionFlagsBits.ManageGuild) ?? false,
    inGroup: async (roleId) => memberRoleIds(interaction).includes(roleId),
  };
}

/** Translates one interaction to the platform-neutral context the commands use. */
export class DiscordContext implements CommandContext {
  readonly platform = 'discord' as const;
  readonly user: UserRef & { displayName: string };
  readonly workspaceId: string;
  readonly channelId: string;
  readonly isDirectMessage: boolean;
  readonly standing: MemberStanding;
  /** Set the moment a first response starts, so the safety defer never races a handler's own. */
  private responding = false;
  private ephemeralAck: boolean | undefined;
  /** The first response while it is on its way: discord.js refuses edits and follow-ups before it lands. */
  private acknowledging: Promise<void> | undefined;
  /** The original is still the deferred "thinking…" placeholder (no answer in it yet). */
  private placeholder = false;

  constructor(
    private readonly interaction: RepliableInteraction,
    private readonly applicationId: string,
  ) {
    this.user = discordUser(interaction.user);
    this.workspaceId = interaction.guildId ?? '';
    this.channelId = interaction.channelId ?? '';
    this.isDirectMessage = !interaction.guildId;
    this.standing = discordStanding(interaction);
  }

  get hasResponded(): boolean {
    return this.responding || this.interaction.deferred || this.interaction.replied;
  }

  async defer(options: { private?: boolean } = {}): Promise<void> {
    if (this.hasResponded) return this.acknowledged();
    this.responding = true;
    this.ephemeralAck = options.private ?? false;
    this.placeholder = true;
    await this.acknowledge(this.interaction.deferReply(options.private ? { flags: MessageFlags.Ephemeral } : {}));
  }

  /** Tracks the first response so later calls (a handler racing the safety defer) wait for it. */
  private async acknowledge(response: Promise<unknown>): Promise<void> {
    const done = response.then(() => undefined);
    this.acknowledging = done.catch(() => undefined);
    await done;
  }

  /** Resolves once the first response has landed (or failed: then the next call reports the state). */
  private async acknowledged(): Promise<void> {
    await this.acknowledging;
  }

  async reply(message: Message): Promise<void> {
    const payload = forDiscordJs(toDiscordPayload(message));
    if (!this.hasResponded) {
      this.responding = true;
      this.ephemeralAck = message.private ?? false;
      await this.acknowledge(this.interaction.reply({ ...payload, ...(message.private ? { flags: MessageFlags.Ephemeral } : {}) }));
      return;
    }
    await this.acknowledged();
    if (message.private && this.ephemeralAck === false) {
      // The original is public; the answer is not. A public placeholder goes (nothing private shows
      // in the channel); a public answer already given stays, and this one follows privately.
      if (this.placeholder) await this.interaction.deleteReply().catch(() => undefined);
      this.placeholder = false;
      await this.interaction.followUp({ ...payload, flags: MessageFlags.Ephemeral });
      return;
    }
    await this.interaction.editReply(payload);
    this.placeholder = false;
  }

  async followUp(message: Message): Promise<void> {
    const payload = forDiscordJs(toDiscordPayload(message));
    await this.acknowledged();
    await this.interaction.followUp({ ...payload, ...(message.private ? { flags: MessageFlags.Ephemeral } : {}) });
  }

  async openForm(form: FormSpec): Promise<void> {
    if (this.interaction.isModalSubmit() || this.hasResponded) {
      throw new AppError('INTERNAL', 'a form can only be the first answer to a command or button');
    }
    this.responding = true;
    await this.acknowledge(this.interaction.showModal(toDiscordModal(form)));
  }

  async sendDirectMessage(message: Message): Promise<void> {
    await this.interaction.user.send(forDiscordJs(toDiscordPayload(message)));
  }

  replyRoute(): DiscordReplyRoute {
    return {
      platform: 'discord',
      applicationId: this.applicationId,
      interactionToken: this.interaction.token,
      createdAt: this.interaction.createdTimestamp,
      channelId: this.channelId,
      guildId: this.interaction.guildId,
      userId: this.interaction.user.id,
      attachmentSizeLimit: this.interaction.attachmentSizeLimit || DEFAULT_ATTACHMENT_LIMIT,
      ephemeral: this.ephemeralAck ?? false,
    };
  }
}
