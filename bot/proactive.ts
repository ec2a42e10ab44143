/**
 * Proactive messages to a requester, used by the runner (and by the bot for cards it changes outside
 * the turn that shows them): result and failure cards, and in-place updates of a run's live status
 * card. Every call waits its turn in a send queue that keeps each conversation and tenant within
 * Teams' rate limits, and is tried again (bounded) when Teams still answers 429.
 * This and bot/adapter.ts are the only places the runner touches the Bot Framework.
 */
import { CardFactory, MessageFactory, TurnContext, type ConversationParameters, type ConversationReference } from 'botbuilder';
import type { TeamsAdapter } from '@microsoft/teams-ai';
import type { Config } from '../core/config.ts';
import { DeliveryError } from '../core/errors.ts';
import type { ReportJob } from '../core/job.ts';
import type { Logger } from '../core/logger.ts';
import { RateLimiter, withRetry } from '../core/ratelimit.ts';
import type { ConversationStore } from './conversations.ts';

/** How a card is sent. */
export interface SendOptions {
  /** To the requester's 1:1 chat with the bot (created if none is known), wherever they asked. */
  privately?: boolean;
}

type Target = Pick<ReportJob, 'runId' | 'requestedBy' | 'conversation'>;
type Reference = Partial<ConversationReference>;

/**
 * Teams' limits for one bot in one conversation beyond the first second (Microsoft Learn, "Optimize
 * your bot: rate limiting and best practices"): 8 in 2 s, 60 in 30 s, 1800 an hour.
 */
const CONVERSATION_WINDOWS = [{ limit: 60, ms: 30_000 }, { limit: 1800, ms: 3_600_000 }];

/** Whether a failed Connector call was throttling, and the wait Teams asked for (Retry-After: seconds or a date). */
export function throttling(err: unknown): { retry: boolean; afterMs?: number } {
  const e = err as { statusCode?: number; response?: { headers?: { get?(name: string): string | undefined } } } | undefined;
  if (e?.statusCode !== 429) return { retry: false };
  const header = e.response?.headers?.get?.('retry-after');
  if (!header) return { retry: true };
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return { retry: true, afterMs: Math.max(0, seconds * 1000) };
  const date = Date.parse(header);
  return { retry: true, afterMs: Number.isNaN(date) ? undefined : Math.max(0, date - Date.now()) };
}

export class ProactiveSender {
  private readonly adapter: TeamsAdapter;
  private readonly appId: string;
  private readonly conversations: ConversationStore;
  private readonly log: Logger;
  private readonly attempts: number;
  private readonly perConversation: RateLimiter;
  private readonly perTenant: RateLimiter;
  /** The last call queued per conversation: the next one starts when it has settled. */
  private readonly lanes = new Map<string, Promise<void>>();

  constructor(config: Config, adapter: TeamsAdapter, conversations: ConversationStore, log: Logger) {
    this.adapter = adapter;
    this.appId = config.BOT_ID ?? '';
    this.conversations = conversations;
    this.log = log;
    this.attempts = config.SEND_MAX_ATTEMPTS;
    const perSecond = config.SEND_RATE_PER_CONVERSATION;
    this.perConversation = new RateLimiter([
      { limit: perSecond, ms: 1000 },
      { limit: perSecond + 1, ms: 2000 },
      ...CONVERSATION_WINDOWS.filter((w) => w.limit > perSecond + 1),
    ]);
    this.perTenant = new RateLimiter([{ limit: config.SEND_RATE_PER_TENANT, ms: 1000 }]);
  }

  /**
   * Send an Adaptive Card to the requester of `job`: into the conversation the request came from, or
   * privately into their 1:1 chat. Returns the new activity's id. Throws DeliveryError.
   */
  async sendCard(job: Target, card: object, text?: string, opts: SendOptions = {}): Promise<string | undefined> {
    try {
      const reference = opts.privately ? await this.personalReference(job) : await this.requestReference(job);
      return await this.call(reference, async (context) => {
        const activity = MessageFactory.attachment(CardFactory.adaptiveCard(card));
        if (text) activity.text = text;
        return (await context.sendActivity(activity))?.id;
      });
    } catch (err) {
      this.log.warn({ err, runId: job.runId }, 'proactive send failed');
      throw new DeliveryError('teams', `could not send to ${job.requestedBy.name || job.requestedBy.aadObjectId}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Replace the card of activity `activityId`, which the bot posted in the conversation `job` came from. */
  async updateCard(job: Target, activityId: string, card: object): Promise<void> {
    const reference = await this.requestReference(job);
    await this.call(reference, async (context) => {
      await context.updateActivity({ id: activityId, type: 'message', attachments: [CardFactory.adaptiveCard(card)] });
    });
  }

  /** The conversation the request came from, with the service URL Teams gave most recently. */
  private async requestReference(job: Target): Promise<Reference> {
    const latest: Reference | undefined = await this.conversations.get(job.requestedBy.aadObjectId).catch(() => undefined);
    const asked = job.conversation as Reference | undefined;
    if (!asked) {
      if (!latest) throw new Error('no conversation is known for this requester');
      return latest;
    }
    return latest && latest.conversation?.id === asked.conversation?.id ? latest : asked;
  }

  /** The requester's 1:1 chat with the bot: remembered, the request's own if it was one, or created now. */
  private async personalReference(job: Target): Promise<Reference> {
    const user = job.requestedBy.aadObjectId;
    const stored = await this.conversations.getPersonal(user).catch(() => undefined);
    if (stored) return stored;
    const base = await this.requestReference(job);
    if (base.conversation?.conversationType === 'personal') return base;
    if (!base.serviceUrl || !base.channelId) throw new Error('the request carries no service URL to create a 1:1 chat from');
    const tenantId = base.conversation?.tenantId;
    // Teams takes the user's 29: id or their Entra object id as the member.
    const member = { id: base.user?.id || user };
    const parameters = {
      isGroup: false,
      bot: base.bot,
      members: [member],
      tenantId,
      channelData: { tenant: { id: tenantId } },
    } as ConversationParameters;
    let created: Reference | undefined;
    const serviceUrl = base.serviceUrl;
    const channelId = base.channelId;
    await withRetry(() => this.adapter.createConversationAsync(this.appId, channelId, serviceUrl, undefined as unknown as string, parameters, async (context) => {
      created = TurnContext.getConversationReference(context.activity);
    }), { attempts: this.attempts, classify: throttling, onRetry: (err, attempt, waitMs) => this.log.warn({ err, attempt, waitMs, runId: job.runId }, 'Teams throttled creating a 1:1 chat; trying again') });
    if (!created?.conversation?.id) throw new Error('Teams did not return the new conversation');
    // The "activity" botbuilder made up for the new conversation is not a message to reply to.
    delete created.activityId;
    const reference: Reference = {
      ...created,
      user: { id: member.id, name: job.requestedBy.name, aadObjectId: user } as ConversationReference['user'],
      conversation: { ...created.conversation, conversationType: 'personal', tenantId } as ConversationReference['conversation'],
    };
    await this.conversations.savePersonal(user, reference).catch((err: unknown) => this.log.warn({ err }, 'could not remember the new 1:1 chat'));
    this.log.info({ runId: job.runId, user }, 'created a 1:1 chat with the requester');
    return reference;
  }

  /**
   * One Connector call in `reference`'s conversation, in the conversation's send queue: calls into
   * one conversation go one at a time, in order (a card's update never overtakes the message before
   * it), each attempt within the conversation's and the tenant's rate, retried (bounded) on 429.
   * botbuilder hands an error thrown in a proactive turn to the adapter's turn-error handler, which
   * logs it and carries on; it is caught here instead, so the caller learns that the call failed.
   */
  private call<T>(reference: Reference, work: (context: TurnContext) => Promise<T>): Promise<T> {
    const conversationId = String(reference.conversation?.id ?? '').split(';')[0];
    const tenantId = reference.conversation?.tenantId ?? '';
    const attempt = async (): Promise<T> => {
      await this.perConversation.acquire(conversationId);
      await this.perTenant.acquire(tenantId);
      let result: T | undefined;
      let failure: { err: unknown } | undefined;
      await this.adapter.continueConversationAsync(this.appId, reference, async (context) => {
        try {
          result = await work(context);
        } catch (err) {
          failure = { err };
        }
      });
      if (failure) throw failure.err;
      return result as T;
    };
    const run = () => withRetry(attempt, {
      attempts: this.attempts,
      classify: throttling,
      onRetry: (err, n, waitMs) => this.log.warn({ err: { message: (err as Error).message }, attempt: n, waitMs, conversationId }, 'Teams throttled a proactive call; trying again'),
    });
    const previous = this.lanes.get(conversationId) ?? Promise.resolve();
    const mine = previous.then(run, run);
    const tail = mine.then(() => {}, () => {});
    this.lanes.set(conversationId, tail);
    void tail.then(() => { if (this.lanes.get(conversationId) === tail) this.lanes.delete(conversationId); });
    return mine;
  }
}
