import { z } from 'zod';
import { AppError, toAppError } from '../src/errors.js';
import type { Logger } from '../src/logger.js';
import { wordsFor, type PlatformWords } from '../src/words.js';
import { looksLikeFalKey } from '../src/services/keys.js';
import { cancelComponent, help, jobs, key, keyComponents, KEY_FORM, models } from './account.js';
import type { CommandContext } from './context.js';
import { parseComponentId, type CommandDefinition, type ComponentHandler, type Services } from './define.js';
import { animate, imagine, keyInTextRefusal } from './generate.js';
import { gallery, galleryComponents } from './gallery.js';
import { mod, reviewComponents } from './mod.js';
import { errorReply } from './render.js';

export type { Attachment, Button, Card, CommandContext, FormSpec, Message } from './context.js';
export type { CommandDefinition, CommandOption, ComponentHandler, Services } from './define.js';
export { componentId, parseComponentId } from './define.js';
export { deliveryMessage, progressMessage, queuedMessage } from './render.js';
export { suggest, type Choice } from './autocomplete.js';

/** Every slash command, as data: adapters register and route from this list. */
export const COMMANDS = [imagine, animate, gallery, key, jobs, models, help, mod] as const satisfies readonly CommandDefinition[];

export const COMPONENTS: readonly ComponentHandler[] = [...keyComponents, cancelComponent, ...galleryComponents, ...reviewComponents];

const commandsByName = new Map<string, CommandDefinition>(COMMANDS.map((command) => [command.name, command as CommandDefinition]));
const componentsByName = new Map(COMPONENTS.map((component) => [component.name, component]));

export function findCommand(name: string): CommandDefinition | undefined {
  return commandsByName.get(name);
}

/**
 * The one error handler: whatever a command throws becomes a private reply in the user's words
 * (never a stack or an object dump); unexpected errors are logged with their details.
 */
async function answerError(ctx: CommandContext, error: unknown, logger: Logger, what: string): Promise<void> {
  const appError = toAppError(error);
  if (appError.code === 'INTERNAL') logger.error({ err: error, what, user: ctx.user.platformUserId }, 'command failed');
  else logger.info({ code: appError.code, what }, 'request refused');
  try {
    await ctx.reply(errorReply(appError, wordsFor(ctx.platform)));
  } catch (replyError) {
    logger.warn({ err: replyError, what }, 'could not send the error reply');
  }
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** A zod issue in a member's words, naming the option as they type it on their platform. */
function invalidOptions(error: z.ZodError, rawOptions: Record<string, unknown>, words: PlatformWords): AppError {
  const [issue] = error.issues;
  const field = issue?.path.map(String).join('.') || 'options';
  const shown = issue?.path.length === 1 ? words.optionName(field) : field;
  const value = issue ? valueAt(rawOptions, issue.path) : undefined;
  const got = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
  let reason: string;
  switch (issue?.code) {
    case 'invalid_type':
      reason =
        value === undefined
          ? `${shown} is required`
          : `${shown} must be ${issue.expected === 'number' ? 'a number' : issue.expected === 'boolean' ? 'true or false' : `a ${issue.expected}`}${got}`;
      break;
    case 'too_big':
      reason = `${shown} must be at most ${String(issue.maximum)}${got}`;
      break;
    case 'too_small':
      reason = `${shown} must be at least ${String(issue.minimum)}${got}`;
      break;
    case 'invalid_value':
      reason = `${shown} must be one of ${issue.values.map(String).join(', ')}${got}`;
      break;
    default:
      reason = `${shown} is not valid${got}`;
  }
  return new AppError('INVALID_PARAMS', reason, { field, reason });
}

/**
 * A key typed where keys do not belong (a prompt, a reason, a blocklist entry) is refused before any
 * handler sees it: it must not be posted, stored, logged or sent to fal. Only the key form takes one.
 */
function refuseKeyInText(ctx: CommandContext, values: Iterable<unknown>): void {
  for (const value of values) {
    if (typeof value === 'string' && looksLikeFalKey(value)) {
      throw new AppError('NOT_ALLOWED', 'fal key in typed text', { reason: keyInTextRefusal(ctx.platform) });
    }
  }
}

/** Runs a slash command with the raw options the adapter collected. */
export async function runCommand(name: string, rawOptions: Record<string, unknown>, ctx: CommandContext, services: Services, logger: Logger): Promise<void> {
  const command = findCommand(name);
  try {
    if (!command) throw new AppError('NOT_FOUND', `unknown command ${name}`, { reason: 'I do not know that command. Try /help.' });
    if (ctx.isDirectMessage && !command.dm) {
      throw new AppError('NOT_ALLOWED', 'not in DMs', { reason: 'That command works in a server channel, not in a direct message.' });
    }
    refuseKeyInText(ctx, Object.values(rawOptions));
    const parsed = command.input.safeParse(rawOptions);
    if (!parsed.success) throw invalidOptions(parsed.error, rawOptions, wordsFor(ctx.platform));
    await command.run(ctx, parsed.data, services);
  } catch (error) {
    await answerError(ctx, error, logger, `/${name}`);
  }
}

/** Runs a button press or form submission by its custom id. */
export async function runComponent(
  customId: string,
  ctx: CommandContext,
  services: Services,
  logger: Logger,
  formValues?: Record<string, string>,
): Promise<void> {
  const { handler, args } = parseComponentId(customId);
  try {
    const component = componentsByName.get(handler);
    if (!component) throw new AppError('NOT_FOUND', `unknown component ${handler}`, { reason: 'That button no longer works.' });
    if (formValues && handler !== KEY_FORM) refuseKeyInText(ctx, Object.values(formValues));
    await component.run(ctx, args, services, formValues);
  } catch (error) {
    await answerError(ctx, error, logger, `component ${handler}`);
  }
}
