import {
  ApplicationCommandOptionType,
  ChannelType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  InteractionContextType,
  type APIApplicationCommandBasicOption,
  type APIApplicationCommandOption,
  type RESTPutAPIApplicationCommandsJSONBody,
} from 'discord.js';
import type { CommandDefinition, CommandOption, Subcommand } from '../../../commands/define.js';

const OPTION_TYPE: Record<CommandOption['type'], ApplicationCommandOptionType> = {
  string: ApplicationCommandOptionType.String,
  integer: ApplicationCommandOptionType.Integer,
  number: ApplicationCommandOptionType.Number,
  boolean: ApplicationCommandOptionType.Boolean,
  attachment: ApplicationCommandOptionType.Attachment,
  user: ApplicationCommandOptionType.User,
  channel: ApplicationCommandOptionType.Channel,
};

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

function toOption(option: CommandOption): APIApplicationCommandBasicOption {
  const base = {
    name: option.name,
    description: clip(option.description, 100),
    required: option.required ?? false,
  };
  const type = OPTION_TYPE[option.type];
  const choices = option.choices?.slice(0, 25).map((choice) => ({ name: choice.name, value: choice.value }));
  switch (type) {
    case ApplicationCommandOptionType.String:
      return {
        ...base,
        type,
        ...(choices ? { choices: choices.map((choice) => ({ name: choice.name, value: String(choice.value) })) } : option.autocomplete ? { autocomplete: true } : {}),
        ...(option.minLength !== undefined ? { min_length: option.minLength } : {}),
        ...(option.maxLength !== undefined ? { max_length: Math.min(option.maxLength, 6000) } : {}),
      };
    case ApplicationCommandOptionType.Integer:
    case ApplicationCommandOptionType.Number:
      // The union narrows per literal type; one shape serves both.
      return {
        ...base,
        type: type as ApplicationCommandOptionType.Integer,
        ...(choices ? { choices: choices.map((choice) => ({ name: choice.name, value: Number(choice.value) })) } : option.autocomplete ? { autocomplete: true } : {}),
        ...(option.minValue !== undefined ? { min_value: option.minValue } : {}),
        ...(option.maxValue !== undefined ? { max_value: option.maxValue } : {}),
      };
    case ApplicationCommandOptionType.Boolean:
    case ApplicationCommandOptionType.Attachment:
    case ApplicationCommandOptionType.User:
      return { ...base, type };
    case ApplicationCommandOptionType.Channel:
      // Where the bot posts messages: text and announcement channels.
      return { ...base, type, channel_types: [ChannelType.GuildText, ChannelType.GuildAnnouncement] };
    default:
      throw new Error(`unsupported option type ${option.type}`);
  }
}

/** Discord wants required options first. */
const requiredFirst = (options: readonly CommandOption[]) => [...options].sort((a, b) => Number(b.required ?? false) - Number(a.required ?? false));

function toSubcommand(subcommand: Subcommand) {
  return {
    type: ApplicationCommandOptionType.Subcommand as const,
    name: subcommand.name,
    description: clip(subcommand.description, 100),
    options: requiredFirst(subcommand.options).map(toOption),
  };
}

/** The platform-neutral definitions in commands/ as Discord application commands. */
export function toDiscordCommands(commands: readonly CommandDefinition[]): RESTPutAPIApplicationCommandsJSONBody {
  return commands.map((command) => {
    const options: APIApplicationCommandOption[] =
      command.subcommands || command.groups
        ? [
            ...(command.subcommands ?? []).map(toSubcommand),
            ...(command.groups ?? []).map((group) => ({
              type: ApplicationCommandOptionType.SubcommandGroup as const,
              name: group.name,
              description: clip(group.description, 100),
              options: group.subcommands.map(toSubcommand),
            })),
          ]
        : requiredFirst(command.options ?? []).map(toOption);
    return {
      type: ApplicationCommandType.ChatInput,
      name: command.name,
      description: clip(command.description, 100),
      options,
      integration_types: [ApplicationIntegrationType.GuildInstall],
      contexts: command.dm ? [InteractionContextType.Guild, InteractionContextType.BotDM] : [InteractionContextType.Guild],
    };
  });
}
