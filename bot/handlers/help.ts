/** `help`, the welcome on install, and the answer to anything the bot does not understand. */
import { CardFactory, MessageFactory, type TurnContext } from 'botbuilder';
import { helpCard } from '../../cards/render.ts';
import { choicesOf } from '../../core/params.ts';
import type { BotDeps } from '../context.ts';

export function exampleCommand(deps: BotDeps): string {
  const first = deps.catalog.reports.values().next().value;
  if (!first) return 'reports';
  const args = first.parameters.filter((p) => p.required).map((p) =>
    `${p.name}=${choicesOf(p)[0]?.value ?? (p.type === 'period' ? '202503' : '…')}`);
  return ['run', first.id, ...args].join(' ');
}

export async function sendHelp(context: TurnContext, deps: BotDeps, preface?: string): Promise<void> {
  const card = MessageFactory.attachment(CardFactory.adaptiveCard(helpCard(exampleCommand(deps))));
  if (preface) card.text = preface;
  await context.sendActivity(card);
}
