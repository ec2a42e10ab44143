/**
 * The demo warehouse: a SQLite file with a Plex-shaped chart of accounts for two fake PCNs
 * (900101, 900202), under the Plex ODBC view names. Deterministic: the same seed gives the same file.
 * The pipelines issue extends it with periods, journals and balances.
 *
 * Usage: tsx demo/warehouse.ts [path] [accountsPerPcn]
 */
import Database from 'better-sqlite3';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';

export const DEMO_PCNS = [
  { pcn: 900101, code: 'DEMO-A', name: 'Demo Stamping - Plant A' },
  { pcn: 900202, code: 'DEMO-B', name: 'Demo Machining - Plant B' },
] as const;

interface Branch {
  type: 'Asset' | 'Liability' | 'Equity' | 'Revenue' | 'Expense';
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

/** (Re)build the demo warehouse at `path`. Returns the number of accounts per PCN. */
export function buildWarehouse(path: string, opts: { accountsPerPcn?: number; seed?: number } = {}): Record<number, number> {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true });
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
  }
  const db = new Database(path);
  db.exec(`
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
  `);
  const types = db.prepare('insert into accounting_v_category_type values (?, ?)');
  for (const [t, side] of [['Asset', 'Debit'], ['Expense', 'Debit'], ['Liability', 'Credit'], ['Equity', 'Credit'], ['Revenue', 'Credit']]) types.run(t, side);
  const insertPcn = db.prepare('insert into plexus_customer values (@pcn, @code, @name, \'USD\', @re)');
  const insertAccount = db.prepare(`insert into accounting_v_account_e values (
    @plexus_customer_no, @account_key, @account_no, @account_name, @active, @category_type, @category_no,
    @category_name, @sub_category_no, @sub_category_name, @base_no, @cost_center_no, @location_no, @add_period)`);
  const counts: Record<number, number> = {};
  db.transaction(() => {
    for (const p of DEMO_PCNS) {
      const accounts = chartOfAccounts(p.pcn, opts.accountsPerPcn, opts.seed);
      const re = accounts.find((a) => a.account_name === 'Retained Earnings');
      insertPcn.run({ ...p, re: re?.account_no ?? null });
      for (const a of accounts) insertAccount.run(a);
      counts[p.pcn] = accounts.length;
    }
  })();
  db.close();
  return counts;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const path = process.argv[2] ?? '.data/warehouse.sqlite';
  const counts = buildWarehouse(path, { accountsPerPcn: process.argv[3] ? Number(process.argv[3]) : undefined });
  console.log(`demo warehouse written to ${path}:`, counts);
}
