/**
 * The one conformance suite every SQL connector must pass (cube.js style): a test file calls
 * `connectorConformance(target)` per connector; a target lists the cases it cannot pass, with the
 * reason, instead of growing its own copy of the tests. Plex is not SQL and is not a target.
 *
 * The suite only writes portable SQL; the few dialect bits it cannot avoid come from the target.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectorError } from '../../core/errors.ts';
import type { Connector, Row } from './types.ts';

/** The cases of the suite; skip and todo lists are keyed by these names. */
export const conformanceCases = [
  'testConnection succeeds',
  'execute runs DDL and an insert with bound @params',
  'execute runs a script and sums its row counts',
  'execute binds @params in every statement of a script',
  'a script that fails part-way leaves nothing behind',
  'query reports columns and streams rows',
  'query with no rows still reports its columns',
  'the same @name twice is bound twice',
  'a missing parameter is a ConnectorError naming it',
  'a SQL error is a ConnectorError with the message',
  'release() stops iteration early and frees the connection',
  'abort mid-iteration rejects with the reason and the connector still works',
  'bulkInsert of 0 rows',
  'bulkInsert rejects an invalid identifier',
  'close() is idempotent',
] as const;

/** One case name of the suite. */
export type ConformanceCase = (typeof conformanceCases)[number];

/** A connector under test. */
export interface ConformanceTarget {
  /** Label shown in test names, e.g. 'odbc (PostgreSQL)'. */
  name: string;
  /**
   * Create a fresh connector on an empty scratch database; cleanup drops what setup made.
   * Return `{ skip: reason }` when the target cannot run here (no server, no driver).
   */
  setup(): Promise<{ connector: Connector; cleanup(): Promise<void> } | { skip: string }>;
  /** Cases this target cannot pass by its nature, with the reason (reported as skipped). */
  skip?: Partial<Record<ConformanceCase, string>>;
  /** Known bugs still to fix, with the reason: they run, and their failure does not fail the suite. */
  todo?: Partial<Record<ConformanceCase, string>>;
  /** The SQL the suite cannot write portably. */
  dialect: {
    /** `create table <table>` with columns id int, name text, amount decimal(19,2), at timestamp. */
    createTable(table: string): string;
  };
}

/** Rows the streaming cases insert: more than one fetch of any connector's batch size. */
const STREAM_ROWS = 5_000;

/** Row `i` of the streaming table. */
function streamRow(i: number): [number, string, string, string] {
  return [i, `row ${i}`, `${i}.${String(i % 100).padStart(2, '0')}`, `2024-01-${String((i % 28) + 1).padStart(2, '0')} 10:20:30`];
}

async function* generate(n: number): AsyncGenerator<readonly unknown[]> {
  for (let i = 1; i <= n; i++) yield streamRow(i);
}

async function all(rows: AsyncIterable<Row>): Promise<Row[]> {
  const out: Row[] = [];
  for await (const r of rows) out.push(r);
  return out;
}

async function count(c: Connector, table: string): Promise<number> {
  const { rows } = await c.query(`select count(*) as n from ${table}`);
  const [row] = await all(rows);
  return Number(row.n);
}

/** Decimal text as drivers return it (number or string); `12.34` and `'12.34'` both read 12.34. */
function decimalText(v: unknown): string {
  return typeof v === 'number' ? String(v) : String(v).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

/** A timestamp as `YYYY-MM-DD HH:MM:SS`, whether the driver returns text or a Date. */
function timestampText(v: unknown): string {
  if (v instanceof Date) return v.toISOString().replace('T', ' ').slice(0, 19);
  return String(v).replace('T', ' ').slice(0, 19);
}

async function rejectsWithConnectorError(work: Promise<unknown>, message: RegExp): Promise<ConnectorError> {
  const err = await work.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ConnectorError, `expected a ConnectorError, got ${err === undefined ? 'success' : String(err)}`);
  assert.match(err.message, message);
  return err;
}

type Case = (c: Connector, target: ConformanceTarget) => Promise<void>;

const cases: Record<ConformanceCase, Case> = {
  async 'testConnection succeeds'(c) {
    await c.testConnection();
  },

  async 'execute runs DDL and an insert with bound @params'(c, target) {
    await c.execute(target.dialect.createTable('conf_basic'));
    const quoted = `it's "quoted" -- not a comment /* nor this */ @notaparam`;
    const inserted = await c.execute(
      `-- a comment that mentions @ghost
      insert into conf_basic (id, name, amount, at)
      values (@id, 'lit''s @notaparam /* x */', @amount, @at)`,
      { id: 5, amount: '12.34', at: '2024-01-02 03:04:05' },
    );
    assert.equal(inserted.rowsAffected, 1);
    await c.execute('insert into conf_basic (id, name, amount, at) values (@id, @name, @amount, @at)', { id: 6, name: quoted, amount: null, at: null });
    await c.execute('insert into conf_basic (id, name) values (@yes, @label)', { yes: true, label: 'true' });
    await c.execute('insert into conf_basic (id, name) values (@no, @label)', { no: false, label: 'false' });

    const { columns, rows } = await c.query('select id, name, amount, at from conf_basic order by id');
    assert.deepEqual(columns.map((col) => col.name.toLowerCase()), ['id', 'name', 'amount', 'at']);
    const got = await all(rows);
    assert.equal(got.length, 4);
    const [f, t, literal, bound] = got;
    assert.equal(Number(f.id), 0, 'false is bound as 0');
    assert.equal(f.name, 'false');
    assert.equal(Number(t.id), 1, 'true is bound as 1');
    assert.equal(t.name, 'true');
    assert.equal(Number(literal.id), 5);
    assert.equal(literal.name, "lit's @notaparam /* x */");
    assert.equal(decimalText(literal.amount), '12.34');
    assert.equal(timestampText(literal.at), '2024-01-02 03:04:05');
    assert.equal(Number(bound.id), 6);
    assert.equal(bound.name, quoted);
    assert.equal(bound.amount, null);
    assert.equal(bound.at, null);
  },

  async 'execute runs a script and sums its row counts'(c, target) {
    const result = await c.execute(`
      ${target.dialect.createTable('conf_script')};
      insert into conf_script (id, name) values (1, 'a;b');
      -- a comment; with a semicolon
      insert into conf_script (id, name) values (2, 'c');
      /* ; */ update conf_script set name = 'x' where id <= 2;
    `);
    assert.equal(result.rowsAffected, 4);
    assert.equal(await count(c, 'conf_script'), 2);
  },

  async 'execute binds @params in every statement of a script'(c, target) {
    await c.execute(target.dialect.createTable('conf_script_params'));
    const result = await c.execute(`
      insert into conf_script_params (id, name) values (@id, @name);
      insert into conf_script_params (id, name) values (@id + 1, @name);
      delete from conf_script_params where id = @id
    `, { id: 10, name: 'p' });
    assert.equal(result.rowsAffected, 3);
    const { rows } = await c.query('select id, name from conf_script_params');
    const got = await all(rows);
    assert.deepEqual(got.map((r) => [Number(r.id), r.name]), [[11, 'p']]);
  },

  async 'a script that fails part-way leaves nothing behind'(c, target) {
    await c.execute(target.dialect.createTable('conf_atomic'));
    await rejectsWithConnectorError(c.execute(`
      insert into conf_atomic (id, name) values (@id, 'first');
      update conf_atomic set name = 'second' where id = @id;
      insert into conf_no_such_table (id) values (@id)
    `, { id: 1 }), /conf_no_such_table/);
    assert.equal(await count(c, 'conf_atomic'), 0);
    // The connection that ran it is clean again: the next statement commits on its own.
    await c.execute("insert into conf_atomic (id, name) values (2, 'after')");
    assert.equal(await count(c, 'conf_atomic'), 1);
  },

  async 'query reports columns and streams rows'(c, target) {
    await c.execute(target.dialect.createTable('conf_stream'));
    const n = await c.bulkInsert('conf_stream', ['id', 'name', 'amount', 'at'], generate(STREAM_ROWS));
    assert.equal(n, STREAM_ROWS);
    const { columns, rows } = await c.query('select id, name, amount, at from conf_stream order by id');
    assert.deepEqual(columns.map((col) => col.name.toLowerCase()), ['id', 'name', 'amount', 'at']);
    let seen = 0;
    for await (const r of rows) {
      seen++;
      if (seen === 1 || seen === 1234 || seen === STREAM_ROWS) {
        const [id, name, amount, at] = streamRow(seen);
        assert.equal(Number(r.id), id);
        assert.equal(r.name, name);
        assert.equal(decimalText(r.amount), decimalText(amount));
        assert.equal(timestampText(r.at), at);
      }
    }
    assert.equal(seen, STREAM_ROWS);
    assert.equal(await count(c, 'conf_stream'), STREAM_ROWS);
  },

  async 'query with no rows still reports its columns'(c, target) {
    await c.execute(target.dialect.createTable('conf_empty'));
    const { columns, rows } = await c.query('select id, name from conf_empty where id = @id', { id: 1 });
    assert.deepEqual(columns.map((col) => col.name.toLowerCase()), ['id', 'name']);
    assert.deepEqual(await all(rows), []);
  },

  async 'the same @name twice is bound twice'(c, target) {
    await c.execute(target.dialect.createTable('conf_twice'));
    await c.execute("insert into conf_twice (id, name) values (1, 'a'), (2, 'b'), (3, 'c')");
    const { rows } = await c.query('select name from conf_twice where id >= @id and id <= @id + 1 order by id', { id: 2 });
    assert.deepEqual((await all(rows)).map((r) => r.name), ['b', 'c']);
  },

  async 'a missing parameter is a ConnectorError naming it'(c) {
    await rejectsWithConnectorError(c.query('select @present as a, @absent as b', { present: 1 }), /@absent\b/);
    await rejectsWithConnectorError(c.execute('select @absent as b', {}), /@absent\b/);
  },

  async 'a SQL error is a ConnectorError with the message'(c) {
    await rejectsWithConnectorError(c.query('select * from conf_no_such_table'), /conf_no_such_table/);
    await rejectsWithConnectorError(c.execute('insert into conf_no_such_table (id) values (1)'), /conf_no_such_table/);
    await c.testConnection();
  },

  async 'release() stops iteration early and frees the connection'(c, target) {
    await c.execute(target.dialect.createTable('conf_release'));
    await c.bulkInsert('conf_release', ['id', 'name', 'amount', 'at'], generate(STREAM_ROWS));
    // More queries left open and released than any pool has connections: a leak would hang here.
    for (let round = 0; round < 12; round++) {
      const result = await c.query('select id from conf_release order by id');
      const it = result.rows[Symbol.asyncIterator]();
      for (let i = 1; i <= 3; i++) assert.equal(Number((await it.next()).value?.id), i);
      await result.release();
      assert.equal((await it.next()).done, true, 'no rows after release()');
      await result.release();
    }
    // Released without ever iterating.
    for (let round = 0; round < 12; round++) await (await c.query('select id from conf_release')).release();
    assert.equal(await count(c, 'conf_release'), STREAM_ROWS);
  },

  async 'abort mid-iteration rejects with the reason and the connector still works'(c, target) {
    await c.execute(target.dialect.createTable('conf_abort'));
    await c.bulkInsert('conf_abort', ['id', 'name', 'amount', 'at'], generate(STREAM_ROWS));
    const controller = new AbortController();
    const reason = new Error('stop now');
    const { rows } = await c.query('select id, name from conf_abort order by id', {}, { signal: controller.signal });
    let seen = 0;
    const err = await (async () => {
      for await (const _ of rows) {
        if (++seen === 10) controller.abort(reason);
      }
    })().then(() => undefined, (e: unknown) => e);
    assert.equal(err, reason, 'rejects with the signal reason itself');
    assert.ok(seen < STREAM_ROWS, `stopped early (saw ${seen} rows)`);

    await assert.rejects(c.query('select id from conf_abort', {}, { signal: controller.signal }), (e) => e === reason);
    await assert.rejects(c.execute('delete from conf_abort', {}, { signal: controller.signal }), (e) => e === reason);
    assert.equal(await count(c, 'conf_abort'), STREAM_ROWS);
  },

  async 'bulkInsert of 0 rows'(c, target) {
    await c.execute(target.dialect.createTable('conf_bulk_empty'));
    assert.equal(await c.bulkInsert('conf_bulk_empty', ['id', 'name'], generate(0)), 0);
    assert.equal(await count(c, 'conf_bulk_empty'), 0);
  },

  async 'bulkInsert rejects an invalid identifier'(c, target) {
    await c.execute(target.dialect.createTable('conf_bulk_bad'));
    await rejectsWithConnectorError(c.bulkInsert('conf_bulk_bad; drop table conf_bulk_bad', ['id'], generate(1)), /identifier/);
    await rejectsWithConnectorError(c.bulkInsert('conf_bulk_bad', ['id', 'name" text'], generate(1)), /identifier/);
    assert.equal(await count(c, 'conf_bulk_bad'), 0);
  },

  async 'close() is idempotent'(c) {
    await c.testConnection();
    await c.close();
    await c.close();
  },
};

/**
 * Register the suite for `target` as one node:test test with a subtest per case. A target that
 * cannot run here is reported as skipped with its reason; so are the cases in its skip list.
 */
export function connectorConformance(target: ConformanceTarget): void {
  for (const key of [...Object.keys(target.skip ?? {}), ...Object.keys(target.todo ?? {})]) {
    if (!(conformanceCases as readonly string[]).includes(key)) throw new Error(`${target.name}: unknown conformance case "${key}"`);
  }
  test(`connector conformance: ${target.name}`, async (t: TestContext) => {
    const ready = await target.setup();
    if ('skip' in ready) {
      t.skip(ready.skip);
      return;
    }
    try {
      for (const name of conformanceCases) {
        const skip = target.skip?.[name];
        const todo = target.todo?.[name];
        await t.test(name, skip ? { skip } : todo ? { todo } : {}, () => cases[name](ready.connector, target));
      }
    } finally {
      await ready.connector.close();
      await ready.cleanup();
    }
  });
}
