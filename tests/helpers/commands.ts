import { runCommand, runComponent } from '../../commands/index.js';
import type { Services } from '../../commands/define.js';
import type { UserRef } from '../../src/domain.js';
import type { Delivery } from '../../src/jobs/deliver.js';
import type { Logger } from '../../src/logger.js';
import { startFakeFal, type FakeFal, type RecordedRequest } from '../fakes/fal-server.js';
import { AttachmentServer, newFalKey, startTestApp, testUser, type TestApp } from './app.js';
import { MemoryContext, type MemoryContextOptions } from './memory-context.js';

export type TestUser = UserRef & { displayName: string };

/** One app (real Redis, SQLite, storage, HTTP) with the fake fal and an attachment CDN, for one test file. */
export class CommandsHarness {
  private constructor(
    readonly fake: FakeFal,
    readonly harness: TestApp,
    readonly attachments: AttachmentServer,
  ) {}

  static async start(env: Record<string, string> = {}): Promise<CommandsHarness> {
    const fake = await startFakeFal();
    const attachments = await AttachmentServer.start();
    const harness = await startTestApp({ fake, env });
    return new CommandsHarness(fake, harness, attachments);
  }

  get owner() {
    const owner = this.harness.app.owner;
    if (!owner) throw new Error('the test app runs without the owner role');
    return owner;
  }

  get services(): Services {
    return this.owner.services;
  }

  get logger(): Logger {
    return this.harness.app.logger;
  }

  /** Runs a slash command in a fresh interaction and returns it. */
  async run(name: string, options: Record<string, unknown>, ctxOrOptions: MemoryContext | MemoryContextOptions = {}): Promise<MemoryContext> {
    const ctx = ctxOrOptions instanceof MemoryContext ? ctxOrOptions : new MemoryContext(ctxOrOptions);
    await runCommand(name, options, ctx, this.services, this.logger);
    return ctx;
  }

  /** Presses a button (or submits a form) in a fresh interaction and returns it. */
  async press(customId: string, ctxOrOptions: MemoryContext | MemoryContextOptions = {}, formValues?: Record<string, string>): Promise<MemoryContext> {
    const ctx = ctxOrOptions instanceof MemoryContext ? ctxOrOptions : new MemoryContext(ctxOrOptions);
    await runComponent(customId, ctx, this.services, this.logger, formValues);
    return ctx;
  }

  /** A user with a fal key the fake accepts, registered directly through the key service. */
  async userWithKey(name = 'user'): Promise<{ user: TestUser; key: string }> {
    const user = testUser(name);
    const key = newFalKey();
    this.fake.addKey(key);
    await this.services.keys.register(user, key);
    return { user, key };
  }

  /** Every job row of a user (newest first). */
  jobsOf(user: UserRef) {
    const found = this.owner.repos.users.findUser(user);
    return found ? this.owner.repos.jobs.listRecentJobs(found.id, 100) : [];
  }

  totalJobs(): number {
    return Object.values(this.owner.repos.jobs.countJobsByStatus()).reduce((sum, count) => sum + count, 0);
  }

  /** Requests that would cost the user something or carry their files: submits, runs and uploads. */
  paidRequests(since = 0): RecordedRequest[] {
    return this.fake.requests.slice(since).filter((request) => ['submit', 'run'].includes(request.route) || request.route.startsWith('upload'));
  }

  /** The job a queued reply is about (its Cancel button carries the id). */
  jobIdFrom(ctx: MemoryContext): string {
    const id = ctx.actionButtons(ctx.lastReply().message).find((button) => button.id.startsWith('cancel:'))?.id;
    if (!id) throw new Error(`no Cancel button in: ${ctx.lastText()}`);
    return id.slice('cancel:'.length);
  }

  waitForDelivery(jobId: string): Promise<Delivery> {
    return this.harness.deliverer.waitFor(jobId);
  }

  /** Runs /imagine and waits until its result was delivered. */
  async imagine(user: TestUser, options: Record<string, unknown>): Promise<{ ctx: MemoryContext; jobId: string; delivery: Delivery }> {
    const ctx = await this.run('imagine', options, { user });
    const jobId = this.jobIdFrom(ctx);
    const delivery = await this.waitForDelivery(jobId);
    return { ctx, jobId, delivery };
  }

  async close(): Promise<void> {
    await this.harness?.close();
    await this.attachments?.close();
    await this.fake?.close();
  }
}

export function succeeded(delivery: Delivery): Extract<Delivery, { status: 'succeeded' }> {
  if (delivery.status !== 'succeeded') {
    throw new Error(`expected a succeeded delivery, got ${delivery.status}${delivery.status === 'failed' ? `: ${delivery.error.code} ${delivery.error.message}` : ''}`);
  }
  return delivery;
}
