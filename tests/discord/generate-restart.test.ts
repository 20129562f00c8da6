import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageSnapshot } from '../fakes/discord-server.js';
import { FAST_TUNING } from '../helpers/app.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/** A deploy between the command and its result: the job resumes at fal and the result is posted once. */
describe('Discord: a restart between the command and the result', () => {
  let h: DiscordHarness;

  const isResult = (message: MessageSnapshot) => message.embeds.length > 0;

  beforeAll(async () => {
    // The old process hands the held job back quickly instead of waiting for it (the default grace is 10 s).
    h = await startDiscordHarness({ app: { appOptions: { workerTuning: { ...FAST_TUNING.workerTuning, shutdownGraceMs: 200 } } } });
  });
  afterAll(async () => {
    h?.fal.release();
    await h?.close();
  });

  it('delivers exactly one result, from one fal request, by editing the original reply', async () => {
    const { user } = await h.memberWithKey('patient');
    h.fal.hold('fal-ai/flux/schnell');
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt: 'a clock tower at noon' }, user, channelId: h.general.id });
    expect((await interaction.waitForAck(3_000)).type).toBe(5);
    await interaction.waitForOriginal((message) => message.content.startsWith('Queued') || message.content.includes('fal'), 5_000);
    const submit = await h.fal.waitForSubmit('fal-ai/flux/schnell', 1, 10_000);

    await h.restart();
    // The new process is connected to Discord again before fal finishes.
    expect(h.discord.identifyHistory.length).toBeGreaterThanOrEqual(2);
    h.fal.release();

    const done = await interaction.waitForOriginal(isResult, 30_000);
    expect((done.embeds[0] as { title?: string }).title).toBe('a clock tower at noon');
    expect(done.attachments).toHaveLength(1);
    // Give a duplicate delivery the time to show itself.
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    expect(h.fal.submits()).toHaveLength(1);
    expect(h.fal.submits()[0]?.requestId).toBe(submit.requestId);
    expect(interaction.originalHistory().filter(isResult)).toHaveLength(1);
    expect(interaction.original()?.revision).toBe(interaction.originalHistory().length - 1);
    expect(isResult(interaction.original()!)).toBe(true);
    expect(interaction.followUps()).toEqual([]);
    expect(h.discord.channelMessages(h.general.id)).toEqual([]);
    expect(h.discord.dmMessages(user.id)).toEqual([]);
    const job = h.harness.app.owner!.repos.jobs.getJob(h.harness.app.owner!.repos.assets.getAssetByShareId((done.embeds[0] as { url: string }).url.split('/s/')[1]!)!.jobId)!;
    expect(job.status).toBe('succeeded');
    expect(job.deliveredAt).not.toBeNull();
    // One post recorded: the original reply, which a removal would take down.
    expect(h.harness.app.owner!.repos.posts.forJob(job.id).map((post) => post.messageId)).toEqual([done.id]);
  });
});
