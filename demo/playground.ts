/**
 * The Microsoft 365 Agents Playground (`@microsoft/m365agentsplayground`) as a child process: a
 * Teams-like chat page and the Bot Connector behind it, pointed at the bot. `npm start` opens it for
 * people; the browser test drives it with Chromium. It runs offline (its page is served from the
 * package; fonts and animations it tries to load from a CDN fail harmlessly).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PlaygroundOptions {
  /** The bot's messaging endpoint, e.g. http://127.0.0.1:3978/api/messages. */
  endpoint: string;
  /** Port to serve on; 0 = any free port. A taken port makes the Playground pick a random one. */
  port?: number;
  /** Base environment of the child (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Receives every line the Playground prints. */
  output?: (line: string) => void;
  /** How long to wait for it to listen and answer. */
  timeoutMs?: number;
}

export interface RunningPlayground {
  /** The chat page, http://127.0.0.1:<port>. */
  url: string;
  port: number;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after a grace period; safe to call more than once. */
  stop(): Promise<void>;
}

/** Default port of the Playground. */
export const PLAYGROUND_PORT = 56150;
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_LINES = 30;

function playgroundBin(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@microsoft/m365agentsplayground/package.json');
  return join(dirname(pkg), (require(pkg) as { bin: Record<string, string> }).bin.agentsplayground);
}

/**
 * Start the Playground for the msteams channel, without telemetry, and resolve once its page answers.
 * It opens a desktop browser by default and exits where there is none: TEAMSAPPTESTER_BROWSER=none
 * keeps it serving. Rejects with its last output if it exits or stays silent.
 */
export async function startPlayground(opts: PlaygroundOptions): Promise<RunningPlayground> {
  const port = opts.port ?? PLAYGROUND_PORT;
  const args = [playgroundBin(), '-e', opts.endpoint, '-c', 'msteams', '-p', String(port), '--disable-telemetry'];
  const child = spawn(process.execPath, args, { env: { ...(opts.env ?? process.env), TEAMSAPPTESTER_BROWSER: 'none' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  let listening: number | undefined;
  const onData = (data: Buffer) => {
    for (const line of data.toString().split('\n').filter((l) => l.trim())) {
      tail.push(line);
      if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
      listening ??= Number(/Listening on (\d+)/.exec(line)?.[1]) || undefined;
      opts.output?.(line);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  const until = Date.now() + (opts.timeoutMs ?? START_TIMEOUT_MS);
  while (Date.now() < until && child.exitCode === null) {
    if (listening && await fetch(`http://127.0.0.1:${listening}/`).then((r) => r.ok, () => false)) {
      return { url: `http://127.0.0.1:${listening}`, port: listening, child, stop };
    }
    await sleep(100);
  }
  const why = child.exitCode !== null ? `exited with code ${child.exitCode}` : `did not answer within ${opts.timeoutMs ?? START_TIMEOUT_MS} ms`;
  await stop();
  throw new Error(`The Agents Playground ${why}. Its output:\n${tail.join('\n')}`);
}
