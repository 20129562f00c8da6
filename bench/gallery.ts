/**
 * Gallery performance at scale: seeds a temporary database with 1,000,000 assets across ~1,000 owners
 * and prints query timings (median of several runs) with their query plans. Not a test; run with
 *   npx tsx bench/gallery.ts [assets] [owners]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRepositories, newShareId, openDatabase, type GalleryQuery } from '../src/db/index.js';

const TOTAL_ASSETS = Number(process.argv[2] ?? 1_000_000);
const OWNERS = Number(process.argv[3] ?? 1_000);
const ASSETS_PER_JOB = 4;
const BATCH = 20_000;
const RUNS = 25;

const MODELS = ['fal-ai/flux/dev', 'fal-ai/flux-pro/v1.1', 'fal-ai/recraft-v3', 'fal-ai/kling-video/v2', 'fal-ai/veo3'];
/** 2% of jobs: a filter that has to skip most of an owner's rows to fill a page. */
const RARE_MODEL = 'fal-ai/rare';
const WORDS = (
  'astronaut cat dog castle forest neon city portrait watercolor sunset ocean mountain dragon robot ' +
  'cyberpunk vintage photo cinematic lighting studio macro flower garden knight samurai desert snow ' +
  'rain night street market spaceship galaxy nebula anime oil painting sketch bronze statue glass ' +
  'crystal cave waterfall lantern festival tea ceremony library owl fox whale lighthouse storm'
).split(' ');

/** A small deterministic PRNG so runs are comparable. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = mulberry32(42);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
// Zipf-like skew: a few heavy owners, a long tail of light ones, as real galleries look.
const pickOwner = (ownerIds: readonly number[]): number =>
  ownerIds[Math.min(ownerIds.length - 1, Math.floor(ownerIds.length * random() ** 2))] as number;

function prompt(): string {
  const length = 6 + Math.floor(random() * 14);
  return Array.from({ length }, () => pick(WORDS)).join(' ');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

const dir = mkdtempSync(join(tmpdir(), 'atelier-bench-'));
const path = join(dir, 'bench.db');
try {
  const db = openDatabase(path);
  const repos = createRepositories(db);

  // ── seed ──
  // Seeding only: no fsync and a big page cache (random UUID keys scatter inserts across three
  // B-trees). Both go back to the app's settings before anything is measured.
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -524288');
  let started = performance.now();
  const ownerIds = db.transaction(() =>
    Array.from({ length: OWNERS }, (_, i) =>
      repos.users.upsertUser({ platform: 'discord', workspaceId: '', platformUserId: `bench-${i}`, displayName: `User ${i}` }).id,
    ),
  )();
  // Raw inserts: the repositories' per-job transactions would make seeding take an hour, and the
  // point here is the read path. Columns match what recordAssets writes.
  const insertJob = db.prepare(`
    INSERT INTO jobs (id, user_id, platform, workspace_id, channel_id, kind, model_id, prompt, params, status, private, created_at, finished_at)
    VALUES (?, ?, 'discord', 'g1', 'c1', ?, ?, ?, '{}', 'succeeded', 0, ?, ?)`);
  const insertAsset = db.prepare(`
    INSERT INTO assets (id, job_id, owner_user_id, position, kind, storage_driver, storage_key, content_type, bytes, sha256,
                        width, height, nsfw, share_id, visibility, model_id, prompt, created_at)
    VALUES (?, ?, ?, ?, ?, 'local', ?, 'image/png', 123456, 'deadbeef', 1024, 1024, 0, ?, ?, ?, ?, ?)`);
  const t0 = Date.UTC(2024, 0, 1);
  const seedBatch = db.transaction((from: number, to: number) => {
    for (let n = from; n < to; n += ASSETS_PER_JOB) {
      const owner = pickOwner(ownerIds);
      const model = random() < 0.02 ? RARE_MODEL : pick(MODELS);
      const kind = model.includes('video') || model.includes('veo') ? 'video' : 'image';
      const text = prompt();
      // ~30 s apart on average, with collisions on the same millisecond to exercise the id tie-break.
      const at = t0 + Math.floor(n * 7.5);
      const jobId = randomUUID();
      insertJob.run(jobId, owner, kind, model, text, at, at);
      for (let position = 0; position < ASSETS_PER_JOB && n + position < to; position++) {
        const id = randomUUID();
        insertAsset.run(id, jobId, owner, position, kind, `bench/${id}`, newShareId(), random() < 0.8 ? 'public' : 'private', model, text, at);
      }
    }
  });
  for (let from = 0; from < TOTAL_ASSETS; from += BATCH) {
    seedBatch(from, Math.min(from + BATCH, TOTAL_ASSETS));
    if ((from / BATCH) % 10 === 0) process.stdout.write(`\rseeded ${from.toLocaleString()} assets`);
  }
  // Remove 2% so the partial index has something to skip.
  db.prepare("UPDATE assets SET removed_at = created_at, removed_by = 'bench' WHERE abs(random()) % 50 = 0").run();
  db.exec('ANALYZE');
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -2000');
  const seedSeconds = (performance.now() - started) / 1000;
  console.log(
    `\rseeded ${TOTAL_ASSETS.toLocaleString()} assets / ${OWNERS} owners in ${seedSeconds.toFixed(1)} s ` +
      `(${(statSync(path).size / 1024 / 1024).toFixed(0)} MiB)`,
  );

  // ── measure ──
  const counts = db
    .prepare<[], { owner_user_id: number; n: number }>(
      'SELECT owner_user_id, count(*) AS n FROM assets WHERE removed_at IS NULL GROUP BY owner_user_id ORDER BY n DESC',
    )
    .all();
  const heavy = counts[0];
  const typical = counts[Math.floor(counts.length / 2)];
  if (!heavy || !typical) throw new Error('no owners seeded');
  console.log(`heaviest owner: ${heavy.n.toLocaleString()} live assets; median owner: ${typical.n.toLocaleString()}\n`);

  function deepCursor(owner: number, pages: number): string | undefined {
    let cursor: string | undefined;
    for (let i = 0; i < pages; i++) {
      const page = repos.assets.gallery(owner, { limit: 50, cursor });
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    return cursor;
  }

  function measure(label: string, owner: number, query: GalleryQuery): void {
    const times: number[] = [];
    let items = 0;
    for (let i = 0; i < RUNS; i++) {
      started = performance.now();
      items = repos.assets.gallery(owner, query).items.length;
      times.push(performance.now() - started);
    }
    console.log(`${label.padEnd(44)} median ${median(times).toFixed(3).padStart(8)} ms  max ${Math.max(...times).toFixed(3).padStart(8)} ms  (${items} items)`);
    for (const line of repos.assets.explainGallery(owner, query)) console.log(`    plan: ${line}`);
  }

  for (const [name, owner] of [
    ['heaviest', heavy.owner_user_id],
    ['median', typical.owner_user_id],
  ] as const) {
    console.log(`── ${name} owner (${owner}) ──`);
    measure('first page (50)', owner, { limit: 50 });
    measure('deep page (after 100 pages of 50)', owner, { limit: 50, cursor: deepCursor(owner, 100) });
    measure('filtered: model', owner, { limit: 50, modelId: 'fal-ai/recraft-v3' });
    measure('filtered: rare model (2% of rows)', owner, { limit: 50, modelId: RARE_MODEL });
    measure('filtered: kind=video, public only', owner, { limit: 50, kind: 'video', publicOnly: true });
    measure('FTS: common word ("cat")', owner, { limit: 50, search: 'cat' });
    measure('FTS: two words ("neon samurai")', owner, { limit: 50, search: 'neon samurai' });
    measure('FTS: nasty (\"neon* -(cat)', owner, { limit: 50, search: '"neon* -(cat' });
    measure('FTS: no match ("zeppelin")', owner, { limit: 50, search: 'zeppelin' });
    console.log('');
  }
  db.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
