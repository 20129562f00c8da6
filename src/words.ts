/**
 * How each platform spells its commands. Every user-facing sentence is written once, in
 * platform-neutral code; the command names and option syntax in it come from here.
 */
export interface PlatformWords {
  /** Where and how to register a key: "`/key set` in a direct message with me". */
  registerKey: string;
  keyStatus: string;
  keyRemove: string;
  jobs: string;
  models: string;
  gallery: string;
  imagineExample: string;
  animateExample: string;
  /** An option as a user types it: `model:dev` on Discord, `--model dev` on Slack. */
  option(name: string, value: string): string;
  /** An option's name as a user types it: `count` on Discord, `--n` on Slack. */
  optionName(name: string): string;
  /** How extra model settings are typed. */
  paramsSyntax: string;
  /** Key registration is sent to a DM (Discord) rather than opened as a private form wherever asked (Slack). */
  keyRegistrationInDm: boolean;
  /** Where moderation settings belong: "this server", "this workspace". */
  community: string;
}

export const DISCORD_WORDS: PlatformWords = {
  registerKey: '`/key set` in a direct message with me',
  keyStatus: '`/key status`',
  keyRemove: '`/key remove`',
  jobs: '`/jobs`',
  models: '`/models`',
  gallery: '`/gallery`',
  imagineExample: '`/imagine prompt:…`',
  animateExample: '`/animate prompt:…`',
  option: (name, value) => `${name}:${value}`,
  optionName: (name) => name,
  paramsSyntax: '`params:` (extra model settings as `key=value`)',
  keyRegistrationInDm: true,
  community: 'this server',
};

/** Slack's flags (src/bots/slack/flags.ts) for the command options. */
const SLACK_FLAG = (name: string) => `--${name === 'count' ? 'n' : name}`;

export const SLACK_WORDS: PlatformWords = {
  registerKey: '`/atelier key` (a private form)',
  keyStatus: '`/atelier key status`',
  keyRemove: '`/atelier key remove`',
  jobs: '`/atelier jobs`',
  models: '`/atelier models`',
  gallery: '`/gallery`',
  imagineExample: '`/imagine a red fox --model dev --n 2`',
  animateExample: '`/animate waves at dusk --model veo3`',
  option: (name, value) => `${SLACK_FLAG(name)} ${value}`,
  optionName: (name) => SLACK_FLAG(name),
  paramsSyntax: '`key=value` pairs in the text (extra model settings)',
  keyRegistrationInDm: false,
  community: 'this workspace',
};

/** Tests and platform-less callers speak Discord's dialect. */
export const DEFAULT_WORDS = DISCORD_WORDS;

export function wordsFor(platform: string): PlatformWords {
  return platform === 'slack' ? SLACK_WORDS : DISCORD_WORDS;
}
