import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/db/index.js';
import type { EphemeralMessage, FakeChannel, FakeUser } from '../fakes/slack-server.js';
import { eventually } from '../helpers/app.js';
import { actionLabels, escaped, slackDriver, startSlackHarness, type SlackHarness } from '../helpers/slack.js';

/**
 * Who moderates on Slack and what they can do with `/mod`, end to end: refusals for everyone else,
 * moderators named by a workspace admin (members and a user group), the prompt blocklist, bans,
 * the daily cap and allowed models, and the audit log. Every refusal proves nothing reached fal
 * and no job was created.
 */
describe('moderation on Slack: /mod, moderators, blocklist and bans', () => {
  let h: SlackHarness;
  let admin: FakeUser;
  let review: FakeChannel;

  const d = slackDriver(() => h);
  const { owned, acked, nextEphemeral } = d;
  const community = () => ({ platform: 'slack' as const, workspaceId: h.slack.defaultTeam.id });
  const mod = (user: FakeUser, text: string) => d.command(user, '/mod', text);
  const settings = () => owned().services.moderation.settings(community());
  const auditLength = () => owned().services.moderation.recentActions(community(), 100).length;

  /** Whatever reached fal, and every job there is: a refusal changes neither. */
  const footprint = () => ({
    submits: h.fal.submits().length,
    falRequests: h.fal.requests.filter((request) => request.route === 'submit' || request.route === 'run' || request.route.startsWith('upload')).length,
    jobs: owned().repos.jobs.countJobsByStatus(),
  });

  /** A generation request that must be refused privately, before any job or fal call. */
  async function refusedGeneration(user: FakeUser, text: string, expected: RegExp | string): Promise<EphemeralMessage> {
    const before = footprint();
    const bot = h.slack.messages(h.general, { includeReplies: true }).length;
    const answer = await d.command(user, '/imagine', text);
    if (typeof expected === 'string') expect(answer.text).toContain(expected);
    else expect(answer.text).toMatch(expected);
    expect(answer.channel).toBe(h.general.id);
    // The public placeholder went: nothing of it shows in the channel.
    expect(h.slack.messages(h.general, { includeReplies: true }).slice(bot)).toEqual([]);
    expect(footprint()).toEqual(before);
    return answer;
  }

  beforeAll(async () => {
    // One generation at a time: a second job of a member really waits in the queue (for the ban test).
    h = await startSlackHarness({ app: { env: { WORKER_CONCURRENCY: '1' } } });
    admin = h.slack.user({ name: 'admin', isAdmin: true });
    review = h.slack.channel({ name: 'mod-review' });
    const answer = await mod(admin, `channel ${escaped.channel(review)}`);
    expect(answer.text).toContain('is now the review channel');
  });

  afterAll(async () => {
    try {
      if (h) expect(h.slack.inbound().filter((result) => result.status !== 200 || result.late)).toEqual([]);
    } finally {
      h?.fal.release();
      await h?.close();
    }
  });

  it('refuses every /mod part to a member who does not moderate, privately, changing nothing', async () => {
    const member = h.slack.user({ name: 'plain' });
    const before = { settings: settings(), blocklist: owned().services.moderation.blocklist(community()), audit: auditLength(), footprint: footprint() };
    const target = h.slack.user({ name: 'target' });
    for (const text of [
      '',
      'settings',
      'settings nsfw=block daily_cap=1',
      `settings moderators=${escaped.user(member)}`,
      `channel ${escaped.channel(h.general)}`,
      'channel off',
      'blocklist add kittens',
      'blocklist remove kittens',
      'blocklist list',
      `ban ${escaped.user(target)} because`,
      `unban ${escaped.user(target)}`,
      'log',
    ]) {
      const messagesBefore = h.slack.messages(h.general, { includeReplies: true, includeDeleted: true }).length;
      const answer = await mod(member, text);
      expect(answer.text, `/mod ${text}`).toMatch(/^Only moderators of this workspace can do that\./);
      expect(answer.source).toBe('response_url');
      expect(h.slack.messages(h.general, { includeReplies: true, includeDeleted: true })).toHaveLength(messagesBefore);
    }
    expect(settings()).toEqual(before.settings);
    expect(owned().services.moderation.blocklist(community())).toEqual(before.blocklist);
    expect(owned().services.moderation.isBanned(community(), target.id)).toBe(false);
    expect(auditLength()).toBe(before.audit);
    expect(footprint()).toEqual(before.footprint);
    // Slack was asked whether they are an admin (users.info), since it says nothing of it in the payload.
    expect(h.slack.calls('users.info').some((call) => call.params['user'] === member.id)).toBe(true);
  });

  it('refuses the review buttons to non-moderators: no form opens, nothing changes', async () => {
    const { user: artist } = await h.memberWithKey('artist');
    const job = await d.imagine(artist, 'a contested sculpture');
    const mirror = await d.mirrorOf(job, review);
    const [asset] = owned().repos.assets.listJobAssets(job.id);
    const member = h.slack.user({ name: 'nosy' });
    const views = h.slack.views({ user: member }).length;
    const untouched = footprint();
    for (const label of ['Approve', 'Remove', 'Ban owner']) {
      const answer = await d.press(mirror, label, member);
      expect(answer.text, label).toMatch(/^Only moderators of this workspace can do that\./);
    }
    // A forged removal form submission is refused the same way.
    const forged = await h.slack.blockAction({ actionId: `modrm:${job.id}`, message: mirror, user: admin });
    acked(forged);
    const form = await d.formOpened(admin, 0, `modrmform:${job.id}`);
    const before = h.slack.ephemerals(member).length;
    acked(await h.slack.submitView({ view: form, values: { reason: { reason: 'forged' } }, user: member }));
    expect((await nextEphemeral(member, before, 'the forged removal answer')).text).toMatch(/^Only moderators/);

    expect(h.slack.views({ user: member })).toHaveLength(views);
    expect(owned().repos.jobs.getJob(job.id)?.reviewState).toBeNull();
    expect(owned().repos.assets.getAsset(asset!.id)?.removedAt).toBeNull();
    expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(true);
    expect(owned().services.moderation.isBanned(community(), artist.id)).toBe(false);
    expect(d.resultPost(job)).toBeDefined();
    expect(actionLabels(h.slack.message(review, mirror.ts)!)).toEqual(['Approve', 'Remove', 'Ban owner']);
    expect(footprint()).toEqual(untouched);
  });

  it('a workspace admin names moderators (members and a user group); only admins change who moderates', async () => {
    const ann = h.slack.user({ name: 'ann' });
    const gus = h.slack.user({ name: 'gus' });
    const outsider = h.slack.user({ name: 'outsider' });
    const mods = h.slack.usergroup({ handle: 'mods', users: [gus] });

    const set = await mod(admin, `settings moderators=${escaped.user(ann)} ${escaped.group(mods)}`);
    expect(set.text).toContain('Changed: moderators');
    expect(set.text).toContain(`Moderators: workspace admins, <@${ann.id}>, the user group ${mods.id}`);
    expect(settings()).toMatchObject({ moderatorUserIds: [ann.id], moderatorGroupId: mods.id });

    // A named member and a member of the group moderate; someone else does not.
    expect((await mod(ann, 'log 3')).text).toContain('Moderation log');
    expect((await mod(gus, 'blocklist list')).text).toMatch(/Blocklist|empty/);
    expect(h.slack.calls('usergroups.users.list').some((call) => call.params['usergroup'] === mods.id)).toBe(true);
    expect((await mod(outsider, 'log')).text).toMatch(/^Only moderators/);

    // Moderators cannot appoint moderators: that is the admins' call.
    const appoint = await mod(ann, `settings moderators=${escaped.user(outsider)}`);
    expect(appoint.text).toMatch(/workspace admins/);
    expect(appoint.text).toMatch(/who moderates/i);
    expect(settings().moderatorUserIds).toEqual([ann.id]);
    expect((await mod(outsider, 'log')).text).toMatch(/^Only moderators/);

    // Leaving the group (on Slack) ends moderating here at once.
    mods.users = [];
    expect((await mod(gus, 'log')).text).toMatch(/^Only moderators/);
    mods.users = [gus.id];
    expect((await mod(gus, 'log')).text).toContain('Moderation log');

    const log = (await mod(admin, 'log 5')).text;
    expect(log).toContain(`<@${admin.id}> changed settings`);
    expect(log).toContain(`moderators: none → <@${ann.id}>`);

    const cleared = await mod(admin, 'settings moderators=none');
    expect(cleared.text).toContain('Moderators: workspace admins\n');
    expect(settings()).toMatchObject({ moderatorUserIds: [], moderatorGroupId: null });
    expect((await mod(ann, 'log')).text).toMatch(/^Only moderators/);
    expect((await mod(gus, 'log')).text).toMatch(/^Only moderators/);
  });

  it('the blocklist refuses matching prompts before any fal call, and only while the entry is listed', async () => {
    const moderator = h.slack.user({ name: 'blockmod', isAdmin: true });
    const { user: writer } = await h.memberWithKey('writer');

    expect((await mod(moderator, 'blocklist add Blood Bath')).text).toContain('Prompts matching `blood bath` are refused from now on.');
    expect((await mod(moderator, 'blocklist add gor*')).text).toContain('`gor*`');
    expect((await mod(moderator, 'blocklist add blood bath')).text).toContain('on the blocklist already');
    const bad = await mod(moderator, 'blocklist add /(a+)+/');
    expect(bad.text).toContain('nested repetition');
    const list = await mod(moderator, 'blocklist list');
    expect(list.text).toContain('Blocklist (2)');
    expect(list.text).toContain('blood bath');
    expect(list.text).toContain('gor*');

    // Case, accents and punctuation do not get around it; params are prompts too.
    await refusedGeneration(writer, 'a BLOOD-bath at dusk', 'does not allow ("blood bath")');
    await refusedGeneration(writer, 'a gorgeous… no, a gory scene', '("gor*")');
    await refusedGeneration(writer, 'a quiet lake negative_prompt=gore', '("gor*")');
    // A mention is refused the same way, privately.
    const before = footprint();
    const ephemerals = h.slack.ephemerals(writer).length;
    acked(await h.slack.appMention({ text: 'a blood bath please', user: writer, channel: h.general }));
    expect((await nextEphemeral(writer, ephemerals, 'the refusal of the mention')).text).toContain('("blood bath")');
    expect(footprint()).toEqual(before);
    expect(d.jobsOf(writer)).toEqual([]);

    // Slack sends a typed `&` as `&amp;`: the entry and the prompt are compared as typed.
    // (Answers are mrkdwn again: `&` goes back as `&amp;`, once.)
    const added = await mod(moderator, 'blocklist add r&amp;b');
    expect(added.text).toContain('`r&amp;b`');
    expect(added.text).not.toContain('&amp;amp;');
    expect(owned().services.moderation.blocklist(community())).toContain('r&b');
    await refusedGeneration(writer, 'smooth R&amp;B vibes', '("r&amp;b")');
    await mod(moderator, 'blocklist remove r&amp;b');
    expect(owned().services.moderation.blocklist(community())).not.toContain('r&b');

    // Words that merely contain an entry are fine.
    const fine = await d.imagine(writer, 'a bloodhound in a bathtub');
    expect(fine.status).toBe('succeeded');

    expect((await mod(moderator, 'blocklist remove BLOOD   bath')).text).toContain('`blood bath` is no longer on the blocklist.');
    expect((await mod(moderator, 'blocklist remove blood bath')).text).toContain('is not on the blocklist');
    const allowed = await d.imagine(writer, 'a blood bath at dusk');
    expect(allowed.status).toBe('succeeded');
    expect(h.fal.submits().some((submit) => submit.input['prompt'] === 'a blood bath at dusk')).toBe(true);
    await mod(moderator, 'blocklist remove gor*');
    const log = owned().services.moderation.recentActions(community(), 20).map((action) => `${action.action} ${action.target}`);
    expect(log).toEqual(expect.arrayContaining(['blocklist-add blood bath', 'blocklist-add gor*', 'blocklist-remove blood bath', 'blocklist-remove gor*']));
  });

  it('a ban cancels the member’s queued and running jobs here, refuses new ones before fal, and tells them; unban lifts it', async () => {
    const { user: eve } = await h.memberWithKey('eve');
    const { user: bystander } = await h.memberWithKey('bystander');
    h.fal.hold();
    try {
      // The first runs (held at fal); the second waits in our queue (one worker slot).
      const running = await d.startImagine(eve, 'a running llama');
      await h.fal.waitFor(() => h.fal.submits().find((submit) => submit.input['prompt'] === 'a running llama'), 10_000);
      const queued = await d.startImagine(eve, 'a queued llama');
      await eventually(() => owned().repos.jobs.getJob(running.id)?.status === 'running');
      expect(owned().repos.jobs.getJob(queued.id)?.status).toBe('queued');

      const answer = await mod(admin, `ban ${escaped.user(eve)} spamming the channel`);
      expect(answer.text).toContain(`<@${eve.id}> is banned from generating here. Their 2 generations in progress were cancelled. They were told privately.`);
      const cancelled = (job: Job) => owned().repos.jobs.getJob(job.id)?.status === 'cancelled';
      await eventually(() => cancelled(running) && cancelled(queued), 20_000);
      // The queued one never reached fal; the running one was cancelled there.
      expect(h.fal.submits().filter((submit) => submit.input['prompt'] === 'a queued llama')).toEqual([]);
      await h.fal.waitFor(() => h.fal.cancels().length > 0, 10_000);
      await d.waitForDm(eve, 'banned you from generating in this workspace: spamming the channel', 'Your 2 generations there were cancelled');
      expect(owned().services.moderation.isBanned(community(), eve.id)).toBe(true);
    } finally {
      h.fal.release();
    }

    await refusedGeneration(eve, 'one more llama', /^The moderators of this workspace have banned you from generating here \(spamming the channel\)/);
    // Not by a mention, nor in a DM with the bot either: the DM belongs to the workspace too.
    const footprintBefore = footprint();
    const ephemerals = h.slack.ephemerals(eve).length;
    acked(await h.slack.appMention({ text: 'a mentioned llama', user: eve, channel: h.general }));
    expect((await nextEphemeral(eve, ephemerals, 'the refusal of the mention')).text).toContain('banned you from generating here');
    const inDm = h.slack.ephemerals(eve).length;
    acked(await h.slack.directMessage({ text: 'a private llama', user: eve }));
    await h.slack.waitFor(
      () =>
        h.slack.ephemerals(eve).slice(inDm).find((message) => message.text.includes('banned you from generating here')) ??
        h.slack.dmMessages(eve).find((message) => message.text.includes('banned you from generating here')),
      10_000,
      'the refusal in the DM',
    );
    expect(footprint()).toEqual(footprintBefore);
    expect(d.jobsOf(eve).map((job) => job.prompt).sort()).toEqual(['a queued llama', 'a running llama']);
    // Others generate as before.
    expect((await d.imagine(bystander, 'a free llama')).status).toBe('succeeded');

    expect((await mod(admin, `ban ${escaped.user(eve)}`)).text).toContain('was already banned');
    expect((await mod(admin, `ban ${escaped.user(admin)}`)).text).toContain('You cannot ban yourself.');

    const lifted = await mod(admin, `unban ${escaped.user(eve)}`);
    expect(lifted.text).toContain(`<@${eve.id}> can generate here again; they were told.`);
    await d.waitForDm(eve, 'lifted your ban');
    expect((await mod(admin, `unban ${escaped.user(eve)}`)).text).toContain('was not banned');
    expect((await d.imagine(eve, 'a forgiven llama')).status).toBe('succeeded');

    const log = (await mod(admin, 'log 50')).text;
    expect(log).toContain(`<@${admin.id}> banned <@${eve.id}>: spamming the channel`);
    expect(log).toContain(`<@${admin.id}> unbanned <@${eve.id}>`);
    expect(log.indexOf('unbanned')).toBeLessThan(log.indexOf(' banned <@'));
  });

  it('the daily cap and the allowed models refuse before fal; moderators see and change them', async () => {
    const { user: busy } = await h.memberWithKey('busybee');
    const set = await mod(admin, 'settings daily_cap=1 models=schnell');
    expect(set.text).toContain('Daily cap per member: 1 generation');
    expect(set.text).toContain('Allowed models: FLUX.1 [schnell]');
    try {
      // The form offers only what is allowed here.
      const views = h.slack.views().length;
      await h.slack.slashCommand({ command: '/imagine', text: '', user: busy, channel: h.general });
      const form = await h.slack.waitFor(() => h.slack.views().slice(views)[0], 5_000, 'the modal');
      const modelBlock = form.blocks.find((block) => block['block_id'] === 'model') as { element?: { options?: Array<{ value: string }> } } | undefined;
      expect(modelBlock?.element?.options?.map((option) => option.value)).toEqual(['fal-ai/flux/schnell']);
      await refusedGeneration(busy, 'a bee --model dev', /allow only some image models, and FLUX\.1 \[dev\] is not one of them.*Allowed here: schnell/s);
      expect((await d.imagine(busy, 'the first bee')).status).toBe('succeeded');
      await refusedGeneration(busy, 'a second bee', "You have reached this workspace's limit of 1 generation a day.");
      expect(d.jobsOf(busy).map((job) => job.prompt)).toEqual(['the first bee']);
    } finally {
      const reset = await mod(admin, 'settings daily_cap=0 models=all');
      expect(reset.text).toContain('Daily cap per member: none');
      expect(reset.text).toContain('Allowed models: all');
    }
    expect((await d.imagine(busy, 'a second bee, later')).status).toBe('succeeded');
  });

  it('hold needs a review channel; /mod channel off is refused while holding', async () => {
    expect((await mod(admin, 'settings other=hold')).text).toContain('Other outputs: hold');
    const refused = await mod(admin, 'channel off');
    expect(refused.text).toContain('the review channel is needed');
    expect(settings().reviewChannelId).toBe(review.id);
    await mod(admin, 'settings other=allow');
    expect((await mod(admin, 'channel off')).text).toContain('no longer mirrored');
    expect(settings().reviewChannelId).toBeNull();
    const noChannel = await mod(admin, 'settings nsfw=hold');
    expect(noChannel.text).toContain('set one with `/mod channel` first');
    expect(settings().nsfwPolicy).toBe('spoiler');

    // Without a review channel, results are not mirrored anywhere.
    const { user: quiet } = await h.memberWithKey('quiet');
    const job = await d.imagine(quiet, 'an unmirrored pond');
    expect(d.resultPost(job)).toBeDefined();
    expect(owned().repos.moderation.findReviewPost(job.id, 'output')).toBeUndefined();

    // `/mod channel` with no channel makes this one the review channel.
    const here = await d.command(admin, '/mod', 'channel', review);
    expect(here.text).toContain(`<#${review.id}> is now the review channel`);
    expect(settings().reviewChannelId).toBe(review.id);
  });

  it('/mod answers a typo with the usage, privately; /mod in a DM is refused', async () => {
    expect((await mod(admin, 'purge everything')).text).toContain("I don't know `/mod purge`");
    expect((await mod(admin, 'settings colour=red')).text).toContain('Unknown setting "colour"');
    expect((await mod(admin, 'settings nsfw=maybe')).text).toContain('nsfw must be one of allow, spoiler, hold, block');
    expect((await mod(admin, 'ban eve')).text).toContain('Name the member as @member');
    const dm = await d.command(admin, '/mod', 'log', h.slack.dmChannel(admin));
    expect(dm.text).toContain('not in a direct message');
  });

  it('the log lists every moderation action, newest first, and honours a count', async () => {
    // Two actions of this test's own, whatever ran before it.
    await mod(admin, 'blocklist add lichen');
    await mod(admin, 'blocklist remove lichen');
    const full = (await mod(admin, 'log 50')).text;
    expect(full).toMatch(/^Moderation log \(newest first, UTC\)/);
    expect(full).toContain('set the review channel');
    const short = await mod(admin, 'log 2');
    expect(short.text.split('\n').filter((line) => line.startsWith('`'))).toHaveLength(2);
    const recent = owned().services.moderation.recentActions(community(), 1)[0];
    expect(short.text.split('\n')[1]).toContain(`<@${recent?.actor}>`);
    expect(short.text.split('\n')[1]).toContain('removed from the blocklist `lichen`');
    expect(short.text.split('\n')[2]).toContain('added to the blocklist `lichen`');
  });
});
