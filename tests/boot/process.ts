import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dropPrefix, freePort } from '../helpers/app.js';
import { tempDir, testRedisUrl, uniquePrefix } from '../helpers/env.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface LogLine {
  level?: number;
  msg?: string;
  [field: string]: unknown;
}

/**
 * One `node --import tsx src/<entry>.ts` process with an environment built from scratch (only PATH and
 * HOME come from ours), its output captured line by line.
 */
export class BootedProcess {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private listeners: Array<() => void> = [];
  exitCode: number | null | undefined;
  readonly startedAt = Date.now();
  /** Milliseconds from spawn to exit, once exited. */
  lifetimeMs: number | undefined;

  constructor(entry: 'src/main.ts' | 'src/worker-main.ts', env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--import', 'tsx', entry], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (target: string[]) => {
      let partial = '';
      return (chunk: Buffer) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        target.push(...lines);
        for (const listener of this.listeners) listener();
      };
    };
    this.child.stdout!.on('data', collect(this.stdout));
    this.child.stderr!.on('data', collect(this.stderr));
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitCode = code;
        this.lifetimeMs = Date.now() - this.startedAt;
        // Let the last output chunks arrive.
        setTimeout(() => {
          resolve({ code, signal });
          for (const listener of this.listeners) listener();
        }, 50);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Everything the process wrote, stdout then stderr. */
  get output(): string {
    return [...this.stdout, ...this.stderr].join('\n');
  }

  /** stdout's JSON log lines (pino). */
  get logs(): LogLine[] {
    return this.stdout.flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });
  }

  /** Resolves with the first log line matching, or rejects (with the output so far) on exit or timeout. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`no matching log line within ${timeoutMs} ms; output:\n${this.output}`)), timeoutMs);
      const finish = (error?: Error, line?: LogLine) => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((listener) => listener !== check);
        if (error) reject(error);
        else resolve(line!);
      };
      const check = () => {
        const line = this.logs.find(match);
        if (line) return finish(undefined, line);
        if (this.exitCode !== undefined) finish(new Error(`process exited (${this.exitCode}) before the log line; output:\n${this.output}`));
      };
      this.listeners.push(check);
      check();
    });
  }

  /** The exit, or a rejection (and SIGKILL) when it takes longer than `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`process did not exit within ${timeoutMs} ms; output:\n${this.output}`)), timeoutMs);
        }),
      ]);
      return { ...result, ms: Date.now() - started };
    } catch (error) {
      this.kill('SIGKILL');
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }
}

export interface BootFixture {
  dir: string;
  port: number;
  prefix: string;
  /** A clean environment for a process of this fixture (no chat tokens). */
  env(extra?: Record<string, string>): Record<string, string>;
  start(entry: 'src/main.ts' | 'src/worker-main.ts', extra?: Record<string, string>): BootedProcess;
  /** Kills what is still running, drops the Redis prefix and removes the temp dir. */
  cleanup(): Promise<void>;
}

export async function bootFixture(): Promise<BootFixture> {
  const dir = await tempDir('atelier-boot');
  const port = await freePort();
  const prefix = uniquePrefix('boot');
  const processes: BootedProcess[] = [];
  const env = (extra: Record<string, string> = {}) => ({
    PORT: String(port),
    REDIS_URL: testRedisUrl,
    QUEUE_PREFIX: prefix,
    DATABASE_PATH: `${dir.path}/data/atelier.db`,
    STORAGE_DIR: `${dir.path}/data/media`,
    LOG_LEVEL: 'info',
    ...extra,
  });
  return {
    dir: dir.path,
    port,
    prefix,
    env,
    start(entry, extra) {
      const booted = new BootedProcess(entry, env(extra));
      processes.push(booted);
      return booted;
    },
    async cleanup() {
      for (const booted of processes) {
        if (!booted.running) continue;
        booted.kill('SIGKILL');
        await booted.exited;
      }
      await dropPrefix(prefix);
      await dir.cleanup();
    },
  };
}

/** At most `size` holders at once; `acquire` resolves with the release function. */
export class Semaphore {
  private available: number;
  private readonly queue: Array<() => void> = [];
  constructor(size: number) {
    this.available = size;
  }
  async acquire(): Promise<() => void> {
    if (this.available > 0) this.available -= 1;
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next();
      else this.available += 1;
    };
  }
}
