import type { z } from 'zod';
import type { GenerationService } from '../src/jobs/service.js';
import type { GalleryService } from '../src/services/gallery.js';
import type { KeyService } from '../src/services/keys.js';
import type { ModerationService } from '../src/moderation/service.js';
import type { CommandContext } from './context.js';

/** What command handlers may use. Built once by the owning process and shared by every adapter. */
export interface Services {
  generation: GenerationService;
  keys: KeyService;
  gallery: GalleryService;
  moderation: ModerationService;
  /** Largest accepted attachment, for help texts. */
  maxInputBytes: number;
  maxActiveJobsPerUser: number;
}

export type OptionType = 'string' | 'integer' | 'number' | 'boolean' | 'attachment' | 'user' | 'channel';

/** One option as platforms show it; the adapters derive their registration payloads from this. */
export interface CommandOption {
  name: string;
  description: string;
  type: OptionType;
  required?: boolean;
  choices?: ReadonlyArray<{ name: string; value: string | number }>;
  /** Values are suggested as the user types (Discord autocomplete). */
  autocomplete?: boolean;
  minValue?: number;
  maxValue?: number;
  minLength?: number;
  maxLength?: number;
}

export interface Subcommand {
  name: string;
  description: string;
  options: readonly CommandOption[];
}

/** Subcommands under a common name (`/mod blocklist add`); the adapter passes it as `group`. */
export interface SubcommandGroup {
  name: string;
  description: string;
  subcommands: readonly Subcommand[];
}

/**
 * A command as data. `input` parses the raw options an adapter collected (`{ subcommand?, ...options }`)
 * so a handler receives typed, validated values; a parse failure becomes a private INVALID_PARAMS reply.
 */
export interface CommandDefinition<Input extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  /** Usable in a direct message with the bot. */
  dm: boolean;
  options?: readonly CommandOption[];
  subcommands?: readonly Subcommand[];
  groups?: readonly SubcommandGroup[];
  input: Input;
  run(ctx: CommandContext, input: z.output<Input>, services: Services): Promise<void>;
}

/** Follow-ups to buttons and forms: custom ids are `<handler>:<arg>:<arg>…` and carry all they need. */
export interface ComponentHandler {
  name: string;
  run(ctx: CommandContext, args: string[], services: Services, formValues?: Record<string, string>): Promise<void>;
}

export const componentId = (handler: string, ...args: Array<string | number>) => [handler, ...args].join(':');

export function parseComponentId(id: string): { handler: string; args: string[] } {
  const [handler = '', ...args] = id.split(':');
  return { handler, args };
}

export function defineCommand<Input extends z.ZodType>(definition: CommandDefinition<Input>): CommandDefinition<Input> {
  return definition;
}
