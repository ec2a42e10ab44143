/**
 * Recording a run in the archive's history: once a run is over (it succeeded, or failed for good),
 * its run.json manifest goes next to the workbook in Blob Storage and into the history index.
 *
 * It wraps the job processor rather than living inside it: whatever path a run takes through the
 * processor (delivered now, delivered by an earlier attempt, a CLI run, a failure), the manifest is
 * written once the attempt is over, after deliveries, from what the run's Redis hash says. A retry
 * writes the same blob again with the latest truth.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Archive } from '../core/archive.ts';
import { DEFAULT_RETENTION_DAYS, type Catalog } from '../core/catalog.ts';
import type { Config } from '../core/config.ts';
import { ShutdownError, StepError, userMessage } from '../core/errors.ts';
import { HistoryIndex, saveManifest, type RunManifest, type RunStatus } from '../core/history.ts';
import { deliveryRecordsOf, reportJobSchema, type ReportJob, type RunResult } from '../core/job.ts';
import type { Logger } from '../core/logger.ts';
import { keys } from '../core/redis.ts';

export interface RecordDeps {
  config: Config;
  log: Logger;
  catalog: Catalog;
  archive: Archive;
  redis: Redis;
}

/** The run hash outlives the run by this much when nothing else set its expiry (as the worker does). */
const RUN_HASH_TTL_SECONDS = 30 * 24 * 3600;

type Ending =
  | { status: 'succeeded'; result: RunResult }
  | { status: Exclude<RunStatus, 'succeeded'>; error: unknown };

/**
 * Run one attempt (`attempt`, the job processor) and record the run when it is over. A success is
 * recorded before the job completes: if that fails and attempts remain, the job is retried (the
 * processor skips the pipeline and any delivery already made) so the manifest is not lost. A final
 * failure is recorded, then the error goes on to BullMQ unchanged. Cancelled = the job's abort
 * signal fired.
 */
export async function recordRun(
  deps: RecordDeps, job: Job<ReportJob, RunResult>, signal: AbortSignal | undefined, attempt: () => Promise<RunResult>,
): Promise<RunResult> {
  const parsed = reportJobSchema.safeParse(job.data);
  if (!parsed.success) return attempt(); // malformed: the processor drops it; there is no run to record
  const data = parsed.data;
  const log = deps.log.child({ runId: data.runId, reportId: data.reportId });
  const runKey = keys(deps.config.REDIS_PREFIX).run(data.runId);
  const attempts = job.opts.attempts ?? 1;
  // The first attempt's start; later attempts leave it (and the hash's expiry, which the worker extends).
  if (await deps.redis.hsetnx(runKey, 'startedAt', new Date().toISOString()) === 1) await deps.redis.expire(runKey, RUN_HASH_TTL_SECONDS);

  let result: RunResult;
  try {
    result = await attempt();
  } catch (err) {
    // A shutdown hands the run back to the queue: it is not over, so there is nothing to record.
    if (err instanceof ShutdownError) throw err;
    const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= attempts;
    if (final) {
      // The processor turns permanent errors into UnrecoverableError and keeps the original as cause.
      const error = err instanceof UnrecoverableError && err.cause !== undefined ? err.cause : err;
      await writeManifest(deps, data, job.attemptsMade + 1, { status: signal?.aborted ? 'cancelled' : 'failed', error })
        .catch((recordErr: unknown) => log.error({ err: recordErr }, 'could not record the failed run in the history'));
    }
    throw err;
  }
  try {
    await writeManifest(deps, data, job.attemptsMade + 1, { status: 'succeeded', result });
  } catch (err) {
    if (job.attemptsMade + 1 < attempts) throw err;
    log.error({ err }, 'run delivered but not recorded in the history: its run.json is missing');
  }
  return result;
}

/** Build the manifest from the job, the run hash and how the run ended; archive and index it. */
async function writeManifest(deps: RecordDeps, data: ReportJob, attempts: number, ending: Ending): Promise<RunManifest> {
  const report = deps.catalog.reports.get(data.reportId);
  const hash = await deps.redis.hgetall(keys(deps.config.REDIS_PREFIX).run(data.runId));
  const result = ending.status === 'succeeded' ? ending.result : hash.archived ? JSON.parse(hash.archived) as RunResult : undefined;
  const deliveries = Object.values(deliveryRecordsOf(hash)).sort((a, b) => a.channel.localeCompare(b.channel));
  const finishedAt = new Date();
  const startedAt = hash.startedAt;
  const manifest: RunManifest = {
    manifestVersion: 1,
    runId: data.runId,
    reportId: data.reportId,
    reportTitle: report?.title ?? data.reportId,
    params: data.params as RunManifest['params'],
    requestedBy: data.requestedBy,
    origin: data.origin,
    requestedAt: data.requestedAt,
    ...(startedAt ? { startedAt } : {}),
    finishedAt: finishedAt.toISOString(),
    status: ending.status,
    attempts,
    steps: result?.steps ?? [],
    checks: result?.checks ?? [],
    deliveries,
    retentionDays: report?.retentionDays ?? DEFAULT_RETENTION_DAYS,
  };
  if (result) {
    manifest.durationMs = result.durationMs;
    manifest.rows = result.rows;
    // A workbook may exist for a failed run too (built, then delivery failed): it stays downloadable.
    manifest.file = { blobName: result.blobName, fileName: result.fileName, bytes: await deps.archive.size(result.blobName) ?? 0 };
  } else if (startedAt) {
    manifest.durationMs = Math.max(0, finishedAt.getTime() - Date.parse(startedAt));
  }
  if (ending.status !== 'succeeded') {
    const err = ending.error;
    const root = err instanceof StepError ? err.cause : err;
    const code = (root as { code?: unknown } | undefined)?.code;
    manifest.failure = {
      ...(err instanceof StepError ? { step: err.step } : {}),
      message: userMessage(err),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  await saveManifest(deps.archive, new HistoryIndex(deps.redis, deps.config.REDIS_PREFIX), manifest);
  deps.log.info({ runId: data.runId, reportId: data.reportId, status: ending.status, rows: manifest.rows }, 'run recorded in the history');
  return manifest;
}
