/**
 * A whole report bot for one test file, on real parts: the machine's Redis (isolated by a key prefix
 * unique to this run), a private Azurite, a fresh SQLite demo warehouse, the bot on a random port,
 * runners in this process, and the local Bot Connector playing Teams. stop() removes what it made.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { startBot, type RunningBot } from '../../bot/main.ts';
import { parseConfig, type Config } from '../../core/config.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import { createReportQueue, type ReportQueue } from '../../core/queue.ts';
import { LocalConnector, type ConnectorOptions } from '../../demo/connector.ts';
import { startPlexSimulator } from '../../demo/plex-simulator.ts';
import { startAzurite, type RunningService } from '../../demo/services.ts';
import { DEMO_SIZES } from '../../demo/generator.ts';
import { buildWarehouse } from '../../demo/warehouse.ts';
import { startRunner, type RunningRunner } from '../../runner/main.ts';

/** The shared Redis the tests run against (CI starts one on 6379). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface StackOptions {
  /** Runners to start in this process (0 = none; tests may start their own). */
  runners?: number;
  /** Extra environment for the bot and runners' config. */
  env?: Record<string, string>;
  /** Accounts per PCN in the demo warehouse (400 = the full chart, with retained earnings). */
  accountsPerPcn?: number;
  /** Journal lines in the demo warehouse (small by default: the TB tests compare to its golden file). */
  journalLines?: number;
  /** Options of the local Bot Connector (e.g. Teams-style throttling). */
  connector?: ConnectorOptions;
}

export interface Stack {
  config: Config;
  /** The environment the config was parsed from: child processes get the same. */
  env: Record<string, string>;
  log: Logger;
  prefix: string;
  dir: string;
  warehousePath: string;
  bot: RunningBot;
  endpoint: string;
  connector: LocalConnector;
  redis: Redis;
  queue: ReportQueue;
  runners: RunningRunner[];
  startRunner(env?: Record<string, string>): Promise<RunningRunner>;
  stop(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const prefix = `test-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const dir = await mkdtemp(join(tmpdir(), 'reportbot-test-'));
  const warehousePath = join(dir, 'warehouse.sqlite');
  buildWarehouse(warehousePath, { accountsPerPcn: opts.accountsPerPcn ?? 400, journalLines: opts.journalLines ?? DEMO_SIZES.small });
  const azurite: RunningService & { connectionString: string } = await startAzurite({ location: join(dir, 'azurite') });
  const plex = await startPlexSimulator({ dbPath: warehousePath });
  const plexUrl = new URL(plex.url);
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PORT: '0',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    BLOB_CONNECTION_STRING: azurite.connectionString,
    BLOB_CONTAINER: 'reports',
    REPORTS_DIR: 'reports,test/fixtures/reports',
    CONNECTION_WAREHOUSE: `sqlite:${warehousePath}`,
    CONNECTION_PLEX: `plex://DemoWS_All:demo-all-pw@${plexUrl.host}${plexUrl.pathname}`,
    JOB_ATTEMPTS: '2',
    // Several runners share this machine (and this process): each takes any free ops port.
    RUNNER_PORT: '0',
    ...opts.env,
  };
  let config: Config;
  let connector: LocalConnector | undefined;
  let bot: RunningBot;
  const log = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');
  try {
    config = parseConfig(env);
    connector = await LocalConnector.start(opts.connector);
    bot = await startBot(config, log);
  } catch (err) {
    // A stack that cannot start must not leave servers behind: the test file would never exit.
    await connector?.close().catch(() => {});
    await azurite.stop().catch(() => {});
    await plex.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const redis = new Redis(config.REDIS_URL);
  const queue = createReportQueue(config, redis);
  const runners: RunningRunner[] = [];
  const stack: Stack = {
    config, env, log, prefix, dir, warehousePath, bot, connector, redis, queue, runners,
    endpoint: `${bot.url}/api/messages`,
    async startRunner(extra = {}) {
      const runner = await startRunner(extra && Object.keys(extra).length ? parseConfig({ ...env, ...extra }) : config, log);
      runners.push(runner);
      return runner;
    },
    async stop() {
      await Promise.allSettled(runners.map((r) => r.close()));
      await bot.close().catch(() => {});
      await queue.close().catch(() => {});
      await connector.close().catch(() => {});
      await deleteKeys(redis, `${prefix}:*`);
      redis.disconnect();
      await azurite.stop().catch(() => {});
      await plex.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  for (let i = 0; i < (opts.runners ?? 1); i++) await stack.startRunner();
  return stack;
}

/** Delete this run's keys only (never FLUSHALL a shared Redis). */
export async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (batch.length) await redis.del(...batch);
  } while (cursor !== '0');
}

/** Jobs in the queue in any state: "nothing enqueued" assertions read this. */
export async function jobCount(queue: ReportQueue): Promise<number> {
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'waiting-children');
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/**
 * The events (`start`, `end`) the fixture reports' pipelines wrote to the warehouse's `run_log` for
 * `tag`, in order: what actually ran, whichever process ran it. Empty before any pipeline logged.
 */
export function runLogEvents(warehousePath: string, tag: string): string[] {
  const db = new Database(warehousePath, { readonly: true });
  try {
    const hasLog = db.prepare("select 1 from sqlite_master where name = 'run_log'").get();
    return hasLog ? (db.prepare('select event from run_log where tag = ? order by at').pluck().all(tag) as string[]) : [];
  } finally {
    db.close();
  }
}
