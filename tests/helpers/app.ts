import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { startApp, type App, type AppOptions, type Roles } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Job } from '../../src/db/index.js';
import type { Platform, UserRef } from '../../src/domain.js';
import type { Message } from '../../commands/context.js';
import type { DeliveredAsset, DeliverOptions, Deliverer, Delivery, ModerationOutlet, PostedMessage } from '../../src/jobs/deliver.js';
import { createLogger } from '../../src/logger.js';
import type { FakeFal } from '../fakes/fal-server.js';
import { tempDir, testRedisUrl, uniquePrefix } from './env.js';
import type { RunningS3rver } from './s3rver.js';

/** A fal key in fal's shape (`<uuid>:<32 hex>`), unique per call. */
export function newFalKey(): string {
  return `${randomUUID()}:${randomBytes(16).toString('hex')}`;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A chat message as the recording outlet keeps it: every revision, and whether it was taken down. */
export interface RecordedPost extends PostedMessage {
  message: Message;
  /** The outputs the message shows (attached or linked). */
  assets: DeliveredAsset[];
  edits: Message[];
}

/** Stands in for a platform's moderation outlet: review-channel posts, their edits, and private notes. */
export class RecordingOutlet implements ModerationOutlet {
  readonly posts: RecordedPost[] = [];
  readonly told: Array<{ member: UserRef; message: Message }> = [];
  /** Channels the bot may not post in. */
  readonly closedChannels = new Set<string>();
  private counter = 0;

  async post(channelId: string, message: Message, assets: readonly DeliveredAsset[]): Promise<PostedMessage> {
    if (this.closedChannels.has(channelId)) throw new Error('missing access');
    this.counter += 1;
    const posted = { channelId, messageId: `msg-${this.counter}` };
    this.posts.push({ ...posted, message, assets: [...assets], edits: [] });
    return posted;
  }

  async edit(post: PostedMessage, message: Message, assets: readonly DeliveredAsset[]): Promise<void> {
    const recorded = this.posts.find((candidate) => candidate.messageId === post.messageId);
    if (!recorded) return;
    recorded.edits.push(message);
    recorded.message = message;
    recorded.assets = [...assets];
  }

  async tell(member: UserRef, message: Message): Promise<boolean> {
    this.told.push({ member, message });
    return true;
  }

  async permalink(_workspaceId: string, post: PostedMessage): Promise<string> {
    return `https://chat.example/${post.channelId}/${post.messageId}`;
  }

  inChannel(channelId: string): RecordedPost[] {
    return this.posts.filter((post) => post.channelId === channelId);
  }
}

/** Stands in for a platform adapter: records every delivery so a test can wait for one. */
export class RecordingDeliverer implements Deliverer {
  readonly deliveries: Delivery[] = [];
  /** Set by `withModeration`: public results are then "posted" (and can be mirrored, removed, reviewed). */
  moderation?: RecordingOutlet;
  readonly deliveryOptions: DeliverOptions[] = [];
  private waiters: Array<{ jobId: string; resolve: (delivery: Delivery) => void }> = [];
  /** Throws this many times before delivering (a chat API outage). */
  failNext = 0;

  /** Behaves like a platform with moderation: public results become posts, reviews go to the outlet. */
  withModeration(): RecordingOutlet {
    this.moderation ??= new RecordingOutlet();
    return this.moderation;
  }

  async deliver(delivery: Delivery, options: DeliverOptions = {}): Promise<PostedMessage[] | void> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('chat platform unavailable');
    }
    this.deliveries.push(delivery);
    this.deliveryOptions.push(options);
    for (const waiter of this.waiters.filter((candidate) => candidate.jobId === delivery.job.id)) waiter.resolve(delivery);
    this.waiters = this.waiters.filter((candidate) => candidate.jobId !== delivery.job.id);
    if (this.moderation && delivery.status === 'succeeded' && !delivery.job.private) {
      return [{ channelId: delivery.job.channelId, messageId: `result-${delivery.job.id}-${this.deliveries.length}` }];
    }
  }

  /** Takes nothing down (there is no chat); a removal still runs its other steps. */
  async retract(): Promise<boolean> {
    return true;
  }

  forJob(jobId: string): Delivery[] {
    return this.deliveries.filter((delivery) => delivery.job.id === jobId);
  }

  waitFor(jobId: string, timeoutMs = 20_000): Promise<Delivery> {
    const done = this.deliveries.find((delivery) => delivery.job.id === jobId);
    if (done) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no delivery for job ${jobId} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        jobId,
        resolve: (delivery) => {
          clearTimeout(timer);
          resolve(delivery);
        },
      });
    });
  }
}

/** Every log line the app wrote, as raw JSON text (to prove secrets never reach it). */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    callback();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestAppOptions {
  fake: FakeFal;
  s3?: RunningS3rver;
  roles?: Roles;
  env?: Record<string, string>;
  /** Reuse another app's data dir and prefix (a restart, or a second process on the same deployment). */
  share?: { dataDir: string; prefix: string };
  appOptions?: Partial<AppOptions>;
}

export interface TestApp {
  app: App;
  deliverer: RecordingDeliverer;
  logs: LogCapture;
  dataDir: string;
  prefix: string;
  baseUrl: string;
  close(): Promise<void>;
}

/** The fast settings tests run with: quick polls, retries and lock takeovers. */
export const FAST_TUNING = {
  queueTuning: { attempts: 3, backoffMs: 50 },
  workerTuning: { pollIntervalMs: 20, saveRetryBaseMs: 50, maxSaveDelayMs: 200, lockDurationMs: 2_000, stalledIntervalMs: 1_000 },
} satisfies Partial<AppOptions>;

export async function startTestApp(options: TestAppOptions): Promise<TestApp> {
  const dir = options.share ? undefined : await tempDir('atelier-app');
  const dataDir = options.share?.dataDir ?? dir?.path ?? '';
  const prefix = options.share?.prefix ?? uniquePrefix('app');
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const storageEnv: Record<string, string> = options.s3
    ? {
        STORAGE_DRIVER: 's3',
        S3_BUCKET: options.s3.bucket,
        S3_ENDPOINT: options.s3.endpoint,
        S3_FORCE_PATH_STYLE: 'true',
        S3_REGION: 'us-east-1',
      }
    : { STORAGE_DRIVER: 'local', STORAGE_DIR: `${dataDir}/media` };
  const config = loadConfig({
    PORT: String(port),
    PUBLIC_URL: baseUrl,
    REDIS_URL: testRedisUrl,
    QUEUE_PREFIX: prefix,
    DATABASE_PATH: `${dataDir}/atelier.db`,
    FAL_PROXY_URL: options.fake.proxyUrl,
    WORKER_CONCURRENCY: '4',
    LOG_LEVEL: 'debug',
    ...storageEnv,
    ...options.env,
  });
  const logs = new LogCapture();
  const deliverer = new RecordingDeliverer();
  const app = await startApp(config, {
    ...FAST_TUNING,
    roles: options.roles ?? { owner: true, generate: true },
    logger: createLogger('debug', logs),
    deliverers: new Map<Platform, Deliverer>([['test', deliverer]]),
    ...(options.s3 ? { s3Credentials: options.s3.credentials } : {}),
    ...options.appOptions,
  });
  return {
    app,
    deliverer,
    logs,
    dataDir,
    prefix,
    baseUrl,
    async close() {
      await app.close();
      if (!options.share) {
        await dropPrefix(prefix);
        await dir?.cleanup();
      }
    },
  };
}

/** Removes every Redis key of a test prefix (queues, cancel flags). */
export async function dropPrefix(prefix: string): Promise<void> {
  const redis = new Redis(testRedisUrl);
  try {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    await redis.quit();
  }
}

let userCounter = 0;
export function testUser(name = 'user'): UserRef & { displayName: string } {
  userCounter += 1;
  return { platform: 'test', workspaceId: 'guild-1', platformUserId: `${name}-${userCounter}-${randomBytes(3).toString('hex')}`, displayName: name };
}

/** Serves attachment bytes the way a platform CDN would (Discord attachment URLs, Slack files). */
export class AttachmentServer {
  private readonly files = new Map<string, { body: Buffer; contentType: string }>();
  readonly requests: Array<{ path: string; authorization?: string }> = [];
  private constructor(
    private readonly server: Server,
    readonly baseUrl: string,
  ) {}

  static async start(): Promise<AttachmentServer> {
    let instance: AttachmentServer | undefined;
    const server = createServer((request, response) => {
      const path = request.url ?? '/';
      instance?.requests.push({ path, ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}) });
      const file = instance?.files.get(path.split('?')[0] ?? '');
      if (!file) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': file.contentType, 'content-length': file.body.length }).end(file.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    instance = new AttachmentServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return instance;
  }

  add(name: string, body: Buffer, contentType: string): string {
    const path = `/attachments/${randomUUID()}/${name}`;
    this.files.set(path, { body, contentType });
    return `${this.baseUrl}${path}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Waits until a condition holds (polling), for state that changes asynchronously. */
export async function eventually<T>(probe: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export type { Job };
