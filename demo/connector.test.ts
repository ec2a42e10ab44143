/**
 * The local Bot Connector against a tiny hand-written bot (node:http + fetch), no botbuilder: proves
 * the Teams side of the protocol works on its own, so integration tests that use it blame the bot.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { runChat } from './chat.ts';
import { ADAPTIVE_CARD_CONTENT_TYPE, cardOf, cardText, executeData, LocalConnector, type InboundActivity } from './connector.ts';

const CARD = {
  type: 'AdaptiveCard',
  version: '1.5',
  body: [
    { type: 'TextBlock', text: 'General Ledger', weight: 'Bolder' },
    { type: 'FactSet', facts: [{ title: 'Plant', value: 'Demo A' }, { title: 'Period', value: '202503' }] },
    { type: 'Input.Text', id: 'param.period', label: 'Period', isRequired: true, placeholder: 'YYYYMM' },
    { type: 'Input.ChoiceSet', id: 'param.pcn', label: 'Plant', value: '900101', choices: [{ title: 'Demo A', value: '900101' }, { title: 'Demo B', value: '900202' }] },
    { type: 'TextBlock', text: 'hidden', isVisible: false },
  ],
  actions: [
    { type: 'Action.Execute', title: 'Run report', verb: 'report.submit', data: { reportId: 'gl' } },
    { type: 'Action.OpenUrl', title: 'Download', url: 'https://example.test/f.xlsx' },
  ],
};

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/**
 * The fake bot: replies to a message (POST …/activities/{id}) and then updates that reply (PUT);
 * `card` replies with a card, `typing` sends typing first, `retry` retries a refused send after
 * Retry-After. Invokes are answered with the card, as teams-ai does.
 */
async function startFakeBot(): Promise<{ server: Server; endpoint: string; received: InboundActivity[] }> {
  const received: InboundActivity[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      let a: InboundActivity;
      try {
        a = (await readJson(req)) as InboundActivity;
      } catch {
        res.writeHead(400).end();
        return;
      }
      received.push(a);
      if (a.type !== 'invoke' && a.type !== 'message') {
        res.writeHead(200).end();
        return;
      }
      const conv = `${a.serviceUrl}v3/conversations/${encodeURIComponent(a.conversation.id)}/activities`;
      const post = (url: string, method: string, body: object) =>
        fetch(url, { method, headers: { 'content-type': 'application/json', authorization: 'Bearer fake' }, body: JSON.stringify(body) });
      if (a.type === 'invoke') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ statusCode: 200, type: ADAPTIVE_CARD_CONTENT_TYPE, value: CARD }));
        return;
      }
      if (a.type === 'message') {
        if (a.text === 'typing') await post(conv, 'POST', { type: 'typing' });
        if (a.text === 'retry') {
          let r = await post(conv, 'POST', { type: 'message', text: 'after retry' });
          if (r.status === 429) {
            await new Promise((done) => setTimeout(done, Number(r.headers.get('retry-after') ?? 0) * 1000));
            r = await post(conv, 'POST', { type: 'message', text: 'after retry' });
          }
        } else {
          const reply = a.text === 'card'
            ? { type: 'message', replyToId: a.id, attachments: [{ contentType: ADAPTIVE_CARD_CONTENT_TYPE, content: CARD }] }
            : { type: 'message', replyToId: a.id, text: `echo: ${a.text}` };
          const r = await post(`${conv}/${encodeURIComponent(a.id)}`, 'POST', reply);
          const { id } = (await r.json()) as { id: string };
          await post(`${conv}/${encodeURIComponent(id)}`, 'PUT', { ...reply, id, text: `edited: ${a.text}` });
        }
      }
      res.writeHead(200).end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/messages`, received };
}

describe('LocalConnector', () => {
  let connector: LocalConnector;
  let bot: Awaited<ReturnType<typeof startFakeBot>>;

  before(async () => {
    connector = await LocalConnector.start();
    bot = await startFakeBot();
  });
  after(async () => {
    await connector.close();
    bot.server.closeAllConnections();
    await new Promise((resolve) => bot.server.close(resolve));
  });

  test('sends a Teams-shaped message and records the reply and the update', async () => {
    assert.match(connector.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const user = connector.user({ name: 'Megan Bowen' });
    const res = await user.say(bot.endpoint, 'hello');
    assert.equal(res.status, 200);

    const inbound = bot.received.find((a) => a.id === res.activityId);
    assert.ok(inbound);
    assert.equal(inbound.type, 'message');
    assert.equal(inbound.serviceUrl, connector.url);
    assert.equal(inbound.channelId, 'msteams');
    assert.deepEqual(inbound.conversation, { id: user.reference.conversationId, conversationType: 'personal', tenantId: user.reference.tenantId });
    assert.match(inbound.conversation.id, /^a:1/);
    assert.deepEqual(inbound.from, { id: user.reference.userId, name: 'Megan Bowen', aadObjectId: user.reference.aadObjectId });
    assert.match(inbound.from.id, /^29:/);
    assert.deepEqual(inbound.recipient, { id: '28:bot-id', name: 'Report Bot' });
    assert.deepEqual(inbound.channelData, { tenant: { id: user.reference.tenantId } });
    assert.equal(inbound.locale, 'en-US');
    assert.ok(!Number.isNaN(Date.parse(inbound.timestamp)));

    const [reply, update] = user.activities();
    assert.equal(reply.route, 'reply');
    assert.equal(reply.method, 'POST');
    assert.equal(reply.status, 201);
    assert.equal(reply.replyToId, res.activityId);
    assert.equal(reply.activity?.text, 'echo: hello');
    assert.equal(reply.headers.authorization, 'Bearer fake');
    assert.equal(update.route, 'update');
    assert.equal(update.method, 'PUT');
    assert.equal(update.activityId, reply.activityId, 'the update targets the id the connector gave the reply');
    assert.equal(update.activity?.text, 'edited: hello');
    assert.ok(update.at >= reply.at);
  });

  test('decodes URL-encoded conversation ids', async () => {
    const user = connector.user({ conversationId: 'a:1;messageid=2', conversationType: 'channel' });
    await user.say(bot.endpoint, 'encoded');
    const reply = await user.waitFor((c) => c.route === 'reply', 2000);
    assert.equal(reply.conversationId, 'a:1;messageid=2');
    assert.ok(reply.path.includes('a%3A1%3Bmessageid%3D2'), reply.path);
    assert.equal(bot.received.at(-1)?.conversation.isGroup, true);
  });

  test('waitFor resolves past and future calls, and times out listing what was recorded', async () => {
    const user = connector.user();
    const future = user.waitFor((c) => c.route === 'update' && c.activity?.text === 'edited: later');
    await user.say(bot.endpoint, 'later');
    assert.equal((await future).activity?.text, 'edited: later');
    const past = await user.waitFor((c) => c.activity?.text === 'echo: later', 50);
    assert.equal(past.route, 'reply');

    await assert.rejects(
      user.waitFor((c) => c.activity?.text === 'never sent', 150),
      (err: Error) => {
        assert.match(err.message, /no connector call matched within 150 ms/);
        assert.match(err.message, /never sent.* in conversation a:1/, 'names the predicate and the conversation');
        assert.match(err.message, /echo: later/, 'lists the recorded calls');
        return true;
      },
    );
  });

  test('failNext answers 429 with Retry-After once; the refused attempt is recorded but not delivered', async () => {
    const url = `${connector.url}v3/conversations/${encodeURIComponent('a:throttled')}/activities`;
    const send = () => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'message', text: 'x' }) });
    connector.failNext(429, 1, 1);
    const refused = await send();
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.deepEqual(((await refused.json()) as { error: { code: string } }).error.code, 'TooManyRequests');
    const ok = await send();
    assert.equal(ok.status, 201);
    assert.ok(((await ok.json()) as { id: string }).id);

    const calls = connector.calls.filter((c) => c.conversationId === 'a:throttled');
    assert.deepEqual(calls.map((c) => c.status), [429, 201]);
    assert.equal(connector.activities({ conversationId: 'a:throttled' }).length, 1);
  });

  test('waitFor skips a fault-injected attempt and sees the retry', async () => {
    const user = connector.user();
    connector.failNext(429, 1, 0);
    await user.say(bot.endpoint, 'retry');
    const delivered = await user.waitFor((c) => c.activity?.text === 'after retry', 2000);
    assert.equal(delivered.status, 201);
    const refused = await user.waitFor((c) => c.activity?.text === 'after retry', 100, { includeFailed: true });
    assert.equal(refused.status, 429);
  });

  test('unknown routes answer 404, wrong methods 405, malformed JSON 400, all as JSON errors', async () => {
    const notFound = await fetch(`${connector.url}v3/nope`);
    assert.equal(notFound.status, 404);
    const body = (await notFound.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'NotFound');
    assert.match(body.error.message, /v3\/nope/);

    assert.equal((await fetch(`${connector.url}v3/conversations/x/activities/1/extra`, { method: 'POST', body: '{}' })).status, 404);
    assert.equal((await fetch(`${connector.url}v3/conversations`)).status, 405);

    const bad = await fetch(`${connector.url}v3/conversations/x/activities`, { method: 'POST', body: '{"type":' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'BadArgument');
    assert.equal((await fetch(`${connector.url}v3/conversations/x/activities`, { method: 'POST', body: '[1]' })).status, 400);
    assert.ok(connector.calls.some((c) => c.route === 'unknown' && c.status === 404), 'unknown routes are recorded too');
  });

  test('delete, members, paged members and create conversation', async () => {
    const user = connector.user({ name: 'Alex Wilber', upn: 'AlexW@contoso.onmicrosoft.com' });
    const base = `${connector.url}v3/conversations/${encodeURIComponent(user.reference.conversationId)}`;

    const del = await fetch(`${base}/activities/123`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal((await connector.waitFor((c) => c.route === 'delete' && c.activityId === '123', 100)).conversationId, user.reference.conversationId);

    const members = (await (await fetch(`${base}/members`)).json()) as Record<string, unknown>[];
    assert.deepEqual(members, [{
      id: user.reference.userId,
      name: 'Alex Wilber',
      aadObjectId: user.reference.aadObjectId,
      givenName: 'Alex',
      surname: 'Wilber',
      email: 'AlexW@contoso.onmicrosoft.com',
      userPrincipalName: 'AlexW@contoso.onmicrosoft.com',
      tenantId: user.reference.tenantId,
      userRole: 'user',
    }]);
    for (const id of [user.reference.userId, user.reference.aadObjectId, 'alexw@contoso.onmicrosoft.com']) {
      const one = await fetch(`${base}/members/${encodeURIComponent(id)}`);
      assert.equal(one.status, 200, id);
      assert.equal(((await one.json()) as { aadObjectId: string }).aadObjectId, user.reference.aadObjectId);
    }
    assert.equal((await fetch(`${base}/members/29%3Asomeone-else`)).status, 404);
    assert.equal((await fetch(`${connector.url}v3/conversations/unknown/members`)).status, 404);
    const paged = (await (await fetch(`${base}/pagedmembers`)).json()) as { members: unknown[] };
    assert.equal(paged.members.length, 1);

    // A 1:1 create for a known user answers that user's existing personal chat, as Teams does.
    const create = (body: object) => fetch(`${connector.url}v3/conversations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const existing = await create({ isGroup: false, bot: { id: '28:bot-id' }, members: [{ id: user.reference.userId }], tenantId: user.reference.tenantId });
    assert.equal(existing.status, 201);
    assert.deepEqual(await existing.json(), { id: user.reference.conversationId, serviceUrl: connector.url });
    const fresh = (await (await create({ members: [{ id: '29:new' }], channelData: { tenant: { id: user.reference.tenantId } }, activity: { type: 'message', text: 'hi' } })).json()) as { id: string; activityId: string };
    assert.match(fresh.id, /^a:1/);
    assert.ok(fresh.activityId);
    const call = await connector.waitFor((c) => c.route === 'createConversation' && c.conversationId === fresh.id, 100);
    assert.equal(call.activityId, fresh.activityId);
    // As Teams: no tenant, or nobody to talk to, is a bad request.
    const noTenant = await create({ isGroup: false, members: [{ id: '29:new' }] });
    assert.equal(noTenant.status, 400);
    assert.deepEqual(await noTenant.json(), { error: { code: 'BadSyntax', message: 'Could not parse tenant id' } });
    const nobody = await create({ isGroup: false, members: [], tenantId: user.reference.tenantId });
    assert.equal(nobody.status, 400);
  });

  test('invokeAction posts an Action.Execute invoke and returns the invoke response', async () => {
    const user = connector.user();
    const res = await user.invokeAction(bot.endpoint, { verb: 'report.submit', data: { reportId: 'gl' } }, 'card-msg-1');
    assert.equal(res.status, 200);
    assert.equal(res.body?.type, ADAPTIVE_CARD_CONTENT_TYPE);
    assert.deepEqual(cardOf(res.body), CARD);
    const inbound = bot.received.find((a) => a.id === res.activityId);
    assert.ok(inbound);
    assert.equal(inbound.type, 'invoke');
    assert.equal(inbound.name, 'adaptiveCard/action');
    assert.deepEqual(inbound.value, { action: { type: 'Action.Execute', verb: 'report.submit', data: { reportId: 'gl' } }, trigger: 'manual' });
    assert.equal(inbound.replyToId, 'card-msg-1');
    assert.equal((inbound.channelData.tenant as { id: string }).id, user.reference.tenantId);
  });

  test('invokeSearch posts an application/search invoke with the typed text, paging and the other inputs', async () => {
    const user = connector.user();
    const res = await user.invokeSearch(bot.endpoint, { dataset: 'gl.account', queryText: '100', data: { 'param.pcn': '900101' } });
    assert.equal(res.status, 200);
    const inbound = bot.received.find((a) => a.id === res.activityId)!;
    assert.equal(inbound.name, 'application/search');
    assert.deepEqual(inbound.value, { queryText: '100', queryOptions: { skip: 0, top: 15 }, dataset: 'gl.account', data: { 'param.pcn': '900101' } });
    const refresh = await user.invokeAction(bot.endpoint, { verb: 'run.status', data: { runId: 'r' } }, 'm1', { trigger: 'automatic' });
    assert.equal((bot.received.find((a) => a.id === refresh.activityId)!.value as { trigger: string }).trigger, 'automatic');
  });

  test('sayToBot @mentions the bot as a channel message does', async () => {
    const user = connector.user({ conversationType: 'channel' });
    const res = await user.sayToBot(bot.endpoint, 'help');
    const inbound = bot.received.find((a) => a.id === res.activityId)!;
    assert.equal(inbound.text, '<at>Report Bot</at> help');
    assert.deepEqual(inbound.entities, [{ type: 'mention', text: '<at>Report Bot</at>', mentioned: { id: user.reference.botId, name: 'Report Bot' } }]);
    assert.equal(inbound.conversation.conversationType, 'channel');
  });

  test('limits: over the rate a conversation gets 429 (with Retry-After when set) and nothing is delivered', async () => {
    const limited = await LocalConnector.start({ limits: { perConversationPerSecond: 3, perTenantPerSecond: 5, retryAfterSeconds: 1 } });
    try {
      const post = (conversation: string) => fetch(`${limited.url}v3/conversations/${encodeURIComponent(conversation)}/activities`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'message', text: 'x' }),
      });
      const first = await Promise.all([1, 2, 3, 4].map(() => post('19:a@thread.v2;messageid=1')));
      assert.deepEqual(first.map((r) => r.status).sort(), [201, 201, 201, 429]);
      const refused = first.find((r) => r.status === 429)!;
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'TooManyRequests');
      // Another conversation has its own window, but the tenant's (5 a second) is shared.
      const other = await Promise.all([1, 2, 3].map(() => post('19:b@thread.v2')));
      assert.deepEqual(other.map((r) => r.status).sort(), [201, 201, 429]);
      assert.equal(limited.activities().length, 5);
    } finally {
      await limited.close();
    }
  });

  test('conversationUpdate adds the bot and the user', async () => {
    const user = connector.user();
    assert.equal(await user.conversationUpdate(bot.endpoint), 200);
    const inbound = bot.received.at(-1);
    assert.equal(inbound?.type, 'conversationUpdate');
    assert.deepEqual(inbound?.membersAdded, [{ id: '28:bot-id' }, { id: user.reference.userId, aadObjectId: user.reference.aadObjectId }]);
  });

  test('send and postRaw pass any body through and return the status', async () => {
    const user = connector.user();
    assert.equal((await user.postRaw(bot.endpoint, 'not json', { 'content-type': 'text/plain' })).status, 400);
    assert.equal((await user.postRaw(bot.endpoint, Buffer.from('{"type":'))).status, 400);
    assert.equal((await user.send(bot.endpoint, { type: 'event', name: 'x' })).status, 200);
    assert.deepEqual(bot.received.at(-1), { type: 'event', name: 'x' }, 'send adds nothing');
    await assert.rejects(user.say('http://127.0.0.1:1/api/messages', 'hi'), /POST http:\/\/127\.0\.0\.1:1\/api\/messages failed/);
  });

  test('activities filters by type and time, leaving typing out unless asked', async () => {
    const user = connector.user();
    const since = Date.now();
    await user.say(bot.endpoint, 'typing');
    assert.deepEqual(user.activities({ since }).map((c) => c.activity?.type), ['message', 'message']);
    assert.equal(user.activities({ type: 'typing' }).length, 1);
    assert.equal(user.activities({ since: Date.now() + 60_000 }).length, 0);
    assert.equal(connector.activities({ conversationId: user.reference.conversationId }).length, 2);
  });

  test('user ids: same person, same 29: id; new conversation per handle', () => {
    const a = connector.user({ aadObjectId: '11111111-1111-1111-1111-111111111111' });
    const b = connector.user({ aadObjectId: '11111111-1111-1111-1111-111111111111' });
    assert.equal(a.reference.userId, b.reference.userId);
    assert.notEqual(a.reference.conversationId, b.reference.conversationId);
    assert.equal(a.reference.name, 'Alex Wilber');
    assert.equal(a.reference.serviceUrl, connector.url);
  });

  test('cardOf and cardText', async () => {
    const user = connector.user();
    await user.say(bot.endpoint, 'card');
    const reply = await user.waitFor((c) => c.route === 'reply', 1000);
    assert.deepEqual(cardOf(reply.activity), CARD);
    assert.equal(cardOf({ type: 'message', text: 'no card' }), undefined);
    assert.equal(cardOf({ attachments: [{ contentType: 'application/vnd.microsoft.card.hero', content: {} }] }), undefined);
    assert.equal(cardText(CARD), [
      'General Ledger',
      'Plant: Demo A',
      'Period: 202503',
      'Period*: [input param.period: <YYYYMM>]',
      'Plant: [input param.pcn: Demo A (900101)]',
      '  choices: Demo A=900101, Demo B=900202',
      '(Run report → report.submit reportId=gl)',
      '(Download → https://example.test/f.xlsx)',
    ].join('\n'));
  });

  test('executeData builds what Teams sends for a button press', () => {
    assert.deepEqual(executeData(CARD, 'report.submit', { 'param.period': '202503' }), { 'param.pcn': '900101', reportId: 'gl', 'param.period': '202503' });
    assert.equal(executeData(CARD, 'no.such.verb'), undefined);
    const card = {
      type: 'AdaptiveCard',
      body: [
        { type: 'Container', items: [{ type: 'Input.Toggle', id: 't', title: 'T' }, { type: 'Input.Text', id: 'empty' }] },
        { type: 'ActionSet', actions: [{ type: 'Action.Execute', verb: 'inner', data: { x: 1 } }] },
      ],
      actions: [{ type: 'Action.Execute', verb: 'bare', associatedInputs: 'none' }],
    };
    assert.deepEqual(executeData(card, 'inner'), { t: 'false', x: 1 });
    assert.deepEqual(executeData(card, 'bare', { y: '2' }), { y: '2' });
  });
});

describe('terminal chat', () => {
  test('sends lines, prints cards, presses buttons with /do and quits', async () => {
    const bot = await startFakeBot();
    const input = new PassThrough();
    const output = new PassThrough();
    let printed = '';
    output.on('data', (c: Buffer) => (printed += c.toString('utf8')));
    const done = runChat(bot.endpoint, input, output);
    input.write('card\n/do report.submit param.note="two words"\n/bogus\n/quit\nnot sent\n');
    await done;
    bot.server.closeAllConnections();
    await new Promise((resolve) => bot.server.close(resolve));

    assert.deepEqual(bot.received.map((a) => a.type), ['conversationUpdate', 'message', 'invoke']);
    const invoke = bot.received[2];
    assert.deepEqual(
      (invoke.value as { action: { data: unknown } }).action.data,
      { 'param.pcn': '900101', reportId: 'gl', 'param.note': 'two words' },
      "the card's inputs and the button's data go with what was typed, as in Teams",
    );
    assert.ok(invoke.replyToId, 'the button acts on the card the bot sent');
    assert.match(printed, /bot:\n {2}┌ card\n {2}│ General Ledger/);
    assert.match(printed, /bot \(updated message [^)]+\):\n {2}edited: card/);
    assert.match(printed, /card \(replaces the one you pressed\)/);
    assert.match(printed, /unknown command \/bogus/);
  });
});
