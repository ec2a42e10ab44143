/**
 * The CLI as a person or a scheduler runs it: a child process with the same environment as the
 * runner. Queued mode goes through the queue and a runner and fetches the file from the archive;
 * --local runs in-process under the same mutex. Bad input exits 2 and runs nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ExcelJS from 'exceljs';
import { parseCli } from '../runner/cli.ts';
import { startStack, jobCount, type Stack } from './harness/stack.ts';

const run = promisify(execFile);
let stack: Stack;
before(async () => { stack = await startStack({ runners: 1 }); });
after(() => stack?.stop());

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'runner/cli.ts', ...args], { env: { ...process.env, ...stack.env }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function sheetRows(path: string, sheet: string): Promise<number> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(path);
  return wb.getWorksheet(sheet)!.actualRowCount;
}

test('queued: the run goes through a runner and the workbook comes back from the archive', async () => {
  const out = join(stack.dir, 'tb-cli.xlsx');
  const r = await cli(['trial-balance', '--pcn', '900101', '--startPeriod', '202601', '--endPeriod=202603', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Trial Balance: \d+ rows .* → .*tb-cli\.xlsx/);
  assert.match(r.stdout, /checks: 5 of 5 passed/);
  assert.ok(await sheetRows(out, 'Trial Balance') > 3 * 350);
  assert.equal(stack.connector.activities().length, 0, 'a CLI run sends nothing to Teams');
});

test('--local runs in this process; bad input exits 2 and queues nothing', async () => {
  const out = join(stack.dir, 'accounts.xlsx');
  const r = await cli(['gl-accounts', '--pcn', '900202', '--local', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await sheetRows(out, 'Accounts') > 300, true);
  const before = await jobCount(stack.queue);
  const bad = await cli(['trial-balance', '--pcn', '900101', '--startPeriod', '202603', '--endPeriod', '202601']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Nothing was run: End period must not be before the start period/);
  assert.match(bad.stderr, /--startPeriod <YYYYMM>/, 'usage is generated from the parameter list');
  const unknown = await cli(['payroll']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /There is no report "payroll"/);
  assert.equal(await jobCount(stack.queue), before);
});

test('argument parsing', () => {
  assert.deepEqual(parseCli(['tb', '--pcn', '1,2', '--startPeriod=202501', '--local', '--out', 'x.xlsx']),
    { reportId: 'tb', params: { pcn: '1,2', startPeriod: '202501' }, out: 'x.xlsx', local: true, help: false });
  assert.throws(() => parseCli(['tb', '--pcn']), /--pcn needs a value/);
  assert.throws(() => parseCli(['tb', '--pcn', '1', '--pcn', '2']), /given twice/);
  assert.throws(() => parseCli(['a', 'b']), /one report at a time/);
});
