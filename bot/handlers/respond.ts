/**
 * Answering an Action.Execute with a card, ourselves. teams-ai would also update the clicked message
 * to any returned card that has a `refresh` (a live status card), at the end of the turn: after the
 * run was queued, so it could overwrite a newer state the runner had already put there. Status cards
 * are therefore answered here, and the message itself is only ever changed before the run is queued
 * (by the bot) or by the runner.
 */
import { ActivityTypes, type TurnContext } from 'botbuilder';
import type { AdaptiveCard } from '../../cards/render.ts';

export async function respondWithCard(context: TurnContext, card: AdaptiveCard): Promise<AdaptiveCard> {
  await context.sendActivity({
    type: ActivityTypes.InvokeResponse,
    value: { status: 200, body: { statusCode: 200, type: 'application/vnd.microsoft.card.adaptive', value: card } },
  });
  return card;
}
