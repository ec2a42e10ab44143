/**
 * Running a report, from a text command (`run <report> name=value …`), a form (Action.Execute
 * `report.submit`) or a Re-run button. All go through requestRun(): validate against the report's
 * parameters, put the run's live status card in the chat, then queue. Invalid input queues nothing
 * and comes back as the form with the problem marked. Anything that is not the strict `name=value`
 * syntax ("run tb for 900101 jan to mar 2025", or just "trial balance") only ever opens the report's
 * form, pre-filled with what could be understood. A request may also ask for the workbook by email
 * (`--email` or `email=yes` in the command, the form's "Also email me the file" toggle).
 */
import { CardFactory, MessageFactory, TeamsInfo, TurnContext } from 'botbuilder';
import { catalogCard, formCard, statusCard, type AdaptiveCard, type RunInfo } from '../../cards/render.ts';
import { EMAIL_OPTION_INPUT, PARAM_INPUT_PREFIX } from '../../cards/verbs.ts';
import type { Report } from '../../core/catalog.ts';
import { ValidationError } from '../../core/errors.ts';
import { newRunId, reportJobSchema, type ReportJob } from '../../core/job.ts';
import type { Choice } from '../../core/params.ts';
import { parseCommandArgs, validateParams } from '../../core/params.ts';
import { matchReport, understand, type ReportMatch } from '../../core/phrases.ts';
import { enqueueReport } from '../../core/queue.ts';
import { requesterOf, visibleReports, type BotDeps } from '../context.ts';
import { respondWithCard } from './respond.ts';

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

/**
 * Where the new run's status card goes: `message` posts it as a new message (text commands, Re-run);
 * `clicked` turns the card that was clicked (the form) into it.
 */
type Placement = 'message' | 'clicked';

const QUEUE_DOWN = 'I could not queue the report just now, so nothing was run. Please try again in a minute.';
const CHOICES_DOWN = 'I could not read the choices for this report just now, so nothing was run. Please try again in a minute.';

/** The conversation type Teams gave the activity (personal, groupChat, channel). */
function conversationType(context: TurnContext): string | undefined {
  return context.activity.conversation?.conversationType;
}

/** What a status card shows about a run being asked for in this turn. */
export function runInfo(context: TurnContext, report: Report, runId: string, params: RunInfo['params']): RunInfo {
  return {
    runId,
    params,
    requestedBy: requesterOf(context).name,
    requesterTeamsId: context.activity.from?.id,
    privately: report.private && conversationType(context) !== 'personal',
  };
}

/** Choice lists (for validation) and suggestion lists (for typeahead fallbacks) of a report's form. */
export async function formLists(deps: BotDeps, report: Report): Promise<{ choices: Record<string, Choice[]>; suggestions: Record<string, Choice[]> }> {
  const choices = await deps.choices.forReport(report);
  const suggestions: Record<string, Choice[]> = {};
  for (const p of report.parameters) {
    if (p.type !== 'string' || !p.suggest) continue;
    // Suggestions only pre-fill a fallback list: a form still opens when they cannot be read.
    const list = await deps.choices.listFor(report, p.name).catch((err: unknown) => {
      deps.log.warn({ err, reportId: report.id, param: p.name }, 'could not load suggestions');
      return undefined;
    });
    if (list) suggestions[p.name] = list;
  }
  return { choices, suggestions };
}

async function requestRun(
  context: TurnContext, deps: BotDeps, reportId: string, raw: Record<string, unknown>, origin: ReportJob['origin'], placement: Placement,
  options: RequestOptions = {},
): Promise<Outcome> {
  // A report the person may not run is answered exactly like one that does not exist.
  const report = visibleReports(context, deps).find((r) => r.id === reportId);
  if (!report) {
    return { kind: 'unknown-report', message: `I don't know a report called "${reportId}". Type **reports** to see the ones I can run.` };
  }
  let lists;
  try {
    lists = await formLists(deps, report);
  } catch (err) {
    deps.log.error({ err, reportId }, 'could not load choice lists');
    return { kind: 'unavailable', message: CHOICES_DOWN };
  }
  let params;
  try {
    params = validateParams(report.id, report.parameters, raw, report.rules, { choices: lists.choices });
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return { kind: 'invalid', card: formCard(report, raw, err.fields, lists, emailToggle(deps, report, options.email)), message: err.message };
  }
  const requestedBy = requesterOf(context);
  const mail = deps.config.graph?.mail;
  const emailWanted = options.email ?? report.delivery.email;
  const refuse = (message: string): Outcome => ({ kind: 'invalid', card: formCard(report, raw, { '': message }, lists, emailToggle(deps, report, options.email)), message });
  if (options.email === true && !mail) return refuse('Email is not set up on this bot, so I can only send the result here in Teams');
  if (emailWanted && mail && !requestedBy.upn) requestedBy.upn = await addressOf(context, deps);
  if (options.email === true && !requestedBy.upn) {
    return refuse('I cannot email you: Teams did not tell me your email address. Run it without email and the result comes here');
  }
  const runId = newRunId();
  const info = runInfo(context, report, runId, params);
  const ahead = await deps.queue.getWaitingCount().catch(() => undefined);
  const card = statusCard(report, info, { state: 'queued', position: ahead === undefined ? undefined : ahead + 1 });

  // The card is in the chat before the run is queued: every later change is the runner's, in order.
  let statusActivityId: string | undefined;
  if (placement === 'clicked') {
    statusActivityId = context.activity.replyToId;
    if (statusActivityId) {
      await context.updateActivity({ id: statusActivityId, type: 'message', attachments: [CardFactory.adaptiveCard(card)] })
        .catch((err: unknown) => deps.log.warn({ err, runId }, 'could not turn the form into the status card'));
    }
  } else {
    statusActivityId = (await context.sendActivity(MessageFactory.attachment(CardFactory.adaptiveCard(card))))?.id;
  }

  const job: ReportJob = reportJobSchema.parse({
    runId,
    reportId: report.id,
    params,
    requestedBy,
    conversation: TurnContext.getConversationReference(context.activity),
    statusActivityId,
    requestedAt: new Date().toISOString(),
    origin,
    delivery: options.email === undefined ? undefined : { teams: true, email: options.email },
  });
  try {
    await enqueueReport(deps.queue, job, deps.config);
  } catch (err) {
    deps.log.error({ err, runId, reportId: report.id }, 'could not enqueue');
    if (statusActivityId) {
      const failed = statusCard(report, info, { state: 'failed', message: QUEUE_DOWN });
      await context.updateActivity({ id: statusActivityId, type: 'message', attachments: [CardFactory.adaptiveCard(failed)] }).catch(() => {});
    }
    return { kind: 'unavailable', message: QUEUE_DOWN };
  }
  deps.log.info({ runId, reportId: report.id, origin, user: job.requestedBy.aadObjectId, email: emailWanted && Boolean(mail) }, 'run queued');
  return { kind: 'queued', card, runId };
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

/** Every word has the `name=value` form (or there are none): the strict command syntax. */
function isStrict(rest: string): boolean {
  try {
    parseCommandArgs(rest);
    return true;
  } catch {
    return false;
  }
}

/**
 * The report's form, pre-filled with what could be read from the sentence, as a new message. It
 * says what was understood and what was not; nothing is queued.
 */
export async function sendUnderstoodForm(context: TurnContext, deps: BotDeps, match: ReportMatch, typed: string): Promise<void> {
  const { report } = match;
  let lists;
  try {
    lists = await formLists(deps, report);
  } catch (err) {
    deps.log.error({ err, reportId: report.id }, 'could not load choice lists');
    await context.sendActivity(CHOICES_DOWN);
    return;
  }
  const u = understand(report, match.rest, { choices: lists.choices });
  const parts: string[] = [];
  if (!match.exact) parts.push(`I took "${typed.trim().split(/\s+/).slice(0, match.matched.split(' ').length).join(' ')}" to mean ${report.title}.`);
  parts.push(u.understood.length
    ? `I understood: ${u.understood.map((x) => `${x.label} ${x.value}`).join(' · ')}.`
    : 'Fill in the form below.');
  if (u.ignored.length) parts.push(`I did not use: ${u.ignored.map((w) => `"${w}"`).join(', ')}.`);
  parts.push('Nothing runs until you press Run report.');
  const card = formCard(report, u.values, {}, { ...lists, note: parts.join(' ') }, emailToggle(deps, report));
  await context.sendActivity(MessageFactory.attachment(CardFactory.adaptiveCard(card)));
}

/** Text: `run <report> name=value … [--email | email=yes]`, or `run <report> <words>` (the form, pre-filled). */
export async function runCommand(context: TurnContext, deps: BotDeps, text: string): Promise<void> {
  const m = /^\s*run\s+(\S.*)$/is.exec(text);
  if (!m) {
    await context.sendActivity('Tell me which report: **run report-id name=value …**, for example the ones listed under **reports**.');
    return;
  }
  const rest = m[1];
  const match = matchReport(rest, visibleReports(context, deps));
  if (!match) {
    const name = rest.trim().split(/\s+/)[0];
    await context.sendActivity(`I don't know a report called "${name}". Type **reports** to see the ones I can run.`);
    return;
  }
  const flag = takeFlag(match.rest, '--email');
  if (!match.exact || !isStrict(flag.rest)) {
    await sendUnderstoodForm(context, deps, match, rest);
    return;
  }
  const args = parseCommandArgs(flag.rest);
  let email: boolean | undefined;
  try {
    email = emailOption(match.report, args, flag.found);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    await context.sendActivity(`Nothing was queued: ${err.message}.`);
    return;
  }
  const outcome = await requestRun(context, deps, match.report.id, args, 'chat', 'message', { email });
  switch (outcome.kind) {
    case 'queued':
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

/** Action.Execute `report.submit`: the form becomes the run's status card (or comes back with errors). */
export async function submitAction(context: TurnContext, deps: BotDeps, data: Record<string, unknown>): Promise<AdaptiveCard | string> {
  const reportId = typeof data.reportId === 'string' ? data.reportId : '';
  const outcome = await requestRun(context, deps, reportId, formValues(data), 'card', 'clicked', { email: formEmail(data) });
  switch (outcome.kind) {
    case 'queued':
      return respondWithCard(context, outcome.card);
    case 'invalid':
      return outcome.card;
    case 'unknown-report':
      return catalogCard(visibleReports(context, deps));
    case 'unavailable':
      return outcome.message;
  }
}

/**
 * Action.Execute `run.rerun` { reportId, params }: the same report with the same parameters, as a new
 * run with its own status card below; the clicked card keeps the earlier run's outcome.
 */
export async function rerunAction(context: TurnContext, deps: BotDeps, data: { reportId?: unknown; params?: unknown }): Promise<string> {
  const reportId = typeof data.reportId === 'string' ? data.reportId : '';
  const params = data.params && typeof data.params === 'object' && !Array.isArray(data.params) ? data.params as Record<string, unknown> : {};
  const outcome = await requestRun(context, deps, reportId, params, 'card', 'message');
  switch (outcome.kind) {
    case 'queued':
      return `Queued again as run ${outcome.runId}.`;
    case 'invalid': {
      const reply = MessageFactory.attachment(CardFactory.adaptiveCard(outcome.card));
      reply.text = `Nothing was queued: ${outcome.message}.`;
      await context.sendActivity(reply);
      return 'Those parameters no longer work; I opened the form below.';
    }
    case 'unknown-report':
    case 'unavailable':
      return outcome.message;
  }
}

/** Action.Execute `run.edit` { reportId, values }: the report's form, pre-filled, as a new message. */
export async function editAction(context: TurnContext, deps: BotDeps, data: { reportId?: unknown; values?: unknown }): Promise<string> {
  const report = visibleReports(context, deps).find((r) => r.id === data.reportId);
  if (!report) return `I don't know a report called "${String(data.reportId ?? '')}".`;
  const values = data.values && typeof data.values === 'object' ? data.values as Record<string, unknown> : {};
  let lists;
  try {
    lists = await formLists(deps, report);
  } catch (err) {
    deps.log.error({ err, reportId: report.id }, 'could not load choice lists');
    return CHOICES_DOWN;
  }
  await context.sendActivity(MessageFactory.attachment(CardFactory.adaptiveCard(formCard(report, values, {}, lists, emailToggle(deps, report)))));
  return 'I opened the form below with the same parameters.';
}
