/**
 * Running a report, from a text command (`run <report> name=value …`) or a form (Action.Execute
 * `report.submit`). Both go through requestRun(): validate against the report's parameters, then
 * queue. Invalid input queues nothing and comes back as the form with the problem marked.
 */
import { CardFactory, MessageFactory, TurnContext } from 'botbuilder';
import { catalogCard, formCard, queuedCard, type AdaptiveCard } from '../../cards/render.ts';
import { PARAM_INPUT_PREFIX } from '../../cards/verbs.ts';
import { ValidationError } from '../../core/errors.ts';
import { newRunId, reportJobSchema, type ReportJob } from '../../core/job.ts';
import { parseCommandArgs, validateParams } from '../../core/params.ts';
import { enqueueReport } from '../../core/queue.ts';
import { requesterOf, visibleReports, type BotDeps } from '../context.ts';

type Outcome =
  | { kind: 'queued'; card: AdaptiveCard; runId: string }
  | { kind: 'invalid'; card: AdaptiveCard; message: string }
  | { kind: 'unknown-report'; message: string }
  | { kind: 'unavailable'; message: string };

const QUEUE_DOWN = 'I could not queue the report just now, so nothing was run. Please try again in a minute.';

async function requestRun(
  context: TurnContext, deps: BotDeps, reportId: string, raw: Record<string, unknown>, origin: ReportJob['origin'],
): Promise<Outcome> {
  // A report the person may not run is answered exactly like one that does not exist.
  const report = visibleReports(context, deps).find((r) => r.id === reportId);
  if (!report) {
    return { kind: 'unknown-report', message: `I don't know a report called "${reportId}". Type **reports** to see the ones I can run.` };
  }
  let params;
  let choices;
  try {
    choices = await deps.choices.forReport(report);
  } catch (err) {
    deps.log.error({ err, reportId }, 'could not load choice lists');
    return { kind: 'unavailable', message: 'I could not read the choices for this report just now, so nothing was run. Please try again in a minute.' };
  }
  try {
    params = validateParams(report.id, report.parameters, raw, report.rules, { choices });
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return { kind: 'invalid', card: formCard(report, raw, err.fields, { choices }), message: err.message };
  }
  const job: ReportJob = reportJobSchema.parse({
    runId: newRunId(),
    reportId: report.id,
    params,
    requestedBy: requesterOf(context),
    conversation: TurnContext.getConversationReference(context.activity),
    statusActivityId: origin === 'card' ? context.activity.replyToId : undefined,
    requestedAt: new Date().toISOString(),
    origin,
  });
  try {
    await enqueueReport(deps.queue, job, deps.config);
  } catch (err) {
    deps.log.error({ err, runId: job.runId, reportId: report.id }, 'could not enqueue');
    return { kind: 'unavailable', message: QUEUE_DOWN };
  }
  deps.log.info({ runId: job.runId, reportId: report.id, origin, user: job.requestedBy.aadObjectId }, 'run queued');
  return { kind: 'queued', card: queuedCard(report, job.runId, params), runId: job.runId };
}

/** Text: `run <report-id> name=value …`. */
export async function runCommand(context: TurnContext, deps: BotDeps, text: string): Promise<void> {
  const m = /^\s*run\s+(\S+)\s*(.*)$/is.exec(text);
  if (!m) {
    await context.sendActivity('Tell me which report: **run report-id name=value …**, for example the ones listed under **reports**.');
    return;
  }
  const [, reportId, rest] = m;
  let args: Record<string, string>;
  try {
    args = parseCommandArgs(rest);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    await context.sendActivity(err.message);
    return;
  }
  const outcome = await requestRun(context, deps, reportId.toLowerCase(), args, 'chat');
  switch (outcome.kind) {
    case 'queued':
      await context.sendActivity(MessageFactory.attachment(CardFactory.adaptiveCard(outcome.card)));
      return;
    case 'invalid': {
      const reply = MessageFactory.attachment(CardFactory.adaptiveCard(outcome.card));
      reply.text = `Nothing was queued: ${outcome.message}.`;
      await context.sendActivity(reply);
      return;
    }
    case 'unknown-report':
    case 'unavailable':
      await context.sendActivity(outcome.message);
  }
}

/** The parameters of a form submission: inputs are named `param.<name>`; everything else is action data. */
function formValues(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    if (k.startsWith(PARAM_INPUT_PREFIX)) out[k.slice(PARAM_INPUT_PREFIX.length)] = v;
  }
  return out;
}

/** Action.Execute `report.submit`: the returned card replaces the form (queued, or the form with errors). */
export async function submitAction(context: TurnContext, deps: BotDeps, data: Record<string, unknown>): Promise<AdaptiveCard | string> {
  const reportId = typeof data.reportId === 'string' ? data.reportId : '';
  const outcome = await requestRun(context, deps, reportId, formValues(data), 'card');
  switch (outcome.kind) {
    case 'queued':
    case 'invalid':
      return outcome.card;
    case 'unknown-report':
      return catalogCard(visibleReports(context, deps));
    case 'unavailable':
      return outcome.message;
  }
}

