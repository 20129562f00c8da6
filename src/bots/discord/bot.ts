import {
  ApplicationCommandOptionType,
  Client,
  Events,
  GatewayIntentBits,
  REST,
  type AutocompleteInteraction,
  type CommandInteractionOption,
  type Interaction,
} from 'discord.js';
import { once } from 'node:events';
import { suggest } from '../../../commands/autocomplete.js';
import type { Services } from '../../../commands/define.js';
import { runCommand, runComponent } from '../../../commands/index.js';
import type { DiscordConfig } from '../../config.js';
import type { Job } from '../../db/index.js';
import type { PipelineEvents } from '../../jobs/deliver.js';
import type { GenerateProgress } from '../../jobs/types.js';
import type { Logger } from '../../logger.js';
import type { StorageDriver } from '../../storage/types.js';
import { DiscordContext } from './context.js';
import { DiscordDeliverer, type DiscordDelivererOptions } from './deliverer.js';

export interface DiscordBotOptions {
  config: DiscordConfig;
  services: Services;
  events: PipelineEvents;
  storage: StorageDriver;
  logger: Logger;
  deliverer?: DiscordDelivererOptions;
  /** If a handler has not answered by then, the adapter acknowledges for it (Discord allows 3 s). */
  safetyDeferMs?: number;
}

/**
 * Options as the command definitions name them: `{ subcommand?, option: value | attachment | user id }`.
 * `partial` (autocomplete): an attachment Discord did not resolve still counts as present.
 */
export function collectOptions(options: readonly CommandInteractionOption[], partial = false): Record<string, unknown> {
  const collected: Record<string, unknown> = {};
  for (const option of options) {
    switch (option.type) {
      case ApplicationCommandOptionType.Subcommand:
      case ApplicationCommandOptionType.SubcommandGroup:
        collected[option.type === ApplicationCommandOptionType.Subcommand ? 'subcommand' : 'group'] = option.name;
        Object.assign(collected, collectOptions(option.options ?? [], partial));
        break;
      case ApplicationCommandOptionType.Attachment:
        if (option.attachment) {
          collected[option.name] = {
            name: option.attachment.name,
            url: option.attachment.url,
            ...(option.attachment.contentType ? { contentType: option.attachment.contentType } : {}),
            size: option.attachment.size,
          };
        } else if (partial && option.value !== undefined) {
          collected[option.name] = { id: option.value };
        }
        break;
      case ApplicationCommandOptionType.User:
        collected[option.name] = option.user?.id ?? option.value;
        break;
      case ApplicationCommandOptionType.Channel:
        collected[option.name] = option.channel?.id ?? option.value;
        break;
      default:
        collected[option.name] = option.value;
    }
  }
  return collected;
}

/**
 * The Discord adapter: discord.js in, the platform-neutral commands in the middle, the deliverer out.
 * It knows nothing of fal, storage layout or SQL; it translates payloads.
 */
export class DiscordBot {
  readonly client: Client;
  readonly deliverer: DiscordDeliverer;
  private readonly log: Logger;
  private readonly onProgress = (job: Job, progress: GenerateProgress) => {
    if (job.platform === 'discord') this.deliverer.onProgress(job, progress);
  };

  constructor(private readonly options: DiscordBotOptions) {
    this.log = options.logger.child({ component: 'discord' });
    // Slash commands, buttons and modals need no privileged intent; Guilds keeps channel and
    // permission data current. No message content, no members, no presences.
    this.client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: options.config.apiUrl } });
    // The deliverer has its own REST client with the token set at once: results of jobs queued
    // before a restart can be posted before the gateway connection is back.
    const rest = new REST({ api: options.config.apiUrl }).setToken(options.config.token);
    this.deliverer = new DiscordDeliverer(rest, options.storage, this.log, options.deliverer);
    this.client.on(Events.InteractionCreate, (interaction) => {
      this.handle(interaction).catch((error: unknown) => this.log.error({ err: error }, 'interaction handling failed'));
    });
    this.client.on(Events.Error, (error) => this.log.error({ err: error }, 'discord client error'));
    options.events.on('progress', this.onProgress);
  }

  async connect(): Promise<void> {
    const ready = once(this.client, Events.ClientReady);
    await this.client.login(this.options.config.token);
    await ready;
    this.log.info({ user: this.client.user?.tag, guilds: this.client.guilds.cache.size }, 'Discord: connected');
  }

  async close(): Promise<void> {
    this.options.events.off('progress', this.onProgress);
    await this.client.destroy();
  }

  private async handle(interaction: Interaction): Promise<void> {
    const { services, logger } = this.options;
    if (interaction.isAutocomplete()) return this.autocomplete(interaction);
    if (!interaction.isChatInputCommand() && !interaction.isButton() && !interaction.isModalSubmit()) return;
    const ctx = new DiscordContext(interaction, this.options.config.applicationId);
    // Progress and results of a job this interaction starts wait for the handler's own answer.
    const release = this.deliverer.holdEdits(interaction.token);
    const safety = setTimeout(() => {
      if (!ctx.hasResponded) ctx.defer({ private: true }).catch((error: unknown) => this.log.warn({ err: error }, 'safety defer failed'));
    }, this.options.safetyDeferMs ?? 2_000);
    try {
      if (interaction.isChatInputCommand()) {
        await runCommand(interaction.commandName, collectOptions(interaction.options.data), ctx, services, logger);
      } else if (interaction.isButton()) {
        await runComponent(interaction.customId, ctx, services, logger);
      } else {
        const values = Object.fromEntries(interaction.fields.fields.filter((field) => 'value' in field).map((field) => [field.customId, String(field.value)]));
        await runComponent(interaction.customId, ctx, services, logger, values);
      }
    } finally {
      clearTimeout(safety);
      release();
    }
  }

  private async autocomplete(interaction: AutocompleteInteraction): Promise<void> {
    const focused = interaction.options.getFocused(true);
    const allowed = this.options.services.moderation.allowedModels({ platform: 'discord', workspaceId: interaction.guildId ?? '' });
    const choices = suggest(interaction.commandName, focused.name, String(focused.value), collectOptions(interaction.options.data, true), allowed);
    await interaction.respond(choices).catch((error: unknown) => this.log.debug({ err: error }, 'autocomplete answer failed'));
  }
}
