/**
 * Proactive messages to a requester, used by the runner: the card goes to the user's latest
 * conversation (refreshed by the bot on every message), or to the one the request came from.
 * This and bot/adapter.ts are the only places the runner touches the Bot Framework.
 */
import { CardFactory, MessageFactory, type ConversationReference } from 'botbuilder';
import type { TeamsAdapter } from '@microsoft/teams-ai';
import type { Config } from '../core/config.ts';
import { DeliveryError } from '../core/errors.ts';
import type { ReportJob } from '../core/job.ts';
import type { Logger } from '../core/logger.ts';
import type { ConversationStore } from './conversations.ts';

export class ProactiveSender {
  private readonly adapter: TeamsAdapter;
  private readonly appId: string;
  private readonly conversations: ConversationStore;
  private readonly log: Logger;

  constructor(config: Config, adapter: TeamsAdapter, conversations: ConversationStore, log: Logger) {
    this.adapter = adapter;
    this.appId = config.BOT_ID ?? '';
    this.conversations = conversations;
    this.log = log;
  }

  /** Send an Adaptive Card to the requester of `job`. Returns the new activity's id. */
  async sendCard(job: Pick<ReportJob, 'runId' | 'requestedBy' | 'conversation'>, card: object, text?: string): Promise<string | undefined> {
    const latest = await this.conversations.get(job.requestedBy.aadObjectId).catch(() => undefined);
    const reference = (latest ?? job.conversation) as Partial<ConversationReference>;
    let id: string | undefined;
    try {
      await this.adapter.continueConversationAsync(this.appId, reference, async (context) => {
        const activity = MessageFactory.attachment(CardFactory.adaptiveCard(card));
        if (text) activity.text = text;
        id = (await context.sendActivity(activity))?.id;
      });
    } catch (err) {
      this.log.warn({ err, runId: job.runId }, 'proactive send failed');
      throw new DeliveryError('teams', `could not send to ${job.requestedBy.name || job.requestedBy.aadObjectId}: ${(err as Error).message}`, { cause: err });
    }
    return id;
  }
}
