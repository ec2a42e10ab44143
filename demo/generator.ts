/**
 * The Plex-shaped demo dataset: one SQLite file holding the seven ODBC views of plex.md 4.1 for two fake
 * PCNs (900101, 900202), plus a golden file of exact totals computed while writing, so tests can check
 * any report or pipeline against numbers that never went through SQL.
 *
 * Tables (Plex view names and columns; extra columns are appended after the Plex ones):
 * - `plexus_customer`, `accounting_v_category_type`, `accounting_v_account_e` (the chart of accounts,
 *   unchanged from the original small warehouse: the gl-accounts report reads it),
 * - `accounting_v_period_e`: 24 monthly periods 202501–202612, closed up to 202610, open after,
 * - `accounting_v_gl_journal_e` / `accounting_v_gl_journal_dist_e`: journals of 2–8 lines, balanced by
 *   construction, no year-end closing entries (Plex closes implicitly into Retained Earnings),
 * - `accounting_v_balance_e`: per account and closed period with activity, as Plex posts at close.
 *
 * Money: SQLite has no exact decimal type (`decimal(19,2)` gets NUMERIC affinity and is stored as a
 * binary float), so every amount is stored twice. `debit_cents`/`credit_cents` are INTEGER cents and are
 * what reports must sum and compare. `debit`/`credit` are TEXT holding the canonical decimal(19,2)
 * string derived from the cents ('1234.50', never '1234.5'), which is what ODBC and the SOAP API hand
 * out; summing them in SQL would silently go through floats.
 *
 * Determinism: every random draw comes from mulberry32 streams seeded from (seed, PCN, purpose), and
 * every timestamp is derived from the periods, never from the clock, so the same options always give a
 * byte-identical table content.
 *
 * Volume: lines are streamed into SQLite in transactions of about 10,000 rows; memory holds only
 * per-account-and-period accumulators (accounts × periods), never the lines. The golden file has the
 * same bound (at most accounts × periods entries per PCN), so it always carries full per-account detail,
 * even for the 1M-line size (about 2 MB).
 *
 * Usage: tsx demo/generator.ts <path> [--size small|medium|full | --lines N] [--seed N] [--accounts N]
 */
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** The two fake Plex customers (PCNs) of the demo. */
export const DEMO_PCNS = [
  { pcn: 900101, code: 'DEMO-A', name: 'Demo Stamping - Plant A' },
  { pcn: 900202, code: 'DEMO-B', name: 'Demo Machining - Plant B' },
] as const;

/** Plex category types; the first three are balance-sheet types, the last two profit and loss. */
export type CategoryType = 'Asset' | 'Liability' | 'Equity' | 'Revenue' | 'Expense';

/** All category types, balance sheet first. */
export const CATEGORY_TYPES: readonly CategoryType[] = ['Asset', 'Liability', 'Equity', 'Revenue', 'Expense'];

/** True for Revenue and Expense: their YTD resets at fiscal_order 1 and prior years fold into RE. */
export function isProfitAndLoss(type: string): boolean {
  return type === 'Revenue' || type === 'Expense';
}

interface Branch {
  type: CategoryType;
  category: string;
  sub: string;
  base: number;
  share: number;
  names: string[];
}

/** Plex's category tree (plex.md 3.2) with the share of accounts each branch gets. */
const TREE: Branch[] = [
  { type: 'Asset', category: 'Current Assets', sub: 'Cash', base: 10000, share: 4, names: ['Cash - Operating', 'Cash - Payroll', 'Petty Cash'] },
  { type: 'Asset', category: 'Current Assets', sub: 'Receivables', base: 11000, share: 10, names: ['Accounts Receivable - Trade', 'Allowance for Doubtful Accounts', 'Employee Advances'] },
  { type: 'Asset', category: 'Current Assets', sub: 'Inventory', base: 12000, share: 20, names: ['Raw Material Inventory', 'Work in Process', 'Finished Goods', 'Tooling Inventory', 'Inventory Reserve'] },
  { type: 'Asset', category: 'Current Assets', sub: 'Prepaid Expenses and Other Current Assets', base: 13000, share: 8, names: ['Prepaid Insurance', 'Prepaid Rent', 'Deposits'] },
  { type: 'Asset', category: 'Long Term Assets', sub: 'Property and Equipment', base: 15000, share: 14, names: ['Machinery and Equipment', 'Accumulated Depreciation - M&E', 'Buildings', 'Leasehold Improvements', 'Vehicles'] },
  { type: 'Asset', category: 'Other Assets', sub: 'Other Assets', base: 18000, share: 4, names: ['Intangible Assets', 'Other Long Term Assets'] },
  { type: 'Liability', category: 'Current Liabilities', sub: 'Payables', base: 20000, share: 10, names: ['Accounts Payable - Trade', 'Accounts Payable - Accrued Receipts', 'Freight Payable'] },
  { type: 'Liability', category: 'Current Liabilities', sub: 'Accrued and Other Current Liabilities', base: 21000, share: 12, names: ['Accrued Wages', 'Accrued Vacation', 'Accrued Property Tax', 'Sales Tax Payable'] },
  { type: 'Liability', category: 'Current Liabilities', sub: 'Short Term Obligations', base: 22000, share: 4, names: ['Line of Credit', 'Current Portion of Long Term Debt'] },
  { type: 'Liability', category: 'Long Term Liabilities', sub: 'Long Term Liabilities', base: 25000, share: 4, names: ['Term Loan', 'Equipment Notes Payable'] },
  { type: 'Equity', category: 'Equity', sub: 'Equity', base: 30000, share: 6, names: ['Common Stock', 'Additional Paid In Capital', 'Retained Earnings', 'Distributions'] },
  { type: 'Revenue', category: 'Revenue', sub: 'Sales', base: 40000, share: 10, names: ['Sales - Production Parts', 'Sales - Service Parts', 'Sales - Tooling', 'Sales Returns and Allowances'] },
  { type: 'Revenue', category: 'Revenue', sub: 'Surcharge', base: 41000, share: 4, names: ['Steel Surcharge', 'Freight Surcharge'] },
  { type: 'Expense', category: 'Cost of Goods Sold', sub: 'Cost of Goods Sold', base: 50000, share: 20, names: ['Cost of Sales - Material', 'Cost of Sales - Labor', 'Cost of Sales - Overhead'] },
  { type: 'Expense', category: 'Raw Material', sub: 'Raw Materials', base: 51000, share: 20, names: ['Steel Coil', 'Aluminum', 'Fasteners', 'Packaging'] },
  { type: 'Expense', category: 'Raw Material', sub: 'Purchased Services', base: 52000, share: 16, names: ['Outside Heat Treat', 'Outside Plating', 'Outside Machining'] },
  { type: 'Expense', category: 'Labor', sub: 'Direct Labor', base: 60000, share: 30, names: ['Direct Labor - Press', 'Direct Labor - Weld', 'Direct Labor - Assembly', 'Overtime Premium'] },
  { type: 'Expense', category: 'Labor', sub: 'Indirect Labor - Production', base: 61000, share: 24, names: ['Maintenance Labor', 'Material Handling', 'Quality Inspection'] },
  { type: 'Expense', category: 'Labor', sub: 'Salaries and Wages', base: 62000, share: 20, names: ['Salaries - Plant Management', 'Salaries - Engineering'] },
  { type: 'Expense', category: 'Labor', sub: 'Fringes', base: 63000, share: 24, names: ['Health Insurance', 'FICA', 'Workers Compensation', '401k Match'] },
  { type: 'Expense', category: 'Overhead', sub: 'Purchases', base: 70000, share: 40, names: ['Utilities - Electric', 'Utilities - Gas', 'Repairs and Maintenance', 'Perishable Tooling', 'Shop Supplies', 'Rent'] },
  { type: 'Expense', category: 'Depreciation', sub: 'Depreciation', base: 80000, share: 12, names: ['Depreciation - M&E', 'Depreciation - Buildings'] },
  { type: 'Expense', category: 'Administrative Expenses', sub: 'Administrative Expenses', base: 75000, share: 40, names: ['Office Supplies', 'Professional Fees', 'Travel', 'Telephone', 'Software Subscriptions', 'Bank Charges'] },
  { type: 'Expense', category: 'Other Income and Expenses', sub: 'Other Income and Expenses', base: 90000, share: 20, names: ['Interest Expense', 'Gain or Loss on Sale of Assets', 'Miscellaneous Income'] },
  { type: 'Expense', category: 'Taxes', sub: 'Taxes', base: 85000, share: 24, names: ['Property Tax', 'State Income Tax', 'Federal Income Tax'] },
];

const COST_CENTERS = ['000', '100', '200', '300'];

/** mulberry32: a tiny deterministic PRNG, so the demo data is the same on every machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A seed for one independent random stream. Separate streams keep the chart of accounts identical
 * whatever the journal volume, and keep one PCN's journals independent of the other's.
 */
function streamSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

/** One row of `accounting_v_account_e`. */
export interface DemoAccount {
  plexus_customer_no: number;
  account_key: number;
  account_no: string;
  account_name: string;
  active: number;
  category_type: string;
  category_no: number;
  category_name: string;
  sub_category_no: number;
  sub_category_name: string;
  base_no: string;
  cost_center_no: string;
  location_no: string;
  add_period: number;
}

/** The chart of accounts for one PCN: `count` accounts spread over the category tree. */
export function chartOfAccounts(pcn: number, count = 400, seed = 42): DemoAccount[] {
  const random = rng(seed ^ pcn);
  const totalShare = TREE.reduce((s, b) => s + b.share, 0);
  const accounts: DemoAccount[] = [];
  const categories = [...new Set(TREE.map((b) => b.category))];
  TREE.forEach((branch, branchIndex) => {
    const n = Math.max(1, Math.round((branch.share / totalShare) * count));
    for (let i = 0; i < n && accounts.length < count; i++) {
      const base = String(branch.base + i * 10 + Math.floor(random() * 5)).padStart(5, '0');
      const cc = branch.type === 'Expense' ? COST_CENTERS[i % COST_CENTERS.length] : '000';
      const stem = branch.names[i % branch.names.length];
      const suffix = i < branch.names.length ? '' : ` ${Math.floor(i / branch.names.length) + 1}`;
      accounts.push({
        plexus_customer_no: pcn,
        account_key: accounts.length + 1,
        account_no: `${base}-${cc}-0000`,
        account_name: `${stem}${cc === '000' ? '' : ` - CC ${cc}`}${suffix}`,
        active: random() < 0.1 && stem !== 'Retained Earnings' ? 0 : 1,
        category_type: branch.type,
        category_no: categories.indexOf(branch.category) + 1,
        category_name: branch.category,
        sub_category_no: branchIndex + 1,
        sub_category_name: branch.sub,
        base_no: base,
        cost_center_no: cc,
        location_no: '0000',
        add_period: random() < 0.0125 ? 202607 : 202501,
      });
    }
  });
  // Unique account numbers, as in Plex: the random base offset may collide within a branch.
  const seen = new Set<string>();
  return accounts.filter((a) => !seen.has(a.account_no) && seen.add(a.account_no));
}

/** Journal-line volumes by size name: tests, `npm start`, and the benchmark. */
export const DEMO_SIZES = { small: 5_000, medium: 100_000, full: 1_000_000 } as const;

/** A named dataset size. */
export type DemoSize = keyof typeof DEMO_SIZES;

/** First and last period of the demo, and the last closed one (later periods are open). */
export const FIRST_PERIOD = 202501;
export const LAST_PERIOD = 202612;
export const LAST_CLOSED_PERIOD = 202610;

/** One row of `accounting_v_period_e`, without the PCN. */
export interface DemoPeriod {
  period_key: number;
  period: number;
  period_display: string;
  fiscal_year: number;
  fiscal_order: number;
  quarter_group: number;
  begin_date: string;
  end_date: string;
  period_status: number;
  add_date: string;
  updated_date: string;
}

/** A period re-closed after the next one closed, so change detection on `updated_date` has a case. */
const RECLOSED_PERIOD = 202609;
const RECLOSED_AT = '2026-11-20 10:15:00';

const pad2 = (n: number) => String(n).padStart(2, '0');

/** When a period was closed: the fifth day after its month, end of day. */
function closedAt(period: number): string {
  const y = Math.floor(period / 100);
  const m = period % 100;
  return m === 12 ? `${y + 1}-01-05 18:00:00` : `${y}-${pad2(m + 1)}-05 18:00:00`;
}

/** The 24 fiscal periods (calendar months of 2025 and 2026), identical for both PCNs. */
export function demoPeriods(): DemoPeriod[] {
  const out: DemoPeriod[] = [];
  for (let period = FIRST_PERIOD; period <= LAST_PERIOD; period = period % 100 === 12 ? period + 89 : period + 1) {
    const y = Math.floor(period / 100);
    const m = period % 100;
    const closed = period <= LAST_CLOSED_PERIOD;
    const added = `${y - 1}-12-15 08:00:00`;
    out.push({
      period_key: out.length + 1,
      period,
      period_display: `${pad2(m)}-${y}`,
      fiscal_year: y,
      fiscal_order: m,
      quarter_group: Math.ceil(m / 3),
      begin_date: `${y}-${pad2(m)}-01`,
      end_date: `${y}-${pad2(m)}-${pad2(new Date(Date.UTC(y, m, 0)).getUTCDate())}`,
      period_status: closed ? 0 : 1,
      add_date: added,
      updated_date: period === RECLOSED_PERIOD ? RECLOSED_AT : closed ? closedAt(period) : added,
    });
  }
  return out;
}

/** Integer cents as a decimal(19,2) string: 123450 → '1234.50', -5 → '-0.05'. */
export function formatCents(cents: bigint | number): string {
  if (typeof cents === 'number' && !Number.isSafeInteger(cents)) throw new RangeError(`not a whole number of cents: ${cents}`);
  const c = BigInt(cents);
  const abs = c < 0n ? -c : c;
  const text = `${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
  return c < 0n ? `-${text}` : text;
}

/** The journal source types of plex.md 4.1 (all sub-ledgers collapsed into one header table). */
export const SOURCE_TYPES = ['GL', 'AP_INV', 'AP_CHK', 'AR_INV', 'AR_DEP', 'PROD', 'PAYROLL', 'DEPR'] as const;

/** A journal source type. */
export type SourceType = (typeof SOURCE_TYPES)[number];

type Role = 'cash' | 'ar' | 'inventory' | 'ppe' | 'accumDepr' | 'ap' | 'accrued' | 'revenue' | 'cogs' | 'material' | 'labor' | 'overhead' | 'depr' | 'any';

const ROLE_MATCH: Record<Role, (a: DemoAccount) => boolean> = {
  cash: (a) => a.sub_category_name === 'Cash',
  ar: (a) => a.sub_category_name === 'Receivables',
  inventory: (a) => a.sub_category_name === 'Inventory',
  ppe: (a) => a.sub_category_name === 'Property and Equipment',
  accumDepr: (a) => a.account_name.startsWith('Accumulated Depreciation'),
  ap: (a) => a.sub_category_name === 'Payables',
  accrued: (a) => a.sub_category_name === 'Accrued and Other Current Liabilities',
  revenue: (a) => a.category_type === 'Revenue',
  cogs: (a) => a.category_name === 'Cost of Goods Sold',
  material: (a) => a.category_name === 'Raw Material',
  labor: (a) => a.category_name === 'Labor',
  overhead: (a) => ['Overhead', 'Administrative Expenses', 'Taxes', 'Other Income and Expenses'].includes(a.category_name),
  depr: (a) => a.category_name === 'Depreciation',
  any: () => true,
};

/** Where a role borrows accounts when a small chart has none of its own. */
const ROLE_FALLBACK: Record<Role, Role | CategoryType> = {
  cash: 'Asset', ar: 'Asset', inventory: 'Asset', ppe: 'Asset', accumDepr: 'ppe', ap: 'Liability',
  accrued: 'Liability', revenue: 'Revenue', cogs: 'Expense', material: 'Expense', labor: 'Expense',
  overhead: 'Expense', depr: 'Expense', any: 'any',
};

/**
 * How each source type books: one line on the `single` side against n−1 lines drawn from `many`.
 * Medians are per line in dollars; `weight` is the share of journals (plex.md 4.2 source mix).
 */
interface Template {
  source: SourceType;
  weight: number;
  prefix: string;
  label: string;
  single: Role;
  singleSide: 'debit' | 'credit';
  many: Role[];
  median: number;
}

const TEMPLATES: Template[] = [
  { source: 'AR_INV', weight: 20, prefix: 'INV', label: 'Customer invoice', single: 'ar', singleSide: 'debit', many: ['revenue'], median: 7_500 },
  { source: 'AP_INV', weight: 25, prefix: 'APV', label: 'Supplier invoice', single: 'ap', singleSide: 'credit', many: ['material', 'overhead', 'inventory'], median: 1_500 },
  { source: 'AP_CHK', weight: 10, prefix: 'CHK', label: 'Supplier payment', single: 'cash', singleSide: 'credit', many: ['ap'], median: 3_500 },
  { source: 'AR_DEP', weight: 8, prefix: 'DEP', label: 'Customer deposit', single: 'cash', singleSide: 'debit', many: ['ar'], median: 8_000 },
  { source: 'PROD', weight: 20, prefix: 'PRD', label: 'Production', single: 'inventory', singleSide: 'credit', many: ['cogs', 'inventory'], median: 2_500 },
  { source: 'PAYROLL', weight: 10, prefix: 'PAY', label: 'Payroll', single: 'cash', singleSide: 'credit', many: ['labor', 'accrued'], median: 3_500 },
  { source: 'DEPR', weight: 2, prefix: 'DPR', label: 'Depreciation', single: 'accumDepr', singleSide: 'credit', many: ['depr'], median: 5_000 },
  { source: 'GL', weight: 5, prefix: 'GL', label: 'Manual journal', single: 'any', singleSide: 'credit', many: ['any'], median: 1_000 },
];

/** Supplier invoices that buy equipment: rare and large, booked against property and equipment. */
const CAPEX: Template = { source: 'AP_INV', weight: 0, prefix: 'APV', label: 'Capital purchase', single: 'ap', singleSide: 'credit', many: ['ppe'], median: 150_000 };
const CAPEX_SHARE = 0.004;

/** Share of active accounts that ever get a line (with inactive ones, about half the chart is unused). */
const USED_SHARE = 0.55;

/** Options of {@link generateDemo}. */
export interface GenerateOptions {
  /** Target number of journal lines over both PCNs and all periods (approximate, ±1 per period). */
  journalLines?: number;
  /** Seed of every random stream; the chart of accounts uses it too. */
  seed?: number;
  /** Accounts per PCN (the chart's `count`); small charts may lack Retained Earnings. */
  accountsPerPcn?: number;
  /** Write `<path>.golden.json` (default true; never for ':memory:'). */
  golden?: boolean;
}

/** What {@link generateDemo} wrote. */
export interface GenerateResult {
  path: string;
  /** The golden file, or null when none was written. */
  goldenPath: string | null;
  seed: number;
  /** Accounts per PCN. */
  accounts: Record<number, number>;
  periods: number;
  journals: number;
  journalLines: number;
  balanceRows: number;
  ms: number;
}

/** Debit and credit activity of one account in one period, in cents. */
export interface GoldenAccountActivity {
  debitCents: number;
  creditCents: number;
}

/** Exact figures of one PCN and period. */
export interface GoldenPeriod {
  period: number;
  fiscalYear: number;
  fiscalOrder: number;
  /** period_status 0: `accounting_v_balance_e` has this period's rows. */
  closed: boolean;
  journals: number;
  lines: number;
  /** Σ debit and Σ credit of the period's lines; always equal. */
  debitCents: number;
  creditCents: number;
  /** Activity by account_no, only for accounts with lines in the period. */
  accounts: Record<string, GoldenAccountActivity>;
  /**
   * Signed (debit-positive) ending totals by category type under the TB rules: Asset, Liability and
   * Equity cumulate from inception, Equity including `retainedEarningsFold`; Revenue and Expense are
   * year to date (reset at fiscal_order 1). They sum to 0.
   */
  ending: Record<CategoryType, number>;
  /** Prior fiscal years' P&L (signed), which Plex reports inside the Retained Earnings account. */
  retainedEarningsFold: number;
}

/** Exact figures of one PCN. */
export interface GoldenPcn {
  pcn: number;
  name: string;
  retainedEarningsAccountNo: string | null;
  accounts: number;
  journals: number;
  lines: number;
  /** Keyed by period as a string, e.g. "202501". */
  periods: Record<string, GoldenPeriod>;
}

/** The golden file written next to the database as `<path>.golden.json`. */
export interface Golden {
  version: 1;
  seed: number;
  journalLinesTarget: number;
  journalLines: number;
  accountsPerPcn: number;
  firstPeriod: number;
  lastPeriod: number;
  lastClosedPeriod: number;
  /** Keyed by PCN as a string, e.g. "900101". */
  pcns: Record<string, GoldenPcn>;
}

/** Where the golden file of a database lives. */
export function goldenPathFor(dbPath: string): string {
  return `${dbPath}.golden.json`;
}

/** Read a golden file written by {@link generateDemo} (pass the golden file's own path). */
export function readGolden(path: string): Golden {
  const g = JSON.parse(readFileSync(path, 'utf8')) as Golden;
  if (g?.version !== 1 || typeof g.pcns !== 'object' || g.pcns === null) {
    throw new Error(`${path} is not a version 1 demo golden file`);
  }
  return g;
}

const SCHEMA = `
  create table plexus_customer (
    plexus_customer_no integer primary key, plexus_customer_code text not null, name text not null,
    currency_code text not null default 'USD', retained_earnings_account_no text);
  create table accounting_v_category_type (category_type text primary key, "in" text not null);
  create table accounting_v_account_e (
    plexus_customer_no integer not null, account_key integer not null, account_no text not null,
    account_name text not null, active integer not null, category_type text not null,
    category_no integer, category_name text, sub_category_no integer, sub_category_name text,
    base_no text, cost_center_no text, location_no text, add_period integer not null,
    primary key (plexus_customer_no, account_key), unique (plexus_customer_no, account_no));
  create table accounting_v_period_e (
    plexus_customer_no integer not null, period_key integer not null, period integer not null,
    period_display text not null, fiscal_year integer not null, fiscal_order integer not null,
    quarter_group integer not null, begin_date text not null, end_date text not null,
    period_status integer not null, add_date text not null, updated_date text not null,
    primary key (plexus_customer_no, period_key), unique (plexus_customer_no, period));
  create table accounting_v_gl_journal_e (
    plexus_customer_no integer not null, journal_link integer not null, journal_no text not null,
    source_type text not null, period integer not null, post_date text not null, description text,
    period_13 integer not null default 0, period_adjustment integer not null default 0, add_date text not null,
    primary key (plexus_customer_no, journal_link)) without rowid;
  create table accounting_v_gl_journal_dist_e (
    plexus_customer_no integer not null, journal_link integer not null, line_item_no integer not null,
    account_no text not null, description text, debit text not null, credit text not null,
    debit_cents integer not null, credit_cents integer not null,
    primary key (plexus_customer_no, journal_link, line_item_no)) without rowid;
  create table accounting_v_balance_e (
    plexus_customer_no integer not null, account_key integer not null, account_no text not null,
    period integer not null, debit text not null, credit text not null, add_date text not null,
    update_date text not null, debit_cents integer not null, credit_cents integer not null,
    primary key (plexus_customer_no, account_key, period));
`;

// Created after the bulk load: maintaining them row by row would roughly double the load time.
const INDEXES = `
  create index accounting_v_gl_journal_e_period on accounting_v_gl_journal_e (plexus_customer_no, period);
  create index accounting_v_gl_journal_dist_e_account on accounting_v_gl_journal_dist_e (plexus_customer_no, account_no);
  create index accounting_v_balance_e_period on accounting_v_balance_e (plexus_customer_no, period);
`;

const BATCH_LINES = 10_000;

/** Per-PCN generation state: which accounts may get lines in which period, and the accumulators. */
interface PcnPlan {
  accounts: DemoAccount[];
  index: Map<string, number>;
  /** For each period index, the account indexes of each role (or its fallback) open for posting. */
  pools: Map<Role, number[]>[];
  /** [period index][account index] activity in cents. */
  debit: Float64Array[];
  credit: Float64Array[];
  journals: number[];
  lines: number[];
}

function planPcn(accounts: DemoAccount[], periods: DemoPeriod[], random: () => number, re: DemoAccount | undefined): PcnPlan {
  const used = accounts.map((a) => a.active === 1 && random() < USED_SHARE);
  // Every role needs at least one account from the first period on, or its journals would have no target.
  for (const role of Object.keys(ROLE_MATCH) as Role[]) {
    const i = accounts.findIndex((a) => a.active === 1 && a.add_period <= FIRST_PERIOD && ROLE_MATCH[role](a));
    if (i >= 0 && !accounts.some((a, j) => used[j] && a.add_period <= FIRST_PERIOD && ROLE_MATCH[role](a))) used[i] = true;
  }
  if (re) used[accounts.indexOf(re)] = true;
  const pools = periods.map((p) => {
    const open = accounts.map((_, i) => i).filter((i) => used[i] && accounts[i].add_period <= p.period);
    const byRole = new Map<Role, number[]>();
    const resolve = (role: Role): number[] => {
      const own = open.filter((i) => ROLE_MATCH[role](accounts[i]));
      if (own.length > 0 || role === 'any') return own;
      const fb = ROLE_FALLBACK[role];
      if (fb in ROLE_MATCH) return resolve(fb as Role);
      const byType = open.filter((i) => accounts[i].category_type === fb);
      return byType.length > 0 ? byType : open;
    };
    for (const role of Object.keys(ROLE_MATCH) as Role[]) byRole.set(role, resolve(role));
    return byRole;
  });
  if (pools.some((p) => (p.get('any') ?? []).length === 0)) throw new Error('the chart of accounts has no usable active account');
  return {
    accounts,
    index: new Map(accounts.map((a, i) => [a.account_no, i])),
    pools,
    debit: periods.map(() => new Float64Array(accounts.length)),
    credit: periods.map(() => new Float64Array(accounts.length)),
    journals: periods.map(() => 0),
    lines: periods.map(() => 0),
  };
}

/** A standard normal draw (Box–Muller); `1 - u` keeps the logarithm finite. */
function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** ±15% over the year, peaking in spring and troughing in autumn. */
function seasonality(period: number): number {
  return 1 + 0.15 * Math.sin((2 * Math.PI * ((period % 100) - 1)) / 12);
}

/** Contra accounts carry a credit balance although their category type is Asset. */
const isContra = (a: DemoAccount) => /^(Allowance|Accumulated|Inventory Reserve)/.test(a.account_name);

/**
 * Build the demo database at `path` (replacing any file there) and its golden file. The database is
 * written under a temporary name and renamed when complete, so a reader never sees half a dataset.
 */
export function generateDemo(path: string, opts: GenerateOptions = {}): GenerateResult {
  const started = performance.now();
  const seed = opts.seed ?? 42;
  const target = Math.max(0, Math.round(opts.journalLines ?? DEMO_SIZES.medium));
  const memory = path === ':memory:';
  const writeGolden = !memory && opts.golden !== false;
  const building = memory ? path : `${path}.building`;
  if (!memory) {
    mkdirSync(dirname(path), { recursive: true });
    for (const f of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`, building, `${building}-journal`, goldenPathFor(path)]) rmSync(f, { force: true });
  }

  const db = new Database(building);
  // A fresh file that is discarded on failure needs no rollback journal and no fsync.
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -65536');
  db.exec(SCHEMA);

  const periods = demoPeriods();
  const insType = db.prepare('insert into accounting_v_category_type values (?, ?)');
  const insPcn = db.prepare(`insert into plexus_customer values (?, ?, ?, 'USD', ?)`);
  const insAccount = db.prepare(`insert into accounting_v_account_e values (
    @plexus_customer_no, @account_key, @account_no, @account_name, @active, @category_type, @category_no,
    @category_name, @sub_category_no, @sub_category_name, @base_no, @cost_center_no, @location_no, @add_period)`);
  const insPeriod = db.prepare(`insert into accounting_v_period_e values (
    @pcn, @period_key, @period, @period_display, @fiscal_year, @fiscal_order, @quarter_group, @begin_date,
    @end_date, @period_status, @add_date, @updated_date)`);
  const insJournal = db.prepare('insert into accounting_v_gl_journal_e values (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)');
  const insLine = db.prepare('insert into accounting_v_gl_journal_dist_e values (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const insBalance = db.prepare('insert into accounting_v_balance_e values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');

  const result: GenerateResult = {
    path, goldenPath: null, seed, accounts: {}, periods: periods.length, journals: 0, journalLines: 0, balanceRows: 0, ms: 0,
  };
  const golden: Golden = {
    version: 1, seed, journalLinesTarget: target, journalLines: 0, accountsPerPcn: opts.accountsPerPcn ?? 400,
    firstPeriod: FIRST_PERIOD, lastPeriod: LAST_PERIOD, lastClosedPeriod: LAST_CLOSED_PERIOD, pcns: {},
  };

  let pending = 0;
  db.exec('begin');
  const flushIfFull = () => {
    if (pending >= BATCH_LINES) {
      db.exec('commit');
      db.exec('begin');
      pending = 0;
    }
  };

  for (const [k, side] of [['Asset', 'Debit'], ['Expense', 'Debit'], ['Liability', 'Credit'], ['Equity', 'Credit'], ['Revenue', 'Credit']]) insType.run(k, side);

  DEMO_PCNS.forEach((customer, pcnIndex) => {
    const { pcn } = customer;
    const accounts = chartOfAccounts(pcn, opts.accountsPerPcn, seed);
    const re = accounts.find((a) => a.account_name === 'Retained Earnings');
    insPcn.run(pcn, customer.code, customer.name, re?.account_no ?? null);
    for (const a of accounts) insAccount.run(a);
    for (const p of periods) insPeriod.run({ pcn, ...p });
    result.accounts[pcn] = accounts.length;

    const plan = planPcn(accounts, periods, rng(streamSeed(seed, pcn, 1)), re);
    const random = rng(streamSeed(seed, pcn, 2));
    const totalWeight = TEMPLATES.reduce((s, t) => s + t.weight, 0);
    const sequence = new Map<string, number>();
    let link = 0;

    /** Post one journal; `lines` are [account index, signed cents (debit positive)]. */
    const post = (pi: number, source: SourceType, journalNo: string, description: string, postDate: string, lineDescription: string, lines: [number, number][]) => {
      link += 1;
      insJournal.run(pcn, link, journalNo, source, periods[pi].period, postDate, description, postDate);
      const debit = plan.debit[pi];
      const credit = plan.credit[pi];
      lines.forEach(([ai, cents], li) => {
        const d = cents > 0 ? cents : 0;
        const c = cents < 0 ? -cents : 0;
        insLine.run(pcn, link, li + 1, accounts[ai].account_no, lineDescription, formatCents(d), formatCents(c), d, c);
        debit[ai] += d;
        credit[ai] += c;
      });
      plan.journals[pi] += 1;
      plan.lines[pi] += lines.length;
      pending += lines.length;
      flushIfFull();
    };

    // Opening balances: assets (contra accounts credit) against liabilities and equity, in one journal.
    {
      const pool = plan.pools[0].get('any') ?? [];
      const assets = pool.filter((i) => accounts[i].category_type === 'Asset');
      const claims = pool.filter((i) => accounts[i].category_type === 'Liability' || accounts[i].category_type === 'Equity');
      const lines: [number, number][] = [];
      for (const i of assets) {
        const cents = Math.round(Math.exp(Math.log(25_000_000) + 0.8 * normal(random)));
        lines.push([i, isContra(accounts[i]) ? -Math.round(cents / 5) : cents]);
      }
      const net = lines.reduce((s, [, c]) => s + c, 0);
      if (net > 0 && claims.length > 0) {
        const weights = claims.map(() => 0.2 + random());
        const sum = weights.reduce((s, w) => s + w, 0);
        let left = net;
        claims.forEach((i, k) => {
          const share = k === claims.length - 1 ? left : Math.floor((net * weights[k]) / sum);
          left -= share;
          lines.push([i, -share]);
        });
        post(0, 'GL', 'GL-OPEN-2025', 'Opening balances', `${periods[0].begin_date} 00:00:00`, 'Opening balance', lines);
      }
    }

    const perPcn = pcnIndex === DEMO_PCNS.length - 1 ? target - Math.floor(target / DEMO_PCNS.length) * (DEMO_PCNS.length - 1) : Math.floor(target / DEMO_PCNS.length);
    const weights = periods.map((p) => seasonality(p.period));
    const weightSum = weights.reduce((s, w) => s + w, 0);
    let planned = 0;
    periods.forEach((p, pi) => {
      // Cumulative rounding keeps the PCN total on target while each period follows the season.
      const upTo = Math.round((perPcn * weights.slice(0, pi + 1).reduce((s, w) => s + w, 0)) / weightSum);
      const periodTarget = upTo - planned;
      planned = upTo;
      const season = weights[pi];
      const pools = plan.pools[pi];
      const [y, m] = [Math.floor(p.period / 100), p.period % 100];
      let written = 0;
      while (written < periodTarget) {
        let template = TEMPLATES[TEMPLATES.length - 1];
        let pick = random() * totalWeight;
        for (const t of TEMPLATES) {
          if (pick < t.weight) { template = t; break; }
          pick -= t.weight;
        }
        if (template.source === 'AP_INV' && random() < CAPEX_SHARE) template = CAPEX;
        // A last journal of one line is impossible, so the period may end one line over its target.
        const n = Math.max(2, Math.min(2 + Math.floor(random() * 7), periodTarget - written));
        const from = (role: Role) => {
          const pool = pools.get(role) ?? [];
          return pool[Math.floor(random() * pool.length)];
        };
        const lines: [number, number][] = [];
        let total = 0;
        for (let k = 1; k < n; k++) {
          const cents = Math.max(100, Math.round(Math.exp(Math.log(template.median * 100) + normal(random)) * season));
          total += cents;
          lines.push([from(template.many[Math.floor(random() * template.many.length)]), template.singleSide === 'debit' ? -cents : cents]);
        }
        // The single side is the negated sum of the others: balanced by construction, in whole cents.
        lines.unshift([from(template.single), template.singleSide === 'debit' ? total : -total]);
        const seq = (sequence.get(template.prefix) ?? 0) + 1;
        sequence.set(template.prefix, seq);
        const journalNo = `${template.prefix}-${String(seq).padStart(7, '0')}`;
        const day = 1 + Math.floor(random() * 28);
        const seconds = Math.floor(random() * 36_000) + 7 * 3600;
        const postDate = `${y}-${pad2(m)}-${pad2(day)} ${pad2(Math.floor(seconds / 3600))}:${pad2(Math.floor(seconds / 60) % 60)}:${pad2(seconds % 60)}`;
        post(pi, template.source, journalNo, `${template.label} ${journalNo}`, postDate, template.label, lines);
        written += n;
      }
    });

    // Balances exist only for closed periods, one row per account with activity, posted at close.
    periods.forEach((p, pi) => {
      if (p.period_status !== 0) return;
      const addDate = closedAt(p.period);
      const updateDate = p.period === RECLOSED_PERIOD ? RECLOSED_AT : addDate;
      accounts.forEach((a, ai) => {
        const d = plan.debit[pi][ai];
        const c = plan.credit[pi][ai];
        if (d === 0 && c === 0) return;
        insBalance.run(pcn, a.account_key, a.account_no, p.period, formatCents(d), formatCents(c), addDate, updateDate, d, c);
        result.balanceRows += 1;
      });
    });

    golden.pcns[String(pcn)] = goldenForPcn(customer, re?.account_no ?? null, plan, periods);
    const journals = plan.journals.reduce((s, n) => s + n, 0);
    const lines = plan.lines.reduce((s, n) => s + n, 0);
    result.journals += journals;
    result.journalLines += lines;
  });

  db.exec('commit');
  db.exec(INDEXES);
  db.exec('analyze');
  db.pragma('journal_mode = DELETE');
  db.close();

  if (!memory) {
    renameSync(building, path);
    if (writeGolden) {
      golden.journalLines = result.journalLines;
      result.goldenPath = goldenPathFor(path);
      writeFileSync(result.goldenPath, JSON.stringify(golden));
    }
  }
  result.ms = Math.round(performance.now() - started);
  return result;
}

/** The golden figures of one PCN from its accumulators, under the TB rules of plex.md 2.3 and 4.3. */
function goldenForPcn(customer: (typeof DEMO_PCNS)[number], re: string | null, plan: PcnPlan, periods: DemoPeriod[]): GoldenPcn {
  const { accounts } = plan;
  const pl = accounts.map((a) => isProfitAndLoss(a.category_type));
  const cumulative = new Float64Array(accounts.length);
  const ytd = new Float64Array(accounts.length);
  const out: GoldenPcn = {
    pcn: customer.pcn, name: customer.name, retainedEarningsAccountNo: re, accounts: accounts.length,
    journals: plan.journals.reduce((s, n) => s + n, 0), lines: plan.lines.reduce((s, n) => s + n, 0), periods: {},
  };
  periods.forEach((p, pi) => {
    if (p.fiscal_order === 1) ytd.fill(0);
    const activity: Record<string, GoldenAccountActivity> = {};
    const ending: Record<CategoryType, number> = { Asset: 0, Liability: 0, Equity: 0, Revenue: 0, Expense: 0 };
    let debitCents = 0;
    let creditCents = 0;
    let fold = 0;
    accounts.forEach((a, ai) => {
      const d = plan.debit[pi][ai];
      const c = plan.credit[pi][ai];
      if (d !== 0 || c !== 0) activity[a.account_no] = { debitCents: d, creditCents: c };
      debitCents += d;
      creditCents += c;
      cumulative[ai] += d - c;
      ytd[ai] += d - c;
      const type = a.category_type as CategoryType;
      if (pl[ai]) {
        ending[type] += ytd[ai];
        fold += cumulative[ai] - ytd[ai];
      } else {
        ending[type] += cumulative[ai];
      }
    });
    ending.Equity += fold;
    if (debitCents !== creditCents) throw new Error(`internal: PCN ${customer.pcn} period ${p.period} does not balance`);
    out.periods[String(p.period)] = {
      period: p.period, fiscalYear: p.fiscal_year, fiscalOrder: p.fiscal_order, closed: p.period_status === 0,
      journals: plan.journals[pi], lines: plan.lines[pi], debitCents, creditCents, accounts: activity, ending,
      retainedEarningsFold: fold,
    };
  });
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { size: { type: 'string' }, lines: { type: 'string' }, seed: { type: 'string' }, accounts: { type: 'string' } },
  });
  const path = positionals[0];
  const size = values.size ?? 'medium';
  const numeric = [values.lines, values.seed, values.accounts].every((v) => v === undefined || Number.isInteger(Number(v)));
  if (!path || !(size in DEMO_SIZES) || (values.size && values.lines) || !numeric) {
    console.error('usage: tsx demo/generator.ts <path> [--size small|medium|full | --lines N] [--seed N] [--accounts N]');
    process.exit(2);
  }
  const r = generateDemo(path, {
    journalLines: values.lines ? Number(values.lines) : DEMO_SIZES[size as DemoSize],
    seed: values.seed ? Number(values.seed) : undefined,
    accountsPerPcn: values.accounts ? Number(values.accounts) : undefined,
  });
  console.log(`demo dataset written to ${r.path} in ${(r.ms / 1000).toFixed(2)} s`);
  console.log(`  seed ${r.seed}; accounts per PCN ${JSON.stringify(r.accounts)}; periods per PCN ${r.periods}`);
  console.log(`  journals ${r.journals}; journal lines ${r.journalLines}; balance rows ${r.balanceRows}`);
  if (r.goldenPath) console.log(`  golden file ${r.goldenPath}`);
}
