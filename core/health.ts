/**
 * Readiness: is this process able to do its work right now? Each dependency (Redis, the Blob
 * archive, every configured connection) gets a cheap round trip with a short timeout, all at once.
 * /readyz answers 200 when all pass and 503 naming the ones that did not. Liveness (/healthz) needs
 * none of this: a process that answers HTTP is alive.
 */
import type { Redis } from 'ioredis';
import type { Archive } from './archive.ts';
import type { Logger } from './logger.ts';

/** One dependency to check; `check` should honour the signal, but a timeout applies either way. */
export interface DependencyCheck {
  name: string;
  check(signal: AbortSignal): Promise<unknown>;
}

export interface CheckResult {
  status: 'ok' | 'failed';
  ms: number;
  /** Why it failed, in a few words: the error's name or code, or the timeout. Details go to the log. */
  error?: string;
}

/** The /readyz body. */
export interface ReadinessReport {
  status: 'ready' | 'unavailable';
  /** Set while the process is shutting down: it is draining, not broken. */
  reason?: string;
  /** The dependencies that failed, by name. */
  failed: string[];
  checks: Record<string, CheckResult>;
}

/** The readiness state of one process. Concurrent probes share one round of checks. */
export class Readiness {
  private readonly checks: readonly DependencyCheck[];
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private running: Promise<ReadinessReport> | undefined;
  private draining = false;

  constructor(checks: readonly DependencyCheck[], opts: { timeoutMs: number; log: Logger }) {
    this.checks = checks;
    this.timeoutMs = opts.timeoutMs;
    this.log = opts.log;
  }

  /** From now on the process reports itself unavailable (SIGTERM: take it out of rotation). */
  shuttingDown(): void {
    this.draining = true;
  }

  /** Run every check (or join the round already running). */
  check(): Promise<ReadinessReport> {
    if (this.draining) return Promise.resolve({ status: 'unavailable', reason: 'shutting down', failed: [], checks: {} });
    this.running ??= this.runChecks().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async runChecks(): Promise<ReadinessReport> {
    const results = await Promise.all(this.checks.map(async (c): Promise<[string, CheckResult]> => {
      const started = performance.now();
      // A plain timer, not AbortSignal.timeout(): that one is unref'd and would not keep a probe alive.
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      try {
        await untilAborted(c.check(timeout.signal), timeout.signal);
        return [c.name, { status: 'ok', ms: Math.round(performance.now() - started) }];
      } catch (err) {
        const error = timeout.signal.aborted ? `no answer within ${this.timeoutMs} ms` : shortReason(err);
        this.log.warn({ err, dependency: c.name }, 'readiness check failed');
        return [c.name, { status: 'failed', ms: Math.round(performance.now() - started), error }];
      } finally {
        clearTimeout(timer);
      }
    }));
    const checks = Object.fromEntries(results);
    const failed = results.filter(([, r]) => r.status === 'failed').map(([name]) => name);
    return { status: failed.length ? 'unavailable' : 'ready', failed, checks };
  }
}

/** Redis answers PING. */
export function redisCheck(redis: Redis, name = 'redis'): DependencyCheck {
  return { name, check: () => redis.ping() };
}

/** The archive's storage account answers for its container. */
export function blobCheck(archive: Archive, name = 'blob'): DependencyCheck {
  return { name, check: (signal) => archive.ping(signal) };
}

/** Something that holds named connections with a testConnection (runner/connectors/registry.ts). */
export interface TestableConnections {
  names(): Set<string>;
  get(name: string): { testConnection(): Promise<void> };
}

/** One check per configured connection, named `connection:<name>`. */
export function connectionChecks(connections: TestableConnections): DependencyCheck[] {
  return [...connections.names()].sort().map((name) => ({
    name: `connection:${name}`,
    check: () => connections.get(name).testConnection(),
  }));
}

/** Settles with `work`, or rejects when `signal` aborts first (for checks that ignore the signal). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * A failure in a few words that give nothing away (/readyz may be reachable from outside):
 * the error's code or name, never its message (which can hold host names or user names).
 */
function shortReason(err: unknown): string {
  if (err && typeof err === 'object') {
    const { code, name } = err as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && /^[A-Za-z0-9_]{1,40}$/.test(code)) return typeof name === 'string' && name !== 'Error' ? `${name} (${code})` : code;
    if (typeof name === 'string') return name;
  }
  return 'error';
}
