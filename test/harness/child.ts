/**
 * Bot and runner processes started the way production starts them (`node --import tsx bot/main.ts`,
 * `runner/main.ts`), with their pino log (stdout, JSON lines) captured so a test can wait for a
 * line ("runner ready", "no longer taking jobs") and read the address the process picked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export interface LogLine {
  msg: string;
  time: number;
  [key: string]: unknown;
}

export interface ChildService {
  child: ChildProcess;
  /** Every log line so far. */
  logs: LogLine[];
  /** Everything the process wrote to stderr. */
  stderr(): string;
  /** Resolves with the first log line (past or future) matching `pred`; rejects if the process exits first. */
  waitForLog(pred: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** The exit code (null if killed by a signal) once the process has exited. */
  exited: Promise<number | null>;
  /** SIGKILL if still running (cleanup). */
  kill(): void;
}

/** Start `entry` (e.g. runner/main.ts) with `env` over this process's environment, logging at info. */
export function spawnService(entry: string, env: Record<string, string>): ChildService {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { ...process.env, ...env, LOG_LEVEL: env.LOG_LEVEL && env.LOG_LEVEL !== 'silent' ? env.LOG_LEVEL : 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const listeners = new Set<() => void>();
  let stderr = '';
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ msg: line, time: Date.now() });
      }
    }
    for (const l of [...listeners]) l();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  let hasExited = false;
  void exited.then(() => { hasExited = true; for (const l of [...listeners]) l(); });

  return {
    child,
    logs,
    stderr: () => stderr,
    exited,
    kill() {
      if (!hasExited) child.kill('SIGKILL');
    },
    waitForLog(pred, timeoutMs = 60_000) {
      return new Promise<LogLine>((resolve, reject) => {
        const check = () => {
          const hit = logs.find(pred);
          if (hit) done(() => resolve(hit));
          else if (hasExited) done(() => reject(new Error(`${entry} exited before the expected log line; stderr: ${stderr.slice(-1000)}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${entry}: no matching log line within ${timeoutMs} ms; stderr: ${stderr.slice(-1000)}`))), timeoutMs);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** A runner child process, resolved once it is ready; `opsUrl` is its /healthz, /readyz, /metrics base. */
export async function spawnRunner(env: Record<string, string>): Promise<ChildService & { opsUrl: string }> {
  const service = spawnService('runner/main.ts', { RUNNER_PORT: '0', ...env });
  try {
    const ready = await service.waitForLog((l) => l.msg === 'runner ready');
    return { ...service, opsUrl: String(ready.ops) };
  } catch (err) {
    service.kill();
    throw err;
  }
}
