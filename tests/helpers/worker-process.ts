/**
 * A generation worker in its own process, for crash tests: started with `node --import tsx`, configured
 * by the environment it is given, it prints "ready" once it takes jobs, and is killed with SIGKILL.
 */
import { startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { FAST_TUNING } from './app.js';

const config = loadConfig();
await startApp(config, { ...FAST_TUNING, roles: { owner: false, generate: true }, logger: createLogger('warn') });
process.stdout.write('ready\n');
