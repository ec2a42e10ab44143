/**
 * Runs already asked for: the `status` command (the requester's queued and running runs, everyone's
 * for ADMIN_USERS), the status card's refresh (`run.status`), and cancelling (`cancel <run id>` and
 * the card's Cancel). Only the requester or an admin may cancel. A queued run is taken out of the
 * queue here and its card updated; a running one is stopped by the runner holding it, which then
 * updates the card.
 */
import { CardFactory, MessageFactory, type TurnContext } from 'botbuilder';
import type { Job } from 'bullmq';
import { runInfoOf, runsCard, statusCard, type AdaptiveCard, type RunInfo, type RunRow } from '../../cards/render.ts';
import type { ReportJob, RunResult } from '../../core/job.ts';
import { currentStatus, isFinal, requestCancel, saveStatus, type RunStatus } from '../../core/status.ts';
import { isAdmin, requesterOf, type BotDeps } from '../context.ts';
import { respondWithCard } from './respond.ts';

/** What a status card shows about a queued run, from its job. */
function infoOf(deps: BotDeps, job: ReportJob): RunInfo {
  return runInfoOf(job, deps.catalog.reports.get(job.reportId));
}

function reportOf(deps: BotDeps, reportId: string) {
  return deps.catalog.reports.get(reportId) ?? { id: reportId, title: reportId, parameters: [] };
}

/** Run ids as people paste them: trimmed, quotes and punctuation around them dropped. */
function cleanRunId(text: string): string {
  return text.trim().replace(/^["'`(<]+|["'`)>.,;!?]+$/g, '').toLowerCase();
}

const RUN_ID = /^[a-z0-9-]{8,64}$/;

/** `status`: queued and running runs with where they are; Cancel on each. */
export async function runsOverview(context: TurnContext, deps: BotDeps, note?: string): Promise<AdaptiveCard> {
  const who = requesterOf(context);
  const everyone = isAdmin(deps, who);
  const jobs = (await deps.queue.getJobs(['active', 'waiting', 'prioritized', 'delayed'], 0, 199, true)).filter(Boolean) as Job<ReportJob, RunResult>[];
  const mine = everyone ? jobs : jobs.filter((j) => j.data.requestedBy.aadObjectId === who.aadObjectId);
  const rows: RunRow[] = [];
  for (const job of mine) {
    const found = await currentStatus(deps.queue, deps.redis, deps.config.REDIS_PREFIX, job.data.runId);
    if (!found || isFinal(found.status)) continue;
    rows.push({ report: reportOf(deps, job.data.reportId), run: infoOf(deps, job.data), status: found.status });
  }
  const order = (s: RunStatus) => (s.state === 'queued' ? 1 + (s.position ?? 1e6) : 0);
  rows.sort((a, b) => order(a.status) - order(b.status));
  return runsCard(rows, { everyone, note });
}

export async function sendRunsOverview(context: TurnContext, deps: BotDeps): Promise<void> {
  await context.sendActivity(MessageFactory.attachment(CardFactory.adaptiveCard(await runsOverview(context, deps))));
}

/**
 * Action.Execute `run.status` { runId }: the run's status card as it is now. Teams sends it when the
 * requester looks at the card (its refresh); anyone else in the conversation may press it too.
 */
export async function statusAction(context: TurnContext, deps: BotDeps, data: { runId?: unknown }): Promise<AdaptiveCard | string> {
  const runId = cleanRunId(String(data.runId ?? ''));
  if (!RUN_ID.test(runId)) return 'That card names no run.';
  const found = await currentStatus(deps.queue, deps.redis, deps.config.REDIS_PREFIX, runId);
  if (!found?.job) return found ? `Run ${runId} is over (${found.status.state}).` : `I no longer know run ${runId}.`;
  const job = found.job.data;
  const who = requesterOf(context);
  const sameConversation = context.activity.conversation?.id === job.conversation?.conversation.id;
  if (who.aadObjectId !== job.requestedBy.aadObjectId && !isAdmin(deps, who) && !sameConversation) {
    return `Run ${runId} was asked for by someone else.`;
  }
  return respondWithCard(context, statusCard(reportOf(deps, job.reportId), infoOf(deps, job), found.status));
}

/** The outcome of a cancel request, for a chat reply or a card. */
interface CancelOutcome {
  message: string;
  /** The run's status card as it now is, when the run exists and the person may see it. */
  card?: AdaptiveCard;
}

/** Stop `runId` if `context`'s user may: remove it when queued, ask its runner to abort it when running. */
export async function cancelRun(context: TurnContext, deps: BotDeps, rawRunId: string): Promise<CancelOutcome> {
  const runId = cleanRunId(rawRunId);
  if (!runId) return { message: 'Which run? Write **cancel** and the run id from the run\'s card, or type **status** to see your runs.' };
  if (!RUN_ID.test(runId)) return { message: `"${runId}" is not a run id; it looks like 20260115-3fa2c9d1 and is on the run's card.` };
  const prefix = deps.config.REDIS_PREFIX;
  const found = await currentStatus(deps.queue, deps.redis, prefix, runId);
  if (!found?.job) {
    return { message: found ? `Run ${runId} is already over (${found.status.state}); there is nothing to cancel.` : `I don't know a run ${runId}.` };
  }
  const job = found.job;
  const data = job.data;
  const who = requesterOf(context);
  const report = reportOf(deps, data.reportId);
  if (who.aadObjectId !== data.requestedBy.aadObjectId && !isAdmin(deps, who)) {
    deps.log.warn({ runId, user: who.aadObjectId }, 'cancel refused: not the requester');
    return { message: `Only ${data.requestedBy.name || 'the person who asked for it'} (who asked for it) or an administrator can cancel run ${runId}.` };
  }
  if (isFinal(found.status)) {
    return { message: `Run ${runId} (${report.title}) is already over (${found.status.state}); there is nothing to cancel.`, card: statusCard(report, infoOf(deps, data), found.status) };
  }
  const record = await requestCancel(deps.redis, prefix, runId, { aadObjectId: who.aadObjectId, name: who.name });
  deps.log.info({ runId, user: who.aadObjectId }, 'cancel requested');
  const state = await job.getState();
  if (state !== 'active') {
    try {
      // Throws when a runner has just taken it: then that runner sees the cancel record and stops.
      await job.remove();
      const cancelled: RunStatus = { state: 'cancelled', by: record.by.name || 'someone', at: record.at };
      await saveStatus(deps.redis, prefix, runId, cancelled);
      const card = statusCard(report, infoOf(deps, data), cancelled);
      if (data.statusActivityId && data.conversation) {
        await deps.sender.updateCard(data, data.statusActivityId, card)
          .catch((err: unknown) => deps.log.warn({ err, runId }, 'could not update the status card of a cancelled run'));
      }
      return { message: `Cancelled run ${runId} (${report.title}). It had not started; nothing ran.`, card };
    } catch (err) {
      deps.log.info({ err: { message: (err as Error).message }, runId }, 'the run started while being cancelled; its runner stops it');
    }
  }
  const cancelling: RunStatus = { state: 'cancelling', by: record.by.name || 'someone' };
  return {
    message: `Stopping run ${runId} (${report.title}). Its card will say when it has stopped.`,
    card: statusCard(report, infoOf(deps, data), cancelling),
  };
}

/** Text: `cancel <run id>`. */
export async function cancelCommand(context: TurnContext, deps: BotDeps, text: string): Promise<void> {
  const arg = /^\s*cancel\b\s*(.*)$/is.exec(text)?.[1] ?? '';
  if (!arg.trim()) {
    const reply = MessageFactory.attachment(CardFactory.adaptiveCard(await runsOverview(context, deps)));
    reply.text = 'Which run? Press Cancel on it below, or write **cancel** and its run id.';
    await context.sendActivity(reply);
    return;
  }
  const { message } = await cancelRun(context, deps, arg);
  await context.sendActivity(message);
}

/**
 * Action.Execute `run.cancel` { runId, list? }: a status card answers with the run's new state, the
 * `status` overview (list) with itself, current; a refusal is a short message and changes no card.
 */
export async function cancelAction(context: TurnContext, deps: BotDeps, data: { runId?: unknown; list?: unknown }): Promise<AdaptiveCard | string> {
  const { message, card } = await cancelRun(context, deps, String(data.runId ?? ''));
  if (!card) return message;
  if (data.list === true) return runsOverview(context, deps, message);
  return respondWithCard(context, card);
}

/** Action.Execute `runs.list`: the overview, current. */
export async function runsAction(context: TurnContext, deps: BotDeps): Promise<AdaptiveCard> {
  return runsOverview(context, deps);
}
