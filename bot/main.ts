/** Starts the bot process: config, Redis, catalog, adapter, app, HTTP server; closes them on SIGTERM. */
import { loadCatalog } from '../core/catalog.ts';
import { ChoiceCache } from '../core/choices.ts';
import { choiceLoader, Connections } from '../runner/connectors/registry.ts';
import type { Config } from '../core/config.ts';
import { isMain, runProcess } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import { createReportQueue } from '../core/queue.ts';
import { createRedis } from '../core/redis.ts';
import { createAdapter } from './adapter.ts';
import { createApp } from './app.ts';
import { ConversationStore } from './conversations.ts';
import { ProactiveSender } from './proactive.ts';
import { createServer } from './server.ts';

export interface RunningBot {
  url: string;
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
  const app = createApp(adapter, { config, log, catalog, queue, conversations, redis, choices, sender });
  const server = createServer(config, adapter, app, log);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.host, () => resolve());
  });
  const address = server.address();
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${address.port}`;
  log.info({ endpoint: `${url}/api/messages`, reports: [...catalog.reports.keys()], auth: config.localMode ? 'off (local mode)' : 'on' }, 'bot listening');
  return {
    url,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queue.close();
      await connections.close();
      // BullMQ leaves a connection it was given open: it is ours to close.
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

if (isMain(import.meta.url)) await runProcess('bot', startBot);
