/**
 * npm run discord:register
 *
 * Registers the slash commands defined in commands/ with Discord, then exits: globally, or to one
 * server when DISCORD_GUILD_ID is set (instant; global commands can take a while to appear).
 */
import { REST, Routes } from 'discord.js';
import { COMMANDS } from '../commands/index.js';
import { toDiscordCommands } from '../src/bots/discord/commands.js';
import { ConfigError, loadConfig } from '../src/config.js';

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 78;
    }
    throw error;
  }
  if (!config.discord) {
    process.stderr.write('Set DISCORD_TOKEN and DISCORD_APPLICATION_ID (from the Discord developer portal) to register the commands.\n');
    return 78;
  }
  const { token, applicationId, apiUrl, guildId } = config.discord;
  const rest = new REST({ api: apiUrl }).setToken(token);
  const body = toDiscordCommands(COMMANDS);
  const route = guildId ? Routes.applicationGuildCommands(applicationId, guildId) : Routes.applicationCommands(applicationId);
  const registered = (await rest.put(route, { body })) as Array<{ name: string }>;
  process.stdout.write(
    `Registered ${registered.length} commands ${guildId ? `to server ${guildId}` : 'globally'}: ${registered.map((command) => `/${command.name}`).join(', ')}\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`Registering the commands failed: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
