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

/** Card inputs for parameters are named `param.<name>`, so they never collide with action data. */
export const PARAM_INPUT_PREFIX = 'param.';

/** The Data.Query dataset of a parameter's typeahead: `<report id>.<parameter name>`. */
export function choiceDataset(reportId: string, param: string): string {
  return `${reportId}.${param}`;
}

/** The report and parameter a typeahead dataset names, or undefined. */
export function parseDataset(dataset: string): { reportId: string; param: string } | undefined {
  const m = /^([a-z0-9][a-z0-9-]*)\.([a-zA-Z][a-zA-Z0-9_]*)$/.exec(dataset);
  return m ? { reportId: m[1], param: m[2] } : undefined;
}
