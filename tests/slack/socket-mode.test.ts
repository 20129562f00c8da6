import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeUser, InboundResult, SlackMessage } from '../fakes/slack-server.js';
import { makePng } from '../fakes/fal-fixtures.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/**
 * Socket Mode (SLACK_APP_TOKEN): the app opens a WebSocket through apps.connections.open with the
 * app-level token and receives commands, actions, view submissions and events as envelopes it acks on
 * the socket. The same /imagine flow works end to end.
 */
describe('Slack in Socket Mode', () => {
  let h: SlackHarness;
  let alice: FakeUser;

  const isResult = (message: SlackMessage) => JSON.stringify(message.blocks).includes('/s/');
  const seen = () => new Set(h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).map((message) => message.ts));

  /** The envelope was acked on the socket, in time. */
  function expectSocketAck(result: InboundResult): void {
    expect(result.via).toBe('socket');
    expect(result.acked).toBe(true);
    expect(result.late).toBe(false);
    expect(result.ackMs).toBeLessThan(3_000);
    expect(h.slack.socketAcks().map((ack) => ack.envelopeId)).toContain(result.envelopeId);
  }

  async function outcomeAfter(before: Set<string>) {
    const status = await h.slack.waitFor(() => h.slack.messages(h.general).find((message) => !before.has(message.ts) && message.botId !== undefined), 5_000, 'the status message');
    const result = await h.slack.waitFor(() => h.slack.thread(h.general, status.ts).find((message) => message.ts !== status.ts && isResult(message)), 20_000, 'the result');
    return { status, result };
  }

  beforeAll(async () => {
    h = await startSlackHarness({ socketMode: true });
    alice = (await h.memberWithKey('alice')).user;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('connects with the app-level token through apps.connections.open, and has no HTTP endpoint', async () => {
    expect(h.slack.requestUrl).toBeUndefined();
    const opens = h.slack.calls('apps.connections.open');
    expect(opens.length).toBeGreaterThanOrEqual(1);
    expect(opens.every((call) => call.ok && call.tokenKind === 'app')).toBe(true);
    await h.slack.waitForSocket();
    expect(h.slack.socketConnections().filter((connection) => connection.open)).toHaveLength(1);
    // Every other Web API call uses the bot token.
    expect(h.slack.calls().filter((call) => call.method !== 'apps.connections.open').every((call) => call.tokenKind === 'bot')).toBe(true);
    // Signed HTTP deliveries are not a way in: POST /slack/events is not served.
    const response = await fetch(`${h.harness.baseUrl}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"url_verification","challenge":"x"}' });
    expect(response.status).toBe(404);
  });

  it('/imagine with flags: acked on the socket, status message updated in place, result threaded under it', async () => {
    h.fal.setOutput('fal-ai/flux/dev', () => h.fal.imageOutput({ width: 40, height: 40, seed: 5 }));
    const before = seen();
    const ack = await h.slack.slashCommand({ command: '/imagine', text: 'a quiet harbour --model dev --seed 5 num_inference_steps=10', user: alice, channel: h.general });
    expectSocketAck(ack);
    const { status, result } = await outcomeAfter(before);
    const blocks = JSON.stringify(result.blocks);
    expect(blocks).toContain('a quiet harbour');
    expect(blocks).toContain(`${h.harness.baseUrl}/media/`);
    expect(blocks).toMatch(/"action_id":"rerun:/);
    const done = await h.slack.waitFor(() => {
      const current = h.slack.message(h.general, status.ts);
      return current?.text.startsWith('Done') ? current : undefined;
    }, 5_000, 'the status to say done');
    expect(done.revisions.map((revision) => revision.text)[1]).toMatch(/^Queued/);
    expect(h.fal.submits('fal-ai/flux/dev').at(-1)?.input).toMatchObject({ prompt: 'a quiet harbour', seed: 5, num_inference_steps: 10 });
  });

  it('buttons are acked on the socket: Delete by another member is refused privately, Rerun runs again', async () => {
    const bob = (await h.memberWithKey('bob')).user;
    const { result } = await outcomeAfter(await (async () => {
      const before = seen();
      expectSocketAck(await h.slack.slashCommand({ command: '/imagine', text: 'a lantern', user: alice, channel: h.general }));
      return before;
    })());
    const deleteId = JSON.stringify(result.blocks).match(/"action_id":"(delete:[^"]+)"/)![1]!;
    const ephemerals = h.slack.ephemerals(bob).length;
    expectSocketAck(await h.slack.blockAction({ message: result, actionId: deleteId, user: bob }));
    const refused = await h.slack.waitFor(() => h.slack.ephemerals(bob).slice(ephemerals)[0], 5_000, 'the refusal');
    expect(refused.text).toBe('Only its owner or a moderator can delete this.');

    const before = seen();
    const rerunId = JSON.stringify(result.blocks).match(/"action_id":"(rerun:[^"]+)"/)![1]!;
    expectSocketAck(await h.slack.blockAction({ message: result, actionId: rerunId, user: alice }));
    const again = await outcomeAfter(before);
    expect(JSON.stringify(again.result.blocks)).toContain('a lantern');
  });

  it('the /imagine modal opens and its submission (acked on the socket) runs the job with the attached file', async () => {
    const views = h.slack.views().length;
    expectSocketAck(await h.slack.slashCommand({ command: '/imagine', text: '', user: alice, channel: h.general }));
    const view = await h.slack.waitFor(() => h.slack.views().slice(views)[0], 5_000, 'the modal');
    const bytes = makePng(20, 20, { seed: 41 });
    const file = h.slack.addFile({ name: 'ref.png', bytes, user: alice });
    const submits = h.fal.submits('fal-ai/nano-banana/edit').length;
    const before = seen();
    const ack = await h.slack.submitView({ view, values: { prompt: { prompt: 'a socket cat' }, references: { references: { type: 'file_input', files: [file.raw] } } } });
    expectSocketAck(ack);
    expect(h.slack.view(view.id)?.open).toBe(false);
    await outcomeAfter(before);
    const submit = h.fal.submits('fal-ai/nano-banana/edit')[submits]!;
    const [url] = submit.input['image_urls'] as string[];
    expect(h.fal.uploads().find((upload) => upload.fileUrl === url)?.bytes).toEqual(bytes);
  });

  it('a mention with an image arrives as an events_api envelope and runs with the file fetched with the bot token', async () => {
    const bytes = makePng(18, 12, { seed: 42 });
    const file = h.slack.addFile({ name: 'mention.png', bytes, user: alice });
    const submits = h.fal.submits('fal-ai/nano-banana/edit').length;
    const event = await h.slack.appMention({ text: 'in neon', user: alice, channel: h.general, files: [file] });
    expectSocketAck(event);
    const mention = h.slack.messages(h.general).at(-1)!;
    await h.slack.waitFor(() => h.slack.thread(h.general, mention.ts).find((message) => message.botId !== undefined && isResult(message)), 20_000, 'the result');
    const submit = h.fal.submits('fal-ai/nano-banana/edit')[submits]!;
    const [url] = submit.input['image_urls'] as string[];
    expect(h.fal.uploads().find((upload) => upload.fileUrl === url)?.bytes).toEqual(bytes);
    expect(h.slack.fileDownloads().find((download) => download.fileId === file.id)?.authorization).toBe(`Bearer ${h.slack.botToken}`);
    // Nothing reached the app over HTTP.
    expect(h.slack.inbound().every((inbound) => inbound.via === 'socket')).toBe(true);
  });
});
