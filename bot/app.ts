/**
 * The teams-ai Application: routes chat commands and card actions to handlers. Before every turn it
 * refreshes the user's conversation reference (for proactive results) and drops Teams' retried
 * deliveries of a message it has already handled.
 */
import { Application, TurnState, type TeamsAdapter } from '@microsoft/teams-ai';
import { ActivityTypes, TurnContext } from 'botbuilder';
import { Verbs } from '../cards/verbs.ts';
import { keys } from '../core/redis.ts';
import { requesterOf, type BotDeps } from './context.ts';
import { sendHelp } from './handlers/help.ts';
import { downloadAction, historyCommand, historyPageAction } from './handlers/history.ts';
import { catalogAction, formAction, sendCatalog } from './handlers/reports.ts';
import { runCommand, submitAction } from './handlers/run.ts';

/** How long an inbound activity id is remembered for de-duplication. */
const SEEN_TTL_SECONDS = 24 * 3600;

export function createApp(adapter: TeamsAdapter, deps: BotDeps): Application<TurnState> {
  const app = new Application<TurnState>({
    adapter,
    botAppId: deps.config.BOT_ID ?? '',
    removeRecipientMention: true,
    startTypingTimer: false,
    longRunningMessages: false,
  });
  const k = keys(deps.config.REDIS_PREFIX);

  app.turn('beforeTurn', async (context) => {
    const a = context.activity;
    if (a.type === ActivityTypes.Message && a.id) {
      const first = await deps.redis.set(k.seenActivity(`${a.conversation?.id}:${a.id}`), '1', 'EX', SEEN_TTL_SECONDS, 'NX');
      if (!first) {
        deps.log.info({ activityId: a.id }, 'duplicate delivery ignored');
        return false;
      }
    }
    const user = requesterOf(context).aadObjectId;
    if (user && a.conversation?.id && a.serviceUrl) {
      await deps.conversations.save(user, TurnContext.getConversationReference(a));
    }
    return true;
  });

  app.conversationUpdate('membersAdded', async (context) => {
    const botId = context.activity.recipient?.id;
    if (context.activity.membersAdded?.some((m) => m.id !== botId)) {
      await sendHelp(context, deps, 'Hi! I run reports for you and send back the Excel file.');
    }
  });

  app.message(/^\s*(help|\?|hi|hello)\s*$/i, (context) => sendHelp(context, deps));
  app.message(/^\s*(reports?|catalog|list)\s*$/i, (context) => sendCatalog(context, deps));
  app.message(/^\s*run\b/i, (context) => runCommand(context, deps, context.activity.text ?? ''));
  app.message(/^\s*(history|my\s+reports|my\s+runs)(\s+all)?\s*$/i, (context) => historyCommand(context, deps, context.activity.text ?? ''));
  // Anything else gets help, never silence.
  app.activity(ActivityTypes.Message, async (context) => {
    if (!context.activity.text?.trim() && context.activity.value) {
      await context.sendActivity('That card is from an older version of me; type **reports** to start again.');
      return;
    }
    await sendHelp(context, deps, `I did not understand "${(context.activity.text ?? '').trim().slice(0, 80)}".`);
  });

  app.adaptiveCards.actionExecute(Verbs.listReports, async (context) => catalogAction(context, deps));
  app.adaptiveCards.actionExecute(Verbs.openForm, async (context, _state, data: Record<string, unknown>) => formAction(context, deps, data));
  app.adaptiveCards.actionExecute(Verbs.submit, async (context, _state, data: Record<string, unknown>) => submitAction(context, deps, data));
  app.adaptiveCards.actionExecute(Verbs.historyPage, async (context, _state, data: Record<string, unknown>) => historyPageAction(context, deps, data));
  app.adaptiveCards.actionExecute(Verbs.download, async (context, _state, data: Record<string, unknown>) => downloadAction(context, deps, data));

  return app;
}
