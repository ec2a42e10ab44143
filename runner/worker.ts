/**
 * The runner's job processor. Per job: re-validate the request, take the report's mutex (waiting if
 * another run holds it), run the pipeline into a workbook, archive it, deliver it (delivery/deliver.ts).
 *
 * Exactly-once delivery across retries: the run's progress is recorded in Redis (`archived`, then
 * `delivery:<channel>` per channel). A retried job (runner died, Redis blip, a delivery that failed)
 * skips what already happened, so the requester never gets the same result twice, and a delivery
 * failure does not rebuild the workbook.
 *
 * Shutdown: on SIGTERM (`draining`) a run still waiting for its mutex goes straight back to the
 * queue; past the grace period (`stopping`) running jobs are aborted and handed back too. A hand-back
 * is not a failed attempt: nobody is told, BullMQ's attempt count stays, another runner takes it at
 * once, and the run record above makes it skip whatever was already archived or delivered.
 *
 * The run's live status card follows along (runner/status.ts). A run someone cancelled (its Redis
 * record says so; the abort reaches this runner through worker.cancelJob) stops where it is, its
 * mutex released, and ends without a retry or a result: the status card says Cancelled.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { errorCard, type AdaptiveCard } from '../cards/render.ts';
import { mayRun } from '../core/access.ts';
import { Archive, XLSX_TYPE } from '../core/archive.ts';
import { outputFileName, type Catalog, type Report } from '../core/catalog.ts';
import type { Config } from '../core/config.ts';
import type { ChoiceCache } from '../core/choices.ts';
import { DefinitionError, isPermanent, ShutdownError, StepError, userMessage, ValidationError } from '../core/errors.ts';
import { reportJobSchema, type ReportJob, type RunResult } from '../core/job.ts';
import type { Logger } from '../core/logger.ts';
import { recordMutexWait, recordRun, recordStep, type RunOutcome } from '../core/metrics.ts';
import type { Mutex } from '../core/mutex.ts';
import { validateParams, type ParamValues } from '../core/params.ts';
import { keys } from '../core/redis.ts';
import { cancelRecord, RUN_RECORD_TTL_SECONDS, type CancelRecord } from '../core/status.ts';
import type { Connections } from './connectors/registry.ts';
import { deliverRun } from './delivery/deliver.ts';
import type { GraphDelivery } from './delivery/graph.ts';
import { ReportWorkbook } from './excel/writer.ts';
import { recordRun as recordInHistory } from './record.ts';
import { runPipeline, type Progress } from './pipeline/run.ts';
import { StatusReporter } from './status.ts';

/**
 * How the runner reaches the requester (bot/proactive.ts in production): new cards, privately
 * (the requester's 1:1 chat) for private reports, and in-place updates of the live status card.
 */
export interface Notifier {
  sendCard(job: ReportJob, card: AdaptiveCard, text?: string, opts?: { privately?: boolean }): Promise<string | undefined>;
  updateCard?(job: ReportJob, activityId: string, card: AdaptiveCard): Promise<void>;
}

export interface RunnerDeps {
  config: Config;
  log: Logger;
  catalog: Catalog;
  connections: Connections;
  archive: Archive;
  mutex: Mutex;
  redis: Redis;
  notifier: Notifier;
  choices: ChoiceCache;
  /** Aborted with a ShutdownError on SIGTERM: runs still waiting for their mutex go back to the queue. */
  draining?: AbortSignal;
  /** Aborted with a ShutdownError when the grace period is over: running jobs go back to the queue. */
  stopping?: AbortSignal;
  /** Microsoft Graph (OneDrive/SharePoint, email); absent in local mode. */
  graph?: GraphDelivery;
}

/** What a job reports as progress (read by status cards and tests). */
export type JobProgress =
  | { state: 'waiting-lock'; locks: string[] }
  | ({ state: 'running' } & Progress)
  | { state: 'delivering' };

/** Thrown when a run's cancel record is found before or between its steps. */
class RunCancelledError extends Error {
  readonly record: CancelRecord;
  constructor(record: CancelRecord) {
    super(`cancelled by ${record.by.name || record.by.aadObjectId}`);
    this.name = 'RunCancelledError';
    this.record = record;
  }
}

/** Process one job. Exported for tests; production wraps it in a BullMQ Worker via createWorker(). */
export async function processJob(deps: RunnerDeps, job: Job<ReportJob, RunResult>, signal?: AbortSignal): Promise<RunResult> {
  const started = performance.now();
  let report: Report | undefined;
  // Only catalog ids become label values: a job naming an unknown report counts as "unknown".
  const finished = (outcome: RunOutcome) => recordRun(report?.id ?? 'unknown', outcome, (performance.now() - started) / 1000);
  const parsed = reportJobSchema.safeParse(job.data);
  if (!parsed.success) {
    deps.log.error({ jobId: job.id, issues: parsed.error.issues }, 'malformed job dropped');
    finished('failed');
    throw new UnrecoverableError(`malformed job: ${parsed.error.issues[0]?.message}`);
  }
  const data = parsed.data;
  const log = deps.log.child({ runId: data.runId, reportId: data.reportId, attempt: job.attemptsMade + 1 });
  const runKey = keys(deps.config.REDIS_PREFIX).run(data.runId);
  let params: ParamValues = data.params as ParamValues;
  const startedAt = new Date().toISOString();
  let status: StatusReporter | undefined;
  try {
    report = deps.catalog.reports.get(data.reportId);
    const shown = report ?? { id: data.reportId, title: data.reportId, parameters: [], private: false };
    status = new StatusReporter({
      notifier: deps.notifier, redis: deps.redis, prefix: deps.config.REDIS_PREFIX, log, updateMs: deps.config.STATUS_UPDATE_MS,
    }, data, shown, params);
    const cancelled = await cancelRecord(deps.redis, deps.config.REDIS_PREFIX, data.runId);
    if (cancelled) throw new RunCancelledError(cancelled);
    status.set({ state: 'starting', startedAt });
    if (!report) throw new DefinitionError(data.reportId, 'report not found in this runner\'s catalog');
    if (!mayRun(report, data.requestedBy)) throw new ValidationError(`You are not allowed to run ${report.title}.`);
    params = validateParams(report.id, report.parameters, data.params, report.rules, { choices: await deps.choices.forReport(report) });

    let result: RunResult;
    const archived = await deps.redis.hget(runKey, 'archived');
    if (archived) {
      result = JSON.parse(archived) as RunResult;
      log.info('workbook already archived by an earlier attempt; skipping the pipeline');
    } else {
      result = await build(deps, job, data, report, params, log, signal, status, startedAt);
      await deps.redis.multi().hset(runKey, 'archived', JSON.stringify(result)).expire(runKey, RUN_RECORD_TTL_SECONDS).exec();
    }

    const done = { state: 'done', rows: result.rows, durationMs: result.durationMs, checksFailed: result.checks.filter((c) => !c.passed).length } as const;
    if (data.origin === 'cli') {
      log.info({ rows: result.rows, ms: result.durationMs }, 'CLI run archived; the CLI fetches it, nothing is sent to Teams');
      finished('completed');
      status.set(done);
      return result;
    }
    await job.updateProgress({ state: 'delivering' } satisfies JobProgress);
    status.set({ state: 'delivering', startedAt });
    const reporter = status;
    const attempt = job.attemptsMade + 1;
    const deliveries = await deliverRun(deps, {
      job: data, report, params, result, attempt, final: attempt >= (job.opts.attempts ?? 1), log, signal, privately: report.private,
      // The status card shows the outcome first; the result message follows it.
      beforeResultCard: async () => {
        reporter.set(done);
        await reporter.settle();
      },
    });
    status.set(done);
    const outcome = Object.fromEntries(Object.entries(deliveries).map(([channel, rec]) => [channel, rec?.status]));
    log.info({ rows: result.rows, ms: result.durationMs, deliveries: outcome }, 'run delivered');
    finished('completed');
    return result;
  } catch (err) {
    // Shutdown is not the run's fault: no failure card, no attempt used; createWorker hands it back.
    const shutdown = err instanceof ShutdownError ? err : signal?.reason instanceof ShutdownError ? signal.reason : undefined;
    if (shutdown) {
      log.info({ err }, 'run stopped because the runner is shutting down; handing it back to the queue');
      finished('handed_back');
      throw shutdown;
    }
    // A cancel request stops the run without a retry, an error card or a result.
    const cancelled = err instanceof RunCancelledError ? err.record
      : signal?.aborted ? await cancelRecord(deps.redis, deps.config.REDIS_PREFIX, data.runId).catch(() => undefined) : undefined;
    if (cancelled) {
      log.info({ by: cancelled.by.aadObjectId }, 'run cancelled');
      finished('cancelled');
      status?.set({ state: 'cancelled', by: cancelled.by.name || 'someone', at: cancelled.at });
      throw Object.assign(new UnrecoverableError(`cancelled by ${cancelled.by.name || cancelled.by.aadObjectId}`), { cause: err });
    }
    const aborted = signal?.aborted === true;
    const permanent = isPermanent(err) || aborted;
    const final = permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    log.error({ err, final }, 'run failed');
    finished(aborted ? 'cancelled' : final ? 'failed' : 'retrying');
    if (final) {
      status?.set({ state: 'failed', message: userMessage(err), step: err instanceof StepError ? err.step : undefined });
      await status?.settle();
      await notifyFailure(deps, data, report, params, err, runKey, log);
    } else {
      status?.set({ state: 'retrying', attempt: job.attemptsMade + 1, message: userMessage(err) });
    }
    if (permanent) throw Object.assign(new UnrecoverableError(err instanceof Error ? err.message : String(err)), { cause: err });
    throw err;
  } finally {
    await status?.close();
  }
}

/** Pipeline under the mutex, then the archive upload (outside it: the lock guards shared tables only). */
async function build(
  deps: RunnerDeps, job: Job<ReportJob, RunResult>, data: ReportJob, report: Report, params: ParamValues, log: Logger,
  signal: AbortSignal | undefined, status: StatusReporter, startedAt: string,
): Promise<RunResult> {
  const started = Date.now();
  const timeout = AbortSignal.timeout(Math.min(report.timeout, deps.config.RUN_TIMEOUT_MS));
  const runSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const dir = await mkdtemp(join(tmpdir(), `run-${data.runId}-`));
  const fileName = outputFileName(report, data.runId, params);
  const path = join(dir, fileName);
  try {
    let lastProgress = 0;
    const pipeline = await deps.mutex.withLock(report.locks, {
      ttlMs: deps.config.MUTEX_TTL_MS,
      waitMs: deps.config.MUTEX_WAIT_MS,
      signal: runSignal,
      waitSignal: deps.draining,
      log,
      onAcquired: (waitedMs) => recordMutexWait(report.locks, waitedMs / 1000),
      onWaiting: () => {
        status.set({ state: 'waiting-lock', locks: report.locks, startedAt });
        void job.updateProgress({ state: 'waiting-lock', locks: report.locks } satisfies JobProgress).catch(() => {});
      },
    }, async (lockSignal) => {
      log.info({ locks: report.locks }, 'run started');
      const workbook = new ReportWorkbook({ path, creator: 'Report Bot', title: report.title });
      try {
        const r = await runPipeline(report, params, {
          connections: deps.connections,
          workbook,
          signal: lockSignal,
          log,
          onProgress: (p) => {
            status.set({ state: 'running', step: p.step, steps: p.steps, name: p.name, rows: p.rows, startedAt });
            // At most one Redis write a second: progress is for people, not for accounting.
            const now = Date.now();
            if (p.rows !== 0 && now - lastProgress < 1000) return;
            lastProgress = now;
            void job.updateProgress({ state: 'running', ...p } satisfies JobProgress).catch(() => {});
          },
        });
        await workbook.close();
        // Still inside the mutex: with 'run started' this brackets the time the run held its locks.
        log.info({ locks: report.locks, rows: r.rows }, 'pipeline finished');
        return r;
      } catch (err) {
        await workbook.close().catch(() => {});
        throw err;
      }
    });
    for (const step of pipeline.steps) recordStep(report.id, step.name, step.ms / 1000);
    const blobName = Archive.blobName(report.id, data.runId, fileName);
    await deps.archive.uploadFile(blobName, path, XLSX_TYPE, { runid: data.runId, reportid: report.id });
    return {
      runId: data.runId,
      reportId: report.id,
      rows: pipeline.rows,
      durationMs: Date.now() - started,
      blobName,
      fileName,
      steps: pipeline.steps.map(({ name, rows, ms }) => ({ name, rows, ms })),
      checks: pipeline.checks.map(({ name, passed, violations }) => ({ name, passed, violations })),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function notifyFailure(
  deps: RunnerDeps, data: ReportJob, report: Report | undefined, params: ParamValues, err: unknown, runKey: string, log: Logger,
): Promise<void> {
  if (data.origin === 'cli') return; // the CLI reads the job's failure itself
  try {
    if (await deps.redis.hsetnx(runKey, 'error-card', new Date().toISOString()) === 0) return;
    await deps.redis.expire(runKey, RUN_RECORD_TTL_SECONDS);
    const card = errorCard(report ?? { id: data.reportId, title: data.reportId }, data.runId, params, {
      step: err instanceof StepError ? err.step : undefined,
      message: userMessage(err),
    });
    await deps.notifier.sendCard(data, card, `${report?.title ?? data.reportId} failed.`, { privately: report?.private });
  } catch (sendErr) {
    log.error({ err: sendErr }, 'could not tell the requester about the failure');
  }
}

/**
 * The BullMQ worker that runs report jobs. Each run is recorded in the history (run.json) once it is
 * over. A run stopped by shutdown is not over: it is moved back to the wait list (at its head) and the
 * processor throws BullMQ's WaitingError, so the worker neither completes nor fails it.
 */
export function createWorker(deps: RunnerDeps, connection: Redis): Worker<ReportJob, RunResult> {
  const { stopping } = deps;
  const processor = async (job: Job<ReportJob, RunResult>, token: string | undefined, signal?: AbortSignal): Promise<RunResult> => {
    const runSignal = stopping && signal ? AbortSignal.any([signal, stopping]) : (stopping ?? signal);
    try {
      return await recordInHistory(deps, job, runSignal, () => processJob(deps, job, runSignal));
    } catch (err) {
      if (!(err instanceof ShutdownError)) throw err;
      await handBack(job, token, deps.log);
      throw new WaitingError();
    }
  };
  const worker = new Worker<ReportJob, RunResult>(deps.config.QUEUE_NAME, processor, {
    connection,
    prefix: deps.config.REDIS_PREFIX,
    concurrency: deps.config.RUNNER_CONCURRENCY,
    lockDuration: deps.config.JOB_LOCK_MS,
    stalledInterval: deps.config.JOB_LOCK_MS,
    maxStalledCount: 2,
  });
  worker.on('error', (err) => deps.log.error({ err }, 'worker error'));
  return worker;
}

/**
 * Put a job this worker holds back on the queue for another runner. If Redis refuses (the lock is
 * gone, Redis is down) the job is still safe: once its lock expires, stalled-job recovery requeues it.
 */
async function handBack(job: Job<ReportJob, RunResult>, token: string | undefined, log: Logger): Promise<void> {
  try {
    await job.moveToWait(token);
    log.info({ runId: job.id }, 'run handed back to the queue');
  } catch (err) {
    log.warn({ err, runId: job.id }, 'could not hand the run back; it returns to the queue when its lock expires');
  }
}
