/**
 * `history` (also "my reports", "my runs"): the person's finished runs, newest first, ten a page,
 * with Download and Re-run; `history all` lists everyone's runs for ADMIN_USERS. Every action
 * checks the person who clicks, never what the card says: a forwarded or crafted card shows the
 * clicker their own runs and downloads only what they may have.
 */
import { CardFactory, MessageFactory, type TurnContext } from 'botbuilder';
import { downloadCard, historyCard, type AdaptiveCard } from '../../cards/render.ts';
import type { HistoryScopeName } from '../../cards/verbs.ts';
import {
  HistoryIndex, isAdmin, manifestBlobName, mayDownload, runManifestSchema, summarize, type RunSummary,
} from '../../core/history.ts';
import { requesterOf, type BotDeps } from '../context.ts';

const ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** The scope a person gets: everyone's only for admins. */
function allowedScope(context: TurnContext, deps: BotDeps, wanted: unknown): HistoryScopeName {
  return wanted === 'all' && isAdmin(requesterOf(context), deps.config.ADMIN_USERS) ? 'all' : 'mine';
}

async function historyPage(context: TurnContext, deps: BotDeps, scope: HistoryScopeName, page: unknown): Promise<AdaptiveCard> {
  const index = new HistoryIndex(deps.redis, deps.config.REDIS_PREFIX);
  const who = requesterOf(context);
  const n = typeof page === 'number' ? page : Number.parseInt(String(page ?? '0'), 10);
  const result = await index.page(scope === 'all' ? 'all' : { user: who.aadObjectId }, Number.isFinite(n) ? n : 0);
  return historyCard({ scope, page: result, reports: deps.catalog.reports });
}

/** Text: `history`, `my reports`, `my runs`, `history all`. */
export async function historyCommand(context: TurnContext, deps: BotDeps, text: string): Promise<void> {
  const wantsAll = /\ball\s*$/i.test(text);
  const scope = allowedScope(context, deps, wantsAll ? 'all' : 'mine');
  const reply = MessageFactory.attachment(CardFactory.adaptiveCard(await historyPage(context, deps, scope, 0)));
  if (wantsAll && scope !== 'all') reply.text = 'Only administrators can see everyone\'s runs; here are yours.';
  await context.sendActivity(reply);
}

/** Action.Execute `history.page`: another page replaces the card. data: { page, scope }. */
export async function historyPageAction(context: TurnContext, deps: BotDeps, data: { page?: unknown; scope?: unknown }): Promise<AdaptiveCard> {
  return historyPage(context, deps, allowedScope(context, deps, data.scope), data.page);
}

/** A run's summary from the index, else from its run.json (the archive is the source of truth). */
async function findRun(deps: BotDeps, runId: string, reportId: unknown): Promise<RunSummary | undefined> {
  const indexed = await new HistoryIndex(deps.redis, deps.config.REDIS_PREFIX).get(runId);
  if (indexed || !deps.archive || typeof reportId !== 'string' || !ID.test(reportId)) return indexed;
  const parsed = runManifestSchema.safeParse(await deps.archive.readJson(manifestBlobName(reportId, runId)));
  return parsed.success && parsed.data.runId === runId ? summarize(parsed.data) : undefined;
}

/**
 * Action.Execute `run.download`: a card with a fresh short-lived link, for the requester, ADMIN_USERS,
 * or anyone the report's access rule admits when it shares its runs (`access.shareRuns`). Anything
 * else is a short message and the history card stays as it was.
 */
export async function downloadAction(
  context: TurnContext, deps: BotDeps, data: { runId?: unknown; reportId?: unknown; page?: unknown; scope?: unknown },
): Promise<AdaptiveCard | string> {
  const who = requesterOf(context);
  const runId = typeof data.runId === 'string' && ID.test(data.runId) ? data.runId : undefined;
  if (!runId) return 'That button does not name a run I know.';
  const run = await findRun(deps, runId, data.reportId);
  const report = run ? deps.catalog.reports.get(run.reportId) : undefined;
  // Someone else's run and a run that is gone get the same answer: nothing about other people's runs leaks.
  if (!run || !mayDownload(run, report, who, deps.config.ADMIN_USERS)) {
    if (run) deps.log.warn({ runId, user: who.aadObjectId, owner: run.requestedBy.aadObjectId }, 'download refused');
    return `Run ${runId} is not one of yours, or it is no longer in the archive. Type **history** to see your runs.`;
  }
  if (!run.file) return `Run ${runId} ${run.status === 'cancelled' ? 'was cancelled' : 'failed'}, so there is no file to download.`;
  if (!deps.archive) return 'The report archive is not configured for this bot, so I cannot make a download link.';
  if (await deps.archive.size(run.file.blobName) === undefined) {
    return `The file of run ${runId} is no longer in the archive (runs are kept for a limited time).`;
  }
  const minutes = deps.config.DOWNLOAD_LINK_MINUTES;
  const url = await deps.archive.downloadUrl(run.file.blobName, minutes, run.file.fileName);
  deps.log.info({ runId, reportId: run.reportId, user: who.aadObjectId, owner: run.requestedBy.aadObjectId }, 'download link issued');
  const back = { page: typeof data.page === 'number' ? data.page : 0, scope: allowedScope(context, deps, data.scope) };
  return downloadCard({ ...run, file: run.file }, report, { url, minutes }, back);
}
