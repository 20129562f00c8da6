import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { Counter, Histogram, MetricsRegistry, CollectedGauge } from '../../src/metrics.js';
import { startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { LogCapture, newFalKey, startTestApp, testUser, type TestApp } from '../helpers/app.js';
import { rawRequest } from './fixtures.js';

// ── A strict reader of the Prometheus text exposition format (0.0.4) ───────────────────────────

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(${LABEL}(?:,${LABEL})*)?\\})? (\\S+)$`);
const FLOAT = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;

function unescapeLabel(text: string): string {
  return text.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
}

function parseValue(text: string): number {
  if (!FLOAT.test(text)) throw new Error(`not a Prometheus float: ${text}`);
  return text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
}

/** Throws, naming the line, on anything a Prometheus server would reject. */
function parseExposition(text: string): Map<string, Family> {
  expect(text.endsWith('\n')).toBe(true);
  const families = new Map<string, Family>();
  const familyOf = (sample: string) => {
    for (const suffix of ['', '_bucket', '_sum', '_count']) {
      if (!sample.endsWith(suffix)) continue;
      const family = families.get(sample.slice(0, sample.length - suffix.length));
      if (family && (suffix === '' || family.type === 'histogram')) return family;
    }
    return undefined;
  };
  const seen = new Set<string>();
  for (const [index, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${index + 1}: ${JSON.stringify(line)}`;
    if (line.startsWith('# HELP ')) {
      const match = /^# HELP (\S+) (.*)$/.exec(line);
      if (!match || !new RegExp(`^${NAME}$`).test(match[1]!)) throw new Error(`bad HELP, ${where}`);
      if (families.has(match[1]!)) throw new Error(`HELP after TYPE or repeated, ${where}`);
      families.set(match[1]!, { name: match[1]!, type: '', help: match[2]!, samples: [] });
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const match = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      const family = match && families.get(match[1]!);
      if (!match || !family || family.type || family.samples.length) throw new Error(`bad TYPE, ${where}`);
      family.type = match[2]!;
      continue;
    }
    if (line.startsWith('#') || line === '') throw new Error(`unexpected line, ${where}`);
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`bad sample, ${where}`);
    const family = familyOf(match[1]!);
    if (!family?.type) throw new Error(`sample without HELP/TYPE, ${where}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').match(new RegExp(LABEL, 'g')) ?? []) {
      const eq = pair.indexOf('=');
      const labelName = pair.slice(0, eq);
      if (labelName in labels) throw new Error(`repeated label ${labelName}, ${where}`);
      labels[labelName] = unescapeLabel(pair.slice(eq + 2, -1));
    }
    const identity = `${match[1]}{${Object.entries(labels).sort().map(([k, v]) => `${k}=${v}`).join(',')}}`;
    if (seen.has(identity)) throw new Error(`duplicate series, ${where}`);
    seen.add(identity);
    family.samples.push({ name: match[1]!, labels, value: parseValue(match[3]!) });
  }
  for (const family of families.values()) {
    if (!family.type) throw new Error(`${family.name} has HELP but no TYPE`);
    if (family.type === 'counter') for (const sample of family.samples) expect(sample.value).toBeGreaterThanOrEqual(0);
    if (family.type === 'histogram') checkHistogram(family);
  }
  return families;
}

/** Buckets are cumulative, end with +Inf, and +Inf equals _count, per label set. */
function checkHistogram(family: Family): void {
  const series = new Map<string, Sample[]>();
  for (const sample of family.samples.filter((candidate) => candidate.name.endsWith('_bucket'))) {
    const { le, ...rest } = sample.labels;
    expect(le, `${family.name} bucket without le`).toBeDefined();
    const key = JSON.stringify(Object.entries(rest).sort());
    series.set(key, [...(series.get(key) ?? []), sample]);
  }
  for (const [key, buckets] of series) {
    const bounds = buckets.map((bucket) => parseValue(bucket.labels.le!));
    expect(bounds).toEqual([...bounds].sort((a, b) => a - b));
    expect(bounds.at(-1)).toBe(Infinity);
    const counts = buckets.map((bucket) => bucket.value);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    const labels = Object.fromEntries(JSON.parse(key) as Array<[string, string]>);
    const count = family.samples.find((sample) => sample.name === `${family.name}_count` && JSON.stringify(Object.entries(sample.labels).sort()) === key);
    const sum = family.samples.find((sample) => sample.name === `${family.name}_sum` && JSON.stringify(Object.entries(sample.labels).sort()) === key);
    expect(count?.value, `${family.name}_count ${JSON.stringify(labels)}`).toBe(counts.at(-1));
    expect(sum, `${family.name}_sum ${JSON.stringify(labels)}`).toBeDefined();
  }
}

const find = (family: Family | undefined, labels: Record<string, string>, name = family?.name) =>
  family?.samples.find((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));

// ── The running app ─────────────────────────────────────────────────────────────────────────────

describe('health, readiness and metrics of the running app', () => {
  let fake: FakeFal;
  let harness: TestApp;

  beforeAll(async () => {
    fake = await startFakeFal();
    harness = await startTestApp({ fake });
  });

  afterAll(async () => {
    await harness?.close();
    await fake?.close();
  });

  it('answers /healthz', async () => {
    const response = await fetch(`${harness.baseUrl}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok\n');
    const head = await rawRequest(harness.baseUrl, '/healthz', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it('answers /readyz with every dependency ok', async () => {
    const response = await fetch(`${harness.baseUrl}/readyz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ ready: true, checks: { redis: 'ok', database: 'ok', storage: 'ok' } });
  });

  it('exposes Prometheus metrics that reflect a finished job', async () => {
    const owner = harness.app.owner!;
    const user = testUser('metrics');
    const key = newFalKey();
    fake.addKey(key);
    await owner.services.keys.register(user, key);
    fake.setOutput('fal-ai/flux/dev', () => fake.imageOutput({ width: 32, height: 32, seed: 1 }));

    const before = parseExposition(await (await fetch(`${harness.baseUrl}/metrics`)).text());
    const succeededBefore = find(before.get('atelier_jobs'), { status: 'succeeded' })?.value ?? 0;

    const { job } = await owner.service.enqueue({ user, workspaceId: 'guild-1', channelId: 'channel-1', kind: 'image', prompt: 'metrics', model: 'fal-ai/flux/dev' });
    const delivery = await harness.deliverer.waitFor(job.id);
    expect(delivery.status).toBe('succeeded');
    if (delivery.status !== 'succeeded') return;
    const bytes = delivery.assets.reduce((sum, asset) => sum + asset.bytes, 0);
    expect(bytes).toBeGreaterThan(0);

    const response = await fetch(`${harness.baseUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parseExposition(await response.text());

    const jobs = families.get('atelier_jobs');
    expect(jobs?.type).toBe('gauge');
    expect(find(jobs, { status: 'succeeded' })?.value).toBe(succeededBefore + 1);
    for (const status of ['queued', 'running', 'failed', 'cancelled']) expect(find(jobs, { status }), status).toBeDefined();

    const queue = families.get('atelier_queue_jobs');
    expect(queue?.type).toBe('gauge');
    for (const name of ['generate', 'deliver']) {
      for (const state of ['waiting', 'active', 'delayed', 'failed', 'prioritized']) {
        expect(find(queue, { queue: name, state }), `${name}/${state}`).toBeDefined();
      }
    }

    const latency = families.get('atelier_fal_request_seconds');
    expect(latency?.type).toBe('histogram');
    expect(find(latency, { model: 'fal-ai/flux/dev' }, 'atelier_fal_request_seconds_count')?.value).toBe(1);
    expect(find(latency, { model: 'fal-ai/flux/dev', le: '+Inf' }, 'atelier_fal_request_seconds_bucket')?.value).toBe(1);
    const seconds = find(latency, { model: 'fal-ai/flux/dev' }, 'atelier_fal_request_seconds_sum')?.value ?? -1;
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(30);

    const rehosted = families.get('atelier_rehosted_bytes_total');
    expect(rehosted?.type).toBe('counter');
    expect(find(rehosted, {})?.value).toBe(bytes);

    const finished = families.get('atelier_jobs_finished_total');
    expect(find(finished, { status: 'succeeded' })?.value).toBe(1);
  });
});

// ── Readiness failures, on a server built directly ───────────────────────────────────────────────

describe('readiness failures', () => {
  let fake: FakeFal;
  let harness: TestApp;
  const servers: HttpServer[] = [];

  beforeAll(async () => {
    fake = await startFakeFal();
    harness = await startTestApp({ fake });
  });

  afterAll(async () => {
    for (const server of servers) await server.close();
    await harness?.close();
    await fake?.close();
  });

  async function serve(readiness: Record<string, () => Promise<void>>, logs = new LogCapture()): Promise<string> {
    const owner = harness.app.owner!;
    const server = new HttpServer({
      port: 0,
      host: '127.0.0.1',
      logger: createLogger('debug', logs),
      repos: owner.repos,
      storage: harness.app.storage,
      links: owner.links,
      readiness,
      renderMetrics: () => owner.metrics.render(),
    });
    servers.push(server);
    return `http://127.0.0.1:${await server.listen()}`;
  }

  it('answers 503 naming the failing check, and logs why', async () => {
    const logs = new LogCapture();
    const base = await serve(
      {
        redis: async () => undefined,
        database: async () => undefined,
        storage: async () => {
          throw new Error('disk is gone');
        },
      },
      logs,
    );
    const response = await fetch(`${base}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ ready: false, checks: { redis: 'ok', database: 'ok', storage: 'unavailable' } });
    expect(logs.lines.some((line) => line.includes('readiness check failed') && line.includes('"dependency":"storage"') && line.includes('disk is gone'))).toBe(true);
    // Liveness does not depend on the dependencies.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('counts a check that throws synchronously or hangs as unavailable', async () => {
    const base = await serve({
      redis: () => {
        throw new Error('sync failure');
      },
      database: () => new Promise<void>(() => undefined),
      storage: () => harness.app.storage.check(),
    });
    const started = Date.now();
    const response = await fetch(`${base}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ ready: false, checks: { redis: 'unavailable', database: 'unavailable', storage: 'ok' } });
    expect(Date.now() - started).toBeLessThan(6_000);
  });

  it('answers 500 without leaking details when metrics cannot be rendered', async () => {
    const owner = harness.app.owner!;
    const server = new HttpServer({
      port: 0,
      host: '127.0.0.1',
      logger: createLogger('silent'),
      repos: owner.repos,
      storage: harness.app.storage,
      links: owner.links,
      readiness: {},
      renderMetrics: () => Promise.reject(new Error('redis down: secret-host:6379')),
    });
    servers.push(server);
    const base = `http://127.0.0.1:${await server.listen()}`;
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain('secret-host');
  });
});

// ── The registry on its own ─────────────────────────────────────────────────────────────────────

describe('MetricsRegistry text format', () => {
  it('escapes label values and HELP text', async () => {
    const registry = new MetricsRegistry();
    const counter = registry.add(new Counter('test_escapes_total', 'Help with a \\ backslash\nand a newline'));
    const hostile = 'quote " backslash \\ newline \n end';
    counter.inc({ model: hostile, b: 'x' }, 2);
    counter.inc({ b: 'x', model: hostile });
    const text = await registry.render();
    expect(text).toContain('# HELP test_escapes_total Help with a \\\\ backslash\\nand a newline\n');
    // One series (label order does not matter), values escaped.
    expect(text).toContain('test_escapes_total{b="x",model="quote \\" backslash \\\\ newline \\n end"} 3\n');
    const family = parseExposition(text).get('test_escapes_total');
    expect(family?.samples).toEqual([{ name: 'test_escapes_total', labels: { b: 'x', model: hostile }, value: 3 }]);
  });

  it('renders cumulative histogram buckets and gauges read at scrape time', async () => {
    const registry = new MetricsRegistry();
    const histogram = registry.add(new Histogram('test_seconds', 'Durations', [1, 5, 10]));
    for (const value of [0.5, 3, 3, 7, 60]) histogram.observe(value, { model: 'a' });
    histogram.observe(2, { model: 'b' });
    let depth = 4;
    registry.add(new CollectedGauge('test_depth', 'Depth', () => [[{ queue: 'q' }, depth]]));
    registry.add(new CollectedGauge('test_infinite', 'Edge values', async () => [[{ kind: 'inf' }, Infinity], [{ kind: 'nan' }, Number.NaN]]));

    const families = parseExposition(await registry.render());
    const seconds = families.get('test_seconds');
    expect(seconds?.samples.filter((sample) => sample.labels.model === 'a').map((sample) => [sample.name, sample.labels.le, sample.value])).toEqual([
      ['test_seconds_bucket', '1', 1],
      ['test_seconds_bucket', '5', 3],
      ['test_seconds_bucket', '10', 4],
      ['test_seconds_bucket', '+Inf', 5],
      ['test_seconds_sum', undefined, 73.5],
      ['test_seconds_count', undefined, 5],
    ]);
    expect(find(families.get('test_depth'), { queue: 'q' })?.value).toBe(4);
    expect(find(families.get('test_infinite'), { kind: 'inf' })?.value).toBe(Infinity);
    expect(Number.isNaN(find(families.get('test_infinite'), { kind: 'nan' })?.value)).toBe(true);
    depth = 9;
    expect(find(parseExposition(await registry.render()).get('test_depth'), { queue: 'q' })?.value).toBe(9);
  });

  it('renders every default family even before anything happened', async () => {
    const families = parseExposition(await new MetricsRegistry().render());
    expect([...families.keys()]).toEqual(['atelier_fal_request_seconds', 'atelier_rehosted_bytes_total', 'atelier_jobs_finished_total', 'atelier_moderation_actions_total']);
  });
});
