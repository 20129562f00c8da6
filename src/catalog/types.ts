import type { AssetKind, InputBucket } from '../domain.js';
import type { JsonSchema, SchemaSnapshot } from './json-schema.js';

export const MODEL_MODES = ['text-to-image', 'image-edit', 'text-to-video', 'image-to-video'] as const;
export type ModelMode = (typeof MODEL_MODES)[number];

/** Where one attachment bucket goes in the model input. */
export interface FileBucketSpec {
  /** Input field that receives the uploaded file URL(s): `image_url`, `image_urls`, `tail_image_url`… */
  field: string;
  /** Most files this bucket takes; 1 for a single-URL field. An array field's `maxItems` lowers it further. */
  max: number;
  /** Whether a generation without this bucket makes no sense (kontext without an image, kling without a first frame). */
  required: boolean;
}

export type ModelBuckets = Partial<Record<InputBucket, FileBucketSpec>>;

/** What a catalog entry is written as in `catalog.ts`; `CatalogModel` adds what is read from the snapshot. */
export interface ModelDefinition {
  /** fal endpoint id. */
  id: string;
  name: string;
  /** Short names chat users may type instead of the id. */
  aliases: readonly string[];
  /** The kind of asset the model outputs. */
  kind: AssetKind;
  mode: ModelMode;
  description: string;
  priceHint: string;
  /** Parameters sent unless the user overrides them. Must validate against the schema. */
  defaults: Readonly<Record<string, unknown>>;
  buckets: ModelBuckets;
  promptField: string;
  seedField?: string;
  /** What a chat "size" option sets: `image_size` or `aspect_ratio`. */
  sizeField?: string;
  countField?: string;
  durationField?: string;
  /** The parsed-on-load JSON snapshot (`src/catalog/schemas/*.json`). */
  snapshot: unknown;
}

export interface CatalogModel extends Omit<ModelDefinition, 'snapshot'> {
  /** The input JSON schema (`snapshot.input`). */
  schema: JsonSchema;
  snapshot: Omit<SchemaSnapshot, 'input'>;
  /** Named sizes the size field accepts (enum values from the schema); empty without a size field. */
  sizeChoices: readonly string[];
  /** Whether the size field also takes a `WIDTHxHEIGHT` custom size (image_size's `{width,height}` form). */
  sizeAcceptsCustom: boolean;
  durationChoices: readonly string[];
  countRange?: { min: number; max: number };
}
