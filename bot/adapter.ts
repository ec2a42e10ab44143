/**
 * The Bot Framework adapter (teams-ai TeamsAdapter = CloudAdapter) and its turn-error handler.
 * Inbound JWT validation is on whenever BOT_ID is set; with no app id (local mode) it is off.
 */
import { TeamsAdapter } from '@microsoft/teams-ai';
import { MessageFactory, type TurnContext } from 'botbuilder';
import { AuthenticationError, type BotFrameworkAuthentication } from 'botframework-connector';
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
  if (!config.localMode) failClosed(adapter, log);
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

/**
 * A token that cannot be verified is unauthorized, whatever the reason. botbuilder answers 401 only
 * for its own AuthenticationError; when Bot Framework's signing keys cannot be fetched (network down,
 * a forged well-formed token pointing elsewhere) it throws a plain error and answers 500. Wrap the
 * adapter's authenticator so every failure to authenticate becomes a 401 and never runs a turn.
 */
function failClosed(adapter: TeamsAdapter, log: Logger): void {
  // `botFrameworkAuthentication` is protected on CloudAdapterBase; this is the one place we reach in.
  const auth = (adapter as unknown as { botFrameworkAuthentication: BotFrameworkAuthentication }).botFrameworkAuthentication;
  const authenticate = auth.authenticateRequest.bind(auth);
  auth.authenticateRequest = async (activity, authHeader) => {
    try {
      return await authenticate(activity, authHeader);
    } catch (err) {
      if (err instanceof AuthenticationError) throw err;
      log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'inbound token could not be verified');
      throw new AuthenticationError('Unauthorized: the token could not be verified', 401);
    }
  };
}
