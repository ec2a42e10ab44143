/** What the handlers share: the services they call, and who is asking. */
import type { Redis } from 'ioredis';
import type { TurnContext } from 'botbuilder';
import { mayRun } from '../core/access.ts';
import type { Archive } from '../core/archive.ts';
import type { Catalog, Report } from '../core/catalog.ts';
import type { ChoiceCache } from '../core/choices.ts';
import type { Config } from '../core/config.ts';
import type { Requester } from '../core/job.ts';
import type { Logger } from '../core/logger.ts';
import type { ReportQueue } from '../core/queue.ts';
import type { ConversationStore } from './conversations.ts';
import type { ProactiveSender } from './proactive.ts';

export interface BotDeps {
  config: Config;
  log: Logger;
  catalog: Catalog;
  queue: ReportQueue;
  conversations: ConversationStore;
  redis: Redis;
  choices: ChoiceCache;
  /** The run archive, for download links from the history; absent when BLOB_CONNECTION_STRING is not set. */
  archive?: Archive;
  /** For cards the bot changes outside the turn that shows them (a queued run's card after a cancel). */
  sender: ProactiveSender;
}

/** The reports this person may run: the catalog never shows the others. */
export function visibleReports(context: TurnContext, deps: BotDeps): Report[] {
  const who = requesterOf(context);
  return [...deps.catalog.reports.values()].filter((r) => mayRun(r, who));
}

/** The person behind an activity. Teams sends the Entra object id; other channels only `from.id`. */
export function requesterOf(context: TurnContext): Requester {
  const from = context.activity.from ?? { id: '', name: '' };
  const upn = (from as { userPrincipalName?: string }).userPrincipalName ?? '';
  return { aadObjectId: from.aadObjectId || from.id, name: from.name ?? '', upn };
}

/** True for the people in ADMIN_USERS: they see and may cancel everyone's runs. */
export function isAdmin(deps: BotDeps, who: Requester): boolean {
  return deps.config.ADMIN_USERS.includes(who.aadObjectId);
}
