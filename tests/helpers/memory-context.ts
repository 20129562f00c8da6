import { randomUUID } from 'node:crypto';
import type { Button, Card, CommandContext, FormSpec, MemberStanding, Message } from '../../commands/context.js';
import type { Platform, UserRef } from '../../src/domain.js';
import { testUser } from './app.js';

/** One message as the platform would show it. */
export interface RecordedMessage {
  via: 'reply' | 'followUp' | 'dm';
  message: Message;
  /** As the platform shows it: a reply after a private defer stays private; a private reply after a public defer is private. */
  private: boolean;
}

export type ContextEvent = 'defer' | 'reply' | 'followUp' | 'openForm' | 'dm';

export interface MemoryContextOptions {
  user?: UserRef & { displayName?: string };
  workspaceId?: string;
  channelId?: string;
  isDirectMessage?: boolean;
  /** Discord's Manage Messages (a moderator wherever the settings say nothing else). */
  canModerate?: boolean;
  /** Manage Server / a Slack workspace admin. */
  isAdmin?: boolean;
  /** Roles (Discord) or user groups (Slack) the member belongs to. */
  groups?: string[];
  /** `sendDirectMessage` fails (the user does not accept DMs from the server). */
  dmClosed?: boolean;
}

/** The acknowledgement rules of an interaction, as Discord and Slack enforce them. */
type InteractionState = 'fresh' | 'deferred' | 'replied' | 'form';

/**
 * An in-memory `CommandContext` for one interaction (one slash command, button press or form
 * submission): it records everything a platform would show, and refuses what a platform would
 * refuse (deferring twice, replying twice, a form after an acknowledgement, a follow-up before
 * the reply), so a handler that breaks the rules fails here rather than on Discord.
 */
export class MemoryContext implements CommandContext {
  readonly platform: Platform;
  readonly user: UserRef & { displayName?: string };
  readonly workspaceId: string;
  readonly channelId: string;
  readonly isDirectMessage: boolean;
  readonly standing: MemberStanding;
  readonly interactionId = randomUUID();

  /** Set by `defer`. */
  deferred: { private: boolean } | undefined;
  readonly messages: RecordedMessage[] = [];
  readonly forms: FormSpec[] = [];
  /** The order things happened in. */
  readonly events: ContextEvent[] = [];
  private state: InteractionState = 'fresh';
  private readonly dmClosed: boolean;

  constructor(options: MemoryContextOptions = {}) {
    this.user = options.user ?? testUser();
    this.platform = this.user.platform;
    this.isDirectMessage = options.isDirectMessage ?? false;
    this.workspaceId = options.workspaceId ?? (this.isDirectMessage ? '' : this.user.workspaceId || 'guild-1');
    this.channelId = options.channelId ?? (this.isDirectMessage ? `dm-${this.user.platformUserId}` : 'channel-1');
    const groups = new Set(options.groups ?? []);
    this.standing = {
      managesMessages: options.canModerate ?? false,
      isAdmin: async () => options.isAdmin ?? false,
      inGroup: async (groupId) => groups.has(groupId),
    };
    this.dmClosed = options.dmClosed ?? false;
  }

  async defer(options: { private?: boolean } = {}): Promise<void> {
    if (this.state !== 'fresh') throw new Error(`defer after ${this.state}: the interaction was already acknowledged`);
    this.state = 'deferred';
    this.deferred = { private: options.private ?? false };
    this.events.push('defer');
  }

  async reply(message: Message): Promise<void> {
    if (this.state === 'replied') throw new Error('reply twice: the interaction already has its reply (use followUp)');
    if (this.state === 'form') throw new Error('reply after opening a form');
    // A deferred private placeholder can only become a private answer; a private answer after a
    // public placeholder replaces it (the adapter deletes the placeholder and answers privately).
    const shownPrivate = (this.deferred?.private ?? false) || (message.private ?? false);
    this.state = 'replied';
    this.messages.push({ via: 'reply', message, private: shownPrivate });
    this.events.push('reply');
  }

  async followUp(message: Message): Promise<void> {
    if (this.state !== 'replied') throw new Error(`followUp before the reply (state ${this.state})`);
    this.messages.push({ via: 'followUp', message, private: message.private ?? false });
    this.events.push('followUp');
  }

  async openForm(form: FormSpec): Promise<void> {
    if (this.state !== 'fresh') throw new Error(`openForm after ${this.state}: a form must be the first response`);
    this.state = 'form';
    this.forms.push(form);
    this.events.push('openForm');
  }

  async sendDirectMessage(message: Message): Promise<void> {
    if (this.dmClosed) throw new Error('Cannot send messages to this user');
    this.messages.push({ via: 'dm', message, private: true });
    this.events.push('dm');
  }

  replyRoute(): unknown {
    return { kind: 'memory', interactionId: this.interactionId, channelId: this.channelId, user: this.user.platformUserId };
  }

  // ----- reading what was shown -----------------------------------------------------------

  /** Replies and follow-ups in the conversation (not DMs). */
  get replies(): RecordedMessage[] {
    return this.messages.filter((recorded) => recorded.via !== 'dm');
  }

  get dms(): RecordedMessage[] {
    return this.messages.filter((recorded) => recorded.via === 'dm');
  }

  lastReply(): RecordedMessage {
    const last = this.replies.at(-1);
    if (!last) throw new Error(`no reply was recorded (events: ${this.events.join(', ') || 'none'})`);
    return last;
  }

  /** Every text a user could read in one message: text, cards, buttons. */
  static textOf(message: Message): string {
    return [message.text ?? '', ...(message.cards ?? []).map(cardText), ...(message.buttons ?? []).flat().map(buttonText)].filter(Boolean).join('\n');
  }

  /** Everything recorded, replies and DMs, as one text. */
  allText(): string {
    return this.messages.map((recorded) => MemoryContext.textOf(recorded.message)).join('\n');
  }

  lastText(): string {
    return MemoryContext.textOf(this.lastReply().message);
  }

  /** Action buttons of a message (or of every message), flattened. */
  actionButtons(message?: Message): Array<Extract<Button, { kind: 'action' }>> {
    const messages = message ? [message] : this.messages.map((recorded) => recorded.message);
    return messages.flatMap((each) => (each.buttons ?? []).flat()).filter((button): button is Extract<Button, { kind: 'action' }> => button.kind === 'action');
  }

  linkButtons(message?: Message): Array<Extract<Button, { kind: 'link' }>> {
    const messages = message ? [message] : this.messages.map((recorded) => recorded.message);
    return messages.flatMap((each) => (each.buttons ?? []).flat()).filter((button): button is Extract<Button, { kind: 'link' }> => button.kind === 'link');
  }

  /** The id of the action button whose label matches. */
  buttonId(label: string | RegExp, message?: Message): string {
    const found = this.actionButtons(message).find((button) => (typeof label === 'string' ? button.label === label : label.test(button.label)));
    if (!found) throw new Error(`no button ${String(label)} among: ${this.actionButtons(message).map((button) => button.label).join(', ')}`);
    return found.id;
  }
}

function cardText(card: Card): string {
  return [
    card.title,
    card.description,
    card.url,
    card.imageUrl,
    card.thumbnailUrl,
    ...(card.fields ?? []).map((field) => `${field.name}: ${field.value}`),
    card.footer,
  ]
    .filter(Boolean)
    .join('\n');
}

function buttonText(button: Button): string {
  return button.kind === 'link' ? `[${button.label}](${button.url})` : `[${button.label}]`;
}

/** A fresh interaction for the same person (every command and button press is a new one). */
export function memoryContext(options: MemoryContextOptions = {}): MemoryContext {
  return new MemoryContext(options);
}
