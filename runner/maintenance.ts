/**
 * Housekeeping the runners do besides reports, on a queue of its own so it never waits behind a
 * long report: the daily history cleanup (runs past their report's retentionDays). A BullMQ job
 * scheduler puts one cleanup job per CLEANUP_CRON tick (in CLEANUP_TIME_ZONE) on the queue; every
 * runner upserts the same scheduler at start (idempotent) and any one of them takes the job.
 */
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Archive } from '../core/archive.ts';
import type { Catalog } from '../core/catalog.ts';
import { ConfigError, type Config } from '../core/config.ts';
import { cleanupExpired, HistoryIndex, type CleanupReport } from '../core/history.ts';
import type { Logger } from '../core/logger.ts';

/** The scheduler's id, and the name of the jobs it makes. */
export const CLEANUP_JOB = 'history-cleanup';

/** The maintenance queue's name: the report queue's, suffixed, so installations keep theirs apart. */
export function maintenanceQueueName(config: Pick<Config, 'QUEUE_NAME'>): string {
  return `${config.QUEUE_NAME}-maintenance`;
}

export interface MaintenanceDeps {
  config: Config;
  log: Logger;
  catalog: Catalog;
  archive: Archive;
  redis: Redis;
}

/** What a cleanup job returns (kept by BullMQ as its return value); the log has each run. */
export interface CleanupSummary {
  checked: number;
  removed: number;
  bytes: number;
  runIds: string[];
}

/** Delete expired runs now, with retention taken from this process's catalog. */
export function runCleanup(deps: MaintenanceDeps, opts: { now?: Date; dryRun?: boolean } = {}): Promise<CleanupReport> {
  return cleanupExpired(deps.archive, new HistoryIndex(deps.redis, deps.config.REDIS_PREFIX), {
    retentionDays: (reportId) => deps.catalog.reports.get(reportId)?.retentionDays,
    log: deps.log.child({ task: CLEANUP_JOB }),
    ...opts,
  });
}

export interface RunningMaintenance {
  queue: Queue;
  close(): Promise<void>;
}

/**
 * Register the daily cleanup and start taking maintenance jobs. `connection` is a blocking-capable
 * connection (maxRetriesPerRequest null), as BullMQ workers need.
 */
export async function startMaintenance(deps: MaintenanceDeps, connection: Redis): Promise<RunningMaintenance> {
  const { config, log } = deps;
  const name = maintenanceQueueName(config);
  const queue = new Queue(name, { connection, prefix: config.REDIS_PREFIX });
  try {
    await queue.upsertJobScheduler(CLEANUP_JOB, { pattern: config.CLEANUP_CRON, tz: config.CLEANUP_TIME_ZONE }, {
      name: CLEANUP_JOB,
      data: {},
      opts: { removeOnComplete: { count: 30 }, removeOnFail: { count: 30 } },
    });
  } catch (err) {
    await queue.close();
    // BullMQ rejects a pattern its cron parser cannot read; say which variable to fix.
    throw new ConfigError([`CLEANUP_CRON: "${config.CLEANUP_CRON}" is not a cron pattern BullMQ accepts (${(err as Error).message})`]);
  }
  const worker = new Worker<unknown, CleanupSummary>(name, async (job) => {
    if (job.name !== CLEANUP_JOB) throw new Error(`unknown maintenance job "${job.name}"`);
    const report = await runCleanup(deps);
    return { checked: report.checked, removed: report.removed.length, bytes: report.bytes, runIds: report.removed.map((r) => r.runId) };
  }, { connection, prefix: config.REDIS_PREFIX, concurrency: 1 });
  worker.on('error', (err) => log.error({ err }, 'maintenance worker error'));
  worker.on('failed', (job, err) => log.error({ err, job: job?.name }, 'maintenance job failed'));
  await worker.waitUntilReady();
  log.info({ queue: name, cron: config.CLEANUP_CRON, tz: config.CLEANUP_TIME_ZONE }, 'history cleanup scheduled');
  return {
    queue,
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}
