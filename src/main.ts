import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App, Roles } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { KeyringError } from './crypto/keyring.js';
import { createLogger, type Logger } from './logger.js';

/**
 * Boots a process with the given roles, logs what is enabled, and shuts down cleanly on SIGTERM/SIGINT:
 * stop taking work, let in-flight jobs finish (or hand them back to the queue), close Redis and SQLite.
 */
export async function run(roles: Roles): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nSee .env.example for every variable and its default.\n`);
      process.exit(78);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  // Loaded only once the configuration is known to be good: a typo in PORT fails in well under a
  // second instead of after loading BullMQ and the AWS SDK.
  const { startApp, StartupError } = await import('./app.js');
  let app: App;
  try {
    app = await startApp(config, { roles, logger });
  } catch (error) {
    if (error instanceof StartupError) {
      logger.fatal(error.message);
      process.stderr.write(`\n${error.message}\n`);
      process.exit(error.exitCode);
    }
    if (error instanceof KeyringError) {
      // A short or unreadable KEY_ENCRYPTION_SECRET is a configuration problem, like a bad PORT.
      logger.fatal(error.message);
      process.stderr.write(`\n${error.message}\n`);
      process.exit(78);
    }
    // Anything else (port in use, unreadable database...): one clear line, not an unhandled rejection.
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const hint = code === 'EADDRINUSE' ? ` (PORT=${config.port} is already in use: stop the other process or set PORT)` : '';
    logger.fatal({ err: error }, `startup failed${hint}`);
    process.stderr.write(`\nAtelier could not start: ${(error as Error)?.message ?? String(error)}${hint}\n`);
    process.exit(70);
  }
  if (roles.owner) logPlatforms(logger, config);
  logger.info(
    { storage: config.storage.driver, database: config.databasePath, queuePrefix: config.queuePrefix, falProxy: config.falProxyUrl ? 'on' : 'off' },
    roles.owner ? 'Atelier is up' : 'Atelier generation worker is up',
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight work');
    app.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function logPlatforms(logger: Logger, config: Config): void {
  if (config.discord) logger.info({ applicationId: config.discord.applicationId }, 'Discord: enabled');
  else logger.info('Discord: disabled (set DISCORD_TOKEN and DISCORD_APPLICATION_ID to enable it)');
  if (config.slack) logger.info({ mode: config.slack.appToken ? 'socket' : 'http', events: config.slack.appToken ? undefined : `${config.publicUrl}/slack/events` }, 'Slack: enabled');
  else logger.info('Slack: disabled (set SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET for events at POST /slack/events, or with SLACK_APP_TOKEN for Socket Mode)');
}

/**
 * True when this module is the process entry (`node src/main.ts`), not imported by worker-main.ts
 * (whose name also ends in "main.ts") or a test.
 */
function isEntry(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  const canonical = (path: string) => {
    let real = resolve(path);
    try {
      real = realpathSync(real);
    } catch {
      // `node src/main` (no extension) names a file that does not exist as written.
    }
    return real.replace(/\.[cm]?[jt]s$/, '');
  };
  return canonical(entry) === canonical(fileURLToPath(import.meta.url));
}

if (isEntry()) {
  void run({ owner: true, generate: true });
}
