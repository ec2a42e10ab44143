/**
 * Starts a runner process: config, Redis, catalog, connections, archive, mutex, the proactive sender
 * and the BullMQ worker, and listens on the cancel channel so that a cancel request reaches the run
 * wherever it is held. SIGTERM stops taking jobs, lets the running ones finish, closes everything.
 */
import { createAdapter } from '../bot/adapter.ts';
import { ConversationStore } from '../bot/conversations.ts';
import { ProactiveSender } from '../bot/proactive.ts';
import { Archive } from '../core/archive.ts';
import { loadCatalog } from '../core/catalog.ts';
import type { Config } from '../core/config.ts';
import { isMain, runProcess } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import { Mutex } from '../core/mutex.ts';
import { createRedis, keys } from '../core/redis.ts';
import { ChoiceCache } from '../core/choices.ts';
import { choiceLoader, Connections } from './connectors/registry.ts';
import { createWorker, type Notifier } from './worker.ts';

export interface RunningRunner {
  close(): Promise<void>;
}

/** Start a runner in this process. `notifier` replaces the Teams sender (benchmarks only). */
export async function startRunner(config: Config, log: Logger, opts: { notifier?: Notifier } = {}): Promise<RunningRunner> {
  const connections = new Connections(config.connections);
  const catalog = await loadCatalog(config.REPORTS_DIR, connections.names());
  for (const err of catalog.errors) log.error({ file: err.file }, `report definition skipped: ${err.message}`);
  const redis = createRedis(config);
  const workerRedis = createRedis(config, { blocking: true });
  const archive = new Archive(config);
  const mutexPrefix = keys(config.REDIS_PREFIX).mutex('');
  const mutex = new Mutex(redis, mutexPrefix);
  const notifier = opts.notifier ?? new ProactiveSender(config, createAdapter(config, log), new ConversationStore(redis, config.REDIS_PREFIX), log);
  const choices = new ChoiceCache(choiceLoader(connections));
  const worker = createWorker({ config, log, catalog, connections, archive, mutex, redis, notifier, choices }, workerRedis);
  await worker.waitUntilReady();
  // A cancel request names a run; only the runner holding it has it tracked, the others ignore it.
  const subscriber = createRedis(config, { blocking: true });
  subscriber.on('message', (_channel: string, runId: string) => {
    if (worker.cancelJob(runId, 'cancelled')) log.info({ runId }, 'cancel requested: aborting the run');
  });
  await subscriber.subscribe(keys(config.REDIS_PREFIX).cancelChannel());
  log.info({ queue: config.QUEUE_NAME, concurrency: config.RUNNER_CONCURRENCY, reports: [...catalog.reports.keys()] }, 'runner ready');
  return {
    async close() {
      await subscriber.quit().catch(() => subscriber.disconnect());
      await worker.close();
      await connections.close();
      await Promise.allSettled([redis.quit(), workerRedis.quit()]);
    },
  };
}

if (isMain(import.meta.url)) await runProcess('runner', (config, log) => startRunner(config, log));
