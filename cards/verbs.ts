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
} as const;

/** Whose runs a history card lists: the clicking person's, or everyone's (admins only). */
export type HistoryScopeName = 'mine' | 'all';

/** Card inputs for parameters are named `param.<name>`, so they never collide with action data. */
export const PARAM_INPUT_PREFIX = 'param.';
