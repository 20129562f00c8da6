/**
 * Schema-driven checks that run before any job is created, so bad input never reaches fal (and
 * never costs the user anything). Pure and synchronous: no I/O, per-model work cached.
 */
import { INPUT_BUCKETS, type InputBucket } from '../domain.js';
import { deref, enumValues, isPlainObject, orderedPropertyNames, typesOf, type JsonSchema } from './json-schema.js';
import type { CatalogModel } from './types.js';

export { FreeformParamsError, parseFreeformParams, type FreeformParamsErrorCode } from './freeform.js';

export type InputIssueCode =
  | 'unknown_field'
  | 'invalid_type'
  | 'not_in_enum'
  | 'too_small'
  | 'too_big'
  | 'required'
  | 'too_many_files'
  | 'missing_file'
  | 'wrong_bucket';

export interface InputIssue {
  /** Input field (dotted for nested values, e.g. `image_size.width`), or the bucket name for file issues. */
  field: string;
  code: InputIssueCode;
  /** Short and human; names the field and what it accepts. */
  message: string;
  allowed?: string[];
}

export interface BuildRequest {
  prompt: string;
  /** Extra parameters; strings (as typed in chat) are coerced by the schema: "8"→8, "true"→true, JSON for lists/objects. */
  params?: Record<string, unknown> | undefined;
  seed?: number | undefined;
  /** A size choice (`landscape_16_9`, `16:9`) or, where the model takes one, `WIDTHxHEIGHT`. */
  size?: string | undefined;
  count?: number | undefined;
  /** `5`, `8s`…; a missing or extra trailing `s` is forgiven when the schema's choices need it. */
  duration?: string | undefined;
  /** How many files the user attached per bucket. */
  attachments?: Partial<Record<InputBucket, number>> | undefined;
}

export type FileFields = Partial<Record<InputBucket, { field: string; multiple: boolean }>>;

export type BuildResult =
  | {
      ok: true;
      /** Defaults + prompt + user choices, coerced; without file URL fields, which the worker fills after uploading. */
      input: Record<string, unknown>;
      /** Where to put the uploaded URLs, for each bucket that has attachments. */
      fileFields: FileFields;
    }
  | { ok: false; issues: InputIssue[] };

/** Used when the schema gives the prompt no maxLength: long enough for any real prompt, short enough for chat. */
export const DEFAULT_PROMPT_MAX_LENGTH = 2000;

/** Fields users may not set through params, with the reason shown to them. */
const FORBIDDEN_PARAMS: Readonly<Record<string, string>> = {
  sync_mode:
    'sync_mode is not allowed: it makes fal return the result inline instead of as a file the bot can save',
};

const BUCKET_NOUNS: Readonly<Record<InputBucket, [singular: string, plural: string]>> = {
  references: ['reference image', 'reference images'],
  first_frame: ['first-frame image', 'first-frame images'],
  last_frame: ['last-frame image', 'last-frame images'],
  video: ['video', 'videos'],
};

// ————————————————————————————————————————————— values against one schema —————

export type ValueIssueCode = Extract<InputIssueCode, 'unknown_field' | 'invalid_type' | 'not_in_enum' | 'too_small' | 'too_big' | 'required'>;

export interface ValueFailure {
  path: string;
  code: ValueIssueCode;
  message: string;
  allowed?: string[];
}

export type ValueOutcome = { ok: true; value: unknown } | { ok: false; failure: ValueFailure };

const WIDTH_X_HEIGHT = /^\s*(\d+)\s*[x×*]\s*(\d+)\s*$/i;
const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);

function fail(path: string, code: ValueIssueCode, message: string, allowed?: string[]): ValueOutcome {
  return { ok: false, failure: allowed ? { path, code, message, allowed } : { path, code, message } };
}

function got(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'number' || typeof value === 'boolean' || value === null ? String(value) : JSON.stringify(value) ?? String(value);
  return text.length > 48 ? `${text.slice(0, 45)}...` : text;
}

function length(text: string): number {
  return [...text].length; // code points, as fal's (Python) validation counts them
}

/** "a whole number", "true or false", "one of a, b"… for type errors. */
function describe(root: JsonSchema, schemaIn: JsonSchema): string {
  const schema = deref(root, schemaIn);
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches?.length) {
    const parts = branches
      .filter((branch) => !(typesOf(deref(root, branch)).length === 1 && typesOf(deref(root, branch))[0] === 'null'))
      .map((branch) => describe(root, branch));
    return [...new Set(parts)].join(' or ');
  }
  if (schema.enum?.length) return `one of ${schema.enum.map(String).join(', ')}`;
  const parts = typesOf(schema).map((type) => {
    switch (type) {
      case 'integer':
        return 'a whole number';
      case 'number':
        return 'a number';
      case 'boolean':
        return 'true or false';
      case 'string':
        return 'text';
      case 'array':
        return 'a JSON list like ["a","b"]';
      case 'object':
        return isWidthHeight(root, schema) ? 'WIDTHxHEIGHT such as 1024x768' : 'a JSON object';
      case 'null':
        return 'null';
      default:
        return type;
    }
  });
  return parts.length ? parts.join(' or ') : 'a value';
}

function isWidthHeight(root: JsonSchema, schema: JsonSchema): boolean {
  const names = Object.keys(schema.properties ?? {});
  return (
    names.length === 2 &&
    names.includes('width') &&
    names.includes('height') &&
    names.every((name) => {
      const prop = schema.properties?.[name];
      return prop !== undefined && typesOf(deref(root, prop)).includes('integer');
    })
  );
}

/**
 * Checks (and, with `coerce`, converts) one value. Strings are coerced to the schema's type because
 * everything typed in chat arrives as text; other values are checked as they are.
 */
export function acceptValue(root: JsonSchema, schemaIn: JsonSchema, value: unknown, path: string, coerce = true): ValueOutcome {
  const schema = deref(root, schemaIn);
  if (schema.allOf?.length) {
    const { allOf, ...rest } = schema;
    let current = value;
    for (const part of [...allOf, rest]) {
      const outcome = acceptValue(root, part, current, path, coerce);
      if (!outcome.ok) return outcome;
      current = outcome.value;
    }
    return { ok: true, value: current };
  }
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches?.length) return acceptBranches(root, schema, branches, value, path, coerce);
  return acceptPlain(root, schema, value, path, coerce);
}

function acceptBranches(
  root: JsonSchema,
  schema: JsonSchema,
  branches: readonly JsonSchema[],
  value: unknown,
  path: string,
  coerce: boolean,
): ValueOutcome {
  // A branch that takes the value as it is beats one that needs a conversion ("5" stays text for anyOf[string, integer]).
  let failures: ValueFailure[] = [];
  for (const branch of branches) {
    const outcome = acceptValue(root, branch, value, path, false);
    if (outcome.ok) return outcome;
    failures.push(outcome.failure);
  }
  if (coerce) {
    failures = [];
    for (const branch of branches) {
      const outcome = acceptValue(root, branch, value, path, true);
      if (outcome.ok) return outcome;
      failures.push(outcome.failure);
    }
  }
  // A branch of the right type that failed a constraint explains the problem best (image_size.width too big).
  const specific = failures.filter((failure) => failure.code !== 'invalid_type' && failure.code !== 'not_in_enum');
  if (specific[0]) return { ok: false, failure: specific[0] };
  const enumFailure = failures.find((failure) => failure.code === 'not_in_enum');
  if (enumFailure) {
    const others = branches
      .map((branch) => deref(root, branch))
      .filter((branch) => !branch.enum && !typesOf(branch).every((type) => type === 'null' || type === 'string'));
    const alternatives = others.map((branch) => describe(root, branch));
    const allowed = enumValues(root, schema).map(String);
    const message = `${path} must be one of ${allowed.join(', ')}${alternatives.length ? `, or ${alternatives.join(' or ')}` : ''} (got ${got(value)})`;
    return fail(path, 'not_in_enum', message, allowed);
  }
  return fail(path, 'invalid_type', `${path} must be ${describe(root, schema)} (got ${got(value)})`);
}

function acceptPlain(root: JsonSchema, schema: JsonSchema, value: unknown, path: string, coerce: boolean): ValueOutcome {
  let types = typesOf(schema);
  if (types.length === 0 && schema.enum?.length) types = [...new Set(schema.enum.map(jsonTypeOf))];
  if (types.length === 0) return checkEnum(schema, value, path); // untyped: anything goes, bar enum/const
  const generic = () => fail(path, 'invalid_type', `${path} must be ${describe(root, schema)} (got ${got(value)})`);
  // Same preference as for anyOf: a type that fits without conversion first. A type that fits but
  // breaks a constraint (too big, not in the enum) is the answer: its message is the useful one.
  let firstFailure: ValueOutcome | undefined;
  for (const pass of coerce ? [false, true] : [false]) {
    firstFailure = undefined;
    for (const type of types) {
      const outcome = acceptType(root, schema, type, value, path, pass);
      if (outcome.ok || outcome.failure.code !== 'invalid_type') return outcome;
      firstFailure ??= outcome;
    }
  }
  return types.length === 1 && firstFailure ? firstFailure : generic();
}

function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function acceptType(root: JsonSchema, schema: JsonSchema, type: string, value: unknown, path: string, coerce: boolean): ValueOutcome {
  const typeError = () => fail(path, 'invalid_type', `${path} must be ${describe(root, { ...schema, type })} (got ${got(value)})`);
  switch (type) {
    case 'string': {
      let text: string;
      if (typeof value === 'string') text = value;
      else if (coerce && typeof value === 'number' && Number.isFinite(value)) text = String(value);
      else return typeError();
      const enumOutcome = checkEnum(schema, text, path);
      if (!enumOutcome.ok) return enumOutcome;
      text = enumOutcome.value as string; // checkEnum returns the canonical spelling of a string it was given
      const size = length(text);
      if (schema.minLength !== undefined && size < schema.minLength) {
        return fail(
          path,
          'too_small',
          schema.minLength === 1 ? `${path} must not be empty` : `${path} must be at least ${schema.minLength} characters (got ${size})`,
        );
      }
      if (schema.maxLength !== undefined && size > schema.maxLength) {
        return fail(path, 'too_big', `${path} must be at most ${schema.maxLength} characters (got ${size})`);
      }
      return { ok: true, value: text };
    }
    case 'integer':
    case 'number': {
      let number: number;
      if (typeof value === 'number') number = value;
      else if (coerce && typeof value === 'string' && NUMERIC.test(value.trim())) number = Number(value.trim());
      else return typeError();
      if (!Number.isFinite(number)) return typeError();
      if (type === 'integer' && !Number.isInteger(number)) {
        return fail(path, 'invalid_type', `${path} must be a whole number (got ${got(value)})`);
      }
      const enumOutcome = checkEnum(schema, number, path);
      if (!enumOutcome.ok) return enumOutcome;
      return checkRange(schema, number, path);
    }
    case 'boolean': {
      let flag: boolean;
      if (typeof value === 'boolean') flag = value;
      else if (coerce && typeof value === 'string' && TRUE_WORDS.has(value.trim().toLowerCase())) flag = true;
      else if (coerce && typeof value === 'string' && FALSE_WORDS.has(value.trim().toLowerCase())) flag = false;
      else return typeError();
      return checkEnum(schema, flag, path);
    }
    case 'null':
      return value === null ? { ok: true, value: null } : typeError();
    case 'array': {
      let list: unknown = value;
      if (coerce && typeof value === 'string' && value.trim().startsWith('[')) list = parseJson(value);
      if (!Array.isArray(list)) return typeError();
      if (schema.minItems !== undefined && list.length < schema.minItems) {
        return fail(path, 'too_small', `${path} must have at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'} (got ${list.length})`);
      }
      if (schema.maxItems !== undefined && list.length > schema.maxItems) {
        return fail(path, 'too_big', `${path} must have at most ${schema.maxItems} item${schema.maxItems === 1 ? '' : 's'} (got ${list.length})`);
      }
      const items: unknown[] = [];
      for (const [index, item] of list.entries()) {
        if (!schema.items) {
          items.push(item);
          continue;
        }
        const outcome = acceptValue(root, schema.items, item, `${path}[${index}]`, coerce);
        if (!outcome.ok) return outcome;
        items.push(outcome.value);
      }
      return checkEnum(schema, items, path);
    }
    case 'object': {
      let object: unknown = value;
      if (coerce && typeof value === 'string') {
        const size = WIDTH_X_HEIGHT.exec(value);
        if (size && isWidthHeight(root, schema)) object = { width: Number(size[1]), height: Number(size[2]) };
        else if (value.trim().startsWith('{')) object = parseJson(value);
      }
      if (!isPlainObject(object)) return typeError();
      return acceptObject(root, schema, object, path, coerce);
    }
    default:
      // A type this validator does not know: let it through rather than block a model over a schema novelty.
      return { ok: true, value };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function acceptObject(root: JsonSchema, schema: JsonSchema, object: Record<string, unknown>, path: string, coerce: boolean): ValueOutcome {
  const properties = schema.properties ?? {};
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(object)) {
    const property = Object.hasOwn(properties, key) ? properties[key] : undefined;
    if (property) {
      const outcome = acceptValue(root, property, item, `${path}.${key}`, coerce);
      if (!outcome.ok) return outcome;
      result[key] = outcome.value;
    } else if (typeof schema.additionalProperties === 'object') {
      const outcome = acceptValue(root, schema.additionalProperties, item, `${path}.${key}`, coerce);
      if (!outcome.ok) return outcome;
      result[key] = outcome.value;
    } else if (schema.additionalProperties === true || Object.keys(properties).length === 0) {
      result[key] = item;
    } else {
      // fal would silently ignore it; the user almost certainly made a typo, so say so.
      const allowed = orderedPropertyNames(schema);
      return fail(`${path}.${key}`, 'unknown_field', `unknown field "${key}" in ${path}; allowed: ${allowed.join(', ')}`, allowed);
    }
  }
  for (const name of schema.required ?? []) {
    if (!Object.hasOwn(result, name)) return fail(`${path}.${name}`, 'required', `${path}.${name} is required`);
  }
  return checkEnum(schema, result, path);
}

function checkEnum(schema: JsonSchema, value: unknown, path: string): ValueOutcome {
  const allowedValues = schema.enum ?? ('const' in schema ? [schema.const] : undefined);
  if (!allowedValues) return { ok: true, value };
  if (allowedValues.some((candidate) => sameValue(candidate, value))) return { ok: true, value };
  if (typeof value === 'string') {
    // Chat users type PNG or Landscape_16_9; accept and send fal's spelling.
    const folded = allowedValues.find((candidate) => typeof candidate === 'string' && candidate.toLowerCase() === value.trim().toLowerCase());
    if (folded !== undefined) return { ok: true, value: folded };
  }
  const allowed = allowedValues.map(String);
  return fail(path, 'not_in_enum', `${path} must be one of ${allowed.join(', ')} (got ${got(value)})`, allowed);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return typeof a === 'object' && typeof b === 'object' && a !== null && b !== null && JSON.stringify(a) === JSON.stringify(b);
}

function checkRange(schema: JsonSchema, number: number, path: string): ValueOutcome {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum } = schema;
  if (typeof exclusiveMinimum === 'number' && number <= exclusiveMinimum) {
    return fail(path, 'too_small', `${path} must be greater than ${exclusiveMinimum} (got ${number})`);
  }
  if (minimum !== undefined) {
    if (exclusiveMinimum === true && number <= minimum) return fail(path, 'too_small', `${path} must be greater than ${minimum} (got ${number})`);
    if (number < minimum) return fail(path, 'too_small', `${path} must be at least ${minimum} (got ${number})`);
  }
  if (typeof exclusiveMaximum === 'number' && number >= exclusiveMaximum) {
    return fail(path, 'too_big', `${path} must be less than ${exclusiveMaximum} (got ${number})`);
  }
  if (maximum !== undefined) {
    if (exclusiveMaximum === true && number >= maximum) return fail(path, 'too_big', `${path} must be less than ${maximum} (got ${number})`);
    if (number > maximum) return fail(path, 'too_big', `${path} must be at most ${maximum} (got ${number})`);
  }
  return { ok: true, value: number };
}

// ————————————————————————————————————————————— per-model compiled view —————

interface CompiledModel {
  properties: Record<string, JsonSchema>;
  /** Params a user may set, in fal's display order. */
  settable: string[];
  /** Fields that take file URLs: the bucket fields and any other `*_url(s)` field. */
  fileFields: Set<string>;
  promptMinLength: number;
  promptMaxLength: number;
}

const compiledModels = new WeakMap<CatalogModel, CompiledModel>();

function compile(model: CatalogModel): CompiledModel {
  const cached = compiledModels.get(model);
  if (cached) return cached;
  const properties = model.schema.properties ?? {};
  const fileFields = new Set<string>(Object.values(model.buckets).map((bucket) => bucket.field));
  for (const name of Object.keys(properties)) if (/_urls?$/.test(name)) fileFields.add(name);
  const settable = orderedPropertyNames(model.schema).filter(
    (name) => name !== model.promptField && !fileFields.has(name) && !Object.hasOwn(FORBIDDEN_PARAMS, name),
  );
  const promptProperty = properties[model.promptField];
  const promptSchema: JsonSchema = promptProperty ? deref(model.schema, promptProperty) : {};
  const compiled: CompiledModel = {
    properties,
    settable,
    fileFields,
    promptMinLength: Math.max(1, promptSchema.minLength ?? 1),
    promptMaxLength: promptSchema.maxLength ?? DEFAULT_PROMPT_MAX_LENGTH,
  };
  compiledModels.set(model, compiled);
  return compiled;
}

/** The names `params` may use for this model, in fal's display order. */
export function settableParams(model: CatalogModel): readonly string[] {
  return compile(model).settable;
}

/** Whether the field takes one file URL or a list, from the schema. */
export function isMultipleFileField(model: CatalogModel, field: string): boolean {
  const schema = model.schema.properties?.[field];
  if (!schema) return false;
  const resolved = deref(model.schema, schema);
  const branches = [resolved, ...(resolved.anyOf ?? []), ...(resolved.oneOf ?? [])].map((branch) => deref(model.schema, branch));
  return branches.some((branch) => typesOf(branch).includes('array'));
}

// ————————————————————————————————————————————— buildInput —————

/**
 * Checks a chat request against the model's schema and catalog entry and builds the fal input
 * (minus file URLs). Returns every problem found, not just the first, so one reply can list them.
 * Where a dedicated option (seed, size, count, duration) and `params` set the same field, the
 * dedicated option wins.
 */
export function buildInput(model: CatalogModel, request: BuildRequest): BuildResult {
  const compiled = compile(model);
  const root = model.schema;
  const issues: InputIssue[] = [];
  const input: Record<string, unknown> = structuredClone({ ...model.defaults });
  const push = (failure: ValueFailure) => {
    const issue: InputIssue = { field: failure.path, code: failure.code, message: failure.message };
    if (failure.allowed) issue.allowed = failure.allowed;
    issues.push(issue);
  };

  // Prompt
  const prompt = typeof request.prompt === 'string' ? request.prompt.trim() : '';
  const promptLength = length(prompt);
  if (prompt === '') {
    issues.push({ field: model.promptField, code: 'required', message: `${model.promptField} is required: describe what you want` });
  } else if (promptLength < compiled.promptMinLength) {
    issues.push({
      field: model.promptField,
      code: 'too_small',
      message: `${model.promptField} must be at least ${compiled.promptMinLength} characters (got ${promptLength})`,
    });
  } else if (promptLength > compiled.promptMaxLength) {
    issues.push({
      field: model.promptField,
      code: 'too_big',
      message: `${model.promptField} must be at most ${compiled.promptMaxLength} characters (got ${promptLength})`,
    });
  }

  // Free-form params
  for (const [name, raw] of Object.entries(request.params ?? {})) {
    const allowed = [...compiled.settable];
    const allowedText = allowed.join(', ');
    if (name === model.promptField) {
      issues.push({
        field: name,
        code: 'unknown_field',
        message: `"${name}" comes from your prompt text, not from parameters; allowed: ${allowedText}`,
        allowed,
      });
    } else if (compiled.fileFields.has(name)) {
      issues.push({
        field: name,
        code: 'unknown_field',
        message: `${name} is filled from your attachments; attach the file instead of setting it; allowed: ${allowedText}`,
        allowed,
      });
    } else if (Object.hasOwn(FORBIDDEN_PARAMS, name)) {
      issues.push({ field: name, code: 'unknown_field', message: `${FORBIDDEN_PARAMS[name]}; allowed: ${allowedText}`, allowed });
    } else {
      const schema = Object.hasOwn(compiled.properties, name) ? compiled.properties[name] : undefined;
      if (!schema) {
        issues.push({ field: name, code: 'unknown_field', message: `unknown parameter "${name}"; allowed: ${allowedText}`, allowed });
        continue;
      }
      const outcome = acceptValue(root, schema, raw, name);
      if (outcome.ok) input[name] = outcome.value;
      else push(outcome.failure);
    }
  }

  // Dedicated chat options
  const option = (label: string, field: string | undefined, value: unknown) => {
    if (value === undefined) return;
    const schema = field !== undefined && Object.hasOwn(compiled.properties, field) ? compiled.properties[field] : undefined;
    if (field === undefined || !schema) {
      issues.push({ field: label, code: 'unknown_field', message: `${model.name} has no ${label} option` });
      return;
    }
    const outcome = acceptValue(root, schema, value, field);
    if (outcome.ok) input[field] = outcome.value;
    else push(outcome.failure);
  };
  option('seed', model.seedField, request.seed);
  option('size', model.sizeField, typeof request.size === 'string' ? request.size.trim() : request.size);
  option('count', model.countField, request.count);
  option('duration', model.durationField, normalizeDuration(model, request.duration));

  // Other required schema fields (prompt and files are checked on their own).
  for (const name of root.required ?? []) {
    if (name === model.promptField || compiled.fileFields.has(name) || Object.hasOwn(input, name)) continue;
    const schema = compiled.properties[name];
    if (schema && deref(root, schema).default !== undefined) continue;
    issues.push({ field: name, code: 'required', message: `${name} is required` });
  }

  // Attachments
  const fileFields: FileFields = {};
  const attachments = request.attachments ?? {};
  const modelBuckets = INPUT_BUCKETS.filter((bucket) => model.buckets[bucket] !== undefined);
  for (const bucket of INPUT_BUCKETS) {
    const rawCount = attachments[bucket] ?? 0;
    const count = Number.isFinite(rawCount) && rawCount > 0 ? Math.floor(rawCount) : 0;
    const spec = model.buckets[bucket];
    const [singular, plural] = BUCKET_NOUNS[bucket];
    if (!spec) {
      if (count > 0) {
        const takes = modelBuckets.length
          ? `; it takes ${modelBuckets.map((name) => BUCKET_NOUNS[name][1]).join(', ')}`
          : '; it takes no attachments';
        const issue: InputIssue = { field: bucket, code: 'wrong_bucket', message: `${model.name} does not take ${plural}${takes}` };
        if (modelBuckets.length) issue.allowed = [...modelBuckets];
        issues.push(issue);
      }
      continue;
    }
    const multiple = isMultipleFileField(model, spec.field);
    const fieldSchema = compiled.properties[spec.field];
    const resolved = fieldSchema ? deref(root, fieldSchema) : undefined;
    const max = multiple ? Math.min(spec.max, resolved?.maxItems ?? Number.POSITIVE_INFINITY) : 1;
    const min = spec.required ? Math.max(1, multiple ? (resolved?.minItems ?? 1) : 1) : 0;
    if (count > max) {
      issues.push({
        field: bucket,
        code: 'too_many_files',
        message: `${model.name} takes at most ${max} ${max === 1 ? singular : plural} (got ${count})`,
      });
    } else if (count < min || (count > 0 && multiple && resolved?.minItems !== undefined && count < resolved.minItems)) {
      const needed = Math.max(min, resolved?.minItems ?? 0, 1);
      issues.push({
        field: bucket,
        code: 'missing_file',
        message:
          count === 0
            ? `${model.name} needs ${needed === 1 ? `a ${singular}` : `at least ${needed} ${plural}`}: attach ${needed === 1 ? 'one' : 'them'}`
            : `${model.name} needs at least ${needed} ${plural} (got ${count})`,
      });
    }
    if (count > 0) fileFields[bucket] = { field: spec.field, multiple };
  }

  if (issues.length > 0) return { ok: false, issues };
  input[model.promptField] = prompt;
  return { ok: true, input, fileFields };
}

/** Forgives `8` for `8s` and `5s` for `5`, but only where that lands on one of the schema's choices. */
function normalizeDuration(model: CatalogModel, duration: string | undefined): string | undefined {
  if (duration === undefined) return undefined;
  const text = duration.trim();
  const choices = model.durationChoices;
  if (choices.length === 0 || choices.includes(text)) return text;
  const bare = text.replace(/\s*(s|sec|secs|seconds?)$/i, '');
  for (const candidate of [bare, `${bare}s`]) if (choices.includes(candidate)) return candidate;
  return text;
}
