/** `help`, the welcome on install, and the answer to anything the bot does not understand. */
import { CardFactory, MessageFactory, type TurnContext } from 'botbuilder';
import { helpCard } from '../../cards/render.ts';
import type { Report } from '../../core/catalog.ts';
import { choicesOf, type ParameterDef } from '../../core/params.ts';
import type { BotDeps } from '../context.ts';

/**
 * A `run` command a person can copy: from the first report whose required inputs all have a concrete
 * example (a static choice or a period), leaving out what has a default.
 */
export function exampleCommand(deps: BotDeps): string {
  const reports = [...deps.catalog.reports.values()];
  const example = (p: ParameterDef) => choicesOf(p)[0]?.value ?? (p.type === 'period' ? '202503' : undefined);
  const needed = (r: Report) => r.parameters.filter((p) => p.required && p.default === undefined);
  const report = reports.find((r) => needed(r).every((p) => example(p) !== undefined)) ?? reports[0];
  if (!report) return 'reports';
  return ['run', report.id, ...needed(report).map((p) => `${p.name}=${example(p) ?? '…'}`)].join(' ');
}

export async function sendHelp(context: TurnContext, deps: BotDeps, preface?: string): Promise<void> {
  const card = MessageFactory.attachment(CardFactory.adaptiveCard(helpCard(exampleCommand(deps))));
  if (preface) card.text = preface;
  await context.sendActivity(card);
}
