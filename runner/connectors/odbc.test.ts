/**
 * ODBC connector specifics the shared conformance suite does not cover: the @name rewriter, the
 * script splitter, secret masking, the missing-module error, driver streaming switches, and
 * (against PostgreSQL, skipped when unavailable) transactions, pooling and dead connections.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ConnectorError } from '../../core/errors.ts';
import { odbcConnector, OdbcConnectorError, redactConnectionString, toPositional, type OdbcModule, type OdbcPool } from './odbc.ts';
import { splitStatements } from '../../core/sql.ts';
import type { Connector, Row } from './types.ts';

async function all(rows: AsyncIterable<Row>): Promise<Row[]> {
  const out: Row[] = [];
  for await (const r of rows) out.push(r);
  return out;
}

async function* generate<T extends readonly unknown[]>(n: number, row: (i: number) => T): AsyncGenerator<T> {
  for (let i = 1; i <= n; i++) yield row(i);
}

// ---------------------------------------------------------------------------------------------
// SQL text

test('toPositional rewrites @name in order of appearance, once per occurrence', () => {
  assert.deepEqual(toPositional('select * from t where a = @a and b between @from and @to or c = @a'), {
    sql: 'select * from t where a = ? and b between ? and ? or c = ?',
    names: ['a', 'from', 'to', 'a'],
  });
  assert.deepEqual(toPositional('select 1'), { sql: 'select 1', names: [] });
  assert.deepEqual(toPositional('select @x::date, @_y1+1,(@z)'), { sql: 'select ?::date, ?+1,(?)', names: ['x', '_y1', 'z'] });
});

test('toPositional leaves @ in strings, identifiers, comments, @@globals and words alone', () => {
  const sql = [
    "select 'a@b.com', 'it''s @q', E'\\'@e', $$ @dollar $$, $tag$ @tagged $tag$,",
    ' "col@x", [col@y], `col@z`, @@version, user@host, @real -- @line',
    '/* @block /* @nested */ @still */ from t',
  ].join('\n');
  const { sql: out, names } = toPositional(sql);
  assert.deepEqual(names, ['real']);
  assert.equal(out, sql.replace('@real', '?'));
});

test('toPositional treats an unterminated string or comment as running to the end', () => {
  assert.deepEqual(toPositional("select @a, 'oops @b").names, ['a']);
  assert.deepEqual(toPositional('select @a /* @b').names, ['a']);
});

test('splitStatements splits at top-level ; and drops comments between statements', () => {
  assert.deepEqual(splitStatements(`
    -- header; with a semicolon
    create table t (a text); /* a; block */
    insert into t values ('x;y', "q;""", E'\\';', $$;$$);
    ;
    do $body$ begin perform 1; end $body$;
    select 1 -- trailing; comment
  `), [
    'create table t (a text)',
    `insert into t values ('x;y', "q;""", E'\\';', $$;$$)`,
    'do $body$ begin perform 1; end $body$',
    'select 1',
  ]);
  assert.deepEqual(splitStatements('-- only a comment;\n /* and; this */'), []);
  assert.deepEqual(splitStatements('select /* inner; */ 1'), ['select /* inner; */ 1']);
});

// ---------------------------------------------------------------------------------------------
// Secrets and the optional module

test('redactConnectionString masks PWD and Password values, braced or not', () => {
  assert.equal(redactConnectionString('DSN=Plex;UID=rep;PWD=s3cret;Port=1'), 'DSN=Plex;UID=rep;PWD=***;Port=1');
  assert.equal(redactConnectionString('Driver={x};pwd = {a;b}}c};Database=d'), 'Driver={x};pwd = ***;Database=d');
  assert.equal(redactConnectionString('Password=hunter2'), 'Password=***');
  assert.equal(redactConnectionString('odbc:DSN=a;PWD=p1; or postgres://u:p2@h/db'), 'odbc:DSN=a;PWD=***; or postgres://u:***@h/db');
  // Without a closing ; the value runs to the end: better to mask too much than too little.
  assert.equal(redactConnectionString('DSN=a;PWD=p1 and more'), 'DSN=a;PWD=***');
});

test('a missing odbc module is a ConnectorError that says how to install it', async () => {
  const missing = Object.assign(new Error("Cannot find package 'odbc' imported from /app/runner/connectors/odbc.ts"), { code: 'ERR_MODULE_NOT_FOUND' });
  const c = odbcConnector('plex', 'odbc:DSN=PlexODBC;UID=u;PWD=secret', { loadOdbc: async () => { throw missing; } });
  for (const attempt of [() => c.testConnection(), () => c.query('select 1'), () => c.execute('select 1')]) {
    await assert.rejects(attempt(), (err: unknown) => {
      assert.ok(err instanceof ConnectorError);
      assert.equal(err.connection, 'plex');
      assert.match(err.message, /optional "odbc" module is not installed/);
      assert.match(err.message, /apt-get install unixodbc-dev/);
      assert.match(err.message, /npm install/);
      assert.equal(err.cause, missing);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
  }
  // Zero rows never need the module; closing one that never opened is fine.
  assert.equal(await c.bulkInsert('t', ['a'], generate(0, () => [1])), 0);
  await c.close();
});

test('parameters are checked before anything is loaded or opened', async () => {
  let loaded = 0;
  const c = odbcConnector('x', 'odbc:DSN=x', { loadOdbc: async () => { loaded++; throw new Error('not here'); } });
  await assert.rejects(c.query('select @a, @b', { a: 1 }), /parameter @b has no value/);
  await assert.rejects(c.execute('select 1; select @late', {}), /parameter @late has no value/);
  await assert.rejects(c.query('select * from t where a = ? and b = @b', { b: 1 }), /\? outside strings and comments/);
  await assert.rejects(c.bulkInsert('t; drop table t', ['a'], generate(1, () => [1])), /invalid identifier/);
  assert.equal(loaded, 0);
});

/** A stand-in `odbc` module that records how its pool was configured and fails to connect. */
function recordingModule(error: unknown): { module: OdbcModule; configs: Array<{ connectionString: string }> } {
  const configs: Array<{ connectionString: string }> = [];
  return {
    configs,
    module: {
      async pool(config): Promise<OdbcPool> {
        configs.push(config);
        throw error;
      },
    },
  };
}

test('driver errors carry the driver message and SQLSTATE, never the password', async () => {
  const driverErr = Object.assign(new Error('[odbc] Error connecting to the database'), {
    odbcErrors: [{ state: '28P01', code: 1, message: 'password authentication failed;\nconnection string PWD=hunter2;' }],
  });
  const fake = recordingModule(driverErr);
  const c = odbcConnector('erp', 'odbc:Driver={PostgreSQL Unicode};Servername=db;UID=rep;PWD=hunter2', { loadOdbc: async () => fake.module });
  const err = await c.testConnection().then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof OdbcConnectorError);
  assert.ok(err instanceof ConnectorError);
  assert.equal(err.sqlState, '28P01');
  assert.match(err.message, /password authentication failed/);
  assert.match(err.message, /SQLSTATE 28P01/);
  assert.match(err.message, /PWD=\*\*\*/);
  assert.doesNotMatch(err.message, /hunter2/);
  // A failed open is not cached: the next call tries again.
  await assert.rejects(c.testConnection(), OdbcConnectorError);
  assert.equal(fake.configs.length, 2);
});

test('drivers named in the connection string get their streaming switch, unless set already', async () => {
  const seen = async (url: string) => {
    const fake = recordingModule(new Error('stop'));
    await odbcConnector('x', url, { loadOdbc: async () => fake.module, fetchSize: 250 }).testConnection().catch(() => {});
    return fake.configs[0].connectionString;
  };
  assert.equal(await seen('odbc:Driver={PostgreSQL Unicode};Servername=h;Database=d;'),
    'Driver={PostgreSQL Unicode};Servername=h;Database=d;UseDeclareFetch=1;Fetch=250');
  assert.equal(await seen('odbc:Driver={PostgreSQL ANSI};usedeclarefetch=0'), 'Driver={PostgreSQL ANSI};usedeclarefetch=0;Fetch=250');
  assert.equal(await seen('odbc:Driver={SQLite3};Database=/tmp/x.db'), 'Driver={SQLite3};Database=/tmp/x.db;StepAPI=1');
  assert.equal(await seen('odbc:DSN=PlexODBC;UID=u'), 'DSN=PlexODBC;UID=u');
  assert.equal(await seen('odbc:Driver={ODBC Driver 18 for SQL Server};Server=s'), 'Driver={ODBC Driver 18 for SQL Server};Server=s');
});

// ---------------------------------------------------------------------------------------------
// Against PostgreSQL (skipped, with the reason, when the module, driver or server is missing)

const PG_ADMIN = process.env.TEST_ODBC_POSTGRES ??
  'Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=5432;Database=postgres;UID=postgres';
let pgSkip: string | false = false;
let admin: Connector;
let db: string;
let pgUrl: string;

before(async () => {
  admin = odbcConnector('admin', `odbc:${PG_ADMIN}`);
  try {
    await admin.testConnection();
  } catch (err) {
    pgSkip = `PostgreSQL through ODBC is not available: ${(err as Error).message}`;
    return;
  }
  db = `rb_odbc_${randomBytes(6).toString('hex')}`;
  await admin.execute(`create database ${db}`);
  pgUrl = `odbc:${PG_ADMIN.replace(/(^|;)\s*Database=[^;]*/i, `$1Database=${db}`)}`;
});

after(async () => {
  if (!pgSkip && db) await admin.execute(`drop database if exists ${db} with (force)`);
  await admin.close();
});

/** A PostgreSQL test on the per-run database; skipped with the reason when there is none. */
function pgTest(name: string, fn: () => Promise<void>): void {
  test(`postgres: ${name}`, async (t) => {
    if (pgSkip) return t.skip(pgSkip);
    await fn();
  });
}

pgTest('a refused connection is an OdbcConnectorError with SQLSTATE 08001 and no password', async () => {
  const c = odbcConnector('down', 'odbc:Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=1;UID=x;PWD=s3cret-pw', { loginTimeout: 5 });
  const err = await c.testConnection().then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof OdbcConnectorError);
  assert.equal(err.sqlState, '08001');
  assert.match(err.message, /cannot connect to .*PWD=\*\*\*/);
  assert.doesNotMatch(err.message, /s3cret-pw/);
  await c.close();
});

pgTest('SQL errors carry the SQLSTATE; a failing script names the statement', async () => {
  const c = odbcConnector('pg', pgUrl);
  try {
    const err = await c.execute('create table e1 (a int); insert into e1 values (1); select * from no_such').then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof OdbcConnectorError);
    assert.equal(err.sqlState, '42P01');
    assert.match(err.message, /^statement 3 of 3: .*relation "no_such" does not exist/);
  } finally {
    await c.close();
  }
});

pgTest('rows stream through a server-side cursor, not a buffered result', async () => {
  const c = odbcConnector('pg', pgUrl, { fetchSize: 100 });
  const watcher = odbcConnector('watch', pgUrl);
  try {
    const result = await c.query('select g as n from generate_series(1, 100000) g');
    assert.deepEqual(result.columns, [{ name: 'n', type: 'INTEGER' }]);
    const it = result.rows[Symbol.asyncIterator]();
    for (let i = 0; i < 150; i++) await it.next();
    // psqlODBC with UseDeclareFetch reads through `declare … cursor` and `fetch <n> in …`.
    const { rows } = await watcher.query(
      `select query from pg_stat_activity
       where datname = current_database() and pid <> pg_backend_pid() and query like '%fetch 100 in "SQL_CUR%'`);
    assert.equal((await all(rows)).length, 1, 'the reading connection fetches from a cursor');
    await result.release();
  } finally {
    await c.close();
    await watcher.close();
  }
});

pgTest('bulkInsert batches under the parameter cap and rolls back as a whole on error', async () => {
  const c = odbcConnector('pg', pgUrl, { maxParameters: 10, batchRows: 500 });
  try {
    await c.execute('create table b1 (id int not null, name text, flag int)');
    // 3 columns under a cap of 10 parameters: 3 rows per statement.
    assert.equal(await c.bulkInsert('public.b1', ['id', 'name', 'flag'], generate(10, (i) => [i, `n${i}`, i % 2 === 0])), 10);
    const { rows } = await c.query('select count(*) as n, sum(flag) as f from b1');
    const [r] = await all(rows);
    assert.deepEqual([Number(r.n), Number(r.f)], [10, 5]);

    const err = await c.bulkInsert('b1', ['id', 'name', 'flag'], generate(10, (i) => [i === 8 ? null : i, 'x', 0])).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof OdbcConnectorError);
    assert.equal(err.sqlState, '23502');
    assert.match(err.message, /insert into b1 \(rows 7-9\)/);
    const again = await all((await c.query('select count(*) as n from b1')).rows);
    assert.equal(Number(again[0].n), 10, 'the rows of earlier batches were rolled back');

    await assert.rejects(c.bulkInsert('b1', ['id', 'name'], generate(1, () => [1])), /row 1 has 1 values for 2 columns/);

    const controller = new AbortController();
    const reason = new Error('cancelled');
    async function* thenAbort() {
      for (let i = 1; i <= 20; i++) {
        if (i === 15) controller.abort(reason);
        yield [i, 'a', 0] as const;
      }
    }
    await assert.rejects(c.bulkInsert('b1', ['id', 'name', 'flag'], thenAbort(), { signal: controller.signal }), (e) => e === reason);
    const last = await all((await c.query('select count(*) as n from b1')).rows);
    assert.equal(Number(last[0].n), 10, 'an aborted bulkInsert leaves nothing behind');
  } finally {
    await c.close();
  }
});

pgTest('a query waits for a free connection when the pool is full', async () => {
  const c = odbcConnector('pg', pgUrl, { maxConnections: 2 });
  try {
    const a = await c.query('select 1 as n');
    const b = await c.query('select 2 as n');
    const third = c.query('select 3 as n');
    const early = await Promise.race([third.then(() => 'got one'), new Promise((r) => setTimeout(r, 200, 'waiting'))]);
    assert.equal(early, 'waiting');
    await a.release();
    assert.deepEqual(await all((await third).rows), [{ n: 3 }]);
    assert.deepEqual(await all(b.rows), [{ n: 2 }]);
  } finally {
    await c.close();
  }
});

pgTest('a connection killed by the server fails one call, then the pool is replaced', async () => {
  const c = odbcConnector('pg', pgUrl, { maxConnections: 1 });
  try {
    const [{ pid }] = await all((await c.query('select pg_backend_pid() as pid')).rows);
    await admin.execute(`select pg_terminate_backend(${Number(pid)})`);
    await assert.rejects(c.testConnection(), (e: unknown) => e instanceof OdbcConnectorError && e.sqlState === '57P01');
    await c.testConnection();
    const [{ pid: next }] = await all((await c.query('select pg_backend_pid() as pid')).rows);
    assert.notEqual(next, pid);
  } finally {
    await c.close();
  }
});

pgTest('close() closes cursors left open, and the connector reopens on next use', async () => {
  /** Sessions on the test database once closing ones are gone (a backend exits just after its client leaves). */
  const settled = async (expected: number) => {
    let n = -1;
    for (let tries = 0; tries < 50 && n !== expected; tries++) {
      if (tries) await new Promise((r) => setTimeout(r, 100));
      const { rows } = await admin.query('select count(*) as n from pg_stat_activity where datname = @db', { db });
      n = Number((await all(rows))[0].n);
    }
    return n;
  };
  assert.equal(await settled(0), 0);
  const c = odbcConnector('pg', pgUrl);
  const open = await c.query('select g from generate_series(1, 10000) g');
  assert.equal(await settled(1), 1);
  await c.close();
  assert.equal(await settled(0), 0);
  assert.deepEqual(await all(open.rows), [], 'a closed query yields nothing more');
  await c.testConnection();
  assert.equal(await settled(1), 1);
  await c.close();
  assert.equal(await settled(0), 0);
});
