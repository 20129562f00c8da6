import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AutocompleteOptions } from '../fakes/discord-server.js';
import { makePng } from '../fakes/fal-fixtures.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/** Autocomplete for /imagine and /animate: models of the right kind, sizes and durations of the model chosen. */
describe('Discord autocomplete for generation options', () => {
  let h: DiscordHarness;

  beforeAll(async () => {
    h = await startDiscordHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Sends an autocomplete request and returns the choices, checking it was answered in time with type 8. */
  async function choices(options: Omit<AutocompleteOptions, 'channelId'>): Promise<Array<{ name: string; value: string }>> {
    const interaction = h.discord.autocomplete({ channelId: h.general.id, ...options });
    const ack = await interaction.waitForAck(3_000);
    expect(ack.type).toBe(8);
    expect(ack.ms).toBeLessThan(3_000);
    return (interaction.autocompleteChoices() ?? []) as Array<{ name: string; value: string }>;
  }
  const values = (list: Array<{ value: string }>) => list.map((choice) => choice.value);

  it('model for /imagine: image models only, filtered by what was typed', async () => {
    const all = await choices({ name: 'imagine', options: { prompt: 'a cat' }, focused: 'model' });
    expect(values(all)).toEqual(['schnell', 'dev', 'kontext', 'nano-banana']);
    for (const choice of all) {
      expect(choice.name.length).toBeLessThanOrEqual(100);
      expect(choice.name).toMatch(/\(.+, .+\)$/);
    }
    expect(values(await choices({ name: 'imagine', options: { prompt: 'a cat', model: 'FLUX' }, focused: 'model' }))).toEqual(['schnell', 'dev', 'kontext']);
    expect(values(await choices({ name: 'imagine', options: { prompt: 'a cat', model: 'banana' }, focused: 'model' }))).toEqual(['nano-banana']);
    expect(await choices({ name: 'imagine', options: { prompt: 'a cat', model: 'veo' }, focused: 'model' })).toEqual([]);
  });

  it('model for /animate: video models only', async () => {
    expect(values(await choices({ name: 'animate', options: { prompt: 'waves' }, focused: 'model' }))).toEqual(['kling', 'veo3', 'veo3.1']);
  });

  it('size follows the model: the default model, a named one, and the edit model when images are attached', async () => {
    const defaultSizes = values(await choices({ name: 'imagine', options: { prompt: 'a cat' }, focused: 'size' }));
    expect(defaultSizes).toEqual(expect.arrayContaining(['square_hd', 'landscape_16_9', 'portrait_4_3']));
    expect(defaultSizes.every((size) => !size.includes(':'))).toBe(true);

    const landscape = values(await choices({ name: 'imagine', options: { prompt: 'a cat', size: 'landscape' }, focused: 'size' }));
    expect(landscape.length).toBeGreaterThan(0);
    expect(landscape.every((size) => size.startsWith('landscape'))).toBe(true);

    const kontext = values(await choices({ name: 'imagine', options: { prompt: 'a cat', model: 'kontext' }, focused: 'size' }));
    expect(kontext).toEqual(expect.arrayContaining(['16:9', '1:1']));

    const image = h.discord.addAttachment('ref.png', makePng(8, 8), 'image/png');
    const withImage = values(await choices({ name: 'imagine', options: { prompt: 'a cat', image }, focused: 'size' }));
    expect(withImage).toEqual(expect.arrayContaining(['1:1', '16:9']));
    expect(withImage).not.toContain('square_hd');
  });

  it('an attachment Discord sends unresolved still counts as attached', async () => {
    const withImage = values(
      await choices({
        name: 'imagine',
        options: [
          { name: 'prompt', type: 3, value: 'a cat' },
          { name: 'image', type: 11, value: '1234567890123456789' },
        ],
        focused: 'size',
      }),
    );
    expect(withImage).toEqual(expect.arrayContaining(['1:1', '16:9']));
    expect(withImage).not.toContain('square_hd');
  });

  it('duration follows the video model; unknown options and models get no suggestions', async () => {
    expect(values(await choices({ name: 'animate', options: { prompt: 'waves', model: 'kling' }, focused: 'duration' }))).toEqual(['5', '10']);
    expect(await choices({ name: 'imagine', options: { prompt: 'a cat', model: 'no-such-model' }, focused: 'size' })).toEqual([]);
    expect(await choices({ name: 'imagine', options: { prompt: 'a cat' }, focused: 'params' })).toEqual([]);
  });
});
