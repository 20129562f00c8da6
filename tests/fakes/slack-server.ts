// A protocol-level fake of Slack (Web API + files + response_url + Socket Mode), driven by the REAL
// unmodified @slack/bolt App (see /work/shared/docs/chat-emulation.md S1–S6).
//
// One node:http server on 127.0.0.1 (random port); Socket Mode WebSockets upgrade on the same port.
// Wire the app with only options changed:
//
//   new App({ token: fake.botToken, signingSecret: fake.signingSecret,
//     clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } } })        // HTTP mode
//   fake.requestUrl = `http://127.0.0.1:${appPort}/slack/events`
//   new App({ token: fake.botToken, appToken: fake.appToken, socketMode: true, clientOptions })  // Socket Mode
//
// Routes:
//   POST|GET /api/<method>                     Web API (form-encoded, JSON or multipart; query too)
//   POST     /upload/v1/<ticket>               upload target of files.getUploadURLExternal (multipart
//                                              part `body`/any file part, or raw bytes) → 200 "OK - <n>"
//   GET|HEAD /files-pri/<team>-<file>/[download/]<name>   url_private[_download]: bytes with
//                                              `Authorization: Bearer <bot token>` (scope files:read),
//                                              otherwise 200 text/html login page (as Slack does)
//   GET      /files/<user>/<file>/<name>       permalink (an HTML page)
//   POST     /commands/<team>/<id>/<secret>    response_url of slash commands
//   POST     /actions/<team>/<id>/<secret>     response_url of block actions / view submissions
//   WS       /link/?ticket=…&app_id=…          Socket Mode (ticket from apps.connections.open, single use)
//
// Web API methods: auth.test, chat.postMessage, chat.update, chat.delete, chat.postEphemeral,
// chat.getPermalink, conversations.open, conversations.info, conversations.history,
// conversations.replies, users.info, views.open, views.update, views.push, views.publish,
// files.getUploadURLExternal, files.completeUploadExternal, files.info, usergroups.list,
// usergroups.users.list, apps.connections.open. Others answer {ok:false,error:"unknown_method"}.
// Every answer is HTTP 200 application/json with `x-oauth-scopes` (the web client copies it into
// response_metadata.scopes), except injected failures (failNext: 429 + Retry-After, 5xx).
//
// Auth: `Authorization: Bearer <token>`, or a `token` form/query parameter (not in JSON bodies);
// api.test needs none. None: not_authed; unknown:
// invalid_auth; revoked: token_revoked; the app-level token (xapp-) only works for
// apps.connections.open and bot tokens not there (not_allowed_token_type); missing scope:
// missing_scope {needed, provided}.
//
// Driving the app (as Slack does; HTTP: signed POSTs to `requestUrl`, Socket Mode: envelopes to the
// newest connection; `via` picks, default http when requestUrl is set): slashCommand (form fields in
// Slack's order), blockAction (`payload=` JSON), submitView (view_submission with state.values
// built from the modal's input blocks), appMention / directMessage / channelMessage / sendEvent
// (event_callback JSON), urlVerification, interactive (any payload). Each returns Bolt's status,
// body and ack time; badSignature / omitSignature / stale (6 min) / timestamp forge 401 cases.
//
// Behaviours modelled on Slack's:
// - trigger_id: issued per slash command / block action / view submission, valid `triggerTtlMs`
//   (3 s) on the fake clock, single use. Unknown: invalid_trigger_id; used: exchanged_trigger_id;
//   too old: expired_trigger_id.
// - response_url: valid `responseUrlTtlMs` (30 min) on the fake clock, at most `responseUrlMaxUses`
//   (5) POSTs. Accepted: 200 {"ok":true}; expired: 404 {ok:false,error:"expired_url"}; used up:
//   404 {ok:false,error:"used_url"}; unknown: 404 {ok:false,error:"invalid_url"}; bad JSON: 400
//   {ok:false,error:"invalid_payload"}. (The error statuses/names are not verified against Slack.)
//   `delete_original` deletes, `replace_original` replaces the source message (block actions: the
//   message holding the button; commands: the last message this response_url posted); otherwise
//   `response_type: "in_channel"` posts a channel message as the bot, anything else an ephemeral
//   message to the user.
// - the HTTP body of a slash-command ack (text or JSON) is shown like a response_url POST (ephemeral
//   unless in_channel); a view_submission ack's `response_action` (errors/update/push/clear) is
//   applied, no body closes the submitted view; block_actions ack bodies are ignored. Acks later
//   than `ackDeadlineMs` (3 s) are reported `late: true` and their bodies are ignored.
// - chat.postMessage to a user id posts in the bot's DM with that user; to `#name` / `name` too.
// - messages: blocks get Slack-style generated block_id/action_id where missing; text-less block
//   messages store "This content can't be displayed."; chat.update keeps absent fields; bot tokens
//   may only update/delete the bot's own messages (cant_update_message / cant_delete_message).
// - a channel with `botIsMember: false` answers not_in_channel to posts and uploads; a channel with
//   `members` answers user_not_in_channel to ephemerals for others; `archived`: is_archived.
// - views.open replaces the user's modal stack; views.push needs an open stack (not_found) of
//   fewer than 3 views (push_limit_reached); views.update checks `hash` (hash_conflict).
// - files: getUploadURLExternal (length ≥ 1, else missing_argument) → upload → completeUploadExternal
//   (file_not_found if not uploaded). With channel_id the files are shared in one message (thread_ts,
//   initial_comment, blocks), posted at once (real Slack shares asynchronously).
// - Socket Mode: apps.connections.open (app token) → ws URL; on connect the fake sends `hello`;
//   envelopes are sent to the newest open connection; acks `{envelope_id, payload}` are recorded.
//
// Not modelled: rate limits (inject with failNext), event retries (pass retryNum/retryReason),
// Slack Connect, Enterprise Grid, OAuth, message events for the bot's own posts.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { sniffImageSize } from './fal-fixtures.js';
import { waitForChange } from './wait.js';
import { flattenHeaders, readBody, sleep } from './http.js';

// ---------------------------------------------------------------------------------------------
// Public types

/** A JSON object as it travels on the wire. */
export type Json = Record<string, unknown>;

export interface TeamSpec {
  id?: string;
  name?: string;
  domain?: string;
}

export interface FakeTeam {
  readonly id: string;
  readonly name: string;
  readonly domain: string;
}

export interface UserSpec {
  id?: string;
  /** The handle (`name`, `user_name` of slash commands). Default `user<n>`. */
  name?: string;
  /** Default: the name capitalised. */
  realName?: string;
  teamId?: string;
  isBot?: boolean;
  isAdmin?: boolean;
  deleted?: boolean;
  tz?: string;
  locale?: string;
}

export interface FakeUser {
  readonly id: string;
  readonly teamId: string;
  readonly name: string;
  readonly realName: string;
  readonly isBot: boolean;
  readonly isAdmin: boolean;
  readonly deleted: boolean;
  readonly tz: string;
  readonly locale: string;
}

export interface ChannelSpec {
  id?: string;
  /** Default `channel-<n>` (DMs have no name). */
  name?: string;
  /** A DM between the bot and `user` (the same channel conversations.open returns). */
  isIm?: boolean;
  /** The other member of a DM. Default: the default user. */
  user?: FakeUser | string;
  isPrivate?: boolean;
  /** False: chat.postMessage / uploads answer not_in_channel. Default true. */
  botIsMember?: boolean;
  archived?: boolean;
  /** Members; when set, ephemerals to others answer user_not_in_channel. Default: everyone. */
  members?: Array<FakeUser | string>;
  teamId?: string;
}

export interface FakeChannel {
  readonly id: string;
  /** `directmessage` for DMs (what slash commands send as channel_name). */
  readonly name: string;
  readonly teamId: string;
  readonly isIm: boolean;
  readonly isMpim: boolean;
  readonly isPrivate: boolean;
  /** The other user of a DM. */
  readonly user: string | undefined;
  botIsMember: boolean;
  archived: boolean;
  members: string[] | undefined;
}

export interface UsergroupSpec {
  id?: string;
  handle?: string;
  name?: string;
  users?: Array<FakeUser | string>;
  teamId?: string;
}

export interface FakeUsergroup {
  readonly id: string;
  readonly teamId: string;
  readonly handle: string;
  readonly name: string;
  users: string[];
}

/** A file: a user upload registered with addFile, or a file the bot uploaded. */
export interface FakeFile {
  readonly id: string;
  readonly name: string;
  readonly title: string;
  readonly mimetype: string;
  readonly filetype: string;
  readonly size: number;
  /** Uploader's user id. */
  readonly user: string;
  readonly created: number;
  readonly bytes: Buffer;
  readonly urlPrivate: string;
  readonly urlPrivateDownload: string;
  readonly permalink: string;
  readonly width: number | undefined;
  readonly height: number | undefined;
  readonly altText: string | undefined;
  /** The file object as Slack sends it (events, files.info, message `files`). */
  readonly raw: Json;
}

export interface AddFileOptions {
  name: string;
  bytes: Buffer | Uint8Array | string;
  /** Default: guessed from the name. */
  mimetype?: string;
  /** Uploader. Default: the default user. */
  user?: FakeUser | string;
  title?: string;
}

export type MessageSource = 'chat.postMessage' | 'files.completeUploadExternal' | 'response_url' | 'ack' | 'user';

export interface MessageRevision {
  readonly text: string;
  readonly blocks: Json[];
  readonly attachments: Json[];
  readonly at: number;
}

/** An immutable copy of a channel message. */
export interface SlackMessage {
  readonly ephemeral: false;
  readonly channel: string;
  readonly ts: string;
  /** Set on thread replies (and on the parent once it has replies, as Slack does). */
  readonly threadTs: string | undefined;
  /** Author (the bot user for bot posts). */
  readonly user: string;
  readonly botId: string | undefined;
  readonly subtype: string | undefined;
  readonly text: string;
  readonly blocks: Json[];
  readonly attachments: Json[];
  readonly files: FakeFile[];
  readonly metadata: Json | undefined;
  readonly replyBroadcast: boolean;
  readonly source: MessageSource;
  readonly edited: boolean;
  readonly deleted: boolean;
  readonly replyCount: number;
  /** Earlier versions, oldest first (one per chat.update / replace_original). */
  readonly revisions: MessageRevision[];
  readonly postedAt: number;
  /** The message as conversations.history returns it. */
  readonly raw: Json;
}

export type EphemeralSource = 'chat.postEphemeral' | 'response_url' | 'ack';

export interface EphemeralMessage {
  readonly ephemeral: true;
  readonly channel: string;
  readonly user: string;
  /** message_ts (ephemeral messages have a ts but are not stored by Slack). */
  readonly ts: string;
  readonly threadTs: string | undefined;
  readonly text: string;
  readonly blocks: Json[];
  readonly attachments: Json[];
  readonly source: EphemeralSource;
  readonly deleted: boolean;
  readonly revisions: MessageRevision[];
  readonly postedAt: number;
  readonly raw: Json;
}

export type ViewOpenedVia = 'views.open' | 'views.push' | 'response_action' | 'views.publish';

export interface FakeView {
  readonly id: string;
  /** The user it was opened for. */
  readonly userId: string;
  readonly teamId: string;
  readonly type: string;
  readonly callbackId: string;
  readonly privateMetadata: string;
  readonly externalId: string;
  readonly title: string;
  readonly blocks: Json[];
  readonly hash: string;
  readonly rootViewId: string;
  readonly previousViewId: string | null;
  readonly open: boolean;
  readonly openedVia: ViewOpenedVia;
  readonly triggerId: string | undefined;
  /** `errors` of the last `response_action: "errors"` ack. */
  readonly errors: Record<string, string> | undefined;
  /** views.update / response_action update count. */
  readonly updates: number;
  /** The view object as the API returns it. */
  readonly raw: Json;
}

export interface UploadRecord {
  readonly fileId: string;
  readonly filename: string;
  /** `length` declared to files.getUploadURLExternal. */
  readonly declaredLength: number;
  readonly altText: string | undefined;
  readonly uploadUrl: string;
  /** Bytes received at the upload URL (undefined before the upload). */
  readonly bytes: Buffer | undefined;
  readonly uploadContentType: string | undefined;
  /** The multipart part name (`body` for @slack/web-api), undefined for raw uploads. */
  readonly uploadField: string | undefined;
  readonly uploadAuthorization: string | undefined;
  readonly completed: boolean;
  readonly title: string | undefined;
  readonly channelId: string | undefined;
  readonly threadTs: string | undefined;
  readonly initialComment: string | undefined;
  readonly blocks: Json[] | undefined;
  readonly file: FakeFile | undefined;
  /** ts of the message that shared the file. */
  readonly messageTs: string | undefined;
}

export type TokenKind = 'bot' | 'app' | 'unknown' | 'none';

export interface ApiCall {
  readonly seq: number;
  readonly at: number;
  readonly method: string;
  readonly httpMethod: string;
  readonly contentType: string;
  readonly token: string | undefined;
  readonly tokenKind: TokenKind;
  readonly tokenSource: 'header' | 'param' | 'none';
  /** Parameters; JSON-encoded fields (blocks, attachments, view, files, metadata) decoded. */
  readonly params: Json;
  /** Parameters as received (form values are strings). */
  readonly rawParams: Json;
  readonly status: number;
  readonly ok: boolean;
  readonly error: string | undefined;
  readonly response: Json;
}

export interface FileDownload {
  readonly at: number;
  readonly fileId: string;
  readonly path: string;
  readonly method: string;
  readonly authorization: string | undefined;
  readonly authorized: boolean;
  readonly status: number;
}

export interface ResponseUrlPost {
  readonly at: number;
  readonly url: string;
  readonly kind: 'command' | 'action' | 'view';
  readonly status: number;
  readonly error: string | undefined;
  readonly body: Json | undefined;
  readonly responseType: 'ephemeral' | 'in_channel';
  readonly replaceOriginal: boolean;
  readonly deleteOriginal: boolean;
  /** 1-based use count of this URL (0 when rejected). */
  readonly use: number;
  readonly ageMs: number;
}

export interface SocketConnection {
  readonly id: number;
  readonly ticket: string;
  readonly connectedAt: number;
  readonly closedAt: number | undefined;
  readonly open: boolean;
}

export interface SocketAck {
  readonly envelopeId: string;
  readonly type: string;
  readonly payload: Json | undefined;
  readonly ms: number;
  readonly at: number;
  readonly connectionId: number;
}

export type InboundKind =
  | 'slash_command'
  | 'block_actions'
  | 'view_submission'
  | 'interactive'
  | 'event_callback'
  | 'url_verification';

export interface DeliveryOptions {
  /** Default: `http` when `requestUrl` is set (or `url` given), else `socket`. */
  via?: 'http' | 'socket';
  /** HTTP target; default `fake.requestUrl`. */
  url?: string;
  /** Sign with a wrong secret (Bolt answers 401). */
  badSignature?: boolean;
  /** Send no X-Slack-Signature header. */
  omitSignature?: boolean;
  /** Timestamp 6 minutes old (Bolt answers 401). */
  stale?: boolean;
  /** Explicit X-Slack-Request-Timestamp (seconds). */
  timestamp?: number;
  /** Sign with this secret instead of `fake.signingSecret`. */
  signingSecret?: string;
  /** X-Slack-Retry-Num / X-Slack-Retry-Reason (HTTP), retry_attempt / retry_reason (socket). */
  retryNum?: number;
  retryReason?: string;
  /** How long to wait for the HTTP answer or the socket ack. Default 10 s. */
  timeoutMs?: number;
}

export interface InboundResult {
  readonly kind: InboundKind;
  readonly via: 'http' | 'socket';
  /** HTTP status Bolt answered (socket: 200 once acked, 0 if not); 0 on a network error. */
  readonly status: number;
  /** Raw HTTP body (socket: JSON of the ack payload). */
  readonly body: string;
  /** Parsed body (JSON) or the ack payload; undefined when empty/not JSON. */
  readonly json: unknown;
  readonly headers: Record<string, string>;
  /** Milliseconds from sending to the complete answer / ack. */
  readonly ackMs: number;
  readonly acked: boolean;
  /** ackMs > ackDeadlineMs: Slack would have shown a timeout and ignored the body. */
  readonly late: boolean;
  readonly error: string | undefined;
  /** The payload sent (command fields / interactive payload / event_callback). */
  readonly payload: Json;
  /** The HTTP request body sent (empty for socket deliveries). */
  readonly requestBody: string;
  readonly requestHeaders: Record<string, string>;
  readonly envelopeId: string | undefined;
  readonly triggerId: string | undefined;
  readonly responseUrl: string | undefined;
  readonly eventId: string | undefined;
}

export interface SlashCommandOptions extends DeliveryOptions {
  /** With the slash, e.g. `/imagine`. */
  command: string;
  text?: string;
  user?: FakeUser | string;
  channel?: FakeChannel | string;
}

export interface BlockActionOptions extends DeliveryOptions {
  actionId: string;
  /** The message holding the element (a channel message, an ephemeral, or {channel, ts}). */
  message?: SlackMessage | EphemeralMessage | { channel: string; ts: string };
  /** Or the view holding it. */
  view?: FakeView | string;
  /** Default: found in the message/view blocks. */
  blockId?: string;
  /** Button value (default: the element's value). */
  value?: string;
  /** Element type. Default: the element's type, else `button`. */
  type?: string;
  /** Extra fields merged into the action (e.g. selected_option). */
  action?: Json;
  /** Default: the message's DM user / the view's user / the default user. */
  user?: FakeUser | string;
  /** state.values sent with the action. */
  stateValues?: Json;
}

/** Input values by block_id then action_id: strings are wrapped according to the element type. */
export type ViewValues = Record<string, Record<string, unknown>>;

export interface ViewSubmissionOptions extends DeliveryOptions {
  view: FakeView | string;
  values?: ViewValues;
  /** Default: the user the view was opened for. */
  user?: FakeUser | string;
}

export interface MessageEventOptions extends DeliveryOptions {
  text: string;
  user?: FakeUser | string;
  channel?: FakeChannel | string;
  files?: FakeFile[];
  threadTs?: string;
}

export interface ApiFailure {
  /** Answer {ok:false, error} (HTTP 200). */
  error?: string;
  /** Extra fields of the error answer. */
  extra?: Json;
  /** HTTP status instead (429 adds Retry-After). */
  status?: number;
  retryAfter?: number;
  body?: string;
  /** Matching calls to fail. Default 1. */
  times?: number;
  delayMs?: number;
}

export interface FakeSlackOptions {
  botToken?: string;
  appToken?: string;
  signingSecret?: string;
  /** The deprecated verification `token` sent in payloads. */
  verificationToken?: string;
  appId?: string;
  botId?: string;
  botUserId?: string;
  botName?: string;
  team?: TeamSpec;
  /** Where HTTP-mode deliveries go (e.g. `http://127.0.0.1:3000/slack/events`). */
  requestUrl?: string;
  /** Scopes of the bot token. Default: everything the fake's methods need. */
  botScopes?: string[];
  triggerTtlMs?: number;
  responseUrlTtlMs?: number;
  responseUrlMaxUses?: number;
  ackDeadlineMs?: number;
}

export interface FakeClock {
  /** Milliseconds: Date.now() plus the offset. */
  now(): number;
  /** Moves the fake's clock forward (trigger / response_url expiry, message ts). */
  advance(ms: number): void;
  reset(): void;
  readonly offsetMs: number;
}

/** Scopes granted by default. */
export const DEFAULT_BOT_SCOPES = [
  'app_mentions:read',
  'channels:history',
  'channels:read',
  'chat:write',
  'commands',
  'files:read',
  'files:write',
  'groups:history',
  'groups:read',
  'im:history',
  'im:read',
  'im:write',
  'mpim:history',
  'mpim:read',
  'mpim:write',
  'usergroups:read',
  'users:read',
] as const;

/** `v0=<hex HMAC-SHA256(secret, "v0:<ts>:<body>")>`, the X-Slack-Signature header. */
export function slackSignature(signingSecret: string, timestampSec: number, body: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestampSec}:${body}`).digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Internals

class ApiError extends Error {
  constructor(
    readonly error: string,
    readonly extra: Json = {},
  ) {
    super(error);
  }
}

function invalidArguments(messages: string[]): ApiError {
  return new ApiError('invalid_arguments', { response_metadata: { messages: messages.map((m) => `[ERROR] ${m}`) } });
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objects(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

function str(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function truthy(value: unknown): boolean {
  return value === true || value === 'true' || value === '1' || value === 1;
}


const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomId(prefix: string, length = 10): string {
  const bytes = randomBytes(length);
  let out = prefix;
  for (const byte of bytes) out += ALNUM[byte % ALNUM.length];
  return out;
}

/** Slack-style short generated block_id / action_id. */
function shortId(): string {
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const bytes = randomBytes(5);
  let out = '';
  for (const byte of bytes) out += chars[byte % chars.length];
  return out;
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
  txt: 'text/plain',
  json: 'application/json',
  pdf: 'application/pdf',
};

function extensionOf(name: string): string {
  return /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase() ?? '';
}

function guessMimetype(name: string): string {
  return MIME_BY_EXTENSION[extensionOf(name)] ?? 'application/octet-stream';
}

function filetypeOf(name: string, mimetype: string): string {
  const ext = extensionOf(name);
  if (ext === 'jpeg') return 'jpg';
  if (ext) return ext;
  if (mimetype === 'text/plain') return 'text';
  return 'binary';
}

const LOGIN_PAGE =
  '<!DOCTYPE html><html lang="en-US"><head><meta charset="utf-8"><title>Slack</title></head>' +
  '<body><h1>Sign in to your workspace</h1><form action="/signin" method="post"></form></body></html>';

const BLOCK_TYPES = new Set([
  'actions',
  'context',
  'context_actions',
  'divider',
  'file',
  'header',
  'image',
  'input',
  'markdown',
  'rich_text',
  'section',
  'table',
  'video',
]);

const INTERACTIVE_ELEMENT_TYPES = new Set([
  'button',
  'checkboxes',
  'datepicker',
  'datetimepicker',
  'email_text_input',
  'file_input',
  'multi_static_select',
  'multi_users_select',
  'multi_conversations_select',
  'multi_channels_select',
  'multi_external_select',
  'number_input',
  'overflow',
  'plain_text_input',
  'radio_buttons',
  'rich_text_input',
  'static_select',
  'external_select',
  'users_select',
  'conversations_select',
  'channels_select',
  'timepicker',
  'url_text_input',
  'workflow_button',
]);

function textLength(value: unknown): number | undefined {
  return isObject(value) && typeof value['text'] === 'string' ? value['text'].length : undefined;
}

/** Light validation of Block Kit (the constraints a bot most often trips on). */
function validateBlocks(blocks: unknown, surface: 'message' | 'modal', pointer: string): string[] {
  if (!Array.isArray(blocks)) return [`must provide an array [json-pointer:${pointer}]`];
  const errors: string[] = [];
  const max = surface === 'message' ? 50 : 100;
  if (blocks.length > max) errors.push(`no more than ${max} items allowed [json-pointer:${pointer}]`);
  const blockIds = new Set<string>();
  blocks.forEach((block: unknown, i) => {
    const p = `${pointer}/${i}`;
    if (!isObject(block)) {
      errors.push(`must provide an object [json-pointer:${p}]`);
      return;
    }
    const type = block['type'];
    if (typeof type !== 'string' || !BLOCK_TYPES.has(type)) {
      errors.push(`unsupported type: ${String(type)} [json-pointer:${p}/type]`);
      return;
    }
    const blockId = block['block_id'];
    if (typeof blockId === 'string') {
      if (blockId.length > 255) errors.push(`must be less than 256 characters [json-pointer:${p}/block_id]`);
      if (blockIds.has(blockId)) errors.push(`duplicate block_id [json-pointer:${p}/block_id]`);
      blockIds.add(blockId);
    }
    if (type === 'section') {
      const length = textLength(block['text']);
      if (length !== undefined && length > 3000) errors.push(`must be less than 3001 characters [json-pointer:${p}/text/text]`);
      if (block['text'] === undefined && block['fields'] === undefined) errors.push(`must provide either text or fields [json-pointer:${p}]`);
      if (isObject(block['accessory'])) errors.push(...validateElement(block['accessory'], `${p}/accessory`));
    }
    if (type === 'header') {
      const length = textLength(block['text']);
      if (length === undefined) errors.push(`must provide a text object [json-pointer:${p}/text]`);
      else if (length > 150) errors.push(`must be less than 151 characters [json-pointer:${p}/text/text]`);
    }
    if (type === 'image') {
      if (typeof block['alt_text'] !== 'string') errors.push(`must provide alt_text [json-pointer:${p}/alt_text]`);
      const hasUrl = typeof block['image_url'] === 'string' && block['image_url'] !== '';
      const hasFile = isObject(block['slack_file']);
      if (hasUrl === hasFile) errors.push(`must provide exactly one of image_url or slack_file [json-pointer:${p}]`);
    }
    if (type === 'actions') {
      const elements = block['elements'];
      if (!Array.isArray(elements) || elements.length === 0) errors.push(`must provide elements [json-pointer:${p}/elements]`);
      else {
        if (elements.length > 25) errors.push(`no more than 25 items allowed [json-pointer:${p}/elements]`);
        elements.forEach((element: unknown, j) => {
          if (isObject(element)) errors.push(...validateElement(element, `${p}/elements/${j}`));
          else errors.push(`must provide an object [json-pointer:${p}/elements/${j}]`);
        });
      }
    }
    if (type === 'input') {
      if (textLength(block['label']) === undefined) errors.push(`must provide a label [json-pointer:${p}/label]`);
      if (!isObject(block['element'])) errors.push(`must provide an element [json-pointer:${p}/element]`);
      else errors.push(...validateElement(block['element'], `${p}/element`));
    }
  });
  return errors;
}

function validateElement(element: Json, pointer: string): string[] {
  const errors: string[] = [];
  const type = element['type'];
  if (type === 'button') {
    const length = textLength(element['text']);
    if (length === undefined) errors.push(`must provide a text object [json-pointer:${pointer}/text]`);
    else if (length > 75) errors.push(`must be less than 76 characters [json-pointer:${pointer}/text/text]`);
    if (typeof element['value'] === 'string' && element['value'].length > 2000) {
      errors.push(`must be less than 2001 characters [json-pointer:${pointer}/value]`);
    }
    if (typeof element['url'] === 'string' && element['url'].length > 3000) {
      errors.push(`must be less than 3001 characters [json-pointer:${pointer}/url]`);
    }
  }
  const actionId = element['action_id'];
  if (typeof actionId === 'string' && actionId.length > 255) errors.push(`must be less than 256 characters [json-pointer:${pointer}/action_id]`);
  return errors;
}

function validateView(view: unknown): string[] {
  if (!isObject(view)) return ['must provide an object [json-pointer:/view]'];
  const errors: string[] = [];
  const type = view['type'];
  if (type !== 'modal' && type !== 'home') errors.push('invalid view type [json-pointer:/view/type]');
  if (type === 'modal') {
    const title = textLength(view['title']);
    if (title === undefined) errors.push('must provide a title [json-pointer:/view/title]');
    else if (title > 24) errors.push('must be less than 25 characters [json-pointer:/view/title/text]');
    for (const key of ['submit', 'close']) {
      const length = textLength(view[key]);
      if (length !== undefined && length > 24) errors.push(`must be less than 25 characters [json-pointer:/view/${key}/text]`);
    }
    if (objects(view['blocks']).some((b) => b['type'] === 'input') && view['submit'] === undefined) {
      errors.push('must provide submit when an input block is present [json-pointer:/view/submit]');
    }
  }
  errors.push(...validateBlocks(view['blocks'], 'modal', '/view/blocks'));
  if (typeof view['private_metadata'] === 'string' && view['private_metadata'].length > 3000) {
    errors.push('must be less than 3001 characters [json-pointer:/view/private_metadata]');
  }
  if (typeof view['callback_id'] === 'string' && view['callback_id'].length > 255) {
    errors.push('must be less than 256 characters [json-pointer:/view/callback_id]');
  }
  return errors;
}

/** Deep copy with Slack's generated block_id / action_id filled in. */
function normalizeBlocks(blocks: Json[]): Json[] {
  return structuredClone(blocks).map((block) => {
    if (typeof block['block_id'] !== 'string') block['block_id'] = shortId();
    const withActionId = (element: unknown): void => {
      if (isObject(element) && typeof element['type'] === 'string' && INTERACTIVE_ELEMENT_TYPES.has(element['type'])) {
        if (typeof element['action_id'] !== 'string') element['action_id'] = shortId();
      }
    };
    for (const element of objects(block['elements'])) withActionId(element);
    withActionId(block['accessory']);
    withActionId(block['element']);
    return block;
  });
}

/** Finds an interactive element by action_id (and block_id) in blocks. */
function findElement(blocks: Json[], actionId: string, blockId?: string): { block: Json; element: Json } | undefined {
  for (const block of blocks) {
    if (blockId !== undefined && block['block_id'] !== blockId) continue;
    const candidates = [...objects(block['elements']), block['accessory'], block['element']];
    for (const element of candidates) {
      if (isObject(element) && element['action_id'] === actionId) return { block, element };
    }
  }
  return undefined;
}

function optionByValue(element: Json, value: string): Json | undefined {
  const fromGroups = objects(element['option_groups']).flatMap((g) => objects(g['options']));
  return [...objects(element['options']), ...fromGroups].find((o) => o['value'] === value);
}

/** A state.values entry for an input element given a plain value. */
function stateValue(element: Json | undefined, value: unknown): Json {
  const type = typeof element?.['type'] === 'string' ? element['type'] : 'plain_text_input';
  if (isObject(value) && typeof value['type'] === 'string') return value;
  const asString = value === undefined || value === null ? null : String(value);
  switch (type) {
    case 'static_select':
    case 'radio_buttons':
    case 'external_select': {
      const option = asString === null || !element ? undefined : optionByValue(element, asString);
      return { type, selected_option: option ?? (asString === null ? null : { text: { type: 'plain_text', text: asString }, value: asString }) };
    }
    case 'multi_static_select':
    case 'checkboxes': {
      const values = Array.isArray(value) ? value.map(String) : asString === null ? [] : [asString];
      return {
        type,
        selected_options: values.map((v) => (element ? optionByValue(element, v) : undefined) ?? { text: { type: 'plain_text', text: v }, value: v }),
      };
    }
    case 'users_select':
      return { type, selected_user: asString };
    case 'multi_users_select':
      return { type, selected_users: Array.isArray(value) ? value.map(String) : asString === null ? [] : [asString] };
    case 'conversations_select':
      return { type, selected_conversation: asString };
    case 'channels_select':
      return { type, selected_channel: asString };
    case 'datepicker':
      return { type, selected_date: asString };
    case 'timepicker':
      return { type, selected_time: asString };
    default:
      return { type, value: asString };
  }
}

interface StoredMessage {
  channel: string;
  ts: string;
  threadTs: string | undefined;
  user: string;
  botId: string | undefined;
  subtype: string | undefined;
  text: string;
  blocks: Json[];
  attachments: Json[];
  files: FakeFile[];
  metadata: Json | undefined;
  replyBroadcast: boolean;
  source: MessageSource;
  edited: { user: string; ts: string } | undefined;
  deleted: boolean;
  revisions: MessageRevision[];
  postedAt: number;
  clientMsgId: string | undefined;
}

interface StoredEphemeral {
  channel: string;
  user: string;
  ts: string;
  threadTs: string | undefined;
  text: string;
  blocks: Json[];
  attachments: Json[];
  source: EphemeralSource;
  deleted: boolean;
  revisions: MessageRevision[];
  postedAt: number;
}

interface StoredView {
  id: string;
  userId: string;
  teamId: string;
  definition: Json;
  blocks: Json[];
  hash: string;
  rootViewId: string;
  previousViewId: string | null;
  externalId: string;
  open: boolean;
  openedVia: ViewOpenedVia;
  triggerId: string | undefined;
  errors: Record<string, string> | undefined;
  updates: number;
}

interface TriggerState {
  id: string;
  userId: string;
  teamId: string;
  createdAt: number;
  used: boolean;
  /** The view the interaction came from (for views.push). */
  viewId: string | undefined;
}

type MessageRef = { kind: 'message'; channel: string; ts: string } | { kind: 'ephemeral'; ts: string };

interface ResponseUrlState {
  url: string;
  kind: 'command' | 'action' | 'view';
  createdAt: number;
  uses: number;
  userId: string;
  channelId: string | undefined;
  threadTs: string | undefined;
  target: MessageRef | undefined;
}

interface PendingUpload {
  fileId: string;
  ticket: string;
  filename: string;
  declaredLength: number;
  altText: string | undefined;
  uploadUrl: string;
  userId: string;
  bytes: Buffer | undefined;
  uploadContentType: string | undefined;
  uploadField: string | undefined;
  uploadAuthorization: string | undefined;
  completed: boolean;
  title: string | undefined;
  channelId: string | undefined;
  threadTs: string | undefined;
  initialComment: string | undefined;
  blocks: Json[] | undefined;
  file: FakeFile | undefined;
  messageTs: string | undefined;
}

interface SocketState {
  id: number;
  ticket: string;
  socket: WebSocket;
  connectedAt: number;
  closedAt: number | undefined;
}

interface PendingAck {
  type: string;
  sentAt: number;
  resolve: (ack: SocketAck) => void;
}

interface FailureRule extends ApiFailure {
  method: string;
  remaining: number;
}

interface ApiContext {
  method: string;
  params: Json;
  token: string;
  /** Undefined for methods that need no token (api.test). */
  kind: 'bot' | 'app' | undefined;
}

interface Delivered {
  status: number;
  body: string;
  headers: Record<string, string>;
  ackMs: number;
  acked: boolean;
  error: string | undefined;
  envelopeId: string | undefined;
  ackPayload: Json | undefined;
  requestBody: string;
  requestHeaders: Record<string, string>;
}

const JSON_PARAMS = new Set(['blocks', 'attachments', 'view', 'files', 'metadata', 'unfurls', 'user_auth_blocks']);

const METHOD_SCOPES: Record<string, string | undefined> = {
  'chat.postMessage': 'chat:write',
  'chat.update': 'chat:write',
  'chat.delete': 'chat:write',
  'chat.postEphemeral': 'chat:write',
  'users.info': 'users:read',
  'files.getUploadURLExternal': 'files:write',
  'files.completeUploadExternal': 'files:write',
  'files.info': 'files:read',
  'files.delete': 'files:write',
  'usergroups.list': 'usergroups:read',
  'usergroups.users.list': 'usergroups:read',
};

// ---------------------------------------------------------------------------------------------
// The fake

export class FakeSlack {
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  /** `http://127.0.0.1:<port>/api/` — pass as `clientOptions.slackApiUrl`. */
  readonly apiUrl: string;
  readonly botToken: string;
  readonly appToken: string;
  readonly signingSecret: string;
  readonly verificationToken: string;
  readonly appId: string;
  readonly botId: string;
  readonly botUserId: string;
  readonly defaultTeam: FakeTeam;
  readonly botUser: FakeUser;
  /** Where HTTP-mode deliveries go. */
  requestUrl: string | undefined;
  /** Mutable: checked at views.open / views.push. */
  triggerTtlMs: number;
  responseUrlTtlMs: number;
  responseUrlMaxUses: number;
  ackDeadlineMs: number;
  readonly clock: FakeClock;

  private readonly events = new EventEmitter();
  private readonly wss = new WebSocketServer({ noServer: true });
  private clockOffset = 0;
  private deferChanges = 0;
  private lastTsMicros = 0;
  private userCounter = 0;
  private channelCounter = 0;
  private callSeq = 0;
  private socketSeq = 0;
  private botScopes: Set<string>;
  private readonly revokedTokens = new Set<string>();
  private readonly teams = new Map<string, FakeTeam>();
  private readonly users = new Map<string, FakeUser>();
  private readonly channels = new Map<string, FakeChannel>();
  private readonly dmByUser = new Map<string, string>();
  private readonly usergroups = new Map<string, FakeUsergroup>();
  private readonly messagesByChannel = new Map<string, StoredMessage[]>();
  private readonly ephemeralList: StoredEphemeral[] = [];
  private readonly viewsById = new Map<string, StoredView>();
  private readonly stacks = new Map<string, string[]>();
  private readonly triggers = new Map<string, TriggerState>();
  private readonly responseUrls = new Map<string, ResponseUrlState>();
  private readonly uploadsById = new Map<string, PendingUpload>();
  private readonly uploadsByTicket = new Map<string, PendingUpload>();
  private readonly filesById = new Map<string, FakeFile>();
  /** Files deleted with files.delete: files.info answers file_deleted, url_private 404. */
  private readonly deletedFilesById = new Map<string, FakeFile>();
  private readonly callRecords: ApiCall[] = [];
  private readonly downloadRecords: FileDownload[] = [];
  private readonly responseRecords: ResponseUrlPost[] = [];
  private readonly inboundRecords: InboundResult[] = [];
  private readonly socketTickets = new Set<string>();
  private readonly sockets: SocketState[] = [];
  private readonly ackRecords: SocketAck[] = [];
  private readonly pendingAcks = new Map<string, PendingAck>();
  private failures: FailureRule[] = [];
  private defaultUserValue: FakeUser | undefined;
  private defaultChannelValue: FakeChannel | undefined;

  constructor(
    private readonly server: Server,
    readonly port: number,
    options: FakeSlackOptions,
  ) {
    this.events.setMaxListeners(0);
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.apiUrl = `${this.baseUrl}/api/`;
    this.requestUrl = options.requestUrl;
    this.triggerTtlMs = options.triggerTtlMs ?? 3000;
    this.responseUrlTtlMs = options.responseUrlTtlMs ?? 30 * 60 * 1000;
    this.responseUrlMaxUses = options.responseUrlMaxUses ?? 5;
    this.ackDeadlineMs = options.ackDeadlineMs ?? 3000;
    this.botScopes = new Set(options.botScopes ?? DEFAULT_BOT_SCOPES);
    this.signingSecret = options.signingSecret ?? randomBytes(16).toString('hex');
    this.verificationToken = options.verificationToken ?? randomBytes(12).toString('base64url');
    this.defaultTeam = this.team({ name: 'Atelier Test', domain: 'atelier-test', ...options.team });
    this.appId = options.appId ?? randomId('A');
    this.botId = options.botId ?? randomId('B');
    this.botUser = this.user({
      name: options.botName ?? 'atelier',
      realName: 'Atelier',
      isBot: true,
      ...(options.botUserId !== undefined ? { id: options.botUserId } : {}),
    });
    this.botUserId = this.botUser.id;
    const teamDigits = (): string => String(1000000000 + (randomBytes(4).readUInt32BE(0) % 9000000000));
    this.botToken = options.botToken ?? `xoxb-${teamDigits()}-${teamDigits()}-${randomBytes(12).toString('base64url')}`;
    this.appToken = options.appToken ?? `xapp-1-${this.appId}-${teamDigits()}-${randomBytes(32).toString('hex')}`;

    const offset = (): number => this.clockOffset;
    this.clock = {
      now: () => Date.now() + this.clockOffset,
      advance: (ms: number) => {
        this.clockOffset += ms;
        this.changed();
      },
      reset: () => {
        this.clockOffset = 0;
      },
      get offsetMs() {
        return offset();
      },
    };

    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handleHttp(req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify({ ok: false, error: 'fatal_error', detail: String(error) }));
        } else {
          res.destroy();
        }
      });
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
  }

  // ----- clock, ids ----------------------------------------------------------------------------

  /** The fake clock's time in ms. */
  now(): number {
    return this.clock.now();
  }

  /** A fresh, strictly increasing message ts (`<seconds>.<6 digits>`). */
  nextTs(): string {
    let micros = this.now() * 1000;
    if (micros <= this.lastTsMicros) micros = this.lastTsMicros + 1;
    this.lastTsMicros = micros;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }

  private changed(): void {
    // While a Web API call is handled, waiters are woken only once its record is stored.
    if (this.deferChanges === 0) this.events.emit('change');
  }

  // ----- teams, users, channels, usergroups ---------------------------------------------------

  /** Creates (or replaces) a team. */
  team(spec: TeamSpec = {}): FakeTeam {
    const name = spec.name ?? `Team ${this.teams.size + 1}`;
    const team: FakeTeam = {
      id: spec.id ?? randomId('T'),
      name,
      domain: spec.domain ?? name.toLowerCase().replace(/[^a-z0-9]+/g, '-'),
    };
    this.teams.set(team.id, team);
    return team;
  }

  /** Creates (or replaces) a user. */
  user(spec: UserSpec = {}): FakeUser {
    this.userCounter++;
    const name = spec.name ?? `user${this.userCounter}`;
    const user: FakeUser = {
      id: spec.id ?? randomId('U'),
      teamId: spec.teamId ?? this.defaultTeam.id,
      name,
      realName: spec.realName ?? name.charAt(0).toUpperCase() + name.slice(1),
      isBot: spec.isBot ?? false,
      isAdmin: spec.isAdmin ?? false,
      deleted: spec.deleted ?? false,
      tz: spec.tz ?? 'Europe/Paris',
      locale: spec.locale ?? 'en-US',
    };
    this.users.set(user.id, user);
    return user;
  }

  getUser(id: string): FakeUser | undefined {
    return this.users.get(id);
  }

  /** A user "alice", created on first use; the default actor of deliveries. */
  defaultUser(): FakeUser {
    this.defaultUserValue ??= this.user({ name: 'alice' });
    return this.defaultUserValue;
  }

  /** Creates a channel, or (isIm) returns the bot's DM channel with `user`. */
  channel(spec: ChannelSpec = {}): FakeChannel {
    if (spec.isIm) return this.dmChannel(spec.user ?? this.defaultUser());
    this.channelCounter++;
    const isPrivate = spec.isPrivate ?? false;
    const channel: FakeChannel = {
      id: spec.id ?? randomId(isPrivate ? 'G' : 'C'),
      name: spec.name ?? `channel-${this.channelCounter}`,
      teamId: spec.teamId ?? this.defaultTeam.id,
      isIm: false,
      isMpim: false,
      isPrivate,
      user: undefined,
      botIsMember: spec.botIsMember ?? true,
      archived: spec.archived ?? false,
      members: spec.members?.map((m) => this.userId(m)),
    };
    this.channels.set(channel.id, channel);
    this.messagesByChannel.set(channel.id, []);
    return channel;
  }

  /** A channel "general", created on first use; the default place of deliveries. */
  defaultChannel(): FakeChannel {
    this.defaultChannelValue ??= this.channel({ name: 'general' });
    return this.defaultChannelValue;
  }

  getChannel(idOrName: string): FakeChannel | undefined {
    const byId = this.channels.get(idOrName);
    if (byId) return byId;
    const name = idOrName.replace(/^#/, '');
    return [...this.channels.values()].find((c) => !c.isIm && c.name === name);
  }

  /** The bot's DM channel with a user (created on first use; the id conversations.open returns). */
  dmChannel(user: FakeUser | string): FakeChannel {
    const userId = this.userId(user);
    const existing = this.dmByUser.get(userId);
    const found = existing === undefined ? undefined : this.channels.get(existing);
    if (found) return found;
    const channel: FakeChannel = {
      id: randomId('D'),
      name: 'directmessage',
      teamId: this.users.get(userId)?.teamId ?? this.defaultTeam.id,
      isIm: true,
      isMpim: false,
      isPrivate: true,
      user: userId,
      botIsMember: true,
      archived: false,
      members: [userId, this.botUserId],
    };
    this.channels.set(channel.id, channel);
    this.messagesByChannel.set(channel.id, []);
    this.dmByUser.set(userId, channel.id);
    return channel;
  }

  /** Creates (or replaces) a user group (for usergroups.users.list). */
  usergroup(spec: UsergroupSpec = {}): FakeUsergroup {
    const handle = spec.handle ?? `group${this.usergroups.size + 1}`;
    const group: FakeUsergroup = {
      id: spec.id ?? randomId('S'),
      teamId: spec.teamId ?? this.defaultTeam.id,
      handle,
      name: spec.name ?? handle,
      users: (spec.users ?? []).map((u) => this.userId(u)),
    };
    this.usergroups.set(group.id, group);
    return group;
  }

  /** Sets the bot token's scopes (missing ones make methods answer missing_scope). */
  setBotScopes(scopes: readonly string[]): void {
    this.botScopes = new Set(scopes);
  }

  /** Revokes a token: calls with it answer token_revoked (Socket Mode tickets too). */
  revokeToken(token: string): void {
    this.revokedTokens.add(token);
  }

  private userId(user: FakeUser | string): string {
    return typeof user === 'string' ? user : user.id;
  }

  private resolveUser(user: FakeUser | string | undefined): FakeUser {
    if (user === undefined) return this.defaultUser();
    if (typeof user !== 'string') return user;
    return this.users.get(user) ?? this.user({ id: user });
  }

  private resolveChannel(channel: FakeChannel | string | undefined): FakeChannel {
    if (channel === undefined) return this.defaultChannel();
    if (typeof channel !== 'string') return channel;
    const found = this.getChannel(channel);
    if (!found) throw new Error(`fake slack: unknown channel ${channel}`);
    return found;
  }

  private teamOf(id: string): FakeTeam {
    return this.teams.get(id) ?? this.defaultTeam;
  }

  // ----- files -----------------------------------------------------------------------------------

  /** Registers a user's file, served at url_private with the bot token (for events with files). */
  addFile(options: AddFileOptions): FakeFile {
    const user = this.resolveUser(options.user);
    return this.storeFile({
      id: randomId('F'),
      name: options.name,
      title: options.title ?? options.name,
      mimetype: options.mimetype ?? guessMimetype(options.name),
      bytes: Buffer.from(options.bytes),
      user: user.id,
      altText: undefined,
    });
  }

  /** A file by id (user files and bot uploads); undefined once deleted. */
  file(id: string): FakeFile | undefined {
    return this.filesById.get(id);
  }

  /** A file deleted with files.delete (undefined while it exists, or if it never did). */
  deletedFile(id: string): FakeFile | undefined {
    return this.deletedFilesById.get(id);
  }

  /**
   * Deletes a channel message as a member or an admin would in the Slack client (no API call is
   * recorded): later chat.update / chat.delete of it answer message_not_found.
   */
  deleteMessage(channel: FakeChannel | string, ts: string): void {
    const stored = this.findMessage(typeof channel === 'string' ? channel : channel.id, ts);
    if (!stored) throw new Error(`fake slack: unknown message ${typeof channel === 'string' ? channel : channel.id}/${ts}`);
    stored.deleted = true;
    this.changed();
  }

  private storeFile(spec: { id: string; name: string; title: string; mimetype: string; bytes: Buffer; user: string; altText: string | undefined }): FakeFile {
    const created = Math.floor(this.now() / 1000);
    const teamId = this.users.get(spec.user)?.teamId ?? this.defaultTeam.id;
    const encoded = encodeURIComponent(spec.name);
    const urlPrivate = `${this.baseUrl}/files-pri/${teamId}-${spec.id}/${encoded}`;
    const urlPrivateDownload = `${this.baseUrl}/files-pri/${teamId}-${spec.id}/download/${encoded}`;
    const permalink = `${this.baseUrl}/files/${spec.user}/${spec.id}/${encoded}`;
    const size = spec.mimetype.startsWith('image/') ? sniffImageSize(spec.bytes) : undefined;
    const filetype = filetypeOf(spec.name, spec.mimetype);
    const raw: Json = {
      id: spec.id,
      created,
      timestamp: created,
      name: spec.name,
      title: spec.title,
      mimetype: spec.mimetype,
      filetype,
      pretty_type: filetype.toUpperCase(),
      user: spec.user,
      user_team: teamId,
      editable: false,
      size: spec.bytes.length,
      mode: 'hosted',
      is_external: false,
      external_type: '',
      is_public: true,
      public_url_shared: false,
      display_as_bot: false,
      username: '',
      url_private: urlPrivate,
      url_private_download: urlPrivateDownload,
      ...(size ? { original_w: size.width, original_h: size.height } : {}),
      ...(spec.altText !== undefined ? { alt_txt: spec.altText } : {}),
      permalink,
      permalink_public: `${this.baseUrl}/${teamId}-${spec.id}-${randomBytes(5).toString('hex')}`,
      has_rich_preview: false,
      file_access: 'visible',
    };
    const file: FakeFile = {
      id: spec.id,
      name: spec.name,
      title: spec.title,
      mimetype: spec.mimetype,
      filetype,
      size: spec.bytes.length,
      user: spec.user,
      created,
      bytes: spec.bytes,
      urlPrivate,
      urlPrivateDownload,
      permalink,
      width: size?.width,
      height: size?.height,
      altText: spec.altText,
      raw,
    };
    this.filesById.set(file.id, file);
    return file;
  }

  // ----- queries -------------------------------------------------------------------------------

  /** Web API calls in arrival order, optionally of one method. */
  calls(method?: string): ApiCall[] {
    return this.callRecords.filter((c) => method === undefined || c.method === method);
  }

  /** Top-level messages of a channel (thread replies only when broadcast), oldest first. */
  messages(channel: FakeChannel | string, options: { includeDeleted?: boolean; includeReplies?: boolean } = {}): SlackMessage[] {
    const id = typeof channel === 'string' ? (this.getChannel(channel)?.id ?? channel) : channel.id;
    return (this.messagesByChannel.get(id) ?? [])
      .filter((m) => options.includeDeleted || !m.deleted)
      .filter((m) => options.includeReplies || m.threadTs === undefined || m.threadTs === m.ts || m.replyBroadcast)
      .map((m) => this.snapshot(m));
  }

  /** A channel message by ts (deleted ones too). */
  message(channel: FakeChannel | string, ts: string): SlackMessage | undefined {
    const stored = this.findMessage(typeof channel === 'string' ? channel : channel.id, ts);
    return stored && this.snapshot(stored);
  }

  /** Like conversations.replies: the parent (when known) then the replies, oldest first. */
  thread(channel: FakeChannel | string, ts: string, options: { includeDeleted?: boolean } = {}): SlackMessage[] {
    const id = typeof channel === 'string' ? channel : channel.id;
    return (this.messagesByChannel.get(id) ?? [])
      .filter((m) => m.ts === ts || m.threadTs === ts)
      .filter((m) => options.includeDeleted || !m.deleted)
      .map((m) => this.snapshot(m));
  }

  /** Messages in the bot's DM with a user. */
  dmMessages(user: FakeUser | string, options: { includeDeleted?: boolean; includeReplies?: boolean } = {}): SlackMessage[] {
    const id = this.dmByUser.get(this.userId(user));
    return id === undefined ? [] : this.messages(id, options);
  }

  /** Ephemeral messages (chat.postEphemeral, response_url, ack bodies), optionally for one user. */
  ephemerals(user?: FakeUser | string, options: { includeDeleted?: boolean } = {}): EphemeralMessage[] {
    const userId = user === undefined ? undefined : this.userId(user);
    return this.ephemeralList
      .filter((e) => userId === undefined || e.user === userId)
      .filter((e) => options.includeDeleted || !e.deleted)
      .map((e) => this.ephemeralSnapshot(e));
  }

  /** Views opened by the bot (modals and home tabs), oldest first. */
  views(options: { openOnly?: boolean; user?: FakeUser | string } = {}): FakeView[] {
    const userId = options.user === undefined ? undefined : this.userId(options.user);
    return [...this.viewsById.values()]
      .filter((v) => !options.openOnly || v.open)
      .filter((v) => userId === undefined || v.userId === userId)
      .map((v) => this.viewSnapshot(v));
  }

  view(id: string): FakeView | undefined {
    const stored = this.viewsById.get(id);
    return stored && this.viewSnapshot(stored);
  }

  /** The files upload flow records (one per files.getUploadURLExternal). */
  uploads(): UploadRecord[] {
    return [...this.uploadsById.values()].map((u) => ({
      fileId: u.fileId,
      filename: u.filename,
      declaredLength: u.declaredLength,
      altText: u.altText,
      uploadUrl: u.uploadUrl,
      bytes: u.bytes,
      uploadContentType: u.uploadContentType,
      uploadField: u.uploadField,
      uploadAuthorization: u.uploadAuthorization,
      completed: u.completed,
      title: u.title,
      channelId: u.channelId,
      threadTs: u.threadTs,
      initialComment: u.initialComment,
      blocks: u.blocks,
      file: u.file,
      messageTs: u.messageTs,
    }));
  }

  /** Requests to url_private / url_private_download. */
  fileDownloads(): FileDownload[] {
    return [...this.downloadRecords];
  }

  /** POSTs to response_urls (accepted and rejected). */
  responses(): ResponseUrlPost[] {
    return [...this.responseRecords];
  }

  /** Everything delivered to the app (HTTP and socket), with Bolt's answers. */
  inbound(): InboundResult[] {
    return [...this.inboundRecords];
  }

  /** Socket Mode connections. */
  socketConnections(): SocketConnection[] {
    return this.sockets.map((s) => ({
      id: s.id,
      ticket: s.ticket,
      connectedAt: s.connectedAt,
      closedAt: s.closedAt,
      open: s.socket.readyState === WebSocket.OPEN,
    }));
  }

  /** Socket Mode acks received. */
  socketAcks(): SocketAck[] {
    return [...this.ackRecords];
  }

  /** Clears call/download/response/inbound/ack records (state is kept). */
  clearRecords(): void {
    this.callRecords.length = 0;
    this.downloadRecords.length = 0;
    this.responseRecords.length = 0;
    this.inboundRecords.length = 0;
    this.ackRecords.length = 0;
  }

  /**
   * Resolves with the first truthy value of `check()`, re-evaluated whenever the fake's state
   * changes; rejects after `timeoutMs`.
   */
  waitFor<T>(check: () => T | undefined | null | false, timeoutMs = 5000, what: string | (() => string) = 'a condition'): Promise<T> {
    return waitForChange(this.events, check, timeoutMs, () => `fake slack: ${typeof what === 'string' ? what : what()}`);
  }


  /** Waits for a top-level message in a channel matching `predicate`. */
  waitForMessage(channel: FakeChannel | string, predicate: (m: SlackMessage) => boolean = () => true, timeoutMs = 5000): Promise<SlackMessage> {
    return this.waitFor(() => this.messages(channel, { includeReplies: true }).find(predicate), timeoutMs, `a message in ${typeof channel === 'string' ? channel : channel.id}`);
  }

  /** Waits for an API call of `method` matching `predicate`. */
  waitForCall(method: string, predicate: (c: ApiCall) => boolean = () => true, timeoutMs = 5000): Promise<ApiCall> {
    return this.waitFor(() => this.calls(method).find(predicate), timeoutMs, `a ${method} call`);
  }

  /** Makes the next `times` calls of `method` fail (Slack error, or an HTTP status such as 429). */
  failNext(method: string, failure: ApiFailure): void {
    this.failures.push({ ...failure, method, remaining: failure.times ?? 1 });
  }

  clearFailures(): void {
    this.failures = [];
  }

  /** Issues a trigger_id for a user (as an interaction would). */
  issueTrigger(user: FakeUser | string = this.defaultUser(), viewId?: string): string {
    const u = this.resolveUser(user);
    const id = `${Math.floor(this.now() / 1000)}${String(randomBytes(2).readUInt16BE(0) % 1000).padStart(3, '0')}.${String(randomBytes(4).readUInt32BE(0))}.${randomBytes(16).toString('hex')}`;
    this.triggers.set(id, { id, userId: u.id, teamId: u.teamId, createdAt: this.now(), used: false, viewId });
    return id;
  }

  // ----- HTTP ----------------------------------------------------------------------------------

  private async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    const headers = flattenHeaders(req.headers);

    if (path.startsWith('/api/')) {
      await this.handleApi(decodeURIComponent(path.slice('/api/'.length)), method, url, headers, body, res);
      return;
    }
    let match = /^\/upload\/v1\/([^/]+)$/.exec(path);
    if (match && method === 'POST') {
      await this.handleUpload(match[1] ?? '', headers, body, res);
      return;
    }
    match = /^\/files-pri\/([^-/]+)-([^/]+)\/(?:download\/)?[^/]+$/.exec(path);
    if (match && (method === 'GET' || method === 'HEAD')) {
      this.handleFileDownload(match[2] ?? '', path, method, headers, res);
      return;
    }
    match = /^\/files\/([^/]+)\/([^/]+)\/[^/]+$/.exec(path);
    if (match && method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!DOCTYPE html><html><body>file ${match[2] ?? ''}</body></html>`);
      return;
    }
    if (/^\/(commands|actions)\//.test(path) && method === 'POST') {
      this.handleResponseUrl(`${this.baseUrl}${path}`, headers, body, res);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('Not Found');
  }

  private sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  }

  private async parseParams(httpMethod: string, url: URL, headers: Record<string, string>, body: Buffer): Promise<Json> {
    const params: Json = {};
    url.searchParams.forEach((value, key) => {
      params[key] = value;
    });
    if (httpMethod !== 'POST' || body.length === 0) return params;
    const contentType = (headers['content-type'] ?? '').toLowerCase();
    if (contentType.startsWith('application/json')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        throw new ApiError('invalid_json');
      }
      if (!isObject(parsed)) throw new ApiError('invalid_json');
      Object.assign(params, parsed);
    } else if (contentType.startsWith('multipart/form-data')) {
      for (const [key, value] of await formEntries(body, headers['content-type'] ?? '')) {
        params[key] = typeof value === 'string' ? value : Buffer.from(await value.arrayBuffer());
      }
    } else if (contentType.startsWith('application/x-www-form-urlencoded') || contentType === '') {
      new URLSearchParams(body.toString('utf8')).forEach((value, key) => {
        params[key] = value;
      });
    } else {
      throw new ApiError('invalid_post_type');
    }
    return params;
  }

  private async handleApi(
    method: string,
    httpMethod: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer,
    res: ServerResponse,
  ): Promise<void> {
    const seq = ++this.callSeq;
    const at = this.now();
    const contentType = headers['content-type'] ?? '';
    const bearer = /^Bearer\s+(.+)$/i.exec(headers['authorization'] ?? '')?.[1]?.trim();
    let rawParams: Json = {};
    let params: Json = {};
    let token: string | undefined = bearer;
    let tokenSource: ApiCall['tokenSource'] = bearer ? 'header' : 'none';
    let status = 200;
    let response: Json;
    let extraHeaders: Record<string, string> = {};
    let rawBody: string | undefined;
    this.deferChanges++;
    try {
      rawParams = await this.parseParams(httpMethod, url, headers, body);
      // Slack reads `token` from form/query parameters, never from JSON bodies (header only).
      const jsonBody = contentType.toLowerCase().startsWith('application/json');
      if (!token && !jsonBody && typeof rawParams['token'] === 'string' && rawParams['token'] !== '') {
        token = rawParams['token'];
        tokenSource = 'param';
      }
      params = decodeParams(rawParams, false);
      const failure = this.takeFailure(method);
      if (failure?.delayMs) await sleep(failure.delayMs);
      if (failure && failure.status !== undefined) {
        status = failure.status;
        if (status === 429) extraHeaders = { 'retry-after': String(failure.retryAfter ?? 1) };
        rawBody = failure.body ?? (status === 429 ? '' : `${status} error`);
        response = { ok: false, error: status === 429 ? 'ratelimited' : `http_${status}` };
      } else if (failure && failure.error !== undefined) {
        throw new ApiError(failure.error, failure.extra ?? {});
      } else {
        const kind = method === 'api.test' ? undefined : this.authenticate(method, token);
        params = decodeParams(rawParams, true);
        const ctx: ApiContext = { method, params, token: token ?? '', kind };
        response = { ok: true, ...(await this.dispatchApi(ctx)) };
        if (kind === 'bot') extraHeaders['x-oauth-scopes'] = [...this.botScopes].join(',');
      }
    } catch (error) {
      if (!(error instanceof ApiError)) {
        this.deferChanges--;
        throw error;
      }
      response = { ok: false, error: error.error, ...error.extra };
    }
    this.deferChanges--;
    const tokenKind: TokenKind = !token ? 'none' : token === this.botToken ? 'bot' : token === this.appToken ? 'app' : 'unknown';
    this.callRecords.push({
      seq,
      at,
      method,
      httpMethod,
      contentType,
      token,
      tokenKind,
      tokenSource,
      params,
      rawParams,
      status,
      ok: response['ok'] === true,
      error: typeof response['error'] === 'string' ? response['error'] : undefined,
      response,
    });
    this.events.emit('change');
    if (rawBody !== undefined) {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...extraHeaders });
      res.end(rawBody);
      return;
    }
    this.sendJson(res, status, response, extraHeaders);
  }

  private takeFailure(method: string): FailureRule | undefined {
    const rule = this.failures.find((f) => f.method === method && f.remaining > 0);
    if (!rule) return undefined;
    rule.remaining--;
    if (rule.remaining <= 0) this.failures = this.failures.filter((f) => f !== rule);
    return rule;
  }

  private authenticate(method: string, token: string | undefined): 'bot' | 'app' {
    if (!token) throw new ApiError('not_authed');
    if (this.revokedTokens.has(token)) throw new ApiError('token_revoked');
    const kind = token === this.botToken ? 'bot' : token === this.appToken ? 'app' : undefined;
    if (!kind) throw new ApiError('invalid_auth');
    const appOnly = method === 'apps.connections.open';
    if (appOnly !== (kind === 'app')) throw new ApiError('not_allowed_token_type');
    if (kind === 'bot') this.requireScope(METHOD_SCOPES[method]);
    return kind;
  }

  private requireScope(scope: string | undefined): void {
    if (scope !== undefined && !this.botScopes.has(scope)) {
      throw new ApiError('missing_scope', { needed: scope, provided: [...this.botScopes].join(',') });
    }
  }

  private dispatchApi(ctx: ApiContext): Json | Promise<Json> {
    switch (ctx.method) {
      case 'auth.test':
        return this.authTest();
      case 'api.test':
        return { args: ctx.params };
      case 'chat.postMessage':
        return this.chatPostMessage(ctx.params);
      case 'chat.update':
        return this.chatUpdate(ctx.params);
      case 'chat.delete':
        return this.chatDelete(ctx.params);
      case 'chat.postEphemeral':
        return this.chatPostEphemeral(ctx.params);
      case 'chat.getPermalink':
        return this.chatGetPermalink(ctx.params);
      case 'conversations.open':
        return this.conversationsOpen(ctx.params);
      case 'conversations.info':
        return this.conversationsInfo(ctx.params);
      case 'conversations.history':
        return this.conversationsHistory(ctx.params);
      case 'conversations.replies':
        return this.conversationsReplies(ctx.params);
      case 'users.info':
        return this.usersInfo(ctx.params);
      case 'views.open':
        return this.viewsOpen(ctx.params);
      case 'views.update':
        return this.viewsUpdate(ctx.params);
      case 'views.push':
        return this.viewsPush(ctx.params);
      case 'views.publish':
        return this.viewsPublish(ctx.params);
      case 'files.getUploadURLExternal':
        return this.filesGetUploadUrl(ctx.params);
      case 'files.completeUploadExternal':
        return this.filesComplete(ctx.params);
      case 'files.info':
        return this.filesInfo(ctx.params);
      case 'files.delete':
        return this.filesDelete(ctx.params);
      case 'usergroups.list':
        return this.usergroupsList(ctx.params);
      case 'usergroups.users.list':
        return this.usergroupsUsersList(ctx.params);
      case 'apps.connections.open':
        return this.appsConnectionsOpen();
      default:
        throw new ApiError('unknown_method', { req_method: ctx.method });
    }
  }

  // ----- Web API methods -------------------------------------------------------------------------

  private authTest(): Json {
    return {
      url: `https://${this.defaultTeam.domain}.slack.com/`,
      team: this.defaultTeam.name,
      user: this.botUser.name,
      team_id: this.defaultTeam.id,
      user_id: this.botUserId,
      bot_id: this.botId,
      is_enterprise_install: false,
    };
  }

  /** Resolves a channel argument: an id, a #name/name, or a user id (the bot's DM with them). */
  private apiChannel(value: unknown): FakeChannel {
    const id = str(value);
    if (!id) throw new ApiError('channel_not_found');
    const channel = this.getChannel(id);
    if (channel) return channel;
    if (/^[UW]/.test(id) && this.users.has(id)) return this.dmChannel(id);
    throw new ApiError('channel_not_found');
  }

  private requireWritable(channel: FakeChannel): void {
    if (channel.archived) throw new ApiError('is_archived');
    if (!channel.botIsMember) throw new ApiError('not_in_channel');
  }

  private content(params: Json, required: boolean): { text: string | undefined; blocks: Json[] | undefined; attachments: Json[] | undefined } {
    const text = str(params['text']);
    const blocks = params['blocks'];
    const attachments = params['attachments'];
    if (blocks !== undefined) {
      if (!Array.isArray(blocks)) throw new ApiError('invalid_blocks_format');
      const errors = validateBlocks(blocks, 'message', '/blocks');
      if (errors.length > 0) throw new ApiError('invalid_blocks', { errors, response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) } });
    }
    if (attachments !== undefined && !Array.isArray(attachments)) throw new ApiError('invalid_attachments');
    const blockList = Array.isArray(blocks) ? objects(blocks) : undefined;
    const attachmentList = Array.isArray(attachments) ? objects(attachments) : undefined;
    const hasContent = (text !== undefined && text !== '') || (blockList?.length ?? 0) > 0 || (attachmentList?.length ?? 0) > 0;
    if (required && !hasContent) throw new ApiError('no_text');
    return { text, blocks: blockList, attachments: attachmentList };
  }

  private chatPostMessage(params: Json): Json {
    const channel = this.apiChannel(params['channel']);
    this.requireWritable(channel);
    const { text, blocks, attachments } = this.content(params, true);
    const threadTs = str(params['thread_ts']) || undefined;
    const metadata = isObject(params['metadata']) ? params['metadata'] : undefined;
    const message = this.postMessage({
      channel: channel.id,
      user: this.botUserId,
      botId: this.botId,
      text,
      blocks: blocks ?? [],
      attachments: attachments ?? [],
      threadTs,
      replyBroadcast: truthy(params['reply_broadcast']),
      metadata,
      source: 'chat.postMessage',
    });
    return { channel: channel.id, ts: message.ts, message: this.messageWire(message) };
  }

  private chatUpdate(params: Json): Json {
    const channel = this.apiChannel(params['channel']);
    const ts = str(params['ts']);
    const message = ts === undefined ? undefined : this.findMessage(channel.id, ts);
    if (!message || message.deleted) throw new ApiError('message_not_found');
    if (message.user !== this.botUserId) throw new ApiError('cant_update_message');
    const { text, blocks, attachments } = this.content(params, false);
    if (text === undefined && blocks === undefined && attachments === undefined && params['file_ids'] === undefined) throw new ApiError('no_text');
    this.applyEdit(message, { text, blocks, attachments });
    return { channel: channel.id, ts: message.ts, text: message.text, message: this.messageWire(message) };
  }

  private chatDelete(params: Json): Json {
    const channel = this.apiChannel(params['channel']);
    const ts = str(params['ts']);
    const message = ts === undefined ? undefined : this.findMessage(channel.id, ts);
    if (!message || message.deleted) throw new ApiError('message_not_found');
    if (message.user !== this.botUserId) throw new ApiError('cant_delete_message');
    message.deleted = true;
    this.changed();
    return { channel: channel.id, ts: message.ts };
  }

  private chatPostEphemeral(params: Json): Json {
    const channel = this.apiChannel(params['channel']);
    if (channel.archived) throw new ApiError('is_archived');
    const userId = str(params['user']);
    if (!userId) throw new ApiError('user_not_in_channel');
    const user = this.users.get(userId);
    if (!user || (channel.members !== undefined && !channel.members.includes(userId))) throw new ApiError('user_not_in_channel');
    const { text, blocks, attachments } = this.content(params, true);
    const ephemeral = this.postEphemeral({
      channel: channel.id,
      user: userId,
      text,
      blocks: blocks ?? [],
      attachments: attachments ?? [],
      threadTs: str(params['thread_ts']) || undefined,
      source: 'chat.postEphemeral',
    });
    return { message_ts: ephemeral.ts };
  }

  private chatGetPermalink(params: Json): Json {
    const channel = this.apiChannel(params['channel']);
    const ts = str(params['message_ts']);
    if (!ts || !this.findMessage(channel.id, ts)) throw new ApiError('message_not_found');
    return { channel: channel.id, permalink: this.permalink(channel.id, ts) };
  }

  /** The permalink Slack would give a message. */
  permalink(channelId: string, ts: string): string {
    return `${this.baseUrl}/archives/${channelId}/p${ts.replace('.', '')}`;
  }

  private conversationsOpen(params: Json): Json {
    const channelArg = str(params['channel']);
    if (channelArg) {
      const channel = this.getChannel(channelArg);
      if (!channel || !channel.isIm) throw new ApiError('channel_not_found');
      return { channel: truthy(params['return_im']) ? this.channelWire(channel) : { id: channel.id } };
    }
    const users = (str(params['users']) ?? '').split(',').map((u) => u.trim()).filter((u) => u !== '');
    if (users.length === 0) throw new ApiError('users_list_not_supplied');
    if (!this.botScopes.has(users.length === 1 ? 'im:write' : 'mpim:write')) {
      throw new ApiError('missing_scope', { needed: users.length === 1 ? 'im:write' : 'mpim:write', provided: [...this.botScopes].join(',') });
    }
    if (users.length > 8) throw new ApiError('too_many_users');
    for (const id of users) if (!this.users.has(id)) throw new ApiError('user_not_found');
    if (users.length === 1) {
      const userId = users[0] ?? '';
      const already = this.dmByUser.has(userId);
      const channel = this.dmChannel(userId);
      const wire = truthy(params['return_im']) ? this.channelWire(channel) : { id: channel.id };
      return already ? { no_op: true, already_open: true, channel: wire } : { channel: wire };
    }
    const key = [...users].sort().join(',');
    let channel = [...this.channels.values()].find((c) => c.isMpim && [...(c.members ?? [])].filter((m) => m !== this.botUserId).sort().join(',') === key);
    if (!channel) {
      channel = {
        id: randomId('C'),
        name: `mpdm-${users.map((u) => this.users.get(u)?.name ?? u).join('--')}-1`,
        teamId: this.defaultTeam.id,
        isIm: false,
        isMpim: true,
        isPrivate: true,
        user: undefined,
        botIsMember: true,
        archived: false,
        members: [...users, this.botUserId],
      };
      this.channels.set(channel.id, channel);
      this.messagesByChannel.set(channel.id, []);
    }
    return { channel: truthy(params['return_im']) ? this.channelWire(channel) : { id: channel.id } };
  }

  private readScope(channel: FakeChannel, kind: 'read' | 'history'): string {
    const prefix = channel.isIm ? 'im' : channel.isMpim ? 'mpim' : channel.isPrivate ? 'groups' : 'channels';
    return `${prefix}:${kind}`;
  }

  private conversationsInfo(params: Json): Json {
    const channel = this.apiChannel(params['channel']);
    this.requireScope(this.readScope(channel, 'read'));
    return { channel: this.channelWire(channel) };
  }

  private conversationsHistory(params: Json): Json {
    const channel = this.apiChannel(params['channel']);
    this.requireScope(this.readScope(channel, 'history'));
    if (!channel.botIsMember) throw new ApiError('not_in_channel');
    const limit = Number(str(params['limit']) ?? 100) || 100;
    const messages = (this.messagesByChannel.get(channel.id) ?? [])
      .filter((m) => !m.deleted && (m.threadTs === undefined || m.threadTs === m.ts || m.replyBroadcast))
      .reverse()
      .slice(0, limit)
      .map((m) => this.messageWire(m));
    return { messages, has_more: false, pin_count: 0, channel_actions_ts: null, channel_actions_count: 0, response_metadata: { next_cursor: '' } };
  }

  private conversationsReplies(params: Json): Json {
    const channel = this.apiChannel(params['channel']);
    this.requireScope(this.readScope(channel, 'history'));
    const ts = str(params['ts']);
    const parent = ts === undefined ? undefined : this.findMessage(channel.id, ts);
    if (!ts || !parent) throw new ApiError('thread_not_found');
    const root = parent.threadTs ?? parent.ts;
    const messages = (this.messagesByChannel.get(channel.id) ?? [])
      .filter((m) => !m.deleted && (m.ts === root || m.threadTs === root))
      .map((m) => this.messageWire(m));
    return { messages, has_more: false, response_metadata: { next_cursor: '' } };
  }

  private usersInfo(params: Json): Json {
    const id = str(params['user']);
    const user = id === undefined ? undefined : this.users.get(id);
    if (!user) throw new ApiError('user_not_found');
    return { user: this.userWire(user, truthy(params['include_locale'])) };
  }

  private useTrigger(params: Json): TriggerState {
    const id = str(params['trigger_id']) ?? str(params['interactivity_pointer']);
    if (!id) throw invalidArguments(['missing required field: trigger_id [json-pointer:/trigger_id]']);
    const trigger = this.triggers.get(id);
    if (!trigger) throw new ApiError('invalid_trigger_id');
    if (trigger.used) throw new ApiError('exchanged_trigger_id');
    if (this.now() - trigger.createdAt > this.triggerTtlMs) throw new ApiError('expired_trigger_id');
    trigger.used = true;
    return trigger;
  }

  private viewArg(params: Json): Json {
    const view = params['view'];
    if (view === undefined) throw invalidArguments(['missing required field: view [json-pointer:/view]']);
    const errors = validateView(view);
    if (errors.length > 0 || !isObject(view)) throw invalidArguments(errors);
    if (JSON.stringify(view).length > 250_000) throw new ApiError('view_too_large');
    return view;
  }

  private checkExternalId(view: Json, teamId: string, exceptViewId?: string): string {
    const externalId = str(view['external_id']) ?? '';
    if (externalId !== '') {
      const clash = [...this.viewsById.values()].some((v) => v.teamId === teamId && v.externalId === externalId && v.id !== exceptViewId);
      if (clash) throw new ApiError('duplicate_external_id');
    }
    return externalId;
  }

  private viewsOpen(params: Json): Json {
    const trigger = this.useTrigger(params);
    const definition = this.viewArg(params);
    const externalId = this.checkExternalId(definition, trigger.teamId);
    // A new modal replaces whatever stack the user had open.
    for (const id of this.stacks.get(trigger.userId) ?? []) {
      const old = this.viewsById.get(id);
      if (old) old.open = false;
    }
    const view = this.createView(definition, trigger.userId, trigger.teamId, externalId, 'views.open', trigger.id, null, undefined);
    this.stacks.set(trigger.userId, [view.id]);
    this.changed();
    return { view: this.viewWire(view) };
  }

  private viewsPush(params: Json): Json {
    const trigger = this.useTrigger(params);
    const definition = this.viewArg(params);
    const stack = (this.stacks.get(trigger.userId) ?? []).filter((id) => this.viewsById.get(id)?.open);
    const top = stack[stack.length - 1];
    if (top === undefined) throw new ApiError('not_found');
    if (stack.length >= 3) throw new ApiError('push_limit_reached');
    const externalId = this.checkExternalId(definition, trigger.teamId);
    const root = this.viewsById.get(stack[0] ?? top);
    const view = this.createView(definition, trigger.userId, trigger.teamId, externalId, 'views.push', trigger.id, top, root?.id);
    this.stacks.set(trigger.userId, [...stack, view.id]);
    this.changed();
    return { view: this.viewWire(view) };
  }

  private viewsUpdate(params: Json): Json {
    const viewId = str(params['view_id']);
    const externalId = str(params['external_id']);
    if (!viewId && !externalId) throw invalidArguments(['either view_id or external_id is required']);
    const view = viewId ? this.viewsById.get(viewId) : [...this.viewsById.values()].find((v) => v.externalId === externalId);
    if (!view) throw new ApiError('not_found');
    const hash = str(params['hash']);
    if (hash !== undefined && hash !== '' && hash !== view.hash) throw new ApiError('hash_conflict');
    const definition = this.viewArg(params);
    const newExternal = this.checkExternalId(definition, view.teamId, view.id);
    this.updateView(view, definition, newExternal || view.externalId);
    return { view: this.viewWire(view) };
  }

  private viewsPublish(params: Json): Json {
    const userId = str(params['user_id']);
    if (!userId || !this.users.has(userId)) throw new ApiError('user_not_found');
    const definition = this.viewArg(params);
    if (definition['type'] !== 'home') throw invalidArguments(['invalid view type for views.publish [json-pointer:/view/type]']);
    const existing = [...this.viewsById.values()].find((v) => v.userId === userId && v.definition['type'] === 'home');
    if (existing) {
      const hash = str(params['hash']);
      if (hash !== undefined && hash !== '' && hash !== existing.hash) throw new ApiError('hash_conflict');
      this.updateView(existing, definition, existing.externalId);
      return { view: this.viewWire(existing) };
    }
    const team = this.users.get(userId)?.teamId ?? this.defaultTeam.id;
    const view = this.createView(definition, userId, team, str(definition['external_id']) ?? '', 'views.publish', undefined, null, undefined);
    this.changed();
    return { view: this.viewWire(view) };
  }

  private createView(
    definition: Json,
    userId: string,
    teamId: string,
    externalId: string,
    openedVia: ViewOpenedVia,
    triggerId: string | undefined,
    previousViewId: string | null,
    rootViewId: string | undefined,
  ): StoredView {
    const id = randomId('V');
    const view: StoredView = {
      id,
      userId,
      teamId,
      definition: structuredClone(definition),
      blocks: normalizeBlocks(objects(definition['blocks'])),
      hash: this.viewHash(),
      rootViewId: rootViewId ?? id,
      previousViewId,
      externalId,
      open: true,
      openedVia,
      triggerId,
      errors: undefined,
      updates: 0,
    };
    this.viewsById.set(id, view);
    return view;
  }

  private updateView(view: StoredView, definition: Json, externalId: string): void {
    view.definition = structuredClone(definition);
    view.blocks = normalizeBlocks(objects(definition['blocks']));
    view.hash = this.viewHash();
    view.externalId = externalId;
    view.errors = undefined;
    view.updates++;
    this.changed();
  }

  private viewHash(): string {
    return `${Math.floor(this.now() / 1000)}.${randomBytes(4).toString('hex')}`;
  }

  private filesGetUploadUrl(params: Json): Json {
    const filename = str(params['filename']);
    if (!filename) throw invalidArguments(['missing required field: filename']);
    const length = Number(str(params['length']));
    if (!Number.isInteger(length) || length <= 0) throw new ApiError('missing_argument');
    const fileId = randomId('F');
    const ticket = `${fileId}?${randomBytes(12).toString('hex')}`.replace('?', '-');
    const uploadUrl = `${this.baseUrl}/upload/v1/${ticket}`;
    const upload: PendingUpload = {
      fileId,
      ticket,
      filename,
      declaredLength: length,
      altText: str(params['alt_txt']) ?? str(params['alt_text']),
      uploadUrl,
      userId: this.botUserId,
      bytes: undefined,
      uploadContentType: undefined,
      uploadField: undefined,
      uploadAuthorization: undefined,
      completed: false,
      title: undefined,
      channelId: undefined,
      threadTs: undefined,
      initialComment: undefined,
      blocks: undefined,
      file: undefined,
      messageTs: undefined,
    };
    this.uploadsById.set(fileId, upload);
    this.uploadsByTicket.set(ticket, upload);
    return { upload_url: uploadUrl, file_id: fileId };
  }

  private filesComplete(params: Json): Json {
    const files = params['files'];
    if (!Array.isArray(files) || files.length === 0) throw invalidArguments(['missing required field: files']);
    const entries = objects(files);
    const uploads = entries.map((entry) => {
      const upload = this.uploadsById.get(str(entry['id']) ?? '');
      if (!upload || upload.bytes === undefined || upload.completed) throw new ApiError('file_not_found');
      return { upload, title: str(entry['title']) };
    });
    const channelArg = str(params['channel_id']) ?? str(params['channels']);
    const channel = channelArg ? this.apiChannel(channelArg) : undefined;
    if (channel) this.requireWritable(channel);
    const blocks = params['blocks'];
    if (blocks !== undefined) {
      const errors = validateBlocks(blocks, 'message', '/blocks');
      if (errors.length > 0) throw new ApiError('invalid_blocks', { errors });
    }
    const threadTs = str(params['thread_ts']) || undefined;
    const initialComment = str(params['initial_comment']);
    const stored = uploads.map(({ upload, title }) => {
      const bytes = upload.bytes ?? Buffer.alloc(0);
      const file = this.storeFile({
        id: upload.fileId,
        name: upload.filename,
        title: title ?? upload.filename,
        mimetype: guessMimetype(upload.filename),
        bytes,
        user: this.botUserId,
        altText: upload.altText,
      });
      upload.completed = true;
      upload.title = title;
      upload.file = file;
      upload.channelId = channel?.id;
      upload.threadTs = threadTs;
      upload.initialComment = initialComment;
      upload.blocks = Array.isArray(blocks) ? objects(blocks) : undefined;
      return file;
    });
    if (channel) {
      const message = this.postMessage({
        channel: channel.id,
        user: this.botUserId,
        botId: this.botId,
        text: initialComment ?? '',
        blocks: Array.isArray(blocks) ? objects(blocks) : [],
        attachments: [],
        threadTs,
        replyBroadcast: false,
        metadata: undefined,
        source: 'files.completeUploadExternal',
        files: stored,
      });
      for (const { upload } of uploads) upload.messageTs = message.ts;
    }
    this.changed();
    return { files: stored.map((f) => ({ ...f.raw })) };
  }

  private filesInfo(params: Json): Json {
    const id = str(params['file']) ?? '';
    if (this.deletedFilesById.has(id)) throw new ApiError('file_deleted');
    const file = this.filesById.get(id);
    if (!file) throw new ApiError('file_not_found');
    return { file: { ...file.raw }, comments: [], response_metadata: { next_cursor: '' } };
  }

  /** Deletes a file for good: a bot token may delete only the files the bot uploaded. */
  private filesDelete(params: Json): Json {
    const id = str(params['file']) ?? '';
    if (!id) throw invalidArguments(['missing required field: file']);
    if (this.deletedFilesById.has(id)) throw new ApiError('file_deleted');
    const file = this.filesById.get(id);
    if (!file) throw new ApiError('file_not_found');
    if (file.user !== this.botUserId) throw new ApiError('cant_delete_file');
    this.filesById.delete(id);
    this.deletedFilesById.set(id, file);
    this.changed();
    return {};
  }

  private usergroupsList(params: Json): Json {
    const includeUsers = truthy(params['include_users']);
    return {
      usergroups: [...this.usergroups.values()].map((g) => ({
        id: g.id,
        team_id: g.teamId,
        is_usergroup: true,
        name: g.name,
        handle: g.handle,
        user_count: g.users.length,
        ...(includeUsers ? { users: [...g.users] } : {}),
      })),
    };
  }

  private usergroupsUsersList(params: Json): Json {
    const group = this.usergroups.get(str(params['usergroup']) ?? '');
    if (!group) throw new ApiError('no_such_subteam');
    return { users: [...group.users] };
  }

  private appsConnectionsOpen(): Json {
    const ticket = randomUUID();
    this.socketTickets.add(ticket);
    return { url: `ws://127.0.0.1:${this.port}/link/?ticket=${ticket}&app_id=${this.appId}` };
  }

  // ----- message state -------------------------------------------------------------------------

  private findMessage(channelId: string, ts: string): StoredMessage | undefined {
    const id = this.getChannel(channelId)?.id ?? channelId;
    return this.messagesByChannel.get(id)?.find((m) => m.ts === ts);
  }

  private postMessage(spec: {
    channel: string;
    user: string;
    botId: string | undefined;
    text: string | undefined;
    blocks: Json[];
    attachments: Json[];
    threadTs: string | undefined;
    replyBroadcast: boolean;
    metadata: Json | undefined;
    source: MessageSource;
    files?: FakeFile[];
    subtype?: string;
    ts?: string;
  }): StoredMessage {
    const list = this.messagesByChannel.get(spec.channel) ?? [];
    this.messagesByChannel.set(spec.channel, list);
    let threadTs = spec.threadTs;
    if (threadTs !== undefined) {
      // A reply to a reply joins the parent's thread.
      const parent = list.find((m) => m.ts === threadTs);
      if (parent?.threadTs !== undefined) threadTs = parent.threadTs;
      if (parent && parent.threadTs === undefined) parent.threadTs = parent.ts;
    }
    const message: StoredMessage = {
      channel: spec.channel,
      ts: spec.ts ?? this.nextTs(),
      threadTs,
      user: spec.user,
      botId: spec.botId,
      subtype: spec.subtype,
      text: spec.text ?? (spec.blocks.length > 0 ? "This content can't be displayed." : ''),
      blocks: normalizeBlocks(spec.blocks),
      attachments: structuredClone(spec.attachments),
      files: spec.files ?? [],
      metadata: spec.metadata,
      replyBroadcast: spec.replyBroadcast,
      source: spec.source,
      edited: undefined,
      deleted: false,
      revisions: [],
      postedAt: this.now(),
      clientMsgId: spec.botId === undefined ? randomUUID() : undefined,
    };
    list.push(message);
    this.changed();
    return message;
  }

  private applyEdit(message: StoredMessage, update: { text: string | undefined; blocks: Json[] | undefined; attachments: Json[] | undefined }): void {
    message.revisions.push({ text: message.text, blocks: message.blocks, attachments: message.attachments, at: this.now() });
    if (update.blocks !== undefined) message.blocks = normalizeBlocks(update.blocks);
    if (update.attachments !== undefined) message.attachments = structuredClone(update.attachments);
    if (update.text !== undefined) message.text = update.text;
    else if (update.blocks !== undefined && update.blocks.length > 0) message.text = "This content can't be displayed.";
    message.edited = { user: this.botUserId, ts: this.nextTs() };
    this.changed();
  }

  private postEphemeral(spec: {
    channel: string;
    user: string;
    text: string | undefined;
    blocks: Json[];
    attachments: Json[];
    threadTs: string | undefined;
    source: EphemeralSource;
  }): StoredEphemeral {
    const ephemeral: StoredEphemeral = {
      channel: spec.channel,
      user: spec.user,
      ts: this.nextTs(),
      threadTs: spec.threadTs,
      text: spec.text ?? (spec.blocks.length > 0 ? "This content can't be displayed." : ''),
      blocks: normalizeBlocks(spec.blocks),
      attachments: structuredClone(spec.attachments),
      source: spec.source,
      deleted: false,
      revisions: [],
      postedAt: this.now(),
    };
    this.ephemeralList.push(ephemeral);
    this.changed();
    return ephemeral;
  }

  private snapshot(m: StoredMessage): SlackMessage {
    const replyCount = m.threadTs === m.ts ? (this.messagesByChannel.get(m.channel) ?? []).filter((r) => r.threadTs === m.ts && r.ts !== m.ts && !r.deleted).length : 0;
    return {
      ephemeral: false,
      channel: m.channel,
      ts: m.ts,
      threadTs: m.threadTs,
      user: m.user,
      botId: m.botId,
      subtype: m.subtype,
      text: m.text,
      blocks: structuredClone(m.blocks),
      attachments: structuredClone(m.attachments),
      // A deleted file no longer shows in the message that shared it.
      files: m.files.filter((f) => !this.deletedFilesById.has(f.id)),
      metadata: m.metadata === undefined ? undefined : structuredClone(m.metadata),
      replyBroadcast: m.replyBroadcast,
      source: m.source,
      edited: m.edited !== undefined,
      deleted: m.deleted,
      replyCount,
      revisions: [...m.revisions],
      postedAt: m.postedAt,
      raw: this.messageWire(m),
    };
  }

  private ephemeralSnapshot(e: StoredEphemeral): EphemeralMessage {
    return {
      ephemeral: true,
      channel: e.channel,
      user: e.user,
      ts: e.ts,
      threadTs: e.threadTs,
      text: e.text,
      blocks: structuredClone(e.blocks),
      attachments: structuredClone(e.attachments),
      source: e.source,
      deleted: e.deleted,
      revisions: [...e.revisions],
      postedAt: e.postedAt,
      raw: {
        type: 'message',
        subtype: 'bot_message',
        text: e.text,
        ts: e.ts,
        ...(e.blocks.length > 0 ? { blocks: structuredClone(e.blocks) } : {}),
        ...(e.attachments.length > 0 ? { attachments: structuredClone(e.attachments) } : {}),
        ...(e.threadTs !== undefined ? { thread_ts: e.threadTs } : {}),
        bot_id: this.botId,
        app_id: this.appId,
      },
    };
  }

  private messageWire(m: StoredMessage): Json {
    const team = this.teamOf(this.getChannel(m.channel)?.teamId ?? this.defaultTeam.id).id;
    const replies = m.threadTs === m.ts ? (this.messagesByChannel.get(m.channel) ?? []).filter((r) => r.threadTs === m.ts && r.ts !== m.ts && !r.deleted) : [];
    const parent = m.threadTs !== undefined && m.threadTs !== m.ts ? this.messagesByChannel.get(m.channel)?.find((p) => p.ts === m.threadTs) : undefined;
    return {
      ...(m.botId !== undefined
        ? {
            bot_id: m.botId,
            app_id: this.appId,
            bot_profile: {
              id: m.botId,
              app_id: this.appId,
              name: this.botUser.realName,
              icons: { image_36: `${this.baseUrl}/icons/bot_36.png`, image_48: `${this.baseUrl}/icons/bot_48.png`, image_72: `${this.baseUrl}/icons/bot_72.png` },
              deleted: false,
              updated: Math.floor(m.postedAt / 1000),
              team_id: team,
            },
          }
        : { client_msg_id: m.clientMsgId }),
      type: 'message',
      ...(m.subtype !== undefined ? { subtype: m.subtype } : {}),
      text: m.text,
      user: m.user,
      ts: m.ts,
      team,
      ...(m.blocks.length > 0 ? { blocks: structuredClone(m.blocks) } : {}),
      ...(m.attachments.length > 0 ? { attachments: structuredClone(m.attachments) } : {}),
      ...(m.files.length > 0
        ? { files: m.files.map((f) => (this.deletedFilesById.has(f.id) ? { id: f.id, mode: 'tombstone' } : { ...f.raw })), upload: true, display_as_bot: false }
        : {}),
      ...(m.metadata !== undefined ? { metadata: structuredClone(m.metadata) } : {}),
      ...(m.edited !== undefined ? { edited: { ...m.edited } } : {}),
      ...(m.threadTs !== undefined ? { thread_ts: m.threadTs } : {}),
      ...(parent !== undefined ? { parent_user_id: parent.user } : {}),
      ...(m.threadTs === m.ts
        ? {
            reply_count: replies.length,
            reply_users_count: new Set(replies.map((r) => r.user)).size,
            latest_reply: replies[replies.length - 1]?.ts ?? m.ts,
            reply_users: [...new Set(replies.map((r) => r.user))],
            is_locked: false,
            subscribed: false,
          }
        : {}),
      ...(m.replyBroadcast ? { subtype: 'thread_broadcast' } : {}),
    };
  }

  private channelWire(c: FakeChannel): Json {
    const created = Math.floor(this.now() / 1000);
    if (c.isIm) {
      return { id: c.id, created, is_im: true, is_org_shared: false, user: c.user, is_user_deleted: false, priority: 0, context_team_id: c.teamId };
    }
    return {
      id: c.id,
      name: c.name,
      is_channel: !c.isPrivate && !c.isMpim,
      is_group: c.isPrivate && !c.isMpim,
      is_im: false,
      is_mpim: c.isMpim,
      is_private: c.isPrivate,
      created,
      is_archived: c.archived,
      is_general: c.name === 'general',
      unlinked: 0,
      name_normalized: c.name,
      is_shared: false,
      is_org_shared: false,
      is_pending_ext_shared: false,
      pending_shared: [],
      context_team_id: c.teamId,
      updated: created * 1000,
      parent_conversation: null,
      creator: this.defaultUser().id,
      is_ext_shared: false,
      shared_team_ids: [c.teamId],
      pending_connected_team_ids: [],
      is_member: c.botIsMember,
      topic: { value: '', creator: '', last_set: 0 },
      purpose: { value: '', creator: '', last_set: 0 },
      previous_names: [],
      ...(c.members !== undefined ? { num_members: c.members.length } : {}),
    };
  }

  private userWire(u: FakeUser, includeLocale = false): Json {
    const image = (size: number): string => `${this.baseUrl}/avatars/${u.id}_${size}.png`;
    return {
      id: u.id,
      team_id: u.teamId,
      name: u.name,
      deleted: u.deleted,
      color: '9f69e7',
      real_name: u.realName,
      tz: u.tz,
      tz_label: 'Central European Time',
      tz_offset: 3600,
      profile: {
        title: '',
        phone: '',
        skype: '',
        real_name: u.realName,
        real_name_normalized: u.realName,
        display_name: u.name,
        display_name_normalized: u.name,
        fields: null,
        status_text: '',
        status_emoji: '',
        status_expiration: 0,
        avatar_hash: 'g0000000000',
        first_name: u.realName.split(' ')[0] ?? u.realName,
        last_name: u.realName.split(' ').slice(1).join(' '),
        image_24: image(24),
        image_32: image(32),
        image_48: image(48),
        image_72: image(72),
        image_192: image(192),
        image_512: image(512),
        team: u.teamId,
        ...(u.isBot ? { bot_id: this.botId, api_app_id: this.appId, always_active: true } : {}),
      },
      is_admin: u.isAdmin,
      is_owner: false,
      is_primary_owner: false,
      is_restricted: false,
      is_ultra_restricted: false,
      is_bot: u.isBot,
      is_app_user: false,
      updated: Math.floor(this.now() / 1000),
      is_email_confirmed: !u.isBot,
      who_can_share_contact_card: 'EVERYONE',
      ...(includeLocale ? { locale: u.locale } : {}),
    };
  }

  private viewWire(v: StoredView, stateValues: Json = {}): Json {
    const d = v.definition;
    return {
      id: v.id,
      team_id: v.teamId,
      type: d['type'],
      blocks: structuredClone(v.blocks),
      private_metadata: str(d['private_metadata']) ?? '',
      callback_id: str(d['callback_id']) ?? '',
      state: { values: stateValues },
      hash: v.hash,
      title: d['title'] ?? null,
      clear_on_close: d['clear_on_close'] === true,
      notify_on_close: d['notify_on_close'] === true,
      close: d['close'] ?? null,
      submit: d['submit'] ?? null,
      previous_view_id: v.previousViewId,
      root_view_id: v.rootViewId,
      app_id: this.appId,
      external_id: v.externalId,
      app_installed_team_id: v.teamId,
      bot_id: this.botId,
    };
  }

  private viewSnapshot(v: StoredView): FakeView {
    const title = v.definition['title'];
    return {
      id: v.id,
      userId: v.userId,
      teamId: v.teamId,
      type: str(v.definition['type']) ?? '',
      callbackId: str(v.definition['callback_id']) ?? '',
      privateMetadata: str(v.definition['private_metadata']) ?? '',
      externalId: v.externalId,
      title: isObject(title) ? (str(title['text']) ?? '') : '',
      blocks: structuredClone(v.blocks),
      hash: v.hash,
      rootViewId: v.rootViewId,
      previousViewId: v.previousViewId,
      open: v.open,
      openedVia: v.openedVia,
      triggerId: v.triggerId,
      errors: v.errors === undefined ? undefined : { ...v.errors },
      updates: v.updates,
      raw: this.viewWire(v),
    };
  }

  // ----- uploads and downloads -----------------------------------------------------------------

  private async handleUpload(ticket: string, headers: Record<string, string>, body: Buffer, res: ServerResponse): Promise<void> {
    const upload = this.uploadsByTicket.get(ticket);
    if (!upload || upload.completed) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not Found');
      return;
    }
    const contentType = headers['content-type'] ?? '';
    let bytes = body;
    let field: string | undefined;
    if (contentType.toLowerCase().startsWith('multipart/form-data')) {
      for (const [key, value] of await formEntries(body, contentType)) {
        if (typeof value !== 'string') {
          bytes = Buffer.from(await value.arrayBuffer());
          field = key;
          break;
        }
      }
    }
    upload.bytes = bytes;
    upload.uploadContentType = contentType || undefined;
    upload.uploadField = field;
    upload.uploadAuthorization = headers['authorization'];
    this.changed();
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`OK - ${bytes.length}`);
  }

  private handleFileDownload(fileId: string, path: string, method: string, headers: Record<string, string>, res: ServerResponse): void {
    const authorization = headers['authorization'];
    const token = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim();
    const file = this.filesById.get(fileId);
    const authorized = token === this.botToken && !this.revokedTokens.has(token) && this.botScopes.has('files:read');
    let status: number;
    if (!authorized) {
      // Slack answers unauthenticated file requests with its sign-in page, status 200.
      status = 200;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(method === 'HEAD' ? undefined : LOGIN_PAGE);
    } else if (!file) {
      status = 404;
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
      res.end(method === 'HEAD' ? undefined : '<html><body>File not found</body></html>');
    } else {
      status = 200;
      const download = path.includes('/download/');
      res.writeHead(200, {
        'content-type': file.mimetype,
        'content-length': String(file.bytes.length),
        ...(download ? { 'content-disposition': `attachment; filename="${file.name}"` } : {}),
      });
      res.end(method === 'HEAD' ? undefined : file.bytes);
    }
    this.downloadRecords.push({ at: this.now(), fileId, path, method, authorization, authorized, status });
    this.changed();
  }

  // ----- response_url ---------------------------------------------------------------------------

  private newResponseUrl(kind: ResponseUrlState['kind'], userId: string, teamId: string, channelId: string | undefined, target: MessageRef | undefined, threadTs: string | undefined): string {
    const segment = kind === 'command' ? 'commands' : 'actions';
    const url = `${this.baseUrl}/${segment}/${teamId}/${String(randomBytes(6).readUIntBE(0, 6))}/${randomBytes(12).toString('base64url')}`;
    this.responseUrls.set(url, { url, kind, createdAt: this.now(), uses: 0, userId, channelId, threadTs, target });
    return url;
  }

  private handleResponseUrl(url: string, headers: Record<string, string>, body: Buffer, res: ServerResponse): void {
    const state = this.responseUrls.get(url);
    const parsed = ((): Json | undefined => {
      try {
        const value: unknown = JSON.parse(body.toString('utf8'));
        return isObject(value) ? value : undefined;
      } catch {
        return undefined;
      }
    })();
    const record = (status: number, error: string | undefined, use: number): void => {
      this.responseRecords.push({
        at: this.now(),
        url,
        kind: state?.kind ?? 'command',
        status,
        error,
        body: parsed,
        responseType: parsed?.['response_type'] === 'in_channel' ? 'in_channel' : 'ephemeral',
        replaceOriginal: truthy(parsed?.['replace_original']),
        deleteOriginal: truthy(parsed?.['delete_original']),
        use,
        ageMs: state ? this.now() - state.createdAt : 0,
      });
      this.changed();
      this.sendJson(res, status, error === undefined ? { ok: true } : { ok: false, error });
    };
    if (!state) return record(404, 'invalid_url', 0);
    if (this.now() - state.createdAt > this.responseUrlTtlMs) return record(404, 'expired_url', 0);
    if (state.uses >= this.responseUrlMaxUses) return record(404, 'used_url', 0);
    if (!parsed) return record(400, 'invalid_payload', 0);
    void headers;
    try {
      this.applyResponse(state, parsed, 'response_url');
    } catch (error) {
      if (error instanceof ApiError) return record(400, error.error, 0);
      throw error;
    }
    state.uses++;
    record(200, undefined, state.uses);
  }

  /** Applies a response_url POST or a slash-command ack body. */
  private applyResponse(state: ResponseUrlState, body: Json, source: 'response_url' | 'ack'): void {
    const target = state.target;
    if (truthy(body['delete_original'])) {
      if (target?.kind === 'message') {
        const message = this.findMessage(target.channel, target.ts);
        if (message) message.deleted = true;
      } else if (target?.kind === 'ephemeral') {
        const ephemeral = this.ephemeralList.find((e) => e.ts === target.ts);
        if (ephemeral) ephemeral.deleted = true;
      }
      this.changed();
      return;
    }
    const { text, blocks, attachments } = this.content(body, !truthy(body['replace_original']));
    if (truthy(body['replace_original']) && target) {
      if (target.kind === 'message') {
        const message = this.findMessage(target.channel, target.ts);
        if (message && !message.deleted) this.applyEdit(message, { text, blocks, attachments });
      } else {
        const ephemeral = this.ephemeralList.find((e) => e.ts === target.ts);
        if (ephemeral) {
          ephemeral.revisions.push({ text: ephemeral.text, blocks: ephemeral.blocks, attachments: ephemeral.attachments, at: this.now() });
          if (text !== undefined) ephemeral.text = text;
          if (blocks !== undefined) ephemeral.blocks = normalizeBlocks(blocks);
          if (attachments !== undefined) ephemeral.attachments = structuredClone(attachments);
          this.changed();
        }
      }
      return;
    }
    if (!state.channelId) return;
    const threadTs = str(body['thread_ts']) ?? state.threadTs;
    if (body['response_type'] === 'in_channel') {
      const message = this.postMessage({
        channel: state.channelId,
        user: this.botUserId,
        botId: this.botId,
        text,
        blocks: blocks ?? [],
        attachments: attachments ?? [],
        threadTs,
        replyBroadcast: false,
        metadata: undefined,
        source,
      });
      if (state.kind === 'command') state.target = { kind: 'message', channel: message.channel, ts: message.ts };
    } else {
      const ephemeral = this.postEphemeral({
        channel: state.channelId,
        user: state.userId,
        text,
        blocks: blocks ?? [],
        attachments: attachments ?? [],
        threadTs,
        source,
      });
      if (state.kind === 'command') state.target = { kind: 'ephemeral', ts: ephemeral.ts };
    }
  }

  // ----- Socket Mode ----------------------------------------------------------------------------

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const ticket = url.searchParams.get('ticket') ?? '';
    if (url.pathname !== '/link/' || !this.socketTickets.has(ticket)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    this.socketTickets.delete(ticket);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const state: SocketState = { id: ++this.socketSeq, ticket, socket: ws, connectedAt: this.now(), closedAt: undefined };
      this.sockets.push(state);
      ws.on('message', (data: RawData, isBinary: boolean) => this.onSocketMessage(state, data, isBinary));
      ws.on('close', () => {
        state.closedAt = this.now();
        this.changed();
      });
      ws.on('error', () => undefined);
      const live = this.sockets.filter((s) => s.socket.readyState === WebSocket.OPEN).length;
      ws.send(
        JSON.stringify({
          type: 'hello',
          num_connections: live,
          debug_info: { host: 'applink-fake', build_number: 1, approximate_connection_time: 18060 },
          connection_info: { app_id: this.appId },
        }),
      );
      this.changed();
    });
  }

  private onSocketMessage(state: SocketState, data: RawData, isBinary: boolean): void {
    if (isBinary) return;
    let message: unknown;
    try {
      message = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8'));
    } catch {
      return;
    }
    if (!isObject(message) || typeof message['envelope_id'] !== 'string') return;
    const envelopeId = message['envelope_id'];
    const pending = this.pendingAcks.get(envelopeId);
    const ack: SocketAck = {
      envelopeId,
      type: pending?.type ?? 'unknown',
      payload: isObject(message['payload']) ? message['payload'] : undefined,
      ms: pending ? performance.now() - pending.sentAt : 0,
      at: this.now(),
      connectionId: state.id,
    };
    this.ackRecords.push(ack);
    if (pending) {
      this.pendingAcks.delete(envelopeId);
      pending.resolve(ack);
    }
    this.changed();
  }

  /** Waits until a Socket Mode connection is open (after `app.start()` it already is). */
  waitForSocket(timeoutMs = 5000): Promise<SocketConnection> {
    return this.waitFor(() => this.socketConnections().filter((s) => s.open).pop(), timeoutMs, 'a Socket Mode connection');
  }

  /** Sends `{type:"disconnect", reason}` to every open connection (the client reconnects). */
  disconnectSockets(reason = 'refresh_requested'): void {
    for (const s of this.sockets) {
      if (s.socket.readyState === WebSocket.OPEN) s.socket.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'applink-fake' } }));
    }
  }

  // ----- inbound deliveries ---------------------------------------------------------------------

  /** Sends a slash command (form-encoded over HTTP, `slash_commands` envelope over a socket). */
  async slashCommand(options: SlashCommandOptions): Promise<InboundResult> {
    const user = this.resolveUser(options.user);
    const channel = this.resolveChannel(options.channel);
    const team = this.teamOf(user.teamId);
    const triggerId = this.issueTrigger(user);
    const responseUrl = this.newResponseUrl('command', user.id, team.id, channel.id, undefined, undefined);
    const fields: Record<string, string> = {
      token: this.verificationToken,
      team_id: team.id,
      team_domain: team.domain,
      channel_id: channel.id,
      channel_name: channel.isIm ? 'directmessage' : channel.name,
      user_id: user.id,
      user_name: user.name,
      command: options.command,
      text: options.text ?? '',
      api_app_id: this.appId,
      is_enterprise_install: 'false',
      response_url: responseUrl,
      trigger_id: triggerId,
    };
    const delivered = await this.deliver(
      options,
      { contentType: 'application/x-www-form-urlencoded', body: new URLSearchParams(fields).toString() },
      { type: 'slash_commands', payload: fields, acceptsResponsePayload: true },
    );
    const result = this.result('slash_command', delivered, fields, options, { triggerId, responseUrl });
    if (!result.late && result.acked) {
      const ackBody = this.ackBody(result);
      const state = this.responseUrls.get(responseUrl);
      if (ackBody !== undefined && state) {
        try {
          this.applyResponse(state, ackBody, 'ack');
        } catch {
          // An invalid ack body shows nothing (Slack reports an error to the user).
        }
      }
    }
    return result;
  }

  /** Sends a block_actions payload (a button click by default). */
  async blockAction(options: BlockActionOptions): Promise<InboundResult> {
    const viewState = options.view === undefined ? undefined : this.viewsById.get(typeof options.view === 'string' ? options.view : options.view.id);
    if (options.view !== undefined && !viewState) throw new Error('fake slack: unknown view');
    let blocks: Json[] = [];
    let source: { kind: 'message'; stored: StoredMessage } | { kind: 'ephemeral'; stored: StoredEphemeral } | undefined;
    if (options.message) {
      const ref = options.message;
      const ephemeral = 'ephemeral' in ref && ref.ephemeral ? this.ephemeralList.find((e) => e.ts === ref.ts) : undefined;
      const stored = ephemeral ? undefined : this.findMessage(ref.channel, ref.ts);
      if (ephemeral) source = { kind: 'ephemeral', stored: ephemeral };
      else if (stored) source = { kind: 'message', stored };
      else throw new Error(`fake slack: unknown message ${ref.channel}/${ref.ts}`);
      blocks = source.stored.blocks;
    } else if (viewState) {
      blocks = viewState.blocks;
    } else {
      throw new Error('fake slack: blockAction needs a message or a view');
    }
    const found = findElement(blocks, options.actionId, options.blockId);
    const element = found?.element;
    const defaultUser =
      source?.kind === 'ephemeral' ? source.stored.user : viewState ? viewState.userId : source ? this.getChannel(source.stored.channel)?.user : undefined;
    const user = this.resolveUser(options.user ?? defaultUser);
    const team = this.teamOf(user.teamId);
    const triggerId = this.issueTrigger(user, viewState?.id);
    const type = options.type ?? str(element?.['type']) ?? 'button';
    const action: Json = {
      action_id: options.actionId,
      block_id: options.blockId ?? str(found?.block['block_id']) ?? shortId(),
      ...(isObject(element?.['text']) ? { text: structuredClone(element['text']) } : type === 'button' ? { text: { type: 'plain_text', text: options.actionId, emoji: true } } : {}),
      ...(options.value !== undefined ? { value: options.value } : typeof element?.['value'] === 'string' ? { value: element['value'] } : {}),
      ...(typeof element?.['style'] === 'string' ? { style: element['style'] } : {}),
      type,
      action_ts: `${(this.now() / 1000).toFixed(6)}`,
      ...(options.action ?? {}),
    };
    let responseUrl: string | undefined;
    let channelPart: Json = {};
    let container: Json;
    if (source) {
      const channel = this.getChannel(source.stored.channel);
      const target: MessageRef = source.kind === 'message' ? { kind: 'message', channel: source.stored.channel, ts: source.stored.ts } : { kind: 'ephemeral', ts: source.stored.ts };
      responseUrl = this.newResponseUrl('action', user.id, team.id, source.stored.channel, target, source.stored.threadTs);
      container = {
        type: 'message',
        message_ts: source.stored.ts,
        channel_id: source.stored.channel,
        is_ephemeral: source.kind === 'ephemeral',
        ...(source.stored.threadTs !== undefined ? { thread_ts: source.stored.threadTs } : {}),
      };
      channelPart = {
        channel: { id: source.stored.channel, name: channel?.isIm ? 'directmessage' : (channel?.name ?? '') },
        ...(source.kind === 'message' ? { message: this.messageWire(source.stored) } : {}),
        response_url: responseUrl,
      };
    } else {
      container = { type: 'view', view_id: viewState?.id };
    }
    const payload: Json = {
      type: 'block_actions',
      user: { id: user.id, username: user.name, name: user.name, team_id: team.id },
      api_app_id: this.appId,
      token: this.verificationToken,
      container,
      trigger_id: triggerId,
      team: { id: team.id, domain: team.domain },
      enterprise: null,
      is_enterprise_install: false,
      ...channelPart,
      ...(viewState ? { view: this.viewWire(viewState, options.stateValues ?? {}) } : {}),
      state: { values: options.stateValues ?? {} },
      actions: [action],
    };
    const delivered = await this.deliver(options, this.interactiveBody(payload), { type: 'interactive', payload, acceptsResponsePayload: false });
    return this.result('block_actions', delivered, payload, options, { triggerId, responseUrl });
  }

  /** Submits an open modal (view_submission) with input values; applies the ack's response_action. */
  async submitView(options: ViewSubmissionOptions): Promise<InboundResult> {
    const view = this.viewsById.get(typeof options.view === 'string' ? options.view : options.view.id);
    if (!view) throw new Error('fake slack: unknown view');
    if (!view.open) throw new Error(`fake slack: view ${view.id} is not open`);
    const user = this.resolveUser(options.user ?? view.userId);
    const team = this.teamOf(user.teamId);
    const values: Json = {};
    for (const block of view.blocks) {
      if (block['type'] !== 'input' || !isObject(block['element'])) continue;
      const blockId = str(block['block_id']) ?? '';
      const element = block['element'];
      const actionId = str(element['action_id']) ?? '';
      const given = options.values?.[blockId]?.[actionId];
      values[blockId] = { [actionId]: stateValue(element, given) };
    }
    for (const [blockId, actions] of Object.entries(options.values ?? {})) {
      for (const [actionId, value] of Object.entries(actions)) {
        const existing = values[blockId];
        if (isObject(existing) && actionId in existing) continue;
        const element = findElement(view.blocks, actionId, blockId)?.element;
        values[blockId] = { ...(isObject(existing) ? existing : {}), [actionId]: stateValue(element, value) };
      }
    }
    const triggerId = this.issueTrigger(user, view.id);
    const payload: Json = {
      type: 'view_submission',
      team: { id: team.id, domain: team.domain },
      user: { id: user.id, username: user.name, name: user.name, team_id: team.id },
      api_app_id: this.appId,
      token: this.verificationToken,
      trigger_id: triggerId,
      view: this.viewWire(view, values),
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    };
    const delivered = await this.deliver(options, this.interactiveBody(payload), { type: 'interactive', payload, acceptsResponsePayload: true });
    const result = this.result('view_submission', delivered, payload, options, { triggerId, responseUrl: undefined });
    if (result.acked && !result.late) this.applyViewAck(view, this.ackBody(result));
    return result;
  }

  private applyViewAck(view: StoredView, body: Json | undefined): void {
    const action = body?.['response_action'];
    const stack = this.stacks.get(view.userId) ?? [];
    const close = (ids: string[]): void => {
      for (const id of ids) {
        const v = this.viewsById.get(id);
        if (v) v.open = false;
      }
      this.stacks.set(view.userId, stack.filter((id) => !ids.includes(id)));
    };
    const errors = body?.['errors'];
    const next = body?.['view'];
    const valid = isObject(next) && validateView(next).length === 0;
    if (action === 'errors') {
      view.errors = isObject(errors) ? Object.fromEntries(Object.entries(errors).map(([k, v]) => [k, String(v)])) : {};
    } else if (action === 'update' && valid) {
      this.updateView(view, next, view.externalId);
    } else if (action === 'push' && valid && stack.length < 3) {
      const pushed = this.createView(next, view.userId, view.teamId, '', 'response_action', undefined, view.id, view.rootViewId);
      this.stacks.set(view.userId, [...stack, pushed.id]);
    } else if (action === 'clear') {
      close([...stack, view.id]);
    } else {
      close([view.id]);
    }
    this.changed();
  }

  /** An app_mention event (the user's message is stored in the channel too). */
  async appMention(options: MessageEventOptions): Promise<InboundResult> {
    const user = this.resolveUser(options.user);
    const channel = this.resolveChannel(options.channel);
    const text = options.text.includes(`<@${this.botUserId}>`) ? options.text : `<@${this.botUserId}> ${options.text}`;
    const stored = this.storeUserMessage(channel, user, text, options.files, options.threadTs);
    const event: Json = {
      ...this.userMessageEvent(stored, channel, user),
      type: 'app_mention',
    };
    delete event['channel_type'];
    delete event['subtype'];
    return this.sendEvent(event, options);
  }

  /** A `message` event in the bot's DM with the user (message.im; `file_share` subtype with files). */
  async directMessage(options: Omit<MessageEventOptions, 'channel'>): Promise<InboundResult> {
    const user = this.resolveUser(options.user);
    const channel = this.dmChannel(user);
    const stored = this.storeUserMessage(channel, user, options.text, options.files, options.threadTs);
    return this.sendEvent(this.userMessageEvent(stored, channel, user), options);
  }

  /** A `message` event in a channel (message.channels / groups). */
  async channelMessage(options: MessageEventOptions): Promise<InboundResult> {
    const user = this.resolveUser(options.user);
    const channel = this.resolveChannel(options.channel);
    const stored = this.storeUserMessage(channel, user, options.text, options.files, options.threadTs);
    return this.sendEvent(this.userMessageEvent(stored, channel, user), options);
  }

  private storeUserMessage(channel: FakeChannel, user: FakeUser, text: string, files: FakeFile[] | undefined, threadTs: string | undefined): StoredMessage {
    const hasFiles = (files?.length ?? 0) > 0;
    return this.postMessage({
      channel: channel.id,
      user: user.id,
      botId: undefined,
      text,
      blocks: [
        {
          type: 'rich_text',
          block_id: shortId(),
          elements: [{ type: 'rich_text_section', elements: [{ type: 'text', text }] }],
        },
      ],
      attachments: [],
      threadTs,
      replyBroadcast: false,
      metadata: undefined,
      source: 'user',
      ...(hasFiles ? { files: files ?? [], subtype: 'file_share' } : {}),
    });
  }

  private userMessageEvent(m: StoredMessage, channel: FakeChannel, user: FakeUser): Json {
    return {
      user: user.id,
      type: 'message',
      ...(m.subtype !== undefined ? { subtype: m.subtype } : {}),
      ts: m.ts,
      client_msg_id: m.clientMsgId,
      text: m.text,
      team: user.teamId,
      ...(m.files.length > 0 ? { files: m.files.map((f) => ({ ...f.raw })), upload: false, display_as_bot: false } : {}),
      blocks: structuredClone(m.blocks),
      ...(m.threadTs !== undefined && m.threadTs !== m.ts ? { thread_ts: m.threadTs, parent_user_id: this.findMessage(channel.id, m.threadTs)?.user } : {}),
      channel: channel.id,
      event_ts: m.ts,
      channel_type: channel.isIm ? 'im' : channel.isMpim ? 'mpim' : channel.isPrivate ? 'group' : 'channel',
    };
  }

  /** Wraps an event in an `event_callback` and delivers it (`events_api` envelope over a socket). */
  async sendEvent(event: Json, options: DeliveryOptions & { team?: FakeTeam } = {}): Promise<InboundResult> {
    const team = options.team ?? this.defaultTeam;
    const eventId = randomId('Ev', 10);
    const body: Json = {
      token: this.verificationToken,
      team_id: team.id,
      context_team_id: team.id,
      context_enterprise_id: null,
      api_app_id: this.appId,
      event: { ...event, event_ts: event['event_ts'] ?? `${(this.now() / 1000).toFixed(6)}` },
      type: 'event_callback',
      event_id: eventId,
      event_time: Math.floor(this.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: team.id, user_id: this.botUserId, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
      event_context: `4-${Buffer.from(JSON.stringify({ et: event['type'], tid: team.id, aid: this.appId })).toString('base64url')}`,
    };
    const delivered = await this.deliver(
      options,
      { contentType: 'application/json', body: JSON.stringify(body) },
      { type: 'events_api', payload: body, acceptsResponsePayload: false },
    );
    return this.result('event_callback', delivered, body, options, { triggerId: undefined, responseUrl: undefined, eventId });
  }

  /** The `url_verification` handshake (HTTP only); Bolt answers {challenge}. */
  async urlVerification(options: DeliveryOptions & { challenge?: string } = {}): Promise<InboundResult> {
    const body: Json = { token: this.verificationToken, challenge: options.challenge ?? randomBytes(24).toString('base64url'), type: 'url_verification' };
    const delivered = await this.deliver({ ...options, via: 'http' }, { contentType: 'application/json', body: JSON.stringify(body) }, undefined);
    return this.result('url_verification', delivered, body, options, { triggerId: undefined, responseUrl: undefined });
  }

  /** Any interactive payload (shortcut, block_suggestion, view_closed…) as-is. */
  async interactive(payload: Json, options: DeliveryOptions & { acceptsResponsePayload?: boolean } = {}): Promise<InboundResult> {
    const delivered = await this.deliver(options, this.interactiveBody(payload), {
      type: 'interactive',
      payload,
      acceptsResponsePayload: options.acceptsResponsePayload ?? false,
    });
    return this.result('interactive', delivered, payload, options, {
      triggerId: str(payload['trigger_id']),
      responseUrl: str(payload['response_url']),
    });
  }

  private interactiveBody(payload: Json): { contentType: string; body: string } {
    return { contentType: 'application/x-www-form-urlencoded', body: new URLSearchParams({ payload: JSON.stringify(payload) }).toString() };
  }

  private ackBody(result: InboundResult): Json | undefined {
    if (result.via === 'socket') {
      return isObject(result.json) && Object.keys(result.json).length > 0 ? result.json : undefined;
    }
    if (isObject(result.json)) return result.json;
    if (result.body !== '') return { text: result.body };
    return undefined;
  }

  private result(
    kind: InboundKind,
    d: Delivered,
    payload: Json,
    options: DeliveryOptions,
    ids: { triggerId: string | undefined; responseUrl: string | undefined; eventId?: string },
  ): InboundResult {
    let json: unknown;
    if (d.envelopeId !== undefined) json = d.ackPayload;
    else if (d.body !== '') {
      try {
        json = JSON.parse(d.body);
      } catch {
        json = undefined;
      }
    }
    void options;
    const result: InboundResult = {
      kind,
      via: d.envelopeId !== undefined ? 'socket' : 'http',
      status: d.status,
      body: d.body,
      json,
      headers: d.headers,
      ackMs: d.ackMs,
      acked: d.acked,
      late: d.ackMs > this.ackDeadlineMs,
      error: d.error,
      payload,
      requestBody: d.requestBody,
      requestHeaders: d.requestHeaders,
      envelopeId: d.envelopeId,
      triggerId: ids.triggerId,
      responseUrl: ids.responseUrl,
      eventId: ids.eventId,
    };
    this.inboundRecords.push(result);
    this.changed();
    return result;
  }

  private async deliver(
    options: DeliveryOptions,
    http: { contentType: string; body: string },
    socket: { type: string; payload: Json; acceptsResponsePayload: boolean } | undefined,
  ): Promise<Delivered> {
    const via = options.via ?? (options.url !== undefined || this.requestUrl !== undefined || !socket ? 'http' : 'socket');
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (via === 'socket' && socket) return this.deliverSocket(socket, options, timeoutMs);
    const url = options.url ?? this.requestUrl;
    if (url === undefined) throw new Error('fake slack: no requestUrl (set fake.requestUrl or pass url / via: "socket")');
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000) - (options.stale ? 360 : 0);
    const secret = options.badSignature ? `wrong-${this.signingSecret}` : (options.signingSecret ?? this.signingSecret);
    const requestHeaders: Record<string, string> = {
      'content-type': http.contentType,
      'x-slack-request-timestamp': String(timestamp),
      'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
      accept: 'application/json,*/*',
      ...(options.omitSignature ? {} : { 'x-slack-signature': slackSignature(secret, timestamp, http.body) }),
      ...(options.retryNum !== undefined ? { 'x-slack-retry-num': String(options.retryNum), 'x-slack-retry-reason': options.retryReason ?? 'http_timeout' } : {}),
    };
    const started = performance.now();
    try {
      const response = await fetch(url, { method: 'POST', headers: requestHeaders, body: http.body, signal: AbortSignal.timeout(timeoutMs) });
      const body = await response.text();
      const headers: Record<string, string> = {};
      response.headers.forEach((value, key) => {
        headers[key] = value;
      });
      return {
        status: response.status,
        body,
        headers,
        ackMs: performance.now() - started,
        acked: response.status === 200,
        error: undefined,
        envelopeId: undefined,
        ackPayload: undefined,
        requestBody: http.body,
        requestHeaders,
      };
    } catch (error) {
      return {
        status: 0,
        body: '',
        headers: {},
        ackMs: performance.now() - started,
        acked: false,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        envelopeId: undefined,
        ackPayload: undefined,
        requestBody: http.body,
        requestHeaders,
      };
    }
  }

  private async deliverSocket(
    socket: { type: string; payload: Json; acceptsResponsePayload: boolean },
    options: DeliveryOptions,
    timeoutMs: number,
  ): Promise<Delivered> {
    const connection = this.sockets.filter((s) => s.socket.readyState === WebSocket.OPEN).pop();
    if (!connection) throw new Error('fake slack: no open Socket Mode connection');
    const envelopeId = randomUUID();
    const envelope: Json = {
      envelope_id: envelopeId,
      payload: socket.payload,
      type: socket.type,
      accepts_response_payload: socket.acceptsResponsePayload,
      ...(socket.type === 'events_api' ? { retry_attempt: options.retryNum ?? 0, retry_reason: options.retryReason ?? '' } : {}),
    };
    const sentAt = performance.now();
    const acked = new Promise<SocketAck | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.pendingAcks.delete(envelopeId);
        resolve(undefined);
      }, timeoutMs);
      this.pendingAcks.set(envelopeId, {
        type: socket.type,
        sentAt,
        resolve: (ack) => {
          clearTimeout(timer);
          resolve(ack);
        },
      });
    });
    connection.socket.send(JSON.stringify(envelope));
    const ack = await acked;
    return {
      status: ack ? 200 : 0,
      body: ack ? JSON.stringify(ack.payload ?? {}) : '',
      headers: {},
      ackMs: ack ? ack.ms : performance.now() - sentAt,
      acked: ack !== undefined,
      error: ack ? undefined : `no ack within ${timeoutMs} ms`,
      envelopeId,
      ackPayload: ack?.payload,
      requestBody: '',
      requestHeaders: {},
    };
  }

  // ----- lifecycle -------------------------------------------------------------------------------

  /** Closes Socket Mode connections and the HTTP server. Stop Bolt apps first. */
  async close(): Promise<void> {
    for (const pending of this.pendingAcks.values()) pending.resolve({ envelopeId: '', type: pending.type, payload: undefined, ms: 0, at: this.now(), connectionId: 0 });
    this.pendingAcks.clear();
    // Close handshakes first (Bolt's stop() does not wait for its own), then terminate stragglers.
    await Promise.all(
      this.sockets.map(async (s) => {
        if (s.socket.readyState === WebSocket.CLOSED) return;
        const closed = new Promise<void>((resolve) => s.socket.once('close', () => resolve()));
        if (s.socket.readyState === WebSocket.OPEN) s.socket.close(1001, 'going away');
        await Promise.race([closed, sleep(1000)]);
        s.socket.terminate();
      }),
    );
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The parts of a multipart/form-data body. */
async function formEntries(body: Buffer, contentType: string): Promise<Array<[string, string | File]>> {
  const form = await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData();
  const entries: Array<[string, string | File]> = [];
  form.forEach((value, key) => entries.push([key, value]));
  return entries;
}

/** Decodes the JSON-encoded parameters (form values) the web client sends for objects/arrays. */
function decodeParams(raw: Json, strict: boolean): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'token') continue;
    if (JSON_PARAMS.has(key) && typeof value === 'string') {
      try {
        out[key] = JSON.parse(value);
      } catch {
        if (!strict) {
          out[key] = value;
          continue;
        }
        throw new ApiError(key === 'blocks' ? 'invalid_blocks_format' : key === 'attachments' ? 'invalid_attachments' : 'invalid_arguments', {
          response_metadata: { messages: [`[ERROR] invalid JSON [json-pointer:/${key}]`] },
        });
      }
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** Starts the fake on 127.0.0.1 with a random port. */
export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
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
  return new FakeSlack(server, port, options);
}
