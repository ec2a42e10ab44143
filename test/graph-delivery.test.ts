/**
 * Delivery through Microsoft Graph, on real parts: the machine's Redis (own key prefix), a private
 * Azurite holding the archived workbooks, real xlsx files, and the fake Graph + Entra token endpoint
 * over HTTPS (test/harness/graph.ts). @azure/identity's ClientSecretCredential fetches its token from
 * the fake; the Graph client sends it; upload sessions go without it.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import ExcelJS from 'exceljs';
import { pino } from 'pino';
import type { AdaptiveCard } from '../cards/render.ts';
import { Archive, XLSX_TYPE } from '../core/archive.ts';
import type { Report } from '../core/catalog.ts';
import { parseConfig, type Config } from '../core/config.ts';
import { DeliveryError } from '../core/errors.ts';
import type { DeliveryRecord, ReportJob, RunResult } from '../core/job.ts';
import { parameterSchema } from '../core/params.ts';
import { keys } from '../core/redis.ts';
import { startAzurite } from '../demo/services.ts';
import { ReportWorkbook } from '../runner/excel/writer.ts';
import { deliverRun, type DeliveryDeps, type RunToDeliver } from '../runner/delivery/deliver.ts';
import { RUN_ID_PROPERTY } from '../runner/delivery/email.ts';
import { GraphDelivery, UPLOAD_CHUNK_BYTES } from '../runner/delivery/graph.ts';
import { deleteKeys, TEST_REDIS_URL } from './harness/stack.ts';
import { FakeGraph } from './harness/graph.ts';

const MiB = 1024 * 1024;
const SENDER = 'reports@contoso.test';
const PUBLIC = 'https://reportbot.contoso.test';
const ORIGINATOR = '0c7d3f9e-5b1a-4f2e-9d8c-7a6b5c4d3e2f';

let fake: FakeGraph;
let redis: Redis;
let prefix: string;
let dir: string;
let azurite: Awaited<ReturnType<typeof startAzurite>>;
let archive: Archive;
const logLines: Record<string, unknown>[] = [];
const log = pino({ level: 'debug' }, new Writable({
  write(chunk, _enc, done) {
    for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
}));

/** Workbooks by minimum size, written once with exceljs (random text does not compress). */
const workbooks = new Map<number, string>();

before(async () => {
  fake = await FakeGraph.start();
  prefix = `test-graph-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  redis = new Redis(TEST_REDIS_URL);
  dir = await mkdtemp(join(tmpdir(), 'graph-delivery-'));
  azurite = await startAzurite({ location: join(dir, 'azurite') });
  archive = new Archive({ BLOB_CONNECTION_STRING: azurite.connectionString, BLOB_CONTAINER: 'reports' });
});

afterEach(() => {
  fake.clearFaults();
});

after(async () => {
  await deleteKeys(redis, `${prefix}:*`).catch(() => {});
  redis?.disconnect();
  await fake?.close();
  await azurite?.stop().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

function config(extra: Record<string, string> = {}): Config {
  return parseConfig({
    ...fake.env(),
    NODE_ENV: 'test',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    BLOB_CONNECTION_STRING: azurite.connectionString,
    BOT_ID: 'bot-app-id',
    BOT_PASSWORD: 'unused-here',
    MAIL_SENDER: SENDER,
    PUBLIC_BASE_URL: PUBLIC,
    ACTIONABLE_ORIGINATOR: ORIGINATOR,
    // The card's Re-run clicks carry Entra ID tokens of this tenant for this app (test/actions-entra.test.ts).
    ACTIONS_TENANT_ID: '3e9b1c7a-2d4f-4a6b-8c0d-1e2f3a4b5c6d',
    ACTIONS_AUDIENCE: '5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d',
    GRAPH_RETRIES: '3',
    GRAPH_RETRY_MAX_WAIT_SECONDS: '5',
    ...extra,
  });
}

const report = {
  id: 'demo-ledger', title: 'Demo ledger', description: '', category: 'Test', aliases: [], private: false, locks: [], access: { allow: ['*'], shareRuns: false }, retentionDays: 90, rules: [], timeout: 60_000,
  steps: [], dir: '', sql: {}, output: { fileName: 'x.xlsx' }, delivery: { email: false },
  parameters: [{ name: 'pcn', label: 'PCN', type: 'string' }].map((p) => parameterSchema.parse(p)),
} as Report;

interface SentCard {
  job: ReportJob;
  card: AdaptiveCard;
}

/** The Teams side: records cards, or fails when told to. */
class Cards {
  readonly sent: SentCard[] = [];
  failNext = 0;
  async sendCard(job: ReportJob, card: AdaptiveCard): Promise<string> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new DeliveryError('teams', 'connector said 502');
    }
    this.sent.push({ job, card });
    return randomUUID();
  }
}

/** An xlsx of at least `minBytes`, written with the same writer the runner uses. */
async function workbookOf(minBytes: number): Promise<string> {
  const known = workbooks.get(minBytes);
  if (known) return known;
  const path = join(dir, `wb-${minBytes}.xlsx`);
  const wb = new ReportWorkbook({ path, title: 'test' });
  const rows = Math.max(50, Math.ceil(minBytes / 38));
  await wb.addSheet('Data', [{ key: 'n', header: 'N' }, { key: 'hex', header: 'Random' }], (async function* () {
    for (let i = 0; i < rows; i++) yield { n: i, hex: randomBytes(24).toString('hex') };
  })());
  await wb.close();
  assert.ok((await stat(path)).size >= minBytes, `workbook of ${minBytes} bytes`);
  workbooks.set(minBytes, path);
  return path;
}

interface Run extends RunToDeliver {
  path: string;
  bytes: Buffer;
}

async function newRun(opts: { minBytes?: number; email?: boolean; upn?: string; final?: boolean; attempt?: number } = {}): Promise<Run> {
  const runId = `20261123-${randomBytes(4).toString('hex')}`;
  const path = await workbookOf(opts.minBytes ?? 20_000);
  const fileName = `demo-ledger-900101-${runId.slice(-4)}.xlsx`;
  const blobName = Archive.blobName(report.id, runId, fileName);
  await archive.uploadFile(blobName, path, XLSX_TYPE);
  const job: ReportJob = {
    runId, reportId: report.id, params: { pcn: '900101' },
    requestedBy: { aadObjectId: randomUUID(), name: 'Megan Bowen', upn: opts.upn ?? 'megan.bowen@contoso.test' },
    conversation: { serviceUrl: 'http://127.0.0.1:1', channelId: 'msteams', conversation: { id: 'a:1' } },
    requestedAt: new Date().toISOString(), origin: 'chat',
    delivery: opts.email === undefined ? undefined : { teams: true, email: opts.email },
  };
  const result: RunResult = { runId, reportId: report.id, rows: 1234, durationMs: 4200, blobName, fileName, steps: [], checks: [{ name: 'Debits = credits', passed: true, violations: 0 }] };
  return {
    job, report, params: { pcn: '900101' }, result, attempt: opts.attempt ?? 1, final: opts.final ?? false,
    log: log.child({ runId, reportId: report.id }), path, bytes: await readFile(path),
  };
}

function deps(cards: Cards, cfg = config()): DeliveryDeps {
  return { config: cfg, redis, archive, notifier: cards, graph: cfg.graph ? new GraphDelivery(cfg.graph) : undefined };
}

async function records(runId: string): Promise<Record<string, DeliveryRecord>> {
  const hash = await redis.hgetall(keys(prefix).run(runId));
  return Object.fromEntries(Object.entries(hash).filter(([k]) => k.startsWith('delivery:')).map(([k, v]) => [k.slice(9), JSON.parse(v) as DeliveryRecord]));
}

function callsSince(seq: number) {
  return fake.calls.filter((c) => c.seq > seq);
}
const mark = () => fake.calls.at(-1)?.seq ?? 0;

const actions = (card: AdaptiveCard) => (card.actions as { title: string; url: string }[]).map((a) => [a.title, a.url]);
const texts = (card: AdaptiveCard) => JSON.stringify(card.body);

function cardInHtml(html: string): Record<string, unknown> {
  const m = /<head>.*<script type="application\/adaptivecard\+json">(.*?)<\/script>.*<\/head>/s.exec(html);
  assert.ok(m, 'the actionable card sits in the HTML head');
  return JSON.parse(m[1]) as Record<string, unknown>;
}

test('small workbook: app-only token from Entra, simple PUT to the requester\'s OneDrive, an organization link, Open in Excel', async () => {
  const cards = new Cards();
  const run = await newRun();
  const since = mark();
  await deliverRun(deps(cards), run);

  const calls = callsSince(since);
  assert.deepEqual(calls.map((c) => `${c.route} ${c.status}`), ['put-content 201', 'createLink 201']);
  const put = calls[0];
  assert.equal(put.path, `/v1.0/users/${run.job.requestedBy.aadObjectId}/drive/root:/Reports/demo-ledger-900101-${run.job.runId.slice(-4)} (${run.job.runId}).xlsx:/content`);
  assert.equal(put.query['@microsoft.graph.conflictBehavior'], 'replace');
  assert.equal(put.auth, 'valid');
  assert.equal(put.contentType, XLSX_TYPE);
  assert.deepEqual(calls[1].json, { type: 'view', scope: 'organization' });
  assert.equal(calls[1].auth, 'valid');

  const file = fake.files().find((f) => f.name.includes(run.job.runId))!;
  assert.ok(file.bytes.equals(run.bytes), 'OneDrive holds the archived workbook byte for byte');
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(file.bytes as unknown as ArrayBuffer);
  assert.equal(wb.getWorksheet('Data')?.getCell('A1').value, 'N');

  assert.equal(cards.sent.length, 1);
  const [[openTitle, openUrl], [downloadTitle, downloadUrl]] = actions(cards.sent[0].card);
  assert.equal(openTitle, 'Open in Excel');
  assert.match(openUrl, /^https:\/\/contoso-my\.sharepoint\.test\//);
  assert.equal(downloadTitle, 'Download Excel');
  assert.match(downloadUrl, /^http:\/\/127\.0\.0\.1:\d+\/.*sig=/);
  assert.match(texts(cards.sent[0].card), /"title":"Rows","value":"1,234"/);
  assert.match(texts(cards.sent[0].card), /"title":"Checks","value":"1 of 1 passed"/);

  const rec = await records(run.job.runId);
  assert.equal(rec.onedrive.status, 'sent');
  assert.equal(rec.onedrive.url, openUrl);
  assert.equal(rec.teams.status, 'sent');
  assert.equal(rec.email, undefined, 'email was not asked for');

  assert.ok(fake.entra.tokenRequests.length >= 1);
  for (const t of fake.entra.tokenRequests) {
    assert.deepEqual(t, { tenantId: fake.entra.app.tenantId, clientId: fake.entra.app.clientId, scope: `${fake.origin}/.default`, grantType: 'client_credentials', status: 200 });
  }
});

test('large workbook (> 4 MB): an upload session, fragments of 320 KiB multiples in order, without the token', async () => {
  const cards = new Cards();
  const run = await newRun({ minBytes: 5 * MiB });
  const size = run.bytes.length;
  const since = mark();
  await deliverRun(deps(cards), run);

  const calls = callsSince(since);
  const session = calls.filter((c) => c.route === 'drive-createUploadSession');
  assert.equal(session.length, 1);
  assert.equal(session[0].auth, 'valid');
  assert.deepEqual(session[0].json, { item: { '@microsoft.graph.conflictBehavior': 'replace', name: `demo-ledger-900101-${run.job.runId.slice(-4)} (${run.job.runId}).xlsx` } });
  const puts = calls.filter((c) => c.route === 'drive-upload-PUT');
  assert.equal(puts.length, Math.ceil(size / UPLOAD_CHUNK_BYTES));
  let next = 0;
  for (const [i, put] of puts.entries()) {
    assert.equal(put.auth, 'missing', 'no Authorization header on the pre-authenticated upload URL');
    const [, start, end, total] = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(put.contentRange!)!.map(Number);
    assert.equal(start, next);
    assert.equal(total, size);
    const length = end - start + 1;
    if (i < puts.length - 1) assert.equal(length % (320 * 1024), 0);
    assert.equal(put.status, i < puts.length - 1 ? 202 : 201);
    next = end + 1;
  }
  assert.equal(next, size);
  assert.equal(calls.filter((c) => c.route === 'put-content').length, 0);
  assert.ok(fake.files().find((f) => f.name.includes(run.job.runId))!.bytes.equals(run.bytes));
  assert.equal(actions(cards.sent[0].card)[0][0], 'Open in Excel');
});

test('email, small workbook: one sendMail (202, empty) with the file inline, the summary, and the Outlook card', async () => {
  const cards = new Cards();
  const run = await newRun({ email: true });
  const since = mark();
  await deliverRun(deps(cards), run);

  const calls = callsSince(since);
  const send = calls.filter((c) => c.route === 'sendMail');
  assert.equal(send.length, 1);
  assert.equal(send[0].status, 202);
  assert.equal(send[0].path, `/v1.0/users/${SENDER}/sendMail`);
  assert.equal((send[0].json as { saveToSentItems: boolean }).saveToSentItems, true);
  const mail = fake.sent().find((m) => m.properties.some((p) => p.id === RUN_ID_PROPERTY && p.value === run.job.runId))!;
  assert.ok(mail);
  assert.equal(mail.mailbox, SENDER);
  assert.deepEqual(mail.to, ['megan.bowen@contoso.test']);
  assert.equal(mail.subject, 'Demo ledger is ready (PCN 900101)');
  assert.equal(mail.body.contentType, 'HTML');
  assert.equal(mail.attachments.length, 1);
  assert.equal(mail.attachments[0].via, 'inline');
  assert.equal(mail.attachments[0].name, run.result.fileName);
  assert.equal(mail.attachments[0].contentType, XLSX_TYPE);
  assert.ok(mail.attachments[0].bytes.equals(run.bytes));
  assert.match(mail.body.content, /The workbook is attached\./);
  assert.match(mail.body.content, /<th[^>]*>Rows<\/th><td[^>]*>1,234<\/td>/);
  assert.match(mail.body.content, new RegExp(`<td[^>]*>${run.job.runId}</td>`));

  const card = cardInHtml(mail.body.content);
  assert.equal(card.originator, ORIGINATOR);
  const [rerun, teams] = card.actions as Record<string, unknown>[];
  assert.equal(rerun.type, 'Action.Http');
  assert.equal(rerun.url, `${PUBLIC}/api/actions/rerun`);
  assert.deepEqual(JSON.parse(String(rerun.body)), { runId: run.job.runId, reportId: report.id, params: { pcn: '900101' } });
  assert.equal(teams.url, 'https://teams.microsoft.com/l/chat/0/0?users=28:bot-app-id');

  const rec = await records(run.job.runId);
  assert.equal(rec.email.status, 'sent');
  assert.equal(rec.email.detail, 'attached inline');
  assert.match(texts(cards.sent[0].card), /"title":"Emailed to","value":"megan.bowen@contoso.test"/);
});

test('email, large workbook (> 3 MB): a draft, an attachment upload session, then send', async () => {
  const cards = new Cards();
  const run = await newRun({ email: true, minBytes: 3.4 * MiB });
  const since = mark();
  await deliverRun(deps(cards), run);

  const routes = callsSince(since).map((c) => `${c.route} ${c.status}`).filter((r) => !/put-content|createLink/.test(r));
  const fragments = Math.ceil(run.bytes.length / UPLOAD_CHUNK_BYTES);
  assert.deepEqual(routes, [
    'create-message 201', 'attachment-createUploadSession 201',
    ...Array.from({ length: fragments }, (_, i) => `attachment-upload-PUT ${i < fragments - 1 ? 200 : 201}`),
    'send 202',
  ]);
  const session = callsSince(since).find((c) => c.route === 'attachment-createUploadSession')!;
  assert.deepEqual(session.json, { AttachmentItem: { attachmentType: 'file', name: run.result.fileName, size: run.bytes.length, contentType: XLSX_TYPE } });
  for (const put of callsSince(since).filter((c) => c.route === 'attachment-upload-PUT')) {
    assert.equal(put.auth, 'missing');
    assert.equal(put.contentType, 'application/octet-stream');
  }
  const mail = fake.sent().find((m) => m.properties.some((p) => p.value === run.job.runId))!;
  assert.equal(mail.via, 'send');
  assert.equal(mail.attachments[0].via, 'upload-session');
  assert.ok(mail.attachments[0].bytes.equals(run.bytes));
  assert.equal(fake.messages.filter((m) => m.folder === 'drafts').length, 0, 'no draft left behind');
  assert.equal((await records(run.job.runId)).email.detail, 'attached through an upload session');
});

test('email over the tenant\'s message limit: no attachment, the sharing link instead, and the email says why', async () => {
  const cards = new Cards();
  const run = await newRun({ email: true, minBytes: 1.2 * MiB });
  await deliverRun(deps(cards, config({ MAIL_MAX_MESSAGE_MB: '1' })), run);

  const mail = fake.sent().find((m) => m.properties.some((p) => p.value === run.job.runId))!;
  assert.equal(mail.via, 'sendMail');
  assert.equal(mail.attachments.length, 0);
  const link = (await records(run.job.runId)).onedrive.url!;
  assert.match(mail.body.content, /is too large to attach: this mailbox can send messages up to 1 MB\./);
  assert.ok(mail.body.content.includes(`<a href="${link}">Open the workbook</a>`));
  assert.match((await records(run.job.runId)).email.detail!, /sent a link instead of the attachment/);
});

test('email only, over the limit: the workbook goes to OneDrive for a lasting link; no Teams card', async () => {
  const cards = new Cards();
  const run = await newRun({ minBytes: 1.2 * MiB });
  run.job.delivery = { teams: false, email: true };
  await deliverRun(deps(cards, config({ MAIL_MAX_MESSAGE_MB: '1' })), run);
  const rec = await records(run.job.runId);
  assert.equal(rec.onedrive.status, 'sent');
  assert.equal(rec.email.status, 'sent');
  assert.equal(rec.teams, undefined);
  assert.equal(cards.sent.length, 0);
  const mail = fake.sent().find((m) => m.properties.some((p) => p.value === run.job.runId))!;
  assert.ok(mail.body.content.includes(rec.onedrive.url!));
});

test('429 with Retry-After, then success: waited as told, every retry logged with the run id', async () => {
  const cards = new Cards();
  const run = await newRun({ email: true });
  fake.fail({ method: 'PUT', path: /:\/content$/, status: 429, code: 'activityLimitReached', retryAfter: '1', times: 2 });
  fake.fail({ path: /\/sendMail$/, status: 503, retryAfter: '1' });
  const since = mark();
  const logged = logLines.length;
  await deliverRun(deps(cards), run);

  assert.deepEqual(callsSince(since).filter((c) => c.route === 'put-content').map((c) => c.status), [429, 429, 201]);
  assert.deepEqual(callsSince(since).filter((c) => c.route === 'sendMail').map((c) => c.status), [503, 202]);
  const retries = logLines.slice(logged).filter((l) => l.msg === 'Graph throttled or busy; retrying');
  assert.equal(retries.length, 3);
  for (const line of retries) {
    assert.equal(line.runId, run.job.runId);
    assert.equal(line.waitMs, 1000);
    assert.equal(line.retryAfter, '1');
  }
  assert.equal(fake.sent().filter((m) => m.properties.some((p) => p.value === run.job.runId)).length, 1);
  assert.equal(cards.sent.length, 1);
});

test('a dropped connection: an idempotent upload is sent again; sendMail is not (its outcome is unknown)', async () => {
  const cards = new Cards();
  const run = await newRun({ email: true });
  fake.fail({ method: 'PUT', path: /:\/content$/, reset: true });
  fake.fail({ path: /\/sendMail$/, reset: true });
  const since = mark();
  await assert.rejects(deliverRun(deps(cards), run), (e: DeliveryError) => e instanceof DeliveryError && e.channel === 'email');
  assert.deepEqual(callsSince(since).filter((c) => c.route === 'put-content').map((c) => c.status), [0, 201]);
  assert.deepEqual(callsSince(since).filter((c) => c.route === 'sendMail').map((c) => c.status), [0]);
  assert.equal(cards.sent.length, 1, 'the Teams card does not wait for email');
  const rec = await records(run.job.runId);
  assert.equal(rec.email.status, 'failed');
  assert.ok(await redis.hget(keys(prefix).run(run.job.runId), 'sending:email'), 'the unknown send stays marked');

  // The next attempt, after the grace period: nothing in Sent Items, so it sends (once).
  await ageSendingMark(run.job.runId);
  const again = mark();
  await deliverRun(deps(cards), { ...run, attempt: 2 });
  assert.deepEqual(callsSince(again).map((c) => c.route), ['folder-messages', 'folder-messages', 'sendMail']);
  assert.equal(fake.sent().filter((m) => m.properties.some((p) => p.value === run.job.runId)).length, 1);
  assert.equal((await records(run.job.runId)).email.attempts, 2);
  assert.equal(cards.sent.length, 1, 'the Teams card was not sent again');
});

/** Move an interrupted send's mark back in time, as if the retry came after the grace period. */
async function ageSendingMark(runId: string): Promise<void> {
  const key = keys(prefix).run(runId);
  const mark = JSON.parse((await redis.hget(key, 'sending:email'))!) as { at: string };
  await redis.hset(key, 'sending:email', JSON.stringify({ ...mark, at: new Date(Date.now() - 5 * 60_000).toISOString() }));
}

test('Graph accepted the sendMail but the reply was lost: the retry finds it in Sent Items and does not send again', async () => {
  const cards = new Cards();
  const run = await newRun({ email: true });
  fake.fail({ path: /\/sendMail$/, reset: true, after: true });
  await assert.rejects(deliverRun(deps(cards), run), DeliveryError);
  assert.equal(fake.sent().filter((m) => m.properties.some((p) => p.value === run.job.runId)).length, 1, 'Graph did send it');

  await ageSendingMark(run.job.runId);
  const since = mark();
  await deliverRun(deps(cards), { ...run, attempt: 2 });
  assert.deepEqual(callsSince(since).map((c) => c.route), ['folder-messages']);
  assert.equal(fake.sent().filter((m) => m.properties.some((p) => p.value === run.job.runId)).length, 1, 'not sent twice');
  const rec = await records(run.job.runId);
  assert.equal(rec.email.status, 'sent');
  assert.equal(rec.email.detail, 'sent by an earlier attempt (found in Sent Items)');
  assert.equal(await redis.hget(keys(prefix).run(run.job.runId), 'sending:email'), null);
});

test('runner died between the 202 and writing the record: the retried job does not email twice', async () => {
  const cards = new Cards();
  const run = await newRun({ email: true, minBytes: 3.4 * MiB });
  await deliverRun(deps(cards), run);
  // What a runner that died right after Graph's 202 leaves behind: the mark, no email record.
  const key = keys(prefix).run(run.job.runId);
  await redis.hdel(key, 'delivery:email');
  await redis.hset(key, 'sending:email', JSON.stringify({ at: new Date(Date.now() - 5 * 60_000).toISOString(), attempt: 1 }));
  const since = mark();
  await deliverRun(deps(cards), { ...run, attempt: 2 });
  assert.deepEqual(callsSince(since).map((c) => c.route), ['folder-messages']);
  assert.equal(fake.sent().filter((m) => m.properties.some((p) => p.value === run.job.runId)).length, 1);
  assert.equal(cards.sent.length, 1);
});

test('everything delivered: processing the run again sends nothing anywhere', async () => {
  const cards = new Cards();
  const run = await newRun({ email: true });
  await deliverRun(deps(cards), run);
  const since = mark();
  await deliverRun(deps(cards), { ...run, attempt: 2 });
  await deliverRun(deps(cards), { ...run, attempt: 3, final: true });
  assert.deepEqual(callsSince(since), []);
  assert.equal(cards.sent.length, 1);
});

test('permanent failure (no access to the drive): the requester is told in Teams at once, with the archive link', async () => {
  const cards = new Cards();
  const run = await newRun();
  fake.fail({ method: 'PUT', path: /:\/content$/, status: 403, code: 'accessDenied', message: 'Access denied' });
  await deliverRun(deps(cards), run);
  assert.equal(cards.sent.length, 1);
  const card = cards.sent[0].card;
  assert.deepEqual(actions(card).map(([t]) => t), ['Download Excel']);
  assert.match(texts(card), /I could not put the workbook in your OneDrive\./);
  const rec = await records(run.job.runId);
  assert.equal(rec.onedrive.status, 'failed');
  assert.match(rec.onedrive.detail!, /HTTP 403 accessDenied/);
  assert.equal(rec.teams.status, 'sent');
});

test('failing until the last attempt: the card waits for OneDrive, then says what failed and what works', async () => {
  const cards = new Cards();
  const run = await newRun();
  fake.fail({ method: 'PUT', path: /:\/content$/, status: 503, retryAfter: '0', times: 100 });
  const cfg = config({ GRAPH_RETRIES: '1' });
  await assert.rejects(deliverRun(deps(cards, cfg), run), (e: DeliveryError) => e.channel === 'onedrive' && !e.permanent);
  assert.equal(cards.sent.length, 0, 'no card yet: a later attempt may still upload it');
  await assert.rejects(deliverRun(deps(cards, cfg), { ...run, attempt: 2 }), DeliveryError);
  await deliverRun(deps(cards, cfg), { ...run, attempt: 3, final: true });
  assert.equal(cards.sent.length, 1);
  assert.match(texts(cards.sent[0].card), /I could not put the workbook in your OneDrive\./);
  assert.deepEqual(actions(cards.sent[0].card).map(([t]) => t), ['Download Excel']);
  const rec = await records(run.job.runId);
  assert.deepEqual([rec.onedrive.status, rec.onedrive.attempts], ['failed', 3]);
});

test('email failing for good after the card went out: a separate notice says so, with the links that work', async () => {
  const cards = new Cards();
  const run = await newRun({ email: true });
  fake.fail({ path: /\/sendMail$/, status: 503, retryAfter: '0', times: 100 });
  const cfg = config({ GRAPH_RETRIES: '1' });
  await assert.rejects(deliverRun(deps(cards, cfg), run), (e: DeliveryError) => e.channel === 'email');
  assert.equal(cards.sent.length, 1);
  assert.doesNotMatch(texts(cards.sent[0].card), /email/i, 'a failure that will be retried is not announced');
  await deliverRun(deps(cards, cfg), { ...run, attempt: 2, final: true });
  assert.equal(cards.sent.length, 2);
  const notice = cards.sent[1].card;
  assert.match(texts(notice), /Not fully delivered: Demo ledger/);
  assert.match(texts(notice), /I could not email the workbook to megan\.bowen@contoso\.test\./);
  assert.deepEqual(actions(notice).map(([t]) => t), ['Open in Excel', 'Download Excel']);
  assert.equal((await records(run.job.runId)).email.status, 'failed');
  // Never twice, even if the job were processed again.
  await deliverRun(deps(cards, cfg), { ...run, attempt: 3, final: true });
  assert.equal(cards.sent.length, 2);
});

test('the Teams card itself cannot be sent: the job is retried, and the retry sends only the card', async () => {
  const cards = new Cards();
  const run = await newRun({ email: true });
  cards.failNext = 1;
  await assert.rejects(deliverRun(deps(cards), run), (e: DeliveryError) => e.channel === 'teams');
  const since = mark();
  await deliverRun(deps(cards), { ...run, attempt: 2 });
  assert.deepEqual(callsSince(since), [], 'OneDrive and email were not done again');
  assert.equal(cards.sent.length, 1);
});

test('a requester without an email address: not emailed, and told why', async () => {
  const cards = new Cards();
  const run = await newRun({ email: true, upn: '' });
  const since = mark();
  await deliverRun(deps(cards), run);
  assert.equal(callsSince(since).filter((c) => c.route === 'sendMail').length, 0);
  assert.match(texts(cards.sent[0].card), /Not emailed: I do not know your email address\./);
  assert.equal((await records(run.job.runId)).email.status, 'skipped');
});

test('local mode (no Graph): the download-link card only; a report that emails by default stays quiet about it', async () => {
  const cards = new Cards();
  const local = parseConfig({ NODE_ENV: 'test', REDIS_PREFIX: prefix, BLOB_CONNECTION_STRING: azurite.connectionString });
  const run = await newRun();
  run.report = { ...report, delivery: { email: true } };
  const since = mark();
  await deliverRun({ config: local, redis, archive, notifier: cards }, run);
  assert.deepEqual(callsSince(since), []);
  assert.deepEqual(actions(cards.sent[0].card).map(([t]) => t), ['Download Excel']);
  assert.equal((cards.sent[0].card.body as unknown[]).length, 3, 'the same card as before Graph existed');
  const rec = await records(run.job.runId);
  assert.equal(rec.email.status, 'skipped');
  assert.equal(rec.teams.url, actions(cards.sent[0].card)[0][1]);
});

test('a SharePoint library with links for the requester only', async () => {
  const cards = new Cards();
  const run = await newRun();
  const since = mark();
  await deliverRun(deps(cards, config({ GRAPH_SITE_ID: 'contoso.sharepoint.test,1111,2222', GRAPH_FOLDER: 'Finance/Reports', GRAPH_LINK_SCOPE: 'users' })), run);
  const [put, link] = callsSince(since);
  assert.match(put.path, /^\/v1\.0\/sites\/contoso\.sharepoint\.test,1111,2222\/drive\/root:\/Finance\/Reports\/.+\.xlsx:\/content$/);
  assert.deepEqual(link.json, { type: 'view', scope: 'users', recipients: [{ objectId: run.job.requestedBy.aadObjectId }] });
  assert.equal(actions(cards.sent[0].card)[0][0], 'Open in Excel');
});
