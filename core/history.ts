/**
 * Run history. Every finished run leaves a `run.json` manifest next to its workbook in Blob Storage
 * (`runs/<reportId>/<runId>/run.json`): that is the source of truth. A Redis index built from the
 * manifests answers "my runs, newest first, paged" without touching Blob Storage, and can be thrown
 * away and rebuilt from the blobs at any time (rebuildIndex). Retention deletes a run's folder and
 * its index entries once the report's `retentionDays` have passed (cleanupExpired).
 */
import type { Redis } from 'ioredis';
import { z } from 'zod/v4';
import { mayRun } from './access.ts';
import { Archive, type RunFolder } from './archive.ts';
import { DEFAULT_RETENTION_DAYS, type ReportDefinition } from './catalog.ts';
import { requesterSchema, type Requester } from './job.ts';
import type { Logger } from './logger.ts';
import { keys, type Keys } from './redis.ts';

/** The manifest's file name inside a run's folder. */
export const MANIFEST_NAME = 'run.json';

export const RUN_STATUSES = ['succeeded', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

const DAY_MS = 24 * 3600 * 1000;

const paramValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]);
const isoTime = z.string().datetime();

/** run.json: everything known about a finished run, written by the runner at the end of every run. */
export const runManifestSchema = z.object({
  manifestVersion: z.literal(1),
  runId: z.string().min(1),
  reportId: z.string().min(1),
  reportTitle: z.string(),
  params: z.record(z.string(), paramValue),
  requestedBy: requesterSchema,
  origin: z.string(),
  requestedAt: isoTime,
  /** When the first attempt started (absent if the run never reached a runner's processor). */
  startedAt: isoTime.optional(),
  finishedAt: isoTime,
  status: z.enum(RUN_STATUSES),
  /** Attempts the run took (retries included). */
  attempts: z.number().int().min(1),
  /** Pipeline and archive time of the attempt that built the workbook; for a failure, start to end. */
  durationMs: z.number().min(0).optional(),
  /** Rows written to the workbook's report sheets. */
  rows: z.number().int().min(0).optional(),
  steps: z.array(z.object({ name: z.string(), rows: z.number(), ms: z.number() })),
  checks: z.array(z.object({ name: z.string(), passed: z.boolean(), violations: z.number() })),
  /** The workbook; absent when the run failed before one was archived. */
  file: z.object({ blobName: z.string(), fileName: z.string(), bytes: z.number().int().min(0) }).optional(),
  /** One record per channel, as the runner kept it in the run's Redis hash (`delivery:<channel>`). */
  deliveries: z.array(z.object({
    channel: z.string(),
    status: z.string(),
    attempts: z.number(),
    at: z.string(),
    url: z.string().optional(),
    detail: z.string().optional(),
  })),
  /** What the requester was told: the step that failed (if one did) and the plain-words message. */
  failure: z.object({ step: z.string().optional(), message: z.string(), code: z.string().optional() }).optional(),
  /** The report's retentionDays when the run finished (cleanup prefers the current definition). */
  retentionDays: z.number().int().min(1),
});
export type RunManifest = z.infer<typeof runManifestSchema>;

/** What the history card shows of a run: the manifest without steps and deliveries. Kept in Redis. */
export interface RunSummary {
  runId: string;
  reportId: string;
  reportTitle: string;
  params: RunManifest['params'];
  requestedBy: { aadObjectId: string; name: string };
  requestedAt: string;
  finishedAt: string;
  status: RunStatus;
  rows?: number;
  durationMs?: number;
  checks: RunManifest['checks'];
  file?: RunManifest['file'];
  failure?: { step?: string; message: string };
}

/** The summary of a manifest; the index holds exactly this, whether written by a runner or a rebuild. */
export function summarize(m: RunManifest): RunSummary {
  const s: RunSummary = {
    runId: m.runId,
    reportId: m.reportId,
    reportTitle: m.reportTitle,
    params: m.params,
    requestedBy: { aadObjectId: m.requestedBy.aadObjectId, name: m.requestedBy.name },
    requestedAt: m.requestedAt,
    finishedAt: m.finishedAt,
    status: m.status,
    checks: m.checks,
  };
  if (m.rows !== undefined) s.rows = m.rows;
  if (m.durationMs !== undefined) s.durationMs = m.durationMs;
  if (m.file) s.file = m.file;
  if (m.failure) s.failure = m.failure.step === undefined ? { message: m.failure.message } : { step: m.failure.step, message: m.failure.message };
  return s;
}

/** Where a run's manifest lives. */
export function manifestBlobName(reportId: string, runId: string): string {
  return Archive.blobName(reportId, runId, MANIFEST_NAME);
}

/**
 * Blob metadata written with every manifest, so retention can decide from a listing alone without
 * downloading each run.json. Values must be ASCII: the requester id is URI-encoded.
 */
export function manifestMetadata(m: RunManifest): Record<string, string> {
  return {
    runid: m.runId,
    reportid: m.reportId,
    requester: encodeURIComponent(m.requestedBy.aadObjectId),
    status: m.status,
    finishedat: m.finishedAt,
    retentiondays: String(m.retentionDays),
  };
}

/** Write a manifest to the archive (replacing an earlier one of the same run) and index it. */
export async function saveManifest(archive: Archive, index: HistoryIndex, manifest: RunManifest): Promise<void> {
  const m = runManifestSchema.parse(manifest);
  await archive.uploadJson(manifestBlobName(m.reportId, m.runId), m, manifestMetadata(m));
  await index.add(m);
}

/** Whose runs a history view lists: one person's, or (admins only) everyone's. */
export type HistoryScope = { user: string } | 'all';

/** One page of a history view, newest first. `page` is 0-based and clamped to the last page. */
export interface HistoryPage {
  runs: RunSummary[];
  total: number;
  page: number;
  pages: number;
  pageSize: number;
}

export const HISTORY_PAGE_SIZE = 10;

/** The Redis side of the history: sorted sets of run ids by requestedAt, and a summary per run. */
export class HistoryIndex {
  private readonly redis: Redis;
  private readonly keys: Keys;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.keys = keys(prefix);
  }

  /** Add or replace a run's entry (idempotent: the same manifest gives the same entry). */
  async add(m: RunManifest): Promise<void> {
    const score = Date.parse(m.requestedAt);
    await this.redis.multi()
      .set(this.keys.historyRun(m.runId), JSON.stringify(summarize(m)))
      .zadd(this.keys.historyByUser(m.requestedBy.aadObjectId), score, m.runId)
      .zadd(this.keys.historyAll(), score, m.runId)
      .exec();
  }

  /** A run's summary, or undefined when the index does not know it. */
  async get(runId: string): Promise<RunSummary | undefined> {
    const json = await this.redis.get(this.keys.historyRun(runId));
    return json ? (JSON.parse(json) as RunSummary) : undefined;
  }

  /** Drop a run from the index. `requester` saves a read when the caller knows it. */
  async remove(runId: string, requester?: string): Promise<void> {
    const owner = requester ?? (await this.get(runId))?.requestedBy.aadObjectId;
    const tx = this.redis.multi().del(this.keys.historyRun(runId)).zrem(this.keys.historyAll(), runId);
    if (owner) tx.zrem(this.keys.historyByUser(owner), runId);
    await tx.exec();
  }

  /** A page of runs, newest first. */
  async page(scope: HistoryScope, page: number, pageSize = HISTORY_PAGE_SIZE): Promise<HistoryPage> {
    const key = scope === 'all' ? this.keys.historyAll() : this.keys.historyByUser(scope.user);
    const total = await this.redis.zcard(key);
    const pages = Math.max(1, Math.ceil(total / pageSize));
    const p = Math.min(Math.max(0, Math.trunc(page) || 0), pages - 1);
    const ids = await this.redis.zrevrange(key, p * pageSize, p * pageSize + pageSize - 1);
    const json = ids.length ? await this.redis.mget(ids.map((id) => this.keys.historyRun(id))) : [];
    // A run removed between the two reads is left out rather than shown half.
    const runs = json.filter((j): j is string => j !== null).map((j) => JSON.parse(j) as RunSummary);
    return { runs, total, page: p, pages, pageSize };
  }

  /**
   * Remove every entry whose run is not in `keep`, except runs recorded at or after `since` (ms):
   * a runner may record a run while a rebuild is going. Returns the summaries removed.
   */
  async prune(keep: ReadonlySet<string>, since: number): Promise<number> {
    const runPrefix = this.keys.historyRun('');
    const recent = async (runId: string) => {
      const s = await this.get(runId);
      return s !== undefined && Date.parse(s.finishedAt) >= since;
    };
    let removed = 0;
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', this.keys.historyPattern(), 'COUNT', 500);
      cursor = next;
      for (const key of batch) {
        if (key.startsWith(runPrefix)) {
          const runId = key.slice(runPrefix.length);
          if (!keep.has(runId) && !(await recent(runId))) removed += await this.redis.del(key);
        } else if ((await this.redis.type(key)) === 'zset') {
          for (const member of await this.redis.zrange(key, 0, '-1')) {
            if (!keep.has(member) && !(await recent(member))) await this.redis.zrem(key, member);
          }
        }
      }
    } while (cursor !== '0');
    return removed;
  }
}

/**
 * May `who` download a run's workbook? The requester may; so may ADMIN_USERS; and, when the report
 * says `access.shareRuns: true`, everyone its `access.allow` admits. The report is the current
 * definition: a report gone from the catalog shares nothing.
 */
export function mayDownload(
  run: Pick<RunSummary, 'requestedBy'>, report: Pick<ReportDefinition, 'access'> | undefined, who: Requester, admins: readonly string[],
): boolean {
  if (who.aadObjectId !== '' && who.aadObjectId === run.requestedBy.aadObjectId) return true;
  if (isAdmin(who, admins)) return true;
  return report?.access.shareRuns === true && mayRun(report, who);
}

/** Is `who` one of ADMIN_USERS (Entra object ids)? */
export function isAdmin(who: Pick<Requester, 'aadObjectId'>, admins: readonly string[]): boolean {
  const id = who.aadObjectId.toLowerCase();
  return id !== '' && admins.some((a) => a.toLowerCase() === id);
}

/** What rebuildIndex did. */
export interface RebuildReport {
  folders: number;
  indexed: number;
  users: number;
  /** Run folders without a run.json (a run still going, or one a runner never finished recording). */
  withoutManifest: string[];
  /** Manifests that could not be read or do not match the schema, with the reason. */
  invalid: { blob: string; reason: string }[];
  /** Index entries no manifest backs any more, removed. */
  staleRemoved: number;
}

/**
 * Rebuild the history index from the run.json blobs alone. Entries are upserted (history keeps
 * answering while it runs); entries no manifest backs are removed at the end, except runs recorded
 * after the rebuild started (a runner may finish one meanwhile).
 */
export async function rebuildIndex(archive: Archive, index: HistoryIndex, log?: Logger): Promise<RebuildReport> {
  const started = Date.now();
  const report: RebuildReport = { folders: 0, indexed: 0, users: 0, withoutManifest: [], invalid: [], staleRemoved: 0 };
  const seen = new Set<string>();
  const users = new Set<string>();
  const pending = new Set<Promise<void>>();
  const load = async (folder: RunFolder, blob: string) => {
    try {
      const parsed = runManifestSchema.safeParse(await archive.readJson(blob));
      if (!parsed.success) {
        report.invalid.push({ blob, reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') });
        return;
      }
      if (parsed.data.runId !== folder.runId || parsed.data.reportId !== folder.reportId) {
        report.invalid.push({ blob, reason: `names run ${parsed.data.reportId}/${parsed.data.runId}, not its folder` });
        return;
      }
      await index.add(parsed.data);
      seen.add(parsed.data.runId);
      users.add(parsed.data.requestedBy.aadObjectId);
      report.indexed++;
    } catch (err) {
      report.invalid.push({ blob, reason: err instanceof Error ? err.message : String(err) });
    }
  };
  for await (const folder of archive.runFolders()) {
    report.folders++;
    const manifest = folder.blobs.find((b) => b.name.endsWith(`/${MANIFEST_NAME}`));
    if (!manifest) {
      report.withoutManifest.push(Archive.runFolder(folder.reportId, folder.runId));
      continue;
    }
    // A few downloads in flight: thousands of small blobs one after another would take minutes.
    const p = load(folder, manifest.name).finally(() => pending.delete(p));
    pending.add(p);
    if (pending.size >= 8) await Promise.race(pending);
  }
  await Promise.all(pending);
  report.users = users.size;

  report.staleRemoved = await index.prune(seen, started);
  log?.info({ ...report, withoutManifest: report.withoutManifest.length, invalid: report.invalid.length }, 'history index rebuilt from the archive');
  for (const bad of report.invalid) log?.warn(bad, 'manifest skipped');
  return report;
}

/** One run removed by the cleanup. */
export interface RemovedRun {
  runId: string;
  reportId: string;
  /** When the run finished (or its newest blob was written, for a folder without a manifest). */
  finishedAt: string;
  retentionDays: number;
  blobs: number;
  bytes: number;
}

export interface CleanupReport {
  checked: number;
  removed: RemovedRun[];
  bytes: number;
  dryRun: boolean;
}

export interface CleanupOptions {
  /** The current retention of a report (its report.yaml), undefined for a report no longer defined. */
  retentionDays: (reportId: string) => number | undefined;
  now?: Date;
  /** List what would go, delete nothing. */
  dryRun?: boolean;
  log?: Logger;
}

/**
 * Delete every run older than its report's retention: the run's blobs (workbook, run.json) and its
 * index entries. Age is counted from the manifest's finishedAt; a folder without a manifest (a run
 * whose runner never recorded it) counts from its newest blob. Retention comes from the current
 * report definition, else from the manifest, else the default. Logs each run it removes.
 */
export async function cleanupExpired(archive: Archive, index: HistoryIndex, opts: CleanupOptions): Promise<CleanupReport> {
  const now = (opts.now ?? new Date()).getTime();
  const out: CleanupReport = { checked: 0, removed: [], bytes: 0, dryRun: opts.dryRun === true };
  // Collect first, delete after: deleting while a listing pages through the same prefix is legal,
  // but a removed folder then never confuses the listing's continuation.
  const expired: { folder: RunFolder; finishedAt: number; days: number; requester?: string }[] = [];
  for await (const folder of archive.runFolders()) {
    out.checked++;
    const meta = folder.blobs.find((b) => b.name.endsWith(`/${MANIFEST_NAME}`))?.metadata ?? {};
    const recorded = Date.parse(meta.finishedat ?? '');
    const finishedAt = Number.isFinite(recorded) ? recorded : Math.max(...folder.blobs.map((b) => b.lastModified.getTime()));
    const fromManifest = Number(meta.retentiondays);
    const days = opts.retentionDays(folder.reportId) ?? (Number.isInteger(fromManifest) && fromManifest > 0 ? fromManifest : DEFAULT_RETENTION_DAYS);
    if (finishedAt + days * DAY_MS > now) continue;
    expired.push({ folder, finishedAt, days, requester: meta.requester ? decodeURIComponent(meta.requester) : undefined });
  }
  for (const { folder, finishedAt, days, requester } of expired) {
    const gone = opts.dryRun
      ? { blobs: folder.blobs.length, bytes: folder.blobs.reduce((n, b) => n + b.bytes, 0) }
      : await archive.deleteRun(folder.reportId, folder.runId);
    if (!opts.dryRun) await index.remove(folder.runId, requester);
    const removed: RemovedRun = {
      runId: folder.runId, reportId: folder.reportId, finishedAt: new Date(finishedAt).toISOString(), retentionDays: days, ...gone,
    };
    out.removed.push(removed);
    out.bytes += gone.bytes;
    opts.log?.info(removed, opts.dryRun ? 'expired run would be removed' : 'expired run removed');
  }
  opts.log?.info({
    checked: out.checked, removed: out.removed.length, bytes: out.bytes, dryRun: out.dryRun,
    runIds: out.removed.map((r) => r.runId), reports: [...new Set(out.removed.map((r) => r.reportId))],
  }, 'history cleanup finished');
  return out;
}
