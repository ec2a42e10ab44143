/**
 * The runner's job processor. Per job: re-validate the request, take the report's mutex (waiting if
 * another run holds it), run the pipeline into a workbook, archive it, send the result card.
 *
 * Exactly-once delivery across retries: the run's progress is recorded in Redis (`archived`, then one
 * field per channel). A retried job (runner died, Redis blip) skips what already happened, so the
 * requester never gets the same result twice, and a delivery failure does not rebuild the workbook.
 *
 * The run's live status card follows along (runner/status.ts). A run someone cancelled (its Redis
 * record says so; the abort reaches this runner through worker.cancelJob) stops where it is, its
 * mutex released, and ends without a retry or a result: the status card says Cancelled.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { errorCard, resultCard, type AdaptiveCard } from '../cards/render.ts';
import { mayRun } from '../core/access.ts';
import { Archive, XLSX_TYPE } from '../core/archive.ts';
import { outputFileName, type Catalog, type Report } from '../core/catalog.ts';
import type { Config } from '../core/config.ts';
import type { ChoiceCache } from '../core/choices.ts';
import { DefinitionError, isPermanent, StepError, userMessage, ValidationError } from '../core/errors.ts';
import { reportJobSchema, type DeliveryRecord, type ReportJob, type RunResult } from '../core/job.ts';
import type { Logger } from '../core/logger.ts';
import type { Mutex } from '../core/mutex.ts';
import { validateParams, type ParamValues } from '../core/params.ts';
import { keys } from '../core/redis.ts';
import { cancelRecord, RUN_RECORD_TTL_SECONDS, type CancelRecord } from '../core/status.ts';
import type { Connections } from './connectors/registry.ts';
import { ReportWorkbook } from './excel/writer.ts';
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
  const parsed = reportJobSchema.safeParse(job.data);
  if (!parsed.success) {
    deps.log.error({ jobId: job.id, issues: parsed.error.issues }, 'malformed job dropped');
    throw new UnrecoverableError(`malformed job: ${parsed.error.issues[0]?.message}`);
  }
  const data = parsed.data;
  const log = deps.log.child({ runId: data.runId, reportId: data.reportId, attempt: job.attemptsMade + 1 });
  const runKey = keys(deps.config.REDIS_PREFIX).run(data.runId);
  let report: Report | undefined;
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
      status.set(done);
      return result;
    }
    if (await deps.redis.hget(runKey, 'delivery:teams')) {
      log.info('result already delivered by an earlier attempt');
      status.set(done);
      return result;
    }
    await job.updateProgress({ state: 'delivering' } satisfies JobProgress);
    status.set({ state: 'delivering', startedAt });
    const downloadUrl = await deps.archive.downloadUrl(result.blobName, deps.config.DOWNLOAD_LINK_MINUTES, result.fileName);
    // The status card shows the outcome first; the result message follows it.
    status.set(done);
    await status.settle();
    await deps.notifier.sendCard(data, resultCard(report, params, {
      runId: data.runId, fileName: result.fileName, rows: result.rows, durationMs: result.durationMs,
      downloadUrl, linkMinutes: deps.config.DOWNLOAD_LINK_MINUTES, checks: result.checks,
    }), `${report.title} is ready.`, { privately: report.private });
    const record: DeliveryRecord = { channel: 'teams', status: 'sent', attempts: job.attemptsMade + 1, at: new Date().toISOString(), url: downloadUrl };
    await deps.redis.hset(runKey, 'delivery:teams', JSON.stringify(record));
    log.info({ rows: result.rows, ms: result.durationMs }, 'run delivered');
    return result;
  } catch (err) {
    // A cancel request stops the run without a retry, an error card or a result.
    const cancelled = err instanceof RunCancelledError ? err.record
      : signal?.aborted ? await cancelRecord(deps.redis, deps.config.REDIS_PREFIX, data.runId).catch(() => undefined) : undefined;
    if (cancelled) {
      log.info({ by: cancelled.by.aadObjectId }, 'run cancelled');
      status?.set({ state: 'cancelled', by: cancelled.by.name || 'someone', at: cancelled.at });
      throw new UnrecoverableError(`cancelled by ${cancelled.by.name || cancelled.by.aadObjectId}`);
    }
    const permanent = isPermanent(err) || signal?.aborted === true;
    const final = permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    log.error({ err, final }, 'run failed');
    if (final) {
      status?.set({ state: 'failed', message: userMessage(err), step: err instanceof StepError ? err.step : undefined });
      await status?.settle();
      await notifyFailure(deps, data, report, params, err, runKey, log);
    } else {
      status?.set({ state: 'retrying', attempt: job.attemptsMade + 1, message: userMessage(err) });
    }
    if (permanent) throw new UnrecoverableError(err instanceof Error ? err.message : String(err));
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
      log,
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
        return r;
      } catch (err) {
        await workbook.close().catch(() => {});
        throw err;
      }
    });
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

/** The BullMQ worker that runs report jobs. */
export function createWorker(deps: RunnerDeps, connection: Redis): Worker<ReportJob, RunResult> {
  const worker = new Worker<ReportJob, RunResult>(deps.config.QUEUE_NAME, (job, _token, signal) => processJob(deps, job, signal), {
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
