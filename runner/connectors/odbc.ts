/**
 * odbc: any database with an ODBC driver (the Plex ODBC data source, PostgreSQL, SQLite, …) through
 * unixODBC and the optional npm `odbc` module. URL: `odbc:<connection string>`, e.g.
 * `odbc:Driver={PostgreSQL Unicode};Servername=db;Port=5432;Database=erp;UID=report;PWD=…` or
 * `odbc:DSN=PlexODBC;UID=…;PWD=…`.
 *
 * SQL keeps the project's `@name` parameters; they are rewritten to ODBC's positional `?` markers.
 * Rows stream through a cursor, one fetch of `fetchSize` rows at a time. Drivers that would
 * otherwise read a whole result into memory on execute get their streaming switch turned on when
 * the connection string names the driver (PostgreSQL: UseDeclareFetch=1, SQLite: StepAPI=1); a DSN
 * has to set it in odbc.ini itself.
 */
import { maskNonCode, splitStatements } from '../../core/sql.ts';
import { ConnectorError } from '../../core/errors.ts';
import { redactUrl } from '../../core/logger.ts';
import type { ColumnInfo, Connector, QueryOptions, QueryResult, Row, SqlParams } from './types.ts';

// ---------------------------------------------------------------------------------------------
// The part of the `odbc` module this connector uses. Declared here rather than imported from the
// package so the project still type-checks on machines where the optional module is absent.

/** A column as the `odbc` module describes it. */
export interface OdbcColumn {
  name: string;
  dataType: number;
  dataTypeName?: string;
  columnSize?: number;
  decimalDigits?: number;
}

/** Rows of one execute or fetch, with the statement's row count and columns. */
export interface OdbcResult extends Array<Row> {
  count?: number;
  columns?: OdbcColumn[];
}

/** An open cursor over a result set. */
export interface OdbcCursor {
  readonly noData: boolean;
  fetch(): Promise<OdbcResult>;
  close(): Promise<void>;
}

/** A pooled connection; `close()` gives it back to the pool, `nativeClose()` really closes it. */
export interface OdbcConnection {
  readonly connected?: boolean;
  query(sql: string, parameters?: unknown[]): Promise<OdbcResult>;
  query(sql: string, parameters: unknown[] | undefined, options: { fetchSize: number }): Promise<OdbcCursor>;
  beginTransaction(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  close(): Promise<void>;
  nativeClose?(): Promise<void>;
}

/** A connection pool of the `odbc` module. */
export interface OdbcPool {
  connect(): Promise<OdbcConnection>;
  close(): Promise<void>;
}

/** What the connector needs from the `odbc` module. */
export interface OdbcModule {
  pool(config: {
    connectionString: string;
    initialSize?: number;
    incrementSize?: number;
    maxSize?: number;
    loginTimeout?: number;
  }): Promise<OdbcPool>;
}

/** Tuning and test hooks for {@link odbcConnector}. */
export interface OdbcConnectorOptions {
  /** Rows per cursor fetch (default 1000). */
  fetchSize?: number;
  /** Most pooled connections (default 4). */
  maxConnections?: number;
  /** Most rows per multi-row INSERT in bulkInsert (default 500). */
  batchRows?: number;
  /** Most bound parameters per statement (default 2000, under SQL Server's 2100). */
  maxParameters?: number;
  /** Seconds to wait for a login (default 30). */
  loginTimeout?: number;
  /** Loads the `odbc` module; tests replace it to simulate a machine without unixODBC. */
  loadOdbc?: () => Promise<OdbcModule>;
}

// The specifier is a variable so TypeScript does not resolve the optional package at compile time.
const ODBC_MODULE = 'odbc';

async function importOdbc(): Promise<OdbcModule> {
  const mod = (await import(ODBC_MODULE)) as { default?: OdbcModule } & Partial<OdbcModule>;
  return mod.default ?? (mod as OdbcModule);
}

// ---------------------------------------------------------------------------------------------
// SQL text: one lexer masks strings, quoted identifiers and comments, so parameters, statement
// separators and stray `?` markers are only ever looked for in code.

const PARAM = /(?<![@\w$])@([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * Rewrite `@name` parameters to positional `?` markers. `names` lists them in order of appearance,
 * once per occurrence (a name used twice is bound twice). `@` inside string literals, quoted
 * identifiers and comments, and `@@globals`, are left alone.
 */
export function toPositional(sql: string): { sql: string; names: string[] } {
  const masked = maskNonCode(sql);
  const names: string[] = [];
  let out = '';
  let last = 0;
  for (const m of masked.matchAll(PARAM)) {
    names.push(m[1]);
    out += sql.slice(last, m.index) + '?';
    last = m.index + m[0].length;
  }
  return { sql: out + sql.slice(last), names };
}


// ---------------------------------------------------------------------------------------------
// Connection strings.

/** `key=value` pairs of an ODBC connection string (keys lower-cased; `{…}` values unwrapped). */
function parseConnectionString(cs: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\s*([^=;]+?)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*)\s*(?:;|$)/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < cs.length && (m = re.exec(cs))) {
    const raw = m[2];
    out.set(m[1].toLowerCase(), raw.startsWith('{') ? raw.slice(1, -1).replace(/\}\}/g, '}') : raw);
  }
  return out;
}

/**
 * Mask credentials in a connection string or in any text that may quote one: `PWD=…` and
 * `Password=…` values (including `{…;…}` braced ones) and URL user-info passwords.
 */
export function redactConnectionString(text: string): string {
  return redactUrl(text.replace(/\b((?:PWD|Password)\s*=\s*)(\{(?:[^}]|\}\})*\}?|[^;]*)/gi, '$1***'));
}

/** Per-driver switches that make the driver stream rows instead of buffering a whole result. */
const STREAMING: ReadonlyArray<{ driver: RegExp; options(fetchSize: number): Record<string, string> }> = [
  // psqlODBC reads the entire result on execute unless it fetches through a server-side cursor.
  { driver: /postgres|psqlodbc/i, options: (fetchSize) => ({ UseDeclareFetch: '1', Fetch: String(fetchSize) }) },
  // The SQLite ODBC driver materialises the result (sqlite3_get_table) unless StepAPI is on.
  { driver: /sqlite/i, options: () => ({ StepAPI: '1' }) },
];

function withStreamingDefaults(cs: string, fetchSize: number): string {
  const parsed = parseConnectionString(cs);
  const driver = parsed.get('driver');
  if (!driver) return cs;
  let out = cs.replace(/;\s*$/, '');
  for (const rule of STREAMING.filter((r) => r.driver.test(driver))) {
    for (const [k, v] of Object.entries(rule.options(fetchSize))) {
      if (!parsed.has(k.toLowerCase())) out += `;${k}=${v}`;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Values and errors.

/** The value bound for one parameter: booleans as 1/0, dates as ISO text, undefined as NULL. */
function toBindValue(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'bigint' || Buffer.isBuffer(v)) return v;
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

/** The column type as a short declared-type text, e.g. INTEGER, NUMERIC(19,2), TIMESTAMP. */
function columnType(c: OdbcColumn): string {
  const base = (c.dataTypeName ?? String(c.dataType)).replace(/^SQL_(TYPE_)?/, '');
  return /^(DECIMAL|NUMERIC)$/.test(base) && c.columnSize ? `${base}(${c.columnSize},${c.decimalDigits ?? 0})` : base;
}

/** A driver error: the driver's message and, when it gave one, the SQLSTATE. */
export class OdbcConnectorError extends ConnectorError {
  /** Five-character SQLSTATE of the first driver diagnostic, e.g. 42P01, 08001. */
  readonly sqlState: string | undefined;
  constructor(connection: string, message: string, sqlState: string | undefined, options?: ErrorOptions) {
    super(connection, message, options);
    this.name = 'OdbcConnectorError';
    this.sqlState = sqlState;
  }
}

function driverError(connection: string, err: unknown, context?: string): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const diags = (err as { odbcErrors?: Array<{ state?: string; message?: string }> })?.odbcErrors ?? [];
  const state = diags.find((d) => d.state)?.state;
  // psqlODBC appends ";\nError while executing the query" and the like: keep one readable line.
  const text = diags.length
    ? diags.map((d) => `${(d.message ?? '').replace(/\s*\n\s*/g, ' ').trim()}${d.state ? ` (SQLSTATE ${d.state})` : ''}`).join('; ')
    : err instanceof Error ? err.message : String(err);
  return new OdbcConnectorError(connection, redactConnectionString(context ? `${context}: ${text}` : text), state, { cause: err });
}

function quoteIdent(connection: string, name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(name)) {
    throw new ConnectorError(connection, `invalid identifier ${JSON.stringify(name)}`);
  }
  return name.split('.').map((p) => `"${p}"`).join('.');
}

/** Wait for `work`, or reject with the signal's reason once it aborts; `work` still runs to its end. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, onLate: (value: T) => unknown): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.then(onLate, () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.then(onLate, () => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// The connector.

interface PoolSlot {
  pool: OdbcPool;
  retired: boolean;
}

interface Lease {
  conn: OdbcConnection;
  /** Back to the pool, or closed for good if the connection is dead, dirty or its pool retired. */
  release(discard?: boolean): Promise<void>;
}

/**
 * Create the ODBC connector for `url` (`odbc:<connection string>`). Nothing is loaded or opened
 * until first use; a machine without the `odbc` module gets a ConnectorError saying how to fix it.
 */
export function odbcConnector(name: string, url: string, options: OdbcConnectorOptions = {}): Connector {
  const fetchSize = options.fetchSize ?? 1000;
  const batchRows = options.batchRows ?? 500;
  const maxParameters = options.maxParameters ?? 2000;
  const load = options.loadOdbc ?? importOdbc;
  const connectionString = withStreamingDefaults(url.replace(/^odbc:/i, '').trim(), fetchSize);
  const shown = redactConnectionString(connectionString);

  let slot: Promise<PoolSlot> | undefined;
  const active = new Set<() => Promise<void>>();

  const loadModule = async (): Promise<OdbcModule> => {
    try {
      return await load();
    } catch (err) {
      throw new ConnectorError(name,
        'ODBC is not available: the optional "odbc" module is not installed or its native part did not build, ' +
        'because unixODBC was missing when npm install ran. Install unixODBC (Debian/Ubuntu: apt-get install unixodbc-dev) ' +
        `and run npm install again. (${(err as Error)?.message ?? String(err)})`, { cause: err });
    }
  };

  const openSlot = (): Promise<PoolSlot> => {
    if (!slot) {
      const opening = (async () => {
        const odbc = await loadModule();
        try {
          const pool = await odbc.pool({
            connectionString,
            // Grow one connection at a time: the module's default opens ten at once.
            initialSize: 1,
            incrementSize: 1,
            maxSize: options.maxConnections ?? 4,
            loginTimeout: options.loginTimeout ?? 30,
          });
          return { pool, retired: false };
        } catch (err) {
          throw driverError(name, err, `cannot connect to ${shown}`);
        }
      })();
      slot = opening;
      // A failed open is not cached: the next use tries again.
      opening.catch(() => { if (slot === opening) slot = undefined; });
    }
    return slot;
  };

  /** Stop handing out this pool's connections; idle ones close now, leased ones on release. */
  const retire = (s: PoolSlot) => {
    if (s.retired) return;
    s.retired = true;
    const current = slot;
    void current?.then((cur) => { if (cur === s && slot === current) slot = undefined; }, () => {});
    s.pool.close().catch(() => {});
  };

  const acquire = async (): Promise<Lease> => {
    const s = await openSlot();
    let conn: OdbcConnection;
    try {
      conn = await s.pool.connect();
    } catch (err) {
      // The module's pool miscounts after a failed connect and could wait forever: start afresh.
      retire(s);
      throw driverError(name, err, `cannot connect to ${shown}`);
    }
    let released = false;
    return {
      conn,
      async release(discard = false) {
        if (released) return;
        released = true;
        // A dead connection (server restart) would fail every later run that drew it, and the pool
        // cannot drop one connection cleanly, so the whole pool is replaced.
        if (discard || conn.connected === false) retire(s);
        if (s.retired) await (conn.nativeClose ?? conn.close).call(conn).catch(() => {});
        else await conn.close().catch(() => {});
      },
    };
  };

  const bind = (sql: string, params: SqlParams = {}): { sql: string; values: unknown[] | undefined } => {
    // A literal ? would be taken by the driver as one more marker and shift every binding after it.
    if (/\?/.test(maskNonCode(sql))) {
      throw new ConnectorError(name, 'the SQL has a ? outside strings and comments; ODBC would take it for a parameter marker (write parameters as @name)');
    }
    const positional = toPositional(sql);
    const values = positional.names.map((p) => {
      if (!Object.hasOwn(params, p)) throw new ConnectorError(name, `parameter @${p} has no value`);
      return toBindValue(params[p]);
    });
    return { sql: positional.sql, values: values.length ? values : undefined };
  };

  return {
    name,
    kind: 'odbc',

    async testConnection() {
      const lease = await acquire();
      try {
        await lease.conn.query('select 1');
      } catch (err) {
        throw driverError(name, err);
      } finally {
        await lease.release();
      }
    },

    async execute(sql: string, params?: SqlParams, opts?: QueryOptions) {
      const signal = opts?.signal;
      signal?.throwIfAborted();
      // Bind every statement first, so a missing parameter fails before anything has run.
      const statements = splitStatements(sql).map((s) => bind(s, params));
      if (!statements.length) return { rowsAffected: 0 };
      // A script runs in one transaction, as the sqlite connector's does, so a failure part-way
      // leaves nothing behind. A single statement stays in autocommit: some (CREATE DATABASE,
      // VACUUM) refuse to run inside a transaction.
      const script = statements.length > 1;
      const lease = await abortable(acquire(), signal, (l) => l.release());
      let rowsAffected = 0;
      let inTransaction = false;
      try {
        if (script) {
          await lease.conn.beginTransaction().catch((err: unknown) => { throw driverError(name, err); });
          inTransaction = true;
        }
        for (const [i, st] of statements.entries()) {
          signal?.throwIfAborted();
          const result = await lease.conn.query(st.sql, st.values).catch((err: unknown) => {
            throw driverError(name, err, script ? `statement ${i + 1} of ${statements.length}` : undefined);
          });
          // Drivers report -1 for statements without a row count (DDL).
          rowsAffected += Math.max(0, result.count ?? 0);
        }
        if (inTransaction) {
          await lease.conn.commit().catch((err: unknown) => { throw driverError(name, err, 'commit'); });
          inTransaction = false;
        }
        return { rowsAffected };
      } catch (err) {
        // A connection whose rollback failed may still hold the transaction: never pool it again.
        if (inTransaction && !(await lease.conn.rollback().then(() => true, () => false))) await lease.release(true);
        throw err;
      } finally {
        await lease.release();
      }
    },

    async query(sql: string, params?: SqlParams, opts?: QueryOptions): Promise<QueryResult> {
      const signal = opts?.signal;
      signal?.throwIfAborted();
      const bound = bind(sql, params);

      const opening = (async () => {
        const lease = await acquire();
        try {
          signal?.throwIfAborted();
          const cursor = await lease.conn.query(bound.sql, bound.values, { fetchSize });
          try {
            return { lease, cursor, first: await cursor.fetch() };
          } catch (err) {
            await cursor.close().catch(() => {});
            throw err;
          }
        } catch (err) {
          await lease.release();
          if (signal?.aborted && err === signal.reason) throw err;
          throw driverError(name, err);
        }
      })();
      const { lease, cursor, first } = await abortable(opening, signal, async (late) => {
        await late.cursor.close().catch(() => {});
        await late.lease.release();
      });

      const columns: ColumnInfo[] = (first.columns ?? []).map((c) => ({ name: c.name, type: columnType(c) }));
      let exhausted = first.length < fetchSize || cursor.noData;
      let released: Promise<void> | undefined;
      let inflight: Promise<OdbcResult> | undefined;

      const release = (): Promise<void> => {
        released ??= (async () => {
          active.delete(release);
          // The cursor's statement handle must not be freed while a fetch is still using it.
          await inflight?.catch(() => {});
          let broken = false;
          await cursor.close().catch(() => { broken = true; });
          await lease.release(broken);
        })();
        return released;
      };
      active.add(release);

      async function* rows(): AsyncGenerator<Row> {
        try {
          let batch: Row[] = first;
          for (;;) {
            for (const row of batch) {
              if (released) return;
              signal?.throwIfAborted();
              yield row;
            }
            if (released || exhausted) return;
            signal?.throwIfAborted();
            // Kept after it settles: release() waits on it, also when an abort stopped waiting early.
            inflight = cursor.fetch();
            try {
              batch = await abortable(inflight, signal, () => {});
            } catch (err) {
              if (signal?.aborted && err === signal.reason) throw err;
              throw driverError(name, err);
            }
            if (released) return;
            if (batch.length < fetchSize || cursor.noData) exhausted = true;
          }
        } finally {
          await release();
        }
      }

      return { columns, rows: rows(), release };
    },

    async bulkInsert(table: string, cols: readonly string[], rows: AsyncIterable<readonly unknown[]>, opts?: QueryOptions) {
      const signal = opts?.signal;
      signal?.throwIfAborted();
      if (!cols.length) throw new ConnectorError(name, 'bulkInsert needs at least one column');
      const head = `insert into ${quoteIdent(name, table)} (${cols.map((c) => quoteIdent(name, c)).join(', ')}) values `;
      const tuple = `(${cols.map(() => '?').join(', ')})`;
      const perStatement = Math.max(1, Math.min(batchRows, Math.floor(maxParameters / cols.length)));

      // The connection and the transaction start with the first row, so zero rows touch nothing.
      let lease: Lease | undefined;
      let batch: unknown[][] = [];
      let inserted = 0;
      const flush = async () => {
        if (!batch.length) return;
        signal?.throwIfAborted();
        if (!lease) {
          lease = await abortable(acquire(), signal, (l) => l.release());
          await lease.conn.beginTransaction().catch((err: unknown) => { throw driverError(name, err); });
        }
        const values = batch.flat();
        await lease.conn.query(head + batch.map(() => tuple).join(', '), values).catch((err: unknown) => {
          throw driverError(name, err, `insert into ${table} (rows ${inserted + 1}-${inserted + batch.length})`);
        });
        inserted += batch.length;
        batch = [];
      };

      try {
        for await (const row of rows) {
          if (row.length !== cols.length) {
            throw new ConnectorError(name, `bulkInsert row ${inserted + batch.length + 1} has ${row.length} values for ${cols.length} columns`);
          }
          batch.push(row.map(toBindValue));
          if (batch.length >= perStatement) await flush();
        }
        await flush();
        if (lease) await lease.conn.commit().catch((err: unknown) => { throw driverError(name, err, 'commit'); });
        return inserted;
      } catch (err) {
        // A connection whose rollback failed may still hold the transaction: never pool it again.
        const rolledBack = lease ? await lease.conn.rollback().then(() => true, () => false) : true;
        if (lease) { await lease.release(!rolledBack); lease = undefined; }
        throw err;
      } finally {
        await lease?.release();
      }
    },

    async close() {
      await Promise.allSettled([...active].map((release) => release()));
      const current = slot;
      slot = undefined;
      const s = await current?.catch(() => undefined);
      if (s && !s.retired) {
        s.retired = true;
        await s.pool.close().catch(() => {});
      }
    },
  };
}
