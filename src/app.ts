import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import { Keyring, keySecretFileExists, resolveKeyEncryptionSecret } from './crypto/keyring.js';
import { createRepositories, openDatabase, type Database, type Repositories } from './db/index.js';
import type { Platform } from './domain.js';
import { createFalTransport, type FalTransport } from './fal/client.js';
import { DiscordBot, type DiscordBotOptions } from './bots/discord/bot.js';
import { SlackBot, type SlackBotOptions } from './bots/slack/bot.js';
import { startHealthServer } from './http/health.js';
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
import { ModerationService } from './moderation/service.js';
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
  /** Discord adapter tuning (tests shorten the token lifetime and the progress throttle). */
  discord?: Pick<DiscordBotOptions, 'deliverer' | 'safetyDeferMs'>;
  /** Slack adapter tuning. */
  slack?: Pick<SlackBotOptions, 'deliverer'>;
}

/** A reason the process cannot start, with the exit code it should end with (sysexits). */
export class StartupError extends Error {
  constructor(
    message: string,
    /** 69: a dependency is unavailable (Redis); 78: the configuration is incomplete. */
    readonly exitCode: 69 | 78 = 69,
  ) {
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
  discord?: DiscordBot;
  slack?: SlackBot;
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
        78,
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

  // Each part registers how to stop it as soon as it has started; shutdown (or a failed start) runs
  // them in reverse: stop taking work, let in-flight work finish or hand it back, then drop connections.
  const closers: Array<() => Promise<void> | void> = [
    () => storage.destroy?.(),
    () => void redis.quit().catch(() => redis.disconnect()),
    () => queues.close(),
  ];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        logger.warn({ err: error }, 'error while closing');
      }
    }
    closers.length = 0;
  };

  let owner: OwnerParts | undefined;
  try {
    if (roles.owner) owner = await startOwner(config, options, { logger, keyring, storage, transport, redis, queues, closers });
    if (roles.generate) {
      const subscriber = redis.duplicate();
      closers.push(() => void subscriber.quit().catch(() => subscriber.disconnect()));
      const generateWorker = createGenerateWorker({
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
        ffmpegPath: config.ffmpegPath,
        slackBotToken: config.slack?.botToken,
        ...options.workerTuning,
      });
      await generateWorker.start();
      closers.push(() => generateWorker.close());
      logger.info({ concurrency: config.workerConcurrency }, 'generation worker started');
      // PORT belongs to the main process (a worker may run beside it); a worker's probes get their own port.
      if (!roles.owner && config.workerHealthPort !== undefined) {
        const health = await startHealthServer(config.workerHealthPort, {
          redis: async () => void (await redis.ping()),
          storage: () => storage.check(),
        });
        closers.push(() => health.close());
        logger.info({ port: health.port }, 'worker health endpoints (/healthz, /readyz) listening');
      }
    }
  } catch (error) {
    await closeAll();
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
      closing ??= closeAll();
      return closing;
    },
  };
}

interface SharedParts {
  logger: Logger;
  keyring: Keyring;
  storage: StorageDriver;
  transport: FalTransport;
  redis: Redis;
  queues: Queues;
  closers: Array<() => Promise<void> | void>;
}

/** The owning process: SQLite, the deliver worker, the progress feed, services and the HTTP server. */
async function startOwner(config: Config, options: AppOptions, shared: SharedParts): Promise<OwnerParts> {
  const { logger, keyring, storage, transport, redis, queues, closers } = shared;
  const db = openDatabase(config.databasePath);
  closers.push(() => void db.close());
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
  metrics.add(new CollectedGauge('atelier_results_held', "Results waiting for a moderator's review", () => [[{}, repos.jobs.countHeld()]]));
  metrics.add(
    new CollectedGauge('atelier_queue_jobs', 'Jobs in the BullMQ queues, by queue and state', async () => {
      const states = ['waiting', 'active', 'delayed', 'failed', 'prioritized'] as const;
      const counts = await Promise.all([queues.generate.getJobCounts(...states), queues.deliver.getJobCounts(...states)]);
      return (['generate', 'deliver'] as const).flatMap((queue, index) =>
        Object.entries(counts[index] ?? {}).map(([state, count]): [Record<string, string>, number] => [{ queue, state }, count]),
      );
    }),
  );
  const gallery = new GalleryService(repos, storage, links, logger, deliverers, keyring);
  // The two services need each other: moderation refuses requests, and a ban cancels jobs.
  let service: GenerationService | undefined;
  const moderation = new ModerationService({
    repos,
    links,
    gallery,
    queues,
    deliverers,
    keyring,
    logger,
    cancelJob: async (job) => service?.cancelJob(job),
    metrics,
  });
  service = new GenerationService({
    moderation,
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
  const eventsConnection = redis.duplicate();
  closers.push(() => void eventsConnection.quit().catch(() => eventsConnection.disconnect()));
  await service.startProgressFeed(eventsConnection);
  closers.push(() => service.close());
  const services: Services = {
    generation: service,
    keys: new KeyService(repos, keyring, transport),
    gallery,
    moderation,
    maxInputBytes: config.maxInputBytes,
    maxActiveJobsPerUser: config.maxActiveJobsPerUser,
  };
  // Adapters register their deliverers before the deliver worker starts: results queued before a
  // restart find their way back as soon as it runs.
  let discord: DiscordBot | undefined;
  if (config.discord) {
    const bot = new DiscordBot({ config: config.discord, services, events, storage, logger, ...options.discord });
    deliverers.set('discord', bot.deliverer);
    closers.push(() => bot.close());
    discord = bot;
  }
  let slack: SlackBot | undefined;
  if (config.slack) {
    const bot = new SlackBot({ config: config.slack, services, events, storage, logger, ...options.slack });
    deliverers.set('slack', bot.deliverer);
    closers.push(() => bot.close());
    slack = bot;
  }
  const deliverWorker = createDeliverWorker({ redis, keyring, prefix: config.queuePrefix, repos, links, deliverers, events, metrics, logger, moderation });
  await deliverWorker.start();
  closers.push(() => deliverWorker.close());
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
  slack?.mount(http);
  const httpPort = await http.listen();
  closers.push(() => http.close());
  logger.info({ port: httpPort, publicUrl: config.publicUrl }, 'HTTP server listening');
  if (discord) await connectDiscord(discord);
  if (slack) await slack.start();
  return { db, repos, events, service, links, http, httpPort, metrics, deliverers, services, ...(discord ? { discord } : {}), ...(slack ? { slack } : {}) };
}

async function connectDiscord(bot: DiscordBot): Promise<void> {
  try {
    await bot.connect();
  } catch (error) {
    if ((error as { code?: unknown }).code === 'TokenInvalid') {
      throw new StartupError('Discord rejected DISCORD_TOKEN: copy the bot token again from the Discord developer portal (Bot → Reset Token).', 78);
    }
    throw error;
  }
}
