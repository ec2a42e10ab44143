/**
 * End to end over HTTP, as Teams would use the bot: the local Bot Connector sends activities to
 * /api/messages and records what the bot sends back; a runner in this process does the work on the
 * real Redis, Azurite and SQLite warehouse; the workbook is downloaded through the card's link.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { startStack, jobCount, type Stack } from './harness/stack.ts';
import { action, callCard, cardStarting, downloadWorkbook, fact, headline, texts } from './harness/cards.ts';

let stack: Stack;
before(async () => { stack = await startStack({ runners: 1 }); });
after(() => stack?.stop());

/** The chart of accounts straight from the warehouse, as the report should show it. */
function accountsFromWarehouse(pcn: number, includeInactive: boolean): unknown[][] {
  const db = new Database(stack.warehousePath, { readonly: true });
  try {
    return db.prepare(`select account_no, account_name, category_type, category_name, sub_category_name, cost_center_no,
        case when active = 1 then 'Yes' else 'No' end, add_period
      from accounting_v_account_e where plexus_customer_no = ? and (active = 1 or ?) order by account_no`)
      .raw().all(pcn, includeInactive ? 1 : 0) as unknown[][];
  } finally {
    db.close();
  }
}

test('run gl-accounts pcn=900101: queued reply, then a proactive result whose download matches the warehouse', async () => {
  const user = stack.connector.user({ name: 'Megan Bowen' });
  const res = await user.say(stack.endpoint, 'run gl-accounts pcn=900101');
  assert.equal(res.status, 200);

  const queued = callCard(await user.waitFor(cardStarting('Queued: Chart of accounts')));
  const runId = fact(queued, 'Run id');
  assert.match(runId ?? '', /^\d{8}-[0-9a-f]{8}$/);
  assert.equal(fact(queued, 'PCN'), '900101 Demo Stamping - Plant A');

  const resultCall = await user.waitFor(cardStarting('Ready: Chart of accounts'), 30_000);
  const result = callCard(resultCall);
  assert.equal(fact(result, 'Run id'), runId);
  const expected = accountsFromWarehouse(900101, false);
  assert.equal(fact(result, 'Rows'), expected.length.toLocaleString('en-US'));
  assert.match(fact(result, 'Took') ?? '', /^\d+ s$|min/);
  const download = action(result, 'Download Excel');
  assert.equal(download?.type, 'Action.OpenUrl');

  const { response, sheets } = await downloadWorkbook(download!.url!);
  assert.match(response.headers.get('content-disposition') ?? '', /attachment; filename="gl-accounts-900101-\d{4}-\d{2}-\d{2}\.xlsx"/);
  const rows = sheets.get('Accounts')!;
  assert.deepEqual(rows[0], ['No', 'Name', 'Category Type', 'Category Name', 'Sub Category Name', 'Cost Center', 'Active', 'Added In Period']);
  assert.deepEqual(rows.slice(1), expected);
  assert.ok(expected.length > 50);

  // The link is a short-lived SAS URL: without its signature the archive refuses.
  const unsigned = await fetch(download!.url!.split('?')[0]);
  assert.notEqual(unsigned.status, 200);
});

test('card path: catalog → form → Action.Execute submit → queued card → result', async () => {
  const user = stack.connector.user({ name: 'Adele Vance' });
  await user.say(stack.endpoint, 'reports');
  const catalogCall = await user.waitFor(cardStarting('Reports'));
  const catalog = callCard(catalogCall)!;
  assert.match(texts(catalog), /Chart of accounts/);

  const form = await user.invokeAction(stack.endpoint, { verb: 'report.form', data: { reportId: 'gl-accounts' } }, catalogCall.activityId);
  assert.equal(form.status, 200);
  assert.equal(form.body?.type, 'application/vnd.microsoft.card.adaptive');
  const formCard = form.body?.value as { body: { items?: { id?: string; type: string }[] }[]; actions: { verb: string; data: Record<string, unknown> }[] };
  const inputs = formCard.body.flatMap((e) => e.items ?? []).filter((e) => e.id).map((e) => `${e.type}:${e.id}`);
  assert.deepEqual(inputs, ['Input.ChoiceSet:param.pcn', 'Input.Toggle:param.includeInactive']);
  const submit = formCard.actions.find((a) => a.verb === 'report.submit')!;

  // Teams merges the inputs into the action's data.
  const before = await jobCount(stack.queue);
  const queued = await user.invokeAction(stack.endpoint,
    { verb: submit.verb, data: { ...submit.data, 'param.pcn': '900202', 'param.includeInactive': 'true' } }, catalogCall.activityId);
  assert.equal(queued.status, 200);
  assert.equal(headline(queued.body?.value), 'Queued: Chart of accounts');
  assert.equal(await jobCount(stack.queue), before + 1);
  const runId = fact(queued.body?.value, 'Run id');

  const result = callCard(await user.waitFor((c) => fact(callCard(c), 'Run id') === runId && headline(callCard(c)).startsWith('Ready'), 30_000));
  const { sheets } = await downloadWorkbook(action(result, 'Download Excel')!.url!);
  assert.deepEqual(sheets.get('Accounts')!.slice(1), accountsFromWarehouse(900202, true));
});

test('invalid form input re-shows the form with the problem marked, and queues nothing', async () => {
  const user = stack.connector.user();
  const before = await jobCount(stack.queue);
  const res = await user.invokeAction(stack.endpoint, { verb: 'report.submit', data: { reportId: 'gl-accounts', 'param.pcn': '123' } });
  assert.equal(res.status, 200);
  const card = res.body?.value;
  assert.equal(headline(card), 'Chart of accounts');
  assert.match(texts(card), /PCN must be one of 900101, 900202/);
  assert.equal(await jobCount(stack.queue), before);
});

test('bad chat input gets a specific reply and queues nothing', async () => {
  const user = stack.connector.user();
  const before = await jobCount(stack.queue);
  const cases: [string, RegExp][] = [
    ['run payroll-secrets pcn=900101', /I don't know a report called "payroll-secrets"/],
    ['run gl-accounts', /Nothing was queued: PCN is required/],
    ['run gl-accounts pcn=999999', /Nothing was queued: PCN must be one of 900101, 900202/],
    ['run gl-accounts pcn=900101 color=blue', /gl-accounts has no parameter "color" \(it takes pcn, includeInactive\)/],
    ['run gl-accounts pcn=900101 includeInactive=perhaps', /Include inactive accounts must be yes or no/],
  ];
  for (const [text, expected] of cases) {
    const since = Date.now();
    assert.equal((await user.say(stack.endpoint, text)).status, 200);
    const reply = await user.waitFor((c) => c.at >= since && c.activity?.type === 'message' && expected.test(String(c.activity.text ?? '')));
    assert.ok(reply, text);
  }
  // Words instead of name=value: the form, pre-filled with what was understood, and still nothing queued.
  const since = Date.now();
  await user.say(stack.endpoint, 'run gl-accounts 900101');
  const form = callCard(await user.waitFor((c) => c.at >= since && headline(callCard(c)) === 'Chart of accounts'));
  assert.match(texts(form), /I understood: PCN 900101\. Nothing runs until you press Run report\./);
  assert.equal(await jobCount(stack.queue), before);
});

test('malformed and oversized requests are refused with 4xx and queue nothing', async () => {
  const user = stack.connector.user();
  const before = await jobCount(stack.queue);
  assert.equal((await user.postRaw(stack.endpoint, '{"type": "message", "text": ', { 'content-type': 'application/json' })).status, 400);
  assert.equal((await user.send(stack.endpoint, ['not', 'an', 'activity'])).status, 400);
  assert.equal((await user.send(stack.endpoint, { text: 'run gl-accounts pcn=900101' })).status, 400);
  assert.equal((await user.send(stack.endpoint, { type: 42 })).status, 400);
  const huge = user.activity('message', { text: `run gl-accounts pcn=900101 note="${'x'.repeat(stack.config.MAX_BODY_BYTES)}"` });
  assert.equal((await user.send(stack.endpoint, huge)).status, 413);
  assert.equal((await user.postRaw(stack.endpoint, 'run gl-accounts', { 'content-type': 'text/plain' })).status, 415);
  assert.equal(await jobCount(stack.queue), before);
});

test('a failing step sends an error card naming the step and the run id, with Re-run', async () => {
  const user = stack.connector.user();
  await user.say(stack.endpoint, 'run broken-step');
  const queued = callCard(await user.waitFor(cardStarting('Queued: Broken step')));
  const runId = fact(queued, 'Run id');
  // The error card is a new message; the status card above it (an update) says Failed too.
  const failed = callCard(await user.waitFor((c) => c.route !== 'update' && cardStarting('Failed: Broken step')(c), 30_000));
  assert.equal(fact(failed, 'Failed step'), 'Load ledger');
  assert.equal(fact(failed, 'Run id'), runId);
  assert.match(texts(failed), /data source "warehouse" did not answer as expected/);
  assert.doesNotMatch(JSON.stringify(failed), /no_such_ledger|at .*\.ts:\d+/, 'no SQL or stack trace shown to the user');
  assert.equal(action(failed, 'Re-run')?.verb, 'run.rerun');
  // Definition errors are not retried, step failures are retried once (JOB_ATTEMPTS=2) before the card.
  assert.equal(user.activities().filter((c) => c.route !== 'update' && cardStarting('Failed')(c)).length, 1);
});

test('help, the welcome, and unknown words all answer with help', async () => {
  const user = stack.connector.user();
  assert.equal(await user.conversationUpdate(stack.endpoint), 200);
  await user.waitFor((c) => /Hi! I run reports/.test(String(c.activity?.text)));
  for (const text of ['help', 'what is the weather']) {
    const since = Date.now();
    await user.say(stack.endpoint, text);
    const call = await user.waitFor((c) => c.at >= since && headline(callCard(c)) === 'Report Bot');
    assert.match(texts(callCard(call)), /run gl-accounts pcn=900101/);
  }
});

test('a message Teams delivers twice is handled once', async () => {
  const user = stack.connector.user();
  const before = await jobCount(stack.queue);
  const activity = user.activity('message', { text: 'run gl-accounts pcn=900101' });
  assert.equal((await user.send(stack.endpoint, activity)).status, 200);
  assert.equal((await user.send(stack.endpoint, activity)).status, 200);
  await user.waitFor(cardStarting('Queued'));
  assert.equal(await jobCount(stack.queue), before + 1);
  assert.equal(user.activities().filter(cardStarting('Queued')).length, 1);
});
