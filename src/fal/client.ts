import { createFalClient, type FalClient } from '@fal-ai/client';
import { AppError } from '../errors.js';

/** Hosts that carry fal traffic: the queue, the REST/storage API, the platform API and the CDN. */
const FAL_HOST = /(^|\.)fal\.(ai|run|media)$/i;
const TARGET_HEADER = 'x-fal-target-url';

export interface FalTransport {
  /** fal's proxy protocol: the request goes to this URL with the real URL in `x-fal-target-url`. */
  proxyUrl?: string | undefined;
  /** Every fal request goes through this fetch (tests may wrap it; production uses the global one). */
  fetch: typeof fetch;
}

export function isFalUrl(url: string | URL): boolean {
  try {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    return parsed.protocol === 'https:' && FAL_HOST.test(parsed.hostname);
  } catch {
    return false;
  }
}

/**
 * A fetch that sends every request bound for a fal host through the proxy, including the two kinds
 * the client's own proxy middleware does not cover: the storage upload PUT and CDN downloads.
 */
export function createFalTransport(proxyUrl: string | undefined, baseFetch: typeof fetch = fetch): FalTransport {
  if (!proxyUrl) return { fetch: baseFetch };
  const proxiedFetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    if (request.headers.has(TARGET_HEADER) || !isFalUrl(request.url)) return baseFetch(request);
    const headers = new Headers(request.headers);
    headers.set(TARGET_HEADER, request.url);
    const body = request.body === null ? null : await request.arrayBuffer();
    return baseFetch(proxyUrl, { method: request.method, headers, body, signal: request.signal, redirect: 'manual' });
  };
  return { proxyUrl, fetch: proxiedFetch };
}

/**
 * One client per job and per key. Never the global `fal.config`: concurrent jobs of different users
 * would race on it. An empty key is refused here because the client would silently send none (and
 * fall back to FAL_KEY from the environment when credentials are omitted).
 */
export function createUserFalClient(key: string, transport: FalTransport): FalClient {
  if (!key.trim()) throw new AppError('NO_KEY', 'empty fal key');
  return createFalClient({
    credentials: key.trim(),
    fetch: transport.fetch,
    ...(transport.proxyUrl ? { proxyUrl: { url: transport.proxyUrl, when: 'always' as const } } : {}),
  });
}

const KEY_CHECK_UNAVAILABLE = 'fal could not check your key just now, so it was not saved. Please try again in a few minutes';

const KEY_CHECK_URL = 'https://api.fal.ai/v1/models/pricing?endpoint_id=fal-ai%2Fflux%2Fschnell';

/**
 * Checks a key with the cheapest authenticated call fal offers (a pricing lookup, no generation).
 * Resolves when fal accepts it; throws INVALID_KEY when fal rejects it, PROVIDER_UNAVAILABLE when fal
 * cannot answer (the key is then not stored: we never store a key we could not check).
 */
export async function checkFalKey(key: string, transport: FalTransport, signal?: AbortSignal): Promise<void> {
  const trimmed = key.trim();
  if (!/^[\w.:-]{16,256}$/.test(trimmed)) {
    throw new AppError('INVALID_KEY', 'malformed fal key', { reason: 'that does not look like a fal key' });
  }
  let response: Response;
  try {
    response = await transport.fetch(KEY_CHECK_URL, {
      headers: { authorization: `Key ${trimmed}`, accept: 'application/json' },
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    throw new AppError('PROVIDER_UNAVAILABLE', 'fal key check failed to connect', { reason: KEY_CHECK_UNAVAILABLE }, { cause: error });
  }
  await response.body?.cancel();
  if (response.ok) return;
  if (response.status === 401 || response.status === 403) {
    throw new AppError('INVALID_KEY', `fal rejected the key (HTTP ${response.status})`);
  }
  if (response.status === 429) throw new AppError('PROVIDER_UNAVAILABLE', 'fal rate-limited the key check', { reason: KEY_CHECK_UNAVAILABLE });
  throw new AppError('PROVIDER_UNAVAILABLE', `fal key check answered HTTP ${response.status}`, { reason: KEY_CHECK_UNAVAILABLE });
}
