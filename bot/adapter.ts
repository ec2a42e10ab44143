/**
 * The Bot Framework adapter (teams-ai TeamsAdapter = CloudAdapter) and its turn-error handler.
 * Inbound JWT validation is on whenever BOT_ID is set; with no app id (local mode) it is off.
 */
import { TeamsAdapter } from '@microsoft/teams-ai';
import { MessageFactory, type TurnContext } from 'botbuilder';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';

/** The adapter for both inbound turns (bot) and proactive sends (runner). */
export function createAdapter(config: Config, log: Logger): TeamsAdapter {
  const adapter = new TeamsAdapter({
    MicrosoftAppId: config.BOT_ID ?? '',
    MicrosoftAppPassword: config.BOT_PASSWORD ?? '',
    MicrosoftAppType: config.BOT_TYPE,
    MicrosoftAppTenantId: config.BOT_TENANT_ID ?? '',
  });
  adapter.onTurnError = async (context: TurnContext, error: Error) => {
    const a = context.activity;
    log.error({ err: error, activityId: a?.id, type: a?.type, conversationId: a?.conversation?.id }, 'unhandled error in turn');
    // Invokes get their error through the invoke response; a message would only add noise.
    if (a?.type === 'message') {
      await context.sendActivity(MessageFactory.text(
        'Sorry, something went wrong on my side while handling that. Please try again in a moment; if it keeps happening, tell IT the time you tried.',
      )).catch((err: unknown) => log.warn({ err }, 'could not send the error message'));
    }
  };
  return adapter;
}
