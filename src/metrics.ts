/**
 * A small Prometheus registry: counters, histograms and gauges read at scrape time. Enough for
 * /metrics without another dependency; names follow Prometheus conventions.
 */

type Labels = Record<string, string>;

const labelKey = (labels: Labels) =>
  Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => `${name}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');

const braces = (key: string) => (key ? `{${key}}` : '');

/** `# HELP` and `# TYPE` lines; HELP text escapes backslash and newline (exposition format 0.0.4). */
const header = (name: string, help: string, type: 'counter' | 'histogram' | 'gauge') => [
  `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`,
  `# TYPE ${name} ${type}`,
];

/** Go's float formatting as Prometheus reads it: +Inf, -Inf, NaN. */
const value = (n: number) => (Number.isNaN(n) ? 'NaN' : n === Infinity ? '+Inf' : n === -Infinity ? '-Inf' : String(n));

interface Metric {
  render(): string[] | Promise<string[]>;
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  render(): string[] {
    const lines = header(this.name, this.help, 'counter');
    for (const [key, count] of this.values) lines.push(`${this.name}${braces(key)} ${value(count)}`);
    return lines;
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}
  observe(value: number, labels: Labels = {}): void {
    const key = labelKey(labels);
    const entry = this.series.get(key) ?? { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((bound, index) => {
      if (value <= bound) entry.counts[index] = (entry.counts[index] ?? 0) + 1;
    });
    entry.sum += value;
    entry.count += 1;
    this.series.set(key, entry);
  }
  render(): string[] {
    const lines = header(this.name, this.help, 'histogram');
    for (const [key, entry] of this.series) {
      const join = (extra: string) => braces([key, extra].filter(Boolean).join(','));
      this.buckets.forEach((bound, index) => lines.push(`${this.name}_bucket${join(`le="${bound}"`)} ${entry.counts[index] ?? 0}`));
      lines.push(`${this.name}_bucket${join('le="+Inf"')} ${entry.count}`);
      lines.push(`${this.name}_sum${braces(key)} ${value(entry.sum)}`);
      lines.push(`${this.name}_count${braces(key)} ${entry.count}`);
    }
    return lines;
  }
}

/** A gauge whose values are read when scraped (queue depth, jobs by status). */
export class CollectedGauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly collect: () => Promise<Array<[Labels, number]>> | Array<[Labels, number]>,
  ) {}
  async render(): Promise<string[]> {
    const lines = header(this.name, this.help, 'gauge');
    for (const [labels, reading] of await this.collect()) lines.push(`${this.name}${braces(labelKey(labels))} ${value(reading)}`);
    return lines;
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];

  readonly falLatency = this.add(
    new Histogram('atelier_fal_request_seconds', 'Time from submit to a finished fal request', [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800]),
  );
  readonly rehostedBytes = this.add(new Counter('atelier_rehosted_bytes_total', 'Bytes of fal outputs copied into our storage'));
  readonly jobsFinished = this.add(new Counter('atelier_jobs_finished_total', 'Generation jobs finished, by outcome and error code'));
  readonly moderationActions = this.add(
    new Counter('atelier_moderation_actions_total', "Moderation actions by kind, the communities' policies (holds, blocks) included"),
  );

  add<T extends Metric>(metric: T): T {
    this.metrics.push(metric);
    return metric;
  }

  async render(): Promise<string> {
    const blocks = await Promise.all(this.metrics.map((metric) => metric.render()));
    return `${blocks.flat().join('\n')}\n`;
  }
}
