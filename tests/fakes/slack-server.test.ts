// Self-test of the fake Slack, driven by REAL, unmodified @slack/bolt 5 Apps: one in HTTP mode (its
// default HTTPReceiver on a free port, signed requests) and one in Socket Mode (app-level token).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel, type Logger, type RespondFn } from '@slack/bolt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePng } from './fal-fixtures.js';
import { slackSignature, startFakeSlack, type FakeChannel, type FakeSlack, type FakeUser } from './slack-server.js';

let fake: FakeSlack;
let app: App;
let socketApp: App;
let appUrl: string;
let general: FakeChannel;
let alice: FakeUser;
let bob: FakeUser;

const calls = { secret: 0 };
const triggers: string[] = [];
const stored: { respond?: RespondFn } = {};
const downloads: Array<{ status: number; contentType: string | null; bytes: Buffer }> = [];
const handlerErrors: unknown[] = [];
const logged: string[] = [];

/** Keeps the run quiet; the web client logs Slack's `[ERROR]` response_metadata messages. */
function captureLogger(): Logger {
  let level = LogLevel.WARN;
  const log = (tag: string) => (...messages: unknown[]) => {
    logged.push(`${tag} ${messages.map(String).join(' ')}`);
  };
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: log('warn'),
    error: log('error'),
    setLevel: (next: LogLevel) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

const modal = (callbackId: string) => ({
  type: 'modal' as const,
  callback_id: callbackId,
  private_metadata: 'meta-1',
  title: { type: 'plain_text' as const, text: 'Settings' },
  submit: { type: 'plain_text' as const, text: 'Save' },
  blocks: [
    {
      type: 'input' as const,
      block_id: 'prompt_block',
      label: { type: 'plain_text' as const, text: 'Prompt' },
      element: { type: 'plain_text_input' as const, action_id: 'prompt' },
    },
    {
      type: 'input' as const,
      block_id: 'size_block',
      optional: true,
      label: { type: 'plain_text' as const, text: 'Size' },
      element: {
        type: 'static_select' as const,
        action_id: 'size',
        options: [
          { text: { type: 'plain_text' as const, text: 'Square' }, value: 'square' },
          { text: { type: 'plain_text' as const, text: 'Wide' }, value: 'wide' },
        ],
      },
    },
  ],
});

const resultBlocks = (prompt: string) => [
  { type: 'section', text: { type: 'mrkdwn', text: `*${prompt}*` } },
  {
    type: 'actions',
    block_id: 'result_actions',
    elements: [
      { type: 'button', action_id: 'again', text: { type: 'plain_text', text: 'Again' }, value: prompt },
      { type: 'button', action_id: 'replace', text: { type: 'plain_text', text: 'Replace' }, value: prompt },
      { type: 'button', action_id: 'dismiss', text: { type: 'plain_text', text: 'Dismiss' } },
    ],
  },
];

const clientOptions = () => ({ slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } });

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** `error.data.error` of a Web API platform error. */
function platformError(error: unknown): unknown {
  return (error as { data?: { error?: unknown } }).data?.error;
}

beforeAll(async () => {
  fake = await startFakeSlack({ team: { name: 'Atelier Test', domain: 'atelier' } });
  general = fake.defaultChannel();
  alice = fake.defaultUser();
  bob = fake.user({ name: 'bob' });

  app = new App({
    token: fake.botToken,
    signingSecret: fake.signingSecret,
    clientOptions: clientOptions(),
    logger: captureLogger(),
  });
  app.error(async (error) => {
    handlerErrors.push(error);
  });

  app.command('/imagine', async ({ ack, say, respond, command, client }) => {
    await ack();
    await say(`Generating: ${command.text}`);
    await respond({ response_type: 'ephemeral', text: 'Only you can see this' });
    await client.chat.postMessage({ channel: command.channel_id, text: `Result for ${command.text}`, blocks: resultBlocks(command.text) });
  });
  app.command('/quick', async ({ ack, command }) => {
    if (command.text === 'public') await ack({ response_type: 'in_channel', text: 'Quick public answer' });
    else await ack('Quick private answer');
  });
  app.command('/settings', async ({ ack, body, client }) => {
    await ack();
    await client.views.open({ trigger_id: body.trigger_id, view: modal('settings_modal') });
  });
  app.command('/trigger', async ({ ack, body }) => {
    triggers.push(body.trigger_id);
    await ack();
  });
  app.command('/later', async ({ ack, respond }) => {
    stored.respond = respond;
    await ack();
  });
  app.command('/slow', async ({ ack }) => {
    await new Promise((resolve) => setTimeout(resolve, 150));
    await ack('slow answer');
  });
  app.action('modal_btn', async ({ ack, body, client }) => {
    await ack();
    if (body.type !== 'block_actions' || !body.view) throw new Error('unexpected action body');
    await client.views.push({ trigger_id: body.trigger_id, view: modal('pushed_modal') });
  });
  app.view('wizard', async ({ ack, view }) => {
    const step = view.state.values['prompt_block']?.['prompt']?.value;
    if (step === 'update') await ack({ response_action: 'update', view: { ...modal('wizard'), title: { type: 'plain_text', text: 'Step 2' } } });
    else await ack({ response_action: 'push', view: modal('wizard_pushed') });
  });
  app.command('/secret', async ({ ack }) => {
    calls.secret++;
    await ack();
  });
  app.view('settings_modal', async ({ ack, view, body, client }) => {
    const prompt = view.state.values['prompt_block']?.['prompt']?.value ?? '';
    if (prompt.length < 3) {
      await ack({ response_action: 'errors', errors: { prompt_block: 'Too short' } });
      return;
    }
    await ack();
    const size = view.state.values['size_block']?.['size']?.selected_option?.value ?? 'none';
    await client.chat.postMessage({ channel: body.user.id, text: `Saved: ${prompt} (${size}, ${view.private_metadata})` });
  });
  app.action('again', async ({ ack, body, client }) => {
    await ack();
    if (body.type !== 'block_actions' || !body.channel || !body.message) throw new Error('unexpected action body');
    await client.chat.update({ channel: body.channel.id, ts: body.message.ts, text: 'Regenerating…', blocks: [] });
  });
  app.action('replace', async ({ ack, respond }) => {
    await ack();
    await respond({ replace_original: true, text: 'Replaced via response_url' });
  });
  app.action('dismiss', async ({ ack, respond }) => {
    await ack();
    await respond({ delete_original: true });
  });
  app.event('app_mention', async ({ event, say, context, client }) => {
    const file = event.files?.[0];
    if (!file) {
      await say({ text: 'no file', thread_ts: event.ts });
      return;
    }
    const response = await fetch(file.url_private, { headers: { Authorization: `Bearer ${context.botToken ?? ''}` } });
    const bytes = Buffer.from(await response.arrayBuffer());
    downloads.push({ status: response.status, contentType: response.headers.get('content-type'), bytes });
    await say({ text: `got ${bytes.length} bytes`, thread_ts: event.ts });
    await client.filesUploadV2({
      channel_id: event.channel,
      thread_ts: event.ts,
      file: Buffer.concat([bytes, Buffer.from('!')]),
      filename: 'out.png',
      title: 'out',
      initial_comment: 'Here you go',
    });
  });

  const server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
  appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
  fake.requestUrl = appUrl;

  socketApp = new App({
    token: fake.botToken,
    appToken: fake.appToken,
    socketMode: true,
    clientOptions: clientOptions(),
    logger: captureLogger(),
  });
  socketApp.command('/imagine', async ({ ack, say, command }) => {
    await ack();
    await say(`socket: ${command.text}`);
  });
  socketApp.command('/ackbody', async ({ ack }) => {
    await ack({ text: 'socket ack body' });
  });
  socketApp.action('again', async ({ ack, body, client }) => {
    await ack();
    if (body.type !== 'block_actions' || !body.channel || !body.message) throw new Error('unexpected action body');
    await client.chat.update({ channel: body.channel.id, ts: body.message.ts, text: 'socket update' });
  });
  socketApp.view('settings_modal', async ({ ack }) => {
    await ack({ response_action: 'clear' });
  });
  socketApp.message(async ({ message, say }) => {
    if (message.subtype === undefined || message.subtype === 'file_share') {
      await say(`dm echo: ${'text' in message ? (message.text ?? '') : ''}`);
    }
  });
  await socketApp.start();
});

afterAll(async () => {
  await socketApp?.stop();
  await app?.stop();
  await fake?.close();
});

describe('fake slack: Web API', () => {
  it('answered the startup auth.test of both apps with the bot token', () => {
    const authTests = fake.calls('auth.test');
    expect(authTests.length).toBeGreaterThanOrEqual(2);
    expect(authTests[0]).toMatchObject({ tokenKind: 'bot', ok: true, httpMethod: 'POST', contentType: 'application/x-www-form-urlencoded' });
    expect(authTests[0]?.response).toMatchObject({ user_id: fake.botUserId, bot_id: fake.botId, team_id: fake.defaultTeam.id });
  });

  it('checks tokens: invalid_auth, not_authed, not_allowed_token_type, token in the body', async () => {
    expect(platformError(await rejectionOf(app.client.auth.test({ token: 'xoxb-wrong' })))).toBe('invalid_auth');

    const anonymous = await fetch(`${fake.apiUrl}auth.test`, { method: 'POST' });
    expect(anonymous.status).toBe(200);
    expect(await anonymous.json()).toEqual({ ok: false, error: 'not_authed' });

    const withAppToken = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${fake.appToken}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ channel: general.id, text: 'x' }).toString(),
    });
    expect(await withAppToken.json()).toEqual({ ok: false, error: 'not_allowed_token_type' });

    const inBody = await fetch(`${fake.apiUrl}auth.test`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `token=${fake.botToken}`,
    });
    expect(await inBody.json()).toMatchObject({ ok: true, user_id: fake.botUserId });
    expect(fake.calls('auth.test').at(-1)?.tokenSource).toBe('param');
  });

  it('accepts JSON bodies, validates blocks, posts threads and records everything', async () => {
    const post = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${fake.botToken}`, 'Content-Type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ channel: general.id, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'json body' } }] }),
    });
    const posted = (await post.json()) as { ok: boolean; ts: string; message: { text: string; blocks: Array<{ block_id?: string }> } };
    expect(posted.ok).toBe(true);
    expect(posted.message.text).toBe("This content can't be displayed.");
    expect(posted.message.blocks[0]?.block_id).toMatch(/^[A-Za-z0-9]{5}$/);

    const reply = await app.client.chat.postMessage({ channel: general.id, thread_ts: posted.ts, text: 'in thread' });
    expect(reply.message?.thread_ts).toBe(posted.ts);
    expect(fake.thread(general, posted.ts).map((m) => m.text)).toEqual(["This content can't be displayed.", 'in thread']);
    expect(fake.messages(general).find((m) => m.ts === posted.ts)?.replyCount).toBe(1);
    expect(fake.calls('chat.postMessage').at(-1)).toMatchObject({ tokenKind: 'bot', params: { channel: general.id, thread_ts: posted.ts, text: 'in thread' } });

    // `as never`: deliberately invalid Block Kit (an image without image_url/slack_file) that the types reject.
    const badBlocks = await rejectionOf(app.client.chat.postMessage({ channel: general.id, text: 'x', blocks: [{ type: 'image', alt_text: 'no url' }] as never }));
    expect(platformError(badBlocks)).toBe('invalid_blocks');
    expect(platformError(await rejectionOf(app.client.chat.postMessage({ channel: 'C404', text: 'x' })))).toBe('channel_not_found');
    expect(platformError(await rejectionOf(app.client.chat.postMessage({ channel: general.id, text: '' })))).toBe('no_text');
    expect(platformError(await rejectionOf(app.client.apiCall('nope.method')))).toBe('unknown_method');

    const closed = fake.channel({ name: 'closed', botIsMember: false });
    expect(platformError(await rejectionOf(app.client.chat.postMessage({ channel: closed.id, text: 'x' })))).toBe('not_in_channel');
  });

  it('updates and deletes only the bot’s messages; getPermalink; history', async () => {
    const posted = await app.client.chat.postMessage({ channel: general.id, text: 'v1' });
    const ts = posted.ts ?? '';
    await app.client.chat.update({ channel: general.id, ts, text: 'v2' });
    const updated = fake.message(general, ts);
    expect(updated).toMatchObject({ text: 'v2', edited: true });
    expect(updated?.revisions.map((r) => r.text)).toEqual(['v1']);
    const link = await app.client.chat.getPermalink({ channel: general.id, message_ts: ts });
    expect(link.permalink).toBe(fake.permalink(general.id, ts));
    await app.client.chat.delete({ channel: general.id, ts });
    expect(fake.message(general, ts)?.deleted).toBe(true);
    expect(platformError(await rejectionOf(app.client.chat.update({ channel: general.id, ts, text: 'v3' })))).toBe('message_not_found');

    await fake.channelMessage({ text: 'a user message', user: bob });
    const userMessage = fake.messages(general).at(-1);
    expect(userMessage?.user).toBe(bob.id);
    expect(platformError(await rejectionOf(app.client.chat.update({ channel: general.id, ts: userMessage?.ts ?? '', text: 'hijack' })))).toBe('cant_update_message');
    expect(platformError(await rejectionOf(app.client.chat.delete({ channel: general.id, ts: userMessage?.ts ?? '' })))).toBe('cant_delete_message');

    const history = await app.client.conversations.history({ channel: general.id, limit: 1 });
    expect(history.messages?.[0]?.ts).toBe(userMessage?.ts);
  });

  it('posts ephemerals (records the user) and refuses users outside a members-only channel', async () => {
    const res = await app.client.chat.postEphemeral({ channel: general.id, user: bob.id, text: 'psst' });
    expect(res.message_ts).toMatch(/^\d+\.\d{6}$/);
    expect(fake.ephemerals(bob).at(-1)).toMatchObject({ channel: general.id, user: bob.id, text: 'psst', source: 'chat.postEphemeral' });
    expect(fake.messages(general).some((m) => m.text === 'psst')).toBe(false);

    const small = fake.channel({ name: 'small', members: [alice] });
    expect(platformError(await rejectionOf(app.client.chat.postEphemeral({ channel: small.id, user: bob.id, text: 'x' })))).toBe('user_not_in_channel');
  });

  it('serves conversations.open, users.info, usergroups.users.list, missing scopes and injected failures', async () => {
    const opened = await app.client.conversations.open({ users: alice.id });
    expect(opened.channel?.id).toBe(fake.dmChannel(alice).id);
    const again = await app.client.conversations.open({ users: alice.id });
    expect(again).toMatchObject({ no_op: true, already_open: true });
    await app.client.chat.postMessage({ channel: alice.id, text: 'dm by user id' });
    expect(fake.dmMessages(alice).at(-1)?.text).toBe('dm by user id');

    const info = await app.client.users.info({ user: bob.id });
    expect(info.user).toMatchObject({ id: bob.id, name: 'bob', real_name: 'Bob', is_bot: false, team_id: fake.defaultTeam.id });
    expect(platformError(await rejectionOf(app.client.users.info({ user: 'U404' })))).toBe('user_not_found');

    const mods = fake.usergroup({ handle: 'mods', users: [alice, bob] });
    expect((await app.client.usergroups.users.list({ usergroup: mods.id })).users).toEqual([alice.id, bob.id]);
    expect(platformError(await rejectionOf(app.client.usergroups.users.list({ usergroup: 'S404' })))).toBe('no_such_subteam');

    fake.setBotScopes(['chat:write']);
    const missing = await rejectionOf(app.client.users.info({ user: bob.id }));
    expect((missing as { data: unknown }).data).toMatchObject({ ok: false, error: 'missing_scope', needed: 'users:read' });
    fake.setBotScopes([
      'app_mentions:read', 'channels:history', 'channels:read', 'chat:write', 'commands', 'files:read', 'files:write',
      'groups:history', 'groups:read', 'im:history', 'im:read', 'im:write', 'mpim:history', 'mpim:read', 'mpim:write',
      'usergroups:read', 'users:read',
    ]);

    fake.failNext('chat.postMessage', { error: 'ratelimited' });
    expect(platformError(await rejectionOf(app.client.chat.postMessage({ channel: general.id, text: 'x' })))).toBe('ratelimited');
    fake.failNext('chat.postMessage', { status: 500 });
    const http500 = await rejectionOf(app.client.chat.postMessage({ channel: general.id, text: 'x' }));
    expect((http500 as { code?: string; statusCode?: number })).toMatchObject({ code: 'slack_webapi_http_error', statusCode: 500 });
  });
});

describe('fake slack: signed HTTP deliveries to the Bolt HTTPReceiver', () => {
  it('answers url_verification with the challenge', async () => {
    const res = await fake.urlVerification({ challenge: 'abc123' });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ challenge: 'abc123' });
  });

  it('delivers a slash command in Slack’s exact form; ack is fast; say/respond/postMessage land', async () => {
    const res = await fake.slashCommand({ command: '/imagine', text: 'a cat', user: alice, channel: general });
    expect(res).toMatchObject({ kind: 'slash_command', via: 'http', status: 200, body: '', acked: true, late: false });
    expect(res.ackMs).toBeLessThan(3000);
    expect(res.requestHeaders['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new URLSearchParams(res.requestBody);
    expect([...form.keys()]).toEqual([
      'token', 'team_id', 'team_domain', 'channel_id', 'channel_name', 'user_id', 'user_name', 'command', 'text',
      'api_app_id', 'is_enterprise_install', 'response_url', 'trigger_id',
    ]);
    expect(form.get('text')).toBe('a cat');
    expect(res.requestBody).toContain('text=a+cat');
    const timestamp = Number(res.requestHeaders['x-slack-request-timestamp']);
    expect(res.requestHeaders['x-slack-signature']).toBe(slackSignature(fake.signingSecret, timestamp, res.requestBody));

    const result = await fake.waitForMessage(general, (m) => m.text === 'Result for a cat');
    expect(fake.messages(general).some((m) => m.text === 'Generating: a cat')).toBe(true);
    expect(result.blocks[1]).toMatchObject({ type: 'actions', block_id: 'result_actions' });
    const ephemeral = await fake.waitFor(() => fake.ephemerals(alice).find((e) => e.text === 'Only you can see this'));
    expect(ephemeral).toMatchObject({ source: 'response_url', channel: general.id });
    expect(fake.responses().find((r) => r.url === res.responseUrl)).toMatchObject({ status: 200, responseType: 'ephemeral', use: 1, kind: 'command' });
  });

  it('shows a slash command’s ack body: ephemeral by default, in_channel when asked', async () => {
    const privateRes = await fake.slashCommand({ command: '/quick', text: 'private' });
    expect(privateRes.body).toBe('Quick private answer');
    expect(fake.ephemerals(alice).at(-1)).toMatchObject({ text: 'Quick private answer', source: 'ack' });
    const publicRes = await fake.slashCommand({ command: '/quick', text: 'public' });
    expect(publicRes.json).toEqual({ response_type: 'in_channel', text: 'Quick public answer' });
    expect(fake.messages(general).at(-1)).toMatchObject({ text: 'Quick public answer', source: 'ack', botId: fake.botId });
  });

  it('opens a modal with the command’s trigger_id, then submits it (errors first, then success)', async () => {
    const res = await fake.slashCommand({ command: '/settings', user: bob });
    const opened = await fake.waitFor(() => fake.views({ openOnly: true, user: bob }).find((v) => v.callbackId === 'settings_modal'));
    expect(opened).toMatchObject({ type: 'modal', title: 'Settings', privateMetadata: 'meta-1', openedVia: 'views.open', triggerId: res.triggerId });
    expect(fake.calls('views.open').at(-1)?.params['view']).toMatchObject({ callback_id: 'settings_modal' });

    const rejected = await fake.submitView({ view: opened, values: { prompt_block: { prompt: 'no' } } });
    expect(rejected.json).toEqual({ response_action: 'errors', errors: { prompt_block: 'Too short' } });
    expect(fake.view(opened.id)).toMatchObject({ open: true, errors: { prompt_block: 'Too short' } });

    const submitted = await fake.submitView({ view: opened, values: { prompt_block: { prompt: 'a dog' }, size_block: { size: 'wide' } } });
    expect(submitted).toMatchObject({ status: 200, body: '', late: false });
    const view = submitted.payload['view'] as { state: { values: Record<string, Record<string, unknown>> } };
    expect(view.state.values).toEqual({
      prompt_block: { prompt: { type: 'plain_text_input', value: 'a dog' } },
      size_block: { size: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: 'Wide' }, value: 'wide' } } },
    });
    expect(fake.view(opened.id)?.open).toBe(false);
    const dm = await fake.waitFor(() => fake.dmMessages(bob).find((m) => m.text.startsWith('Saved:')));
    expect(dm.text).toBe('Saved: a dog (wide, meta-1)');
  });

  it('enforces trigger_id rules: single use, 3 s lifetime, known ids only', async () => {
    const view = modal('trigger_test');
    await fake.slashCommand({ command: '/trigger' });
    const first = triggers.at(-1) ?? '';
    expect((await app.client.views.open({ trigger_id: first, view })).ok).toBe(true);
    expect(platformError(await rejectionOf(app.client.views.open({ trigger_id: first, view })))).toBe('exchanged_trigger_id');

    await fake.slashCommand({ command: '/trigger' });
    const second = triggers.at(-1) ?? '';
    fake.clock.advance(3001);
    try {
      expect(platformError(await rejectionOf(app.client.views.open({ trigger_id: second, view })))).toBe('expired_trigger_id');
    } finally {
      fake.clock.reset();
    }
    expect(platformError(await rejectionOf(app.client.views.open({ trigger_id: '123.456.abc', view })))).toBe('invalid_trigger_id');
    const tooLong = { ...view, title: { type: 'plain_text' as const, text: 'A title that is far too long' } };
    const invalid = await rejectionOf(app.client.views.open({ trigger_id: fake.issueTrigger(), view: tooLong }));
    expect((invalid as { data: unknown }).data).toMatchObject({
      error: 'invalid_arguments',
      response_metadata: { messages: ['[ERROR] must be less than 25 characters [json-pointer:/view/title/text]'] },
    });
  });

  it('serves views.update (hash) and views.push from a block action inside a modal; applies view acks update/push', async () => {
    const base = modal('wizard');
    const withButton = {
      ...base,
      blocks: [
        ...base.blocks,
        { type: 'actions' as const, block_id: 'modal_actions', elements: [{ type: 'button' as const, action_id: 'modal_btn', text: { type: 'plain_text' as const, text: 'More' } }] },
      ],
    };
    const opened = (await app.client.views.open({ trigger_id: fake.issueTrigger(bob), view: withButton })).view;
    const viewId = opened?.id ?? '';
    expect(opened).toMatchObject({ type: 'modal', callback_id: 'wizard', root_view_id: viewId, app_id: fake.appId, bot_id: fake.botId });

    expect(platformError(await rejectionOf(app.client.views.update({ view_id: viewId, hash: 'stale', view: withButton })))).toBe('hash_conflict');
    const updated = await app.client.views.update({ view_id: viewId, hash: opened?.hash ?? '', view: withButton });
    expect(updated.view?.hash).not.toBe(opened?.hash);
    expect(fake.view(viewId)?.updates).toBe(1);
    expect(platformError(await rejectionOf(app.client.views.update({ view_id: 'V404', view: withButton })))).toBe('not_found');

    const clicked = await fake.blockAction({ view: viewId, actionId: 'modal_btn' });
    expect(clicked.payload).toMatchObject({ container: { type: 'view', view_id: viewId }, user: { id: bob.id } });
    expect(clicked.payload['response_url']).toBeUndefined();
    const pushed = await fake.waitFor(() => fake.views({ openOnly: true, user: bob }).find((v) => v.callbackId === 'pushed_modal'));
    expect(pushed).toMatchObject({ openedVia: 'views.push', previousViewId: viewId, rootViewId: viewId });

    await fake.submitView({ view: viewId, values: { prompt_block: { prompt: 'update' } } });
    expect(fake.view(viewId)).toMatchObject({ open: true, title: 'Step 2', updates: 2 });
    await fake.submitView({ view: viewId, values: { prompt_block: { prompt: 'next' } } });
    expect(platformError(await rejectionOf(app.client.views.push({ trigger_id: fake.issueTrigger(bob), view: modal('fourth') })))).toBe('push_limit_reached');
    expect(fake.views({ openOnly: true, user: bob }).map((v) => v.callbackId)).toEqual(['wizard', 'pushed_modal', 'wizard_pushed']);
  });

  it('reports late acks and ignores their body', async () => {
    fake.ackDeadlineMs = 100;
    try {
      const res = await fake.slashCommand({ command: '/slow' });
      expect(res).toMatchObject({ status: 200, body: 'slow answer', late: true });
      expect(res.ackMs).toBeGreaterThan(100);
      expect(fake.ephemerals().some((e) => e.text === 'slow answer')).toBe(false);
    } finally {
      fake.ackDeadlineMs = 3000;
    }
  });

  it('delivers block actions: chat.update, respond(replace_original), respond(delete_original)', async () => {
    await fake.slashCommand({ command: '/imagine', text: 'buttons' });
    const message = await fake.waitForMessage(general, (m) => m.text === 'Result for buttons');

    const clicked = await fake.blockAction({ message, actionId: 'again', user: alice });
    expect(clicked).toMatchObject({ status: 200, acked: true, late: false });
    const payload = clicked.payload as { actions: Array<Record<string, unknown>>; container: unknown; response_url: string };
    expect(payload.actions[0]).toMatchObject({ action_id: 'again', block_id: 'result_actions', value: 'buttons', type: 'button' });
    expect(payload.container).toEqual({ type: 'message', message_ts: message.ts, channel_id: general.id, is_ephemeral: false });
    const updated = await fake.waitFor(() => fake.message(general, message.ts)?.edited && fake.message(general, message.ts));
    expect(updated).toMatchObject({ text: 'Regenerating…', blocks: [] });

    await fake.slashCommand({ command: '/imagine', text: 'more' });
    const second = await fake.waitForMessage(general, (m) => m.text === 'Result for more');
    await fake.blockAction({ message: second, actionId: 'replace' });
    const replaced = await fake.waitFor(() => fake.message(general, second.ts)?.text === 'Replaced via response_url' && fake.message(general, second.ts));
    expect(replaced.revisions[0]?.text).toBe('Result for more');
    await fake.blockAction({ message: replaced, actionId: 'dismiss' });
    await fake.waitFor(() => fake.message(general, second.ts)?.deleted);
    expect(fake.responses().filter((r) => r.kind === 'action').map((r) => [r.replaceOriginal, r.deleteOriginal])).toEqual([
      [true, false],
      [false, true],
    ]);
  });

  it('limits a response_url to 5 uses and 30 minutes (Bolt’s respond() then throws)', async () => {
    const res = await fake.slashCommand({ command: '/later' });
    const url = res.responseUrl ?? '';
    const post = (body: unknown) => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    for (let i = 1; i <= 5; i++) expect((await post({ text: `use ${i}` })).status).toBe(200);
    const sixth = await post({ text: 'use 6' });
    expect(sixth.status).toBe(404);
    expect(await sixth.json()).toEqual({ ok: false, error: 'used_url' });
    expect(fake.ephemerals(alice).filter((e) => e.text.startsWith('use ')).length).toBe(5);

    await fake.slashCommand({ command: '/later' });
    fake.clock.advance(30 * 60 * 1000 + 1);
    try {
      const error = await rejectionOf(stored.respond!({ text: 'too late' }));
      expect(error).toMatchObject({ code: 'slack_bolt_respond_error', statusCode: 404 });
    } finally {
      fake.clock.reset();
    }
    expect(fake.responses().at(-1)).toMatchObject({ status: 404, error: 'expired_url' });
  });

  it('rejects a bad signature and a stale timestamp with 401 without running the handler', async () => {
    const bad = await fake.slashCommand({ command: '/secret', badSignature: true });
    expect(bad.status).toBe(401);
    const stale = await fake.slashCommand({ command: '/secret', stale: true });
    expect(stale.status).toBe(401);
    const missing = await fake.slashCommand({ command: '/secret', omitSignature: true });
    expect(missing.status).toBe(401);
    expect(calls.secret).toBe(0);
    const good = await fake.slashCommand({ command: '/secret' });
    expect(good.status).toBe(200);
    expect(calls.secret).toBe(1);
  });

  it('delivers an app_mention with a file: url_private needs the bot token; the 3-step upload records exact bytes', async () => {
    const png = makePng(4, 3);
    const file = fake.addFile({ name: 'in.png', bytes: png, user: alice });
    expect(file.raw).toMatchObject({ mimetype: 'image/png', filetype: 'png', original_w: 4, original_h: 3, size: png.length });
    // Other tests of this file download files too; only this one's count.
    const downloadsBefore = fake.fileDownloads().length;

    const anonymous = await fetch(file.urlPrivate);
    expect(anonymous.status).toBe(200);
    expect(anonymous.headers.get('content-type')).toContain('text/html');

    const res = await fake.appMention({ text: 'look at this', files: [file], user: alice });
    expect(res).toMatchObject({ kind: 'event_callback', status: 200 });
    const event = res.payload['event'] as Record<string, unknown>;
    expect(event).toMatchObject({ type: 'app_mention', text: `<@${fake.botUserId}> look at this`, user: alice.id, channel: general.id });
    expect(res.payload).toMatchObject({ type: 'event_callback', api_app_id: fake.appId, authorizations: [{ user_id: fake.botUserId, is_bot: true }] });

    const reply = await fake.waitFor(() => fake.thread(general, String(event['ts'])).find((m) => m.text.startsWith('got ')));
    expect(reply.text).toBe(`got ${png.length} bytes`);
    expect(downloads[0]).toMatchObject({ status: 200, contentType: 'image/png' });
    expect(downloads[0]?.bytes.equals(png)).toBe(true);
    expect(fake.fileDownloads().slice(downloadsBefore).map((d) => d.authorized)).toEqual([false, true]);

    const shared = await fake.waitFor(() => fake.thread(general, String(event['ts'])).find((m) => m.source === 'files.completeUploadExternal'));
    expect(shared.files.map((f) => f.name)).toEqual(['out.png']);
    const expected = Buffer.concat([png, Buffer.from('!')]);
    expect(shared).toMatchObject({ text: 'Here you go', source: 'files.completeUploadExternal', threadTs: event['ts'] });
    const upload = fake.uploads().at(-1);
    expect(upload).toMatchObject({ filename: 'out.png', declaredLength: expected.length, completed: true, uploadField: 'body', title: 'out', channelId: general.id, initialComment: 'Here you go' });
    expect(upload?.bytes?.equals(expected)).toBe(true);
    expect(upload?.uploadAuthorization).toBe(`Bearer ${fake.botToken}`);
    const order = fake.calls().map((c) => c.method).filter((m) => m.startsWith('files.'));
    expect(order.slice(-2)).toEqual(['files.getUploadURLExternal', 'files.completeUploadExternal']);
    expect(fake.calls('files.completeUploadExternal').at(-1)?.params).toMatchObject({ files: [{ id: upload?.fileId, title: 'out' }], channel_id: general.id, thread_ts: event['ts'] });

    const info = await app.client.files.info({ file: upload?.fileId ?? '' });
    expect(info.file).toMatchObject({ id: upload?.fileId, name: 'out.png', size: expected.length });
    const downloaded = await fetch(info.file?.url_private_download ?? '', { headers: { Authorization: `Bearer ${fake.botToken}` } });
    expect(Buffer.from(await downloaded.arrayBuffer()).equals(expected)).toBe(true);
    expect(handlerErrors).toEqual([]);
    expect(logged.filter((line) => line.startsWith('error') && !line.includes('[json-pointer:'))).toEqual([]);
  });

  it('deletes the bot’s uploaded files for good (files.delete): files.info, url_private and the sharing message follow', async () => {
    const uploaded = await app.client.filesUploadV2({ file: Buffer.from('to be deleted'), filename: 'gone.txt', title: 'gone', channel_id: general.id });
    const fileId = uploaded.files.flatMap((entry) => entry.files ?? []).map((file) => file.id)[0] ?? '';
    const file = fake.file(fileId);
    expect(file).toBeDefined();
    const shared = fake.messages(general).find((message) => message.files.some((candidate) => candidate.id === fileId));
    expect(shared).toBeDefined();
    const auth = { headers: { Authorization: `Bearer ${fake.botToken}` } };
    expect((await fetch(file?.urlPrivate ?? '', auth)).status).toBe(200);

    await app.client.files.delete({ file: fileId });
    expect(fake.calls('files.delete').at(-1)).toMatchObject({ ok: true, params: { file: fileId } });
    expect(fake.file(fileId)).toBeUndefined();
    expect(fake.deletedFile(fileId)?.name).toBe('gone.txt');
    expect(platformError(await rejectionOf(app.client.files.info({ file: fileId })))).toBe('file_deleted');
    expect((await fetch(file?.urlPrivate ?? '', auth)).status).toBe(404);
    // The message that shared it shows a tombstone, as Slack does.
    const after = fake.message(general, shared?.ts ?? '');
    expect(after?.files).toEqual([]);
    expect(after?.raw['files']).toEqual([{ id: fileId, mode: 'tombstone' }]);

    expect(platformError(await rejectionOf(app.client.files.delete({ file: fileId })))).toBe('file_deleted');
    expect(platformError(await rejectionOf(app.client.files.delete({ file: 'F404NOPE' })))).toBe('file_not_found');
    expect(platformError(await rejectionOf(app.client.files.info({ file: 'F404NOPE' })))).toBe('file_not_found');
    // A bot token deletes only what the bot uploaded.
    const theirs = fake.addFile({ name: 'theirs.png', bytes: 'x', user: alice });
    expect(platformError(await rejectionOf(app.client.files.delete({ file: theirs.id })))).toBe('cant_delete_file');
    expect(fake.file(theirs.id)).toBeDefined();
  });

  it('deleteMessage: a message deleted in the client is gone for the Web API too', async () => {
    const posted = await app.client.chat.postMessage({ channel: general.id, text: 'soon gone by hand' });
    const ts = posted.ts ?? '';
    fake.deleteMessage(general, ts);
    expect(fake.message(general, ts)?.deleted).toBe(true);
    expect(platformError(await rejectionOf(app.client.chat.delete({ channel: general.id, ts })))).toBe('message_not_found');
    expect(platformError(await rejectionOf(app.client.chat.update({ channel: general.id, ts, text: 'v2' })))).toBe('message_not_found');
  });
});

describe('fake slack: Socket Mode', () => {
  it('connected with the app-level token and got hello', async () => {
    const open = fake.calls('apps.connections.open');
    expect(open[0]).toMatchObject({ tokenKind: 'app', ok: true });
    expect(String(open[0]?.response['url'])).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/link\/\?ticket=/);
    expect((await fake.waitForSocket()).open).toBe(true);
    expect(platformError(await rejectionOf(app.client.apiCall('apps.connections.open')))).toBe('not_allowed_token_type');
  });

  it('round-trips a slash command envelope: ack recorded, say() lands', async () => {
    const res = await fake.slashCommand({ command: '/imagine', text: 'over a socket', via: 'socket' });
    expect(res).toMatchObject({ via: 'socket', acked: true, status: 200, late: false });
    expect(res.envelopeId).toBeDefined();
    expect(fake.socketAcks().find((a) => a.envelopeId === res.envelopeId)).toMatchObject({ type: 'slash_commands', payload: {} });
    await fake.waitForMessage(general, (m) => m.text === 'socket: over a socket');

    const withBody = await fake.slashCommand({ command: '/ackbody', via: 'socket' });
    expect(withBody.json).toEqual({ text: 'socket ack body' });
    expect(fake.ephemerals(alice).at(-1)).toMatchObject({ text: 'socket ack body', source: 'ack' });
  });

  it('round-trips interactive and events_api envelopes', async () => {
    const posted = await app.client.chat.postMessage({ channel: general.id, text: 'socket target', blocks: resultBlocks('socket') });
    const message = fake.message(general, posted.ts ?? '');
    if (!message) throw new Error('message not stored');
    const clicked = await fake.blockAction({ message, actionId: 'again', via: 'socket' });
    expect(clicked.acked).toBe(true);
    await fake.waitFor(() => fake.message(general, message.ts)?.text === 'socket update');

    const dm = await fake.directMessage({ text: 'hello bot', user: bob, via: 'socket' });
    expect(dm.acked).toBe(true);
    expect(dm.payload['event']).toMatchObject({ type: 'message', channel_type: 'im', channel: fake.dmChannel(bob).id });
    await fake.waitFor(() => fake.dmMessages(bob).find((m) => m.text === 'dm echo: hello bot'));

    const trigger = fake.issueTrigger(bob);
    const view = (await app.client.views.open({ trigger_id: trigger, view: modal('settings_modal') })).view;
    const submitted = await fake.submitView({ view: view?.id ?? '', values: { prompt_block: { prompt: 'socket modal' } }, via: 'socket' });
    expect(submitted.json).toEqual({ response_action: 'clear' });
    expect(fake.view(view?.id ?? '')?.open).toBe(false);
  });
});
