/**
 * The Plex simulator over the wire: hand-written SOAP 1.1 envelopes posted with fetch, answers read as
 * XML text, so these tests check the protocol and not what the soap package makes of it.
 * The fixture is a few accounts and journals whose figures are worked out by hand below.
 */
import { PLEX_FIXTURE_SCHEMA } from '../test/harness/plex-schema.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { generateDemo, readGolden } from './generator.ts';
import { PLEX_NAMESPACE, startPlexSimulator, type PlexSimulator } from './plex-simulator.ts';

/** PCN 900101: cash, AP, retained earnings, sales, utilities (no location) and rent (from 202503). */
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
      (900101,5,'70000-100-0000','Utilities - Electric',0,'Expense',5,'Overhead',5,'Purchases','70000','100',null,202401),
      (900101,6,'70100-000-0000','Rent',1,'Expense',5,'Overhead',5,'Purchases','70100','000','0000',202503),
      (900202,1,'10000-000-0000','Cash - Operating',1,'Asset',1,'Current Assets',1,'Cash','10000','000','0000',202401);
    insert into accounting_v_period_e values
      (900101,1,202412,'12-2024',2024,12,4,'2024-12-01','2024-12-31',0,'2025-01-06 09:30:00','2025-01-06 17:45:10'),
      (900101,2,202501,'01-2025',2025,1,1,'2025-01-01','2025-01-31',0,'2025-02-03 10:00:00',null),
      (900101,3,202502,'02-2025',2025,2,1,'2025-02-01','2025-02-28',1,'2025-03-01 00:00:00',null);
    insert into accounting_v_balance_e values
      (900101,1,'10000-000-0000',202412,1000.00,0,100000,0,'2025-01-06 17:45:10',null),
      (900101,4,'40000-000-0000',202412,0,1000.00,0,100000,'2025-01-06 17:45:10',null),
      (900101,1,'10000-000-0000',202501,500.00,100.25,50000,10025,'2025-02-03 10:00:00',null);
  `);
  const header = db.prepare('insert into accounting_v_gl_journal_e values (?, ?, ?, ?, ?, ?, ?, 0, 0, null)');
  const line = db.prepare('insert into accounting_v_gl_journal_dist_e values (?, ?, ?, ?, null, ?, ?, ?, ?)');
  const journal = (pcn: number, link: number, period: number, lines: [string, number, number][]) => {
    header.run(pcn, link, `J${link}`, 'GL', period, `${String(period).slice(0, 4)}-${String(period).slice(4)}-15`, 'test');
    lines.forEach(([account, dc, cc], i) => line.run(pcn, link, i + 1, account, dc / 100, cc / 100, dc, cc));
  };
  journal(900101, 1, 202412, [['10000-000-0000', 100000, 0], ['40000-000-0000', 0, 100000]]);
  journal(900101, 2, 202412, [['70000-100-0000', 20050, 0], ['20000-000-0000', 0, 20050]]);
  journal(900101, 3, 202501, [['10000-000-0000', 50000, 0], ['40000-000-0000', 0, 50000]]);
  journal(900101, 4, 202501, [['20000-000-0000', 10025, 0], ['10000-000-0000', 0, 10025]]);
  db.close();
}

const AUTH_ALL = 'Basic ' + Buffer.from('DemoWS_All:demo-all-pw').toString('base64');
const AUTH_A = 'Basic ' + Buffer.from('DemoWS_900101:demo-900101-pw').toString('base64');

function envelope(body: string): string {
  return `<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:dat="${PLEX_NAMESPACE}"><soapenv:Header/><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;
}

function executeBody(key: string, inputs: Record<string, string>): string {
  const params = Object.entries(inputs).map(([name, value]) =>
    `<dat:InputParameter><dat:Value>${value}</dat:Value><dat:Name>${name}</dat:Name><dat:Required>false</dat:Required><dat:Output>false</dat:Output></dat:InputParameter>`).join('');
  return `<dat:ExecuteDataSource><dat:ExecuteDataSourceRequest><dat:DataSourceKey>${key}</dat:DataSourceKey>` +
    `<dat:InputParameters>${params}</dat:InputParameters></dat:ExecuteDataSourceRequest></dat:ExecuteDataSource>`;
}

async function post(url: string, body: string, opts: { auth?: string | null; action?: string } = {}): Promise<{ status: number; headers: Headers; xml: string }> {
  const headers: Record<string, string> = {
    'Content-Type': 'text/xml; charset=utf-8',
    SOAPAction: `${PLEX_NAMESPACE}/${opts.action ?? 'ExecuteDataSource'}`,
  };
  if (opts.auth !== null) headers.Authorization = opts.auth ?? AUTH_ALL;
  const res = await fetch(url, { method: 'POST', headers, body: envelope(body) });
  return { status: res.status, headers: res.headers, xml: await res.text() };
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e] ?? '');
}

function field(xml: string, tag: string): string | undefined {
  const text = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];
  return text === undefined ? undefined : unescapeXml(text);
}

/** Rows as [name, value|null][] in wire order; fails on a Column whose Name comes before its Value. */
function rowsOf(xml: string): [string, string | null][][] {
  return [...xml.matchAll(/<Row><Columns>(.*?)<\/Columns><\/Row>/g)].map((m) =>
    [...m[1].matchAll(/<Column>(.*?)<\/Column>/g)].map((c) => {
      const parts = /^(?:<Value>([^<]*)<\/Value>|<Value \/>)<Name>([^<]*)<\/Name>$/.exec(c[1]);
      assert.ok(parts, `column is not <Value/> then <Name/>: ${c[1]}`);
      return [parts[2], parts[1] === undefined ? null : unescapeXml(parts[1])] as [string, string | null];
    }));
}

const asObject = (row: [string, string | null][]) => Object.fromEntries(row);

describe('Plex simulator', () => {
  let dir: string;
  let sim: PlexSimulator;
  let limited: PlexSimulator;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'plex-sim-'));
    buildFixture(join(dir, 'plex.sqlite'));
    sim = await startPlexSimulator({ dbPath: join(dir, 'plex.sqlite') });
    limited = await startPlexSimulator({ dbPath: join(dir, 'plex.sqlite'), readRowLimit: 2 });
  });

  after(async () => {
    await sim?.close();
    await limited?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves its WSDL at ?WSDL, on any case of the path, without credentials', async () => {
    assert.equal(sim.wsdlUrl, `${sim.url}?WSDL`);
    assert.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+\/DataSource\/Service\.asmx$/);
    for (const url of [sim.wsdlUrl, sim.wsdlUrl.replace('/DataSource/Service.asmx', '/datasource/service.asmx').replace('WSDL', 'wsdl')]) {
      const res = await fetch(url);
      assert.equal(res.status, 200);
      const wsdl = await res.text();
      assert.match(wsdl, new RegExp(`targetNamespace="${PLEX_NAMESPACE}"`));
      assert.match(wsdl, /<wsdl:service name="Service">/);
      assert.match(wsdl, /<wsdl:portType name="ServiceSoap">/);
      assert.match(wsdl, /soapAction="http:\/\/www\.plexus-online\.com\/DataSource\/ExecuteDataSource"/);
      assert.match(wsdl, /<wsdl:operation name="GetDataSourceRequestTemplate">/);
      assert.ok(wsdl.includes(`<soap:address location="${sim.url}"/>`));
    }
  });

  it('answers 4814 in Plex shape: status fields, strings, Value before Name, RowCount, exact columns', async () => {
    const { status, xml } = await post(sim.url, executeBody('4814', { '@PCNs': '900101', '@Period_Start': '202501', '@Period_End': '202501' }));
    assert.equal(status, 200);
    assert.match(xml, /<soap:Envelope [^>]*xmlns:xsi="http:\/\/www\.w3\.org\/2001\/XMLSchema-instance"/);
    assert.match(xml, new RegExp(`<ExecuteDataSourceResponse xmlns="${PLEX_NAMESPACE}"><ExecuteDataSourceResult><StatusNo>0</StatusNo><Error>false</Error><ErrorNo>0</ErrorNo><Message>Success</Message><InstanceNo>`));
    assert.equal(field(xml, 'DataSourceKey'), '4814');
    assert.equal(field(xml, 'DataSourceName'), 'Account_Activity_Summary_xPCN_Get');
    assert.match(xml, /<QuarantinedForDevelopment xsi:nil="true" \/>/);
    const rows = rowsOf(xml);
    assert.equal(field(xml, 'RowCount'), '5');
    assert.equal(rows.length, 5);
    assert.deepEqual(rows[0].map(([n]) => n), ['Base_No', 'Account_No', 'Abbreviated_Name', 'Account_Name', 'Beginning_Balance',
      'Debit', 'Credit', 'Ending_Balance', 'PCN_Name', 'Report_Currency', 'Cost_Center_No', 'Location_No']);
    assert.deepEqual(asObject(rows[0]), {
      Base_No: '10000', Account_No: '10000-000-0000', Abbreviated_Name: 'Cash - Operating', Account_Name: 'Cash - Operating',
      Beginning_Balance: '1000.00', Debit: '500.00', Credit: '100.25', Ending_Balance: '1399.75',
      PCN_Name: 'Demo Stamping - Plant A', Report_Currency: 'USD', Cost_Center_No: '000', Location_No: '0000',
    });
    // Retained earnings carries FY2024's P&L (sales 1000.00 credit, utilities 200.50 debit); rent starts in 202503.
    assert.deepEqual(rows.map((r) => [asObject(r).Account_No, asObject(r).Beginning_Balance, asObject(r).Ending_Balance]), [
      ['10000-000-0000', '1000.00', '1399.75'],
      ['20000-000-0000', '-200.50', '-100.25'],
      ['30200-000-0000', '-799.50', '-799.50'],
      ['40000-000-0000', '0.00', '-500.00'],
      ['70000-100-0000', '0.00', '0.00'],
    ]);
    assert.match(xml, /<OutputParameter><Value>False<\/Value><Name>@Row_Limit_Exceeded<\/Name><\/OutputParameter>/);
  });

  it('writes NULL as <Value />', async () => {
    const { xml } = await post(sim.url, executeBody('4814', { '@PCNs': '900101', '@Period_Start': '202501', '@Period_End': '202501' }));
    const utilities = rowsOf(xml).map(asObject).find((r) => r.Account_No === '70000-100-0000');
    assert.equal(utilities?.Location_No, null);
    assert.match(xml, /<Column><Value \/><Name>Location_No<\/Name><\/Column>/);
  });

  it('rejects missing or wrong credentials with HTTP 401 and a SOAP fault', async () => {
    const bad = 'Basic ' + Buffer.from('DemoWS_All:nope').toString('base64');
    for (const auth of [null, bad, 'Basic !!!', 'Bearer abc']) {
      const { status, headers, xml } = await post(sim.url, executeBody('4814', {}), { auth });
      assert.equal(status, 401);
      assert.match(headers.get('www-authenticate') ?? '', /^Basic /);
      assert.match(xml, /<soap:Fault><faultcode>soap:Client<\/faultcode><faultstring>Unauthorized/);
    }
  });

  it('refuses a PCN the web-service user is not granted, with Error=true', async () => {
    const { status, xml } = await post(sim.url, executeBody('4814', { '@PCNs': '900101,900202', '@Period_Start': '202501', '@Period_End': '202501' }), { auth: AUTH_A });
    assert.equal(status, 200);
    assert.equal(field(xml, 'Error'), 'true');
    assert.equal(field(xml, 'Message'), 'Access denied: web service user DemoWS_900101 is not authorized for PCN 900202.');
    assert.doesNotMatch(xml, /<ResultSets>/);
  });

  it('defaults an empty @PCNs to the PCNs the user is granted', async () => {
    const { xml } = await post(sim.url, executeBody('4814', { '@PCNs': '', '@Period_Start': '202501', '@Period_End': '202501' }), { auth: AUTH_A });
    assert.equal(field(xml, 'Error'), 'false');
    assert.deepEqual(new Set(rowsOf(xml).map((r) => asObject(r).PCN_Name)), new Set(['Demo Stamping - Plant A']));
  });

  it('answers an unknown key with Error=true and a Plex-like message', async () => {
    const { status, xml } = await post(sim.url, executeBody('12345', {}));
    assert.equal(status, 200);
    assert.equal(field(xml, 'StatusNo'), '1');
    assert.equal(field(xml, 'Error'), 'true');
    assert.notEqual(field(xml, 'ErrorNo'), '0');
    assert.equal(field(xml, 'DataSourceKey'), '12345');
    assert.match(field(xml, 'Message') ?? '', /^Data source key '12345' was not found/);
  });

  it('names a missing required input, and an input the data source does not have', async () => {
    let { xml } = await post(sim.url, executeBody('4814', { '@PCNs': '900101', '@Period_End': '202501' }));
    assert.equal(field(xml, 'Error'), 'true');
    assert.match(field(xml, 'Message') ?? '', /Required input parameter @Period_Start was not supplied/);
    ({ xml } = await post(sim.url, executeBody('4814', { '@PCNs': '900101', '@Period_Start': '202501', '@Period_End': '202501', '@Foo': '1' })));
    assert.match(field(xml, 'Message') ?? '', /Input parameter @Foo is not defined for data source 4814/);
    ({ xml } = await post(sim.url, executeBody('4814', { '@Period_Start': '2025-01', '@Period_End': '202501' })));
    assert.match(field(xml, 'Message') ?? '', /@Period_Start value '2025-01' is not a valid period/);
  });

  it('cuts a result at the read row limit and says so', async () => {
    const { xml } = await post(limited.url, executeBody('4814', { '@PCNs': '900101', '@Period_Start': '202501', '@Period_End': '202501' }));
    assert.equal(field(xml, 'Error'), 'false');
    assert.equal(field(xml, 'RowCount'), '2');
    assert.equal(rowsOf(xml).length, 2);
    assert.match(field(xml, 'Message') ?? '', /Read row limit of 2 rows exceeded: 2 of 5 rows returned/);
    assert.match(xml, /<OutputParameter><Value>True<\/Value><Name>@Row_Limit_Exceeded<\/Name><\/OutputParameter>/);
  });

  it('serves accounts, periods (US-locale dates) and closed-period balances under keys 9000xx', async () => {
    let { xml } = await post(sim.url, executeBody('900001', { '@PCN': '900101' }));
    let rows = rowsOf(xml).map(asObject);
    assert.equal(rows.length, 6);
    assert.deepEqual({ No: rows[4].Account_No, Active: rows[4].Active, Type: rows[4].Category_Type, Add: rows[4].Add_Period },
      { No: '70000-100-0000', Active: 'False', Type: 'Expense', Add: '202401' });

    ({ xml } = await post(sim.url, executeBody('900002', { '@PCN': '900101' })));
    rows = rowsOf(xml).map(asObject);
    assert.deepEqual(rows.map((r) => [r.Period, r.Period_Status]), [['202412', '0'], ['202501', '0'], ['202502', '1']]);
    assert.equal(rows[0].Begin_Date, '12/1/2024 12:00:00 AM');
    assert.equal(rows[0].Updated_Date, '1/6/2025 5:45:10 PM');
    assert.equal(rows[1].Updated_Date, null);

    ({ xml } = await post(sim.url, executeBody('900003', { '@PCN': '900101', '@Period_Start': '202501', '@Period_End': '202502' })));
    rows = rowsOf(xml).map(asObject);
    assert.deepEqual(rows, [{ PCN: '900101', Account_Key: '1', Account_No: '10000-000-0000', Period: '202501',
      Debit: '500.00', Credit: '100.25', Add_Date: '2/3/2025 10:00:00 AM', Update_Date: null }]);

    ({ xml } = await post(sim.url, executeBody('900003', { '@PCN': '900202', '@Period_Start': '202501', '@Period_End': '202502' }), { auth: AUTH_A }));
    assert.match(field(xml, 'Message') ?? '', /not authorized for PCN 900202/);
  });

  it('describes a key through GetDataSourceRequestTemplate', async () => {
    const { status, xml } = await post(sim.url,
      '<dat:GetDataSourceRequestTemplate><dat:dataSourceKey>4814</dat:dataSourceKey></dat:GetDataSourceRequestTemplate>',
      { action: 'GetDataSourceRequestTemplate' });
    assert.equal(status, 200);
    assert.equal(field(xml, 'Error'), 'false');
    assert.deepEqual([...xml.matchAll(/<InputParameter><Value \/><Name>([^<]+)<\/Name><Required>(true|false)<\/Required>/g)].map((m) => [m[1], m[2]]),
      [['@PCNs', 'false'], ['@Period_Start', 'true'], ['@Period_End', 'true']]);
    assert.deepEqual(rowsOf(xml)[0].map(([n]) => n).slice(0, 3), ['Base_No', 'Account_No', 'Abbreviated_Name']);

    const unknown = await post(sim.url,
      '<dat:GetDataSourceRequestTemplate><dat:dataSourceKey>777</dat:dataSourceKey></dat:GetDataSourceRequestTemplate>',
      { action: 'GetDataSourceRequestTemplate' });
    assert.equal(field(unknown.xml, 'Error'), 'true');
  });

  it('is live: a journal posted while it runs is in the next answer', async () => {
    const body = executeBody('4814', { '@PCNs': '900101', '@Period_Start': '202502', '@Period_End': '202502' });
    const cash = async () => rowsOf((await post(sim.url, body)).xml).map(asObject).find((r) => r.Account_No === '10000-000-0000');
    assert.deepEqual([(await cash())?.Debit, (await cash())?.Ending_Balance], ['0.00', '1399.75']);
    const db = new Database(join(dir, 'plex.sqlite'));
    try {
      db.exec(`insert into accounting_v_gl_journal_e values (900101, 99, 'J99', 'GL', 202502, null, 'late', 0, 0, null);
        insert into accounting_v_gl_journal_dist_e values (900101, 99, 1, '10000-000-0000', null, 0.01, 0, 1, 0),
                                                          (900101, 99, 2, '40000-000-0000', null, 0, 0.01, 0, 1);`);
      assert.deepEqual([(await cash())?.Debit, (await cash())?.Ending_Balance], ['0.01', '1399.76']);
    } finally {
      db.exec('delete from accounting_v_gl_journal_dist_e where journal_link = 99; delete from accounting_v_gl_journal_e where journal_link = 99');
      db.close();
    }
    assert.equal((await cash())?.Ending_Balance, '1399.75');
  });

  it('holds every SOAP answer for delayMs, and close() does not wait for held answers', async () => {
    const slow = await startPlexSimulator({ dbPath: join(dir, 'plex.sqlite'), delayMs: 300 });
    try {
      const t0 = Date.now();
      const { xml } = await post(slow.url, executeBody('12345', {}));
      assert.ok(Date.now() - t0 >= 290, `answered after ${Date.now() - t0} ms`);
      assert.equal(field(xml, 'Error'), 'true');
      const pending = post(slow.url, executeBody('12345', {})).catch((err: unknown) => err);
      await new Promise((r) => setTimeout(r, 50));
      const t1 = Date.now();
      await slow.close();
      assert.ok(Date.now() - t1 < 1_000, `close took ${Date.now() - t1} ms`);
      assert.ok((await pending) instanceof Error);
    } finally {
      await slow.close();
    }
  });
});

describe('Plex simulator over the generated demo ledger', () => {
  let dir: string;
  let sim: PlexSimulator;
  let goldenPath: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'plex-sim-gen-'));
    const result = generateDemo(join(dir, 'demo.sqlite'), { journalLines: 5_000 });
    goldenPath = result.goldenPath ?? '';
    sim = await startPlexSimulator({ dbPath: join(dir, 'demo.sqlite') });
  });

  after(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 4814 with the generator\'s golden activity and category-type endings (RE fold included)', async () => {
    const golden = readGolden(goldenPath);
    const cents = (text: string | null) => {
      const m = /^(-?)(\d+)\.(\d\d)$/.exec(text ?? '');
      assert.ok(m, `not a 2-decimal amount: ${text}`);
      return (m[1] ? -1 : 1) * (Number(m[2]) * 100 + Number(m[3]));
    };
    for (const [pcn, gp] of Object.entries(golden.pcns)) {
      const chart = rowsOf((await post(sim.url, executeBody('900001', { '@PCN': pcn }))).xml).map(asObject);
      const typeOf = new Map(chart.map((a) => [a.Account_No, a.Category_Type]));
      // First period, a year end, the first period after the P&L reset, and an open period.
      for (const period of ['202501', '202512', '202601', '202611']) {
        const g = gp.periods[period];
        const { xml } = await post(sim.url, executeBody('4814', { '@PCNs': pcn, '@Period_Start': period, '@Period_End': period }));
        assert.equal(field(xml, 'Error'), 'false');
        const ending: Record<string, number> = { Asset: 0, Liability: 0, Equity: 0, Revenue: 0, Expense: 0 };
        for (const row of rowsOf(xml).map(asObject)) {
          const activity = g.accounts[row.Account_No ?? ''] ?? { debitCents: 0, creditCents: 0 };
          assert.deepEqual([cents(row.Debit), cents(row.Credit)], [activity.debitCents, activity.creditCents], `${pcn} ${period} ${row.Account_No}`);
          assert.equal(cents(row.Ending_Balance), cents(row.Beginning_Balance) + cents(row.Debit) - cents(row.Credit));
          ending[typeOf.get(row.Account_No) ?? ''] += cents(row.Ending_Balance);
        }
        assert.deepEqual(ending, { ...g.ending }, `${pcn} ${period}`);
      }
    }
  });
});
