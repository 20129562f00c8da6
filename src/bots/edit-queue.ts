import type { Message } from '../../commands/context.js';

/** A handler that never finishes must not hold a job's progress and outcome back for longer. */
const MAX_HOLD_MS = 30_000;
/** Past this many tracked messages, the idle ones are forgotten. */
const PRUNE_AT = 256;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The edits of one message (a command's answer, then a job's progress, then its outcome). */
interface EditState {
  /** When the last edit finished (0: none yet). */
  lastEditAt: number;
  /** Edits go out one after another, so a stale progress never lands after a newer message. */
  chain: Promise<void>;
  /** The newest progress not shown yet; older ones are dropped. */
  pending?: Message | undefined;
  /** A progress edit is waiting on the chain. */
  queued: boolean;
  /** The outcome is being posted: no progress from now on. */
  done: boolean;
  /** Handlers still answering on this message (their own edits come first). */
  busy: number;
}

/** The outcome's edits of a message, once progress has stopped. */
export interface FinalEdits {
  /** Waits until the next edit may go out. */
  wait(): Promise<void>;
  /** Waits its turn, then edits; the edit counts as the message's latest. */
  spaced<T>(edit: () => Promise<T>): Promise<T>;
}

/**
 * The messages a chat adapter updates in place, each under a key of the adapter's choosing (an
 * interaction token, a channel and timestamp). Per message, edits go out one after another and at
 * least `intervalMs` apart; progress in between is coalesced to the newest; a command handler's own
 * answer comes before any progress (`hold`), and the outcome after all of it (`finish`).
 */
export class EditQueue {
  private readonly states = new Map<string, EditState>();

  constructor(private readonly intervalMs: number) {}

  /**
   * While a handler answers on this message: progress and the outcome wait until its own answer is
   * out, and keep their distance from it. Returns the release, to call when the handler is done.
   */
  hold(key: string): () => void {
    const state = this.stateOf(key);
    state.busy += 1;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const timer = setTimeout(release, MAX_HOLD_MS);
    timer.unref();
    state.chain = state.chain.then(() => gate);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      state.busy -= 1;
      state.lastEditAt = Date.now();
      release();
    };
  }

  /**
   * Shows `message` as the latest progress: `edit` runs when its turn comes, unless newer progress
   * or the outcome came first. `edit` handles its own failures (a progress edit is never retried).
   */
  progress(key: string, message: Message, edit: (message: Message) => Promise<void>): void {
    const state = this.stateOf(key);
    if (state.done) return;
    state.pending = message;
    if (state.queued) return;
    state.queued = true;
    state.chain = state.chain.then(async () => {
      await this.spacing(state);
      state.queued = false;
      const next = state.pending;
      state.pending = undefined;
      if (!next || state.done) return;
      try {
        await edit(next).catch(() => undefined);
      } finally {
        state.lastEditAt = Date.now();
      }
    });
  }

  /** The outcome is next: progress stops for good, and edits in flight (and handlers' answers) finish first. */
  async finish(key: string): Promise<FinalEdits> {
    const state = this.stateOf(key);
    state.done = true;
    state.pending = undefined;
    await state.chain.catch(() => undefined);
    return {
      wait: () => this.spacing(state),
      spaced: async (edit) => {
        await this.spacing(state);
        try {
          return await edit();
        } finally {
          state.lastEditAt = Date.now();
        }
      },
    };
  }

  /** The message will not be edited again. */
  forget(key: string): void {
    this.states.delete(key);
  }

  private stateOf(key: string): EditState {
    let state = this.states.get(key);
    if (!state) {
      this.prune();
      state = { lastEditAt: 0, chain: Promise.resolve(), queued: false, done: false, busy: 0 };
      this.states.set(key, state);
    }
    return state;
  }

  /** Forgets messages whose last edit no longer constrains the next one (answers that started no job). */
  private prune(): void {
    if (this.states.size < PRUNE_AT) return;
    const stale = Date.now() - this.intervalMs;
    for (const [key, state] of this.states) {
      if (state.busy === 0 && !state.queued && !state.done && state.pending === undefined && state.lastEditAt < stale) this.states.delete(key);
    }
  }

  private async spacing(state: EditState): Promise<void> {
    const wait = state.lastEditAt + this.intervalMs - Date.now();
    if (wait > 0) await sleep(wait);
  }
}
