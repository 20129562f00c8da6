import { execFile } from 'node:child_process';
import { cp, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeOpenApiDoc } from '../fakes/fal-fixtures.js';
import { startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { tempDir } from '../helpers/env.js';

const run = promisify(execFile);
const SNAPSHOT = 'fal-ai__flux__schnell.json';

/** `npm run catalog:sync` through FAL_PROXY_URL against the fake fal, on a copy of the snapshots. */
describe('catalog:sync against the fake fal', () => {
  let fake: FakeFal;
  let out: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    fake = await startFakeFal();
    out = await tempDir('catalog-sync');
    await cp('src/catalog/schemas', out.path, { recursive: true });
  });
  afterAll(async () => {
    await out?.cleanup();
    await fake?.close();
  });

  it('fetches the OpenAPI document through the proxy and rewrites a changed snapshot', async () => {
    // Other tests of this file ask the fake too: only this one's requests count.
    const requestsBefore = fake.requests.length;
    const before = JSON.parse(await readFile(`${out.path}/${SNAPSHOT}`, 'utf8')) as {
      input: { properties: Record<string, { enum?: string[] } & Record<string, unknown>>; required?: string[] };
    };
    const properties = structuredClone(before.input.properties);
    const outputFormat = properties.output_format;
    expect(outputFormat?.enum).toBeDefined();
    properties.output_format = { ...outputFormat, enum: [...(outputFormat?.enum ?? []), 'webp'] };
    fake.setOpenApi('fal-ai/flux/schnell', makeOpenApiDoc({ endpointId: 'fal-ai/flux/schnell', inputProperties: properties, required: before.input.required ?? ['prompt'] }));

    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/catalog-sync.ts', '--only', 'schnell', '--out', out.path], {
      env: { PATH: process.env.PATH ?? '', FAL_PROXY_URL: fake.proxyUrl },
    });
    expect(stdout).toMatch(/fal-ai\/flux\/schnell/);
    expect(stdout).toMatch(/webp/);

    const after = JSON.parse(await readFile(`${out.path}/${SNAPSHOT}`, 'utf8')) as typeof before;
    expect(after.input.properties.output_format?.enum).toContain('webp');
    const schemaRequests = fake.requests.slice(requestsBefore).filter((request) => request.targetUrl?.hostname === 'fal.ai');
    expect(schemaRequests.length).toBeGreaterThan(0);
    expect(schemaRequests.every((request) => request.viaProxy)).toBe(true);
    expect(schemaRequests[0]?.targetUrl?.searchParams.get('endpoint_id')).toBe('fal-ai/flux/schnell');
  });

  it('leaves the snapshot untouched when fal has no document', async () => {
    const original = await readFile(`${out.path}/fal-ai__veo3.json`, 'utf8');
    await run(process.execPath, ['--import', 'tsx', 'scripts/catalog-sync.ts', '--only', 'veo3', '--out', out.path], {
      env: { PATH: process.env.PATH ?? '', FAL_PROXY_URL: fake.proxyUrl },
    }).catch((error: { code?: number }) => expect(error.code).toBe(1));
    expect(await readFile(`${out.path}/fal-ai__veo3.json`, 'utf8')).toBe(original);
  });
});
