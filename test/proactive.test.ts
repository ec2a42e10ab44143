/**
 * The proactive sender against the local Bot Connector playing Teams' throttling: a send queue per
 * conversation keeps within the rate (no 429 at all), keeps order, and when Teams still answers 429
 * it tries again, bounded; other errors reach the caller instead of vanishing in botbuilder's
 * turn-error handler.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createAdapter } from '../bot/adapter.ts';
import { ConversationStore } from '../bot/conversations.ts';
import { ProactiveSender } from '../bot/proactive.ts';
import { parseConfig } from '../core/config.ts';
import { DeliveryError } from '../core/errors.ts';
import { createLogger } from '../core/logger.ts';
import { cardText, LocalConnector, type ChatUser } from '../demo/connector.ts';
import { deleteKeys, TEST_REDIS_URL } from './harness/stack.ts';

const prefix = `test-proactive-${randomBytes(4).toString('hex')}`;
const redis = new Redis(TEST_REDIS_URL);
const log = createLogger('test', 'silent');
let connector: LocalConnector;

before(async () => {
  // Teams: about 7 a second into one conversation, 8 in two; here 8 in any second, then 429.
  connector = await LocalConnector.start({ limits: { perConversationPerSecond: 8, retryAfterSeconds: 1 } });
});
after(async () => {
  await connector.close();
  await deleteKeys(redis, `${prefix}:*`);
  redis.disconnect();
});

function sender(env: Record<string, string> = {}): ProactiveSender {
  const config = parseConfig({ REDIS_PREFIX: prefix, ...env });
  return new ProactiveSender(config, createAdapter(config, log), new ConversationStore(redis, prefix), log);
}

function target(user: ChatUser, runId = 'r1') {
  const r = user.reference;
  return {
    runId,
    requestedBy: { aadObjectId: r.aadObjectId, name: r.name, upn: r.upn },
    conversation: {
      serviceUrl: r.serviceUrl, channelId: 'msteams',
      conversation: { id: r.conversationId, conversationType: r.conversationType, tenantId: r.tenantId },
      bot: { id: r.botId }, user: { id: r.userId },
    },
  };
}

const card = (n: number) => ({ type: 'AdaptiveCard', version: '1.5', body: [{ type: 'TextBlock', text: `card ${n}` }] });

test('a burst into one conversation is paced under Teams\' rate: no 429, every card in order', async () => {
  const user = connector.user();
  const s = sender({ SEND_RATE_PER_CONVERSATION: '7' });
  await Promise.all(Array.from({ length: 20 }, (_, i) => s.sendCard(target(user), card(i))));
  const calls = connector.calls.filter((c) => c.conversationId === user.reference.conversationId);
  assert.equal(calls.filter((c) => c.status === 429).length, 0);
  assert.deepEqual(user.activities().map((c) => cardText((c.activity?.attachments?.[0]?.content)).trim()), Array.from({ length: 20 }, (_, i) => `card ${i}`));
});

test('sent faster than Teams allows: the 429s are retried (Retry-After honoured) and all arrive once, in order', async () => {
  const user = connector.user();
  const s = sender({ SEND_RATE_PER_CONVERSATION: '50', SEND_MAX_ATTEMPTS: '6' });
  await Promise.all(Array.from({ length: 12 }, (_, i) => s.sendCard(target(user), card(i))));
  const calls = connector.calls.filter((c) => c.conversationId === user.reference.conversationId);
  assert.ok(calls.some((c) => c.status === 429), 'the connector throttled some');
  assert.deepEqual(user.activities().map((c) => cardText((c.activity?.attachments?.[0]?.content)).trim()), Array.from({ length: 12 }, (_, i) => `card ${i}`));
});

test('an update goes to the message it names; a failing one reaches the caller; throttling is retried, but bounded', async () => {
  const user = connector.user();
  const s = sender({ SEND_MAX_ATTEMPTS: '3' });
  const id = await s.sendCard(target(user), card(1));
  assert.ok(id);
  await s.updateCard(target(user), id!, card(2));
  const update = connector.calls.find((c) => c.route === 'update' && c.activityId === id);
  assert.equal(cardText(update?.activity?.attachments?.[0]?.content).trim(), 'card 2');

  connector.failNext(404, 1);
  await assert.rejects(s.updateCard(target(user), id!, card(3)), (err: { statusCode?: number }) => err.statusCode === 404);

  connector.failNext(429, 10);
  const before = connector.calls.length;
  await assert.rejects(s.sendCard(target(user), card(4)), DeliveryError);
  assert.deepEqual(connector.calls.slice(before).map((c) => c.status), [429, 429, 429], 'three attempts, then it gives up');
  connector.failNext(429, 0);

  connector.failNext(429, 2);
  await s.sendCard(target(user), card(5));
  assert.equal(cardText(user.activities().at(-1)?.activity?.attachments?.[0]?.content).trim(), 'card 5');
});
