import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cp, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MODEL_DEFINITIONS, toCatalogModel } from '../../src/catalog/catalog.js';
import {
  openApiUrl,
  parseSnapshot,
  serializeSnapshot,
  snapshotFileName,
  type JsonSchema,
  type SchemaSnapshot,
} from '../../src/catalog/json-schema.js';
import { describeSchemaChanges, extractInputSchema, syncCatalog, type SyncResult } from '../../src/catalog/sync.js';
import { tempDir } from '../helpers/env.js';

const schemasDir = fileURLToPath(new URL('../../src/catalog/schemas/', import.meta.url));
const NOW = new Date('2030-05-06T07:08:09.000Z');

const SCHNELL = 'fal-ai/flux/schnell';
const DEV = 'fal-ai/flux/dev';
const KONTEXT = 'fal-ai/flux-pro/kontext';
const NANO = 'fal-ai/nano-banana/edit';
const KLING = 'fal-ai/kling-video/v2.1/pro/image-to-video';
const VEO3 = 'fal-ai/veo3';
const VEO31 = 'fal-ai/veo3.1/image-to-video';

async function committedSnapshot(endpointId: string): Promise<SchemaSnapshot> {
  return parseSnapshot(JSON.parse(await readFile(join(schemasDir, snapshotFileName(endpointId)), 'utf8')), endpointId);
}

function pascal(endpointId: string): string {
  return endpointId
    .replace(/^fal-ai\//, '')
    .split(/[^A-Za-z0-9]+/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * A per-endpoint OpenAPI document shaped like fal's: the input schema as a component, referenced
 * from the POST body, with the shared ImageSize schema moved out behind a $ref again.
 */
function openApiDoc(endpointId: string, input: JsonSchema, options: { withPaths?: boolean } = {}): Record<string, unknown> {
  const name = pascal(endpointId);
  const schemas: Record<string, unknown> = {
    QueueStatus: { type: 'object', required: ['status', 'request_id'], properties: { status: { type: 'string', enum: ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED'] }, request_id: { type: 'string' } } },
    [`${name}Output`]: { type: 'object', properties: { images: { type: 'array', items: { $ref: '#/components/schemas/Image' } } } },
    Image: { type: 'object', properties: { url: { type: 'string' } } },
  };
  const outline = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(outline);
    if (typeof node !== 'object' || node === null) return node;
    const record = node as Record<string, unknown>;
    if (record.title === 'ImageSize') {
      schemas.ImageSize = record;
      return { $ref: '#/components/schemas/ImageSize' };
    }
    return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, outline(value)]));
  };
  schemas[`${name}Input`] = outline(input);
  const ref = (schema: string) => ({ $ref: `#/components/schemas/${schema}` });
  const paths = {
    [`/${endpointId}/requests/{request_id}/status`]: {
      get: { parameters: [{ name: 'logs', in: 'query', schema: { type: 'number' } }], responses: { '200': { content: { 'application/json': { schema: ref('QueueStatus') } } } } },
    },
    [`/${endpointId}/requests/{request_id}/cancel`]: { put: { responses: { '200': { description: 'ok' } } } },
    [`/${endpointId}`]: {
      post: {
        requestBody: { required: true, content: { 'application/json': { schema: ref(`${name}Input`) } } },
        responses: { '200': { content: { 'application/json': { schema: ref('QueueStatus') } } } },
      },
    },
    [`/${endpointId}/requests/{request_id}`]: {
      get: { responses: { '200': { content: { 'application/json': { schema: ref(`${name}Output`) } } } } },
    },
  };
  return {
    openapi: '3.0.4',
    info: { title: 'Queue OpenAPI for ' + endpointId, version: '1.0.0', 'x-fal-metadata': { endpointId, category: 'text-to-image' } },
    servers: [{ url: 'https://queue.fal.run' }],
    components: { schemas, securitySchemes: { apiKeyAuth: { type: 'apiKey', in: 'header', name: 'Authorization' } } },
    ...(options.withPaths === false ? { paths: {} } : { paths }),
  };
}

interface Answer {
  status: number;
  body: string;
}

interface SeenRequest {
  method: string | undefined;
  path: string | undefined;
  headers: IncomingHttpHeaders;
}

/** A stand-in for a fal proxy: takes the real URL from `x-fal-target-url` and answers from `answers`. */
class ProxyStub {
  readonly answers = new Map<string, Answer>();
  readonly seen: SeenRequest[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      this.seen.push({ method: request.method, path: request.url, headers: request.headers });
      const target = request.headers['x-fal-target-url'];
      const send = (status: number, body: string, type = 'application/json') => {
        response.writeHead(status, { 'content-type': type });
        response.end(body);
      };
      if (request.method !== 'GET' || request.url !== '/api/fal/proxy') return send(405, '{"error":"wrong proxy route"}');
      if (typeof target !== 'string') return send(400, '{"error":"missing x-fal-target-url"}');
      const url = new URL(target);
      if (url.origin !== 'https://fal.ai' || url.pathname !== '/api/openapi/queue/openapi.json') return send(412, '{"error":"unexpected target"}');
      const answer = this.answers.get(url.searchParams.get('endpoint_id') ?? '');
      if (!answer) return send(404, '{"detail":"Not Found"}');
      send(answer.status, answer.body);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/fal/proxy`;
  }

  serve(endpointId: string, doc: unknown, status = 200): void {
    this.answers.set(endpointId, { status, body: typeof doc === 'string' ? doc : JSON.stringify(doc) });
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function byId(results: SyncResult[], endpointId: string): SyncResult {
  const result = results.find((candidate) => candidate.endpointId === endpointId);
  if (!result) throw new Error(`no result for ${endpointId}`);
  return result;
}

describe('syncCatalog through a fal proxy', () => {
  const proxy = new ProxyStub();
  let dir: { path: string; cleanup: () => Promise<void> };
  const original = new Map<string, string>();

  beforeAll(async () => {
    await proxy.start();
  });
  afterAll(async () => {
    await proxy.stop();
  });

  beforeEach(async () => {
    dir = await tempDir('catalog-sync');
    await cp(schemasDir, dir.path, { recursive: true });
    for (const name of await readdir(dir.path)) original.set(name, await readFile(join(dir.path, name), 'utf8'));
    proxy.answers.clear();
    proxy.seen.length = 0;
  });
  afterEach(async () => {
    await dir.cleanup();
  });

  const fileText = (endpointId: string) => readFile(join(dir.path, snapshotFileName(endpointId)), 'utf8');
  const originalText = (endpointId: string) => original.get(snapshotFileName(endpointId));

  it('rewrites changed snapshots, leaves unchanged and failed ones alone, and summarises', async () => {
    // schnell: a new output format, a higher step limit and a new field.
    const schnell = structuredClone((await committedSnapshot(SCHNELL)).input);
    const schnellProps = schnell.properties!;
    schnellProps.output_format = { ...schnellProps.output_format, enum: ['jpeg', 'png', 'webp'] };
    schnellProps.num_inference_steps = { ...schnellProps.num_inference_steps, maximum: 16 };
    schnellProps.enable_prompt_expansion = { title: 'Enable Prompt Expansion', type: 'boolean', default: false };
    proxy.serve(SCHNELL, openApiDoc(SCHNELL, schnell));
    // dev: exactly what we have (ImageSize behind a $ref) → unchanged.
    proxy.serve(DEV, openApiDoc(DEV, (await committedSnapshot(DEV)).input));
    // kontext: not found; nano banana: garbage.
    proxy.serve(KONTEXT, '{"detail":"Not Found"}', 404);
    proxy.serve(NANO, '<html>upstream hiccup');
    // kling: the tail frame field disappears → the catalog entry no longer fits → refused.
    const kling = structuredClone((await committedSnapshot(KLING)).input);
    delete kling.properties!.tail_image_url;
    proxy.serve(KLING, openApiDoc(KLING, kling));
    // veo3: no usable paths, so the <Name>Input component is used; a new duration and default.
    const veo3 = structuredClone((await committedSnapshot(VEO3)).input);
    veo3.properties!.duration = { ...veo3.properties!.duration, enum: ['4s', '6s', '8s', '10s'], default: '6s' };
    veo3.required = ['prompt', 'aspect_ratio'];
    proxy.serve(VEO3, openApiDoc(VEO3, veo3, { withPaths: false }));
    // veo3.1: a schema without properties is not a schema we can use.
    proxy.serve(VEO31, openApiDoc(VEO31, { type: 'object', properties: {} }));

    const lines: string[] = [];
    const results = await syncCatalog({ falProxyUrl: proxy.url, outDir: dir.path, log: (line) => lines.push(line), now: () => NOW });

    expect(results.map((result) => [result.endpointId, result.status])).toEqual([
      [SCHNELL, 'updated'],
      [DEV, 'unchanged'],
      [KONTEXT, 'failed'],
      [NANO, 'failed'],
      [KLING, 'failed'],
      [VEO3, 'updated'],
      [VEO31, 'failed'],
    ]);

    // Every request went to the proxy with the real URL in x-fal-target-url, and without a key.
    expect(proxy.seen).toHaveLength(MODEL_DEFINITIONS.length);
    for (const [index, request] of proxy.seen.entries()) {
      expect(request.method).toBe('GET');
      expect(request.path).toBe('/api/fal/proxy');
      expect(request.headers['x-fal-target-url']).toBe(openApiUrl(MODEL_DEFINITIONS[index]!.id));
      expect(request.headers.authorization).toBeUndefined();
    }

    // schnell: rewritten in canonical form with the change, from the real URL.
    const schnellText = await fileText(SCHNELL);
    expect(schnellText).not.toBe(originalText(SCHNELL));
    const written = parseSnapshot(JSON.parse(schnellText), SCHNELL);
    expect(serializeSnapshot(written)).toBe(schnellText);
    expect(written.fetchedFrom).toBe(openApiUrl(SCHNELL));
    expect(written.fetchedAt).toBe(NOW.toISOString());
    expect(written.input.properties?.output_format?.enum).toEqual(['jpeg', 'png', 'webp']);
    expect(JSON.stringify(written.input)).not.toContain('$ref'); // ImageSize inlined again
    expect(written.input.properties?.image_size).toEqual((await committedSnapshot(SCHNELL)).input.properties?.image_size);
    expect(byId(results, SCHNELL).changes).toEqual([
      '+ field enable_prompt_expansion (boolean, default false)',
      '~ num_inference_steps maximum: 12 → 16',
      '~ output_format choices: +webp',
    ]);
    // …and the catalog can use it.
    const { snapshot: _old, ...schnellDefinition } = MODEL_DEFINITIONS[0];
    expect(toCatalogModel(schnellDefinition, written).sizeChoices).toContain('square_hd');

    // dev: byte-for-byte untouched (its fetchedAt is not bumped either).
    expect(await fileText(DEV)).toBe(originalText(DEV));

    // Failures keep the old snapshot and say why.
    for (const id of [KONTEXT, NANO, KLING, VEO31]) expect(await fileText(id), id).toBe(originalText(id));
    expect(byId(results, KONTEXT).error).toBe('HTTP 404: {"detail":"Not Found"}');
    expect(byId(results, NANO).error).toMatch(/^response is not JSON/);
    expect(byId(results, KLING).error).toMatch(/catalog entry no longer fits.*tail_image_url/);
    expect(byId(results, VEO31).error).toMatch(/no properties/);

    // veo3: found through the component fallback.
    const veo3Written = parseSnapshot(JSON.parse(await fileText(VEO3)), VEO3);
    expect(veo3Written.input.properties?.duration?.enum).toEqual(['4s', '6s', '8s', '10s']);
    expect(byId(results, VEO3).changes).toEqual(['~ duration choices: +10s', '~ duration default: "8s" → "6s"', '~ required: +aspect_ratio']);

    // No temp files left behind.
    expect((await readdir(dir.path)).sort()).toEqual([...original.keys()].sort());

    expect(lines).toContain(`~ ${SCHNELL}: updated`);
    expect(lines).toContain('    ~ output_format choices: +webp');
    expect(lines).toContain(`= ${DEV}: unchanged`);
    expect(lines).toContain(`✗ ${KONTEXT}: HTTP 404: {"detail":"Not Found"} (snapshot left unchanged)`);
    expect(lines.at(-1)).toBe('2 updated, 0 created, 1 unchanged, 4 failed');
  });

  it('sends the key only when given, and only syncs the models asked for (by alias too)', async () => {
    proxy.serve(DEV, openApiDoc(DEV, (await committedSnapshot(DEV)).input));
    const results = await syncCatalog({ falProxyUrl: proxy.url, falKey: 'key-id:secret', outDir: dir.path, models: ['dev', 'nope'], log: () => {} });
    expect(results.map((result) => [result.endpointId, result.status])).toEqual([
      ['nope', 'failed'],
      [DEV, 'unchanged'],
    ]);
    expect(proxy.seen).toHaveLength(1);
    expect(proxy.seen[0]!.headers.authorization).toBe('Key key-id:secret');
  });

  it('writes nothing in a dry run', async () => {
    const schnell = structuredClone((await committedSnapshot(SCHNELL)).input);
    schnell.properties!.num_images = { ...schnell.properties!.num_images, maximum: 8 };
    proxy.serve(SCHNELL, openApiDoc(SCHNELL, schnell));
    const lines: string[] = [];
    const results = await syncCatalog({ falProxyUrl: proxy.url, outDir: dir.path, models: [SCHNELL], dryRun: true, log: (line) => lines.push(line) });
    expect(results[0]).toMatchObject({ status: 'updated', changes: ['~ num_images maximum: 4 → 8'] });
    expect(await fileText(SCHNELL)).toBe(originalText(SCHNELL));
    expect(lines).toContain(`~ ${SCHNELL}: would be updated`);
  });

  it('creates a snapshot for an endpoint not yet in the catalog', async () => {
    const id = 'fal-ai/some/new-model';
    proxy.serve(id, openApiDoc(id, { type: 'object', required: ['prompt'], properties: { prompt: { type: 'string' } } }));
    const results = await syncCatalog({ falProxyUrl: proxy.url, outDir: dir.path, models: [id], log: () => {}, now: () => NOW });
    expect(results[0]).toMatchObject({ status: 'created', changes: ['new snapshot with fields: prompt'] });
    expect(parseSnapshot(JSON.parse(await fileText(id)), id).input.required).toEqual(['prompt']);
  });
});

describe('syncCatalog without a proxy', () => {
  it('calls fal directly through the injected fetch', async () => {
    const dir = await tempDir('catalog-sync-direct');
    try {
      const calls: Array<{ url: string; headers: Headers }> = [];
      const dev = await committedSnapshot(DEV);
      const results = await syncCatalog({
        fetch: async (url, init) => {
          calls.push({ url, headers: new Headers(init.headers) });
          return new Response(JSON.stringify(openApiDoc(DEV, dev.input)), { status: 200 });
        },
        outDir: dir.path,
        models: [DEV],
        log: () => {},
        now: () => NOW,
      });
      expect(results[0]?.status).toBe('created');
      expect(calls).toHaveLength(1);
      expect(calls[0]!.url).toBe('https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=fal-ai%2Fflux%2Fdev');
      expect(calls[0]!.headers.get('x-fal-target-url')).toBeNull();
      expect(calls[0]!.headers.get('authorization')).toBeNull();
      const written = parseSnapshot(JSON.parse(await readFile(join(dir.path, snapshotFileName(DEV)), 'utf8')));
      expect(written.input).toEqual(dev.input);
    } finally {
      await dir.cleanup();
    }
  });

  it('reports network errors with their cause', async () => {
    const results = await syncCatalog({
      fetch: async () => {
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND fal.ai'), { code: 'ENOTFOUND' }) });
      },
      outDir: '/nonexistent-dir-never-written',
      models: [DEV],
      log: () => {},
    });
    expect(results[0]).toMatchObject({ status: 'failed', error: 'fetch failed: ENOTFOUND' });
  });
});

describe('extractInputSchema', () => {
  it('inlines refs, keeping keywords written next to a $ref', () => {
    const doc = {
      paths: { '/a/b': { post: { requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/BInput' } } } } } } },
      components: {
        schemas: {
          BInput: {
            type: 'object',
            properties: {
              prompt: { type: 'string' },
              size: { $ref: '#/components/schemas/Size', description: 'the size', default: { w: 1 } },
              default: { $ref: '#/components/schemas/Size' }, // a field really called "default"
            },
          },
          Size: { type: 'object', properties: { w: { type: 'integer' } }, description: 'generic' },
        },
      },
    };
    const input = extractInputSchema(doc, 'a/b');
    expect(input.properties?.size).toEqual({ type: 'object', properties: { w: { type: 'integer' } }, description: 'the size', default: { w: 1 } });
    expect(input.properties?.default).toEqual({ type: 'object', properties: { w: { type: 'integer' } }, description: 'generic' });
  });

  it('keeps recursive schemas in $defs', () => {
    const doc = {
      components: {
        schemas: {
          TreeInput: { type: 'object', properties: { prompt: { type: 'string' }, node: { $ref: '#/components/schemas/Node' } } },
          Node: { type: 'object', properties: { children: { type: 'array', items: { $ref: '#/components/schemas/Node' } } } },
        },
      },
    };
    const input = extractInputSchema(doc, 'fal-ai/tree');
    expect(input.properties?.node).toEqual({ type: 'object', properties: { children: { type: 'array', items: { $ref: '#/$defs/Node' } } } });
    expect(input.$defs?.Node).toEqual({ type: 'object', properties: { children: { type: 'array', items: { $ref: '#/$defs/Node' } } } });
  });

  it('picks the <Name>Input matching the endpoint when there are several', () => {
    const doc = {
      components: {
        schemas: {
          OtherInput: { type: 'object', properties: { x: { type: 'string' } } },
          FluxDevInput: { type: 'object', properties: { prompt: { type: 'string' } } },
        },
      },
    };
    expect(Object.keys(extractInputSchema(doc, 'fal-ai/flux/dev').properties ?? {})).toEqual(['prompt']);
    expect(() => extractInputSchema(doc, 'fal-ai/something')).toThrow(/no single <Name>Input schema \(found OtherInput, FluxDevInput\)/);
  });

  it('fails clearly on unusable documents', () => {
    expect(() => extractInputSchema([], 'a/b')).toThrow('OpenAPI document is not a JSON object');
    expect(() => extractInputSchema({}, 'a/b')).toThrow('no POST request body and no <Name>Input schema');
    expect(() =>
      extractInputSchema({ components: { schemas: { BInput: { type: 'object', properties: { s: { $ref: '#/components/schemas/Missing' } } } } } }, 'a/b'),
    ).toThrow('unresolved $ref #/components/schemas/Missing');
    expect(() => extractInputSchema({ components: { schemas: { BInput: { type: 'object', properties: { s: 5 } } } } }, 'a/b')).toThrow(
      /input\.properties\.s is not a schema object/,
    );
  });
});

describe('describeSchemaChanges', () => {
  it('names added and removed fields, type, choice, default, limit and required changes', () => {
    const before: JsonSchema = {
      type: 'object',
      required: ['prompt'],
      properties: {
        prompt: { type: 'string' },
        gone: { type: 'string' },
        steps: { type: 'integer', minimum: 1, maximum: 50, default: 28 },
        size: { anyOf: [{ type: 'string', enum: ['a', 'b'] }, { type: 'object' }] },
        scale: { type: 'integer' },
        text: { type: 'string', description: 'old' },
      },
    };
    const after: JsonSchema = {
      type: 'object',
      required: ['prompt', 'steps'],
      properties: {
        prompt: { type: 'string' },
        steps: { type: 'integer', minimum: 1, maximum: 60, default: 30 },
        size: { anyOf: [{ type: 'string', enum: ['a', 'c'] }, { type: 'object' }] },
        scale: { type: 'number' },
        text: { type: 'string', description: 'new' },
        added: { type: 'string', enum: ['x'], default: 'x' },
      },
    };
    expect(describeSchemaChanges(before, after)).toEqual([
      '+ field added (string, default "x")',
      '- field gone',
      '~ steps default: 28 → 30',
      '~ steps maximum: 50 → 60',
      '~ size choices: +c -b',
      '~ scale type: integer → number',
      '~ text: description or other details changed',
      '~ required: +steps',
    ]);
    expect(describeSchemaChanges(before, before)).toEqual([]);
    expect(describeSchemaChanges(undefined, after)).toEqual(['new snapshot with fields: prompt, steps, size, scale, text, added']);
  });
});
