import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackUser } from '../../src/bots/slack/context.js';
import type { FakeUser, InboundResult, Json, SlackMessage } from '../fakes/slack-server.js';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/** The per-member limit on generations in progress, on Slack. */
describe('too many active jobs on Slack', () => {
  let h: SlackHarness;

  beforeAll(async () => {
    h = await startSlackHarness({ app: { env: { MAX_ACTIVE_JOBS_PER_USER: '2' } } });
  });

  afterAll(async () => {
    try {
      if (h) expect(h.slack.inbound().filter((result) => result.status !== 200 || result.late)).toEqual([]);
    } finally {
      h?.fal.release();
      await h?.close();
    }
  });

  const ref = (user: FakeUser) => slackUser(user.teamId, user.id, user.name);
  const botRecord = (): SlackMessage[] => h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).filter((message) => message.botId !== undefined);
  const cancelId = (message: { blocks: Json[] }) =>
    message.blocks
      .filter((block) => block['type'] === 'actions')
      .flatMap((block) => (block['elements'] as Array<{ action_id?: string }> | undefined) ?? [])
      .find((button) => button.action_id?.startsWith('cancel:'))
      ?.action_id?.slice('cancel:'.length);

  function acked(result: InboundResult): InboundResult {
    expect(result.status).toBe(200);
    expect(result.late).toBe(false);
    return result;
  }

  /** /imagine in #general; resolves with the public status message once it shows "Queued". */
  async function imagine(user: FakeUser, prompt: string): Promise<SlackMessage> {
    const before = botRecord().length;
    acked(await h.slack.slashCommand({ command: '/imagine', text: prompt, user, channel: h.general }));
    return h.slack.waitFor(() => botRecord().slice(before).find((message) => !message.deleted && message.text.startsWith('Queued') && message.text.includes(prompt)), 10_000, `"${prompt}" queued`);
  }

  const delivered = (status: SlackMessage) =>
    h.slack.waitFor(() => h.slack.message(h.general, status.ts)?.text.startsWith('Done'), 20_000, 'the result');

  it('a request past the limit is refused privately, with no job and no fal call; a slot frees when one ends', async () => {
    const { user } = await h.memberWithKey('busy');
    const owner = h.harness.app.owner!;
    h.fal.hold();
    const first = await imagine(user, 'one');
    const second = await imagine(user, 'two');
    const ids = [cancelId(first), cancelId(second)];
    await h.fal.waitFor(() => h.fal.held().length === 2, 10_000);

    const submitsBefore = h.fal.submits().length;
    const falBefore = h.fal.requests.length;
    const botBefore = botRecord().length;
    const before = h.slack.ephemerals(user).length;
    acked(await h.slack.slashCommand({ command: '/imagine', text: 'three', user, channel: h.general }));
    const answer = await h.slack.waitFor(() => h.slack.ephemerals(user).slice(before)[0], 10_000, 'the refusal');
    expect(answer.channel).toBe(h.general.id);
    expect(answer.text).toContain('2 generations in progress');
    expect(answer.text).toContain('jobs');
    expect(answer.blocks.filter((block) => block['type'] === 'actions')).toEqual([]);
    // The public placeholder, if any, is gone: nothing of it shows in the channel.
    expect(botRecord().slice(botBefore).filter((message) => !message.deleted)).toEqual([]);
    // No third job, no fal call.
    const found = owner.repos.users.findUser(ref(user))!;
    expect(owner.repos.jobs.listRecentJobs(found.id, 10).map((job) => job.prompt).sort()).toEqual(['one', 'two']);
    expect(owner.services.generation.activeJobs(ref(user)).map((job) => job.id).sort()).toEqual([...ids].sort());
    expect(h.fal.submits()).toHaveLength(submitsBefore);
    expect(h.fal.requests.slice(falBefore).filter((request) => ['submit', 'run'].includes(request.route) || request.route.startsWith('upload'))).toEqual([]);

    // A mention past the limit is refused the same way.
    const mentionBefore = h.slack.ephemerals(user).length;
    const mentionBotBefore = botRecord().length;
    acked(await h.slack.appMention({ text: 'three again', user, channel: h.general }));
    const mentionAnswer = await h.slack.waitFor(() => h.slack.ephemerals(user).slice(mentionBefore)[0], 10_000, 'the refusal of the mention');
    expect(mentionAnswer.text).toContain('2 generations in progress');
    expect(botRecord().slice(mentionBotBefore).filter((message) => !message.deleted)).toEqual([]);
    expect(h.fal.submits()).toHaveLength(submitsBefore);

    // Another member is not affected by this member's limit.
    const other = (await h.memberWithKey('other')).user;
    const theirs = await imagine(other, 'mine');

    // When the held ones finish, the member may start another.
    h.fal.release();
    await delivered(first);
    await delivered(second);
    await delivered(theirs);
    const again = await imagine(user, 'three');
    expect(cancelId(again)).toBeDefined();
    await delivered(again);
    expect(owner.services.generation.activeJobs(ref(user))).toEqual([]);
  });
});
