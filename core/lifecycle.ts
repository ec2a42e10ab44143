/** Process entry points: parse config, start, and close cleanly on SIGTERM/SIGINT. */
import { pathToFileURL } from 'node:url';
import { config as loadConfig, type Config } from './config.ts';
import { createLogger, type Logger } from './logger.ts';

/** True when `moduleUrl` is the file Node was started with (`node bot/main.ts`), not an import. */
export function isMain(moduleUrl: string): boolean {
  return moduleUrl === pathToFileURL(process.argv[1] ?? '').href;
}

/**
 * Run a process role: config parsed once (exits naming a bad variable), a pino logger named after
 * the role, `start` called with both; on SIGTERM or SIGINT the returned service is closed, then exit.
 * A failure to start is logged and exits 1.
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
  const stop = async (signal: string) => {
    log.info({ signal }, 'shutting down');
    try {
      await service.close();
    } catch (err) {
      log.error({ err }, 'error while shutting down');
      process.exit(1);
    }
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
