import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeUser, SlackMessage } from '../fakes/slack-server.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/** Any member may report a result from its post, with an optional reason; reports are grouped per result. */
describe('Report on Slack', () => {
  let h: SlackHarness;
  let result: SlackMessage;
  let assetId: string;

  beforeAll(async () => {
    h = await startSlackHarness();
    const { user } = await h.memberWithKey('artist');
    await h.slack.slashCommand({ command: '/imagine', text: 'a windmill', user, channel: h.general });
    result = await h.slack.waitFor(
      () => h.slack.messages(h.general.id, { includeReplies: true }).find((message) => JSON.stringify(message.blocks).includes('"action_id":"report:')),
      20_000,
      'the result post',
    );
    assetId = /"action_id":"report:([0-9a-f-]+)"/.exec(JSON.stringify(result.blocks))?.[1] ?? '';
  });
  afterAll(async () => {
    await h?.close();
  });

  async function report(member: FakeUser, reason: string): Promise<string> {
    const pressed = await h.slack.blockAction({ actionId: `report:${assetId}`, message: result, user: member });
    expect(pressed.late).toBe(false);
    const view = await h.slack.waitFor(() => h.slack.views({ openOnly: true, user: member }).find((candidate) => candidate.callbackId === `reportform:${assetId}`), 5_000, 'the report form');
    const before = h.slack.ephemerals(member).length;
    const submitted = await h.slack.submitView({ view, values: { reason: { reason } }, user: member });
    expect(submitted.late).toBe(false);
    const answer = await h.slack.waitFor(() => h.slack.ephemerals(member).slice(before)[0], 10_000, 'the thanks');
    return answer.text;
  }

  it('opens a private form, thanks the member privately, and groups reports per member', async () => {
    const watcher = h.slack.user({ name: 'watcher' });
    expect(await report(watcher, 'spam')).toMatch(/moderators will review/);
    await report(h.slack.user({ name: 'another' }), '');
    await report(watcher, 'spam, really');
    const reports = h.harness.app.owner!.repos.reports.forAsset(assetId);
    expect(reports).toHaveLength(2);
    expect(reports.map((entry) => entry.reason)).toEqual(['spam, really', null]);
    // Nothing public: no new channel post beyond the status message and the result.
    expect(h.slack.messages(h.general.id).filter((message) => message.text.includes('review'))).toEqual([]);
  });
});
