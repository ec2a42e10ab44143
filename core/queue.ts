/**
 * The durable request queue (BullMQ on Redis). The bot adds jobs; runners take them.
 * The job id is the run id, so the same run can never be queued twice.
 */
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { ReportJob, RunResult } from './job.ts';
import { recordQueued } from './metrics.ts';

export type ReportQueue = Queue<ReportJob, RunResult, string>;

/** Options for every report job: bounded retries with backoff, finished jobs kept for a while. */
export function jobOptions(config: Pick<Config, 'JOB_ATTEMPTS'>): JobsOptions {
  return {
    attempts: config.JOB_ATTEMPTS,
    backoff: { type: 'exponential', delay: 5_000 },
    removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

export function createReportQueue(config: Pick<Config, 'QUEUE_NAME' | 'REDIS_PREFIX'>, connection: Redis): ReportQueue {
  return new Queue<ReportJob, RunResult, string>(config.QUEUE_NAME, { connection, prefix: config.REDIS_PREFIX });
}

/** Queue a validated request. Resolves once Redis has it: from then on it survives any restart. */
export async function enqueueReport(queue: ReportQueue, job: ReportJob, config: Pick<Config, 'JOB_ATTEMPTS'>): Promise<void> {
  await queue.add(job.reportId, job, { ...jobOptions(config), jobId: job.runId });
  recordQueued(job.reportId, job.origin);
}

/**
 * 1-based place of a waiting job in the queue (1 = next to start), or undefined when it is not
 * waiting. BullMQ adds jobs on the left of its wait list and runners take them from the right.
 */
export async function queuePosition(redis: Redis, queue: ReportQueue, jobId: string): Promise<number | undefined> {
  const key = queue.keys.wait;
  const [length, index] = await Promise.all([redis.llen(key), redis.lpos(key, jobId)]);
  return index === null ? undefined : length - index;
}

/** Jobs waiting to start, next first (at most `limit`). */
export async function nextWaiting(redis: Redis, queue: ReportQueue, limit: number): Promise<string[]> {
  const ids = await redis.lrange(queue.keys.wait, -limit, -1);
  return ids.reverse();
}
