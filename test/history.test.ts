/**
 * Run history on the whole stack: two people run reports through the bot (a runner in this process,
 * real Redis, Azurite, SQLite), then use `history` and its buttons as Teams would. Also: the run.json
 * manifests the runner archives, rebuilding the Redis index from those blobs alone, and retention
 * (ages faked by writing manifests with old finishedAt dates; the catalog's default 90 days and a
 * manifest's own retentionDays for a report no longer defined).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { Archive, XLSX_TYPE } from '../core/archive.ts';
import { HistoryIndex, manifestBlobName, saveManifest, type RunManifest } from '../core/history.ts';
import { newRunId } from '../core/job.ts';
import { keys } from '../core/redis.ts';
import { CLEANUP_JOB, maintenanceQueueName } from '../runner/maintenance.ts';
import type { ChatUser } from '../demo/connector.ts';
import { callCard, downloadWorkbook, fact, headline, texts, type Action } from './harness/cards.ts';
import { deleteKeys, startStack, type Stack } from './harness/stack.ts';

const execFileP = promisify(execFile);
const ADMIN = randomUUID();
let stack: Stack;
let index: HistoryIndex;
let archive: Archive;
let megan: ChatUser;
let adele: ChatUser;
let admin: ChatUser;
/** Run ids in the order they were requested. */
const meganRuns: string[] = [];
let detailRun: { runId: string; rows: number };
let brokenRun: string;

before(async () => {
  stack = await startStack({ runners: 1, env: { ADMIN_USERS: ADMIN, CLEANUP_TIME_ZONE: 'America/Detroit' } });
  index = new HistoryIndex(stack.redis, stack.prefix);
  archive = new Archive(stack.config);
  megan = stack.connector.user({ name: 'Megan Bowen' });
  adele = stack.connector.user({ name: 'Adele Vance' });
  admin = stack.connector.user({ name: 'Irvin Sayers', aadObjectId: ADMIN });
});
after(() => stack?.stop());

type Card = { body?: Element[]; actions?: Action[] };
type Element = { type?: string; text?: string; items?: Element[]; columns?: Element[]; facts?: { title: string; value: string }[]; actions?: Action[] };

/** The runs a history card lists, as a person reads them. */
function runsOf(card: unknown) {
  return ((card as Card).body ?? []).filter((e) => e.type === 'Container').map((c) => {
    const actions: Action[] = [];
    const walk = (els: Element[] = []) => els.forEach((e) => { actions.push(...(e.actions ?? [])); walk(e.items); walk(e.columns); });
    walk([c]);
    const run = { body: [c] };
    const [title, status] = c.items?.[0]?.columns?.map((col) => headline({ body: col.items })) ?? [];
    return {
      runId: fact(run, 'Run id')!,
      title,
      status,
      rows: fact(run, 'Rows'),
      failedStep: fact(run, 'Failed step'),
      checks: fact(run, 'Checks'),
      pcn: fact(run, 'PCN'),
      requestedBy: fact(run, 'Requested by'),
      text: texts(run),
      actions,
    };
  });
}

/** Say `text`, return the run id from the Queued card. */
async function request(user: ChatUser, text: string): Promise<string> {
  const since = Date.now();
  await user.say(stack.endpoint, text);
  const queued = await user.waitFor((c) => c.at >= since && headline(callCard(c)).startsWith('Queued'));
  return fact(callCard(queued), 'Run id')!;
}

/** Wait until the runner has recorded these runs (the manifest is written after the result card). */
async function recorded(runIds: string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const found = await Promise.all(runIds.map((id) => index.get(id)));
    if (found.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error(`runs not recorded: ${runIds.filter((_, i) => !found[i]).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Send `history` (or a variant) and return the card it answers with, and the text beside it. */
async function history(user: ChatUser, text = 'history'): Promise<{ card: Card; text: string; activityId?: string }> {
  const since = Date.now();
  await user.say(stack.endpoint, text);
  const call = await user.waitFor((c) => c.at >= since && /runs$/.test(headline(callCard(c))));
  return { card: callCard(call) as Card, text: String(call.activity?.text ?? ''), activityId: call.activityId };
}

async function press(user: ChatUser, action: Action | undefined, replyToId?: string) {
  assert.ok(action?.verb, 'the button exists');
  const res = await user.invokeAction(stack.endpoint, { verb: action.verb, data: action.data }, replyToId);
  assert.equal(res.status, 200);
  return res.body;
}

test('two people run reports; each history lists only their own runs, newest first, ten a page', async () => {
  for (let i = 0; i < 11; i++) {
    meganRuns.push(await request(megan, i % 2 ? 'run gl-accounts pcn=900202 includeInactive=yes' : 'run gl-accounts pcn=900101'));
  }
  const detail = await request(adele, 'run gl-detail pcn=900101 account=1 startPeriod=202501 endPeriod=202503');
  brokenRun = await request(adele, 'run broken-step');
  const result = callCard(await adele.waitFor((c) => headline(callCard(c)) === 'Ready: GL detail by account' && fact(callCard(c), 'Run id') === detail, 60_000));
  detailRun = { runId: detail, rows: Number(fact(result, 'Rows')!.replaceAll(',', '')) };
  await recorded([...meganRuns, detail, brokenRun]);

  const first = await history(megan);
  assert.equal(headline(first.card), 'Your runs');
  assert.match(texts(first.card), /Runs 1–10 of 11, newest first \(page 1 of 2\)/);
  const page1 = runsOf(first.card);
  assert.deepEqual(page1.map((r) => r.runId), meganRuns.slice(1).reverse());
  for (const run of page1) {
    assert.equal(run.title, 'Chart of accounts');
    assert.equal(run.status, 'Succeeded');
    assert.match(run.rows ?? '', /^\d[\d,]*$/);
    assert.equal(run.requestedBy, undefined);
    assert.deepEqual(run.actions.map((a) => a.title), ['Download', 'Re-run']);
  }
  assert.equal(page1[0].pcn, '900101 Demo Stamping - Plant A', 'parameters by label');
  assert.equal(page1[1].pcn, '900202 Demo Machining - Plant B');
  assert.deepEqual(first.card.actions?.map((a) => a.title), ['Older']);

  const older = await press(megan, first.card.actions?.[0], first.activityId);
  assert.equal(older?.type, 'application/vnd.microsoft.card.adaptive');
  assert.deepEqual(runsOf(older?.value).map((r) => r.runId), [meganRuns[0]]);
  assert.deepEqual((older?.value as Card).actions?.map((a) => a.title), ['Newer']);

  const mine = await history(adele, 'my runs');
  const adeleRuns = runsOf(mine.card);
  assert.deepEqual(adeleRuns.map((r) => r.runId), [brokenRun, detail]);
  const [broken, ok] = adeleRuns;
  assert.equal(broken.status, 'Failed');
  assert.equal(broken.failedStep, 'Load ledger');
  assert.match(broken.text, /data source "warehouse" did not answer as expected/);
  assert.deepEqual(broken.actions.map((a) => a.title), ['Re-run'], 'a failed run has no download');
  assert.deepEqual(broken.actions[0].data, { runId: brokenRun, reportId: 'broken-step', params: {} });
  assert.equal(ok.status, 'Succeeded');
  assert.equal(ok.rows, detailRun.rows.toLocaleString('en-US'));
  assert.equal(ok.checks, '1 of 1 passed');
  assert.deepEqual(ok.actions.find((a) => a.title === 'Re-run')?.data,
    { runId: detail, reportId: 'gl-detail', params: (await index.get(detail))?.params });

  // Not an admin: asking for everyone's runs, by text or by a crafted button, shows only her own.
  const all = await history(adele, 'history all');
  assert.match(all.text, /Only administrators can see everyone's runs/);
  assert.deepEqual(runsOf(all.card).map((r) => r.runId), [brokenRun, detail]);
  const crafted = await adele.invokeAction(stack.endpoint, { verb: 'history.page', data: { page: 0, scope: 'all' } });
  assert.equal(headline(crafted.body?.value), 'Your runs');
  assert.deepEqual(runsOf(crafted.body?.value).map((r) => r.runId), [brokenRun, detail]);

  const everyone = await history(admin, 'history all');
  assert.equal(headline(everyone.card), 'Everyone\'s runs');
  assert.match(texts(everyone.card), /of 13,/);
  const adminPage = runsOf(everyone.card);
  assert.deepEqual(adminPage.map((r) => r.runId).slice(0, 2), [brokenRun, detail]);
  assert.equal(adminPage[0].requestedBy, 'Adele Vance');
  assert.equal(adminPage[2].requestedBy, 'Megan Bowen');
  assert.equal(runsOf((await history(admin)).card).length, 0, 'an admin\'s own history is still their own');

  // A Re-run button queues the same report with the same parameters.
  const rerun = await press(adele, ok.actions.find((a) => a.title === 'Re-run'));
  const rerunId = /^Queued again as run (\S+)\.$/.exec(String(rerun?.value))?.[1];
  assert.ok(rerunId, `the Re-run answer names the new run: ${String(rerun?.value)}`);
  assert.notEqual(rerunId, detail);
  await recorded([rerunId]);
  assert.deepEqual((await index.get(rerunId))?.params, (await index.get(detail))?.params);
});

test('Download: a fresh working link for the owner and an admin; refused for anyone else', async () => {
  const { card, activityId } = await history(megan);
  const newest = runsOf(card)[0];
  const download = await press(megan, newest.actions.find((a) => a.title === 'Download'), activityId);
  const dl = download?.value as Card;
  assert.equal(headline(dl), 'Download: Chart of accounts');
  assert.equal(fact(dl, 'Run id'), meganRuns.at(-1));
  const link = dl.actions?.find((a) => a.title === 'Download Excel');
  assert.equal(link?.type, 'Action.OpenUrl');
  const { response, sheets } = await downloadWorkbook(link!.url!);
  assert.match(response.headers.get('content-disposition') ?? '', /attachment; filename="gl-accounts-900101-\d{4}-\d{2}-\d{2}\.xlsx"/);
  assert.equal(sheets.get('Accounts')!.length - 1, Number(newest.rows!.replaceAll(',', '')), 'the workbook holds the rows the history shows');
  const back = dl.actions?.find((a) => a.title === 'Back to history');
  assert.deepEqual(back?.data, { page: 0, scope: 'mine' });
  assert.deepEqual(runsOf((await press(megan, back))?.value).map((r) => r.runId), meganRuns.slice(1).reverse());

  // Adele presses a Download button carrying Megan's run (a forwarded or crafted card).
  const stolen = newest.actions.find((a) => a.title === 'Download')!;
  const refused = await press(adele, stolen);
  assert.equal(refused?.type, 'application/vnd.microsoft.activity.message');
  assert.match(String(refused?.value), /is not one of yours, or it is no longer in the archive/);
  assert.doesNotMatch(JSON.stringify(refused), /https?:\/\//, 'no link of any kind');

  const asAdmin = await press(admin, stolen);
  const adminLink = (asAdmin?.value as Card).actions?.find((a) => a.title === 'Download Excel');
  assert.equal((await downloadWorkbook(adminLink!.url!)).sheets.get('Accounts')!.length, sheets.get('Accounts')!.length);

  const failed = await press(adele, { type: 'Action.Execute', verb: 'run.download', data: { runId: brokenRun, reportId: 'broken-step' } });
  assert.match(String(failed?.value), /failed, so there is no file to download/);
});

test('run.json: steps, rows, checks and deliveries of a success; the step and message of a failure', async () => {
  const ok = await archive.readJson(manifestBlobName('gl-detail', detailRun.runId)) as RunManifest;
  assert.equal(ok.manifestVersion, 1);
  assert.equal(ok.status, 'succeeded');
  assert.equal(ok.reportTitle, 'GL detail by account');
  assert.deepEqual(ok.params, { pcn: '900101', account: '1', startPeriod: 202501, endPeriod: 202503 });
  assert.equal(ok.requestedBy.aadObjectId, adele.reference.aadObjectId);
  assert.equal(ok.requestedBy.name, 'Adele Vance');
  assert.equal(ok.origin, 'chat');
  assert.ok(ok.requestedAt <= ok.startedAt! && ok.startedAt! <= ok.finishedAt, 'requested ≤ started ≤ finished');
  assert.equal(ok.attempts, 1);
  assert.deepEqual(ok.steps.map((s) => s.name), ['Journal lines', 'Totals by account and period', 'Lines agree with posted balances']);
  assert.ok(ok.steps.every((s) => s.ms >= 0));
  assert.equal(ok.rows, detailRun.rows);
  assert.equal(ok.rows, ok.steps[0].rows + ok.steps[1].rows, 'rows = the export steps\' rows');
  assert.deepEqual(ok.checks, [{ name: 'Lines agree with posted balances', passed: true, violations: 0 }]);
  assert.match(ok.file!.blobName, new RegExp(`^runs/gl-detail/${detailRun.runId}/gl-detail-900101-1-202501-202503\\.xlsx$`));
  assert.equal(ok.file!.bytes, await archive.size(ok.file!.blobName));
  assert.ok(ok.file!.bytes > 0);
  assert.equal(ok.deliveries.length, 1);
  assert.deepEqual({ ...ok.deliveries[0], at: undefined, url: undefined }, { channel: 'teams', status: 'sent', attempts: 1, at: undefined, url: undefined });
  assert.equal(ok.failure, undefined);
  assert.equal(ok.retentionDays, 90);

  const bad = await archive.readJson(manifestBlobName('broken-step', brokenRun)) as RunManifest;
  assert.equal(bad.status, 'failed');
  assert.equal(bad.reportTitle, 'Broken step (test)');
  assert.equal(bad.attempts, 2, 'a step failure is retried once (JOB_ATTEMPTS=2), then recorded');
  assert.deepEqual(bad.failure, { step: 'Load ledger', message: 'The data source "warehouse" did not answer as expected.', code: 'CONNECTOR' });
  assert.equal(bad.file, undefined, 'a failed run has no workbook, but still a manifest');
  assert.equal(bad.rows, undefined);
  assert.deepEqual(bad.steps, []);
  assert.deepEqual(bad.deliveries, []);
  assert.ok(bad.durationMs! >= 0);
  for await (const folder of archive.runFolders()) {
    if (folder.runId === brokenRun) assert.deepEqual(folder.blobs.map((b) => b.name), [`runs/broken-step/${brokenRun}/run.json`]);
  }
});

/** Every page of the history for a scope, as the index serves it. */
async function allPages(scope: { user: string } | 'all') {
  const pages = [];
  for (let p = 0, n = 1; p < n; p++) {
    const page = await index.page(scope, p);
    pages.push(page);
    n = page.pages;
  }
  return pages;
}

function cli(args: string[]) {
  return execFileP(process.execPath, ['--import', 'tsx', 'runner/history-cli.ts', ...args], { env: { ...process.env, ...stack.env }, timeout: 120_000 });
}

test('history:rebuild: the index rebuilt from the run.json blobs alone gives the same history', async () => {
  const scopes = [{ user: megan.reference.aadObjectId }, { user: adele.reference.aadObjectId }, 'all'] as const;
  const before = await Promise.all(scopes.map(allPages));
  const meganCard = runsOf((await history(megan)).card);

  const k = keys(stack.prefix);
  await deleteKeys(stack.redis, k.historyPattern());
  assert.equal((await index.page('all', 0)).total, 0);
  // An entry no manifest backs (as if its blobs had been deleted by hand) must not survive a rebuild.
  const ghost = { ...(await archive.readJson(manifestBlobName('gl-detail', detailRun.runId)) as RunManifest), runId: newRunId(new Date('2026-01-01')) };
  await index.add(ghost);

  const { stdout } = await cli(['rebuild']);
  assert.match(stdout, /14 run folders, 14 runs of 2 people indexed, 1 stale entries removed/);
  assert.equal(await index.get(ghost.runId), undefined);
  assert.deepEqual(await Promise.all(scopes.map(allPages)), before);
  assert.deepEqual(runsOf((await history(megan)).card), meganCard);
});

/** A finished run written straight to the archive, `ageDays` old: how retention sees old runs. */
async function oldRun(reportId: string, ageDays: number, retentionDays: number, workbook: string): Promise<RunManifest> {
  const runId = newRunId();
  const finished = new Date(Date.now() - ageDays * 24 * 3600_000);
  const blobName = Archive.blobName(reportId, runId, 'old.xlsx');
  await archive.uploadFile(blobName, workbook, XLSX_TYPE);
  const manifest: RunManifest = {
    manifestVersion: 1, runId, reportId, reportTitle: reportId, params: {}, origin: 'chat', attempts: 1,
    requestedBy: { aadObjectId: 'retention-user', name: 'Old Timer', upn: '' },
    requestedAt: new Date(finished.getTime() - 60_000).toISOString(), finishedAt: finished.toISOString(),
    status: 'succeeded', rows: 1, steps: [], checks: [], deliveries: [], retentionDays,
    file: { blobName, fileName: 'old.xlsx', bytes: (await archive.size(blobName))! },
  };
  await saveManifest(archive, index, manifest);
  return manifest;
}

test('retention removes only expired runs, from the blobs and the index, on the daily schedule or by hand', async () => {
  const workbook = join(stack.dir, 'old.xlsx');
  await archive.downloadToFile((await index.get(detailRun.runId))!.file!.blobName, workbook);
  const expired = [
    await oldRun('gl-accounts', 100, 90, workbook), // older than the catalog's 90 days (the default)
    await oldRun('gl-accounts', 100, 365, workbook), // the current definition's 90 days win over what the manifest recorded
    await oldRun('retired-report', 40, 30, workbook), // no longer defined: the manifest's 30 days apply
  ];
  const kept = [
    await oldRun('gl-accounts', 80, 90, workbook),
    await oldRun('retired-report', 200, 365, workbook),
  ];
  const totalBefore = (await index.page('all', 0)).total;

  const dry = await cli(['cleanup', '--dry-run']);
  assert.match(dry.stdout, /history cleanup: \d+ runs checked, would remove 3 /);
  for (const m of expired) assert.match(dry.stdout, new RegExp(`would remove ${m.reportId}/${m.runId}: finished ${m.finishedAt}`));
  assert.equal((await index.page('all', 0)).total, totalBefore, 'a dry run deletes nothing');

  // The runners registered the daily job scheduler; run one of its jobs now through the maintenance queue.
  const queue = new Queue(maintenanceQueueName(stack.config), { connection: stack.redis, prefix: stack.prefix });
  try {
    const scheduler = await queue.getJobScheduler(CLEANUP_JOB);
    assert.equal(scheduler?.pattern, '30 2 * * *');
    assert.equal(scheduler?.tz, 'America/Detroit');
    const job = await queue.add(CLEANUP_JOB, {});
    let state = await job.getState();
    for (const deadline = Date.now() + 60_000; state !== 'completed' && state !== 'failed' && Date.now() < deadline; state = await job.getState()) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state, 'completed');
    const done = (await queue.getJob(job.id!))!.returnvalue as { removed: number; runIds: string[]; bytes: number };
    assert.equal(done.removed, 3);
    assert.deepEqual([...done.runIds].sort(), expired.map((m) => m.runId).sort());
    assert.ok(done.bytes > 0);
  } finally {
    await queue.close();
  }

  for (const m of expired) {
    assert.equal(await archive.size(m.file!.blobName), undefined, 'workbook deleted');
    assert.equal(await archive.readJson(manifestBlobName(m.reportId, m.runId)), undefined, 'run.json deleted');
    assert.equal(await index.get(m.runId), undefined, 'index entry deleted');
  }
  for (const m of kept) {
    assert.ok(await archive.size(m.file!.blobName));
    assert.ok(await index.get(m.runId));
  }
  assert.deepEqual((await allPages({ user: 'retention-user' })).flatMap((p) => p.runs.map((r) => r.runId)).sort(), kept.map((m) => m.runId).sort());
  assert.equal((await index.page('all', 0)).total, totalBefore - 3);
  assert.equal((await index.page({ user: megan.reference.aadObjectId }, 0)).total, 11, 'recent runs stay');

  const again = await cli(['cleanup']);
  assert.match(again.stdout, /removed 0 \(0\.00 MB\)/);
});
