/**
 * The models the bot offers. Each entry pairs our choices (defaults, how attachments map to input
 * fields, what chat options set) with fal's input schema, snapshotted in `schemas/` and refreshed by
 * `npm run catalog:sync`. Adding a model: add its id here, run the sync (or write the snapshot), import it.
 */
import type { AssetKind, InputBucket } from '../domain.js';
import { deref, enumValues, parseSnapshot, typesOf } from './json-schema.js';
import type { CatalogModel, ModelDefinition, ModelMode } from './types.js';
import { acceptValue, buildInput, isMultipleFileField } from './validate.js';

import fluxSchnellSnapshot from './schemas/fal-ai__flux__schnell.json' with { type: 'json' };
import fluxDevSnapshot from './schemas/fal-ai__flux__dev.json' with { type: 'json' };
import fluxProKontextSnapshot from './schemas/fal-ai__flux-pro__kontext.json' with { type: 'json' };
import nanoBananaEditSnapshot from './schemas/fal-ai__nano-banana__edit.json' with { type: 'json' };
import klingV21ProI2vSnapshot from './schemas/fal-ai__kling-video__v2.1__pro__image-to-video.json' with { type: 'json' };
import veo3Snapshot from './schemas/fal-ai__veo3.json' with { type: 'json' };
import veo31I2vSnapshot from './schemas/fal-ai__veo3.1__image-to-video.json' with { type: 'json' };

export type { CatalogModel, FileBucketSpec, ModelBuckets, ModelDefinition, ModelMode } from './types.js';
export { MODEL_MODES } from './types.js';

// Prices are fal's list prices when written; they change, which is why these are "hints".
export const MODEL_DEFINITIONS = [
  {
    id: 'fal-ai/flux/schnell',
    name: 'FLUX.1 [schnell]',
    aliases: ['schnell', 'flux-schnell'],
    kind: 'image',
    mode: 'text-to-image',
    description: 'Fastest and cheapest FLUX: good drafts in about a second.',
    priceHint: '≈ $0.003 per megapixel (about $0.003 per image)',
    defaults: { num_images: 1 },
    buckets: {},
    promptField: 'prompt',
    seedField: 'seed',
    sizeField: 'image_size',
    countField: 'num_images',
    snapshot: fluxSchnellSnapshot,
  },
  {
    id: 'fal-ai/flux/dev',
    name: 'FLUX.1 [dev]',
    aliases: ['dev', 'flux-dev', 'flux'],
    kind: 'image',
    mode: 'text-to-image',
    description: 'Higher-quality FLUX with more steps and guidance control.',
    priceHint: '≈ $0.025 per megapixel (about $0.025 per image)',
    defaults: { num_images: 1 },
    buckets: {},
    promptField: 'prompt',
    seedField: 'seed',
    sizeField: 'image_size',
    countField: 'num_images',
    snapshot: fluxDevSnapshot,
  },
  {
    id: 'fal-ai/flux-pro/kontext',
    name: 'FLUX.1 Kontext [pro]',
    aliases: ['kontext', 'flux-kontext'],
    kind: 'image',
    mode: 'image-edit',
    description: 'Edits one image from an instruction ("make it night", "add a hat").',
    priceHint: '≈ $0.04 per image',
    defaults: { num_images: 1 },
    buckets: { references: { field: 'image_url', max: 1, required: true } },
    promptField: 'prompt',
    seedField: 'seed',
    sizeField: 'aspect_ratio',
    countField: 'num_images',
    snapshot: fluxProKontextSnapshot,
  },
  {
    id: 'fal-ai/nano-banana/edit',
    name: 'Nano Banana (edit)',
    aliases: ['nano-banana', 'nanobanana', 'banana'],
    kind: 'image',
    mode: 'image-edit',
    description: "Google's Gemini image editing; combines several reference images.",
    priceHint: '≈ $0.039 per image',
    defaults: { num_images: 1 },
    // fal documents no maxItems for image_urls; 4 keeps uploads (and chat forms) small.
    buckets: { references: { field: 'image_urls', max: 4, required: true } },
    promptField: 'prompt',
    seedField: 'seed',
    sizeField: 'aspect_ratio',
    countField: 'num_images',
    snapshot: nanoBananaEditSnapshot,
  },
  {
    id: 'fal-ai/kling-video/v2.1/pro/image-to-video',
    name: 'Kling 2.1 Pro (image to video)',
    aliases: ['kling', 'kling-pro', 'kling-2.1'],
    kind: 'video',
    mode: 'image-to-video',
    description: 'Animates a first frame, optionally towards a last frame; 5 or 10 seconds.',
    priceHint: '≈ $0.49 per 5 s video (≈ $0.98 for 10 s)',
    defaults: { duration: '5' },
    buckets: {
      first_frame: { field: 'image_url', max: 1, required: true },
      last_frame: { field: 'tail_image_url', max: 1, required: false },
    },
    promptField: 'prompt',
    durationField: 'duration',
    snapshot: klingV21ProI2vSnapshot,
  },
  {
    id: 'fal-ai/veo3',
    name: 'Veo 3',
    aliases: ['veo3', 'veo'],
    kind: 'video',
    mode: 'text-to-video',
    description: "Google's Veo 3: video with sound from a text prompt.",
    priceHint: '≈ $0.40 per second with audio, $0.20 without (≈ $3.20 for 8 s)',
    // Pinned so a change of fal's default never silently makes every video dearer.
    defaults: { resolution: '720p' },
    buckets: {},
    promptField: 'prompt',
    seedField: 'seed',
    sizeField: 'aspect_ratio',
    durationField: 'duration',
    snapshot: veo3Snapshot,
  },
  {
    id: 'fal-ai/veo3.1/image-to-video',
    name: 'Veo 3.1 (image to video)',
    aliases: ['veo3.1', 'veo31', 'veo-i2v'],
    kind: 'video',
    mode: 'image-to-video',
    description: "Google's Veo 3.1 animating a first frame, with sound.",
    priceHint: '≈ $0.40 per second with audio, $0.20 without (≈ $3.20 for 8 s at 720p/1080p)',
    defaults: { resolution: '720p' },
    buckets: { first_frame: { field: 'image_url', max: 1, required: true } },
    promptField: 'prompt',
    seedField: 'seed',
    sizeField: 'aspect_ratio',
    durationField: 'duration',
    snapshot: veo31I2vSnapshot,
  },
] as const satisfies readonly ModelDefinition[];

export type CatalogModelId = (typeof MODEL_DEFINITIONS)[number]['id'];

const DEFAULT_MODEL_IDS = {
  image: 'fal-ai/flux/schnell',
  video: 'fal-ai/veo3',
} as const satisfies Record<AssetKind, CatalogModelId>;
// Nano Banana takes one or several references, so attaching a second image never needs another model.
const DEFAULT_EDIT_MODEL_ID: CatalogModelId = 'fal-ai/nano-banana/edit';
const DEFAULT_IMAGE_TO_VIDEO_MODEL_ID: CatalogModelId = 'fal-ai/kling-video/v2.1/pro/image-to-video';

export class CatalogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CatalogError';
  }
}

/**
 * The problems that would make a model unusable with this schema: catalog fields missing from it,
 * file fields of the wrong shape, defaults the schema rejects. The catalog refuses to load with any,
 * and the sync refuses to write a snapshot that would cause one.
 */
export function modelProblems(model: CatalogModel): string[] {
  const problems: string[] = [];
  const properties = model.schema.properties ?? {};
  const fields: Array<[string, string | undefined]> = [
    ['promptField', model.promptField],
    ['seedField', model.seedField],
    ['sizeField', model.sizeField],
    ['countField', model.countField],
    ['durationField', model.durationField],
  ];
  for (const [bucket, spec] of Object.entries(model.buckets)) fields.push([`buckets.${bucket}`, spec.field]);
  for (const [role, field] of fields) {
    if (field !== undefined && !Object.hasOwn(properties, field)) problems.push(`${role} "${field}" is not in the schema`);
  }
  for (const [bucket, spec] of Object.entries(model.buckets)) {
    if (!Object.hasOwn(properties, spec.field)) continue;
    if (!isMultipleFileField(model, spec.field) && spec.max !== 1) problems.push(`buckets.${bucket}: ${spec.field} takes one file, but max is ${spec.max}`);
    if (spec.max < 1) problems.push(`buckets.${bucket}: max must be at least 1`);
  }
  const bucketFields = new Set(Object.values(model.buckets).map((spec) => spec.field));
  for (const name of model.schema.required ?? []) {
    if (/_urls?$/.test(name) && !bucketFields.has(name)) problems.push(`required file field "${name}" has no bucket`);
  }
  for (const [field, value] of Object.entries(model.defaults)) {
    const schema = Object.hasOwn(properties, field) ? properties[field] : undefined;
    if (bucketFields.has(field) || field === model.promptField) problems.push(`defaults may not set ${field}`);
    else if (!schema) problems.push(`defaults: ${field} is not in the schema`);
    else {
      // Exact values, no coercion: defaults are written as the JSON fal gets.
      const outcome = acceptValue(model.schema, schema, value, field, false);
      if (!outcome.ok) problems.push(`defaults: ${outcome.failure.message}`);
    }
  }
  const attachments = Object.fromEntries(
    Object.entries(model.buckets).filter(([, spec]) => spec.required).map(([bucket]) => [bucket, 1]),
  );
  const result = buildInput(model, { prompt: 'catalog self-check', attachments });
  if (!result.ok) for (const issue of result.issues) problems.push(`a minimal request fails: ${issue.message}`);
  return problems;
}

/** Turns a definition plus a snapshot (parsed here; snapshots are data) into a usable model. */
export function toCatalogModel(definition: Omit<ModelDefinition, 'snapshot'>, snapshotData: unknown): CatalogModel {
  const { input, ...snapshot } = parseSnapshot(snapshotData, definition.id);
  const properties = input.properties ?? {};
  const fieldSchema = (field: string | undefined) => (field !== undefined ? properties[field] : undefined);
  const sizeSchema = fieldSchema(definition.sizeField);
  const countSchema = fieldSchema(definition.countField);
  const model: CatalogModel = {
    ...definition,
    aliases: [...definition.aliases],
    defaults: { ...definition.defaults },
    buckets: { ...definition.buckets },
    schema: input,
    snapshot,
    sizeChoices: enumValues(input, sizeSchema).filter((value): value is string => typeof value === 'string'),
    sizeAcceptsCustom: sizeSchema !== undefined && acceptsObject(input, sizeSchema),
    durationChoices: enumValues(input, fieldSchema(definition.durationField)).map(String),
  };
  if (countSchema) {
    const resolved = deref(input, countSchema);
    model.countRange = { min: resolved.minimum ?? 1, max: resolved.maximum ?? 1 };
  }
  return model;
}

function acceptsObject(root: CatalogModel['schema'], schema: CatalogModel['schema']): boolean {
  const resolved = deref(root, schema);
  return [resolved, ...(resolved.anyOf ?? []), ...(resolved.oneOf ?? [])].some((branch) =>
    typesOf(deref(root, branch)).includes('object'),
  );
}

function loadModels(): CatalogModel[] {
  const models = MODEL_DEFINITIONS.map(({ snapshot, ...definition }) => toCatalogModel(definition, snapshot));
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const model of models) {
    for (const name of new Set(namesOf(model))) {
      const owner = seen.get(name);
      if (owner !== undefined) problems.push(`${model.id}: name "${name}" is also used by ${owner}`);
      seen.set(name, model.id);
    }
    for (const problem of modelProblems(model)) problems.push(`${model.id}: ${problem}`);
  }
  if (problems.length > 0) throw new CatalogError(`The model catalog is inconsistent:\n  - ${problems.join('\n  - ')}`);
  return models;
}

// Built on first use rather than at import, so `npm run catalog:sync` (which imports this module)
// still runs, and can repair them, when the snapshots on disk no longer fit the entries.
let loaded: { models: readonly CatalogModel[]; byName: Map<string, CatalogModel> } | undefined;

function catalog(): { models: readonly CatalogModel[]; byName: Map<string, CatalogModel> } {
  if (!loaded) {
    const models = loadModels();
    const byName = new Map<string, CatalogModel>();
    for (const model of models) for (const name of namesOf(model)) byName.set(name, model);
    loaded = { models, byName };
  }
  return loaded;
}

function namesOf(model: Pick<ModelDefinition, 'id' | 'aliases'>): string[] {
  return [model.id, model.id.replace(/^fal-ai\//, ''), ...model.aliases].map((name) => name.toLowerCase());
}

/** Builds and checks every model now; call at startup to fail fast on a broken catalog. Throws `CatalogError`. */
export function loadCatalog(): readonly CatalogModel[] {
  return catalog().models;
}

/** The endpoint id for an id or alias, from the entries alone (without reading snapshots). */
export function resolveModelId(idOrAlias: string): CatalogModelId | undefined {
  const name = idOrAlias.trim().toLowerCase();
  return MODEL_DEFINITIONS.find((definition) => namesOf(definition).includes(name))?.id;
}

export interface ModelFilter {
  kind?: AssetKind | undefined;
  mode?: ModelMode | undefined;
}

export function listModels(filter: ModelFilter = {}): CatalogModel[] {
  return catalog().models.filter(
    (model) => (filter.kind === undefined || model.kind === filter.kind) && (filter.mode === undefined || model.mode === filter.mode),
  );
}

/** By endpoint id, the id without `fal-ai/`, or an alias; case-insensitive. Undefined when unknown. */
export function getModel(idOrAlias: string): CatalogModel | undefined {
  return catalog().byName.get(idOrAlias.trim().toLowerCase());
}

function mustGet(id: CatalogModelId): CatalogModel {
  const model = getModel(id);
  if (!model) throw new CatalogError(`default model ${id} is not in the catalog`);
  return model;
}

export function defaultModel(kind: AssetKind): CatalogModel {
  return mustGet(DEFAULT_MODEL_IDS[kind]);
}

export function defaultEditModel(): CatalogModel {
  return mustGet(DEFAULT_EDIT_MODEL_ID);
}

export function defaultImageToVideoModel(): CatalogModel {
  return mustGet(DEFAULT_IMAGE_TO_VIDEO_MODEL_ID);
}

export type ModelChoiceErrorCode = 'unknown_model' | 'wrong_kind';

/** A model name the user typed that we cannot use; `known` lists the usable ids for the kind. */
export class ModelChoiceError extends Error {
  constructor(
    readonly code: ModelChoiceErrorCode,
    readonly requested: string,
    readonly kind: AssetKind,
    readonly known: string[],
    message: string,
  ) {
    super(message);
    this.name = 'ModelChoiceError';
  }
}

export interface ChooseModelRequest {
  explicit?: string | undefined;
  kind: AssetKind;
  /** Images are attached: references for an image request, a first frame for a video request. */
  hasReferenceImages: boolean;
  /** The buckets that have attachments, when known; the default picked must take all of them. */
  attachedBuckets?: readonly InputBucket[] | undefined;
}

/**
 * The model a request runs on: the one the user named (id or alias), else the default edit model
 * when images come with an image request, the default image-to-video model when they come with a
 * video request, else the default for the kind. With `attachedBuckets`, a default that cannot take
 * them gives way to the first model of the kind that can. Throws `ModelChoiceError` for an unknown
 * name or one that makes the other kind of asset.
 */
export function chooseModel(request: ChooseModelRequest): CatalogModel {
  const explicit = request.explicit?.trim();
  if (explicit) {
    const model = getModel(explicit);
    const known = listModels({ kind: request.kind });
    const knownText = known.map((candidate) => `${candidate.id} (${candidate.aliases[0] ?? candidate.id})`).join(', ');
    const knownIds = known.map((candidate) => candidate.id);
    if (!model) {
      throw new ModelChoiceError('unknown_model', explicit, request.kind, knownIds, `unknown ${request.kind} model "${explicit}"; known ${request.kind} models: ${knownText}`);
    }
    if (model.kind !== request.kind) {
      throw new ModelChoiceError(
        'wrong_kind',
        explicit,
        request.kind,
        knownIds,
        `${model.id} makes ${model.kind}s, not ${request.kind}s; ${request.kind} models: ${knownText}`,
      );
    }
    return model;
  }
  const attached = new Set<InputBucket>(request.attachedBuckets ?? []);
  if (request.hasReferenceImages) attached.add(request.kind === 'image' ? 'references' : 'first_frame');
  if (attached.size === 0) return defaultModel(request.kind);
  const withImages = request.kind === 'image' ? defaultEditModel() : defaultImageToVideoModel();
  const takesAll = (model: CatalogModel) => [...attached].every((bucket) => model.buckets[bucket] !== undefined);
  // When nothing fits, the images default still goes ahead: buildInput then names the bucket it cannot take.
  return [withImages, defaultModel(request.kind), ...listModels({ kind: request.kind })].find(takesAll) ?? withImages;
}
