import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ASSET_KINDS } from '../../src/domain.js';
import {
  chooseModel,
  defaultEditModel,
  defaultImageToVideoModel,
  defaultModel,
  getModel,
  listModels,
  loadCatalog,
  MODEL_DEFINITIONS,
  MODEL_MODES,
  ModelChoiceError,
  modelProblems,
  resolveModelId,
  toCatalogModel,
} from '../../src/catalog/catalog.js';
import { parseSnapshot, serializeSnapshot, snapshotFileName } from '../../src/catalog/json-schema.js';

const schemasDir = fileURLToPath(new URL('../../src/catalog/schemas/', import.meta.url));

const REQUIRED_IDS = [
  'fal-ai/flux/schnell',
  'fal-ai/flux/dev',
  'fal-ai/flux-pro/kontext',
  'fal-ai/nano-banana/edit',
  'fal-ai/kling-video/v2.1/pro/image-to-video',
  'fal-ai/veo3',
];

function choiceError(run: () => unknown): ModelChoiceError {
  try {
    run();
  } catch (error) {
    if (error instanceof ModelChoiceError) return error;
    throw error;
  }
  throw new Error('expected a ModelChoiceError');
}

describe('snapshots', () => {
  it('has one canonical snapshot file per catalog model and nothing else', () => {
    const files = readdirSync(schemasDir).filter((name) => name.endsWith('.json')).sort();
    expect(files).toEqual(MODEL_DEFINITIONS.map((definition) => snapshotFileName(definition.id)).sort());
    for (const definition of MODEL_DEFINITIONS) {
      const text = readFileSync(`${schemasDir}${snapshotFileName(definition.id)}`, 'utf8');
      const snapshot = parseSnapshot(JSON.parse(text), definition.id);
      // Written exactly as the sync writes it, so an unchanged schema never shows up as a diff.
      expect(serializeSnapshot(snapshot)).toBe(text);
      expect(snapshot.input.required).toContain('prompt');
      expect(snapshot.input['x-fal-order-properties']?.length).toBeGreaterThan(0);
      expect(JSON.stringify(snapshot.input)).not.toContain('$ref'); // shared schemas are inlined
    }
  });

  it('keeps fal schema facts the bot relies on', () => {
    const schnell = getModel('fal-ai/flux/schnell')!;
    expect(schnell.schema.properties?.image_size?.default).toBe('landscape_4_3');
    expect(schnell.schema.properties?.num_inference_steps?.default).toBe(4);
    expect(getModel('fal-ai/flux/dev')!.schema.properties?.num_inference_steps?.default).toBe(28);
    expect(getModel('kontext')!.schema.properties?.safety_tolerance).toMatchObject({ type: 'string', default: '2' });
    expect(getModel('kling')!.durationChoices).toEqual(['5', '10']);
    expect(getModel('veo3')!.durationChoices).toContain('8s');
    expect(getModel('nano-banana')!.schema.properties?.image_urls?.type).toBe('array');
  });
});

describe('catalog entries', () => {
  it('includes the required models with their kind and mode', () => {
    const ids = listModels().map((model) => model.id);
    for (const id of REQUIRED_IDS) expect(ids).toContain(id);
    expect(getModel('fal-ai/flux/schnell')).toMatchObject({ kind: 'image', mode: 'text-to-image' });
    expect(getModel('fal-ai/flux/dev')).toMatchObject({ kind: 'image', mode: 'text-to-image' });
    expect(getModel('fal-ai/flux-pro/kontext')).toMatchObject({ kind: 'image', mode: 'image-edit' });
    expect(getModel('fal-ai/nano-banana/edit')).toMatchObject({ kind: 'image', mode: 'image-edit' });
    expect(getModel('fal-ai/kling-video/v2.1/pro/image-to-video')).toMatchObject({ kind: 'video', mode: 'image-to-video' });
    expect(getModel('fal-ai/veo3')).toMatchObject({ kind: 'video', mode: 'text-to-video' });
  });

  it('loads without problems and every entry is complete', () => {
    const models = loadCatalog();
    for (const model of models) {
      expect(modelProblems(model), model.id).toEqual([]);
      expect(model.name).not.toBe('');
      expect(model.description).not.toBe('');
      expect(model.priceHint).toMatch(/\$/);
      expect(MODEL_MODES).toContain(model.mode);
      expect(model.promptField).toBe('prompt');
      expect(model.snapshot.endpointId).toBe(model.id);
    }
  });

  it('maps attachment buckets to the right fields', () => {
    expect(getModel('kontext')!.buckets).toEqual({ references: { field: 'image_url', max: 1, required: true } });
    expect(getModel('nano-banana')!.buckets.references).toMatchObject({ field: 'image_urls', required: true });
    expect(getModel('nano-banana')!.buckets.references!.max).toBeGreaterThan(1);
    expect(getModel('kling')!.buckets).toEqual({
      first_frame: { field: 'image_url', max: 1, required: true },
      last_frame: { field: 'tail_image_url', max: 1, required: false },
    });
    expect(getModel('schnell')!.buckets).toEqual({});
    expect(getModel('veo3')!.buckets).toEqual({});
  });

  it('exposes size, count and duration choices from the schema', () => {
    const schnell = getModel('schnell')!;
    expect(schnell.sizeField).toBe('image_size');
    expect(schnell.sizeChoices).toEqual(['square_hd', 'square', 'portrait_4_3', 'portrait_16_9', 'landscape_4_3', 'landscape_16_9']);
    expect(schnell.sizeAcceptsCustom).toBe(true);
    expect(schnell.countField).toBe('num_images');
    expect(schnell.countRange).toEqual({ min: 1, max: 4 });
    const kontext = getModel('kontext')!;
    expect(kontext.sizeField).toBe('aspect_ratio');
    expect(kontext.sizeChoices).toContain('21:9');
    expect(kontext.sizeAcceptsCustom).toBe(false);
    const veo3 = getModel('veo3')!;
    expect(veo3.sizeChoices).toEqual(['16:9', '9:16']);
    expect(veo3.countField).toBeUndefined();
    expect(veo3.countRange).toBeUndefined();
    expect(getModel('kling')!.sizeField).toBeUndefined();
    expect(getModel('kling')!.sizeChoices).toEqual([]);
    expect(getModel('kling')!.seedField).toBeUndefined();
  });

  it('lists models by kind and mode, in catalog order', () => {
    expect(listModels({ kind: 'image' }).map((model) => model.id)).toEqual([
      'fal-ai/flux/schnell',
      'fal-ai/flux/dev',
      'fal-ai/flux-pro/kontext',
      'fal-ai/nano-banana/edit',
    ]);
    expect(listModels({ kind: 'video' }).every((model) => model.kind === 'video')).toBe(true);
    expect(listModels({ mode: 'image-edit' }).map((model) => model.id)).toEqual(['fal-ai/flux-pro/kontext', 'fal-ai/nano-banana/edit']);
    expect(listModels({ kind: 'image', mode: 'text-to-video' })).toEqual([]);
    expect(listModels()).toHaveLength(MODEL_DEFINITIONS.length);
  });

  it('finds models by id, short id and alias, case-insensitively', () => {
    expect(getModel('fal-ai/flux/dev')?.id).toBe('fal-ai/flux/dev');
    expect(getModel('flux/dev')?.id).toBe('fal-ai/flux/dev');
    for (const [alias, id] of [
      ['schnell', 'fal-ai/flux/schnell'],
      ['dev', 'fal-ai/flux/dev'],
      ['kontext', 'fal-ai/flux-pro/kontext'],
      ['nano-banana', 'fal-ai/nano-banana/edit'],
      ['kling', 'fal-ai/kling-video/v2.1/pro/image-to-video'],
      ['veo3', 'fal-ai/veo3'],
      [' Kontext ', 'fal-ai/flux-pro/kontext'],
    ] as const) {
      expect(getModel(alias)?.id, alias).toBe(id);
      expect(resolveModelId(alias), alias).toBe(id);
    }
    expect(getModel('fal-ai/unknown')).toBeUndefined();
    expect(getModel('')).toBeUndefined();
    expect(resolveModelId('nope')).toBeUndefined();
  });

  it('has defaults of the right kind', () => {
    for (const kind of ASSET_KINDS) expect(defaultModel(kind).kind).toBe(kind);
    expect(defaultModel('image').mode).toBe('text-to-image');
    expect(defaultModel('video').mode).toBe('text-to-video');
    expect(defaultEditModel()).toMatchObject({ kind: 'image', mode: 'image-edit' });
    expect(defaultImageToVideoModel()).toMatchObject({ kind: 'video', mode: 'image-to-video' });
  });

  it('refuses a snapshot that no longer fits the entry', () => {
    const { snapshot, ...kling } = MODEL_DEFINITIONS.find((definition) => definition.id.includes('kling'))!;
    const changed = structuredClone(snapshot) as { input: { properties: Record<string, unknown>; required: string[] } };
    delete changed.input.properties.tail_image_url;
    changed.input.properties.duration = { type: 'string', enum: ['6', '12'] };
    const problems = modelProblems(toCatalogModel(kling, changed));
    expect(problems).toContain('buckets.last_frame "tail_image_url" is not in the schema');
    expect(problems.join('\n')).toMatch(/duration must be one of 6, 12/);
    expect(() => toCatalogModel(kling, { ...snapshot, endpointId: 'fal-ai/other' })).toThrow(/expected fal-ai\/kling/);
  });
});

describe('chooseModel', () => {
  it('uses an explicit id or alias', () => {
    expect(chooseModel({ explicit: 'dev', kind: 'image', hasReferenceImages: false }).id).toBe('fal-ai/flux/dev');
    expect(chooseModel({ explicit: 'fal-ai/flux-pro/kontext', kind: 'image', hasReferenceImages: true }).id).toBe('fal-ai/flux-pro/kontext');
    // Explicit wins even if it ignores the attachments; buildInput reports that (wrong_bucket).
    expect(chooseModel({ explicit: 'schnell', kind: 'image', hasReferenceImages: true }).id).toBe('fal-ai/flux/schnell');
    expect(chooseModel({ explicit: 'kling', kind: 'video', hasReferenceImages: true }).id).toBe('fal-ai/kling-video/v2.1/pro/image-to-video');
  });

  it('treats a blank explicit name as none', () => {
    expect(chooseModel({ explicit: '  ', kind: 'image', hasReferenceImages: false }).id).toBe(defaultModel('image').id);
  });

  it('picks the edit model when images come with an image request', () => {
    expect(chooseModel({ kind: 'image', hasReferenceImages: true }).id).toBe(defaultEditModel().id);
    expect(chooseModel({ kind: 'image', hasReferenceImages: false }).id).toBe(defaultModel('image').id);
  });

  it('picks image-to-video when images come with a video request', () => {
    expect(chooseModel({ kind: 'video', hasReferenceImages: true }).id).toBe(defaultImageToVideoModel().id);
    expect(chooseModel({ kind: 'video', hasReferenceImages: false }).id).toBe(defaultModel('video').id);
  });

  it('with attachedBuckets, picks a default that takes every attached bucket', () => {
    expect(chooseModel({ kind: 'video', hasReferenceImages: false, attachedBuckets: ['first_frame'] }).id).toBe(defaultImageToVideoModel().id);
    expect(chooseModel({ kind: 'video', hasReferenceImages: false, attachedBuckets: ['first_frame', 'last_frame'] }).id).toBe(
      'fal-ai/kling-video/v2.1/pro/image-to-video',
    );
    expect(chooseModel({ kind: 'image', hasReferenceImages: false, attachedBuckets: ['references'] }).id).toBe(defaultEditModel().id);
    expect(chooseModel({ kind: 'image', hasReferenceImages: false, attachedBuckets: [] }).id).toBe(defaultModel('image').id);
    // Nothing takes a video input yet: fall back to the images default and let buildInput explain.
    expect(chooseModel({ kind: 'video', hasReferenceImages: false, attachedBuckets: ['video'] }).id).toBe(defaultImageToVideoModel().id);
  });

  it('rejects an unknown name, listing the known ids of that kind', () => {
    const error = choiceError(() => chooseModel({ explicit: 'sdxl', kind: 'image', hasReferenceImages: false }));
    expect(error.code).toBe('unknown_model');
    expect(error.requested).toBe('sdxl');
    expect(error.known).toEqual(listModels({ kind: 'image' }).map((model) => model.id));
    for (const model of listModels({ kind: 'image' })) expect(error.message).toContain(model.id);
    expect(error.message).not.toContain('fal-ai/veo3');
    expect(error.message).toMatch(/^unknown image model "sdxl"; known image models: fal-ai\/flux\/schnell \(schnell\)/);

    const video = choiceError(() => chooseModel({ explicit: 'sora', kind: 'video', hasReferenceImages: false }));
    expect(video.known).toEqual(listModels({ kind: 'video' }).map((model) => model.id));
    expect(video.message).toContain('fal-ai/veo3');
    expect(video.message).not.toContain('fal-ai/flux/dev');
  });

  it('rejects a model of the other kind', () => {
    const error = choiceError(() => chooseModel({ explicit: 'veo3', kind: 'image', hasReferenceImages: false }));
    expect(error.code).toBe('wrong_kind');
    expect(error.message).toMatch(/^fal-ai\/veo3 makes videos, not images; image models: /);
    expect(error.known).toContain('fal-ai/flux/schnell');
  });
});
