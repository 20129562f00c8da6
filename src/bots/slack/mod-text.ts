/**
 * `/mod` as Slack users type it, turned into the options the platform-neutral command takes:
 *
 *   /mod [settings] [nsfw=hold] [other=allow] [models=dev,schnell|all] [daily_cap=20] [moderators=@a @b @group|none]
 *   /mod channel [#channel | off]
 *   /mod blocklist add|remove <pattern>   /mod blocklist [list]
 *   /mod ban @member [reason]             /mod unban @member
 *   /mod log [count]
 *
 * The command is registered with "escape channels, users and links", so mentions arrive as
 * `<@U123|name>`, `<#C123|name>` and `<!subteam^S123|@group>`.
 */
import { decodeSlackText } from './render.js';

export type ModText = { ok: true; options: Record<string, unknown> } | { ok: false; error: string };

const USAGE =
  'Use `/mod settings`, `/mod channel [#channel|off]`, `/mod blocklist add|remove|list`, `/mod ban @member [reason]`, `/mod unban @member` or `/mod log`.';

const SETTING_KEYS = new Set(['nsfw', 'other', 'models', 'daily_cap', 'moderators']);

function mentionedUser(token: string | undefined): string | undefined {
  return token ? /^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$/.exec(token)?.[1] : undefined;
}

export function parseModText(text: string): ModText {
  const trimmed = text.trim();
  const [verb = 'settings', ...rest] = trimmed.split(/\s+/).filter(Boolean);
  const remainder = trimmed.slice(verb.length).trim();
  switch (verb.toLowerCase()) {
    case 'settings': {
      const options: Record<string, unknown> = { subcommand: 'settings' };
      // `key=value` pairs; a value runs until the next ` key=` (moderators lists several mentions).
      for (const match of remainder.matchAll(/(\w+)=((?:(?!\s+\w+=).)*)/gs)) {
        const key = (match[1] ?? '').toLowerCase();
        const value = (match[2] ?? '').trim();
        if (!SETTING_KEYS.has(key)) return { ok: false, error: `Unknown setting "${key}". Settings: nsfw, other, models, daily_cap, moderators.` };
        options[key] =
          key === 'daily_cap' && /^\d+$/.test(value) ? Number(value) : key === 'nsfw' || key === 'other' ? value.toLowerCase() : key === 'moderators' ? value : decodeSlackText(value);
      }
      if (remainder && Object.keys(options).length === 1) return { ok: false, error: `Change settings as \`key=value\`, e.g. \`/mod settings nsfw=hold daily_cap=20\`.` };
      return { ok: true, options };
    }
    case 'channel': {
      if (/^off$/i.test(remainder)) return { ok: true, options: { subcommand: 'channel', off: true } };
      if (!remainder) return { ok: true, options: { subcommand: 'channel' } };
      const channel = /^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$/.exec(remainder)?.[1];
      if (!channel) return { ok: false, error: 'Name the channel as #channel (or run `/mod channel` in it).' };
      return { ok: true, options: { subcommand: 'channel', channel } };
    }
    case 'blocklist': {
      const [action = 'list'] = rest;
      const pattern = remainder.slice(action.length).trim();
      switch (action.toLowerCase()) {
        case 'add':
        case 'remove':
          if (!pattern) return { ok: false, error: `Give the word or pattern: \`/mod blocklist ${action.toLowerCase()} <word>\`.` };
          return { ok: true, options: { group: 'blocklist', subcommand: action.toLowerCase(), pattern: decodeSlackText(pattern) } };
        case 'list':
          return { ok: true, options: { group: 'blocklist', subcommand: 'list' } };
        default:
          return { ok: false, error: 'Use `/mod blocklist add <word>`, `/mod blocklist remove <word>` or `/mod blocklist list`.' };
      }
    }
    case 'ban':
    case 'unban': {
      const user = mentionedUser(rest[0]);
      if (!user) return { ok: false, error: `Name the member as @member: \`/mod ${verb.toLowerCase()} @member\`.` };
      const reason = decodeSlackText(remainder.slice((rest[0] ?? '').length).trim());
      return { ok: true, options: { subcommand: verb.toLowerCase(), user, ...(verb.toLowerCase() === 'ban' && reason ? { reason } : {}) } };
    }
    case 'log': {
      const count = rest[0] && /^\d+$/.test(rest[0]) ? Number(rest[0]) : undefined;
      return { ok: true, options: { subcommand: 'log', ...(count !== undefined ? { count } : {}) } };
    }
    default:
      return { ok: false, error: `I don't know \`/mod ${verb}\`. ${USAGE}` };
  }
}
