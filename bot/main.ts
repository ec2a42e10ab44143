/**
 * Starts the bot process: config, Redis, catalog, adapter, app, HTTP server (with /healthz, /readyz,
 * /metrics) and, when configured, the admin queue view. SIGTERM: /readyz turns 503, the server stops
 * accepting connections, requests in flight get SHUTDOWN_GRACE_MS to finish, then everything closes.
 */
import { Archive } from '../core/archive.ts';
import { loadCatalog } from '../core/catalog.ts';
import { ChoiceCache } from '../core/choices.ts';
import { choiceLoader, Connections } from '../runner/connectors/registry.ts';
import type { Config } from '../core/config.ts';
import { blobCheck, connectionChecks, Readiness, redisCheck } from '../core/health.ts';
import { closeHttpServer, isMain, runProcess } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import { watchQueue } from '../core/metrics.ts';
import { createReportQueue } from '../core/queue.ts';
import { createRedis } from '../core/redis.ts';
import { createAdapter } from './adapter.ts';
import { startAdminBoard } from './admin.ts';
import { createApp } from './app.ts';
import { ConversationStore } from './conversations.ts';
import { ProactiveSender } from './proactive.ts';
import { createServer } from './server.ts';

export interface RunningBot {
  url: string;
  /** The admin queue view's base URL, when ADMIN_BOARD_PORT is set. */
  adminUrl?: string;
  /** Idempotent. */
  close(): Promise<void>;
}

/** Start the bot with `config`; `port` 0 picks a free port (tests). */
export async function startBot(config: Config, log: Logger): Promise<RunningBot> {
  // Same rules as the runner: a report on an unconfigured connection is not offered at all.
  const catalog = await loadCatalog(config.REPORTS_DIR, new Set(Object.keys(config.connections)));
  for (const err of catalog.errors) log.error({ file: err.file }, `report definition skipped: ${err.message}`);
  const redis = createRedis(config);
  const queue = createReportQueue(config, redis);
  const conversations = new ConversationStore(redis, config.REDIS_PREFIX);
  const adapter = createAdapter(config, log);
  // The bot reads data only for choice lists (e.g. the PCNs a form offers); it never runs a report.
  const connections = new Connections(config.connections);
  const choices = new ChoiceCache(choiceLoader(connections));
  const sender = new ProactiveSender(config, adapter, conversations, log);
  // The bot reads the archive only to hand out download links from the history (it never writes to
  // it); when it is configured, readiness checks it too.
  const archive = config.BLOB_CONNECTION_STRING ? new Archive(config) : undefined;
  const deps = { config, log, catalog, queue, conversations, redis, choices, archive, sender };
  const app = createApp(adapter, deps);
  const readiness = new Readiness([
    redisCheck(redis),
    ...(archive ? [blobCheck(archive)] : []),
    ...connectionChecks(connections),
  ], { timeoutMs: config.READINESS_TIMEOUT_MS, log });
  const unwatchQueue = watchQueue(queue);
  const server = createServer(config, adapter, app, log, deps, { readiness });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.host, () => resolve());
  });
  const address = server.address();
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${address.port}`;
  log.info({
    endpoint: `${url}/api/messages`, reports: [...catalog.reports.keys()], auth: config.localMode ? 'off (local mode)' : 'on',
    outlookActions: config.actions ? `${url}/api/actions/<verb> (${config.actions.token} tokens)`
      : config.ACTIONS_TOKEN === 'entra' ? 'off (needs PUBLIC_BASE_URL, MAIL_SENDER, ACTIONS_TENANT_ID and ACTIONS_AUDIENCE)'
        : 'off (needs PUBLIC_BASE_URL and MAIL_SENDER)',
  }, 'bot listening');
  const admin = await startAdminBoard(config, queue, log).catch(async (err: unknown) => {
    await closeHttpServer(server.server, 0);
    throw err;
  });
  let closing: Promise<void> | undefined;
  return {
    url,
    adminUrl: admin?.url,
    close() {
      closing ??= (async () => {
        readiness.shuttingDown();
        // Requests in flight may still queue jobs: the queue and Redis close only after the server.
        await closeHttpServer(server.server, config.SHUTDOWN_GRACE_MS);
        await admin?.close();
        unwatchQueue();
        await queue.close();
        await connections.close();
        // BullMQ leaves a connection it was given open: it is ours to close.
        await redis.quit().catch(() => redis.disconnect());
        log.info('bot closed');
      })();
      return closing;
    },
  };
}

if (isMain(import.meta.url)) await runProcess('bot', startBot);
