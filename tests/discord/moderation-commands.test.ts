import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { discordUser } from '../../src/bots/discord/context.js';
import { DEFAULT_SETTINGS } from '../../src/db/index.js';
import type { CommandOptionValue, FakeChannel, FakeUser, InteractionHandle, MessageSnapshot } from '../fakes/discord-server.js';
import { eventually } from '../helpers/app.js';
import { startDiscordHarness, type DiscordHarness } from '../helpers/discord.js';

/**
 * `/mod` on Discord, end to end through discord.js and the fakes: who may use it, settings, the review
 * channel, the blocklist, allowed models, the daily cap, bans (with their queued jobs), the audit log,
 * and settings surviving a restart.
 */
describe('/mod on Discord', () => {
  let h: DiscordHarness;
  let admin: FakeUser;
  let moderator: FakeUser;
  let member: FakeUser;
  let review: FakeChannel;
  let locked: FakeChannel;
  let curatorsRole: string;

  const MANAGE_MESSAGES = 1n << 13n;
  const VIEW_AND_SEND = (1n << 10n) | (1n << 11n);
  const SCHNELL = 'fal-ai/flux/schnell';
  const owned = () => h.harness.app.owner!;
  const community = () => ({ platform: 'discord' as const, workspaceId: h.guild.id });
  const ref = (user: FakeUser) => discordUser({ id: user.id, username: user.username, globalName: user.global_name });
  const settings = () => owned().repos.moderation.settings(community());
  const totalJobs = () => Object.values(owned().repos.jobs.countJobsByStatus()).reduce((sum, n) => sum + n, 0);
  const settled = (interaction: InteractionHandle) => interaction.waitForOriginal((message) => !message.loading, 10_000);
  /** Jobs and fal submissions so far: a refusal leaves both as they were. */
  const generation = () => ({ jobs: totalJobs(), submits: h.fal.submits().length });

  interface As {
    permissions?: bigint;
    roles?: string[];
  }
  /** What a non-owner member sends: their permissions, unless said otherwise, are @everyone's plus view/send. */
  const standing = (user: FakeUser, as: As) => ({
    ...(user.id === h.guild.ownerId && as.permissions === undefined ? {} : { memberPermissions: as.permissions ?? VIEW_AND_SEND }),
    ...(as.roles ? { memberRoles: as.roles } : {}),
  });

  /** Runs `/mod [group] subcommand options…` and returns its private answer. */
  async function mod(user: FakeUser, path: string, options: Record<string, CommandOptionValue> = {}, as: As = {}): Promise<MessageSnapshot> {
    const [first = '', second] = path.split(' ');
    const interaction = h.discord.slashCommand({
      name: 'mod',
      ...(second ? { subcommandGroup: first, subcommand: second } : { subcommand: first }),
      options,
      user,
      channelId: h.general.id,
      ...standing(user, as),
    });
    const ack = await interaction.waitForAck();
    expect(ack.type).toBe(5);
    expect(ack.data?.['flags']).toBe(64);
    const answer = await settled(interaction);
    expect(answer.ephemeral).toBe(true);
    expect(interaction.followUps()).toEqual([]);
    return answer;
  }

  /** Runs /imagine and waits for its first settled answer (the queued message, or a private refusal). */
  async function imagine(user: FakeUser, options: Record<string, CommandOptionValue>): Promise<{ interaction: InteractionHandle; answer: MessageSnapshot }> {
    const interaction = h.discord.slashCommand({ name: 'imagine', options, user, channelId: h.general.id, memberPermissions: VIEW_AND_SEND });
    const answer = await h.discord.waitFor(
      () => {
        const original = interaction.original();
        return interaction.followUps().find((message) => message.ephemeral) ?? (original && !original.loading && !original.deleted ? original : undefined);
      },
      10_000,
      'an answer to /imagine',
    );
    return { interaction, answer };
  }

  /** A refused /imagine: answered privately, its public placeholder gone, no job, nothing at fal. */
  async function refusedImagine(user: FakeUser, options: Record<string, CommandOptionValue>): Promise<string> {
    const jobsBefore = totalJobs();
    const submitsBefore = h.fal.submits().length;
    const { interaction, answer } = await imagine(user, options);
    expect({ ephemeral: answer.ephemeral, content: answer.content }).toMatchObject({ ephemeral: true });
    expect(interaction.original()?.deleted ?? true).toBe(true);
    expect(h.discord.channelMessages(h.general.id, { includeInteractions: true }).filter((message) => message.interactionId === interaction.id)).toEqual([]);
    expect(totalJobs()).toBe(jobsBefore);
    expect(h.fal.submits()).toHaveLength(submitsBefore);
    return answer.content;
  }

  /** Runs /imagine to its posted result. */
  async function generated(user: FakeUser, options: Record<string, CommandOptionValue>): Promise<MessageSnapshot> {
    const { interaction, answer } = await imagine(user, options);
    expect(answer.content).toMatch(/^Queued/);
    return interaction.waitForOriginal((message) => message.embeds.length > 0, 20_000);
  }

  beforeAll(async () => {
    h = await startDiscordHarness({
      roles: [{ name: 'Curators' }],
      // One generation at a time: a second job waits in our queue (what a ban must cancel before fal sees it).
      app: { env: { WORKER_CONCURRENCY: '1' } },
    });
    review = h.discord.addChannel(h.guild.id, { name: 'mod-review' });
    locked = h.discord.addChannel(h.guild.id, { name: 'locked', botCanSend: false });
    curatorsRole = h.guild.roles[0]!.id;
    admin = h.discord.getUser(h.guild.ownerId)!;
    moderator = h.discord.user({ username: 'moderator' });
    member = (await h.memberWithKey('member')).user;
  });

  beforeEach(() => {
    // Every test starts from the defaults (what a server that never used /mod has).
    const { updatedAt: _updatedAt, ...defaults } = DEFAULT_SETTINGS;
    owned().repos.moderation.updateSettings(community(), defaults);
    for (const entry of owned().repos.moderation.blocklist(community())) owned().services.moderation.removeFromBlocklist({ ...community(), platformUserId: admin.id }, entry.pattern);
  });

  afterAll(async () => {
    h?.fal.release();
    await h?.close();
  });

  it('refuses every /mod subcommand to a member who does not moderate, changing nothing and calling nothing', async () => {
    await mod(admin, 'blocklist add', { pattern: 'kraken' });
    const before = { settings: settings(), blocklist: owned().services.moderation.blocklist(community()), log: owned().repos.moderation.recentActions(community(), 50) };
    const jobsBefore = totalJobs();
    const submitsBefore = h.fal.submits().length;
    const requestsBefore = h.discord.requests.length;
    const reviewBefore = h.discord.channelMessages(review.id).length;
    const victim = h.discord.user({ username: 'victim' });

    const attempts: Array<[string, Record<string, CommandOptionValue>]> = [
      ['settings', {}],
      ['settings', { nsfw: 'allow', daily_cap: 1 }],
      ['settings', { moderators: `<@${member.id}>` }],
      ['channel', { channel: review }],
      ['channel', { off: true }],
      ['blocklist add', { pattern: 'whale' }],
      ['blocklist remove', { pattern: 'kraken' }],
      ['blocklist list', {}],
      ['ban', { user: victim, reason: 'no reason' }],
      ['unban', { user: victim }],
      ['log', {}],
    ];
    for (const [path, options] of attempts) {
      const answer = await mod(member, path, options);
      expect(answer.content, `/mod ${path}`).toBe('Only moderators of this server can do that.');
      expect(answer.embeds).toEqual([]);
      expect(answer.components).toEqual([]);
    }
    expect(settings()).toEqual(before.settings);
    expect(owned().services.moderation.blocklist(community())).toEqual(before.blocklist);
    expect(owned().repos.moderation.recentActions(community(), 50)).toEqual(before.log);
    expect(owned().services.moderation.isBanned(community(), victim.id)).toBe(false);
    // Nothing was posted anywhere: no review greeting, no DM to the "banned" member.
    const posts = h.discord.requests.slice(requestsBefore).filter((request) => ['create-message', 'create-dm'].includes(request.route));
    expect(posts).toEqual([]);
    expect(h.discord.channelMessages(review.id)).toHaveLength(reviewBefore);
    expect(h.discord.dmMessages(victim.id)).toEqual([]);
    expect(totalJobs()).toBe(jobsBefore);
    expect(h.fal.submits()).toHaveLength(submitsBefore);
    await mod(admin, 'blocklist remove', { pattern: 'kraken' });
  });

  it('shows the settings and changes them; a moderator without Manage Server cannot appoint moderators', async () => {
    const before = generation();
    const shown = await mod(moderator, 'settings', {}, { permissions: VIEW_AND_SEND | MANAGE_MESSAGES });
    expect(shown.content).toContain('**Moderation settings for this server**');
    expect(shown.content).toContain('Review channel: none (set one with `/mod channel`)');
    expect(shown.content).toMatch(/^Outputs fal flags as NSFW: \*\*spoiler\*\* \(posted blurred/m);
    expect(shown.content).toContain('Other outputs: **allow** (posted as they are)');
    expect(shown.content).toContain('Allowed models: all');
    expect(shown.content).toContain('Daily cap per member: none');
    expect(shown.content).toContain('Moderators: members with Manage Messages');

    const changed = await mod(moderator, 'settings', { nsfw: 'block', other: 'spoiler', models: 'schnell, dev', daily_cap: 5 }, { permissions: VIEW_AND_SEND | MANAGE_MESSAGES });
    expect(changed.content).toMatch(/^Changed: nsfw: spoiler → block; other: allow → spoiler; models: all → [^;]+; daily_cap: none → 5\./);
    expect(changed.content).toContain('Outputs fal flags as NSFW: **block** (never posted; the owner is told)');
    expect(changed.content).toContain('Daily cap per member: 5 generations');
    expect(settings()).toMatchObject({ nsfwPolicy: 'block', otherPolicy: 'spoiler', allowedModels: [SCHNELL, 'fal-ai/flux/dev'], dailyCap: 5 });
    const [latest] = owned().repos.moderation.recentActions(community(), 1);
    expect(latest).toMatchObject({ actor: moderator.id, action: 'settings' });

    // The same values again change nothing.
    const same = await mod(moderator, 'settings', { nsfw: 'block' }, { permissions: VIEW_AND_SEND | MANAGE_MESSAGES });
    expect(same.content).toMatch(/^Changed: nothing/);

    // Holding needs a review channel to hold in.
    const hold = await mod(moderator, 'settings', { other: 'hold' }, { permissions: VIEW_AND_SEND | MANAGE_MESSAGES });
    expect(hold.content).toMatch(/review channel/);
    expect(settings().otherPolicy).toBe('spoiler');

    // Invalid values are refused with the reason.
    const unknownModel = await mod(moderator, 'settings', { models: 'schnell, nonsense' }, { permissions: VIEW_AND_SEND | MANAGE_MESSAGES });
    expect(unknownModel.content).toMatch(/nonsense/);
    expect(settings().allowedModels).toEqual([SCHNELL, 'fal-ai/flux/dev']);

    const appoint = await mod(moderator, 'settings', { moderators: `<@${member.id}>` }, { permissions: VIEW_AND_SEND | MANAGE_MESSAGES });
    expect(appoint.content).toMatch(/Manage Server/);
    expect(settings().moderatorUserIds).toEqual([]);
    expect(generation()).toEqual(before);
  });

  it('a role or named members moderate once an admin appoints them, and stop when removed', async () => {
    const curator = h.discord.user({ username: 'curator' });
    const named = h.discord.user({ username: 'named' });
    const before = generation();
    expect((await mod(curator, 'log', {}, { roles: [curatorsRole] })).content).toMatch(/^Only moderators/);

    const appointed = await mod(admin, 'settings', { moderators: `<@&${curatorsRole}> <@${named.id}>` });
    expect(appointed.content).toContain(`Moderators: members with Manage Messages, <@${named.id}>, <@&${curatorsRole}>`);
    expect(settings()).toMatchObject({ moderatorUserIds: [named.id], moderatorGroupId: curatorsRole });

    // The role is read from the member's roles as discord.js caches them (the guild's roles came in GUILD_CREATE).
    expect((await mod(curator, 'blocklist list', {}, { roles: [curatorsRole] })).content).toBe('The blocklist is empty.');
    expect((await mod(named, 'blocklist list')).content).toBe('The blocklist is empty.');
    expect((await mod(curator, 'blocklist list')).content).toMatch(/^Only moderators/);
    expect((await mod(member, 'blocklist list', {}, { roles: [h.guild.id] })).content).toMatch(/^Only moderators/);
    // Appointed moderators do not appoint others.
    expect((await mod(named, 'settings', { moderators: 'none' })).content).toMatch(/Manage Server/);

    const cleared = await mod(admin, 'settings', { moderators: 'none' });
    expect(cleared.content).toContain('Moderators: members with Manage Messages\n');
    expect((await mod(curator, 'blocklist list', {}, { roles: [curatorsRole] })).content).toMatch(/^Only moderators/);
    expect((await mod(named, 'blocklist list')).content).toMatch(/^Only moderators/);
    expect(generation()).toEqual(before);
  });

  it('sets the review channel (greeting it), refuses one the bot cannot post in, and turns it off', async () => {
    const set = await mod(admin, 'channel', { channel: review });
    expect(set.content).toMatch(new RegExp(`^<#${review.id}> is now the review channel`));
    expect(settings().reviewChannelId).toBe(review.id);
    const greeting = await h.discord.waitForChannelMessage(review.id, (message) => message.content.startsWith('This is now the review channel'));
    expect(greeting.content).toContain(`set by <@${admin.id}>`);

    const refused = await mod(admin, 'channel', { channel: locked });
    expect(refused.content).toContain(`I cannot post in <#${locked.id}>`);
    expect(settings().reviewChannelId).toBe(review.id);

    // Without a channel option: this channel.
    const here = await mod(admin, 'channel');
    expect(here.content).toMatch(new RegExp(`^<#${h.general.id}> is now the review channel`));
    expect(settings().reviewChannelId).toBe(h.general.id);

    // Held results need the channel: it cannot be turned off while holding.
    await mod(admin, 'settings', { nsfw: 'hold' });
    expect((await mod(admin, 'channel', { off: true })).content).toMatch(/review channel is needed/);
    expect(settings().reviewChannelId).toBe(h.general.id);
    await mod(admin, 'settings', { nsfw: 'spoiler' });
    expect((await mod(admin, 'channel', { off: true })).content).toBe('Results and reports are no longer mirrored to a review channel.');
    expect(settings().reviewChannelId).toBeNull();
    // The greetings are the only messages the bot posted in the server's channels.
    expect(h.discord.channelMessages(h.general.id).map((message) => message.content.slice(0, 30))).toEqual(['This is now the review channel']);
  });

  it('the blocklist refuses matching prompts (and params) before anything reaches fal', async () => {
    expect((await mod(moderator, 'blocklist add', { pattern: 'Gor*' }, { permissions: MANAGE_MESSAGES })).content).toBe('Prompts matching `gor*` are refused from now on.');
    expect((await mod(moderator, 'blocklist add', { pattern: '/sp[i1]der/' }, { permissions: MANAGE_MESSAGES })).content).toBe('Prompts matching `/sp[i1]der/` are refused from now on.');
    expect((await mod(moderator, 'blocklist add', { pattern: 'gor*' }, { permissions: MANAGE_MESSAGES })).content).toBe('`gor*` is on the blocklist already.');
    expect((await mod(moderator, 'blocklist add', { pattern: '/(a+)+/' }, { permissions: MANAGE_MESSAGES })).content).toMatch(/nested repetition/);
    expect((await mod(moderator, 'blocklist list', {}, { permissions: MANAGE_MESSAGES })).content).toBe('**Blocklist** (2):\n• `/sp[i1]der/`\n• `gor*`');

    expect(await refusedImagine(member, { prompt: 'a very GORY battle' })).toBe(
      'Your prompt contains something this server does not allow ("gor*"). Nothing was generated; please rephrase it.',
    );
    expect(await refusedImagine(member, { prompt: 'a sp1der on a web' })).toMatch(/\("\/sp\[i1\]der\/"\)/);
    expect(await refusedImagine(member, { prompt: 'a calm lake', params: 'negative_prompt=spider' })).toMatch(/does not allow/);
    // Words that merely contain an entry are fine; removing an entry lets its prompts through.
    expect((await mod(moderator, 'blocklist remove', { pattern: '/sp[i1]der/' }, { permissions: MANAGE_MESSAGES })).content).toBe('`/sp[i1]der/` is no longer on the blocklist.');
    expect((await mod(moderator, 'blocklist remove', { pattern: 'whale' }, { permissions: MANAGE_MESSAGES })).content).toBe('`whale` is not on the blocklist.');
    const submitsBefore = h.fal.submits(SCHNELL).length;
    await generated(member, { prompt: 'a spider made of mangoes' });
    expect(h.fal.submits(SCHNELL)).toHaveLength(submitsBefore + 1);
    expect(h.fal.submits(SCHNELL).at(-1)?.input['prompt']).toBe('a spider made of mangoes');
    expect((await mod(moderator, 'blocklist remove', { pattern: 'gor*' }, { permissions: MANAGE_MESSAGES })).content).toMatch(/no longer/);
    const actions = owned().repos.moderation.recentActions(community(), 4).map((action) => `${action.action} ${action.target ?? ''}`);
    expect(actions).toEqual(['blocklist-remove gor*', 'blocklist-remove /sp[i1]der/', 'blocklist-add /sp[i1]der/', 'blocklist-add gor*']);
  });

  it('allowed models and the daily cap refuse requests before anything reaches fal', async () => {
    const capped = (await h.memberWithKey('capped')).user;
    await mod(admin, 'settings', { models: 'schnell', daily_cap: 1 });
    // Members are offered only what is allowed here.
    const suggestion = h.discord.autocomplete({ name: 'imagine', options: { prompt: 'a bust' }, focused: 'model', user: capped, channelId: h.general.id });
    expect((await suggestion.waitForAck(3_000)).type).toBe(8);
    expect((suggestion.autocompleteChoices() ?? []).map((choice) => choice['value'])).toEqual(['schnell']);
    expect(await refusedImagine(capped, { prompt: 'a marble bust', model: 'dev' })).toMatch(/^The moderators here allow only some image models, and FLUX\.1 \[dev\] is not one of them\. Allowed here: schnell\.$/);
    const submitsBefore = h.fal.submits(SCHNELL).length;
    await generated(capped, { prompt: 'a marble bust' });
    expect(h.fal.submits(SCHNELL)).toHaveLength(submitsBefore + 1);
    expect(await refusedImagine(capped, { prompt: 'another marble bust' })).toMatch(/^You have reached this server's limit of 1 generation a day\. Your next one frees up at \d\d:\d\d UTC\.$/);
    // The cap is per member: someone else still may.
    const other = (await h.memberWithKey('uncapped')).user;
    await generated(other, { prompt: 'a bronze bust' });
    // Lifting the cap lets the member generate again.
    await mod(admin, 'settings', { daily_cap: 0 });
    await generated(capped, { prompt: 'a third marble bust' });
  });

  it('a ban refuses new jobs without calling fal, cancels queued and running ones, and tells the member; unban lifts it', async () => {
    const banned = (await h.memberWithKey('troublemaker')).user;
    const bystander = (await h.memberWithKey('bystander')).user;
    h.fal.hold(SCHNELL);
    try {
      // The banned member's first job runs at fal; the second waits in our queue (one worker slot).
      const submitsBefore = h.fal.submits(SCHNELL).length;
      const running = await imagine(banned, { prompt: 'a running job' });
      expect(running.answer.content).toMatch(/^Queued/);
      const runningSubmit = await h.fal.waitForSubmit(SCHNELL, submitsBefore + 1, 10_000);
      const queued = await imagine(banned, { prompt: 'a queued job' });
      expect(queued.answer.content).toMatch(/^Queued/);

      const answer = await mod(moderator, 'ban', { user: banned, reason: 'spamming the channel' }, { permissions: MANAGE_MESSAGES });
      expect(answer.content).toBe(`<@${banned.id}> is banned from generating here. Their 2 generations in progress were cancelled. They were told privately.`);
      const dm = await h.discord.waitForDm(banned.id);
      expect(dm.content).toBe('The moderators have banned you from generating in this server: spamming the channel. Your 2 generations there were cancelled.');

      // The running one is stopped at fal; the queued one never reaches fal. Both say so in place.
      await h.fal.waitFor(() => h.fal.cancels().find((cancel) => cancel.requestId === runningSubmit.requestId), 10_000);
      await running.interaction.waitForOriginal((message) => message.content === 'Cancelled: **a running job**.', 10_000);
      await queued.interaction.waitForOriginal((message) => message.content === 'Cancelled: **a queued job**.', 10_000);
      const jobs = owned().repos.jobs.listRecentJobs(owned().repos.users.findUser(ref(banned))!.id, 10);
      expect(jobs.map((job) => [job.prompt, job.status]).sort()).toEqual([
        ['a queued job', 'cancelled'],
        ['a running job', 'cancelled'],
      ]);

      // A bystander's job is unaffected by the ban and runs next.
      const theirs = await imagine(bystander, { prompt: 'an innocent kite' });
      h.fal.release();
      await theirs.interaction.waitForOriginal((message) => message.embeds.length > 0, 20_000);
      expect(h.fal.submits(SCHNELL).slice(submitsBefore).map((submit) => submit.input['prompt'])).toEqual(['a running job', 'an innocent kite']);
    } finally {
      h.fal.release();
    }

    // New jobs are refused with no fal call and no job.
    expect(await refusedImagine(banned, { prompt: 'let me back in' })).toBe(
      'The moderators of this server have banned you from generating here (spamming the channel). Ask them if you think this is a mistake.',
    );
    expect((await mod(moderator, 'ban', { user: banned }, { permissions: MANAGE_MESSAGES })).content).toBe(`<@${banned.id}> was already banned.`);
    expect((await mod(moderator, 'ban', { user: moderator }, { permissions: MANAGE_MESSAGES })).content).toBe('You cannot ban yourself.');

    const lifted = await mod(moderator, 'unban', { user: banned }, { permissions: MANAGE_MESSAGES });
    expect(lifted.content).toBe(`<@${banned.id}> can generate here again; they were told.`);
    await h.discord.waitForDm(banned.id, (message) => message.content.includes('lifted your ban'));
    expect((await mod(moderator, 'unban', { user: banned }, { permissions: MANAGE_MESSAGES })).content).toBe(`<@${banned.id}> was not banned.`);
    await generated(banned, { prompt: 'a fresh start' });

    // The log names who did what, newest first.
    const log = await mod(moderator, 'log', { count: 2 }, { permissions: MANAGE_MESSAGES });
    const lines = log.content.split('\n');
    expect(lines[0]).toBe('**Moderation log** (newest first, UTC)');
    expect(lines.slice(1)).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^\`\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\` <@${moderator.id}> unbanned <@${banned.id}>$`));
    expect(lines[2]).toMatch(new RegExp(`<@${moderator.id}> banned <@${banned.id}>: spamming the channel$`));
  });

  it('a ban of a member whose DMs are closed says they could not be told; /mod is refused in DMs', async () => {
    const quiet = h.discord.user({ username: 'quiet', dmsClosed: true });
    const untouched = generation();
    const answer = await mod(moderator, 'ban', { user: quiet }, { permissions: MANAGE_MESSAGES });
    expect(answer.content).toBe(`<@${quiet.id}> is banned from generating here. I could not message them (their DMs are closed).`);
    expect(owned().services.moderation.isBanned(community(), quiet.id)).toBe(true);
    await mod(moderator, 'unban', { user: quiet }, { permissions: MANAGE_MESSAGES });

    const before = settings();
    const inDm = h.discord.slashCommand({ name: 'mod', subcommand: 'settings', options: { nsfw: 'allow' }, user: admin, dm: true });
    const refused = await settled(inDm);
    expect(refused.ephemeral).toBe(true);
    expect(refused.content).toBe('That command works in a server channel, not in a direct message.');
    expect(settings()).toEqual(before);
    expect(generation()).toEqual(untouched);
  });

  it('settings, blocklist, bans and appointed moderators persist across a restart', async () => {
    const curator = h.discord.user({ username: 'keeper' });
    const exiled = (await h.memberWithKey('exiled')).user;
    await mod(admin, 'channel', { channel: review });
    await mod(admin, 'settings', { nsfw: 'block', other: 'hold', models: 'schnell', daily_cap: 7, moderators: `<@&${curatorsRole}>` });
    await mod(admin, 'blocklist add', { pattern: 'kraken' });
    await mod(admin, 'ban', { user: exiled, reason: 'persistent' });
    const before = await mod(admin, 'settings');

    await h.restart();

    const after = await mod(admin, 'settings');
    expect(after.content).toBe(before.content);
    expect(after.content).toContain(`Review channel: <#${review.id}>`);
    expect(after.content).toContain('Outputs fal flags as NSFW: **block**');
    expect(after.content).toContain('Other outputs: **hold**');
    expect(after.content).toContain('Daily cap per member: 7 generations');
    expect(after.content).toContain('Blocklist: 1 entry');
    expect((await mod(curator, 'blocklist list', {}, { roles: [curatorsRole] })).content).toBe('**Blocklist** (1):\n• `kraken`');
    expect(await refusedImagine(member, { prompt: 'a kraken rising' })).toMatch(/\("kraken"\)/);
    expect(await refusedImagine(exiled, { prompt: 'a quiet pond' })).toMatch(/have banned you from generating here \(persistent\)/);
    expect(await refusedImagine(member, { prompt: 'a quiet pond', model: 'dev' })).toMatch(/allow only some image models/);
    await eventually(() => owned().repos.moderation.recentActions(community(), 50).some((action) => action.action === 'ban' && action.target === exiled.id));
  });
});
