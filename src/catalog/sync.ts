/**
 * Refreshes the schema snapshots from fal's per-endpoint OpenAPI documents. A snapshot is only
 * replaced by a schema that parses, and (for catalog models) one the catalog entry still works with,
 * so a bad answer from fal can never break the bot at its next start.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { modelProblems, MODEL_DEFINITIONS, resolveModelId, toCatalogModel } from './catalog.js';
import {
  checkInputSchema,
  deref,
  enumValues,
  isPlainObject,
  openApiUrl,
  parseSnapshot,
  serializeSnapshot,
  snapshotFileName,
  stableStringify,
  typesOf,
  type JsonSchema,
  type SchemaSnapshot,
} from './json-schema.js';

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface SyncOptions {
  /** Defaults to the global fetch. */
  fetch?: FetchLike | undefined;
  /** A fal proxy (`@fal-ai/server-proxy` style): requests go there with `x-fal-target-url`. */
  falProxyUrl?: string | undefined;
  /** Sent as `Authorization: Key …` only when given; the OpenAPI route is public. */
  falKey?: string | undefined;
  outDir: string;
  /** Endpoint ids or aliases; defaults to every catalog model. Ids not in the catalog are fetched too (to add a model). */
  models?: readonly string[] | undefined;
  log: (line: string) => void;
  /** Report what would change without writing. */
  dryRun?: boolean | undefined;
  timeoutMs?: number | undefined;
  now?: (() => Date) | undefined;
}

export type SyncStatus = 'unchanged' | 'updated' | 'created' | 'failed';

export interface SyncResult {
  endpointId: string;
  file: string;
  status: SyncStatus;
  /** Human summary lines: added/removed fields, changed choices, defaults, limits. */
  changes: string[];
  error?: string;
}

export class SchemaExtractionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaExtractionError';
  }
}

// ————————————————————————————————————————————— fetching —————

async function fetchOpenApi(endpointId: string, options: SyncOptions): Promise<unknown> {
  const target = openApiUrl(endpointId);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.falKey) headers.authorization = `Key ${options.falKey}`;
  let url = target;
  if (options.falProxyUrl) {
    url = options.falProxyUrl;
    headers['x-fal-target-url'] = target;
  }
  const doFetch: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));
  const response = await doFetch(url, {
    method: 'GET',
    headers,
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  const text = await response.text();
  if (!response.ok) {
    const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 160);
    throw new SchemaExtractionError(`HTTP ${response.status}${snippet ? `: ${snippet}` : ''}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SchemaExtractionError(`response is not JSON (starts with ${JSON.stringify(text.slice(0, 40))})`);
  }
}

// ————————————————————————————————————————————— extracting —————

const SCHEMA_MAP_KEYS = new Set(['properties', 'patternProperties', '$defs', 'definitions']);

function pascalName(endpointId: string): string {
  return endpointId
    .replace(/^fal-ai\//, '')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

function bodySchemaOf(pathItem: unknown): unknown {
  if (!isPlainObject(pathItem) || !isPlainObject(pathItem.post)) return undefined;
  const body = pathItem.post.requestBody;
  if (!isPlainObject(body) || !isPlainObject(body.content)) return undefined;
  const json = body.content['application/json'];
  return isPlainObject(json) ? json.schema : undefined;
}

/**
 * Finds the input schema in a per-endpoint OpenAPI document (the POST `/{id}` request body, else
 * the `<Name>Input` component) and inlines every `$ref`; recursive schemas, which cannot be inlined,
 * go to `$defs`. Throws `SchemaExtractionError` when there is nothing usable.
 */
export function extractInputSchema(doc: unknown, endpointId: string): JsonSchema {
  if (!isPlainObject(doc)) throw new SchemaExtractionError('OpenAPI document is not a JSON object');
  const components = isPlainObject(doc.components) && isPlainObject(doc.components.schemas) ? doc.components.schemas : {};
  const paths = isPlainObject(doc.paths) ? doc.paths : {};

  let schema: unknown = bodySchemaOf(paths[`/${endpointId}`]);
  if (schema === undefined) {
    // The queue document's other POST-less paths carry `{request_id}`; the submit path is the one without.
    const submit = Object.entries(paths).find(([path, item]) => !path.includes('{') && bodySchemaOf(item) !== undefined);
    schema = submit ? bodySchemaOf(submit[1]) : undefined;
  }
  if (schema === undefined) {
    const inputs = Object.keys(components).filter((name) => name.endsWith('Input'));
    const wanted = `${pascalName(endpointId)}Input`.toLowerCase();
    const name = inputs.find((candidate) => candidate.toLowerCase() === wanted) ?? (inputs.length === 1 ? inputs[0] : undefined);
    if (name === undefined) {
      throw new SchemaExtractionError(
        inputs.length
          ? `no POST request body and no single <Name>Input schema (found ${inputs.join(', ')})`
          : 'no POST request body and no <Name>Input schema',
      );
    }
    schema = { $ref: `#/components/schemas/${name}` };
  }

  const defs: Record<string, JsonSchema> = {};
  const pending = new Set<string>();
  const inline = (node: unknown, stack: readonly string[], schemaMap = false): unknown => {
    if (Array.isArray(node)) return node.map((item) => inline(item, stack));
    if (!isPlainObject(node)) return node;
    // In `properties` every key is a field name (even one called "default"), every value a schema.
    if (schemaMap) return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, inline(value, stack)]));
    const out: Record<string, unknown> = {};
    let base: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref') {
        if (typeof value !== 'string') throw new SchemaExtractionError('$ref is not a string');
        const match = /^#\/components\/schemas\/([^/]+)$/.exec(value);
        const name = match?.[1] ? decodeURIComponent(match[1]) : undefined;
        if (name === undefined || !isPlainObject(components[name])) throw new SchemaExtractionError(`unresolved $ref ${value}`);
        if (stack.includes(name)) {
          pending.add(name);
          base = { $ref: `#/$defs/${name}` };
        } else {
          const resolved = inline(components[name], [...stack, name]);
          base = isPlainObject(resolved) ? resolved : {};
        }
      } else if (key === 'examples' || key === 'default' || key === 'enum' || key === 'const') {
        out[key] = value; // data, not schemas: copy as is
      } else {
        out[key] = inline(value, stack, SCHEMA_MAP_KEYS.has(key));
      }
    }
    // Keywords written next to a $ref (description, default…) refine the referenced schema.
    return { ...base, ...out };
  };

  const inlined = inline(schema, []);
  for (const name of pending) {
    if (!defs[name]) defs[name] = inline(components[name], [name]) as JsonSchema; // components[name] checked as object above
  }
  if (!isPlainObject(inlined)) throw new SchemaExtractionError('input schema is not an object');
  const input = Object.keys(defs).length ? { ...inlined, $defs: defs } : inlined;
  return checkInputSchema(input, endpointId);
}

// ————————————————————————————————————————————— describing changes —————

function show(value: unknown): string {
  return value === undefined ? '(none)' : JSON.stringify(value);
}

function typeSummary(root: JsonSchema, schema: JsonSchema): string {
  const resolved = deref(root, schema);
  const branches = resolved.anyOf ?? resolved.oneOf;
  const types = branches ? branches.flatMap((branch) => typesOf(deref(root, branch))) : typesOf(resolved);
  return [...new Set(types)].join('|') || 'any';
}

const LIMIT_KEYS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems'] as const;

/** One line per meaningful difference between two input schemas, for the sync summary. */
export function describeSchemaChanges(before: JsonSchema | undefined, after: JsonSchema): string[] {
  const afterProps = after.properties ?? {};
  if (!before) return [`new snapshot with fields: ${Object.keys(afterProps).join(', ')}`];
  const beforeProps = before.properties ?? {};
  const lines: string[] = [];
  for (const name of Object.keys(afterProps)) {
    if (Object.hasOwn(beforeProps, name)) continue;
    const schema = afterProps[name] ?? {};
    const fallback = deref(after, schema).default;
    lines.push(`+ field ${name} (${typeSummary(after, schema)}${fallback !== undefined ? `, default ${show(fallback)}` : ''})`);
  }
  for (const name of Object.keys(beforeProps)) {
    if (!Object.hasOwn(afterProps, name)) lines.push(`- field ${name}`);
  }
  for (const [name, newSchema] of Object.entries(afterProps)) {
    const oldSchema = beforeProps[name];
    if (!oldSchema || stableStringify(oldSchema) === stableStringify(newSchema)) continue;
    const fieldLines: string[] = [];
    const oldResolved = deref(before, oldSchema);
    const newResolved = deref(after, newSchema);
    const oldType = typeSummary(before, oldSchema);
    const newType = typeSummary(after, newSchema);
    if (oldType !== newType) fieldLines.push(`~ ${name} type: ${oldType} → ${newType}`);
    const oldEnum = enumValues(before, oldSchema).map(String);
    const newEnum = enumValues(after, newSchema).map(String);
    const added = newEnum.filter((value) => !oldEnum.includes(value));
    const removed = oldEnum.filter((value) => !newEnum.includes(value));
    if (added.length || removed.length) {
      fieldLines.push(`~ ${name} choices: ${[...added.map((value) => `+${value}`), ...removed.map((value) => `-${value}`)].join(' ')}`);
    }
    if (stableStringify(oldResolved.default) !== stableStringify(newResolved.default)) {
      fieldLines.push(`~ ${name} default: ${show(oldResolved.default)} → ${show(newResolved.default)}`);
    }
    for (const key of LIMIT_KEYS) {
      if (oldResolved[key] !== newResolved[key]) fieldLines.push(`~ ${name} ${key}: ${show(oldResolved[key])} → ${show(newResolved[key])}`);
    }
    lines.push(...(fieldLines.length ? fieldLines : [`~ ${name}: description or other details changed`]));
  }
  const oldRequired = before.required ?? [];
  const newRequired = after.required ?? [];
  const requiredChanges = [
    ...newRequired.filter((name) => !oldRequired.includes(name)).map((name) => `+${name}`),
    ...oldRequired.filter((name) => !newRequired.includes(name)).map((name) => `-${name}`),
  ];
  if (requiredChanges.length) lines.push(`~ required: ${requiredChanges.join(' ')}`);
  if (lines.length === 0 && stableStringify(before) !== stableStringify(after)) lines.push('~ field order or other details changed');
  return lines;
}

// ————————————————————————————————————————————— syncing —————

async function readExisting(path: string): Promise<SchemaSnapshot | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return parseSnapshot(JSON.parse(text));
  } catch {
    return undefined; // a broken snapshot on disk is replaced, not a reason to stop
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temp, text, 'utf8');
    await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
}

async function syncOne(endpointId: string, options: SyncOptions): Promise<SyncResult> {
  const file = join(options.outDir, snapshotFileName(endpointId));
  const base = { endpointId, file };
  try {
    const doc = await fetchOpenApi(endpointId, options);
    const input = extractInputSchema(doc, endpointId);
    const snapshot: SchemaSnapshot = {
      endpointId,
      fetchedFrom: openApiUrl(endpointId),
      fetchedAt: (options.now?.() ?? new Date()).toISOString(),
      input,
    };
    const definition = MODEL_DEFINITIONS.find((candidate) => candidate.id === endpointId);
    if (definition) {
      const { snapshot: _current, ...rest } = definition;
      const problems = modelProblems(toCatalogModel(rest, snapshot));
      if (problems.length) {
        throw new SchemaExtractionError(`the catalog entry no longer fits the new schema (update catalog.ts first): ${problems.join('; ')}`);
      }
    }
    const existing = await readExisting(file);
    if (existing && stableStringify(existing.input) === stableStringify(input)) {
      return { ...base, status: 'unchanged', changes: [] };
    }
    const changes = describeSchemaChanges(existing?.input, input);
    if (!options.dryRun) {
      await mkdir(options.outDir, { recursive: true });
      await writeAtomically(file, serializeSnapshot(snapshot));
    }
    return { ...base, status: existing ? 'updated' : 'created', changes };
  } catch (error) {
    return { ...base, status: 'failed', changes: [], error: describeError(error) };
  }
}

/** undici's "fetch failed" hides the reason (ECONNREFUSED, ENOTFOUND…) in `cause`. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return `${error.message}: ${code ?? cause.message}`;
  }
  return error.message;
}

/** Resolves ids/aliases; unknown names that look like endpoint ids pass through, others are errors. */
function resolveTargets(models: readonly string[] | undefined): { ids: string[]; errors: SyncResult[] } {
  if (!models || models.length === 0) return { ids: MODEL_DEFINITIONS.map((definition) => definition.id), errors: [] };
  const ids: string[] = [];
  const errors: SyncResult[] = [];
  for (const name of models) {
    const id = resolveModelId(name) ?? (/^[\w.-]+\/[\w./-]+$/.test(name) ? name : undefined);
    if (id === undefined) {
      errors.push({ endpointId: name, file: '', status: 'failed', changes: [], error: 'not a catalog model, alias or endpoint id' });
    } else if (!ids.includes(id)) {
      ids.push(id);
    }
  }
  return { ids, errors };
}

/**
 * Fetches each model's OpenAPI document and rewrites its snapshot in `outDir` when the input schema
 * changed. Never throws for one model's failure: it is reported and its snapshot left as it was.
 */
export async function syncCatalog(options: SyncOptions): Promise<SyncResult[]> {
  const { ids, errors } = resolveTargets(options.models);
  const results: SyncResult[] = [...errors];
  // One at a time: a handful of small documents, and no reason to burst a public endpoint.
  for (const id of ids) results.push(await syncOne(id, options));

  const verb = options.dryRun ? 'would be ' : '';
  for (const result of results) {
    if (result.status === 'failed') {
      options.log(`✗ ${result.endpointId}: ${result.error ?? 'failed'}${result.file ? ' (snapshot left unchanged)' : ''}`);
    } else if (result.status === 'unchanged') {
      options.log(`= ${result.endpointId}: unchanged`);
    } else {
      options.log(`${result.status === 'created' ? '+' : '~'} ${result.endpointId}: ${verb}${result.status}`);
      for (const line of result.changes) options.log(`    ${line}`);
    }
  }
  const count = (status: SyncStatus) => results.filter((result) => result.status === status).length;
  options.log(
    `${count('updated')} ${verb}updated, ${count('created')} ${verb}created, ${count('unchanged')} unchanged, ${count('failed')} failed`,
  );
  return results;
}
