/**
 * plex: the classic Plex SOAP Data Source API (`ExecuteDataSource`, plex.md §1.1), read-only.
 *
 * URL: `plex://USER:PASSWORD@host[:port]/DataSource/Service.asmx` (http) or
 * `plexs://USER:PASSWORD@api.plexonline.com/DataSource/Service.asmx` (https); user and password are
 * percent-encoded (`CompanyWs%40plex.com`). Query options: `timeout` (ms per HTTP request, default
 * 60000), `retries` (extra attempts after a transient failure, default 2), `backoff` (first retry
 * delay in ms, doubled each time, default 500). The path defaults to /DataSource/Service.asmx.
 *
 * `query(key, params)` runs data source `key` ('4814') with `params` as its inputs: names without
 * the `@` (added here), values sent as strings (booleans as 1/0), null inputs left out so Plex
 * applies its default. Rows come back keyed by column name with string values, null for an empty
 * `<Value/>` (Plex does not tell NULL from ''); typing is the caller's job (convertPlexValue).
 *
 * The WSDL is fetched from `<endpoint>?WSDL` once per connector (with the same credentials) and
 * handed to the soap client as text, so its status code, timeout and retries are handled here like
 * any other request. Retries cover only what a second attempt can fix: connection refused/reset and
 * HTTP 502/503/504. A Plex `Error=true`, a 401 or a SOAP fault fails at once. A request that outlives
 * `timeout` fails without retry: Plex may still be running it, and running it twice doubles the load.
 *
 * Plex answers a whole result in one XML document, so rows are parsed in memory and then streamed
 * (only the first result set is read); a result cut by Plex's read row limit is an error, never a
 * silently short report. A result without rows takes its column names from
 * GetDataSourceRequestTemplate (none if Plex will not say). Errors never carry the password or the
 * HTTP client's error object (it holds the Authorization header); the URL appears redacted.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import * as soap from 'soap';
import { ConnectorError } from '../../core/errors.ts';
import { redactUrl } from '../../core/logger.ts';
import type { ColumnInfo, Connector, QueryOptions, QueryResult, Row, SqlParams } from './types.ts';

const DEFAULT_PATH = '/DataSource/Service.asmx';
const DEFAULTS = { timeout: 60_000, retries: 2, backoff: 500 };
const MAX_BACKOFF_MS = 10_000;
const TRANSIENT_STATUS = new Set([502, 503, 504]);
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET']);
const BATCH = 500;

/** The parts of a `plex:`/`plexs:` URL. */
export interface PlexUrl {
  /** The SOAP endpoint, e.g. https://api.plexonline.com/DataSource/Service.asmx. */
  endpoint: string;
  user: string;
  password: string;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
}

/** Parse a `plex://` or `plexs://` connection URL. Throws ConnectorError naming what is wrong. */
export function parsePlexUrl(name: string, url: string): PlexUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConnectorError(name, `invalid Plex URL ${redactUrl(url)}`);
  }
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  if (scheme !== 'plex' && scheme !== 'plexs') throw new ConnectorError(name, `invalid Plex URL ${redactUrl(url)}: use plex:// (http) or plexs:// (https)`);
  if (!u.hostname) throw new ConnectorError(name, `invalid Plex URL ${redactUrl(url)}: no host`);
  let user: string, password: string;
  try {
    user = decodeURIComponent(u.username);
    password = decodeURIComponent(u.password);
  } catch {
    throw new ConnectorError(name, `Plex URL ${redactUrl(url)}: percent-encode the user and password (e.g. %40 for @, %25 for %)`);
  }
  if (!user || !password) throw new ConnectorError(name, `Plex URL ${redactUrl(url)} needs the web-service user and password (plex://USER:PASSWORD@host/...)`);
  const options = { ...DEFAULTS };
  for (const [key, value] of u.searchParams) {
    if (!(key in options)) throw new ConnectorError(name, `Plex URL option "${key}" is unknown; use timeout, retries or backoff`);
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < 0 || (key === 'timeout' && n === 0)) {
      throw new ConnectorError(name, `Plex URL option ${key}=${JSON.stringify(value)} must be a whole number${key === 'timeout' ? ' above 0' : ''}`);
    }
    options[key as keyof typeof options] = n;
  }
  const path = u.pathname && u.pathname !== '/' ? u.pathname : DEFAULT_PATH;
  return {
    endpoint: `${scheme === 'plexs' ? 'https' : 'http'}://${u.host}${path}`,
    user,
    password,
    timeoutMs: options.timeout,
    retries: options.retries,
    backoffMs: options.backoff,
  };
}

/** How a caller may type a Plex value (all values arrive as strings). */
export type PlexValueType = 'string' | 'integer' | 'decimal' | 'cents' | 'date' | 'boolean';

function convertError(value: string, type: PlexValueType, why: string): ConnectorError {
  return new ConnectorError('plex', `cannot read ${JSON.stringify(value)} as ${type}: ${why}`);
}

const US_DATE = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AP]M)?)?$/i;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

function pad(n: number | string, width = 2): string {
  return String(n).padStart(width, '0');
}

/**
 * Type one Plex value. null and '' give null (except for 'string', where '' stays '').
 * - integer: a whole number within the safe range.
 * - decimal: a JavaScript number (for ratios and quantities, not money).
 * - cents: money as exact integer cents, parsed from the text without floating point: "1234.50" →
 *   123450, "-12.00" → -1200, "1234.50000" → 123450; digits beyond the cent that are not 0 are an error.
 * - date: Plex's US-locale text ("5/15/2019 3:03:00 PM") or ISO text, as wall-clock
 *   "YYYY-MM-DD HH:MM:SS" ("YYYY-MM-DD" when the text has no time); no time-zone conversion.
 * - boolean: True/False, 1/0, yes/no (any case).
 * Throws ConnectorError for text that is not of the type.
 */
export function convertPlexValue(value: string | null, type: PlexValueType): string | number | boolean | null {
  if (value === null) return null;
  if (type === 'string') return value;
  const text = value.trim();
  if (text === '') return null;
  switch (type) {
    case 'integer': {
      if (!/^[+-]?\d+$/.test(text)) throw convertError(value, type, 'not a whole number');
      const n = Number(text);
      if (!Number.isSafeInteger(n)) throw convertError(value, type, 'too large');
      return n;
    }
    case 'decimal': {
      if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) throw convertError(value, type, 'not a number');
      return Number(text);
    }
    case 'cents': {
      const m = /^([+-])?(\d*)(?:\.(\d*))?$/.exec(text);
      if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw convertError(value, type, 'not a decimal amount');
      const [, sign, whole, frac = ''] = m;
      if (/[1-9]/.test(frac.slice(2))) throw convertError(value, type, 'more than 2 decimals');
      const cents = BigInt(whole || '0') * 100n + BigInt((frac + '00').slice(0, 2));
      if (cents > BigInt(Number.MAX_SAFE_INTEGER)) throw convertError(value, type, 'too large');
      const n = Number(cents);
      return sign === '-' ? (n === 0 ? 0 : -n) : n;
    }
    case 'date': {
      let y: string, mo: string, d: string, hh: string | undefined, mi: string | undefined, ss: string | undefined;
      const us = US_DATE.exec(text);
      const iso = us ? null : ISO_DATE.exec(text);
      if (us) {
        const ampm = us[7]?.toUpperCase();
        [, mo, d, y, hh, mi, ss] = us;
        if (hh !== undefined && ampm) {
          const h = Number(hh);
          if (h < 1 || h > 12) throw convertError(value, type, 'hour out of range');
          hh = String(ampm === 'PM' ? (h % 12) + 12 : h % 12);
        }
      } else if (iso) {
        [, y, mo, d, hh, mi, ss] = iso;
      } else {
        throw convertError(value, type, 'not a date');
      }
      const check = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
      if (check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d)) throw convertError(value, type, 'no such day');
      if (hh !== undefined && (Number(hh) > 23 || Number(mi) > 59 || Number(ss ?? 0) > 59)) throw convertError(value, type, 'time out of range');
      const day = `${y}-${pad(mo)}-${pad(d)}`;
      return hh === undefined ? day : `${day} ${pad(hh)}:${pad(mi ?? 0)}:${pad(ss ?? 0)}`;
    }
    case 'boolean': {
      if (/^(true|1|yes|y)$/i.test(text)) return true;
      if (/^(false|0|no|n)$/i.test(text)) return false;
      throw convertError(value, type, 'not a boolean');
    }
  }
}

/** The repeated element of a parsed response: one element may come as an object, several as an array. */
function many<T>(v: T | T[] | undefined | null): T[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

/** A parsed `<Value>`: text, or null for `<Value/>`, nil or absent. */
function valueOf(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'object') {
    const inner = (v as { $value?: unknown }).$value;
    return inner === undefined || inner === null || inner === '' ? null : String(inner);
  }
  const s = String(v);
  return s === '' ? null : s;
}

function isTrue(v: unknown): boolean {
  return v === true || /^(true|1)$/i.test(valueOf(v) ?? '');
}

interface ParsedColumn { Value?: unknown; Name?: unknown }
interface ParsedResultSet { RowCount?: unknown; Rows?: { Row?: unknown } }
interface ParsedResult {
  Error?: unknown;
  ErrorNo?: unknown;
  Message?: unknown;
  DataSourceName?: unknown;
  ResultSets?: { ResultSet?: ParsedResultSet | ParsedResultSet[] };
  OutputParameters?: { OutputParameter?: unknown };
}

/** The rows of the first result set, keyed by column name, and the column names in order. */
function readResultSet(set: ParsedResultSet | undefined): { columns: string[]; rows: Row[] } {
  const columns: string[] = [];
  const known = new Set<string>();
  const rows: Row[] = [];
  for (const row of many(set?.Rows?.Row as unknown)) {
    const out: Row = {};
    for (const col of many((row as { Columns?: { Column?: unknown } } | null)?.Columns?.Column as ParsedColumn | ParsedColumn[] | undefined)) {
      const name = valueOf(col?.Name);
      if (name === null) continue;
      if (!known.has(name)) { known.add(name); columns.push(name); }
      out[name] = valueOf(col.Value);
    }
    rows.push(out);
  }
  // Plex repeats every name on every row; fill any a row lacks so all rows have the same keys.
  for (const r of rows) for (const c of columns) if (!(c in r)) r[c] = null;
  return { columns, rows };
}

/** An HTTP/transport failure as seen through fetch or the soap client (axios). */
interface TransportFailure {
  status?: number;
  code?: string;
  fault?: string;
  message: string;
}

function transportFailure(err: unknown): TransportFailure {
  const e = err as { response?: { status?: unknown }; code?: unknown; cause?: { code?: unknown }; root?: { Envelope?: { Body?: { Fault?: { faultstring?: unknown } } } }; message?: unknown };
  const status = typeof e?.response?.status === 'number' ? e.response.status : undefined;
  const code = typeof e?.code === 'string' ? e.code : typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  const faultstring = e?.root?.Envelope?.Body?.Fault?.faultstring;
  return {
    status,
    code,
    fault: faultstring === undefined ? undefined : valueOf(faultstring) ?? '',
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

/** Thrown by one attempt; `transient` says whether another attempt may succeed. */
class AttemptError extends Error {
  readonly transient: boolean;
  readonly error: ConnectorError;
  constructor(error: ConnectorError, transient: boolean) {
    super(error.message);
    this.error = error;
    this.transient = transient;
  }
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise((resolve, reject) => {
  const onAbort = () => { clearTimeout(timer); reject(signal?.reason); };
  const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  signal?.addEventListener('abort', onAbort, { once: true });
});

/** Settle with `promise`, or reject with the signal's reason as soon as it aborts. */
function race<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

/** Create the connector for a `plex:`/`plexs:` URL. */
export function plexConnector(name: string, url: string): Connector {
  const cfg = parsePlexUrl(name, url);
  const where = redactUrl(url);
  const authorization = `Basic ${Buffer.from(`${cfg.user}:${cfg.password}`).toString('base64')}`;
  const https = cfg.endpoint.startsWith('https:');
  let agent: HttpAgent | HttpsAgent | undefined;
  let client: Promise<soap.Client> | undefined;
  const templateColumns = new Map<string, string[]>();

  const keepAlive = () => (agent ??= https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true }));

  /** One failure in plain words; never the credentials, never the raw HTTP error (it holds the Authorization header). */
  const classify = (err: unknown, what: string): AttemptError => {
    if (err instanceof AttemptError) return err;
    if (err instanceof ConnectorError) return new AttemptError(err, false);
    const f = transportFailure(err);
    if (f.status === 401 || f.status === 403) {
      return new AttemptError(new ConnectorError(name, `authentication failed for user ${cfg.user} at ${where} (HTTP ${f.status})`), false);
    }
    if (f.status !== undefined && TRANSIENT_STATUS.has(f.status)) {
      return new AttemptError(new ConnectorError(name, `${what}: Plex answered HTTP ${f.status} at ${where}`), true);
    }
    if (f.code !== undefined && TRANSIENT_CODES.has(f.code)) {
      return new AttemptError(new ConnectorError(name, `${what}: cannot reach Plex at ${where} (${f.code})`), true);
    }
    if (f.fault !== undefined) {
      return new AttemptError(new ConnectorError(name, `${what}: Plex returned a SOAP fault${f.status ? ` (HTTP ${f.status})` : ''}: ${f.fault}`), false);
    }
    const detail = f.status !== undefined ? `HTTP ${f.status}` : f.code ?? f.message;
    return new AttemptError(new ConnectorError(name, `${what}: unexpected answer from Plex at ${where}: ${detail}`), false);
  };

  const loadClient = async (): Promise<soap.Client> => {
    const wsdlUrl = `${cfg.endpoint}?WSDL`;
    const res = await fetch(wsdlUrl, { headers: { Authorization: authorization }, signal: AbortSignal.timeout(cfg.timeoutMs) }).catch((err: unknown) => {
      if ((err as Error)?.name === 'TimeoutError') throw new ConnectorError(name, `the Plex WSDL at ${where} did not answer within ${cfg.timeoutMs} ms`);
      throw err;
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw Object.assign(new Error(`HTTP ${res.status}`), { response: { status: res.status } });
    }
    // soap takes WSDL text only when it starts with an XML declaration.
    let xml = (await res.text()).replace(/^\uFEFF/, '').trimStart();
    if (!xml.startsWith('<?xml')) xml = `<?xml version="1.0" encoding="utf-8"?>${xml}`;
    let c: soap.Client;
    try {
      c = await soap.createClientAsync(xml, { endpoint: cfg.endpoint, disableCache: true });
    } catch (err) {
      throw new ConnectorError(name, `the WSDL at ${where} is not a usable Plex Data Source WSDL: ${(err as Error).message}`);
    }
    if (typeof c.ExecuteDataSourceAsync !== 'function') throw new ConnectorError(name, `the WSDL at ${where} has no ExecuteDataSource operation`);
    c.setSecurity(new soap.BasicAuthSecurity(cfg.user, cfg.password));
    return c;
  };

  const getClient = (): Promise<soap.Client> => {
    if (!client) {
      const loading = loadClient();
      client = loading;
      // A failed load is not cached: the next attempt fetches the WSDL again.
      loading.catch(() => { if (client === loading) client = undefined; });
    }
    return client;
  };

  /** One call with the per-request timeout, the caller's signal and retries on transient failures. */
  const call = async <T>(what: string, fn: (c: soap.Client, signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => { timedOut = true; controller.abort(); }, cfg.timeoutMs);
      const onAbort = () => controller.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const c = await race(getClient(), controller.signal);
        return await fn(c, controller.signal);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (timedOut) throw new ConnectorError(name, `${what}: no answer from Plex at ${where} within ${cfg.timeoutMs} ms`);
        const failure = classify(err, what);
        if (!failure.transient || attempt >= cfg.retries) throw failure.error;
        const delay = Math.min(cfg.backoffMs * 2 ** attempt, MAX_BACKOFF_MS);
        await sleep(delay * (0.8 + Math.random() * 0.4), signal);
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
    }
  };

  const httpOptions = (signal: AbortSignal) => ({ signal, httpAgent: keepAlive(), httpsAgent: keepAlive() });

  /** Column names from GetDataSourceRequestTemplate, for a result without rows; [] if Plex will not say. */
  const columnsOf = async (key: string, signal?: AbortSignal): Promise<string[]> => {
    const cached = templateColumns.get(key);
    if (cached) return cached;
    try {
      const [result] = await call(`Plex data source ${key} template`, (c, s) => c.GetDataSourceRequestTemplateAsync({ dataSourceKey: Number(key) }, httpOptions(s)) as Promise<[unknown]>, signal);
      const r = (result as { GetDataSourceRequestTemplateResult?: ParsedResult } | null)?.GetDataSourceRequestTemplateResult;
      if (!r || isTrue(r.Error)) return [];
      const columns = readResultSet(many(r.ResultSets?.ResultSet)[0]).columns;
      templateColumns.set(key, columns);
      return columns;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      return [];
    }
  };

  const readOnly = (what: string) => new ConnectorError(name, `connection "${name}" is a Plex data source and is read-only: ${what} is not supported`);

  return {
    name,
    kind: 'plex',
    async testConnection() {
      client = undefined;
      await call('Plex WSDL', async (c) => c);
    },
    async execute() {
      throw readOnly('execute');
    },
    async bulkInsert() {
      throw readOnly('bulkInsert');
    },
    async query(dataSource: string, params?: SqlParams, opts?: QueryOptions): Promise<QueryResult> {
      const key = dataSource.trim();
      if (!/^\d+$/.test(key)) throw new ConnectorError(name, `"${dataSource}" is not a Plex data source key (a number such as 4814)`);
      const inputs = Object.entries(params ?? {})
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([n, v]) => ({
          Value: typeof v === 'boolean' ? (v ? '1' : '0') : String(v),
          Name: n.startsWith('@') ? n : `@${n}`,
          Required: false,
          Output: false,
        }));
      const what = `Plex data source ${key}`;
      const [result] = await call(what, (c, s) => c.ExecuteDataSourceAsync({
        ExecuteDataSourceRequest: { DataSourceKey: key, InputParameters: { InputParameter: inputs } },
      }, httpOptions(s)) as Promise<[unknown]>, opts?.signal);
      const r = (result as { ExecuteDataSourceResult?: ParsedResult } | null)?.ExecuteDataSourceResult;
      if (!r) throw new ConnectorError(name, `${what}: the answer has no ExecuteDataSourceResult`);
      const message = valueOf(r.Message) ?? '';
      if (isTrue(r.Error)) {
        const dsName = valueOf(r.DataSourceName);
        throw new ConnectorError(name, `${what}${dsName ? ` (${dsName})` : ''} failed: ${message || 'Plex reported an error without a message'}${valueOf(r.ErrorNo) ? ` [ErrorNo ${valueOf(r.ErrorNo)}]` : ''}`);
      }
      const limited = many(r.OutputParameters?.OutputParameter as { Name?: unknown; Value?: unknown }[] | undefined)
        .some((p) => /^@?row_?limit(ed)?_?exceeded$/i.test(valueOf(p?.Name) ?? '') && isTrue(p.Value));
      if (limited) throw new ConnectorError(name, `${what} hit Plex's read row limit, so its answer is incomplete (${message}); ask for fewer PCNs or periods per call`);
      const parsed = readResultSet(many(r.ResultSets?.ResultSet)[0]);
      const columns: ColumnInfo[] = (parsed.columns.length ? parsed.columns : await columnsOf(key, opts?.signal)).map((c) => ({ name: c }));

      let done = false;
      const release = async () => { done = true; parsed.rows.length = 0; };
      async function* rows(): AsyncGenerator<Row> {
        try {
          for (let i = 0; !done && i < parsed.rows.length; i++) {
            yield parsed.rows[i];
            if ((i + 1) % BATCH === 0) {
              await new Promise<void>((resolve) => setImmediate(resolve));
              opts?.signal?.throwIfAborted();
            }
          }
        } finally {
          await release();
        }
      }
      return { columns, rows: rows(), release };
    },
    async close() {
      client = undefined;
      templateColumns.clear();
      agent?.destroy();
      agent = undefined;
    },
  };
}
