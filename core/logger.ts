/** pino, structured, with secrets redacted. Child loggers carry runId / reportId. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Create the process logger. `name` is the process role (bot, runner, start). */
export function createLogger(name: string, level: string = 'info'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: [
        'password', '*.password', 'connectionString', '*.connectionString', 'url', '*.url',
        'headers.authorization', '*.headers.authorization', 'req.headers.authorization',
      ],
      censor: '[redacted]',
    },
  });
}

/** Remove credentials from a connection URL or connection string before it is logged. */
export function redactUrl(url: string): string {
  return url
    .replace(/\/\/([^:/@]*):([^@]+)@/, '//$1:***@')
    .replace(/((?:AccountKey|Password|Pwd|SharedAccessSignature)=)[^;]+/gi, '$1***');
}
