/** The report catalog and the parameter forms. */
import { CardFactory, MessageFactory, type TurnContext } from 'botbuilder';
import { catalogCard, formCard, type AdaptiveCard } from '../../cards/render.ts';
import type { BotDeps } from '../context.ts';

export async function sendCatalog(context: TurnContext, deps: BotDeps): Promise<void> {
  await context.sendActivity(MessageFactory.attachment(CardFactory.adaptiveCard(catalogCard(deps.catalog.reports.values()))));
}

/** Action.Execute `reports.list`: the catalog replaces the clicked card. */
export async function catalogAction(deps: BotDeps): Promise<AdaptiveCard> {
  return catalogCard(deps.catalog.reports.values());
}

/** Action.Execute `report.form`: the report's form (pre-filled with `values`) replaces the clicked card. */
export async function formAction(deps: BotDeps, data: { reportId?: unknown; values?: unknown }): Promise<AdaptiveCard> {
  const report = typeof data.reportId === 'string' ? deps.catalog.reports.get(data.reportId) : undefined;
  if (!report) return catalogCard(deps.catalog.reports.values());
  const values = data.values && typeof data.values === 'object' ? data.values as Record<string, unknown> : {};
  return formCard(report, values);
}
