import type { EventEmitter } from 'node:events';

/**
 * Resolves with the first truthy value of `check()`, re-evaluated on every `change` the fake emits;
 * rejects after `timeoutMs` with a message naming what was awaited. Shared by the fakes.
 */
export function waitForChange<T>(
  events: EventEmitter,
  check: () => T | undefined | null | false,
  timeoutMs: number,
  describe: () => string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      done = true;
      if (timer) clearTimeout(timer);
      events.off('change', attempt);
    };
    function attempt(): void {
      if (done) return;
      let value: T | undefined | null | false;
      try {
        value = check();
      } catch (error) {
        finish();
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (value !== undefined && value !== null && value !== false) {
        finish();
        resolve(value);
      }
    }
    events.on('change', attempt);
    attempt();
    if (done) return;
    timer = setTimeout(() => {
      finish();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`));
    }, timeoutMs);
  });
}
