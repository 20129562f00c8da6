import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The probes of a worker-only process (no SQLite, no share pages): `/healthz` says it is alive,
 * `/readyz` that Redis and storage answer. Lets the same container image run as a worker with its
 * healthcheck intact.
 */
export async function startHealthServer(port: number, readiness: Record<string, () => Promise<void>>): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      void Promise.all(
        Object.entries(readiness).map(([name, check]) =>
          check().then(
            () => [name, 'ok'] as const,
            () => [name, 'unavailable'] as const,
          ),
        ),
      ).then((results) => {
        const ready = results.every(([, state]) => state === 'ok');
        response.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready, checks: Object.fromEntries(results) }));
      });
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
