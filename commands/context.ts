import type { Platform, UserRef } from '../src/domain.js';

/**
 * The one interface commands see. Adapters (src/bots/discord, src/bots/slack) translate a platform's
 * interaction into this and the messages below into the platform's own shapes (embeds, Block Kit).
 */

/** A file the user attached, as the platform described it (the worker checks the real bytes). */
export interface Attachment {
  name: string;
  url: string;
  contentType?: string | undefined;
  size?: number | undefined;
  /** `slack`: the worker fetches it with the bot token. */
  auth?: 'slack' | undefined;
}

export type ButtonStyle = 'primary' | 'secondary' | 'success' | 'danger';

export type Button =
  | { kind: 'action'; /** `<handler>:<args>` routed to a component handler */ id: string; label: string; style?: ButtonStyle; disabled?: boolean }
  | { kind: 'link'; url: string; label: string };

export interface CardField {
  name: string;
  value: string;
  inline?: boolean;
}

export interface Card {
  title?: string;
  description?: string;
  url?: string;
  imageUrl?: string;
  thumbnailUrl?: string;
  fields?: CardField[];
  footer?: string;
  /** Shown blurred until clicked (NSFW-flagged outputs). */
  spoiler?: boolean;
  color?: number;
}

export interface Message {
  text?: string;
  cards?: Card[];
  /** Rows of buttons. */
  buttons?: Button[][];
  /** Visible only to the user who asked. */
  private?: boolean;
}

export interface FormField {
  id: string;
  label: string;
  style: 'short' | 'paragraph';
  required?: boolean;
  placeholder?: string;
  minLength?: number;
  maxLength?: number;
}

/** A modal dialog; its submission is routed to the component handler named by `id`'s prefix. */
export interface FormSpec {
  id: string;
  title: string;
  fields: FormField[];
}

/**
 * What the platform says about a member's standing in the community, for moderation checks. The
 * adapter answers from the interaction (Discord) or asks the platform (Slack) and remembers the answer.
 */
export interface MemberStanding {
  /** Discord's Manage Messages permission here; never on Slack, which has no such permission. */
  readonly managesMessages: boolean;
  /** Discord: Manage Server (or Administrator). Slack: a workspace admin or owner. */
  isAdmin(): Promise<boolean>;
  /** Discord: has this role. Slack: belongs to this user group. */
  inGroup(groupId: string): Promise<boolean>;
}

export interface CommandContext {
  readonly platform: Platform;
  readonly user: UserRef & { displayName?: string };
  /** Guild or team; '' in a direct message. */
  readonly workspaceId: string;
  readonly channelId: string;
  readonly isDirectMessage: boolean;
  /** For moderation checks (the community's settings decide who moderates). */
  readonly standing: MemberStanding;
  /** Acknowledge within the platform's deadline. `private`: the reply is seen only by the user. */
  defer(options?: { private?: boolean }): Promise<void>;
  /**
   * The answer (replaces the deferred "thinking…" state when there was one). A private message after a
   * public defer replaces the public placeholder with a private answer: errors never show in the channel.
   */
  reply(message: Message): Promise<void>;
  /** Another message after the reply. */
  followUp(message: Message): Promise<void>;
  /** Opens a modal. Only possible as the first response to an interaction. */
  openForm(form: FormSpec): Promise<void>;
  /** Sends the user a direct message (the private place for key registration). */
  sendDirectMessage(message: Message): Promise<void>;
  /** Opaque, JSON-serialisable data the deliverer needs to post a result here later. */
  replyRoute(): unknown;
}
