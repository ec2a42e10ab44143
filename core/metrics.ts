/**
 * Prometheus metrics (prom-client): one registry per process with the default process metrics, and
 * the report bot's own series. Code that does something worth counting calls a record* function;
 * /metrics (bot/server.ts, runner/ops.ts) renders the registry.
 *
 * Label values are bounded: report ids and step names come from the catalog, locks from report
 * definitions, channels and outcomes from fixed lists. Never a run id, a user or a URL.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Queue } from 'bullmq';
import type { DeliveryChannel } from './job.ts';

/** The process's registry: every series below, plus Node's process_* and nodejs_* metrics. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** How one attempt at a run ended. */
export type RunOutcome =
  /** Archived and delivered (or, for the CLI, archived). */
  | 'completed'
  /** Failed for good; the requester got a failure card. */
  | 'failed'
  /** This attempt failed; BullMQ retries it with backoff. */
  | 'retrying'
  /** Stopped by a cancel (the job's own abort signal). */
  | 'cancelled'
  /** The runner shut down: the job went back to the queue for another runner. */
  | 'handed_back';

/** How one delivery attempt on a channel ended (the DeliveryRecord statuses of core/job.ts). */
export type DeliveryOutcome = 'sent' | 'failed' | 'skipped';

const runs = new Counter({
  name: 'reportbot_runs_total',
  help: 'Run attempts by report and outcome (completed, failed, retrying, cancelled, handed_back)',
  labelNames: ['report', 'outcome'] as const,
  registers: [registry],
});

const runDuration = new Histogram({
  name: 'reportbot_run_duration_seconds',
  help: 'Wall time of one run attempt on a runner, from taking the job to its end, by report and outcome',
  labelNames: ['report', 'outcome'] as const,
  buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600],
  registers: [registry],
});

const stepDuration = new Histogram({
  name: 'reportbot_step_duration_seconds',
  help: 'Duration of a pipeline step (all its forEach iterations) in runs that finished their pipeline',
  labelNames: ['report', 'step'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
  registers: [registry],
});

const mutexWait = new Histogram({
  name: 'reportbot_mutex_wait_seconds',
  help: 'Time a run waited to acquire its report mutex, by lock (several locks joined with +)',
  labelNames: ['lock'] as const,
  buckets: [0.005, 0.05, 0.25, 1, 5, 15, 30, 60, 300, 900, 1800, 3600],
  registers: [registry],
});

const deliveries = new Counter({
  name: 'reportbot_deliveries_total',
  help: 'Result deliveries by channel (teams, onedrive, email) and outcome (sent, failed, skipped)',
  labelNames: ['channel', 'outcome'] as const,
  registers: [registry],
});

const graphThrottles = new Counter({
  name: 'reportbot_graph_throttles_total',
  help: 'Microsoft Graph answers of 429 or 503 with Retry-After, by operation',
  labelNames: ['operation'] as const,
  registers: [registry],
});

const activities = new Counter({
  name: 'reportbot_bot_activities_total',
  help: 'Bot Framework activities the bot accepted, by activity type',
  labelNames: ['type'] as const,
  registers: [registry],
});

const queued = new Counter({
  name: 'reportbot_requests_queued_total',
  help: 'Report requests put on the queue, by report and origin (chat, card, schedule, email, cli)',
  labelNames: ['report', 'origin'] as const,
  registers: [registry],
});

const authRejected = new Counter({
  name: 'reportbot_bot_auth_rejected_total',
  help: 'Requests to /api/messages refused for a missing or invalid Bot Framework token',
  registers: [registry],
});

/** The BullMQ states the queue-depth gauge reports. */
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;
const QUEUE_COUNT_TIMEOUT_MS = 2_000;
const watchedQueues = new Map<string, Pick<Queue, 'name' | 'getJobCounts'>>();

new Gauge({
  name: 'reportbot_queue_jobs',
  help: 'Jobs in the report queue by state, read from Redis at scrape time (queue-wide: every process reports the same figure)',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
  async collect() {
    this.reset();
    await Promise.all([...watchedQueues.values()].map(async (queue) => {
      try {
        const counts = await withTimeout(queue.getJobCounts(...QUEUE_STATES), QUEUE_COUNT_TIMEOUT_MS);
        for (const state of QUEUE_STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
      } catch {
        // Redis unreachable: no sample is better than a stale one; /readyz says why.
      }
    }));
  },
});

const ACTIVITY_TYPES = new Set([
  'message', 'invoke', 'conversationUpdate', 'messageReaction', 'messageUpdate', 'messageDelete',
  'installationUpdate', 'event', 'typing', 'endOfConversation',
]);

/** A label value from an open set, cut to a sane length (the sets themselves are bounded). */
function label(value: string): string {
  return value.length > 64 ? value.slice(0, 64) : value;
}

/** One run attempt ended: counts it and observes its wall time. `report` must be a catalog id. */
export function recordRun(report: string, outcome: RunOutcome, seconds: number): void {
  runs.inc({ report: label(report), outcome });
  runDuration.observe({ report: label(report), outcome }, seconds);
}

/** A pipeline step's duration. `step` is the step's name in the report definition. */
export function recordStep(report: string, step: string, seconds: number): void {
  stepDuration.observe({ report: label(report), step: label(step) }, seconds);
}

/** How long a run waited for its mutex (`locks` from the report definition). */
export function recordMutexWait(locks: readonly string[], seconds: number): void {
  mutexWait.observe({ lock: label([...locks].sort().join('+')) }, seconds);
}

/** A delivery attempt on one channel ended. Called by the runner's delivery code. */
export function recordDelivery(channel: DeliveryChannel, outcome: DeliveryOutcome): void {
  deliveries.inc({ channel, outcome });
}

/**
 * Microsoft Graph throttled a call (429, or 503 with Retry-After). `operation` is a fixed name
 * for the kind of call (e.g. `upload`, `share`, `sendMail`), never a URL; anything else counts as `other`.
 */
export function recordGraphThrottle(operation: string): void {
  graphThrottles.inc({ operation: /^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(operation) ? operation : 'other' });
}

/** The bot accepted an activity; unknown types count as `other`. */
export function recordActivity(type: string): void {
  activities.inc({ type: ACTIVITY_TYPES.has(type) ? type : 'other' });
}

/** A request went onto the queue. */
export function recordQueued(report: string, origin: string): void {
  queued.inc({ report: label(report), origin: label(origin) });
}

/** The bot refused a request for its token. */
export function recordAuthRejected(): void {
  authRejected.inc();
}

/**
 * Report this queue's job counts on every scrape. Several processes in one test share the registry:
 * queues are keyed by name, and the returned function stops watching only this queue object.
 */
export function watchQueue(queue: Pick<Queue, 'name' | 'getJobCounts'> & { opts?: { prefix?: string } }): () => void {
  const key = `${queue.opts?.prefix ?? ''}:${queue.name}`;
  watchedQueues.set(key, queue);
  return () => {
    if (watchedQueues.get(key) === queue) watchedQueues.delete(key);
  };
}

/** The registry in Prometheus text format, for a GET /metrics. */
export async function renderMetrics(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}
