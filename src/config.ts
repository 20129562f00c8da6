import { z } from 'zod';

/**
 * The one place that reads the environment. Everything else receives a parsed `Config`.
 * Parsing fails fast with one line per bad variable, naming the variable and what it expects.
 */

const MiB = 1024 * 1024;

/** Unset, empty and blank all mean "use the default"; surrounding whitespace (from .env files) is ignored. */
const emptyAsUndefined = (value: unknown) => {
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
};

const optionalString = z.preprocess(emptyAsUndefined, z.string().optional());
const optionalUrl = z.preprocess(
  emptyAsUndefined,
  z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
);

const oneOf = <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
  z.preprocess(emptyAsUndefined, z.enum(values, { error: `must be one of ${values.join(', ')}` }).default(fallback));

const booleanFlag = (fallback: boolean) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
      .optional()
      .transform((value) => (value === undefined ? fallback : ['true', '1', 'yes'].includes(value))),
  );

/** Plain decimal digits only: `Number()` would also take ' ', '1e3' and '0x10'. */
const integer = (fallback: number, min: number, max: number, message: string) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .string({ error: message })
      .regex(/^\d+$/, message)
      .transform(Number)
      .pipe(z.number().min(min, message).max(max, message))
      .default(fallback),
  );

const optionalPort = z.preprocess(
  emptyAsUndefined,
  z
    .string({ error: 'must be a whole number from 1 to 65535' })
    .regex(/^\d+$/, 'must be a whole number from 1 to 65535')
    .transform(Number)
    .pipe(z.number().min(1, 'must be a whole number from 1 to 65535').max(65535, 'must be a whole number from 1 to 65535'))
    .optional(),
);

const positiveInt = (fallback: number) => integer(fallback, 1, 1_000_000, 'must be a whole number of at least 1');

/** Accepts plain bytes or a size with a unit: 26214400, 25MiB, 25MB, 512k. */
const byteSize = (fallback: number) => {
  const message = 'must be a size of at least 1 byte, such as 26214400 or 25MiB';
  return z.preprocess(
    emptyAsUndefined,
    z
      .string({ error: message })
      .regex(/^\s*\d+(\.\d+)?\s*([kmg]i?b?|b)?\s*$/i, message)
      .transform((text) => {
        const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg])?/i.exec(text);
        const unit = match?.[2]?.toLowerCase();
        const scale = unit === 'k' ? 1024 : unit === 'm' ? MiB : unit === 'g' ? 1024 * MiB : 1;
        return Math.floor(Number(match?.[1] ?? 0) * scale);
      })
      .pipe(z.number().min(1, message).max(Number.MAX_SAFE_INTEGER, message))
      .default(fallback),
  );
};

const envSchema = z
  .object({
    NODE_ENV: oneOf(['development', 'production', 'test'], 'development'),
    // 0 asks the OS for a free port (tests); PUBLIC_URL should then be set explicitly.
    PORT: integer(3000, 0, 65535, 'must be a whole number from 0 to 65535'),
    WORKER_HEALTH_PORT: optionalPort,
    PUBLIC_URL: optionalUrl,
    REDIS_URL: z.preprocess(
      emptyAsUndefined,
      z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).default('redis://127.0.0.1:6379'),
    ),
    QUEUE_PREFIX: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^[A-Za-z0-9_{}.-]+$/, 'may use letters, digits, _ . - and {} (for a Redis Cluster hash tag)')
        .default('atelier'),
    ),
    DATABASE_PATH: z.preprocess(emptyAsUndefined, z.string().default('./data/atelier.db')),
    STORAGE_DRIVER: oneOf(['local', 's3'], 'local'),
    STORAGE_DIR: z.preprocess(emptyAsUndefined, z.string().default('./data/media')),
    S3_BUCKET: optionalString,
    S3_REGION: optionalString,
    S3_ENDPOINT: optionalUrl,
    S3_FORCE_PATH_STYLE: booleanFlag(false),
    S3_PUBLIC_URL: optionalUrl,
    KEY_ENCRYPTION_SECRET: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .refine(
          (list) => {
            // The same reading as Keyring.fromSecretList: items trimmed, empty items ignored.
            const secrets = list.split(',').map((secret) => secret.trim()).filter(Boolean);
            return secrets.length > 0 && secrets.every((secret) => secret.length >= 32);
          },
          'must be at least 32 characters (each one, when rotating with NEW,OLD); generate one with `openssl rand -base64 48`',
        )
        .optional(),
    ),
    FAL_PROXY_URL: optionalUrl,
    WORKER_CONCURRENCY: positiveInt(20),
    MAX_ACTIVE_JOBS_PER_USER: positiveInt(3),
    MAX_INPUT_BYTES: byteSize(25 * MiB),
    LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    FFMPEG_PATH: z.preprocess(emptyAsUndefined, z.string().default('ffmpeg')),
    SLACK_BOT_TOKEN: optionalString,
    SLACK_SIGNING_SECRET: optionalString,
    SLACK_APP_TOKEN: optionalString,
    SLACK_API_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).default('https://slack.com/api/')),
    SLACK_UPLOAD_RESULTS: booleanFlag(false),
    DISCORD_TOKEN: optionalString,
    DISCORD_APPLICATION_ID: z.preprocess(emptyAsUndefined, z.string().regex(/^\d{15,22}$/, 'must be the numeric application id').optional()),
    DISCORD_API_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).default('https://discord.com/api')),
    DISCORD_GUILD_ID: z.preprocess(emptyAsUndefined, z.string().regex(/^\d{15,22}$/, 'must be a numeric guild id').optional()),
  });

/**
 * Rules across variables. They read the raw environment rather than running as a zod refinement,
 * which zod skips whenever any single variable is bad: one run must report every problem.
 */
function crossFieldProblems(source: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
  if (emptyAsUndefined(source.STORAGE_DRIVER) === 's3' && emptyAsUndefined(source.S3_BUCKET) === undefined) {
    problems.push('S3_BUCKET is required when STORAGE_DRIVER=s3');
  }
  const slackBot = emptyAsUndefined(source.SLACK_BOT_TOKEN) !== undefined;
  const slackSecret = emptyAsUndefined(source.SLACK_SIGNING_SECRET) !== undefined;
  const slackAppToken = emptyAsUndefined(source.SLACK_APP_TOKEN) !== undefined;
  if (slackBot && !slackSecret && !slackAppToken) {
    problems.push('SLACK_BOT_TOKEN needs SLACK_SIGNING_SECRET (HTTP events at POST /slack/events) or SLACK_APP_TOKEN (Socket Mode)');
  }
  if (!slackBot && (slackSecret || slackAppToken)) {
    problems.push('SLACK_SIGNING_SECRET / SLACK_APP_TOKEN need SLACK_BOT_TOKEN to enable Slack');
  }
  const discordToken = emptyAsUndefined(source.DISCORD_TOKEN) !== undefined;
  const discordApp = emptyAsUndefined(source.DISCORD_APPLICATION_ID) !== undefined;
  if (discordToken !== discordApp) {
    problems.push('DISCORD_TOKEN and DISCORD_APPLICATION_ID go together: set both to enable Discord, or neither');
  }
  return problems;
}

export type Config = ReturnType<typeof toConfig>;

function toConfig(env: z.output<typeof envSchema>) {
  const publicUrl = (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
  const dataDir = dirnameOf(env.DATABASE_PATH);
  return {
    env: env.NODE_ENV,
    port: env.PORT,
    /** A worker-only process serves /healthz and /readyz here; unset, it serves none (PORT is the main process's). */
    workerHealthPort: env.WORKER_HEALTH_PORT,
    publicUrl,
    redisUrl: env.REDIS_URL,
    queuePrefix: env.QUEUE_PREFIX,
    databasePath: env.DATABASE_PATH,
    /** Where generated secrets live: next to the database. */
    dataDir,
    storage:
      env.STORAGE_DRIVER === 's3'
        ? ({
            driver: 's3',
            bucket: env.S3_BUCKET ?? '',
            region: env.S3_REGION ?? 'us-east-1',
            endpoint: env.S3_ENDPOINT,
            forcePathStyle: env.S3_FORCE_PATH_STYLE,
            publicUrl: env.S3_PUBLIC_URL?.replace(/\/+$/, ''),
          } as const)
        : ({ driver: 'local', dir: env.STORAGE_DIR } as const),
    keyEncryptionSecret: env.KEY_ENCRYPTION_SECRET,
    falProxyUrl: env.FAL_PROXY_URL,
    workerConcurrency: env.WORKER_CONCURRENCY,
    maxActiveJobsPerUser: env.MAX_ACTIVE_JOBS_PER_USER,
    maxInputBytes: env.MAX_INPUT_BYTES,
    logLevel: env.LOG_LEVEL,
    /** ffmpeg makes video posters when it can be run; without it, a first-frame input serves as poster. */
    ffmpegPath: env.FFMPEG_PATH,
    /** Set when SLACK_BOT_TOKEN and a way in (SLACK_SIGNING_SECRET, or SLACK_APP_TOKEN for Socket Mode) are. */
    slack:
      env.SLACK_BOT_TOKEN && (env.SLACK_SIGNING_SECRET || env.SLACK_APP_TOKEN)
        ? {
            botToken: env.SLACK_BOT_TOKEN,
            signingSecret: env.SLACK_SIGNING_SECRET,
            appToken: env.SLACK_APP_TOKEN,
            apiUrl: env.SLACK_API_URL.endsWith('/') ? env.SLACK_API_URL : `${env.SLACK_API_URL}/`,
            /** Upload results as files instead of linking our media URLs (when PUBLIC_URL is not reachable from Slack). */
            uploadResults: env.SLACK_UPLOAD_RESULTS,
          }
        : undefined,
    /** Set when both DISCORD_TOKEN and DISCORD_APPLICATION_ID are. */
    discord:
      env.DISCORD_TOKEN && env.DISCORD_APPLICATION_ID
        ? {
            token: env.DISCORD_TOKEN,
            applicationId: env.DISCORD_APPLICATION_ID,
            apiUrl: env.DISCORD_API_URL.replace(/\/+$/, ''),
            guildId: env.DISCORD_GUILD_ID,
          }
        : undefined,
  };
}

export type DiscordConfig = NonNullable<Config['discord']>;
export type SlackConfig = NonNullable<Config['slack']>;

export type StorageConfig = Config['storage'];

function dirnameOf(path: string): string {
  const cut = path.replace(/\\/g, '/').lastIndexOf('/');
  return cut <= 0 ? (cut === 0 ? '/' : '.') : path.slice(0, cut);
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((line) => `  - ${line}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once. Throws `ConfigError` listing every bad variable. */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(source);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => {
        const name = issue.path.join('.') || 'environment';
        const value = typeof issue.path[0] === 'string' ? source[issue.path[0]] : undefined;
        const shown = value === undefined ? '' : ` (got ${JSON.stringify(redactValue(name, value))})`;
        return `${name} ${issue.message}${shown}`;
      });
  problems.push(...crossFieldProblems(source));
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  return toConfig(parsed.data);
}

/** What an error may echo back: never a secret, never a URL's credentials, never a wall of text. */
function redactValue(name: string, value: string): string {
  if (/SECRET|TOKEN|KEY|PASSWORD|CREDENTIAL/i.test(name)) return '[redacted]';
  // redis://user:password@host, or anything else with userinfo: keep only what follows the last '@'.
  const at = value.lastIndexOf('@');
  const shown = at === -1 ? value : `[redacted]@${value.slice(at + 1)}`;
  return shown.length > 120 ? `${shown.slice(0, 117)}...` : shown;
}
