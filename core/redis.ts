/** Redis connections and every key name the bot and the runner share, in one place. */
import { Redis } from 'ioredis';
import type { Config } from './config.ts';

/**
 * A new ioredis connection. `blocking` connections (BullMQ workers) must not cap retries per request.
 */
export function createRedis(config: Pick<Config, 'REDIS_URL'>, opts: { blocking?: boolean } = {}): Redis {
  return new Redis(config.REDIS_URL, {
    maxRetriesPerRequest: opts.blocking ? null : 3,
    enableReadyCheck: true,
    lazyConnect: false,
  });
}

/** Key names under the configured prefix, so test runs and installations never collide. */
export function keys(prefix: string) {
  return {
    /** The latest ConversationReference of a user (JSON). */
    conversationRef: (aadObjectId: string) => `${prefix}:convref:${aadObjectId}`,
    /** The user's 1:1 chat with the bot (JSON ConversationReference): where private results go. */
    personalConversationRef: (aadObjectId: string) => `${prefix}:convref-personal:${aadObjectId}`,
    /** Set once an inbound activity id was handled: Teams retries deliveries. */
    seenActivity: (activityId: string) => `${prefix}:seen:${activityId}`,
    /**
     * A run's durable progress (hash): `archived` (the result JSON once the workbook is in Blob
     * Storage) and `delivery:<channel>` (a DeliveryRecord JSON per channel), so a retried job redoes
     * neither the workbook nor a delivery that succeeded. Also `sending:email` (an email send whose
     * outcome is not recorded yet, see runner/delivery/deliver.ts), `notice:delivery` (the "not fully
     * delivered" card went out), `error-card`, `cancel` (a CancelRecord JSON: who asked to stop the
     * run) and `status` (the RunStatus JSON the status card last showed).
     */
    run: (runId: string) => `${prefix}:run:${runId}`,
    /**
     * The history index, rebuilt from the run.json manifests in Blob Storage (the source of truth):
     * one sorted set of run ids per requester and one for everyone (score = requestedAt in ms), and
     * a RunSummary JSON per run. Everything under `history:` belongs to it (a rebuild scans it).
     */
    historyByUser: (aadObjectId: string) => `${prefix}:history:user:${aadObjectId}`,
    historyAll: () => `${prefix}:history:all`,
    historyRun: (runId: string) => `${prefix}:history:run:${runId}`,
    /** Pattern matching every history index key (SCAN MATCH). */
    historyPattern: () => `${prefix}:history:*`,
    /**
     * Set for a while after a person's Outlook "Re-run" of `runId` was queued (JSON: the new run), so
     * a retried or repeated click answers with that run instead of queueing another. `request` is a
     * digest of the report and parameters asked for.
     */
    emailRerun: (runId: string, performerId: string, request: string) => `${prefix}:action:rerun:${runId}:${performerId}:${request}`,
    /** A report mutex (redlock resource). */
    mutex: (resource: string) => `${prefix}:mutex:${resource}`,
    /** Pub/sub channel: a message (a run id) asks whichever runner holds that run to abort it. */
    cancelChannel: () => `${prefix}:cancel`,
  };
}
export type Keys = ReturnType<typeof keys>;
