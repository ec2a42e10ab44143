/**
 * `npm run report -- <report-id> --name value … [--out file.xlsx] [--local]`
 *
 * The CLI face of a report: the same parameter list that builds the card form and the `run` command
 * gives the flags, with the same validation. By default the run is queued like any other and the
 * CLI waits for it, then copies the workbook from the archive (a runner must be up). With `--local`
 * the pipeline runs in this process, still under the report's Redis mutex, and writes the file directly.
 * Exit codes: 0 done, 1 the run failed, 2 bad usage or parameters, 4 done but a check failed.
 */
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { QueueEvents } from 'bullmq';
import { pino } from 'pino';
import { mayRun } from '../core/access.ts';
import { Archive } from '../core/archive.ts';
import { loadCatalog, outputFileName, type Report } from '../core/catalog.ts';
import { ChoiceCache } from '../core/choices.ts';
import { config as loadConfig, type Config } from '../core/config.ts';
import { isMain } from '../core/lifecycle.ts';
import { ValidationError } from '../core/errors.ts';
import { newRunId, type ReportJob, type Requester, type RunResult } from '../core/job.ts';
import { Mutex } from '../core/mutex.ts';
import { choicesOf, defaultOf, labelOf, validateParams, type ParamValues } from '../core/params.ts';
import { createReportQueue, enqueueReport } from '../core/queue.ts';
import { createRedis, keys } from '../core/redis.ts';
import { choiceLoader, Connections } from './connectors/registry.ts';
import { ReportWorkbook } from './excel/writer.ts';
import { runPipeline } from './pipeline/run.ts';

/** Usage text for one report, generated from its parameter list. */
export function usage(report: Report, choices: Record<string, { value: string }[]> = {}): string {
  const lines = [`${report.title} (${report.id})`, report.description, '', `npm run report -- ${report.id} [options] [--out file.xlsx] [--local]`];
  for (const p of report.parameters) {
    const list = choicesOf(p, { choices }).map((c) => c.value);
    const hint = p.type === 'period' ? 'YYYYMM' : p.type === 'date' ? 'YYYY-MM-DD' : p.type === 'boolean' ? 'yes|no'
      : list.length ? `${list.slice(0, 6).join('|')}${p.type === 'multichoice' ? ',…' : ''}` : p.type;
    const def = defaultOf(p);
    lines.push(`  --${p.name} <${hint}>`.padEnd(40) + `${labelOf(p)}${p.required && def === undefined ? ' (required)' : ''}${def !== undefined ? ` [default ${def}]` : ''}`);
  }
  return lines.join('\n');
}

/**
 * Split argv into the report id, its parameters and the CLI's own flags. `--name value` and
 * `--name=value`; `--local` and `--help` take no value. (node:util parseArgs cannot take unknown
 * options with values, and report parameters are only known from the definition.)
 */
export function parseCli(argv: string[]): { reportId?: string; params: Record<string, string>; out?: string; local: boolean; help: boolean } {
  const params: Record<string, string> = {};
  const positionals: string[] = [];
  let out: string | undefined;
  let local = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (!token.startsWith('--')) { positionals.push(token); continue; }
    const eq = token.indexOf('=');
    const name = token.slice(2, eq === -1 ? undefined : eq);
    if (name === 'local') { local = true; continue; }
    if (name === 'help') { help = true; continue; }
    let value = eq === -1 ? undefined : token.slice(eq + 1);
    if (value === undefined && i + 1 < argv.length && !argv[i + 1].startsWith('--')) value = argv[++i];
    if (value === undefined) throw new ValidationError(`--${name} needs a value (write --${name} value or --${name}=value)`);
    if (name === 'out') out = value;
    else if (name in params) throw new ValidationError(`--${name} is given twice`);
    else params[name] = value;
  }
  if (positionals.length > 1) throw new ValidationError(`one report at a time: ${positionals.join(', ')}`);
  return { reportId: positionals[0], params, out, local, help };
}

async function runLocal(config: Config, report: Report, params: ParamValues, out: string, connections: Connections): Promise<{ rows: number; checks: RunResult['checks'] }> {
  const redis = createRedis(config);
  try {
    const mutex = new Mutex(redis, keys(config.REDIS_PREFIX).mutex(''));
    return await mutex.withLock(report.locks, {
      ttlMs: config.MUTEX_TTL_MS, waitMs: config.MUTEX_WAIT_MS,
      onWaiting: () => process.stderr.write(`waiting for the ${report.locks.join(', ')} lock…\n`),
    }, async (signal) => {
      const workbook = new ReportWorkbook({ path: out, creator: 'Report Bot CLI', title: report.title });
      try {
        const result = await runPipeline(report, params, {
          connections, workbook, signal, log: pino({ level: config.LOG_LEVEL }),
          onProgress: (p) => process.stderr.write(`\r  step ${p.step}/${p.steps} ${p.name}${p.rows ? ` (${p.rows} rows)` : ''}`.padEnd(70)),
        });
        await workbook.close();
        process.stderr.write('\n');
        return { rows: result.rows, checks: result.checks };
      } catch (err) {
        await workbook.close().catch(() => {});
        throw err;
      }
    });
  } finally {
    redis.disconnect();
  }
}

async function runQueued(config: Config, report: Report, params: ParamValues, who: Requester, out: string): Promise<RunResult> {
  const archive = new Archive(config);
  const redis = createRedis(config);
  const queue = createReportQueue(config, redis);
  const eventsRedis = createRedis(config, { blocking: true });
  const events = new QueueEvents(config.QUEUE_NAME, { connection: eventsRedis, prefix: config.REDIS_PREFIX });
  try {
    await events.waitUntilReady();
    const job: ReportJob = { runId: newRunId(), reportId: report.id, params, requestedBy: who, requestedAt: new Date().toISOString(), origin: 'cli' };
    await enqueueReport(queue, job, config);
    process.stderr.write(`queued ${job.runId}; waiting for a runner…\n`);
    const added = await queue.getJob(job.runId);
    const result = await added!.waitUntilFinished(events, config.RUN_TIMEOUT_MS);
    await archive.downloadToFile(result.blobName, out);
    return result;
  } finally {
    await events.close();
    await queue.close();
    // BullMQ leaves connections it was given open, and an open one keeps this process alive.
    eventsRedis.disconnect();
    redis.disconnect();
  }
}

async function main(): Promise<number> {
  const config = loadConfig();
  const connections = new Connections(config.connections);
  try {
    let args;
    try {
      args = parseCli(process.argv.slice(2));
    } catch (err) {
      console.error((err as Error).message);
      return 2;
    }
    const catalog = await loadCatalog(config.REPORTS_DIR, connections.names());
    const who: Requester = { aadObjectId: `cli:${userInfo().username}`, name: userInfo().username, upn: '' };
    const report = args.reportId ? catalog.reports.get(args.reportId) : undefined;
    if (!report || !mayRun(report, who)) {
      if (args.reportId) console.error(`There is no report "${args.reportId}" you may run from the CLI.`);
      console.error(`Reports: ${[...catalog.reports.values()].filter((r) => mayRun(r, who)).map((r) => r.id).join(', ')}\nUsage: npm run report -- <report-id> --help`);
      return 2;
    }
    const choices = await new ChoiceCache(choiceLoader(connections)).forReport(report);
    if (args.help) {
      console.log(usage(report, choices));
      return 0;
    }
    let params: ParamValues;
    try {
      params = validateParams(report.id, report.parameters, args.params, report.rules, { choices });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      console.error(`Nothing was run: ${err.message}.\n\n${usage(report, choices)}`);
      return 2;
    }
    const out = resolve(args.out ?? outputFileName(report, 'cli', params));
    const started = Date.now();
    const { rows, checks } = args.local
      ? await runLocal(config, report, params, out, connections)
      : await runQueued(config, report, params, who, out);
    const failed = checks.filter((c) => !c.passed);
    console.log(`${report.title}: ${rows} rows in ${((Date.now() - started) / 1000).toFixed(1)} s → ${out}`);
    if (checks.length) console.log(failed.length ? `checks FAILED: ${failed.map((c) => c.name).join('; ')}` : `checks: ${checks.length} of ${checks.length} passed`);
    return failed.length ? 4 : 0;
  } catch (err) {
    console.error(`The run failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await connections.close();
  }
}

if (isMain(import.meta.url)) process.exitCode = await main();
