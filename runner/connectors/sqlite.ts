/**
 * sqlite: the embedded demo warehouse (better-sqlite3). URL: `sqlite:<path>` or `sqlite::memory:`;
 * `?readonly` opens it read-only. `@name` parameters bind natively.
 *
 * better-sqlite3 is synchronous: rows are fetched in batches with a yield to the event loop in
 * between, so a long export never starves the BullMQ lock renewal; a single long statement still
 * blocks for its own duration, which is acceptable for the demo warehouse only.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConnectorError } from '../../core/errors.ts';
import { sqlParameters } from '../../core/catalog.ts';
import { splitStatements } from '../../core/sql.ts';
import type { Connector, QueryOptions, QueryResult, Row, SqlParams } from './types.ts';

const BATCH = 500;
const yieldLoop = () => new Promise<void>((r) => setImmediate(r));

/** Only the parameters the statement names, in SQLite's types (booleans as 0/1). */
function bind(sql: string, params: SqlParams = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of sqlParameters(sql)) {
    if (!(name in params)) throw new ConnectorError('sqlite', `parameter @${name} has no value`);
    const v = params[name];
    out[name] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
  }
  return out;
}

function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) throw new ConnectorError('sqlite', `invalid identifier ${JSON.stringify(name)}`);
  return name.split('.').map((p) => `"${p}"`).join('.');
}

export function sqliteConnector(name: string, url: string): Connector {
  const [pathPart, query = ''] = url.replace(/^sqlite:/i, '').split('?');
  const readonly = /(^|&)readonly(=1|=true)?($|&)/.test(query);
  const path = pathPart === '' ? ':memory:' : pathPart;
  let db: Database.Database | undefined;

  const open = (): Database.Database => {
    if (!db) {
      try {
        if (path !== ':memory:' && !readonly) mkdirSync(dirname(path), { recursive: true });
        db = new Database(path, { readonly, fileMustExist: readonly });
        if (!readonly) db.pragma('journal_mode = WAL');
        db.pragma('busy_timeout = 5000');
      } catch (err) {
        throw new ConnectorError(name, `cannot open SQLite database ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
    return db;
  };

  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ConnectorError) throw new ConnectorError(name, err.message, { cause: err.cause });
      throw new ConnectorError(name, (err as Error).message, { cause: err });
    }
  };

  return {
    name,
    kind: 'sqlite',
    async testConnection() {
      wrap(() => open().prepare('select 1').get());
    },
    async execute(sql: string, params?: SqlParams, opts?: QueryOptions) {
      opts?.signal?.throwIfAborted();
      return wrap(() => {
        const d = open();
        // SQLite prepares one statement at a time: run a script statement by statement, each bound
        // with the parameters it names, in one transaction so a failed script leaves nothing behind.
        let rowsAffected = 0;
        d.transaction(() => {
          for (const statement of splitStatements(sql)) rowsAffected += d.prepare(statement).run(bind(statement, params)).changes;
        })();
        return { rowsAffected };
      });
    },
    async query(sql: string, params?: SqlParams, opts?: QueryOptions): Promise<QueryResult> {
      opts?.signal?.throwIfAborted();
      const stmt = wrap(() => open().prepare(sql));
      if (!stmt.reader) throw new ConnectorError(name, 'query() needs a statement that returns rows');
      const columns = stmt.columns().map((c) => ({ name: c.name, type: c.type ?? undefined }));
      const it = wrap(() => stmt.iterate(bind(sql, params)) as IterableIterator<Row>);
      // `released`: the caller let go early; `exhausted`: the statement ran out of rows.
      let released = false;
      let exhausted = false;
      const release = async () => {
        if (!released) { released = true; it.return?.(); }
      };
      async function* rows(): AsyncGenerator<Row> {
        try {
          while (!released && !exhausted) {
            const batch: Row[] = [];
            for (let i = 0; i < BATCH; i++) {
              const r = wrap(() => it.next());
              if (r.done) { exhausted = true; break; }
              batch.push(r.value);
            }
            for (const row of batch) {
              if (released) return;
              yield row;
            }
            await yieldLoop();
            opts?.signal?.throwIfAborted();
          }
        } finally {
          await release();
        }
      }
      return { columns, rows: rows(), release };
    },
    async bulkInsert(table: string, cols: readonly string[], rows: AsyncIterable<readonly unknown[]>, opts?: QueryOptions) {
      const d = open();
      const stmt = wrap(() => d.prepare(`insert into ${quoteIdent(table)} (${cols.map(quoteIdent).join(', ')}) values (${cols.map(() => '?').join(', ')})`));
      const insertMany = d.transaction((batch: unknown[][]) => { for (const r of batch) stmt.run(...r); });
      let batch: unknown[][] = [];
      let n = 0;
      for await (const r of rows) {
        batch.push(r.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v)));
        if (batch.length >= BATCH) {
          wrap(() => insertMany(batch));
          n += batch.length;
          batch = [];
          await yieldLoop();
          opts?.signal?.throwIfAborted();
        }
      }
      if (batch.length) { wrap(() => insertMany(batch)); n += batch.length; }
      return n;
    },
    async close() {
      db?.close();
      db = undefined;
    },
  };
}
