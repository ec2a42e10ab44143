/**
 * Typed renderers over the Adaptive Card templates in this folder (Adaptive Cards 1.5, `${}` bindings
 * expanded by adaptivecards-templating). Callers get plain card JSON; bot/ wraps it into activities.
 */
import { readFileSync } from 'node:fs';
import * as ACData from 'adaptivecards-templating';
import type { Report } from '../core/catalog.ts';
import type { HistoryPage, RunStatus, RunSummary } from '../core/history.ts';
import { choicesOf, defaultOf, describeParams, labelOf, type ParameterDef, type ParamValues, type ValidateOptions } from '../core/params.ts';
import { EMAIL_OPTION_INPUT, PARAM_INPUT_PREFIX, Verbs, type HistoryScopeName } from './verbs.ts';

export type AdaptiveCard = Record<string, unknown> & { type: 'AdaptiveCard' };

const templates = new Map<string, ACData.Template>();

function render(name: string, data: Record<string, unknown>): AdaptiveCard {
  let template = templates.get(name);
  if (!template) {
    const json = JSON.parse(readFileSync(new URL(`./${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;
    delete json.$comment;
    template = new ACData.Template(json);
    templates.set(name, template);
  }
  return template.expand({ $root: { ...data, verbs: Verbs } }) as AdaptiveCard;
}

/** The commands the bot understands, for the help card and the Teams manifest's command list. */
export const COMMANDS = [
  { usage: 'help', text: 'What I can do' },
  { usage: 'reports', text: 'The report catalog: pick one and fill in its form' },
  { usage: 'run report-id name=value …', text: 'Run a report straight from the chat, e.g. the example below' },
  { usage: 'history', text: 'Your earlier runs, newest first: download or re-run them' },
] as const;

export function helpCard(example: string): AdaptiveCard {
  return render('help', { commands: COMMANDS, example });
}

export function catalogCard(reports: Iterable<Pick<Report, 'id' | 'title' | 'description' | 'category'>>): AdaptiveCard {
  const list = [...reports].map(({ id, title, description, category }) => ({ id, title, description, category }));
  return render('catalog', { reports: list });
}

function field(p: ParameterDef, value: unknown, error: string | undefined, opts: ValidateOptions) {
  const kind = p.type === 'choice' || p.type === 'multichoice' ? 'choice'
    : p.type === 'boolean' ? 'toggle'
      : p.type === 'integer' || p.type === 'number' ? 'number'
        : p.type === 'date' ? 'date' : 'text';
  const shown = value ?? defaultOf(p, opts.now);
  return {
    id: `${PARAM_INPUT_PREFIX}${p.name}`,
    kind,
    label: labelOf(p),
    placeholder: p.type === 'period' ? 'YYYYMM, e.g. 202503' : (p.description ?? ''),
    value: shown === undefined ? '' : Array.isArray(shown) ? shown.join(',') : String(shown),
    multi: p.type === 'multichoice',
    required: p.required,
    choices: choicesOf(p, opts).map((c) => ({ title: c.title ?? c.value, value: c.value })),
    min: 'min' in p && p.min !== undefined ? p.min : '',
    max: 'max' in p && p.max !== undefined ? p.max : '',
    error: error ?? '',
  };
}

/**
 * The parameter form of a report. `values` pre-fills inputs (what the user typed stays when the form
 * comes back with errors); `errors` are per-parameter messages, '' keyed for the form as a whole;
 * `opts.choices` holds the lists of parameters whose choices come from data. With `email`, the form
 * ends with an "Also email me the file" toggle (input {@link EMAIL_OPTION_INPUT}) set to `email.checked`.
 */
export function formCard(
  report: Report, values: Record<string, unknown> = {}, errors: Record<string, string> = {}, opts: ValidateOptions = {},
  email?: { checked: boolean },
): AdaptiveCard {
  const known = new Set(report.parameters.map((p) => p.name));
  const general = Object.entries(errors).filter(([k]) => !known.has(k)).map(([, v]) => v).join(' ');
  const card = render('form', {
    reportId: report.id,
    title: report.title,
    description: report.description,
    error: general || (Object.keys(errors).length ? 'Please correct the fields marked below.' : ''),
    fields: report.parameters.map((p) => field(p, values[p.name], errors[p.name], opts)),
    emailOption: email !== undefined,
    emailInput: EMAIL_OPTION_INPUT,
    emailChecked: String(email?.checked ?? false),
  });
  // Templates cannot leave a property out; an unbounded number input must not carry "min": "".
  for (const container of card.body as { items?: Record<string, unknown>[] }[]) {
    for (const input of container.items ?? []) {
      for (const key of ['min', 'max', 'placeholder'] as const) if (input[key] === '') delete input[key];
    }
  }
  return card;
}

/** Card data that submits the same parameters again (inputs are named `param.<name>`). */
function rerunData(reportId: string, params: ParamValues): Record<string, unknown> {
  const data: Record<string, unknown> = { reportId };
  for (const [k, v] of Object.entries(params)) data[`${PARAM_INPUT_PREFIX}${k}`] = Array.isArray(v) ? v.join(',') : String(v);
  return data;
}

export function queuedCard(report: Report, runId: string, params: ParamValues): AdaptiveCard {
  return render('queued', { title: report.title, runId, params: describeParams(report.parameters, params) });
}

export interface ResultSummary {
  runId: string;
  fileName: string;
  rows: number;
  durationMs: number;
  downloadUrl: string;
  linkMinutes: number;
  checks?: { name: string; passed: boolean; violations: number }[];
  /** The workbook's sharing link in OneDrive/SharePoint ("Open in Excel"); absent in local mode. */
  openUrl?: string;
  /** The address the workbook was also emailed to. */
  emailedTo?: string;
  /** Plain sentences about deliveries that did not work (shown as warnings). */
  notes?: string[];
}

/** "3 of 3 passed", or which checks failed. Empty when the report has no checks. */
export function checksSummary(checks: ResultSummary['checks'] = []): string {
  if (checks.length === 0) return '';
  const failed = checks.filter((c) => !c.passed);
  if (failed.length === 0) return `${checks.length} of ${checks.length} passed`;
  return `${failed.length} of ${checks.length} FAILED: ${failed.map((c) => c.name).join('; ')}`;
}

export function resultCard(report: Report, params: ParamValues, r: ResultSummary): AdaptiveCard {
  const checks = checksSummary(r.checks);
  return render('result', {
    ...r,
    openUrl: r.openUrl ?? '',
    emailedTo: r.emailedTo ?? '',
    notes: r.notes ?? [],
    checks,
    checksFailed: checks.includes('FAILED'),
    title: report.title,
    duration: formatDuration(r.durationMs),
    params: describeParams(report.parameters, params),
  });
}

/**
 * A delivery that failed for good after the workbook was built: what went wrong in plain words, and
 * what still works (the sharing link if there is one, the archive download).
 */
export function deliveryFailedCard(
  report: Pick<Report, 'title'>, r: { runId: string; problems: string[]; openUrl?: string; downloadUrl: string; linkMinutes: number },
): AdaptiveCard {
  return render('delivery-failed', { ...r, title: report.title, openUrl: r.openUrl ?? '' });
}

/** What the Outlook card's Re-run button posts to `/api/actions/rerun` (the actions endpoint re-validates it). */
export interface RerunRequest {
  runId: string;
  reportId: string;
  params: ParamValues;
}

/**
 * The Outlook actionable message card of a result email: Re-run (Action.Http POST of a
 * {@link RerunRequest} to `${publicBaseUrl}/api/actions/rerun`) and, with a bot id, Open in Teams
 * (a deep link to the chat with the bot).
 */
export function emailActionCard(
  report: Pick<Report, 'id' | 'title'>, runId: string, params: ParamValues,
  opts: { originator: string; publicBaseUrl: string; botId?: string },
): AdaptiveCard {
  const rerun: RerunRequest = { runId, reportId: report.id, params };
  return render('email-result', {
    originator: opts.originator,
    title: report.title,
    runId,
    rerunUrl: `${opts.publicBaseUrl.replace(/\/+$/, '')}/api/actions/rerun`,
    rerunBody: JSON.stringify(rerun),
    teamsUrl: opts.botId ? `https://teams.microsoft.com/l/chat/0/0?users=28:${opts.botId}` : '',
  });
}

export function errorCard(report: Pick<Report, 'id' | 'title'>, runId: string, params: ParamValues, failure: { step?: string; message: string }): AdaptiveCard {
  return render('error', {
    title: report.title,
    runId,
    step: failure.step ?? '',
    message: failure.message,
    rerun: rerunData(report.id, params),
    edit: { reportId: report.id, values: params },
  });
}

/** 950 ms → "1 s", 75 s → "1 min 15 s". */
export function formatDuration(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
}

const STATUS: Record<RunStatus, { text: string; color: string }> = {
  succeeded: { text: 'Succeeded', color: 'Good' },
  failed: { text: 'Failed', color: 'Attention' },
  cancelled: { text: 'Cancelled', color: 'Warning' },
};

/** A time Teams shows in the reader's own time zone and locale (Adaptive Cards DATE/TIME functions). */
function localTime(iso: string): string {
  const t = new Date(iso).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `{{DATE(${t}, SHORT)}} {{TIME(${t})}}`;
}

/** A run's parameters for people: labels and choice titles from the report, else as recorded. */
function describeRun(run: Pick<RunSummary, 'params'>, report: Pick<Report, 'parameters'> | undefined) {
  const params = run.params as ParamValues;
  if (report) return describeParams(report.parameters, params);
  return Object.entries(params).map(([name, v]) => ({ name, label: name, value: Array.isArray(v) ? v.join(', ') : String(v) }));
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export interface HistoryView {
  scope: HistoryScopeName;
  page: HistoryPage;
  /** The catalog, for parameter labels (a run of a report no longer defined shows raw values). */
  reports: ReadonlyMap<string, Pick<Report, 'parameters'>>;
}

/**
 * A page of runs, newest first: status, title, when, parameters, rows, and per run Download (when a
 * workbook was archived) and Re-run (the same parameters through `report.submit`). Failed runs show
 * the step and the message the requester was given. Newer/Older page through.
 */
export function historyCard(view: HistoryView): AdaptiveCard {
  const { page, scope } = view;
  const first = page.page * page.pageSize + 1;
  const runs = page.runs.map((run) => {
    const rows = run.rows === undefined ? '' : run.rows.toLocaleString('en-US');
    const took = run.durationMs === undefined ? '' : ` · took ${formatDuration(run.durationMs)}`;
    return {
      runId: run.runId,
      title: run.reportTitle,
      status: STATUS[run.status].text,
      statusColor: STATUS[run.status].color,
      when: `${localTime(run.requestedAt)}${took}`,
      params: describeRun(run, view.reports.get(run.reportId)),
      requestedBy: scope === 'all' ? run.requestedBy.name || run.requestedBy.aadObjectId : '',
      rows,
      checks: checksSummary(run.checks),
      failedStep: run.failure?.step ?? '',
      failure: run.failure?.message ?? '',
      download: run.file !== undefined,
      downloadData: { runId: run.runId, reportId: run.reportId, page: page.page, scope },
      rerun: rerunData(run.reportId, run.params as ParamValues),
    };
  });
  return render('history', {
    heading: scope === 'all' ? 'Everyone\'s runs' : 'Your runs',
    summary: page.total === 0 ? 'Newest first.'
      : `Runs ${first}–${first + page.runs.length - 1} of ${page.total}, newest first (page ${page.page + 1} of ${page.pages}).`,
    empty: page.total === 0 ? (scope === 'all' ? 'Nobody has run a report yet.' : 'You have not run any reports yet. Type **reports** to pick one.') : '',
    runs,
    newer: page.page > 0,
    older: page.page + 1 < page.pages,
    newerData: { page: page.page - 1, scope },
    olderData: { page: page.page + 1, scope },
  });
}

/** The answer to Download: a fresh link to the run's workbook, and the way back to the history page. */
export function downloadCard(
  run: RunSummary & { file: NonNullable<RunSummary['file']> }, report: Pick<Report, 'parameters'> | undefined,
  link: { url: string; minutes: number }, back: { page: number; scope: HistoryScopeName },
): AdaptiveCard {
  return render('download', {
    title: run.reportTitle,
    runId: run.runId,
    fileName: run.file.fileName,
    size: formatBytes(run.file.bytes),
    rows: run.rows === undefined ? '' : run.rows.toLocaleString('en-US'),
    when: localTime(run.requestedAt),
    params: describeRun(run, report),
    downloadUrl: link.url,
    linkMinutes: link.minutes,
    back,
  });
}

/** What the refreshed Outlook card says about a Re-run that was queued from a report email. */
export interface EmailRerunSummary {
  /** The new run. */
  runId: string;
  /** The run whose email held the Re-run button. */
  rerunOf: string;
  title: string;
  /** The email address of the person who clicked (from the action token). */
  performer: string;
  params: { label: string; value: string }[];
  /** True when the result also goes to the person's Teams chat with the bot. */
  teams: boolean;
  /** The provider id Outlook requires on actionable cards (ACTIONABLE_ORIGINATOR). */
  originator?: string;
  /** "Open in Teams" link, if the bot has an app id. */
  teamsUrl?: string;
}

/** The card that replaces an email's card after its Re-run was queued (an Outlook refresh card). */
export function emailRerunCard(s: EmailRerunSummary): AdaptiveCard {
  const card = render('email-action', {
    ...s,
    originator: s.originator ?? '',
    teamsUrl: s.teamsUrl ?? '',
    delivery: s.teams
      ? 'The Excel file will be emailed to you and sent to your chat with the bot in Teams when it is ready.'
      : 'The Excel file will be emailed to you when it is ready.',
  });
  // Templates cannot leave a property out; a card without a provider id must not carry "originator": "".
  if (card.originator === '') delete card.originator;
  return card;
}

/** Teams deep link that opens the personal chat with the bot (`28:` marks a bot id). */
export function teamsChatUrl(botAppId: string): string {
  return `https://teams.microsoft.com/l/chat/0/0?users=${encodeURIComponent(`28:${botAppId}`)}`;
}
