/**
 * npm run catalog:sync [-- --only <id|alias>]... [--out <dir>] [--key-file <path>] [--dry-run]
 *
 * Refreshes src/catalog/schemas/*.json from fal's per-endpoint OpenAPI documents and prints what
 * changed. The route is public, so no key is needed; --key-file sends one (read from a file so it
 * never shows in the process list). Honours FAL_PROXY_URL through the app config.
 * Exit code: 0 fine, 1 some model failed (its snapshot left as it was), 2 with --dry-run when
 * something would change (for CI drift checks).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/config.js';
import { syncCatalog } from '../src/catalog/sync.js';

const USAGE = 'usage: npm run catalog:sync -- [--only <id|alias>]... [--out <dir>] [--key-file <path>] [--dry-run]';

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        only: { type: 'string', multiple: true },
        out: { type: 'string' },
        'key-file': { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: false,
    });
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 1;
  }
  if (args.values.help) {
    console.log(USAGE);
    return 0;
  }

  let falProxyUrl: string | undefined;
  try {
    falProxyUrl = loadConfig().falProxyUrl;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }

  const keyFile = args.values['key-file'];
  const falKey = keyFile ? (await readFile(keyFile, 'utf8')).trim() || undefined : undefined;
  const outDir = args.values.out ?? fileURLToPath(new URL('../src/catalog/schemas/', import.meta.url));
  const dryRun = args.values['dry-run'];

  const results = await syncCatalog({
    falProxyUrl,
    falKey,
    outDir,
    models: args.values.only,
    dryRun,
    log: (line) => console.log(line),
  });
  if (results.some((result) => result.status === 'failed')) return 1;
  if (dryRun && results.some((result) => result.status === 'updated' || result.status === 'created')) return 2;
  return 0;
}

process.exitCode = await main();
