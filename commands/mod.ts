import { z } from 'zod';
import { getModel, listModels } from '../src/catalog/index.js';
import type { CommunitySettings, SettingsPatch } from '../src/db/index.js';
import { OUTPUT_POLICIES } from '../src/domain.js';
import { AppError } from '../src/errors.js';
import { auditLogMessage, APPROVE, BAN_OWNER, fitLines, REMOVE } from '../src/moderation/messages.js';
import type { CommunityMember } from '../src/moderation/service.js';
import { wordsFor } from '../src/words.js';
import type { CommandContext, Message } from './context.js';
import { componentId, defineCommand, type ComponentHandler, type Services } from './define.js';

const POLICY_CHOICES = OUTPUT_POLICIES.map((policy) => ({ name: policy, value: policy }));
const PATTERN_MAX = 200;
const REASON_MAX = 300;

const POLICY_WORDS: Record<(typeof OUTPUT_POLICIES)[number], string> = {
  allow: 'posted as they are',
  spoiler: 'posted blurred',
  hold: 'held until a moderator approves them',
  block: 'never posted; the owner is told',
};

/** Who else moderates, from mentions typed into the option (Discord and Slack mention syntax alike). */
export function parseModerators(text: string): { users: string[]; group: string | null } | 'none' {
  if (/^\s*(none|off|clear)\s*$/i.test(text)) return 'none';
  const users = [...text.matchAll(/<@!?([\w-]+)(?:\|[^>]*)?>/g)].map((match) => match[1] ?? '').filter(Boolean);
  const roles = [...text.matchAll(/<@&([\w-]+)>|<!subteam\^([\w-]+)(?:\|[^>]*)?>/g)].map((match) => match[1] ?? match[2] ?? '').filter(Boolean);
  if (users.length === 0 && roles.length === 0) {
    throw new AppError('INVALID_PARAMS', 'no mentions in moderators', {
      field: 'moderators',
      reason: 'moderators takes @mentions of members and at most one role or user group, or "none"',
    });
  }
  if (roles.length > 1) throw new AppError('INVALID_PARAMS', 'several groups', { field: 'moderators', reason: 'moderators takes at most one role or user group' });
  return { users: [...new Set(users)], group: roles[0] ?? null };
}

/** "dev, schnell" → catalog ids; "all" → every model. */
function parseModels(text: string): string[] | null {
  if (/^\s*all\s*$/i.test(text)) return null;
  const names = text.split(/[\s,]+/).filter(Boolean);
  const ids = names.map((name) => {
    const model = getModel(name);
    if (!model) {
      throw new AppError('INVALID_PARAMS', `unknown model ${name}`, {
        field: 'models',
        reason: `I don't know the model "${name}"`,
        allowed: listModels().map((candidate) => candidate.aliases[0] ?? candidate.id),
      });
    }
    return model.id;
  });
  if (ids.length === 0) throw new AppError('INVALID_PARAMS', 'no models', { field: 'models', reason: 'models takes model names separated by commas, or "all"' });
  return [...new Set(ids)];
}

const groupMention = (platform: string, id: string) => (platform === 'slack' ? `the user group ${id}` : `<@&${id}>`);

function settingsMessage(ctx: CommandContext, settings: CommunitySettings, blocklistSize: number, changes: readonly string[] = []): Message {
  const platformModerators = ctx.platform === 'slack' ? 'workspace admins' : 'members with Manage Messages';
  const named = [
    ...settings.moderatorUserIds.map((id) => `<@${id}>`),
    ...(settings.moderatorGroupId ? [groupMention(ctx.platform, settings.moderatorGroupId)] : []),
  ];
  const models = settings.allowedModels === null ? 'all' : settings.allowedModels.map((id) => getModel(id)?.name ?? id).join(', ');
  const lines = [
    ...(changes.length ? [`Changed: ${changes.join('; ')}.`, ''] : []),
    `**Moderation settings for ${wordsFor(ctx.platform).community}**`,
    `Review channel: ${settings.reviewChannelId ? `<#${settings.reviewChannelId}>` : 'none (set one with `/mod channel`)'}`,
    `Outputs fal flags as NSFW: **${settings.nsfwPolicy}** (${POLICY_WORDS[settings.nsfwPolicy]})`,
    `Other outputs: **${settings.otherPolicy}** (${POLICY_WORDS[settings.otherPolicy]})`,
    `Allowed models: ${models}`,
    `Daily cap per member: ${settings.dailyCap === null ? 'none' : settings.dailyCap === 1 ? '1 generation' : `${settings.dailyCap} generations`}`,
    `Moderators: ${[platformModerators, ...named].join(', ')}`,
    `Blocklist: ${blocklistSize === 1 ? '1 entry' : `${blocklistSize} entries`} (\`/mod blocklist list\`)`,
  ];
  return { text: lines.join('\n'), private: true };
}

async function changeSettings(ctx: CommandContext, services: Services, actor: CommunityMember, input: ModInput): Promise<void> {
  const patch: SettingsPatch = {};
  if (input.nsfw !== undefined) patch.nsfwPolicy = input.nsfw;
  if (input.other !== undefined) patch.otherPolicy = input.other;
  if (input.models !== undefined) patch.allowedModels = parseModels(input.models);
  if (input.daily_cap !== undefined) patch.dailyCap = input.daily_cap === 0 ? null : input.daily_cap;
  if (input.moderators !== undefined) {
    // Moderators cannot appoint moderators: who moderates is the admins' call.
    if (!(await ctx.standing.isAdmin())) {
      throw new AppError('NOT_ALLOWED', 'only admins change moderators', {
        reason: ctx.platform === 'slack' ? 'Only workspace admins can change who moderates.' : 'Only members with Manage Server can change who moderates.',
      });
    }
    const parsed = parseModerators(input.moderators);
    patch.moderatorUserIds = parsed === 'none' ? [] : parsed.users;
    patch.moderatorGroupId = parsed === 'none' ? null : parsed.group;
  }
  const { settings, changes } = services.moderation.updateSettings(actor, patch);
  await ctx.reply(settingsMessage(ctx, settings, services.moderation.blocklist(actor).length, changes.length ? changes : ['nothing (the settings were already so)']));
}

const SUBCOMMANDS = ['settings', 'channel', 'ban', 'unban', 'log', 'add', 'remove', 'list'] as const;

const modInput = z.object({
  group: z.literal('blocklist').optional(),
  subcommand: z.enum(SUBCOMMANDS),
  nsfw: z.enum(OUTPUT_POLICIES).optional(),
  other: z.enum(OUTPUT_POLICIES).optional(),
  models: z.string().max(500).optional(),
  daily_cap: z.number().int().min(0).max(10_000).optional(),
  moderators: z.string().max(1000).optional(),
  channel: z.string().optional(),
  off: z.boolean().optional(),
  user: z.string().optional(),
  reason: z.string().max(REASON_MAX).optional(),
  pattern: z.string().max(PATTERN_MAX).optional(),
  count: z.number().int().min(1).max(50).optional(),
});
type ModInput = z.output<typeof modInput>;

const required = <T>(value: T | undefined, field: string): T => {
  if (value === undefined || value === '') throw new AppError('INVALID_PARAMS', `${field} missing`, { field, reason: `${field} is required` });
  return value;
};

/** `/mod …`: every part is for moderators only, and every answer is private. */
export const mod = defineCommand({
  name: 'mod',
  description: 'Moderation: settings, review channel, blocklist, bans and the log (moderators only)',
  dm: false,
  subcommands: [
    {
      name: 'settings',
      description: 'Show the moderation settings, or change them',
      options: [
        { name: 'nsfw', description: 'Outputs fal flags as NSFW: allow, spoiler, hold for review, or block', type: 'string', choices: POLICY_CHOICES },
        { name: 'other', description: 'Every other output: allow, spoiler, hold for review, or block', type: 'string', choices: POLICY_CHOICES },
        { name: 'models', description: 'Allowed models, separated by commas (e.g. "schnell, dev"), or "all"', type: 'string', maxLength: 500 },
        { name: 'daily_cap', description: 'Generations per member per day (0: no cap)', type: 'integer', minValue: 0, maxValue: 10_000 },
        { name: 'moderators', description: 'Who else moderates: @members and a @role, or "none" (admins only)', type: 'string', maxLength: 1000 },
      ],
    },
    {
      name: 'channel',
      description: 'Set the review channel where results and reports are mirrored (default: this channel)',
      options: [
        { name: 'channel', description: 'The review channel (default: this one)', type: 'channel' },
        { name: 'off', description: 'Stop mirroring to a review channel', type: 'boolean' },
      ],
    },
    {
      name: 'ban',
      description: 'Stop a member from generating here (their queued jobs are cancelled)',
      options: [
        { name: 'user', description: 'The member', type: 'user', required: true },
        { name: 'reason', description: 'Why (the member is told)', type: 'string', maxLength: REASON_MAX },
      ],
    },
    { name: 'unban', description: 'Let a banned member generate again', options: [{ name: 'user', description: 'The member', type: 'user', required: true }] },
    {
      name: 'log',
      description: 'The latest moderation actions',
      options: [{ name: 'count', description: 'How many (default 20)', type: 'integer', minValue: 1, maxValue: 50 }],
    },
  ],
  groups: [
    {
      name: 'blocklist',
      description: 'Words and patterns refused in prompts, checked before anything reaches fal',
      subcommands: [
        {
          name: 'add',
          description: 'Refuse prompts with this word, phrase, word* wildcard or /regex/',
          options: [{ name: 'pattern', description: 'A word, a phrase, a word with * wildcards, or /regex/', type: 'string', required: true, maxLength: PATTERN_MAX }],
        },
        {
          name: 'remove',
          description: 'Allow this entry again',
          options: [{ name: 'pattern', description: 'The entry, as listed', type: 'string', required: true, maxLength: PATTERN_MAX }],
        },
        { name: 'list', description: 'Show the blocklist', options: [] },
      ],
    },
  ],
  input: modInput,
  async run(ctx, input, services) {
    await ctx.defer({ private: true });
    const actor = await services.moderation.assertModerator(ctx);
    if (input.group === 'blocklist') return blocklist(ctx, services, actor, input);
    switch (input.subcommand) {
      case 'settings': {
        const changing = [input.nsfw, input.other, input.models, input.daily_cap, input.moderators].some((value) => value !== undefined);
        if (changing) return changeSettings(ctx, services, actor, input);
        return ctx.reply(settingsMessage(ctx, services.moderation.settings(actor), services.moderation.blocklist(actor).length));
      }
      case 'channel': {
        if (input.off) {
          await services.moderation.setReviewChannel(actor, null);
          return ctx.reply({ text: 'Results and reports are no longer mirrored to a review channel.', private: true });
        }
        const channelId = input.channel ?? ctx.channelId;
        await services.moderation.setReviewChannel(actor, channelId);
        return ctx.reply({
          text: `<#${channelId}> is now the review channel: every result posted here, every held result and every report shows up there with Approve, Remove and Ban owner buttons.`,
          private: true,
        });
      }
      case 'ban': {
        const target = required(input.user, 'user');
        const outcome = await services.moderation.ban(actor, target, input.reason?.trim() || null);
        return ctx.reply({ text: banReply(target, outcome), private: true });
      }
      case 'unban': {
        const target = required(input.user, 'user');
        const lifted = await services.moderation.unban(actor, target);
        return ctx.reply({ text: lifted ? `<@${target}> can generate here again; they were told.` : `<@${target}> was not banned.`, private: true });
      }
      case 'log':
        return ctx.reply(auditLogMessage(services.moderation.recentActions(actor, input.count ?? 20), wordsFor(ctx.platform).community));
      default:
        throw new AppError('INVALID_PARAMS', `unknown /mod ${input.subcommand}`, { field: 'subcommand', reason: 'use settings, channel, blocklist, ban, unban or log' });
    }
  },
});

function banReply(target: string, outcome: { already: boolean; cancelled: number; told: boolean }): string {
  const cancelled = outcome.cancelled ? ` ${outcome.cancelled === 1 ? 'Their generation in progress was' : `Their ${outcome.cancelled} generations in progress were`} cancelled.` : '';
  if (outcome.already) return `<@${target}> was already banned.${cancelled}`;
  return `<@${target}> is banned from generating here.${cancelled} ${outcome.told ? 'They were told privately.' : 'I could not message them (their DMs are closed).'}`;
}

async function blocklist(ctx: CommandContext, services: Services, actor: CommunityMember, input: ModInput): Promise<void> {
  switch (input.subcommand) {
    case 'add': {
      const { pattern, added } = services.moderation.addToBlocklist(actor, required(input.pattern, 'pattern'));
      return ctx.reply({ text: added ? `Prompts matching \`${pattern}\` are refused from now on.` : `\`${pattern}\` is on the blocklist already.`, private: true });
    }
    case 'remove': {
      const { pattern, removed } = services.moderation.removeFromBlocklist(actor, required(input.pattern, 'pattern'));
      return ctx.reply({ text: removed ? `\`${pattern}\` is no longer on the blocklist.` : `\`${pattern}\` is not on the blocklist.`, private: true });
    }
    case 'list': {
      const entries = services.moderation.blocklist(actor);
      return ctx.reply({
        text: entries.length
          ? fitLines(`**Blocklist** (${entries.length}):`, entries.map((entry) => `• \`${entry}\``), (left) => `…and ${left} more`)
          : 'The blocklist is empty.',
        private: true,
      });
    }
    default:
      throw new AppError('INVALID_PARAMS', `unknown blocklist ${input.subcommand}`, { field: 'subcommand', reason: 'use blocklist add, remove or list' });
  }
}

/** The review channel's buttons. Each press checks the presser moderates the community the job belongs to. */
export const reviewComponents: ComponentHandler[] = [
  {
    name: APPROVE,
    async run(ctx, [jobId], services) {
      await ctx.defer({ private: true });
      const actor = await services.moderation.assertModerator(ctx);
      const { posted, already } = await services.moderation.approve(actor, jobId ?? '');
      const job = services.generation.getJob(jobId ?? '');
      await ctx.reply({
        text: already ? 'Another moderator decided on this result already.' : posted ? `Approved and posted${job && !job.private ? ` in <#${job.channelId}>` : ' to its owner'}.` : 'Approved.',
        private: true,
      });
    },
  },
  {
    name: REMOVE,
    /** Asks why first: the reason goes to the log and to the owner. */
    async run(ctx, [jobId, position], services) {
      await services.moderation.assertModerator(ctx);
      await ctx.openForm({
        id: componentId('modrmform', jobId ?? '', position ?? ''),
        title: 'Remove this result',
        fields: [{ id: 'reason', label: 'Why? (the owner is told; optional)', style: 'paragraph', required: false, maxLength: REASON_MAX }],
      });
    },
  },
  {
    name: 'modrmform',
    async run(ctx, [jobId, position], services, values) {
      await ctx.defer({ private: true });
      const actor = await services.moderation.assertModerator(ctx);
      const at = position ? Number(position) : undefined;
      const { removed } = await services.moderation.remove(actor, jobId ?? '', Number.isInteger(at) ? at : undefined, values?.reason?.trim() || null);
      await ctx.reply({
        text: removed ? `Removed: ${removed === 1 ? 'its file, share link and posts are' : `${removed} outputs, their files, share links and posts are`} gone. The owner was told.` : 'That was removed already.',
        private: true,
      });
    },
  },
  {
    name: BAN_OWNER,
    async run(ctx, [jobId], services) {
      await services.moderation.assertModerator(ctx);
      await ctx.openForm({
        id: componentId('modbanform', jobId ?? ''),
        title: 'Ban the owner',
        fields: [{ id: 'reason', label: 'Why? (they are told; optional)', style: 'paragraph', required: false, maxLength: REASON_MAX }],
      });
    },
  },
  {
    name: 'modbanform',
    async run(ctx, [jobId], services, values) {
      await ctx.defer({ private: true });
      const actor = await services.moderation.assertModerator(ctx);
      const owner = services.moderation.ownerOf(actor, jobId ?? '');
      const outcome = await services.moderation.ban(actor, owner, values?.reason?.trim() || null);
      await ctx.reply({ text: banReply(owner, outcome), private: true });
    },
  },
];
