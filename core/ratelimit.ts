/**
 * Pacing for calls a remote service rate-limits (Teams: about 7 messages a second into one
 * conversation, fewer over longer windows, and about 30 requests a second per tenant), and bounded
 * retries for the calls it still throttles. In-process: each bot or runner process paces its own
 * calls, and a 429 that gets through is retried with backoff.
 */
import { setTimeout as delay } from 'node:timers/promises';

/** At most `limit` calls in any `ms` milliseconds. */
export interface RateWindow {
  limit: number;
  ms: number;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = { now: () => Date.now(), sleep: (ms) => delay(ms) };

interface KeyState {
  /** Start times of recent calls, oldest first, none older than the longest window. */
  times: number[];
  /** The last caller in line: the next one waits for it, so calls for a key keep their order. */
  tail: Promise<void>;
}

/** Sliding-window limits per key (a conversation, a tenant); callers for one key go first come, first served. */
export class RateLimiter {
  private readonly windows: RateWindow[];
  private readonly longest: number;
  private readonly clock: Clock;
  private readonly keys = new Map<string, KeyState>();

  constructor(windows: RateWindow[], clock: Clock = realClock) {
    if (windows.length === 0 || windows.some((w) => !(w.limit >= 1) || !(w.ms > 0))) {
      throw new RangeError('every rate window needs a limit of at least 1 and a positive duration');
    }
    this.windows = windows;
    this.longest = Math.max(...windows.map((w) => w.ms));
    this.clock = clock;
  }

  /** Wait until a call for `key` fits every window, and count it. */
  acquire(key: string): Promise<void> {
    let state = this.keys.get(key);
    if (!state) {
      this.forgetIdle();
      state = { times: [], tail: Promise.resolve() };
      this.keys.set(key, state);
    }
    const s = state;
    const turn = s.tail.then(() => this.take(s));
    s.tail = turn.catch(() => {});
    return turn;
  }

  /** How long a call for `key` made now would wait (0 = it could go at once). */
  waitFor(key: string): number {
    const state = this.keys.get(key);
    return state ? this.delayOf(state.times, this.clock.now()) : 0;
  }

  private async take(state: KeyState): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      const wait = this.delayOf(state.times, now);
      if (wait <= 0) {
        state.times.push(now);
        const cutoff = now - this.longest;
        let drop = 0;
        while (drop < state.times.length && state.times[drop] <= cutoff) drop++;
        if (drop) state.times.splice(0, drop);
        return;
      }
      await this.clock.sleep(wait);
    }
  }

  private delayOf(times: number[], now: number): number {
    let wait = 0;
    for (const w of this.windows) {
      // The call that must leave the window before another may start: the limit-th most recent.
      const blocking = times.length >= w.limit ? times[times.length - w.limit] : undefined;
      if (blocking !== undefined && blocking > now - w.ms) wait = Math.max(wait, blocking + w.ms - now);
    }
    return wait;
  }

  /** Drop keys with nothing recent, so a long-running process does not keep every conversation it ever saw. */
  private forgetIdle(): void {
    if (this.keys.size < 1000) return;
    const cutoff = this.clock.now() - this.longest;
    for (const [key, state] of this.keys) {
      if ((state.times.at(-1) ?? 0) <= cutoff) this.keys.delete(key);
    }
  }
}

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  /** First backoff when the service gives no Retry-After; doubles each time, half of it jittered. */
  baseMs?: number;
  /** No single wait is longer than this (a Retry-After above it is cut down to it). */
  maxDelayMs?: number;
  /** Whether an error is worth another try, and how long the service asked us to wait. */
  classify: (err: unknown) => { retry: boolean; afterMs?: number };
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
  clock?: Clock;
  random?: () => number;
}

/** Run `call`, trying again after throttling errors with the service's Retry-After or a jittered backoff. */
export async function withRetry<T>(call: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const clock = opts.clock ?? realClock;
  const random = opts.random ?? Math.random;
  const base = opts.baseMs ?? 500;
  const max = opts.maxDelayMs ?? 30_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const { retry, afterMs } = opts.classify(err);
      if (!retry || attempt >= opts.attempts) throw err;
      const backoff = base * 2 ** (attempt - 1);
      // Retry-After is the service's word; otherwise jitter spreads the retries of many senders.
      const wait = Math.min(max, afterMs !== undefined ? afterMs + random() * base : backoff / 2 + random() * (backoff / 2));
      opts.onRetry?.(err, attempt, wait);
      await clock.sleep(wait);
    }
  }
}
