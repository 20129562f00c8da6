import { describe, expect, it } from 'vitest';
import { InvalidCursorError, type Asset, type GalleryQuery, type Repositories } from '../../src/db/index.js';
import { newAsset, newJob, useTempDatabases, userRef } from './fixtures.js';

const openTemp = useTempDatabases();

interface Spec {
  prompt: string;
  modelId?: string;
  kind?: 'image' | 'video';
  private?: boolean;
  createdAt: number;
  outputs?: number;
}

/** One job per spec, its outputs all stamped with the spec's time (so ties need the id tie-break). */
function seed(repos: Repositories, ownerId: number, specs: Spec[]): Asset[] {
  return specs.flatMap((spec) => {
    const created = repos.jobs.createJobWithinLimit(
      newJob(ownerId, { prompt: spec.prompt, modelId: spec.modelId ?? 'fal-ai/flux/dev', kind: spec.kind ?? 'image', private: spec.private ?? false }),
      1_000_000,
    );
    if (!created.ok) throw new Error('job not created');
    repos.jobs.finishJob(created.job.id, { status: 'succeeded', at: spec.createdAt });
    return repos.assets.recordAssets(
      created.job.id,
      Array.from({ length: spec.outputs ?? 1 }, () => newAsset({ kind: spec.kind ?? 'image', createdAt: spec.createdAt })),
    );
  });
}

function newestFirst(assets: Asset[]): string[] {
  return [...assets]
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .map((asset) => asset.id);
}

function allPages(repos: Repositories, ownerId: number, query: GalleryQuery): { ids: string[]; pages: number } {
  const ids: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = repos.assets.gallery(ownerId, { ...query, cursor });
    pages++;
    expect(page.items.length).toBeLessThanOrEqual(query.limit);
    ids.push(...page.items.map((asset) => asset.id));
    cursor = page.nextCursor;
    if (cursor !== undefined) expect(page.items).toHaveLength(query.limit);
  } while (cursor !== undefined && pages < 1000);
  return { ids, pages };
}

async function setup() {
  const temp = await openTemp('atelier-gallery');
  const owner = temp.repos.users.upsertUser(userRef());
  const stranger = temp.repos.users.upsertUser(userRef());
  return { ...temp, owner, stranger };
}

describe('gallery', () => {
  it('lists the owner’s live assets newest first, breaking time ties by id', async () => {
    const { repos, owner, stranger } = await setup();
    const mine = seed(repos, owner.id, [
      { prompt: 'one', createdAt: 100, outputs: 3 },
      { prompt: 'two', createdAt: 300 },
      { prompt: 'three', createdAt: 200, outputs: 2 },
    ]);
    seed(repos, stranger.id, [{ prompt: 'not yours', createdAt: 250 }]);
    const page = repos.assets.gallery(owner.id, { limit: 50 });
    expect(page.items.map((a) => a.id)).toEqual(newestFirst(mine));
    expect(page.nextCursor).toBeUndefined();
    expect(repos.assets.gallery(owner.id + 999, { limit: 50 })).toEqual({ items: [] });
  });

  it('pages with an opaque keyset cursor through every row exactly once', async () => {
    const { repos, owner } = await setup();
    // 10 timestamps × 7 outputs: many ties straddle page boundaries.
    const mine = seed(repos, owner.id, Array.from({ length: 10 }, (_, i) => ({ prompt: `p${i}`, createdAt: 1000 + (i % 4), outputs: 7 })));
    for (const limit of [1, 3, 7, 10, 69, 70, 71]) {
      const { ids, pages } = allPages(repos, owner.id, { limit });
      expect(ids).toEqual(newestFirst(mine));
      expect(pages).toBe(Math.max(1, Math.ceil(70 / limit)));
    }
    const first = repos.assets.gallery(owner.id, { limit: 5 });
    expect(first.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('does not shift later pages when new assets arrive', async () => {
    const { repos, owner } = await setup();
    const mine = seed(repos, owner.id, Array.from({ length: 6 }, (_, i) => ({ prompt: `p${i}`, createdAt: 100 + i })));
    const first = repos.assets.gallery(owner.id, { limit: 3 });
    seed(repos, owner.id, [{ prompt: 'newer', createdAt: 999, outputs: 5 }]);
    const second = repos.assets.gallery(owner.id, { limit: 3, cursor: first.nextCursor });
    expect([...first.items, ...second.items].map((a) => a.id)).toEqual(newestFirst(mine));
  });

  it('clamps the limit and rejects cursors it did not issue', async () => {
    const { repos, owner } = await setup();
    seed(repos, owner.id, [{ prompt: 'x', createdAt: 1, outputs: 120 }]);
    expect(repos.assets.gallery(owner.id, { limit: 1000 }).items).toHaveLength(100);
    expect(repos.assets.gallery(owner.id, { limit: 0 }).items).toHaveLength(1);
    for (const cursor of ['', 'not-a-cursor', Buffer.from('[1]').toString('base64url'), Buffer.from('["x","y"]').toString('base64url'), '%%%']) {
      expect(() => repos.assets.gallery(owner.id, { limit: 5, cursor })).toThrow(InvalidCursorError);
    }
  });

  it('filters by model, kind and public visibility, and pages within the filter', async () => {
    const { repos, owner } = await setup();
    const mine = seed(repos, owner.id, [
      { prompt: 'a', modelId: 'flux', createdAt: 1, outputs: 2 },
      { prompt: 'b', modelId: 'kling', kind: 'video', createdAt: 2 },
      { prompt: 'c', modelId: 'flux', private: true, createdAt: 3, outputs: 3 },
      { prompt: 'd', modelId: 'kling', kind: 'video', private: true, createdAt: 4 },
      { prompt: 'e', modelId: 'flux', createdAt: 5 },
    ]);
    const where = (predicate: (a: Asset) => boolean) => newestFirst(mine.filter(predicate));
    expect(allPages(repos, owner.id, { limit: 2, modelId: 'flux' }).ids).toEqual(where((a) => a.modelId === 'flux'));
    expect(allPages(repos, owner.id, { limit: 2, kind: 'video' }).ids).toEqual(where((a) => a.kind === 'video'));
    expect(allPages(repos, owner.id, { limit: 2, publicOnly: true }).ids).toEqual(where((a) => a.visibility === 'public'));
    expect(allPages(repos, owner.id, { limit: 2, modelId: 'flux', publicOnly: true }).ids).toEqual(
      where((a) => a.modelId === 'flux' && a.visibility === 'public'),
    );
    expect(repos.assets.gallery(owner.id, { limit: 5, modelId: 'nope' }).items).toEqual([]);
    expect(repos.assets.gallery(owner.id, { limit: 50, publicOnly: false }).items).toHaveLength(mine.length);
  });

  it('hides removed assets from every view but keeps them by share id', async () => {
    const { repos, owner } = await setup();
    const mine = seed(repos, owner.id, [{ prompt: 'lantern festival', createdAt: 10, outputs: 4 }]);
    const gone = mine[1];
    if (!gone) throw new Error('not seeded');
    repos.assets.removeAsset(gone.id, { by: 'user', at: 20 });
    const live = mine.filter((a) => a.id !== gone.id);
    expect(allPages(repos, owner.id, { limit: 2 }).ids).toEqual(newestFirst(live));
    expect(repos.assets.gallery(owner.id, { limit: 10, search: 'lantern' }).items.map((a) => a.id)).toEqual(newestFirst(live));
    expect(repos.assets.getAssetByShareId(gone.shareId)?.removedAt).toBe(20);
  });

  describe('search', () => {
    async function searchable() {
      const temp = await setup();
      const mine = seed(temp.repos, temp.owner.id, [
        { prompt: 'A cat wearing a hat', createdAt: 1 },
        { prompt: 'cats OR dogs, "quoted" (unbalanced', createdAt: 2 },
        { prompt: 'Café au lait in Zürich', createdAt: 3 },
        { prompt: 'neon samurai -- cyberpunk*', createdAt: 4 },
        { prompt: 'dog near the sea', createdAt: 5, outputs: 3 },
        { prompt: '東京 night market', createdAt: 6 },
      ]);
      seed(temp.repos, temp.stranger.id, [{ prompt: 'a cat on the stranger’s mat', createdAt: 7 }]);
      const search = (text: string, extra: Partial<GalleryQuery> = {}) =>
        temp.repos.assets.gallery(temp.owner.id, { limit: 50, search: text, ...extra }).items.map((a) => a.prompt);
      return { ...temp, mine, search };
    }

    it('matches words (stemmed, case- and accent-insensitive) within the owner’s assets only', async () => {
      const { search } = await searchable();
      expect(search('cat')).toEqual(['cats OR dogs, "quoted" (unbalanced', 'A cat wearing a hat']);
      expect(search('CAT hat')).toEqual(['A cat wearing a hat']);
      expect(search('cafe zurich')).toEqual(['Café au lait in Zürich']);
      expect(search('dog')).toEqual(['dog near the sea', 'dog near the sea', 'dog near the sea', 'cats OR dogs, "quoted" (unbalanced']);
      expect(search('東京')).toEqual(['東京 night market']);
      expect(search('stranger')).toEqual([]);
      expect(search('mat')).toEqual([]);
    });

    it('pages through search results', async () => {
      const { repos, owner, mine } = await searchable();
      const dogs = mine.filter((a) => a.prompt.includes('dog'));
      expect(allPages(repos, owner.id, { limit: 1, search: 'dog' }).ids).toEqual(newestFirst(dogs));
      expect(allPages(repos, owner.id, { limit: 2, search: 'dog', modelId: 'fal-ai/flux/dev', kind: 'image' }).ids).toEqual(newestFirst(dogs));
    });

    it('treats FTS syntax in user text as plain words and never throws', async () => {
      const { search, repos, owner } = await searchable();
      const nasty = [
        '"', '""', '"cat', 'cat"', "'", '*', 'cat*', '-cat', '- cat', 'cat -dog', 'OR', 'cat OR', 'OR cat', 'AND', 'NOT', 'NOT cat',
        'cat AND', 'NEAR(cat dog)', 'NEAR(', '(', ')', '(cat', 'cat)', '((((', '))))', '(cat OR dog', 'prompt:cat', 'prompt : cat',
        'owner_user_id:1', `owner_user_id : "${owner.id}"`, '{prompt owner_user_id}: cat', '^cat', 'cat^', '+cat', ':', '::', '\\', '\\"',
        '"; DROP TABLE assets; --', '\u0000', 'cat\u0000dog', '🐱', '🐱 cat', '   ', '\t\n', 'a'.repeat(10_000), 'cat '.repeat(500),
        '%', '_', 'cat%', 'x"y"z', '""cat""', '*cat*', 'cyberpunk*', '-- cyberpunk', 'unbalanced (', 'quoted"',
      ];
      for (const text of nasty) {
        expect(() => search(text), JSON.stringify(text)).not.toThrow();
      }
      // Operators are ordinary words, so they only match prompts that contain them.
      expect(search('cat OR')).toEqual(['cats OR dogs, "quoted" (unbalanced']);
      expect(search('"cat')).toEqual(['cats OR dogs, "quoted" (unbalanced', 'A cat wearing a hat']);
      expect(search('(cat')).toEqual(search('cat'));
      expect(search('-cat')).toEqual(search('cat'));
      expect(search('cat*')).toEqual(search('cat'));
      expect(search('cyberpunk*')).toEqual(['neon samurai -- cyberpunk*']);
      expect(search('"quoted" (unbalanced')).toEqual(['cats OR dogs, "quoted" (unbalanced']);
      // No way to reach another owner's rows through the column filter.
      expect(search(`owner_user_id : "${owner.id + 1}"`)).toEqual([]);
      expect(search('{prompt owner_user_id}: mat')).toEqual([]);
      // Text with nothing searchable in it matches nothing; blank text is no filter at all.
      expect(search('🐱')).toEqual([]);
      expect(search('"*"')).toEqual([]);
      expect(search('   ')).toHaveLength(8);
      expect(repos.assets.gallery(owner.id, { limit: 50, search: '' }).items).toHaveLength(8);
    });
  });

  it('reads a page through the gallery index, without sorting', async () => {
    const { repos, owner, stranger, db } = await setup();
    for (const id of [owner.id, stranger.id]) {
      seed(repos, id, Array.from({ length: 40 }, (_, i) => ({ prompt: `p ${i}`, createdAt: i, outputs: 5, modelId: i % 2 ? 'a' : 'b' })));
    }
    const check = () => {
      const cursor = repos.assets.gallery(owner.id, { limit: 10 }).nextCursor;
      for (const query of [
        { limit: 10 },
        { limit: 10, cursor },
        { limit: 10, cursor, modelId: 'a', kind: 'image' as const, publicOnly: true },
        { limit: 10, cursor, search: 'p' },
      ]) {
        const plan = repos.assets.explainGallery(owner.id, query).join('\n');
        expect(plan, plan).toMatch(/USING INDEX assets_gallery \(owner_user_id=\?/);
        expect(plan, plan).not.toMatch(/TEMP B-TREE/);
        if (query.cursor) expect(plan, plan).toMatch(/\(created_at,id\)<\(\?,\?\)/);
      }
    };
    check();
    db.exec('ANALYZE');
    check();
  });
});
