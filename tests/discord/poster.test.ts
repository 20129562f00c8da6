import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePng } from '../fakes/fal-fixtures.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/** A video shows a still poster in its result post and in /gallery, never the video URL as an image. */
describe('video posters on Discord', () => {
  let h: DiscordHarness;

  beforeAll(async () => {
    h = await startDiscordHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('an /animate result and its gallery entry show the poster', async () => {
    const { user } = await h.memberWithKey('filmmaker');
    const frame = h.discord.addAttachment('start.png', makePng(40, 30, { seed: 9 }), 'image/png');
    // Large enough not to be attached, so the post links the video and shows its poster.
    h.fal.setOutput('fal-ai/kling-video/v2.1/pro/image-to-video', () => h.fal.videoOutput({ bytes: 11 * 1024 * 1024, durationSeconds: 5 }));
    const animate = h.discord.slashCommand({ name: 'animate', options: { prompt: 'the fox runs', first_frame: frame }, user, channelId: h.general.id });
    const done = await animate.waitForOriginal((message) => message.embeds.length > 0 && message.content.includes('/s/'), 20_000);
    const asset = h.harness.app.owner!.services.gallery.mine({ platform: 'discord', workspaceId: '', platformUserId: user.id }, { limit: 5 }).items[0]!;
    expect(asset.posterUrl).toBeDefined();
    const embed = done.embeds[0] as { image?: { url?: string } };
    expect(embed.image?.url).toBe(asset.posterUrl);
    expect(embed.image?.url).not.toBe(asset.mediaUrl);
    expect(done.content).toContain(asset.shareUrl);

    const gallery = h.discord.slashCommand({ name: 'gallery', options: {}, user, channelId: h.general.id });
    const shown = await gallery.waitForOriginal((message) => message.embeds.length > 0, 10_000);
    const card = shown.embeds[0] as { thumbnail?: { url?: string } };
    expect(card.thumbnail?.url).toBe(asset.posterUrl);
  });
});
