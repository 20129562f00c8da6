import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../logger.js';
import { isStorageError, type ByteRange, type StorageDriver } from '../storage/types.js';
import { assertSafeKey } from '../storage/keys.js';
import type { Repositories } from '../db/index.js';
import type { LinkBuilder } from '../jobs/deliver.js';
import { renderSharePage, renderGonePage, renderNotFoundPage } from './share-page.js';

export type RouteHandler = (request: IncomingMessage, response: ServerResponse, url: URL) => Promise<void> | void;

export interface HttpServerOptions {
  port: number;
  host?: string;
  logger: Logger;
  repos: Repositories;
  storage: StorageDriver;
  links: LinkBuilder;
  /** Each check throws when its dependency is unreachable. */
  readiness: Record<string, () => Promise<void>>;
  renderMetrics: () => Promise<string>;
}

const SHARE_ID = /^[A-Za-z0-9_-]{22,64}$/;

/**
 * One HTTP port for everything public: share pages, media, health, metrics, and the routes adapters
 * add (Slack's events). Plain node:http: the surface is small and every route streams.
 */
export class HttpServer {
  private readonly server: Server;
  private readonly extraRoutes = new Map<string, RouteHandler>();
  private readonly log: Logger;

  constructor(private readonly options: HttpServerOptions) {
    this.log = options.logger.child({ component: 'http' });
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        this.log.error({ err: error, url: request.url }, 'request failed');
        if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'Internal error');
        else response.destroy();
      });
    });
    // Slow clients must not hold sockets for ever; media streams reset the timer as they flow.
    this.server.requestTimeout = 60_000;
    this.server.headersTimeout = 30_000;
  }

  /** Adds a route such as `POST /slack/events`. */
  route(method: string, path: string, handler: RouteHandler): void {
    this.extraRoutes.set(`${method.toUpperCase()} ${path}`, handler);
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host ?? '0.0.0.0', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  /**
   * Stops accepting connections and waits for requests in flight; after `graceMs` the remaining
   * ones (a slow client halfway through a video) are cut so shutdown cannot hang on them.
   */
  async close(graceMs = 5_000): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => this.server.closeAllConnections(), graceMs);
      force.unref();
      this.server.close(() => {
        clearTimeout(force);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let url: URL;
    try {
      // Concatenated rather than resolved against a base: `//media/x` is a path here, not a host.
      const target = request.url ?? '/';
      url = new URL(target.startsWith('/') ? `http://localhost${target}` : target);
    } catch {
      return send(response, 400, 'text/plain; charset=utf-8', 'Bad request\n');
    }
    const method = request.method ?? 'GET';
    const extra = this.extraRoutes.get(`${method} ${url.pathname}`);
    if (extra) return extra(request, response, url);
    const isRead = method === 'GET' || method === 'HEAD';
    if (isRead && url.pathname === '/healthz') return send(response, 200, 'text/plain; charset=utf-8', 'ok\n');
    if (isRead && url.pathname === '/readyz') return this.readiness(response);
    if (isRead && url.pathname === '/metrics') {
      return send(response, 200, 'text/plain; version=0.0.4; charset=utf-8', await this.options.renderMetrics());
    }
    if (isRead && url.pathname.startsWith('/media/')) return this.media(request, response, url);
    if (isRead && url.pathname.startsWith('/s/')) return this.share(response, url.pathname.slice(3));
    if (isRead && url.pathname === '/') {
      return send(response, 200, 'text/plain; charset=utf-8', 'Atelier is running. Share links look like /s/<id>.\n');
    }
    send(response, 404, 'text/plain; charset=utf-8', 'Not found\n');
  }

  private async readiness(response: ServerResponse): Promise<void> {
    const results = await Promise.all(
      Object.entries(this.options.readiness).map(async ([name, check]) => {
        try {
          await withTimeout(check(), 3_000);
          return [name, 'ok'] as const;
        } catch (error) {
          this.log.warn({ err: error, dependency: name }, 'readiness check failed');
          return [name, 'unavailable'] as const;
        }
      }),
    );
    const ready = results.every(([, state]) => state === 'ok');
    send(response, ready ? 200 : 503, 'application/json', JSON.stringify({ ready, checks: Object.fromEntries(results) }));
  }

  private async media(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const { storage } = this.options;
    let key: string;
    try {
      key = decodeURIComponent(url.pathname.slice('/media/'.length));
      assertSafeKey(key);
    } catch {
      return send(response, 404, 'text/plain; charset=utf-8', 'Not found\n');
    }
    if (storage.name !== 'local') {
      // S3 without a public URL: a short-lived presigned redirect keeps the bucket private. Unknown and
      // removed keys answer 404 here rather than redirecting to S3's error page.
      if (!(await storage.exists(key))) return send(response, 404, 'text/plain; charset=utf-8', 'Not found\n');
      const signed = await storage.presignedUrl(key, 3600);
      if (!signed) return send(response, 404, 'text/plain; charset=utf-8', 'Not found\n');
      response.writeHead(302, { location: signed, 'cache-control': 'private, max-age=300' });
      response.end();
      return;
    }
    const range = parseRange(request.headers.range);
    try {
      const result = await storage.read(key, range === 'invalid' ? undefined : range);
      const headers: Record<string, string | number> = {
        'content-type': result.contentType,
        'accept-ranges': 'bytes',
        // Content never changes under a key, but a moderator may remove it: caches keep it a day at most.
        'cache-control': 'public, max-age=86400',
        'x-content-type-options': 'nosniff',
      };
      if (url.searchParams.has('download')) headers['content-disposition'] = `attachment; filename="${key.split('/').slice(-2).join('-')}"`;
      if (result.range) {
        headers['content-range'] = `bytes ${result.range.start}-${result.range.end}/${result.size}`;
        headers['content-length'] = result.range.end - result.range.start + 1;
        response.writeHead(206, headers);
      } else {
        headers['content-length'] = result.size;
        response.writeHead(200, headers);
      }
      if (request.method === 'HEAD') {
        result.body.destroy();
        response.end();
        return;
      }
      await pipeline(result.body, response).catch((error: unknown) => {
        // A viewer closing the tab mid-video is normal; anything else is worth a line.
        // (`storageKey`, not `key`: the logger redacts every field named key.)
        if ((error as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') this.log.warn({ err: error, storageKey: key }, 'media stream broke');
      });
    } catch (error) {
      if (isStorageError(error, 'NOT_FOUND')) return send(response, 404, 'text/plain; charset=utf-8', 'Not found\n');
      if (isStorageError(error, 'INVALID_RANGE')) {
        // RFC 9110 §14.4: a 416 names the current length (`bytes */<size>`), so the client can retry.
        const size = await this.sizeOf(key);
        if (size === undefined) return send(response, 404, 'text/plain; charset=utf-8', 'Not found\n');
        return send(response, 416, 'text/plain; charset=utf-8', 'Range not satisfiable\n', { 'content-range': `bytes */${size}` });
      }
      throw error;
    }
  }

  private async sizeOf(key: string): Promise<number | undefined> {
    try {
      const whole = await this.options.storage.read(key);
      whole.body.destroy();
      return whole.size;
    } catch {
      return undefined;
    }
  }

  private share(response: ServerResponse, shareId: string): void {
    const asset = SHARE_ID.test(shareId) ? this.options.repos.assets.getAssetByShareId(shareId) : undefined;
    if (!asset) return send(response, 404, 'text/html; charset=utf-8', renderNotFoundPage());
    if (asset.removedAt !== null) return send(response, 410, 'text/html; charset=utf-8', renderGonePage());
    const job = this.options.repos.jobs.getJob(asset.jobId);
    send(
      response,
      200,
      'text/html; charset=utf-8',
      renderSharePage({
        asset,
        shareUrl: this.options.links.shareUrl(asset),
        mediaUrl: this.options.links.mediaUrl(asset),
        posterUrl: asset.posterStorageKey ? this.options.links.mediaUrl({ storageKey: asset.posterStorageKey }) : undefined,
        takenMs: job?.startedAt && job.finishedAt ? job.finishedAt - job.startedAt : undefined,
      }),
      // A held page changes on approval: nothing may keep the preview-less version.
      { 'cache-control': asset.held ? 'no-store' : 'public, max-age=60' },
    );
  }
}

function send(response: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...headers });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

/** `bytes=start-end` and `bytes=start-`; suffix and multi-range requests get the whole file. */
function parseRange(header: string | undefined): ByteRange | 'invalid' | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!match) return 'invalid';
  const start = Number(match[1]);
  const end = match[2] ? Number(match[2]) : undefined;
  if (end !== undefined && end < start) return 'invalid';
  return end === undefined ? { start } : { start, end };
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
