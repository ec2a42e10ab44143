/**
 * Typeahead (Input.ChoiceSet with `choices.data` of type Data.Query): Teams sends an
 * `application/search` invoke as the person types; the answer is up to `count` matching entries
 * of the parameter's list, read from the cache. A free-text parameter with suggestions also offers
 * what was typed, when it is a valid value (an account-number prefix, say). The form's other inputs
 * come along (`associatedInputs: auto`), so suggestions narrowed by another parameter (accounts of
 * the chosen PCN) follow it.
 */
import type { TurnContext } from 'botbuilder';
import { PARAM_INPUT_PREFIX, parseDataset } from '../../cards/verbs.ts';
import { searchChoices } from '../../core/choices.ts';
import { validateParams } from '../../core/params.ts';
import { visibleReports, type BotDeps } from '../context.ts';

export interface SearchQuery {
  count: number;
  skip: number;
  parameters: { queryText: string; dataset: string };
}

export async function searchAction(context: TurnContext, deps: BotDeps, query: SearchQuery): Promise<{ title: string; value: string }[]> {
  const target = parseDataset(query.parameters.dataset);
  const report = target && visibleReports(context, deps).find((r) => r.id === target.reportId);
  const param = report?.parameters.find((p) => p.name === target?.param);
  if (!report || !param) return [];
  const list = await deps.choices.listFor(report, param.name).catch((err: unknown) => {
    deps.log.warn({ err, reportId: report.id, param: param.name }, 'typeahead list could not be read');
    return undefined;
  });
  const text = query.parameters.queryText.trim();
  const inputs = (context.activity.value as { data?: Record<string, unknown> } | undefined)?.data ?? {};
  const filterBy = param.type === 'string' ? param.suggest?.filterBy : undefined;
  const filterValue = filterBy ? inputs[`${PARAM_INPUT_PREFIX}${filterBy}`] : undefined;
  const count = Math.max(1, Math.min(query.count || 15, 50));
  const results = searchChoices(list ?? [], text, {
    count,
    filter: typeof filterValue === 'string' && filterValue !== '' ? filterValue : undefined,
  });
  if (param.type === 'string' && text && !results.some((r) => r.value === text)) {
    try {
      validateParams(report.id, [param], { [param.name]: text });
      results.unshift({ value: text, title: `${text} (as typed)` });
      if (results.length > count) results.pop();
    } catch {
      // Not a valid value: only the suggestions are offered.
    }
  }
  return results.map((c) => ({ title: c.title ?? c.value, value: c.value }));
}
