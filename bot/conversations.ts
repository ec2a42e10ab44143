/**
 * Where to reach each user later: the latest ConversationReference per user, in Redis, refreshed on
 * every message (Teams may move a user's chat to a new service URL), and separately the user's 1:1
 * chat with the bot, where results of private reports go. The runner's proactive sender reads them;
 * the job's own copy is the fallback.
 */
import type { Redis } from 'ioredis';
import type { ConversationReference } from 'botbuilder';
import { keys } from '../core/redis.ts';

/** References older than this are dropped; a user who has not written for a year gets the job's copy. */
const TTL_SECONDS = 365 * 24 * 3600;

export class ConversationStore {
  private readonly redis: Redis;
  private readonly keys: ReturnType<typeof keys>;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.keys = keys(prefix);
  }

  async save(userId: string, ref: Partial<ConversationReference>): Promise<void> {
    await this.redis.set(this.keys.conversationRef(userId), JSON.stringify(ref), 'EX', TTL_SECONDS);
  }

  async get(userId: string): Promise<Partial<ConversationReference> | undefined> {
    const json = await this.redis.get(this.keys.conversationRef(userId));
    return json ? (JSON.parse(json) as Partial<ConversationReference>) : undefined;
  }

  /** Remember the user's 1:1 chat with the bot (a personal conversation they wrote in, or one the bot created). */
  async savePersonal(userId: string, ref: Partial<ConversationReference>): Promise<void> {
    await this.redis.set(this.keys.personalConversationRef(userId), JSON.stringify(ref), 'EX', TTL_SECONDS);
  }

  async getPersonal(userId: string): Promise<Partial<ConversationReference> | undefined> {
    const json = await this.redis.get(this.keys.personalConversationRef(userId));
    return json ? (JSON.parse(json) as Partial<ConversationReference>) : undefined;
  }
}
