// A protocol-level fake of fal.ai, reached the way the bot reaches fal: through a fal-style proxy.
//
// One node:http server on 127.0.0.1 (random port). Every request must arrive at `proxyUrl` with
// `x-fal-target-url: <the real https URL>`, the way @fal-ai/client's
// `proxyUrl: { url, when: 'always' }` sends it; the fake routes on that target URL:
//
//   POST https://queue.fal.run/<endpointId…>[?fal_webhook=]          submit          (auth)
//   GET  https://queue.fal.run/<app>/requests/<rid>/status?logs=0|1  status          (auth)
//   GET  https://queue.fal.run/<app>/requests/<rid>/status/stream    status (SSE)    (auth)
//   GET  https://queue.fal.run/<app>/requests/<rid>                  result          (auth)
//   PUT  https://queue.fal.run/<app>/requests/<rid>/cancel           cancel          (auth)
//   POST https://fal.run/<endpointId…>                               run (sync)      (auth)
//   POST https://rest[.alpha].fal.ai/storage/upload/initiate[-multipart]             (auth)
//   PUT  https://v3.fal.media/upload/<id>[/<part>] , POST …/<id>/complete   upload (no auth)
//   GET|HEAD https://<*.fal.media>/…                                 CDN (Range supported)
//   GET  https://api.fal.ai/v1/models/pricing?endpoint_id=…          pricing         (auth)
//   GET  https://api.fal.ai/v1/models?endpoint_id=…&expand=openapi-3.0  models (auth optional)
//   GET  https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=…  openapi        (no auth)
//
// `<app>` is the endpoint's app root (`owner/alias`, or `ns/owner/alias` for workflows/ and comfy/),
// which is what the real client uses; the full endpoint id is accepted too (the live server
// probably accepts both). A request without the proxy header gets 400 and is recorded with
// `viaProxy: false`.
//
// Request lifecycle (per submitted request): each status poll consumes one step of the
// progression (default: IN_QUEUE with queue_position 1, then IN_PROGRESS with one log line); the
// poll after the last step answers COMPLETED, unless the request is held (`hold`), in which case it
// answers IN_PROGRESS until released. The model output is produced (producer called) when the
// request completes. Result GETs before completion answer 400 {detail:"Request is still in progress"}.
// Status answers carry the accumulated logs with `?logs=1` and `logs: null` with `?logs=0` (the
// live logs=0 shape is unverified).
// Cancelling a request that has not completed answers 202 {status:"CANCELLATION_REQUESTED"}; it then
// completes at the next poll and its result is 400 {detail:"Request was cancelled"}. Cancelling a
// completed request answers 202 {status:"ALREADY_COMPLETED"} (HTTP code of that case unverified on
// the live API; inject a different one with failNext('cancel', …) if needed).
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  MIN_MP4_BYTES,
  makeJpeg,
  makePng,
  mp4Header,
  seededBytes,
  sha256Of,
} from './fal-fixtures.js';
import { flattenHeaders, sleep } from './http.js';

// ---------------------------------------------------------------------------------------------
// Public types

export type QueueState = 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED';

/** One non-terminal status answer in a request's progression. */
export type ProgressStep =
  | 'IN_QUEUE'
  | 'IN_PROGRESS'
  | { status: 'IN_QUEUE'; queuePosition?: number }
  | { status: 'IN_PROGRESS'; logs?: string[] };

/** Places a failure can be injected. */
export type FalStage =
  | 'submit'
  | 'status'
  | 'result'
  | 'cancel'
  | 'run'
  | 'upload-initiate'
  | 'upload'
  | 'cdn'
  | 'pricing'
  | 'models'
  | 'openapi';

/** What the fake recognised a request as. */
export type FalRoute =
  | 'no-proxy-header'
  | 'bad-target'
  | 'submit'
  | 'status'
  | 'status-stream'
  | 'result'
  | 'cancel'
  | 'run'
  | 'upload-initiate'
  | 'upload-initiate-multipart'
  | 'upload'
  | 'upload-part'
  | 'upload-complete'
  | 'cdn'
  | 'pricing'
  | 'models'
  | 'openapi'
  | 'unknown';

export interface RecordedRequest {
  at: Date;
  method: string;
  /** Path the request reached the fake on (normally `/proxy`). */
  path: string;
  /** Parsed `x-fal-target-url`; undefined when missing or unparsable. */
  targetUrl: URL | undefined;
  /** True when the request carried `x-fal-target-url`. */
  viaProxy: boolean;
  /** Lower-cased header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  route: FalRoute;
  /** HTTP status answered; undefined until headers are sent (or if the connection was dropped). */
  status?: number;
}

export interface SubmitRecord {
  at: Date;
  requestId: string;
  endpointId: string;
  /** `owner/alias` (or `ns/owner/alias`), used by status/result/cancel. */
  appRoot: string;
  input: Record<string, unknown>;
  /** The key from `Authorization: Key <key>`. */
  key: string;
  webhookUrl: string | undefined;
  /** `x-fal-queue-priority` (the client always sends `normal` or `low`). */
  priority: string | undefined;
  headers: Record<string, string>;
}

export interface UploadRecord {
  uploadId: string;
  uploadUrl: string;
  fileUrl: string;
  fileName: string;
  /** content_type from the initiate body. */
  contentType: string;
  /** Content-Type header of the PUT (the client uses blob.type || application/octet-stream). */
  putContentType: string | undefined;
  bytes: Buffer;
  key: string;
  /** `x-fal-object-lifecycle` header of the initiate call, if any. */
  lifecycle: string | undefined;
  multipart: boolean;
}

export interface CancelRecord {
  at: Date;
  requestId: string;
  endpointId: string;
  key: string;
  outcome: 'CANCELLATION_REQUESTED' | 'ALREADY_COMPLETED';
}

export interface ProducerContext {
  input: Record<string, unknown>;
  requestId: string;
  key: string;
  endpointId: string;
  fake: FakeFal;
}

/** A model output: JSON sent as the 200 result body, or a model error built with `fake.modelError`. */
export type FakeOutput = Record<string, unknown> | FalErrorResponse;
export type OutputProducer = (ctx: ProducerContext) => FakeOutput | Promise<FakeOutput>;

/** An error answer (status, JSON or raw body, extra headers). */
export class FalErrorResponse {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

export interface FailureSpec {
  /** HTTP status to answer (ignored with `destroy`). */
  status?: number;
  /** JSON-serialised unless a string or Buffer. Default `{detail:"Injected failure (<status>)"}`. */
  body?: unknown;
  headers?: Record<string, string>;
  /** How many matching requests fail. Default 1; `Infinity` until reset. */
  times?: number;
  /** Only requests for this endpoint id (or app root). Queue/run/pricing/models/openapi stages. */
  endpointId?: string;
  /** Only requests whose target URL matches (substring or RegExp). */
  url?: string | RegExp;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Drop the connection without answering (a transport error; the client retries these). */
  destroy?: boolean;
}

/** How the CDN sends a body (for download robustness tests). */
export interface CdnDeliveryRule {
  /** Only objects whose URL matches (substring or RegExp). Default: all. */
  url?: string | RegExp;
  /** How many downloads the rule applies to. Default 1; `Infinity` until reset. */
  times?: number;
  /** Wait before sending the response headers. */
  headerDelayMs?: number;
  /** Throttle the body to about this many bytes per second. */
  bytesPerSecond?: number;
  /** Send the full Content-Length header but only this many body bytes, then close the socket. */
  truncateAfter?: number;
  /** Send this many body bytes, then hang (never finish) until the client gives up. */
  stallAfter?: number;
}

export interface CdnObject {
  url: string;
  contentType: string;
  size: number;
  /** Hex sha256 of the full body (streamed and cached for generated objects). */
  sha256(): Promise<string>;
  /** The full body in memory. Do not call this on huge generated objects. */
  bytes(): Promise<Buffer>;
  /** Bytes [start, end) of the body, in chunks. */
  chunks(start?: number, end?: number): Iterable<Buffer>;
}

export interface ImageOutputOptions {
  width: number;
  height: number;
  /** Number of images. Default 1. */
  count?: number;
  /** Output `seed`; also picks the pixel colours. Default 42. */
  seed?: number;
  /** `has_nsfw_concepts`; flagged images are black (as fal does). Default all false. */
  nsfw?: boolean[];
  contentType?: 'image/png' | 'image/jpeg';
  /** Echoed as `prompt`. Default "". */
  prompt?: string;
  /** CDN host for the URLs. Default v3.fal.media. */
  host?: string;
}

export interface VideoOutputOptions {
  /** Total file size. Default 256 KiB; at least MIN_MP4_BYTES. Generated on the fly from a seed. */
  bytes?: number;
  /** Written into the mvhd box. Default 5. */
  durationSeconds?: number;
  fileName?: string;
  /** Seed of the pseudo-random payload. Default: random. */
  seed?: string;
  host?: string;
}

export interface ModelMetadata {
  display_name?: string;
  category?: string;
  description?: string;
  status?: string;
  tags?: string[];
}

export interface PriceSpec {
  unit_price: number;
  unit: string;
  currency?: string;
}

export interface RequestStateSnapshot {
  requestId: string;
  endpointId: string;
  state: QueueState;
  polls: number;
  held: boolean;
  cancelled: boolean;
  /** True once a poll answered COMPLETED (or `complete()` / a cancel took effect); the result is available. */
  completed: boolean;
}

// ---------------------------------------------------------------------------------------------
// Canned error answers

/** Ready-made failure specs for `failNext` / `modelError`-style tests. */
export const falErrors = {
  /** A pydantic-style 422 on one input field (surfaces as ValidationError with fieldErrors). */
  validation(field: string, msg: string, type = 'value_error', ctx?: Record<string, unknown>): FailureSpec {
    return { status: 422, body: { detail: [{ loc: ['body', field], msg, type, ...(ctx ? { ctx } : {}) }] } };
  },
  numImagesTooHigh(): FailureSpec {
    return falErrors.validation('num_images', 'ensure this value is less than or equal to 4', 'value_error.number.not_le', {
      limit_value: 4,
    });
  },
  /** Content-policy rejection. fal documents 422 with type content_policy_violation; pass 403 for the safety-gate variant. */
  contentPolicy(status = 422): FailureSpec {
    return {
      status,
      body: {
        detail: [
          {
            loc: ['body', 'prompt'],
            msg: 'The content could not be processed because it contained material flagged by a content checker.',
            type: 'content_policy_violation',
            url: 'https://docs.fal.ai/errors#content_policy_violation',
          },
        ],
      },
    };
  },
  unauthorized(): FailureSpec {
    return { status: 401, body: { detail: 'Invalid API key' } };
  },
  /** Retried by the client (~1 s backoff per retry). */
  rateLimited(): FailureSpec {
    return { status: 429, body: { detail: 'Rate limit exceeded' }, headers: { 'retry-after': '1' } };
  },
  /** Infrastructure error: `{detail, error_type}` + `x-fal-error-type`. 503/502/504 are retried by the client. */
  infrastructure(status = 503, errorType = 'runner_scheduling_failure', detail = 'Could not schedule a runner'): FailureSpec {
    return {
      status,
      body: { detail, error_type: errorType },
      headers: { 'x-fal-error-type': errorType, 'x-fal-retryable': 'true' },
    };
  },
  /** 500 internal error (not retried on submit/result; retried on status). */
  internal(detail = 'Internal server error'): FailureSpec {
    return { status: 500, body: { detail, error_type: 'internal_error' }, headers: { 'x-fal-error-type': 'internal_error' } };
  },
} as const;

// ---------------------------------------------------------------------------------------------
// Internals

type ObjectSource =
  | { kind: 'buffer'; data: Buffer }
  | { kind: 'generated'; prefix: Buffer; seed: string; size: number };

class StoredObject implements CdnObject {
  private hash: Promise<string> | undefined;
  constructor(
    readonly url: string,
    readonly contentType: string,
    private readonly source: ObjectSource,
  ) {}

  get size(): number {
    return this.source.kind === 'buffer' ? this.source.data.length : this.source.size;
  }

  sha256(): Promise<string> {
    this.hash ??= sha256Of(this.chunks());
    return this.hash;
  }

  async bytes(): Promise<Buffer> {
    return Buffer.concat([...this.chunks()]);
  }

  *chunks(start = 0, end = this.size): Iterable<Buffer> {
    end = Math.min(end, this.size);
    if (start >= end) return;
    const src = this.source;
    if (src.kind === 'buffer') {
      for (let pos = start; pos < end; pos += 256 * 1024) yield src.data.subarray(pos, Math.min(end, pos + 256 * 1024));
      return;
    }
    if (start < src.prefix.length) yield src.prefix.subarray(start, Math.min(end, src.prefix.length));
    yield* seededBytes(src.seed, Math.max(start, src.prefix.length), end);
  }
}

interface Job {
  requestId: string;
  endpointId: string;
  appRoot: string;
  input: Record<string, unknown>;
  key: string;
  account: string;
  submittedAt: number;
  startedAt: number | undefined;
  steps: ProgressStep[];
  polls: number;
  completed: boolean;
  completedAt: number | undefined;
  cancelled: boolean;
  released: boolean;
  logs: Array<{ message: string; level: 'INFO'; source: 'USER'; timestamp: string }>;
  outcome: Promise<FakeOutput> | undefined;
}

interface PendingUpload {
  uploadId: string;
  signature: string;
  uploadUrl: string;
  fileUrl: string;
  fileName: string;
  contentType: string;
  key: string;
  lifecycle: string | undefined;
  multipart: boolean;
  parts: Map<number, Buffer>;
}

interface FailureRule extends FailureSpec {
  remaining: number;
}

interface DeliveryRule extends CdnDeliveryRule {
  remaining: number;
}

const DEFAULT_PROGRESSION: ProgressStep[] = [
  { status: 'IN_QUEUE', queuePosition: 1 },
  { status: 'IN_PROGRESS', logs: ['Generating...'] },
];

const ENDPOINT_NAMESPACES = ['workflows', 'comfy'];

function appRootOf(endpointId: string): string {
  const parts = endpointId.split('/');
  return parts.slice(0, ENDPOINT_NAMESPACES.includes(parts[0] ?? '') ? 3 : 2).join('/');
}

function isFalHost(host: string, domain: 'fal.media' | 'fal.ai' | 'fal.run'): boolean {
  return host === domain || host.endsWith(`.${domain}`);
}

function matchesUrl(pattern: string | RegExp | undefined, url: string): boolean {
  if (pattern === undefined) return true;
  return typeof pattern === 'string' ? url.includes(pattern) : pattern.test(url);
}


function keyFrom(headers: Record<string, string>): string | undefined {
  const match = /^Key\s+(.+)$/i.exec(headers['authorization'] ?? '');
  return match?.[1]?.trim() || undefined;
}

// ---------------------------------------------------------------------------------------------
// The fake

export class FakeFal {
  /** `http://127.0.0.1:<port>/proxy` — use as the client's `proxyUrl.url` / FAL_PROXY_URL. */
  readonly proxyUrl: string;
  /** Accept any non-empty key (no addKey needed). Default false. */
  acceptAnyKey = false;
  /** Pause between SSE frames on `/status/stream`. */
  streamIntervalMs = 20;

  private readonly events = new EventEmitter();
  private records: RecordedRequest[] = [];
  private submitRecords: SubmitRecord[] = [];
  private uploadRecords: UploadRecord[] = [];
  private cancelRecords: CancelRecord[] = [];
  private keys = new Map<string, string>();
  private producers = new Map<string, OutputProducer>();
  private progressions = new Map<string, ProgressStep[]>();
  private holds = new Set<string>();
  private jobs = new Map<string, Job>();
  private failures = new Map<FalStage, FailureRule[]>();
  private deliveries: DeliveryRule[] = [];
  private objects = new Map<string, StoredObject>();
  private pendingUploads = new Map<string, PendingUpload>();
  private openApis = new Map<string, { doc: Record<string, unknown>; metadata: ModelMetadata }>();
  private prices = new Map<string, PriceSpec>();

  constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    this.proxyUrl = `http://127.0.0.1:${port}/proxy`;
    this.events.setMaxListeners(0);
  }

  // ----- records --------------------------------------------------------------------------

  /** Every request that reached the fake, in arrival order. */
  get requests(): readonly RecordedRequest[] {
    return this.records;
  }

  /** Accepted submissions (those that created a request id), optionally for one endpoint id. */
  submits(endpointId?: string): SubmitRecord[] {
    return this.submitRecords.filter((s) => endpointId === undefined || s.endpointId === endpointId);
  }

  /** Completed storage uploads (single PUT or multipart). */
  uploads(): UploadRecord[] {
    return [...this.uploadRecords];
  }

  /** Cancel calls for known requests. */
  cancels(): CancelRecord[] {
    return [...this.cancelRecords];
  }

  /** Where a submitted request stands, as the next status poll would see it (without advancing it). */
  requestState(requestId: string): RequestStateSnapshot | undefined {
    const job = this.jobs.get(requestId);
    if (!job) return undefined;
    let state: QueueState = 'COMPLETED';
    if (!job.completed && !job.cancelled) {
      const step = job.steps[job.polls];
      state = step ? (typeof step === 'string' ? step : step.status) : this.isHeld(job) ? 'IN_PROGRESS' : 'COMPLETED';
    }
    return {
      requestId,
      endpointId: job.endpointId,
      state,
      polls: job.polls,
      held: this.isHeld(job),
      cancelled: job.cancelled,
      completed: job.completed,
    };
  }

  /**
   * Resolves with the first truthy value of `check()`, re-evaluated whenever a request arrives or
   * is answered; rejects after `timeoutMs` (default 5000).
   */
  waitFor<T>(check: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
    const first = check();
    if (first) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      const onEvent = (): void => {
        const value = check();
        if (value) {
          cleanup();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake fal: waitFor timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.events.off('change', onEvent);
      };
      this.events.on('change', onEvent);
    });
  }

  /** Resolves with the `n`-th (1-based, default 1) accepted submit for the endpoint (or any). */
  waitForSubmit(endpointId?: string, n = 1, timeoutMs = 5000): Promise<SubmitRecord> {
    return this.waitFor(() => this.submits(endpointId)[n - 1], timeoutMs);
  }

  // ----- controls -------------------------------------------------------------------------

  /** Makes `key` valid. Requests are visible to every key of the same `account` (default: the key itself). */
  addKey(key: string, account = key): void {
    this.keys.set(key, account);
  }

  removeKey(key: string): void {
    this.keys.delete(key);
  }

  /**
   * Output for an endpoint id: exact id first, then its app root (`owner/alias`), then '*'.
   * Default (nothing set): one 64x48 PNG, seed 42, prompt echoed.
   */
  setOutput(endpointId: string, producer: OutputProducer | FakeOutput): void {
    this.producers.set(endpointId, typeof producer === 'function' ? producer : () => producer);
  }

  /**
   * Status answers before COMPLETED for requests submitted from now on, per endpoint id (exact id,
   * then app root, then '*'). `[]` completes at the first poll. Default: IN_QUEUE (position 1), IN_PROGRESS (one log).
   */
  setProgression(endpointId: string, steps: ProgressStep[]): void {
    this.progressions.set(endpointId, [...steps]);
  }

  /** Keep matching requests (current and future; endpoint id, app root, or all) IN_PROGRESS until released. */
  hold(endpointId = '*'): void {
    this.holds.add(endpointId);
    this.changed();
  }

  /** Release one request (it completes at its next poll), or with no argument every hold. */
  release(requestId?: string): void {
    if (requestId === undefined) {
      this.holds.clear();
    } else {
      const job = this.jobs.get(requestId);
      if (!job) throw new Error(`fake fal: unknown request ${requestId}`);
      job.released = true;
    }
    this.changed();
  }

  /** Request ids currently being held. */
  held(): string[] {
    return [...this.jobs.values()].filter((job) => !job.completed && this.isHeld(job)).map((job) => job.requestId);
  }

  /** Complete a request now (skips remaining steps and holds); its output is produced now. */
  complete(requestId: string): void {
    const job = this.jobs.get(requestId);
    if (!job) throw new Error(`fake fal: unknown request ${requestId}`);
    this.finish(job);
  }

  /** Fail the next `times` (default 1) matching requests at `stage` with the given answer. */
  failNext(stage: FalStage, spec: FailureSpec): void {
    if (spec.status === undefined && !spec.destroy) throw new Error('fake fal: failNext needs a status or destroy');
    const rules = this.failures.get(stage) ?? [];
    rules.push({ ...spec, remaining: spec.times ?? 1 });
    this.failures.set(stage, rules);
  }

  /** Shape the next `times` (default 1) matching CDN downloads: delay, throttle, truncate or stall. */
  cdnDelivery(rule: CdnDeliveryRule): void {
    this.deliveries.push({ ...rule, remaining: rule.times ?? 1 });
  }

  /** An error answer for a producer to return: the request completes, its result GET fails like this. */
  modelError(status: number, body: unknown, headers: Record<string, string> = {}): FalErrorResponse {
    return new FalErrorResponse(status, body, headers);
  }

  /** Same as modelError, from a canned spec (e.g. `fake.modelErrorFrom(falErrors.contentPolicy())`). */
  modelErrorFrom(spec: FailureSpec): FalErrorResponse {
    return new FalErrorResponse(spec.status ?? 500, spec.body ?? { detail: 'Model error' }, spec.headers ?? {});
  }

  /** Register an OpenAPI document for catalog sync (served by both schema routes). */
  setOpenApi(endpointId: string, doc: Record<string, unknown>, metadata: ModelMetadata = {}): void {
    this.openApis.set(endpointId, { doc, metadata });
  }

  /** Price answered by the pricing route. Default 0.025 USD per image. */
  setPrice(endpointId: string, price: PriceSpec): void {
    this.prices.set(endpointId, price);
  }

  /** Clear records and every control (keys, producers, holds, failures, objects, schemas); keep the server. */
  reset(): void {
    this.records = [];
    this.submitRecords = [];
    this.uploadRecords = [];
    this.cancelRecords = [];
    this.keys.clear();
    this.producers.clear();
    this.progressions.clear();
    this.holds.clear();
    this.jobs.clear();
    this.failures.clear();
    this.deliveries = [];
    this.objects.clear();
    this.pendingUploads.clear();
    this.openApis.clear();
    this.prices.clear();
    this.acceptAnyKey = false;
    this.streamIntervalMs = 20;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((error) => (error ? reject(error) : resolve())));
  }

  // ----- CDN objects and outputs ----------------------------------------------------------

  /** Put bytes on the fake CDN. Returns the object; its `url` is an absolute https fal.media URL. */
  putCdnObject(data: Buffer, options: { contentType: string; fileName?: string; url?: string; host?: string }): CdnObject {
    const url = options.url ?? this.newCdnUrl(options.fileName ?? 'file.bin', options.host);
    return this.store(url, options.contentType, { kind: 'buffer', data });
  }

  /** Put a `size`-byte object generated on the fly from `seed` (optionally after `prefix`) on the fake CDN. */
  putGeneratedCdnObject(options: {
    size: number;
    seed?: string;
    prefix?: Buffer;
    contentType: string;
    fileName?: string;
    url?: string;
    host?: string;
  }): CdnObject {
    const url = options.url ?? this.newCdnUrl(options.fileName ?? 'file.bin', options.host);
    const prefix = options.prefix ?? Buffer.alloc(0);
    if (prefix.length > options.size) throw new RangeError('prefix longer than size');
    return this.store(url, options.contentType, {
      kind: 'generated',
      prefix,
      seed: options.seed ?? randomUUID(),
      size: options.size,
    });
  }

  /** The object behind a fake CDN URL (uploads and generated outputs), if any. */
  cdnObject(url: string): CdnObject | undefined {
    return this.objects.get(this.objectKey(url));
  }

  /** FLUX-like image output whose images are real PNG/JPEG bytes on the fake CDN. */
  imageOutput(options: ImageOutputOptions): Record<string, unknown> {
    const count = options.count ?? 1;
    const seed = options.seed ?? 42;
    const contentType = options.contentType ?? 'image/png';
    const nsfw = Array.from({ length: count }, (_, i) => options.nsfw?.[i] ?? false);
    const images = nsfw.map((flagged, index) => {
      const bytes =
        contentType === 'image/jpeg'
          ? makeJpeg(options.width, options.height)
          : makePng(options.width, options.height, { seed, index, black: flagged });
      const ext = contentType === 'image/jpeg' ? 'jpg' : 'png';
      const object = this.putCdnObject(bytes, {
        contentType,
        fileName: `${randomBytes(8).toString('hex')}.${ext}`,
        ...(options.host ? { host: options.host } : {}),
      });
      return {
        url: object.url,
        width: options.width,
        height: options.height,
        content_type: contentType,
        file_size: bytes.length,
      };
    });
    return {
      images,
      seed,
      has_nsfw_concepts: nsfw,
      timings: { inference: 0.42 },
      prompt: options.prompt ?? '',
    };
  }

  /** Video output (`{video:{url, content_type, file_name, file_size}}`), MP4 bytes generated on the fly. */
  videoOutput(options: VideoOutputOptions = {}): Record<string, unknown> {
    const size = Math.max(MIN_MP4_BYTES, options.bytes ?? 256 * 1024);
    const fileName = options.fileName ?? `${randomBytes(8).toString('hex')}.mp4`;
    const object = this.putGeneratedCdnObject({
      size,
      prefix: mp4Header(size, options.durationSeconds ?? 5),
      contentType: 'video/mp4',
      fileName,
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.host ? { host: options.host } : {}),
    });
    return { video: { url: object.url, content_type: 'video/mp4', file_name: fileName, file_size: size } };
  }

  // ----- internals: state -----------------------------------------------------------------

  private changed(): void {
    this.events.emit('change');
  }

  private newCdnUrl(fileName: string, host = 'v3.fal.media'): string {
    return `https://${host}/files/${randomBytes(6).toString('hex')}/${encodeURIComponent(fileName)}`;
  }

  private objectKey(url: string | URL): string {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    return `${parsed.host}${parsed.pathname}`;
  }

  private store(url: string, contentType: string, source: ObjectSource): StoredObject {
    const object = new StoredObject(url, contentType, source);
    this.objects.set(this.objectKey(url), object);
    return object;
  }

  private accountFor(key: string | undefined): string | undefined {
    if (!key) return undefined;
    return this.keys.get(key) ?? (this.acceptAnyKey ? key : undefined);
  }

  private isHeld(job: Job): boolean {
    if (job.released || job.cancelled || job.completed) return false;
    return this.holds.has('*') || this.holds.has(job.endpointId) || this.holds.has(job.appRoot);
  }

  private producerFor(endpointId: string): OutputProducer {
    return (
      this.producers.get(endpointId) ??
      this.producers.get(appRootOf(endpointId)) ??
      this.producers.get('*') ??
      ((ctx) =>
        ctx.fake.imageOutput({
          width: 64,
          height: 48,
          seed: 42,
          prompt: typeof ctx.input['prompt'] === 'string' ? ctx.input['prompt'] : '',
        }))
    );
  }

  private finish(job: Job): void {
    if (job.completed) return;
    job.completed = true;
    job.completedAt = Date.now();
    if (job.cancelled) return;
    const producer = this.producerFor(job.endpointId);
    job.outcome = Promise.resolve().then(() =>
      producer({ input: job.input, requestId: job.requestId, key: job.key, endpointId: job.endpointId, fake: this }),
    );
    job.outcome.catch(() => undefined); // surfaced at the result GET
    this.changed();
  }

  private queueUrls(job: Job): Record<string, string> {
    const base = `https://queue.fal.run/${job.appRoot}/requests/${job.requestId}`;
    return { request_id: job.requestId, response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel` };
  }

  /** Answers one status poll, advancing the request. */
  private advance(job: Job, withLogs: boolean): Record<string, unknown> {
    const logs = (): unknown => (withLogs ? [...job.logs] : null);
    if (!job.completed && !job.cancelled) {
      const step = job.steps[job.polls];
      if (step !== undefined) {
        job.polls++;
        const status = typeof step === 'string' ? step : step.status;
        if (status === 'IN_QUEUE') {
          const position = typeof step === 'object' && step.status === 'IN_QUEUE' ? (step.queuePosition ?? 1) : 1;
          return { status, ...this.queueUrls(job), queue_position: position };
        }
        job.startedAt ??= Date.now();
        const messages = typeof step === 'object' && step.status === 'IN_PROGRESS' ? (step.logs ?? ['Generating...']) : ['Generating...'];
        for (const message of messages) job.logs.push({ message, level: 'INFO', source: 'USER', timestamp: new Date().toISOString() });
        return { status, ...this.queueUrls(job), logs: logs() };
      }
      if (this.isHeld(job)) {
        job.polls++;
        job.startedAt ??= Date.now();
        if (!job.logs.some((l) => l.message === 'Still working...')) {
          job.logs.push({ message: 'Still working...', level: 'INFO', source: 'USER', timestamp: new Date().toISOString() });
        }
        return { status: 'IN_PROGRESS', ...this.queueUrls(job), logs: logs() };
      }
    }
    if (!job.completed) {
      job.polls++;
      this.finish(job);
    }
    const inference = ((job.completedAt ?? Date.now()) - (job.startedAt ?? job.submittedAt)) / 1000;
    return { status: 'COMPLETED', ...this.queueUrls(job), logs: logs(), metrics: { inference_time: inference } };
  }

  // ----- internals: HTTP ------------------------------------------------------------------

  /** @internal */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = flattenHeaders(req.headers);
    const rawTarget = headers['x-fal-target-url'];
    let targetUrl: URL | undefined;
    try {
      targetUrl = rawTarget ? new URL(rawTarget) : undefined;
    } catch {
      targetUrl = undefined;
    }
    const record: RecordedRequest = {
      at: new Date(),
      method: (req.method ?? 'GET').toUpperCase(),
      path: req.url ?? '/',
      targetUrl,
      viaProxy: rawTarget !== undefined,
      headers,
      body: Buffer.concat(chunks),
      route: 'unknown',
    };
    this.records.push(record);
    this.changed();
    res.once('close', () => {
      if (res.headersSent) record.status = res.statusCode;
      this.changed();
    });
    try {
      if (rawTarget === undefined) {
        record.route = 'no-proxy-header';
        this.json(res, 400, { detail: 'missing x-fal-target-url' });
      } else if (!targetUrl) {
        record.route = 'bad-target';
        this.json(res, 400, { detail: 'invalid x-fal-target-url' });
      } else {
        await this.route(record, targetUrl, res);
      }
    } catch (error) {
      if (!res.headersSent) this.json(res, 500, { detail: `fake fal internal error: ${String(error)}` });
      else res.destroy();
    } finally {
      this.changed();
    }
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.destroyed) return;
    const payload = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': payload.length, ...headers });
    res.end(payload);
  }

  private sendError(res: ServerResponse, error: FalErrorResponse, extraHeaders: Record<string, string> = {}): void {
    if (typeof error.body === 'string' || Buffer.isBuffer(error.body)) {
      const payload = Buffer.isBuffer(error.body) ? error.body : Buffer.from(error.body);
      res.writeHead(error.status, { 'content-type': 'text/plain', 'content-length': payload.length, ...extraHeaders, ...error.headers });
      res.end(payload);
      return;
    }
    this.json(res, error.status, error.body, { ...extraHeaders, ...error.headers });
  }

  /** Applies the first matching injected failure for `stage`; true when the request was answered. */
  private async injected(stage: FalStage, record: RecordedRequest, res: ServerResponse, endpointId?: string): Promise<boolean> {
    const rules = this.failures.get(stage);
    if (!rules) return false;
    const url = record.targetUrl?.toString() ?? '';
    const rule = rules.find(
      (r) =>
        r.remaining > 0 &&
        matchesUrl(r.url, url) &&
        (r.endpointId === undefined || (endpointId !== undefined && (r.endpointId === endpointId || r.endpointId === appRootOf(endpointId)))),
    );
    if (!rule) return false;
    rule.remaining--;
    if (rule.delayMs) await sleep(rule.delayMs);
    if (rule.destroy) {
      res.socket?.destroy();
      return true;
    }
    const status = rule.status ?? 500;
    this.sendError(res, new FalErrorResponse(status, rule.body ?? { detail: `Injected failure (${status})` }, rule.headers ?? {}));
    return true;
  }

  /** Checks `Authorization: Key …`; answers 401 and returns undefined when invalid. */
  private authorize(record: RecordedRequest, res: ServerResponse, platformShape = false): { key: string; account: string } | undefined {
    const key = keyFrom(record.headers);
    const account = this.accountFor(key);
    if (key && account) return { key, account };
    if (platformShape) this.json(res, 401, { error: { type: 'authorization_error', message: 'Invalid API key' } });
    else this.json(res, 401, { detail: 'Invalid API key' });
    return undefined;
  }

  private async route(record: RecordedRequest, target: URL, res: ServerResponse): Promise<void> {
    const host = target.hostname.toLowerCase();
    const method = record.method;
    const segments = target.pathname.split('/').filter(Boolean).map(decodeURIComponent);

    if (host === 'queue.fal.run') return this.routeQueue(record, target, segments, res);
    if (host === 'fal.run' && method === 'POST' && segments.length >= 2) return this.handleRun(record, segments.join('/'), res);
    if ((host === 'rest.fal.ai' || host === 'rest.alpha.fal.ai') && method === 'POST') {
      const path = target.pathname.replace(/\/+$/, '');
      if (path === '/storage/upload/initiate') return this.handleInitiate(record, target, res, false);
      if (path === '/storage/upload/initiate-multipart') return this.handleInitiate(record, target, res, true);
    }
    if (isFalHost(host, 'fal.media')) {
      if (segments[0] === 'upload' && segments.length >= 2) return this.handleUpload(record, target, segments, res);
      if (method === 'GET' || method === 'HEAD') return this.handleCdn(record, target, res);
    }
    if (host === 'api.fal.ai' && method === 'GET') {
      const path = target.pathname.replace(/\/+$/, '');
      if (path === '/v1/models/pricing') return this.handlePricing(record, target, res);
      if (path === '/v1/models') return this.handleModels(record, target, res);
    }
    if (host === 'fal.ai' && method === 'GET' && target.pathname === '/api/openapi/queue/openapi.json') {
      return this.handleOpenApi(record, target, res);
    }
    record.route = 'unknown';
    this.json(res, 404, { detail: `fake fal: no route for ${method} ${target.toString()}` });
  }

  // ----- queue ----------------------------------------------------------------------------

  private async routeQueue(record: RecordedRequest, target: URL, segments: string[], res: ServerResponse): Promise<void> {
    const method = record.method;
    const at = segments.lastIndexOf('requests');
    const tail = at >= 0 ? segments.slice(at + 1) : [];
    const isRequestPath =
      at >= 2 &&
      ((tail.length === 1 && method === 'GET') ||
        (tail.length === 2 && tail[1] === 'status' && method === 'GET') ||
        (tail.length === 3 && tail[1] === 'status' && tail[2] === 'stream' && method === 'GET') ||
        (tail.length === 2 && tail[1] === 'cancel' && method === 'PUT'));
    if (!isRequestPath) {
      if (method === 'POST' && segments.length >= 2) return this.handleSubmit(record, target, segments.join('/'), res);
      record.route = 'unknown';
      this.json(res, 404, { detail: `fake fal: no queue route for ${method} ${target.pathname}` });
      return;
    }
    const requestId = tail[0] ?? '';
    const prefix = segments.slice(0, at).join('/');
    const kind = tail.length === 1 ? 'result' : tail[1] === 'cancel' ? 'cancel' : tail.length === 3 ? 'status-stream' : 'status';
    record.route = kind;
    const auth = this.authorize(record, res);
    if (!auth) return;
    const found = this.jobs.get(requestId);
    // A request is visible under its app root or full endpoint id, to keys of the submitting account.
    const job = found && found.account === auth.account && (prefix === found.appRoot || prefix === found.endpointId) ? found : undefined;
    const stage: FalStage = kind === 'status-stream' ? 'status' : kind;
    if (await this.injected(stage, record, res, job?.endpointId ?? prefix)) return;
    if (!job) {
      if (kind === 'cancel') this.json(res, 404, { status: 'NOT_FOUND' });
      else this.json(res, 404, { detail: `Request ${requestId} not found` });
      return;
    }
    const withLogs = target.searchParams.get('logs') === '1';
    if (kind === 'status') {
      this.json(res, 200, this.advance(job, withLogs), { 'x-fal-request-id': job.requestId });
      return;
    }
    if (kind === 'status-stream') return this.streamStatus(job, withLogs, res);
    if (kind === 'cancel') {
      const outcome = job.completed ? 'ALREADY_COMPLETED' : 'CANCELLATION_REQUESTED';
      if (!job.completed) job.cancelled = true;
      this.cancelRecords.push({ at: new Date(), requestId, endpointId: job.endpointId, key: auth.key, outcome });
      this.json(res, 202, { status: outcome });
      return;
    }
    // result
    const idHeader = { 'x-fal-request-id': job.requestId };
    if (!job.completed) {
      this.json(res, 400, { detail: 'Request is still in progress' }, idHeader);
      return;
    }
    if (job.cancelled || !job.outcome) {
      this.json(res, 400, { detail: 'Request was cancelled' }, idHeader);
      return;
    }
    let output: FakeOutput;
    try {
      output = await job.outcome;
    } catch (error) {
      this.json(res, 500, { detail: `fake fal producer failed: ${String(error)}`, error_type: 'internal_error' }, idHeader);
      return;
    }
    if (output instanceof FalErrorResponse) this.sendError(res, output, idHeader);
    else this.json(res, 200, output, idHeader);
  }

  private async streamStatus(job: Job, withLogs: boolean, res: ServerResponse): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-fal-request-id': job.requestId,
    });
    for (;;) {
      if (res.destroyed) return;
      const payload = this.advance(job, withLogs);
      res.write(`data: ${JSON.stringify(payload)}\n\n`);
      if (payload['status'] === 'COMPLETED') {
        res.end();
        return;
      }
      await sleep(this.streamIntervalMs);
    }
  }

  private parseInput(record: RecordedRequest): Record<string, unknown> | undefined {
    if (record.body.length === 0) return {};
    try {
      const value: unknown = JSON.parse(record.body.toString('utf8'));
      return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }

  private async handleSubmit(record: RecordedRequest, target: URL, endpointId: string, res: ServerResponse): Promise<void> {
    record.route = 'submit';
    const auth = this.authorize(record, res);
    if (!auth) return;
    if (await this.injected('submit', record, res, endpointId)) return;
    const input = this.parseInput(record);
    if (!input) {
      this.json(res, 422, { detail: [{ loc: ['body'], msg: 'Input should be a valid JSON object', type: 'model_attributes_type' }] });
      return;
    }
    const requestId = randomUUID();
    const steps =
      this.progressions.get(endpointId) ?? this.progressions.get(appRootOf(endpointId)) ?? this.progressions.get('*') ?? DEFAULT_PROGRESSION;
    const job: Job = {
      requestId,
      endpointId,
      appRoot: appRootOf(endpointId),
      input,
      key: auth.key,
      account: auth.account,
      submittedAt: Date.now(),
      startedAt: undefined,
      steps: [...steps],
      polls: 0,
      completed: false,
      completedAt: undefined,
      cancelled: false,
      released: false,
      logs: [],
      outcome: undefined,
    };
    this.jobs.set(requestId, job);
    this.submitRecords.push({
      at: record.at,
      requestId,
      endpointId,
      appRoot: job.appRoot,
      input,
      key: auth.key,
      webhookUrl: target.searchParams.get('fal_webhook') ?? undefined,
      priority: record.headers['x-fal-queue-priority'],
      headers: record.headers,
    });
    const first = steps[0];
    const position = first && typeof first === 'object' && first.status === 'IN_QUEUE' ? (first.queuePosition ?? 1) : first === 'IN_QUEUE' ? 1 : 0;
    this.json(res, 200, { status: 'IN_QUEUE', ...this.queueUrls(job), queue_position: position }, { 'x-fal-request-id': requestId });
  }

  private async handleRun(record: RecordedRequest, endpointId: string, res: ServerResponse): Promise<void> {
    record.route = 'run';
    const auth = this.authorize(record, res);
    if (!auth) return;
    if (await this.injected('run', record, res, endpointId)) return;
    const input = this.parseInput(record);
    if (!input) {
      this.json(res, 422, { detail: [{ loc: ['body'], msg: 'Input should be a valid JSON object', type: 'model_attributes_type' }] });
      return;
    }
    const requestId = randomUUID();
    const output = await this.producerFor(endpointId)({ input, requestId, key: auth.key, endpointId, fake: this });
    const idHeader = { 'x-fal-request-id': requestId };
    if (output instanceof FalErrorResponse) this.sendError(res, output, idHeader);
    else this.json(res, 200, output, idHeader);
  }

  // ----- storage --------------------------------------------------------------------------

  private async handleInitiate(record: RecordedRequest, target: URL, res: ServerResponse, multipart: boolean): Promise<void> {
    record.route = multipart ? 'upload-initiate-multipart' : 'upload-initiate';
    const auth = this.authorize(record, res);
    if (!auth) return;
    if (await this.injected('upload-initiate', record, res)) return;
    const body = this.parseInput(record);
    const contentType = body?.['content_type'];
    const fileName = body?.['file_name'];
    if (typeof contentType !== 'string' || typeof fileName !== 'string' || !fileName) {
      this.json(res, 422, { detail: [{ loc: ['body', 'content_type'], msg: 'Field required', type: 'missing' }] });
      return;
    }
    const host = target.searchParams.get('storage_type') === 'fal-cdn-v3' ? 'v3.fal.media' : 'fal.media';
    const uploadId = randomBytes(8).toString('hex');
    const signature = randomBytes(12).toString('hex');
    const pending: PendingUpload = {
      uploadId,
      signature,
      uploadUrl: `https://${host}/upload/${uploadId}?signature=${signature}`,
      fileUrl: `https://${host}/files/${uploadId}/${encodeURIComponent(fileName)}`,
      fileName,
      contentType,
      key: auth.key,
      lifecycle: record.headers['x-fal-object-lifecycle'],
      multipart,
      parts: new Map(),
    };
    this.pendingUploads.set(uploadId, pending);
    this.json(res, 200, { upload_url: pending.uploadUrl, file_url: pending.fileUrl });
  }

  private completeUpload(pending: PendingUpload, bytes: Buffer, putContentType: string | undefined): void {
    this.pendingUploads.delete(pending.uploadId);
    this.store(pending.fileUrl, pending.contentType, { kind: 'buffer', data: bytes });
    this.uploadRecords.push({
      uploadId: pending.uploadId,
      uploadUrl: pending.uploadUrl,
      fileUrl: pending.fileUrl,
      fileName: pending.fileName,
      contentType: pending.contentType,
      putContentType,
      bytes,
      key: pending.key,
      lifecycle: pending.lifecycle,
      multipart: pending.multipart,
    });
  }

  private async handleUpload(record: RecordedRequest, target: URL, segments: string[], res: ServerResponse): Promise<void> {
    const method = record.method;
    const pending = this.pendingUploads.get(segments[1] ?? '');
    const part = segments[2];
    record.route = part === undefined ? 'upload' : part === 'complete' ? 'upload-complete' : 'upload-part';
    if (await this.injected('upload', record, res)) return;
    if (!pending) {
      this.json(res, 404, { detail: 'Upload not found' });
      return;
    }
    if (target.searchParams.get('signature') !== pending.signature) {
      this.json(res, 403, { detail: 'Invalid upload signature' });
      return;
    }
    if (part === undefined && method === 'PUT' && !pending.multipart) {
      this.completeUpload(pending, record.body, record.headers['content-type']);
      res.writeHead(200, { 'content-length': 0 });
      res.end();
      return;
    }
    if (part !== undefined && part !== 'complete' && method === 'PUT' && pending.multipart && /^[1-9]\d*$/.test(part)) {
      const partNumber = Number(part);
      pending.parts.set(partNumber, record.body);
      this.json(res, 200, { partNumber, etag: `"${randomBytes(8).toString('hex')}"` });
      return;
    }
    if (part === 'complete' && method === 'POST' && pending.multipart) {
      const body = this.parseInput(record);
      const listed = Array.isArray(body?.['parts']) ? (body['parts'] as Array<{ partNumber?: unknown }>) : [];
      const numbers = listed.map((p) => Number(p.partNumber));
      const missing = numbers.filter((n) => !pending.parts.has(n));
      if (numbers.length === 0 || missing.length > 0) {
        this.json(res, 400, { detail: `Missing parts: ${missing.join(', ') || 'none listed'}` });
        return;
      }
      const bytes = Buffer.concat(numbers.sort((a, b) => a - b).map((n) => pending.parts.get(n) ?? Buffer.alloc(0)));
      this.completeUpload(pending, bytes, undefined);
      this.json(res, 200, { file_url: pending.fileUrl });
      return;
    }
    this.json(res, 405, { detail: `fake fal: ${method} not allowed on ${target.pathname}` });
  }

  // ----- CDN ------------------------------------------------------------------------------

  private async handleCdn(record: RecordedRequest, target: URL, res: ServerResponse): Promise<void> {
    record.route = 'cdn';
    if (await this.injected('cdn', record, res)) return;
    const object = this.objects.get(this.objectKey(target));
    if (!object) {
      this.json(res, 404, { detail: 'File not found' });
      return;
    }
    const url = target.toString();
    const rule = this.deliveries.find((r) => r.remaining > 0 && matchesUrl(r.url, url));
    if (rule) rule.remaining--;
    if (rule?.headerDelayMs) await sleep(rule.headerDelayMs);

    const size = object.size;
    let start = 0;
    let end = size; // exclusive
    let status = 200;
    const range = record.headers['range'];
    const common = { 'content-type': object.contentType, 'accept-ranges': 'bytes', 'cache-control': 'public, max-age=3600' };
    if (range) {
      const match = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      const a = match?.[1] ?? '';
      const b = match?.[2] ?? '';
      if (match && (a !== '' || b !== '')) {
        if (a === '') {
          start = Math.max(0, size - Number(b));
        } else {
          start = Number(a);
          end = b === '' ? size : Math.min(size, Number(b) + 1);
        }
        if (start >= size || start >= end) {
          res.writeHead(416, { ...common, 'content-range': `bytes */${size}`, 'content-length': 0 });
          res.end();
          return;
        }
        status = 206;
      }
    }
    res.writeHead(status, {
      ...common,
      'content-length': end - start,
      ...(status === 206 ? { 'content-range': `bytes ${start}-${end - 1}/${size}` } : {}),
    });
    if (record.method === 'HEAD') {
      res.end();
      return;
    }
    await this.pump(res, object.chunks(start, end), rule);
  }

  private async pump(res: ServerResponse, chunks: Iterable<Buffer>, rule: CdnDeliveryRule | undefined): Promise<void> {
    const limit = rule?.truncateAfter ?? rule?.stallAfter ?? Number.POSITIVE_INFINITY;
    const slice = rule?.bytesPerSecond ? Math.max(1, Math.floor(rule.bytesPerSecond / 20)) : Number.POSITIVE_INFINITY;
    let sent = 0;
    const closed = once(res, 'close').then(
      () => undefined,
      () => undefined,
    );
    const write = async (chunk: Buffer): Promise<void> => {
      const flushed = new Promise<void>((resolve) => res.write(chunk, () => resolve()));
      await Promise.race([flushed, closed]);
    };
    outer: for (const full of chunks) {
      let chunk = full;
      while (chunk.length > 0) {
        if (res.destroyed) return;
        const n = Math.min(chunk.length, limit - sent, slice);
        await write(chunk.subarray(0, n));
        sent += n;
        chunk = chunk.subarray(n);
        if (sent >= limit) break outer;
        if (rule?.bytesPerSecond) await sleep(50);
      }
    }
    if (rule?.truncateAfter !== undefined && sent >= rule.truncateAfter) {
      res.socket?.destroy();
      return;
    }
    if (rule?.stallAfter !== undefined && sent >= rule.stallAfter) {
      await closed; // never finish; the client has to time out
      return;
    }
    if (!res.destroyed) res.end();
  }

  // ----- platform API / schemas -----------------------------------------------------------

  private async handlePricing(record: RecordedRequest, target: URL, res: ServerResponse): Promise<void> {
    record.route = 'pricing';
    const auth = this.authorize(record, res, true);
    if (!auth) return;
    const ids = target.searchParams.getAll('endpoint_id').flatMap((v) => v.split(',')).filter(Boolean);
    if (await this.injected('pricing', record, res, ids[0])) return;
    if (ids.length === 0) {
      this.json(res, 400, { error: { type: 'validation_error', message: 'endpoint_id is required' } });
      return;
    }
    const prices = ids.map((id) => {
      const price = this.prices.get(id) ?? { unit_price: 0.025, unit: 'image' };
      return { endpoint_id: id, unit_price: price.unit_price, unit: price.unit, currency: price.currency ?? 'USD' };
    });
    this.json(res, 200, { prices, has_more: false, next_cursor: null });
  }

  private async handleModels(record: RecordedRequest, target: URL, res: ServerResponse): Promise<void> {
    record.route = 'models';
    // Anonymous calls are allowed; a key that is present must be valid.
    if (record.headers['authorization'] !== undefined && !this.authorize(record, res, true)) return;
    const ids = target.searchParams.getAll('endpoint_id').flatMap((v) => v.split(',')).filter(Boolean);
    if (await this.injected('models', record, res, ids[0])) return;
    const expand = target.searchParams.getAll('expand').flatMap((v) => v.split(','));
    const withOpenApi = expand.includes('openapi-3.0');
    const selected = ids.length > 0 ? ids : [...this.openApis.keys()];
    const models = selected.flatMap((id) => {
      const entry = this.openApis.get(id);
      if (!entry) return [];
      const info = (entry.doc['info'] ?? {}) as Record<string, unknown>;
      const falMeta = (info['x-fal-metadata'] ?? {}) as Record<string, unknown>;
      const metadata = {
        display_name: entry.metadata.display_name ?? id,
        category: entry.metadata.category ?? (typeof falMeta['category'] === 'string' ? falMeta['category'] : 'text-to-image'),
        description: entry.metadata.description ?? (typeof info['description'] === 'string' ? info['description'] : ''),
        status: entry.metadata.status ?? 'active',
        tags: entry.metadata.tags ?? [],
      };
      return [{ endpoint_id: id, metadata, ...(withOpenApi ? { openapi: entry.doc } : {}) }];
    });
    this.json(res, 200, { models, has_more: false, next_cursor: null });
  }

  private async handleOpenApi(record: RecordedRequest, target: URL, res: ServerResponse): Promise<void> {
    record.route = 'openapi';
    const id = target.searchParams.get('endpoint_id') ?? '';
    if (await this.injected('openapi', record, res, id || undefined)) return;
    const entry = this.openApis.get(id);
    if (!entry) {
      this.json(res, 404, { detail: `Endpoint ${id} not found` });
      return;
    }
    this.json(res, 200, entry.doc);
  }
}

/** Starts a fake on 127.0.0.1 with a random port. Call `close()` when done. */
export async function startFakeFal(): Promise<FakeFal> {
  let fake: FakeFal | undefined;
  const server = createServer((req, res) => {
    if (!fake) {
      res.writeHead(503).end();
      return;
    }
    fake.handle(req, res).catch(() => res.destroy()); // e.g. the client aborted while sending the body
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  fake = new FakeFal(server, (server.address() as AddressInfo).port);
  return fake;
}

const FAL_HOST = /(^|\.)fal\.(ai|run|media)$/i;

/**
 * A `fetch` that sends any request for a fal host (fal.ai / fal.run / fal.media) that lacks
 * `x-fal-target-url` through the proxy, the way production code must (the client's storage PUT
 * to `upload_url` and multipart calls bypass its proxy middleware). Pass it as `createFalClient({fetch})`.
 */
export function proxiedFetch(proxyUrl: string, base: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const request = typeof input === 'string' || input instanceof URL ? undefined : input;
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const headers = new Headers(init?.headers ?? request?.headers);
    let host = '';
    try {
      host = new URL(url).hostname;
    } catch {
      return base(input, init);
    }
    if (!FAL_HOST.test(host) || headers.has('x-fal-target-url')) return base(input, init);
    headers.set('x-fal-target-url', url);
    if (request) {
      const body = request.body ? await request.arrayBuffer() : undefined;
      return base(proxyUrl, { method: request.method, signal: request.signal, ...(body ? { body } : {}), ...init, headers });
    }
    return base(proxyUrl, { ...init, headers });
  };
}
