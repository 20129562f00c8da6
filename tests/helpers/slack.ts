import { expect } from 'vitest';
import type { Job } from '../../src/db/index.js';
import {
  startFakeSlack,
  type EphemeralMessage,
  type FakeChannel,
  type FakeSlack,
  type FakeUser,
  type FakeUsergroup,
  type FakeView,
  type InboundResult,
  type Json,
  type SlackMessage,
} from '../fakes/slack-server.js';
import { startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { eventually, newFalKey, startTestApp, type TestApp, type TestAppOptions } from './app.js';
import { slackUser } from '../../src/bots/slack/context.js';

/** The whole app with Slack enabled: the unmodified Bolt app behind our HTTP port, Web API calls to the fake Slack. */
export interface SlackHarness {
  fal: FakeFal;
  slack: FakeSlack;
  general: FakeChannel;
  harness: TestApp;
  memberWithKey(name?: string): Promise<{ user: FakeUser; key: string }>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface SlackHarnessOptions {
  app?: Partial<TestAppOptions>;
  socketMode?: boolean;
  uploadResults?: boolean;
}

export async function startSlackHarness(options: SlackHarnessOptions = {}): Promise<SlackHarness> {
  const fal = await startFakeFal();
  const slack = await startFakeSlack();
  const general = slack.defaultChannel();
  const env: Record<string, string> = {
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_API_URL: slack.apiUrl,
    ...(options.socketMode ? { SLACK_APP_TOKEN: slack.appToken } : { SLACK_SIGNING_SECRET: slack.signingSecret }),
    ...(options.uploadResults ? { SLACK_UPLOAD_RESULTS: 'true' } : {}),
    ...options.app?.env,
  };
  const overrides = options.app?.appOptions;
  // One level deeper than a spread: a test tuning one deliverer setting keeps the harness's others.
  const appOptions = { ...overrides, slack: { ...overrides?.slack, deliverer: { progressIntervalMs: 200, ...overrides?.slack?.deliverer } } };
  let harness = await startTestApp({ fake: fal, ...options.app, env, appOptions });
  if (!options.socketMode) slack.requestUrl = `${harness.baseUrl}/slack/events`;
  return {
    fal,
    slack,
    general,
    get harness() {
      return harness;
    },
    async memberWithKey(name = 'member') {
      const user = slack.user({ name });
      const key = newFalKey();
      fal.addKey(key);
      await harness.app.owner!.services.keys.register(slackUser(user.teamId, user.id, user.name), key);
      return { user, key };
    },
    async restart() {
      const { dataDir, prefix } = harness;
      await harness.app.close();
      harness = await startTestApp({ fake: fal, ...options.app, env, appOptions, share: { dataDir, prefix } });
      if (!options.socketMode) slack.requestUrl = `${harness.baseUrl}/slack/events`;
    },
    async close() {
      await harness?.close();
      await slack.close();
      await fal.close();
    },
  };
}

// ── Slack message helpers shared by the moderation suites ─────────────────────────────────────────

/** How Slack escapes mentions in the text of a command registered with should_escape (`/mod`). */
export const escaped = {
  user: (user: FakeUser) => `<@${user.id}|${user.name}>`,
  channel: (channel: FakeChannel) => `<#${channel.id}|${channel.name}>`,
  group: (group: FakeUsergroup) => `<!subteam^${group.id}|@${group.handle}>`,
};

export interface ButtonElement {
  type?: string;
  action_id?: string;
  url?: string;
  value?: string;
  style?: string;
  text?: { text?: string };
}

/** Every button of a message's actions blocks, in order. */
export function buttonsOf(message: { blocks: Json[] }): ButtonElement[] {
  return message.blocks.filter((block) => block['type'] === 'actions').flatMap((block) => (block['elements'] as ButtonElement[] | undefined) ?? []);
}

/** The labels of a message's action (non-link) buttons. */
export function actionLabels(message: { blocks: Json[] }): Array<string | undefined> {
  return buttonsOf(message)
    .filter((button) => button.url === undefined)
    .map((button) => button.text?.text);
}

/** The action id of the button labelled `label`; throws with the blocks when there is none. */
export function buttonId(message: { blocks: Json[] }, label: string): string {
  const id = buttonsOf(message).find((button) => button.text?.text === label)?.action_id;
  if (!id) throw new Error(`no "${label}" button in ${JSON.stringify(message.blocks)}`);
  return id;
}

/** The fallback text and every text of the blocks, for "does it say…" checks. */
export function wording(message: { text: string; blocks: Json[] }): string {
  return `${message.text}\n${JSON.stringify(message.blocks)}`;
}

/**
 * What the moderation suites do over and over, through the fake Slack only: slash commands and
 * their private answers, generations, button presses and the forms they open. Takes the harness
 * lazily (`slackDriver(() => h)`), so it can be made before `beforeAll` starts it.
 */
export function slackDriver(harness: () => SlackHarness) {
  const h = () => harness();
  const owned = () => {
    const owner = h().harness.app.owner;
    if (!owner) throw new Error('the app has no owner role');
    return owner;
  };
  const ref = (user: FakeUser) => slackUser(user.teamId, user.id, user.name);

  function acked(result: InboundResult): InboundResult {
    expect(result.status).toBe(200);
    expect(result.late).toBe(false);
    return result;
  }

  const nextEphemeral = (user: FakeUser, before: number, what: string): Promise<EphemeralMessage> =>
    h().slack.waitFor(() => h().slack.ephemerals(user).slice(before)[0], 10_000, what);

  /** A slash command typed in `channel` (default #general); resolves with the private answer. */
  async function command(user: FakeUser, name: string, text: string, channel: FakeChannel = h().general): Promise<EphemeralMessage> {
    const before = h().slack.ephemerals(user).length;
    acked(await h().slack.slashCommand({ command: name, text, user, channel }));
    return nextEphemeral(user, before, `the answer to ${name} ${text}`);
  }

  /** The member's jobs, newest first. */
  function jobsOf(user: FakeUser): Job[] {
    const found = owned().repos.users.findUser(ref(user));
    return found ? owned().repos.jobs.listRecentJobs(found.id, 100) : [];
  }

  /**
   * `/imagine <prompt> <flags>` in #general (or `channel`); resolves with the job once it exists (not
   * waiting for its outcome). Prompts are unique per test: the job is found by its prompt.
   */
  async function startImagine(user: FakeUser, prompt: string, flags = '', channel: FakeChannel = h().general): Promise<Job> {
    acked(await h().slack.slashCommand({ command: '/imagine', text: `${prompt} ${flags}`.trim(), user, channel }));
    return eventually(() => jobsOf(user).find((job) => job.prompt === prompt), 10_000);
  }

  /** `/imagine <prompt> <flags>`; resolves with the job once its outcome was delivered. */
  async function imagine(user: FakeUser, prompt: string, flags = '', channel: FakeChannel = h().general): Promise<Job> {
    const created = await startImagine(user, prompt, flags, channel);
    await eventually(() => owned().repos.jobs.getJob(created.id)?.deliveredAt, 20_000);
    const job = owned().repos.jobs.getJob(created.id);
    if (!job) throw new Error(`job ${created.id} vanished`);
    return job;
  }

  /** The public message in `channel` showing an output of the job (its Delete button names the output). */
  function resultPost(job: Job, options: { includeDeleted?: boolean; channel?: FakeChannel } = {}): SlackMessage | undefined {
    const ids = owned().repos.assets.listJobAssets(job.id).map((asset) => `"delete:${asset.id}"`);
    return h().slack
      .messages(options.channel ?? h().general, { includeReplies: true, ...(options.includeDeleted ? { includeDeleted: true } : {}) })
      .find((message) => ids.some((id) => JSON.stringify(message.blocks).includes(id)));
  }

  /** The job's output message in the review channel, as the app recorded it and the fake shows it. */
  async function mirrorOf(job: Job, review: FakeChannel): Promise<SlackMessage> {
    const post = await eventually(() => owned().repos.moderation.findReviewPost(job.id, 'output'), 20_000);
    expect(post.channelId).toBe(review.id);
    const message = h().slack.message(review, post.messageId);
    if (!message) throw new Error(`no review message ${post.messageId}`);
    return message;
  }

  /** Presses the button labelled `label`; resolves with the private answer. */
  async function press(message: SlackMessage | EphemeralMessage, label: string, user: FakeUser): Promise<EphemeralMessage> {
    const before = h().slack.ephemerals(user).length;
    acked(await h().slack.blockAction({ actionId: buttonId(message, label), message, user }));
    return nextEphemeral(user, before, `the answer to ${label}`);
  }

  /** The modal a button opened for `user` since `opened` views, once it shows. */
  const formOpened = (user: FakeUser, opened: number, callbackPrefix: string): Promise<FakeView> =>
    h().slack.waitFor(
      () => h().slack.views({ user }).slice(opened).find((candidate) => candidate.open && candidate.callbackId.startsWith(callbackPrefix)),
      10_000,
      `a form ${callbackPrefix}…`,
    );

  /** Presses a button that asks why first (Remove, Ban owner, Report), answers the form; resolves with the private answer. */
  async function throughForm(message: SlackMessage | EphemeralMessage, label: string, user: FakeUser, reason: string, callbackPrefix: string): Promise<EphemeralMessage> {
    const opened = h().slack.views({ user }).length;
    acked(await h().slack.blockAction({ actionId: buttonId(message, label), message, user }));
    const view = await formOpened(user, opened, callbackPrefix);
    const before = h().slack.ephemerals(user).length;
    acked(await h().slack.submitView({ view, values: { reason: { reason } }, user }));
    return nextEphemeral(user, before, `the answer to the ${label} form`);
  }

  const dmTexts = (user: FakeUser) => h().slack.dmMessages(user).map((message) => message.text);
  const waitForDm = (user: FakeUser, ...parts: string[]) =>
    h().slack.waitFor(() => dmTexts(user).find((text) => parts.every((part) => text.includes(part))), 10_000, `a DM to ${user.name} saying ${parts.join(' … ')}`);

  return { owned, ref, acked, nextEphemeral, command, jobsOf, startImagine, imagine, resultPost, mirrorOf, press, formOpened, throughForm, dmTexts, waitForDm };
}
