import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/db/index.js';
import { eventually, newFalKey, testUser, type RecordedPost, type RecordingOutlet } from '../helpers/app.js';
import type { MemoryContext } from '../helpers/memory-context.js';
import { CommandsHarness, succeeded, type TestUser } from '../helpers/commands.js';

/**
 * Moderation through the commands layer (the platform-neutral part both adapters share): the /mod
 * command, the community's rules on requests and outputs, and the review buttons. The end-to-end
 * suites of each platform cover the same flows through Discord and Slack.
 */
describe('moderation', () => {
  let h: CommandsHarness;
  let outlet: RecordingOutlet;
  let maker: TestUser;
  let makerKey: string;
  const REVIEW = 'review-channel';
  const SCHNELL = 'fal-ai/flux/schnell';
  /** A moderator by the platform's own permission (Discord's Manage Messages). */
  const moderator = () => ({ user: testUser('mod'), canModerate: true });
  const community = () => ({ platform: 'test' as const, workspaceId: 'guild-1' });

  beforeAll(async () => {
    h = await CommandsHarness.start();
    outlet = h.harness.deliverer.withModeration();
    ({ user: maker, key: makerKey } = await h.userWithKey('maker'));
  });

  afterEach(async () => {
    h.fake.release();
    h.fake.reset();
    h.fake.addKey(makerKey);
    // Back to the defaults, whatever a test changed.
    const actor = { ...community(), platformUserId: 'cleanup' };
    h.owner.repos.moderation.updateSettings(community(), { nsfwPolicy: 'spoiler', otherPolicy: 'allow', allowedModels: null, dailyCap: null, reviewChannelId: null });
    for (const pattern of h.services.moderation.blocklist(community())) h.services.moderation.removeFromBlocklist(actor, pattern);
    await h.services.moderation.unban(actor, maker.platformUserId);
  });

  afterAll(async () => {
    await h?.close();
  });

  const mod = (options: Record<string, unknown>, who: Parameters<CommandsHarness['run']>[2] = moderator()) => h.run('mod', options, who);
  const flagAll = () => h.fake.setOutput(SCHNELL, () => h.fake.imageOutput({ width: 16, height: 16, nsfw: [true] }));

  async function setReviewChannel(): Promise<void> {
    const ctx = await mod({ subcommand: 'channel', channel: REVIEW });
    expect(ctx.lastText()).toContain(`<#${REVIEW}> is now the review channel`);
  }

  /** Runs /imagine as the maker and waits for every delivery of the job to settle. */
  async function imagine(prompt: string, extra: Record<string, unknown> = {}): Promise<{ ctx: MemoryContext; job: Job }> {
    const ctx = await h.run('imagine', { prompt, ...extra }, { user: maker });
    const jobId = h.jobIdFrom(ctx);
    await h.waitForDelivery(jobId);
    const job = await eventually(() => {
      const stored = h.services.generation.getJob(jobId);
      return stored?.deliveredAt ? stored : undefined;
    });
    return { ctx, job };
  }

  /** The report messages about this job, oldest first (other tests' mirrors may land at any time). */
  const reportPosts = (job: Job) =>
    outlet.inChannel(REVIEW).filter((post) => post.message.text?.includes('Reported by') && (post.message.buttons ?? []).flat().some((button) => button.kind === 'action' && button.id.includes(job.id)));

  function refusedBeforeFal(ctx: MemoryContext, jobsBefore: number, requestsBefore: number): string {
    expect(ctx.lastReply().private).toBe(true);
    expect(h.totalJobs()).toBe(jobsBefore);
    expect(h.paidRequests(requestsBefore)).toEqual([]);
    return ctx.lastText();
  }

  describe('/mod is for moderators', () => {
    it('refuses every part privately to a member without standing, and changes nothing', async () => {
      const member = { user: testUser('member') };
      const logged = h.services.moderation.recentActions(community(), 100).length;
      const attempts: Array<Record<string, unknown>> = [
        { subcommand: 'settings' },
        { subcommand: 'settings', nsfw: 'allow' },
        { subcommand: 'channel' },
        { group: 'blocklist', subcommand: 'add', pattern: 'cats' },
        { group: 'blocklist', subcommand: 'list' },
        { subcommand: 'ban', user: maker.platformUserId },
        { subcommand: 'unban', user: maker.platformUserId },
        { subcommand: 'log' },
      ];
      for (const options of attempts) {
        const ctx = await mod(options, member);
        expect(ctx.lastReply().private, JSON.stringify(options)).toBe(true);
        expect(ctx.lastText()).toBe('Only moderators of this server can do that.');
      }
      expect(h.services.moderation.settings(community())).toMatchObject({ nsfwPolicy: 'spoiler', reviewChannelId: null });
      expect(h.services.moderation.blocklist(community())).toEqual([]);
      expect(h.services.moderation.isBanned(community(), maker.platformUserId)).toBe(false);
      expect(h.services.moderation.recentActions(community(), 100)).toHaveLength(logged);
    });

    it('refuses a fal key typed into any text (a reason, a pattern, a report), storing and showing nothing', async () => {
      const secret = newFalKey();
      await setReviewChannel();
      const { job } = await imagine('a picture with a careless report');
      const [asset] = h.owner.repos.assets.listJobAssets(job.id);
      const logged = h.services.moderation.recentActions(community(), 100).length;
      const postsBefore = outlet.posts.length;
      const attempts = [
        await mod({ subcommand: 'ban', user: maker.platformUserId, reason: `because ${secret}` }),
        await mod({ group: 'blocklist', subcommand: 'add', pattern: secret }),
        await h.press(`reportform:${asset!.id}`, { user: testUser('careless') }, { reason: `my key is ${secret}` }),
        await h.press(`modrmform:${job.id}:`, moderator(), { reason: secret }),
      ];
      for (const ctx of attempts) {
        expect(ctx.lastReply().private).toBe(true);
        expect(ctx.lastText()).toMatch(/^That looks like a fal key\. It was not stored/);
        expect(ctx.lastText()).not.toContain(secret);
      }
      expect(h.services.moderation.isBanned(community(), maker.platformUserId)).toBe(false);
      expect(h.services.moderation.blocklist(community())).toEqual([]);
      expect(h.owner.repos.reports.forAsset(asset!.id)).toEqual([]);
      expect(h.owner.repos.assets.getAsset(asset!.id)?.removedAt).toBeNull();
      expect(h.services.moderation.recentActions(community(), 100)).toHaveLength(logged);
      expect(outlet.posts.slice(postsBefore).filter((post) => JSON.stringify(post.message).includes(secret))).toEqual([]);
      expect(h.harness.logs.text).not.toContain(secret);
    });

    it('is not for direct messages', async () => {
      const ctx = await mod({ subcommand: 'settings' }, { ...moderator(), isDirectMessage: true });
      expect(ctx.lastText()).toMatch(/works in a server channel/);
    });

    it('counts named members, the moderator role and admins as moderators; admins alone appoint them', async () => {
      const named = testUser('named');
      const roleMember = { user: testUser('role'), groups: ['role-mods'] };
      expect((await mod({ subcommand: 'log' }, { user: named })).lastText()).toMatch(/Only moderators/);

      // A moderator by permission cannot appoint others.
      const notAdmin = await mod({ subcommand: 'settings', moderators: `<@${named.platformUserId}> <@&role-mods>` });
      expect(notAdmin.lastText()).toBe('Only members with Manage Server can change who moderates.');
      expect(h.services.moderation.settings(community()).moderatorUserIds).toEqual([]);

      const admin = await mod({ subcommand: 'settings', moderators: `<@${named.platformUserId}> <@&role-mods>` }, { user: testUser('admin'), isAdmin: true });
      expect(admin.lastText()).toContain(`Moderators: members with Manage Messages, <@${named.platformUserId}>, <@&role-mods>`);
      expect((await mod({ subcommand: 'log' }, { user: named })).lastText()).toMatch(/Moderation log/);
      expect((await mod({ subcommand: 'log' }, roleMember)).lastText()).toMatch(/Moderation log/);

      await mod({ subcommand: 'settings', moderators: 'none' }, { user: testUser('admin'), isAdmin: true });
      expect((await mod({ subcommand: 'log' }, { user: named })).lastText()).toMatch(/Only moderators/);
    });
  });

  describe('settings', () => {
    it('shows the defaults, changes them, says what changed and logs it', async () => {
      const shown = await mod({ subcommand: 'settings' });
      expect(shown.lastText()).toContain('Review channel: none');
      expect(shown.lastText()).toContain('Outputs fal flags as NSFW: **spoiler**');
      expect(shown.lastText()).toContain('Other outputs: **allow**');

      const changed = await mod({ subcommand: 'settings', nsfw: 'block', models: 'schnell, dev', daily_cap: 5 });
      expect(changed.lastText()).toContain('Changed: nsfw: spoiler → block; models: all → fal-ai/flux/schnell, fal-ai/flux/dev; daily_cap: none → 5.');
      expect(h.services.moderation.settings(community())).toMatchObject({ nsfwPolicy: 'block', allowedModels: ['fal-ai/flux/schnell', 'fal-ai/flux/dev'], dailyCap: 5 });
      const log = (await mod({ subcommand: 'log' })).lastText();
      expect(log).toMatch(/changed settings nsfw, models, daily_cap: nsfw: spoiler → block/);
    });

    it('refuses hold without a review channel, an unknown model, and keeps the review channel while holding', async () => {
      const hold = await mod({ subcommand: 'settings', other: 'hold' });
      expect(hold.lastText()).toMatch(/held results wait in the review channel.*\/mod channel/);
      const unknown = await mod({ subcommand: 'settings', models: 'schnell, nosuchmodel' });
      expect(unknown.lastText()).toMatch(/I don't know the model "nosuchmodel"/);
      expect(h.services.moderation.settings(community())).toMatchObject({ otherPolicy: 'allow', allowedModels: null });

      await setReviewChannel();
      await mod({ subcommand: 'settings', other: 'hold' });
      const off = await mod({ subcommand: 'channel', off: true });
      expect(off.lastText()).toMatch(/Results are held for review/);
      expect(h.services.moderation.settings(community()).reviewChannelId).toBe(REVIEW);
    });

    it('refuses a review channel the bot cannot post in', async () => {
      outlet.closedChannels.add('locked');
      const ctx = await mod({ subcommand: 'channel', channel: 'locked' });
      expect(ctx.lastText()).toMatch(/I cannot post in <#locked>/);
      expect(h.services.moderation.settings(community()).reviewChannelId).toBeNull();
    });
  });

  describe('requests', () => {
    it('refuses a blocked prompt (or param) before any job or fal call, naming the entry', async () => {
      await mod({ group: 'blocklist', subcommand: 'add', pattern: 'Blood  Bath' });
      await mod({ group: 'blocklist', subcommand: 'add', pattern: 'gor*' });
      expect((await mod({ group: 'blocklist', subcommand: 'list' })).lastText()).toBe('**Blocklist** (2):\n• `blood bath`\n• `gor*`');
      const invalid = await mod({ group: 'blocklist', subcommand: 'add', pattern: '/(a+)+/' });
      expect(invalid.lastText()).toMatch(/nested repetition/);

      for (const request of [{ prompt: 'a BLOOD-bath at dawn' }, { prompt: 'a gory scene' }, { prompt: 'a calm lake', params: 'negative_prompt=gory' }]) {
        const jobs = h.totalJobs();
        const requests = h.fake.requests.length;
        const ctx = await h.run('imagine', request, { user: maker });
        expect(refusedBeforeFal(ctx, jobs, requests)).toMatch(/Your prompt contains something this server does not allow \("(blood bath|gor\*)"\)/);
      }
      // A word merely containing an entry is no match.
      const gorgeous = await imagine('a bloodstained bathtub');
      expect(h.harness.deliverer.forJob(gorgeous.job.id)[0]?.status).toBe('succeeded');

      await mod({ group: 'blocklist', subcommand: 'remove', pattern: 'blood bath' });
      expect((await mod({ group: 'blocklist', subcommand: 'list' })).lastText()).toBe('**Blocklist** (1):\n• `gor*`');
    });

    it('keeps to the allowed models: an explicit other one is refused, the default gives way to an allowed one', async () => {
      await mod({ subcommand: 'settings', models: 'dev' });
      const jobs = h.totalJobs();
      const requests = h.fake.requests.length;
      const refused = await h.run('imagine', { prompt: 'a fox', model: 'schnell' }, { user: maker });
      expect(refusedBeforeFal(refused, jobs, requests)).toMatch(/allow only some image models.*Allowed here: dev/);

      const listed = await h.run('models', { kind: 'image' }, { user: maker });
      expect(listed.lastReply().message.text).toBe('The moderators of this server allow these models.');
      expect(listed.lastReply().message.cards?.map((card) => card.footer)).toEqual(['fal-ai/flux/dev']);
      const { job } = await imagine('a fox, allowed');
      expect(job.modelId).toBe('fal-ai/flux/dev');
      expect(h.fake.submits('fal-ai/flux/dev').at(-1)?.input['prompt']).toBe('a fox, allowed');
    });

    it('caps a member’s generations per day in this community', async () => {
      const capped = (await h.userWithKey('capped')).user;
      await mod({ subcommand: 'settings', daily_cap: 2 });
      for (const prompt of ['one', 'two']) {
        const ctx = await h.run('imagine', { prompt }, { user: capped });
        await h.waitForDelivery(h.jobIdFrom(ctx));
      }
      const jobs = h.totalJobs();
      const requests = h.fake.requests.length;
      const third = await h.run('imagine', { prompt: 'three' }, { user: capped });
      expect(refusedBeforeFal(third, jobs, requests)).toMatch(/limit of 2 generations a day\. Your next one frees up at \d\d:\d\d UTC/);
      // Another community has its own count.
      const elsewhere = await h.run('imagine', { prompt: 'elsewhere' }, { user: capped, workspaceId: 'guild-2' });
      expect(elsewhere.lastText()).toMatch(/^Queued/);
      await h.waitForDelivery(h.jobIdFrom(elsewhere));
    });
  });

  describe('bans', () => {
    it('cancels the member’s jobs here, tells them, refuses new ones before fal, until unbanned', async () => {
      h.fake.hold(SCHNELL);
      const queued = await h.run('imagine', { prompt: 'a long one' }, { user: maker });
      const jobId = h.jobIdFrom(queued);
      await h.fake.waitForSubmit(SCHNELL, 1, 10_000);

      const banned = await mod({ subcommand: 'ban', user: maker.platformUserId, reason: 'spam' });
      expect(banned.lastText()).toBe(`<@${maker.platformUserId}> is banned from generating here. Their generation in progress was cancelled. They were told privately.`);
      const cancelled = await h.waitForDelivery(jobId);
      expect(cancelled.status).toBe('cancelled');
      expect(outlet.told.at(-1)).toMatchObject({ member: { platformUserId: maker.platformUserId }, message: { text: expect.stringMatching(/banned you from generating in this server: spam\. Your generation there was cancelled/) } });

      const jobs = h.totalJobs();
      const requests = h.fake.requests.length;
      const refused = await h.run('imagine', { prompt: 'again' }, { user: maker });
      expect(refusedBeforeFal(refused, jobs, requests)).toMatch(/The moderators of this server have banned you from generating here \(spam\)/);
      // Rerun goes through the same door.
      const rerun = await h.press(`rerun:${jobId}`, { user: maker });
      expect(rerun.lastText()).toMatch(/banned you/);
      // Another server is not affected.
      expect((await h.run('imagine', { prompt: 'elsewhere' }, { user: maker, workspaceId: 'guild-2' })).lastText()).toMatch(/^Queued/);

      expect((await mod({ subcommand: 'ban', user: maker.platformUserId })).lastText()).toMatch(/was already banned/);
      expect((await mod({ subcommand: 'unban', user: maker.platformUserId })).lastText()).toBe(`<@${maker.platformUserId}> can generate here again; they were told.`);
      h.fake.release();
      expect((await h.run('imagine', { prompt: 'welcome back' }, { user: maker })).lastText()).toMatch(/^Queued/);
      const log = (await mod({ subcommand: 'log' })).lastText();
      expect(log).toMatch(new RegExp(`unbanned <@${maker.platformUserId}>[\\s\\S]*banned <@${maker.platformUserId}>: spam`));
    });

    it('refuses banning yourself', async () => {
      const self = moderator();
      expect((await mod({ subcommand: 'ban', user: self.user.platformUserId }, self)).lastText()).toBe('You cannot ban yourself.');
    });
  });

  describe('outputs and the review channel', () => {
    it('mirrors posted results, spoilered by default when flagged, shown as is under allow', async () => {
      await setReviewChannel();
      flagAll();
      const flagged = await imagine('a flagged picture');
      const shown = succeeded(h.harness.deliverer.forJob(flagged.job.id)[0]!);
      expect(shown.assets[0]?.spoiler).toBe(true);
      const review = await eventually(() => outlet.inChannel(REVIEW).find((post) => post.message.cards?.[0]?.title === 'a flagged picture'));
      expect(review.message.text).toBe(`New result by <@${maker.platformUserId}> in <#channel-1>.`);
      expect(review.message.cards?.[0]?.fields?.map((field) => field.name)).toEqual(['Model', 'Owner', 'Where', 'Post', 'Share link']);
      expect(review.message.cards?.[0]?.spoiler).toBe(true);
      expect(review.message.buttons?.[0]?.map((button) => button.label)).toEqual(['Approve', 'Remove', 'Ban owner']);

      await mod({ subcommand: 'settings', nsfw: 'allow' });
      const allowed = await imagine('an allowed picture');
      expect(succeeded(h.harness.deliverer.forJob(allowed.job.id)[0]!).assets[0]?.spoiler).toBe(false);
      await eventually(() => outlet.inChannel(REVIEW).find((post) => post.message.cards?.[0]?.title === 'an allowed picture'));
      // A private result is not posted, so not mirrored.
      const before = outlet.inChannel(REVIEW).length;
      await imagine('a private picture', { private: true });
      await eventually(async () => {
        const counts = await h.harness.app.queues.deliver.getJobCounts('waiting', 'active', 'delayed');
        return (counts['waiting'] ?? 0) + (counts['active'] ?? 0) + (counts['delayed'] ?? 0) === 0;
      });
      expect(outlet.inChannel(REVIEW).length).toBe(before);
    });

    it('blocks flagged outputs: never posted, file and link gone, the owner told, the log says so', async () => {
      await mod({ subcommand: 'settings', nsfw: 'block' });
      flagAll();
      const { job } = await imagine('a blocked picture');
      const delivery = h.harness.deliverer.forJob(job.id)[0]!;
      expect(delivery).toMatchObject({ status: 'blocked', reason: 'the moderators here do not allow outputs flagged as NSFW.' });
      const [asset] = h.owner.repos.assets.listJobAssets(job.id);
      expect(asset?.removedBy).toBe('policy');
      expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(false);
      expect((await fetch(h.owner.links.shareUrl(asset!))).status).toBe(410);
      expect((await mod({ subcommand: 'log' })).lastText()).toMatch(/The policy blocked "a blocked picture"/);
    });

    it('holds results for review; Approve posts them where asked and tells the owner', async () => {
      await setReviewChannel();
      await mod({ subcommand: 'settings', nsfw: 'hold' });
      flagAll();
      const { job } = await imagine('a held picture');
      expect(h.harness.deliverer.forJob(job.id)).toMatchObject([{ status: 'held' }]);
      expect(h.services.generation.getJob(job.id)?.reviewState).toBe('held');
      const review = await eventually(() => outlet.inChannel(REVIEW).find((post) => post.message.cards?.[0]?.title === 'a held picture'));
      expect(review.message.text).toMatch(/^\*\*Waiting for review\*\*/);
      // Held: not in other members' view of the owner's gallery yet.
      const [asset] = h.owner.repos.assets.listJobAssets(job.id);
      expect(h.services.gallery.publicOf(maker, { limit: 10 }).items.map((item) => item.id)).not.toContain(asset!.id);
      const ownGallery = await h.run('gallery', {}, { user: maker });
      const heldCard = ownGallery.lastReply().message.cards?.find((card) => card.title?.endsWith('a held picture'));
      expect(heldCard?.fields).toContainEqual({ name: 'Status', value: "Waiting for a moderator's review" });

      expect(await h.owner.metrics.render()).toMatch(/^atelier_results_held 1$/m);
      const refused = await h.press(`modok:${job.id}`, { user: testUser('nobody') });
      expect(refused.lastText()).toBe('Only moderators of this server can do that.');
      expect(h.harness.deliverer.forJob(job.id)).toHaveLength(1);

      const approve = await h.press(`modok:${job.id}`, moderator());
      expect(approve.lastText()).toBe('Approved and posted in <#channel-1>.');
      const posted = h.harness.deliverer.forJob(job.id)[1]!;
      expect(succeeded(posted).assets[0]).toMatchObject({ id: asset!.id, spoiler: true });
      expect(h.harness.deliverer.deliveryOptions.at(-1)).toEqual({ afterReview: true });
      expect(outlet.told.at(-1)?.message.text).toMatch(/approved your result for \*\*a held picture\*\*; it is now posted in <#channel-1>/);
      expect(review.message.text).toMatch(/Approved by <@/);
      expect(review.message.buttons?.[0]?.map((button) => button.label)).toEqual(['Remove', 'Ban owner']);
      expect(h.services.gallery.publicOf(maker, { limit: 10 }).items.map((item) => item.id)).toContain(asset!.id);
      // A second Approve changes nothing.
      expect((await h.press(`modok:${job.id}`, moderator())).lastText()).toBe('Another moderator decided on this result already.');
      const metrics = await h.owner.metrics.render();
      expect(metrics).toMatch(/^atelier_results_held 0$/m);
      expect(metrics).toMatch(/^atelier_moderation_actions_total\{action="hold"\} \d+$/m);
      expect(metrics).toMatch(/^atelier_moderation_actions_total\{action="approve"\} \d+$/m);
      expect(h.harness.deliverer.forJob(job.id)).toHaveLength(2);
    });

    it('holds results for review; Remove asks why, deletes them and tells the owner privately; twice is fine', async () => {
      await setReviewChannel();
      await mod({ subcommand: 'settings', other: 'hold' });
      const { job } = await imagine('a picture to remove');
      const review = await eventually(() => outlet.inChannel(REVIEW).find((post) => post.message.cards?.[0]?.title === 'a picture to remove'));
      const [asset] = h.owner.repos.assets.listJobAssets(job.id);

      const form = await h.press(`modrm:${job.id}`, moderator());
      expect(form.forms[0]).toMatchObject({ id: `modrmform:${job.id}:`, fields: [{ id: 'reason', required: false }] });
      const mod1 = moderator();
      const removed = await h.press(`modrmform:${job.id}:`, mod1, { reason: 'not for this server' });
      expect(removed.lastText()).toMatch(/^Removed: its file, share link and posts are gone/);
      expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(false);
      expect((await fetch(h.owner.links.shareUrl(asset!))).status).toBe(410);
      expect(h.owner.repos.assets.getAsset(asset!.id)).toMatchObject({ removedBy: `moderator:test:${mod1.user.platformUserId}`, removedReason: 'not for this server' });
      expect(h.services.generation.getJob(job.id)?.reviewState).toBe('rejected');
      expect(h.services.gallery.mine(maker, { limit: 50 }).items.map((item) => item.id)).not.toContain(asset!.id);
      expect(outlet.told.at(-1)?.message.text).toBe('The moderators removed your result for **a picture to remove**: not for this server. Its file and share link are gone.');
      expect(review.message.text).toMatch(/Removed by <@.*>: not for this server/);
      expect(review.assets).toEqual([]);
      expect(review.message.buttons ?? []).toEqual([]);
      // Nothing was ever posted where it was asked: only the held notice.
      expect(h.harness.deliverer.forJob(job.id).map((delivery) => delivery.status)).toEqual(['held']);

      const again = await h.press(`modrmform:${job.id}:`, moderator(), { reason: 'again' });
      expect(again.lastText()).toBe('That was removed already.');
      expect((await mod({ subcommand: 'log' })).lastText()).toMatch(/removed "a picture to remove" by <@.*>: not for this server/);
    });

    it('groups reports of one output into one review message, and Remove closes it', async () => {
      await setReviewChannel();
      const { job } = await imagine('a reported picture');
      const [asset] = h.owner.repos.assets.listJobAssets(job.id);
      const reporters = [testUser('r1'), testUser('r2')];
      const first = await h.press(`reportform:${asset!.id}`, { user: reporters[0]! }, { reason: 'offensive' });
      expect(first.lastText()).toMatch(/Thank you/);
      await h.press(`reportform:${asset!.id}`, { user: reporters[1]! }, { reason: '' });
      // The same member reporting again is one report.
      await h.press(`reportform:${asset!.id}`, { user: reporters[0]! }, { reason: 'still offensive' });
      const reports = reportPosts(job);
      expect(reports).toHaveLength(1);
      expect(reports[0]!.message.text).toContain('**Reported by 2 members**');
      expect(reports[0]!.message.text).toContain(`<@${reporters[0]!.platformUserId}>: still offensive`);
      expect(reports[0]!.message.text).toContain(`<@${reporters[1]!.platformUserId}>: (no reason given)`);
      expect(reports[0]!.edits).toHaveLength(2);

      await h.press(`modrmform:${job.id}:0`, moderator(), { reason: 'reported twice' });
      expect(reports[0]!.message.text).toMatch(/Removed by <@.*>: reported twice/);
      expect(reports[0]!.assets).toEqual([]);
      expect(await h.harness.app.storage.exists(asset!.storageKey)).toBe(false);
    });

    it('Approve closes the reports; a new report opens a new message; a removal clears every review message', async () => {
      await setReviewChannel();
      const { job } = await imagine('a picture reported after approval');
      const [asset] = h.owner.repos.assets.listJobAssets(job.id);
      const mirror = await eventually(() => outlet.inChannel(REVIEW).find((post) => post.message.cards?.[0]?.title === 'a picture reported after approval'));
      await h.press(`reportform:${asset!.id}`, { user: testUser('r1') }, { reason: 'first' });
      const [firstReport] = reportPosts(job) as [RecordedPost];
      expect(firstReport.message.text).toContain('**Reported by 1 member**');

      expect((await h.press(`modok:${job.id}`, moderator())).lastText()).toBe('Approved.');
      expect(firstReport.message.text).toMatch(/Approved by <@/);
      expect(firstReport.message.buttons?.[0]?.map((button) => button.label)).toEqual(['Remove', 'Ban owner']);
      expect(mirror.message.text).toMatch(/Approved by <@/);

      await h.press(`reportform:${asset!.id}`, { user: testUser('r2') }, { reason: 'second' });
      expect(reportPosts(job)).toHaveLength(2);
      const secondReport = reportPosts(job)[1]!;
      expect(secondReport.message.text).toContain('**Reported by 2 members**');
      expect(secondReport.message.buttons?.[0]?.map((button) => button.label)).toEqual(['Approve', 'Remove', 'Ban owner']);

      // The owner deletes it: every review message lets go of its copy, the old closed one included.
      await h.press(`deleteyes:${asset!.id}`, { user: maker });
      for (const post of [mirror, firstReport, secondReport]) {
        expect(post.assets).toEqual([]);
        expect(post.message.cards ?? []).toEqual([]);
      }
      expect(mirror.message.text).toContain('Deleted by its owner.');
      expect(secondReport.message.text).toContain('Deleted by its owner.');
    });

    it('Ban owner from the review channel bans the owner of that result', async () => {
      await setReviewChannel();
      const { job } = await imagine('a picture by a troublemaker');
      const form = await h.press(`modban:${job.id}`, moderator());
      expect(form.forms[0]?.id).toBe(`modbanform:${job.id}`);
      const banned = await h.press(`modbanform:${job.id}`, moderator(), { reason: 'repeated abuse' });
      expect(banned.lastText()).toMatch(new RegExp(`^<@${maker.platformUserId}> is banned from generating here`));
      expect(h.services.moderation.isBanned(community(), maker.platformUserId)).toBe(true);
      // The banned member's existing results stay until removed.
      expect(h.owner.repos.assets.listJobAssets(job.id)[0]?.removedAt).toBeNull();
    });

    it('a button of another community’s result does nothing here', async () => {
      const { job } = await imagine('a picture elsewhere', {});
      const foreign = await h.press(`modrmform:${job.id}:`, { ...moderator(), workspaceId: 'guild-2' }, { reason: 'x' });
      expect(foreign.lastText()).toBe('That result does not exist here any more.');
      expect(h.owner.repos.assets.listJobAssets(job.id)[0]?.removedAt).toBeNull();
    });
  });
});
