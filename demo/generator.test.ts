/**
 * The demo dataset generator: determinism, the invariants of plex.md 4.3 checked by SQL over the written
 * file (never by the generator's own accumulators), and the golden file against an independent SQL
 * aggregation.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CATEGORY_TYPES, DEMO_PCNS, DEMO_SIZES, LAST_CLOSED_PERIOD, formatCents, generateDemo, goldenPathFor, readGolden,
  type CategoryType, type GenerateResult, type Golden,
} from './generator.ts';
import { buildWarehouse } from './warehouse.ts';

const TABLES = {
  plexus_customer: 'plexus_customer_no',
  accounting_v_category_type: 'category_type',
  accounting_v_account_e: 'plexus_customer_no, account_key',
  accounting_v_period_e: 'plexus_customer_no, period_key',
  accounting_v_gl_journal_e: 'plexus_customer_no, journal_link',
  accounting_v_gl_journal_dist_e: 'plexus_customer_no, journal_link, line_item_no',
  accounting_v_balance_e: 'plexus_customer_no, account_key, period',
} as const;

let dir: string;
let run: GenerateResult;
let db: Database.Database;
let golden: Golden;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'demo-generator-'));
  run = generateDemo(join(dir, 'a.sqlite'), { journalLines: DEMO_SIZES.small, seed: 42 });
  db = new Database(run.path, { readonly: true });
  golden = readGolden(goldenPathFor(run.path));
});
after(async () => {
  db?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function checksums(path: string): Record<string, string> {
  const d = new Database(path, { readonly: true });
  try {
    return Object.fromEntries(Object.entries(TABLES).map(([table, key]) => {
      const hash = createHash('sha256');
      for (const row of d.prepare(`select * from ${table} order by ${key}`).raw().iterate()) hash.update(JSON.stringify(row));
      return [table, hash.digest('hex')];
    }));
  } finally {
    d.close();
  }
}

const all = <T>(sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as T[];
const one = <T>(sql: string, ...params: unknown[]) => db.prepare(sql).get(...params) as T;

test('the small size writes about the requested number of lines, for both PCNs, and reports it', () => {
  assert.ok(Math.abs(run.journalLines - DEMO_SIZES.small) < 200, `lines ${run.journalLines}`);
  assert.deepEqual(run.accounts, { 900101: 400, 900202: 400 });
  assert.equal(one<{ n: number }>('select count(*) n from accounting_v_gl_journal_dist_e').n, run.journalLines);
  assert.equal(one<{ n: number }>('select count(*) n from accounting_v_gl_journal_e').n, run.journals);
  assert.equal(one<{ n: number }>('select count(*) n from accounting_v_balance_e').n, run.balanceRows);
  assert.equal(golden.journalLines, run.journalLines);
  assert.ok(!existsSync(`${run.path}.building`), 'the temporary file was renamed');
});

test('determinism: the same seed gives identical tables and golden file; another seed differs', async () => {
  const again = generateDemo(join(dir, 'b.sqlite'), { journalLines: DEMO_SIZES.small, seed: 42 });
  const other = generateDemo(join(dir, 'c.sqlite'), { journalLines: DEMO_SIZES.small, seed: 7 });
  const a = checksums(run.path);
  assert.deepEqual(checksums(again.path), a);
  assert.equal(await readFile(again.goldenPath!, 'utf8'), await readFile(run.goldenPath!, 'utf8'));
  const c = checksums(other.path);
  for (const table of ['accounting_v_account_e', 'accounting_v_gl_journal_e', 'accounting_v_gl_journal_dist_e', 'accounting_v_balance_e']) {
    assert.notEqual(c[table], a[table], table);
  }
});

test('every journal balances, has 2–8 lines (the opening journal excepted) and lines carry exact decimals', () => {
  const unbalanced = all(`select plexus_customer_no, journal_link from accounting_v_gl_journal_dist_e
    group by plexus_customer_no, journal_link having sum(debit_cents) <> sum(credit_cents)`);
  assert.deepEqual(unbalanced, []);
  const shapes = all<{ journal_no: string; n: number }>(`select j.journal_no, count(d.line_item_no) n
    from accounting_v_gl_journal_e j left join accounting_v_gl_journal_dist_e d using (plexus_customer_no, journal_link)
    group by j.plexus_customer_no, j.journal_link having n < 2 or (n > 8 and j.journal_no <> 'GL-OPEN-2025')`);
  assert.deepEqual(shapes, []);
  const orphans = one<{ n: number }>(`select count(*) n from accounting_v_gl_journal_dist_e d
    where not exists (select 1 from accounting_v_gl_journal_e j where j.plexus_customer_no = d.plexus_customer_no and j.journal_link = d.journal_link)`);
  assert.equal(orphans.n, 0);
  const oneSided = one<{ n: number }>(`select count(*) n from accounting_v_gl_journal_dist_e
    where (debit_cents > 0) = (credit_cents > 0) or debit_cents < 0 or credit_cents < 0`);
  assert.equal(oneSided.n, 0, 'each line is either a debit or a credit');
  const badText = one<{ n: number }>(`select count(*) n from accounting_v_gl_journal_dist_e
    where debit <> printf('%d.%02d', debit_cents / 100, debit_cents % 100) or credit <> printf('%d.%02d', credit_cents / 100, credit_cents % 100)`);
  assert.equal(badText.n, 0);
  const opening = all<{ plexus_customer_no: number; period: number }>(`select plexus_customer_no, period from accounting_v_gl_journal_e where journal_no = 'GL-OPEN-2025'`);
  assert.deepEqual(opening, DEMO_PCNS.map((p) => ({ plexus_customer_no: p.pcn, period: 202501 })));
  const closing = one<{ n: number }>(`select count(*) n from accounting_v_gl_journal_e where period_13 <> 0 or period_adjustment <> 0`);
  assert.equal(closing.n, 0, 'no explicit year-end closing');
  const sources = all<{ source_type: string }>('select distinct source_type from accounting_v_gl_journal_e order by 1').map((r) => r.source_type);
  assert.deepEqual(sources, ['AP_CHK', 'AP_INV', 'AR_DEP', 'AR_INV', 'DEPR', 'GL', 'PAYROLL', 'PROD']);
});

test('the opening journal has assets equal to liabilities plus equity', () => {
  const rows = all<{ plexus_customer_no: number; category_type: string; net: number }>(`
    select d.plexus_customer_no, a.category_type, sum(d.debit_cents - d.credit_cents) net
    from accounting_v_gl_journal_e j join accounting_v_gl_journal_dist_e d using (plexus_customer_no, journal_link)
    join accounting_v_account_e a using (plexus_customer_no, account_no)
    where j.journal_no = 'GL-OPEN-2025' group by 1, 2`);
  for (const { pcn } of DEMO_PCNS) {
    const net = (t: string) => rows.find((r) => r.plexus_customer_no === pcn && r.category_type === t)?.net ?? 0;
    assert.ok(net('Asset') > 0);
    assert.equal(net('Asset'), -(net('Liability') + net('Equity')));
    assert.equal(net('Revenue') + net('Expense'), 0);
  }
});

test('per PCN and period, Σdebit = Σcredit, and every period has activity', () => {
  const rows = all<{ d: number; c: number }>(`select j.plexus_customer_no, j.period, sum(d.debit_cents) d, sum(d.credit_cents) c
    from accounting_v_gl_journal_e j join accounting_v_gl_journal_dist_e d using (plexus_customer_no, journal_link) group by 1, 2`);
  assert.equal(rows.length, DEMO_PCNS.length * 24);
  for (const r of rows) {
    assert.ok(r.d > 0);
    assert.equal(r.d, r.c);
  }
});

test('balance rows exist only for closed periods and equal the aggregation of journal lines', () => {
  const open = one<{ n: number }>(`select count(*) n from accounting_v_balance_e b join accounting_v_period_e p using (plexus_customer_no, period) where p.period_status <> 0`);
  assert.equal(open.n, 0);
  assert.equal(one<{ n: number }>('select max(period) n from accounting_v_balance_e').n, LAST_CLOSED_PERIOD);
  const aggregate = `select j.plexus_customer_no, a.account_key, d.account_no, j.period, sum(d.debit_cents) debit_cents, sum(d.credit_cents) credit_cents
    from accounting_v_gl_journal_e j join accounting_v_gl_journal_dist_e d using (plexus_customer_no, journal_link)
    join accounting_v_account_e a using (plexus_customer_no, account_no)
    join accounting_v_period_e p on p.plexus_customer_no = j.plexus_customer_no and p.period = j.period
    where p.period_status = 0 group by 1, 2, 3, 4`;
  const balance = 'select plexus_customer_no, account_key, account_no, period, debit_cents, credit_cents from accounting_v_balance_e';
  assert.equal(one<{ n: number }>(`select count(*) n from (${aggregate} except ${balance})`).n, 0);
  assert.equal(one<{ n: number }>(`select count(*) n from (${balance} except ${aggregate})`).n, 0);
  assert.ok(run.balanceRows > 0);
  const badText = one<{ n: number }>(`select count(*) n from accounting_v_balance_e
    where debit <> printf('%d.%02d', debit_cents / 100, debit_cents % 100) or credit <> printf('%d.%02d', credit_cents / 100, credit_cents % 100)`);
  assert.equal(badText.n, 0);
  const reclosed = all<{ period: number }>('select distinct period from accounting_v_balance_e where update_date > add_date');
  assert.deepEqual(reclosed, [{ period: 202609 }], 'one re-closed period for change detection');
});

test('no lines on inactive, unknown or not-yet-added accounts; about half the chart is never used', () => {
  const bad = all(`select j.plexus_customer_no, j.period, d.account_no from accounting_v_gl_journal_e j
    join accounting_v_gl_journal_dist_e d using (plexus_customer_no, journal_link)
    left join accounting_v_account_e a using (plexus_customer_no, account_no)
    where a.account_key is null or a.active = 0 or a.add_period > j.period`);
  assert.deepEqual(bad, []);
  for (const { pcn } of DEMO_PCNS) {
    const { n } = one<{ n: number }>(`select count(*) n from accounting_v_account_e a where plexus_customer_no = ?
      and not exists (select 1 from accounting_v_gl_journal_dist_e d where d.plexus_customer_no = a.plexus_customer_no and d.account_no = a.account_no)`, pcn);
    assert.ok(n >= 160 && n <= 260, `PCN ${pcn}: ${n} of 400 accounts never used`);
  }
  const late = one<{ n: number }>(`select count(*) n from accounting_v_account_e where add_period > 202501 and add_period between 202601 and 202612`);
  assert.ok(late.n >= 5, 'accounts added in mid 2026');
});

test('periods: 24 per PCN, 202501–202612, MM-YYYY, fiscal order and quarter, closed up to 202610', () => {
  for (const { pcn } of DEMO_PCNS) {
    const rows = all<Record<string, number | string>>('select * from accounting_v_period_e where plexus_customer_no = ? order by period', pcn);
    assert.equal(rows.length, 24);
    rows.forEach((r, i) => {
      const y = 2025 + Math.floor(i / 12);
      const m = (i % 12) + 1;
      const mm = String(m).padStart(2, '0');
      assert.equal(r.period, y * 100 + m);
      assert.equal(r.period_display, `${mm}-${y}`);
      assert.equal(r.fiscal_year, y);
      assert.equal(r.fiscal_order, m);
      assert.equal(r.quarter_group, Math.ceil(m / 3));
      assert.equal(r.begin_date, `${y}-${mm}-01`);
      assert.equal(r.end_date, new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10));
      assert.equal(r.period_status, y * 100 + m <= 202610 ? 0 : 1);
    });
  }
});

test('the chart of accounts is unchanged for gl-accounts: 400 per PCN, same rows, same categories', () => {
  // Hashes of the chart as the original warehouse wrote it (seed 42, 400 accounts).
  const pinned: Record<number, string> = {
    900101: '8c164f91c5877bd87e7db194342aa562285095270aabc2fd951996800497902f',
    900202: '28181a83b920d31dbcdf9b75305e8bda4d38d7f6b7de90441f2dd32d2196b5f3',
  };
  for (const { pcn } of DEMO_PCNS) {
    const rows = all('select * from accounting_v_account_e where plexus_customer_no = ? order by account_key', pcn);
    assert.equal(rows.length, 400);
    assert.equal(createHash('sha256').update(JSON.stringify(rows)).digest('hex'), pinned[pcn]);
    const types = all<{ category_type: string; n: number }>('select category_type, count(*) n from accounting_v_account_e where plexus_customer_no = ? group by 1 order by 1', pcn);
    assert.deepEqual(types.map((t) => [t.category_type, t.n]), [['Asset', 60], ['Equity', 6], ['Expense', 290], ['Liability', 30], ['Revenue', 14]]);
  }
  const report = all(`select a.account_no, a.account_name, a.category_type, a.category_name, a.sub_category_name, a.cost_center_no,
    case when a.active = 1 then 'Yes' else 'No' end as active, a.add_period from accounting_v_account_e as a
    where a.plexus_customer_no = 900101 and a.active = 1 order by a.account_no`);
  assert.ok(report.length > 340 && report.length < 400);
  const re = all<{ n: string; t: string }>(`select a.account_name n, a.category_type t from plexus_customer c
    join accounting_v_account_e a on a.plexus_customer_no = c.plexus_customer_no and a.account_no = c.retained_earnings_account_no`);
  assert.deepEqual(re, DEMO_PCNS.map(() => ({ n: 'Retained Earnings', t: 'Equity' })));
});

test('the golden file matches an independent SQL aggregation of the journal lines', () => {
  const activity = all<{ pcn: number; period: number; account_no: string; d: number; c: number }>(`
    select j.plexus_customer_no pcn, j.period, d.account_no, sum(d.debit_cents) d, sum(d.credit_cents) c
    from accounting_v_gl_journal_e j join accounting_v_gl_journal_dist_e d using (plexus_customer_no, journal_link) group by 1, 2, 3`);
  const counts = all<{ pcn: number; period: number; journals: number; lines: number }>(`
    select j.plexus_customer_no pcn, j.period, count(distinct j.journal_link) journals, count(*) lines
    from accounting_v_gl_journal_e j join accounting_v_gl_journal_dist_e d using (plexus_customer_no, journal_link) group by 1, 2`);
  assert.deepEqual(Object.keys(golden.pcns).sort(), DEMO_PCNS.map((p) => String(p.pcn)));
  let accountEntries = 0;
  for (const [pcn, g] of Object.entries(golden.pcns)) {
    assert.equal(Object.keys(g.periods).length, 24);
    for (const [period, gp] of Object.entries(g.periods)) {
      const rows = activity.filter((r) => String(r.pcn) === pcn && String(r.period) === period);
      assert.deepEqual(
        Object.fromEntries(rows.map((r) => [r.account_no, { debitCents: r.d, creditCents: r.c }])),
        gp.accounts, `${pcn} ${period}`);
      accountEntries += rows.length;
      assert.equal(gp.debitCents, rows.reduce((s, r) => s + r.d, 0));
      assert.equal(gp.creditCents, gp.debitCents);
      const c = counts.find((r) => String(r.pcn) === pcn && String(r.period) === period);
      assert.deepEqual({ journals: gp.journals, lines: gp.lines }, { journals: c?.journals, lines: c?.lines });
      assert.equal(gp.closed, Number(period) <= LAST_CLOSED_PERIOD);
    }
  }
  assert.equal(accountEntries, activity.length);
});

test('RE rule by SQL: Σ BS ending (prior-year P&L in RE) + Σ P&L YTD = 0, and equals the golden endings', () => {
  // The TB pipeline's path: closed periods from the balance view, open periods from the journal lines.
  const rows = all<{ pcn: number; period: number; category_type: CategoryType; ending: number; fold: number }>(`
    with activity as (
      select b.plexus_customer_no pcn, b.account_no, b.period, b.debit_cents - b.credit_cents net from accounting_v_balance_e b
      union all
      select j.plexus_customer_no, d.account_no, j.period, d.debit_cents - d.credit_cents
      from accounting_v_gl_journal_e j join accounting_v_gl_journal_dist_e d using (plexus_customer_no, journal_link)
      join accounting_v_period_e p on p.plexus_customer_no = j.plexus_customer_no and p.period = j.period
      where p.period_status = 1)
    select p.plexus_customer_no pcn, p.period, a.category_type,
      sum(case when a.category_type in ('Revenue', 'Expense') and xp.fiscal_year < p.fiscal_year then 0 else x.net end) ending,
      sum(case when a.category_type in ('Revenue', 'Expense') and xp.fiscal_year < p.fiscal_year then x.net else 0 end) fold
    from accounting_v_period_e p
    join activity x on x.pcn = p.plexus_customer_no and x.period <= p.period
    join accounting_v_period_e xp on xp.plexus_customer_no = x.pcn and xp.period = x.period
    join accounting_v_account_e a on a.plexus_customer_no = x.pcn and a.account_no = x.account_no
    group by 1, 2, 3`);
  for (const { pcn } of DEMO_PCNS) {
    for (const [period, gp] of Object.entries(golden.pcns[String(pcn)].periods)) {
      const mine = rows.filter((r) => r.pcn === pcn && String(r.period) === period);
      const ending = Object.fromEntries(CATEGORY_TYPES.map((t) => [t, mine.find((r) => r.category_type === t)?.ending ?? 0])) as Record<CategoryType, number>;
      const fold = mine.reduce((s, r) => s + r.fold, 0);
      ending.Equity += fold;
      assert.equal(CATEGORY_TYPES.reduce((s, t) => s + ending[t], 0), 0, `${pcn} ${period}`);
      assert.deepEqual(ending, gp.ending, `${pcn} ${period}`);
      assert.equal(fold, gp.retainedEarningsFold);
      if (gp.fiscalYear === 2025) assert.equal(fold, 0);
      else assert.notEqual(fold, 0, 'the 2025 result folds into RE in 2026');
    }
  }
});

test('buildWarehouse keeps accountsPerPcn working (the test harness uses 120) and a golden file that nets to zero', async () => {
  const path = join(dir, 'harness.sqlite');
  assert.deepEqual(buildWarehouse(path, { accountsPerPcn: 120, journalLines: 2_000 }), { 900101: 119, 900202: 119 });
  const g = readGolden(goldenPathFor(path));
  for (const p of Object.values(g.pcns)) {
    assert.equal(p.accounts, 119);
    for (const gp of Object.values(p.periods)) assert.equal(CATEGORY_TYPES.reduce((s, t) => s + gp.ending[t], 0), 0);
  }
  await writeFile(join(dir, 'not-golden.json'), '{"pcns":{}}');
  assert.throws(() => readGolden(join(dir, 'not-golden.json')), /not a version 1 demo golden file/);
});

test('formatCents', () => {
  assert.equal(formatCents(0), '0.00');
  assert.equal(formatCents(5), '0.05');
  assert.equal(formatCents(123450), '1234.50');
  assert.equal(formatCents(-1999), '-19.99');
  assert.throws(() => formatCents(1.5), RangeError);
});
