/**
 * The plex connector against the Plex simulator (demo/plex-simulator.ts) over real HTTP. The fixture's
 * figures are small enough to work out by hand; the expected 4814 rows below are those sums.
 */
import { PLEX_FIXTURE_SCHEMA } from '../../test/harness/plex-schema.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { startPlexSimulator, type PlexSimulator } from '../../demo/plex-simulator.ts';
import { ConnectorError } from '../../core/errors.ts';
import { convertPlexValue, parsePlexUrl, plexConnector } from './plex.ts';
import type { Connector, Row } from './types.ts';

/**
 * Two PCNs. FY2024 = 202412 (closed), FY2025 = 202501 (closed), 202502 and 202503 (open).
 * 900101: J1 202412 cash 1000.00 / sales; J2 202412 utilities 200.50 / AP; J3 202501 cash 500.00 / sales;
 *         J4 202501 AP 100.25 / cash; J5 202502 (open) utilities 12.34 / cash and cash 300.00 / sales.
 *         Rent exists from 202503 and has no lines.
 * 900202: K1 202412 cash 50.00 / sales; K2 202501 COGS 20.00 / cash; K3 202502 (open) cash 75.10 / sales.
 */
function buildFixture(path: string): void {
  const db = new Database(path);
  db.exec(PLEX_FIXTURE_SCHEMA);
  db.exec(`
    insert into accounting_v_category_type values ('Asset','Debit'),('Expense','Debit'),('Liability','Credit'),('Equity','Credit'),('Revenue','Credit');
    insert into plexus_customer values (900101,'DEMO-A','Demo Stamping - Plant A','USD','30200-000-0000'),
                                       (900202,'DEMO-B','Demo Machining - Plant B','USD','30200-000-0000');
    insert into accounting_v_account_e values
      (900101,1,'10000-000-0000','Cash - Operating',1,'Asset',1,'Current Assets',1,'Cash','10000','000','0000',202401),
      (900101,2,'20000-000-0000','Accounts Payable - Trade',1,'Liability',2,'Current Liabilities',2,'Payables','20000','000','0000',202401),
      (900101,3,'30200-000-0000','Retained Earnings',1,'Equity',3,'Equity',3,'Equity','30200','000','0000',202401),
      (900101,4,'40000-000-0000','Sales - Production Parts',1,'Revenue',4,'Revenue',4,'Sales','40000','000','0000',202401),
      (900101,5,'70000-100-0000','Utilities - Electric',1,'Expense',5,'Overhead',5,'Purchases','70000','100',null,202401),
      (900101,6,'70100-000-0000','Rent',1,'Expense',5,'Overhead',5,'Purchases','70100','000','0000',202503),
      (900202,1,'10000-000-0000','Cash - Operating',1,'Asset',1,'Current Assets',1,'Cash','10000','000','0000',202401),
      (900202,2,'30200-000-0000','Retained Earnings',1,'Equity',3,'Equity',3,'Equity','30200','000','0000',202401),
      (900202,3,'40000-000-0000','Sales - Machined Parts',1,'Revenue',4,'Revenue',4,'Sales','40000','000','0000',202401),
      (900202,4,'50000-000-0000','Cost of Sales - Material',1,'Expense',6,'Cost of Goods Sold',6,'Cost of Goods Sold','50000','000','0000',202401);
  `);
  const period = db.prepare('insert into accounting_v_period_e values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null, null)');
  for (const pcn of [900101, 900202]) {
    [[202412, 2024, 12, 0], [202501, 2025, 1, 0], [202502, 2025, 2, 1], [202503, 2025, 3, 1]].forEach(([p, fy, order, status], i) => {
      const mm = String(p).slice(4);
      period.run(pcn, i + 1, p, `${mm}-${String(p).slice(0, 4)}`, fy, order, Math.ceil(order / 3), `${String(p).slice(0, 4)}-${mm}-01`, `${String(p).slice(0, 4)}-${mm}-28`, status);
    });
  }
  const header = db.prepare('insert into accounting_v_gl_journal_e values (?, ?, ?, ?, ?, null, null, 0, 0, null)');
  const line = db.prepare('insert into accounting_v_gl_journal_dist_e values (?, ?, ?, ?, null, ?, ?, ?, ?)');
  const journal = (pcn: number, link: number, p: number, lines: [string, number, number][]) => {
    header.run(pcn, link, `J${link}`, 'GL', p);
    lines.forEach(([account, dc, cc], i) => line.run(pcn, link, i + 1, account, dc / 100, cc / 100, dc, cc));
  };
  journal(900101, 1, 202412, [['10000-000-0000', 100000, 0], ['40000-000-0000', 0, 100000]]);
  journal(900101, 2, 202412, [['70000-100-0000', 20050, 0], ['20000-000-0000', 0, 20050]]);
  journal(900101, 3, 202501, [['10000-000-0000', 50000, 0], ['40000-000-0000', 0, 50000]]);
  journal(900101, 4, 202501, [['20000-000-0000', 10025, 0], ['10000-000-0000', 0, 10025]]);
  journal(900101, 5, 202502, [['70000-100-0000', 1234, 0], ['10000-000-0000', 0, 1234], ['10000-000-0000', 30000, 0], ['40000-000-0000', 0, 30000]]);
  journal(900202, 1, 202412, [['10000-000-0000', 5000, 0], ['40000-000-0000', 0, 5000]]);
  journal(900202, 2, 202501, [['50000-000-0000', 2000, 0], ['10000-000-0000', 0, 2000]]);
  journal(900202, 3, 202502, [['10000-000-0000', 7510, 0], ['40000-000-0000', 0, 7510]]);
  db.close();
}

/** A pass-through proxy that answers the first `failPosts` SOAP POSTs itself with 503, and counts POSTs. */
async function startProxy(target: string, failPosts: number): Promise<{ url: string; posts: () => number; close(): Promise<void> }> {
  const origin = new URL(target).origin;
  let posts = 0;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method === 'POST' && ++posts <= failPosts) {
      res.writeHead(503, { 'Content-Type': 'text/html' });
      res.end('<html><body>Service Unavailable</body></html>');
      return;
    }
    const headers: Record<string, string> = {};
    for (const h of ['content-type', 'soapaction', 'authorization']) if (req.headers[h]) headers[h] = String(req.headers[h]);
    const upstream = await fetch(origin + req.url, { method: req.method, headers, body: req.method === 'POST' ? Buffer.concat(chunks) : undefined });
    res.writeHead(upstream.status, { 'Content-Type': upstream.headers.get('content-type') ?? 'text/xml' });
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${new URL(target).pathname}`;
  return {
    url,
    posts: () => posts,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

/** `plex://user:pass@host:port/path?options` for a simulator (or proxy) URL. */
function plexUrl(httpUrl: string, user: string, password: string, options = ''): string {
  const u = new URL(httpUrl);
  return `plex://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${u.host}${u.pathname}${options ? `?${options}` : ''}`;
}

async function all(rows: AsyncIterable<Row>): Promise<Row[]> {
  const out: Row[] = [];
  for await (const r of rows) out.push(r);
  return out;
}

/** [Account_No, Beginning, Debit, Credit, Ending] per row. */
const figures = (rows: Row[]) => rows.map((r) => [r.Account_No, r.Beginning_Balance, r.Debit, r.Credit, r.Ending_Balance]);

describe('plex connector', () => {
  let dir: string;
  let sim: PlexSimulator;
  let slow: PlexSimulator;
  let limited: PlexSimulator;
  const open: Connector[] = [];
  const connect = (url: string): Connector => {
    const c = plexConnector('plex', url);
    open.push(c);
    return c;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'plex-conn-'));
    buildFixture(join(dir, 'plex.sqlite'));
    [sim, slow, limited] = await Promise.all([
      startPlexSimulator({ dbPath: join(dir, 'plex.sqlite') }),
      startPlexSimulator({ dbPath: join(dir, 'plex.sqlite'), delayMs: 2_000 }),
      startPlexSimulator({ dbPath: join(dir, 'plex.sqlite'), readRowLimit: 2 }),
    ]);
  });

  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await Promise.all([sim?.close(), slow?.close(), limited?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs 4814 for one PCN and a closed period: hand-computed balances, strings, null for <Value/>', async () => {
    const plex = connect(plexUrl(sim.url, 'DemoWS_900101', 'demo-900101-pw'));
    const result = await plex.query('4814', { PCNs: '900101', Period_Start: 202501, Period_End: 202501 });
    assert.deepEqual(result.columns.map((c) => c.name), ['Base_No', 'Account_No', 'Abbreviated_Name', 'Account_Name',
      'Beginning_Balance', 'Debit', 'Credit', 'Ending_Balance', 'PCN_Name', 'Report_Currency', 'Cost_Center_No', 'Location_No']);
    const rows = await all(result.rows);
    assert.deepEqual(figures(rows), [
      ['10000-000-0000', '1000.00', '500.00', '100.25', '1399.75'],
      ['20000-000-0000', '-200.50', '100.25', '0.00', '-100.25'],
      // FY2024 P&L folded into retained earnings: sales −1000.00 + utilities 200.50.
      ['30200-000-0000', '-799.50', '0.00', '0.00', '-799.50'],
      // P&L restarts in FY2025, so FY2024's activity is not in Beginning.
      ['40000-000-0000', '0.00', '0.00', '500.00', '-500.00'],
      ['70000-100-0000', '0.00', '0.00', '0.00', '0.00'],
    ]);
    assert.deepEqual(rows[4], {
      Base_No: '70000', Account_No: '70000-100-0000', Abbreviated_Name: 'Utilities - Electric', Account_Name: 'Utilities - Electric',
      Beginning_Balance: '0.00', Debit: '0.00', Credit: '0.00', Ending_Balance: '0.00',
      PCN_Name: 'Demo Stamping - Plant A', Report_Currency: 'USD', Cost_Center_No: '100', Location_No: null,
    });
  });

  it('runs 4814 for two PCNs over an open period (live journal lines, not posted balances)', async () => {
    const plex = connect(plexUrl(sim.url, 'DemoWS_All', 'demo-all-pw'));
    const rows = await all((await plex.query('4814', { PCNs: '900101,900202', Period_Start: 202502, Period_End: 202502 })).rows);
    assert.deepEqual(rows.map((r) => [r.PCN_Name, ...figures([r])[0]]), [
      ['Demo Stamping - Plant A', '10000-000-0000', '1399.75', '300.00', '12.34', '1687.41'],
      ['Demo Stamping - Plant A', '20000-000-0000', '-100.25', '0.00', '0.00', '-100.25'],
      ['Demo Stamping - Plant A', '30200-000-0000', '-799.50', '0.00', '0.00', '-799.50'],
      ['Demo Stamping - Plant A', '40000-000-0000', '-500.00', '0.00', '300.00', '-800.00'],
      ['Demo Stamping - Plant A', '70000-100-0000', '0.00', '12.34', '0.00', '12.34'],
      ['Demo Machining - Plant B', '10000-000-0000', '30.00', '75.10', '0.00', '105.10'],
      ['Demo Machining - Plant B', '30200-000-0000', '-50.00', '0.00', '0.00', '-50.00'],
      ['Demo Machining - Plant B', '40000-000-0000', '0.00', '0.00', '75.10', '-75.10'],
      ['Demo Machining - Plant B', '50000-000-0000', '20.00', '0.00', '0.00', '20.00'],
    ]);
    // Each PCN's trial balance nets to zero, in exact cents.
    for (const pcn of ['Demo Stamping - Plant A', 'Demo Machining - Plant B']) {
      const sum = rows.filter((r) => r.PCN_Name === pcn).reduce((s, r) => s + (convertPlexValue(r.Ending_Balance as string, 'cents') as number), 0);
      assert.equal(sum, 0, pcn);
    }
  });

  it('runs 4814 over a period range, with an account added inside the range', async () => {
    const plex = connect(plexUrl(sim.url, 'DemoWS_All', 'demo-all-pw'));
    const rows = await all((await plex.query('4814', { PCNs: '900101', Period_Start: 202501, Period_End: 202503 })).rows);
    assert.deepEqual(figures(rows), [
      ['10000-000-0000', '1000.00', '800.00', '112.59', '1687.41'],
      ['20000-000-0000', '-200.50', '100.25', '0.00', '-100.25'],
      ['30200-000-0000', '-799.50', '0.00', '0.00', '-799.50'],
      ['40000-000-0000', '0.00', '0.00', '800.00', '-800.00'],
      ['70000-100-0000', '0.00', '12.34', '0.00', '12.34'],
      ['70100-000-0000', '0.00', '0.00', '0.00', '0.00'],
    ]);
  });

  it('reports wrong credentials as an authentication failure without the password', async () => {
    const plex = connect(plexUrl(sim.url, 'DemoWS_All', 'Secret-Wrong-pw'));
    await assert.rejects(plex.query('4814', { PCNs: '900101', Period_Start: 202501, Period_End: 202501 }), (err: unknown) => {
      assert.ok(err instanceof ConnectorError);
      assert.match(err.message, /^authentication failed for user DemoWS_All at plex:\/\/DemoWS_All:\*\*\*@127\.0\.0\.1:\d+\/DataSource\/Service\.asmx \(HTTP 401\)$/);
      assert.doesNotMatch(err.message + String(err.cause ?? ''), /Secret-Wrong-pw/);
      return true;
    });
  });

  it('turns a Plex Error=true into a ConnectorError carrying Plex\'s message and the key', async () => {
    const plex = connect(plexUrl(sim.url, 'DemoWS_900101', 'demo-900101-pw'));
    await assert.rejects(plex.query('12345', {}), (err: unknown) => {
      assert.ok(err instanceof ConnectorError);
      assert.equal(err.connection, 'plex');
      assert.match(err.message, /^Plex data source 12345 failed: Data source key '12345' was not found/);
      return true;
    });
    await assert.rejects(plex.query('4814', { PCNs: '900202', Period_Start: 202501, Period_End: 202501 }),
      /Plex data source 4814 \(Account_Activity_Summary_xPCN_Get\) failed: Access denied: web service user DemoWS_900101 is not authorized for PCN 900202\./);
    await assert.rejects(plex.query('4814', { PCNs: '900101', Period_End: 202501 }), /Required input parameter @Period_Start was not supplied/);
  });

  it('gives up on a slow answer after the timeout', async () => {
    const plex = connect(plexUrl(slow.url, 'DemoWS_All', 'demo-all-pw', 'timeout=200'));
    const t0 = Date.now();
    await assert.rejects(plex.query('4814', { PCNs: '900101', Period_Start: 202501, Period_End: 202501 }),
      (err: unknown) => err instanceof ConnectorError && /Plex data source 4814: no answer from Plex at .* within 200 ms/.test(err.message));
    assert.ok(Date.now() - t0 < 1_500, `took ${Date.now() - t0} ms`);
  });

  it('stops at once when the caller aborts, rejecting with the signal\'s reason', async () => {
    const plex = connect(plexUrl(slow.url, 'DemoWS_All', 'demo-all-pw', 'timeout=10000'));
    const controller = new AbortController();
    const reason = new Error('run cancelled');
    setTimeout(() => controller.abort(reason), 100);
    const t0 = Date.now();
    await assert.rejects(plex.query('4814', { PCNs: '900101', Period_Start: 202501, Period_End: 202501 }, { signal: controller.signal }), (err: unknown) => err === reason);
    assert.ok(Date.now() - t0 < 1_500, `took ${Date.now() - t0} ms`);
    await assert.rejects(plex.query('4814', {}, { signal: controller.signal }), (err: unknown) => err === reason);
  });

  it('retries a transient 503 and then succeeds', async () => {
    const proxy = await startProxy(sim.url, 1);
    try {
      const plex = connect(plexUrl(proxy.url, 'DemoWS_All', 'demo-all-pw', 'retries=2&backoff=10'));
      const rows = await all((await plex.query('4814', { PCNs: '900202', Period_Start: 202501, Period_End: 202501 })).rows);
      assert.equal(rows.length, 4);
      assert.equal(proxy.posts(), 2);
    } finally {
      await proxy.close();
    }
  });

  it('stops retrying after `retries` more attempts', async () => {
    const proxy = await startProxy(sim.url, 100);
    try {
      const plex = connect(plexUrl(proxy.url, 'DemoWS_All', 'demo-all-pw', 'retries=2&backoff=5'));
      await assert.rejects(plex.query('4814', { PCNs: '900202', Period_Start: 202501, Period_End: 202501 }),
        /Plex data source 4814: Plex answered HTTP 503 at plex:\/\/DemoWS_All:\*\*\*@/);
      assert.equal(proxy.posts(), 3);
    } finally {
      await proxy.close();
    }
  });

  it('never retries a Plex error or a 401', async () => {
    const proxy = await startProxy(sim.url, 0);
    try {
      const plex = connect(plexUrl(proxy.url, 'DemoWS_All', 'demo-all-pw', 'retries=3&backoff=5'));
      await assert.rejects(plex.query('12345', {}), /Plex data source 12345 failed/);
      assert.equal(proxy.posts(), 1);
      const denied = connect(plexUrl(proxy.url, 'DemoWS_All', 'wrong', 'retries=3&backoff=5'));
      await assert.rejects(denied.query('4814', {}), /authentication failed for user DemoWS_All/);
      assert.equal(proxy.posts(), 2);
    } finally {
      await proxy.close();
    }
  });

  it('retries a refused connection, then reports it', async () => {
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    const port = (gone.address() as AddressInfo).port;
    await new Promise<void>((r) => gone.close(() => r()));
    const plex = connect(`plex://DemoWS_All:demo-all-pw@127.0.0.1:${port}/DataSource/Service.asmx?retries=1&backoff=5`);
    await assert.rejects(plex.testConnection(), /cannot reach Plex at plex:\/\/DemoWS_All:\*\*\*@127\.0\.0\.1:\d+\/DataSource\/Service\.asmx\?retries=1&backoff=5 \(ECONNREFUSED\)/);
  });

  it('refuses a result cut by the read row limit', async () => {
    const plex = connect(plexUrl(limited.url, 'DemoWS_All', 'demo-all-pw'));
    await assert.rejects(plex.query('4814', { PCNs: '900101', Period_Start: 202501, Period_End: 202501 }),
      /Plex data source 4814 hit Plex's read row limit, so its answer is incomplete \(Success\. Read row limit of 2 rows exceeded: 2 of 5 rows returned\.\)/);
  });

  it('takes the columns of an empty result from the request template', async () => {
    const plex = connect(plexUrl(sim.url, 'DemoWS_All', 'demo-all-pw'));
    const result = await plex.query('900003', { PCN: 900202, Period_Start: 202501, Period_End: 202502 });
    assert.deepEqual(result.columns.map((c) => c.name), ['PCN', 'Account_Key', 'Account_No', 'Period', 'Debit', 'Credit', 'Add_Date', 'Update_Date']);
    assert.deepEqual(await all(result.rows), []);
  });

  it('releases a result early and stops yielding rows', async () => {
    const plex = connect(plexUrl(sim.url, 'DemoWS_All', 'demo-all-pw'));
    const result = await plex.query('900002', { PCN: '900101' });
    await result.release();
    await result.release();
    assert.deepEqual(await all(result.rows), []);
  });

  it('tests the connection by fetching the WSDL, and is read-only', async () => {
    const plex = connect(plexUrl(sim.url, 'DemoWS_All', 'demo-all-pw'));
    assert.equal(plex.kind, 'plex');
    await plex.testConnection();
    await assert.rejects(plex.execute('delete from x'), /connection "plex" is a Plex data source and is read-only/);
    await assert.rejects(plex.bulkInsert('t', ['a'], (async function* () { yield [1]; })()), /read-only/);
    await assert.rejects(plex.query('select 1'), /"select 1" is not a Plex data source key/);
    const wrongPath = connect(plexUrl(sim.url.replace('Service.asmx', 'Nope.asmx'), 'DemoWS_All', 'demo-all-pw'));
    await assert.rejects(wrongPath.testConnection(), /unexpected answer from Plex at .*: HTTP 404/);
  });

  it('parses plex:// and plexs:// URLs', () => {
    assert.deepEqual(parsePlexUrl('p', 'plexs://CompanyWs%40plex.com:p%3Ass@api.plexonline.com/DataSource/Service.asmx?timeout=30000&retries=2'), {
      endpoint: 'https://api.plexonline.com/DataSource/Service.asmx', user: 'CompanyWs@plex.com', password: 'p:ss',
      timeoutMs: 30000, retries: 2, backoffMs: 500,
    });
    assert.deepEqual(parsePlexUrl('p', 'plex://u:p@127.0.0.1:8080'), {
      endpoint: 'http://127.0.0.1:8080/DataSource/Service.asmx', user: 'u', password: 'p', timeoutMs: 60000, retries: 2, backoffMs: 500,
    });
    assert.throws(() => parsePlexUrl('p', 'plex://host/DataSource/Service.asmx'), /needs the web-service user and password/);
    assert.throws(() => parsePlexUrl('p', 'plex://u:secret@host/x?timout=5'), (err: unknown) =>
      err instanceof ConnectorError && /option "timout" is unknown/.test(err.message));
    assert.throws(() => parsePlexUrl('p', 'plex://u:secret@host/x?retries=-1'), /must be a whole number/);
    assert.throws(() => parsePlexUrl('p', 'http://u:secret@host/x'), (err: unknown) => err instanceof ConnectorError && !err.message.includes('secret'));
  });

  it('converts Plex strings to typed values; cents exactly', () => {
    assert.equal(convertPlexValue('1234.50', 'cents'), 123450);
    assert.equal(convertPlexValue('-12.00', 'cents'), -1200);
    assert.equal(convertPlexValue('0.07', 'cents'), 7);
    assert.equal(convertPlexValue('-0.1', 'cents'), -10);
    assert.equal(convertPlexValue('12', 'cents'), 1200);
    assert.equal(convertPlexValue('1234.50000', 'cents'), 123450);
    assert.equal(convertPlexValue('.5', 'cents'), 50);
    assert.equal(convertPlexValue('-0.00', 'cents'), 0);
    assert.equal(convertPlexValue('90071992547409.91', 'cents'), 9007199254740991);
    assert.equal(convertPlexValue('1.10', 'cents'), 110); // 1.10 * 100 is 110.00000000000001 in floating point
    assert.throws(() => convertPlexValue('90071992547409.92', 'cents'), /too large/);
    assert.throws(() => convertPlexValue('1.005', 'cents'), /more than 2 decimals/);
    assert.throws(() => convertPlexValue('1,234.50', 'cents'), ConnectorError);
    assert.throws(() => convertPlexValue('-', 'cents'), /not a decimal amount/);
    assert.equal(convertPlexValue(null, 'cents'), null);
    assert.equal(convertPlexValue('', 'cents'), null);

    assert.equal(convertPlexValue('202501', 'integer'), 202501);
    assert.equal(convertPlexValue('-3', 'integer'), -3);
    assert.throws(() => convertPlexValue('2.5', 'integer'), /not a whole number/);
    assert.throws(() => convertPlexValue('99999999999999999', 'integer'), /too large/);
    assert.equal(convertPlexValue('0.125', 'decimal'), 0.125);
    assert.equal(convertPlexValue('-1e3', 'decimal'), -1000);
    assert.throws(() => convertPlexValue('abc', 'decimal'), /not a number/);

    assert.equal(convertPlexValue('5/15/2019 3:03:00 PM', 'date'), '2019-05-15 15:03:00');
    assert.equal(convertPlexValue('1/1/2025 12:00:00 AM', 'date'), '2025-01-01 00:00:00');
    assert.equal(convertPlexValue('12/31/2024 12:30:05 PM', 'date'), '2024-12-31 12:30:05');
    assert.equal(convertPlexValue('2/3/2025', 'date'), '2025-02-03');
    assert.equal(convertPlexValue('2025-02-03', 'date'), '2025-02-03');
    assert.equal(convertPlexValue('2025-02-03T04:05:06.1234567Z', 'date'), '2025-02-03 04:05:06');
    assert.throws(() => convertPlexValue('2/30/2025', 'date'), /no such day/);
    assert.throws(() => convertPlexValue('13:00', 'date'), /not a date/);

    assert.equal(convertPlexValue('True', 'boolean'), true);
    assert.equal(convertPlexValue('0', 'boolean'), false);
    assert.throws(() => convertPlexValue('maybe', 'boolean'), /not a boolean/);
    assert.equal(convertPlexValue('', 'string'), '');
    assert.equal(convertPlexValue(' padded ', 'string'), ' padded ');
  });
});
