/**
 * The teams-ai Application: routes chat commands and card actions to handlers. Before every turn it
 * refreshes the user's conversation references (the latest, and their 1:1 chat, for proactive
 * results) and drops Teams' retried deliveries of a message it has already handled. In group chats
 * and channels the bot's @mention is taken out of the text before routing (removeRecipientMention).
 */
import { Application, TurnState, type TeamsAdapter } from '@microsoft/teams-ai';
import { ActivityTypes, TurnContext } from 'botbuilder';
import { Verbs } from '../cards/verbs.ts';
import { matchReport } from '../core/phrases.ts';
import { keys } from '../core/redis.ts';
import { requesterOf, visibleReports, type BotDeps } from './context.ts';
import { sendHelp } from './handlers/help.ts';
import { downloadAction, historyCommand, historyPageAction } from './handlers/history.ts';
import { catalogAction, formAction, sendCatalog } from './handlers/reports.ts';
import { editAction, rerunAction, runCommand, sendUnderstoodForm, submitAction } from './handlers/run.ts';
import { cancelAction, cancelCommand, runsAction, sendRunsOverview, statusAction } from './handlers/runs.ts';
import { searchAction } from './handlers/search.ts';

/** How long an inbound activity id is remembered for de-duplication. */
const SEEN_TTL_SECONDS = 24 * 3600;

/** A typeahead dataset: `<report id>.<parameter>` (cards/verbs.ts choiceDataset). */
const DATASET = /^[a-z0-9][a-z0-9-]*\.[a-zA-Z][a-zA-Z0-9_]*$/;

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
      const reference = TurnContext.getConversationReference(a);
      await deps.conversations.save(user, reference);
      if (a.conversation.conversationType === 'personal') await deps.conversations.savePersonal(user, reference);
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
  app.message(/^\s*(status|runs|queue)\s*$/i, (context) => sendRunsOverview(context, deps));
  app.message(/^\s*(cancel|stop)\b/i, (context) => cancelCommand(context, deps, (context.activity.text ?? '').replace(/^\s*stop\b/i, 'cancel')));
  app.message(/^\s*run\b/i, (context) => runCommand(context, deps, context.activity.text ?? ''));
  app.message(/^\s*(history|my\s+reports|my\s+runs)(\s+all)?\s*$/i, (context) => historyCommand(context, deps, context.activity.text ?? ''));
  // A report named in words ("trial balance", "tb for 900101 jan 2025") opens its form; anything else gets help.
  app.activity(ActivityTypes.Message, async (context) => {
    const text = (context.activity.text ?? '').trim();
    if (!text && context.activity.value) {
      await context.sendActivity('That card is from an older version of me; type **reports** to start again.');
      return;
    }
    const match = text ? matchReport(text, visibleReports(context, deps)) : undefined;
    if (match) {
      await sendUnderstoodForm(context, deps, match, text);
      return;
    }
    await sendHelp(context, deps, `I did not understand "${text.slice(0, 80)}".`);
  });

  app.adaptiveCards.actionExecute(Verbs.listReports, async (context) => catalogAction(context, deps));
  app.adaptiveCards.actionExecute(Verbs.openForm, async (context, _state, data: Record<string, unknown>) => formAction(context, deps, data));
  app.adaptiveCards.actionExecute(Verbs.submit, async (context, _state, data: Record<string, unknown>) => submitAction(context, deps, data));
  app.adaptiveCards.actionExecute(Verbs.historyPage, async (context, _state, data: Record<string, unknown>) => historyPageAction(context, deps, data));
  app.adaptiveCards.actionExecute(Verbs.download, async (context, _state, data: Record<string, unknown>) => downloadAction(context, deps, data));
  app.adaptiveCards.actionExecute(Verbs.runStatus, async (context, _state, data: Record<string, unknown>) => statusAction(context, deps, data));
  app.adaptiveCards.actionExecute(Verbs.runCancel, async (context, _state, data: Record<string, unknown>) => cancelAction(context, deps, data));
  app.adaptiveCards.actionExecute(Verbs.runRerun, async (context, _state, data: Record<string, unknown>) => rerunAction(context, deps, data));
  app.adaptiveCards.actionExecute(Verbs.runEdit, async (context, _state, data: Record<string, unknown>) => editAction(context, deps, data));
  app.adaptiveCards.actionExecute(Verbs.listRuns, async (context) => runsAction(context, deps));
  app.adaptiveCards.search(DATASET, async (context, _state, query) => searchAction(context, deps, query));

  return app;
}
