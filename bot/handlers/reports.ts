/** The report catalog and the parameter forms. */
import { CardFactory, MessageFactory, type TurnContext } from 'botbuilder';
import { catalogCard, formCard, type AdaptiveCard } from '../../cards/render.ts';
import { visibleReports, type BotDeps } from '../context.ts';
import { emailToggle, formLists } from './run.ts';

export async function sendCatalog(context: TurnContext, deps: BotDeps): Promise<void> {
  await context.sendActivity(MessageFactory.attachment(CardFactory.adaptiveCard(catalogCard(visibleReports(context, deps)))));
}

/** Action.Execute `reports.list`: the catalog replaces the clicked card. */
export async function catalogAction(context: TurnContext, deps: BotDeps): Promise<AdaptiveCard> {
  return catalogCard(visibleReports(context, deps));
}

/** Action.Execute `report.form`: the report's form (pre-filled with `values`) replaces the clicked card. */
export async function formAction(context: TurnContext, deps: BotDeps, data: { reportId?: unknown; values?: unknown }): Promise<AdaptiveCard> {
  const reports = visibleReports(context, deps);
  const report = reports.find((r) => r.id === data.reportId);
  if (!report) return catalogCard(reports);
  const values = data.values && typeof data.values === 'object' ? data.values as Record<string, unknown> : {};
  return formCard(report, values, {}, await formLists(deps, report), emailToggle(deps, report));
}
