/**
 * Starts a runner process: config, Redis, catalog, connections, archive, mutex, the proactive sender,
 * the ops endpoint (RUNNER_PORT: /healthz, /readyz, /metrics), the BullMQ worker and the maintenance
 * worker (daily history cleanup); it listens on the cancel channel so that a cancel request reaches
 * the run wherever it is held.
 *
 * SIGTERM (core/lifecycle.ts calls close()): /readyz turns 503, the worker stops taking jobs, runs
 * still waiting for their mutex go back to the queue at once, running ones get SHUTDOWN_GRACE_MS to
 * finish; past that they are aborted and handed back. Then connections close and the process exits 0.
 */
import { createAdapter } from '../bot/adapter.ts';
import { ConversationStore } from '../bot/conversations.ts';
import { ProactiveSender } from '../bot/proactive.ts';
import { Archive } from '../core/archive.ts';
import { loadCatalog } from '../core/catalog.ts';
import type { Config } from '../core/config.ts';
import { ShutdownError } from '../core/errors.ts';
import { blobCheck, connectionChecks, Readiness, redisCheck } from '../core/health.ts';
import { isMain, runProcess, settlesWithin } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import { watchQueue } from '../core/metrics.ts';
import { Mutex } from '../core/mutex.ts';
import { createReportQueue } from '../core/queue.ts';
import { createRedis, keys } from '../core/redis.ts';
import { ChoiceCache } from '../core/choices.ts';
import { choiceLoader, Connections } from './connectors/registry.ts';
import { startOpsServer } from './ops.ts';
import { startMaintenance } from './maintenance.ts';
import { GraphDelivery } from './delivery/graph.ts';
import { createWorker, type Notifier } from './worker.ts';

export interface RunningRunner {
  /** Base URL of /healthz, /readyz and /metrics. */
  opsUrl: string;
  /** Stop taking jobs, let running ones finish within SHUTDOWN_GRACE_MS, hand back the rest, close. Idempotent. */
  close(): Promise<void>;
}

/** Start a runner in this process. `notifier` replaces the Teams sender (benchmarks only). */
export async function startRunner(config: Config, log: Logger, opts: { notifier?: Notifier } = {}): Promise<RunningRunner> {
  const connections = new Connections(config.connections);
  const catalog = await loadCatalog(config.REPORTS_DIR, connections.names());
  for (const err of catalog.errors) log.error({ file: err.file }, `report definition skipped: ${err.message}`);
  const redis = createRedis(config);
  const archive = new Archive(config);
  const readiness = new Readiness([redisCheck(redis), blobCheck(archive), ...connectionChecks(connections)], {
    timeoutMs: config.READINESS_TIMEOUT_MS, log,
  });
  // The ops endpoint comes first: a taken RUNNER_PORT stops the runner before it takes any job.
  const ops = await startOpsServer({ port: config.RUNNER_PORT, host: config.host, readiness, log }).catch(async (err: unknown) => {
    redis.disconnect();
    await connections.close();
    throw err;
  });
  const workerRedis = createRedis(config, { blocking: true });
  // A Queue handle only for the queue-depth gauge; the worker takes jobs through its own connection.
  const queue = createReportQueue(config, redis);
  const unwatchQueue = watchQueue(queue);
  const mutexPrefix = keys(config.REDIS_PREFIX).mutex('');
  const mutex = new Mutex(redis, mutexPrefix);
  const notifier = opts.notifier ?? new ProactiveSender(config, createAdapter(config, log), new ConversationStore(redis, config.REDIS_PREFIX), log);
  const choices = new ChoiceCache(choiceLoader(connections));
  // Built at start so a bad credential setting (an unreadable certificate) stops the runner at once.
  const graph = config.graph ? new GraphDelivery(config.graph) : undefined;
  const draining = new AbortController();
  const stopping = new AbortController();
  const maintenance = await startMaintenance({ config, log, catalog, archive, redis }, workerRedis);
  const worker = createWorker({
    config, log, catalog, connections, archive, mutex, redis, notifier, choices, graph, draining: draining.signal, stopping: stopping.signal,
  }, workerRedis);
  await worker.waitUntilReady();
  // A cancel request names a run; only the runner holding it has it tracked, the others ignore it.
  const subscriber = createRedis(config, { blocking: true });
  subscriber.on('message', (_channel: string, runId: string) => {
    if (worker.cancelJob(runId, 'cancelled')) log.info({ runId }, 'cancel requested: aborting the run');
  });
  await subscriber.subscribe(keys(config.REDIS_PREFIX).cancelChannel());
  log.info({
    queue: config.QUEUE_NAME, concurrency: config.RUNNER_CONCURRENCY, reports: [...catalog.reports.keys()], ops: ops.url,
    delivery: config.graph ? { graph: config.graph.baseUrl, files: config.graph.files.kind, email: Boolean(config.graph.mail) } : 'local (download links)',
  }, 'runner ready');

  let closing: Promise<void> | undefined;
  return {
    opsUrl: ops.url,
    close() {
      closing ??= (async () => {
        await subscriber.quit().catch(() => subscriber.disconnect());
        readiness.shuttingDown();
        const drained = worker.close();
        draining.abort(new ShutdownError('the runner is shutting down; the run had not started'));
        log.info({ graceMs: config.SHUTDOWN_GRACE_MS }, 'no longer taking jobs; letting running ones finish');
        if (!(await settlesWithin(drained, config.SHUTDOWN_GRACE_MS))) {
          log.warn({ graceMs: config.SHUTDOWN_GRACE_MS }, 'grace period over: stopping running jobs and handing them back to the queue');
          stopping.abort(new ShutdownError());
          await drained;
        }
        await maintenance.close();
        unwatchQueue();
        await queue.close().catch(() => {});
        await connections.close();
        await Promise.allSettled([redis.quit(), workerRedis.quit()]);
        await ops.close();
        log.info('runner closed');
      })();
      return closing;
    },
  };
}

if (isMain(import.meta.url)) await runProcess('runner', (config, log) => startRunner(config, log));
