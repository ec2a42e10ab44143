/** Process entry points: parse config, start, and close cleanly on SIGTERM/SIGINT. */
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { config as loadConfig, type Config } from './config.ts';
import { createLogger, type Logger } from './logger.ts';

/**
 * How long past SHUTDOWN_GRACE_MS a closing process may still take (handing jobs back, closing
 * connections) before it exits anyway. A runner that exits here loses nothing: its jobs return to
 * the queue when their BullMQ locks expire and its mutex expires after MUTEX_TTL_MS.
 */
export const CLOSE_MARGIN_MS = 10_000;

/** True when `moduleUrl` is the file Node was started with (`node bot/main.ts`), not an import. */
export function isMain(moduleUrl: string): boolean {
  return moduleUrl === pathToFileURL(process.argv[1] ?? '').href;
}

/**
 * Run a process role: config parsed once (exits naming a bad variable), a pino logger named after
 * the role, `start` called with both. The first SIGTERM or SIGINT closes the returned service and
 * exits 0 (1 if closing failed, or did not finish within SHUTDOWN_GRACE_MS + CLOSE_MARGIN_MS).
 * Later SIGTERMs are ignored (a launcher may forward one after the terminal's SIGINT); a second
 * SIGINT (Ctrl-C twice) exits at once. A failure to start is logged and exits 1.
 */
export async function runProcess(role: string, start: (config: Config, log: Logger) => Promise<{ close(): Promise<void> }>): Promise<void> {
  const config = loadConfig();
  const log = createLogger(role, config.LOG_LEVEL);
  let service: { close(): Promise<void> };
  try {
    service = await start(config, log);
  } catch (err) {
    log.fatal({ err }, `${role} failed to start`);
    process.exit(1);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      if (signal === 'SIGINT') {
        log.warn({ signal }, 'interrupted again: exiting without waiting');
        process.exit(130);
      }
      log.info({ signal }, 'already shutting down');
      return;
    }
    stopping = true;
    const deadline = config.SHUTDOWN_GRACE_MS + CLOSE_MARGIN_MS;
    log.info({ signal, graceMs: config.SHUTDOWN_GRACE_MS }, 'shutting down');
    setTimeout(() => {
      log.error({ deadlineMs: deadline }, 'shutdown did not finish in time: exiting anyway');
      process.exit(1);
    }, deadline).unref();
    try {
      await service.close();
    } catch (err) {
      log.error({ err }, 'error while shutting down');
      process.exit(1);
    }
    log.info('shut down');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Resolves true if `work` settles within `ms`, false if the time runs out first (`work` keeps going). */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([work.then(() => true, () => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stop an HTTP server the graceful way: no new connections, idle keep-alive connections dropped,
 * requests in flight allowed to finish for up to `graceMs`, then whatever is left is cut.
 */
export async function closeHttpServer(server: Server, graceMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // A keep-alive connection whose request finishes after close() becomes idle but stays open until
  // its keep-alive timeout: sweep idle ones until the server is closed.
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  try {
    if (!(await settlesWithin(closed, graceMs))) {
      server.closeAllConnections();
      await closed;
    }
  } finally {
    clearInterval(sweep);
  }
}
