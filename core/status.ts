/**
 * Where a run is, in the words its live status card uses: queued (with its place in the queue),
 * waiting for a report mutex, running step i of n, sending, and how it ended. The runner saves the
 * status in the run's Redis hash at every change; the bot reads it back (with the job's BullMQ state
 * and queue position) to answer a card refresh, the `status` command and a cancel request.
 *
 * Cancelling is recorded here too: a `cancel` field in the run's hash (so a runner that takes the job
 * later, or again after a crash, also stops) plus a message on the cancel channel, which every runner
 * listens to so that whichever holds the job aborts it.
 */
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ReportJob, RunResult } from './job.ts';
import { queuePosition, type ReportQueue } from './queue.ts';
import { keys } from './redis.ts';

/** How long a run's hash (status, cancel record, delivery records) is kept. */
export const RUN_RECORD_TTL_SECONDS = 30 * 24 * 3600;

/** A run's state as a person would follow it. Times are ISO strings; `startedAt` is when the current attempt began. */
export type RunStatus =
  | { state: 'queued'; position?: number }
  /** An attempt failed and BullMQ will try again (`attempt` attempts made so far). */
  | { state: 'retrying'; attempt: number; message: string }
  | { state: 'starting'; startedAt: string }
  | { state: 'waiting-lock'; locks: string[]; startedAt: string }
  | { state: 'running'; step: number; steps: number; name: string; rows: number; startedAt: string }
  | { state: 'delivering'; startedAt: string }
  | { state: 'cancelling'; by: string; startedAt?: string }
  | { state: 'done'; rows: number; durationMs: number; checksFailed: number }
  | { state: 'failed'; message: string; step?: string }
  | { state: 'cancelled'; by: string; at: string };

export type RunState = RunStatus['state'];

/** States after which nothing changes any more. */
export function isFinal(status: RunStatus): boolean {
  return status.state === 'done' || status.state === 'failed' || status.state === 'cancelled';
}

/** Who asked for a run to stop, and when. */
export interface CancelRecord {
  by: { aadObjectId: string; name: string };
  at: string;
}

/**
 * Record that `by` wants `runId` stopped and tell every runner. The first request wins (a second
 * one returns the first record). Runners that are not holding the run ignore the message; the one
 * that takes it later sees the record before it starts.
 */
export async function requestCancel(redis: Redis, prefix: string, runId: string, by: CancelRecord['by']): Promise<CancelRecord> {
  const k = keys(prefix);
  const record: CancelRecord = { by, at: new Date().toISOString() };
  const replies = await redis.multi()
    .hsetnx(k.run(runId), 'cancel', JSON.stringify(record))
    .expire(k.run(runId), RUN_RECORD_TTL_SECONDS)
    .exec();
  const first = replies?.[0]?.[1] === 1 ? record : (await cancelRecord(redis, prefix, runId)) ?? record;
  await redis.publish(k.cancelChannel(), runId);
  return first;
}

/** The cancel request of a run, if anyone asked to stop it. */
export async function cancelRecord(redis: Redis, prefix: string, runId: string): Promise<CancelRecord | undefined> {
  const json = await redis.hget(keys(prefix).run(runId), 'cancel');
  return json ? (JSON.parse(json) as CancelRecord) : undefined;
}

/** Remember the status a run's card shows (the bot's refresh reads it back). */
export async function saveStatus(redis: Redis, prefix: string, runId: string, status: RunStatus): Promise<void> {
  const key = keys(prefix).run(runId);
  await redis.multi().hset(key, 'status', JSON.stringify(status)).expire(key, RUN_RECORD_TTL_SECONDS).exec();
}

export async function savedStatus(redis: Redis, prefix: string, runId: string): Promise<RunStatus | undefined> {
  const json = await redis.hget(keys(prefix).run(runId), 'status');
  return json ? (JSON.parse(json) as RunStatus) : undefined;
}

/**
 * A run's status now, from what is known about it: the BullMQ job (state, progress time, result),
 * the status the runner saved, the cancel record and the queue. Undefined when the run is unknown
 * (never existed, or its records expired).
 */
export async function currentStatus(queue: ReportQueue, redis: Redis, prefix: string, runId: string): Promise<{ status: RunStatus; job?: Job<ReportJob, RunResult> } | undefined> {
  const [job, saved, cancel] = await Promise.all([
    queue.getJob(runId), savedStatus(redis, prefix, runId), cancelRecord(redis, prefix, runId),
  ]);
  const cancelled = (c: CancelRecord): RunStatus => ({ state: 'cancelled', by: c.by.name || 'someone', at: c.at });
  if (!job) {
    if (saved && isFinal(saved)) return { status: saved };
    return cancel ? { status: cancelled(cancel) } : undefined;
  }
  const state = await job.getState();
  const startedAt = job.processedOn ? new Date(job.processedOn).toISOString() : new Date().toISOString();
  let status: RunStatus;
  switch (state) {
    case 'active':
      // A saved outcome while still active: the runner is only finishing its bookkeeping.
      status = cancel ? { state: 'cancelling', by: cancel.by.name || 'someone', startedAt }
        : saved && saved.state !== 'queued' && saved.state !== 'retrying' ? saved
          : { state: 'starting', startedAt };
      break;
    case 'completed': {
      const r = job.returnvalue;
      status = saved?.state === 'done' ? saved
        : { state: 'done', rows: r?.rows ?? 0, durationMs: r?.durationMs ?? 0, checksFailed: (r?.checks ?? []).filter((c) => !c.passed).length };
      break;
    }
    case 'failed':
      status = cancel ? cancelled(cancel)
        : saved?.state === 'failed' ? saved
          : { state: 'failed', message: 'The run failed.' };
      break;
    case 'delayed':
      status = job.attemptsMade > 0
        ? (saved?.state === 'retrying' ? saved : { state: 'retrying', attempt: job.attemptsMade, message: 'The last attempt failed.' })
        : { state: 'queued' };
      break;
    case 'unknown':
      if (cancel) status = cancelled(cancel);
      else if (saved && isFinal(saved)) status = saved;
      else return undefined;
      break;
    default:
      status = cancel ? { state: 'cancelling', by: cancel.by.name || 'someone' } : { state: 'queued', position: await queuePosition(redis, queue, runId) };
  }
  return { status, job };
}
