/**
 * npm run keys:rotate
 *
 * Re-seals every stored fal key under the first secret of KEY_ENCRYPTION_SECRET. Rotation:
 *   1. set KEY_ENCRYPTION_SECRET=NEW,OLD on every process and restart (old envelopes still open);
 *   2. run this once (queued jobs carry their own envelope, so let the queue drain first);
 *   3. drop OLD from KEY_ENCRYPTION_SECRET.
 * Keys are decrypted here only to be sealed again, inside this one offline process.
 */
import { ConfigError, loadConfig } from '../src/config.js';
import { Keyring, resolveKeyEncryptionSecret } from '../src/crypto/keyring.js';
import { createRepositories, openDatabase } from '../src/db/index.js';
import { keyBinding } from '../src/jobs/types.js';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(78);
  }
  throw error;
}
const keyring = Keyring.fromSecretList(resolveKeyEncryptionSecret(config.keyEncryptionSecret, config.dataDir).secrets);
const db = openDatabase(config.databasePath);
const repos = createRepositories(db);
let resealed = 0;
let current = 0;
let failed = 0;
for (const key of repos.keys.listFalKeys()) {
  if (!keyring.needsRotation(key.ciphertext)) {
    current += 1;
    continue;
  }
  try {
    const binding = keyBinding(key.userId);
    const next = keyring.encrypt(keyring.decrypt(key.ciphertext, binding), binding);
    if (repos.keys.resealFalKey(key.userId, key.ciphertext, next)) resealed += 1;
  } catch (error) {
    failed += 1;
    process.stderr.write(`user ${key.userId}: ${(error as Error).message}\n`);
  }
}
db.close();
process.stdout.write(`${resealed} re-sealed, ${current} already current, ${failed} failed\n`);
process.exit(failed ? 1 : 0);
