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
} as const;

/** Card inputs for parameters are named `param.<name>`, so they never collide with action data. */
export const PARAM_INPUT_PREFIX = 'param.';

/** The form's "Also email me the file" toggle: an option of the request, not a report parameter. */
export const EMAIL_OPTION_INPUT = 'option.email';
