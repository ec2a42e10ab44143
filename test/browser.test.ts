/**
 * End to end in a real browser: Debian's Chromium (driven by playwright-core, never a downloaded
 * browser) opens the Microsoft 365 Agents Playground, the Teams-like chat `npm start` offers, which
 * is also the Bot Connector for the bot under test. Behind it: the bot, a runner, Redis, Azurite and
 * the SQLite warehouse from the test harness. A person's path: catalog → form → invalid input →
 * fixed input → status card → result card → download, read back with exceljs and compared with the
 * warehouse. Screenshots of every step go to test/screenshots/browser/ (git-ignored).
 *
 * The form's Account is a typeahead (Input.ChoiceSet, style filtered, choices.data Data.Query). The
 * Playground (0.2.28) never sends Teams' `application/search` invoke for it: its card host answers
 * every Data.Query itself with an empty list, and its combobox narrows the card's static choices (the
 * first accounts of the chart) to titles starting with the typed text. So this test covers the static
 * fallback a client without dynamic search gets; the bot's search answer is covered through the local
 * Bot Connector in test/chat.test.ts.
 *
 * Knobs: CHROMIUM_PATH (default /usr/bin/chromium).
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants as fsConstants, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import ExcelJS from 'exceljs';
import { chromium, type Browser, type Download, type Locator, type Page } from 'playwright-core';
import { startPlayground, type RunningPlayground } from '../demo/playground.ts';
import { jobCount, startStack, type Stack } from './harness/stack.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Flags for a headless Chromium in a container with no network and no desktop. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const SCREENSHOTS = new URL('./screenshots/browser/', import.meta.url).pathname;

/** Waits for something a person would see; generous, the machine is shared. */
const SEE_MS = 30_000;
/** A small GL detail run takes a second or two; leave room for a slow CI box. */
const RESULT_MS = 90_000;

/**
 * The report and parameters the test asks for (a small, fast report with a cross-field rule). The
 * person types `typed` into the Account typeahead and picks `account` among what it offers.
 */
const REPORT = {
  id: 'gl-detail', title: 'GL detail by account', pcn: '900101', typed: '10001', account: '10001-000-0000', start: '202501', end: '202503',
};

/**
 * Headlines the status card (the card the form turns into) must go through, in order; others may
 * come in between (Running and Delivering can be too short-lived for the page to show them: the
 * runner sends only the latest state). The first one must show the run id.
 */
const EXPECTED_STATUS: RegExp[] = [new RegExp(`^Queued\\b.*${REPORT.title}`), new RegExp(`^Done\\b.*${REPORT.title}`)];

let stack: Stack | undefined;
let playground: RunningPlayground | undefined;
let browser: Browser | undefined;
const playgroundOutput: string[] = [];

before(async () => {
  try {
    accessSync(CHROMIUM, fsConstants.X_OK);
  } catch {
    throw new Error(`The browser test needs Chromium at ${CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it; `
      + 'CHROMIUM_PATH points elsewhere). It never downloads a browser.');
  }
  rmSync(SCREENSHOTS, { recursive: true, force: true });
  mkdirSync(SCREENSHOTS, { recursive: true });
  stack = await startStack({ runners: 1 });
  playground = await startPlayground({ endpoint: stack.endpoint, port: 0, output: (l) => playgroundOutput.push(l) });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close().catch(() => {});
  await playground?.stop();
  await stack?.stop();
});

/** A run of named steps, each ending in a screenshot (a failing one in a "FAILED" screenshot). */
function stepper(t: TestContext, page: Page) {
  let n = 0;
  const started = Date.now();
  return async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const file = `${String(++n).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
    const t0 = Date.now();
    try {
      const value = await fn();
      await page.screenshot({ path: join(SCREENSHOTS, `${file}.png`) });
      t.diagnostic(`${file}: ${Date.now() - t0} ms (at ${((Date.now() - started) / 1000).toFixed(1)} s)`);
      return value;
    } catch (err) {
      await page.screenshot({ path: join(SCREENSHOTS, `${file}-FAILED.png`) }).catch(() => {});
      throw new Error(`step "${name}" failed: ${(err as Error).message}\n(screenshot ${file}-FAILED.png; last Playground output:\n${playgroundOutput.slice(-10).join('\n')})`, { cause: err });
    }
  };
}

interface CardState {
  /** Position of the card in the chat. */
  index: number;
  /** Its first TextBlock, e.g. "Queued: GL detail by account". */
  headline: string;
  /** All its visible text. */
  text: string;
  at: number;
}

/**
 * Records every state of every Adaptive Card, from inside the page: a MutationObserver sees states
 * that last less than a polling interval (a fast run's status card). Cards are keyed by position.
 * A string, not a function: tsx would wrap a function's inner helpers in a name-keeping call that
 * does not exist in the page.
 */
const RECORD_CARD_STATES = `(() => {
  window.cardStates = [];
  const last = [];
  const scan = () => document.querySelectorAll('.ac-adaptiveCard').forEach((card, index) => {
    const text = card.innerText.trim();
    if (last[index] === text) return;
    last[index] = text;
    const first = card.querySelector('.ac-textBlock');
    window.cardStates.push({ index, headline: first ? first.innerText.trim() : '', text, at: Date.now() });
  });
  new MutationObserver(scan).observe(document.body, { subtree: true, childList: true, characterData: true });
  scan();
})()`;

/** The states card `index` went through since `since`, a repeated headline kept once. */
async function statesOf(page: Page, index: number, since: number): Promise<CardState[]> {
  const states = await page.evaluate('window.cardStates') as CardState[];
  return states.filter((e) => e.index === index && e.at >= since && e.headline)
    .filter((e, i, all) => i === 0 || all[i - 1].headline !== e.headline);
}

/** `expected` appear in `seen` in this order, others allowed in between. */
function inOrder(seen: string[], expected: RegExp[]): boolean {
  let i = 0;
  for (const text of seen) if (i < expected.length && expected[i].test(text)) i++;
  return i === expected.length;
}

/** A fact's value ("Run id" → "20260101-abcdef12") from a card's visible text. */
function factIn(text: string, title: string): string | undefined {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const at = lines.indexOf(title);
  return at >= 0 ? lines[at + 1] : undefined;
}

const factOf = async (card: Locator, title: string) => factIn(await card.innerText(), title);

/** The requested account's name in the warehouse's chart of accounts (the typeahead shows "number name"). */
function warehouseAccountName(): string {
  const db = new Database(stack!.warehousePath, { readonly: true });
  try {
    const row = db.prepare('select account_name as name from accounting_v_account_e where plexus_customer_no = ? and account_no = ?')
      .get(Number(REPORT.pcn), REPORT.account) as { name: string } | undefined;
    assert.ok(row, `the warehouse has account ${REPORT.account} for PCN ${REPORT.pcn}`);
    return row.name;
  } finally {
    db.close();
  }
}

/** What the warehouse holds for the requested lines: the numbers the workbook must show. */
function warehouseLines(): { count: number; debit: number; credit: number } {
  const db = new Database(stack!.warehousePath, { readonly: true });
  try {
    return db.prepare(`select count(*) as count, coalesce(sum(d.debit_cents), 0) / 100.0 as debit, coalesce(sum(d.credit_cents), 0) / 100.0 as credit
      from accounting_v_gl_journal_e j
      join accounting_v_gl_journal_dist_e d on d.plexus_customer_no = j.plexus_customer_no and d.journal_link = j.journal_link
      where j.plexus_customer_no = ? and d.account_no like ? and j.period between ? and ?`)
      .get(Number(REPORT.pcn), `${REPORT.account}%`, Number(REPORT.start), Number(REPORT.end)) as { count: number; debit: number; credit: number };
  } finally {
    db.close();
  }
}

test('in Chromium through the Agents Playground: catalog, form, invalid then valid input, status, result, download', { timeout: 240_000 }, async (t) => {
  const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  // Offline and deterministic: nothing leaves the machine (the Playground's CDN fonts just fail).
  await context.route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname), (route) => route.abort());
  const page = await context.newPage();
  const step = stepper(t, page);
  const cards = page.locator('.ac-adaptiveCard');
  const cardWith = (text: string) => cards.filter({ hasText: text }).last();

  await step('open the chat', async () => {
    await page.goto(playground!.url);
    // On opening, the Playground installs the app: the bot answers with its welcome and help card.
    await cardWith('I run finance and operations reports').waitFor({ timeout: SEE_MS });
    await page.evaluate(RECORD_CARD_STATES);
  });

  await step('type reports', async () => {
    await page.locator('[data-lexical-editor="true"]').click();
    await page.keyboard.type('reports');
    await page.keyboard.press('Enter');
    const catalog = cardWith('Choose a report to fill in its parameters.');
    await catalog.waitFor({ timeout: SEE_MS });
    for (const title of ['Trial Balance', 'Chart of accounts', REPORT.title]) assert.ok(await catalog.getByText(title, { exact: true }).count(), title);
  });

  const formIndex = await step('open the form', async () => {
    const catalog = cardWith('Choose a report to fill in its parameters.');
    await catalog.getByRole('button').filter({ hasText: `run ${REPORT.id}` }).getByRole('button', { name: 'Open', exact: true }).click();
    // Action.Execute: the form replaces the catalog card in place.
    await cards.getByRole('button', { name: 'Run report' }).waitFor({ timeout: SEE_MS });
    const index = (await cards.count()) - 1;
    assert.match(await cards.nth(index).innerText(), new RegExp(`^${REPORT.title}`));
    return index;
  });
  const form = cards.nth(formIndex);

  const fill = async (start: string, end: string) => {
    await form.getByRole('textbox', { name: /^Start period/ }).fill(start);
    await form.getByRole('textbox', { name: /^End period/ }).fill(end);
    await form.getByRole('button', { name: 'Run report' }).click();
  };

  const accountBox = form.getByRole('combobox', { name: /^Account/ });
  const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  await step('choose PCN and account', async () => {
    await form.getByRole('combobox', { name: /^PCN/ }).click();
    await page.getByRole('option', { name: new RegExp(`^${REPORT.pcn}`) }).click();
    // The typeahead: type the beginning of the account number, then pick it from what is offered.
    const wanted = page.getByRole('option', { name: `${REPORT.account} ${warehouseAccountName()}`, exact: true });
    const others = page.getByRole('option').filter({ hasNotText: new RegExp(`^${escaped(REPORT.typed)}`) }).first();
    await accountBox.click();
    // The first digit offers accounts the whole prefix will not (10000-… for 10001, say) ...
    await accountBox.pressSequentially(REPORT.typed.slice(0, 1));
    await others.waitFor({ timeout: SEE_MS });
    // ... the rest narrows the offer to accounts starting with it, the wanted one among them.
    await accountBox.pressSequentially(REPORT.typed.slice(1));
    await others.waitFor({ state: 'detached', timeout: SEE_MS });
    await wanted.waitFor({ timeout: SEE_MS });
    const offered = await page.getByRole('option').allInnerTexts();
    t.diagnostic(`typing ${REPORT.typed} offered: ${offered.join(' | ')}`);
    assert.ok(offered.length > 0 && offered.every((o) => o.startsWith(REPORT.typed)), `offered ${JSON.stringify(offered)}`);
    await wanted.click();
    await wanted.waitFor({ state: 'hidden', timeout: SEE_MS });
    assert.equal(await accountBox.inputValue(), REPORT.account);
  });

  await step('submit invalid parameters', async () => {
    const queuedBefore = await jobCount(stack!.queue);
    await fill(REPORT.end, REPORT.start);
    await form.getByText('End period must not be before the start period').waitFor({ timeout: SEE_MS });
    assert.ok(await form.getByText('Please correct the fields marked below.').isVisible());
    // The message sits with the field it is about.
    const endField = form.locator('.ac-container')
      .filter({ has: page.getByRole('textbox', { name: /^End period/ }) })
      .filter({ hasNot: page.getByRole('textbox', { name: /^Start period/ }) });
    assert.match(await endField.innerText(), /End period must not be before the start period/);
    // The form came back with what was typed, and nothing was queued.
    assert.equal(await accountBox.inputValue(), REPORT.account);
    assert.equal(await form.getByRole('textbox', { name: /^Start period/ }).inputValue(), REPORT.end);
    assert.equal(await jobCount(stack!.queue), queuedBefore);
  });

  const submittedAt = await step('submit valid parameters', async () => {
    const at = Date.now();
    await fill(REPORT.start, REPORT.end);
    // The form turns into the status card (Action.Execute's answer replaces it in place).
    await form.getByRole('button', { name: 'Run report' }).waitFor({ state: 'detached', timeout: SEE_MS });
    return at;
  });

  const result = cardWith(`Ready: ${REPORT.title}`);
  const rowsShown = await step('result card', async () => {
    await result.getByRole('link', { name: 'Download Excel' }).waitFor({ timeout: RESULT_MS });
    assert.equal(await factOf(result, 'Account'), REPORT.account);
    return factOf(result, 'Rows');
  });

  const statuses = await statesOf(page, formIndex, submittedAt);
  t.diagnostic(`status card went through: ${statuses.map((s) => s.headline).join(' → ')}`);
  assert.ok(inOrder(statuses.map((s) => s.headline), EXPECTED_STATUS),
    `status card went through ${JSON.stringify(statuses.map((s) => s.headline))}, expected ${EXPECTED_STATUS.join(' → ')}`);
  const runId = factIn(statuses.find((s) => EXPECTED_STATUS[0].test(s.headline))!.text, 'Run id');
  assert.match(runId ?? '', /^\d{8}-[0-9a-f]{8}$/, 'the status card shows the run id');
  assert.equal(await factOf(result, 'Run id'), runId, 'the result is for the run the status card showed');

  const workbook = await step('download', async () => {
    // Action.OpenUrl: the Playground opens the SAS link in a new tab, which downloads the file.
    const download = new Promise<Download>((resolve) => {
      page.once('download', resolve);
      context.once('page', (tab) => tab.once('download', resolve));
    });
    await result.getByRole('link', { name: 'Download Excel' }).click();
    let timer: NodeJS.Timeout | undefined;
    const file = await Promise.race([
      download,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('no download started after clicking Download Excel')), SEE_MS); }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(file.suggestedFilename(), `gl-detail-${REPORT.pcn}-${REPORT.account}-${REPORT.start}-${REPORT.end}.xlsx`);
    const path = join(stack!.dir, file.suggestedFilename());
    await file.saveAs(path);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.readFile(path);
    return wb;
  });
  await context.close();

  const sheet = workbook.getWorksheet('GL Detail');
  assert.ok(sheet, `sheets: ${workbook.worksheets.map((w) => w.name).join(', ')}`);
  const rows: unknown[][] = [];
  sheet.eachRow((row) => rows.push((row.values as unknown[]).slice(1)));
  assert.deepEqual(rows[0], ['Type', 'Period', 'Date', 'Number', 'Account No', 'Account Name', 'Description', 'Debit', 'Credit']);
  const lines = rows.slice(1);
  const expected = warehouseLines();
  assert.ok(expected.count > 0, 'the warehouse has lines for the request');
  assert.equal(lines.length, expected.count);
  // The card counts the rows of every exported sheet: the lines and their totals per account and period.
  const totals = workbook.getWorksheet('Totals')!.actualRowCount - 1;
  assert.equal(rowsShown, (expected.count + totals).toLocaleString('en-US'), 'the card\'s row count');
  for (const line of lines) {
    assert.ok(String(line[4]).startsWith(REPORT.account), `account ${String(line[4])}`);
    assert.ok(Number(line[1]) >= Number(REPORT.start) && Number(line[1]) <= Number(REPORT.end), `period ${String(line[1])}`);
  }
  const cents = (col: number) => Math.round(lines.reduce((sum, l) => sum + Number(l[col] ?? 0), 0) * 100);
  assert.equal(cents(7), Math.round(expected.debit * 100), 'debits');
  assert.equal(cents(8), Math.round(expected.credit * 100), 'credits');
});
