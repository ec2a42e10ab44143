/**
 * The pipeline engine on real SQLite files and a real workbook: step order, extract with typed
 * conversion, checks and the Checks sheet, forEach, dialect files, step failures, and cancellation.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import ExcelJS from 'exceljs';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadReport } from '../../core/catalog.ts';
import { StepError } from '../../core/errors.ts';
import { Mutex } from '../../core/mutex.ts';
import { validateParams } from '../../core/params.ts';
import { Connections } from '../connectors/registry.ts';
import { ReportWorkbook } from '../excel/writer.ts';
import { runPipeline, type Progress } from './run.ts';

let dir: string;
let connections: Connections;
const log = pino({ level: 'silent' });

async function report(id: string, yaml: string, files: Record<string, string>) {
  const d = join(dir, 'reports', id);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'report.yaml'), `id: ${id}\ntitle: ${id}\n${yaml}`);
  for (const [name, body] of Object.entries(files)) await writeFile(join(d, name), body);
  return loadReport(d, connections.names());
}

async function run(r: Awaited<ReturnType<typeof report>>, input: Record<string, unknown>, signal = new AbortController().signal) {
  const path = join(dir, `${r.id}-${randomBytes(3).toString('hex')}.xlsx`);
  const workbook = new ReportWorkbook({ path });
  const progress: Progress[] = [];
  try {
    const result = await runPipeline(r, validateParams(r.id, r.parameters, input, r.rules), { connections, workbook, signal, log, onProgress: (p) => progress.push(p) });
    await workbook.close();
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.readFile(path);
    const sheets = new Map<string, unknown[][]>();
    wb.eachSheet((ws) => { const rows: unknown[][] = []; ws.eachRow((row) => rows.push((row.values as unknown[]).slice(1))); sheets.set(ws.name, rows); });
    return { result, sheets, progress };
  } catch (err) {
    await workbook.close().catch(() => {});
    throw err;
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pipeline-'));
  connections = new Connections({ warehouse: `sqlite:${join(dir, 'wh.sqlite')}`, source: `sqlite:${join(dir, 'src.sqlite')}` });
  await connections.get('source').execute(`
    create table ledger (pcn integer, period integer, account text, debit text, credit text);
    insert into ledger values (900101, 202501, '10000', '100.10', '0'), (900101, 202502, '10000', '0', '40.05'),
      (900202, 202501, '20000', '7', '0.99'), (900202, 202503, '20000', '1234567.89', '0');`);
});
after(async () => { await connections.close(); await rm(dir, { recursive: true, force: true }); });

test('extract converts types exactly, forEach runs per PCN and per period, checks feed the Checks sheet', async () => {
  const r = await report('flow', `
parameters:
  - { name: pcn, type: multichoice, choices: [{ value: "900101" }, { value: "900202" }] }
  - { name: fromPeriod, type: period }
  - { name: toPeriod, type: period }
rules: [{ type: order, first: fromPeriod, second: toPeriod }]
steps:
  - { name: Stage, type: sql, sql: 00-stage.sql }
  - name: Copy ledger
    type: extract
    forEach: { param: pcn, as: onePcn }
    source: { connection: source, sql: 10-source.sql }
    target:
      table: staged
      columns:
        - { source: pcn, target: pcn, type: integer }
        - { source: period, target: period, type: integer }
        - { source: debit, target: debit_cents, type: cents }
        - { source: credit, target: credit_cents, type: cents }
      set: { loaded_for: "@onePcn" }
  - { name: Mark periods, type: sql, sql: 20-periods.sql, forEach: { periods: { from: fromPeriod, to: toPeriod }, as: p } }
  - { name: Data, type: export, sql: 30-export.sql, sheet: Data }
  - { name: Cents are whole, type: check, sql: 40-check-ok.sql, description: nothing breaks this }
  - { name: No large amounts, type: check, sql: 41-check-large.sql, description: amounts under 1M }
`, {
    '00-stage.sql': 'create table if not exists staged (pcn integer, period integer, debit_cents integer, credit_cents integer, loaded_for text);\ncreate table if not exists seen_period (p integer);\ndelete from staged; delete from seen_period;',
    '10-source.sql': 'select pcn, period, debit, credit from ledger where pcn = @onePcn',
    '20-periods.sql': 'insert into seen_period (p) values (@p)',
    '30-export.sql': 'select pcn, period, debit_cents, credit_cents, loaded_for from staged order by pcn, period',
    '40-check-ok.sql': 'select * from staged where debit_cents <> cast(debit_cents as integer)',
    '41-check-large.sql': 'select pcn, debit_cents from staged where debit_cents >= 100000000',
  });
  const { result, sheets, progress } = await run(r, { pcn: '900101,900202', fromPeriod: '202411', toPeriod: '202502' });
  assert.deepEqual(sheets.get('Data'), [
    ['pcn', 'period', 'debit_cents', 'credit_cents', 'loaded_for'],
    [900101, 202501, 10010, 0, '900101'], [900101, 202502, 0, 4005, '900101'],
    [900202, 202501, 700, 99, '900202'], [900202, 202503, 123456789, 0, '900202'],
  ]);
  const seen = await connections.get('warehouse').query('select p from seen_period order by p', {});
  const periods: unknown[] = [];
  for await (const row of seen.rows) periods.push(row.p);
  assert.deepEqual(periods, [202411, 202412, 202501, 202502], 'forEach over a period range crosses the year');
  assert.deepEqual(result.checks.map((c) => [c.name, c.passed, c.violations]), [['Cents are whole', true, 0], ['No large amounts', false, 1]]);
  assert.deepEqual(sheets.get('Checks')!.map((row) => row.slice(0, 3)), [['Check', 'Result', 'Violations'], ['Cents are whole', 'Passed', 0], ['No large amounts', 'FAILED', 1]]);
  assert.deepEqual(result.steps.map((s) => [s.name, s.rows]), [['Stage', 0], ['Copy ledger', 4], ['Mark periods', 4], ['Data', 4], ['Cents are whole', 0], ['No large amounts', 1]]);
  assert.equal(result.rows, 4);
  assert.ok(progress.some((p) => p.name === 'Copy ledger (900202)' && p.step === 2 && p.steps === 6));
});

test('a dialect file overrides the portable SQL on that kind of connection', async () => {
  const r = await report('dialect', 'steps:\n  - { name: Q, type: export, sql: q.sql, sheet: Q }\n', {
    'q.sql': "select 'portable' as which", 'q.sqlite.sql': "select 'sqlite' as which", 'q.mssql.sql': "select N'mssql' as which",
  });
  const { sheets } = await run(r, {});
  assert.deepEqual(sheets.get('Q'), [['which'], ['sqlite']]);
});

test('a failing statement fails its step by name; a bad source value names column and row', async () => {
  const broken = await report('broken', 'steps:\n  - { name: Good, type: sql, sql: a.sql }\n  - { name: Bad one, type: sql, sql: b.sql }\n', {
    'a.sql': 'create table if not exists ok_table (a int)', 'b.sql': 'insert into missing_table values (1)',
  });
  await assert.rejects(run(broken, {}), (err: StepError) => err instanceof StepError && err.step === 'Bad one' && /missing_table/.test(String((err.cause as Error).message)));
  const badValue = await report('bad-value', `steps:
  - name: Copy
    type: extract
    source: { connection: source, sql: s.sql }
    target: { table: t_bad, columns: [{ source: debit, target: d, type: cents }] }
`, { 's.sql': "select '12.345' as debit" });
  await connections.get('warehouse').execute('create table if not exists t_bad (d integer)');
  await assert.rejects(run(badValue, {}), (err: StepError) => err.step === 'Copy' && /debit row 1: cannot read "12.345" as cents: more than 2 decimals/.test((err.cause as Error).message));
});

test('cancelling mid-step stops the work and releases the mutex', async () => {
  const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefix = `test-pipe-${randomBytes(4).toString('hex')}:`;
  const mutex = new Mutex(redis, prefix);
  try {
    const r = await report('slow', 'steps:\n  - { name: Many rows, type: export, sql: q.sql, sheet: Rows }\n', {
      'q.sql': 'with recursive n(i) as (select 1 union all select i + 1 from n where i < 2000000) select i, i * 2 as j from n',
    });
    const controller = new AbortController();
    const started = Date.now();
    const running = mutex.withLock(['tb'], { ttlMs: 2000, waitMs: 1000, signal: controller.signal }, (signal) => run(r, {}, signal));
    setTimeout(() => controller.abort(new Error('cancelled by the requester')), 300);
    await assert.rejects(running, /cancelled by the requester/);
    assert.ok(Date.now() - started < 5000, 'stopped promptly instead of writing 2M rows');
    assert.equal(await redis.exists(`${prefix}tb`), 0, 'the mutex is released');
  } finally {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
});
