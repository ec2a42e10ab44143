/**
 * Action.Execute verbs: shared by the card templates (through the renderers) and the bot's handlers,
 * so a renamed verb can never leave a button that nothing answers.
 */
export const Verbs = {
  /** Show the report catalog. data: {} */
  listReports: 'reports.list',
  /** Open a report's parameter form. data: { reportId, values? } */
  openForm: 'report.form',
  /** Validate and queue a run. data: { reportId, 'param.<name>': value, ... } */
  submit: 'report.submit',
  /** Show a page of the history card. data: { page (0-based), scope: 'mine' | 'all' } */
  historyPage: 'history.page',
  /**
   * A fresh, short-lived download link for an archived run, if the person who clicks may have it.
   * data: { runId, reportId, page, scope } (page and scope: where "Back to history" returns)
   */
  download: 'run.download',
  /** A run's status card, current (the card's Universal Actions refresh). data: { runId } */
  runStatus: 'run.status',
  /** Stop a run: queued ones are removed, running ones aborted. data: { runId } */
  runCancel: 'run.cancel',
  /** The same report with the same parameters again, as a new run. data: { runId, reportId, params } */
  runRerun: 'run.rerun',
  /** The report's form pre-filled with a run's parameters, as a new message. data: { runId, reportId, values } */
  runEdit: 'run.edit',
  /** The requester's queued and running runs (everyone's for admins). data: {} */
  listRuns: 'runs.list',
} as const;

/** Whose runs a history card lists: the clicking person's, or everyone's (admins only). */
export type HistoryScopeName = 'mine' | 'all';

/** Card inputs for parameters are named `param.<name>`, so they never collide with action data. */
export const PARAM_INPUT_PREFIX = 'param.';

/**
 * Outlook actionable-message verbs: an email card's Action.Http POSTs to `emailActionUrl(base, verb)`,
 * answered by bot/actions.ts. The performer comes from Outlook's token, never from the body.
 */
export const EmailActions = {
  /** Queue the same report again for the person who clicked. body: {@link RerunActionBody} (JSON). */
  rerun: 'rerun',
} as const;

export type EmailActionVerb = (typeof EmailActions)[keyof typeof EmailActions];

/** The JSON body of an {@link EmailActions.rerun} action. */
export interface RerunActionBody {
  /** The run whose email holds the button. */
  runId: string;
  reportId: string;
  /** That run's parameters, as its job carried them. */
  params: Record<string, unknown>;
}

/** Where an email card's Action.Http points: `<PUBLIC_BASE_URL>/api/actions/<verb>`. */
export function emailActionUrl(publicBaseUrl: string, verb: EmailActionVerb): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/api/actions/${verb}`;
}

/** The form's "Also email me the file" toggle: an option of the request, not a report parameter. */
export const EMAIL_OPTION_INPUT = 'option.email';

/** The Data.Query dataset of a parameter's typeahead: `<report id>.<parameter name>`. */
export function choiceDataset(reportId: string, param: string): string {
  return `${reportId}.${param}`;
}

/** The report and parameter a typeahead dataset names, or undefined. */
export function parseDataset(dataset: string): { reportId: string; param: string } | undefined {
  const m = /^([a-z0-9][a-z0-9-]*)\.([a-zA-Z][a-zA-Z0-9_]*)$/.exec(dataset);
  return m ? { reportId: m[1], param: m[2] } : undefined;
}
