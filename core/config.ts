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
   * Where Outlook's actionable-message token signing keys are published (a JWKS). Office 365's by
   * default; tests point it at a key set they serve themselves.
   */
  ACTIONS_JWKS_URL: z.url({ protocol: /^https?$/ }).default('https://substrate.office.com/sts/common/discovery/keys'),
  /** Provider id from the Actionable Email Developer Dashboard: the `originator` of every Outlook card we send. */
  ACTIONABLE_ORIGINATOR: optionalString,
  /** Entra object ids (comma-separated) of people who may see and cancel everyone's runs. */
  ADMIN_USERS: z.string().default('').transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)),
});

export type Config = Readonly<z.infer<typeof configSchema> & {
  /** Connection URLs by name (`warehouse` → CONNECTION_WAREHOUSE, and any other CONNECTION_<NAME>). */
  connections: Readonly<Record<string, string>>;
  /** True when no bot app id is set: inbound auth is off and the server binds to loopback only. */
  localMode: boolean;
  host: string;
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
  });
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
