/**
 * The bot's HTTP server (restify): POST /api/messages for the Bot Framework, GET /healthz.
 * Built here, started by bot/main.ts, mounted by tests on a random port.
 */
import restify from 'restify';
import type { Application, TeamsAdapter, TurnState } from '@microsoft/teams-ai';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';

export function createServer(config: Config, adapter: TeamsAdapter, app: Application<TurnState>, log: Logger): restify.Server {
  const server = restify.createServer({ name: 'report-bot', handleUncaughtExceptions: false });
  server.use(restify.plugins.bodyParser({ maxBodySize: config.MAX_BODY_BYTES, mapParams: false, rejectUnknown: true }));

  server.post('/api/messages', async (req, res) => {
    const body = req.body as unknown;
    if (!body || typeof body !== 'object' || Array.isArray(body) || typeof (body as { type?: unknown }).type !== 'string') {
      res.send(400, { error: { code: 'BadRequest', message: 'the body must be a Bot Framework activity (a JSON object with a "type")' } });
      return;
    }
    await adapter.process(req, res, (context) => app.run(context).then(() => undefined));
  });

  server.get('/healthz', async (_req, res) => {
    res.send(200, { status: 'ok' });
  });

  server.on('restifyError', (req, _res, err, callback) => {
    log.warn({ err: { name: err.name, message: err.message }, path: req.path() }, 'request rejected');
    callback();
  });
  return server;
}
