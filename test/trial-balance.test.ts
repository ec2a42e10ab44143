/**
 * The Trial Balance, end to end through the bot and a runner, against the generator's golden file
 * (totals computed independently while the demo ledger was written): exact to the cent, for both
 * PCNs, across the fiscal year boundary, inside one year, and for open periods (Plex SOAP path).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { goldenPathFor, readGolden, type Golden } from '../demo/generator.ts';
import { startStack, type Stack } from './harness/stack.ts';
import { action, callCard, cardStarting, downloadWorkbook, fact } from './harness/cards.ts';

let stack: Stack;
let golden: Golden;
before(async () => {
  stack = await startStack({ runners: 1 });
  golden = readGolden(goldenPathFor(stack.warehousePath));
});
after(() => stack?.stop());

const cents = (v: unknown) => Math.round(Number(v ?? 0) * 100);
const periodOf = (display: string) => Number(display.slice(3) + display.slice(0, 2)); // MM-YYYY → YYYYMM

async function runTb(args: string) {
  const user = stack.connector.user();
  await user.say(stack.endpoint, `run trial-balance ${args}`);
  const queued = callCard(await user.waitFor(cardStarting('Queued: Trial Balance')));
  const runId = fact(queued, 'Run id');
  const call = await user.waitFor((c) => fact(callCard(c), 'Run id') === runId && /^(Ready|Failed)/.test(String(callCard(c)?.body?.[0]?.text)), 120_000);
  const card = callCard(call);
  assert.match(String(card?.body?.[0]?.text), /^Ready/, JSON.stringify(card));
  const { sheets } = await downloadWorkbook(action(card, 'Download Excel')!.url!);
  return { card, sheets };
}

/** Compare the workbook with the golden file for the given PCNs and periods. */
function assertMatchesGolden(sheets: Map<string, unknown[][]>, pcns: number[], periods: number[]) {
  const tb = sheets.get('Trial Balance')!;
  assert.deepEqual(tb[0], ['PCN', 'Period', 'Category Type', 'Category Name', 'Sub Category Name', 'No', 'Name', 'Current Debit/(Credit)', 'YTD Debit/(Credit)']);
  const balances = sheets.get('Balances')!;
  assert.deepEqual(balances[0], ['PCN', 'Period', 'No', 'Name', 'Beginning', 'Debit', 'Credit', 'Ending']);
  const typeOf = new Map<string, string>();
  for (const r of tb.slice(1)) typeOf.set(`${r[0]}|${r[5]}`, String(r[2]));

  const seen = new Set<string>();
  const endingByType = new Map<string, number>();
  for (const r of balances.slice(1)) {
    const [pcn, display, account, , beginning, debit, credit, ending] = r;
    const period = periodOf(String(display));
    seen.add(`${pcn}|${period}`);
    const g = golden.pcns[String(pcn)].periods[String(period)];
    const ga = g.accounts[String(account)] ?? { debitCents: 0, creditCents: 0 };
    assert.equal(cents(debit), ga.debitCents, `debit ${pcn} ${period} ${account}`);
    assert.equal(cents(credit), ga.creditCents, `credit ${pcn} ${period} ${account}`);
    assert.equal(cents(ending), cents(beginning) + cents(debit) - cents(credit), `roll-forward ${pcn} ${period} ${account}`);
    const key = `${pcn}|${period}|${typeOf.get(`${pcn}|${account}`)}`;
    endingByType.set(key, (endingByType.get(key) ?? 0) + cents(ending));
  }
  for (const pcn of pcns) {
    for (const period of periods) {
      assert.ok(seen.has(`${pcn}|${period}`), `period ${period} of ${pcn} listed`);
      const g = golden.pcns[String(pcn)].periods[String(period)];
      for (const [type, value] of Object.entries(g.ending)) {
        assert.equal(endingByType.get(`${pcn}|${period}|${type}`) ?? 0, value, `ending ${type} ${pcn} ${period}`);
      }
    }
  }
  assert.equal(seen.size, pcns.length * periods.length, 'no other PCNs or periods');
  // Current Debit/(Credit) is the period's signed activity; per PCN and period it nets to zero.
  const net = new Map<string, number>();
  for (const r of tb.slice(1)) net.set(`${r[0]}|${r[1]}`, (net.get(`${r[0]}|${r[1]}`) ?? 0) + cents(r[7]));
  for (const [k, v] of net) assert.equal(v, 0, `current activity nets to zero for ${k}`);
  const checks = sheets.get('Checks')!;
  assert.deepEqual(checks.slice(1).map((r) => [r[0], r[1]]).filter(([, result]) => result !== 'Passed'), [], 'every check passed');
  for (const r of sheets.get('Totals')!.slice(1)) assert.equal(cents(r[6]), 0, `YTD nets to zero ${r[0]} ${r[1]}`);
}

function periodsBetween(from: number, to: number): number[] {
  const out: number[] = [];
  for (let p = from; p <= to; p = p % 100 === 12 ? p + 89 : p + 1) out.push(p);
  return out;
}

test('both PCNs, all 24 periods: across the fiscal year boundary, closed and open periods, exact to the cent', async () => {
  const { card, sheets } = await runTb('pcn=900101,900202 startPeriod=202501 endPeriod=202612');
  assertMatchesGolden(sheets, [900101, 900202], periodsBetween(202501, 202612));
  assert.equal(fact(card, 'Checks'), '5 of 5 passed');
  // P&L YTD restarts in January: the first 2026 period's YTD equals its own activity.
  const jan = sheets.get('Trial Balance')!.slice(1).filter((r) => r[1] === '01-2026' && (r[2] === 'Revenue' || r[2] === 'Expense'));
  assert.ok(jan.length > 0);
  for (const r of jan) assert.equal(cents(r[8]), cents(r[7]), `YTD resets for ${r[5]}`);
});

test('one PCN, a range inside one year: beginning balances carry the earlier periods', async () => {
  const { sheets } = await runTb('pcn=900202 startPeriod=202503 endPeriod=202506');
  assertMatchesGolden(sheets, [900202], periodsBetween(202503, 202506));
  const march = sheets.get('Balances')!.slice(1).filter((r) => r[1] === '03-2025');
  assert.ok(march.some((r) => cents(r[4]) !== 0), 'March begins with February’s balances');
  // The Plex web service was asked about these closed periods too, and agreed with the posted balances.
  const db = new Database(stack.warehousePath, { readonly: true });
  try {
    const soapRows = db.prepare('select count(*) from tb_soap_activity where period between 202503 and 202506').pluck().get() as number;
    assert.ok(soapRows > 0, 'data source 4814 rows were fetched for closed periods');
  } finally {
    db.close();
  }
});

test('open periods come from the Plex web service and still reconcile', async () => {
  const { sheets } = await runTb('pcn=900101 startPeriod=202611 endPeriod=202612');
  assertMatchesGolden(sheets, [900101], [202611, 202612]);
  const db = new Database(stack.warehousePath, { readonly: true });
  try {
    const sources = db.prepare('select distinct source from tb_activity where pcn = 900101 and period >= 202611').pluck().all();
    assert.deepEqual(sources, ['plex']);
  } finally {
    db.close();
  }
});

test('TB parameters are validated: order, span, PCN from the data', async () => {
  const user = stack.connector.user();
  for (const [args, expected] of [
    ['pcn=900101 startPeriod=202506 endPeriod=202503', /End period must not be before the start period/],
    ['pcn=900101 startPeriod=202201 endPeriod=202612', /may span at most 36 periods/],
    ['pcn=900101,123456 startPeriod=202501 endPeriod=202502', /123456 is not one of 900101, 900202/],
  ] as const) {
    const since = Date.now();
    await user.say(stack.endpoint, `run trial-balance ${args}`);
    await user.waitFor((c) => c.at >= since && expected.test(String(c.activity?.text)));
  }
});

test('GL detail: the lines of an account sum to the golden activity per period, and the check passes', async () => {
  const g = golden.pcns['900101'];
  const [account] = Object.entries(g.periods['202503'].accounts).sort((a, b) => b[1].debitCents - a[1].debitCents)[0];
  const user = stack.connector.user();
  await user.say(stack.endpoint, `run gl-detail pcn=900101 account=${account} startPeriod=202502 endPeriod=202504`);
  const card = callCard(await user.waitFor(cardStarting('Ready: GL detail'), 60_000));
  assert.equal(fact(card, 'Checks'), '1 of 1 passed');
  const { sheets } = await downloadWorkbook(action(card, 'Download Excel')!.url!);
  const lines = sheets.get('GL Detail')!.slice(1);
  assert.ok(lines.length > 0);
  for (const period of [202502, 202503, 202504]) {
    const mine = lines.filter((r) => r[1] === period);
    const expected = g.periods[String(period)].accounts[account] ?? { debitCents: 0, creditCents: 0 };
    assert.equal(mine.reduce((s, r) => s + cents(r[7]), 0), expected.debitCents, `debits ${period}`);
    assert.equal(mine.reduce((s, r) => s + cents(r[8]), 0), expected.creditCents, `credits ${period}`);
    assert.ok(mine.every((r) => r[4] === account));
  }
});

test('account activity live from Plex (no lock): an open period equals the golden activity', async () => {
  const user = stack.connector.user();
  await user.say(stack.endpoint, 'run account-activity pcn=900202 startPeriod=202612 endPeriod=202612');
  const card = callCard(await user.waitFor(cardStarting('Ready: Account activity'), 60_000));
  const { sheets } = await downloadWorkbook(action(card, 'Download Excel')!.url!);
  const rows = sheets.get('Account Activity')!;
  assert.deepEqual(rows[0], ['PCN', 'Account No', 'Account Name', 'Beginning', 'Debit', 'Credit', 'Ending', 'Currency']);
  const g = golden.pcns['900202'].periods['202612'];
  let debit = 0;
  for (const r of rows.slice(1)) {
    const ga = g.accounts[String(r[1])] ?? { debitCents: 0, creditCents: 0 };
    assert.equal(cents(r[4]), ga.debitCents, `debit ${r[1]}`);
    assert.equal(cents(r[5]), ga.creditCents, `credit ${r[1]}`);
    assert.equal(typeof r[3], 'number', 'amounts are numbers in the workbook, not text');
    debit += cents(r[4]);
  }
  assert.equal(debit, g.debitCents);
});
