/**
 * End to end with Microsoft Graph configured: chat → bot → queue → runner → fake Graph (HTTPS, real
 * token from the fake Entra endpoint) → result card in the local Bot Connector. The workbook lands in
 * the requester's OneDrive, the card opens it, the email carries it (or its upload session does).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import ExcelJS from 'exceljs';
import { keys } from '../core/redis.ts';
import type { DeliveryRecord } from '../core/job.ts';
import { RUN_ID_PROPERTY } from '../runner/delivery/email.ts';
import { startStack, jobCount, type Stack } from './harness/stack.ts';
import { action, callCard, cardStarting, fact, headline, texts } from './harness/cards.ts';
import { FakeGraph, type StoredMessage } from './harness/graph.ts';

const SENDER = 'reports@contoso.test';
let fake: FakeGraph;
let stack: Stack;

before(async () => {
  fake = await FakeGraph.start();
  stack = await startStack({
    runners: 1,
    env: fake.env({
      MAIL_SENDER: SENDER, PUBLIC_BASE_URL: 'https://reportbot.contoso.test', ACTIONABLE_ORIGINATOR: '0c7d3f9e-5b1a-4f2e-9d8c-7a6b5c4d3e2f',
      // The card's Re-run clicks carry Entra ID tokens of this tenant for this app (test/actions-entra.test.ts).
      ACTIONS_TENANT_ID: '3e9b1c7a-2d4f-4a6b-8c0d-1e2f3a4b5c6d', ACTIONS_AUDIENCE: '5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d',
      GRAPH_RETRY_MAX_WAIT_SECONDS: '5',
    }),
  });
});
after(async () => {
  await stack?.stop();
  await fake?.close();
});

const mailOf = (runId: string): StoredMessage[] => fake.sent().filter((m) => m.properties.some((p) => p.id === RUN_ID_PROPERTY && p.value === runId));
const filesOf = (runId: string) => fake.files().filter((f) => f.name.includes(runId));

async function record(runId: string, channel: string): Promise<DeliveryRecord | undefined> {
  const raw = await stack.redis.hget(keys(stack.prefix).run(runId), `delivery:${channel}`);
  return raw ? JSON.parse(raw) as DeliveryRecord : undefined;
}

async function sheetRows(bytes: Buffer, sheet: string): Promise<unknown[][]> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(bytes as unknown as ArrayBuffer);
  const rows: unknown[][] = [];
  wb.getWorksheet(sheet)!.eachRow((row) => rows.push((row.values as unknown[]).slice(1)));
  return rows;
}

test('run … --email: the workbook in OneDrive, the card opens it in Excel, the email carries it with the Outlook card', async () => {
  const user = stack.connector.user({ name: 'Megan Bowen', upn: 'megan.bowen@contoso.test' });
  await user.say(stack.endpoint, 'run gl-accounts pcn=900101 --email');
  const runId = fact(callCard(await user.waitFor(cardStarting('Queued: Chart of accounts'))), 'Run id')!;
  assert.ok(stack.connector.calls.some((c) => c.route === 'getMember'), 'the address came from the Teams roster');

  const result = callCard(await user.waitFor(cardStarting('Ready: Chart of accounts'), 30_000));
  const open = action(result, 'Open in Excel');
  assert.equal(open?.type, 'Action.OpenUrl');
  assert.equal(open?.url, (await record(runId, 'onedrive'))?.url);
  assert.ok(action(result, 'Download Excel'), 'the archive link stays as a second action');
  assert.equal(fact(result, 'Emailed to'), 'megan.bowen@contoso.test');
  assert.match(fact(result, 'Rows') ?? '', /^\d/);

  const [file] = filesOf(runId);
  assert.ok(file, 'uploaded to OneDrive');
  assert.match(file.path, new RegExp(`^Reports/gl-accounts-900101-\\d{4}-\\d{2}-\\d{2} \\(${runId}\\)\\.xlsx$`));
  const [mail] = mailOf(runId);
  assert.deepEqual(mail.to, ['megan.bowen@contoso.test']);
  assert.equal(mail.mailbox, SENDER);
  assert.ok(mail.attachments[0].bytes.equals(file.bytes), 'the same workbook by email and in OneDrive');
  const rows = await sheetRows(mail.attachments[0].bytes, 'Accounts');
  assert.equal(rows[0][0], 'No');
  assert.equal(String(rows.length - 1), (fact(result, 'Rows') ?? '').replaceAll(',', ''));
  assert.match(mail.body.content, /<script type="application\/adaptivecard\+json">/);
  const rerun = /"body":"(\{\\"runId.*?\})"/.exec(mail.body.content);
  assert.ok(rerun);
  assert.deepEqual(JSON.parse(JSON.parse(`"${rerun[1]}"`)), { runId, reportId: 'gl-accounts', params: { pcn: '900101', includeInactive: false } });
  for (const call of fake.calls.filter((c) => c.path.startsWith('/v1.0/'))) assert.equal(call.auth, 'valid', `${call.method} ${call.path}`);
});

test('the form offers "Also email me the file"; submitting it on or off decides the email', async () => {
  const user = stack.connector.user({ name: 'Adele Vance', upn: 'adele.vance@contoso.test' });
  const form = await user.invokeAction(stack.endpoint, { verb: 'report.form', data: { reportId: 'gl-accounts' } });
  const card = form.body?.value as { body: { id?: string; type: string; items?: { id?: string; type: string }[] }[]; actions: { verb: string; data: Record<string, unknown> }[] };
  const inputs = card.body.flatMap((e) => [e, ...(e.items ?? [])]).filter((e) => e.id).map((e) => `${e.type}:${e.id}`);
  assert.deepEqual(inputs, ['Input.ChoiceSet:param.pcn', 'Input.Toggle:param.includeInactive', 'Input.Toggle:option.email']);
  const submit = card.actions.find((a) => a.verb === 'report.submit')!;

  const on = await user.invokeAction(stack.endpoint, { verb: submit.verb, data: { ...submit.data, 'param.pcn': '900202', 'option.email': 'true' } });
  const onId = fact(on.body?.value, 'Run id')!;
  const off = await user.invokeAction(stack.endpoint, { verb: submit.verb, data: { ...submit.data, 'param.pcn': '900202', 'option.email': 'false' } });
  const offId = fact(off.body?.value, 'Run id')!;
  for (const runId of [onId, offId]) await user.waitFor((c) => fact(callCard(c), 'Run id') === runId && headline(callCard(c)).startsWith('Ready'), 30_000);
  assert.equal(mailOf(onId).length, 1);
  assert.equal(mailOf(offId).length, 0);
  assert.equal(filesOf(offId).length, 1, 'OneDrive delivery does not depend on email');
});

test('bad email requests get a clear answer and queue nothing', async () => {
  const before = await jobCount(stack.queue);
  const user = stack.connector.user({ name: 'Lee Gu', upn: 'lee.gu@contoso.test' });
  const noAddress = stack.connector.user({ name: 'Guest User', upn: '' });
  const cases: [typeof user, string, RegExp][] = [
    [user, 'run gl-accounts pcn=900101 email=maybe', /Nothing was queued: email must be yes or no, not "maybe"/],
    [user, 'run gl-accounts pcn=900101 --email email=no', /Nothing was queued: --email and email=no contradict each other/],
    [noAddress, 'run gl-accounts pcn=900101 --email', /Nothing was queued: I cannot email you: Teams did not tell me your email address/],
  ];
  for (const [who, text, expected] of cases) {
    const since = Date.now();
    await who.say(stack.endpoint, text);
    await who.waitFor((c) => c.at >= since && expected.test(String(c.activity?.text ?? '')));
  }
  const refused = await noAddress.invokeAction(stack.endpoint, { verb: 'report.submit', data: { reportId: 'gl-accounts', 'param.pcn': '900101', 'option.email': 'true' } });
  assert.match(texts(refused.body?.value), /I cannot email you/);
  assert.equal(await jobCount(stack.queue), before);
});

test('a big workbook (report that emails by default): OneDrive and attachment upload sessions through the whole stack', async () => {
  const user = stack.connector.user({ name: 'Diego Siciliani', upn: 'diego.siciliani@contoso.test' });
  await user.say(stack.endpoint, 'run big-export rows=130000');
  const runId = fact(callCard(await user.waitFor(cardStarting('Queued: Big export'))), 'Run id')!;
  const result = callCard(await user.waitFor(cardStarting('Ready: Big export'), 60_000));
  const [file] = filesOf(runId);
  assert.ok(file.bytes.length > 4 * 1024 * 1024, `workbook of ${file.bytes.length} bytes`);
  assert.ok(fake.calls.some((c) => c.route === 'drive-createUploadSession' && c.path.includes(runId)));
  const [mail] = mailOf(runId);
  assert.equal(mail.via, 'send');
  assert.equal(mail.attachments[0].via, 'upload-session');
  assert.ok(mail.attachments[0].bytes.equals(file.bytes));
  assert.equal(action(result, 'Open in Excel')?.url, (await record(runId, 'onedrive'))?.url);
  assert.equal(fact(result, 'Emailed to'), 'diego.siciliani@contoso.test');
});

test('a runner that died after delivering but before acknowledging: the retried job delivers nothing again', async () => {
  const user = stack.connector.user({ name: 'Isaiah Langer', upn: 'isaiah.langer@contoso.test' });
  await user.say(stack.endpoint, 'run gl-accounts pcn=900101 --email');
  const ready = await user.waitFor(cardStarting('Ready: Chart of accounts'), 30_000);
  const runId = fact(callCard(ready), 'Run id')!;
  const graphCalls = fake.calls.length;
  const job = (await stack.queue.getJob(runId))!;
  const again = await stack.queue.add(job.name, job.data, { jobId: `${runId}-again` });
  for (let i = 0; i < 200 && (await again.getState()) !== 'completed'; i++) await sleep(50);
  assert.equal(await again.getState(), 'completed');
  assert.equal(fake.calls.length, graphCalls, 'no Graph call at all: nothing uploaded or emailed again');
  assert.equal(mailOf(runId).length, 1);
  assert.equal(filesOf(runId).length, 1);
  assert.equal(user.activities().filter(cardStarting('Ready')).length, 1);
});

test('email refused by Graph (no permission on the mailbox): the result card still comes, saying the email failed', async () => {
  fake.fail({ path: /\/sendMail$/, status: 403, code: 'ErrorAccessDenied', message: 'Access is denied. Check credentials and try again.' });
  const user = stack.connector.user({ name: 'Lynne Robbins', upn: 'lynne.robbins@contoso.test' });
  await user.say(stack.endpoint, 'run gl-accounts pcn=900202 --email');
  const result = callCard(await user.waitFor(cardStarting('Ready: Chart of accounts'), 30_000));
  assert.match(texts(result), /I could not email the workbook to lynne\.robbins@contoso\.test\./);
  assert.ok(action(result, 'Open in Excel'));
  assert.equal(fact(result, 'Emailed to'), undefined);
  const runId = fact(result, 'Run id')!;
  assert.equal((await record(runId, 'email'))?.status, 'failed');
  assert.equal(mailOf(runId).length, 0);
  assert.equal(fake.clearFaults(), 0);
});
