/**
 * `npm start`: the whole product on one machine with embedded defaults, then a chat to try it.
 *   Redis      — REDIS_URL if set, else a private redis-server on a free port
 *   Blob       — BLOB_CONNECTION_STRING if set, else Azurite with its data under .data/azurite
 *   Warehouse  — CONNECTION_WAREHOUSE if set, else the SQLite demo warehouse in .data/ (a Plex-shaped
 *                general ledger: 2 PCNs, 24 periods, ~100k journal lines)
 *   Plex       — CONNECTION_PLEX if set, else the Plex SOAP simulator over the demo ledger
 *   bot + one runner as child processes (the same entry points production runs)
 *   Microsoft 365 Agents Playground pointed at the bot; `npm run chat` as the terminal fallback
 * Ctrl-C stops everything it started.
 *
 * This launcher only assembles environment variables for the bot and the runner: they parse and
 * validate them through core/config.ts like in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../core/logger.ts';
import { DEMO_SIZES, goldenPathFor } from './generator.ts';
import { PLAYGROUND_PORT, startPlayground } from './playground.ts';
import { startPlexSimulator } from './plex-simulator.ts';
import { startAzurite, startRedis, type RunningService } from './services.ts';
import { buildWarehouse } from './warehouse.ts';

const log = createLogger('start', 'info');
const DATA = resolve('.data');
const outside = process.env;
const botPort = Number(outside.PORT ?? 3978);
const playgroundPort = Number(outside.PLAYGROUND_PORT ?? PLAYGROUND_PORT);

const services: RunningService[] = [];
const children: ChildProcess[] = [];
let stopping = false;

async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    for (const s of services.reverse()) await s.stop().catch(() => {});
  }
  process.exit(code);
}
process.once('SIGINT', () => void stopAll(0));
process.once('SIGTERM', () => void stopAll(0));

/** Start a child with its output prefixed, and stop everything if it dies unexpectedly. */
function child(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const p = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (data: Buffer) => data.toString().split('\n').filter(Boolean).map((l) => `[${name}] ${l}`).join('\n') + '\n';
  p.stdout!.on('data', (d: Buffer) => process.stdout.write(prefix(d)));
  p.stderr!.on('data', (d: Buffer) => {
    if (!/DEP0111|trace-deprecation/.test(d.toString())) process.stderr.write(prefix(d));
  });
  p.once('exit', (code, signal) => {
    if (stopping) return;
    log.error({ name, code, signal }, `${name} exited`);
    void stopAll(1);
  });
  children.push(p);
  return p;
}

async function waitForHttp(url: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await fetch(url).then((r) => r.status < 500, () => false)) return true;
    await sleep(200);
  }
  return false;
}

mkdirSync(DATA, { recursive: true });
const env: NodeJS.ProcessEnv = { ...outside, PORT: String(botPort) };

const redis = await startRedis({ url: outside.REDIS_URL });
services.push(redis);
env.REDIS_URL = redis.url;
log.info({ redis: outside.REDIS_URL ? 'configured' : 'embedded' }, `Redis at ${redis.url}`);

if (!outside.BLOB_CONNECTION_STRING) {
  const azurite = await startAzurite({ location: join(DATA, 'azurite') });
  services.push(azurite);
  env.BLOB_CONNECTION_STRING = azurite.connectionString;
  log.info(`Azurite (Blob Storage) at ${azurite.url}, data in .data/azurite`);
}

if (!outside.CONNECTION_WAREHOUSE) {
  const path = join(DATA, 'warehouse.sqlite');
  // The golden file is written last: without it the warehouse is missing, half-built or from an older version.
  if (!existsSync(goldenPathFor(path))) {
    log.info({ accounts: buildWarehouse(path, { journalLines: DEMO_SIZES.medium }) }, 'demo warehouse created');
  }
  env.CONNECTION_WAREHOUSE = `sqlite:${path}`;
  if (!outside.CONNECTION_PLEX) {
    const plex = await startPlexSimulator({ dbPath: path });
    services.push({ url: plex.url, stop: plex.close });
    const u = new URL(plex.url);
    env.CONNECTION_PLEX = `plex://DemoWS_All:demo-all-pw@${u.host}${u.pathname}`;
    log.info(`Plex web services simulator at ${plex.url} (user DemoWS_All)`);
  }
}

const tsx = ['--import', 'tsx'];
child('bot', process.execPath, [...tsx, 'bot/main.ts'], env);
child('runner', process.execPath, [...tsx, 'runner/main.ts'], env);
const botUrl = `http://127.0.0.1:${botPort}`;
if (!(await waitForHttp(`${botUrl}/healthz`, 30_000))) {
  log.error('the bot did not come up within 30 s');
  await stopAll(1);
}

// The Agents Playground: a Teams-like chat page and connector (it picks another port if this one is taken).
let playgroundUrl: string | undefined;
try {
  const playground = await startPlayground({
    endpoint: `${botUrl}/api/messages`,
    port: playgroundPort,
    env,
    output: (line) => { if (!/DEP0111|trace-deprecation/.test(line)) process.stdout.write(`[playground] ${line}\n`); },
  });
  children.push(playground.child);
  playground.child.once('exit', (code, signal) => { if (!stopping) log.error({ code, signal }, 'the Agents Playground exited'); });
  playgroundUrl = playground.url;
} catch (err) {
  log.error({ err }, 'the Agents Playground did not start');
}

console.log(`
  Report bot is running.
    Bot endpoint   ${botUrl}/api/messages
    Chat           ${playgroundUrl ? `${playgroundUrl}   (Microsoft 365 Agents Playground: open it in a browser)` : 'the Agents Playground did not start; see its output above'}
    Terminal chat  npm run chat   (works without a browser)
  Try: help · reports · run gl-accounts pcn=900101 · run trial-balance pcn=900101 startPeriod=202501 endPeriod=202512
  Ctrl-C stops everything.
`);
