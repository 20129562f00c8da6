import { sentence } from './text.js';
import { DEFAULT_WORDS, type PlatformWords } from './words.js';

/**
 * Every failure a user can meet has a code here, and `userMessage` is the one mapping from a code to
 * words. Adapters show `userMessage(error)`; nothing else turns an error into chat text.
 */

export const ERROR_CODES = [
  // The user's request, refused before any fal call.
  'NO_KEY',
  'UNKNOWN_MODEL',
  'INVALID_PARAMS',
  'BAD_INPUT_FILE',
  'INPUT_TOO_LARGE',
  'TOO_MANY_JOBS',
  'NOT_ALLOWED',
  'NOT_FOUND',
  // The community's moderation, also before any fal call.
  'BANNED',
  'PROMPT_BLOCKED',
  'MODEL_NOT_ALLOWED',
  'DAILY_LIMIT',
  'NOT_MODERATOR',
  // fal's answers.
  'INVALID_KEY',
  'FORBIDDEN',
  'SAFETY_BLOCKED',
  'RATE_LIMITED',
  'PROVIDER_UNAVAILABLE',
  'PROVIDER_TIMEOUT',
  // Ours.
  'STORAGE_FAILED',
  'CANCELLED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorDetails {
  /** The input field at fault, for INVALID_PARAMS. */
  field?: string;
  /** Allowed values or names, when the fault is a choice. */
  allowed?: string[];
  /** A short human reason from the validator or fal (never a stack, never a secret). */
  reason?: string;
  /** For TOO_MANY_JOBS. */
  limit?: number;
  /** For INPUT_TOO_LARGE. */
  maxBytes?: number;
  /** fal's request id, when there was one. */
  requestId?: string;
  /** For DAILY_LIMIT: when the next generation frees up (ms). */
  until?: number;
  /** For PROMPT_BLOCKED: the blocklist entry the prompt matched. */
  matched?: string;
}

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['RATE_LIMITED', 'PROVIDER_UNAVAILABLE', 'STORAGE_FAILED']);

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = details;
    this.retryable = options.retryable ?? RETRYABLE.has(code);
  }

  /** A plain, serialisable shape for job data and events (no stack, no cause). */
  toJSON(): SerializedError {
    return { code: this.code, message: this.message, details: this.details, retryable: this.retryable };
  }
}

export interface SerializedError {
  code: ErrorCode;
  message: string;
  details: ErrorDetails;
  retryable: boolean;
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Rebuilds an AppError from its serialised form (job results cross Redis as JSON). */
export function fromSerialized(value: SerializedError): AppError {
  return new AppError(value.code, value.message, value.details, { retryable: value.retryable });
}


const formatBytes = (bytes: number) =>
  bytes >= 1024 * 1024 ? `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB` : `${Math.round(bytes / 1024)} KiB`;

/**
 * The words a community member reads, with the platform's command names. Never includes a stack, an
 * object dump or a secret.
 */
export function userMessage(error: unknown, words: PlatformWords = DEFAULT_WORDS): string {
  const appError = toAppError(error);
  const { details } = appError;
  switch (appError.code) {
    case 'NO_KEY':
      return `You have not registered a fal key yet. Register it with ${words.registerKey}; your key is stored encrypted and only its last four characters are ever shown.`;
    case 'UNKNOWN_MODEL': {
      const known = details.allowed?.length ? ` Try one of: ${details.allowed.join(', ')}.` : ` ${words.models} lists the ones you can use.`;
      return details.reason ? `${sentence(details.reason)}${known}` : `I don't know that model.${known}`;
    }
    case 'INVALID_PARAMS': {
      const reason = details.reason ?? appError.message;
      const firstAllowed = details.allowed?.[0];
      const allowed = firstAllowed !== undefined && !reason.includes(firstAllowed) ? ` Allowed: ${details.allowed?.join(', ')}.` : '';
      return sentence(`That request has a problem: ${reason}`) + allowed;
    }
    case 'BAD_INPUT_FILE':
      return sentence(`I can't use that attachment: ${details.reason ?? appError.message}`);
    case 'INPUT_TOO_LARGE':
      return `That attachment is too large${details.maxBytes ? ` (the limit is ${formatBytes(details.maxBytes)})` : ''}.`;
    case 'TOO_MANY_JOBS':
      return `You already have ${details.limit === 1 ? 'a generation' : `${details.limit ?? 'the maximum number of'} generations`} in progress. Wait for one to finish, or cancel one with ${words.jobs}.`;
    case 'NOT_ALLOWED':
      return details.reason ?? "You're not allowed to do that.";
    case 'NOT_FOUND':
      return details.reason ?? 'That item no longer exists.';
    case 'BANNED':
      return `The moderators of ${words.community} have banned you from generating here${details.reason ? ` (${sentence(details.reason).slice(0, -1)})` : ''}. Ask them if you think this is a mistake.`;
    case 'PROMPT_BLOCKED':
      return `Your prompt contains something ${words.community} does not allow${details.matched ? ` ("${details.matched}")` : ''}. Nothing was generated; please rephrase it.`;
    case 'MODEL_NOT_ALLOWED':
      return `${sentence(details.reason ?? `${words.community} does not allow that model`)}${details.allowed?.length ? ` Allowed here: ${details.allowed.join(', ')}.` : ''}`;
    case 'DAILY_LIMIT':
      return `You have reached ${words.community}'s limit of ${details.limit === 1 ? '1 generation' : `${details.limit ?? 'its'} generations`} a day.${details.until ? ` Your next one frees up at ${new Date(details.until).toISOString().slice(11, 16)} UTC.` : ''}`;
    case 'NOT_MODERATOR':
      return `Only moderators of ${words.community} can do that.${details.reason ? ` ${sentence(details.reason)}` : ''}`;
    case 'INVALID_KEY':
      return `fal rejected your key (it may have been revoked or mistyped). Register it again with ${words.registerKey}.`;
    case 'FORBIDDEN':
      return details.reason
        ? `${sentence(`fal refused the request: ${details.reason}`)} Check your fal account (balance and key permissions).`
        : 'fal refused the request for your key. Check your fal account (balance and key permissions).';
    case 'SAFETY_BLOCKED':
      return "fal's content policy blocked this request (the prompt or an input image was flagged). Nothing was generated; try rewording the prompt or using another image.";
    case 'RATE_LIMITED':
      return 'fal is rate-limiting your key right now. I will retry automatically; if it keeps happening, try again in a few minutes.';
    case 'PROVIDER_UNAVAILABLE':
      return details.reason ? sentence(details.reason) : 'fal is having trouble right now. I retried several times without success; please try again later.';
    case 'PROVIDER_TIMEOUT':
      return 'The generation took too long and was stopped. Please try again, perhaps with a simpler request.';
    case 'STORAGE_FAILED':
      return 'Your result was generated but I could not save it yet. I keep retrying and will post it as soon as it is saved.';
    case 'CANCELLED':
      return 'The generation was cancelled.';
    case 'INTERNAL':
      return 'Something went wrong on our side. The team has the details; please try again.';
  }
}

/** Wraps anything thrown into an AppError; unknown errors become INTERNAL (their text is logged, not shown). */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  return new AppError('INTERNAL', error instanceof Error ? error.message : String(error), {}, { cause: error });
}
