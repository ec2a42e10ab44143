import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { platform, tmpdir } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
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

/**
 * A named pipe nobody reads yet: the writer's output is stalled until `open()` starts a reader,
 * which copies everything into `copy`. Stands in for a disk or network slower than the rows.
 */
function stalledOutput(name: string): { path: string; copy: string; open: () => Promise<void> } {
  const path = join(dir, name);
  const copy = `${path}.xlsx`;
  execFileSync('mkfifo', [path]);
  return { path, copy, open: () => pipeline(createReadStream(path), createWriteStream(copy)) };
}

/** Resolves with `read()` once it has stopped changing over a 200 ms window (or after 10 s). */
async function settled(read: () => number): Promise<number> {
  let before = read();
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = read();
    if (now === before) return now;
    before = now;
  }
  return before;
}

const noFifo = platform() === 'win32' ? 'named pipes via mkfifo need a POSIX system' : false;
// Row text that deflate cannot shrink much, so the compressed side of the zip (archiver buffers
// ~1 MB per stage) fills in step with the XML; 'xxx…' would compress 100:1 and take ages to stall.
const POOL = randomBytes(1 << 20).toString('base64');
const text = (i: number) => `${i} ${POOL.slice((i * 7919) % (POOL.length - 1000)).slice(0, 1000)}`;

test('a stalled output stops the writer pulling rows, and the file is complete once it moves again', { skip: noFifo, timeout: 60_000 }, async (t) => {
  const out = stalledOutput('stalled.fifo');
  const book = new ReportWorkbook({ path: out.path });
  const total = 40_000; // ~40 MB of sheet XML: far more than the writer and the zip may buffer
  let pulled = 0;
  const written = book.addSheet('S', [{ key: 'n' }, { key: 'text' }], generate(total, (i) => {
    pulled++;
    return { n: i, text: text(i) };
  }));

  // Without backpressure all 40k rows would be pulled (and queued in memory) within a few seconds;
  // with it the writer stops once its 4 MB queue and the zip's own buffers are full.
  const stalledAt = await settled(() => pulled);
  t.diagnostic(`writer stopped after pulling ${stalledAt} rows`);
  assert.ok(stalledAt < 20_000, `writer kept pulling rows into a stalled output: ${stalledAt}`);
  assert.ok(stalledAt > 1_000, `writer stopped too early: ${stalledAt}`);

  const copied = out.open();
  assert.equal(await written, total);
  await book.close();
  await copied;

  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(out.copy);
  const ws = wb.getWorksheet('S')!;
  assert.equal(ws.rowCount, total + 1);
  for (const i of [0, stalledAt - 1, stalledAt, total - 1]) {
    assert.deepEqual([cellValue(ws, i + 2, 1), cellValue(ws, i + 2, 2)], [i, text(i)], `row ${i + 2}`);
  }
});

test('aborting while the writer waits on a stalled output rejects with the reason, and close() settles', { skip: noFifo, timeout: 60_000 }, async () => {
  const out = stalledOutput('abort-stalled.fifo');
  const book = new ReportWorkbook({ path: out.path });
  const controller = new AbortController();
  const reason = new Error('cancelled while stalled');
  let pulled = 0;
  const written = book.addSheet('S', [{ key: 'text' }], generate(1_000_000, (i) => {
    pulled++;
    return { text: text(i) };
  }), { signal: controller.signal });
  written.catch(() => {});

  const stalledAt = await settled(() => pulled);
  assert.ok(stalledAt < 1_000_000);
  // The writer is now parked waiting for the zip to drain, which the stalled output never lets happen.
  controller.abort(reason);
  await assert.rejects(written, (err) => err === reason);
  assert.equal(pulled, stalledAt, 'no row was pulled after the abort');

  const copied = out.open();
  await book.close().catch(() => {});
  await copied;
});

/** Every part of a .xlsx (a zip) by name, as text: enough of a zip reader to check the raw XML. */
async function zipParts(path: string): Promise<Map<string, string>> {
  const zip = await readFile(path);
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, 'end of central directory');
  const parts = new Map<string, string>();
  let at = zip.readUInt32LE(eocd + 16);
  for (let n = zip.readUInt16LE(eocd + 10); n > 0; n--) {
    assert.equal(zip.readUInt32LE(at), 0x02014b50, 'central directory entry');
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    const local = zip.readUInt32LE(at + 42);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + size);
    parts.set(name, (method === 8 ? inflateRawSync(data) : data).toString('utf8'));
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return parts;
}

/** The <c> element of one cell in a sheet's XML. */
function rawCell(sheetXml: string, ref: string): string | undefined {
  return new RegExp(`<c r="${ref}"[^>]*?(?:/>|>.*?</c>)`, 's').exec(sheetXml)?.[0];
}

test('cell values: XML specials, unicode, whitespace, long text, numbers, dates, booleans, empties', async () => {
  const path = join(dir, 'values.xlsx');
  const long = 'abcdefghij'.repeat(4000); // 40,000 characters
  const pairAtLimit = 'x'.repeat(32_766) + '\u{1F600}'; // the emoji's surrogates are characters 32,767 and 32,768
  const cases: { label: string; value: unknown; expected: unknown }[] = [
    { label: 'xml specials', value: `Smith & Sons <b>"quoted"</b> 'x' >`, expected: `Smith & Sons <b>"quoted"</b> 'x' >` },
    // exceljs's own writer and reader decode twice: '&amp;' used to come back as '&'.
    { label: 'escaped-looking', value: '&amp; &lt; &#65;', expected: '&amp; &lt; &#65;' },
    { label: 'unicode', value: 'Zürich – 東京 – 😀 – עברית – ‮', expected: 'Zürich – 東京 – 😀 – עברית – ‮' },
    { label: 'surrounding whitespace', value: '  padded\t', expected: '  padded\t' },
    { label: 'multi-line', value: 'line 1\nline 2\r\n\tline 3', expected: 'line 1\nline 2\n\tline 3' },
    { label: 'at the limit', value: 'y'.repeat(32_767), expected: 'y'.repeat(32_767) },
    { label: 'over the limit', value: long, expected: long.slice(0, 32_767) },
    { label: 'pair across the limit', value: pairAtLimit, expected: 'x'.repeat(32_766) },
    // Excel decodes _xHHHH_ in cell text; exceljs does not, so these read back in their escaped form.
    { label: 'control character', value: 'a\u0001b\u001Fc', expected: 'a_x0001_b_x001F_c' },
    { label: 'literal escape', value: 'Due_x0020_Date', expected: 'Due_x005F_x0020_Date' },
    { label: 'empty text', value: '', expected: null },
    { label: 'zero', value: 0, expected: 0 },
    { label: 'negative zero', value: -0, expected: 0 },
    { label: 'float noise', value: 0.1 + 0.2, expected: 0.30000000000000004 },
    { label: 'negative', value: -123.456, expected: -123.456 },
    { label: 'huge', value: 1e21, expected: 1e21 },
    { label: 'tiny', value: 1.5e-7, expected: 1.5e-7 },
    { label: 'max safe integer', value: Number.MAX_SAFE_INTEGER, expected: Number.MAX_SAFE_INTEGER },
    { label: 'NaN', value: NaN, expected: 'NaN' },
    { label: 'Infinity', value: -Infinity, expected: '-Infinity' },
    { label: 'bigint', value: -42n, expected: -42 },
    { label: 'huge bigint', value: 2n ** 64n, expected: '18446744073709551616' },
    { label: 'true', value: true, expected: true },
    { label: 'false', value: false, expected: false },
    { label: 'date', value: new Date('2024-02-29T12:34:56.789Z'), expected: new Date('2024-02-29T12:34:56.789Z') },
    { label: 'epoch', value: new Date(0), expected: new Date(0) },
    { label: 'invalid date', value: new Date('nope'), expected: 'Invalid Date' },
    { label: 'object', value: { a: 1 }, expected: '[object Object]' },
    { label: 'null', value: null, expected: null },
    { label: 'undefined', value: undefined, expected: null },
  ];
  const book = new ReportWorkbook({ path });
  const columns: SheetColumn[] = [{ key: 'label' }, { key: 'value' }, { key: 'formatted', numFmt: '#,##0.00' }];
  async function* rows() {
    for (const c of cases) yield { label: c.label, value: c.value, formatted: typeof c.value === 'number' ? c.value : null };
    yield {}; // every cell empty: the row is left out but keeps its number
    yield { label: 'after the empty row', value: 1 };
  }
  assert.equal(await book.addSheet('Values', columns, rows()), cases.length + 2);
  await book.close();

  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(path);
  const ws = wb.getWorksheet('Values')!;
  cases.forEach((c, i) => {
    assert.deepEqual(cellValue(ws, i + 2, 2), c.expected, c.label);
  });
  const last = cases.length + 3;
  assert.equal(cellValue(ws, last - 1, 1), null, 'the all-empty row stays empty');
  assert.equal(cellValue(ws, last, 1), 'after the empty row');
  assert.equal(ws.rowCount, last);

  // Cell styles: a date without a column format gets the built-in date format; the column format
  // reaches number cells; plain numbers and text carry no style.
  const date = ws.getCell(`B${cases.findIndex((c) => c.label === 'date') + 2}`);
  assert.equal(date.numFmt, 'mm-dd-yy');
  assert.equal(ws.getCell(`C${cases.findIndex((c) => c.label === 'negative') + 2}`).numFmt, '#,##0.00');
  assert.equal(ws.getCell('B2').numFmt, undefined);

  const sheet = (await zipParts(path)).get('xl/worksheets/sheet1.xml')!;
  const ref = (label: string) => `B${cases.findIndex((c) => c.label === label) + 2}`;
  assert.match(rawCell(sheet, ref('xml specials'))!, /t="inlineStr"><is><t>Smith &amp; Sons &lt;b&gt;"quoted"&lt;\/b&gt; 'x' &gt;<\/t><\/is>/);
  assert.match(rawCell(sheet, ref('surrounding whitespace'))!, /<t xml:space="preserve">  padded\t<\/t>/);
  assert.match(rawCell(sheet, ref('control character'))!, /<t>a_x0001_b_x001F_c<\/t>/);
  assert.match(rawCell(sheet, ref('literal escape'))!, /<t>Due_x005F_x0020_Date<\/t>/);
  assert.match(rawCell(sheet, ref('true'))!, /t="b"><v>1<\/v>/);
  assert.match(rawCell(sheet, ref('epoch'))!, /<v>25569<\/v>/);
  assert.equal(rawCell(sheet, ref('empty text')), undefined, 'empty text writes no cell');
  assert.equal(rawCell(sheet, ref('null')), undefined);
  assert.ok(!/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/.test(sheet), 'no character XML 1.0 forbids');
});

test('more than 26 columns get two-letter references, header and autofilter included', async () => {
  const path = join(dir, 'wide.xlsx');
  const width = 130; // A … DZ
  const columns: SheetColumn[] = Array.from({ length: width }, (_, c) => ({ key: `c${c}`, header: `Col ${c + 1}` }));
  const book = new ReportWorkbook({ path });
  assert.equal(await book.addSheet('Wide', columns, generate(3, (r) => Object.fromEntries(columns.map((col, c) => [col.key, r * 1000 + c])))), 3);
  await book.close();

  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(path);
  const ws = wb.getWorksheet('Wide')!;
  assert.equal(ws.autoFilter, 'A1:DZ1');
  for (const [address, value] of [['Z2', 25], ['AA2', 26], ['AZ3', 1051], ['BA4', 2052], ['DZ4', 2129], ['DZ1', 'Col 130']] as const) {
    assert.equal(ws.getCell(address).value, value, address);
  }
  assert.equal(ws.getRow(2).cellCount, width);
  const sheet = (await zipParts(path)).get('xl/worksheets/sheet1.xml')!;
  assert.match(sheet, /<c r="DZ4"><v>2129<\/v><\/c><\/row><\/sheetData>/);
});

test('the package has the parts and relationships Excel needs, for every sheet', async () => {
  const path = join(dir, 'package.xlsx');
  const book = new ReportWorkbook({ path, creator: 'report-bot', title: 'Parts' });
  await book.addSheet('First', [{ key: 'a', numFmt: '0.0%' }], generate(3, (i) => ({ a: i / 10 })));
  await book.addSheet('Second & <more>', undefined, generate(2, (i) => ({ b: `row ${i}`, d: new Date(Date.UTC(2024, 0, i + 1)) })));
  await book.addSheet('Empty', [{ key: 'x' }], generate(0, () => ({})));
  await book.close();

  const parts = await zipParts(path);
  const types = parts.get('[Content_Types].xml')!;
  for (const part of ['/xl/workbook.xml', '/xl/styles.xml', '/xl/worksheets/sheet1.xml', '/xl/worksheets/sheet2.xml', '/xl/worksheets/sheet3.xml', '/docProps/core.xml']) {
    assert.ok(types.includes(`PartName="${part}"`), `content type for ${part}`);
    assert.ok(parts.has(part.slice(1)), `part ${part}`);
  }
  assert.match(types, /Extension="rels" ContentType="application\/vnd\.openxmlformats-package\.relationships\+xml"/);
  assert.match(parts.get('_rels/.rels')!, /Target="xl\/workbook\.xml"/);
  const rels = parts.get('xl/_rels/workbook.xml.rels')!;
  for (const target of ['worksheets/sheet1.xml', 'worksheets/sheet2.xml', 'worksheets/sheet3.xml', 'styles.xml']) {
    assert.ok(rels.includes(`Target="${target}"`), `workbook relationship to ${target}`);
  }
  assert.match(parts.get('xl/workbook.xml')!, /<sheet [^>]*name="Second &amp; &lt;more&gt;"/);

  for (const n of [1, 2, 3]) {
    const sheet = parts.get(`xl/worksheets/sheet${n}.xml`)!;
    assert.match(sheet, /^<\?xml[^>]*\?><worksheet [^>]*>.*<sheetData>.*<\/sheetData>.*<\/worksheet>$/s, `sheet${n} structure`);
    // exceljs writes the header (text as t="str"); the data rows are ours.
    assert.ok(!sheet.replace(/<row r="1".*?<\/row>/s, '').includes('t="str"'), 'data text is written as inline strings');
    const rowNumbers = [...sheet.matchAll(/<row r="(\d+)"/g)].map((m) => Number(m[1]));
    assert.deepEqual(rowNumbers, [...rowNumbers].sort((a, b) => a - b), `sheet${n} rows in order`);
    assert.equal(new Set(rowNumbers).size, rowNumbers.length, `sheet${n} rows unique`);
  }

  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(path);
  assert.deepEqual(wb.worksheets.map((ws) => [ws.name, ws.rowCount]), [['First', 4], ['Second & <more>', 3], ['Empty', 1]]);
  assert.equal(wb.getWorksheet('First')!.getCell('A3').numFmt, '0.0%');
  assert.deepEqual(wb.getWorksheet('Second & <more>')!.getCell('B3').value, new Date(Date.UTC(2024, 0, 2)));
});
