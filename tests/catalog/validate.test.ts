import { describe, expect, it } from 'vitest';
import type { InputBucket } from '../../src/domain.js';
import { getModel, listModels, toCatalogModel, type CatalogModel, type ModelDefinition } from '../../src/catalog/catalog.js';
import type { JsonSchema } from '../../src/catalog/json-schema.js';
import {
  buildInput,
  DEFAULT_PROMPT_MAX_LENGTH,
  parseFreeformParams,
  settableParams,
  type BuildRequest,
  type InputIssue,
} from '../../src/catalog/validate.js';

function model(name: string): CatalogModel {
  const found = getModel(name);
  if (!found) throw new Error(`no model ${name}`);
  return found;
}

function requiredAttachments(target: CatalogModel): Partial<Record<InputBucket, number>> {
  return Object.fromEntries(
    Object.entries(target.buckets)
      .filter(([, spec]) => spec.required)
      .map(([bucket]) => [bucket, 1]),
  );
}

function ok(target: CatalogModel, request: BuildRequest) {
  const result = buildInput(target, request);
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.issues)}`);
  return result;
}

function issues(target: CatalogModel, request: BuildRequest): InputIssue[] {
  const result = buildInput(target, request);
  if (result.ok) throw new Error(`expected issues, got ${JSON.stringify(result.input)}`);
  return result.issues;
}

function only(target: CatalogModel, request: BuildRequest): InputIssue {
  const found = issues(target, request);
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** A made-up model to exercise schema features the real snapshots do not use. */
function testModel(input: JsonSchema, definition: Partial<Omit<ModelDefinition, 'snapshot'>> = {}): CatalogModel {
  return toCatalogModel(
    {
      id: 'test/model',
      name: 'Test Model',
      aliases: [],
      kind: 'image',
      mode: 'text-to-image',
      description: 'test',
      priceHint: '$0',
      defaults: {},
      buckets: {},
      promptField: 'prompt',
      ...definition,
    },
    { endpointId: 'test/model', fetchedFrom: 'test', fetchedAt: '2025-01-01T00:00:00.000Z', input },
  );
}

const schnell = model('schnell');
const dev = model('dev');
const kontext = model('kontext');
const nano = model('nano-banana');
const kling = model('kling');
const veo3 = model('veo3');

describe('every catalog model', () => {
  for (const target of listModels()) {
    describe(target.id, () => {
      it('accepts a bare prompt with its required attachments, sending its defaults', () => {
        const result = ok(target, { prompt: '  a red fox in the snow  ', attachments: requiredAttachments(target) });
        expect(result.input).toEqual({ ...target.defaults, prompt: 'a red fox in the snow' });
        for (const spec of Object.values(target.buckets)) expect(result.input).not.toHaveProperty(spec.field);
        for (const [bucket, spec] of Object.entries(target.buckets)) {
          if (spec.required) expect(result.fileFields[bucket as InputBucket]?.field).toBe(spec.field);
        }
      });

      it('accepts every schema default typed as chat text, coerced back to its JSON value', () => {
        const params: Record<string, string> = {};
        const expected: Record<string, unknown> = {};
        for (const name of settableParams(target)) {
          const fallback = target.schema.properties?.[name]?.default;
          if (fallback === undefined) continue;
          params[name] = typeof fallback === 'string' ? fallback : JSON.stringify(fallback);
          expected[name] = fallback;
        }
        expect(Object.keys(params).length).toBeGreaterThan(0);
        const result = ok(target, { prompt: 'test', params, attachments: requiredAttachments(target) });
        expect(result.input).toMatchObject(expected);
      });

      it('never lets params set the prompt, file fields or sync_mode', () => {
        const settable = settableParams(target);
        expect(settable).not.toContain('prompt');
        expect(settable).not.toContain('sync_mode');
        for (const spec of Object.values(target.buckets)) expect(settable).not.toContain(spec.field);
      });
    });
  }
});

describe('coercion of chat strings', () => {
  it('turns numbers, booleans and enums into the schema types', () => {
    const result = ok(dev, {
      prompt: 'p',
      params: parseFreeformParams('num_inference_steps=8 guidance_scale=4.5 enable_safety_checker=false output_format=PNG acceleration=High'),
    });
    expect(result.input).toEqual({
      prompt: 'p',
      num_images: 1,
      num_inference_steps: 8,
      guidance_scale: 4.5,
      enable_safety_checker: false,
      output_format: 'png',
      acceleration: 'high',
    });
  });

  it('accepts yes/no/on/off/1/0 for booleans and surrounding spaces for numbers', () => {
    expect(ok(dev, { prompt: 'p', params: { enable_safety_checker: 'YES' } }).input.enable_safety_checker).toBe(true);
    expect(ok(dev, { prompt: 'p', params: { enable_safety_checker: '0' } }).input.enable_safety_checker).toBe(false);
    expect(ok(dev, { prompt: 'p', params: { num_inference_steps: ' 12 ' } }).input.num_inference_steps).toBe(12);
    expect(ok(dev, { prompt: 'p', params: { num_inference_steps: '12.0' } }).input.num_inference_steps).toBe(12);
  });

  it('passes already-typed values through unchanged', () => {
    const result = ok(dev, { prompt: 'p', params: { num_inference_steps: 10, enable_safety_checker: true, guidance_scale: 2 } });
    expect(result.input).toMatchObject({ num_inference_steps: 10, enable_safety_checker: true, guidance_scale: 2 });
  });

  it('parses JSON for objects and accepts WIDTHxHEIGHT for image_size', () => {
    expect(ok(dev, { prompt: 'p', params: { image_size: '{"width": 1024, "height": 768}' } }).input.image_size).toEqual({ width: 1024, height: 768 });
    expect(ok(dev, { prompt: 'p', params: { image_size: '1280x720' } }).input.image_size).toEqual({ width: 1280, height: 720 });
    expect(ok(dev, { prompt: 'p', size: '512 × 512' }).input.image_size).toEqual({ width: 512, height: 512 });
    expect(ok(dev, { prompt: 'p', size: 'square_hd' }).input.image_size).toBe('square_hd');
    expect(ok(dev, { prompt: 'p', params: { image_size: { width: 64, height: 64 } } }).input.image_size).toEqual({ width: 64, height: 64 });
  });

  it('turns numbers into strings for string enums (safety_tolerance, kling duration)', () => {
    expect(ok(kontext, { prompt: 'p', params: { safety_tolerance: 5 }, attachments: { references: 1 } }).input.safety_tolerance).toBe('5');
    expect(ok(kontext, { prompt: 'p', params: { safety_tolerance: '5' }, attachments: { references: 1 } }).input.safety_tolerance).toBe('5');
    expect(ok(kling, { prompt: 'p', params: { duration: 10 }, attachments: { first_frame: 1 } }).input.duration).toBe('10');
  });

  it('maps seed, size, count and duration options onto the model fields', () => {
    const image = ok(kontext, { prompt: 'p', seed: 42, size: '16:9', count: 3, attachments: { references: 1 } });
    expect(image.input).toMatchObject({ seed: 42, aspect_ratio: '16:9', num_images: 3 });
    const video = ok(veo3, { prompt: 'p', seed: 7, size: '9:16', duration: '6s' });
    expect(video.input).toMatchObject({ seed: 7, aspect_ratio: '9:16', duration: '6s' });
  });

  it('forgives a missing or extra "s" on durations when that matches a choice', () => {
    expect(ok(veo3, { prompt: 'p', duration: '8' }).input.duration).toBe('8s');
    expect(ok(veo3, { prompt: 'p', duration: '4 seconds' }).input.duration).toBe('4s');
    expect(ok(kling, { prompt: 'p', duration: '10s', attachments: { first_frame: 1 } }).input.duration).toBe('10');
    const issue = only(veo3, { prompt: 'p', duration: '7' });
    expect(issue).toEqual({
      field: 'duration',
      code: 'not_in_enum',
      message: 'duration must be one of 4s, 6s, 8s (got "7")',
      allowed: ['4s', '6s', '8s'],
    });
  });

  it('lets a dedicated option win over the same field in params', () => {
    expect(ok(dev, { prompt: 'p', params: { seed: '1' }, seed: 2 }).input.seed).toBe(2);
    expect(ok(dev, { prompt: 'p', params: { num_images: '2' } }).input.num_images).toBe(2);
  });

  it('does not modify the catalog defaults', () => {
    ok(kling, { prompt: 'p', duration: '10', attachments: { first_frame: 1 } });
    expect(kling.defaults).toEqual({ duration: '5' });
  });
});

describe('issues', () => {
  it('unknown_field: lists the allowed parameters', () => {
    const issue = only(schnell, { prompt: 'p', params: { stepz: '8' } });
    expect(issue).toEqual({
      field: 'stepz',
      code: 'unknown_field',
      message:
        'unknown parameter "stepz"; allowed: image_size, num_inference_steps, seed, num_images, enable_safety_checker, output_format, acceleration',
      allowed: ['image_size', 'num_inference_steps', 'seed', 'num_images', 'enable_safety_checker', 'output_format', 'acceleration'],
    });
    // schnell's schema has no guidance_scale even though dev's does.
    expect(only(schnell, { prompt: 'p', params: { guidance_scale: '3' } }).code).toBe('unknown_field');
  });

  it('unknown_field: sync_mode is not allowed, with the reason', () => {
    const issue = only(dev, { prompt: 'p', params: { sync_mode: 'true' } });
    expect(issue.code).toBe('unknown_field');
    expect(issue.field).toBe('sync_mode');
    expect(issue.message).toMatch(/^sync_mode is not allowed: /);
    expect(issue.allowed).not.toContain('sync_mode');
    expect(only(dev, { prompt: 'p', params: { sync_mode: false } }).code).toBe('unknown_field');
  });

  it('unknown_field: file URL fields come from attachments only', () => {
    const issue = only(kontext, { prompt: 'p', params: { image_url: 'https://evil.example/x.png' }, attachments: { references: 1 } });
    expect(issue.code).toBe('unknown_field');
    expect(issue.message).toMatch(/^image_url is filled from your attachments/);
    expect(only(nano, { prompt: 'p', params: { image_urls: '["https://x"]' }, attachments: { references: 1 } }).field).toBe('image_urls');
    expect(only(kling, { prompt: 'p', params: { tail_image_url: 'https://x' }, attachments: { first_frame: 1 } }).field).toBe('tail_image_url');
  });

  it('unknown_field: the prompt is not a parameter', () => {
    const issue = only(dev, { prompt: 'p', params: { prompt: 'other' } });
    expect(issue).toMatchObject({ field: 'prompt', code: 'unknown_field' });
    expect(issue.message).toMatch(/comes from your prompt text/);
  });

  it('unknown_field: options the model does not have', () => {
    expect(only(kling, { prompt: 'p', seed: 1, attachments: { first_frame: 1 } })).toEqual({
      field: 'seed',
      code: 'unknown_field',
      message: 'Kling 2.1 Pro (image to video) has no seed option',
    });
    expect(only(veo3, { prompt: 'p', count: 2 }).message).toBe('Veo 3 has no count option');
    expect(only(schnell, { prompt: 'p', duration: '5' }).field).toBe('duration');
    expect(only(kling, { prompt: 'p', size: '16:9', attachments: { first_frame: 1 } }).field).toBe('size');
  });

  it('invalid_type: names the field and the expected type', () => {
    expect(only(dev, { prompt: 'p', params: { guidance_scale: 'abc' } })).toEqual({
      field: 'guidance_scale',
      code: 'invalid_type',
      message: 'guidance_scale must be a number (got "abc")',
    });
    expect(only(dev, { prompt: 'p', params: { num_inference_steps: '8.5' } }).message).toBe(
      'num_inference_steps must be a whole number (got "8.5")',
    );
    expect(only(dev, { prompt: 'p', params: { enable_safety_checker: 'maybe' } }).message).toBe(
      'enable_safety_checker must be true or false (got "maybe")',
    );
    expect(only(dev, { prompt: 'p', seed: 1.5 }).message).toBe('seed must be a whole number (got 1.5)');
    expect(only(dev, { prompt: 'p', params: { num_images: 'Infinity' } }).code).toBe('invalid_type');
    expect(only(dev, { prompt: 'p', params: { image_size: '{"width": 1' } }).code).toBe('not_in_enum');
    expect(only(dev, { prompt: 'p', params: { image_size: 12 } })).toMatchObject({ code: 'not_in_enum', field: 'image_size' });
  });

  it('not_in_enum: lists the choices', () => {
    expect(only(dev, { prompt: 'p', params: { output_format: 'gif' } })).toEqual({
      field: 'output_format',
      code: 'not_in_enum',
      message: 'output_format must be one of jpeg, png (got "gif")',
      allowed: ['jpeg', 'png'],
    });
    expect(only(kontext, { prompt: 'p', size: '5:1', attachments: { references: 1 } })).toEqual({
      field: 'aspect_ratio',
      code: 'not_in_enum',
      message: 'aspect_ratio must be one of 21:9, 16:9, 4:3, 3:2, 1:1, 2:3, 3:4, 9:16, 9:21 (got "5:1")',
      allowed: ['21:9', '16:9', '4:3', '3:2', '1:1', '2:3', '3:4', '9:16', '9:21'],
    });
  });

  it('not_in_enum: image_size also mentions the custom WIDTHxHEIGHT form', () => {
    expect(only(dev, { prompt: 'p', size: 'huge' })).toEqual({
      field: 'image_size',
      code: 'not_in_enum',
      message:
        'image_size must be one of square_hd, square, portrait_4_3, portrait_16_9, landscape_4_3, landscape_16_9, or WIDTHxHEIGHT such as 1024x768 (got "huge")',
      allowed: ['square_hd', 'square', 'portrait_4_3', 'portrait_16_9', 'landscape_4_3', 'landscape_16_9'],
    });
  });

  it('too_small and too_big: give the range and the value', () => {
    expect(only(dev, { prompt: 'p', count: 9 })).toEqual({ field: 'num_images', code: 'too_big', message: 'num_images must be at most 4 (got 9)' });
    expect(only(dev, { prompt: 'p', count: 0 })).toEqual({ field: 'num_images', code: 'too_small', message: 'num_images must be at least 1 (got 0)' });
    expect(only(schnell, { prompt: 'p', params: { num_inference_steps: '28' } }).message).toBe('num_inference_steps must be at most 12 (got 28)');
    expect(only(kling, { prompt: 'p', params: { cfg_scale: '1.5' }, attachments: { first_frame: 1 } }).message).toBe(
      'cfg_scale must be at most 1 (got 1.5)',
    );
  });

  it('too_small and too_big: nested fields of a custom image size', () => {
    expect(only(dev, { prompt: 'p', size: '0x512' })).toEqual({
      field: 'image_size.width',
      code: 'too_small',
      message: 'image_size.width must be greater than 0 (got 0)',
    });
    expect(only(dev, { prompt: 'p', params: { image_size: '{"width":99999,"height":10}' } })).toMatchObject({
      field: 'image_size.width',
      code: 'too_big',
      message: 'image_size.width must be at most 14142 (got 99999)',
    });
    expect(only(dev, { prompt: 'p', params: { image_size: '{"width":10,"height":10,"depth":3}' } })).toMatchObject({
      field: 'image_size.depth',
      code: 'unknown_field',
      allowed: ['width', 'height'],
    });
  });

  it('too_big: a string longer than the schema allows', () => {
    const issue = only(kling, { prompt: 'p', params: { negative_prompt: 'x'.repeat(2501) }, attachments: { first_frame: 1 } });
    expect(issue).toEqual({ field: 'negative_prompt', code: 'too_big', message: 'negative_prompt must be at most 2500 characters (got 2501)' });
  });

  it('wrong_bucket: attachments the model cannot take', () => {
    expect(only(schnell, { prompt: 'p', attachments: { references: 1 } })).toEqual({
      field: 'references',
      code: 'wrong_bucket',
      message: 'FLUX.1 [schnell] does not take reference images; it takes no attachments',
    });
    expect(only(kontext, { prompt: 'p', attachments: { references: 1, first_frame: 1 } })).toEqual({
      field: 'first_frame',
      code: 'wrong_bucket',
      message: 'FLUX.1 Kontext [pro] does not take first-frame images; it takes reference images',
      allowed: ['references'],
    });
    expect(only(kling, { prompt: 'p', attachments: { first_frame: 1, video: 1 } }).allowed).toEqual(['first_frame', 'last_frame']);
  });

  it('too_many_files: more attachments than the field takes', () => {
    expect(only(kontext, { prompt: 'p', attachments: { references: 2 } })).toEqual({
      field: 'references',
      code: 'too_many_files',
      message: 'FLUX.1 Kontext [pro] takes at most 1 reference image (got 2)',
    });
    const max = nano.buckets.references!.max;
    expect(only(nano, { prompt: 'p', attachments: { references: max + 1 } }).message).toBe(
      `Nano Banana (edit) takes at most ${max} reference images (got ${max + 1})`,
    );
    expect(only(kling, { prompt: 'p', attachments: { first_frame: 1, last_frame: 2 } }).code).toBe('too_many_files');
  });

  it('missing_file: a required bucket without attachments', () => {
    expect(only(kontext, { prompt: 'p' })).toEqual({
      field: 'references',
      code: 'missing_file',
      message: 'FLUX.1 Kontext [pro] needs a reference image: attach one',
    });
    expect(only(kling, { prompt: 'p', attachments: { last_frame: 1 } })).toEqual({
      field: 'first_frame',
      code: 'missing_file',
      message: 'Kling 2.1 Pro (image to video) needs a first-frame image: attach one',
    });
    expect(only(nano, { prompt: 'p', attachments: { references: 0 } }).code).toBe('missing_file');
  });

  it('reports every problem at once', () => {
    const found = issues(kontext, { prompt: ' ', params: { stepz: '1', num_images: '7' }, attachments: { references: 3 } });
    expect(found.map((issue) => issue.code)).toEqual(['required', 'unknown_field', 'too_big', 'too_many_files']);
  });
});

describe('files', () => {
  it('returns where each attached bucket goes, and whether the field takes a list', () => {
    expect(ok(nano, { prompt: 'p', attachments: { references: 3 } }).fileFields).toEqual({ references: { field: 'image_urls', multiple: true } });
    expect(ok(kontext, { prompt: 'p', attachments: { references: 1 } }).fileFields).toEqual({ references: { field: 'image_url', multiple: false } });
    expect(ok(kling, { prompt: 'p', attachments: { first_frame: 1, last_frame: 1 } }).fileFields).toEqual({
      first_frame: { field: 'image_url', multiple: false },
      last_frame: { field: 'tail_image_url', multiple: false },
    });
    expect(ok(kling, { prompt: 'p', attachments: { first_frame: 1, last_frame: 0 } }).fileFields).toEqual({
      first_frame: { field: 'image_url', multiple: false },
    });
    expect(ok(schnell, { prompt: 'p' }).fileFields).toEqual({});
  });
});

describe('prompt', () => {
  it('is trimmed', () => {
    expect(ok(dev, { prompt: '\n  a cat \t' }).input.prompt).toBe('a cat');
  });

  it('is required and must not be blank', () => {
    for (const prompt of ['', '   ', '\n\t']) {
      expect(only(dev, { prompt })).toEqual({ field: 'prompt', code: 'required', message: 'prompt is required: describe what you want' });
    }
  });

  it('defaults to a 2000-character limit, counted after trimming', () => {
    expect(DEFAULT_PROMPT_MAX_LENGTH).toBe(2000);
    expect(ok(dev, { prompt: `  ${'a'.repeat(2000)}  ` }).input.prompt).toHaveLength(2000);
    expect(only(dev, { prompt: 'a'.repeat(2001) })).toEqual({
      field: 'prompt',
      code: 'too_big',
      message: 'prompt must be at most 2000 characters (got 2001)',
    });
  });

  it('counts characters, not UTF-16 units', () => {
    expect(ok(dev, { prompt: '🦊'.repeat(2000) }).input.prompt).toBe('🦊'.repeat(2000));
  });

  it("uses the schema's maxLength and minLength when given", () => {
    expect(ok(kling, { prompt: 'a'.repeat(2500), attachments: { first_frame: 1 } }).ok).toBe(true);
    expect(only(kling, { prompt: 'a'.repeat(2501), attachments: { first_frame: 1 } }).message).toBe(
      'prompt must be at most 2500 characters (got 2501)',
    );
    const strict = testModel({ type: 'object', required: ['prompt'], properties: { prompt: { type: 'string', minLength: 3, maxLength: 10 } } });
    expect(only(strict, { prompt: 'ab' })).toEqual({ field: 'prompt', code: 'too_small', message: 'prompt must be at least 3 characters (got 2)' });
    expect(only(strict, { prompt: 'a'.repeat(11) }).message).toBe('prompt must be at most 10 characters (got 11)');
  });
});

describe('schema features', () => {
  const root: JsonSchema = {
    type: 'object',
    required: ['prompt', 'mode'],
    'x-fal-order-properties': ['prompt', 'mode', 'seed', 'loras', 'strength', 'tags', 'style', 'ratio', 'legacy'],
    $defs: {
      LoraWeight: {
        type: 'object',
        required: ['path'],
        properties: { path: { type: 'string', minLength: 1 }, scale: { type: 'number', default: 1, minimum: 0, maximum: 4 } },
      },
    },
    properties: {
      prompt: { type: 'string' },
      mode: { type: 'string', enum: ['fast', 'slow'] },
      seed: { anyOf: [{ type: 'integer' }, { type: 'null' }] },
      loras: { type: 'array', items: { $ref: '#/$defs/LoraWeight' }, maxItems: 2 },
      strength: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
      tags: { type: 'array', items: { type: 'string' }, minItems: 1 },
      style: { oneOf: [{ type: 'string', enum: ['a', 'b'] }, { type: 'integer', minimum: 10 }] },
      ratio: { allOf: [{ $ref: '#/components/schemas/Ratio' }], description: 'OpenAPI-style wrapper' },
      legacy: { type: 'number', minimum: 0, exclusiveMinimum: true },
    },
  };
  (root.$defs as Record<string, JsonSchema>).Ratio = { type: 'string', enum: ['1:1', '2:1'] };
  const target = testModel(root, { seedField: 'seed', defaults: { mode: 'fast' } });

  it('resolves $ref inside the snapshot, for arrays of objects', () => {
    const result = ok(target, { prompt: 'p', params: { loras: '[{"path":"x"},{"path":"y","scale":"2"}]' } });
    expect(result.input.loras).toEqual([{ path: 'x' }, { path: 'y', scale: 2 }]);
    expect(only(target, { prompt: 'p', params: { loras: '[{"path":"x","scale":5}]' } })).toMatchObject({
      field: 'loras[0].scale',
      code: 'too_big',
      message: 'loras[0].scale must be at most 4 (got 5)',
    });
    expect(only(target, { prompt: 'p', params: { loras: '[{"scale":1}]' } })).toMatchObject({ field: 'loras[0].path', code: 'required' });
    expect(only(target, { prompt: 'p', params: { loras: '[{"path":"a"},{"path":"b"},{"path":"c"}]' } }).message).toBe(
      'loras must have at most 2 items (got 3)',
    );
    expect(only(target, { prompt: 'p', params: { loras: 'not json' } }).message).toBe('loras must be a JSON list like ["a","b"] (got "not json")');
  });

  it('handles anyOf with null, oneOf, allOf and `#/components/schemas` refs', () => {
    expect(ok(target, { prompt: 'p', params: { seed: '5' } }).input.seed).toBe(5);
    expect(ok(target, { prompt: 'p', params: { seed: null } }).input.seed).toBeNull();
    expect(only(target, { prompt: 'p', params: { seed: 'x' } }).message).toBe('seed must be a whole number (got "x")');
    expect(ok(target, { prompt: 'p', params: { style: 'B' } }).input.style).toBe('b');
    expect(ok(target, { prompt: 'p', params: { style: '12' } }).input.style).toBe(12);
    expect(only(target, { prompt: 'p', params: { style: '3' } })).toMatchObject({ code: 'too_small', message: 'style must be at least 10 (got 3)' });
    expect(ok(target, { prompt: 'p', params: { ratio: '2:1' } }).input.ratio).toBe('2:1');
    expect(only(target, { prompt: 'p', params: { ratio: '3:1' } })).toMatchObject({ code: 'not_in_enum', allowed: ['1:1', '2:1'] });
  });

  it('handles exclusive bounds in both JSON Schema and OpenAPI 3.0 form', () => {
    expect(ok(target, { prompt: 'p', params: { strength: '0.5' } }).input.strength).toBe(0.5);
    expect(only(target, { prompt: 'p', params: { strength: '1' } }).message).toBe('strength must be less than 1 (got 1)');
    expect(only(target, { prompt: 'p', params: { strength: '0' } }).message).toBe('strength must be greater than 0 (got 0)');
    expect(only(target, { prompt: 'p', params: { legacy: '0' } }).message).toBe('legacy must be greater than 0 (got 0)');
  });

  it('checks minItems and string items', () => {
    expect(ok(target, { prompt: 'p', params: { tags: '["x"]' } }).input.tags).toEqual(['x']);
    expect(only(target, { prompt: 'p', params: { tags: '[]' } }).message).toBe('tags must have at least 1 item (got 0)');
    expect(ok(target, { prompt: 'p', params: { tags: '[1]' } }).input.tags).toEqual(['1']);
    expect(only(target, { prompt: 'p', params: { tags: '[{"a":1}]' } }).message).toBe('tags[0] must be text (got {"a":1})');
  });

  it('reports other required schema fields that have no value', () => {
    const bare = testModel(root);
    expect(only(bare, { prompt: 'p' })).toEqual({ field: 'mode', code: 'required', message: 'mode is required' });
    expect(ok(bare, { prompt: 'p', params: { mode: 'slow' } }).input.mode).toBe('slow');
  });
});
