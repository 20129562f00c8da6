import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers/env.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEYRING = fileURLToPath(new URL('../../src/crypto/keyring.ts', import.meta.url));

// Spins until a shared start time, then resolves: the processes reach the file within a millisecond or so.
const RACER = `
const { resolveKeyEncryptionSecret } = await import(process.argv[1]);
const go = Number(process.argv[2]);
while (Date.now() < go) {}
process.stdout.write(JSON.stringify(resolveKeyEncryptionSecret(undefined, process.argv[3])));
`;

it('hands every process sharing a fresh data dir the same generated secret', { timeout: 60_000 }, async () => {
  const dir = await tempDir('atelier-secret-race');
  try {
    const go = Date.now() + 4_000;
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', RACER, KEYRING, String(go), dir.path], {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '' },
        }),
      ),
    );
    const resolved = results.map(({ stdout }) => JSON.parse(stdout) as { secrets: string; generatedAt?: string });
    const onDisk = readFileSync(`${dir.path}/key-encryption.secret`, 'utf8').trim();
    for (const result of resolved) expect(result.secrets).toBe(onDisk);
    // Exactly one of them generated it (and would log the warning).
    expect(resolved.filter((result) => result.generatedAt)).toHaveLength(1);
    expect(readdirSync(dir.path)).toEqual(['key-encryption.secret']);
  } finally {
    await dir.cleanup();
  }
});
