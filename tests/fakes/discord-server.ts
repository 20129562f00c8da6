// A protocol-level fake of Discord (gateway + REST + CDN), driven by the REAL unmodified discord.js.
//
// One node:http server on 127.0.0.1 (random port), with a `ws` WebSocketServer on the same port.
// Wire the bot with only options changed (see /work/shared/docs/chat-emulation.md D1–D5):
//
//   new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiUrl } })
//   await client.login(fake.token)
//
// REST (under /api/v10; the path is percent-decoded segment by segment before matching, so
// `%40original` is `@original`). Auth column: "bot" routes need `Authorization: Bot <token>` (401
// `{code:0}` otherwise); interaction callbacks and interaction webhooks need none (as discord.js
// sends them with `auth:false`):
//
//   GET    /gateway/bot, /gateway                                    bot / none
//   GET    /users/@me, /users/{id}                                   bot
//   GET    /applications/@me, /oauth2/applications/@me               bot
//   GET|PUT|POST /applications/{app}/commands                        bot
//   GET|PATCH|DELETE /applications/{app}/commands/{cmd}              bot
//   …the same under /applications/{app}/guilds/{guild}/commands      bot
//   POST   /interactions/{id}/{token}/callback[?with_response=true]  none   (JSON or multipart)
//   POST   /webhooks/{app}/{token}[?wait=true]                       none   (follow-up)
//   GET|PATCH|DELETE /webhooks/{app}/{token}/messages/{@original|id} none
//   POST   /users/@me/channels                                       bot    (DM channel)
//   GET    /channels/{id}                                            bot
//   GET|POST /channels/{id}/messages                                 bot
//   GET|PATCH|DELETE /channels/{id}/messages/{mid}                   bot
//   POST   /channels/{id}/typing                                     bot
//   GET    /guilds/{id}, /guilds/{id}/channels                       bot
//
// CDN: GET|HEAD /attachments/{channel-or-app}/{attachmentId}/{filename}[?ex=…&is=…&hm=…&]. Every
// message attachment (bytes uploaded by the bot) and every attachment registered with
// `addAttachment` (user uploads put into slash-command options) is served there, without auth.
//
// Gateway: HELLO → IDENTIFY (token checked: close 4004 otherwise) → READY → GUILD_CREATE for each
// guild; heartbeats ACKed; RESUME replays the missed dispatches then RESUMED (unknown session: op 9
// d:false). Only text frames (keep zlib-sync out of the environment).
//
// Interaction rules modelled on Discord's:
// - the first callback must arrive within `ackDeadlineMs` (3 s) of the INTERACTION_CREATE; later:
//   404 {code:10062 "Unknown interaction"}; a second callback: 400 {code:40060}. "Already
//   acknowledged" is checked before lateness.
// - webhook routes with the interaction token work for `tokenLifetimeMs` (15 min) after creation
//   or until `expireToken()`: then 404 {code:10015 "Unknown Webhook"}. Before any callback:
//   `@original` answers 404 {code:10008 "Unknown Message"}, follow-ups 404 {code:10015}.
// - the first follow-up after a deferred reply (type 5) that has not been edited yet edits the
//   "thinking…" message in place (it keeps the defer's ephemerality), as Discord documents; later
//   follow-ups are new messages. A deferred message carries flag LOADING (128) until edited.
// - callback types allowed per interaction type: autocomplete only 8; 6/7 only for component
//   interactions (or modal submits that carry a message); 9 not for modal submits/autocomplete;
//   others answer 400 {code:50035 Invalid Form Body}.
// Message rules (create and edit): content ≤ 2000, ≤ 10 embeds (title ≤ 256, description ≤ 4096,
// ≤ 25 fields, 6000 chars in all), ≤ 5 top-level action rows (unless IS_COMPONENTS_V2),
// custom_id ≤ 100 and unique; an empty message: 400 {code:50006}; a file larger than the
// interaction's `attachment_size_limit` (channel posts: `attachmentSizeLimit`): 413 {code:40005}.
// Edits follow Discord's PATCH semantics: absent fields are kept; `attachments` (when present)
// lists what remains (existing ids kept, "n" = uploaded part files[n]); without it new files are
// appended. Embed `attachment://name` URLs are rewritten to the attachment's CDN URL.
//
// Not verified against the live API (chosen to be plausible): the 403 codes for channel
// permissions (50013), closed DMs (50007), foreign application ids (50001), the `resource`
// details of `?with_response=true`, message `type` 20 for command responses, and the 50035 shapes.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { waitForChange } from './wait.js';
import { flattenHeaders, readBody, sleep } from './http.js';

// ---------------------------------------------------------------------------------------------
// Public types

/** A JSON object as it travels on the wire. */
export type Json = Record<string, unknown>;

/** A user object as Discord sends it. */
export interface FakeUser {
  id: string;
  username: string;
  discriminator: string;
  global_name: string | null;
  avatar: string | null;
  public_flags: number;
  bot?: boolean;
}

export interface UserSpec {
  id?: string;
  username?: string;
  /** Display name (`global_name`). Default: the username capitalised. */
  globalName?: string | null;
  bot?: boolean;
  /** The user does not accept DMs from the bot: posts to their DM channel answer 403 {code:50007}. */
  dmsClosed?: boolean;
}

export interface ChannelSpec {
  id?: string;
  name?: string;
  /** Channel type (0 text, 2 voice, 4 category, 5 announcement, 15 forum). Default 0. */
  type?: number;
  /** False: bot posts answer 403 {code:50013 Missing Permissions}. Default true. */
  botCanSend?: boolean;
  parentId?: string | null;
  nsfw?: boolean;
  topic?: string | null;
}

export interface FakeChannel {
  readonly id: string;
  readonly type: number;
  readonly name: string | null;
  readonly guildId: string | null;
  /** The other user of a DM channel. */
  readonly recipientId: string | null;
  botCanSend: boolean;
  deleted: boolean;
  readonly parentId: string | null;
  readonly nsfw: boolean;
  readonly topic: string | null;
}

export interface GuildSpec {
  id?: string;
  name?: string;
  /** Default: a fresh user ("owner"). */
  ownerId?: string;
  /** Default: one text channel "general". */
  channels?: ChannelSpec[];
  /** Permissions of the @everyone role (and default member permissions). */
  everyonePermissions?: string | bigint;
  /** Extra members sent in GUILD_CREATE (the bot and the owner are always members). */
  members?: FakeUser[];
  preferredLocale?: string;
  /** Roles besides @everyone, sent in GUILD_CREATE as real Discord does (all of the guild's roles). */
  roles?: RoleSpec[];
}

export interface RoleSpec {
  id?: string;
  name?: string;
  /** The role's permission bits. Default none. */
  permissions?: string | bigint;
}

/** A guild role as the fake keeps it (its wire form is the role object in GUILD_CREATE). */
export interface FakeRole {
  readonly id: string;
  readonly name: string;
  readonly permissions: string;
}

export interface FakeGuild {
  readonly id: string;
  readonly name: string;
  readonly ownerId: string;
  readonly channels: FakeChannel[];
  readonly everyonePermissions: string;
  readonly members: FakeUser[];
  readonly preferredLocale: string;
  /** Roles besides @everyone. */
  readonly roles: FakeRole[];
}

/** A stored file: a user upload registered with addAttachment, or a file the bot uploaded. */
export interface FakeAttachment {
  readonly id: string;
  readonly filename: string;
  readonly contentType: string;
  readonly size: number;
  /** CDN URL served by the fake (with Discord-like `ex/is/hm` query parameters). */
  readonly url: string;
  readonly proxyUrl: string;
  readonly bytes: Buffer;
  readonly description: string | null;
  readonly width: number | null;
  readonly height: number | null;
  /** True for user uploads in slash-command options (Discord marks those ephemeral). */
  readonly ephemeral: boolean;
}

export type MessageSource = 'channel' | 'interaction' | 'follow-up' | 'external';

/** An immutable copy of a message's state at one revision. */
export interface MessageSnapshot {
  readonly id: string;
  readonly channelId: string;
  readonly guildId: string | null;
  readonly authorId: string;
  readonly content: string;
  /** As Discord returns them (type "rich", attachment:// URLs rewritten to the CDN). */
  readonly embeds: Json[];
  readonly components: Json[];
  readonly attachments: FakeAttachment[];
  readonly flags: number;
  readonly ephemeral: boolean;
  /** A deferred reply not yet edited ("is thinking…", flag 128). */
  readonly loading: boolean;
  readonly deleted: boolean;
  readonly createdAt: number;
  readonly editedAt: number | null;
  /** 0 at creation, +1 for every edit/delete. */
  readonly revision: number;
  readonly source: MessageSource;
  readonly interactionId: string | null;
  /** The message object as the REST API returns it. */
  readonly raw: Json;
}

export interface AckRecord {
  /** Interaction callback type (4 reply, 5 defer, 6 defer update, 7 update, 8 autocomplete, 9 modal). */
  type: number;
  /** Milliseconds between the INTERACTION_CREATE dispatch and the callback's arrival. */
  ms: number;
  /** The callback's `data` (payload_json's data for multipart). */
  data: Json | undefined;
  at: number;
}

export interface CallbackAttempt {
  type: number | undefined;
  ms: number;
  status: number;
  outcome: 'ok' | 'late' | 'duplicate' | 'invalid' | 'unknown';
  withResponse: boolean;
}

export interface UploadedFile {
  /** Form field name, e.g. `files[0]`. */
  field: string;
  /** n of `files[n]`; undefined for other field names. */
  index: number | undefined;
  filename: string;
  contentType: string;
  bytes: Buffer;
}

export interface MultipartBody {
  /** Parsed `payload_json`. */
  payload: unknown;
  files: UploadedFile[];
  /** Other string fields. */
  fields: Record<string, string>;
}

export interface RecordedRequest {
  at: number;
  method: string;
  /** Decoded path after `/api/v10`, e.g. `/webhooks/1/tok/messages/@original`. */
  path: string;
  query: Record<string, string>;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Route name, e.g. `interaction-callback`, `webhook-edit`; `unknown` when nothing matched. */
  route: string;
  /** JSON body; for multipart requests the parsed payload_json. */
  json: unknown;
  multipart: MultipartBody | undefined;
  /** HTTP status answered (undefined until answered). */
  status: number | undefined;
  /** Error body answered, if any. */
  error: Json | undefined;
}

export interface CdnRequest {
  at: number;
  method: string;
  path: string;
  status: number;
}

export interface IdentifyPayload {
  token: string;
  intents: number;
  properties: Json;
  shard: unknown;
  compress: unknown;
  largeThreshold: unknown;
  presence: unknown;
  raw: Json;
  at: number;
}

export interface FakeDiscordOptions {
  /** Bot token (without "Bot "). Default: a random token-shaped string. */
  token?: string;
  botUser?: Omit<UserSpec, 'bot' | 'dmsClosed'>;
  /** Default: the bot user's id (as for modern applications). */
  applicationId?: string;
  applicationFlags?: number;
  /** Deadline of the first callback. Default 3000. */
  ackDeadlineMs?: number;
  /** Lifetime of interaction tokens for webhook routes. Default 15 min. */
  tokenLifetimeMs?: number;
  /** HELLO heartbeat_interval. Default 41250. */
  heartbeatIntervalMs?: number;
  /** attachment_size_limit of interactions and the limit of channel uploads. Default 10 MiB. */
  attachmentSizeLimit?: number;
  /** app_permissions of interactions. Default all permissions. */
  appPermissions?: string;
  guilds?: GuildSpec[];
}

/** Where the interaction happens. */
export interface InteractionContextOptions {
  /** Default: a user "alice" created on first use. */
  user?: FakeUser;
  /** Default: the channel's guild, else the first guild. */
  guildId?: string;
  /** Default: the guild's first text channel. */
  channelId?: string;
  /** In the bot's DM channel with the user (no guild, no member). */
  dm?: boolean;
  /** member.permissions. Default: all for the guild owner, else @everyone's. */
  memberPermissions?: string | bigint;
  memberRoles?: string[];
  locale?: string;
  appPermissions?: string | bigint;
  attachmentSizeLimit?: number;
  /** Override the fake's ackDeadlineMs for this interaction. */
  ackDeadlineMs?: number;
}

export type CommandOptionValue = string | number | boolean | FakeAttachment | FakeUser | FakeChannel;

/** An option exactly as on the wire (type 1 subcommand, 2 group, 3 string, 4 integer, 5 boolean, 6 user, 10 number, 11 attachment…). */
export interface RawCommandOption {
  name: string;
  type: number;
  value?: unknown;
  options?: RawCommandOption[];
  focused?: boolean;
}

export interface SlashCommandOptions extends InteractionContextOptions {
  name: string;
  /**
   * Leaf options by name (types from the registered command when known, else inferred: string 3,
   * integer 4, number 10, boolean 5, FakeAttachment 11, FakeUser 6), or raw wire options.
   */
  options?: Record<string, CommandOptionValue> | RawCommandOption[];
  subcommand?: string;
  subcommandGroup?: string;
  /** Merged into data.resolved (for raw options). */
  resolved?: Json;
  /** Application command type. Default 1 (chat input). */
  commandType?: number;
}

export interface AutocompleteOptions extends SlashCommandOptions {
  /** Name of the focused option (added with value "" when absent from `options`). */
  focused?: string;
}

export interface ComponentOptions extends InteractionContextOptions {
  customId: string;
  /** The message the component is on: a snapshot or id of a message in the fake, or a raw message object. */
  message: MessageSnapshot | Json | string;
  /** 2 button (default), 3 string select, 5 user, 6 role, 7 mentionable, 8 channel select. */
  componentType?: number;
  values?: string[];
  /** Skip the check that the message has an enabled component with this custom_id. */
  skipComponentCheck?: boolean;
}

export interface ModalSubmitOptions extends InteractionContextOptions {
  /** Default: the custom_id of the modal `from` showed. */
  customId?: string;
  /** Text input values by custom_id. Inputs of the shown modal that are missing are sent as "". */
  fields: Record<string, string>;
  /** The interaction that showed the modal: reuses its user/channel/guild, message and modal layout. */
  from?: InteractionHandle;
  /** The message of the component that opened the modal. */
  message?: MessageSnapshot | Json | string;
  /** Force the layout: `label` (type 18 wrappers) or `row` (type 1 action rows). Default: as the shown modal. */
  layout?: 'label' | 'row';
}

export interface FailureSpec {
  method?: string;
  /** Matches the decoded path after /api/v10 (substring or RegExp). */
  path?: string | RegExp;
  /** Status to answer. Omit to only delay. */
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many matching requests. Default 1; Infinity until clearFailures(). */
  times?: number;
  delayMs?: number;
}

/** Canned failure specs. */
export const discordErrors = {
  rateLimited(retryAfterSeconds = 1, global = false): FailureSpec {
    return {
      status: 429,
      body: { message: 'You are being rate limited.', retry_after: retryAfterSeconds, global, code: global ? 0 : 20028 },
      headers: {
        'retry-after': String(retryAfterSeconds),
        'x-ratelimit-limit': '5',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset-after': String(retryAfterSeconds),
        'x-ratelimit-bucket': 'fakebucket',
        'x-ratelimit-scope': global ? 'global' : 'user',
        ...(global ? { 'x-ratelimit-global': 'true' } : {}),
      },
    };
  },
  serverError(status = 500): FailureSpec {
    return { status, body: { message: `${status}: Internal Server Error`, code: 0 } };
  },
} as const;

/** All permissions (as in D3's examples). */
export const ALL_PERMISSIONS = '2251799813685247';

/** Typical @everyone permissions of a new server (view, send, embed, attach, history, reactions, app commands…). */
export const DEFAULT_EVERYONE_PERMISSIONS = (
  [0, 6, 9, 10, 11, 14, 15, 16, 18, 20, 21, 25, 26, 31, 35, 37, 38] as const
)
  .reduce((acc, bit) => acc | (1n << BigInt(bit)), 0n)
  .toString();

export const MessageFlag = {
  SuppressEmbeds: 4,
  Ephemeral: 64,
  Loading: 128,
  SuppressNotifications: 4096,
  IsVoiceMessage: 8192,
  IsComponentsV2: 32768,
} as const;

// ---------------------------------------------------------------------------------------------
// Internals

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Json,
    readonly headers: Record<string, string> = {},
  ) {
    super(String(body['message']));
  }
}

function apiError(status: number, code: number, message: string, errors?: Json): HttpError {
  return new HttpError(status, { message, code, ...(errors ? { errors } : {}) });
}

function formErrors(path: string, code: string, message: string): Json {
  const leaf: Json = { _errors: [{ code, message }] };
  return path
    .split('.')
    .filter((part) => part !== '')
    .reverse()
    .reduce<Json>((acc, key) => ({ [key]: acc }), leaf);
}

const E = {
  unknownInteraction: () => apiError(404, 10062, 'Unknown interaction'),
  alreadyAcknowledged: () => apiError(400, 40060, 'Interaction has already been acknowledged.'),
  unknownWebhook: () => apiError(404, 10015, 'Unknown Webhook'),
  unknownMessage: () => apiError(404, 10008, 'Unknown Message'),
  unknownChannel: () => apiError(404, 10003, 'Unknown Channel'),
  unknownGuild: () => apiError(404, 10004, 'Unknown Guild'),
  unknownUser: () => apiError(404, 10013, 'Unknown User'),
  unknownCommand: () => apiError(404, 10063, 'Unknown application command'),
  emptyMessage: () => apiError(400, 50006, 'Cannot send an empty message'),
  cannotDm: () => apiError(403, 50007, 'Cannot send messages to this user'),
  missingAccess: () => apiError(403, 50001, 'Missing Access'),
  missingPermissions: () => apiError(403, 50013, 'Missing Permissions'),
  notAuthor: () => apiError(403, 50005, 'Cannot edit a message authored by another user'),
  tooLarge: () => apiError(413, 40005, 'Request entity too large'),
  unauthorized: () => apiError(401, 0, '401: Unauthorized'),
  notFound: () => apiError(404, 0, '404: Not Found'),
  methodNotAllowed: () => apiError(405, 0, '405: Method Not Allowed'),
  invalidJson: () => apiError(400, 50109, 'The request body contains invalid JSON.'),
  invalidForm: (path: string, code: string, message: string) =>
    apiError(400, 50035, 'Invalid Form Body', formErrors(path, code, message)),
};

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asObject(value: unknown): Json | undefined {
  return isObject(value) ? value : undefined;
}

function asArray(value: unknown): unknown[] | undefined {
  return Array.isArray(value) ? value : undefined;
}

function objects(value: unknown): Json[] {
  return (asArray(value) ?? []).filter(isObject);
}


const MIME_BY_EXTENSION: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mov: 'video/quicktime',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
  txt: 'text/plain; charset=utf-8',
  json: 'application/json; charset=utf-8',
};

function guessContentType(filename: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(filename)?.[1]?.toLowerCase() ?? '';
  return MIME_BY_EXTENSION[ext] ?? 'application/octet-stream';
}

/** Width/height of PNG, GIF and JPEG bytes. */
export function imageSize(bytes: Buffer): { width: number; height: number } | undefined {
  if (bytes.length >= 24 && bytes.readUInt32BE(0) === 0x89504e47) {
    return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }
  if (bytes.length >= 10 && bytes.toString('latin1', 0, 4) === 'GIF8') {
    return { width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8) };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) {
        i++;
        continue;
      }
      const marker = bytes[i + 1] ?? 0;
      if (marker === 0xff) {
        i++;
        continue;
      }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        i += 2;
        continue;
      }
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: bytes.readUInt16BE(i + 5), width: bytes.readUInt16BE(i + 7) };
      }
      i += 2 + bytes.readUInt16BE(i + 2);
    }
  }
  return undefined;
}

const DISCORD_EPOCH = 1420070400000n;
const NAME_PATTERN = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;

interface StoredMessage {
  id: string;
  channelId: string;
  guildId: string | null;
  author: FakeUser;
  type: number;
  content: string;
  embeds: Json[];
  components: Json[];
  attachments: FakeAttachment[];
  flags: number;
  tts: boolean;
  createdAt: number;
  editedAt: number | null;
  deleted: boolean;
  source: MessageSource;
  interactionId: string | null;
  webhookId: string | null;
  interactionMetadata: Json | null;
  messageReference: Json | null;
  /** Extra fields of an imported raw message. */
  extra: Json;
  revision: number;
  history: MessageSnapshot[];
}

interface InteractionState {
  id: string;
  token: string;
  type: number;
  payload: Json;
  createdAt: number;
  deadlineMs: number;
  attachmentSizeLimit: number;
  channelId: string;
  guildId: string | null;
  user: FakeUser;
  commandName: string | null;
  ack: AckRecord | undefined;
  attempts: CallbackAttempt[];
  expired: boolean;
  originalId: string | undefined;
  componentMessageId: string | undefined;
  followUpIds: string[];
  followUpEditedOriginal: boolean;
  modal: Json | undefined;
  choices: Json[] | undefined;
}

interface GuildState {
  id: string;
  name: string;
  ownerId: string;
  channelIds: string[];
  everyonePermissions: string;
  memberIds: string[];
  preferredLocale: string;
  joinedAt: number;
  roles: FakeRole[];
}

interface ResolvedContext {
  user: FakeUser;
  channel: FakeChannel;
  guild: GuildState | null;
}

interface GatewaySession {
  id: string;
  seq: number;
  log: Array<{ s: number; t: string; d: unknown }>;
  socket: WebSocket | null;
  ended: boolean;
  identify: IdentifyPayload;
}

interface FailureRule extends FailureSpec {
  remaining: number;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface RouteContext {
  params: Record<string, string>;
  query: URLSearchParams;
  json: unknown;
  files: UploadedFile[];
  record: RecordedRequest;
}

interface RouteDef {
  method: string;
  parts: string[];
  auth: boolean;
  name: string;
  handler: (ctx: RouteContext) => Reply | Promise<Reply>;
}

interface Composed {
  content?: string;
  embeds?: Json[];
  components?: Json[];
  attachments?: FakeAttachment[];
  flags?: number;
  tts?: boolean;
}

const ok = (body: unknown): Reply => ({ status: 200, body });
const noContent = (): Reply => ({ status: 204 });

function param(params: Record<string, string>, name: string): string {
  const value = params[name];
  if (value === undefined) throw new Error(`route parameter ${name} missing`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Interaction handle

/** What a test driver returns: the injected interaction and what the bot did with it. */
export class InteractionHandle {
  /** @internal */
  constructor(
    private readonly fake: FakeDiscord,
    /** @internal */ readonly state: InteractionState,
  ) {}

  get id(): string {
    return this.state.id;
  }

  get token(): string {
    return this.state.token;
  }

  /** The INTERACTION_CREATE `d` as dispatched. */
  get payload(): Json {
    return this.state.payload;
  }

  get channelId(): string {
    return this.state.channelId;
  }

  get guildId(): string | null {
    return this.state.guildId;
  }

  get user(): FakeUser {
    return this.state.user;
  }

  /** The accepted first callback, if any. */
  ack(): AckRecord | undefined {
    return this.state.ack;
  }

  /** Every callback attempt, including rejected ones (late, duplicate, invalid). */
  attempts(): CallbackAttempt[] {
    return [...this.state.attempts];
  }

  waitForAck(timeoutMs = 5000): Promise<AckRecord> {
    return this.fake.waitFor(() => this.state.ack, timeoutMs, () => {
      const tried = this.state.attempts.map((a) => `${a.outcome}(type ${a.type}) at ${a.ms} ms`).join(', ');
      return `an acknowledgement of interaction ${this.id}${tried ? ` (attempts: ${tried})` : ''}`;
    });
  }

  /** The interaction's "original message" (reply, deferred reply, or the updated component message). */
  original(): MessageSnapshot | undefined {
    return this.state.originalId === undefined ? undefined : this.fake.message(this.state.originalId);
  }

  /** Every revision of the original message, oldest first. */
  originalHistory(): MessageSnapshot[] {
    return this.state.originalId === undefined ? [] : this.fake.messageHistory(this.state.originalId);
  }

  waitForOriginal(predicate: (message: MessageSnapshot) => boolean = () => true, timeoutMs = 5000): Promise<MessageSnapshot> {
    return this.fake.waitFor(
      () => {
        const message = this.original();
        return message && predicate(message) ? message : undefined;
      },
      timeoutMs,
      () => `the original message of interaction ${this.id} to match (now: ${JSON.stringify(this.original()?.raw ?? null)})`,
    );
  }

  /** Follow-up messages (not counting a first follow-up that edited a deferred reply). */
  followUps(): MessageSnapshot[] {
    return this.state.followUpIds.flatMap((id) => this.fake.message(id) ?? []);
  }

  waitForFollowUp(predicate: (message: MessageSnapshot) => boolean = () => true, timeoutMs = 5000): Promise<MessageSnapshot> {
    return this.fake.waitFor(() => this.followUps().find(predicate), timeoutMs, `a follow-up of interaction ${this.id}`);
  }

  /** True when the first follow-up replaced the deferred "thinking…" message. */
  followUpEditedOriginal(): boolean {
    return this.state.followUpEditedOriginal;
  }

  /** The modal shown (callback type 9 data), if any. */
  modal(): Json | undefined {
    return this.state.modal;
  }

  /** The autocomplete choices returned (callback type 8), if any. */
  autocompleteChoices(): Json[] | undefined {
    return this.state.choices;
  }

  expireToken(): void {
    this.fake.expireToken(this.token);
  }
}

// ---------------------------------------------------------------------------------------------
// The fake

export class FakeDiscord {
  /** `http://127.0.0.1:<port>/api` — the REST `api` option. */
  readonly apiUrl: string;
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  /** `ws://127.0.0.1:<port>` (what GET /gateway/bot answers). */
  readonly gatewayUrl: string;
  readonly token: string;
  readonly botUser: FakeUser;
  readonly applicationId: string;
  readonly applicationFlags: number;
  /** Mutable: applies to interactions created afterwards. */
  ackDeadlineMs: number;
  /** Mutable: checked on every webhook request. */
  tokenLifetimeMs: number;
  heartbeatIntervalMs: number;
  attachmentSizeLimit: number;
  appPermissions: string;
  /** False: heartbeats are not ACKed (the client then reconnects as a zombie connection). */
  ackHeartbeats = true;

  private readonly events = new EventEmitter();
  private readonly wss: WebSocketServer;
  private lastSnowflakeMs = 0n;
  private snowflakeSeq = 0n;

  private readonly users = new Map<string, FakeUser>();
  private readonly dmsClosed = new Set<string>();
  private readonly guildStates = new Map<string, GuildState>();
  private readonly channels = new Map<string, FakeChannel>();
  private readonly dmChannelByUser = new Map<string, string>();
  private readonly messages = new Map<string, StoredMessage>();
  private readonly channelMessageIds = new Map<string, string[]>();
  private readonly attachmentsById = new Map<string, FakeAttachment>();
  private readonly commands = new Map<string, Json[]>();
  private readonly interactionsById = new Map<string, InteractionState>();
  private readonly interactionsByToken = new Map<string, InteractionState>();
  private readonly handles: InteractionHandle[] = [];
  private readonly sessions = new Map<string, GatewaySession>();
  private readonly sockets = new Set<WebSocket>();
  private readonly identifies: IdentifyPayload[] = [];
  private readonly resumeRecords: Array<{ sessionId: string; seq: number; ok: boolean; at: number }> = [];
  private readonly connections: Array<{ url: string; at: number }> = [];
  private readonly records: RecordedRequest[] = [];
  private readonly cdnRecords: CdnRequest[] = [];
  private failures: FailureRule[] = [];
  private defaultUserValue: FakeUser | undefined;
  private userCounter = 0;
  private readonly routes: RouteDef[];

  constructor(
    private readonly server: Server,
    readonly port: number,
    options: FakeDiscordOptions,
  ) {
    this.events.setMaxListeners(0);
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.apiUrl = `${this.baseUrl}/api`;
    this.gatewayUrl = `ws://127.0.0.1:${port}`;
    this.ackDeadlineMs = options.ackDeadlineMs ?? 3000;
    this.tokenLifetimeMs = options.tokenLifetimeMs ?? 15 * 60 * 1000;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 41250;
    this.attachmentSizeLimit = options.attachmentSizeLimit ?? 10 * 1024 * 1024;
    this.appPermissions = options.appPermissions ?? ALL_PERMISSIONS;
    this.botUser = this.user({ username: 'Atelier', ...options.botUser, bot: true });
    this.applicationId = options.applicationId ?? this.botUser.id;
    this.applicationFlags = options.applicationFlags ?? 0;
    this.token =
      options.token ??
      `${Buffer.from(this.botUser.id).toString('base64url')}.${randomBytes(4).toString('base64url')}.${randomBytes(27).toString('base64url')}`;
    this.routes = this.buildRoutes();
    for (const spec of options.guilds ?? []) this.guild(spec);

    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handleHttp(req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          const text = JSON.stringify({ message: `500: fake error: ${String(error)}`, code: 0 });
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(text);
        } else {
          res.destroy();
        }
      });
    });
    this.wss = new WebSocketServer({ server });
    this.wss.on('connection', (socket, req) => this.onConnection(socket, req));
  }

  // ----- ids, users, guilds, channels ------------------------------------------------------

  /** A fresh, strictly increasing snowflake (19 digits today). */
  snowflake(): string {
    let ms = BigInt(Date.now()) - DISCORD_EPOCH;
    if (ms <= this.lastSnowflakeMs) {
      this.snowflakeSeq++;
      if (this.snowflakeSeq > 4095n) {
        this.lastSnowflakeMs++;
        this.snowflakeSeq = 0n;
      }
      ms = this.lastSnowflakeMs;
    } else {
      this.lastSnowflakeMs = ms;
      this.snowflakeSeq = 0n;
    }
    return ((ms << 22n) | (1n << 17n) | this.snowflakeSeq).toString();
  }

  /** Creates (or replaces) a user known to the fake. */
  user(spec: UserSpec = {}): FakeUser {
    this.userCounter++;
    const username = spec.username ?? `user${this.userCounter}`;
    const user: FakeUser = {
      id: spec.id ?? this.snowflake(),
      username,
      discriminator: '0',
      global_name: spec.globalName === undefined ? username.charAt(0).toUpperCase() + username.slice(1) : spec.globalName,
      avatar: null,
      public_flags: 0,
      ...(spec.bot ? { bot: true } : {}),
    };
    this.users.set(user.id, user);
    if (spec.dmsClosed) this.dmsClosed.add(user.id);
    else this.dmsClosed.delete(user.id);
    return user;
  }

  getUser(id: string): FakeUser | undefined {
    return this.users.get(id);
  }

  /** Opens or closes a user's DMs to the bot. */
  setDmsOpen(userId: string, open: boolean): void {
    if (open) this.dmsClosed.delete(userId);
    else this.dmsClosed.add(userId);
  }

  /** Configures a guild (before login, or later: then GUILD_CREATE is dispatched to connected clients). */
  guild(spec: GuildSpec = {}): FakeGuild {
    const id = spec.id ?? this.snowflake();
    const ownerId = spec.ownerId ?? this.user({ username: 'owner' }).id;
    const state: GuildState = {
      id,
      name: spec.name ?? 'Test Server',
      ownerId,
      channelIds: [],
      everyonePermissions: String(spec.everyonePermissions ?? DEFAULT_EVERYONE_PERMISSIONS),
      memberIds: [],
      preferredLocale: spec.preferredLocale ?? 'en-US',
      joinedAt: Date.now(),
      roles: (spec.roles ?? []).map((role, index) => ({
        id: role.id ?? this.snowflake(),
        name: role.name ?? `role-${index + 1}`,
        permissions: String(role.permissions ?? 0n),
      })),
    };
    for (const member of spec.members ?? []) {
      this.users.set(member.id, member);
      state.memberIds.push(member.id);
    }
    this.guildStates.set(id, state);
    for (const channel of spec.channels ?? [{ name: 'general' }]) this.addChannel(id, channel);
    if (this.liveSessions().length > 0) this.dispatch('GUILD_CREATE', this.guildCreatePayload(state));
    return this.guildView(state);
  }

  /** Adds a channel to a guild (no CHANNEL_CREATE is dispatched). */
  addChannel(guildId: string, spec: ChannelSpec = {}): FakeChannel {
    const guild = this.guildStates.get(guildId);
    if (!guild) throw new Error(`fake discord: unknown guild ${guildId}`);
    const channel: FakeChannel = {
      id: spec.id ?? this.snowflake(),
      type: spec.type ?? 0,
      name: spec.name ?? `channel-${guild.channelIds.length + 1}`,
      guildId,
      recipientId: null,
      botCanSend: spec.botCanSend ?? true,
      deleted: false,
      parentId: spec.parentId ?? null,
      nsfw: spec.nsfw ?? false,
      topic: spec.topic ?? null,
    };
    this.channels.set(channel.id, channel);
    guild.channelIds.push(channel.id);
    return channel;
  }

  getGuild(id: string): FakeGuild | undefined {
    const state = this.guildStates.get(id);
    return state && this.guildView(state);
  }

  guilds(): FakeGuild[] {
    return [...this.guildStates.values()].map((state) => this.guildView(state));
  }

  getChannel(id: string): FakeChannel | undefined {
    return this.channels.get(id);
  }

  /** The bot's DM channel with a user (created on first use, same id the REST route returns). */
  dmChannel(userId: string): FakeChannel {
    const existing = this.dmChannelByUser.get(userId);
    if (existing) {
      const channel = this.channels.get(existing);
      if (channel) return channel;
    }
    const channel: FakeChannel = {
      id: this.snowflake(),
      type: 1,
      name: null,
      guildId: null,
      recipientId: userId,
      botCanSend: true,
      deleted: false,
      parentId: null,
      nsfw: false,
      topic: null,
    };
    this.channels.set(channel.id, channel);
    this.dmChannelByUser.set(userId, channel.id);
    return channel;
  }

  /**
   * Deletes a channel: further REST calls on it answer 404 {code:10003}. With `notify`, a
   * CHANNEL_DELETE is dispatched (then discord.js drops it from its cache).
   */
  deleteChannel(id: string, options: { notify?: boolean } = {}): void {
    const channel = this.channels.get(id);
    if (!channel) throw new Error(`fake discord: unknown channel ${id}`);
    channel.deleted = true;
    if (options.notify && channel.guildId) this.dispatch('CHANNEL_DELETE', this.channelWire(channel));
    this.changed();
  }

  // ----- attachments -----------------------------------------------------------------------

  /**
   * Registers a user upload (for attachment options) served from the fake CDN. Pass the result as
   * an option value of `slashCommand`.
   */
  addAttachment(filename: string, bytes: Buffer | Uint8Array | string, contentType?: string): FakeAttachment {
    return this.storeAttachment(this.applicationId, filename, Buffer.from(bytes), contentType ?? guessContentType(filename), null, true);
  }

  /** A stored attachment by id (user uploads and bot uploads). */
  attachment(id: string): FakeAttachment | undefined {
    return this.attachmentsById.get(id);
  }

  private storeAttachment(
    scopeId: string,
    filename: string,
    bytes: Buffer,
    contentType: string,
    description: string | null,
    ephemeral: boolean,
  ): FakeAttachment {
    const id = this.snowflake();
    const now = Math.floor(Date.now() / 1000);
    const query = `?ex=${(now + 86400).toString(16)}&is=${now.toString(16)}&hm=${randomBytes(32).toString('hex')}&`;
    const path = `/attachments/${scopeId}/${id}/${encodeURIComponent(filename)}`;
    const size = contentType.startsWith('image/') ? imageSize(bytes) : undefined;
    const attachment: FakeAttachment = {
      id,
      filename,
      contentType,
      size: bytes.length,
      url: `${this.baseUrl}${path}${query}`,
      proxyUrl: `${this.baseUrl}${path}${query}`,
      bytes,
      description,
      width: size?.width ?? null,
      height: size?.height ?? null,
      ephemeral,
    };
    this.attachmentsById.set(id, attachment);
    return attachment;
  }

  private attachmentWire(a: FakeAttachment): Json {
    return {
      id: a.id,
      filename: a.filename,
      size: a.size,
      url: a.url,
      proxy_url: a.proxyUrl,
      content_type: a.contentType,
      ...(a.width !== null && a.height !== null ? { width: a.width, height: a.height } : {}),
      ...(a.description !== null ? { description: a.description } : {}),
      ...(a.ephemeral ? { ephemeral: true } : {}),
    };
  }

  // ----- records ---------------------------------------------------------------------------

  /** Every REST request under /api, in arrival order. */
  get requests(): readonly RecordedRequest[] {
    return this.records;
  }

  /** Downloads from the fake CDN. */
  get cdnRequests(): readonly CdnRequest[] {
    return this.cdnRecords;
  }

  /** The latest IDENTIFY payload. */
  get identify(): IdentifyPayload | undefined {
    return this.identifies[this.identifies.length - 1];
  }

  /** Every IDENTIFY received (including rejected ones). */
  get identifyHistory(): readonly IdentifyPayload[] {
    return this.identifies;
  }

  /** RESUME attempts (ok: the session was found and replayed). */
  get resumes(): ReadonlyArray<{ sessionId: string; seq: number; ok: boolean; at: number }> {
    return this.resumeRecords;
  }

  /** Gateway WebSocket connections (url includes `?v=10&encoding=json`). */
  get gatewayConnections(): ReadonlyArray<{ url: string; at: number }> {
    return this.connections;
  }

  /** Clears request/CDN records (state such as messages and commands is kept). */
  clearRecords(): void {
    this.records.length = 0;
    this.cdnRecords.length = 0;
  }

  /** A message's current state (any source), or undefined if unknown. */
  message(id: string): MessageSnapshot | undefined {
    const stored = this.messages.get(id);
    return stored && this.snapshot(stored);
  }

  messageHistory(id: string): MessageSnapshot[] {
    return [...(this.messages.get(id)?.history ?? [])];
  }

  /**
   * Messages the bot posted in a channel with its token (POST /channels/{id}/messages), oldest
   * first. `includeInteractions` adds non-ephemeral interaction responses and follow-ups there.
   */
  channelMessages(channelId: string, options: { includeDeleted?: boolean; includeInteractions?: boolean } = {}): MessageSnapshot[] {
    return (this.channelMessageIds.get(channelId) ?? [])
      .flatMap((id) => this.messages.get(id) ?? [])
      .filter((m) => options.includeDeleted || !m.deleted)
      .filter((m) => m.source === 'channel' || (options.includeInteractions === true && (m.flags & MessageFlag.Ephemeral) === 0))
      .map((m) => this.snapshot(m));
  }

  /** Messages the bot posted in its DM channel with a user. */
  dmMessages(userId: string, options: { includeDeleted?: boolean; includeInteractions?: boolean } = {}): MessageSnapshot[] {
    const channelId = this.dmChannelByUser.get(userId);
    return channelId === undefined ? [] : this.channelMessages(channelId, options);
  }

  waitForChannelMessage(
    channelId: string,
    predicate: (message: MessageSnapshot) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<MessageSnapshot> {
    return this.waitFor(() => this.channelMessages(channelId).find(predicate), timeoutMs, `a message in channel ${channelId}`);
  }

  waitForDm(userId: string, predicate: (message: MessageSnapshot) => boolean = () => true, timeoutMs = 5000): Promise<MessageSnapshot> {
    return this.waitFor(() => this.dmMessages(userId).find(predicate), timeoutMs, `a DM to user ${userId}`);
  }

  /** Registered commands: global without guildId. */
  registeredCommands(guildId?: string): Json[] {
    return [...(this.commands.get(guildId ?? 'global') ?? [])];
  }

  /** Handles of all injected interactions. */
  interactions(): InteractionHandle[] {
    return [...this.handles];
  }

  interaction(idOrToken: string): InteractionHandle | undefined {
    return this.handles.find((h) => h.id === idOrToken || h.token === idOrToken);
  }

  /** Makes the interaction token's webhook routes answer 404 {code:10015} from now on. */
  expireToken(token: string): void {
    const state = this.interactionsByToken.get(token);
    if (!state) throw new Error('fake discord: unknown interaction token');
    state.expired = true;
  }

  /**
   * Resolves with the first truthy value of `check()`, re-evaluated whenever the fake's state
   * changes; rejects after `timeoutMs`.
   */
  waitFor<T>(check: () => T | undefined | null | false, timeoutMs = 5000, what: string | (() => string) = 'a condition'): Promise<T> {
    return waitForChange(this.events, check, timeoutMs, () => `fake discord: ${typeof what === 'string' ? what : what()}`);
  }


  private changed(): void {
    this.events.emit('change');
  }

  // ----- failure injection -----------------------------------------------------------------

  /** Makes matching REST requests fail (or only wait, without `status`). */
  failNext(spec: FailureSpec): void {
    this.failures.push({ ...spec, remaining: spec.times ?? 1 });
  }

  clearFailures(): void {
    this.failures = [];
  }

  // ----- gateway ---------------------------------------------------------------------------

  private liveSessions(): GatewaySession[] {
    return [...this.sessions.values()].filter((s) => !s.ended);
  }

  /**
   * Dispatches an event (op 0) to every live session (buffered for sessions that are
   * disconnected but resumable). Returns the number of sessions.
   */
  dispatch(t: string, d: unknown): number {
    const sessions = this.liveSessions();
    for (const session of sessions) this.sendDispatch(session, t, d);
    return sessions.length;
  }

  /** Sends op 7 RECONNECT: discord.js closes with 4200 and RESUMEs. */
  reconnectClients(): void {
    for (const socket of this.sockets) if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ op: 7, d: null, s: null, t: null }));
  }

  /** Closes every gateway connection from the server side (4000: discord.js resumes). */
  disconnectClients(code = 4000, reason = 'fake disconnect'): void {
    for (const socket of this.sockets) if (socket.readyState === WebSocket.OPEN) socket.close(code, reason);
  }

  /** Sends op 9 INVALID_SESSION (d=false: discord.js re-identifies). */
  invalidateSessions(resumable = false): void {
    for (const session of this.liveSessions()) {
      if (!resumable) session.ended = true;
      if (session.socket?.readyState === WebSocket.OPEN) session.socket.send(JSON.stringify({ op: 9, d: resumable, s: null, t: null }));
    }
  }

  private sendDispatch(session: GatewaySession, t: string, d: unknown): void {
    session.seq++;
    const frame = { op: 0, t, s: session.seq, d };
    session.log.push({ s: session.seq, t, d });
    if (session.log.length > 1000) session.log.shift();
    if (session.socket?.readyState === WebSocket.OPEN) session.socket.send(JSON.stringify(frame));
  }

  private onConnection(socket: WebSocket, req: IncomingMessage): void {
    this.sockets.add(socket);
    this.connections.push({ url: req.url ?? '/', at: Date.now() });
    let session: GatewaySession | null = null;
    socket.send(JSON.stringify({ op: 10, d: { heartbeat_interval: this.heartbeatIntervalMs }, s: null, t: null }));

    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        socket.close(4002, 'Error while decoding payload.');
        return;
      }
      let payload: Json | undefined;
      try {
        const text = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        payload = asObject(JSON.parse(text.toString('utf8')));
      } catch {
        payload = undefined;
      }
      if (!payload) {
        socket.close(4002, 'Error while decoding payload.');
        return;
      }
      const d = payload['d'];
      switch (payload['op']) {
        case 1:
          if (this.ackHeartbeats) socket.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
          return;
        case 2: {
          if (session) {
            socket.close(4005, 'Already authenticated.');
            return;
          }
          const raw = asObject(d) ?? {};
          const identify: IdentifyPayload = {
            token: String(raw['token'] ?? ''),
            intents: Number(raw['intents'] ?? 0),
            properties: asObject(raw['properties']) ?? {},
            shard: raw['shard'],
            compress: raw['compress'],
            largeThreshold: raw['large_threshold'],
            presence: raw['presence'],
            raw,
            at: Date.now(),
          };
          this.identifies.push(identify);
          this.changed();
          if (identify.token.replace(/^Bot\s+/i, '') !== this.token) {
            socket.close(4004, 'Authentication failed.');
            return;
          }
          session = {
            id: randomBytes(16).toString('hex'),
            seq: 0,
            log: [],
            socket,
            ended: false,
            identify,
          };
          this.sessions.set(session.id, session);
          this.sendDispatch(session, 'READY', this.readyPayload(session.id, raw['shard']));
          for (const guild of this.guildStates.values()) this.sendDispatch(session, 'GUILD_CREATE', this.guildCreatePayload(guild));
          return;
        }
        case 6: {
          const raw = asObject(d) ?? {};
          const sessionId = String(raw['session_id'] ?? '');
          const seq = Number(raw['seq'] ?? 0);
          const found = this.sessions.get(sessionId);
          const valid = found !== undefined && !found.ended && String(raw['token'] ?? '') === this.token;
          this.resumeRecords.push({ sessionId, seq, ok: valid, at: Date.now() });
          this.changed();
          if (!found || !valid) {
            socket.send(JSON.stringify({ op: 9, d: false, s: null, t: null }));
            return;
          }
          if (found.socket && found.socket !== socket && found.socket.readyState === WebSocket.OPEN) found.socket.close(4009, 'Session replaced');
          found.socket = socket;
          session = found;
          for (const entry of found.log) {
            if (entry.s > seq) socket.send(JSON.stringify({ op: 0, t: entry.t, s: entry.s, d: entry.d }));
          }
          this.sendDispatch(found, 'RESUMED', null);
          return;
        }
        case 3:
        case 4:
        case 8:
        case 14:
          if (!session) socket.close(4003, 'Not authenticated.');
          return;
        default:
          socket.close(4001, 'Unknown opcode.');
      }
    });

    socket.on('close', (code: number) => {
      this.sockets.delete(socket);
      if (session && session.socket === socket) {
        session.socket = null;
        // A normal close (1000/1001) ends the session as on Discord; other codes keep it resumable.
        if (code === 1000 || code === 1001) session.ended = true;
      }
      this.changed();
    });
    socket.on('error', () => {
      /* a client vanished; its close event follows */
    });
  }

  private readyPayload(sessionId: string, shard: unknown): Json {
    return {
      v: 10,
      user: { ...this.botUser, verified: true, mfa_enabled: false, flags: 0, email: null },
      guilds: [...this.guildStates.keys()].map((id) => ({ id, unavailable: true })),
      session_id: sessionId,
      session_type: 'normal',
      resume_gateway_url: this.gatewayUrl,
      shard: Array.isArray(shard) ? shard : [0, 1],
      application: { id: this.applicationId, flags: this.applicationFlags },
      private_channels: [],
      presences: [],
      relationships: [],
      guild_join_requests: [],
      geo_ordered_rtc_regions: [],
      user_settings: {},
      _trace: ['["fake-discord",{"micros":0}]'],
    };
  }

  private guildCreatePayload(guild: GuildState): Json {
    const memberIds = [...new Set([this.botUser.id, guild.ownerId, ...guild.memberIds])];
    return {
      id: guild.id,
      name: guild.name,
      icon: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: guild.ownerId,
      region: 'deprecated',
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      nsfw_level: 0,
      premium_tier: 0,
      premium_subscription_count: 0,
      premium_progress_bar_enabled: false,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      public_updates_channel_id: null,
      safety_alerts_channel_id: null,
      vanity_url_code: null,
      preferred_locale: guild.preferredLocale,
      max_members: 500000,
      max_video_channel_users: 25,
      features: [],
      roles: [
        {
          id: guild.id,
          name: '@everyone',
          description: null,
          color: 0,
          colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
          hoist: false,
          icon: null,
          unicode_emoji: null,
          position: 0,
          permissions: guild.everyonePermissions,
          managed: false,
          mentionable: false,
          flags: 0,
        },
        ...guild.roles.map((role, index) => this.roleWire(role, index + 1)),
      ],
      emojis: [],
      stickers: [],
      joined_at: new Date(guild.joinedAt).toISOString(),
      large: false,
      unavailable: false,
      member_count: memberIds.length,
      members: memberIds.flatMap((id) => {
        const user = this.users.get(id);
        return user ? [this.memberWire(user, [], guild.joinedAt)] : [];
      }),
      channels: guild.channelIds.flatMap((id) => {
        const channel = this.channels.get(id);
        return channel && !channel.deleted ? [this.channelWire(channel)] : [];
      }),
      threads: [],
      presences: [],
      voice_states: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
      embedded_activities: [],
      application_command_counts: {},
    };
  }

  private roleWire(role: FakeRole, position: number): Json {
    return {
      id: role.id,
      name: role.name,
      description: null,
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      icon: null,
      unicode_emoji: null,
      position,
      permissions: role.permissions,
      managed: false,
      mentionable: true,
      flags: 0,
    };
  }

  private memberWire(user: FakeUser, roles: string[], joinedAt: number): Json {
    return {
      user,
      nick: null,
      avatar: null,
      banner: null,
      roles,
      joined_at: new Date(joinedAt).toISOString(),
      premium_since: null,
      deaf: false,
      mute: false,
      flags: 0,
      pending: false,
      communication_disabled_until: null,
    };
  }

  private channelWire(channel: FakeChannel): Json {
    if (channel.type === 1) {
      const recipient = channel.recipientId === null ? undefined : this.users.get(channel.recipientId);
      return { id: channel.id, type: 1, last_message_id: this.lastMessageId(channel.id), flags: 0, recipients: recipient ? [recipient] : [] };
    }
    return {
      id: channel.id,
      type: channel.type,
      guild_id: channel.guildId,
      name: channel.name,
      position: channel.guildId ? (this.guildStates.get(channel.guildId)?.channelIds.indexOf(channel.id) ?? 0) : 0,
      permission_overwrites: [],
      parent_id: channel.parentId,
      nsfw: channel.nsfw,
      topic: channel.topic,
      last_message_id: this.lastMessageId(channel.id),
      rate_limit_per_user: 0,
      flags: 0,
    };
  }

  private lastMessageId(channelId: string): string | null {
    const ids = this.channelMessageIds.get(channelId);
    return ids?.[ids.length - 1] ?? null;
  }

  private guildView(state: GuildState): FakeGuild {
    return {
      id: state.id,
      name: state.name,
      ownerId: state.ownerId,
      channels: state.channelIds.flatMap((id) => this.channels.get(id) ?? []),
      everyonePermissions: state.everyonePermissions,
      members: state.memberIds.flatMap((id) => this.users.get(id) ?? []),
      preferredLocale: state.preferredLocale,
      roles: [...state.roles],
    };
  }

  // ----- interaction drivers ---------------------------------------------------------------

  /** The default interacting user ("alice"), created on first use. */
  defaultUser(): FakeUser {
    this.defaultUserValue ??= this.user({ username: 'alice' });
    return this.defaultUserValue;
  }

  /** Injects a slash command (type 2) exactly as Discord sends it. */
  slashCommand(options: SlashCommandOptions): InteractionHandle {
    const ctx = this.resolveContext(options);
    return this.inject(2, ctx, options, (payload) => {
      payload['data'] = this.commandData(options, ctx, undefined);
    }, options.name);
  }

  /** Injects an autocomplete request (type 4); `focused` names the focused option. */
  autocomplete(options: AutocompleteOptions): InteractionHandle {
    const ctx = this.resolveContext(options);
    return this.inject(4, ctx, options, (payload) => {
      payload['data'] = this.commandData(options, ctx, options.focused);
    }, options.name);
  }

  /** Injects a button press (type 3, component_type 2) on a message. */
  button(options: ComponentOptions): InteractionHandle {
    return this.component(options);
  }

  /** Injects a string select (component_type 3 by default) on a message. */
  select(options: ComponentOptions & { values: string[] }): InteractionHandle {
    return this.component({ componentType: 3, ...options });
  }

  /** Injects a message component interaction (type 3). */
  component(options: ComponentOptions): InteractionHandle {
    const stored = this.resolveMessage(options.message);
    if (!options.skipComponentCheck) {
      const found = findComponent(stored.components, options.customId);
      if (!found) throw new Error(`fake discord: message ${stored.id} has no component with custom_id "${options.customId}"`);
      if (found['disabled'] === true) throw new Error(`fake discord: component "${options.customId}" is disabled`);
    }
    const ctx = this.resolveContext(options, stored.channelId);
    const componentType = options.componentType ?? 2;
    return this.inject(3, ctx, options, (payload, state) => {
      state.componentMessageId = stored.id;
      payload['message'] = this.messageWire(stored);
      payload['data'] = {
        custom_id: options.customId,
        component_type: componentType,
        ...(componentType !== 2 ? { values: options.values ?? [] } : {}),
      };
    }, null);
  }

  /** Injects a modal submission (type 5). */
  modalSubmit(options: ModalSubmitOptions): InteractionHandle {
    const from = options.from?.state;
    const modal = from?.modal;
    const customId = options.customId ?? (typeof modal?.['custom_id'] === 'string' ? modal['custom_id'] : undefined);
    if (customId === undefined) throw new Error('fake discord: modalSubmit needs customId (or `from` an interaction that showed a modal)');
    const inputs = modal ? textInputs(modal) : [];
    if (modal) {
      if (modal['custom_id'] !== customId) throw new Error(`fake discord: the shown modal's custom_id is "${String(modal['custom_id'])}", not "${customId}"`);
      for (const field of Object.keys(options.fields)) {
        if (!inputs.some((input) => input.customId === field)) throw new Error(`fake discord: the shown modal has no text input "${field}"`);
      }
    }
    const messageRef = options.message ?? (from?.componentMessageId !== undefined ? from.componentMessageId : undefined);
    const stored = messageRef === undefined ? undefined : this.resolveMessage(messageRef);
    const fromUser = from ? this.users.get(from.user.id) : undefined;
    const ctx = this.resolveContext(
      {
        ...(from ? { channelId: from.channelId, ...(from.guildId === null ? { dm: true } : { guildId: from.guildId }) } : {}),
        ...(fromUser ? { user: fromUser } : {}),
        ...options,
      },
      stored?.channelId,
    );
    const layout = options.layout ?? (inputs.some((input) => input.label) ? 'label' : 'row');
    const ids = inputs.length > 0 ? inputs.map((input) => input.customId) : Object.keys(options.fields);
    let componentId = 0;
    const components = ids.map((id) => {
      const input = { type: 4, id: ++componentId, custom_id: id, value: options.fields[id] ?? '' };
      return layout === 'label' ? { type: 18, id: ++componentId, component: input } : { type: 1, id: ++componentId, components: [input] };
    });
    return this.inject(5, ctx, options, (payload, state) => {
      if (stored) {
        state.componentMessageId = stored.id;
        payload['message'] = this.messageWire(stored);
      }
      payload['data'] = { custom_id: customId, components };
    }, null);
  }

  private resolveContext(options: InteractionContextOptions, fallbackChannelId?: string): ResolvedContext {
    const user = options.user ?? this.defaultUser();
    if (!this.users.has(user.id)) this.users.set(user.id, user);
    if (options.dm) return { user, channel: this.dmChannel(user.id), guild: null };
    const channelId = options.channelId ?? fallbackChannelId;
    let channel = channelId === undefined ? undefined : this.channels.get(channelId);
    if (channelId !== undefined && !channel) throw new Error(`fake discord: unknown channel ${channelId}`);
    if (channel?.type === 1) return { user, channel, guild: null };
    const guild =
      (options.guildId !== undefined ? this.guildStates.get(options.guildId) : undefined) ??
      (channel?.guildId ? this.guildStates.get(channel.guildId) : undefined) ??
      (options.guildId === undefined ? this.guildStates.values().next().value : undefined);
    if (!guild) throw new Error(`fake discord: no guild ${options.guildId ?? ''} configured (call fake.guild() or pass dm: true)`);
    channel ??= guild.channelIds.map((id) => this.channels.get(id)).find((c) => c !== undefined && c.type === 0 && !c.deleted);
    if (!channel) throw new Error(`fake discord: guild ${guild.id} has no text channel`);
    return { user, channel, guild };
  }

  private inject(
    type: number,
    ctx: ResolvedContext,
    options: InteractionContextOptions,
    fill: (payload: Json, state: InteractionState) => void,
    commandName: string | null,
  ): InteractionHandle {
    const id = this.snowflake();
    const token = Buffer.from(`interaction:${id}:${randomBytes(48).toString('base64url')}`).toString('base64url');
    const { user, channel, guild } = ctx;
    const attachmentSizeLimit = options.attachmentSizeLimit ?? this.attachmentSizeLimit;
    const payload: Json = {
      id,
      application_id: this.applicationId,
      type,
      token,
      version: 1,
      app_permissions: String(options.appPermissions ?? this.appPermissions),
      locale: options.locale ?? 'en-US',
      entitlements: [],
      attachment_size_limit: attachmentSizeLimit,
      authorizing_integration_owners: guild ? { '0': guild.id } : { '0': '0' },
      context: guild ? 0 : 1,
      channel: { ...this.channelWire(channel), ...(guild ? { permissions: String(options.appPermissions ?? this.appPermissions) } : {}) },
      channel_id: channel.id,
    };
    if (guild) {
      const permissions =
        options.memberPermissions !== undefined
          ? String(options.memberPermissions)
          : user.id === guild.ownerId
            ? ALL_PERMISSIONS
            : guild.everyonePermissions;
      payload['guild_id'] = guild.id;
      payload['guild_locale'] = guild.preferredLocale;
      payload['guild'] = { id: guild.id, locale: guild.preferredLocale, features: [] };
      payload['member'] = { ...this.memberWire(user, options.memberRoles ?? [], guild.joinedAt), permissions };
    } else {
      payload['user'] = user;
    }
    const state: InteractionState = {
      id,
      token,
      type,
      payload,
      createdAt: 0,
      deadlineMs: options.ackDeadlineMs ?? this.ackDeadlineMs,
      attachmentSizeLimit,
      channelId: channel.id,
      guildId: guild?.id ?? null,
      user,
      commandName,
      ack: undefined,
      attempts: [],
      expired: false,
      originalId: undefined,
      componentMessageId: undefined,
      followUpIds: [],
      followUpEditedOriginal: false,
      modal: undefined,
      choices: undefined,
    };
    fill(payload, state);
    if (this.liveSessions().length === 0) throw new Error('fake discord: no gateway session (log a client in first)');
    this.interactionsById.set(id, state);
    this.interactionsByToken.set(token, state);
    const handle = new InteractionHandle(this, state);
    this.handles.push(handle);
    state.createdAt = Date.now();
    this.dispatch('INTERACTION_CREATE', payload);
    this.changed();
    return handle;
  }

  private findCommand(name: string, guildId: string | null, commandType: number): Json | undefined {
    const match = (c: Json): boolean => c['name'] === name && (c['type'] ?? 1) === commandType;
    return (guildId ? this.commands.get(guildId)?.find(match) : undefined) ?? this.commands.get('global')?.find(match);
  }

  private commandData(options: SlashCommandOptions, ctx: ResolvedContext, focused: string | undefined): Json {
    const commandType = options.commandType ?? 1;
    const registered = this.findCommand(options.name, ctx.guild?.id ?? null, commandType);
    let definitions = objects(registered?.['options']);
    if (options.subcommandGroup !== undefined) definitions = objects(definitions.find((o) => o['name'] === options.subcommandGroup)?.['options']);
    if (options.subcommand !== undefined) definitions = objects(definitions.find((o) => o['name'] === options.subcommand)?.['options']);

    const resolved: Record<string, Json> = {};
    const addResolved = (kind: string, id: string, value: Json): void => {
      const bucket = (resolved[kind] ??= {});
      bucket[id] = value;
    };
    let leaves: RawCommandOption[];
    if (Array.isArray(options.options)) {
      leaves = options.options.map((o) => ({ ...o }));
    } else {
      leaves = Object.entries(options.options ?? {}).map(([name, value]) => {
        const declared = definitions.find((d) => d['name'] === name)?.['type'];
        if (isAttachmentValue(value)) {
          addResolved('attachments', value.id, this.attachmentWire(value));
          return { name, type: typeof declared === 'number' ? declared : 11, value: value.id };
        }
        if (isUserValue(value)) {
          addResolved('users', value.id, { ...value });
          if (ctx.guild) {
            const { user: _user, ...member } = this.memberWire(value, [], ctx.guild.joinedAt);
            addResolved('members', value.id, { ...member, permissions: ctx.guild.everyonePermissions });
          }
          return { name, type: typeof declared === 'number' ? declared : 6, value: value.id };
        }
        if (isChannelValue(value)) {
          // Discord resolves channel options to partial channels with the invoker's permissions there.
          addResolved('channels', value.id, {
            id: value.id,
            name: value.name,
            type: value.type,
            permissions: String(
              options.memberPermissions ?? (ctx.guild && ctx.user.id !== ctx.guild.ownerId ? ctx.guild.everyonePermissions : ALL_PERMISSIONS),
            ),
            ...(value.parentId !== null ? { parent_id: value.parentId } : {}),
          });
          return { name, type: typeof declared === 'number' ? declared : 7, value: value.id };
        }
        const inferred = typeof value === 'string' ? 3 : typeof value === 'boolean' ? 5 : Number.isInteger(value) ? 4 : 10;
        return { name, type: typeof declared === 'number' ? declared : inferred, value };
      });
    }
    if (focused !== undefined) {
      const leaf = leaves.find((o) => o.name === focused);
      if (leaf) {
        leaf.focused = true;
        leaf.value = String(leaf.value ?? '');
      } else {
        const declared = definitions.find((d) => d['name'] === focused)?.['type'];
        leaves.push({ name: focused, type: typeof declared === 'number' ? declared : 3, value: '', focused: true });
      }
    }
    let wireOptions: RawCommandOption[] = leaves;
    if (options.subcommand !== undefined) wireOptions = [{ name: options.subcommand, type: 1, options: wireOptions }];
    if (options.subcommandGroup !== undefined) wireOptions = [{ name: options.subcommandGroup, type: 2, options: wireOptions }];
    const mergedResolved: Json = { ...resolved, ...(options.resolved ?? {}) };
    return {
      id: typeof registered?.['id'] === 'string' ? registered['id'] : this.snowflake(),
      name: options.name,
      type: commandType,
      ...(wireOptions.length > 0 ? { options: wireOptions } : {}),
      ...(Object.keys(mergedResolved).length > 0 ? { resolved: mergedResolved } : {}),
      ...(typeof registered?.['guild_id'] === 'string' ? { guild_id: registered['guild_id'] } : {}),
    };
  }

  /** Finds or imports the message a component is on. */
  private resolveMessage(ref: MessageSnapshot | Json | string): StoredMessage {
    const id = typeof ref === 'string' ? ref : typeof ref['id'] === 'string' ? ref['id'] : undefined;
    if (id === undefined) throw new Error('fake discord: the message needs an id');
    const stored = this.messages.get(id);
    if (stored) {
      if (stored.deleted) throw new Error(`fake discord: message ${id} was deleted`);
      return stored;
    }
    if (typeof ref === 'string') throw new Error(`fake discord: unknown message ${id}`);
    const raw: Json = isSnapshot(ref) ? ref.raw : ref;
    const channelId = typeof raw['channel_id'] === 'string' ? raw['channel_id'] : undefined;
    if (channelId === undefined || !this.channels.has(channelId)) throw new Error(`fake discord: message ${id} needs a known channel_id`);
    const author = asObject(raw['author']);
    const {
      id: _id,
      channel_id: _channel,
      author: _author,
      content,
      embeds,
      components,
      flags,
      attachments: _attachments,
      timestamp: _timestamp,
      edited_timestamp: _edited,
      ...extra
    } = raw;
    const message: StoredMessage = {
      id,
      channelId,
      guildId: this.channels.get(channelId)?.guildId ?? null,
      author: author && typeof author['id'] === 'string' ? (author as unknown as FakeUser) : this.botUser,
      type: typeof raw['type'] === 'number' ? raw['type'] : 0,
      content: typeof content === 'string' ? content : '',
      embeds: objects(embeds),
      components: objects(components),
      attachments: [],
      flags: typeof flags === 'number' ? flags : 0,
      tts: false,
      createdAt: Date.now(),
      editedAt: null,
      deleted: false,
      source: 'external',
      interactionId: null,
      webhookId: null,
      interactionMetadata: null,
      messageReference: null,
      extra,
      revision: -1,
      history: [],
    };
    this.messages.set(id, message);
    this.touch(message, false);
    return message;
  }

  // ----- messages --------------------------------------------------------------------------

  private snapshot(m: StoredMessage): MessageSnapshot {
    return {
      id: m.id,
      channelId: m.channelId,
      guildId: m.guildId,
      authorId: m.author.id,
      content: m.content,
      embeds: structuredClone(m.embeds),
      components: structuredClone(m.components),
      attachments: [...m.attachments],
      flags: m.flags,
      ephemeral: (m.flags & MessageFlag.Ephemeral) !== 0,
      loading: (m.flags & MessageFlag.Loading) !== 0,
      deleted: m.deleted,
      createdAt: m.createdAt,
      editedAt: m.editedAt,
      revision: m.revision,
      source: m.source,
      interactionId: m.interactionId,
      raw: this.messageWire(m),
    };
  }

  /** Records a new revision (creation when `edited` is false). */
  private touch(m: StoredMessage, edited: boolean): void {
    m.revision++;
    if (edited) m.editedAt = Date.now();
    m.history.push(this.snapshot(m));
    this.changed();
  }

  private messageWire(m: StoredMessage): Json {
    return {
      ...m.extra,
      id: m.id,
      channel_id: m.channelId,
      type: m.type,
      content: m.content,
      author: m.author,
      timestamp: new Date(m.createdAt).toISOString(),
      edited_timestamp: m.editedAt === null ? null : new Date(m.editedAt).toISOString(),
      tts: m.tts,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: m.attachments.map((a) => this.attachmentWire(a)),
      embeds: structuredClone(m.embeds),
      components: structuredClone(m.components),
      pinned: false,
      flags: m.flags,
      ...(m.webhookId !== null ? { webhook_id: m.webhookId, application_id: this.applicationId } : {}),
      ...(m.interactionMetadata !== null ? { interaction_metadata: m.interactionMetadata } : {}),
      ...(m.messageReference !== null ? { message_reference: m.messageReference } : {}),
    };
  }

  private createMessage(
    channelId: string,
    composed: Composed,
    source: MessageSource,
    extra: { interaction?: InteractionState; type?: number; loading?: boolean; messageReference?: Json | null },
  ): StoredMessage {
    const interaction = extra.interaction;
    const message: StoredMessage = {
      id: this.snowflake(),
      channelId,
      guildId: this.channels.get(channelId)?.guildId ?? null,
      author: this.botUser,
      type: extra.type ?? 0,
      content: composed.content ?? '',
      embeds: composed.embeds ?? [],
      components: composed.components ?? [],
      attachments: composed.attachments ?? [],
      flags: (composed.flags ?? 0) | (extra.loading ? MessageFlag.Loading : 0),
      tts: composed.tts ?? false,
      createdAt: Date.now(),
      editedAt: null,
      deleted: false,
      source,
      interactionId: interaction?.id ?? null,
      webhookId: interaction ? this.applicationId : null,
      interactionMetadata: interaction
        ? {
            id: interaction.id,
            type: interaction.type,
            user: interaction.user,
            authorizing_integration_owners: interaction.payload['authorizing_integration_owners'],
            ...(interaction.commandName !== null ? { name: interaction.commandName, command_type: 1 } : {}),
            ...(source === 'follow-up' && interaction.originalId !== undefined ? { original_response_message_id: interaction.originalId } : {}),
            ...(interaction.componentMessageId !== undefined ? { interacted_message_id: interaction.componentMessageId } : {}),
          }
        : null,
      messageReference: extra.messageReference ?? null,
      extra: {},
      revision: -1,
      history: [],
    };
    this.messages.set(message.id, message);
    const list = this.channelMessageIds.get(channelId) ?? [];
    list.push(message.id);
    this.channelMessageIds.set(channelId, list);
    this.touch(message, false);
    return message;
  }

  private applyEdit(m: StoredMessage, composed: Composed): void {
    if (composed.content !== undefined) m.content = composed.content;
    if (composed.embeds !== undefined) m.embeds = composed.embeds;
    if (composed.components !== undefined) m.components = composed.components;
    if (composed.attachments !== undefined) m.attachments = composed.attachments;
    const editable = MessageFlag.SuppressEmbeds | MessageFlag.IsComponentsV2;
    const kept = m.flags & ~editable & ~MessageFlag.Loading;
    m.flags = composed.flags !== undefined ? kept | (composed.flags & editable) : kept | (m.flags & editable);
    if (isEmpty(m)) throw E.emptyMessage();
    this.touch(m, true);
  }

  /**
   * Validates a message body and turns it into fields. `existing` makes it an edit (absent fields
   * stay undefined = unchanged).
   */
  private compose(
    body: Json,
    files: UploadedFile[],
    opts: { prefix: string; scopeId: string; sizeLimit: number; existing?: StoredMessage; allowedFlags: number },
  ): Composed {
    const p = opts.prefix ? `${opts.prefix}.` : '';
    const out: Composed = {};
    const content = body['content'];
    if (content !== undefined) {
      if (content !== null && typeof content !== 'string') throw E.invalidForm(`${p}content`, 'STRING_TYPE_CONVERT', 'Could not interpret value as string.');
      const text = content ?? '';
      if (text.length > 2000) throw E.invalidForm(`${p}content`, 'BASE_TYPE_MAX_LENGTH', 'Must be 2000 or fewer in length.');
      out.content = text;
    }
    const flagsIn = body['flags'];
    const flags = typeof flagsIn === 'number' ? flagsIn & opts.allowedFlags : undefined;
    if (flags !== undefined) out.flags = flags;
    const componentsV2 = ((flags ?? opts.existing?.flags ?? 0) & MessageFlag.IsComponentsV2) !== 0;
    if (body['tts'] === true) out.tts = true;

    const embedsIn = body['embeds'];
    let embeds: Json[] | undefined;
    if (embedsIn !== undefined) {
      embeds = objects(embedsIn);
      if (embeds.length > 10) throw E.invalidForm(`${p}embeds`, 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
      let total = 0;
      embeds.forEach((embed, i) => {
        const title = typeof embed['title'] === 'string' ? embed['title'] : '';
        const description = typeof embed['description'] === 'string' ? embed['description'] : '';
        if (title.length > 256) throw E.invalidForm(`${p}embeds.${i}.title`, 'BASE_TYPE_MAX_LENGTH', 'Must be 256 or fewer in length.');
        if (description.length > 4096) throw E.invalidForm(`${p}embeds.${i}.description`, 'BASE_TYPE_MAX_LENGTH', 'Must be 4096 or fewer in length.');
        const fields = objects(embed['fields']);
        if (fields.length > 25) throw E.invalidForm(`${p}embeds.${i}.fields`, 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
        total += title.length + description.length;
        fields.forEach((field, j) => {
          const name = typeof field['name'] === 'string' ? field['name'] : '';
          const value = typeof field['value'] === 'string' ? field['value'] : '';
          if (name.length > 256) throw E.invalidForm(`${p}embeds.${i}.fields.${j}.name`, 'BASE_TYPE_MAX_LENGTH', 'Must be 256 or fewer in length.');
          if (value.length > 1024) throw E.invalidForm(`${p}embeds.${i}.fields.${j}.value`, 'BASE_TYPE_MAX_LENGTH', 'Must be 1024 or fewer in length.');
          total += name.length + value.length;
        });
        const footer = asObject(embed['footer']);
        const author = asObject(embed['author']);
        total += String(footer?.['text'] ?? '').length + String(author?.['name'] ?? '').length;
      });
      if (total > 6000) throw E.invalidForm(`${p}embeds`, 'MESSAGE_EMBED_TOTAL_SIZE', 'Embed size exceeds maximum size of 6000');
    }

    const componentsIn = body['components'];
    if (componentsIn !== undefined) {
      const components = objects(componentsIn);
      if (!componentsV2 && components.length > 5) throw E.invalidForm(`${p}components`, 'BASE_TYPE_MAX_LENGTH', 'Must be 5 or fewer in length.');
      const seen = new Set<string>();
      for (const customId of collectCustomIds(components)) {
        if (customId.length > 100) throw E.invalidForm(`${p}components`, 'BASE_TYPE_MAX_LENGTH', 'custom_id must be 100 or fewer in length.');
        if (seen.has(customId)) throw E.invalidForm(`${p}components`, 'COMPONENT_CUSTOM_ID_DUPLICATED', 'Component custom id cannot be duplicated');
        seen.add(customId);
      }
      out.components = structuredClone(components);
    }

    // Attachments.
    for (const file of files) if (file.bytes.length > opts.sizeLimit) throw E.tooLarge();
    const byIndex = new Map<number, UploadedFile>();
    for (const file of files) if (file.index !== undefined) byIndex.set(file.index, file);
    const used = new Set<UploadedFile>();
    const upload = (file: UploadedFile, descriptor: Json | undefined): FakeAttachment => {
      used.add(file);
      const filename = typeof descriptor?.['filename'] === 'string' ? descriptor['filename'] : file.filename;
      const description = typeof descriptor?.['description'] === 'string' ? descriptor['description'] : null;
      const contentType = file.contentType || guessContentType(filename);
      return this.storeAttachment(opts.scopeId, filename, file.bytes, contentType, description, false);
    };
    const descriptors = body['attachments'];
    let attachments: FakeAttachment[] | undefined;
    if (Array.isArray(descriptors)) {
      attachments = [];
      descriptors.forEach((raw, i) => {
        const descriptor = asObject(raw);
        const id = descriptor?.['id'];
        const keep = opts.existing?.attachments.find((a) => a.id === String(id));
        if (keep) {
          attachments?.push(keep);
          return;
        }
        const file = byIndex.get(Number(id));
        if (id === undefined || id === null || !file) {
          throw E.invalidForm(`${p}attachments.${i}.id`, 'ATTACHMENT_NOT_FOUND', `Unknown attachment id ${String(id)}`);
        }
        attachments?.push(upload(file, descriptor));
      });
      for (const file of files) if (!used.has(file)) attachments.push(upload(file, undefined));
    } else if (files.length > 0 || !opts.existing) {
      attachments = [...(opts.existing?.attachments ?? []), ...files.map((file) => upload(file, undefined))];
    }
    if (attachments !== undefined) out.attachments = attachments;
    if (embeds !== undefined) {
      const pool = attachments ?? opts.existing?.attachments ?? [];
      out.embeds = embeds.map((embed) => normalizeEmbed(embed, pool));
    }
    return out;
  }

  // ----- HTTP ------------------------------------------------------------------------------

  private async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const method = (req.method ?? 'GET').toUpperCase();
    const body = await readBody(req);

    if (url.pathname.startsWith('/attachments/')) {
      this.serveCdn(method, url, res);
      return;
    }
    const prefix = '/api/v10';
    const headers = flattenHeaders(req.headers);
    const record: RecordedRequest = {
      at: Date.now(),
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      route: 'unknown',
      json: undefined,
      multipart: undefined,
      status: undefined,
      error: undefined,
    };
    let reply: Reply;
    try {
      if (!url.pathname.startsWith(`${prefix}/`) && url.pathname !== prefix) throw E.notFound();
      let segments: string[];
      try {
        segments = url.pathname.slice(prefix.length).split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
      } catch {
        throw E.notFound();
      }
      record.path = `/${segments.join('/')}`;
      this.records.push(record);

      // Body.
      const contentType = headers['content-type'] ?? '';
      let files: UploadedFile[] = [];
      if (body.length > 0 && contentType.startsWith('multipart/form-data')) {
        const multipart = await parseMultipart(body, contentType);
        record.multipart = multipart;
        record.json = multipart.payload;
        files = multipart.files;
      } else if (body.length > 0) {
        try {
          record.json = JSON.parse(body.toString('utf8'));
        } catch {
          throw E.invalidJson();
        }
      }

      // Injected failures.
      const rule = this.failures.find(
        (f) =>
          f.remaining > 0 &&
          (f.method === undefined || f.method.toUpperCase() === method) &&
          (f.path === undefined || (typeof f.path === 'string' ? record.path.includes(f.path) : f.path.test(record.path))),
      );
      if (rule) {
        rule.remaining--;
        if (rule.delayMs) await sleep(rule.delayMs);
        if (rule.status !== undefined) {
          reply = { status: rule.status, body: rule.body ?? { message: `Injected failure (${rule.status})`, code: 0 }, headers: rule.headers ?? {} };
          record.route = 'injected-failure';
          this.respond(res, record, reply);
          return;
        }
      }

      const { route, params, methodMismatch } = this.matchRoute(method, segments);
      if (!route) throw methodMismatch ? E.methodNotAllowed() : E.notFound();
      record.route = route.name;
      if (route.auth && headers['authorization'] !== `Bot ${this.token}`) throw E.unauthorized();
      reply = await route.handler({ params, query: url.searchParams, json: record.json, files, record });
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      if (!this.records.includes(record)) this.records.push(record);
      reply = { status: error.status, body: error.body, headers: error.headers };
      record.error = error.body;
    }
    this.respond(res, record, reply);
  }

  private respond(res: ServerResponse, record: RecordedRequest, reply: Reply): void {
    record.status = reply.status;
    if (reply.status === 204 || reply.body === undefined) {
      res.writeHead(reply.status, reply.headers ?? {});
      res.end();
    } else {
      const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      res.writeHead(reply.status, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(text)),
        ...(reply.headers ?? {}),
      });
      res.end(text);
    }
    this.changed();
  }

  private serveCdn(method: string, url: URL, res: ServerResponse): void {
    const segments = url.pathname.split('/');
    const attachment = segments.length === 5 ? this.attachmentsById.get(segments[3] ?? '') : undefined;
    let filename: string | undefined;
    try {
      filename = decodeURIComponent(segments[4] ?? '');
    } catch {
      filename = undefined;
    }
    const found = attachment && attachment.filename === filename && (method === 'GET' || method === 'HEAD') ? attachment : undefined;
    const status = found ? 200 : 404;
    this.cdnRecords.push({ at: Date.now(), method, path: url.pathname, status });
    if (!found) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('This content is no longer available.');
      return;
    }
    res.writeHead(200, { 'content-type': found.contentType, 'content-length': String(found.size), 'cache-control': 'public, max-age=31536000' });
    res.end(method === 'HEAD' ? undefined : found.bytes);
    this.changed();
  }

  private matchRoute(
    method: string,
    segments: string[],
  ): { route: RouteDef | undefined; params: Record<string, string>; methodMismatch: boolean } {
    let methodMismatch = false;
    for (const route of this.routes) {
      if (route.parts.length !== segments.length) continue;
      const params: Record<string, string> = {};
      let matches = true;
      for (let i = 0; i < route.parts.length; i++) {
        const part = route.parts[i] ?? '';
        const segment = segments[i] ?? '';
        if (part.startsWith(':')) params[part.slice(1)] = segment;
        else if (part !== segment) {
          matches = false;
          break;
        }
      }
      if (!matches) continue;
      if (route.method !== method) {
        methodMismatch = true;
        continue;
      }
      return { route, params, methodMismatch: false };
    }
    return { route: undefined, params: {}, methodMismatch };
  }

  private buildRoutes(): RouteDef[] {
    const routes: RouteDef[] = [];
    const add = (spec: string, name: string, auth: boolean, handler: RouteDef['handler']): void => {
      const [method, path] = spec.split(' ');
      routes.push({ method: method ?? 'GET', parts: (path ?? '').split('/').filter((s) => s !== ''), auth, name, handler });
    };

    // Gateway, users, application.
    add('GET /gateway/bot', 'gateway-bot', true, () =>
      ok({ url: this.gatewayUrl, shards: 1, session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 } }),
    );
    add('GET /gateway', 'gateway', false, () => ok({ url: this.gatewayUrl }));
    add('GET /users/@me', 'users-me', true, () => ok({ ...this.botUser, verified: true, mfa_enabled: false, flags: 0, email: null }));
    add('POST /users/@me/channels', 'create-dm', true, ({ json }) => {
      const recipientId = asObject(json)?.['recipient_id'];
      if (typeof recipientId !== 'string') throw E.invalidForm('recipient_id', 'BASE_TYPE_REQUIRED', 'This field is required');
      if (!this.users.has(recipientId)) throw E.unknownUser();
      return ok(this.channelWire(this.dmChannel(recipientId)));
    });
    add('GET /users/:userId', 'get-user', true, ({ params }) => {
      const user = this.users.get(param(params, 'userId'));
      if (!user) throw E.unknownUser();
      return ok(user);
    });
    const application = (): Reply =>
      ok({
        id: this.applicationId,
        name: this.botUser.username,
        icon: null,
        description: '',
        summary: '',
        type: null,
        bot: this.botUser,
        bot_public: true,
        bot_require_code_grant: false,
        verify_key: randomBytes(32).toString('hex'),
        flags: this.applicationFlags,
        hook: true,
        is_monetized: false,
        team: null,
        owner: this.users.get([...this.guildStates.values()][0]?.ownerId ?? '') ?? this.botUser,
        approximate_guild_count: this.guildStates.size,
        integration_types_config: { '0': {}, '1': {} },
        redirect_uris: [],
        interactions_endpoint_url: null,
      });
    add('GET /applications/@me', 'application', true, application);
    add('GET /oauth2/applications/@me', 'oauth2-application', true, application);

    // Commands.
    const scopeOf = (params: Record<string, string>): string => {
      if (param(params, 'app') !== this.applicationId) throw E.missingAccess();
      const guildId = params['guild'];
      if (guildId === undefined) return 'global';
      if (!this.guildStates.has(guildId)) throw E.missingAccess();
      return guildId;
    };
    for (const base of ['/applications/:app/commands', '/applications/:app/guilds/:guild/commands']) {
      const kind = base.includes('guilds') ? 'guild-commands' : 'global-commands';
      add(`GET ${base}`, `${kind}-list`, true, ({ params }) => ok(this.commands.get(scopeOf(params)) ?? []));
      add(`PUT ${base}`, `${kind}-overwrite`, true, ({ params, json }) => {
        const scope = scopeOf(params);
        if (!Array.isArray(json)) throw E.invalidForm('', 'ARRAY_TYPE_CONVERT', 'Expected an array');
        const defs = json.map((c, i) => {
          const def = asObject(c);
          if (!def) throw E.invalidForm(`${i}`, 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
          validateCommand(def, `${i}`);
          return def;
        });
        const keys = new Set<string>();
        defs.forEach((def, i) => {
          const key = `${String(def['type'] ?? 1)}:${String(def['name'])}`;
          if (keys.has(key)) throw E.invalidForm(`${i}.name`, 'APPLICATION_COMMANDS_DUPLICATE_NAME', 'Application command names must be unique');
          keys.add(key);
        });
        const previous = this.commands.get(scope) ?? [];
        const next = defs.map((def) => this.storedCommand(def, scope, previous));
        this.commands.set(scope, next);
        return ok(next);
      });
      add(`POST ${base}`, `${kind}-create`, true, ({ params, json }) => {
        const scope = scopeOf(params);
        const def = asObject(json);
        if (!def) throw E.invalidForm('', 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
        validateCommand(def, '');
        const list = this.commands.get(scope) ?? [];
        const existing = list.findIndex((c) => c['name'] === def['name'] && (c['type'] ?? 1) === (def['type'] ?? 1));
        const stored = this.storedCommand(def, scope, list);
        if (existing >= 0) list[existing] = stored;
        else list.push(stored);
        this.commands.set(scope, list);
        return { status: existing >= 0 ? 200 : 201, body: stored };
      });
      add(`GET ${base}/:cmd`, `${kind}-get`, true, ({ params }) => {
        const found = (this.commands.get(scopeOf(params)) ?? []).find((c) => c['id'] === params['cmd']);
        if (!found) throw E.unknownCommand();
        return ok(found);
      });
      add(`PATCH ${base}/:cmd`, `${kind}-edit`, true, ({ params, json }) => {
        const scope = scopeOf(params);
        const list = this.commands.get(scope) ?? [];
        const index = list.findIndex((c) => c['id'] === params['cmd']);
        const current = list[index];
        if (!current) throw E.unknownCommand();
        const merged = { ...current, ...(asObject(json) ?? {}) };
        validateCommand(merged, '');
        const stored = this.storedCommand(merged, scope, list);
        list[index] = stored;
        return ok(stored);
      });
      add(`DELETE ${base}/:cmd`, `${kind}-delete`, true, ({ params }) => {
        const scope = scopeOf(params);
        const list = this.commands.get(scope) ?? [];
        const index = list.findIndex((c) => c['id'] === params['cmd']);
        if (index < 0) throw E.unknownCommand();
        list.splice(index, 1);
        return noContent();
      });
    }

    // Interactions.
    add('POST /interactions/:id/:token/callback', 'interaction-callback', false, (ctx) => this.interactionCallback(ctx));
    add('POST /webhooks/:app/:token', 'webhook-execute', false, (ctx) => this.followUp(ctx));
    add('GET /webhooks/:app/:token/messages/:mid', 'webhook-get', false, ({ params }) => {
      const state = this.webhookInteraction(params);
      return ok(this.messageWire(this.webhookMessage(state, param(params, 'mid'))));
    });
    add('PATCH /webhooks/:app/:token/messages/:mid', 'webhook-edit', false, ({ params, json, files }) => {
      const state = this.webhookInteraction(params);
      const message = this.webhookMessage(state, param(params, 'mid'));
      const composed = this.compose(asObject(json) ?? {}, files, {
        prefix: '',
        scopeId: message.channelId,
        sizeLimit: state.attachmentSizeLimit,
        existing: message,
        allowedFlags: MessageFlag.SuppressEmbeds | MessageFlag.IsComponentsV2,
      });
      this.applyEdit(message, composed);
      return ok(this.messageWire(message));
    });
    add('DELETE /webhooks/:app/:token/messages/:mid', 'webhook-delete', false, ({ params }) => {
      const state = this.webhookInteraction(params);
      const message = this.webhookMessage(state, param(params, 'mid'));
      message.deleted = true;
      this.touch(message, false);
      return noContent();
    });

    // Channels.
    add('GET /channels/:channel', 'get-channel', true, ({ params }) => ok(this.channelWire(this.liveChannel(param(params, 'channel')))));
    add('POST /channels/:channel/typing', 'typing', true, ({ params }) => {
      this.liveChannel(param(params, 'channel'));
      return noContent();
    });
    add('GET /channels/:channel/messages', 'list-messages', true, ({ params, query }) => {
      const channel = this.liveChannel(param(params, 'channel'));
      const limit = Math.min(Math.max(Number(query.get('limit') ?? 50) || 50, 1), 100);
      const list = (this.channelMessageIds.get(channel.id) ?? [])
        .flatMap((id) => this.messages.get(id) ?? [])
        .filter((m) => !m.deleted && (m.flags & MessageFlag.Ephemeral) === 0)
        .reverse()
        .slice(0, limit);
      return ok(list.map((m) => this.messageWire(m)));
    });
    add('POST /channels/:channel/messages', 'create-message', true, ({ params, json, files }) => {
      const channel = this.liveChannel(param(params, 'channel'));
      if (channel.type === 1 && channel.recipientId !== null && this.dmsClosed.has(channel.recipientId)) throw E.cannotDm();
      if (!channel.botCanSend) throw E.missingPermissions();
      const body = asObject(json) ?? {};
      const composed = this.compose(body, files, {
        prefix: '',
        scopeId: channel.id,
        sizeLimit: this.attachmentSizeLimit,
        allowedFlags: MessageFlag.SuppressEmbeds | MessageFlag.SuppressNotifications | MessageFlag.IsVoiceMessage | MessageFlag.IsComponentsV2,
      });
      const probe = { content: composed.content ?? '', embeds: composed.embeds ?? [], components: composed.components ?? [], attachments: composed.attachments ?? [] };
      if (isEmpty(probe) && body['sticker_ids'] === undefined && body['poll'] === undefined) throw E.emptyMessage();
      const reference = asObject(body['message_reference']);
      const message = this.createMessage(channel.id, composed, 'channel', {
        type: reference ? 19 : 0,
        messageReference: reference ? { channel_id: channel.id, ...reference } : null,
      });
      return ok(this.messageWire(message));
    });
    const channelMessage = (params: Record<string, string>): StoredMessage => {
      const channel = this.liveChannel(param(params, 'channel'));
      const message = this.messages.get(param(params, 'mid'));
      if (!message || message.deleted || message.channelId !== channel.id || (message.flags & MessageFlag.Ephemeral) !== 0) throw E.unknownMessage();
      return message;
    };
    add('GET /channels/:channel/messages/:mid', 'get-message', true, ({ params }) => ok(this.messageWire(channelMessage(params))));
    add('PATCH /channels/:channel/messages/:mid', 'edit-message', true, ({ params, json, files }) => {
      const message = channelMessage(params);
      if (message.author.id !== this.botUser.id) throw E.notAuthor();
      const composed = this.compose(asObject(json) ?? {}, files, {
        prefix: '',
        scopeId: message.channelId,
        sizeLimit: this.attachmentSizeLimit,
        existing: message,
        allowedFlags: MessageFlag.SuppressEmbeds | MessageFlag.IsComponentsV2,
      });
      this.applyEdit(message, composed);
      return ok(this.messageWire(message));
    });
    add('DELETE /channels/:channel/messages/:mid', 'delete-message', true, ({ params }) => {
      const message = channelMessage(params);
      message.deleted = true;
      this.touch(message, false);
      return noContent();
    });

    // Guilds.
    add('GET /guilds/:guild', 'get-guild', true, ({ params }) => {
      const guild = this.guildStates.get(param(params, 'guild'));
      if (!guild) throw E.unknownGuild();
      const { members: _m, channels: _c, threads: _t, presences: _p, voice_states: _v, ...rest } = this.guildCreatePayload(guild);
      return ok(rest);
    });
    add('GET /guilds/:guild/channels', 'guild-channels', true, ({ params }) => {
      const guild = this.guildStates.get(param(params, 'guild'));
      if (!guild) throw E.unknownGuild();
      return ok(guild.channelIds.flatMap((id) => {
        const channel = this.channels.get(id);
        return channel && !channel.deleted ? [this.channelWire(channel)] : [];
      }));
    });
    return routes;
  }

  private liveChannel(id: string): FakeChannel {
    const channel = this.channels.get(id);
    if (!channel || channel.deleted) throw E.unknownChannel();
    return channel;
  }

  private storedCommand(def: Json, scope: string, previous: Json[]): Json {
    const type = typeof def['type'] === 'number' ? def['type'] : 1;
    const prior = previous.find((c) => c['name'] === def['name'] && c['type'] === type);
    const {
      id: _id,
      application_id: _app,
      version: _version,
      guild_id: _guild,
      ...rest
    } = def;
    return {
      ...rest,
      id: typeof prior?.['id'] === 'string' ? prior['id'] : this.snowflake(),
      application_id: this.applicationId,
      version: this.snowflake(),
      type,
      name: def['name'],
      description: typeof def['description'] === 'string' ? def['description'] : '',
      default_member_permissions: def['default_member_permissions'] ?? null,
      contexts: def['contexts'] ?? null,
      integration_types: def['integration_types'] ?? [0],
      nsfw: def['nsfw'] ?? false,
      ...(scope !== 'global' ? { guild_id: scope } : { dm_permission: def['dm_permission'] ?? true }),
    };
  }

  private interactionCallback(ctx: RouteContext): Reply {
    const state = this.interactionsById.get(param(ctx.params, 'id'));
    const withResponse = ctx.query.get('with_response') === 'true';
    const body = asObject(ctx.json) ?? {};
    const type = typeof body['type'] === 'number' ? body['type'] : undefined;
    if (!state || state.token !== param(ctx.params, 'token')) throw E.unknownInteraction();
    const ms = Date.now() - state.createdAt;
    const attempt: CallbackAttempt = { type, ms, status: 0, outcome: 'ok', withResponse };
    state.attempts.push(attempt);
    try {
      if (state.ack) {
        attempt.outcome = 'duplicate';
        throw E.alreadyAcknowledged();
      }
      if (ms > state.deadlineMs || state.expired) {
        attempt.outcome = 'late';
        throw E.unknownInteraction();
      }
      const reply = this.applyCallback(state, type, body, ctx.files, attempt);
      state.ack = { type: type ?? 0, ms, data: asObject(body['data']), at: Date.now() };
      attempt.status = withResponse ? 200 : 204;
      this.changed();
      if (!withResponse) return noContent();
      return ok(reply);
    } catch (error) {
      if (error instanceof HttpError) attempt.status = error.status;
      this.changed();
      throw error;
    }
  }

  /** Applies an accepted callback and returns the `?with_response=true` body. */
  private applyCallback(state: InteractionState, type: number | undefined, body: Json, files: UploadedFile[], attempt: CallbackAttempt): Json {
    const data = asObject(body['data']) ?? {};
    const invalid = (message: string): HttpError => {
      attempt.outcome = 'invalid';
      return E.invalidForm('type', 'INTERACTION_RESPONSE_TYPE_INVALID', message);
    };
    const isAutocomplete = state.type === 4;
    if (type === undefined) throw invalid('This field is required');
    if (isAutocomplete && type !== 8) throw invalid('Autocomplete interactions can only be answered with type 8');
    const createOptions = {
      prefix: 'data',
      scopeId: state.channelId,
      sizeLimit: state.attachmentSizeLimit,
      allowedFlags: MessageFlag.Ephemeral | MessageFlag.SuppressEmbeds | MessageFlag.SuppressNotifications | MessageFlag.IsVoiceMessage | MessageFlag.IsComponentsV2,
    };
    const messageType = state.type === 2 ? 20 : 0;
    let resourceMessage: StoredMessage | undefined;
    switch (type) {
      case 4: {
        const composed = this.compose(data, files, createOptions);
        const probe = { content: composed.content ?? '', embeds: composed.embeds ?? [], components: composed.components ?? [], attachments: composed.attachments ?? [] };
        if (isEmpty(probe) && data['poll'] === undefined) throw E.emptyMessage();
        resourceMessage = this.createMessage(state.channelId, composed, 'interaction', { interaction: state, type: messageType });
        state.originalId = resourceMessage.id;
        break;
      }
      case 5: {
        const flags = typeof data['flags'] === 'number' ? data['flags'] & MessageFlag.Ephemeral : 0;
        resourceMessage = this.createMessage(state.channelId, { flags }, 'interaction', { interaction: state, type: messageType, loading: true });
        state.originalId = resourceMessage.id;
        break;
      }
      case 6:
      case 7: {
        const target = state.componentMessageId === undefined ? undefined : this.messages.get(state.componentMessageId);
        if (!target) throw invalid('This interaction has no message to update');
        if (target.deleted) throw E.unknownMessage();
        if (type === 7) {
          const composed = this.compose(data, files, { ...createOptions, existing: target, allowedFlags: MessageFlag.SuppressEmbeds | MessageFlag.IsComponentsV2 });
          this.applyEdit(target, composed);
        }
        state.originalId = target.id;
        resourceMessage = target;
        break;
      }
      case 8: {
        if (!isAutocomplete) throw invalid('Only autocomplete interactions can be answered with type 8');
        const choices = asArray(data['choices']);
        if (!choices) throw E.invalidForm('data.choices', 'BASE_TYPE_REQUIRED', 'This field is required');
        if (choices.length > 25) throw E.invalidForm('data.choices', 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
        choices.forEach((choice, i) => {
          const name = asObject(choice)?.['name'];
          if (typeof name !== 'string' || name.length < 1 || name.length > 100) {
            throw E.invalidForm(`data.choices.${i}.name`, 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
          }
        });
        state.choices = objects(choices);
        break;
      }
      case 9: {
        if (state.type === 5) throw invalid('A modal submit cannot be answered with a modal');
        if (typeof data['custom_id'] !== 'string' || data['custom_id'].length === 0) throw E.invalidForm('data.custom_id', 'BASE_TYPE_REQUIRED', 'This field is required');
        if (typeof data['title'] !== 'string' || data['title'].length === 0 || data['title'].length > 45) {
          throw E.invalidForm('data.title', 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 45 in length.');
        }
        const components = objects(data['components']);
        if (components.length < 1 || components.length > 5) throw E.invalidForm('data.components', 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 5 in length.');
        state.modal = structuredClone(data);
        break;
      }
      case 10:
      case 12:
        break;
      default:
        throw invalid(`Value must be one of (4, 5, 6, 7, 8, 9, 10, 12).`);
    }
    const original = state.originalId === undefined ? undefined : this.messages.get(state.originalId);
    return {
      interaction: {
        id: state.id,
        type: state.type,
        ...(original
          ? {
              response_message_id: original.id,
              response_message_loading: (original.flags & MessageFlag.Loading) !== 0,
              response_message_ephemeral: (original.flags & MessageFlag.Ephemeral) !== 0,
            }
          : {}),
      },
      resource: { type, ...(resourceMessage ? { message: this.messageWire(resourceMessage) } : {}) },
    };
  }

  private webhookInteraction(params: Record<string, string>): InteractionState {
    const state = this.interactionsByToken.get(param(params, 'token'));
    if (!state || param(params, 'app') !== this.applicationId) throw E.unknownWebhook();
    if (state.expired || Date.now() - state.createdAt > this.tokenLifetimeMs) throw E.unknownWebhook();
    return state;
  }

  private webhookMessage(state: InteractionState, mid: string): StoredMessage {
    const id = mid === '@original' ? state.originalId : mid;
    if (id === undefined || (id !== state.originalId && !state.followUpIds.includes(id))) throw E.unknownMessage();
    const message = this.messages.get(id);
    if (!message || message.deleted) throw E.unknownMessage();
    return message;
  }

  private followUp({ params, json, files, query }: RouteContext): Reply {
    const state = this.webhookInteraction(params);
    if (!state.ack) throw E.unknownWebhook();
    const body = asObject(json) ?? {};
    const original = state.originalId === undefined ? undefined : this.messages.get(state.originalId);
    const options = {
      prefix: '',
      scopeId: state.channelId,
      sizeLimit: state.attachmentSizeLimit,
      allowedFlags: MessageFlag.Ephemeral | MessageFlag.SuppressEmbeds | MessageFlag.SuppressNotifications | MessageFlag.IsComponentsV2,
    };
    let message: StoredMessage;
    if (state.ack.type === 5 && original && !original.deleted && (original.flags & MessageFlag.Loading) !== 0 && !state.followUpEditedOriginal) {
      // The first follow-up after a defer replaces the "thinking…" message (keeps its ephemerality).
      const composed = this.compose(body, files, { ...options, existing: original, allowedFlags: MessageFlag.SuppressEmbeds | MessageFlag.IsComponentsV2 });
      this.applyEdit(original, composed);
      state.followUpEditedOriginal = true;
      message = original;
    } else {
      const composed = this.compose(body, files, options);
      const probe = { content: composed.content ?? '', embeds: composed.embeds ?? [], components: composed.components ?? [], attachments: composed.attachments ?? [] };
      if (isEmpty(probe) && body['poll'] === undefined) throw E.emptyMessage();
      message = this.createMessage(state.channelId, composed, 'follow-up', { interaction: state, type: state.type === 2 ? 20 : 0 });
      state.followUpIds.push(message.id);
      this.changed();
    }
    return query.get('wait') === 'true' ? ok(this.messageWire(message)) : noContent();
  }

  // ----- lifecycle -------------------------------------------------------------------------

  /** Closes every gateway connection and the HTTP server. Destroy discord.js clients first. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    this.sockets.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function isAttachmentValue(value: CommandOptionValue): value is FakeAttachment {
  return typeof value === 'object' && 'filename' in value && 'bytes' in value;
}

function isUserValue(value: CommandOptionValue): value is FakeUser {
  return typeof value === 'object' && 'username' in value && 'discriminator' in value;
}

function isChannelValue(value: CommandOptionValue): value is FakeChannel {
  return typeof value === 'object' && 'recipientId' in value && 'botCanSend' in value;
}

function isSnapshot(value: MessageSnapshot | Json): value is MessageSnapshot {
  return 'raw' in value && isObject(value['raw']) && 'revision' in value;
}

function isEmpty(m: { content: string; embeds: Json[]; components: Json[]; attachments: readonly unknown[] }): boolean {
  return m.content === '' && m.embeds.length === 0 && m.components.length === 0 && m.attachments.length === 0;
}

/** Every custom_id in a component tree (v1 rows and v2 containers/sections/accessories). */
function collectCustomIds(components: unknown): string[] {
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(walk);
      return;
    }
    if (!isObject(node)) return;
    if (typeof node['custom_id'] === 'string') out.push(node['custom_id']);
    walk(node['components']);
    walk(node['component']);
    walk(node['accessory']);
  };
  walk(components);
  return out;
}

function findComponent(components: unknown, customId: string): Json | undefined {
  let found: Json | undefined;
  const walk = (node: unknown): void => {
    if (found) return;
    if (Array.isArray(node)) {
      node.forEach(walk);
      return;
    }
    if (!isObject(node)) return;
    if (node['custom_id'] === customId) {
      found = node;
      return;
    }
    walk(node['components']);
    walk(node['component']);
    walk(node['accessory']);
  };
  walk(components);
  return found;
}

/** Text inputs of a modal, in order, and whether they sit in Label (type 18) wrappers. */
function textInputs(modal: Json): Array<{ customId: string; label: boolean }> {
  const out: Array<{ customId: string; label: boolean }> = [];
  for (const top of objects(modal['components'])) {
    if (top['type'] === 18) {
      const inner = asObject(top['component']);
      if (inner && inner['type'] === 4 && typeof inner['custom_id'] === 'string') out.push({ customId: inner['custom_id'], label: true });
    } else {
      for (const inner of objects(top['components'])) {
        if (inner['type'] === 4 && typeof inner['custom_id'] === 'string') out.push({ customId: inner['custom_id'], label: false });
      }
    }
  }
  return out;
}

/** Embed as Discord returns it: type "rich", attachment:// media rewritten to the CDN. */
function normalizeEmbed(embed: Json, attachments: readonly FakeAttachment[]): Json {
  const out: Json = { type: 'rich', ...structuredClone(embed) };
  const byName = (url: unknown): FakeAttachment | undefined =>
    typeof url === 'string' && url.startsWith('attachment://') ? attachments.find((a) => a.filename === url.slice('attachment://'.length)) : undefined;
  for (const key of ['image', 'thumbnail', 'video']) {
    const media = asObject(out[key]);
    if (!media || typeof media['url'] !== 'string') continue;
    const attachment = byName(media['url']);
    out[key] = attachment
      ? {
          ...media,
          url: attachment.url,
          proxy_url: attachment.proxyUrl,
          ...(attachment.width !== null && attachment.height !== null ? { width: attachment.width, height: attachment.height } : {}),
          content_type: attachment.contentType,
          flags: 0,
        }
      : { ...media, proxy_url: media['url'] };
  }
  for (const key of ['author', 'footer']) {
    const part = asObject(out[key]);
    if (!part || typeof part['icon_url'] !== 'string') continue;
    const attachment = byName(part['icon_url']);
    out[key] = attachment
      ? { ...part, icon_url: attachment.url, proxy_icon_url: attachment.proxyUrl }
      : { ...part, proxy_icon_url: part['icon_url'] };
  }
  return out;
}

function validateName(name: unknown, path: string, lowercase: boolean): void {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw E.invalidForm(`${path}name`, 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
  }
  if (lowercase && name !== name.toLowerCase()) {
    throw E.invalidForm(`${path}name`, 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
  }
}

function validateDescription(description: unknown, path: string): void {
  if (typeof description !== 'string' || description.length < 1 || description.length > 100) {
    throw E.invalidForm(`${path}description`, 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
  }
}

/** Validates a command definition like Discord does (names, descriptions, option counts and order). */
function validateCommand(def: Json, path: string): void {
  const p = path ? `${path}.` : '';
  const type = typeof def['type'] === 'number' ? def['type'] : 1;
  validateName(def['name'], p, type === 1);
  if (type === 1) validateDescription(def['description'], p);
  else if (typeof def['description'] === 'string' && def['description'] !== '') {
    throw E.invalidForm(`${p}description`, 'APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION', 'Context menu commands cannot have description');
  }
  validateOptions(def['options'], `${p}options`, 0);
}

function validateOptions(value: unknown, path: string, depth: number): void {
  if (value === undefined || value === null) return;
  const options = objects(value);
  if (options.length > 25) throw E.invalidForm(path, 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
  let seenOptional = false;
  const names = new Set<string>();
  options.forEach((option, i) => {
    const p = `${path}.${i}.`;
    validateName(option['name'], p, true);
    validateDescription(option['description'], p);
    const name = String(option['name']);
    if (names.has(name)) throw E.invalidForm(`${p}name`, 'APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS', 'Option names must be unique');
    names.add(name);
    const type = option['type'];
    if (typeof type !== 'number' || type < 1 || type > 11) throw E.invalidForm(`${p}type`, 'BASE_TYPE_CHOICES', 'Value must be one of (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11).');
    if (type === 1 || type === 2) {
      if (depth >= (type === 2 ? 1 : 2)) throw E.invalidForm(`${p}type`, 'APPLICATION_COMMAND_OPTION_TYPE_INVALID', 'Sub-command nesting is too deep');
      validateOptions(option['options'], `${p}options`, depth + 1);
      return;
    }
    if (option['required'] === true) {
      if (seenOptional) throw E.invalidForm(`${p}required`, 'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID', 'Required options must be placed before non-required options');
    } else {
      seenOptional = true;
    }
    const choices = asArray(option['choices']);
    if (choices && choices.length > 25) throw E.invalidForm(`${p}choices`, 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
    if (choices && option['autocomplete'] === true) {
      throw E.invalidForm(`${p}autocomplete`, 'APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE', 'Autocomplete cannot be enabled with choices');
    }
  });
}

async function parseMultipart(body: Buffer, contentType: string): Promise<MultipartBody> {
  const form = await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData();
  const strings: Array<[string, string]> = [];
  const blobs: Array<[string, File]> = [];
  form.forEach((value, key) => {
    if (typeof value === 'string') strings.push([key, value]);
    else blobs.push([key, value]);
  });
  const fields: Record<string, string> = {};
  let payload: unknown;
  for (const [key, value] of strings) {
    if (key === 'payload_json') {
      try {
        payload = JSON.parse(value);
      } catch {
        throw E.invalidJson();
      }
    } else {
      fields[key] = value;
    }
  }
  const files: UploadedFile[] = [];
  for (const [field, file] of blobs) {
    const match = /^files\[(\d+)\]$/.exec(field);
    files.push({
      field,
      index: match ? Number(match[1]) : undefined,
      filename: file.name,
      contentType: file.type,
      bytes: Buffer.from(await file.arrayBuffer()),
    });
  }
  return { payload, files, fields };
}

/** Starts the fake on 127.0.0.1 with a random port. */
export async function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const server = createServer();
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return new FakeDiscord(server, port, options);
}
