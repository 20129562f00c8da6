import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../commands/define.js';
import { COMMANDS, runCommand, runComponent, suggest } from '../../commands/index.js';
import { getModel, listModels } from '../../src/catalog/index.js';
import { testUser } from '../helpers/app.js';
import { MemoryContext } from '../helpers/memory-context.js';
import { CommandsHarness } from '../helpers/commands.js';

describe('/models, /help and the one error handler', () => {
  let h: CommandsHarness;

  beforeAll(async () => {
    h = await CommandsHarness.start();
  });

  afterAll(async () => {
    await h?.close();
  });

  it('/models lists every model privately, with how to pick it, its price and its inputs', async () => {
    const ctx = await h.run('models', {}, { user: testUser('m') });
    const reply = ctx.lastReply();
    expect(reply.private).toBe(true);
    const models = listModels();
    expect(reply.message.cards).toHaveLength(models.length);
    const text = ctx.allText();
    for (const model of models) {
      expect(text).toContain(model.name);
      expect(text).toContain(`model:${model.aliases[0]}`);
      expect(text).toContain(model.priceHint);
    }
    expect(text).toContain('references (required, up to 1)');
    expect(text).toContain('first_frame (required, up to 1)');
    expect(text).toContain('landscape_16_9');

    const videos = await h.run('models', { kind: 'video' }, { user: testUser('m') });
    expect(videos.lastReply().message.cards?.map((card) => card.footer)).toEqual(listModels({ kind: 'video' }).map((model) => model.id));
    const bad = await h.run('models', { kind: 'audio' }, { user: testUser('m') });
    expect(bad.lastReply().private).toBe(true);
    expect(bad.lastText()).toContain('kind');
  });

  it('/help explains keys, commands and limits, privately, in a DM too', async () => {
    for (const isDirectMessage of [false, true]) {
      const ctx = await h.run('help', {}, { user: testUser('h'), isDirectMessage });
      expect(ctx.lastReply().private).toBe(true);
      const text = ctx.lastText();
      expect(text).toContain('/key set');
      expect(text).toMatch(/direct message/);
      expect(text).toMatch(/encrypted/);
      expect(text).toMatch(/last four characters/);
      expect(text).toContain('/key remove');
      for (const name of ['/imagine', '/animate', '/gallery', '/jobs', '/models']) expect(text).toContain(name);
      expect(text).toContain('25 MiB');
      expect(text).toContain('3 generations in progress');
    }
  });

  it('every command is usable and described', () => {
    for (const command of COMMANDS) {
      expect(command.description.length).toBeGreaterThan(0);
      expect(command.description.length).toBeLessThanOrEqual(100);
      for (const option of command.options ?? []) expect(option.description.length).toBeLessThanOrEqual(100);
    }
  });

  it('an unknown command answers privately', async () => {
    const ctx = await h.run('teleport', {}, { user: testUser('u') });
    expect(ctx.lastReply().private).toBe(true);
    expect(ctx.lastText()).toContain('/help');
  });

  it('an unexpected error becomes a private, generic message; the details go to the log only', async () => {
    const broken: Services = {
      ...h.services,
      gallery: Object.assign(Object.create(Object.getPrototypeOf(h.services.gallery) as object) as Services['gallery'], h.services.gallery, {
        mine: () => {
          throw new TypeError('database exploded at /srv/atelier/src/db/assets.ts:42');
        },
      }),
    };
    const ctx = new MemoryContext({ user: testUser('e') });
    await runCommand('gallery', {}, ctx, broken, h.logger);
    const reply = ctx.lastReply();
    expect(reply.private).toBe(true);
    expect(ctx.lastText()).toMatch(/Something went wrong on our side/);
    expect(ctx.allText()).not.toMatch(/exploded|assets\.ts|TypeError|\[object Object\]|\n\s+at /);
    expect(h.harness.logs.text).toContain('database exploded');

    // A thrown non-Error (a plain object) is no different.
    const weird = new MemoryContext({ user: testUser('w') });
    weird.replyRoute = () => {
      throw { status: 500, detail: { nested: true } };
    };
    await runCommand('imagine', { prompt: 'anything' }, weird, h.services, h.logger);
    expect(weird.lastReply().private).toBe(true);
    expect(weird.lastText()).toMatch(/Something went wrong on our side/);
    expect(weird.allText()).not.toContain('[object Object]');

    // The same holds for buttons.
    const pressed = new MemoryContext({ user: testUser('b') });
    await runComponent('gallery::', pressed, broken, h.logger);
    expect(pressed.lastReply().private).toBe(true);
    expect(pressed.lastText()).toMatch(/Something went wrong on our side/);
  });

  it('an error after a public defer still answers privately', async () => {
    const { user } = await h.userWithKey('late');
    const ctx = await h.run('imagine', { prompt: 'x', params: 'bogus' }, { user });
    expect(ctx.deferred).toEqual({ private: false });
    expect(ctx.lastReply().private).toBe(true);
  });
});

describe('autocomplete suggestions', () => {
  it('suggests models of the command kind, and the sizes and durations of the chosen model', () => {
    expect(suggest('imagine', 'model', '').map((choice) => choice.value)).toEqual(listModels({ kind: 'image' }).map((model) => model.aliases[0]));
    expect(suggest('animate', 'model', 'veo').map((choice) => choice.value)).toEqual(['veo3', 'veo3.1']);
    expect(suggest('imagine', 'size', 'land').map((choice) => choice.value)).toEqual(['landscape_4_3', 'landscape_16_9']);
    expect(suggest('imagine', 'size', '800x600').map((choice) => choice.value)).toContain('800x600');
    expect(suggest('imagine', 'size', '', { model: 'kontext' }).map((choice) => choice.value)).toContain('16:9');
    expect(suggest('imagine', 'size', '', { image: { name: 'a.png' } }).map((choice) => choice.value)).toContain('16:9');
    expect(suggest('animate', 'duration', '').map((choice) => choice.value)).toEqual(['4s', '6s', '8s']);
    expect(suggest('animate', 'duration', '', { model: 'kling' }).map((choice) => choice.value)).toEqual(['5', '10']);
    expect(suggest('animate', 'duration', '', { first_frame: { name: 'a.png' } }).map((choice) => choice.value)).toEqual(['5', '10']);
    expect(suggest('imagine', 'size', '', { model: 'nonsense' })).toEqual([]);
    expect(suggest('imagine', 'prompt', 'a cat')).toEqual([]);
    for (const choice of suggest('gallery', 'model', '')) {
      expect(choice.name.length).toBeLessThanOrEqual(100);
      expect(getModel(choice.value)).toBeDefined();
    }
  });
});
