import { ApiError, ValidationError } from '@fal-ai/client';
import { AppError, isAppError } from '../errors.js';

/**
 * The one place that reads fal's failures. Everything fal can answer becomes an AppError with a code:
 * 401 → INVALID_KEY; 403 → FORBIDDEN (or SAFETY_BLOCKED when it names the content policy);
 * 422 → INVALID_PARAMS naming the field, or SAFETY_BLOCKED for `content_policy_violation`;
 * 429 → RATE_LIMITED; 5xx, network and transport errors → PROVIDER_UNAVAILABLE;
 * a start timeout we asked for → PROVIDER_TIMEOUT.
 */

interface FalErrorDetail {
  loc?: unknown[];
  msg?: string;
  type?: string;
  ctx?: Record<string, unknown>;
}

const SAFETY_TEXT = /content[ _-]?policy|nsfw|safety|unsafe|moderat/i;
const REASON_LIMIT = 240;

const clip = (text: string) => (text.length > REASON_LIMIT ? `${text.slice(0, REASON_LIMIT - 1)}…` : text);

function detailsOf(body: unknown): FalErrorDetail[] {
  if (!body || typeof body !== 'object') return [];
  const detail = (body as { detail?: unknown }).detail;
  if (Array.isArray(detail)) return detail.filter((item): item is FalErrorDetail => !!item && typeof item === 'object');
  if (typeof detail === 'string') return [{ msg: detail }];
  return [];
}

function bodyText(body: unknown): string | undefined {
  if (typeof body === 'string') return body;
  const [first] = detailsOf(body);
  if (first?.msg) return first.msg;
  if (body && typeof body === 'object') {
    const record = body as { message?: unknown; error?: unknown };
    if (typeof record.message === 'string') return record.message;
    if (record.error && typeof record.error === 'object' && typeof (record.error as { message?: unknown }).message === 'string') {
      return (record.error as { message: string }).message;
    }
  }
  return undefined;
}

function fieldOf(detail: FalErrorDetail): string | undefined {
  const path = (detail.loc ?? []).filter((part) => part !== 'body').map(String);
  return path.length ? path.join('.') : undefined;
}

function allowedOf(detail: FalErrorDetail): string[] | undefined {
  const expected = detail.ctx?.expected ?? detail.ctx?.enum_values ?? detail.ctx?.permitted;
  if (Array.isArray(expected)) return expected.map(String);
  if (typeof expected === 'string') {
    const values = [...expected.matchAll(/'([^']+)'/g)].map((match) => match[1] ?? '').filter(Boolean);
    return values.length ? values : undefined;
  }
  return undefined;
}

function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code ?? (error.cause as { code?: unknown } | undefined)?.code;
  return (
    error.name === 'TypeError' ||
    (typeof code === 'string' && /^(ECONN|ENOTFOUND|EAI_AGAIN|EPIPE|ETIMEDOUT|UND_ERR)/.test(code))
  );
}

export function classifyFalError(error: unknown): AppError {
  if (isAppError(error)) return error;
  if (error instanceof ValidationError || (error instanceof ApiError && error.status === 422)) {
    const details = detailsOf(error.body);
    const requestId = error.requestId || undefined;
    const safety = details.find((detail) => detail.type?.includes('content_policy') || SAFETY_TEXT.test(detail.msg ?? ''));
    if (safety) {
      return new AppError('SAFETY_BLOCKED', clip(safety.msg ?? 'content policy violation'), { ...(requestId ? { requestId } : {}) });
    }
    const first = details[0];
    const field = first ? fieldOf(first) : undefined;
    const allowed = first ? allowedOf(first) : undefined;
    const reason = clip(first?.msg ? (field ? `${field}: ${first.msg}` : first.msg) : error.message);
    return new AppError('INVALID_PARAMS', `fal rejected the input: ${reason}`, {
      reason,
      ...(field ? { field } : {}),
      ...(allowed ? { allowed } : {}),
      ...(requestId ? { requestId } : {}),
    });
  }
  if (error instanceof ApiError) {
    const text = bodyText(error.body) ?? error.message;
    const requestId = error.requestId || undefined;
    const base = { ...(requestId ? { requestId } : {}) };
    const status = error.status;
    if (status === 401) return new AppError('INVALID_KEY', 'fal rejected the key', base);
    if (status === 403) {
      if (SAFETY_TEXT.test(text)) return new AppError('SAFETY_BLOCKED', clip(text), base);
      return new AppError('FORBIDDEN', clip(text), { ...base, reason: clip(text) });
    }
    if (status === 429) return new AppError('RATE_LIMITED', clip(text), base);
    if (status === 504 && error.isUserTimeout) return new AppError('PROVIDER_TIMEOUT', clip(text), base);
    if (status === 400) return new AppError('INVALID_PARAMS', clip(text), { ...base, reason: clip(text) });
    if (status === 404) return new AppError('PROVIDER_UNAVAILABLE', `fal does not know this request: ${clip(text)}`, base);
    return new AppError('PROVIDER_UNAVAILABLE', `fal answered HTTP ${status}: ${clip(text)}`, base);
  }
  if (isNetworkError(error)) {
    return new AppError('PROVIDER_UNAVAILABLE', `fal is unreachable: ${(error as Error).message}`, {}, { cause: error });
  }
  return new AppError('INTERNAL', error instanceof Error ? error.message : String(error), {}, { cause: error });
}

/** fal answered that the request id is unknown: resuming it is pointless, a new submit is needed. */
export function isRequestLost(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}
