import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageSnapshot } from '../fakes/discord-server.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/** Any member may report a result, with an optional reason; reports of one result are grouped. */
describe('Report on Discord', () => {
  let h: DiscordHarness;
  let post: MessageSnapshot;
  let assetId: string;

  beforeAll(async () => {
    h = await startDiscordHarness();
    const { user } = await h.memberWithKey('artist');
    const imagine = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a lighthouse' }, user, channelId: h.general.id });
    post = await imagine.waitForOriginal((message) => message.attachments.length > 0, 20_000);
    const shareId = ((post.embeds[0] as { url: string }).url.split('/s/')[1] ?? '');
    assetId = h.harness.app.owner!.repos.assets.getAssetByShareId(shareId)!.id;
  });
  afterAll(async () => {
    await h?.close();
  });

  async function report(member: ReturnType<DiscordHarness['discord']['user']>, reason: string) {
    const press = h.discord.button({ customId: `report:${assetId}`, message: post, user: member });
    const ack = await press.waitForAck();
    expect(ack.type).toBe(9);
    expect(JSON.stringify(press.modal())).toContain('reason');
    const submit = h.discord.modalSubmit({ from: press, fields: { reason } });
    const answer = await submit.waitForOriginal((message) => !message.loading, 10_000);
    return { member, answer };
  }

  it('opens a form, records the reason, answers privately, and groups repeated reports', async () => {
    const watcher = h.discord.user({ username: 'watcher' });
    const first = await report(watcher, 'not appropriate for this channel');
    expect(first.answer.ephemeral).toBe(true);
    expect(first.answer.content).toMatch(/moderators will review/);
    await report(h.discord.user({ username: 'another' }), '');
    const reports = h.harness.app.owner!.repos.reports.forAsset(assetId);
    expect(reports).toHaveLength(2);
    expect(reports[0]?.reason).toBe('not appropriate for this channel');
    expect(reports[1]?.reason).toBeNull();
    // The same member reporting again is still one report.
    await report(watcher, 'still not appropriate');
    const grouped = h.harness.app.owner!.repos.reports.forAsset(assetId);
    expect(grouped).toHaveLength(2);
    expect(grouped[0]?.reason).toBe('still not appropriate');
    // Nothing public happened in the channel.
    expect(h.discord.channelMessages(h.general.id)).toEqual([]);
  });
});
