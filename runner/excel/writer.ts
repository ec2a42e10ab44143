/**
 * Streaming .xlsx writer for report output. Rows go straight from the connector's async iterable
 * into the file, so a sheet of any length never sits in memory: only the first WIDTH_SAMPLE rows
 * are held, because column widths must be known before the first row is written.
 *
 * exceljs's streaming WorkbookWriter still writes the package (workbook, styles, relationships,
 * content types, the zip) and each sheet's frame and styled header; the data rows' XML is built
 * here (RowEncoder) and written into the worksheet's own stream, with backpressure. Why, as
 * measured with exceljs 4.4 / archiver 5.3 on Node 20 (bench/excel.ts has the current figures):
 *
 * - Memory. The ~400 bytes per row exceljs keeps are not rows or cells (row.commit() drops those)
 *   but the sheet's uncompressed XML, queued in front of the zip. A worksheet writes into a
 *   StreamBuf that archiver wraps in a PassThrough; StreamBuf.write ignores the PassThrough's
 *   backpressure (it always returns true), and the deflate/file pipeline behind it takes about one
 *   64 KB chunk per event-loop turn. With a yield every 500 rows (~200 KB of XML) the queue only
 *   grows: 57 MB in the PassThrough's write buffer after 150k rows, ~400 MB for 1M rows, deflated
 *   at commit. This writer yields every YIELD_EVERY rows and, whenever more than MAX_BACKLOG bytes
 *   are queued, waits for the PassThrough to drain: memory stays flat at any row count.
 * - Speed. With memory fixed, exceljs's own per-row work (a Row and Cell objects, a style lookup
 *   and an XML render per cell) is the whole cost: ~45 µs a row at 10 columns, 17k rows/s.
 *   RowEncoder writes the same cells (same style ids from exceljs's registry, same numbers and date
 *   serials) as plain strings, several times faster; deflate, on the thread pool, is then the limit.
 *
 * Writing the whole package ourselves (own zip, styles and workbook parts) would gain little more
 * and mean owning Excel compatibility of every part; the row XML is the simple, measured part.
 * Both fixes reach into exceljs internals (the sheet stream, archiver's PassThrough, the style
 * registry); sheetInternals() and the constructor check their shape and throw if they change.
 */
import ExcelJS from 'exceljs';
import type { EventEmitter } from 'node:events';

export interface SheetColumn {
  /** Property of each row object that feeds this column. */
  key: string;
  /** Header text; defaults to `key`. */
  header?: string;
  /** Width in characters; computed from the header and the first rows when omitted. */
  width?: number;
  /** Excel number format (e.g. `#,##0.00`, `yyyy-mm-dd hh:mm`), applied to the whole column. */
  numFmt?: string;
}

export interface WorkbookWriterOptions {
  /** File to create (overwritten if it exists). */
  path: string;
  creator?: string;
  title?: string;
}

export interface AddSheetOptions {
  /** Aborting makes addSheet reject with the signal's reason at its next yield. */
  signal?: AbortSignal;
  /** Called with the running row count every PROGRESS_EVERY rows and once with the total at the end. */
  onProgress?: (rows: number) => void;
}

// A yield is one event-loop turn, and the zip pipeline takes about one 64 KB chunk per turn: a
// yield every 100 rows (~40 KB of XML at 10 columns, well under a millisecond to encode) keeps
// deflate, on the thread pool, busy alongside the next rows. Measured at 400k rows: 4.3-5.0 s,
// against ~6 s yielding every 250 or 500 rows (the zip falls behind and the drain wait idles).
const YIELD_EVERY = 100;
const PROGRESS_EVERY = 500;
// Uncompressed XML allowed to queue in front of the zip before addSheet waits for it to drain.
const MAX_BACKLOG = 4 * 1024 * 1024;
// Row XML (in UTF-16 units) gathered before it is handed to the sheet stream and the loop yields
// early: bounds both the batch and the time between yields when rows are very wide or long.
const MAX_PENDING = 256 * 1024;
// Excel's limit on the characters in one cell; a longer text makes Excel report the file damaged.
const MAX_CELL_TEXT = 32_767;
// 1900 date system: serial 25569 is 1970-01-01, so a Date's UTC instant maps without time zones.
const EXCEL_EPOCH_SERIAL = 25_569;
const MS_PER_DAY = 86_400_000;
const WIDTH_SAMPLE = 200;
const MIN_WIDTH = 8;
const MAX_WIDTH = 60;
// Room for cell padding; the header also needs space for the autofilter drop-down button.
const CELL_PADDING = 2;
const HEADER_PADDING = 4;
const MAX_SHEET_NAME = 31;
const FORBIDDEN_SHEET_CHARS = /[\\/?*[\]:]/;

const HEADER_FILL = 'FF1F4E78';
const HEADER_FONT = 'FFFFFFFF';

const yieldLoop = () => new Promise<void>((r) => setImmediate(r));

/** The parts of exceljs's WorkbookWriter its typings leave out: the output file, the zip, the styles. */
interface WriterInternals {
  stream: EventEmitter;
  zip: EventEmitter;
  styles: { addStyleModel(style: { numFmt?: string }, cellType: ExcelJS.ValueType): number };
}

/**
 * The stream archiver reads a worksheet's XML from: a readable-stream 2 PassThrough that exceljs's
 * StreamBuf (`worksheet.stream`) writes into without ever looking at the return value.
 */
interface SheetQueue extends EventEmitter {
  _writableState: { length: number; needDrain: boolean };
}

/** A worksheet's XML stream (exceljs's StreamBuf): where its own rows go, and ours. */
interface SheetStream {
  pipes: unknown[];
  /** Copies the text into the stream's 64 KB buffers; an async function that always resolves true. */
  write(xml: string): Promise<unknown>;
}

/**
 * The worksheet's XML stream and the queue behind it. Throws if exceljs or archiver has changed
 * shape, so that an upgrade fails the tests instead of corrupting rows or bringing back
 * unbounded memory.
 */
function sheetInternals(sheet: ExcelJS.Worksheet): { stream: SheetStream; queue: SheetQueue } {
  const stream = (sheet as unknown as { stream?: Partial<SheetStream> }).stream;
  const pipes = stream?.pipes;
  const queue = Array.isArray(pipes) && pipes.length === 1 ? (pipes[0] as Partial<SheetQueue>) : undefined;
  if (typeof stream?.write !== 'function' || typeof queue?._writableState?.length !== 'number' || typeof queue.once !== 'function') {
    throw new Error('ReportWorkbook: cannot find the stream between the exceljs worksheet and the zip (exceljs/archiver internals changed)');
  }
  return { stream: stream as SheetStream, queue: queue as SheetQueue };
}

/**
 * Writes one .xlsx file, sheet after sheet, without holding the rows in memory.
 * Sheets are written one at a time: await each addSheet before the next, then close().
 */
export class ReportWorkbook {
  readonly #wb: ExcelJS.stream.xlsx.WorkbookWriter;
  readonly #sheetNames = new Set<string>();
  #failure: Error | undefined;
  /** Called once with the first file/zip error: a pending drain wait or close() rejects with it. */
  readonly #failureWaiters = new Set<(err: Error) => void>();
  #busy = false;
  #broken = false;
  #closing: Promise<void> | undefined;

  /** Records the first file/zip error and wakes whoever waits on the output. */
  readonly #fail = (err: Error) => {
    this.#failure ??= err;
    for (const waiter of this.#failureWaiters) waiter(this.#failure);
  };

  constructor(opts: WorkbookWriterOptions) {
    this.#wb = new ExcelJS.stream.xlsx.WorkbookWriter({
      filename: opts.path,
      useSharedStrings: false,
      useStyles: true,
    });
    if (opts.creator !== undefined) {
      this.#wb.creator = opts.creator;
      this.#wb.lastModifiedBy = opts.creator;
    }
    if (opts.title !== undefined) this.#wb.title = opts.title;

    // exceljs only listens for file/zip errors once commit() starts: an earlier one (missing
    // directory, disk full) is lost and commit() then waits forever for 'finish'. Recording it here
    // lets close() reject instead, and lets addSheet stop at its next yield.
    const internals = this.#wb as unknown as WriterInternals;
    if (typeof internals.styles?.addStyleModel !== 'function') {
      throw new Error('ReportWorkbook: cannot find the exceljs style registry (exceljs internals changed)');
    }
    internals.stream.on('error', this.#fail);
    internals.zip.on('error', this.#fail);
  }

  /**
   * Add a sheet and write its rows from an async iterable of plain objects (column key -> value).
   *
   * When `columns` is undefined (or empty) they are taken from the keys of the first row; an empty
   * iterable then gives an empty sheet with no header. Keys a row has beyond the columns are ignored.
   *
   * Rejects if the name is not a valid, unused Excel sheet name, if another sheet is still being
   * written, if the signal is aborted, or if the file cannot be written. After a rejection that
   * happened while rows were being written the file is incomplete: call close() and delete it.
   *
   * @returns the number of data rows written (the header not counted)
   */
  async addSheet(
    name: string,
    columns: SheetColumn[] | undefined,
    rows: AsyncIterable<Record<string, unknown>>,
    opts: AddSheetOptions = {},
  ): Promise<number> {
    if (this.#closing) throw new Error('ReportWorkbook: cannot add a sheet after close()');
    if (this.#busy) throw new Error('ReportWorkbook: another sheet is still being written; await addSheet before adding the next');
    if (this.#broken) throw new Error('ReportWorkbook: an earlier sheet failed part-way; the file is incomplete');
    validateSheetName(name, this.#sheetNames);
    if (columns?.length) validateColumns(columns);
    const { signal, onProgress } = opts;
    signal?.throwIfAborted();
    if (this.#failure) throw this.#failure;

    this.#busy = true;
    this.#sheetNames.add(name.toLowerCase());
    try {
      return await this.#writeSheet(name, columns?.length ? columns : undefined, rows, signal, onProgress);
    } catch (err) {
      this.#broken = true;
      throw err;
    } finally {
      this.#busy = false;
    }
  }

  async #writeSheet(
    name: string,
    given: SheetColumn[] | undefined,
    rows: AsyncIterable<Record<string, unknown>>,
    signal: AbortSignal | undefined,
    onProgress: ((rows: number) => void) | undefined,
  ): Promise<number> {
    let sheet: ExcelJS.Worksheet | undefined;
    let stream: SheetStream | undefined;
    let queue: SheetQueue | undefined;
    let encoder: RowEncoder | undefined;
    let count = 0;
    // Row XML not yet handed to the sheet stream: one write per batch, not per row.
    let pending = '';
    const sample: Record<string, unknown>[] = [];

    const flush = () => {
      if (!pending) return;
      // StreamBuf.write is an async function; it copies the text synchronously and only rejects on
      // a bug of its own, which must fail the workbook rather than go unhandled.
      stream!.write(pending).catch(this.#fail);
      pending = '';
    };

    const checkpoint = async () => {
      flush();
      await yieldLoop();
      signal?.throwIfAborted();
      if (this.#failure) throw this.#failure;
      if (queue!._writableState.length > MAX_BACKLOG) await this.#drain(queue!, signal);
      if (count % PROGRESS_EVERY === 0) onProgress?.(count);
    };

    const write = async (row: Record<string, unknown>) => {
      count++;
      // Row 1 is the header; exceljs has already written it (and <sheetData>) to the stream.
      pending += encoder!.row(row, count + 1);
      if (count % YIELD_EVERY === 0 || pending.length > MAX_PENDING) await checkpoint();
    };

    const start = async () => {
      const columns = given ?? (sample.length ? Object.keys(sample[0]).map((key) => ({ key })) : []);
      sheet = this.#startSheet(name, columns, sample);
      ({ stream, queue } = sheetInternals(sheet));
      encoder = new RowEncoder(columns, (this.#wb as unknown as WriterInternals).styles);
      for (const row of sample) await write(row);
      sample.length = 0;
    };

    for await (const row of rows) {
      if (sheet) {
        await write(row);
      } else {
        sample.push(row);
        if (sample.length === WIDTH_SAMPLE) await start();
      }
    }
    if (!sheet) await start();

    flush();
    signal?.throwIfAborted();
    if (this.#failure) throw this.#failure;
    sheet!.commit();
    onProgress?.(count);
    return count;
  }

  /** Create the worksheet with its columns, frozen styled header and autofilter; commits the header. */
  #startSheet(name: string, columns: SheetColumn[], sample: Record<string, unknown>[]): ExcelJS.Worksheet {
    const sheet = this.#wb.addWorksheet(name, {
      // Views are written when the worksheet is created, so they cannot be set afterwards.
      views: columns.length ? [{ state: 'frozen', xSplit: 0, ySplit: 1 }] : [],
    });
    if (!columns.length) return sheet;

    sheet.columns = columns.map((c) => {
      const header = c.header ?? c.key;
      return {
        key: c.key,
        header,
        width: c.width ?? fitWidth(c, header, sample),
        // Column style: exceljs copies it into each new cell, and Excel applies it to cells
        // typed in later; a per-cell format object would cost a style lookup per cell.
        style: c.numFmt ? { numFmt: c.numFmt } : {},
      };
    });

    const header = sheet.getRow(1);
    header.eachCell((cell) => {
      // Replaces the style copied from the column, so a numeric format never applies to header text.
      cell.style = {
        font: { bold: true, color: { argb: HEADER_FONT } },
        fill: { type: 'pattern', pattern: 'solid', fgColor: { argb: HEADER_FILL } },
        border: { bottom: { style: 'thin', color: { argb: 'FF000000' } } },
        alignment: { vertical: 'middle' },
      };
    });
    header.commit();
    sheet.autoFilter = `A1:${columnLetter(columns.length)}1`;
    return sheet;
  }

  /**
   * Wait until the zip has taken everything queued for it. Rejects with the signal's reason on
   * abort and with the file/zip error if the output fails (the pipeline then never drains).
   */
  #drain(queue: SheetQueue, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: unknown) => {
        queue.off('drain', onDrain);
        signal?.removeEventListener('abort', onAbort);
        this.#failureWaiters.delete(settle);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onDrain = () => settle();
      const onAbort = () => settle(signal!.reason);
      // 'drain' comes only after a write found the buffer past its high-water mark, which every
      // 64 KB chunk does; the check covers a queue that emptied while this promise was set up.
      if (!queue._writableState.needDrain) return resolve();
      queue.on('drain', onDrain);
      signal?.addEventListener('abort', onAbort);
      this.#failureWaiters.add(settle);
    });
  }

  /**
   * Finish the file: commit any sheet still open and write the workbook parts.
   * Safe to call after addSheet rejected (it then settles rather than waiting on a broken stream)
   * and idempotent: later calls return the first call's promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#failure) throw this.#failure;
    let onFailure!: (err: Error) => void;
    const failed = new Promise<never>((_, reject) => {
      onFailure = reject;
    });
    // Keeps a failure after commit has settled from surfacing as an unhandled rejection.
    failed.catch(() => {});
    this.#failureWaiters.add(onFailure);
    try {
      await Promise.race([this.#wb.commit(), failed]);
    } finally {
      this.#failureWaiters.delete(onFailure);
    }
  }
}

/**
 * Builds the `<row>` XML of data rows. exceljs would build a Row and Cell objects per cell, look up
 * each cell's style and render through its XML stream: ~45 µs a row at 10 columns, the whole cost of
 * the export. The cells here are the same as exceljs writes (same style ids from its registry, same
 * numbers and date serials) except that text is an inline string (`t="inlineStr"`, the form the
 * format defines for text without a shared-strings table) where exceljs writes a formula-result
 * string (`t="str"`).
 */
class RowEncoder {
  readonly #keys: string[];
  /** Per column: the cell reference prefix (`<c r="AB`) and the ` s="n"` attribute per value kind. */
  readonly #refs: string[];
  readonly #plain: string[];
  readonly #date: string[];

  constructor(columns: readonly SheetColumn[], styles: WriterInternals['styles']) {
    this.#keys = columns.map((c) => c.key);
    this.#refs = columns.map((_, i) => `<c r="${columnLetter(i + 1)}`);
    // The column's format applies to every cell in it, as exceljs copies the column style into
    // each cell; a fresh style object per call, as exceljs caches ids by object identity.
    const id = (c: SheetColumn, type: ExcelJS.ValueType) => {
      const n = styles.addStyleModel(c.numFmt ? { numFmt: c.numFmt } : {}, type);
      return n ? ` s="${n}"` : '';
    };
    // Numbers, text and booleans share one style: with no numFmt that is the default (0).
    this.#plain = columns.map((c) => id(c, ExcelJS.ValueType.Number));
    // Without a numFmt a date still needs a date format (exceljs's default, built-in 14) to show as one.
    this.#date = columns.map((c) => id(c, ExcelJS.ValueType.Date));
  }

  /** The row's XML, or '' when every cell is empty (exceljs leaves such rows out too). */
  row(row: Record<string, unknown>, r: number): string {
    const keys = this.#keys;
    let cells = '';
    for (let i = 0; i < keys.length; i++) {
      const v = row[keys[i]];
      if (v === null || v === undefined) continue;
      const ref = this.#refs[i] + r;
      switch (typeof v) {
        case 'number':
          cells += Number.isFinite(v) ? `${ref}"${this.#plain[i]}><v>${v}</v></c>` : this.#text(ref, i, String(v));
          break;
        case 'string':
          cells += this.#text(ref, i, v);
          break;
        case 'boolean':
          cells += `${ref}"${this.#plain[i]} t="b"><v>${v ? 1 : 0}</v></c>`;
          break;
        case 'bigint':
          cells += v >= MIN_SAFE && v <= MAX_SAFE ? `${ref}"${this.#plain[i]}><v>${v}</v></c>` : this.#text(ref, i, v.toString());
          break;
        default: {
          const t = v instanceof Date ? v.getTime() : NaN;
          // An invalid Date, like anything else Excel cannot hold, becomes its text.
          cells += Number.isNaN(t)
            ? this.#text(ref, i, String(v))
            : `${ref}"${this.#date[i]}><v>${EXCEL_EPOCH_SERIAL + t / MS_PER_DAY}</v></c>`;
        }
      }
    }
    return cells ? `<row r="${r}">${cells}</row>` : '';
  }

  #text(ref: string, i: number, text: string): string {
    // Empty text would be a cell with no value, which readers take for part of a merge.
    if (!text) return '';
    const xml = escapeText(text);
    // Without xml:space a reader may drop leading and trailing whitespace.
    const space = isSpace(xml.charCodeAt(0)) || isSpace(xml.charCodeAt(xml.length - 1)) ? ' xml:space="preserve"' : '';
    return `${ref}"${this.#plain[i]} t="inlineStr"><is><t${space}>${xml}</t></is></c>`;
  }
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;

// What needs escaping in cell text: XML's specials; characters XML 1.0 cannot carry at all (C0
// controls but tab, LF and CR; U+FFFE/U+FFFF), which Excel refuses the file for; and text that
// looks like Excel's own _xHHHH_ escape, which Excel would decode.
const NEEDS_ESCAPE = /[&<>\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|_x[0-9A-Fa-f]{4}_/;
const ESCAPES = /[&<>\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|_(?=x[0-9A-Fa-f]{4}_)/g;

/**
 * Cell text as XML character data: cut to Excel's 32,767 characters, the XML specials escaped.
 * Characters XML cannot carry are written as Excel's _xHHHH_ escape, which Excel turns back into
 * the character, and a literal `_x0041_` gets its underscore escaped (`_x005F_`) so Excel shows it
 * as typed. A lone surrogate needs nothing: UTF-8 encoding turns it into U+FFFD.
 */
function escapeText(text: string): string {
  if (text.length > MAX_CELL_TEXT) {
    // Truncating a report's long text is better than failing the report or a file Excel repairs;
    // a surrogate pair cut in half would leave a lone high surrogate.
    const end = isHighSurrogate(text.charCodeAt(MAX_CELL_TEXT - 1)) ? MAX_CELL_TEXT - 1 : MAX_CELL_TEXT;
    text = text.slice(0, end);
  }
  if (!NEEDS_ESCAPE.test(text)) return text;
  return text.replace(ESCAPES, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '_':
        return '_x005F_';
      default:
        return `_x${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}_`;
    }
  });
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

/** Excel's own rules: 1-31 characters, none of \ / ? * [ ] :, no leading/trailing apostrophe, unique ignoring case. */
function validateSheetName(name: string, used: ReadonlySet<string>): void {
  const shown = JSON.stringify(name);
  if (typeof name !== 'string' || name.length === 0) throw new Error('Invalid sheet name: it must not be empty');
  if (name.length > MAX_SHEET_NAME) {
    throw new Error(`Invalid sheet name ${shown}: ${name.length} characters, Excel allows at most ${MAX_SHEET_NAME}`);
  }
  if (FORBIDDEN_SHEET_CHARS.test(name)) {
    throw new Error(`Invalid sheet name ${shown}: it must not contain any of \\ / ? * [ ] :`);
  }
  if (name.startsWith("'") || name.endsWith("'")) {
    throw new Error(`Invalid sheet name ${shown}: it must not begin or end with an apostrophe`);
  }
  // Excel compares sheet names case-insensitively and refuses to open a file with two "Data"s.
  if (used.has(name.toLowerCase())) throw new Error(`Duplicate sheet name ${shown}`);
}

function validateColumns(columns: readonly SheetColumn[]): void {
  const seen = new Set<string>();
  for (const c of columns) {
    // A repeated key would leave one of the two columns silently empty.
    if (seen.has(c.key)) throw new Error(`Duplicate column key ${JSON.stringify(c.key)}`);
    seen.add(c.key);
  }
}

/**
 * The value as the cell will hold it (RowEncoder applies the same rules while writing). Anything
 * Excel cannot hold as a number (NaN, Infinity, an invalid Date) falls through to text.
 */
function toCellValue(v: unknown): ExcelJS.CellValue | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? String(v) : v;
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  return String(v);
}

/** Characters the value takes on screen, roughly; only the longest line of multi-line text counts. */
function displayLength(v: unknown, numFmt: string | undefined): number {
  const cell = toCellValue(v);
  if (cell === undefined) return 0;
  if (cell instanceof Date) return numFmt ? numFmt.replace(/[\\"]/g, '').length : 10;
  if (typeof cell === 'boolean') return 5;
  if (typeof cell === 'number') {
    // Excel's General format shows at most 11 characters (it rounds or switches to 1.2E+15),
    // so float noise like 0.30000000000000004 must not widen the column.
    if (!numFmt) return Math.min(String(cell).length, 11);
    const digits = String(Math.trunc(Math.abs(cell))).length;
    // Room for thousands separators, a sign and a couple of decimals, as most formats add them.
    return digits + Math.floor((digits - 1) / 3) + 4;
  }
  const text = String(cell);
  if (text.length <= MAX_WIDTH || !text.includes('\n')) return text.length;
  let longest = 0;
  for (const line of text.split('\n')) longest = Math.max(longest, line.length);
  return longest;
}

function fitWidth(column: SheetColumn, header: string, sample: readonly Record<string, unknown>[]): number {
  let width = header.length + HEADER_PADDING;
  for (const row of sample) {
    width = Math.max(width, displayLength(row[column.key], column.numFmt) + CELL_PADDING);
    if (width >= MAX_WIDTH) break;
  }
  return Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, width));
}

/** 1 -> A, 26 -> Z, 27 -> AA. */
function columnLetter(n: number): string {
  let s = '';
  for (; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}
