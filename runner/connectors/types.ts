/**
 * The one interface every data source implements (SQL databases, ODBC, Plex web services).
 * Rows are streamed: a query returns an async iterable, never the whole result in memory.
 */
/** Bound parameter values: scalars only (lists arrive comma-joined, see core/params.ts bindable()). */
export type SqlParams = Readonly<Record<string, string | number | boolean | null>>;
export type Row = Record<string, unknown>;

export interface ColumnInfo {
  name: string;
  /** Declared type as the source reports it (e.g. TEXT, INTEGER, decimal(19,2)), if known. */
  type?: string;
}

export interface QueryOptions {
  /** Aborting stops the query (or the fetching of its rows) and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface QueryResult {
  columns: ColumnInfo[];
  rows: AsyncIterable<Row>;
  /** Frees the statement/cursor early; iterating to the end releases by itself. Idempotent. */
  release(): Promise<void>;
}

export interface Connector {
  /** The connection's name in configuration (e.g. "warehouse"). */
  readonly name: string;
  /** The URL scheme that selected it: sqlite, mssql, odbc, plex. */
  readonly kind: string;
  /** Cheap round trip; throws ConnectorError if the source cannot be reached. */
  testConnection(): Promise<void>;
  /** Run a statement (or a script of statements) for its effect. */
  execute(sql: string, params?: SqlParams, opts?: QueryOptions): Promise<{ rowsAffected: number }>;
  /** Run a query and stream its rows. */
  query(sql: string, params?: SqlParams, opts?: QueryOptions): Promise<QueryResult>;
  /** Insert rows into `table` in batches. Returns the number inserted. */
  bulkInsert(table: string, columns: readonly string[], rows: AsyncIterable<readonly unknown[]>, opts?: QueryOptions): Promise<number>;
  close(): Promise<void>;
}

export type ConnectorFactory = (name: string, url: string) => Connector;
