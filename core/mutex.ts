/**
 * Report mutexes: a redlock lock on the resources a report definition names, held for the whole
 * pipeline. It is extended in the background while the work runs; if an extension fails the work's
 * AbortSignal fires with a LockLostError and the run fails even if the work finishes. It is released
 * on every path, but only once the work has settled.
 */
import Redlock, { ExecutionError, ResourceLockedError, type Lock } from 'redlock';
import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockLostError, LockTimeoutError } from './errors.ts';
import type { Logger } from './logger.ts';

export interface MutexOptions {
  /** Lock lifetime; extended every ttl/3 while held. A dead holder frees it after at most ttl. */
  ttlMs: number;
  /** How long to wait for a busy lock before giving up. */
  waitMs: number;
  /** Aborts the wait and, once held, the work. */
  signal?: AbortSignal;
  /** Aborts only the wait (a shutting-down runner gives up runs that have not started). */
  waitSignal?: AbortSignal;
  /** Called once when the lock is busy and we start waiting (status: "waiting for tb lock"). */
  onWaiting?: () => void;
  /** Called once the lock is held, with how long acquiring it took (metrics: mutex wait time). */
  onAcquired?: (waitedMs: number) => void;
  log?: Logger;
}

export class Mutex {
  private readonly redlock: Redlock;
  private readonly prefix: string;

  constructor(redis: Redis, keyPrefix: string) {
    // One acquire attempt per call: the wait loop below owns waiting, so it can report and abort.
    this.redlock = new Redlock([redis], { retryCount: 0, driftFactor: 0.01 });
    // A failed attempt also emits "error"; without a listener Node would throw it.
    this.redlock.on('error', () => {});
    this.prefix = keyPrefix;
  }

  /**
   * Run `work` while holding all `resources`. With no resources, runs it directly.
   * `work` receives a signal that aborts if the lock is lost (or the caller's signal aborts).
   */
  async withLock<T>(resources: readonly string[], opts: MutexOptions, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (resources.length === 0) return work(opts.signal ?? new AbortController().signal);
    const names = [...resources].sort().map((r) => `${this.prefix}${r}`);
    const asked = performance.now();
    const waitSignal = opts.waitSignal && opts.signal ? AbortSignal.any([opts.signal, opts.waitSignal]) : (opts.waitSignal ?? opts.signal);
    let lock = await this.acquire(names, resources, { ...opts, signal: waitSignal });
    const waitedMs = performance.now() - asked;
    const controller = new AbortController();
    const onOuterAbort = () => controller.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
    // An abort that landed while the last acquire attempt was in flight fires no event: carry it over.
    if (opts.signal?.aborted) onOuterAbort();

    let extending: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      extending = lock.extend(opts.ttlMs).then(
        (next) => { lock = next; },
        (err: unknown) => {
          opts.log?.error({ err, resources }, 'mutex extension failed: aborting the run');
          controller.abort(new LockLostError(resources, { cause: err }));
        },
      );
    }, Math.max(100, Math.floor(opts.ttlMs / 3)));
    timer.unref();

    try {
      opts.onAcquired?.(waitedMs);
      // Wait for the work itself, even after an abort: releasing while it still runs would let the
      // next holder overlap with it. The work must honour the signal promptly.
      const result = await work(controller.signal);
      if (controller.signal.aborted) throw controller.signal.reason;
      return result;
    } finally {
      clearInterval(timer);
      opts.signal?.removeEventListener('abort', onOuterAbort);
      await extending;
      if (!(controller.signal.reason instanceof LockLostError)) {
        await lock.release().catch((err: unknown) => opts.log?.warn({ err, resources }, 'mutex release failed; it expires by itself'));
      }
    }
  }

  private async acquire(names: string[], resources: readonly string[], opts: MutexOptions): Promise<Lock> {
    const started = Date.now();
    let waiting = false;
    for (let attempt = 0; ; attempt++) {
      opts.signal?.throwIfAborted();
      try {
        return await this.redlock.acquire(names, opts.ttlMs);
      } catch (err) {
        if (!(await isLockedError(err))) throw err;
      }
      if (!waiting) {
        waiting = true;
        opts.onWaiting?.();
        opts.log?.info({ resources }, 'waiting for mutex');
      }
      if (Date.now() - started >= opts.waitMs) throw new LockTimeoutError(resources, Date.now() - started);
      // Back off from 50 ms to 1 s with jitter, so waiting runners do not hammer Redis in step.
      const delay = Math.min(1000, 50 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2);
      await sleep(delay, undefined, { signal: opts.signal }).catch((err: unknown) => {
        throw opts.signal?.aborted ? opts.signal.reason : err;
      });
    }
  }
}

/**
 * redlock reports both a held lock and an unreachable Redis as an ExecutionError; only the first
 * is worth waiting on. Its votes against are ResourceLockedErrors.
 */
async function isLockedError(err: unknown): Promise<boolean> {
  if (!(err instanceof ExecutionError)) return false;
  const stats = await Promise.all(err.attempts);
  return stats.length > 0 && stats.every((s) =>
    s.votesAgainst.size > 0 && [...s.votesAgainst.values()].every((e) => e instanceof ResourceLockedError));
}
