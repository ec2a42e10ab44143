/**
 * Excel export: N rows × 10 columns (3 strings, 4 numbers formatted `#,##0.00`, 1 integer, 1 date,
 * 1 boolean) through bare exceljs streaming and through our ReportWorkbook, in one run.
 *
 *   tsx bench/excel.ts [--rows N] [--only name,name] [--verify]
 *
 * Each variant runs in its own child process so one variant's heap cannot inflate another's peak
 * RSS. Per variant: seconds from the first row to the closed file, rows/s, peak RSS (the kernel's
 * maxRSS, which also counts Node and tsx themselves: see the "idle" row), the longest event-loop
 * block (the larger of monitorEventLoopDelay's max at 10 ms resolution and a 10 ms interval's
 * longest late firing) and the file size. `--verify` then reads every variant's file back with
 * exceljs's streaming reader (not timed) and checks the row count and the values of sampled rows.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import ExcelJS from 'exceljs';
import { ReportWorkbook, type SheetColumn } from '../runner/excel/writer.ts';

interface Result {
  variant: string;
  rows: number;
  seconds: number;
  peakRssMb: number;
  maxBlockMs: number;
  bytes: number;
  verified?: string;
}

const VARIANTS: Record<string, string> = {
  idle: 'baseline: the child process with nothing written',
  'exceljs': 'bare exceljs WorkbookWriter, yield every 500 rows',
  'exceljs-noyield': 'bare exceljs WorkbookWriter, never yields',
  report: 'ReportWorkbook fed by an async generator',
};

const YIELD_EVERY = 500;
const BASE_DATE = Date.UTC(2024, 0, 1);
const STATUS = ['open', 'shipped', 'invoiced', 'closed'];

const columns: SheetColumn[] = [
  { key: 'customer', header: 'Customer' },
  { key: 'sku', header: 'SKU' },
  { key: 'status', header: 'Status' },
  { key: 'amount', header: 'Amount', numFmt: '#,##0.00' },
  { key: 'cost', header: 'Cost', numFmt: '#,##0.00' },
  { key: 'tax', header: 'Tax', numFmt: '#,##0.00' },
  { key: 'margin', header: 'Margin', numFmt: '#,##0.00' },
  { key: 'qty', header: 'Qty' },
  { key: 'placed', header: 'Placed', numFmt: 'yyyy-mm-dd hh:mm' },
  { key: 'shipped', header: 'Shipped' },
];

// Both variants write the same values; building the row is part of each loop, as it would be
// when converting a connector's records.
function row(i: number): Record<string, unknown> {
  return {
    customer: `Customer ${i % 9973} & Sons`,
    sku: `SKU-${String(i % 100_000).padStart(6, '0')}`,
    status: STATUS[i & 3],
    amount: (i % 100_000) * 12.34,
    cost: (i % 77_777) * 9.87,
    tax: (i % 1000) * 0.21,
    margin: ((i % 5000) - 2500) / 3,
    qty: i % 500,
    placed: new Date(BASE_DATE + i * 60_000),
    shipped: (i & 1) === 0,
  };
}

async function* rows(n: number) {
  for (let i = 0; i < n; i++) yield row(i);
}

const yieldLoop = () => new Promise<void>((r) => setImmediate(r));

async function bareExceljs(path: string, n: number, yieldEvery: number): Promise<void> {
  const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: path, useSharedStrings: false, useStyles: true });
  const ws = wb.addWorksheet('Data', { views: [{ state: 'frozen', xSplit: 0, ySplit: 1 }] });
  ws.columns = columns.map((c) => ({ key: c.key, header: c.header, width: 14, style: c.numFmt ? { numFmt: c.numFmt } : {} }));
  ws.getRow(1).commit();
  const keys = columns.map((c) => c.key);
  for (let i = 0; i < n; i++) {
    const r = row(i);
    const values = new Array<unknown>(keys.length);
    for (let c = 0; c < keys.length; c++) values[c] = r[keys[c]];
    ws.addRow(values).commit();
    if (yieldEvery && (i + 1) % yieldEvery === 0) await yieldLoop();
  }
  ws.commit();
  await wb.commit();
}

async function report(path: string, n: number): Promise<void> {
  const book = new ReportWorkbook({ path, creator: 'bench' });
  await book.addSheet('Data', columns, rows(n));
  await book.close();
}

/** Reads the file back and compares it with row(): '' when it matches, else what differs. */
async function verify(path: string, n: number): Promise<string> {
  const every = Math.max(1, Math.floor(n / 1000));
  let rowsSeen = 0;
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(path, { styles: 'cache' });
  for await (const sheet of reader) {
    for await (const r of sheet) {
      rowsSeen++;
      if (r.number === 1 || (r.number - 2) % every !== 0) continue;
      const want = row(r.number - 2);
      for (let c = 0; c < columns.length; c++) {
        const got: unknown = r.getCell(c + 1).value;
        const expected = want[columns[c].key];
        const same = expected instanceof Date ? got instanceof Date && got.getTime() === expected.getTime() : got === expected;
        if (!same) return `row ${r.number} ${columns[c].key}: ${String(got)} ≠ ${String(expected)}`;
      }
    }
  }
  return rowsSeen === n + 1 ? '' : `${rowsSeen} rows read, ${n + 1} written`;
}

async function child(variant: string, n: number, path: string): Promise<Result> {
  // Two probes: the histogram records nothing until its timer has fired once (a block that starts
  // straight away would go unseen, hence the wait), and a 10 ms interval's longest gap as a check.
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let last = performance.now();
  let maxGap = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last - 10);
    last = now;
  }, 10);
  await new Promise((r) => setTimeout(r, 50));
  maxGap = 0;
  const t0 = performance.now();
  if (variant === 'exceljs') await bareExceljs(path, n, YIELD_EVERY);
  else if (variant === 'exceljs-noyield') await bareExceljs(path, n, 0);
  else if (variant === 'report') await report(path, n);
  else if (variant !== 'idle') throw new Error(`unknown variant ${variant}`);
  const seconds = (performance.now() - t0) / 1000;
  // Let both probes see the end of a block that lasted until the very end.
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(probe);
  delay.disable();
  const result: Result = {
    variant,
    rows: n,
    seconds,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    maxBlockMs: Math.max(delay.max / 1e6, maxGap),
    bytes: variant === 'idle' ? 0 : (await stat(path)).size,
  };
  if (process.argv.includes('--verify') && variant !== 'idle') result.verified = (await verify(path, n)) || 'ok';
  return result;
}

function runChild(variant: string, n: number, path: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const script = fileURLToPath(import.meta.url);
    const args = ['--import', 'tsx', script, '--child', variant, '--rows', String(n), '--out', path];
    if (process.argv.includes('--verify')) args.push('--verify');
    const proc = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${variant} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as Result);
    });
  });
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

const n = Number(arg('rows') ?? 1_000_000);
if (!Number.isInteger(n) || n < 0) throw new Error('--rows must be a non-negative integer');
const childVariant = arg('child');

if (childVariant) {
  console.log(JSON.stringify(await child(childVariant, n, arg('out')!)));
} else {
  const only = arg('only')?.split(',');
  const names = Object.keys(VARIANTS).filter((v) => !only || v === 'idle' || only.includes(v));
  const dir = await mkdtemp(join(tmpdir(), 'bench-excel-'));
  const results: Result[] = [];
  try {
    for (const v of names) {
      process.stderr.write(`${v}: ${VARIANTS[v]} ...\n`);
      results.push(await runChild(v, n, join(dir, `${v}.xlsx`)));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const bare = results.find((r) => r.variant === 'exceljs');
  const fmt = (r: Result) => {
    const rate = r.seconds > 0 ? r.rows / r.seconds : 0;
    return [
      r.variant.padEnd(16),
      r.variant === 'idle' ? '-'.padStart(8) : r.seconds.toFixed(2).padStart(8),
      r.variant === 'idle' ? '-'.padStart(10) : Math.round(rate).toLocaleString('en-US').padStart(10),
      r.variant === 'idle' || !bare ? '-'.padStart(7) : `${(rate / (bare.rows / bare.seconds)).toFixed(2)}×`.padStart(7),
      r.peakRssMb.toFixed(0).padStart(9),
      r.maxBlockMs.toFixed(0).padStart(10),
      r.variant === 'idle' ? '-'.padStart(8) : (r.bytes / 1e6).toFixed(1).padStart(8),
    ].join('  ');
  };
  console.log(`\n${n.toLocaleString('en-US')} rows × ${columns.length} columns, Node ${process.version}`);
  console.log(['variant'.padEnd(16), 'seconds'.padStart(8), 'rows/s'.padStart(10), 'vs bare'.padStart(7), 'peak RSS'.padStart(9), 'max block'.padStart(10), 'file MB'.padStart(8)].join('  '));
  console.log(['', '', '', '', 'MB', 'ms', ''].map((s, i) => s.padStart([16, 8, 10, 7, 9, 10, 8][i])).join('  '));
  for (const r of results) console.log(fmt(r));
  for (const r of results) if (r.verified) console.log(`${r.variant}: read back ${r.verified}`);
}
