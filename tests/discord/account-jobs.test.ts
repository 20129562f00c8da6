import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { discordUser } from '../../src/bots/discord/context.js';
import type { FakeUser, InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/** /jobs on Discord: the member's queued and running generations, privately, with Cancel buttons. */
describe('/jobs and Cancel on Discord', () => {
  let h: DiscordHarness;

  type Button = { type: number; style?: number; custom_id?: string; label?: string };
  type Embed = { title?: string; fields?: Array<{ name: string; value: string }> };
  const buttonsOf = (message: MessageSnapshot): Button[] =>
    (message.components as Array<{ components?: Button[] }>).flatMap((row) => row.components ?? []);
  const ref = (user: FakeUser) => discordUser({ id: user.id, username: user.username, globalName: user.global_name });
  const settled = (interaction: InteractionHandle) => interaction.waitForOriginal((message) => !message.loading, 10_000);
  const owned = () => h.harness.app.owner!;

  /** Runs /imagine in #general and returns the job id its public "Queued" post carries on its Cancel button. */
  async function queue(user: FakeUser, prompt: string): Promise<{ jobId: string; interaction: InteractionHandle; queued: MessageSnapshot }> {
    const interaction = h.discord.slashCommand({ name: 'imagine', options: { prompt }, user, channelId: h.general.id });
    const queued = await settled(interaction);
    expect(queued.ephemeral).toBe(false);
    const cancel = buttonsOf(queued).find((button) => button.custom_id?.startsWith('cancel:'));
    if (!cancel?.custom_id) throw new Error(`no Cancel button in ${JSON.stringify(queued.raw)}`);
    return { jobId: cancel.custom_id.slice('cancel:'.length), interaction, queued };
  }

  beforeAll(async () => {
    h = await startDiscordHarness();
  });

  afterEach(() => {
    h.fal.release();
  });

  afterAll(async () => {
    h?.fal.release();
    await h?.close();
  });

  it('/jobs with nothing in progress says so, privately, in a channel and in a DM', async () => {
    const user = h.discord.user({ username: 'idle' });
    for (const where of [{ channelId: h.general.id }, { dm: true }]) {
      const jobs = h.discord.slashCommand({ name: 'jobs', user, ...where });
      const shown = await settled(jobs);
      expect(shown.ephemeral).toBe(true);
      expect(shown.content).toMatch(/no generations in progress/);
      expect(shown.components).toEqual([]);
    }
  });

  it('lists queued and running jobs with Cancel buttons; Cancel stops the job at fal and the post says it was cancelled', async () => {
    const { user } = await h.memberWithKey('busy');
    h.fal.hold();
    const heldBefore = h.fal.held().length;
    const one = await queue(user, 'one slow cat');
    const two = await queue(user, 'two slow dogs');
    await h.fal.waitFor(() => h.fal.held().length === heldBefore + 2);

    const list = h.discord.slashCommand({ name: 'jobs', user, channelId: h.general.id });
    expect((await list.waitForAck()).type).toBe(4);
    const shown = await settled(list);
    expect(shown.ephemeral).toBe(true);
    expect(shown.content).toContain('(2/3)');
    const embeds = shown.embeds as Embed[];
    expect(embeds.map((embed) => embed.title)).toEqual(['1. one slow cat', '2. two slow dogs']);
    expect(embeds[0]?.fields).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'Model', value: 'FLUX.1 [schnell]' }), expect.objectContaining({ name: 'Status' })]));
    expect(buttonsOf(shown)).toEqual([
      expect.objectContaining({ custom_id: `cancel:${one.jobId}`, label: 'Cancel 1' }),
      expect.objectContaining({ custom_id: `cancel:${two.jobId}`, label: 'Cancel 2' }),
    ]);
    expect(h.discord.channelMessages(h.general.id, { includeInteractions: true }).map((message) => message.id)).not.toContain(shown.id);

    const cancelsBefore = h.fal.cancels().length;
    const press = h.discord.button({ customId: `cancel:${one.jobId}`, message: shown, user });
    const pressAck = await press.waitForAck();
    expect(pressAck.type).toBe(5);
    expect(pressAck.data?.['flags']).toBe(64);
    const answer = await settled(press);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toContain('one slow cat');

    // fal was asked to cancel exactly that request, with this member's key.
    const submit = h.fal.submits().find((candidate) => candidate.input['prompt'] === 'one slow cat');
    await h.fal.waitFor(() => h.fal.cancels().length > cancelsBefore);
    expect(h.fal.cancels().slice(cancelsBefore).map((cancel) => cancel.requestId)).toEqual([submit?.requestId]);
    // The public "Queued" post becomes "Cancelled", without buttons.
    const cancelled = await one.interaction.waitForOriginal((message) => message.content.startsWith('Cancelled'), 10_000);
    expect(cancelled.content).toMatch(/^Cancelled: \*\*one slow cat\*\*/);
    expect(cancelled.components).toEqual([]);
    expect(owned().repos.jobs.getJob(one.jobId)?.status).toBe('cancelled');

    // The other job carries on and is delivered.
    h.fal.release();
    await two.interaction.waitForOriginal((message) => message.embeds.length > 0, 20_000);
    const after = await settled(h.discord.slashCommand({ name: 'jobs', user, channelId: h.general.id }));
    expect(after.content).toMatch(/no generations in progress/);

    // Cancelling a finished job says so, privately.
    const late = await settled(h.discord.button({ customId: `cancel:${two.jobId}`, message: shown, user }));
    expect(late.ephemeral).toBe(true);
    expect(late.content).toMatch(/already finished/);
  });

  it('the Cancel button of the public "Queued" post works for its owner', async () => {
    const { user } = await h.memberWithKey('quick');
    h.fal.hold();
    const cancelsBefore = h.fal.cancels().length;
    const { jobId, interaction, queued } = await queue(user, 'never mind');
    await h.fal.waitFor(() => h.fal.submits().some((submit) => submit.input['prompt'] === 'never mind'));
    const answer = await settled(h.discord.button({ customId: `cancel:${jobId}`, message: queued, user }));
    expect(answer.ephemeral).toBe(true);
    await interaction.waitForOriginal((message) => message.content.startsWith('Cancelled'), 10_000);
    expect(h.fal.cancels().length).toBe(cancelsBefore + 1);
    expect(owned().services.generation.activeJobs(ref(user))).toEqual([]);
  });

  it("someone else pressing Cancel on a member's post is refused privately and nothing is cancelled", async () => {
    const { user } = await h.memberWithKey('target');
    h.fal.hold();
    const { jobId, queued } = await queue(user, 'mine to keep');
    await h.fal.waitFor(() => h.fal.submits().some((submit) => submit.input['prompt'] === 'mine to keep'));
    const cancelsBefore = h.fal.cancels().length;
    const intruder = (await h.memberWithKey('intruder')).user;
    for (const who of [intruder, h.discord.user({ username: 'keyless' })]) {
      const press = h.discord.button({ customId: `cancel:${jobId}`, message: queued, user: who });
      const answer = await settled(press);
      expect(answer.ephemeral).toBe(true);
      expect(answer.content).toMatch(/not yours/);
      expect(press.followUps()).toEqual([]);
    }
    expect(h.fal.cancels().length).toBe(cancelsBefore);
    expect(owned().repos.jobs.getJob(jobId)?.status).not.toBe('cancelled');
    expect(owned().services.generation.activeJobs(ref(user)).map((job) => job.id)).toEqual([jobId]);
  });
});
