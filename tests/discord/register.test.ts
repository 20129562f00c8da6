import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../commands/index.js';
import { startFakeDiscord, type FakeDiscord, type FakeGuild, type Json } from '../fakes/discord-server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm run discord:register` without the build step: the script itself, through tsx. Never blocks this process (the fake lives here). */
function register(env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/discord-register.ts'],
      // Only what the script needs: nothing from the developer's own environment leaks in.
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('npm run discord:register', () => {
  let discord: FakeDiscord;
  let guild: FakeGuild;
  let env: Record<string, string>;

  beforeAll(async () => {
    discord = await startFakeDiscord();
    guild = discord.guild({ name: 'Registration Server' });
    env = { DISCORD_TOKEN: discord.token, DISCORD_APPLICATION_ID: discord.applicationId, DISCORD_API_URL: discord.apiUrl };
  });
  afterAll(async () => {
    await discord?.close();
  });

  type Option = Json & { name: string; type: number; required?: boolean; options?: Option[] };
  const optionsOf = (command: Json) => (command['options'] ?? []) as Option[];

  /** Every command in commands/ is registered as defined: DM contexts, options in the right order and shape. */
  function expectAllCommands(registered: Json[]): void {
    expect(registered.map((command) => command['name']).sort()).toEqual(COMMANDS.map((command) => command.name).sort());
    for (const definition of COMMANDS) {
      const command = registered.find((candidate) => candidate['name'] === definition.name)!;
      expect(command['type']).toBe(1);
      expect(String(command['description']).length).toBeGreaterThan(0);
      // Guild (0) always; the bot's DMs (1) for commands usable there.
      expect(command['contexts']).toEqual(definition.dm ? [0, 1] : [0]);
      const declared =
        definition.subcommands || definition.groups
          ? [...(definition.subcommands ?? []), ...(definition.groups ?? [])].map((part) => part.name)
          : (definition.options?.map((option) => option.name) ?? []);
      expect(optionsOf(command).map((option) => option.name).sort()).toEqual([...declared].sort());
      const lists = [optionsOf(command), ...optionsOf(command).filter((option) => option.type === 1).map((option) => option.options ?? [])];
      for (const list of lists) {
        const firstOptional = list.findIndex((option) => option.required !== true);
        const lastRequired = list.map((option) => option.required === true).lastIndexOf(true);
        expect(firstOptional === -1 || lastRequired < firstOptional, `${definition.name}: required options first`).toBe(true);
      }
    }
    const imagine = registered.find((command) => command['name'] === 'imagine')!;
    const byName = Object.fromEntries(optionsOf(imagine).map((option) => [option.name, option]));
    expect(optionsOf(imagine)[0]).toMatchObject({ name: 'prompt', type: 3, required: true });
    expect(byName['model']).toMatchObject({ type: 3, autocomplete: true });
    expect(byName['size']).toMatchObject({ type: 3, autocomplete: true });
    expect(byName['image']).toMatchObject({ type: 11 });
    expect(byName['seed']).toMatchObject({ type: 4, min_value: 0 });
    expect(byName['count']).toMatchObject({ type: 4, min_value: 1, max_value: 4 });
    expect(byName['private']).toMatchObject({ type: 5 });
    // /mod: a subcommand group for the blocklist, a channel option limited to text channels.
    const mod = registered.find((command) => command['name'] === 'mod')!;
    const blocklist = optionsOf(mod).find((option) => option.name === 'blocklist')!;
    expect(blocklist.type).toBe(2);
    expect((blocklist.options ?? []).map((option) => [option.name, option.type])).toEqual([
      ['add', 1],
      ['remove', 1],
      ['list', 1],
    ]);
    const channel = optionsOf(mod).find((option) => option.name === 'channel')!;
    expect((channel.options ?? []).find((option) => option.name === 'channel')).toMatchObject({ type: 7, channel_types: [0, 5] });
    const animate = registered.find((command) => command['name'] === 'animate')!;
    expect(optionsOf(animate).map((option) => option.name)).toEqual(expect.arrayContaining(['first_frame', 'last_frame', 'duration']));
    const key = registered.find((command) => command['name'] === 'key')!;
    expect(optionsOf(key).map((option) => [option.name, option.type])).toEqual([
      ['set', 1],
      ['status', 1],
      ['remove', 1],
    ]);
  }

  it('registers every command globally and exits 0', async () => {
    // The server's own set (another test may have registered one) is left as it was.
    const guildCommands = discord.registeredCommands(guild.id);
    const run = await register(env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^Registered ${COMMANDS.length} commands globally: /imagine`));
    const registered = discord.registeredCommands();
    expectAllCommands(registered);
    expect(discord.registeredCommands(guild.id)).toEqual(guildCommands);
    const put = discord.requests.filter((request) => request.method === 'PUT');
    expect(put.at(-1)?.path).toBe(`/applications/${discord.applicationId}/commands`);
    expect(put.at(-1)?.headers['authorization']).toBe(`Bot ${discord.token}`);

    // Running it again replaces the set (same ids), it does not add to it.
    const ids = registered.map((command) => command['id']).sort();
    expect((await register(env)).code).toBe(0);
    expect(discord.registeredCommands().map((command) => command['id']).sort()).toEqual(ids);
  });

  it('with DISCORD_GUILD_ID registers to that server only', async () => {
    const before = discord.registeredCommands().length;
    const run = await register({ ...env, DISCORD_GUILD_ID: guild.id });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`to server ${guild.id}`);
    expectAllCommands(discord.registeredCommands(guild.id));
    expect(discord.registeredCommands()).toHaveLength(before);
  });

  it('missing variables: exit 78 with a message naming them', async () => {
    const [none, tokenOnly] = await Promise.all([
      register({ DISCORD_API_URL: discord.apiUrl }),
      register({ DISCORD_TOKEN: discord.token, DISCORD_API_URL: discord.apiUrl }),
    ]);
    expect(none.code).toBe(78);
    expect(none.stderr).toMatch(/DISCORD_TOKEN/);
    expect(none.stderr).toMatch(/DISCORD_APPLICATION_ID/);
    expect(tokenOnly.code).toBe(78);
    expect(tokenOnly.stderr).toMatch(/DISCORD_APPLICATION_ID/);
    expect(tokenOnly.stdout).toBe('');
  });

  it('a token Discord rejects: a non-zero exit with a message, nothing registered', async () => {
    const before = discord.requests.filter((request) => request.method === 'PUT').length;
    const run = await register({ ...env, DISCORD_TOKEN: 'not-the-token', DISCORD_GUILD_ID: guild.id });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/Registering the commands failed/);
    expect(run.stderr).not.toContain('not-the-token');
    expect(discord.requests.filter((request) => request.method === 'PUT' && request.status === 200).length).toBe(before);
  });
});
