import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import { ReportWorkbook, type SheetColumn } from './writer.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'report-writer-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ROWS = 1234;
const BIG = 2n ** 60n;

/** Order rows: every kind of value the writer converts, nulls and undefineds scattered through. */
function orderRow(i: number): Record<string, unknown> {
  return {
    id: i + 1,
    customer: i % 50 === 0 ? `Smith & Sons <${i}> "quoted" 'x' ü` : `customer ${i}`,
    amount: i % 7 === 0 ? null : Math.round(i * 12345.67) / 100,
    placed: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000 + 123),
    shipped: i % 2 === 0,
    note: i % 5 === 0 ? undefined : `note ${i}`,
    qty: BigInt(i),
    ref: i % 100 === 0 ? BIG : BigInt(-i),
    ignored: 'not a column',
  };
}

/** What each order value must read back as (null for an empty cell). */
function expectedOrder(i: number): Record<string, unknown> {
  const r = orderRow(i);
  return { ...r, note: r.note ?? null, qty: i, ref: i % 100 === 0 ? BIG.toString() : -i };
}

const orderColumns: SheetColumn[] = [
  { key: 'id', header: 'Order #' },
  { key: 'customer', header: 'Customer' },
  { key: 'amount', header: 'Amount', numFmt: '#,##0.00', width: 14 },
  { key: 'placed', header: 'Placed' },
  { key: 'shipped', header: 'Shipped' },
  { key: 'note' },
  { key: 'qty', header: 'Qty' },
  { key: 'ref', header: 'Ref' },
];

function itemRow(i: number): Record<string, unknown> {
  return {
    sku: `SKU-${String(i).padStart(5, '0')}`,
    description: i === 3 ? 'x'.repeat(100) : `item ${i}`,
    n: i % 10,
    price: i % 11 === 0 ? null : i / 4,
    inStock: i % 3 !== 0,
    updated: new Date(Date.UTC(2023, 5, 15, 8, 0, i % 60)),
  };
}

async function* generate(n: number, make: (i: number) => Record<string, unknown>) {
  for (let i = 0; i < n; i++) yield make(i);
}

function cellValue(ws: ExcelJS.Worksheet, row: number, col: number): unknown {
  return ws.getRow(row).getCell(col).value ?? null;
}

test('writes two sheets that read back with the same values, styled header, frozen pane and autofilter', async () => {
  const path = join(dir, 'report.xlsx');
  const book = new ReportWorkbook({ path, creator: 'report-bot', title: 'Orders' });

  const progress: number[] = [];
  let ticks = 0;
  let writing = true;
  const tick = () => {
    ticks++;
    if (writing) setImmediate(tick);
  };
  setImmediate(tick);
  const orders = await book.addSheet('Orders', orderColumns, generate(ROWS, orderRow), {
    onProgress: (n) => progress.push(n),
  });
  writing = false;
  const items = await book.addSheet('Items', undefined, generate(ROWS, itemRow));
  await book.close();

  assert.equal(orders, ROWS);
  assert.equal(items, ROWS);
  assert.deepEqual(progress, [500, 1000, ROWS]);
  // The source never waits on I/O, so only the writer's own yields let other callbacks run.
  assert.ok(ticks >= 2, `event loop turned ${ticks} times while writing`);

  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(path);
  assert.deepEqual(wb.worksheets.map((ws) => ws.name), ['Orders', 'Items']);
  assert.equal(wb.creator, 'report-bot');
  assert.equal(wb.title, 'Orders');

  const sheets = [
    { ws: wb.getWorksheet('Orders')!, headers: orderColumns.map((c) => c.header ?? c.key), keys: orderColumns.map((c) => c.key), expected: expectedOrder },
    { ws: wb.getWorksheet('Items')!, headers: Object.keys(itemRow(0)), keys: Object.keys(itemRow(0)), expected: itemRow },
  ];
  for (const { ws, headers, keys, expected } of sheets) {
    const header = ws.getRow(1);
    assert.deepEqual((header.values as unknown[]).slice(1), headers, `${ws.name} header`);
    for (let c = 1; c <= headers.length; c++) {
      const cell = header.getCell(c);
      assert.equal(cell.font?.bold, true, `${ws.name} header ${c} bold`);
      assert.equal(cell.font?.color?.argb, 'FFFFFFFF');
      assert.equal(cell.fill?.type === 'pattern' && cell.fill.fgColor?.argb, 'FF1F4E78');
      assert.ok(cell.border?.bottom?.style, `${ws.name} header ${c} bottom border`);
    }
    assert.equal(ws.views[0]?.state, 'frozen');
    assert.equal((ws.views[0] as { ySplit?: number }).ySplit, 1);
    const lastColumn = String.fromCharCode(64 + headers.length);
    assert.equal(ws.autoFilter, `A1:${lastColumn}1`);
    assert.equal(ws.rowCount, ROWS + 1, `${ws.name} row count`);

    for (let i = 0; i < ROWS; i++) {
      const want = expected(i);
      const got: Record<string, unknown> = {};
      keys.forEach((key, c) => {
        got[key] = cellValue(ws, i + 2, c + 1);
      });
      const wantCells = Object.fromEntries(keys.map((k) => [k, want[k] ?? null]));
      assert.deepEqual(got, wantCells, `${ws.name} row ${i + 2}`);
    }
  }

  const ordersWs = wb.getWorksheet('Orders')!;
  assert.equal(ordersWs.getColumn(3).width, 14);
  assert.equal(ordersWs.getColumn(3).numFmt, '#,##0.00');
  assert.equal(ordersWs.getCell('C3').numFmt, '#,##0.00', 'column format reaches the cells');
  assert.equal(ordersWs.getCell('C1').numFmt, undefined, 'header text carries no number format');
  assert.equal(typeof ordersWs.getCell('C3').value, 'number');

  const itemsWs = wb.getWorksheet('Items')!;
  assert.equal(itemsWs.getColumn(2).width, 60, 'a 100-character value is clamped to 60');
  assert.equal(itemsWs.getColumn(3).width, 8, 'a narrow column gets the minimum of 8');
  for (let c = 1; c <= 6; c++) {
    // exceljs leaves out a <col> whose width is exactly its default of 9, so it reads back unset.
    const w = itemsWs.getColumn(c).width ?? 9;
    assert.ok(w >= 8 && w <= 60, `column ${c} width ${w}`);
  }
});

test('rejects invalid and duplicate sheet names', async () => {
  const book = new ReportWorkbook({ path: join(dir, 'names.xlsx') });
  const cols: SheetColumn[] = [{ key: 'a' }];
  for (const bad of ['', 'x'.repeat(32), 'a/b', 'a\\b', 'what?', 'a*', '[a]', 'a:b', "'quoted'"]) {
    await assert.rejects(book.addSheet(bad, cols, generate(1, () => ({ a: 1 }))), /Invalid sheet name/, JSON.stringify(bad));
  }
  assert.equal(await book.addSheet('x'.repeat(31), cols, generate(1, () => ({ a: 1 }))), 1);
  assert.equal(await book.addSheet('Data', cols, generate(1, () => ({ a: 1 }))), 1);
  await assert.rejects(book.addSheet('Data', cols, generate(1, () => ({ a: 1 }))), /Duplicate sheet name/);
  await assert.rejects(book.addSheet('DATA', cols, generate(1, () => ({ a: 1 }))), /Duplicate sheet name/);
  await book.close();
});

test('an already-aborted signal rejects with its reason before reading a row', { timeout: 10_000 }, async () => {
  const book = new ReportWorkbook({ path: join(dir, 'aborted.xlsx') });
  const reason = new Error('cancelled by user');
  const controller = new AbortController();
  controller.abort(reason);
  let pulled = 0;
  const rows = generate(10, (i) => {
    pulled++;
    return { a: i };
  });
  await assert.rejects(book.addSheet('S', [{ key: 'a' }], rows, { signal: controller.signal }), (err) => err === reason);
  assert.equal(pulled, 0);
  await book.close().catch(() => {});
});

test('aborting mid-sheet rejects at the next yield, releases the source, and close() still settles', { timeout: 10_000 }, async () => {
  const book = new ReportWorkbook({ path: join(dir, 'abort-mid.xlsx') });
  const controller = new AbortController();
  const reason = new Error('timed out');
  let released = false;
  async function* rows() {
    try {
      for (let i = 0; ; i++) {
        if (i === 700) controller.abort(reason);
        yield { a: i };
      }
    } finally {
      released = true;
    }
  }
  const progress: number[] = [];
  await assert.rejects(
    book.addSheet('S', [{ key: 'a' }], rows(), { signal: controller.signal, onProgress: (n) => progress.push(n) }),
    (err) => err === reason,
  );
  assert.ok(released, 'the source iterator was closed');
  assert.deepEqual(progress, [500]);
  await assert.rejects(book.addSheet('T', [{ key: 'a' }], generate(1, () => ({ a: 1 }))), /earlier sheet failed/);
  await book.close().catch(() => {});
});

test('a file that cannot be created fails the next addSheet and close() instead of hanging', { timeout: 10_000 }, async () => {
  const book = new ReportWorkbook({ path: join(dir, 'no-such-dir', 'x.xlsx') });
  // Three rows are written before the file's open fails; the error must not go unhandled meanwhile.
  assert.equal(await book.addSheet('S', [{ key: 'a' }], generate(3, (i) => ({ a: i }))), 3);
  await new Promise((r) => setTimeout(r, 50));
  await assert.rejects(book.addSheet('T', [{ key: 'a' }], generate(3, (i) => ({ a: i }))), { code: 'ENOENT' });
  await assert.rejects(book.close(), { code: 'ENOENT' });
});

test('an empty source with explicit columns gives a sheet with only the header', async () => {
  const path = join(dir, 'empty.xlsx');
  const book = new ReportWorkbook({ path });
  const progress: number[] = [];
  const n = await book.addSheet('Empty', [{ key: 'a', header: 'Alpha' }, { key: 'b' }], generate(0, () => ({})), {
    onProgress: (r) => progress.push(r),
  });
  await book.close();
  assert.equal(n, 0);
  assert.deepEqual(progress, [0]);

  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(path);
  const ws = wb.getWorksheet('Empty')!;
  assert.equal(ws.actualRowCount, 1);
  assert.deepEqual((ws.getRow(1).values as unknown[]).slice(1), ['Alpha', 'b']);
  assert.equal(ws.getRow(1).getCell(1).font?.bold, true);
  assert.equal(ws.autoFilter, 'A1:B1');
});
