/**
 * The bot's HTTP server (restify): POST /api/messages for the Bot Framework, POST /api/actions/<verb>
 * for Outlook actionable messages (when configured), and for operations GET /healthz (alive),
 * GET /readyz (dependencies reachable, else 503 naming them), GET /metrics (Prometheus).
 * Built here, started by bot/main.ts, mounted by tests on a random port.
 */
import restify from 'restify';
import type { Application, TeamsAdapter, TurnState } from '@microsoft/teams-ai';
import type { Config } from '../core/config.ts';
import type { Readiness } from '../core/health.ts';
import type { Logger } from '../core/logger.ts';
import { recordActivity, recordAuthRejected, renderMetrics } from '../core/metrics.ts';
import { mountActions } from './actions.ts';
import type { BotDeps } from './context.ts';

/** What the operations endpoints need from the process. */
export interface ServerOps {
  readiness: Readiness;
}

export function createServer(
  config: Config, adapter: TeamsAdapter, app: Application<TurnState>, log: Logger, deps: BotDeps, ops: ServerOps,
): restify.Server {
  const server = restify.createServer({ name: 'report-bot', handleUncaughtExceptions: false });
  // Per route, not server.use(): the actions endpoint must verify its token before any body is read.
  const bodyParser = restify.plugins.bodyParser({ maxBodySize: config.MAX_BODY_BYTES, mapParams: false, rejectUnknown: true });

  server.post('/api/messages', bodyParser, async (req, res) => {
    const body = req.body as unknown;
    if (!body || typeof body !== 'object' || Array.isArray(body) || typeof (body as { type?: unknown }).type !== 'string') {
      res.send(400, { error: { code: 'BadRequest', message: 'the body must be a Bot Framework activity (a JSON object with a "type")' } });
      return;
    }
    await adapter.process(req, res, (context) => app.run(context).then(() => undefined));
    // The adapter answers 401 itself when the token is missing or invalid (bot/adapter.ts fails closed).
    if (res.statusCode === 401 || res.statusCode === 403) recordAuthRejected();
    else recordActivity((body as { type: string }).type);
  });

  mountActions(server, deps);

  server.get('/healthz', async (_req, res) => {
    res.send(200, { status: 'ok' });
  });

  server.get('/readyz', async (_req, res) => {
    const report = await ops.readiness.check();
    res.header('cache-control', 'no-store');
    res.send(report.status === 'ready' ? 200 : 503, report);
  });

  server.get('/metrics', async (_req, res) => {
    const { contentType, body } = await renderMetrics();
    // Raw write: restify's formatters would JSON-encode a string body for an unknown content type.
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
    res.end(body);
  });

  server.on('restifyError', (req, _res, err, callback) => {
    log.warn({ err: { name: err.name, message: err.message }, path: req.path() }, 'request rejected');
    callback();
  });
  return server;
}
