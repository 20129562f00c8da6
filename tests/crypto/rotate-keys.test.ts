import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '../../src/crypto/keyring.js';
import { createRepositories, openDatabase } from '../../src/db/index.js';
import { keyBinding } from '../../src/jobs/types.js';
import { startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { newFalKey, startTestApp, testUser } from '../helpers/app.js';
import { tempDir } from '../helpers/env.js';

const run = promisify(execFile);

describe('npm run keys:rotate', () => {
  let fake: FakeFal;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const oldSecret = randomBytes(36).toString('base64url');
  const newSecret = randomBytes(36).toString('base64url');

  beforeAll(async () => {
    fake = await startFakeFal();
    dir = await tempDir('rotate');
  });
  afterAll(async () => {
    await dir?.cleanup();
    await fake?.close();
  });

  it('re-seals every key under the new secret, after which the old one can go', async () => {
    const harness = await startTestApp({ fake, env: { KEY_ENCRYPTION_SECRET: oldSecret, DATABASE_PATH: `${dir.path}/atelier.db` } });
    const keys = new Map<number, string>();
    for (let index = 0; index < 3; index += 1) {
      const user = testUser('rotating');
      const key = newFalKey();
      fake.addKey(key);
      await harness.app.owner!.services.keys.register(user, key);
      keys.set(harness.app.owner!.repos.users.findUser(user)!.id, key);
    }
    await harness.close();

    const env = { PATH: process.env.PATH ?? '', DATABASE_PATH: `${dir.path}/atelier.db`, KEY_ENCRYPTION_SECRET: `${newSecret},${oldSecret}` };
    const first = await run(process.execPath, ['--import', 'tsx', 'scripts/rotate-keys.ts'], { env });
    expect(first.stdout).toContain('3 re-sealed, 0 already current, 0 failed');
    const again = await run(process.execPath, ['--import', 'tsx', 'scripts/rotate-keys.ts'], { env });
    expect(again.stdout).toContain('0 re-sealed, 3 already current');

    const db = openDatabase(`${dir.path}/atelier.db`);
    try {
      const onlyNew = new Keyring([newSecret]);
      for (const stored of createRepositories(db).keys.listFalKeys()) {
        expect(onlyNew.decrypt(stored.ciphertext, keyBinding(stored.userId))).toBe(keys.get(stored.userId));
        expect(stored.hint).toBe(`…${keys.get(stored.userId)?.slice(-4)}`);
      }
    } finally {
      db.close();
    }
  }, 60_000);
});
