/**
 * The SQL Server connector without a SQL Server (none can run on these machines; the conformance
 * suite in mssql.conformance.test.ts runs against a real one when MSSQL_TEST_URL is set):
 * URL parsing and redaction, parameter typing and selection, GO batches, error mapping with the
 * mssql package's real error classes, real TCP connection failures against local ports, the
 * streaming state machine against a scripted stand-in for mssql.Request (its documented event
 * contract, not a server), and the T-SQL syntax check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import sql from 'mssql';
import { ConnectorError, StepError } from '../../core/errors.ts';
import {
  bindPlan, columnTypeName, declaredVariables, describeMssqlUrl, isTransientMssqlError, mapMssqlError, mssqlConnector,
  MssqlConnectorError, mssqlTypeOf, parseMssqlUrl, redactMssqlUrl, splitBatches, streamQuery,
} from './mssql.ts';
import { checkTSql } from './tsql-check.ts';
import type { Row } from './types.ts';

const PASSWORD = 'Sup3r;S3cret}';

async function all(rows: AsyncIterable<Row>): Promise<Row[]> {
  const out: Row[] = [];
  for await (const r of rows) out.push(r);
  return out;
}

// ---------------------------------------------------------------------------------------------
// URL and connection string

test('an mssql:// URL becomes the mssql config: host, port, database, user, TLS options', () => {
  const c = parseMssqlUrl(`mssql://report%40erp:${encodeURIComponent(PASSWORD)}@erp.database.windows.net:1444/Plex%20DW` +
    '?encrypt=true&trustServerCertificate=false&requestTimeout=600000&connectTimeout=5000&appName=bot&poolMax=4&readOnlyIntent=true');
  assert.equal(c.server, 'erp.database.windows.net');
  assert.equal(c.port, 1444);
  assert.equal(c.database, 'Plex DW');
  assert.equal(c.user, 'report@erp');
  assert.equal(c.password, PASSWORD);
  assert.equal(c.requestTimeout, 600000);
  assert.equal(c.connectionTimeout, 5000);
  assert.equal(c.pool?.max, 4);
  assert.deepEqual(c.options, { encrypt: true, trustServerCertificate: false, appName: 'bot', readOnlyIntent: true });
});

test('URL defaults: port 1433, TLS on, certificate checked, no request timeout, 30 s to connect', () => {
  const c = parseMssqlUrl('mssql://u:p@db.local/erp');
  assert.equal(c.port, 1433);
  assert.equal(c.options?.encrypt, true);
  assert.equal(c.options?.trustServerCertificate, false);
  assert.equal(c.requestTimeout, 0);
  assert.equal(c.connectionTimeout, 30000);
  assert.equal(parseMssqlUrl('mssql://u:p@[::1]:1500/erp').server, '::1');
  assert.equal(parseMssqlUrl('mssql://u:p@db.local').database, undefined);
  assert.equal(parseMssqlUrl('mssql://u:p@db.local/erp?trustServerCertificate=yes&encrypt=0').options?.trustServerCertificate, true);
});

test('an ADO.NET connection string after mssql: is parsed by mssql itself', () => {
  const c = parseMssqlUrl(`mssql:Server=tcp:erp.database.windows.net,1433;Database=plexdw;User ID=report;Password={${PASSWORD.replace('}', '}}')}};Encrypt=true;TrustServerCertificate=false;Connection Timeout=45`);
  assert.equal(c.server, 'erp.database.windows.net');
  assert.equal(c.port, 1433);
  assert.equal(c.database, 'plexdw');
  assert.equal(c.user, 'report');
  assert.equal(c.password, PASSWORD);
  assert.equal(c.options?.encrypt, true);
  assert.equal(c.options?.trustServerCertificate, false);
  assert.equal(c.connectionTimeout, 45000);
  assert.equal(c.requestTimeout, 0);
  const local = parseMssqlUrl('mssql:Data Source=sql01\\PLEX,1500;Initial Catalog=dw;User Id=u;Password=p;TrustServerCertificate=true');
  assert.equal(local.server, 'sql01');
  assert.equal(local.options?.instanceName, 'PLEX');
  assert.equal(local.options?.encrypt, true, 'TLS stays on unless the string turns it off');
  assert.equal(local.options?.trustServerCertificate, true);
});

test('bad URLs are ConnectorErrors that never show the password', () => {
  for (const url of [
    `mssql://u:${PASSWORD}@host/db?encrypt=maybe`,
    `mssql://u:${PASSWORD}@host/db?encrpyt=true`,
    `mssql://u:${PASSWORD}@host/db/extra`,
    `mssql:Database=dw;User ID=u;Password=${PASSWORD.replace(/[;}]/g, '')}`,
  ]) {
    assert.throws(() => parseMssqlUrl(url, 'warehouse'), (err: unknown) => {
      assert.ok(err instanceof ConnectorError, String(err));
      assert.equal(err.connection, 'warehouse');
      assert.doesNotMatch(err.message, /Sup3r|S3cret/);
      return true;
    });
  }
  assert.throws(() => parseMssqlUrl('mssql://u:p@host/db?encrpyt=true'), /unknown; known options: encrypt/);
});

test('describe and toString show the connection without its password', () => {
  const url = `mssql://report:${encodeURIComponent(PASSWORD)}@erp.database.windows.net/plexdw?encrypt=true`;
  assert.equal(describeMssqlUrl(url), 'mssql://report:***@erp.database.windows.net:1433/plexdw?encrypt=true&trustServerCertificate=false');
  const ado = `mssql:Server=tcp:erp.database.windows.net,1433;Database=plexdw;User ID=report;Password={a;b}};c};Encrypt=true`;
  assert.equal(describeMssqlUrl(ado), 'mssql://report:***@erp.database.windows.net:1433/plexdw?encrypt=true&trustServerCertificate=false');
  assert.equal(redactMssqlUrl(ado), 'mssql:Server=tcp:erp.database.windows.net,1433;Database=plexdw;User ID=report;Password=***;Encrypt=true');
  assert.equal(redactMssqlUrl('mssql:Server=x;Pwd=plain;Database=d'), 'mssql:Server=x;Pwd=***;Database=d');
  const connector = mssqlConnector('warehouse', url);
  assert.equal(connector.kind, 'mssql');
  assert.equal(String(connector), 'mssql connection "warehouse" (mssql://report:***@erp.database.windows.net:1433/plexdw?encrypt=true&trustServerCertificate=false)');
  assert.doesNotMatch(JSON.stringify(connector) + String(connector), /Sup3r|S3cret/);
});

// ---------------------------------------------------------------------------------------------
// Parameter types

test('mssqlTypeOf: integers, exact decimals, floats, text, bit, dates, null', () => {
  const cases: [unknown, string, unknown][] = [
    [0, 'int', 0],
    [-2147483648, 'int', -2147483648],
    [2147483647, 'int', 2147483647],
    [2147483648, 'bigint', 2147483648],
    [-(2 ** 40), 'bigint', -(2 ** 40)],
    [2 ** 60, 'float', 2 ** 60],
    [12.34, 'decimal(19,2)', 12.34],
    [-0.5, 'decimal(19,1)', -0.5],
    [1234567890123.45, 'decimal(19,2)', 1234567890123.45],
    [0.1 + 0.2, 'float', 0.1 + 0.2],
    [1e-7, 'float', 1e-7],
    ['12.34', 'decimal(19,2)', 12.34],
    ['12.30', 'decimal(19,2)', 12.3],
    ['-0.0001', 'decimal(19,4)', -0.0001],
    ['1234567890123456.78', 'nvarchar(4000)', '1234567890123456.78'],
    ['900101', 'nvarchar(4000)', '900101'],
    ['202401', 'nvarchar(4000)', '202401'],
    ['2024-01-31', 'nvarchar(4000)', '2024-01-31'],
    ['1.2.3', 'nvarchar(4000)', '1.2.3'],
    ['', 'nvarchar(4000)', ''],
    ['x'.repeat(4001), 'nvarchar(max)', 'x'.repeat(4001)],
    [true, 'bit', true],
    [false, 'bit', false],
    [null, 'nvarchar(4000)', null],
    [undefined, 'nvarchar(4000)', null],
    [new Date('2024-01-02T03:04:05Z'), 'datetime2(7)', new Date('2024-01-02T03:04:05Z')],
    [10n ** 12n, 'bigint', 10n ** 12n],
    [Buffer.from('ab'), 'varbinary(max)', Buffer.from('ab')],
  ];
  for (const [value, typeName, sent] of cases) {
    const t = mssqlTypeOf(value);
    assert.equal(t.typeName, typeName, `${String(value).slice(0, 30)} → ${typeName}`);
    assert.deepEqual(t.value, sent);
  }
  const money = mssqlTypeOf('12.34').type as unknown as { type: unknown; precision: number; scale: number };
  assert.equal(money.type, sql.Decimal);
  assert.equal(money.precision, 19);
  assert.equal(money.scale, 2);
  assert.equal((mssqlTypeOf('x').type as unknown as { length: number }).length, 4000);
  assert.equal((mssqlTypeOf('x'.repeat(5000)).type as unknown as { length: number }).length, sql.MAX);
  for (const bad of [NaN, Infinity, -Infinity, new Date('nope'), {}, [1], () => 1, Symbol('s')]) {
    assert.throws(() => mssqlTypeOf(bad), TypeError);
  }
});

test('bound types are accepted by a real mssql Request (no connection needed)', () => {
  const request = new sql.Request(new sql.ConnectionPool(parseMssqlUrl('mssql://u:p@127.0.0.1/db')));
  for (const p of bindPlan('select @id, @amount, @name, @flag, @none', { id: 7, amount: '12.34', name: 'ab', flag: true, none: null })) {
    request.input(p.name, p.type, p.value);
  }
  const params = request.parameters as unknown as Record<string, { type: unknown; value: unknown; precision?: number; scale?: number; length?: number }>;
  assert.equal(params.id.type, sql.Int);
  assert.equal(params.amount.type, sql.Decimal);
  assert.deepEqual([params.amount.precision, params.amount.scale, params.amount.value], [19, 2, 12.34]);
  assert.equal(params.name.type, sql.NVarChar);
  assert.equal(params.name.length, 4000);
  assert.equal(params.flag.type, sql.Bit);
  assert.equal(params.none.value, null);
});

// ---------------------------------------------------------------------------------------------
// Parameter selection

test('bindPlan binds only the @names the batch uses, in order, each once', () => {
  const plan = bindPlan(
    `-- @commented out
     select a, '@inString', @@rowcount from t /* @block */
     where p = @pcn and (@all = 1 or a.active = 1) and q between @from and @pcn`,
    { pcn: '900101', all: false, from: 3, unused: 'x' },
  );
  assert.deepEqual(plan.map((p) => [p.name, p.typeName, p.value]), [
    ['pcn', 'nvarchar(4000)', '900101'],
    ['all', 'bit', false],
    ['from', 'int', 3],
  ]);
  assert.deepEqual(bindPlan('select 1', { unused: 1 }), []);
});

test('bindPlan: a missing parameter is a ConnectorError naming it and the connection', () => {
  assert.throws(() => bindPlan('select @present, @absent', { present: 1 }, 'warehouse'), (err: unknown) => {
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.connection, 'warehouse');
    assert.match(err.message, /@absent\b/);
    return true;
  });
  assert.throws(() => bindPlan('select @x', { x: undefined as unknown as null }), /@x has no value/);
  assert.throws(() => bindPlan('select @x', { x: NaN }), /@x: NaN is not a finite number/);
  assert.throws(() => bindPlan('select @x'), /@x has no value/);
});

test('variables a batch declares are its own, not parameters', () => {
  assert.deepEqual([...declaredVariables(
    "declare @a int = @p, @B nvarchar(10) = N'@x', @c decimal(19,2)\nselect @d = 1, @e = 2; declare @t table (x int, y decimal(5,2)); DECLARE @cur CURSOR FOR SELECT @q",
  )].sort(), ['a', 'b', 'c', 'cur', 't']);
  const plan = bindPlan('declare @total decimal(19,2) = 0;\nselect @total = sum(amount) from gl where period = @period;\nselect @Total', { period: 202401 });
  assert.deepEqual(plan.map((p) => p.name), ['period']);
  assert.deepEqual(bindPlan('create procedure dbo.p @from date, @to date as select @from, @to', {}), [], 'a routine\'s own parameters');
  assert.deepEqual(bindPlan('CREATE OR ALTER FUNCTION dbo.f (@a int) RETURNS int AS BEGIN RETURN @a END'), []);
});

// ---------------------------------------------------------------------------------------------
// GO batches

test('splitBatches splits at GO lines the way sqlcmd does', () => {
  const script = [
    'create table t (id int)', // 1
    'GO', // 2
    "insert into t values (1) -- GO in a comment", // 3
    '/* a block', // 4
    'GO', // 5: inside a comment
    '*/', // 6
    "insert into t values (2); select 'a", // 7
    'go', // 8: inside a string
    "'", // 9
    '  go 3   -- repeat', // 10
    '', // 11
    'GO', // 12: empty batch
    '   ', // 13
    'Go', // 14
    'select * from t', // 15
    'GOTO done', // 16: not a separator
  ].join('\r\n');
  const batches = splitBatches(script);
  assert.deepEqual(batches.map((b) => [b.line, b.count, b.sql.trim().split(/\r?\n/)[0]]), [
    [1, 1, 'create table t (id int)'],
    [3, 3, 'insert into t values (1) -- GO in a comment'],
    [15, 1, 'select * from t'],
  ]);
  assert.match(batches[1].sql, /select 'a\r\ngo\r\n'/);
  assert.match(batches[2].sql, /GOTO done$/);
  assert.deepEqual(splitBatches('select 1'), [{ sql: 'select 1', line: 1, count: 1 }]);
  assert.deepEqual(splitBatches('-- nothing\nGO\n/* here */'), []);
});

// ---------------------------------------------------------------------------------------------
// Error mapping, with the mssql package's own error classes

/** A RequestError built the way mssql builds it from a server error message. */
function serverError(number: number, message: string, lineNumber = 1): sql.RequestError {
  const e = Object.assign(new Error(message), { info: { number, message, lineNumber, state: 1, class: 16, serverName: 'erp', procName: '' } });
  return new sql.RequestError(e as unknown as string, 'EREQUEST');
}

test('SQL Server error numbers map to plain words, keep the server message, and say whether to retry', () => {
  const cases: [number, string, RegExp, boolean][] = [
    [18456, "Login failed for user 'report'.", /login failed: wrong user name or password/, false],
    [4060, 'Cannot open database "dw" requested by the login.', /cannot open the database/, true],
    [208, "Invalid object name 'dbo.gl_missing'.", /invalid object name: a table or view/, false],
    [207, "Invalid column name 'amout'.", /invalid column name/, false],
    [2627, "Violation of PRIMARY KEY constraint 'PK_t'. Cannot insert duplicate key in object 'dbo.t'.", /duplicate key/, false],
    [2601, "Cannot insert duplicate key row in object 'dbo.t' with unique index 'ix'.", /duplicate key/, false],
    [1205, 'Transaction (Process ID 57) was deadlocked on lock resources with another process and has been chosen as the deadlock victim.', /deadlock/, true],
    [40613, "Database 'dw' on server 'erp' is not currently available.", /Azure SQL database is not available/, true],
    [40501, 'The service is currently busy. Retry the request after 10 seconds.', /busy \(throttling\)/, true],
    [40197, 'The service has encountered an error processing your request. Please try again. Error code 4815.', /failover/, true],
    [10928, 'Resource ID : 1. The request limit for the database is 90 and has been reached.', /resource limit/, true],
    [102, "Incorrect syntax near ')'.", /syntax error/, false],
    [50000, 'custom raiserror', /custom raiserror \(SQL Server error 50000, line 3\)/, false],
  ];
  for (const [number, message, explained, transient] of cases) {
    const raw = serverError(number, message, 3);
    assert.equal(raw.number, number, 'the real RequestError carries the number');
    const mapped = mapMssqlError(raw, 'warehouse');
    assert.ok(mapped instanceof MssqlConnectorError && mapped instanceof ConnectorError);
    assert.equal(mapped.connection, 'warehouse');
    assert.equal(mapped.number, number);
    assert.equal(mapped.driverCode, 'EREQUEST');
    assert.equal(mapped.transient, transient, `${number} transient`);
    assert.match(mapped.message, explained);
    assert.ok(mapped.message.includes(message), 'keeps the server message');
    assert.match(mapped.message, new RegExp(`SQL Server error ${number}, line 3`));
    assert.equal(mapped.cause, raw);
    assert.equal(isTransientMssqlError(raw), transient, `${number} raw`);
    assert.equal(isTransientMssqlError(mapped), transient, `${number} mapped`);
    assert.equal(isTransientMssqlError(new StepError('extract', { cause: mapped })), transient, `${number} in a StepError`);
  }
  // A number set directly, as a test or another driver might.
  const direct = new sql.RequestError("Invalid object name 'x'.", 'EREQUEST');
  direct.number = 208;
  assert.match(mapMssqlError(direct).message, /invalid object name/);
});

test('driver codes map too: login, timeouts, sockets, cancel, closed connections', () => {
  const login = new sql.ConnectionError(Object.assign(new Error("Login failed for user 'report'."), { code: 'ELOGIN' }) as unknown as string);
  assert.equal(login.code, 'ELOGIN');
  let m = mapMssqlError(login) as MssqlConnectorError;
  assert.match(m.message, /login failed: wrong user name or password/);
  assert.equal(m.transient, false);

  // tedious marks Azure's "database not available" login errors as transient (no number on them).
  const azureLogin = new sql.ConnectionError(Object.assign(new Error("Database 'dw' on server 'erp' is not currently available."), { code: 'ELOGIN', isTransient: true }) as unknown as string);
  m = mapMssqlError(azureLogin) as MssqlConnectorError;
  assert.match(m.message, /cannot log in/);
  assert.equal(m.transient, true);

  m = mapMssqlError(new sql.ConnectionError('Failed to connect to erp:1433 in 15000ms', 'ETIMEOUT')) as MssqlConnectorError;
  assert.match(m.message, /timed out connecting/);
  assert.equal(m.transient, true);
  m = mapMssqlError(new sql.RequestError('Timeout: Request failed to complete in 15000ms', 'ETIMEOUT')) as MssqlConnectorError;
  assert.match(m.message, /longer than the request timeout/);
  assert.equal(m.transient, false);

  const refused = new sql.ConnectionError('Failed to connect to 10.0.0.5:1433 - Could not connect (sequence)', 'ESOCKET');
  Object.assign(refused, { originalError: Object.assign(new Error('x'), { cause: new AggregateError([Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:1433'), { code: 'ECONNREFUSED' })]) }) });
  m = mapMssqlError(refused) as MssqlConnectorError;
  assert.match(m.message, /^connection refused/);
  assert.equal(m.transient, true);
  m = mapMssqlError(new sql.ConnectionError('Failed to connect to nohost:1433 - getaddrinfo ENOTFOUND nohost', 'ESOCKET')) as MssqlConnectorError;
  assert.equal(m.transient, false, 'a host name that does not resolve is a configuration error');
  m = mapMssqlError(new sql.ConnectionError('Failed to connect to erp:1433 - self-signed certificate', 'ESOCKET')) as MssqlConnectorError;
  assert.match(m.message, /trustServerCertificate/);
  assert.equal(m.transient, false);

  m = mapMssqlError(new sql.RequestError('Canceled.', 'ECANCEL')) as MssqlConnectorError;
  assert.match(m.message, /cancelled/);
  assert.equal(m.transient, false);
  assert.equal((mapMssqlError(new sql.RequestError('Connection closed before request completed.', 'ECLOSE' as sql.MSSQL_ERROR_CODE)) as MssqlConnectorError).transient, true);
  assert.equal((mapMssqlError(new sql.ConnectionError('Connection is closed.', 'ECONNCLOSED')) as MssqlConnectorError).transient, true);

  const already = new ConnectorError('warehouse', 'already mapped');
  assert.equal(mapMssqlError(already), already);
  assert.equal(isTransientMssqlError(new Error('plain')), false);
  assert.equal(isTransientMssqlError(undefined), false);
});

test('mapMssqlError blanks the password out of messages', () => {
  const e = new sql.ConnectionError(`Login failed; tried mssql:Server=x;Password=${PASSWORD} and ${encodeURIComponent(PASSWORD)} or ${PASSWORD}`, 'ELOGIN');
  const m = mapMssqlError(e, 'warehouse', [PASSWORD, encodeURIComponent(PASSWORD)]);
  assert.doesNotMatch(m.message, /Sup3r|S3cret/);
  assert.match(m.message, /\*\*\*/);
});

// ---------------------------------------------------------------------------------------------
// Real network paths (local TCP, no SQL Server)

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

async function listen(onConnection: (socket: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => { sockets.add(s); onConnection(s); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); srv.close(() => r()); }),
  };
}

test('connecting to a closed local port fails fast with a mapped ConnectorError, without the password', async () => {
  const port = await freePort();
  const c = mssqlConnector('warehouse', `mssql://report:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/dw?connectTimeout=5000`);
  const started = performance.now();
  const err = await c.testConnection().then(() => undefined, (e: unknown) => e);
  const ms = performance.now() - started;
  assert.ok(err instanceof MssqlConnectorError, String(err));
  assert.equal(err.connection, 'warehouse');
  assert.equal(err.driverCode, 'ESOCKET');
  assert.equal(err.transient, true);
  assert.match(err.message, /connection refused/);
  assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.doesNotMatch(err.message, /Sup3r|S3cret/);
  assert.ok(ms < 3000, `failed in ${Math.round(ms)} ms`);

  // Every entry point maps the same way, and a failed connect is retried, not cached.
  await assert.rejects(c.execute('delete from t where id = @id', { id: 1 }), /connection refused/);
  await assert.rejects(c.query('select 1 as a'), /connection refused/);
  await assert.rejects(c.bulkInsert('dbo.t', ['id'], (async function* () { yield [1]; })()), /connection refused/);
  // Checked before any network: bad parameters, identifiers and #temp targets.
  await assert.rejects(c.query('select @absent'), /@absent has no value/);
  await assert.rejects(c.bulkInsert('t; drop table t', ['id'], (async function* () {})()), /invalid identifier/);
  await assert.rejects(c.bulkInsert('t', ['name" text'], (async function* () {})()), /invalid identifier/);
  await assert.rejects(c.bulkInsert('#stage', ['id'], (async function* () {})()), /#temp table belongs to one pooled connection/);
  await assert.rejects(c.query('select 1\nGO\nselect 2'), /one batch/);
  await c.close();
  await c.close();
});

test('a server that hangs up, or never answers, is a mapped error too', async () => {
  const hangUp = await listen((s) => s.destroy());
  const silent = await listen(() => {});
  try {
    const a = mssqlConnector('a', `mssql://u:${encodeURIComponent(PASSWORD)}@127.0.0.1:${hangUp.port}/dw`);
    const e1 = await a.testConnection().then(() => undefined, (e: unknown) => e);
    assert.ok(e1 instanceof MssqlConnectorError, String(e1));
    assert.equal(e1.driverCode, 'ESOCKET');
    await a.close();

    const b = mssqlConnector('b', `mssql://u:${encodeURIComponent(PASSWORD)}@127.0.0.1:${silent.port}/dw?connectTimeout=300`);
    const e2 = await b.testConnection().then(() => undefined, (e: unknown) => e);
    assert.ok(e2 instanceof MssqlConnectorError, String(e2));
    assert.equal(e2.driverCode, 'ETIMEOUT');
    assert.equal(e2.transient, true);
    assert.match(e2.message, /timed out connecting/);
    await b.close();

    // An abort while the pool is still connecting rejects at once with the reason.
    const c = mssqlConnector('c', `mssql://u:p@127.0.0.1:${silent.port}/dw?connectTimeout=1000`);
    const controller = new AbortController();
    const reason = new Error('run cancelled');
    setTimeout(() => controller.abort(reason), 50);
    const started = performance.now();
    await assert.rejects(c.query('select 1', {}, { signal: controller.signal }), (e) => e === reason);
    assert.ok(performance.now() - started < 1000);
    await assert.rejects(c.execute('select 1', {}, { signal: controller.signal }), (e) => e === reason);
    // close() waits for the abandoned attempt to end, so no connection can open after it.
    await c.close();
  } finally {
    await hangUp.close();
    await silent.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Streaming, against a scripted stand-in for mssql.Request (its stream events; not a server)

/**
 * Emits 'recordset', then rows while not paused (a few per tick, as tedious does per packet),
 * then 'done'; cancel() ends it with an ECANCEL error and 'done', as mssql reports a cancel.
 */
class ScriptedRequest extends EventEmitter {
  stream = false;
  arrayRowMode = false;
  paused = false;
  pauses = 0;
  resumes = 0;
  cancels = 0;
  command = '';
  private sent = 0;
  private ended = false;
  private settle: () => void = () => {};
  readonly script: { columns?: object[]; rows?: number; errorAt?: number; errorBefore?: Error; secondRecordset?: boolean };
  constructor(script: ScriptedRequest['script']) {
    super();
    this.script = script;
  }
  query(command: string): Promise<unknown> {
    this.command = command;
    setImmediate(() => this.start());
    return new Promise<void>((r) => { this.settle = r; });
  }
  private start(): void {
    if (this.script.errorBefore) return this.end(this.script.errorBefore);
    if (!this.script.columns) return this.end();
    this.emit('recordset', this.script.columns);
    this.pump();
  }
  private pump(): void {
    if (this.ended || this.paused) return;
    for (let k = 0; k < 7 && this.sent < (this.script.rows ?? 0); k++) {
      this.sent++;
      if (this.sent === this.script.errorAt) return this.end(serverError(8134, 'Divide by zero error encountered.'));
      this.emit('row', this.script.columns!.map((_, i) => `r${this.sent}c${i}`));
      if (this.sent === 3 && this.script.secondRecordset) this.emit('recordset', this.script.columns);
    }
    if (this.sent >= (this.script.rows ?? 0)) return this.end();
    setImmediate(() => this.pump());
  }
  private end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    if (error) this.emit('error', error);
    this.emit('done', { rowsAffected: [this.sent] });
    this.settle();
  }
  pause(): boolean { this.paused = true; this.pauses++; return true; }
  resume(): boolean { this.paused = false; this.resumes++; setImmediate(() => this.pump()); return true; }
  cancel(): void {
    this.cancels++;
    setImmediate(() => this.end(new sql.RequestError('Canceled.', 'ECANCEL')));
  }
  get sentRows(): number { return this.sent; }
}

const COLUMNS = [
  { index: 0, name: 'id', length: 4, type: sql.Int },
  { index: 1, name: 'name', length: 100, type: sql.NVarChar },
  { index: 2, name: 'amount', length: 17, type: sql.Decimal, precision: 19, scale: 2 },
  { index: 3, name: 'at', length: 8, type: sql.DateTime2, scale: 7 },
];

test('streamQuery: columns from the recordset event, every row, backpressure through pause/resume', async () => {
  const request = new ScriptedRequest({ columns: COLUMNS, rows: 2000 });
  const result = await streamQuery(request, 'select id, name, amount, at from t', { connection: 'warehouse', highWaterMark: 50 });
  assert.equal(request.stream, true);
  assert.equal(request.arrayRowMode, true);
  assert.deepEqual(result.columns, [
    { name: 'id', type: 'int' }, { name: 'name', type: 'nvarchar(50)' }, { name: 'amount', type: 'decimal(19,2)' }, { name: 'at', type: 'datetime2(7)' },
  ]);
  let seen = 0;
  let maxAhead = 0;
  for await (const row of result.rows) {
    seen++;
    assert.deepEqual(row, { id: `r${seen}c0`, name: `r${seen}c1`, amount: `r${seen}c2`, at: `r${seen}c3` });
    maxAhead = Math.max(maxAhead, request.sentRows - seen);
    if (seen % 100 === 0) await new Promise((r) => setTimeout(r, 1)); // a slow consumer
  }
  assert.equal(seen, 2000);
  assert.ok(request.pauses > 5, `paused ${request.pauses} times`);
  assert.ok(request.resumes >= request.pauses - 1, `resumed ${request.resumes} times`);
  assert.ok(maxAhead <= 2 * 50 + 7, `at most two buffers ahead of the consumer (was ${maxAhead})`);
  assert.equal(request.cancels, 0);
  await result.release();
});

test('streamQuery: no result set, an error before the columns, an error mid-stream', async () => {
  const none = await streamQuery(new ScriptedRequest({}), 'update t set a = 1', { connection: 'w' });
  assert.deepEqual(none.columns, []);
  assert.deepEqual(await all(none.rows), []);

  await assert.rejects(
    streamQuery(new ScriptedRequest({ errorBefore: serverError(208, "Invalid object name 'nope'.") }), 'select * from nope', { connection: 'w' }),
    (e: unknown) => e instanceof MssqlConnectorError && e.number === 208 && /invalid object name/.test(e.message) && e.connection === 'w',
  );

  const broken = await streamQuery(new ScriptedRequest({ columns: COLUMNS, rows: 100, errorAt: 40 }), 'select 1/0', { connection: 'w' });
  let seen = 0;
  await assert.rejects((async () => { for await (const _ of broken.rows) seen++; })(), /division by zero/);
  assert.ok(seen < 40);
});

test('streamQuery: release() cancels a running request, waits for it, and ends iteration', async () => {
  const request = new ScriptedRequest({ columns: COLUMNS, rows: 100_000 });
  const result = await streamQuery(request, 'select * from big', { connection: 'w', highWaterMark: 20 });
  const it = result.rows[Symbol.asyncIterator]();
  for (let i = 1; i <= 3; i++) assert.equal((await it.next()).value?.id, `r${i}c0`);
  await result.release();
  assert.equal(request.cancels, 1);
  assert.equal(request.listenerCount('done'), 1);
  assert.deepEqual(await it.next(), { done: true, value: undefined });
  await result.release();
  assert.equal(request.cancels, 1, 'idempotent');
  assert.ok(request.sentRows < 1000, `stopped early (${request.sentRows} rows sent)`);

  // Released without iterating, and after the end: no cancel for a finished request.
  const idle = new ScriptedRequest({ columns: COLUMNS, rows: 100_000 });
  await (await streamQuery(idle, 'select * from big', { connection: 'w' })).release();
  assert.equal(idle.cancels, 1);
  const small = new ScriptedRequest({ columns: COLUMNS, rows: 5 });
  const r = await streamQuery(small, 'select * from t', { connection: 'w' });
  assert.equal((await all(r.rows)).length, 5);
  await r.release();
  assert.equal(small.cancels, 0);
});

test('streamQuery: aborting cancels the request and rejects with the signal reason', async () => {
  const request = new ScriptedRequest({ columns: COLUMNS, rows: 100_000 });
  const controller = new AbortController();
  const reason = new Error('stop now');
  const result = await streamQuery(request, 'select * from big', { connection: 'w', signal: controller.signal, highWaterMark: 20 });
  let seen = 0;
  const err = await (async () => {
    for await (const _ of result.rows) if (++seen === 10) controller.abort(reason);
  })().then(() => undefined, (e: unknown) => e);
  assert.equal(err, reason);
  assert.equal(seen, 10);
  assert.equal(request.cancels, 1);

  // Aborted while waiting for the columns: the query itself rejects with the reason.
  const slow = new ScriptedRequest({ columns: COLUMNS, rows: 1 });
  const early = new AbortController();
  const pending = streamQuery(slow, 'select 1', { connection: 'w', signal: early.signal });
  early.abort(reason);
  await assert.rejects(pending, (e) => e === reason);
});

test('streamQuery: a second result set is an error; unnamed and repeated columns get keys', async () => {
  const twice = await streamQuery(new ScriptedRequest({ columns: COLUMNS, rows: 50, secondRecordset: true }), 'select 1; select 2', { connection: 'w' });
  await assert.rejects(all(twice.rows), /more than one result set/);

  const odd = await streamQuery(new ScriptedRequest({
    columns: [{ name: 'id', type: sql.Int }, { name: '', type: sql.Int }, { name: 'id', type: sql.Int }, { name: 'id_2', type: sql.Int }],
    rows: 1,
  }), 'select a.id, count(*), b.id, 1 as id_2', { connection: 'w' });
  assert.deepEqual(odd.columns.map((c) => c.name), ['id', 'column2', 'id_2', 'id_2_2']);
  assert.deepEqual(Object.keys((await all(odd.rows))[0]), ['id', 'column2', 'id_2', 'id_2_2']);
});

test('columnTypeName spells result column types as T-SQL declares them', () => {
  assert.equal(columnTypeName({ name: 'a', length: 100, type: sql.NVarChar }), 'nvarchar(50)');
  assert.equal(columnTypeName({ name: 'a', length: 0xffff, type: sql.NVarChar }), 'nvarchar(max)');
  assert.equal(columnTypeName({ name: 'a', length: 20, type: sql.VarChar }), 'varchar(20)');
  assert.equal(columnTypeName({ name: 'a', length: 17, type: sql.Decimal, precision: 19, scale: 4 }), 'decimal(19,4)');
  assert.equal(columnTypeName({ name: 'a', length: 8, type: sql.DateTime }), 'datetime');
  assert.equal(columnTypeName({ name: 'a' }), undefined);
});

// ---------------------------------------------------------------------------------------------
// The T-SQL check

test('checkTSql accepts common report T-SQL', () => {
  const valid = {
    cte: `with open_items as (select account_no, sum(amount) as balance from dbo.gl_entry where period <= @period group by account_no)
          select a.account_no, a.account_name, o.balance from dbo.account as a join open_items as o on o.account_no = a.account_no`,
    top: 'select top 10 account_no from dbo.account order by account_no; select top (@n) account_no from dbo.account',
    brackets: 'select [Account No], [a].[Name] from [dbo].[GL Accounts] as [a] where [a].[PCN] = @pcn',
    tempTables: 'select account_no, amount into #stage from dbo.gl_entry where 1 = 0;\ninsert into #stage (account_no, amount) select account_no, amount from dbo.gl_entry where pcn = @pcn;\nselect * from #stage;\ndrop table if exists #stage',
    createTemp: 'create table #t (id int not null, amount decimal(19,2) null, name nvarchar(100))',
    params: "select * from dbo.account where plexus_customer_no = @pcn and (active = 1 or @includeInactive = 1) and name like '%@notaparam%'",
    mergeInsertDelete: 'merge into dbo.t as tgt using dbo.s as src on tgt.id = src.id when matched then delete when not matched then insert (id) values (src.id);',
    windows: 'select account_no, sum(amount) over (partition by account_no order by period rows between unbounded preceding and current row) as running, lag(amount, 1, 0) over (order by period) from dbo.gl_entry',
    functions: "select isnull(a, 0), convert(varchar(10), d, 120), cast(@amt as decimal(19,2)), dateadd(month, 1, @start), eomonth(@start), iif(a > 1, 'x', 'y') from t with (nolock)",
    offsetParams: 'select a from t order by a offset @skip rows fetch next @take rows only',
    declare: 'declare @total decimal(19,2) = 0;\nselect @total = sum(amount) from dbo.gl_entry where period = @period;\nselect @total as total',
    goBatches: 'create table dbo.x (id int);\nGO\ninsert into dbo.x (id) values (@id);\ngo\nselect id from dbo.x',
    empty: '-- nothing but a comment',
  };
  for (const [name, text] of Object.entries(valid)) assert.deepEqual(checkTSql(text), { ok: true }, name);
});

test('checkTSql reports invalid SQL with the script line and column', () => {
  const r = checkTSql('select account_no\nfrom dbo.account\nwhere (active = 1');
  assert.equal(r.ok, false);
  assert.ok(!r.ok);
  assert.equal(r.line, 3);
  assert.equal(r.column, 18);
  assert.match(r.message, /^line 3, column 18: unexpected end of input in "where \(active = 1"/);

  const second = checkTSql('select 1;\nGO\n\nselect a from t where a = = 1');
  assert.ok(!second.ok);
  assert.equal(second.line, 4, 'lines count from the start of the script, across GO');
  assert.match(second.message, /unexpected "="/);

  assert.equal(checkTSql('select a,, b from t').ok, false);
  assert.equal(checkTSql('insert into t (a values (1)').ok, false);
  assert.equal(checkTSql("select 'unterminated from t").ok, false);
  assert.equal(checkTSql('select a from').ok, false);
});

test('checkTSql: known gaps of the grammar fail, and a batch can opt out with a reason', () => {
  // Valid T-SQL that node-sql-parser 5.4 rejects (listed in tsql-check.ts): if one starts to
  // pass after an upgrade, update that list.
  for (const text of [
    'merge into t using s on t.id = s.id when matched then update set v = s.v;',
    'select 1\nselect 2',
    'declare @x int;\nset @x = 5;',
    'if @a = 1 begin select 1 end else begin select 2 end',
    'select a from t except select a from s',
    'select a from t option (recompile)',
    "throw 50000, 'x', 1",
  ]) assert.equal(checkTSql(text).ok, false, text);

  assert.deepEqual(
    checkTSql('select 1;\nGO\n-- tsql-check: skip MERGE with UPDATE is not in the grammar\nmerge into t using s on t.id = s.id when matched then update set v = s.v;'),
    { ok: true, skipped: ['MERGE with UPDATE is not in the grammar'] },
  );
});
