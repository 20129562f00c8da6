import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discordUser } from '../../src/bots/discord/context.js';
import type { FakeUser, InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/** The per-member limit on generations in progress, on Discord. */
describe('too many active jobs on Discord', () => {
  let h: DiscordHarness;

  beforeAll(async () => {
    h = await startDiscordHarness({ app: { env: { MAX_ACTIVE_JOBS_PER_USER: '2' } } });
  });

  afterAll(async () => {
    h?.fal.release();
    await h?.close();
  });

  const ref = (user: FakeUser) => discordUser({ id: user.id, username: user.username, globalName: user.global_name });
  const settled = (interaction: InteractionHandle) => interaction.waitForOriginal((message) => !message.loading, 10_000);
  const cancelId = (message: MessageSnapshot) =>
    (message.components as Array<{ components?: Array<{ custom_id?: string }> }>)
      .flatMap((row) => row.components ?? [])
      .find((button) => button.custom_id?.startsWith('cancel:'))
      ?.custom_id?.slice('cancel:'.length);

  it('a request past the limit is refused privately, with no job and no fal call; a slot frees when one ends', async () => {
    const { user } = await h.memberWithKey('busy');
    const owner = h.harness.app.owner!;
    h.fal.hold();
    const first = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'one' }, user, channelId: h.general.id });
    const second = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'two' }, user, channelId: h.general.id });
    const ids = [cancelId(await settled(first)), cancelId(await settled(second))];
    await h.fal.waitFor(() => h.fal.held().length === 2);

    const submitsBefore = h.fal.submits().length;
    const falBefore = h.fal.requests.length;
    const third = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'three' }, user, channelId: h.general.id });
    const answer = await third.waitForFollowUp(() => true, 10_000);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toContain('2 generations in progress');
    expect(answer.content).toContain('/jobs');
    expect(answer.components).toEqual([]);
    // The public placeholder is gone; nothing of it shows in the channel.
    expect(third.original()?.deleted).toBe(true);
    expect(h.discord.channelMessages(h.general.id, { includeInteractions: true }).filter((message) => message.interactionId === third.id)).toEqual([]);
    // No third job, no fal call.
    const found = owner.repos.users.findUser(ref(user))!;
    expect(owner.repos.jobs.listRecentJobs(found.id, 10).map((job) => job.prompt).sort()).toEqual(['one', 'two']);
    expect(owner.services.generation.activeJobs(ref(user)).map((job) => job.id).sort()).toEqual([...ids].sort());
    expect(h.fal.submits()).toHaveLength(submitsBefore);
    expect(h.fal.requests.slice(falBefore).filter((request) => ['submit', 'run'].includes(request.route) || request.route.startsWith('upload'))).toEqual([]);

    // Another member is not affected by this member's limit.
    const other = (await h.memberWithKey('other')).user;
    const theirs = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'mine' }, user: other, channelId: h.general.id });
    const queued = await settled(theirs);
    expect(queued.ephemeral).toBe(false);
    expect(queued.content).toMatch(/^Queued/);

    // When the held ones finish, the member may start another.
    h.fal.release();
    await first.waitForOriginal((message) => message.embeds.length > 0, 20_000);
    await second.waitForOriginal((message) => message.embeds.length > 0, 20_000);
    await theirs.waitForOriginal((message) => message.embeds.length > 0, 20_000);
    const again = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'three' }, user, channelId: h.general.id });
    expect((await settled(again)).content).toMatch(/^Queued/);
    await again.waitForOriginal((message) => message.embeds.length > 0, 20_000);
  });
});
