/**
 * The subset of JSON Schema that fal's per-endpoint OpenAPI documents use for model inputs, and the
 * snapshot wrapper we keep on disk. Snapshots are data from the network (or hand-written), so
 * `parseSnapshot` checks their shape before anything trusts them.
 */

export interface JsonSchema {
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  type?: string | readonly string[];
  enum?: readonly unknown[];
  const?: unknown;
  default?: unknown;
  title?: string;
  description?: string;
  examples?: readonly unknown[];
  properties?: Record<string, JsonSchema>;
  required?: readonly string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: readonly JsonSchema[];
  oneOf?: readonly JsonSchema[];
  allOf?: readonly JsonSchema[];
  minimum?: number;
  maximum?: number;
  // Numbers in JSON Schema 2019+ (what fal emits); booleans in OpenAPI 3.0 style. Both are handled.
  exclusiveMinimum?: number | boolean;
  exclusiveMaximum?: number | boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  nullable?: boolean;
  'x-fal-order-properties'?: readonly string[];
  // fal adds UI hints (x-fal-*, ui, …) that validation ignores but snapshots keep.
  [extension: string]: unknown;
}

export interface SchemaSnapshot {
  endpointId: string;
  fetchedFrom: string;
  fetchedAt: string;
  input: JsonSchema;
}

export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `fal-ai/kling-video/v2.1/pro/image-to-video` → `fal-ai__kling-video__v2.1__pro__image-to-video.json` */
export function snapshotFileName(endpointId: string): string {
  return `${endpointId.replace(/[^A-Za-z0-9._-]+/g, '__')}.json`;
}

export function openApiUrl(endpointId: string): string {
  const url = new URL('https://fal.ai/api/openapi/queue/openapi.json');
  url.searchParams.set('endpoint_id', endpointId);
  return url.toString();
}

const SCHEMA_KEYS_HOLDING_SCHEMAS = ['items', 'additionalProperties'] as const;
const SCHEMA_KEYS_HOLDING_LISTS = ['anyOf', 'oneOf', 'allOf'] as const;
const SCHEMA_KEYS_HOLDING_MAPS = ['properties', '$defs'] as const;

/**
 * Checks that `raw` looks like a snapshot whose input schema we can validate against: every nested
 * schema is an object, every `$ref` resolves inside the snapshot, and the top level is an object
 * schema with properties. Throws `SnapshotError` naming the first problem.
 */
export function parseSnapshot(raw: unknown, expectedEndpointId?: string): SchemaSnapshot {
  if (!isPlainObject(raw)) throw new SnapshotError('snapshot is not a JSON object');
  const { endpointId, fetchedFrom, fetchedAt, input } = raw;
  if (typeof endpointId !== 'string' || endpointId === '') throw new SnapshotError('snapshot has no endpointId');
  if (expectedEndpointId !== undefined && endpointId !== expectedEndpointId) {
    throw new SnapshotError(`snapshot is for ${endpointId}, expected ${expectedEndpointId}`);
  }
  if (typeof fetchedFrom !== 'string') throw new SnapshotError(`${endpointId}: snapshot has no fetchedFrom`);
  if (typeof fetchedAt !== 'string') throw new SnapshotError(`${endpointId}: snapshot has no fetchedAt`);
  const schema = checkInputSchema(input, endpointId);
  return { endpointId, fetchedFrom, fetchedAt, input: schema };
}

/** The checks `parseSnapshot` applies to the `input` part, usable on a freshly extracted schema. */
export function checkInputSchema(input: unknown, label: string): JsonSchema {
  if (!isPlainObject(input)) throw new SnapshotError(`${label}: input schema is not an object`);
  checkSchemaNode(input, 'input', label);
  const schema = input as JsonSchema; // shape checked by checkSchemaNode just above
  if (schema.type !== undefined && schema.type !== 'object') {
    throw new SnapshotError(`${label}: input schema has type ${JSON.stringify(schema.type)}, expected object`);
  }
  if (!isPlainObject(schema.properties) || Object.keys(schema.properties).length === 0) {
    throw new SnapshotError(`${label}: input schema has no properties`);
  }
  for (const ref of collectRefs(schema)) {
    if (resolvePointer(schema, ref) === undefined) throw new SnapshotError(`${label}: unresolved $ref ${ref}`);
  }
  return schema;
}

function checkSchemaNode(node: unknown, at: string, label: string): void {
  if (typeof node === 'boolean') return; // `true`/`false` are valid schemas (e.g. additionalProperties)
  if (!isPlainObject(node)) throw new SnapshotError(`${label}: ${at} is not a schema object`);
  if (node.$ref !== undefined && typeof node.$ref !== 'string') throw new SnapshotError(`${label}: ${at}.$ref is not a string`);
  if (node.type !== undefined && typeof node.type !== 'string' && !isStringArray(node.type)) {
    throw new SnapshotError(`${label}: ${at}.type is neither a string nor a list of strings`);
  }
  if (node.enum !== undefined && !Array.isArray(node.enum)) throw new SnapshotError(`${label}: ${at}.enum is not a list`);
  if (node.required !== undefined && !isStringArray(node.required)) {
    throw new SnapshotError(`${label}: ${at}.required is not a list of names`);
  }
  for (const key of ['minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems'] as const) {
    if (node[key] !== undefined && typeof node[key] !== 'number') throw new SnapshotError(`${label}: ${at}.${key} is not a number`);
  }
  for (const key of SCHEMA_KEYS_HOLDING_SCHEMAS) {
    if (node[key] !== undefined) checkSchemaNode(node[key], `${at}.${key}`, label);
  }
  for (const key of SCHEMA_KEYS_HOLDING_LISTS) {
    const list = node[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new SnapshotError(`${label}: ${at}.${key} is not a list`);
    list.forEach((item, index) => checkSchemaNode(item, `${at}.${key}[${index}]`, label));
  }
  for (const key of SCHEMA_KEYS_HOLDING_MAPS) {
    const map = node[key];
    if (map === undefined) continue;
    if (!isPlainObject(map)) throw new SnapshotError(`${label}: ${at}.${key} is not an object`);
    for (const [name, child] of Object.entries(map)) checkSchemaNode(child, `${at}.${key}.${name}`, label);
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function collectRefs(node: unknown, out: string[] = [], schemaMap = false): string[] {
  if (Array.isArray(node)) {
    for (const item of node) collectRefs(item, out);
  } else if (isPlainObject(node)) {
    if (schemaMap) {
      // In `properties` every key is a field name (even one called "default"), every value a schema.
      for (const value of Object.values(node)) collectRefs(value, out);
      return out;
    }
    if (typeof node.$ref === 'string') out.push(node.$ref);
    for (const [key, value] of Object.entries(node)) {
      // `examples`/`default`/`enum`/`const` hold data, not schemas; a "$ref" key inside them means nothing.
      if (key === 'examples' || key === 'default' || key === 'enum' || key === 'const') continue;
      collectRefs(value, out, key === 'properties' || key === '$defs' || key === 'patternProperties');
    }
  }
  return out;
}

/**
 * Resolves a local `$ref` against the snapshot's input schema. Besides real JSON pointers
 * (`#/$defs/X`), `#/components/schemas/X` falls back to `$defs.X`, since that is where the sync
 * keeps the few schemas it cannot inline (recursive ones).
 */
export function resolvePointer(root: JsonSchema, ref: string): JsonSchema | undefined {
  if (!ref.startsWith('#')) return undefined;
  const parts = ref
    .slice(1)
    .split('/')
    .filter((part) => part !== '')
    .map((part) => decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~'));
  let node: unknown = root;
  for (const part of parts) {
    node = isPlainObject(node) ? node[part] : Array.isArray(node) ? node[Number(part)] : undefined;
    if (node === undefined) break;
  }
  if (node === undefined && parts[0] === 'components' && parts[1] === 'schemas' && parts.length === 3) {
    node = root.$defs?.[parts[2] ?? ''];
  }
  return isPlainObject(node) ? (node as JsonSchema) : undefined; // object-ness checked; shape by parseSnapshot
}

/** Follows `$ref` chains; keywords next to a `$ref` (description, default…) override the target's. */
export function deref(root: JsonSchema, schema: JsonSchema, depth = 0): JsonSchema {
  if (schema.$ref === undefined) return schema;
  if (depth > 32) throw new SnapshotError(`$ref chain too deep at ${schema.$ref}`);
  const target = resolvePointer(root, schema.$ref);
  if (!target) throw new SnapshotError(`unresolved $ref ${schema.$ref}`);
  const { $ref: _ref, ...siblings } = schema;
  return { ...deref(root, target, depth + 1), ...siblings };
}

/** Every enum value a schema allows, looking through `$ref`, anyOf/oneOf/allOf and `const`. */
export function enumValues(root: JsonSchema, schema: JsonSchema | undefined): unknown[] {
  if (!schema) return [];
  const resolved = deref(root, schema);
  const values: unknown[] = [];
  if (resolved.enum) values.push(...resolved.enum);
  if ('const' in resolved) values.push(resolved.const);
  for (const branch of [...(resolved.anyOf ?? []), ...(resolved.oneOf ?? []), ...(resolved.allOf ?? [])]) {
    values.push(...enumValues(root, branch));
  }
  return [...new Set(values)];
}

/** The schema's `type` as a list (plus `null` for OpenAPI 3.0 `nullable`). */
export function typesOf(schema: JsonSchema): string[] {
  const types = schema.type === undefined ? [] : typeof schema.type === 'string' ? [schema.type] : [...schema.type];
  if (schema.nullable === true && !types.includes('null')) types.push('null');
  return types;
}

/** Property names in fal's display order (`x-fal-order-properties`), then any others. */
export function orderedPropertyNames(schema: JsonSchema): string[] {
  const names = Object.keys(schema.properties ?? {});
  const order = (schema['x-fal-order-properties'] ?? []).filter((name) => names.includes(name));
  return [...new Set([...order, ...names])];
}

/** JSON with object keys sorted at every depth, so re-fetching an unchanged schema gives identical bytes. */
export function stableStringify(value: unknown, indent = 2): string {
  return JSON.stringify(sortKeys(value), null, indent);
}

export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys(value[key])]),
    );
  }
  return value;
}

/** The on-disk form: wrapper keys in a fixed order, the schema with sorted keys, trailing newline. */
export function serializeSnapshot(snapshot: SchemaSnapshot): string {
  const ordered = {
    endpointId: snapshot.endpointId,
    fetchedFrom: snapshot.fetchedFrom,
    fetchedAt: snapshot.fetchedAt,
    input: sortKeys(snapshot.input),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}
