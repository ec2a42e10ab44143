/**
 * `npm run history:rebuild` — rebuild the history index in Redis from the run.json manifests in Blob
 * Storage alone (after a Redis loss or flush, or to check the index).
 * `npm run history:cleanup [-- --dry-run]` — delete runs past their report's retentionDays now, as
 * the runners' daily job does; `--dry-run` lists them and deletes nothing.
 * Same environment as the runner (REDIS_*, BLOB_*, REPORTS_DIR). Prints what it did; exit 0 done,
 * 1 failed, 2 bad usage.
 */
import { Archive } from '../core/archive.ts';
import { loadCatalog } from '../core/catalog.ts';
import { config as loadConfig } from '../core/config.ts';
import { HistoryIndex, rebuildIndex } from '../core/history.ts';
import { isMain } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { createRedis } from '../core/redis.ts';
import { runCleanup } from './maintenance.ts';

const USAGE = 'usage: tsx runner/history-cli.ts rebuild | cleanup [--dry-run]';

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(2)} MB`;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...flags] = argv;
  const dryRun = flags.includes('--dry-run');
  const unknown = flags.filter((f) => f !== '--dry-run');
  if ((command !== 'rebuild' && command !== 'cleanup') || unknown.length || (dryRun && command !== 'cleanup')) {
    console.error(USAGE);
    return 2;
  }
  const config = loadConfig();
  // The printed summary says what happened; the log adds only warnings unless LOG_LEVEL asks for more.
  const log = createLogger(`history-${command}`, config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
  const redis = createRedis(config);
  try {
    const archive = new Archive(config);
    const index = new HistoryIndex(redis, config.REDIS_PREFIX);
    if (command === 'rebuild') {
      const r = await rebuildIndex(archive, index, log);
      console.log(`history index rebuilt from container "${config.BLOB_CONTAINER}": ${r.folders} run folders, ${r.indexed} runs of ${r.users} people indexed, ${r.staleRemoved} stale entries removed`);
      for (const folder of r.withoutManifest) console.log(`  no run.json (not indexed): ${folder}`);
      for (const bad of r.invalid) console.log(`  unreadable manifest (not indexed): ${bad.blob}: ${bad.reason}`);
      return 0;
    }
    const catalog = await loadCatalog(config.REPORTS_DIR);
    for (const err of catalog.errors) console.error(`report definition skipped (its runs keep the retention their run.json recorded): ${err.message}`);
    const r = await runCleanup({ config, log, catalog, archive, redis }, { dryRun });
    const verb = dryRun ? 'would remove' : 'removed';
    console.log(`history cleanup: ${r.checked} runs checked, ${verb} ${r.removed.length} (${mb(r.bytes)})`);
    for (const run of r.removed) {
      console.log(`  ${verb} ${run.reportId}/${run.runId}: finished ${run.finishedAt}, kept ${run.retentionDays} days, ${run.blobs} blobs, ${mb(run.bytes)}`);
    }
    return 0;
  } catch (err) {
    console.error(`history ${command} failed: ${(err as Error).message}`);
    return 1;
  } finally {
    redis.disconnect();
  }
}

if (isMain(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
