import { startFakeDiscord, type FakeChannel, type FakeDiscord, type FakeGuild, type FakeUser, type MessageSnapshot, type RoleSpec } from '../fakes/discord-server.js';
import { startFakeFal, type FakeFal } from '../fakes/fal-server.js';
import { newFalKey, startTestApp, type TestApp, type TestAppOptions } from './app.js';
import { discordUser } from '../../src/bots/discord/context.js';

/**
 * The whole app with Discord enabled, talking through the unmodified discord.js to the fake Discord,
 * and to the fake fal for generations.
 */
export interface DiscordHarness {
  fal: FakeFal;
  discord: FakeDiscord;
  guild: FakeGuild;
  general: FakeChannel;
  harness: TestApp;
  /** A Discord member with a fal key registered (directly through the key service). */
  memberWithKey(name?: string): Promise<{ user: FakeUser; key: string }>;
  /** Restarts the owning process on the same data and queue (a deploy between command and result). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface DiscordHarnessOptions {
  /** Passed to startTestApp (env, appOptions…). */
  app?: Partial<TestAppOptions>;
  tokenLifetimeMs?: number;
  /** Roles of the test server besides @everyone (sent in GUILD_CREATE, so discord.js caches them). */
  roles?: RoleSpec[];
}

export async function startDiscordHarness(options: DiscordHarnessOptions = {}): Promise<DiscordHarness> {
  const fal = await startFakeFal();
  const discord = await startFakeDiscord({ botUser: { username: 'Atelier' }, ...(options.tokenLifetimeMs ? { tokenLifetimeMs: options.tokenLifetimeMs } : {}) });
  const guild = discord.guild({ name: 'Test Server', channels: [{ name: 'general' }, { name: 'art' }], ...(options.roles ? { roles: options.roles } : {}) });
  const general = guild.channels[0]!;
  const env = { DISCORD_TOKEN: discord.token, DISCORD_APPLICATION_ID: discord.applicationId, DISCORD_API_URL: discord.apiUrl, ...options.app?.env };
  const overrides = options.app?.appOptions;
  // One level deeper than a spread: a test tuning one deliverer setting keeps the harness's others.
  const appOptions = {
    ...overrides,
    discord: {
      ...overrides?.discord,
      deliverer: {
        progressIntervalMs: 200,
        ...(options.tokenLifetimeMs ? { tokenLifetimeMs: options.tokenLifetimeMs } : {}),
        ...overrides?.discord?.deliverer,
      },
    },
  };
  let harness = await startTestApp({ fake: fal, ...options.app, env, appOptions });
  const state: DiscordHarness = {
    fal,
    discord,
    guild,
    general,
    get harness() {
      return harness;
    },
    async memberWithKey(name = 'member') {
      const user = discord.user({ username: name });
      const key = newFalKey();
      fal.addKey(key);
      await harness.app.owner!.services.keys.register(discordUser({ id: user.id, username: user.username, globalName: user.global_name }), key);
      return { user, key };
    },
    async restart() {
      const { dataDir, prefix } = harness;
      await harness.app.close();
      harness = await startTestApp({ fake: fal, ...options.app, env, appOptions, share: { dataDir, prefix } });
    },
    async close() {
      await harness?.close();
      await discord.close();
      await fal.close();
    },
  } as DiscordHarness;
  return state;
}

/** A message's buttons as Discord returns them (every action row flattened). */
export interface WireButton {
  type: number;
  style?: number;
  custom_id?: string;
  label?: string;
  url?: string;
  disabled?: boolean;
}

export function buttonsOf(message: MessageSnapshot): WireButton[] {
  return (message.components as Array<{ components?: WireButton[] }>).flatMap((row) => row.components ?? []);
}

/** The custom id of the button with this label; throws (naming what there is) when there is none. */
export function buttonId(message: MessageSnapshot, label: string): string {
  const id = buttonsOf(message).find((button) => button.label === label)?.custom_id;
  if (!id) throw new Error(`no "${label}" button in ${JSON.stringify(message.components)}`);
  return id;
}

/** The labels of a message's buttons, in order. */
export const buttonLabels = (message: MessageSnapshot): string[] => buttonsOf(message).map((button) => button.label ?? '');

/** An embed as Discord returns it (the fields the tests read). */
export interface WireEmbed {
  title?: string;
  url?: string;
  image?: { url?: string };
  fields?: Array<{ name: string; value: string }>;
}

export const embedsOf = (message: MessageSnapshot): WireEmbed[] => message.embeds as WireEmbed[];

/** Member permission bits as interactions carry them. */
export const PERMISSIONS = {
  MANAGE_GUILD: 1n << 5n,
  MANAGE_MESSAGES: 1n << 13n,
  VIEW_AND_SEND: (1n << 10n) | (1n << 11n),
} as const;
/** What a moderator by permission has in a channel. */
export const MODERATOR_PERMISSIONS = PERMISSIONS.VIEW_AND_SEND | PERMISSIONS.MANAGE_MESSAGES;
