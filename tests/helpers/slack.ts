import { startFakeSlack, type FakeChannel, type FakeSlack, type FakeUser } from '../fakes/slack-server.js';
import { startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { newFalKey, startTestApp, type TestApp, type TestAppOptions } from './app.js';
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
