/**
 * The conversation, through the whole stack: the live status card (updated in place, refreshed for
 * the requester), cancel (queued, waiting for the mutex, running) and who may, re-run, `status`,
 * forgiving phrases that only pre-fill a form, typeahead, a channel with an @mention, a private
 * report's result in a 1:1 chat, and Teams throttling (429) on the way out.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectorCall } from '../demo/connector.ts';
import { keys } from '../core/redis.ts';
import Database from 'better-sqlite3';
import { jobCount, runLogEvents, type Stack, startStack } from './harness/stack.ts';
import { action, callCard, cardStarting, fact, headline, texts } from './harness/cards.ts';

const ADMIN = '6a7b8c9d-0000-4000-8000-00000000ad01';

let stack: Stack;
before(async () => {
  stack = await startStack({
    runners: 1,
    env: { RUNNER_CONCURRENCY: '2', JOB_ATTEMPTS: '2', STATUS_UPDATE_MS: '1000', ADMIN_USERS: ADMIN },
  });
});
after(() => stack?.stop());

/** Every call about one activity: its first send, then its updates, in order. */
function cardHistory(calls: readonly ConnectorCall[], activityId: string): ConnectorCall[] {
  return calls.filter((c) => c.activityId === activityId && c.status < 400 && (c.route === 'update' || c.route === 'send' || c.route === 'reply'));
}

/** Wait for the card of `activityId` to show a headline starting with `prefix`. */
function cardShows(user: ReturnType<Stack['connector']['user']>, activityId: string, prefix: string, timeoutMs = 30_000) {
  return user.waitFor((c) => c.activityId === activityId && cardStarting(prefix)(c), timeoutMs, { label: `card ${activityId} shows "${prefix}"` });
}

/** New messages (not updates) with a headline starting with `prefix` about `runId`. */
function messagesAbout(user: ReturnType<Stack['connector']['user']>, runId: string, prefix: string): ConnectorCall[] {
  return user.activities().filter((c) => c.route !== 'update' && cardStarting(prefix)(c) && fact(callCard(c), 'Run id') === runId);
}

/** The element with `id` anywhere in a card (inputs). */
function findById(card: unknown, id: string): Record<string, unknown> | undefined {
  let found: Record<string, unknown> | undefined;
  const walk = (n: unknown) => {
    if (found) return;
    if (Array.isArray(n)) n.forEach(walk);
    else if (n && typeof n === 'object') {
      if ((n as { id?: unknown }).id === id) found = n as Record<string, unknown>;
      else Object.values(n).forEach(walk);
    }
  };
  walk(card);
  return found;
}

const ORDER = ['Queued', 'Starting', 'Waiting', 'Running', 'Sending', 'Done'];

const runLog = (tag: string): string[] => runLogEvents(stack.warehousePath, tag);

test('a run\'s status card goes queued → running step i of n → done, in place, and the result follows', async () => {
  const user = stack.connector.user({ name: 'Megan Bowen' });
  await user.say(stack.endpoint, 'run slow-export tag=life rows=150000');
  const queued = await user.waitFor(cardStarting('Queued: Slow export'));
  const id = queued.activityId!;
  const runId = fact(callCard(queued), 'Run id')!;
  assert.match(texts(callCard(queued)), /Number \d+ in the queue/);
  assert.equal(fact(callCard(queued), 'Requested by'), 'Megan Bowen');

  await cardShows(user, id, 'Done: Slow export', 60_000);
  const ready = await user.waitFor((c) => cardStarting('Ready: Slow export')(c) && fact(callCard(c), 'Run id') === runId);
  const history = cardHistory(user.activities(), id);
  assert.deepEqual(history.slice(1).map((c) => c.route), history.slice(1).map(() => 'update'), 'one card, updated in place');
  const heads = history.map((c) => headline(callCard(c)).split(':')[0]);
  assert.equal(heads[0], 'Queued');
  assert.equal(heads.at(-1), 'Done');
  assert.ok(heads.includes('Running'), heads.join(' → '));
  const ranks = heads.map((h) => ORDER.indexOf(h));
  assert.ok(ranks.every((r, i) => r >= 0 && (i === 0 || r >= ranks[i - 1])), `never backwards: ${heads.join(' → ')}`);
  assert.ok(history.some((c) => /Step 3 of 4: Generate rows/.test(texts(callCard(c)))), 'names the step and its number');
  assert.ok(history.filter((c) => headline(callCard(c)).startsWith('Running')).some((c) => fact(callCard(c), 'Elapsed')), 'shows elapsed time');
  const done = callCard(history.at(-1)!);
  assert.match(texts(done), /150,000 rows in .*The file is in the message below/);
  assert.equal(fact(done, 'Elapsed'), undefined);
  assert.deepEqual(['Re-run', 'Change parameters'].map((t) => action(done, t)?.verb), ['run.rerun', 'run.edit']);
  assert.equal((done as { refresh?: unknown }).refresh, undefined, 'a finished card asks for no refresh');
  assert.ok(ready.seq > history.at(-1)!.seq, 'the outcome is on the card before the result message arrives');
});

test('from the form: the clicked form becomes the status card and the runner updates that message', async () => {
  const user = stack.connector.user();
  await user.say(stack.endpoint, 'reports');
  const catalog = await user.waitFor(cardStarting('Reports'));
  await user.invokeAction(stack.endpoint, { verb: 'report.form', data: { reportId: 'gl-accounts' } }, catalog.activityId);
  const res = await user.invokeAction(stack.endpoint, { verb: 'report.submit', data: { reportId: 'gl-accounts', 'param.pcn': '900101' } }, catalog.activityId);
  assert.equal(headline(res.body?.value), 'Queued: Chart of accounts');
  const refresh = (res.body?.value as { refresh?: { action: { verb: string }; userIds: string[] } }).refresh;
  assert.equal(refresh?.action.verb, 'run.status');
  assert.deepEqual(refresh?.userIds, [user.reference.userId], 'refreshes itself for the requester');
  await cardShows(user, catalog.activityId!, 'Done: Chart of accounts');
  const history = cardHistory(user.activities(), catalog.activityId!).filter((c) => c.route === 'update');
  assert.equal(headline(callCard(history[0])), 'Queued: Chart of accounts', 'the bot turned the form into the queued card first');
});

test('cancel: queued (removed), waiting for the mutex and running (aborted); others refused; mutex freed, nothing delivered', async () => {
  const megan = stack.connector.user({ name: 'Megan Bowen' });
  const before = await jobCount(stack.queue);
  const ask = async (tag: string) => {
    const since = Date.now();
    await megan.say(stack.endpoint, `run slow-export tag=${tag} rows=2000000`);
    const call = await megan.waitFor((c) => c.at >= since && cardStarting('Queued: Slow export')(c) && fact(callCard(c), 'Tag') === tag);
    return { id: call.activityId!, runId: fact(callCard(call), 'Run id')! };
  };
  // One runner, two jobs at a time: A runs and holds the tb lock, B waits for the lock, C waits in the queue.
  const a = await ask('cancel-a');
  await cardMatches(megan, a.id, /Step 3 of 4: Generate rows/);
  const b = await ask('cancel-b');
  await cardShows(megan, b.id, 'Waiting: Slow export');
  assert.match(texts(callCard(await cardShows(megan, b.id, 'Waiting: Slow export'))), /tb lock/);
  const c = await ask('cancel-c');
  assert.equal(await (await stack.queue.getJob(c.runId))?.getState(), 'waiting');

  // status: where each one is; someone else sees none of them; an admin sees all, with who asked.
  let since = Date.now();
  await megan.say(stack.endpoint, 'status');
  const overview = callCard(await megan.waitFor((x) => x.at >= since && headline(callCard(x)) === 'Your queued and running reports'));
  const listed = texts(overview);
  assert.match(listed, /Running: Slow export[\s\S]*Step 3 of 4[\s\S]*Waiting: Slow export[\s\S]*Queued: Slow export[\s\S]*Number 1 in the queue/);
  const adele = stack.connector.user({ name: 'Adele Vance' });
  since = Date.now();
  await adele.say(stack.endpoint, 'status');
  assert.match(texts(callCard(await adele.waitFor((x) => x.at >= since && cardStarting('Your queued')(x)))), /Nothing is queued or running/);
  const admin = stack.connector.user({ name: 'Ada Admin', aadObjectId: ADMIN });
  since = Date.now();
  await admin.say(stack.endpoint, 'status');
  const all = callCard(await admin.waitFor((x) => x.at >= since && cardStarting('Queued and running reports')(x)));
  for (const run of [a, b, c]) assert.match(texts(all) + JSON.stringify(all), new RegExp(run.runId));
  assert.match(JSON.stringify(all), /"Requested by","value":"Megan Bowen"/);

  // Someone else may not cancel; the run goes on.
  since = Date.now();
  await adele.say(stack.endpoint, `cancel ${a.runId}`);
  await adele.waitFor((x) => x.at >= since && /Only Megan Bowen \(who asked for it\) or an administrator can cancel run/.test(String(x.activity?.text)));
  const refused = await adele.invokeAction(stack.endpoint, { verb: 'run.cancel', data: { runId: a.runId } });
  assert.match(String(refused.body?.value), /Only Megan Bowen/);
  assert.equal(await (await stack.queue.getJob(a.runId))?.getState(), 'active');

  // C, still queued, cancelled by an admin from their own chat: removed, and its card (in Megan's chat) says so.
  since = Date.now();
  await admin.say(stack.endpoint, `cancel ${c.runId}`);
  await admin.waitFor((x) => x.at >= since && /Cancelled run .* It had not started; nothing ran\./.test(String(x.activity?.text)));
  assert.match(texts(callCard(await cardShows(megan, c.id, 'Cancelled: Slow export'))), /Cancelled by Ada Admin\. Nothing was sent\./);
  assert.equal(await stack.queue.getJob(c.runId), undefined, 'removed from the queue');

  // B, waiting for the lock, cancelled with the card's button: the card answers "Cancelling", the runner says "Cancelled".
  const pressed = await megan.invokeAction(stack.endpoint, { verb: 'run.cancel', data: { runId: b.runId } }, b.id);
  assert.equal(headline(pressed.body?.value), 'Cancelling: Slow export (test)');
  await cardShows(megan, b.id, 'Cancelled: Slow export');

  // A, running, cancelled by its requester in words.
  since = Date.now();
  await megan.say(stack.endpoint, `cancel ${a.runId}`);
  await megan.waitFor((x) => x.at >= since && /Stopping run .* Its card will say when it has stopped\./.test(String(x.activity?.text)));
  const stopped = callCard(await cardShows(megan, a.id, 'Cancelled: Slow export'));
  assert.deepEqual(['Re-run', 'Change parameters'].map((t) => action(stopped, t)?.verb), ['run.rerun', 'run.edit']);

  for (const run of [a, b]) {
    // The card says Cancelled a moment before BullMQ records the job as failed.
    for (let i = 0; i < 100 && (await (await stack.queue.getJob(run.runId))?.getState()) !== 'failed'; i++) await sleep(50);
    const job = await stack.queue.getJob(run.runId);
    assert.equal(await job?.getState(), 'failed');
    assert.equal(job?.attemptsStarted, 1, 'a cancelled run is not retried');
    assert.match(job?.failedReason ?? '', /cancelled by Megan Bowen/);
  }
  assert.equal(await stack.redis.exists(keys(stack.prefix).mutex('tb')), 0, 'the mutex is free');
  assert.deepEqual(runLog('cancel-a'), ['start'], 'A stopped in the middle of its pipeline');
  assert.deepEqual(runLog('cancel-b'), [], 'B never got the lock');
  await sleep(1000);
  for (const run of [a, b, c]) {
    assert.deepEqual([...messagesAbout(megan, run.runId, 'Ready'), ...messagesAbout(megan, run.runId, 'Failed')], [], 'no result and no error card');
  }
  assert.equal(await jobCount(stack.queue), before + 2, 'C is gone, A and B are failed');
  // The next run of the same report gets the lock at once.
  since = Date.now();
  await megan.say(stack.endpoint, 'run slow-export tag=after-cancel rows=10');
  await megan.waitFor((x) => x.at >= since && cardStarting('Ready: Slow export')(x) && fact(callCard(x), 'Tag') === 'after-cancel', 30_000);
});

/** Wait until card `id` shows text matching `pattern`. */
function cardMatches(user: ReturnType<Stack['connector']['user']>, id: string, pattern: RegExp) {
  return user.waitFor((c) => c.activityId === id && pattern.test(texts(callCard(c))), 30_000, { label: `card ${id} matches ${pattern}` });
}

test('refresh (run.status) returns the current state for the requester; someone elsewhere is refused', async () => {
  const megan = stack.connector.user({ name: 'Megan Bowen' });
  await megan.say(stack.endpoint, 'run slow-export tag=refresh rows=600000');
  const queued = await megan.waitFor(cardStarting('Queued: Slow export'));
  const runId = fact(callCard(queued), 'Run id')!;
  await cardMatches(megan, queued.activityId!, /Step 3 of 4/);
  const res = await megan.invokeAction(stack.endpoint, { verb: 'run.status', data: { runId } }, queued.activityId, { trigger: 'automatic' });
  const card = res.body?.value;
  assert.equal(headline(card), 'Running: Slow export (test)');
  assert.match(texts(card), /Step 3 of 4: Generate rows/);
  assert.equal(fact(card, 'Run id'), runId);
  assert.ok(fact(card, 'Elapsed'));
  const stranger = stack.connector.user({ name: 'Someone Else' });
  const refused = await stranger.invokeAction(stack.endpoint, { verb: 'run.status', data: { runId } });
  assert.equal(refused.body?.type, 'application/vnd.microsoft.activity.message');
  assert.match(String(refused.body?.value), /asked for by someone else/);

  await cardShows(megan, queued.activityId!, 'Done: Slow export', 60_000);
  const after = await megan.invokeAction(stack.endpoint, { verb: 'run.status', data: { runId } }, queued.activityId, { trigger: 'automatic' });
  assert.equal(headline(after.body?.value), 'Done: Slow export (test)');
});

test('Re-run: the same parameters as a new run with its own card; Change parameters: the form, pre-filled', async () => {
  const user = stack.connector.user();
  await user.say(stack.endpoint, 'run gl-accounts pcn=900202 includeInactive=yes');
  const first = await user.waitFor(cardStarting('Queued: Chart of accounts'));
  const done = callCard(await cardShows(user, first.activityId!, 'Done: Chart of accounts'));
  const rerun = action(done, 'Re-run')!;
  const res = await user.invokeAction(stack.endpoint, { verb: rerun.verb!, data: rerun.data }, first.activityId);
  assert.match(String(res.body?.value), /^Queued again as run \d{8}-[0-9a-f]{8}\.$/);
  const newRunId = /run (\S+)\.$/.exec(String(res.body?.value))![1];
  const second = await user.waitFor((c) => fact(callCard(c), 'Run id') === newRunId && cardStarting('Queued')(c));
  assert.notEqual(second.activityId, first.activityId, 'a new card; the old one keeps its outcome');
  assert.equal(fact(callCard(second), 'PCN'), '900202 Demo Machining - Plant B');
  assert.equal(fact(callCard(second), 'Include inactive accounts'), 'yes');
  await user.waitFor((c) => cardStarting('Ready: Chart of accounts')(c) && fact(callCard(c), 'Run id') === newRunId, 30_000);

  const edit = action(done, 'Change parameters')!;
  const since = Date.now();
  const opened = await user.invokeAction(stack.endpoint, { verb: edit.verb!, data: edit.data }, first.activityId);
  assert.match(String(opened.body?.value), /opened the form below/);
  const form = callCard(await user.waitFor((c) => c.at >= since && headline(callCard(c)) === 'Chart of accounts'));
  const inputs = JSON.stringify(form);
  assert.match(inputs, /"id":"param\.pcn"[^}]*"value":"900202"/);
  assert.match(inputs, /"id":"param\.includeInactive"[^}]*"value":"true"/);
});

test('words: report names, aliases and sentences open the form pre-filled and never queue anything', async () => {
  const user = stack.connector.user();
  const before = await jobCount(stack.queue);
  const formFor = async (text: string, title: string) => {
    const since = Date.now();
    await user.say(stack.endpoint, text);
    return callCard(await user.waitFor((c) => c.at >= since && headline(callCard(c)) === title, 10_000, { label: `form for "${text}"` }));
  };
  const value = (card: unknown, id: string) => findById(card, id)?.value;
  const tb = await formFor('run tb for 900101 jan to mar 2025', 'Trial Balance');
  assert.equal(value(tb, 'param.pcn'), '900101');
  assert.equal(value(tb, 'param.startPeriod'), '202501');
  assert.equal(value(tb, 'param.endPeriod'), '202503');
  assert.match(texts(tb), /I understood: PCN 900101 · Start period 202501 · End period 202503\. Nothing runs until you press Run report\./);

  for (const text of ['trial balance', 'TB', 'Trial-Balance please']) {
    const card = await formFor(text, 'Trial Balance');
    assert.match(texts(card), /Nothing runs until you press Run report/);
  }
  const guessed = await formFor('trial balence 2025 banana', 'Trial Balance');
  assert.match(texts(guessed), /I took "trial balence" to mean Trial Balance\..*I did not use: "banana"\./);
  assert.equal(value(guessed, 'param.endPeriod'), '202512');

  const coa = await formFor('chart of accounts 900202 including inactive', 'Chart of accounts');
  assert.equal(value(coa, 'param.pcn'), '900202');
  assert.equal(value(coa, 'param.includeInactive'), 'true');

  const since = Date.now();
  await user.say(stack.endpoint, 'what about lunch');
  await user.waitFor((c) => c.at >= since && headline(callCard(c)) === 'Report Bot' && /I did not understand/.test(String(c.activity?.text)));
  assert.equal(await jobCount(stack.queue), before, 'nothing was queued');
});

test('typeahead: the gl-detail account searches the chart of accounts of the chosen PCN and accepts a typed prefix', async () => {
  const user = stack.connector.user();
  const since = Date.now();
  await user.say(stack.endpoint, 'gl detail for 900101');
  const form = callCard(await user.waitFor((c) => c.at >= since && headline(callCard(c)) === 'GL detail by account'));
  const input = findById(form, 'param.account')!;
  assert.equal(input.type, 'Input.ChoiceSet');
  assert.equal(input.style, 'filtered');
  assert.deepEqual(input['choices.data'], { type: 'Data.Query', dataset: 'gl-detail.account', associatedInputs: 'auto' });
  assert.equal((input.choices as unknown[]).length, 15, 'static choices for clients without typeahead');
  assert.equal(findById(form, 'param.pcn')?.value, '900101');

  // Accounts of PCN 900101 that contain what was typed, those starting with it first.
  const db = new Database(stack.warehousePath, { readonly: true });
  const expected = db.prepare(`select account_no from accounting_v_account_e where plexus_customer_no = 900101
    and (account_no like '%1000%' or account_name like '%1000%') order by account_no like '1000%' desc, account_no`).pluck().all() as string[];
  db.close();
  assert.ok(expected.length >= 2);
  const res = await user.invokeSearch(stack.endpoint, { dataset: 'gl-detail.account', queryText: '1000', data: { 'param.pcn': '900101' } });
  assert.equal(res.status, 200);
  assert.equal(res.body?.type, 'application/vnd.microsoft.search.searchResponse');
  const results = (res.body?.value as { results: { title: string; value: string }[] }).results;
  assert.deepEqual(results[0], { title: '1000 (as typed)', value: '1000' }, 'a prefix is a valid account value');
  assert.deepEqual(results.slice(1).map((r) => r.value), expected);
  assert.match(results[1].title, /^\d{5}-000-0000 \S/, 'titles carry the account name');

  // Submitted with a bad account: the form comes back with the problem next to the field and keeps what was typed.
  const before = await jobCount(stack.queue);
  const back = await user.invokeAction(stack.endpoint, { verb: 'report.submit', data: {
    reportId: 'gl-detail', 'param.pcn': '900202', 'param.account': 'cash!', 'param.startPeriod': '202502', 'param.endPeriod': '202501',
  } });
  const again = back.body?.value;
  assert.equal(headline(again), 'GL detail by account');
  assert.match(texts(again), /Account has the wrong format/);
  assert.deepEqual(['param.pcn', 'param.account', 'param.startPeriod', 'param.endPeriod'].map((id) => findById(again, id)?.value), ['900202', 'cash!', '202502', '202501']);
  assert.deepEqual((findById(again, 'param.account')?.choices as { value: string }[])[0], { title: 'cash!', value: 'cash!' }, 'the typed value stays selectable');
  assert.equal(await jobCount(stack.queue), before);

  const none = await user.invokeSearch(stack.endpoint, { dataset: 'gl-detail.account', queryText: 'zz-no-such', data: { 'param.pcn': '900101' } });
  assert.deepEqual((none.body?.value as { results: unknown[] }).results, []);
  const unknown = await user.invokeSearch(stack.endpoint, { dataset: 'payroll.secret', queryText: '1' });
  assert.deepEqual((unknown.body?.value as { results: unknown[] }).results, []);
});

test('a channel: the @mention is stripped, the card and the result stay in the channel', async () => {
  const member = stack.connector.user({ name: 'Lee Gu', conversationType: 'channel' });
  await member.sayToBot(stack.endpoint, 'run gl-accounts pcn=900101');
  const queued = await member.waitFor(cardStarting('Queued: Chart of accounts'));
  await member.waitFor(cardStarting('Ready: Chart of accounts'), 30_000);
  await cardShows(member, queued.activityId!, 'Done: Chart of accounts');
  const since = Date.now();
  await member.sayToBot(stack.endpoint, 'trial balance');
  await member.waitFor((c) => c.at >= since && headline(callCard(c)) === 'Trial Balance');
});

test('a private report: card in the group chat without parameters, result in the requester\'s 1:1 chat (created once)', async () => {
  const group = stack.connector.user({ name: 'Diego Siciliani', conversationType: 'groupChat' });
  const creates = () => stack.connector.calls.filter((c) => c.route === 'createConversation');
  const createsBefore = creates().length;
  await group.sayToBot(stack.endpoint, 'run private-coa pcn=900101');
  const queued = await group.waitFor(cardStarting('Queued: Salaries by account'));
  assert.equal(fact(callCard(queued), 'PCN'), undefined, 'parameters stay off the shared card');
  const done = callCard(await cardShows(group, queued.activityId!, 'Done: Salaries by account'));
  assert.match(texts(done), /I sent the file to you in our 1:1 chat/);
  const runId = fact(callCard(queued), 'Run id');
  const result = await stack.connector.waitFor((c) => cardStarting('Ready: Salaries by account')(c) && fact(callCard(c), 'Run id') === runId, 30_000);
  assert.notEqual(result.conversationId, group.reference.conversationId, 'not in the group chat');
  const created = creates().slice(createsBefore);
  assert.equal(created.length, 1);
  assert.equal(created[0].conversationId, result.conversationId);
  assert.deepEqual((created[0].activity?.members as { id: string }[]).map((m) => m.id), [group.reference.userId]);
  assert.equal((created[0].activity as { isGroup?: boolean }).isGroup, false);
  assert.equal(((created[0].activity?.channelData as { tenant: { id: string } }).tenant).id, group.reference.tenantId);
  assert.equal(group.activities().filter(cardStarting('Ready')).length, 0);

  // Again: the 1:1 chat is remembered, not created twice.
  await group.sayToBot(stack.endpoint, 'run private-coa pcn=900202');
  const again = await group.waitFor((c) => cardStarting('Queued: Salaries by account')(c) && c.activityId !== queued.activityId);
  const againId = fact(callCard(again), 'Run id');
  const second = await stack.connector.waitFor((c) => cardStarting('Ready: Salaries by account')(c) && fact(callCard(c), 'Run id') === againId, 30_000);
  assert.equal(second.conversationId, result.conversationId);
  assert.equal(creates().length, createsBefore + 1);
});

test('a private report asked for where the user already has a 1:1 chat with the bot lands in that chat', async () => {
  const aadObjectId = crypto.randomUUID();
  const personal = stack.connector.user({ name: 'Grady Archie', aadObjectId });
  const channel = stack.connector.user({ name: 'Grady Archie', aadObjectId, conversationType: 'channel' });
  await channel.sayToBot(stack.endpoint, 'run private-coa pcn=900101');
  const ready = await personal.waitFor(cardStarting('Ready: Salaries by account'), 30_000);
  assert.equal(ready.conversationId, personal.reference.conversationId, 'Teams answers a 1:1 create with the existing chat');
});

test('Teams throttling: 429s (without Retry-After) on the way out are retried with backoff; everything arrives once', async () => {
  const user = stack.connector.user();
  await user.say(stack.endpoint, 'run slow-export tag=throttled rows=200000');
  const queued = await user.waitFor(cardStarting('Queued: Slow export'));
  const runId = fact(callCard(queued), 'Run id')!;
  await cardMatches(user, queued.activityId!, /Step 3 of 4/);
  const since = Date.now();
  stack.connector.failNext(429, 3);
  await cardShows(user, queued.activityId!, 'Done: Slow export', 60_000);
  const ready = await user.waitFor((c) => cardStarting('Ready: Slow export')(c) && fact(callCard(c), 'Run id') === runId, 30_000);
  const refused = stack.connector.calls.filter((c) => c.status === 429 && c.at >= since);
  assert.equal(refused.length, 3, 'Teams said 429 three times');
  assert.ok(refused.every((c) => c.conversationId === user.reference.conversationId && c.seq < ready.seq));
  await sleep(500);
  assert.equal(messagesAbout(user, runId, 'Ready').length, 1, 'delivered once');
});
