import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import { Keyring, keySecretFileExists, resolveKeyEncryptionSecret } from './crypto/keyring.js';
import { createRepositories, openDatabase, type Database, type Repositories } from './db/index.js';
import type { Platform } from './domain.js';
import { createFalTransport, type FalTransport } from './fal/client.js';
import { HttpServer } from './http/server.js';
import { createDeliverWorker, createLinks, PipelineEvents, type Deliverer, type DeliverWorker, type LinkBuilder } from './jobs/deliver.js';
import { createGenerateWorker, type GenerateWorker, type GenerateWorkerOptions } from './jobs/generate.js';
import { createQueues, createRedis, DEFAULT_TUNING, type QueueTuning, type Queues } from './jobs/queues.js';
import { GenerationService } from './jobs/service.js';
import { createLogger, type Logger } from './logger.js';
import { CollectedGauge, MetricsRegistry } from './metrics.js';
import { createStorage } from './storage/index.js';
import type { StorageDriver } from './storage/types.js';
import { GalleryService } from './services/gallery.js';
import { KeyService } from './services/keys.js';
import type { Services } from '../commands/define.js';

/** Which parts this process runs. `npm start` runs all; `npm run start:worker` only `generate`. */
export interface Roles {
  /** SQLite, the deliver worker, the chat adapters and the HTTP server. */
  owner: boolean;
  /** Stateless generation workers. */
  generate: boolean;
}

type WorkerTuning = Pick<
  GenerateWorkerOptions,
  | 'pollIntervalMs'
  | 'timeoutMs'
  | 'saveRetryBaseMs'
  | 'maxSaveDelayMs'
  | 'saveGiveUpAfterMs'
  | 'lockDurationMs'
  | 'stalledIntervalMs'
  | 'shutdownGraceMs'
>;

export interface AppOptions {
  roles?: Roles;
  logger?: Logger;
  /** The fetch every fal request goes through (tests may observe it). */
  fetch?: typeof fetch;
  /** Platform adapters' deliverers; issue-specific adapters register theirs here. */
  deliverers?: Map<Platform, Deliverer>;
  queueTuning?: QueueTuning;
  workerTuning?: WorkerTuning;
  /** Credentials for S3 when not taken from the AWS default chain (tests use s3rver's). */
  s3Credentials?: { accessKeyId: string; secretAccessKey: string };
}

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

export interface OwnerParts {
  db: Database;
  repos: Repositories;
  events: PipelineEvents;
  service: GenerationService;
  links: LinkBuilder;
  http: HttpServer;
  httpPort: number;
  metrics: MetricsRegistry;
  deliverers: Map<Platform, Deliverer>;
  /** What command handlers use (commands/). */
  services: Services;
}

export interface App {
  config: Config;
  logger: Logger;
  keyring: Keyring;
  storage: StorageDriver;
  transport: FalTransport;
  queues: Queues;
  redis: Redis;
  owner?: OwnerParts;
  close(): Promise<void>;
}

/** Fails with a message that names REDIS_URL and how to start Redis. */
export async function assertRedisReachable(url: string): Promise<void> {
  const probe = createRedis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3_000 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    throw new StartupError(
      `Cannot reach Redis at REDIS_URL=${redactUrl(url)} (${(error as Error).message}).\n` +
        'Atelier keeps its job queue in Redis. Start one locally with `redis-server --daemonize yes` ' +
        '(Debian/Ubuntu: `sudo apt-get install redis-server`; Docker: `docker run -p 6379:6379 redis:7`), ' +
        'or set REDIS_URL to a reachable Redis.',
    );
  } finally {
    probe.disconnect();
  }
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

export async function startApp(config: Config, options: AppOptions = {}): Promise<App> {
  const roles = options.roles ?? { owner: true, generate: true };
  const logger = options.logger ?? createLogger(config.logLevel);
  await assertRedisReachable(config.redisUrl);

  if (!roles.owner && !config.keyEncryptionSecret) {
    // A remote worker generating its own secret would never open the owner's envelopes.
    if (!keySecretFileExists(config.dataDir)) {
      throw new StartupError(
        'KEY_ENCRYPTION_SECRET must be set for a worker-only process: use the same secret as the main process ' +
          `(it generated one into ${config.dataDir}/key-encryption.secret if you did not set one).`,
      );
    }
  }
  const secret = resolveKeyEncryptionSecret(config.keyEncryptionSecret, config.dataDir);
  if (secret.generatedAt) {
    logger.warn(
      { file: secret.generatedAt },
      'KEY_ENCRYPTION_SECRET is not set: generated one into the data directory. Back it up with the database, ' +
        'and set KEY_ENCRYPTION_SECRET to the same value on every worker host.',
    );
  }
  const keyring = Keyring.fromSecretList(secret.secrets);
  const storage = createStorage(config.storage, {
    publicBaseUrl: config.publicUrl,
    ...(options.s3Credentials ? { s3Credentials: options.s3Credentials } : {}),
  });
  const transport = createFalTransport(config.falProxyUrl, options.fetch ?? fetch);
  const redis = createRedis(config.redisUrl);
  redis.on('error', (error) => logger.error({ err: error }, 'redis connection error'));
  const queues = createQueues(redis, config.queuePrefix, options.queueTuning ?? DEFAULT_TUNING);
  const closers: Array<() => Promise<void>> = [];

  let generateWorker: GenerateWorker | undefined;
  let subscriber: Redis | undefined;
  let owner: OwnerParts | undefined;
  let deliverWorker: DeliverWorker | undefined;
  let eventsConnection: Redis | undefined;

  try {
    if (roles.owner) {
      const db = openDatabase(config.databasePath);
      const repos = createRepositories(db);
      const events = new PipelineEvents();
      const metrics = new MetricsRegistry();
      const links = createLinks(config.publicUrl, storage);
      const deliverers = options.deliverers ?? new Map<Platform, Deliverer>();
      metrics.add(
        new CollectedGauge('atelier_jobs', 'Jobs recorded in the database, by status', () =>
          Object.entries(repos.jobs.countJobsByStatus()).map(([status, count]) => [{ status }, count]),
        ),
      );
      metrics.add(
        new CollectedGauge('atelier_queue_jobs', 'Jobs in the BullMQ queues, by queue and state', async () => {
          const states = ['waiting', 'active', 'delayed', 'failed', 'prioritized'] as const;
          const [generate, deliver] = await Promise.all([queues.generate.getJobCounts(...states), queues.deliver.getJobCounts(...states)]);
          return [
            ...Object.entries(generate).map(([state, count]): [Record<string, string>, number] => [{ queue: 'generate', state }, count]),
            ...Object.entries(deliver).map(([state, count]): [Record<string, string>, number] => [{ queue: 'deliver', state }, count]),
          ];
        }),
      );
      const service = new GenerationService({
        repos,
        queues,
        redis,
        prefix: config.queuePrefix,
        keyring,
        events,
        logger,
        maxActiveJobsPerUser: config.maxActiveJobsPerUser,
        maxInputBytes: config.maxInputBytes,
      });
      eventsConnection = redis.duplicate();
      await service.startProgressFeed(eventsConnection);
      deliverWorker = createDeliverWorker({ redis, prefix: config.queuePrefix, repos, links, deliverers, events, metrics, logger });
      await deliverWorker.start();
      const http = new HttpServer({
        port: config.port,
        logger,
        repos,
        storage,
        links,
        readiness: {
          redis: async () => void (await redis.ping()),
          database: async () => void db.prepare('SELECT 1').get(),
          storage: () => storage.check(),
        },
        renderMetrics: () => metrics.render(),
      });
      const httpPort = await http.listen();
      const services: Services = {
        generation: service,
        keys: new KeyService(repos, keyring, transport),
        gallery: new GalleryService(repos, storage, links, logger),
        maxInputBytes: config.maxInputBytes,
        maxActiveJobsPerUser: config.maxActiveJobsPerUser,
      };
      owner = { db, repos, events, service, links, http, httpPort, metrics, deliverers, services };
      closers.push(async () => http.close());
      logger.info({ port: httpPort, publicUrl: config.publicUrl }, 'HTTP server listening');
    }
    if (roles.generate) {
      subscriber = redis.duplicate();
      generateWorker = createGenerateWorker({
        redis,
        subscriber,
        prefix: config.queuePrefix,
        deliverQueue: queues.deliver,
        keyring,
        storage,
        transport,
        logger,
        concurrency: config.workerConcurrency,
        maxInputBytes: config.maxInputBytes,
        ...options.workerTuning,
      });
      await generateWorker.start();
      logger.info({ concurrency: config.workerConcurrency }, 'generation worker started');
    }
  } catch (error) {
    redis.disconnect();
    subscriber?.disconnect();
    eventsConnection?.disconnect();
    owner?.db.close();
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    config,
    logger,
    keyring,
    storage,
    transport,
    queues,
    redis,
    ...(owner ? { owner } : {}),
    close() {
      closing ??= (async () => {
        // Order: stop taking work, let in-flight work finish (or hand it back), then drop connections.
        for (const close of closers) await close();
        await generateWorker?.close();
        await deliverWorker?.close();
        await owner?.service.close();
        await queues.close();
        await Promise.all([redis, subscriber, eventsConnection].map((connection) => connection?.quit().catch(() => undefined)));
        owner?.db.close();
        storage.destroy?.();
      })();
      return closing;
    },
  };
}
