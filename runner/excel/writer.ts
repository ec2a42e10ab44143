/**
 * Streaming .xlsx writer for report output. Rows go straight from the connector's async iterable
 * to disk through exceljs's streaming WorkbookWriter, so a sheet of any length never sits in memory:
 * only the first WIDTH_SAMPLE rows are held, because column widths must be known before the first
 * row is committed.
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
  /** Called with the running row count every YIELD_EVERY rows and once with the total at the end. */
  onProgress?: (rows: number) => void;
}

const YIELD_EVERY = 500;
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

/** The parts of exceljs's WorkbookWriter its typings leave out: the output file and the zip. */
interface WriterInternals {
  stream: EventEmitter;
  zip: EventEmitter;
}

/**
 * Writes one .xlsx file, sheet after sheet, without holding the rows in memory.
 * Sheets are written one at a time: await each addSheet before the next, then close().
 */
export class ReportWorkbook {
  readonly #wb: ExcelJS.stream.xlsx.WorkbookWriter;
  readonly #sheetNames = new Set<string>();
  #failure: Error | undefined;
  #onFailure: ((err: Error) => void) | undefined;
  #busy = false;
  #broken = false;
  #closing: Promise<void> | undefined;

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
    const fail = (err: Error) => {
      this.#failure ??= err;
      this.#onFailure?.(this.#failure);
    };
    internals.stream.on('error', fail);
    internals.zip.on('error', fail);
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
    let keys: string[] = [];
    let count = 0;
    const sample: Record<string, unknown>[] = [];

    const checkpoint = async () => {
      await yieldLoop();
      signal?.throwIfAborted();
      if (this.#failure) throw this.#failure;
      onProgress?.(count);
    };

    const write = async (row: Record<string, unknown>) => {
      // A dense array, every index assigned (undefined included): exceljs treats an array
      // without an own index 0 as 1-based, which would shift the whole row one column right.
      const values = new Array<unknown>(keys.length);
      for (let i = 0; i < keys.length; i++) values[i] = toCellValue(row[keys[i]]);
      sheet!.addRow(values).commit();
      count++;
      if (count % YIELD_EVERY === 0) await checkpoint();
    };

    const start = async () => {
      const columns = given ?? (sample.length ? Object.keys(sample[0]).map((key) => ({ key })) : []);
      keys = columns.map((c) => c.key);
      sheet = this.#startSheet(name, columns, sample);
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
    const failed = new Promise<never>((_, reject) => {
      this.#onFailure = reject;
    });
    // Keeps a failure after commit has settled from surfacing as an unhandled rejection.
    failed.catch(() => {});
    try {
      await Promise.race([this.#wb.commit(), failed]);
    } finally {
      this.#onFailure = undefined;
    }
  }
}

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
 * The value as exceljs should store it. Anything Excel cannot hold as a number (NaN, Infinity,
 * an invalid Date) falls through to text: exceljs would write it verbatim and corrupt the file.
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
