/**
 * The runner's operations endpoint on RUNNER_PORT (node:http; a runner serves nothing else):
 *   GET /healthz  200 while the process runs (liveness)
 *   GET /readyz   200 when Redis, the archive and every connection answer, else 503 naming the failures
 *   GET /metrics  Prometheus text format
 * It stays up until the runner has finished shutting down, so probes keep seeing a live process
 * during the grace period while /readyz reports it as shutting down.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readiness } from '../core/health.ts';
import { closeHttpServer } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import { renderMetrics } from '../core/metrics.ts';

export interface OpsServer {
  /** e.g. http://127.0.0.1:9464 */
  url: string;
  close(): Promise<void>;
}

export interface OpsServerOptions {
  /** 0 = any free port. */
  port: number;
  host: string;
  readiness: Readiness;
  log: Logger;
}

/** Listen on `port`; fails with a clear message when the port is taken. */
export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const server = createServer((req, res) => {
    handle(req, res, opts).catch((err: unknown) => {
      opts.log.error({ err, path: req.url }, 'ops endpoint failed');
      if (!res.headersSent) json(res, 500, { status: 'error' });
      else res.destroy();
    });
  });
  // Probes and scrapes are short; do not let one hold the process open on close.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? new Error(`RUNNER_PORT ${opts.port} is already in use: give each runner on this host its own RUNNER_PORT (0 picks a free one)`, { cause: err })
        : err);
    });
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => closeHttpServer(server, 1_000),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: OpsServerOptions): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    json(res, 405, { error: 'method not allowed' });
    return;
  }
  switch (path) {
    case '/healthz':
      json(res, 200, { status: 'ok' });
      return;
    case '/readyz': {
      const report = await opts.readiness.check();
      json(res, report.status === 'ready' ? 200 : 503, report);
      return;
    }
    case '/metrics': {
      const { contentType, body } = await renderMetrics();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    default:
      json(res, 404, { error: 'not found', endpoints: ['/healthz', '/readyz', '/metrics'] });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
