import { run } from './main.js';

// A generation worker only: no SQLite, no chat connections, no HTTP. Scale these out on any host
// that reaches Redis (same REDIS_URL, QUEUE_PREFIX, KEY_ENCRYPTION_SECRET and storage settings).
void run({ owner: false, generate: true });
