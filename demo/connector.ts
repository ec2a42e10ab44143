/**
 * A local Bot Connector service: the "Teams side" of the Bot Framework protocol, over real HTTP, for
 * integration tests, benchmarks and the terminal chat (demo/chat.ts).
 *
 * It plays both halves of what Teams does:
 * - it POSTs activities to the bot's endpoint the way the Teams channel does (message, Action.Execute
 *   invoke, conversationUpdate), with `serviceUrl` pointing back at itself;
 * - it answers the Connector REST calls the bot makes back (send, reply, update, delete, create
 *   conversation, members) and records every one of them for assertions.
 *
 * Written against the wire protocol by hand (node:http + fetch), never through botbuilder, so a test
 * that passes here proves the bot speaks the protocol, not that botbuilder agrees with itself.
 * Reference: https://learn.microsoft.com/en-us/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference
 *
 * Inbound requests carry no Authorization header: the bot under test runs without BOT_ID, where
 * botbuilder treats an unauthenticated channel as anonymous. A bogus token would be rejected.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The attachment content type of an Adaptive Card (and the invoke response type that carries one). */
export const ADAPTIVE_CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';

/** The tenant every simulated user belongs to unless a test says otherwise. */
export const DEFAULT_TENANT_ID = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';

/** Request bodies above this are refused with 413: a safety cap, not Teams' (smaller) message limit. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** A waitFor timeout lists at most this many of the latest calls, so a long suite's error stays readable. */
const MAX_LISTED_CALLS = 40;

export type ConversationType = 'personal' | 'groupChat' | 'channel';

/** A channel account as Teams puts it in `from`, `recipient` and `membersAdded`. */
export interface ChannelAccount {
  id: string;
  name?: string;
  aadObjectId?: string;
  [key: string]: unknown;
}

/** An attachment as the bot sends it. Not validated: fields may be missing if the bot is wrong. */
export interface AttachmentJson {
  contentType?: string;
  content?: unknown;
  contentUrl?: string;
  name?: string;
  [key: string]: unknown;
}

/**
 * A parsed request body the bot sent (an activity, or ConversationParameters for create). Only its
 * being a JSON object is checked; the named fields are typed for convenience, not guaranteed.
 */
export interface ActivityJson {
  type?: string;
  id?: string;
  text?: string;
  replyToId?: string;
  attachments?: AttachmentJson[];
  conversation?: { id?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** An activity as this connector sends it to the bot (the Teams shape). */
export interface InboundActivity {
  type: string;
  id: string;
  timestamp: string;
  serviceUrl: string;
  channelId: 'msteams';
  from: ChannelAccount;
  recipient: ChannelAccount;
  conversation: { id: string; conversationType: ConversationType; tenantId: string; isGroup?: boolean };
  locale: string;
  channelData: { tenant: { id: string }; [key: string]: unknown };
  [key: string]: unknown;
}

/** Which Connector operation a recorded call hit; `unknown` for a route this service does not have. */
export type ConnectorRoute =
  | 'send' | 'reply' | 'update' | 'delete' | 'createConversation'
  | 'getMembers' | 'getMember' | 'getPagedMembers' | 'unknown';

/** One HTTP call the bot made to this connector, as answered. */
export interface ConnectorCall {
  /** 1-based order of arrival. */
  seq: number;
  route: ConnectorRoute;
  method: string;
  /** The request path as sent (still URL-encoded, with any query string). */
  path: string;
  /** Decoded from the path; for createConversation, the conversation that was created or found. */
  conversationId?: string;
  /**
   * The activity this call is about: for send and reply the id this connector assigned to the new
   * activity; for update and delete the id in the path. Pass it as `replyToId` to act on that card.
   */
  activityId?: string;
  /** For reply: the activity being replied to (the path's id). */
  replyToId?: string;
  /** The parsed body, when there was one and it was a JSON object. */
  activity?: ActivityJson;
  /** The HTTP status this connector answered with (fault-injected calls keep theirs). */
  status: number;
  at: number;
  headers: { authorization?: string };
}

/** A member of a conversation as Teams' GET members returns it. */
export interface TeamsMember {
  id: string;
  name: string;
  aadObjectId: string;
  givenName: string;
  surname: string;
  email: string;
  userPrincipalName: string;
  tenantId: string;
  userRole: 'user';
}

/** Options for {@link LocalConnector.user}; everything has a default. */
export interface UserOptions {
  /** Default: a fresh random GUID per call. The bot's key for "who is this". */
  aadObjectId?: string;
  /** Default 'Alex Wilber'. */
  name?: string;
  /** Default derived from the name, e.g. alex.wilber@contoso.onmicrosoft.com. */
  upn?: string;
  /** Default: a fresh Teams-shaped id per call (`a:1…` for personal chats). */
  conversationId?: string;
  tenantId?: string;
  conversationType?: ConversationType;
}

/** The ids one {@link ChatUser} uses. */
export interface ChatReference {
  conversationId: string;
  conversationType: ConversationType;
  tenantId: string;
  /** The Teams user id (`29:…`), stable per aadObjectId. */
  userId: string;
  aadObjectId: string;
  name: string;
  upn: string;
  /** The bot's channel id (`28:…`). */
  botId: string;
  botName: string;
  serviceUrl: string;
}

/** What the bot answered to a POST: status and the parsed body (JSON if it parses, else text, else undefined). */
export interface BotResponse {
  status: number;
  body: unknown;
}

/** {@link BotResponse} for an activity this connector built, with that activity's id. */
export interface SentActivity extends BotResponse {
  activityId: string;
}

/**
 * The body of an Adaptive Card Universal Action invoke response. Typed for convenience, not
 * validated: a broken bot can answer anything.
 */
export interface AdaptiveCardInvokeResponse {
  statusCode?: number;
  type?: string;
  value?: unknown;
}

/** {@link SentActivity} for an invoke. */
export interface InvokeResult extends SentActivity {
  body: AdaptiveCardInvokeResponse | undefined;
}

/** Filter for {@link LocalConnector.activities}. */
export interface ActivityFilter {
  conversationId?: string;
  /** Only calls recorded at or after this `Date.now()` value. */
  since?: number;
  /** Only activities of this type; `typing` is excluded unless asked for here. */
  type?: string;
}

/** Options for {@link LocalConnector.start}. */
export interface ConnectorOptions {
  /** Default 0: any free port. Always on 127.0.0.1. */
  port?: number;
  /** The bot's app id; the recipient is `28:<botAppId>`. Default 'bot-id'. */
  botAppId?: string;
  /** Default 'Report Bot'. */
  botName?: string;
  /** How long a POST to the bot may take before it fails. Default 30 s. */
  requestTimeoutMs?: number;
  /**
   * Throttle like Teams does: sends, replies and updates over these rates (in any one-second
   * window, per conversation and per tenant) are answered 429 TooManyRequests and not delivered.
   * Off by default.
   */
  limits?: ConnectorLimits;
}

/** Rate limits the connector enforces when asked to ({@link ConnectorOptions.limits}). */
export interface ConnectorLimits {
  perConversationPerSecond?: number;
  perTenantPerSecond?: number;
  /** Sent as Retry-After on a throttled call; omitted when undefined (Teams does not promise one). */
  retryAfterSeconds?: number;
}

/** Options for {@link LocalConnector.waitFor}. */
export interface WaitOptions {
  /** Also match calls this connector refused (fault injection, 4xx). Default false. */
  includeFailed?: boolean;
  /** What is being waited for, for the timeout message. Default: the predicate's source. */
  label?: string;
}

type Listener = (call: ConnectorCall) => void;

interface Fault {
  status: number;
  remaining: number;
  retryAfterSeconds?: number;
}

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const ERROR_CODES: Record<number, string> = {
  400: 'BadArgument', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed',
  412: 'PreconditionFailed', 413: 'MessageSizeTooBig', 429: 'TooManyRequests', 500: 'InternalServerError',
  502: 'BadGateway', 503: 'ServiceUnavailable', 504: 'GatewayTimeout',
};

function teamsUserId(aadObjectId: string): string {
  // Teams' 29: id is stable per user (per bot), so the same person in two chats keeps one id.
  return `29:1${createHash('sha256').update(aadObjectId).digest('base64url').slice(0, 40)}`;
}

function newConversationId(type: ConversationType): string {
  if (type === 'personal') return `a:1${randomBytes(30).toString('base64url')}`;
  return `19:${randomBytes(16).toString('hex')}@thread.${type === 'channel' ? 'tacv2' : 'v2'}`;
}

function defaultUpn(name: string): string {
  const local = name.trim().toLowerCase().replace(/[^a-z0-9]+/g, '.').replace(/^\.+|\.+$/g, '') || 'user';
  return `${local}@contoso.onmicrosoft.com`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse a response body: JSON if it parses, the text if not, undefined when empty. */
function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function describeCall(c: ConnectorCall): string {
  const a = c.activity;
  let what = '';
  if (a) {
    what = ` type=${a.type ?? '?'}`;
    if (typeof a.text === 'string') what += ` text=${JSON.stringify(a.text.length > 80 ? `${a.text.slice(0, 80)}…` : a.text)}`;
    const card = cardOf(a);
    if (card) what += ` card=${JSON.stringify(cardText(card).split('\n')[0]?.slice(0, 60) ?? '')}`;
  }
  return `#${c.seq} ${c.method} ${c.path} → ${c.status} [${c.route}]${c.activityId ? ` activityId=${c.activityId}` : ''}${what}`;
}

/**
 * The first Adaptive Card in an activity's attachments (its `content`), or undefined. Also accepts an
 * invoke response body (`{ type: 'application/vnd.microsoft.card.adaptive', value }`) and returns its value.
 */
export function cardOf(activity: unknown): Record<string, unknown> | undefined {
  if (!isObject(activity)) return undefined;
  if (activity.type === ADAPTIVE_CARD_CONTENT_TYPE && isObject(activity.value)) return activity.value;
  if (!Array.isArray(activity.attachments)) return undefined;
  for (const att of activity.attachments as unknown[]) {
    if (isObject(att) && att.contentType === ADAPTIVE_CARD_CONTENT_TYPE && isObject(att.content)) return att.content;
  }
  return undefined;
}

function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

/** Action data as `key=value` pairs, quoted the way the chat's `/do` (and the bot's `run`) parse them. */
function describeData(data: unknown): string {
  if (!isObject(data)) return '';
  return Object.entries(data)
    .map(([k, v]) => {
      const s = str(v);
      if (s !== '' && !/[\s"']/.test(s)) return `${k}=${s}`;
      // The parser takes "…" or '…' with no escapes; JSON is the last resort for a value with both.
      return `${k}=${!s.includes('"') ? `"${s}"` : !s.includes("'") ? `'${s}'` : JSON.stringify(s)}`;
    })
    .join(' ');
}

function renderActions(actions: unknown, out: string[], indent: string): void {
  if (!Array.isArray(actions)) return;
  for (const a of actions as unknown[]) {
    if (!isObject(a) || a.isVisible === false) continue;
    const title = str(a.title) || str(a.tooltip) || '(untitled)';
    switch (a.type) {
      case 'Action.Execute':
      case 'Action.Submit': {
        const target = a.type === 'Action.Execute' ? str(a.verb) || '(no verb)' : 'submit';
        const data = describeData(a.data);
        out.push(`${indent}(${title} → ${target}${data ? ` ${data}` : ''})`);
        break;
      }
      case 'Action.OpenUrl':
        out.push(`${indent}(${title} → ${str(a.url)})`);
        break;
      case 'Action.ShowCard':
        out.push(`${indent}(${title} ▸)`);
        if (isObject(a.card)) renderCard(a.card, out, `${indent}    `);
        break;
      default:
        out.push(`${indent}(${title} → ${str(a.type)})`);
    }
  }
}

function renderInput(e: Record<string, unknown>, out: string[], indent: string): void {
  const label = str(e.label) || (e.type === 'Input.Toggle' ? '' : str(e.title));
  const required = e.isRequired === true || e.isRequired === 'true' ? '*' : '';
  const prefix = `${indent}${label ? `${label}${required}: ` : ''}`;
  const value = str(e.value);
  const id = str(e.id) || '(no id)';
  switch (e.type) {
    case 'Input.ChoiceSet': {
      const choices = Array.isArray(e.choices) ? (e.choices as unknown[]).filter(isObject) : [];
      const chosen = choices.find((c) => str(c.value) === value);
      const shown = value === '' ? `<${str(e.placeholder) || 'choose'}>` : chosen ? `${str(chosen.title)} (${value})` : value;
      out.push(`${prefix}[input ${id}: ${shown}]`);
      if (choices.length) out.push(`${indent}  choices: ${choices.map((c) => `${str(c.title)}=${str(c.value)}`).join(', ')}`);
      break;
    }
    case 'Input.Toggle': {
      const on = value === (str(e.valueOn) || 'true');
      out.push(`${prefix}[input ${id}: ${on ? 'on' : 'off'}] ${str(e.title)}`.trimEnd());
      break;
    }
    default:
      out.push(`${prefix}[input ${id}: ${value !== '' ? value : str(e.placeholder) ? `<${str(e.placeholder)}>` : ''}]`);
  }
}

function renderElements(elements: unknown, out: string[], indent: string): void {
  if (!Array.isArray(elements)) return;
  for (const e of elements as unknown[]) {
    if (!isObject(e) || e.isVisible === false) continue;
    const type = str(e.type);
    if (type.startsWith('Input.')) {
      renderInput(e, out, indent);
      continue;
    }
    switch (type) {
      case 'TextBlock':
        if (str(e.text)) out.push(`${indent}${str(e.text)}`);
        break;
      case 'RichTextBlock':
        out.push(`${indent}${(Array.isArray(e.inlines) ? (e.inlines as unknown[]) : []).map((i) => (isObject(i) ? str(i.text) : str(i))).join('')}`);
        break;
      case 'FactSet':
        for (const f of Array.isArray(e.facts) ? (e.facts as unknown[]) : []) {
          if (isObject(f)) out.push(`${indent}${str(f.title)}: ${str(f.value)}`);
        }
        break;
      case 'Container':
        renderElements(e.items, out, indent);
        break;
      case 'ColumnSet':
        for (const col of Array.isArray(e.columns) ? (e.columns as unknown[]) : []) {
          if (isObject(col) && col.isVisible !== false) renderElements(col.items, out, indent);
        }
        break;
      case 'Table':
        for (const row of Array.isArray(e.rows) ? (e.rows as unknown[]) : []) {
          if (!isObject(row) || !Array.isArray(row.cells)) continue;
          const cells = (row.cells as unknown[]).map((cell) => {
            const parts: string[] = [];
            if (isObject(cell)) renderElements(cell.items, parts, '');
            return parts.join(' ');
          });
          out.push(`${indent}| ${cells.join(' | ')} |`);
        }
        break;
      case 'ActionSet':
        renderActions(e.actions, out, indent);
        break;
      case 'Image':
        out.push(`${indent}[image ${str(e.altText) || str(e.url)}]`);
        break;
      default:
        out.push(`${indent}[${type || 'element'}]`);
    }
  }
}

function renderCard(card: Record<string, unknown>, out: string[], indent: string): void {
  renderElements(card.body, out, indent);
  renderActions(card.actions, out, indent);
}

/**
 * A plain-text rendering of an Adaptive Card, roughly what a person sees: TextBlocks as lines, facts
 * as `title: value`, inputs as `Label*: [input id: value]` (`<placeholder>` when empty, choices listed
 * as `title=value`), actions as `(title → verb key=value …)` or `(title → url)`. Hidden elements are
 * left out. For the terminal chat, and for tests that assert on what the user would read.
 */
export function cardText(card: unknown): string {
  if (!isObject(card)) return '';
  const out: string[] = [];
  renderCard(card, out, '');
  return out.join('\n');
}

function findExecute(card: Record<string, unknown>, verb: string): Record<string, unknown> | undefined {
  const fromActions = (actions: unknown): Record<string, unknown> | undefined => {
    for (const a of Array.isArray(actions) ? (actions as unknown[]) : []) {
      if (!isObject(a)) continue;
      if (a.type === 'Action.Execute' && a.verb === verb) return a;
      if (a.type === 'Action.ShowCard' && isObject(a.card)) {
        const inner = findExecute(a.card, verb);
        if (inner) return inner;
      }
    }
    return undefined;
  };
  const fromElements = (elements: unknown): Record<string, unknown> | undefined => {
    for (const e of Array.isArray(elements) ? (elements as unknown[]) : []) {
      if (!isObject(e)) continue;
      const found = e.type === 'ActionSet' ? fromActions(e.actions)
        : fromElements(e.items) ?? fromElements(e.columns)
          ?? (Array.isArray(e.rows) ? fromElements((e.rows as unknown[]).flatMap((r) => (isObject(r) && Array.isArray(r.cells) ? r.cells as unknown[] : []))) : undefined);
      if (found) return found;
    }
    return undefined;
  };
  return fromActions(card.actions) ?? fromElements(card.body);
}

function collectInputs(elements: unknown, out: Record<string, string>): void {
  for (const e of Array.isArray(elements) ? (elements as unknown[]) : []) {
    if (!isObject(e)) continue;
    const type = str(e.type);
    if (type.startsWith('Input.') && str(e.id)) {
      if (type === 'Input.Toggle') {
        const on = str(e.valueOn) || 'true';
        out[str(e.id)] = str(e.value) === on ? on : str(e.valueOff) || 'false';
      } else if (str(e.value) !== '') {
        out[str(e.id)] = str(e.value);
      }
    }
    collectInputs(e.items, out);
    collectInputs(e.columns, out);
    if (Array.isArray(e.rows)) for (const r of e.rows as unknown[]) if (isObject(r)) collectInputs(r.cells, out);
  }
}

/**
 * The `data` Teams sends when the user presses the Action.Execute button with `verb` on `card`
 * after setting `values`: the card's current input values (unless the action's associatedInputs is
 * 'none'; empty inputs left out, toggles as valueOn/valueOff), then the action's own data, then
 * `values`. Undefined when the card has no such button. Input values are strings, as Teams sends them.
 */
export function executeData(card: unknown, verb: string, values: Record<string, string> = {}): Record<string, unknown> | undefined {
  if (!isObject(card)) return undefined;
  const action = findExecute(card, verb);
  if (!action) return undefined;
  const inputs: Record<string, string> = {};
  if (action.associatedInputs !== 'none') collectInputs(card.body, inputs);
  return { ...inputs, ...(isObject(action.data) ? action.data : {}), ...values };
}

/**
 * One simulated Teams user in one conversation. Get one from {@link LocalConnector.user}.
 * Every method takes the bot's messaging endpoint, e.g. `http://127.0.0.1:3978/api/messages`.
 */
export class ChatUser {
  /** The ids this user and conversation use. */
  readonly reference: ChatReference;
  private readonly connector: LocalConnector;
  private readonly timeoutMs: number;

  /** @internal Use {@link LocalConnector.user}. */
  constructor(connector: LocalConnector, reference: ChatReference, timeoutMs: number) {
    this.connector = connector;
    this.reference = reference;
    this.timeoutMs = timeoutMs;
  }

  /** The envelope Teams puts on every activity from this user in this conversation. */
  activity(type: string, extra: Partial<InboundActivity> = {}): InboundActivity {
    const r = this.reference;
    return {
      type,
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      serviceUrl: r.serviceUrl,
      channelId: 'msteams',
      from: { id: r.userId, name: r.name, aadObjectId: r.aadObjectId },
      recipient: { id: r.botId, name: r.botName },
      conversation: {
        id: r.conversationId,
        conversationType: r.conversationType,
        tenantId: r.tenantId,
        ...(r.conversationType === 'personal' ? {} : { isGroup: true }),
      },
      locale: 'en-US',
      channelData: { tenant: { id: r.tenantId } },
      ...extra,
    };
  }

  /** Send a chat message; `extra` is merged over the activity (shallow). */
  async say(botEndpoint: string, text: string, extra: Partial<InboundActivity> = {}): Promise<SentActivity> {
    const activity = this.activity('message', { text, textFormat: 'plain', ...extra });
    return { ...(await this.send(botEndpoint, activity)), activityId: activity.id };
  }

  /**
   * Press an Action.Execute button, as Teams does: an `adaptiveCard/action` invoke. `replyToId` is
   * the id of the message that holds the card (Teams always sends it; the bot uses it to update the card).
   */
  async invokeAction(
    botEndpoint: string,
    action: { verb: string; data?: Record<string, unknown> },
    replyToId?: string,
    opts: { trigger?: 'manual' | 'automatic' } = {},
  ): Promise<InvokeResult> {
    const activity = this.activity('invoke', {
      name: 'adaptiveCard/action',
      // `automatic` is how Teams sends a card's refresh action when a listed user views the card.
      value: { action: { type: 'Action.Execute', verb: action.verb, data: action.data ?? {} }, trigger: opts.trigger ?? 'manual' },
      ...(replyToId ? { replyToId } : {}),
      channelData: { tenant: { id: this.reference.tenantId }, source: { name: 'message' } },
    });
    const res = await this.send(botEndpoint, activity);
    return { status: res.status, body: isObject(res.body) ? (res.body as AdaptiveCardInvokeResponse) : undefined, activityId: activity.id };
  }

  /**
   * Type into a typeahead (Input.ChoiceSet with `choices.data` of type Data.Query), as Teams does: an
   * `application/search` invoke with the dataset, the text so far, paging, and (with
   * `associatedInputs: auto`) the card's other input values in `data`.
   */
  async invokeSearch(
    botEndpoint: string,
    search: { dataset: string; queryText: string; data?: Record<string, unknown>; top?: number; skip?: number },
    replyToId?: string,
  ): Promise<InvokeResult> {
    const activity = this.activity('invoke', {
      name: 'application/search',
      value: {
        queryText: search.queryText,
        queryOptions: { skip: search.skip ?? 0, top: search.top ?? 15 },
        dataset: search.dataset,
        ...(search.data ? { data: search.data } : {}),
      },
      ...(replyToId ? { replyToId } : {}),
    });
    const res = await this.send(botEndpoint, activity);
    return { status: res.status, body: isObject(res.body) ? (res.body as AdaptiveCardInvokeResponse) : undefined, activityId: activity.id };
  }

  /**
   * A message that @mentions the bot, as in a channel or group chat: the text starts with
   * `<at>Bot name</at>` and a mention entity names the bot.
   */
  async sayToBot(botEndpoint: string, text: string): Promise<SentActivity> {
    const r = this.reference;
    const mention = `<at>${r.botName}</at>`;
    return this.say(botEndpoint, `${mention} ${text}`, {
      entities: [{ type: 'mention', text: mention, mentioned: { id: r.botId, name: r.botName } }],
    });
  }

  /** The installation event: membersAdded with the bot and this user. Returns the bot's HTTP status. */
  async conversationUpdate(botEndpoint: string): Promise<number> {
    const r = this.reference;
    const activity = this.activity('conversationUpdate', {
      membersAdded: [{ id: r.botId }, { id: r.userId, aadObjectId: r.aadObjectId }],
    });
    return (await this.send(botEndpoint, activity)).status;
  }

  /** POST any JSON body as is (no envelope added): for malformed-activity tests. */
  send(botEndpoint: string, activity: unknown, headers: Record<string, string> = {}): Promise<BotResponse> {
    return this.postRaw(botEndpoint, JSON.stringify(activity), { 'content-type': 'application/json', ...headers });
  }

  /** POST raw bytes: for oversized, truncated or non-JSON bodies. Sends no content-type unless given. */
  async postRaw(botEndpoint: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<BotResponse> {
    let res: Response;
    try {
      res = await fetch(botEndpoint, { method: 'POST', body, headers, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : ((err as { cause?: Error }).cause?.message ?? (err as Error).message);
      throw new Error(`POST ${botEndpoint} failed: ${reason}`, { cause: err });
    }
    return { status: res.status, body: parseBody(await res.text()) };
  }

  /** {@link LocalConnector.activities} for this user's conversation. */
  activities(filter: Omit<ActivityFilter, 'conversationId'> = {}): ConnectorCall[] {
    return this.connector.activities({ ...filter, conversationId: this.reference.conversationId });
  }

  /** {@link LocalConnector.waitFor} limited to this user's conversation. */
  waitFor(predicate: (call: ConnectorCall) => boolean, timeoutMs = 10_000, opts: WaitOptions = {}): Promise<ConnectorCall> {
    const conversationId = this.reference.conversationId;
    const label = `${opts.label ?? String(predicate)} in conversation ${conversationId}`;
    return this.connector.waitFor((c) => c.conversationId === conversationId && predicate(c), timeoutMs, { ...opts, label });
  }
}

/**
 * The local Bot Connector service. `start()` it, point the bot at nothing (the bot learns this
 * service's URL from each activity's `serviceUrl`), drive it through {@link ChatUser}s, then assert
 * on the recorded calls and `close()` it.
 */
export class LocalConnector {
  /** The serviceUrl: `http://127.0.0.1:<port>/`, with the trailing slash Teams' URLs have. */
  readonly url: string;
  private readonly server: Server;
  private readonly botAppId: string;
  private readonly botName: string;
  private readonly timeoutMs: number;
  private readonly recorded: ConnectorCall[] = [];
  private readonly listeners = new Set<Listener>();
  private readonly members = new Map<string, { type: ConversationType; members: TeamsMember[] }>();
  private readonly waiters = new Set<(err: Error) => void>();
  private fault: Fault | undefined;
  private readonly limits: ConnectorLimits | undefined;
  /** Times of accepted sends, replies and updates per conversation and per tenant (for `limits`). */
  private readonly recent = new Map<string, number[]>();
  private seq = 0;
  private closing: Promise<void> | undefined;

  private constructor(server: Server, url: string, opts: ConnectorOptions) {
    this.server = server;
    this.url = url;
    this.botAppId = opts.botAppId ?? 'bot-id';
    this.botName = opts.botName ?? 'Report Bot';
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.limits = opts.limits;
  }

  /** Start listening on 127.0.0.1 (port 0 = any free port). */
  static async start(opts: ConnectorOptions = {}): Promise<LocalConnector> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const connector = new LocalConnector(server, `http://127.0.0.1:${port}/`, opts);
    server.on('request', (req, res) => void connector.handle(req, res));
    return connector;
  }

  /** Stop listening, drop open connections and reject pending `waitFor`s. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const reject of this.waiters) reject(new Error('the connector was closed while waiting'));
      this.server.close(() => resolve());
      // The bot's HTTP client keeps connections alive; without this close() would wait on them.
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  /**
   * A handle for one user in one conversation. Defaults: a fresh aadObjectId and conversation per
   * call, name 'Alex Wilber', a personal chat. The user becomes a member of the conversation (for
   * GET members), so several users may share a group conversation id.
   */
  user(opts: UserOptions = {}): ChatUser {
    const name = opts.name ?? 'Alex Wilber';
    const aadObjectId = opts.aadObjectId ?? randomUUID();
    const conversationType = opts.conversationType ?? 'personal';
    const reference: ChatReference = {
      conversationId: opts.conversationId ?? newConversationId(conversationType),
      conversationType,
      tenantId: opts.tenantId ?? DEFAULT_TENANT_ID,
      userId: teamsUserId(aadObjectId),
      aadObjectId,
      name,
      upn: opts.upn ?? defaultUpn(name),
      botId: `28:${this.botAppId}`,
      botName: this.botName,
      serviceUrl: this.url,
    };
    const [givenName = '', ...rest] = name.split(/\s+/);
    const member: TeamsMember = {
      id: reference.userId,
      name,
      aadObjectId,
      givenName,
      surname: rest.join(' '),
      email: reference.upn,
      userPrincipalName: reference.upn,
      tenantId: reference.tenantId,
      userRole: 'user',
    };
    const conv = this.members.get(reference.conversationId) ?? { type: conversationType, members: [] };
    if (!conv.members.some((m) => m.aadObjectId === aadObjectId)) conv.members.push(member);
    this.members.set(reference.conversationId, conv);
    return new ChatUser(this, reference, this.timeoutMs);
  }

  /**
   * Every call recorded so far, in the order they were answered (`seq` is the order of arrival),
   * including typing, refused calls and unknown routes.
   */
  get calls(): readonly ConnectorCall[] {
    return this.recorded;
  }

  /**
   * Activities the bot delivered (send, reply, update answered 2xx), in order. Typing is left out
   * unless `filter.type` is 'typing'; fault-injected attempts are left out (see {@link calls}).
   */
  activities(filter: ActivityFilter = {}): ConnectorCall[] {
    return this.recorded.filter((c) =>
      (c.route === 'send' || c.route === 'reply' || c.route === 'update')
      && c.status < 400
      && (filter.conversationId === undefined || c.conversationId === filter.conversationId)
      && (filter.since === undefined || c.at >= filter.since)
      && (filter.type === undefined ? c.activity?.type !== 'typing' : c.activity?.type === filter.type));
  }

  /**
   * The first call, already recorded or still to come, that matches. Calls this connector refused
   * are skipped unless `opts.includeFailed`, so a fault-injected attempt cannot satisfy a test that
   * is really waiting for the retry. Rejects after `timeoutMs` with the predicate and every recorded call.
   */
  waitFor(predicate: (call: ConnectorCall) => boolean, timeoutMs = 10_000, opts: WaitOptions = {}): Promise<ConnectorCall> {
    const matches = (c: ConnectorCall) => (opts.includeFailed === true || c.status < 400) && predicate(c);
    try {
      const past = this.recorded.find(matches);
      if (past) return Promise.resolve(past);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<ConnectorCall>((resolve, reject) => {
      const finish = (err: Error | undefined, call?: ConnectorCall) => {
        clearTimeout(timer);
        unsubscribe();
        this.waiters.delete(fail);
        if (err) reject(err);
        else resolve(call as ConnectorCall);
      };
      const fail = (err: Error) => finish(err);
      const timer = setTimeout(() => {
        const src = (opts.label ?? String(predicate)).replace(/\s+/g, ' ');
        const shown = this.recorded.slice(-MAX_LISTED_CALLS);
        const omitted = this.recorded.length - shown.length;
        const seen = this.recorded.length
          ? `Recorded calls${omitted ? ` (last ${shown.length}; ${omitted} earlier left out)` : ''}:\n${shown.map((c) => `  ${describeCall(c)}`).join('\n')}`
          : `Nothing was recorded: did the bot get ${this.url} as serviceUrl?`;
        finish(new Error(`waitFor: no connector call matched within ${timeoutMs} ms (waiting for: ${src.length > 300 ? `${src.slice(0, 300)}…` : src}). ${seen}`));
      }, timeoutMs);
      const unsubscribe = this.onCall((c) => {
        let ok: boolean;
        try {
          ok = matches(c);
        } catch (err) {
          finish(err as Error);
          return;
        }
        if (ok) finish(undefined, c);
      });
      this.waiters.add(fail);
    });
  }

  /** Be told about each call as it is recorded (after it is answered). Returns the unsubscribe function. */
  onCall(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Answer the next `times` send, reply and update calls with `status` (and a Retry-After header when
   * `retryAfterSeconds` is given), as Teams does when throttling. Replaces any fault still pending.
   */
  failNext(status: number, times = 1, retryAfterSeconds?: number): void {
    if (!Number.isInteger(status) || status < 400 || status > 599) throw new RangeError(`failNext needs an HTTP error status (400-599), got ${status}`);
    this.fault = times > 0 ? { status, remaining: times, retryAfterSeconds } : undefined;
  }

  /** Forget recorded calls (long benchmarks); members and pending faults stay. */
  clear(): void {
    this.recorded.length = 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    const call: ConnectorCall = {
      seq: ++this.seq,
      route: 'unknown',
      method: req.method ?? 'GET',
      path,
      status: 500,
      at: Date.now(),
      headers: req.headers.authorization ? { authorization: req.headers.authorization } : {},
    };
    let status = 500;
    let payload: unknown;
    const extraHeaders: Record<string, string> = {};
    try {
      ({ status, payload } = await this.route(req, call, extraHeaders));
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        payload = { error: { code: err.code, message: err.message } };
      } else {
        status = 500;
        payload = { error: { code: 'InternalServerError', message: (err as Error).message } };
      }
    }
    call.status = status;
    const body = payload === undefined ? '' : JSON.stringify(payload);
    res.writeHead(status, {
      ...extraHeaders,
      ...(body ? { 'content-type': 'application/json; charset=utf-8' } : {}),
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
    this.recorded.push(call);
    for (const listener of [...this.listeners]) {
      try {
        listener(call);
      } catch {
        // A throwing listener must not break the connector or the other listeners.
      }
    }
  }

  private async route(
    req: IncomingMessage, call: ConnectorCall, headers: Record<string, string>,
  ): Promise<{ status: number; payload: unknown }> {
    // The serviceUrl ends in '/', so a client that joins with another '/' sends '//v3/…'.
    const raw = call.path.split('?')[0].replace(/^\/+/, '');
    let segs: string[];
    try {
      segs = raw.split('/').map((s) => decodeURIComponent(s));
    } catch {
      throw new HttpError(400, 'BadArgument', `malformed URL encoding in ${call.path}`);
    }
    const method = call.method;
    const notFound = () => new HttpError(404, 'NotFound', `no Connector route ${method} ${call.path}`);
    if (segs[0] !== 'v3' || segs[1] !== 'conversations') throw notFound();

    const allow = (...methods: string[]) => {
      if (!methods.includes(method)) {
        headers.allow = methods.join(', ');
        throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported on ${call.path}`);
      }
    };

    if (segs.length === 2) {
      allow('POST');
      call.route = 'createConversation';
      return this.createConversation(await this.readObject(req, call), call);
    }
    const conversationId = segs[2];
    if (!conversationId) throw notFound();
    call.conversationId = conversationId;
    const [, , , collection, id, ...more] = segs;
    if (more.length || id === '') throw notFound();

    if (collection === 'activities') {
      if (id === undefined) {
        allow('POST');
        call.route = 'send';
      } else {
        allow('POST', 'PUT', 'DELETE');
        call.route = method === 'POST' ? 'reply' : method === 'PUT' ? 'update' : 'delete';
        if (call.route === 'reply') call.replyToId = id;
        else call.activityId = id;
      }
      if (call.route === 'delete') {
        await this.readBody(req);
        return { status: 200, payload: undefined };
      }
      await this.readObject(req, call);
      this.injectFault(headers);
      this.throttle(conversationId, headers);
      if (call.route === 'update') return { status: 200, payload: { id } };
      call.activityId = randomUUID();
      return { status: 201, payload: { id: call.activityId } };
    }

    if (collection === 'members' || collection === 'pagedmembers') {
      allow('GET');
      await this.readBody(req);
      if (collection === 'pagedmembers' && id !== undefined) throw notFound();
      call.route = collection === 'pagedmembers' ? 'getPagedMembers' : id === undefined ? 'getMembers' : 'getMember';
      const conv = this.members.get(conversationId);
      if (!conv) throw new HttpError(404, 'ConversationNotFound', `conversation ${conversationId} is not known to this connector`);
      if (call.route === 'getPagedMembers') return { status: 200, payload: { members: conv.members } };
      if (id === undefined) return { status: 200, payload: conv.members };
      // Teams resolves a member by its 29: id, its AAD object id or its UPN.
      const member = conv.members.find((m) => m.id === id || m.aadObjectId === id || m.userPrincipalName.toLowerCase() === id.toLowerCase());
      if (!member) throw new HttpError(404, 'MemberNotFoundInConversation', `${id} is not a member of ${conversationId}`);
      return { status: 200, payload: member };
    }
    throw notFound();
  }

  /** The fault, if one is pending, thrown as the answer to this call. */
  private injectFault(headers: Record<string, string>): void {
    const f = this.fault;
    if (!f) return;
    if (--f.remaining <= 0) this.fault = undefined;
    if (f.retryAfterSeconds !== undefined) headers['retry-after'] = String(f.retryAfterSeconds);
    throw new HttpError(f.status, ERROR_CODES[f.status] ?? 'ServiceError', `injected failure (failNext ${f.status})`);
  }

  /** Teams' throttling, when `limits` asks for it: over the rate, 429 and nothing delivered. */
  private throttle(conversationId: string, headers: Record<string, string>): void {
    const l = this.limits;
    if (!l) return;
    // A channel thread (`19:…;messageid=…`) counts against its channel.
    const conversation = conversationId.split(';')[0];
    const tenant = this.members.get(conversationId)?.members[0]?.tenantId ?? DEFAULT_TENANT_ID;
    const now = Date.now();
    const windows: [string, number | undefined][] = [[`conversation:${conversation}`, l.perConversationPerSecond], [`tenant:${tenant}`, l.perTenantPerSecond]];
    for (const [key, limit] of windows) {
      if (limit === undefined) continue;
      const times = (this.recent.get(key) ?? []).filter((t) => t > now - 1000);
      this.recent.set(key, times);
      if (times.length >= limit) {
        if (l.retryAfterSeconds !== undefined) headers['retry-after'] = String(l.retryAfterSeconds);
        throw new HttpError(429, 'TooManyRequests', `too many requests for ${key.split(':')[0]} ${key.slice(key.indexOf(':') + 1)} (limit ${limit} a second)`);
      }
    }
    for (const [key, limit] of windows) if (limit !== undefined) this.recent.get(key)!.push(now);
  }

  private createConversation(params: ActivityJson, call: ConnectorCall): { status: number; payload: unknown } {
    const members = Array.isArray(params.members) ? (params.members as unknown[]).filter(isObject) : [];
    const wanted = members.map((m) => str(m.id)).filter(Boolean);
    const isGroup = params.isGroup === true;
    // Teams needs the tenant (top-level tenantId or channelData.tenant.id) and, for a chat, whom it is with.
    const channelData = isObject(params.channelData) ? params.channelData : {};
    const tenantId = str(isObject(channelData.tenant) ? channelData.tenant.id : '') || str(params.tenantId);
    if (!tenantId) throw new HttpError(400, 'BadSyntax', 'Could not parse tenant id');
    if (wanted.length === 0) throw new HttpError(400, 'BadSyntax', 'Incorrect conversation creation parameters');
    // Teams answers a 1:1 create with the user's existing personal chat, so proactive code that
    // "creates" a conversation lands in the same chat the user sees.
    if (!isGroup && wanted.length === 1) {
      for (const [id, conv] of this.members) {
        if (conv.type === 'personal' && conv.members.some((m) => m.id === wanted[0] || m.aadObjectId === wanted[0])) {
          return this.created(id, params, call);
        }
      }
    }
    const type: ConversationType = isGroup ? 'groupChat' : 'personal';
    const id = newConversationId(type);
    this.members.set(id, {
      type,
      members: members.map((m) => ({
        id: str(m.id),
        name: str(m.name),
        aadObjectId: str(m.aadObjectId),
        givenName: '',
        surname: '',
        email: '',
        userPrincipalName: '',
        tenantId,
        userRole: 'user' as const,
      })),
    });
    return this.created(id, params, call);
  }

  private created(conversationId: string, params: ActivityJson, call: ConnectorCall): { status: number; payload: unknown } {
    // ConversationParameters.activity, when present, is posted into the new conversation.
    const activityId = isObject(params.activity) ? randomUUID() : undefined;
    call.conversationId = conversationId;
    call.activityId = activityId;
    return { status: 201, payload: { id: conversationId, ...(activityId ? { activityId } : {}), serviceUrl: this.url } };
  }

  private async readObject(req: IncomingMessage, call: ConnectorCall): Promise<ActivityJson> {
    const text = (await this.readBody(req)).toString('utf8');
    if (!text.trim()) throw new HttpError(400, 'BadArgument', 'the request body is empty; an activity (JSON object) is required');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, 'BadArgument', `the request body is not valid JSON: ${(err as Error).message}`);
    }
    if (!isObject(body)) throw new HttpError(400, 'BadArgument', 'the request body must be a JSON object');
    call.activity = body as ActivityJson;
    return call.activity;
  }

  private readBody(req: IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let tooBig = false;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_REQUEST_BYTES) tooBig = true;
        else chunks.push(chunk);
      });
      req.on('end', () => {
        if (tooBig) reject(new HttpError(413, 'MessageSizeTooBig', `the request body is over ${MAX_REQUEST_BYTES} bytes`));
        else resolve(Buffer.concat(chunks));
      });
      req.on('error', reject);
    });
  }
}
