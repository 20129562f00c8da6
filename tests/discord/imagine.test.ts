import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('/imagine on Discord', () => {
  let h: DiscordHarness;

  beforeAll(async () => {
    h = await startDiscordHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('defers at once, shows progress, then edits in the result with the image attached and a share link', async () => {
    const { user, key } = await h.memberWithKey('alice');
    h.fal.setOutput('fal-ai/flux/schnell', () => h.fal.imageOutput({ width: 64, height: 48, seed: 77 }));
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a fox in the snow' }, user, channelId: h.general.id });
    const ack = await interaction.waitForAck(3_000);
    expect(ack.type).toBe(5);
    expect(ack.ms).toBeLessThan(3_000);

    const done = await interaction.waitForOriginal((message) => message.embeds.length > 0 && message.attachments.length > 0, 20_000);
    expect(done.ephemeral).toBe(false);
    const embed = done.embeds[0] as { title?: string; url?: string; image?: { url?: string }; fields?: Array<{ name: string; value: string }> };
    expect(embed.title).toBe('a fox in the snow');
    expect(embed.url).toMatch(new RegExp(`^${h.harness.baseUrl}/s/`));
    expect(embed.fields?.map((field) => field.name)).toEqual(expect.arrayContaining(['Model', 'Seed', 'Time taken']));
    const seed = embed.fields?.find((field) => field.name === 'Seed');
    expect(seed?.value).toBe('77');
    // The file is ours, byte for byte what was stored.
    const [attachment] = done.attachments;
    const stored = h.harness.app.owner!.repos.assets.getAssetByShareId(embed.url!.split('/s/')[1]!)!;
    expect(attachment && sha256(attachment.bytes)).toBe(stored.sha256);
    expect(JSON.stringify(done.raw)).not.toContain('fal.media');
    // A link button to the share page and the follow-up buttons.
    const buttons = (done.components as Array<{ components: Array<{ label?: string; url?: string; custom_id?: string }> }>).flatMap((row) => row.components);
    expect(buttons.find((button) => button.url === embed.url)).toBeDefined();
    expect(buttons.map((button) => button.label)).toEqual(expect.arrayContaining(['Rerun', 'Vary', 'Delete']));
    // fal saw this member's key.
    expect(h.fal.submits()[0]?.key).toBe(key);
    // Progress edits happened between the defer and the result, at most one per throttle window.
    const history = interaction.originalHistory();
    expect(history.length).toBeGreaterThanOrEqual(2);
  });
});
