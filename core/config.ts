/**
 * Process configuration: one zod schema, parsed once from the environment, frozen.
 * A bad value stops the process with a message that names the variable.
 * Nothing else in the code base reads process.env.
 */
import { z } from 'zod/v4';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const optionalString = z.string().trim().transform((s) => (s === '' ? undefined : s)).optional();
/** An empty value means unset (a blank line in an env file must not switch a listener on). */
const optionalPort = z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), port.optional());
const httpsUrl = z.url({ protocol: /^https$/, error: 'must be an https:// URL' }).transform((s) => s.replace(/\/+$/, ''));
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const optionalGuid = optionalString.refine((v) => v === undefined || GUID.test(v), 'must be a GUID')
  .transform((v) => v?.toLowerCase());

/**
 * Signing keys are trusted only over https; plain http is allowed on loopback, where a test (or a
 * local proxy) serves them and nobody can get in between.
 */
export function isKeySource(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === 'https:') return true;
  return u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
}

/** Every environment variable the bot and the runner read, with its default. */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  PORT: port.default(3978),
  HOST: optionalString,
  MAX_BODY_BYTES: positiveInt.default(256 * 1024),

  BOT_ID: optionalString,
  BOT_PASSWORD: optionalString,
  BOT_TYPE: z.enum(['MultiTenant', 'SingleTenant', 'UserAssignedMSI']).default('MultiTenant'),
  BOT_TENANT_ID: optionalString,

  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').default('reportbot'),
  QUEUE_NAME: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('reports'),

  /** Required by the runner and the CLI's queued mode (checked where the archive is opened). */
  BLOB_CONNECTION_STRING: optionalString,
  BLOB_CONTAINER: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/, 'must be a valid container name').default('reports'),
  DOWNLOAD_LINK_MINUTES: positiveInt.max(7 * 24 * 60).default(60),

  REPORTS_DIR: z.string().default('reports'),
  CONNECTION_WAREHOUSE: z.string().default('sqlite:.data/warehouse.sqlite'),

  RUNNER_CONCURRENCY: positiveInt.max(64).default(2),
  JOB_ATTEMPTS: positiveInt.max(20).default(3),
  JOB_LOCK_MS: positiveInt.min(1000).default(30_000),
  MUTEX_TTL_MS: positiveInt.min(500).default(30_000),
  MUTEX_WAIT_MS: positiveInt.default(60 * 60_000),
  RUN_TIMEOUT_MS: positiveInt.default(60 * 60_000),

  /** The runner's own HTTP port for /healthz, /readyz and /metrics (0 = any free port). */
  RUNNER_PORT: port.default(9464),
  /**
   * After SIGTERM, how long running work may take to finish before it is stopped: a runner then
   * hands its jobs back to the queue, the bot drops its remaining connections.
   */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(20_000),
  /** Upper bound on each dependency check behind /readyz. */
  READINESS_TIMEOUT_MS: positiveInt.max(60_000).default(2_000),

  /** The admin queue view (Bull Board) listens here, in the bot process; unset = off. 0 = any free port. */
  ADMIN_BOARD_PORT: optionalPort,
  /** Loopback unless you mean to expose it (then put it behind TLS). */
  ADMIN_BOARD_HOST: z.string().trim().min(1).default('127.0.0.1'),
  ADMIN_BOARD_USER: z.string().trim().min(1).default('admin'),
  /** Required with ADMIN_BOARD_PORT: Basic auth password, at least 12 characters. */
  ADMIN_BOARD_PASSWORD: optionalString,
  /** true: the board shows jobs but cannot retry, remove or clean them. */
  ADMIN_BOARD_READONLY: z.stringbool().default(true),
  /** When the runners delete runs past their report's retentionDays: a cron pattern (5 or 6 fields). */
  CLEANUP_CRON: z.string().trim().regex(/^\S+(\s+\S+){4,5}$/, 'must be a cron pattern with 5 or 6 fields, e.g. "30 2 * * *"').default('30 2 * * *'),
  /** The IANA time zone CLEANUP_CRON is read in. */
  CLEANUP_TIME_ZONE: z.string().refine(isTimeZone, 'must be an IANA time zone such as UTC or Europe/Berlin').default('UTC'),

  /** The bot's public base URL (scheme + host), e.g. https://reportbot.contoso.com: links and Outlook actions point here. */
  PUBLIC_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** The mailbox reports are emailed from (Graph sendMail), and the only `sender` Outlook action tokens may carry. */
  MAIL_SENDER: z.email().optional(),
  /**
   * The token Outlook's actionable-message requests carry: `entra` (Microsoft Entra ID access tokens,
   * the only kind Outlook sends since the legacy tokens were retired on June 8, 2026) or `legacy`.
   */
  ACTIONS_TOKEN: z.enum(['entra', 'legacy']).default('entra'),
  /** entra: the tenant (GUID) whose users click; tokens must be issued by it. */
  ACTIONS_TENANT_ID: optionalGuid,
  /** entra: the application (client) id of the app registration named in the provider: a v2.0 token's `aud`. */
  ACTIONS_AUDIENCE: optionalGuid,
  /**
   * entra: the tenant's OpenID configuration (issuer and signing keys). Default:
   * https://login.microsoftonline.com/<ACTIONS_TENANT_ID>/v2.0/.well-known/openid-configuration.
   */
  ACTIONS_OPENID_CONFIG_URL: optionalString.refine((v) => v === undefined || isKeySource(v),
    'must be an https:// URL (http:// only on loopback)'),
  /**
   * legacy: where Office 365's actionable-message token signing keys are published (a JWKS). Tests
   * point it at a key set they serve themselves.
   */
  ACTIONS_JWKS_URL: z.url({ protocol: /^https?$/ }).default('https://substrate.office.com/sts/common/discovery/keys'),
  /** Entra object ids (comma-separated) of people who may see and cancel everyone's runs. */
  ADMIN_USERS: z.string().default('').transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)),

  /** Microsoft Graph, app-only. None of these set = local mode (download links from the archive). */
  GRAPH_TENANT_ID: optionalString,
  GRAPH_CLIENT_ID: optionalString,
  GRAPH_CLIENT_SECRET: optionalString,
  /** A PEM file holding the app's certificate and private key. */
  GRAPH_CERTIFICATE_PATH: optionalString,
  /** `true` for the system-assigned managed identity, or the client id of a user-assigned one. */
  GRAPH_MANAGED_IDENTITY: optionalString.refine((v) => v === undefined || v === 'true' || v === 'false' || GUID.test(v),
    'must be true, false or the client id (a GUID) of a user-assigned identity'),
  GRAPH_AUTHORITY_HOST: httpsUrl.default('https://login.microsoftonline.com'),
  GRAPH_BASE_URL: httpsUrl.default('https://graph.microsoft.com/v1.0'),
  /** Files go to this SharePoint site's library instead of the requester's OneDrive. */
  GRAPH_SITE_ID: optionalString,
  /** A specific document library (drive id); with GRAPH_SITE_ID, one of that site's libraries. */
  GRAPH_DRIVE_ID: optionalString,
  GRAPH_FOLDER: z.string().trim()
    .refine((s) => s.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..' && !/["*:<>?\\|#%]/.test(seg)),
      'must be a folder path like Reports or Finance/Reports, without " * : < > ? \\ | # %')
    .default('Reports'),
  GRAPH_LINK_SCOPE: z.enum(['organization', 'users']).default('organization'),
  GRAPH_RETRIES: z.coerce.number().int().min(0).max(10).default(4),
  GRAPH_RETRY_MAX_WAIT_SECONDS: positiveInt.max(3600).default(120),
  GRAPH_TIMEOUT_SECONDS: positiveInt.max(3600).default(120),

  /** The tenant's message size limit (Exchange Online default 35 MB): larger workbooks go as a link. */
  MAIL_MAX_MESSAGE_MB: positiveInt.max(150).default(35),
  /** Outlook actionable messages provider id (Actionable Email Developer Dashboard). */
  ACTIONABLE_ORIGINATOR: optionalString,
  /** How often a running report's status card shows a new elapsed time (step changes are shown at once). */
  STATUS_UPDATE_MS: positiveInt.min(1000).default(5000),
  /** Proactive messages and card updates per second into one Teams conversation (Teams allows about 7). */
  SEND_RATE_PER_CONVERSATION: positiveInt.max(50).default(7),
  /** Proactive requests per second into one tenant, per bot or runner process (Teams allows about 30 per app). */
  SEND_RATE_PER_TENANT: positiveInt.max(500).default(30),
  /** Tries per proactive send or card update when Teams answers 429 (throttled). */
  SEND_MAX_ATTEMPTS: positiveInt.max(10).default(4),
});

/** How the runner signs in to Microsoft Graph (app-only). */
export type GraphCredentialConfig =
  | { kind: 'secret'; tenantId: string; clientId: string; secret: string }
  | { kind: 'certificate'; tenantId: string; clientId: string; certificatePath: string }
  | { kind: 'managedIdentity'; clientId?: string };

/**
 * How the Outlook actions endpoint (`POST /api/actions/<verb>`) checks the token of a request; the
 * endpoint exists only when this does.
 */
export type ActionsConfig =
  | {
    token: 'entra';
    /** Lower-case GUID: the only `tid`, and the tenant in the issuer. */
    tenantId: string;
    /** Lower-case GUID: the only `aud`. */
    audience: string;
    openIdConfigUrl: string;
  }
  | {
    token: 'legacy';
    jwksUrl: string;
    publicBaseUrl: string;
    /** The only `sender` accepted. */
    sender: string;
  };

/** Microsoft Graph delivery settings, present only when a Graph credential is configured. */
export interface GraphConfig {
  credential: GraphCredentialConfig;
  authorityHost: string;
  /** Service root including the version, without a trailing slash, e.g. https://graph.microsoft.com/v1.0. */
  baseUrl: string;
  /** The app-only scope for that service: `<origin>/.default`. */
  scope: string;
  /** Where workbooks are uploaded. */
  files: { kind: 'requester' } | { kind: 'site'; siteId: string; driveId?: string } | { kind: 'drive'; driveId: string };
  folder: string;
  linkScope: 'organization' | 'users';
  retries: number;
  maxRetryWaitMs: number;
  timeoutMs: number;
  /** Email settings; absent without MAIL_SENDER (then reports are not emailed). */
  mail?: {
    sender: string;
    maxMessageBytes: number;
    /** The Outlook actionable card (Re-run, Open in Teams) goes into emails only with an originator. */
    actionable?: { originator: string; publicBaseUrl: string };
  };
}

export type Config = Readonly<z.infer<typeof configSchema> & {
  /** Connection URLs by name (`warehouse` → CONNECTION_WAREHOUSE, and any other CONNECTION_<NAME>). */
  connections: Readonly<Record<string, string>>;
  /** True when no bot app id is set: inbound auth is off and the server binds to loopback only. */
  localMode: boolean;
  host: string;
  /** Microsoft Graph delivery (OneDrive/SharePoint, email); undefined = local mode, download links only. */
  graph: Readonly<GraphConfig> | undefined;
  /** The Outlook actions endpoint's token check; undefined = no endpoint (404). */
  actions: Readonly<ActionsConfig> | undefined;
}>;

/** Thrown (not exited) so tests can assert on it; main() prints it and exits. */
export class ConfigError extends Error {
  readonly issues: string[];
  constructor(issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * Parse an environment into a Config. Pure: pass process.env in main(), a literal in tests.
 * An empty (or blank) variable counts as not set: the toolkit's env files, the files it generates
 * for local debugging, ConfigMaps and Container Apps settings all list every name, most without a value.
 */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const result = configSchema.safeParse(given);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const c = result.data;
  if (c.BOT_ID && !c.BOT_PASSWORD && c.BOT_TYPE !== 'UserAssignedMSI') {
    throw new ConfigError(['BOT_PASSWORD: is required when BOT_ID is set (or set BOT_TYPE=UserAssignedMSI)']);
  }
  if (c.BOT_TYPE === 'SingleTenant' && !c.BOT_TENANT_ID) {
    throw new ConfigError(['BOT_TENANT_ID: is required when BOT_TYPE=SingleTenant']);
  }
  if (c.ADMIN_BOARD_PORT !== undefined && !c.ADMIN_BOARD_PASSWORD) {
    throw new ConfigError(['ADMIN_BOARD_PASSWORD: is required when ADMIN_BOARD_PORT is set (the admin view never runs without authentication)']);
  }
  if (c.ADMIN_BOARD_PASSWORD !== undefined && c.ADMIN_BOARD_PASSWORD.length < 12) {
    throw new ConfigError(['ADMIN_BOARD_PASSWORD: must be at least 12 characters']);
  }
  const graph = graphConfig(c);
  const actions = actionsConfig(c);
  const connections: Record<string, string> = { warehouse: c.CONNECTION_WAREHOUSE };
  for (const [key, value] of Object.entries(given)) {
    const m = /^CONNECTION_([A-Z0-9_]+)$/.exec(key);
    if (m && value) connections[m[1].toLowerCase()] = value;
  }
  const localMode = !c.BOT_ID;
  return Object.freeze({
    ...c,
    connections: Object.freeze(connections),
    localMode,
    host: c.HOST ?? (localMode ? '127.0.0.1' : '0.0.0.0'),
    graph: graph && Object.freeze(graph),
    actions: actions && Object.freeze(actions),
  });
}

/**
 * The Outlook actions endpoint's settings, or undefined when there is no endpoint. It needs
 * PUBLIC_BASE_URL and MAIL_SENDER (no email can carry a button that leads to it otherwise) and, with
 * Entra ID tokens, the tenant and the audience. The emails carry Re-run buttons only with
 * ACTIONABLE_ORIGINATOR: then a missing setting is an error, since every click would be refused.
 */
function actionsConfig(c: z.infer<typeof configSchema>): ActionsConfig | undefined {
  const entraOnly = ['ACTIONS_TENANT_ID', 'ACTIONS_AUDIENCE', 'ACTIONS_OPENID_CONFIG_URL'] as const;
  const emailed = Boolean(c.PUBLIC_BASE_URL && c.MAIL_SENDER);
  if (c.ACTIONS_TOKEN === 'legacy') {
    const stray = entraOnly.find((k) => c[k]);
    if (stray) throw new ConfigError([`${stray}: is not used with ACTIONS_TOKEN=legacy (it is for Entra ID tokens, ACTIONS_TOKEN=entra)`]);
    if (!emailed) return undefined;
    requireArchive(c);
    return { token: 'legacy', jwksUrl: c.ACTIONS_JWKS_URL, publicBaseUrl: c.PUBLIC_BASE_URL!, sender: c.MAIL_SENDER! };
  }
  const given = entraOnly.filter((k) => c[k]);
  const needed = (['ACTIONS_TENANT_ID', 'ACTIONS_AUDIENCE'] as const).filter((k) => !c[k]);
  if (needed.length > 0) {
    if (c.ACTIONABLE_ORIGINATOR) {
      throw new ConfigError([`${needed[0]}: is required with ACTIONABLE_ORIGINATOR (ACTIONS_TOKEN=entra): the emails' Re-run clicks carry Entra ID tokens, checked against ACTIONS_TENANT_ID and ACTIONS_AUDIENCE`]);
    }
    if (given.length > 0) throw new ConfigError([`${needed[0]}: is required with ${given[0]}`]);
    return undefined;
  }
  if (!emailed) {
    throw new ConfigError([`${c.PUBLIC_BASE_URL ? 'MAIL_SENDER' : 'PUBLIC_BASE_URL'}: is required with ACTIONS_TENANT_ID (the Outlook actions endpoint answers only for emails the bot sent)`]);
  }
  requireArchive(c);
  const tenantId = c.ACTIONS_TENANT_ID!;
  return {
    token: 'entra',
    tenantId,
    audience: c.ACTIONS_AUDIENCE!,
    openIdConfigUrl: c.ACTIONS_OPENID_CONFIG_URL ?? `https://login.microsoftonline.com/${tenantId}/v2.0/.well-known/openid-configuration`,
  };
}

/** A Re-run is accepted only for a run whose manifest in the archive says it was emailed to the person. */
function requireArchive(c: z.infer<typeof configSchema>): void {
  if (!c.BLOB_CONNECTION_STRING) {
    throw new ConfigError(['BLOB_CONNECTION_STRING: is required for the Outlook actions endpoint (PUBLIC_BASE_URL and MAIL_SENDER are set): a Re-run is accepted only for a run the archive says was emailed to the person who clicked']);
  }
}

/** The Graph settings, or undefined when no Graph credential is configured; bad combinations throw. */
function graphConfig(c: z.infer<typeof configSchema>): GraphConfig | undefined {
  const managed = c.GRAPH_MANAGED_IDENTITY === 'false' ? undefined : c.GRAPH_MANAGED_IDENTITY;
  const kinds = [
    c.GRAPH_CLIENT_SECRET && 'GRAPH_CLIENT_SECRET', c.GRAPH_CERTIFICATE_PATH && 'GRAPH_CERTIFICATE_PATH', managed && 'GRAPH_MANAGED_IDENTITY',
  ].filter((k): k is string => Boolean(k));
  if (kinds.length > 1) throw new ConfigError([`${kinds.join(', ')}: set only one Graph credential`]);
  if (kinds.length === 0) {
    // ACTIONABLE_ORIGINATOR is not one of them: the bot uses it on the Outlook cards it answers with.
    const orphan = (['GRAPH_TENANT_ID', 'GRAPH_CLIENT_ID', 'GRAPH_SITE_ID', 'GRAPH_DRIVE_ID'] as const).find((k) => c[k]);
    if (orphan) {
      throw new ConfigError([`${orphan}: needs a Graph credential: set GRAPH_CLIENT_SECRET, GRAPH_CERTIFICATE_PATH or GRAPH_MANAGED_IDENTITY`]);
    }
    return undefined;
  }
  let credential: GraphCredentialConfig;
  if (managed) {
    if (c.GRAPH_CLIENT_ID) {
      throw new ConfigError(['GRAPH_CLIENT_ID: is not used with GRAPH_MANAGED_IDENTITY; for a user-assigned identity set GRAPH_MANAGED_IDENTITY=<its client id>']);
    }
    credential = { kind: 'managedIdentity', clientId: managed === 'true' ? undefined : managed };
  } else {
    for (const key of ['GRAPH_TENANT_ID', 'GRAPH_CLIENT_ID'] as const) {
      if (!c[key]) throw new ConfigError([`${key}: is required with ${kinds[0]}`]);
    }
    credential = c.GRAPH_CLIENT_SECRET
      ? { kind: 'secret', tenantId: c.GRAPH_TENANT_ID!, clientId: c.GRAPH_CLIENT_ID!, secret: c.GRAPH_CLIENT_SECRET }
      : { kind: 'certificate', tenantId: c.GRAPH_TENANT_ID!, clientId: c.GRAPH_CLIENT_ID!, certificatePath: c.GRAPH_CERTIFICATE_PATH! };
  }
  const base = new URL(c.GRAPH_BASE_URL);
  if (!/^\/(v1\.0|beta)$/.test(base.pathname)) {
    throw new ConfigError(['GRAPH_BASE_URL: must be the service root with its version, e.g. https://graph.microsoft.com/v1.0']);
  }
  if (c.ACTIONABLE_ORIGINATOR) {
    if (!c.MAIL_SENDER) throw new ConfigError(['MAIL_SENDER: is required with ACTIONABLE_ORIGINATOR (the card goes in emails)']);
    if (!c.PUBLIC_BASE_URL?.startsWith('https://')) {
      throw new ConfigError(['PUBLIC_BASE_URL: must be set to an https:// URL with ACTIONABLE_ORIGINATOR (Outlook only calls https)']);
    }
  }
  return {
    credential,
    authorityHost: c.GRAPH_AUTHORITY_HOST,
    baseUrl: c.GRAPH_BASE_URL,
    scope: `${base.origin}/.default`,
    files: c.GRAPH_SITE_ID ? { kind: 'site', siteId: c.GRAPH_SITE_ID, driveId: c.GRAPH_DRIVE_ID }
      : c.GRAPH_DRIVE_ID ? { kind: 'drive', driveId: c.GRAPH_DRIVE_ID } : { kind: 'requester' },
    folder: c.GRAPH_FOLDER,
    linkScope: c.GRAPH_LINK_SCOPE,
    retries: c.GRAPH_RETRIES,
    maxRetryWaitMs: c.GRAPH_RETRY_MAX_WAIT_SECONDS * 1000,
    timeoutMs: c.GRAPH_TIMEOUT_SECONDS * 1000,
    mail: c.MAIL_SENDER ? {
      sender: c.MAIL_SENDER,
      maxMessageBytes: c.MAIL_MAX_MESSAGE_MB * 1024 * 1024,
      actionable: c.ACTIONABLE_ORIGINATOR ? { originator: c.ACTIONABLE_ORIGINATOR, publicBaseUrl: c.PUBLIC_BASE_URL!.replace(/\/+$/, '') } : undefined,
    } : undefined,
  };
}

let loaded: Config | undefined;

/** The process's config, parsed on first use; exits with the variable's name if invalid. */
export function config(): Config {
  if (!loaded) {
    try {
      loaded = parseConfig(process.env);
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(err.message);
        process.exit(78);
      }
      throw err;
    }
  }
  return loaded;
}
