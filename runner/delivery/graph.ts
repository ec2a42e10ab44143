/**
 * Microsoft Graph for delivery, app-only: an @azure/identity credential behind the Graph client's
 * TokenCredentialAuthenticationProvider, a retry middleware that honours Retry-After and logs every
 * retry with the run id, and resumable upload sessions (OneDrive/SharePoint files, Outlook attachments).
 *
 * Upload-session URLs are pre-authenticated and must not carry our token (Graph answers 401 when they
 * do), so their PUTs go through plain fetch with the same retry policy, never through the client.
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientCertificateCredential, ClientSecretCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import {
  AuthenticationHandler, Client, GraphError, HTTPMessageHandler, TelemetryHandler,
  type Context, type Middleware, type MiddlewareOptions,
} from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import { ConfigError, type GraphConfig, type GraphCredentialConfig } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import { recordGraphThrottle } from '../../core/metrics.ts';

/** Statuses Graph documents as throttling or a busy service: worth the same request again. */
const RETRY_STATUSES = new Set([429, 503, 504]);

/**
 * Upload-session fragment size: a multiple of 320 KiB (OneDrive's rule) and under 4 MB (Outlook's
 * advice for attachment sessions), so one size serves both.
 */
export const UPLOAD_CHUNK_BYTES = 10 * 320 * 1024;

/** A Graph call that failed: HTTP status (0 when no response came back), Graph's error code, and whether a later try may work. */
export class GraphCallError extends Error {
  readonly status: number;
  readonly code: string;
  readonly transient: boolean;
  constructor(what: string, status: number, code: string, message: string, options?: ErrorOptions) {
    super(`${what}: ${status ? `HTTP ${status} ${code}` : code}${message ? ` (${message})` : ''}`, options);
    this.name = 'GraphCallError';
    this.status = status;
    this.code = code;
    // 5xx and no-response failures may pass; 4xx (bad request, no permission, no such mailbox) will not.
    this.transient = status === 0 || status === 408 || RETRY_STATUSES.has(status) || status >= 500;
  }
}

/** Turn whatever the Graph client or fetch threw into a GraphCallError naming the call. */
export function graphError(what: string, err: unknown): GraphCallError {
  if (err instanceof GraphCallError) return err;
  if (err instanceof GraphError) {
    // statusCode -1: the client failed before or without a response (network, abort).
    return err.statusCode > 0
      ? new GraphCallError(what, err.statusCode, err.code ?? 'Error', err.message, { cause: err })
      : new GraphCallError(what, 0, 'NoReply', err.message, { cause: err });
  }
  return new GraphCallError(what, 0, networkCode(err), err instanceof Error ? err.message : String(err), { cause: err });
}

function networkCode(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string } };
  if (e?.name === 'TimeoutError') return 'Timeout';
  return e?.cause?.code ?? e?.code ?? 'NetworkError';
}

/** The retry bounds, from config. */
export interface RetryPolicy {
  retries: number;
  maxRetryWaitMs: number;
  timeoutMs: number;
}

/**
 * Marks a request that must not be sent again after a network failure, because Graph may already have
 * acted on it (sendMail, send): only replies that say "not done" (429/503/504) are retried.
 */
export class SendOnce implements MiddlewareOptions {}

/** Milliseconds from a Retry-After header (seconds or an HTTP date), if there is one. */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** 1 s, 2 s, 4 s … with a little jitter, when Graph gave no Retry-After. */
function backoffMs(attempt: number): number {
  return 1000 * 2 ** attempt + Math.floor(Math.random() * 250);
}

function describe(url: string, method: string): { method: string; path: string } {
  // Upload URLs carry their own auth token in the query string: never log it.
  try {
    return { method, path: new URL(url).pathname };
  } catch {
    return { method, path: url.split('?')[0] };
  }
}

/**
 * Calls `send` (one HTTP exchange) until it gives a response that is not throttling, honouring
 * Retry-After within the policy's bounds. A throttling reply that outlasts the bounds is returned as is
 * (the caller turns it into a transient failure and the job is retried later). Network failures are
 * retried only when `resend` allows it.
 */
async function withRetries(
  policy: RetryPolicy, log: Logger, what: { method: string; path: string }, resend: boolean, signal: AbortSignal | undefined,
  send: (signal: AbortSignal) => Promise<Response>,
): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const timeout = AbortSignal.timeout(policy.timeoutMs);
    let response: Response;
    try {
      response = await send(signal ? AbortSignal.any([signal, timeout]) : timeout);
    } catch (err) {
      if (signal?.aborted || !resend || attempt >= policy.retries) {
        // The Graph client keeps only the message of what a middleware throws: make it say what happened.
        throw new Error(`no reply from ${what.method} ${what.path}: ${networkCode(err)} (${(err as Error).message})`, { cause: err });
      }
      const waitMs = backoffMs(attempt);
      log.warn({ ...what, attempt: attempt + 1, waitMs, err: (err as Error).message, code: networkCode(err) }, 'Graph request failed without a reply; retrying');
      await sleep(waitMs, undefined, { signal });
      continue;
    }
    if (response.status === 429 || (response.status === 503 && response.headers.has('retry-after'))) recordGraphThrottle(graphOperation(what.path));
    if (!RETRY_STATUSES.has(response.status) || attempt >= policy.retries) return response;
    const waitMs = retryAfterMs(response.headers.get('retry-after')) ?? backoffMs(attempt);
    if (waitMs > policy.maxRetryWaitMs) {
      log.warn({ ...what, status: response.status, waitMs }, 'Graph asks to wait longer than GRAPH_RETRY_MAX_WAIT_SECONDS; giving up this attempt');
      return response;
    }
    log.warn({ ...what, status: response.status, attempt: attempt + 1, waitMs, retryAfter: response.headers.get('retry-after') }, 'Graph throttled or busy; retrying');
    await response.arrayBuffer().catch(() => undefined);
    await sleep(waitMs, undefined, { signal });
  }
}

/** A fixed name for the kind of Graph call (a metrics label): the path's last action, never the URL. */
export function graphOperation(path: string): string {
  const p = path.split('?')[0];
  for (const op of ['createUploadSession', 'createLink', 'sendMail', 'attachments', 'content']) if (p.includes(op)) return op === 'content' ? 'upload' : op;
  if (/\/messages\/[^/]+\/send$/.test(p)) return 'send';
  if (/\/messages(\/[^/]+)?$/.test(p)) return 'messages';
  return /^https?:/.test(p) ? 'uploadFragment' : 'other';
}

/** The Graph client middleware doing withRetries() for every request the client sends. */
class RetryMiddleware implements Middleware {
  private next?: Middleware;
  private readonly policy: RetryPolicy;
  private readonly log: Logger;
  private readonly signal?: AbortSignal;

  constructor(policy: RetryPolicy, log: Logger, signal?: AbortSignal) {
    this.policy = policy;
    this.log = log;
    this.signal = signal;
  }

  async execute(context: Context): Promise<void> {
    const url = typeof context.request === 'string' ? context.request : context.request.url;
    const method = (context.options?.method ?? 'GET').toUpperCase();
    const sendOnce = context.middlewareControl?.getMiddlewareOptions(SendOnce) !== undefined;
    context.response = await withRetries(this.policy, this.log, describe(url, method), !sendOnce, this.signal, async (signal) => {
      context.options = { ...context.options, signal };
      await this.next!.execute(context);
      return context.response!;
    });
  }

  setNext(next: Middleware): void {
    this.next = next;
  }
}

/** The @azure/identity credential for the configured app-only sign-in. */
export function createCredential(graph: Pick<GraphConfig, 'credential' | 'authorityHost'>): TokenCredential {
  const c: GraphCredentialConfig = graph.credential;
  // Instance discovery asks login.microsoftonline.com about the authority; a configured sovereign or
  // private authority host is trusted as given instead.
  const options = { authorityHost: graph.authorityHost, disableInstanceDiscovery: graph.authorityHost !== 'https://login.microsoftonline.com' };
  switch (c.kind) {
    case 'secret':
      return new ClientSecretCredential(c.tenantId, c.clientId, c.secret, options);
    case 'certificate': {
      let pem: string;
      try {
        pem = readFileSync(c.certificatePath, 'utf8');
      } catch (err) {
        throw new ConfigError([`GRAPH_CERTIFICATE_PATH: cannot read ${c.certificatePath} (${(err as Error).message})`]);
      }
      if (!/-----BEGIN CERTIFICATE-----/.test(pem) || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
        throw new ConfigError(['GRAPH_CERTIFICATE_PATH: must be a PEM file holding the certificate and its private key']);
      }
      return new ClientCertificateCredential(c.tenantId, c.clientId, { certificate: pem }, options);
    }
    case 'managedIdentity':
      return c.clientId ? new ManagedIdentityCredential({ clientId: c.clientId }) : new ManagedIdentityCredential();
  }
}

/** A parsed upload session reply: where the next fragment starts, or the final body. */
interface SessionReply {
  nextExpectedRanges?: string[];
  [key: string]: unknown;
}

/** What the last fragment's reply held: a driveItem (OneDrive) or a Location header (Outlook). */
export interface UploadOutcome {
  status: number;
  body: Record<string, unknown> | undefined;
  location: string | null;
}

/**
 * Graph for one delivery: the shared credential (its token cache lives as long as the runner), a client
 * whose retries are logged with this run's logger, and the run's cancellation signal.
 */
export class GraphSession {
  readonly client: Client;
  readonly config: GraphConfig;
  private readonly log: Logger;
  private readonly signal?: AbortSignal;

  constructor(config: GraphConfig, provider: TokenCredentialAuthenticationProvider, log: Logger, signal?: AbortSignal) {
    this.config = config;
    this.log = log;
    this.signal = signal;
    const base = new URL(config.baseUrl);
    // Retries sit below the telemetry handler, which appends to its header on every pass.
    const middleware = [new AuthenticationHandler(provider), new TelemetryHandler(), new RetryMiddleware(config, log, signal), new HTTPMessageHandler()];
    this.client = Client.initWithMiddleware({
      middleware,
      baseUrl: `${base.origin}/`,
      defaultVersion: base.pathname.slice(1),
      // The token goes only to Graph's own hosts unless a configured base URL names another one.
      customHosts: new Set([base.hostname]),
    });
  }

  /**
   * Upload a file through an upload session, fragment by fragment, following the server's
   * nextExpectedRanges (it may have more, or less, than we sent). `resume` says whether the session
   * URL answers GET with its status (OneDrive does; Outlook attachment sessions are not documented to).
   */
  async uploadSession(what: string, uploadUrl: string, file: { path: string; size: number }, opts: { resume: boolean; nextExpectedRanges?: string[] }): Promise<UploadOutcome> {
    const handle = await open(file.path, 'r');
    try {
      let next = nextStart(opts.nextExpectedRanges) ?? 0;
      for (let fragments = 0; fragments < 100_000; fragments++) {
        if (next < 0 || next >= file.size) throw new GraphCallError(what, 0, 'BadUploadState', `the server expects byte ${next} of ${file.size}`);
        const length = Math.min(UPLOAD_CHUNK_BYTES, file.size - next);
        const chunk = Buffer.alloc(length);
        const { bytesRead } = await handle.read(chunk, 0, length, next);
        if (bytesRead !== length) throw new GraphCallError(what, 0, 'ShortRead', `read ${bytesRead} of ${length} bytes at ${next}`);
        const response = await this.fetchUpload(uploadUrl, {
          method: 'PUT',
          headers: {
            'Content-Length': String(length),
            'Content-Range': `bytes ${next}-${next + length - 1}/${file.size}`,
            'Content-Type': 'application/octet-stream',
          },
          body: chunk,
        });
        const body = await readJson(response);
        if (response.status === 416 && opts.resume) {
          // The server already had (some of) this fragment, e.g. our first try's reply was lost.
          next = await this.sessionStatus(what, uploadUrl);
          continue;
        }
        if (!response.ok) throw replyError(what, response, body);
        const more = nextStart((body as SessionReply | undefined)?.nextExpectedRanges);
        if (more === undefined) return { status: response.status, body, location: response.headers.get('location') };
        next = more;
      }
      throw new GraphCallError(what, 0, 'TooManyFragments', 'the upload did not finish');
    } finally {
      await handle.close();
    }
  }

  /** The next byte an upload session wants (GET on the session URL). */
  private async sessionStatus(what: string, uploadUrl: string): Promise<number> {
    const response = await this.fetchUpload(uploadUrl, { method: 'GET' });
    const body = await readJson(response);
    if (!response.ok) throw replyError(what, response, body);
    const next = nextStart((body as SessionReply | undefined)?.nextExpectedRanges);
    if (next === undefined) throw new GraphCallError(what, response.status, 'BadUploadState', 'the session status names no missing range');
    return next;
  }

  /** Cancel an upload session (best effort: it expires by itself anyway). */
  async cancelUploadSession(uploadUrl: string): Promise<void> {
    await this.fetchUpload(uploadUrl, { method: 'DELETE' }).then((r) => r.arrayBuffer()).catch(() => undefined);
  }

  /** fetch() to a pre-authenticated session URL: no Authorization header, same retry policy. */
  private fetchUpload(url: string, init: { method: string; headers?: Record<string, string>; body?: Buffer }): Promise<Response> {
    // A fragment PUT is safe to repeat: a range the server already has is answered with 416.
    return withRetries(this.config, this.log, describe(url, init.method), true, this.signal, (signal) => fetch(url, { ...init, signal }));
  }
}

/** The start of the first range in nextExpectedRanges ("26-", "12345-55232", or Outlook's "2097152"). */
export function nextStart(ranges: unknown): number | undefined {
  if (!Array.isArray(ranges) || ranges.length === 0) return undefined;
  const m = /^(\d+)(?:-\d*)?$/.exec(String(ranges[0]));
  return m ? Number(m[1]) : undefined;
}

async function readJson(response: Response): Promise<Record<string, unknown> | undefined> {
  const text = await response.text();
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === 'object' ? parsed as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

function replyError(what: string, response: Response, body: Record<string, unknown> | undefined): GraphCallError {
  const error = (body?.error ?? {}) as { code?: string; message?: string };
  return new GraphCallError(what, response.status, error.code ?? response.statusText ?? 'Error', error.message ?? '');
}

/** The runner's Graph access: one credential, a session per delivery. */
export class GraphDelivery {
  readonly config: GraphConfig;
  private readonly provider: TokenCredentialAuthenticationProvider;

  constructor(config: GraphConfig, credential: TokenCredential = createCredential(config)) {
    this.config = config;
    this.provider = new TokenCredentialAuthenticationProvider(credential, { scopes: [config.scope] });
  }

  /** A Graph session whose retries log to `log` (a run's child logger) and stop when `signal` aborts. */
  session(log: Logger, signal?: AbortSignal): GraphSession {
    return new GraphSession(this.config, this.provider, log, signal);
  }
}
