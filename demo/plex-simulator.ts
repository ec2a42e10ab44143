/**
 * A Plex simulator: a real SOAP 1.1 server (node:http + `soap.listen`) speaking the classic Plex
 * Data Source API (plex.md §1.1) over a demo SQLite database shaped like the Plex ODBC views
 * (plex.md §4.1). The runner's `plex` connector talks to it exactly as it would to
 * https://api.plexonline.com/DataSource/Service.asmx.
 *
 * Wire behaviour copied from Plex: document/literal, namespace http://www.plexus-online.com/DataSource,
 * `DataSourceKey` a string in the request and an int in the result, input names carrying `@`, every
 * value a string, NULL as `<Value />`, `Value` before `Name`, `RowCount` set, success as
 * StatusNo=0 / Error=false / ErrorNo=0 / Message=Success, failures as Error=true with a Message
 * (never a SOAP fault), HTTP Basic authentication per web-service user (HTTP 401 with a SOAP fault
 * when it fails), and each user granted a set of PCNs. The path is matched case-insensitively, as
 * IIS does. `?WSDL` is served without credentials.
 *
 * Data sources (DATA_SOURCES below):
 * - 4814 Account_Activity_Summary_xPCN_Get (@PCNs, @Period_Start, @Period_End), computed LIVE from
 *   accounting_v_gl_journal_e ⋈ accounting_v_gl_journal_dist_e, so open periods are included (the
 *   per-account, per-period line totals are kept between calls until another connection commits).
 *   One row per account of each requested PCN that exists by @Period_End (add_period ≤ @Period_End,
 *   zero rows included) or has journal lines, ordered by PCN then Account_No. Amounts are debit-positive:
 *   - Debit / Credit: the sums of journal-line debits / credits with Period_Start ≤ period ≤ Period_End.
 *   - Beginning_Balance: the signed balance (debit − credit) before Period_Start, by Plex's implicit
 *     year-end close (plex.md §3.2, §4.3 invariants 3–5):
 *       · balance-sheet accounts (Asset, Liability, Equity): every line with period < Period_Start,
 *         from inception;
 *       · P&L accounts (Revenue, Expense): only lines of Period_Start's fiscal year with
 *         period < Period_Start (YTD, so 0 when Period_Start is the first fiscal period);
 *       · the PCN's retained-earnings account (plexus_customer.retained_earnings_account_no) also
 *         receives all P&L of earlier fiscal years.
 *     The fiscal year comes from accounting_v_period_e (period / 100 when the period is missing).
 *   - Ending_Balance = Beginning_Balance + Debit − Credit. For a range that crosses a fiscal year end,
 *     P&L is not reset inside the range (call one period, or one fiscal year, at a time as the
 *     original pipeline did); the sum of Ending_Balance over a PCN is 0 either way.
 *   - Abbreviated_Name: the account's `abbreviated_name` column when the table has one, otherwise the
 *     first 30 characters of the account name.
 *   - @PCNs empty or absent: every PCN the web-service user is granted.
 * - Simulator-only keys (≥ 900000, so never mistaken for real Plex keys), standing in for what the
 *   original pipeline read over ODBC: 900001 Accounting_Accounts_Get (@PCN), 900002
 *   Accounting_Periods_Get (@PCN), 900003 Account_Balances_Get (@PCN, @Period_Start, @Period_End;
 *   the posted closed-period rows of accounting_v_balance_e).
 *
 * Money is read from integer-cent columns (`debit_cents`/`credit_cents`) when the table has them,
 * otherwise from the decimal columns rounded to cents, summed as 64-bit integers and printed with two
 * decimals ("1234.50", "-12.00"). Dates print as Plex's US-locale strings ("1/31/2025 12:00:00 AM"),
 * booleans as "True"/"False" (.NET's ToString).
 *
 * Read row limit: with `readRowLimit`, a larger result is cut to that many rows, `Message` says so and
 * the output parameter `@Row_Limit_Exceeded` is "True" (the JSON API's `rowLimitedExceeded`).
 * `delayMs` holds every SOAP response (not the WSDL, not a 401) that long, for timeout tests.
 *
 * GetDataSourceRequestTemplate(dataSourceKey) returns the key's inputs as an ExecuteDataSourceRequest
 * and its result columns as one template row whose Columns carry the names with empty Values.
 */
import { formatCents } from './generator.ts';
import Database from 'better-sqlite3';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import * as soap from 'soap';

/** The XML namespace of the Plex Data Source web service. */
export const PLEX_NAMESPACE = 'http://www.plexus-online.com/DataSource';

const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const XSD = 'http://www.w3.org/2001/XMLSchema';

/** Where the service lives on the simulator, as on api.plexonline.com. */
export const PLEX_SERVICE_PATH = '/DataSource/Service.asmx';

/** A Plex web-service account and the PCNs it may read. */
export interface PlexSimulatorUser {
  password: string;
  pcns: number[];
}

/** The demo web-service users: one per PCN, as the original pipeline had, and one for both. */
export const DEFAULT_PLEX_USERS: Readonly<Record<string, PlexSimulatorUser>> = {
  DemoWS_900101: { password: 'demo-900101-pw', pcns: [900101] },
  DemoWS_900202: { password: 'demo-900202-pw', pcns: [900202] },
  DemoWS_All: { password: 'demo-all-pw', pcns: [900101, 900202] },
};

export interface PlexSimulatorOptions {
  /** The demo SQLite database (plex.md §4.1 tables); opened read-only, must exist. */
  dbPath: string;
  /** TCP port on 127.0.0.1; 0 or absent picks a free one. */
  port?: number;
  /** Web-service users; DEFAULT_PLEX_USERS when absent. */
  users?: Record<string, PlexSimulatorUser>;
  /** Plex's "Read Row Limit": results are cut to this many rows (unlimited when absent). */
  readRowLimit?: number;
  /** Hold every SOAP response this long (ms). */
  delayMs?: number;
}

export interface PlexSimulator {
  /** The SOAP endpoint, `http://127.0.0.1:PORT/DataSource/Service.asmx`. */
  url: string;
  /** `url` + `?WSDL`. */
  wsdlUrl: string;
  /** Stop listening, drop open connections and pending delayed replies, close the database. */
  close(): Promise<void>;
}

/** A data source input as GetDataSourceRequestTemplate describes it (name with its `@`). */
export interface PlexInputDefinition {
  name: string;
  required: boolean;
}

type Value = string | null;
type Db = Database.Database;

interface RunContext {
  db: Db;
  user: string;
  granted: readonly number[];
  schema: SchemaInfo;
  /** Per simulator: what outlives one request. */
  cache: { version?: number; fingerprint?: string; totals?: LineTotals };
}

interface DataSource {
  key: number;
  name: string;
  inputs: PlexInputDefinition[];
  columns: string[];
  /** Rows in `columns` order. Inputs are keyed by their name without `@`; missing ones are ''. */
  run(ctx: RunContext, inputs: Record<string, string>): Value[][];
}

/** Error=true with a Plex-like message and number; never a SOAP fault. */
class PlexDataSourceError extends Error {
  readonly errorNo: number;
  constructor(errorNo: number, message: string) {
    super(message);
    this.name = 'PlexDataSourceError';
    this.errorNo = errorNo;
  }
}

/** The simulator's error numbers (Plex's own are not public). */
const ERR = {
  notFound: 1001,
  requiredInput: 1002,
  unknownInput: 1003,
  invalidInput: 1004,
  accessDenied: 1005,
  execution: 1099,
} as const;

/** Which optional columns the demo database has; decided once per simulator. */
interface SchemaInfo {
  lineCents: boolean;
  balanceCents: boolean;
  abbreviatedName: boolean;
}

function columnsOf(db: Db, table: string): Set<string> {
  return new Set((db.prepare(`select name from pragma_table_info(?)`).all(table) as { name: string }[]).map((r) => r.name.toLowerCase()));
}

function readSchema(db: Db): SchemaInfo {
  return {
    lineCents: columnsOf(db, 'accounting_v_gl_journal_dist_e').has('debit_cents'),
    balanceCents: columnsOf(db, 'accounting_v_balance_e').has('debit_cents'),
    abbreviatedName: columnsOf(db, 'accounting_v_account_e').has('abbreviated_name'),
  };
}


/** SQLite date text ('YYYY-MM-DD', 'YYYY-MM-DD HH:MM:SS', ISO with T/fraction/Z) → "M/D/YYYY h:mm:ss AM". */
function usDate(v: unknown): Value {
  if (v === null || v === undefined) return null;
  const text = String(v);
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?/.exec(text);
  if (!m) return text;
  const [, y, mo, d, hh = '00', mi = '00', ss = '00'] = m;
  const h = Number(hh);
  return `${Number(mo)}/${Number(d)}/${y} ${h % 12 === 0 ? 12 : h % 12}:${mi}:${ss} ${h < 12 ? 'AM' : 'PM'}`;
}

function str(v: unknown): Value {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : String(v);
}

function bool(v: unknown): Value {
  if (v === null || v === undefined) return null;
  return Number(v) ? 'True' : 'False';
}

/** The 64-bit cents of a money column: the integer column when present, else the decimal rounded. */
function centsExpr(alias: string, column: 'debit' | 'credit', hasCents: boolean): string {
  return hasCents ? `${alias}.${column}_cents` : `cast(round(${alias}.${column} * 100) as integer)`;
}

function parsePeriod(name: string, text: string): number {
  const m = /^\s*(\d{4})(0[1-9]|1[0-3])\s*$/.exec(text);
  if (!m) throw new PlexDataSourceError(ERR.invalidInput, `Input parameter @${name} value '${text}' is not a valid period (YYYYMM).`);
  return Number(text.trim());
}

function parsePeriodRange(inputs: Record<string, string>): { start: number; end: number } {
  const start = parsePeriod('Period_Start', inputs.Period_Start);
  const end = parsePeriod('Period_End', inputs.Period_End);
  if (start > end) throw new PlexDataSourceError(ERR.invalidInput, `@Period_Start ${start} is after @Period_End ${end}.`);
  return { start, end };
}

function parsePcn(name: string, text: string): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new PlexDataSourceError(ERR.invalidInput, `Input parameter @${name} value '${text}' is not a valid PCN.`);
  return Number(text.trim());
}

function checkGranted(ctx: RunContext, pcns: readonly number[]): void {
  const denied = pcns.filter((p) => !ctx.granted.includes(p));
  if (denied.length) {
    throw new PlexDataSourceError(ERR.accessDenied, `Access denied: web service user ${ctx.user} is not authorized for PCN ${denied.join(', ')}.`);
  }
}

const P_AND_L = new Set(['revenue', 'expense']);

/** Debit and credit cents of one account in one period. */
interface PeriodTotal { period: number; debit: bigint; credit: bigint }

/** Journal-line totals by PCN, account and period: what every 4814 call is computed from. */
type LineTotals = Map<number, Map<string, PeriodTotal[]>>;

/**
 * Summing a million journal lines takes seconds, so the totals are kept until the ledger changes.
 * `PRAGMA data_version` moves whenever another connection commits (this one only reads); then a
 * cheap fingerprint of the journal tables (row counts, highest journal link per PCN) tells whether
 * the ledger itself changed or only other tables did (the demo's warehouse shares this file and
 * writes its staging tables between calls). A journal posted while the simulator runs still shows
 * up in the next call: live. An amount edited in place is not detected; Plex posts new journals.
 */
function lineTotals(ctx: RunContext): LineTotals {
  const version = Number(ctx.db.pragma('data_version', { simple: true }));
  if (ctx.cache.totals && ctx.cache.version === version) return ctx.cache.totals;
  const fingerprint = JSON.stringify([
    ctx.db.prepare('select count(*) from accounting_v_gl_journal_dist_e').pluck().get(),
    ctx.db.prepare('select plexus_customer_no, max(journal_link) from accounting_v_gl_journal_e group by plexus_customer_no').raw().all(),
  ]);
  if (ctx.cache.totals && ctx.cache.fingerprint === fingerprint) {
    ctx.cache.version = version;
    return ctx.cache.totals;
  }
  const totals: LineTotals = new Map();
  const rows = ctx.db.prepare(`
    select j.plexus_customer_no, d.account_no, j.period,
           sum(${centsExpr('d', 'debit', ctx.schema.lineCents)}), sum(${centsExpr('d', 'credit', ctx.schema.lineCents)})
    from accounting_v_gl_journal_dist_e d
    join accounting_v_gl_journal_e j on j.plexus_customer_no = d.plexus_customer_no and j.journal_link = d.journal_link
    group by 1, 2, 3`).safeIntegers(true).raw().iterate() as Iterable<[bigint, string, bigint, bigint | null, bigint | null]>;
  for (const [pcn, account, period, debit, credit] of rows) {
    let accounts = totals.get(Number(pcn));
    if (!accounts) totals.set(Number(pcn), (accounts = new Map()));
    let periods = accounts.get(account);
    if (!periods) accounts.set(account, (periods = []));
    periods.push({ period: Number(period), debit: debit ?? 0n, credit: credit ?? 0n });
  }
  ctx.cache.totals = totals;
  ctx.cache.version = version;
  ctx.cache.fingerprint = fingerprint;
  return totals;
}

interface AccountRow {
  pcn: number;
  account_no: string;
  account_name: string;
  abbreviated_name: string | null;
  category_type: string | null;
  base_no: unknown;
  cost_center_no: unknown;
  location_no: unknown;
  add_period: number | null;
  pcn_name: string;
  currency_code: string;
  re_account_no: string | null;
}

function accountActivitySummary(ctx: RunContext, inputs: Record<string, string>): Value[][] {
  const { start, end } = parsePeriodRange(inputs);
  const listed = inputs.PCNs.split(',').map((s) => s.trim()).filter(Boolean);
  const pcns = listed.length ? [...new Set(listed.map((p) => parsePcn('PCNs', p)))] : [...ctx.granted];
  checkGranted(ctx, pcns);
  const abbreviated = ctx.schema.abbreviatedName ? 'a.abbreviated_name' : 'substr(a.account_name, 1, 30)';
  const accounts = ctx.db.prepare(`
    select a.plexus_customer_no as pcn, a.account_no, a.account_name, ${abbreviated} as abbreviated_name,
           a.category_type, a.base_no, a.cost_center_no, a.location_no, a.add_period,
           c.name as pcn_name, c.currency_code, c.retained_earnings_account_no as re_account_no
    from accounting_v_account_e a
    join plexus_customer c on c.plexus_customer_no = a.plexus_customer_no
    where a.plexus_customer_no in (select value from json_each(?))
    order by a.plexus_customer_no, a.account_no`).all(JSON.stringify(pcns)) as AccountRow[];
  const fiscalYears = new Map<string, number>();
  for (const p of ctx.db.prepare(`select plexus_customer_no as pcn, period, fiscal_year from accounting_v_period_e
      where plexus_customer_no in (select value from json_each(?))`).all(JSON.stringify(pcns)) as { pcn: number; period: number; fiscal_year: number | null }[]) {
    if (p.fiscal_year !== null) fiscalYears.set(`${p.pcn}/${p.period}`, p.fiscal_year);
  }
  const fiscalYear = (pcn: number, period: number) => fiscalYears.get(`${pcn}/${period}`) ?? Math.floor(period / 100);
  const totals = lineTotals(ctx);

  const figures = accounts.map((a) => {
    const startFy = fiscalYear(a.pcn, start);
    let beforeAll = 0n, beforePriorFy = 0n, debit = 0n, credit = 0n, active = false;
    for (const t of totals.get(a.pcn)?.get(a.account_no) ?? []) {
      if (t.period > end) continue;
      active = true;
      if (t.period < start) {
        beforeAll += t.debit - t.credit;
        if (fiscalYear(a.pcn, t.period) < startFy) beforePriorFy += t.debit - t.credit;
      } else {
        debit += t.debit;
        credit += t.credit;
      }
    }
    const pnl = P_AND_L.has((a.category_type ?? '').toLowerCase());
    return { a, pnl, beforeAll, beforePriorFy, debit, credit, listed: active || a.add_period === null || a.add_period <= end };
  });
  // Plex closes the year implicitly: earlier fiscal years' P&L lands in retained earnings.
  const priorPnl = new Map<number, bigint>();
  for (const f of figures) if (f.pnl) priorPnl.set(f.a.pcn, (priorPnl.get(f.a.pcn) ?? 0n) + f.beforePriorFy);

  return figures.filter((f) => f.listed).map(({ a, pnl, beforeAll, beforePriorFy, debit, credit }) => {
    let beginning = pnl ? beforeAll - beforePriorFy : beforeAll;
    if (a.re_account_no !== null && a.account_no === a.re_account_no) beginning += priorPnl.get(a.pcn) ?? 0n;
    return [
      str(a.base_no), a.account_no, str(a.abbreviated_name), a.account_name,
      formatCents(beginning), formatCents(debit), formatCents(credit), formatCents(beginning + debit - credit),
      a.pcn_name, a.currency_code, str(a.cost_center_no), str(a.location_no),
    ];
  });
}

function accountsGet(ctx: RunContext, inputs: Record<string, string>): Value[][] {
  const pcn = parsePcn('PCN', inputs.PCN);
  checkGranted(ctx, [pcn]);
  const rows = ctx.db.prepare(`
    select plexus_customer_no, account_key, account_no, account_name, active, category_type, category_no,
           category_name, sub_category_no, sub_category_name, base_no, cost_center_no, location_no, add_period
    from accounting_v_account_e where plexus_customer_no = ? order by account_no`).safeIntegers(true).all(pcn) as Record<string, unknown>[];
  return rows.map((r) => [
    str(r.plexus_customer_no), str(r.account_key), str(r.account_no), str(r.account_name), bool(r.active),
    str(r.category_type), str(r.category_no), str(r.category_name), str(r.sub_category_no), str(r.sub_category_name),
    str(r.base_no), str(r.cost_center_no), str(r.location_no), str(r.add_period),
  ]);
}

function periodsGet(ctx: RunContext, inputs: Record<string, string>): Value[][] {
  const pcn = parsePcn('PCN', inputs.PCN);
  checkGranted(ctx, [pcn]);
  const rows = ctx.db.prepare(`
    select plexus_customer_no, period_key, period, period_display, fiscal_year, fiscal_order, quarter_group,
           begin_date, end_date, period_status, add_date, updated_date
    from accounting_v_period_e where plexus_customer_no = ? order by period`).safeIntegers(true).all(pcn) as Record<string, unknown>[];
  return rows.map((r) => [
    str(r.plexus_customer_no), str(r.period_key), str(r.period), str(r.period_display), str(r.fiscal_year),
    str(r.fiscal_order), str(r.quarter_group), usDate(r.begin_date), usDate(r.end_date), str(r.period_status),
    usDate(r.add_date), usDate(r.updated_date),
  ]);
}

function balancesGet(ctx: RunContext, inputs: Record<string, string>): Value[][] {
  const pcn = parsePcn('PCN', inputs.PCN);
  const { start, end } = parsePeriodRange(inputs);
  checkGranted(ctx, [pcn]);
  const rows = ctx.db.prepare(`
    select b.plexus_customer_no, b.account_key, b.account_no, b.period,
           ${centsExpr('b', 'debit', ctx.schema.balanceCents)} as debit, ${centsExpr('b', 'credit', ctx.schema.balanceCents)} as credit,
           b.add_date, b.update_date
    from accounting_v_balance_e b
    where b.plexus_customer_no = ? and b.period between ? and ?
    order by b.period, b.account_no`).safeIntegers(true).all(pcn, start, end) as Record<string, unknown>[];
  return rows.map((r) => [
    str(r.plexus_customer_no), str(r.account_key), str(r.account_no), str(r.period),
    formatCents(r.debit as bigint), formatCents(r.credit as bigint), usDate(r.add_date), usDate(r.update_date),
  ]);
}

const DATA_SOURCES: readonly DataSource[] = [
  {
    key: 4814,
    name: 'Account_Activity_Summary_xPCN_Get',
    inputs: [{ name: '@PCNs', required: false }, { name: '@Period_Start', required: true }, { name: '@Period_End', required: true }],
    columns: ['Base_No', 'Account_No', 'Abbreviated_Name', 'Account_Name', 'Beginning_Balance', 'Debit', 'Credit',
      'Ending_Balance', 'PCN_Name', 'Report_Currency', 'Cost_Center_No', 'Location_No'],
    run: accountActivitySummary,
  },
  {
    key: 900001,
    name: 'Accounting_Accounts_Get',
    inputs: [{ name: '@PCN', required: true }],
    columns: ['PCN', 'Account_Key', 'Account_No', 'Account_Name', 'Active', 'Category_Type', 'Category_No',
      'Category_Name', 'Sub_Category_No', 'Sub_Category_Name', 'Base_No', 'Cost_Center_No', 'Location_No', 'Add_Period'],
    run: accountsGet,
  },
  {
    key: 900002,
    name: 'Accounting_Periods_Get',
    inputs: [{ name: '@PCN', required: true }],
    columns: ['PCN', 'Period_Key', 'Period', 'Period_Display', 'Fiscal_Year', 'Fiscal_Order', 'Quarter_Group',
      'Begin_Date', 'End_Date', 'Period_Status', 'Add_Date', 'Updated_Date'],
    run: periodsGet,
  },
  {
    key: 900003,
    name: 'Account_Balances_Get',
    inputs: [{ name: '@PCN', required: true }, { name: '@Period_Start', required: true }, { name: '@Period_End', required: true }],
    columns: ['PCN', 'Account_Key', 'Account_No', 'Period', 'Debit', 'Credit', 'Add_Date', 'Update_Date'],
    run: balancesGet,
  },
];

/** The keys, names, inputs and columns the simulator serves (for docs and catalogs). */
export function plexSimulatorDataSources(): { key: number; name: string; inputs: PlexInputDefinition[]; columns: string[] }[] {
  return DATA_SOURCES.map(({ key, name, inputs, columns }) => ({ key, name, inputs: inputs.map((i) => ({ ...i })), columns: [...columns] }));
}

function findDataSource(keyText: unknown): DataSource {
  const text = String(keyText ?? '').trim();
  const ds = /^\d+$/.test(text) ? DATA_SOURCES.find((d) => d.key === Number(text)) : undefined;
  if (!ds) throw new PlexDataSourceError(ERR.notFound, `Data source key '${text}' was not found or is not available to this web service user.`);
  return ds;
}

/** The parsed request's repeated element: one element parses as an object, several as an array. */
function many<T>(v: T | T[] | undefined | null): T[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

/** An element's text as the soap parser hands it over ('' for `<Value/>`). */
function text(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return '$value' in v ? String((v as { $value: unknown }).$value ?? '') : '';
  return String(v);
}

function bindInputs(ds: DataSource, given: unknown): Record<string, string> {
  const values: Record<string, string> = {};
  for (const p of many((given as { InputParameter?: unknown } | undefined)?.InputParameter)) {
    const raw = text((p as { Name?: unknown }).Name).trim();
    const name = raw.startsWith('@') ? raw : `@${raw}`;
    const def = ds.inputs.find((i) => i.name.toLowerCase() === name.toLowerCase());
    if (!def) throw new PlexDataSourceError(ERR.unknownInput, `Input parameter ${name} is not defined for data source ${ds.key} (${ds.name}).`);
    values[def.name.slice(1)] = text((p as { Value?: unknown }).Value);
  }
  for (const def of ds.inputs) {
    const key = def.name.slice(1);
    values[key] ??= '';
    if (def.required && values[key].trim() === '') {
      throw new PlexDataSourceError(ERR.requiredInput, `Required input parameter ${def.name} was not supplied for data source ${ds.key} (${ds.name}).`);
    }
  }
  return values;
}

const NIL_DEPLOYMENT = { QuarantinedForDevelopment: null, LastPrimaryDeployment: null, LastTestDeployment: null, Version: null };

function resultSet(columns: readonly string[], rows: readonly Value[][]) {
  return {
    ResultSet: [{
      RowCount: rows.length,
      Rows: { Row: rows.map((r) => ({ Columns: { Column: columns.map((name, i) => ({ Value: r[i] ?? '', Name: name })) } })) },
    }],
  };
}

function wsdlFor(location: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions xmlns:s="http://www.w3.org/2001/XMLSchema" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:tns="${PLEX_NAMESPACE}" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" targetNamespace="${PLEX_NAMESPACE}">
  <wsdl:types>
    <s:schema elementFormDefault="qualified" targetNamespace="${PLEX_NAMESPACE}">
      <s:element name="ExecuteDataSource">
        <s:complexType><s:sequence>
          <s:element minOccurs="0" maxOccurs="1" name="ExecuteDataSourceRequest" type="tns:ExecuteDataSourceRequest"/>
        </s:sequence></s:complexType>
      </s:element>
      <s:complexType name="ExecuteDataSourceRequest"><s:sequence>
        <s:element minOccurs="0" maxOccurs="1" name="DataSourceKey" type="s:string"/>
        <s:element minOccurs="0" maxOccurs="1" name="InputParameters" type="tns:ArrayOfInputParameter"/>
        <s:element minOccurs="0" maxOccurs="1" name="DataSourceName" type="s:string"/>
        <s:element minOccurs="0" maxOccurs="1" name="DataBase" type="s:string"/>
      </s:sequence></s:complexType>
      <s:complexType name="ArrayOfInputParameter"><s:sequence>
        <s:element minOccurs="0" maxOccurs="unbounded" name="InputParameter" nillable="true" type="tns:InputParameter"/>
      </s:sequence></s:complexType>
      <s:complexType name="InputParameter"><s:complexContent mixed="false"><s:extension base="tns:Parameter"><s:sequence>
        <s:element minOccurs="1" maxOccurs="1" name="Required" type="s:boolean"/>
        <s:element minOccurs="1" maxOccurs="1" name="Output" type="s:boolean"/>
        <s:element minOccurs="0" maxOccurs="1" name="DefaultValue" type="s:string"/>
        <s:element minOccurs="0" maxOccurs="1" name="Message" type="s:string"/>
      </s:sequence></s:extension></s:complexContent></s:complexType>
      <s:complexType name="Parameter"><s:sequence>
        <s:element minOccurs="0" maxOccurs="1" name="Value" type="s:string"/>
        <s:element minOccurs="0" maxOccurs="1" name="Name" type="s:string"/>
      </s:sequence></s:complexType>
      <s:complexType name="OutputParameter"><s:complexContent mixed="false"><s:extension base="tns:Parameter"/></s:complexContent></s:complexType>
      <s:element name="ExecuteDataSourceResponse">
        <s:complexType><s:sequence>
          <s:element minOccurs="1" maxOccurs="1" name="ExecuteDataSourceResult" nillable="true" type="tns:ExecuteDataSourceResult"/>
        </s:sequence></s:complexType>
      </s:element>
      <s:complexType name="BaseResult" abstract="true"><s:sequence>
        <s:element minOccurs="1" maxOccurs="1" name="StatusNo" type="s:int"/>
        <s:element minOccurs="1" maxOccurs="1" name="Error" type="s:boolean"/>
        <s:element minOccurs="1" maxOccurs="1" name="ErrorNo" type="s:int"/>
        <s:element minOccurs="0" maxOccurs="1" name="Message" type="s:string"/>
        <s:element minOccurs="0" maxOccurs="1" name="InstanceNo" type="s:string"/>
      </s:sequence></s:complexType>
      <s:complexType name="ExecuteDataSourceResult"><s:complexContent mixed="false"><s:extension base="tns:BaseResult"><s:sequence>
        <s:element minOccurs="1" maxOccurs="1" name="DataSourceKey" type="s:int"/>
        <s:element minOccurs="1" maxOccurs="1" name="QuarantinedForDevelopment" nillable="true" type="s:boolean"/>
        <s:element minOccurs="1" maxOccurs="1" name="LastPrimaryDeployment" nillable="true" type="s:dateTime"/>
        <s:element minOccurs="1" maxOccurs="1" name="LastTestDeployment" nillable="true" type="s:dateTime"/>
        <s:element minOccurs="1" maxOccurs="1" name="Version" nillable="true" type="s:int"/>
        <s:element minOccurs="0" maxOccurs="1" name="DataSourceName" type="s:string"/>
        <s:element minOccurs="0" maxOccurs="1" name="ResultSets" type="tns:ArrayOfResultSet"/>
        <s:element minOccurs="0" maxOccurs="1" name="OutputParameters" type="tns:ArrayOfOutputParameter"/>
      </s:sequence></s:extension></s:complexContent></s:complexType>
      <s:complexType name="ArrayOfResultSet"><s:sequence>
        <s:element minOccurs="0" maxOccurs="unbounded" name="ResultSet" nillable="true" type="tns:ResultSet"/>
      </s:sequence></s:complexType>
      <s:complexType name="ResultSet"><s:sequence>
        <s:element minOccurs="1" maxOccurs="1" name="RowCount" type="s:int"/>
        <s:element minOccurs="0" maxOccurs="1" name="Rows" type="tns:ArrayOfRow"/>
      </s:sequence></s:complexType>
      <s:complexType name="ArrayOfRow"><s:sequence>
        <s:element minOccurs="0" maxOccurs="unbounded" name="Row" nillable="true" type="tns:Row"/>
      </s:sequence></s:complexType>
      <s:complexType name="Row"><s:sequence>
        <s:element minOccurs="0" maxOccurs="1" name="Columns" type="tns:ArrayOfColumn"/>
      </s:sequence></s:complexType>
      <s:complexType name="ArrayOfColumn"><s:sequence>
        <s:element minOccurs="0" maxOccurs="unbounded" name="Column" nillable="true" type="tns:Column"/>
      </s:sequence></s:complexType>
      <s:complexType name="Column"><s:sequence>
        <s:element minOccurs="0" maxOccurs="1" name="Value" type="s:string"/>
        <s:element minOccurs="0" maxOccurs="1" name="Name" type="s:string"/>
      </s:sequence></s:complexType>
      <s:complexType name="ArrayOfOutputParameter"><s:sequence>
        <s:element minOccurs="0" maxOccurs="unbounded" name="OutputParameter" nillable="true" type="tns:OutputParameter"/>
      </s:sequence></s:complexType>
      <s:element name="GetDataSourceRequestTemplate">
        <s:complexType><s:sequence>
          <s:element minOccurs="1" maxOccurs="1" name="dataSourceKey" type="s:int"/>
        </s:sequence></s:complexType>
      </s:element>
      <s:element name="GetDataSourceRequestTemplateResponse">
        <s:complexType><s:sequence>
          <s:element minOccurs="1" maxOccurs="1" name="GetDataSourceRequestTemplateResult" nillable="true" type="tns:GetTemplateResult"/>
        </s:sequence></s:complexType>
      </s:element>
      <s:complexType name="GetTemplateResult"><s:complexContent mixed="false"><s:extension base="tns:BaseResult"><s:sequence>
        <s:element minOccurs="0" maxOccurs="1" name="ExecuteDataSourceRequest" type="tns:ExecuteDataSourceRequest"/>
        <s:element minOccurs="0" maxOccurs="1" name="ResultSets" type="tns:ArrayOfResultSet"/>
      </s:sequence></s:extension></s:complexContent></s:complexType>
    </s:schema>
  </wsdl:types>
  <wsdl:message name="ExecuteDataSourceSoapIn"><wsdl:part name="parameters" element="tns:ExecuteDataSource"/></wsdl:message>
  <wsdl:message name="ExecuteDataSourceSoapOut"><wsdl:part name="parameters" element="tns:ExecuteDataSourceResponse"/></wsdl:message>
  <wsdl:message name="GetDataSourceRequestTemplateSoapIn"><wsdl:part name="parameters" element="tns:GetDataSourceRequestTemplate"/></wsdl:message>
  <wsdl:message name="GetDataSourceRequestTemplateSoapOut"><wsdl:part name="parameters" element="tns:GetDataSourceRequestTemplateResponse"/></wsdl:message>
  <wsdl:portType name="ServiceSoap">
    <wsdl:operation name="ExecuteDataSource">
      <wsdl:input message="tns:ExecuteDataSourceSoapIn"/><wsdl:output message="tns:ExecuteDataSourceSoapOut"/>
    </wsdl:operation>
    <wsdl:operation name="GetDataSourceRequestTemplate">
      <wsdl:input message="tns:GetDataSourceRequestTemplateSoapIn"/><wsdl:output message="tns:GetDataSourceRequestTemplateSoapOut"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="ServiceSoap" type="tns:ServiceSoap">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="ExecuteDataSource">
      <soap:operation soapAction="${PLEX_NAMESPACE}/ExecuteDataSource" style="document"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output>
    </wsdl:operation>
    <wsdl:operation name="GetDataSourceRequestTemplate">
      <soap:operation soapAction="${PLEX_NAMESPACE}/GetDataSourceRequestTemplate" style="document"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="Service">
    <wsdl:port name="ServiceSoap" binding="tns:ServiceSoap"><soap:address location="${location}"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>`;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function faultXml(message: string): string {
  return '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">' +
    `<soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>${xmlEscape(message)}</faultstring></soap:Fault></soap:Body></soap:Envelope>`;
}

/** The user named by a Basic Authorization header, if the password matches. */
function authenticate(header: string | undefined, users: Record<string, PlexSimulatorUser>): string | undefined {
  const m = /^Basic\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const user = decoded.slice(0, colon);
  const entry = Object.hasOwn(users, user) ? users[user] : undefined;
  return entry && entry.password === decoded.slice(colon + 1) ? user : undefined;
}

/** Start the simulator on 127.0.0.1. Resolves once it accepts requests. */
export async function startPlexSimulator(opts: PlexSimulatorOptions): Promise<PlexSimulator> {
  const users = opts.users ?? DEFAULT_PLEX_USERS;
  const db = new Database(opts.dbPath, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  const schema = readSchema(db);
  const cache: RunContext['cache'] = {};
  const authenticated = new WeakMap<IncomingMessage, string>();
  const pending = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  let instance = 0;

  const http = createServer((_req, res) => {
    res.statusCode = 404;
    res.end('Not Found');
  });
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(opts.port ?? 0, '127.0.0.1', () => { http.off('error', reject); resolve(); });
    });
  } catch (err) {
    db.close();
    throw err;
  }
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}${PLEX_SERVICE_PATH}`;

  const delay = async (): Promise<void> => {
    if (!opts.delayMs) return;
    await new Promise<void>((resolve) => {
      const entry = { timer: setTimeout(() => { pending.delete(entry); resolve(); }, opts.delayMs), resolve };
      pending.add(entry);
    });
  };

  const base = (error?: PlexDataSourceError) => ({
    StatusNo: error ? 1 : 0,
    Error: Boolean(error),
    ErrorNo: error ? error.errorNo : 0,
    Message: error ? error.message : 'Success',
    InstanceNo: `SIM-${++instance}`,
  });

  const asPlexError = (err: unknown): PlexDataSourceError =>
    err instanceof PlexDataSourceError ? err : new PlexDataSourceError(ERR.execution, `Error executing data source: ${(err as Error).message}`);

  const execute = async (args: unknown, req: IncomingMessage) => {
    await delay();
    const request = (args as { ExecuteDataSourceRequest?: Record<string, unknown> } | undefined)?.ExecuteDataSourceRequest ?? {};
    const keyText = text(request.DataSourceKey).trim();
    let ds: DataSource | undefined;
    try {
      ds = findDataSource(keyText);
      // authorizeConnection let only known users through to here.
      const user = authenticated.get(req) ?? '';
      const granted = Object.hasOwn(users, user) ? users[user].pcns : [];
      const rows = ds.run({ db, user, granted, schema, cache }, bindInputs(ds, request.InputParameters));
      const limit = opts.readRowLimit;
      const limited = limit !== undefined && rows.length > limit;
      const kept = limited ? rows.slice(0, limit) : rows;
      return {
        ExecuteDataSourceResult: {
          ...base(),
          ...(limited ? { Message: `Success. Read row limit of ${limit} rows exceeded: ${limit} of ${rows.length} rows returned.` } : {}),
          DataSourceKey: ds.key,
          ...NIL_DEPLOYMENT,
          DataSourceName: ds.name,
          ResultSets: resultSet(ds.columns, kept),
          OutputParameters: { OutputParameter: [{ Value: limited ? 'True' : 'False', Name: '@Row_Limit_Exceeded' }] },
        },
      };
    } catch (err) {
      return {
        ExecuteDataSourceResult: {
          ...base(asPlexError(err)),
          DataSourceKey: ds?.key ?? (/^\d+$/.test(keyText) && Number(keyText) <= 2 ** 31 - 1 ? Number(keyText) : 0),
          ...NIL_DEPLOYMENT,
          DataSourceName: ds?.name ?? '',
        },
      };
    }
  };

  const template = async (args: unknown) => {
    await delay();
    try {
      const ds = findDataSource((args as { dataSourceKey?: unknown } | undefined)?.dataSourceKey);
      return {
        GetDataSourceRequestTemplateResult: {
          ...base(),
          ExecuteDataSourceRequest: {
            DataSourceKey: String(ds.key),
            InputParameters: { InputParameter: ds.inputs.map((i) => ({ Value: '', Name: i.name, Required: i.required, Output: false, DefaultValue: '', Message: '' })) },
            DataSourceName: ds.name,
            DataBase: '',
          },
          ResultSets: resultSet(ds.columns, [ds.columns.map(() => null)]),
        },
      };
    } catch (err) {
      return { GetDataSourceRequestTemplateResult: base(asPlexError(err)) };
    }
  };

  let ready!: (err: unknown) => void;
  const wsdlReady = new Promise<void>((resolve, reject) => { ready = (err) => (err ? reject(err) : resolve()); });
  const server = soap.listen(http, {
    path: PLEX_SERVICE_PATH,
    services: {
      Service: {
        ServiceSoap: {
          ExecuteDataSource: (args: unknown, _cb: unknown, _headers: unknown, req: IncomingMessage) => execute(args, req),
          GetDataSourceRequestTemplate: (args: unknown) => template(args),
        },
      },
    },
    xml: wsdlFor(url),
    // `<Value />` for NULL, as Plex writes it.
    useEmptyTag: true,
    suppressStack: true,
    callback: (err: unknown) => ready(err),
  });
  // soap declares only the WSDL's own namespaces on the envelope; the nil deployment fields need xsi.
  server.on('response', (response: { result: unknown }) => {
    if (typeof response.result === 'string' && !response.result.includes('xmlns:xsi=')) {
      response.result = response.result.replace(/<soap:Envelope /, `<soap:Envelope xmlns:xsi="${XSI}" xmlns:xsd="${XSD}" `);
    }
  });
  // Runs before soap's own routing: fold the path's case (IIS ignores it) and turn away bad credentials.
  server.authorizeConnection = (req: IncomingMessage, res?: ServerResponse): boolean => {
    const parsed = new URL(req.url ?? '/', 'http://localhost');
    if (parsed.pathname.replace(/\/$/, '').toLowerCase() !== PLEX_SERVICE_PATH.toLowerCase()) return true;
    req.url = PLEX_SERVICE_PATH + parsed.search;
    if (req.method !== 'POST') return true;
    const user = authenticate(req.headers.authorization, users);
    if (user !== undefined) {
      authenticated.set(req, user);
      return true;
    }
    if (res) {
      res.statusCode = 401;
      res.setHeader('WWW-Authenticate', 'Basic realm="api.plexonline.com"');
      res.setHeader('Content-Type', 'text/xml; charset=utf-8');
      res.write(faultXml('Unauthorized: invalid web service user name or password.'));
    }
    return false;
  };
  try {
    await wsdlReady;
  } catch (err) {
    http.close();
    db.close();
    throw err;
  }

  let closed: Promise<void> | undefined;
  return {
    url,
    wsdlUrl: `${url}?WSDL`,
    close() {
      closed ??= (async () => {
        for (const p of pending) clearTimeout(p.timer);
        pending.clear();
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
        db.close();
      })();
      return closed;
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dbPath = process.argv[2] ?? '.data/plex.sqlite';
  const sim = await startPlexSimulator({ dbPath, port: Number(process.argv[3] ?? 0) });
  console.log(`Plex simulator on ${sim.url} over ${dbPath} (users: ${Object.keys(DEFAULT_PLEX_USERS).join(', ')})`);
  const stop = () => { void sim.close().then(() => process.exit(0)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
