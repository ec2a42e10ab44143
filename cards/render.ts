/**
 * Typed renderers over the Adaptive Card templates in this folder (Adaptive Cards 1.5, `${}` bindings
 * expanded by adaptivecards-templating). Callers get plain card JSON; bot/ wraps it into activities.
 */
import { readFileSync } from 'node:fs';
import * as ACData from 'adaptivecards-templating';
import type { Report } from '../core/catalog.ts';
import type { HistoryPage, RunStatus as HistoryRunStatus, RunSummary } from '../core/history.ts';
import type { ReportJob } from '../core/job.ts';
import { choicesOf, defaultOf, describeParams, labelOf, type Choice, type ParameterDef, type ParamValues, type ValidateOptions } from '../core/params.ts';
import { isFinal, type RunStatus } from '../core/status.ts';
import {
  choiceDataset, EMAIL_OPTION_INPUT, EmailActions, emailActionUrl, PARAM_INPUT_PREFIX, Verbs, type HistoryScopeName, type RerunActionBody,
} from './verbs.ts';

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

/**
 * The commands the bot understands, for the help card and the Teams manifest's command list (which
 * allows titles of up to 32 characters and descriptions of up to 128).
 */
export const COMMANDS = [
  { usage: 'help', text: 'What I can do' },
  { usage: 'reports', text: 'The report catalog: pick one and fill in its form' },
  { usage: 'run report-id name=value …', text: 'Run a report straight from the chat, e.g. the example below' },
  { usage: 'tb for 900101 jan to mar 2025', text: 'Or say it in words: I fill in the form with what I understood, and you press Run' },
  { usage: 'status', text: 'Your queued and running reports, where they are, with Cancel' },
  { usage: 'cancel run-id', text: 'Stop a queued or running report (the run id is on its card)' },
  { usage: 'history', text: 'Your earlier runs, newest first: download or re-run them' },
] as const;

export function helpCard(example: string): AdaptiveCard {
  return render('help', { commands: COMMANDS, example });
}

export function catalogCard(reports: Iterable<Pick<Report, 'id' | 'title' | 'description' | 'category'>>): AdaptiveCard {
  const list = [...reports].map(({ id, title, description, category }) => ({ id, title, description, category }));
  return render('catalog', { reports: list });
}

/** A single choice list longer than this becomes a typeahead search (Data.Query) instead of a dropdown. */
export const TYPEAHEAD_OVER = 50;
/** Static choices a typeahead carries for clients without dynamic search (Teams lists at most 15). */
const TYPEAHEAD_STATIC = 15;

/** Options of a form: validation's choice lists, plus suggestion lists and a note on what was understood. */
export interface FormOptions extends ValidateOptions {
  /** Suggestion lists of free-text parameters with `suggest:` (their typeahead's static fallback). */
  suggestions?: Readonly<Record<string, readonly Choice[]>>;
  /** Shown above the fields, e.g. what the bot understood from a sentence. */
  note?: string;
}

function field(reportId: string, p: ParameterDef, value: unknown, error: string | undefined, opts: FormOptions) {
  const choices = choicesOf(p, opts);
  const typeahead = (p.type === 'string' && p.suggest !== undefined) || (p.type === 'choice' && choices.length > TYPEAHEAD_OVER);
  const kind = typeahead ? 'typeahead'
    : p.type === 'choice' || p.type === 'multichoice' ? 'choice'
      : p.type === 'boolean' ? 'toggle'
        : p.type === 'integer' || p.type === 'number' ? 'number'
          : p.type === 'date' ? 'date' : 'text';
  const shown = value ?? defaultOf(p, opts.now);
  const text = shown === undefined ? '' : Array.isArray(shown) ? shown.join(',') : String(shown);
  let listed = choices;
  if (typeahead) {
    // The fallback list: the first few, and whatever is filled in (a choice set shows only values it lists).
    const pool = p.type === 'string' ? (opts.suggestions?.[p.name] ?? []) : choices;
    const current = text === '' ? [] : [pool.find((c) => c.value === text) ?? { value: text }];
    listed = [...current, ...pool.filter((c) => c.value !== text).slice(0, TYPEAHEAD_STATIC - current.length)];
  }
  return {
    id: `${PARAM_INPUT_PREFIX}${p.name}`,
    kind,
    label: labelOf(p),
    placeholder: p.type === 'period' ? 'YYYYMM, e.g. 202503' : typeahead ? (p.description ?? 'Type to search') : (p.description ?? ''),
    value: text,
    multi: p.type === 'multichoice',
    required: p.required,
    choices: listed.map((c) => ({ title: c.title ?? c.value, value: c.value })),
    dataset: choiceDataset(reportId, p.name),
    min: 'min' in p && p.min !== undefined ? p.min : '',
    max: 'max' in p && p.max !== undefined ? p.max : '',
    error: error ?? '',
  };
}

/**
 * The parameter form of a report. `values` pre-fills inputs (what the user typed stays when the form
 * comes back with errors); `errors` are per-parameter messages, '' keyed for the form as a whole;
 * `opts.choices` holds the lists of parameters whose choices come from data, `opts.suggestions` the
 * suggestion lists of free-text parameters, `opts.note` a line above the fields. With `email`, the
 * form ends with an "Also email me the file" toggle (input {@link EMAIL_OPTION_INPUT}) set to
 * `email.checked`.
 */
export function formCard(
  report: Report, values: Record<string, unknown> = {}, errors: Record<string, string> = {}, opts: FormOptions = {},
  email?: { checked: boolean },
): AdaptiveCard {
  const known = new Set(report.parameters.map((p) => p.name));
  const general = Object.entries(errors).filter(([k]) => !known.has(k)).map(([, v]) => v).join(' ');
  const card = render('form', {
    reportId: report.id,
    title: report.title,
    description: report.description,
    note: opts.note ?? '',
    error: general || (Object.keys(errors).length ? 'Please correct the fields marked below.' : ''),
    fields: report.parameters.map((p) => field(report.id, p, values[p.name], errors[p.name], opts)),
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

/** Action data of Re-run (same parameters, new run) and Change parameters (the form, pre-filled). */
function rerunData(reportId: string, runId: string, params: ParamValues) {
  return { rerun: { runId, reportId, params }, edit: { runId, reportId, values: params } };
}

/** What a status card knows about its run besides the status. */
export interface RunInfo {
  runId: string;
  params: ParamValues;
  /** Display name of the person who asked for it. */
  requestedBy: string;
  /** Teams user id (29:…) of the requester: the card refreshes itself when they look at it. */
  requesterTeamsId?: string;
  /** The result goes to the requester's 1:1 chat (a private report): parameters stay off shared cards. */
  privately?: boolean;
}

/**
 * What a status card shows about a queued run, from its job (the runner's updates and the bot's
 * refresh, status and cancel answers all build it this way). A private report asked for outside a
 * 1:1 chat keeps its parameters off the card.
 */
export function runInfoOf(job: ReportJob, report: Pick<Report, 'private'> | undefined, params = job.params as ParamValues): RunInfo {
  const conversationType = (job.conversation?.conversation as { conversationType?: string } | undefined)?.conversationType;
  return {
    runId: job.runId,
    params,
    requestedBy: job.requestedBy.name,
    requesterTeamsId: job.conversation?.user?.id,
    privately: report?.private === true && conversationType !== 'personal',
  };
}

const STATUS_LOOK: Record<RunStatus['state'], { word: string; color: string }> = {
  queued: { word: 'Queued', color: 'Default' },
  retrying: { word: 'Retrying', color: 'Warning' },
  starting: { word: 'Starting', color: 'Accent' },
  'waiting-lock': { word: 'Waiting', color: 'Warning' },
  running: { word: 'Running', color: 'Accent' },
  delivering: { word: 'Sending', color: 'Accent' },
  cancelling: { word: 'Cancelling', color: 'Warning' },
  done: { word: 'Done', color: 'Good' },
  failed: { word: 'Failed', color: 'Attention' },
  cancelled: { word: 'Cancelled', color: 'Default' },
};

/** The one line that says where a run is, e.g. "Step 5 of 17: Open-period activity from Plex · 12,000 rows". */
export function statusLine(status: RunStatus, opts: { privately?: boolean } = {}): string {
  switch (status.state) {
    case 'queued': return status.position ? `Number ${status.position} in the queue.` : 'Waiting for a free runner.';
    case 'retrying': return `Attempt ${status.attempt} did not work (${status.message}); trying again shortly.`;
    case 'starting': return 'Starting…';
    case 'waiting-lock': return `Waiting for another run that uses the same data to finish (${status.locks.join(', ')} lock).`;
    case 'running': return `Step ${status.step} of ${status.steps}: ${status.name}${status.rows ? ` · ${status.rows.toLocaleString('en-US')} rows` : ''}`;
    case 'delivering': return 'Sending you the result…';
    case 'cancelling': return `Stopping it, as ${status.by} asked…`;
    case 'done': return `${status.rows.toLocaleString('en-US')} rows in ${formatDuration(status.durationMs)}.${status.checksFailed ? ` ${status.checksFailed} check${status.checksFailed === 1 ? '' : 's'} FAILED: see the Checks sheet.` : ''} ${opts.privately ? 'I sent the file to you in our 1:1 chat.' : 'The file is in the message below.'}`;
    case 'failed': return `${status.message}${status.step ? ` (step: ${status.step})` : ''}`;
    case 'cancelled': return `Cancelled by ${status.by}. Nothing was sent.`;
  }
}

/** When the current attempt started, for "Elapsed". */
function startedOf(status: RunStatus): string | undefined {
  return 'startedAt' in status ? status.startedAt : undefined;
}

/**
 * A run's live status card: where it is (queued with its place, waiting for a lock, step i of n,
 * done, failed, cancelled), how long it has been going, and Cancel while it can be stopped, or
 * Re-run and Change parameters once it is over. Until then it carries a Universal Actions refresh,
 * so Teams fetches the current state when the requester looks at it.
 */
export function statusCard(report: Pick<Report, 'id' | 'title' | 'parameters'>, run: RunInfo, status: RunStatus, now = Date.now()): AdaptiveCard {
  const final = isFinal(status);
  const started = startedOf(status);
  const facts = [
    ...(run.privately ? [] : describeParams(report.parameters, run.params).map((p) => ({ title: p.label, value: p.value }))),
    ...(started && !final ? [{ title: 'Elapsed', value: formatDuration(now - Date.parse(started)) }] : []),
    ...(run.requestedBy ? [{ title: 'Requested by', value: run.requestedBy }] : []),
    { title: 'Run id', value: run.runId },
  ];
  const look = STATUS_LOOK[status.state];
  const card = render('status', {
    headline: `${look.word}: ${report.title}`,
    color: look.color,
    detail: statusLine(status, run),
    note: status.state === 'queued' ? 'This card follows the run as it goes.' : '',
    facts,
    runId: run.runId,
    cancel: !final && status.state !== 'cancelling' && status.state !== 'delivering',
    final,
    ...rerunData(report.id, run.runId, run.params),
  });
  if (!final) {
    card.refresh = {
      action: { type: 'Action.Execute', verb: Verbs.runStatus, data: { runId: run.runId } },
      userIds: run.requesterTeamsId ? [run.requesterTeamsId] : [],
    };
  }
  return card;
}

/** One row of the `status` list. */
export interface RunRow {
  report: Pick<Report, 'id' | 'title' | 'parameters'>;
  run: RunInfo;
  status: RunStatus;
}

/** The `status` command's card: queued and running runs, each with where it is and Cancel. */
export function runsCard(rows: RunRow[], opts: { everyone: boolean; now?: number; note?: string }): AdaptiveCard {
  const now = opts.now ?? Date.now();
  return render('runs', {
    title: opts.everyone ? 'Queued and running reports (everyone\'s)' : 'Your queued and running reports',
    note: opts.note ?? '',
    empty: rows.length ? '' : 'Nothing is queued or running. Type **reports** to start one.',
    runs: rows.map(({ report, run, status }) => {
      const started = startedOf(status);
      return {
        runId: run.runId,
        headline: `${STATUS_LOOK[status.state].word}: ${report.title}`,
        detail: statusLine(status, run),
        facts: [
          ...(run.privately ? [] : describeParams(report.parameters, run.params).map((p) => ({ title: p.label, value: p.value }))),
          ...(started ? [{ title: 'Elapsed', value: formatDuration(now - Date.parse(started)) }] : []),
          ...(opts.everyone ? [{ title: 'Requested by', value: run.requestedBy || '(unknown)' }] : []),
          { title: 'Run id', value: run.runId },
        ],
        cancel: !isFinal(status) && status.state !== 'cancelling' && status.state !== 'delivering',
      };
    }),
  });
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

/**
 * The Outlook actionable message card of a result email: Re-run (Action.Http POST of a
 * {@link RerunActionBody} to `emailActionUrl(publicBaseUrl, 'rerun')`, answered by bot/actions.ts)
 * and, with a bot id, Open in Teams
 * (a deep link to the chat with the bot).
 */
export function emailActionCard(
  report: Pick<Report, 'id' | 'title'>, runId: string, params: ParamValues,
  opts: { originator: string; publicBaseUrl: string; botId?: string },
): AdaptiveCard {
  const rerun: RerunActionBody = { runId, reportId: report.id, params };
  return render('email-result', {
    originator: opts.originator,
    title: report.title,
    runId,
    rerunUrl: emailActionUrl(opts.publicBaseUrl, EmailActions.rerun),
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
    ...rerunData(report.id, runId, params),
  });
}

/** 950 ms → "1 s", 75 s → "1 min 15 s". */
export function formatDuration(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
}

const STATUS: Record<HistoryRunStatus, { text: string; color: string }> = {
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
      rerun: rerunData(run.reportId, run.runId, run.params as ParamValues).rerun,
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
