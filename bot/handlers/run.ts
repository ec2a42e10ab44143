/**
 * Running a report, from a text command (`run <report> name=value … [--email | email=yes]`) or a form
 * (Action.Execute `report.submit`, with its "Also email me the file" toggle). Both go through
 * requestRun(): validate against the report's parameters and the request's options, then queue.
 * Invalid input queues nothing and comes back as the form with the problem marked.
 */
import { CardFactory, MessageFactory, TeamsInfo, TurnContext } from 'botbuilder';
import { catalogCard, formCard, queuedCard, type AdaptiveCard } from '../../cards/render.ts';
import { EMAIL_OPTION_INPUT, PARAM_INPUT_PREFIX } from '../../cards/verbs.ts';
import type { Report } from '../../core/catalog.ts';
import { ValidationError } from '../../core/errors.ts';
import { newRunId, reportJobSchema, type ReportJob } from '../../core/job.ts';
import { parseCommandArgs, validateParams } from '../../core/params.ts';
import { enqueueReport } from '../../core/queue.ts';
import { requesterOf, visibleReports, type BotDeps } from '../context.ts';

/** What a request asks for besides parameters. `email` undefined: the report's default. */
export interface RequestOptions {
  email?: boolean;
}

/** The form's email toggle: offered only where email is set up, checked by the report's default. */
export function emailToggle(deps: BotDeps, report: Report, checked = report.delivery.email): { checked: boolean } | undefined {
  return deps.config.graph?.mail ? { checked } : undefined;
}

/**
 * The requester's email address. Teams does not put it on activities; the roster has it
 * (userPrincipalName, else email). '' when it cannot be found.
 */
async function addressOf(context: TurnContext, deps: BotDeps): Promise<string> {
  const from = context.activity.from;
  if (!from?.id) return '';
  try {
    const member = await TeamsInfo.getMember(context, from.id);
    return member.userPrincipalName || member.email || '';
  } catch (err) {
    deps.log.warn({ err, user: from.aadObjectId }, 'could not look up the requester\'s email address');
    return '';
  }
}

type Outcome =
  | { kind: 'queued'; card: AdaptiveCard; runId: string }
  | { kind: 'invalid'; card: AdaptiveCard; message: string }
  | { kind: 'unknown-report'; message: string }
  | { kind: 'unavailable'; message: string };

const QUEUE_DOWN = 'I could not queue the report just now, so nothing was run. Please try again in a minute.';

async function requestRun(
  context: TurnContext, deps: BotDeps, reportId: string, raw: Record<string, unknown>, origin: ReportJob['origin'], options: RequestOptions = {},
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
    return { kind: 'invalid', card: formCard(report, raw, err.fields, { choices }, emailToggle(deps, report, options.email)), message: err.message };
  }
  const requestedBy = requesterOf(context);
  const mail = deps.config.graph?.mail;
  const emailWanted = options.email ?? report.delivery.email;
  const refuse = (message: string): Outcome => ({ kind: 'invalid', card: formCard(report, raw, { '': message }, { choices }, emailToggle(deps, report, options.email)), message });
  if (options.email === true && !mail) return refuse('Email is not set up on this bot, so I can only send the result here in Teams');
  if (emailWanted && mail && !requestedBy.upn) requestedBy.upn = await addressOf(context, deps);
  if (options.email === true && !requestedBy.upn) {
    return refuse('I cannot email you: Teams did not tell me your email address. Run it without email and the result comes here');
  }
  const job: ReportJob = reportJobSchema.parse({
    runId: newRunId(),
    reportId: report.id,
    params,
    requestedBy,
    conversation: TurnContext.getConversationReference(context.activity),
    statusActivityId: origin === 'card' ? context.activity.replyToId : undefined,
    requestedAt: new Date().toISOString(),
    origin,
    delivery: options.email === undefined ? undefined : { teams: true, email: options.email },
  });
  try {
    await enqueueReport(deps.queue, job, deps.config);
  } catch (err) {
    deps.log.error({ err, runId: job.runId, reportId: report.id }, 'could not enqueue');
    return { kind: 'unavailable', message: QUEUE_DOWN };
  }
  deps.log.info({ runId: job.runId, reportId: report.id, origin, user: job.requestedBy.aadObjectId, email: emailWanted && Boolean(mail) }, 'run queued');
  return { kind: 'queued', card: queuedCard(report, job.runId, params), runId: job.runId };
}

/**
 * Take `--email` out of a command's argument text (outside quoted values). Returns the text without it
 * and whether it was there.
 */
export function takeFlag(text: string, flag: string): { rest: string; found: boolean } {
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if ((i === 0 || /\s/.test(text[i - 1])) && text.startsWith(flag, i) && (i + flag.length === text.length || /\s/.test(text[i + flag.length]))) {
      return { rest: `${text.slice(0, i)}${text.slice(i + flag.length)}`, found: true };
    }
  }
  return { rest: text, found: false };
}

const YES = new Set(['yes', 'true', 'on', '1']);
const NO = new Set(['no', 'false', 'off', '0']);

/**
 * The email option of a text command: `--email`, or `email=yes|no` unless the report has a parameter
 * called email (then that is the parameter's). Throws ValidationError for anything else.
 */
function emailOption(report: Report | undefined, args: Record<string, string>, flag: boolean): boolean | undefined {
  if (report?.parameters.some((p) => p.name === 'email')) return flag || undefined;
  const value = args.email;
  delete args.email;
  if (value === undefined) return flag || undefined;
  const v = value.trim().toLowerCase();
  const choice = YES.has(v) ? true : NO.has(v) ? false : undefined;
  if (choice === undefined) throw new ValidationError(`email must be yes or no, not "${value}"`, { email: 'yes or no' });
  if (flag && !choice) throw new ValidationError('--email and email=no contradict each other', { email: 'given twice' });
  return choice;
}

/** Text: `run <report-id> name=value … [--email | email=yes]`. */
export async function runCommand(context: TurnContext, deps: BotDeps, text: string): Promise<void> {
  const m = /^\s*run\s+(\S+)\s*(.*)$/is.exec(text);
  if (!m) {
    await context.sendActivity('Tell me which report: **run report-id name=value …**, for example the ones listed under **reports**.');
    return;
  }
  const [, reportId, rest] = m;
  const report = visibleReports(context, deps).find((r) => r.id === reportId.toLowerCase());
  let args: Record<string, string>;
  let email: boolean | undefined;
  const flag = takeFlag(rest, '--email');
  try {
    args = parseCommandArgs(flag.rest);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    await context.sendActivity(err.message);
    return;
  }
  try {
    email = emailOption(report, args, flag.found);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    await context.sendActivity(`Nothing was queued: ${err.message}.`);
    return;
  }
  const outcome = await requestRun(context, deps, reportId.toLowerCase(), args, 'chat', { email });
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

/** The form's email toggle as submitted: undefined when the form had none (e.g. an error card's Re-run). */
function formEmail(data: Record<string, unknown>): boolean | undefined {
  const v = data[EMAIL_OPTION_INPUT];
  if (v === undefined) return undefined;
  return v === true || v === 'true';
}

/** Action.Execute `report.submit`: the returned card replaces the form (queued, or the form with errors). */
export async function submitAction(context: TurnContext, deps: BotDeps, data: Record<string, unknown>): Promise<AdaptiveCard | string> {
  const reportId = typeof data.reportId === 'string' ? data.reportId : '';
  const outcome = await requestRun(context, deps, reportId, formValues(data), 'card', { email: formEmail(data) });
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

