/**
 * mssql: SQL Server and Azure SQL through the `mssql` package (tedious driver, pure JavaScript).
 *
 * URL, either form:
 *   mssql://user:password@host:1433/database?encrypt=true&trustServerCertificate=false&requestTimeout=600000
 *   mssql:Server=tcp:x.database.windows.net,1433;Database=erp;User ID=report;Password=…;Encrypt=true
 * (the second is an ADO.NET connection string, parsed by mssql itself). URL options:
 *   encrypt (default true: Azure SQL requires TLS), trustServerCertificate (default false),
 *   requestTimeout ms (default 0 = none: the pipeline's AbortSignal is what bounds a step),
 *   connectTimeout ms (default 30000: a paused serverless database takes that long to resume),
 *   instanceName, appName, poolMax, poolMin, readOnlyIntent (Azure read replicas).
 *
 * One ConnectionPool per connector, connected on first use; a failed connect is forgotten so the
 * next call tries again. Every statement goes through sp_executesql, so `@name` parameters are
 * real RPC parameters (typed by {@link mssqlTypeOf}) and whatever a statement leaves in its session
 * (#temp tables, SET options) ends with it instead of leaking to the next borrower of the pooled
 * connection. Consequences worth knowing:
 * - a #temp table lives for one execute()/query() call at most (and not across `GO`); use a
 *   permanent or ## table to hand data from one step to the next;
 * - execute() runs a whole script in one transaction (like the sqlite connector): a failed script
 *   leaves nothing behind, so it must not hold statements SQL Server refuses inside a transaction
 *   (CREATE/ALTER DATABASE, BACKUP) nor manage transactions of its own;
 * - variables a batch DECLAREs are its own, never parameters (see {@link bindPlan}).
 */
import sql from 'mssql';
import type { ColumnInfo, Connector, QueryOptions, QueryResult, Row, SqlParams } from './types.ts';
import { ConnectorError } from '../../core/errors.ts';
import { sqlParameters } from '../../core/catalog.ts';
import { maskNonCode } from '../../core/sql.ts';
import { redactUrl } from '../../core/logger.ts';

// ---------------------------------------------------------------------------------------------
// Connection URL

const DEFAULT_CONNECT_TIMEOUT = 30_000;
const URL_OPTIONS = ['encrypt', 'trustServerCertificate', 'requestTimeout', 'connectTimeout', 'connectionTimeout',
  'instanceName', 'appName', 'poolMax', 'poolMin', 'readOnlyIntent'] as const;

function parseBool(connection: string, key: string, v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new ConnectorError(connection, `mssql URL option ${key}=${v} must be true or false`);
}

function parseCount(connection: string, key: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new ConnectorError(connection, `mssql URL option ${key}=${v} must be a whole number`);
  return Number(v);
}

/**
 * Credentials are removed from a URL or connection string for messages: on top of
 * {@link redactUrl}, a `Password={…}` or `Password="…"` value may itself contain `;`.
 */
export function redactMssqlUrl(url: string): string {
  return redactUrl(url.replace(/((?:^|;)\s*(?:Password|Pwd)\s*=\s*)(\{(?:[^}]|\}\})*\}|"(?:[^"]|"")*"|'(?:[^']|'')*')/gi, '$1***'));
}

/**
 * The mssql configuration for a connection URL (either form, see the module comment). Throws a
 * ConnectorError, without the password, for a URL it cannot use.
 */
export function parseMssqlUrl(url: string, connection = 'mssql'): sql.config {
  const rest = url.replace(/^mssql:/i, '');
  const config = rest.startsWith('//') ? fromUrl(url, connection) : fromConnectionString(rest, connection);
  if (!config.server) throw new ConnectorError(connection, `mssql connection ${redactMssqlUrl(url)} names no server`);
  return config;
}

function fromUrl(url: string, connection: string): sql.config {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConnectorError(connection, `mssql URL ${redactMssqlUrl(url)} is not a valid URL (user and password must be percent-encoded)`);
  }
  const path = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (path.includes('/')) throw new ConnectorError(connection, `mssql URL ${redactMssqlUrl(url)}: the path must be just the database name`);
  const options: sql.IOptions = { encrypt: true, trustServerCertificate: false, appName: 'plex-report-bot' };
  const config: sql.config = {
    server: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : 1433,
    database: path || undefined,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    connectionTimeout: DEFAULT_CONNECT_TIMEOUT,
    requestTimeout: 0,
    pool: {},
    options,
  };
  for (const [key, value] of u.searchParams) {
    switch (key as (typeof URL_OPTIONS)[number]) {
      case 'encrypt': options.encrypt = parseBool(connection, key, value); break;
      case 'trustServerCertificate': options.trustServerCertificate = parseBool(connection, key, value); break;
      case 'requestTimeout': config.requestTimeout = parseCount(connection, key, value); break;
      case 'connectTimeout':
      case 'connectionTimeout': config.connectionTimeout = parseCount(connection, key, value); break;
      case 'instanceName': options.instanceName = value; break;
      case 'appName': options.appName = value; break;
      case 'poolMax': config.pool!.max = parseCount(connection, key, value); break;
      case 'poolMin': config.pool!.min = parseCount(connection, key, value); break;
      case 'readOnlyIntent': options.readOnlyIntent = parseBool(connection, key, value); break;
      default:
        // A misspelt option would otherwise be ignored silently, e.g. a TLS setting that never applies.
        throw new ConnectorError(connection, `mssql URL option "${key}" is unknown; known options: ${URL_OPTIONS.join(', ')}`);
    }
  }
  return config;
}

function fromConnectionString(text: string, connection: string): sql.config {
  let parsed: sql.config & { options: sql.IOptions };
  try {
    parsed = sql.ConnectionPool.parseConnectionString(text);
  } catch (err) {
    throw new ConnectorError(connection, `mssql connection string ${redactMssqlUrl(text)} cannot be used: ${(err as Error).message}`);
  }
  parsed.options = { encrypt: true, trustServerCertificate: false, appName: 'plex-report-bot', ...parsed.options };
  parsed.connectionTimeout ??= DEFAULT_CONNECT_TIMEOUT;
  parsed.requestTimeout ??= 0;
  return parsed;
}

/** A one-line description of a connection for logs and messages: never the password. */
export function describeMssqlUrl(url: string): string {
  let c: sql.config;
  try {
    c = parseMssqlUrl(url);
  } catch {
    return redactMssqlUrl(url);
  }
  const who = c.user ? `${encodeURIComponent(c.user)}${c.password ? ':***' : ''}@` : '';
  const instance = c.options?.instanceName ? `/${c.options.instanceName}` : '';
  return `mssql://${who}${c.server}:${c.port ?? 1433}${instance}/${c.database ?? ''}` +
    `?encrypt=${c.options?.encrypt !== false}&trustServerCertificate=${c.options?.trustServerCertificate === true}`;
}

// ---------------------------------------------------------------------------------------------
// T-SQL text: GO batches, declared variables (found in maskNonCode's copy, so never in comments or strings)

/** One batch of a script: its text, the script line it starts on, and how often to run it. */
export interface SqlBatch {
  sql: string;
  /** 1-based line of the script where the batch's text starts. */
  line: number;
  /** `GO 3` runs the batch before it three times (sqlcmd); plain `GO` once. */
  count: number;
}

/**
 * Split a script at `GO` separators the way sqlcmd and SSMS do: `GO` (any case, optionally with a
 * repeat count and a trailing comment) alone on its line, outside comments and strings. Batches
 * with nothing but whitespace and comments are dropped.
 */
export function splitBatches(script: string): SqlBatch[] {
  const mask = maskNonCode(script);
  const batches: SqlBatch[] = [];
  let start = 0;
  let startLine = 1;
  let offset = 0;
  let lineNo = 1;
  const push = (end: number, count: number) => {
    if (mask.slice(start, end).trim() !== '') batches.push({ sql: script.slice(start, end), line: startLine, count });
  };
  for (const line of mask.split('\n')) {
    const go = /^\s*go(?:\s+(\d+))?\s*$/i.exec(line);
    if (go) {
      push(offset, go[1] === undefined ? 1 : Math.max(1, Number(go[1])));
      start = offset + line.length + 1;
      startLine = lineNo + 1;
    }
    offset += line.length + 1;
    lineNo++;
  }
  push(script.length, 1);
  return batches;
}

/** Words that start a statement: a DECLARE list ends at the first of them outside parentheses. */
const STATEMENT_START = new Set(['select', 'insert', 'update', 'delete', 'merge', 'set', 'if', 'else', 'while', 'begin', 'end',
  'exec', 'execute', 'with', 'create', 'alter', 'drop', 'truncate', 'declare', 'return', 'print', 'raiserror', 'throw', 'open',
  'fetch', 'close', 'deallocate', 'use', 'commit', 'rollback', 'save', 'waitfor', 'goto', 'break', 'continue', 'grant',
  'revoke', 'deny', 'bulk', 'dbcc', 'backup', 'restore', 'kill', 'checkpoint']);

/**
 * Variables a batch declares itself (`DECLARE @a int = 1, @t table (…)`), lower-cased: T-SQL
 * compares variable names case-insensitively under the usual collations.
 */
export function declaredVariables(batch: string): Set<string> {
  const mask = maskNonCode(batch);
  const names = new Set<string>();
  for (const m of mask.matchAll(/(?<![@\w$#])declare\b/gi)) {
    const token = /\s+|@@?[\w@$#]*|[A-Za-z_][\w$#]*|[^\s]/gy;
    token.lastIndex = m.index + m[0].length;
    let depth = 0;
    let expectVariable = true;
    for (let t = token.exec(mask); t; t = token.exec(mask)) {
      const s = t[0];
      if (/^\s/.test(s)) continue;
      if (s === '(') { depth++; expectVariable = false; continue; }
      if (s === ')') { if (--depth < 0) break; continue; }
      if (depth > 0) continue;
      if (s === ';') break;
      if (s === ',') { expectVariable = true; continue; }
      if (s.startsWith('@') && !s.startsWith('@@') && expectVariable) names.add(s.slice(1).toLowerCase());
      else if (/^[A-Za-z_]/.test(s) && STATEMENT_START.has(s.toLowerCase())) break;
      expectVariable = false;
    }
  }
  return names;
}

/** CREATE/ALTER PROCEDURE, FUNCTION or TRIGGER: the `@names` in it are the routine's own parameters. */
function isRoutineDefinition(batch: string): boolean {
  return /^\s*(?:create|alter)\s+(?:or\s+alter\s+)?(?:proc|procedure|function|trigger)\b/i.test(maskNonCode(batch));
}

// ---------------------------------------------------------------------------------------------
// Parameters

/** An mssql type for a value, its T-SQL declaration, and the value as it is sent. */
export interface MssqlTyped {
  type: sql.ISqlType;
  /** The declaration sp_executesql sees, e.g. `decimal(19,2)`, `nvarchar(4000)`. */
  typeName: string;
  value: unknown;
}

/** tedious sends a decimal as float × 10^scale, rounded: exact up to 15 significant digits. */
const EXACT_DECIMAL_DIGITS = 15;

function decimalOf(text: string, value: unknown): MssqlTyped | undefined {
  const m = /^[+-]?(\d+)\.(\d+)$/.exec(text);
  if (!m) return undefined;
  const scale = m[2].length;
  if (m[1].replace(/^0+/, '').length + scale > EXACT_DECIMAL_DIGITS) return undefined;
  return { type: sql.Decimal(19, scale), typeName: `decimal(19,${scale})`, value };
}

/**
 * The mssql parameter type for a JavaScript value. Choices (money must stay exact):
 * - integer: `int`, beyond 32 bits `bigint`; beyond 2^53 (not exact in JS anyway) `float`;
 * - other number: `decimal(19,s)`, s = the digits after the point of its shortest decimal form
 *   (12.34 → decimal(19,2), exactly 12.34 rather than the binary float next to it); more than
 *   15 significant digits or an exponent → `float`;
 * - string that is a plain decimal with a point (`"12.34"`, `"-0.5"`): `decimal(19,s)` the same
 *   way; longer ones stay `nvarchar` (SQL Server converts text to decimal exactly). Integer-like
 *   text (PCNs, periods, account numbers) stays text. A decimal-looking string compared with a
 *   varchar column makes SQL Server convert the column, so text codes must not look like "1.5";
 * - other string: `nvarchar(4000)`, longer `nvarchar(max)`: one declaration for all short strings
 *   keeps one cached plan per statement. Date strings stay text: `cast(@d as date)` is safe for
 *   'YYYY-MM-DD' whatever the session's DATEFORMAT; a `datetime` comparison is not;
 * - boolean `bit`; Date `datetime2(7)`; bigint `bigint`; Buffer `varbinary(max)`;
 * - null/undefined: `nvarchar(4000)` NULL (converts to any column type).
 * Throws a TypeError for NaN, ±Infinity, an invalid Date and other objects.
 */
export function mssqlTypeOf(value: unknown): MssqlTyped {
  if (value === null || value === undefined) return { type: sql.NVarChar(4000), typeName: 'nvarchar(4000)', value: null };
  switch (typeof value) {
    case 'boolean':
      return { type: sql.Bit(), typeName: 'bit', value };
    case 'bigint':
      if (value < -(2n ** 63n) || value >= 2n ** 63n) throw new TypeError(`${value} does not fit in bigint`);
      return { type: sql.BigInt(), typeName: 'bigint', value };
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${value} is not a finite number`);
      if (Number.isInteger(value)) {
        if (value >= -2147483648 && value <= 2147483647) return { type: sql.Int(), typeName: 'int', value };
        if (Number.isSafeInteger(value)) return { type: sql.BigInt(), typeName: 'bigint', value };
        return { type: sql.Float(), typeName: 'float', value };
      }
      return decimalOf(String(value), value) ?? { type: sql.Float(), typeName: 'float', value };
    case 'string':
      return decimalOf(value, Number(value)) ??
        (value.length <= 4000
          ? { type: sql.NVarChar(4000), typeName: 'nvarchar(4000)', value }
          : { type: sql.NVarChar(sql.MAX), typeName: 'nvarchar(max)', value });
    case 'object':
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw new TypeError('is an invalid Date');
        return { type: sql.DateTime2(7), typeName: 'datetime2(7)', value };
      }
      if (Buffer.isBuffer(value)) return { type: sql.VarBinary(sql.MAX), typeName: 'varbinary(max)', value };
      break;
  }
  throw new TypeError(`a ${value === null ? 'null' : typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value} cannot be a parameter`);
}

/** One parameter to bind: `request.input(name, type, value)`. */
export interface BoundParam extends MssqlTyped {
  name: string;
}

/**
 * The parameters a batch needs, in order of first use: the `@names` it references
 * ({@link sqlParameters}: not in comments or strings, not `@@globals`), minus the variables it
 * DECLAREs itself; none for a CREATE PROCEDURE/FUNCTION/TRIGGER batch, whose `@names` are the
 * routine's own. Parameters the batch does not use are not sent. A name with no value (or
 * `undefined`) is a ConnectorError naming it.
 */
export function bindPlan(batch: string, params: SqlParams = {}, connection = 'mssql'): BoundParam[] {
  if (isRoutineDefinition(batch)) return [];
  const declared = declaredVariables(batch);
  const plan: BoundParam[] = [];
  for (const name of sqlParameters(batch)) {
    if (declared.has(name.toLowerCase())) continue;
    const value = Object.hasOwn(params, name) ? params[name] : undefined;
    if (value === undefined) throw new ConnectorError(connection, `parameter @${name} has no value`);
    try {
      plan.push({ name, ...mssqlTypeOf(value) });
    } catch (err) {
      throw new ConnectorError(connection, `parameter @${name}: ${(err as Error).message}`);
    }
  }
  return plan;
}

function bind(request: sql.Request, plan: readonly BoundParam[]): sql.Request {
  for (const p of plan) request.input(p.name, p.type, p.value);
  return request;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** A ConnectorError from SQL Server, with what a retry decision needs. */
export class MssqlConnectorError extends ConnectorError {
  /** SQL Server error number (e.g. 208), when the server sent one. */
  readonly number: number | undefined;
  /** The driver's code: EREQUEST, ELOGIN, ESOCKET, ETIMEOUT, ECANCEL, … */
  readonly driverCode: string | undefined;
  /** Running the same thing again later may well succeed. */
  readonly transient: boolean;
  constructor(connection: string, message: string, details: { number?: number; driverCode?: string; transient: boolean }, options?: ErrorOptions) {
    super(connection, message, options);
    this.number = details.number;
    this.driverCode = details.driverCode;
    this.transient = details.transient;
  }
}

/** What a known SQL Server error number means, for the person reading the error card or log. */
const SQL_ERRORS: Readonly<Record<number, { text: string; transient?: true }>> = {
  18456: { text: 'login failed: wrong user name or password, or the login may not use this database' },
  18452: { text: 'login failed: the login is from an untrusted domain (use SQL authentication)' },
  4060: { text: 'cannot open the database named in the connection (it does not exist, the login has no access, or an Azure failover is under way)', transient: true },
  4221: { text: 'login to the read-only replica failed: it is not available yet', transient: true },
  208: { text: 'invalid object name: a table or view the SQL names does not exist (check schema and database)' },
  207: { text: 'invalid column name: a column the SQL names does not exist' },
  137: { text: 'a variable is used but not declared (a report parameter missing from the step?)' },
  102: { text: 'syntax error' },
  156: { text: 'syntax error near a keyword' },
  2627: { text: 'duplicate key: a row with the same primary key or unique constraint value already exists' },
  2601: { text: 'duplicate key: a row with the same value already exists in a unique index' },
  547: { text: 'the change conflicts with a foreign key or check constraint' },
  515: { text: 'a NULL was written to a column that does not allow NULLs' },
  8152: { text: 'a value is too long for its column' },
  2628: { text: 'a value is too long for its column' },
  245: { text: 'a value could not be converted to the type it is compared with or stored in' },
  8114: { text: 'a value could not be converted to the type it is compared with or stored in' },
  8115: { text: 'arithmetic overflow: a value does not fit its type' },
  8134: { text: 'division by zero' },
  229: { text: 'permission denied' },
  230: { text: 'permission denied' },
  262: { text: 'permission denied' },
  2714: { text: 'an object with that name already exists' },
  3701: { text: 'cannot drop an object that does not exist' },
  1205: { text: 'deadlock: SQL Server chose this statement as the victim; running it again usually succeeds', transient: true },
  1222: { text: 'lock request timed out: another session holds the data', transient: true },
  40613: { text: 'the Azure SQL database is not available right now (failover or reconfiguration); try again shortly', transient: true },
  40501: { text: 'the Azure SQL service is busy (throttling); try again after a pause', transient: true },
  40197: { text: 'the Azure SQL service failed to process the request (usually a failover); try again', transient: true },
  40540: { text: 'the Azure SQL service failed to process the request; try again', transient: true },
  40143: { text: 'the Azure SQL service failed to process the request; try again', transient: true },
  10928: { text: 'an Azure SQL resource limit was reached (requests or sessions); try again after a pause', transient: true },
  10929: { text: 'Azure SQL cannot guarantee the minimum resources right now; try again after a pause', transient: true },
  49918: { text: 'Azure SQL has too many operations in progress; try again after a pause', transient: true },
  49919: { text: 'Azure SQL has too many operations in progress; try again after a pause', transient: true },
  49920: { text: 'Azure SQL has too many operations in progress; try again after a pause', transient: true },
  40544: { text: 'the Azure SQL database has reached its size quota' },
  9002: { text: 'the transaction log is full' },
  1105: { text: 'the database is out of space' },
};

/** Socket errors that name a host or TLS problem rather than a passing network failure. */
const PERMANENT_SOCKET = /ENOTFOUND|EAI_AGAIN|certificate|self[- ]signed|hostname\/IP does not match/i;

interface Classified {
  message: string;
  number?: number;
  driverCode?: string;
  transient: boolean;
}

function socketDetail(err: Record<string, unknown>): string {
  // tedious reports a refused connection as an AggregateError (one per address tried) behind the wrapper.
  const codes = new Set<string>();
  const visit = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || depth > 4) return;
    const o = e as Record<string, unknown>;
    if (typeof o.code === 'string' && /^E[A-Z]+$/.test(o.code) && o.code !== 'ESOCKET') codes.add(o.code);
    if (Array.isArray(o.errors)) for (const x of o.errors) visit(x, depth + 1);
    visit(o.cause, depth + 1);
    visit(o.originalError, depth + 1);
  };
  visit(err, 0);
  if (codes.has('ECONNREFUSED')) return 'connection refused: nothing listens at that host and port, or a firewall rejects the connection';
  if (codes.has('ENOTFOUND') || codes.has('EAI_AGAIN')) return 'the server host name cannot be resolved';
  if (codes.has('ETIMEDOUT')) return 'the network connection timed out';
  if (codes.has('ECONNRESET')) return 'the server closed the connection';
  if (codes.has('EHOSTUNREACH') || codes.has('ENETUNREACH')) return 'the server host is unreachable';
  return 'network error talking to SQL Server';
}

function classify(err: unknown): Classified {
  const e = (err && typeof err === 'object' ? err : {}) as Record<string, unknown> & { message?: string };
  const raw = typeof e.message === 'string' ? e.message : String(err);
  const driverCode = typeof e.code === 'string' ? e.code : undefined;
  const number = typeof e.number === 'number' ? e.number : undefined;
  const line = typeof e.lineNumber === 'number' && e.lineNumber > 0 ? e.lineNumber : undefined;
  const original = e.originalError as { isTransient?: boolean } | undefined;
  const isConnection = e.name === 'ConnectionError' || err instanceof sql.ConnectionError;

  if (number !== undefined) {
    const known = SQL_ERRORS[number];
    const where = `SQL Server error ${number}${line ? `, line ${line}` : ''}`;
    return {
      message: known ? `${known.text}. ${raw} (${where})` : `${raw} (${where})`,
      number, driverCode, transient: known?.transient === true,
    };
  }
  switch (driverCode) {
    case 'ELOGIN':
      // tedious has no number for login errors; it marks the ones Azure sends during a failover.
      return /login failed/i.test(raw)
        ? { message: `${SQL_ERRORS[18456].text}. ${raw}`, driverCode, transient: original?.isTransient === true }
        : { message: `cannot log in: ${raw}`, driverCode, transient: original?.isTransient === true };
    case 'ETIMEOUT':
      return isConnection
        ? { message: `timed out connecting to SQL Server (connectTimeout): ${raw}`, driverCode, transient: true }
        // A query that outran requestTimeout would outrun it again: not worth an automatic retry.
        : { message: `the statement ran longer than the request timeout (requestTimeout): ${raw}`, driverCode, transient: false };
    case 'ESOCKET': {
      const detail = socketDetail(e);
      const tls = /certificate|self[- ]signed/i.test(raw) ? ' (check encrypt/trustServerCertificate; trust a certificate only for a test server)' : '';
      return { message: `${detail}: ${raw}${tls}`, driverCode, transient: !PERMANENT_SOCKET.test(raw) && !/cannot be resolved/.test(detail) };
    }
    case 'ECANCEL':
      return { message: `the statement was cancelled: ${raw}`, driverCode, transient: false };
    case 'ECLOSE':
    case 'ECONNCLOSED':
      return { message: `the connection to SQL Server was closed: ${raw}`, driverCode, transient: true };
    case 'EINSTLOOKUP':
      return { message: `the named SQL Server instance cannot be found (SQL Browser, UDP 1434): ${raw}`, driverCode, transient: false };
    case 'EABORT':
      return { message: `the transaction was rolled back by the server: ${raw}`, driverCode, transient: false };
    default:
      return { message: raw, driverCode, transient: false };
  }
}

function redactText(text: string, secrets: readonly string[]): string {
  // The known secrets first: the URL patterns below could cut one in two and leave half of it.
  let out = text;
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('***');
  return redactMssqlUrl(out);
}

/**
 * Turn an mssql/tedious error into a {@link MssqlConnectorError} whose message says what went
 * wrong in plain words, then the server's own message and error number (and line). `secrets`
 * (the password) are blanked out of the message. A ConnectorError is returned unchanged.
 */
export function mapMssqlError(err: unknown, connection = 'mssql', secrets: readonly string[] = []): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const c = classify(err);
  return new MssqlConnectorError(connection, redactText(c.message, secrets), c, { cause: err });
}

/**
 * Whether running the same thing again later may succeed: deadlocks, lock timeouts, Azure SQL
 * failover/throttling errors (40613, 40501, 40197, 10928, …), dropped connections and connect
 * timeouts. Not: SQL errors in the statement, login failures, cancellations, request timeouts.
 * Looks through `cause` chains, so a StepError wrapping a mapped error answers too.
 */
export function isTransientMssqlError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof MssqlConnectorError) return e.transient;
    const o = e as { number?: unknown; code?: unknown };
    if (typeof o.number === 'number' || (typeof o.code === 'string' && /^E[A-Z]+$/.test(o.code))) return classify(e).transient;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Streaming

/** What {@link streamQuery} needs of an mssql Request: the real one, or a scripted stand-in. */
export interface StreamingRequest {
  stream: boolean;
  arrayRowMode: boolean;
  query(command: string): Promise<unknown>;
  pause(): boolean;
  resume(): boolean;
  cancel(): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type
  on(event: 'recordset' | 'row' | 'error' | 'done', listener: (...args: any[]) => void): unknown;
}

/** Column metadata as mssql reports it in the 'recordset' event (arrayRowMode). */
export interface MssqlColumn {
  index?: number;
  name: string;
  length?: number;
  type?: { declaration?: string } | (() => unknown);
  scale?: number;
  precision?: number;
}

/** Rows buffered before the request is paused; the socket is read again once they are taken. */
const HIGH_WATER = 256;

/** T-SQL type of a result column, e.g. `nvarchar(50)`, `decimal(19,2)`, `varchar(max)`. */
export function columnTypeName(col: MssqlColumn): string | undefined {
  const decl = (col.type as { declaration?: string } | undefined)?.declaration;
  if (!decl) return undefined;
  const len = col.length;
  const max = len === undefined || len >= 0xffff;
  switch (decl) {
    case 'nvarchar':
    case 'nchar':
      // tedious reports the length of national types in bytes.
      return `${decl}(${max ? 'max' : (len as number) / 2})`;
    case 'varchar':
    case 'char':
    case 'varbinary':
    case 'binary':
      return `${decl}(${max ? 'max' : len})`;
    case 'decimal':
    case 'numeric':
      return `${decl}(${col.precision},${col.scale})`;
    case 'datetime2':
    case 'datetimeoffset':
    case 'time':
      return `${decl}(${col.scale})`;
    default:
      return decl;
  }
}

/** Row keys for the columns: unnamed ones become column1…, repeated names get _2, _3. */
function rowKeys(cols: readonly MssqlColumn[]): string[] {
  const used = new Set<string>();
  return cols.map((c, i) => {
    const base = c.name === '' ? `column${i + 1}` : c.name;
    let key = base;
    for (let k = 2; used.has(key); k++) key = `${base}_${k}`;
    used.add(key);
    return key;
  });
}

/**
 * Run `command` on `request` in stream mode and hand its rows out as an async iterable. At most
 * about `highWaterMark` rows wait in memory: the request is paused when that many are buffered
 * and resumed when the consumer has taken them. Resolves once the result's columns are known
 * (a statement without a result set resolves with none and no rows). `release()` cancels a
 * request still running and waits until its connection is back in the pool; aborting `signal`
 * cancels it and rejects (query or iteration) with `signal.reason`. A second result set is an
 * error rather than rows of another shape mixed in.
 */
export async function streamQuery(request: StreamingRequest, command: string, opts: {
  connection: string;
  signal?: AbortSignal;
  mapError?: (err: unknown) => unknown;
  highWaterMark?: number;
}): Promise<QueryResult> {
  const { signal, connection } = opts;
  const mapError = opts.mapError ?? ((e: unknown) => mapMssqlError(e, connection));
  const high = opts.highWaterMark ?? HIGH_WATER;
  let keys: string[] = [];
  let buffer: Row[] = [];
  let paused = false;
  let finished = false;
  let released = false;
  let cancelled = false;
  let recordsets = 0;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  let settle!: { resolve: (c: ColumnInfo[]) => void; reject: (e: unknown) => void };
  const columnsReady = new Promise<ColumnInfo[]>((resolve, reject) => { settle = { resolve, reject }; });
  let markDone!: () => void;
  const done = new Promise<void>((r) => { markDone = r; });

  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const cancel = () => {
    if (!finished && !cancelled) {
      cancelled = true;
      // A paused tedious request is resumed by the driver to read up to the cancel's acknowledgement.
      request.cancel();
    }
  };
  const fail = (error: unknown) => {
    if (failure) return;
    failure = { error };
    settle.reject(error);
    notify();
  };
  const onAbort = () => {
    fail(signal!.reason);
    cancel();
  };
  const finish = () => {
    finished = true;
    signal?.removeEventListener('abort', onAbort);
    settle.resolve([]);
    markDone();
    notify();
  };

  request.stream = true;
  request.arrayRowMode = true;
  request.on('recordset', (cols: MssqlColumn[]) => {
    if (++recordsets === 1) {
      const list = Array.isArray(cols) ? cols : Object.values(cols as Record<string, MssqlColumn>);
      keys = rowKeys(list);
      settle.resolve(list.map((c, i) => ({ name: keys[i], type: columnTypeName(c) })));
    } else if (!released) {
      fail(new ConnectorError(connection, 'the query returned more than one result set; a query must return exactly one'));
      cancel();
    }
  });
  request.on('row', (row: unknown[] | Record<string, unknown>) => {
    if (failure || released) return;
    // FOR JSON/XML results arrive as one object row even in array mode.
    const values = Array.isArray(row) ? row : Object.values(row);
    const out: Row = {};
    for (let i = 0; i < keys.length; i++) out[keys[i]] = values[i];
    buffer.push(out);
    if (!paused && buffer.length >= high) {
      paused = true;
      request.pause();
    }
    notify();
  });
  request.on('error', (err: unknown) => {
    // After release() or an abort the driver reports the cancel we asked for: not news.
    if (!released && !failure) fail(mapError(err));
  });
  request.on('done', finish);
  signal?.addEventListener('abort', onAbort, { once: true });
  request.query(command).catch((err: unknown) => {
    fail(mapError(err));
    finish();
  });

  const columns = await columnsReady;

  const release = async (): Promise<void> => {
    if (!released) {
      released = true;
      buffer = [];
      signal?.removeEventListener('abort', onAbort);
      cancel();
      notify();
    }
    await done;
  };

  /** Throws the failure, if any; true once released. Asked again after every yield. */
  const stopped = (): boolean => {
    if (failure) throw failure.error;
    return released;
  };

  async function* rows(): AsyncGenerator<Row> {
    try {
      for (;;) {
        if (stopped()) return;
        if (buffer.length > 0) {
          const batch = buffer;
          buffer = [];
          if (paused && !finished) {
            paused = false;
            request.resume();
          }
          for (const row of batch) {
            yield row;
            if (stopped()) return;
          }
          continue;
        }
        if (finished) return;
        await new Promise<void>((r) => { wake = r; });
      }
    } finally {
      await release();
    }
  }

  return { columns, rows: rows(), release };
}

/** Run one statement in stream mode, dropping any rows; resolves with its summed row counts. */
function runStatement(request: sql.Request, command: string, signal?: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let failure: { error: unknown } | undefined;
    let settled = false;
    const onAbort = () => request.cancel();
    const finish = (rowsAffected: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) reject(signal.reason);
      else if (failure) reject(failure.error);
      else resolve(Array.isArray(rowsAffected) ? rowsAffected.reduce((a: number, b: unknown) => a + (Number(b) || 0), 0) : 0);
    };
    request.stream = true;
    request.on('error', (err: unknown) => { failure ??= { error: err }; });
    request.on('done', (result: { rowsAffected?: unknown } | undefined) => finish(result?.rowsAffected));
    signal?.addEventListener('abort', onAbort, { once: true });
    request.query(command).catch((err: unknown) => {
      failure ??= { error: err };
      finish(undefined);
    });
  });
}

/** `work`, or the signal's reason as soon as it aborts (the work itself is left to finish). */
function abortable<T>(work: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    // Handlers go on first: a shared connect promise that fails after an abort must not go unhandled.
    work.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------------------------
// Bulk insert

/** Rows per `insert bulk` round trip. */
const BULK_BATCH = 10_000;

const PLAIN_IDENT = /^[A-Za-z_#][\w@$#]*$/;
const BRACKET_IDENT = /^\[([^\]]+)\]$/;

/** The parts of `name` (`t`, `dbo.t`, `[db].[dbo].[t]`), or a ConnectorError naming the bad identifier. */
function identifierParts(connection: string, name: string, maxParts: number): string[] {
  const parts = name.match(/\[[^\]]*\]|[^.]+/g) ?? [];
  const ok = parts.length >= 1 && parts.length <= maxParts && parts.join('.') === name &&
    parts.every((p) => PLAIN_IDENT.test(p) || BRACKET_IDENT.test(p));
  if (!ok) throw new ConnectorError(connection, `invalid identifier ${JSON.stringify(name)}`);
  return parts.map((p) => BRACKET_IDENT.exec(p)?.[1] ?? p);
}

/** `2024-01-02 10:20:30` (no zone) as that instant in UTC, the way tedious (useUTC) reads it back. */
function utcDate(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?$/.exec(v);
  if (!m) return v;
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), ms));
}

const DATE_TYPES = new Set(['date', 'datetime', 'datetime2', 'smalldatetime']);

/** The target column's exact type for the bulk load, from the server's own result metadata. */
function bulkType(col: sql.IColumnMetadata[string]): sql.ISqlType {
  const factory = col.type as unknown as ((...args: unknown[]) => sql.ISqlType) & { declaration?: string };
  const len = col.length;
  switch (factory.declaration) {
    case 'nvarchar':
    case 'nchar':
      return factory(len >= 0xffff ? sql.MAX : len / 2);
    case 'varchar':
    case 'char':
    case 'varbinary':
    case 'binary':
      return factory(len >= 0xffff ? sql.MAX : len);
    case 'decimal':
    case 'numeric':
      return factory(col.precision, col.scale);
    case 'datetime2':
    case 'datetimeoffset':
    case 'time':
      return factory(col.scale);
    default:
      return factory();
  }
}

// ---------------------------------------------------------------------------------------------
// The connector

/** Create the connector for an `mssql:` URL (see the module comment). Nothing connects until first use. */
export function mssqlConnector(name: string, url: string): Connector {
  const config = parseMssqlUrl(url, name);
  const described = describeMssqlUrl(url);
  const secrets = config.password ? [config.password, encodeURIComponent(config.password)] : [];
  const fail = (err: unknown) => mapMssqlError(err, name, secrets);
  let pending: Promise<sql.ConnectionPool> | undefined;

  const pool = (signal?: AbortSignal): Promise<sql.ConnectionPool> => {
    if (!pending) {
      // mssql writes defaults into the config it is given: each pool gets its own copy.
      const p = new sql.ConnectionPool(structuredClone(config));
      // Connection-level errors also fail the request that met them; without a listener an
      // 'error' event would crash the process.
      p.on('error', () => {});
      const connecting = p.connect().catch(async (err: unknown) => {
        if (pending === connecting) pending = undefined;
        await p.close().catch(() => {});
        throw fail(err);
      });
      pending = connecting;
    }
    return abortable(pending, signal);
  };

  /** The request's error, mapped, unless the run was aborted: then its reason, unchanged. */
  const failure = (err: unknown, signal?: AbortSignal): unknown => (signal?.aborted ? signal.reason : fail(err));

  const connector: Connector & { toString(): string } = {
    name,
    kind: 'mssql',
    toString() {
      return `mssql connection "${name}" (${described})`;
    },
    async testConnection() {
      const p = await pool();
      try {
        await runStatement(p.request(), 'select 1');
      } catch (err) {
        throw fail(err);
      }
    },
    async execute(text: string, params?: SqlParams, opts?: QueryOptions) {
      const signal = opts?.signal;
      signal?.throwIfAborted();
      // Every batch is bound before anything runs: a missing parameter must not leave half a script done.
      const batches = splitBatches(text).map((b) => ({ ...b, plan: bindPlan(b.sql, params, name) }));
      if (batches.length === 0) return { rowsAffected: 0 };
      const p = await pool(signal);
      signal?.throwIfAborted();
      // One transaction holds one connection for the whole script and makes it all-or-nothing.
      const tx = new sql.Transaction(p);
      try {
        await tx.begin();
      } catch (err) {
        throw failure(err, signal);
      }
      let rowsAffected = 0;
      try {
        for (const b of batches) {
          for (let i = 0; i < b.count; i++) {
            signal?.throwIfAborted();
            rowsAffected += await runStatement(bind(tx.request(), b.plan), b.sql, signal);
          }
        }
        await tx.commit();
      } catch (err) {
        // The server may have rolled back already (deadlock victim, XACT_ABORT): nothing to undo then.
        await tx.rollback().catch(() => {});
        throw failure(err, signal);
      }
      return { rowsAffected };
    },
    async query(text: string, params?: SqlParams, opts?: QueryOptions): Promise<QueryResult> {
      const signal = opts?.signal;
      signal?.throwIfAborted();
      const batches = splitBatches(text);
      if (batches.length !== 1 || batches[0].count !== 1) throw new ConnectorError(name, 'query() takes one batch: no GO separators');
      const plan = bindPlan(batches[0].sql, params, name);
      const p = await pool(signal);
      signal?.throwIfAborted();
      return streamQuery(bind(p.request(), plan), batches[0].sql, { connection: name, signal, mapError: fail });
    },
    async bulkInsert(table: string, cols: readonly string[], rows: AsyncIterable<readonly unknown[]>, opts?: QueryOptions) {
      const signal = opts?.signal;
      signal?.throwIfAborted();
      const parts = identifierParts(name, table, 3);
      const columns = cols.map((c) => identifierParts(name, c, 1)[0]);
      if (columns.length === 0) throw new ConnectorError(name, 'bulkInsert needs at least one column');
      if (new Set(columns.map((c) => c.toLowerCase())).size !== columns.length) throw new ConnectorError(name, 'bulkInsert columns must be unique');
      const local = parts[parts.length - 1];
      if (local.startsWith('#') && !local.startsWith('##')) {
        throw new ConnectorError(name, `cannot bulk insert into ${table}: a #temp table belongs to one pooled connection; use a permanent or ## table`);
      }
      const path = parts.map((part) => `[${part}]`).join('.');
      const p = await pool(signal);

      // The target's own column types, so values convert exactly as an INSERT would convert them
      // (decimal scale, string lengths, dates); TOP (0) reads metadata, no rows. It also works for
      // views and synonyms, which INFORMATION_SCHEMA.COLUMNS would not resolve the same way.
      let meta: sql.IColumnMetadata;
      try {
        const probe = p.request();
        meta = (await probe.query(`select top (0) ${columns.map((c) => `[${c}]`).join(', ')} from ${path}`)).recordset.columns;
      } catch (err) {
        throw failure(err, signal);
      }
      const types = columns.map((c) => {
        const col = meta[c] ?? Object.values(meta).find((m) => m.name.toLowerCase() === c.toLowerCase());
        if (!col) throw new ConnectorError(name, `column ${c} is not in ${table}`);
        return { col, type: bulkType(col), isDate: DATE_TYPES.has((col.type as unknown as { declaration?: string }).declaration ?? '') };
      });

      let inserted = 0;
      let batch: unknown[][] = [];
      const flush = async () => {
        const t = new sql.Table(path);
        t.create = false;
        columns.forEach((c, i) => t.columns.add(c, types[i].type, { nullable: types[i].col.nullable }));
        for (const r of batch) t.rows.push(r as (typeof t.rows)[number]);
        const request = p.request();
        const onAbort = () => request.cancel();
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          // As close to a plain INSERT as bulk load gets: constraints checked (unchecked ones would
          // be left untrusted), triggers fired, explicit NULLs kept instead of column defaults.
          await request.bulk(t, { checkConstraints: true, fireTriggers: true, keepNulls: true });
        } catch (err) {
          throw failure(err, signal);
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
        inserted += batch.length;
        batch = [];
      };
      for await (const r of rows) {
        if (r.length !== columns.length) throw new ConnectorError(name, `bulkInsert row ${inserted + batch.length + 1} has ${r.length} values for ${columns.length} columns`);
        batch.push(r.map((v, i) => (v === undefined ? null : types[i].isDate ? utcDate(v) : v)));
        if (batch.length >= BULK_BATCH) {
          signal?.throwIfAborted();
          await flush();
        }
      }
      signal?.throwIfAborted();
      if (batch.length) await flush();
      return inserted;
    },
    async close() {
      const p = pending;
      pending = undefined;
      if (!p) return;
      try {
        await (await p).close();
      } catch {
        // A pool that never connected has nothing to close.
      }
    },
  };
  return connector;
}
