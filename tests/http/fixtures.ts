import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import type { Asset } from '../../src/db/index.js';
import type { AssetKind } from '../../src/domain.js';
import { outputKey } from '../../src/storage/keys.js';
import { testUser, type TestApp } from '../helpers/app.js';

export interface AssetFixture {
  prompt?: string;
  kind?: AssetKind;
  modelId?: string;
  body: Buffer;
  ext: string;
  contentType: string;
  seed?: number | null;
  width?: number | null;
  height?: number | null;
  durationSeconds?: number | null;
  /** Stored next to the asset and recorded as its poster. */
  poster?: Buffer;
}

/**
 * Records an asset the way the deliver worker does (user, job, stored object, asset row) without
 * running a generation: for the HTTP tests that need many specific rows.
 */
export async function insertAsset(harness: TestApp, fixture: AssetFixture): Promise<Asset> {
  const owner = harness.app.owner;
  if (!owner) throw new Error('insertAsset needs the owner role');
  const { storage } = harness.app;
  const user = owner.repos.users.upsertUser(testUser('http'));
  const kind = fixture.kind ?? 'image';
  const created = owner.repos.jobs.createJobWithinLimit(
    {
      userId: user.id,
      platform: 'test',
      workspaceId: 'guild-1',
      channelId: 'channel-1',
      kind,
      modelId: fixture.modelId ?? 'fal-ai/flux/dev',
      prompt: fixture.prompt ?? 'a lighthouse at night',
      params: {},
    },
    1_000,
  );
  if (!created.ok) throw new Error('job limit reached');
  const key = outputKey(user.id, created.job.id, 0, fixture.ext);
  const stored = await storage.put(key, Readable.from([fixture.body]), { contentType: fixture.contentType, expectedBytes: fixture.body.length });
  let posterStorageKey: string | null = null;
  if (fixture.poster) {
    posterStorageKey = outputKey(user.id, created.job.id, 1, 'png');
    await storage.put(posterStorageKey, Readable.from([fixture.poster]), { contentType: 'image/png' });
  }
  const [asset] = owner.repos.assets.recordAssets(created.job.id, [
    {
      kind,
      storageDriver: storage.name,
      storageKey: key,
      contentType: fixture.contentType,
      bytes: stored.bytes,
      sha256: stored.sha256,
      width: fixture.width ?? null,
      height: fixture.height ?? null,
      durationSeconds: fixture.durationSeconds ?? null,
      seed: fixture.seed ?? null,
      posterStorageKey,
    },
  ]);
  if (!asset) throw new Error('asset not recorded');
  return asset;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * A request with the path sent exactly as given: fetch() would normalise `..` and backslashes on the
 * client side, and the point of these tests is what the server does with them.
 */
export function rawRequest(baseUrl: string, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: base.hostname, port: base.port, path, method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The `content` of a `<meta property|name="…">` tag, unescaped as a browser would; undefined when absent. */
export function metaContent(html: string, property: string): string | undefined {
  const escaped = property.replace(/[.:]/g, '\\$&');
  const raw = new RegExp(`<meta (?:property|name)="${escaped}" content="([^"]*)"`).exec(html)?.[1];
  return raw === undefined ? undefined : unescapeHtml(raw);
}

export function unescapeHtml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}
