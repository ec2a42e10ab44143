/**
 * TEST ONLY: a fake Microsoft Graph (v1.0) over HTTPS on loopback, for the parts delivery uses. It
 * follows the documented contract strictly and records every call:
 * - tokens: every /v1.0 call needs `Authorization: Bearer` with a live token from {@link FakeEntra} for
 *   this service (401 InvalidAuthenticationToken otherwise); upload-session URLs are pre-authenticated
 *   and refuse an Authorization header (401), as Graph documents.
 * - files (driveitem-put-content, driveitem-createuploadsession, driveitem-createlink): simple PUT up to
 *   4 MB; upload sessions with Content-Range checks, fragments a multiple of 320 KiB, in order (416 for
 *   a range already received), 202 + nextExpectedRanges until the last fragment, then the driveItem;
 *   conflictBehavior fail (default) | replace | rename; createLink type/scope/recipients.
 * - mail (user-sendmail, message create/send, attachment-createuploadsession, outlook-large-attachments):
 *   sendMail → 202 with an empty body and no content type; inline file attachments under 3 MB; attachment
 *   upload sessions only from 3 MB (ErrorAttachmentSizeShouldNotBeLessThanMinimumSize), 200 +
 *   nextExpectedRanges ["n"] per fragment, 201 + Location at the end; the tenant's message size limit;
 *   Sent Items and Drafts searchable by a single-value extended property ($filter as documented).
 * - errors in Graph's shape `{ error: { code, message, innerError: { date, request-id, client-request-id } } }`.
 * - faults on demand: {@link FakeGraph.fail} answers matching calls with a status (429/503 with
 *   Retry-After, 403 …) or drops the connection.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeEntra, type EntraApp } from './entra.ts';
import { testTlsOptions } from './tls.ts';

const MiB = 1024 * 1024;
const FRAGMENT_UNIT = 320 * 1024;
const MAX_FRAGMENT = 60 * MiB;
const SIMPLE_UPLOAD_MAX = 4 * MiB;
const INLINE_ATTACHMENT_MAX = 3 * MiB;
const ATTACHMENT_SESSION_MAX = 150 * MiB;
/** Requests larger than this are refused before they are read (a safety cap for the tests). */
const MAX_BODY = 80 * MiB;

/** One call as received and answered. */
export interface GraphCall {
  seq: number;
  method: string;
  /** Decoded path without the query, e.g. /v1.0/users/x/sendMail or /upload/drive/<id>. */
  path: string;
  query: Record<string, string>;
  route: string;
  /** What the Authorization header was: a live token for this service, none, or something else. */
  auth: 'valid' | 'missing' | 'invalid' | 'expired';
  contentType?: string;
  contentRange?: string;
  bytes: number;
  json?: unknown;
  /** 0 when the fake dropped the connection. */
  status: number;
  at: number;
}

export interface DriveFile {
  driveId: string;
  itemId: string;
  /** Path under the drive root, e.g. Reports/x.xlsx. */
  path: string;
  name: string;
  bytes: Buffer;
  /** 1 on create, +1 on every replace. */
  version: number;
  webUrl: string;
}

export interface StoredAttachment {
  name: string;
  contentType?: string;
  bytes: Buffer;
  via: 'inline' | 'upload-session';
}

export interface StoredMessage {
  id: string;
  mailbox: string;
  folder: 'drafts' | 'sentitems';
  subject: string;
  body: { contentType: string; content: string };
  to: string[];
  attachments: StoredAttachment[];
  properties: { id: string; value: string }[];
  via?: 'sendMail' | 'send';
  sentAt?: number;
}

/** A fault to inject: which calls, how many times, and the reply (or a dropped connection). */
export interface FaultRule {
  method?: string;
  /** Tested against the decoded path (see {@link GraphCall.path}). */
  path: RegExp;
  /** Default 1. */
  times?: number;
  status?: number;
  code?: string;
  message?: string;
  /** Retry-After header value (seconds, or an HTTP date). */
  retryAfter?: string;
  /** Drop the connection instead of answering. */
  reset?: boolean;
  /** Apply the fault after the request was processed (the reply is lost, the effect happened). */
  after?: boolean;
}

interface Drive {
  id: string;
  /** By lower-cased path (OneDrive paths are case-insensitive). */
  items: Map<string, DriveFile>;
}

interface DriveSession {
  kind: 'drive';
  id: string;
  token: string;
  drive: Drive;
  path: string;
  name: string;
  conflict: string;
  total?: number;
  received: Buffer[];
  receivedBytes: number;
  expires: string;
}

interface AttachmentSession {
  kind: 'attachment';
  id: string;
  token: string;
  message: StoredMessage;
  name: string;
  size: number;
  contentType?: string;
  received: Buffer[];
  receivedBytes: number;
  expires: string;
}

class GraphReply extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

const bad = (code: string, message: string) => new GraphReply(400, code, message);

export interface FakeGraphOptions {
  /** The tenant's message size limit in bytes (Exchange counts the base64-encoded attachment). Default 35 MB. */
  maxMessageBytes?: number;
}

export class FakeGraph {
  readonly entra: FakeEntra;
  /** https://127.0.0.1:<port> */
  origin = '';
  readonly calls: GraphCall[] = [];
  readonly drives = new Map<string, Drive>();
  readonly messages: StoredMessage[] = [];
  private readonly server: Server;
  private readonly faults: (FaultRule & { left: number })[] = [];
  private readonly sessions = new Map<string, DriveSession | AttachmentSession>();
  private readonly maxMessageBytes: number;
  private seq = 0;

  private constructor(entra: FakeEntra, opts: FakeGraphOptions) {
    this.entra = entra;
    this.maxMessageBytes = opts.maxMessageBytes ?? 35 * MiB;
    this.server = createServer(testTlsOptions(), (req, res) => void this.handle(req, res));
  }

  /** Start a token endpoint and a Graph that trusts it. */
  static async start(app: Partial<EntraApp> = {}, opts: FakeGraphOptions = {}): Promise<FakeGraph> {
    const entra = await FakeEntra.start({
      tenantId: app.tenantId ?? randomUUID(), clientId: app.clientId ?? randomUUID(), clientSecret: app.clientSecret ?? randomBytes(24).toString('base64url'),
    });
    const graph = new FakeGraph(entra, opts);
    await new Promise<void>((resolve) => graph.server.listen(0, '127.0.0.1', resolve));
    graph.origin = `https://127.0.0.1:${(graph.server.address() as AddressInfo).port}`;
    entra.resources.add(graph.origin);
    return graph;
  }

  /** The environment that points the bot and runner at these fakes (client secret credential). */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      GRAPH_TENANT_ID: this.entra.app.tenantId,
      GRAPH_CLIENT_ID: this.entra.app.clientId,
      GRAPH_CLIENT_SECRET: this.entra.app.clientSecret,
      GRAPH_AUTHORITY_HOST: this.entra.url,
      GRAPH_BASE_URL: `${this.origin}/v1.0`,
      ...extra,
    };
  }

  /** Answer the next matching call(s) with a fault. */
  fail(rule: FaultRule): void {
    this.faults.push({ ...rule, left: rule.times ?? 1 });
  }

  /** Drop faults not yet used (between tests). Returns how many were left. */
  clearFaults(): number {
    const left = this.faults.reduce((n, f) => n + f.left, 0);
    this.faults.length = 0;
    return left;
  }

  /** Calls to routes of a kind, e.g. callsTo('sendMail'). */
  callsTo(route: string): GraphCall[] {
    return this.calls.filter((c) => c.route === route);
  }

  /** Every stored file across drives. */
  files(): DriveFile[] {
    return [...this.drives.values()].flatMap((d) => [...d.items.values()]);
  }

  /** Messages that went out (sendMail, or a sent draft). */
  sent(): StoredMessage[] {
    return this.messages.filter((m) => m.folder === 'sentitems');
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.entra.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = url.pathname;
    }
    const call: GraphCall = {
      seq: ++this.seq, method: req.method ?? 'GET', path, query: Object.fromEntries(url.searchParams), route: 'unknown',
      auth: this.entra.check(req.headers.authorization, this.origin), contentType: req.headers['content-type'],
      contentRange: req.headers['content-range'] as string | undefined, bytes: 0, status: 0, at: Date.now(),
    };
    this.calls.push(call);
    const clientRequestId = String(req.headers['client-request-id'] ?? randomUUID());
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      if (body === undefined) {
        res.writeHead(status, { 'Content-Length': '0', 'request-id': randomUUID(), 'client-request-id': clientRequestId, ...headers });
        res.end();
      } else {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'Content-Type': 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8', 'request-id': randomUUID(), 'client-request-id': clientRequestId, ...headers });
        res.end(text);
      }
    };
    const sendError = (e: GraphReply) => send(e.status, {
      error: { code: e.code, message: e.message, innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': randomUUID(), 'client-request-id': clientRequestId } },
    }, e.headers);

    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      call.status = 413;
      res.writeHead(413, { Connection: 'close' }).end();
      return;
    }
    call.bytes = body.length;
    call.route = routeName(call.method, path);

    const fault = this.faults.find((f) => f.left > 0 && f.path.test(path) && (!f.method || f.method === call.method));
    if (fault && !fault.after) {
      fault.left--;
      if (fault.reset) {
        req.socket.destroy();
        return;
      }
      sendError(new GraphReply(fault.status ?? 503, fault.code ?? 'serviceNotAvailable', fault.message ?? 'injected fault', fault.retryAfter ? { 'Retry-After': fault.retryAfter } : {}));
      return;
    }
    try {
      const out = await this.route(req, call, path, url, body);
      if (fault?.after) {
        fault.left--;
        req.socket.destroy();
        return;
      }
      send(out.status, out.body, out.headers);
    } catch (err) {
      if (err instanceof GraphReply) sendError(err);
      else sendError(new GraphReply(500, 'generalException', (err as Error).message));
    }
  }

  private async route(req: IncomingMessage, call: GraphCall, path: string, url: URL, body: Buffer): Promise<{ status: number; body?: unknown; headers?: Record<string, string> }> {
    // Upload sessions: pre-authenticated URLs outside the versioned API.
    const up = /^\/upload\/(drive|outlook)\/([A-Za-z0-9_-]+)$/.exec(path);
    if (up) {
      if (req.headers.authorization) throw new GraphReply(401, 'unauthenticated', 'Do not send an Authorization header to an upload URL.');
      const session = this.sessions.get(up[2]);
      const token = url.searchParams.get(up[1] === 'drive' ? 'token' : 'authtoken');
      if (!session || session.kind !== (up[1] === 'drive' ? 'drive' : 'attachment') || token !== session.token) {
        throw new GraphReply(404, 'itemNotFound', 'The upload session was not found or has expired.');
      }
      return session.kind === 'drive' ? this.driveFragment(req, call, session, body) : this.attachmentFragment(req, call, session, body);
    }

    if (!path.startsWith('/v1.0/')) throw new GraphReply(400, 'BadRequest', `Invalid version: ${path.split('/')[1] ?? ''}`);
    if (call.auth !== 'valid') {
      throw new GraphReply(401, 'InvalidAuthenticationToken', call.auth === 'missing' ? 'Access token is empty.' : call.auth === 'expired' ? 'Lifetime validation failed, the token is expired.' : 'Access token validation failure.');
    }
    const p = path.slice('/v1.0'.length);
    const json = (): Record<string, unknown> => {
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) throw bad('BadRequest', 'Content-Type must be application/json.');
      try {
        const parsed = JSON.parse(body.toString('utf8')) as unknown;
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        call.json = parsed;
        return parsed as Record<string, unknown>;
      } catch {
        throw bad('BadRequest', 'Unable to read JSON request payload.');
      }
    };
    const method = call.method;
    let m: RegExpExecArray | null;

    const driveRe = '(/users/[^/]+/drive|/sites/[^/]+/drive|/sites/[^/]+/drives/[^/]+|/drives/[^/]+)';
    if ((m = new RegExp(`^${driveRe}/root:/(.+):/content$`).exec(p))) {
      if (method !== 'PUT') throw new GraphReply(405, 'BadRequest', 'Use PUT to upload content.');
      if (body.length > SIMPLE_UPLOAD_MAX) throw new GraphReply(413, 'requestTooLarge', 'The simple upload API supports files up to 4 MB; use an upload session.');
      const conflict = url.searchParams.get('@microsoft.graph.conflictBehavior') ?? 'replace';
      return this.commit(this.drive(m[1]), m[2], conflict, body);
    }
    if ((m = new RegExp(`^${driveRe}/root:/(.+):/createUploadSession$`).exec(p))) {
      if (method !== 'POST') throw new GraphReply(405, 'BadRequest', 'Use POST.');
      const args = body.length ? json() : {};
      const item = (args.item ?? {}) as Record<string, unknown>;
      for (const key of Object.keys(args)) if (key !== 'item' && key !== 'deferCommit') throw bad('invalidRequest', `Unknown parameter ${key}.`);
      const name = m[2].split('/').pop()!;
      if (item.name !== undefined && item.name !== name) throw bad('invalidRequest', 'The item path must end with the name given in the request body.');
      const conflict = String(item['@microsoft.graph.conflictBehavior'] ?? 'fail');
      if (!['fail', 'replace', 'rename'].includes(conflict)) throw bad('invalidRequest', `Invalid conflict behavior ${conflict}.`);
      const session: DriveSession = {
        kind: 'drive', id: randomBytes(12).toString('base64url'), token: randomBytes(16).toString('base64url'), drive: this.drive(m[1]), path: m[2], name,
        conflict, total: typeof item.fileSize === 'number' ? item.fileSize : undefined, received: [], receivedBytes: 0, expires: expiry(),
      };
      this.sessions.set(session.id, session);
      return { status: 200, body: { uploadUrl: `${this.origin}/upload/drive/${session.id}?token=${session.token}`, expirationDateTime: session.expires, nextExpectedRanges: ['0-'] } };
    }
    if ((m = /^(?:\/drives\/([^/]+)|\/users\/[^/]+\/drive|\/sites\/[^/]+\/drive)\/items\/([^/]+)\/createLink$/.exec(p))) {
      if (method !== 'POST') throw new GraphReply(405, 'BadRequest', 'Use POST.');
      const args = json();
      const file = this.files().find((f) => f.itemId === m![2] && (!m![1] || f.driveId === m![1]));
      if (!file) throw new GraphReply(404, 'itemNotFound', 'The resource could not be found.');
      for (const key of Object.keys(args)) {
        if (!['type', 'scope', 'expirationDateTime', 'password', 'recipients', 'retainInheritedPermissions', 'sendNotification', 'message'].includes(key)) {
          throw bad('invalidRequest', `Unknown parameter ${key}.`);
        }
      }
      if (!['view', 'edit', 'embed'].includes(String(args.type))) throw bad('invalidRequest', 'type must be view, edit or embed.');
      if (args.scope !== undefined && !['anonymous', 'organization', 'users'].includes(String(args.scope))) throw bad('invalidRequest', 'Invalid scope.');
      if (args.scope === 'users') {
        const recipients = args.recipients;
        if (!Array.isArray(recipients) || recipients.length === 0 || !recipients.every((r) => r && typeof r === 'object' && (typeof r.objectId === 'string' || typeof r.email === 'string'))) {
          throw bad('invalidRequest', 'A users link needs recipients, each with an objectId or an email.');
        }
      }
      const key = `${file.driveId}/${file.itemId}/${args.type}/${args.scope ?? 'organization'}`;
      const existing = this.links.get(key);
      const webUrl = existing ?? `https://contoso-my.sharepoint.test/:x:/g/personal/${file.driveId}/${randomBytes(9).toString('base64url')}`;
      this.links.set(key, webUrl);
      return {
        status: existing ? 200 : 201,
        body: { id: randomBytes(6).toString('hex'), roles: [args.type === 'edit' ? 'write' : 'read'], link: { type: args.type, scope: args.scope ?? 'organization', webUrl } },
      };
    }

    if ((m = /^\/users\/([^/]+)\/sendMail$/.exec(p))) {
      if (method !== 'POST') throw new GraphReply(405, 'BadRequest', 'Use POST.');
      const args = json();
      for (const key of Object.keys(args)) if (key !== 'message' && key !== 'saveToSentItems') throw bad('UnableToDeserializePostBody', `Unknown parameter ${key}.`);
      if (args.saveToSentItems !== undefined && typeof args.saveToSentItems !== 'boolean') throw bad('UnableToDeserializePostBody', 'saveToSentItems must be a boolean.');
      const message = this.parseMessage(m[1], args.message, true);
      if (message.to.length === 0) throw bad('ErrorInvalidRecipients', 'At least one recipient is not valid., A message can\'t be sent because it contains no recipients.');
      this.checkSize(message);
      message.folder = 'sentitems';
      message.via = 'sendMail';
      message.sentAt = Date.now();
      if (args.saveToSentItems !== false) this.messages.push(message);
      // Documented: 202 Accepted, nothing in the body (and so no content type).
      return { status: 202 };
    }
    if ((m = /^\/users\/([^/]+)\/messages$/.exec(p))) {
      if (method !== 'POST') throw new GraphReply(405, 'BadRequest', 'Use POST.');
      const message = this.parseMessage(m[1], json(), true);
      this.messages.push(message);
      return { status: 201, body: this.messageJson(message) };
    }
    if ((m = /^\/users\/([^/]+)\/messages\/([^/]+)$/.exec(p))) {
      const message = this.messageOf(m[1], m[2]);
      if (method === 'GET') return { status: 200, body: this.messageJson(message) };
      if (method === 'DELETE') {
        this.messages.splice(this.messages.indexOf(message), 1);
        return { status: 204 };
      }
      throw new GraphReply(405, 'BadRequest', 'Use GET or DELETE.');
    }
    if ((m = /^\/users\/([^/]+)\/messages\/([^/]+)\/attachments\/createUploadSession$/.exec(p))) {
      if (method !== 'POST') throw new GraphReply(405, 'BadRequest', 'Use POST.');
      const message = this.messageOf(m[1], m[2]);
      const args = json();
      const item = args.AttachmentItem as Record<string, unknown> | undefined;
      if (!item || typeof item !== 'object') throw bad('ErrorInvalidRequest', 'AttachmentItem is required.');
      if (item.attachmentType !== 'file') throw bad('ErrorInvalidRequest', 'attachmentType must be file.');
      if (typeof item.name !== 'string' || !item.name) throw bad('ErrorInvalidRequest', 'name is required.');
      if (typeof item.size !== 'number' || !Number.isInteger(item.size)) throw bad('ErrorInvalidRequest', 'size is required.');
      if (item.size < INLINE_ATTACHMENT_MAX) {
        throw bad('ErrorAttachmentSizeShouldNotBeLessThanMinimumSize', 'Attachment size should not be less than the minimum size for an upload session (3 MB); POST the attachment instead.');
      }
      if (item.size > ATTACHMENT_SESSION_MAX) throw bad('ErrorAttachmentSizeShouldNotExceedMaximumSize', 'Attachments are limited to 150 MB.');
      if (message.folder !== 'drafts') throw bad('ErrorInvalidRequest', 'Only a draft can get attachments.');
      const session: AttachmentSession = {
        kind: 'attachment', id: randomBytes(12).toString('base64url'), token: randomBytes(16).toString('base64url'), message,
        name: item.name, size: item.size, contentType: typeof item.contentType === 'string' ? item.contentType : undefined, received: [], receivedBytes: 0, expires: expiry(),
      };
      this.sessions.set(session.id, session);
      return {
        status: 201,
        body: {
          '@odata.context': `${this.origin}/v1.0/$metadata#microsoft.graph.uploadSession`,
          uploadUrl: `${this.origin}/upload/outlook/${session.id}?authtoken=${session.token}`, expirationDateTime: session.expires, nextExpectedRanges: ['0-'],
        },
      };
    }
    if ((m = /^\/users\/([^/]+)\/messages\/([^/]+)\/send$/.exec(p))) {
      if (method !== 'POST') throw new GraphReply(405, 'BadRequest', 'Use POST.');
      if (body.length > 0 && body.toString('utf8').trim() !== '') throw bad('BadRequest', 'send takes no request body.');
      const message = this.messageOf(m[1], m[2]);
      if (message.folder !== 'drafts') throw bad('ErrorInvalidRequest', 'Only a draft can be sent.');
      if (message.to.length === 0) throw bad('ErrorInvalidRecipients', 'A message can\'t be sent because it contains no recipients.');
      this.checkSize(message);
      // The sent copy lands in Sent Items under a new id; the draft id no longer resolves.
      message.id = messageId();
      message.folder = 'sentitems';
      message.via = 'send';
      message.sentAt = Date.now();
      return { status: 202 };
    }
    if ((m = /^\/users\/([^/]+)\/mailFolders\/([^/]+)\/messages$/.exec(p))) {
      if (method !== 'GET') throw new GraphReply(405, 'BadRequest', 'Use GET.');
      const folder = m[2].toLowerCase();
      if (folder !== 'sentitems' && folder !== 'drafts') throw new GraphReply(404, 'ErrorInvalidIdMalformed', 'Only the sentitems and drafts folders exist here.');
      const filter = url.searchParams.get('$filter');
      let match: (msg: StoredMessage) => boolean = () => true;
      if (filter !== null) {
        const f = /^singleValueExtendedProperties\/Any\(ep: ep\/id eq '((?:[^']|'')*)' and ep\/value eq '((?:[^']|'')*)'\)$/.exec(filter);
        if (!f) throw bad('ErrorInvalidUrlQueryFilter', `The query filter '${filter}' is not supported here.`);
        const [id, value] = [f[1].replaceAll("''", "'"), f[2].replaceAll("''", "'")];
        // Documented: the property name in the id is case-sensitive, the value is not.
        match = (msg) => msg.properties.some((ep) => ep.id === id && ep.value.toLowerCase() === value.toLowerCase());
      }
      const top = Number(url.searchParams.get('$top') ?? 10);
      const value = this.messages.filter((msg) => msg.mailbox === m![1].toLowerCase() && msg.folder === folder && match(msg)).slice(0, top);
      return { status: 200, body: { '@odata.context': `${this.origin}/v1.0/$metadata#users('${m[1]}')/mailFolders('${folder}')/messages(id)`, value: value.map((msg) => ({ id: msg.id })) } };
    }
    throw new GraphReply(400, 'BadRequest', `Resource not found for the segment '${p.split('/')[1] ?? ''}'.`);
  }

  private readonly links = new Map<string, string>();

  private drive(root: string): Drive {
    const key = root.toLowerCase();
    let drive = this.drives.get(key);
    if (!drive) {
      drive = { id: `b!${randomBytes(16).toString('base64url')}`, items: new Map() };
      this.drives.set(key, drive);
    }
    return drive;
  }

  /** Create or replace a file at `path` (folders are created as needed, as OneDrive does for path uploads). */
  private commit(drive: Drive, path: string, conflict: string, bytes: Buffer): { status: number; body: unknown } {
    if (!['fail', 'replace', 'rename'].includes(conflict)) throw bad('invalidRequest', `Invalid conflict behavior ${conflict}.`);
    let target = path;
    const existing = drive.items.get(target.toLowerCase());
    if (existing && conflict === 'fail') throw new GraphReply(409, 'nameAlreadyExists', 'The specified item name already exists.');
    if (existing && conflict === 'rename') {
      const dot = target.lastIndexOf('.');
      for (let n = 1; drive.items.has(target.toLowerCase()); n++) target = `${path.slice(0, dot)} ${n}${path.slice(dot)}`;
    }
    const replaced = conflict === 'replace' ? existing : undefined;
    const name = target.split('/').pop()!;
    const file: DriveFile = replaced
      ? { ...replaced, bytes, version: replaced.version + 1 }
      : { driveId: drive.id, itemId: `01${randomBytes(16).toString('hex').toUpperCase()}`, path: target, name, bytes, version: 1, webUrl: `https://contoso-my.sharepoint.test/personal/Documents/${encodeURIComponent(target)}` };
    drive.items.set(target.toLowerCase(), file);
    const folder = target.split('/').slice(0, -1).join('/');
    return {
      status: replaced ? 200 : 201,
      body: {
        id: file.itemId, name: file.name, size: bytes.length, webUrl: file.webUrl, eTag: `"{${file.itemId}},${file.version}"`,
        file: { mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' },
        parentReference: { driveId: drive.id, driveType: 'business', path: `/drive/root:/${folder}` },
      },
    };
  }

  private driveFragment(req: IncomingMessage, call: GraphCall, s: DriveSession, body: Buffer): { status: number; body?: unknown } {
    const status = () => ({ expirationDateTime: s.expires, nextExpectedRanges: [`${s.receivedBytes}-`] });
    if (call.method === 'GET') return { status: 200, body: status() };
    if (call.method === 'DELETE') {
      this.sessions.delete(s.id);
      return { status: 204 };
    }
    if (call.method !== 'PUT') throw new GraphReply(405, 'BadRequest', 'Use PUT, GET or DELETE on an upload URL.');
    const range = fragmentRange(req, body);
    if (range.length > MAX_FRAGMENT) throw bad('invalidRange', 'A fragment must be smaller than 60 MiB.');
    if (s.total !== undefined && range.total !== s.total) throw bad('invalidRange', 'The total size in Content-Range changed during the session.');
    s.total = range.total;
    if (range.start < s.receivedBytes) throw new GraphReply(416, 'invalidRange', 'The fragment overlaps bytes already received.');
    if (range.start > s.receivedBytes) throw bad('invalidRange', `Fragments must be uploaded in order: expected byte ${s.receivedBytes}.`);
    const last = range.end + 1 === range.total;
    if (!last && range.length % FRAGMENT_UNIT !== 0) throw bad('invalidRange', 'Fragment sizes must be a multiple of 320 KiB.');
    s.received.push(body);
    s.receivedBytes += body.length;
    if (!last) return { status: 202, body: status() };
    this.sessions.delete(s.id);
    return this.commit(s.drive, s.path, s.conflict, Buffer.concat(s.received));
  }

  private attachmentFragment(req: IncomingMessage, call: GraphCall, s: AttachmentSession, body: Buffer): { status: number; body?: unknown; headers?: Record<string, string> } {
    if (call.method === 'DELETE') {
      this.sessions.delete(s.id);
      return { status: 204 };
    }
    if (call.method !== 'PUT') throw new GraphReply(405, 'BadRequest', 'Use PUT or DELETE on an attachment upload URL.');
    if (req.headers['content-type'] !== 'application/octet-stream') throw bad('ErrorInvalidRequest', 'Content-Type must be application/octet-stream.');
    const range = fragmentRange(req, body);
    if (range.total !== s.size) throw bad('ErrorInvalidRequest', 'The total in Content-Range is not the size given when the session was created.');
    if (range.start !== s.receivedBytes) throw bad('ErrorInvalidRequest', `Upload the bytes in order: expected byte ${s.receivedBytes}.`);
    s.received.push(body);
    s.receivedBytes += body.length;
    if (s.receivedBytes < s.size) return { status: 200, body: { ExpirationDateTime: s.expires, nextExpectedRanges: [String(s.receivedBytes)] } };
    this.sessions.delete(s.id);
    if (s.message.folder !== 'drafts') throw bad('ErrorInvalidRequest', 'The message is no longer a draft.');
    const id = randomBytes(24).toString('base64url');
    s.message.attachments.push({ name: s.name, contentType: s.contentType, bytes: Buffer.concat(s.received), via: 'upload-session' });
    return { status: 201, headers: { Location: `${this.origin}/v1.0/users('${s.message.mailbox}')/messages('${s.message.id}')/attachments('${id}')` } };
  }

  private parseMessage(mailbox: string, raw: unknown, asDraft: boolean): StoredMessage {
    if (!raw || typeof raw !== 'object') throw bad('UnableToDeserializePostBody', 'message is required.');
    const msg = raw as Record<string, unknown>;
    const allowed = ['subject', 'body', 'toRecipients', 'ccRecipients', 'bccRecipients', 'attachments', 'singleValueExtendedProperties', 'importance', 'from', 'replyTo'];
    for (const key of Object.keys(msg)) if (!allowed.includes(key)) throw bad('UnableToDeserializePostBody', `Unknown message property ${key}.`);
    const body = msg.body as { contentType?: unknown; content?: unknown } | undefined;
    if (body !== undefined && (!['html', 'text'].includes(String(body.contentType).toLowerCase()) || typeof body.content !== 'string')) {
      throw bad('UnableToDeserializePostBody', 'body needs contentType (HTML or Text) and content.');
    }
    const to = (msg.toRecipients ?? []) as unknown;
    if (!Array.isArray(to)) throw bad('UnableToDeserializePostBody', 'toRecipients must be a collection.');
    const addresses = to.map((r) => {
      const address = (r as { emailAddress?: { address?: unknown } })?.emailAddress?.address;
      if (typeof address !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(address)) throw bad('ErrorInvalidRecipients', 'At least one recipient is not valid.');
      return address;
    });
    const properties = (msg.singleValueExtendedProperties ?? []) as unknown;
    if (!Array.isArray(properties) || !properties.every((p) => typeof p?.id === 'string' && typeof p?.value === 'string' && /^String \{[0-9a-f-]{36}\} Name \S+$/i.test(p.id))) {
      throw bad('ErrorInvalidExtendedPropertyValue', 'singleValueExtendedProperties must be { id: "String {guid} Name X", value } items.');
    }
    const attachments: StoredAttachment[] = [];
    for (const a of (msg.attachments ?? []) as Record<string, unknown>[]) {
      if (a['@odata.type'] !== '#microsoft.graph.fileAttachment') throw bad('UnableToDeserializePostBody', 'Only #microsoft.graph.fileAttachment is supported here.');
      if (typeof a.name !== 'string' || typeof a.contentBytes !== 'string') throw bad('UnableToDeserializePostBody', 'A file attachment needs name and contentBytes.');
      const bytes = Buffer.from(a.contentBytes, 'base64');
      if (bytes.toString('base64') !== a.contentBytes) throw bad('UnableToDeserializePostBody', 'contentBytes is not valid base64.');
      if (bytes.length >= INLINE_ATTACHMENT_MAX) throw new GraphReply(413, 'ErrorRequestEntityTooLarge', 'Attachments of 3 MB or more need an upload session.');
      attachments.push({ name: a.name, contentType: typeof a.contentType === 'string' ? a.contentType : undefined, bytes, via: 'inline' });
    }
    return {
      id: messageId(), mailbox: mailbox.toLowerCase(), folder: asDraft ? 'drafts' : 'sentitems', subject: String(msg.subject ?? ''),
      body: { contentType: String(body?.contentType ?? 'Text'), content: String(body?.content ?? '') }, to: addresses, attachments, properties: properties as StoredMessage['properties'],
    };
  }

  /** The tenant's message size limit, counted as Exchange does (base64 attachments). */
  private checkSize(message: StoredMessage): void {
    const size = Buffer.byteLength(message.body.content) + message.attachments.reduce((n, a) => n + Math.ceil(a.bytes.length / 3) * 4, 0);
    if (size > this.maxMessageBytes) {
      throw new GraphReply(413, 'ErrorMessageSizeExceeded', `The message exceeds the maximum supported size of ${this.maxMessageBytes} bytes.`);
    }
  }

  private messageOf(mailbox: string, id: string): StoredMessage {
    const message = this.messages.find((msg) => msg.mailbox === mailbox.toLowerCase() && msg.id === id);
    if (!message) throw new GraphReply(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    return message;
  }

  private messageJson(m: StoredMessage): Record<string, unknown> {
    return {
      id: m.id, subject: m.subject, isDraft: m.folder === 'drafts', body: m.body, hasAttachments: m.attachments.length > 0,
      toRecipients: m.to.map((address) => ({ emailAddress: { address } })),
    };
  }
}

function messageId(): string {
  return `AAMkAD${randomBytes(24).toString('base64url')}=`;
}

function expiry(): string {
  return new Date(Date.now() + 3600_000).toISOString();
}

/** Parse and check Content-Range / Content-Length of an upload fragment. */
function fragmentRange(req: IncomingMessage, body: Buffer): { start: number; end: number; total: number; length: number } {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
  if (!m) throw bad('invalidRange', 'Content-Range must be "bytes start-end/total".');
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (end < start || end >= total) throw bad('invalidRange', 'Content-Range is not a range inside the file.');
  const length = end - start + 1;
  if (Number(req.headers['content-length']) !== length || body.length !== length) {
    throw bad('invalidRange', 'Content-Length and the body must match the Content-Range.');
  }
  return { start, end, total, length };
}

/** A short name for the kind of call, for assertions. */
function routeName(method: string, path: string): string {
  if (/^\/upload\/drive\//.test(path)) return `drive-upload-${method}`;
  if (/^\/upload\/outlook\//.test(path)) return `attachment-upload-${method}`;
  if (/:\/content$/.test(path)) return 'put-content';
  if (/:\/createUploadSession$/.test(path)) return 'drive-createUploadSession';
  if (/\/createLink$/.test(path)) return 'createLink';
  if (/\/sendMail$/.test(path)) return 'sendMail';
  if (/\/attachments\/createUploadSession$/.test(path)) return 'attachment-createUploadSession';
  if (/\/messages\/[^/]+\/send$/.test(path)) return 'send';
  if (/\/mailFolders\/[^/]+\/messages$/.test(path)) return 'folder-messages';
  if (/\/users\/[^/]+\/messages$/.test(path)) return 'create-message';
  if (/\/users\/[^/]+\/messages\/[^/]+$/.test(path)) return `message-${method}`;
  return 'unknown';
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.destroy();
        reject(new Error('too large'));
      } else {
        chunks.push(c);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
