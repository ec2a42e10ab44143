/**
 * The embedded infrastructure `npm start` and the tests run on: a private Redis and an Azurite blob
 * service, both local child processes. Nothing here downloads anything: Redis is the machine's
 * redis-server binary, Azurite the npm dependency.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect, createServer, type Socket } from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisMemoryServer } from 'redis-memory-server';

/** A service this process started or was pointed at. */
export interface RunningService {
  /** Where clients connect (redis://… or the Azurite blob endpoint). */
  url: string;
  /** Stop the service if this process started it; safe to call more than once. */
  stop(): Promise<void>;
}

/** Azurite's well-known development account: public, and accepted by nothing but an emulator. */
const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Azurite loads its metadata store before listening, so a cold start on a slow CI box needs a margin. */
const AZURITE_START_TIMEOUT_MS = 20_000;
/** How long stop() lets Azurite close gracefully before SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Enough of a failed child's output to explain the failure without flooding the error. */
const OUTPUT_TAIL_CHARS = 4_000;

/**
 * Redis: with `url` (REDIS_URL), only check that it answers PING and return it (stop() is a no-op).
 * Otherwise start a private redis-server (via redis-memory-server, using the machine's binary) on a
 * free port of 127.0.0.1, without persistence, and return `redis://127.0.0.1:<port>`.
 */
export async function startRedis(opts: { url?: string } = {}): Promise<RunningService> {
  if (opts.url) {
    await pingRedis(opts.url);
    return { url: opts.url, stop: async () => {} };
  }
  const systemBinary = findRedisServer();
  if (!systemBinary) {
    // Without a system binary redis-memory-server would try to download and build Redis: refuse instead.
    throw new Error('No redis-server binary found (looked at REDISMS_SYSTEM_BINARY, PATH, /usr/bin, /usr/local/bin). '
      + 'Install redis-server (apt-get install redis-server) or set REDIS_URL to an existing Redis.');
  }
  let server: RedisMemoryServer;
  try {
    server = await RedisMemoryServer.create({ binary: { systemBinary }, instance: { ip: '127.0.0.1' } });
  } catch (err) {
    throw new Error(`Could not start a private redis-server (${systemBinary}): ${errorMessage(err)}`, { cause: err });
  }
  const url = `redis://${await server.getHost()}:${await server.getPort()}`;
  // redis-memory-server's own watchdog only notices a dead parent every 2 s; free the port at once.
  const info = server.getInstanceInfo();
  const child = info ? info.childProcess : undefined;
  const onExit = () => { child?.kill('SIGKILL'); };
  process.on('exit', onExit);
  let stopped: Promise<void> | undefined;
  return {
    url,
    // Memoised: RedisMemoryServer.stop() on a stopped server would start a new one first.
    stop: () => (stopped ??= server.stop().then(() => { process.off('exit', onExit); })),
  };
}

/**
 * Azurite's blob service as a child process on 127.0.0.1 and a free port (or `port`), keeping its
 * data under `location` (created if missing). Resolves once it accepts connections, with `url` the
 * blob endpoint and `connectionString` the development-account connection string for it.
 * stop() sends SIGTERM, SIGKILL after 5 s, and resolves when the process has exited. The child is
 * also killed when this process exits.
 */
export async function startAzurite(opts: { location: string; port?: number }): Promise<RunningService & { connectionString: string }> {
  if (opts.port !== undefined && !(Number.isInteger(opts.port) && opts.port > 0 && opts.port < 65536)) {
    // Port 0 would make Azurite pick a port we could not know and poll.
    throw new RangeError(`startAzurite: port must be an integer from 1 to 65535, got ${opts.port}`);
  }
  const location = resolve(opts.location);
  await mkdir(location, { recursive: true });
  // Another process may take the free port between freePort() and Azurite's listen(): try another.
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? await freePort();
    try {
      const child = await launchAzurite(location, port);
      const url = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
      return {
        url,
        connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${url};`,
        stop: child.stop,
      };
    } catch (err) {
      if (opts.port !== undefined || attempt >= 3 || !(err instanceof PortInUseError)) throw err;
    }
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('freePort: the OS returned no port'));
      });
    });
  });
}

class PortInUseError extends Error {}

/**
 * Azurite's only stdin use: a pipe from this process reaches EOF when this process dies in any way,
 * even SIGKILL or a fatal signal, where no 'exit' handler runs; without it a killed test run would
 * leak Azurite processes. The child then SIGTERMs itself, so Azurite still saves its metadata and
 * closes. stdin is unref'd so that it does not keep Azurite alive after its own shutdown.
 */
const PARENT_WATCHDOG = 'data:text/javascript,'
  + 'process.stdin.on("end",()=>process.kill(process.pid,"SIGTERM")).on("error",()=>{}).resume().unref()';

/** Spawn azurite-blob and wait until its port accepts connections. */
async function launchAzurite(location: string, port: number): Promise<{ stop(): Promise<void> }> {
  // A port that answers before Azurite even started is someone else's: polling it would mistake
  // that listener for ours.
  if (await acceptsConnections(port)) {
    throw new PortInUseError(`Azurite cannot listen on 127.0.0.1:${port}: something already listens there (EADDRINUSE)`);
  }
  const bin = azuriteBlobBin();
  const args = [
    '--import', PARENT_WATCHDOG,
    bin,
    '--blobHost', '127.0.0.1',
    '--blobPort', String(port),
    '--location', location,
    // The SDK speaks a newer service API version than Azurite knows; it works for what we use.
    '--skipApiVersionCheck',
    // Telemetry would try to reach Application Insights over the internet.
    '--disableTelemetry',
    '--loose',
    '--silent',
  ];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout = (stdout + d.toString()).slice(-OUTPUT_TAIL_CHARS); });
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-OUTPUT_TAIL_CHARS); });
  // The watchdog pipe is never written to; a child that already exited must not make it throw EPIPE.
  child.stdin!.on('error', () => {});
  // A forgotten stop() must not keep this process alive forever: the 'exit' handler below still
  // takes Azurite down with it.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as Socket).unref();

  let exitInfo: string | undefined;
  const exited = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exitInfo = signal ? `signal ${signal}` : `code ${code}`;
      process.off('exit', onParentExit);
      resolveExit();
    });
  });
  // spawn() failures (e.g. ENOENT) arrive as 'error' and may come without an 'exit'.
  let spawnError: Error | undefined;
  child.once('error', (err) => { spawnError = err; });
  const onParentExit = () => { child.kill('SIGTERM'); };
  process.on('exit', onParentExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= (async () => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    // Keep this process alive until Azurite is gone: the caller awaits it.
    child.ref();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  })());

  const output = () => (stderr.trim() || stdout.trim() || '(no output)');
  const deadline = Date.now() + AZURITE_START_TIMEOUT_MS;
  for (;;) {
    if (spawnError) {
      await stop();
      throw new Error(`Azurite could not be started (${process.execPath} ${bin}): ${spawnError.message}`);
    }
    if (exitInfo) {
      const message = `Azurite exited with ${exitInfo} before accepting connections on 127.0.0.1:${port}. Output:\n${output()}`;
      throw /EADDRINUSE/.test(stderr) ? new PortInUseError(message) : new Error(message);
    }
    if (await acceptsConnections(port)) return { stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Azurite did not accept connections on 127.0.0.1:${port} within ${AZURITE_START_TIMEOUT_MS / 1000} s. Output:\n${output()}`);
    }
    await sleep(100);
  }
}

/** The azurite-blob entry script, from the installed package's "bin" (no shell, no .bin shim). */
function azuriteBlobBin(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('azurite/package.json');
  const pkg = require(pkgPath) as { bin: Record<string, string> };
  return join(dirname(pkgPath), pkg.bin['azurite-blob']);
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolveConnected) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => { socket.destroy(); resolveConnected(ok); };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** PING a Redis given by URL once, without retries, so a wrong REDIS_URL fails fast and says which. */
async function pingRedis(url: string): Promise<void> {
  let lastError: Error | undefined;
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // Without a listener ioredis prints "Unhandled error event" for a refused connection.
  client.on('error', (err: Error) => { lastError = err; });
  try {
    await client.connect();
    const reply = await client.ping();
    if (reply !== 'PONG') throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
  } catch (err) {
    const reason = lastError && lastError !== err ? `${errorMessage(err)} (${lastError.message})` : errorMessage(err);
    throw new Error(`Redis at ${redactCredentials(url)} does not answer PING: ${reason}`, { cause: err });
  } finally {
    client.disconnect();
  }
}

/** The redis-server to run: REDISMS_SYSTEM_BINARY, else the first one on PATH or in the usual places. */
function findRedisServer(): string | undefined {
  const candidates = [
    process.env.REDISMS_SYSTEM_BINARY,
    ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'redis-server')),
    '/usr/bin/redis-server',
    '/usr/local/bin/redis-server',
  ];
  return candidates.find((path) => {
    if (!path) return false;
    try {
      accessSync(path, fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The URL with its password masked; handles `redis://:secret@host`, the usual Redis form. */
function redactCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
