import { Redis } from 'ioredis';
import { testRedisUrl } from './env.js';

/** Fails the run at once, with the fix, when the Redis the tests need does not answer. */
export default async function setup(): Promise<void> {
  const redis = new Redis(testRedisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `The tests need Redis at ${testRedisUrl} (set REDIS_URL to use another). ` +
        `Start one with: redis-server --port 6379 --save "" --daemonize yes\n${String(error)}`,
    );
  } finally {
    redis.disconnect();
  }
}
