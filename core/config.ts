/**
 * Process configuration: one zod schema, parsed once from the environment, frozen.
 * A bad value stops the process with a message that names the variable.
 * Nothing else in the code base reads process.env.
 */
import { z } from 'zod/v4';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const optionalString = z.string().trim().transform((s) => (s === '' ? undefined : s)).optional();

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

  /** The bot's public base URL (scheme + host), e.g. https://reportbot.contoso.com: links and Outlook actions point here. */
  PUBLIC_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** The mailbox reports are emailed from (Graph sendMail), and the only `sender` Outlook action tokens may carry. */
  MAIL_SENDER: z.email().optional(),
  /** Entra object ids (comma-separated) of people who may see and cancel everyone's runs. */
  ADMIN_USERS: z.string().default('').transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)),

  /** How often a running report's status card shows a new elapsed time (step changes are shown at once). */
  STATUS_UPDATE_MS: positiveInt.min(1000).default(5000),
  /** Proactive messages and card updates per second into one Teams conversation (Teams allows about 7). */
  SEND_RATE_PER_CONVERSATION: positiveInt.max(50).default(7),
  /** Proactive requests per second into one tenant, per bot or runner process (Teams allows about 30 per app). */
  SEND_RATE_PER_TENANT: positiveInt.max(500).default(30),
  /** Tries per proactive send or card update when Teams answers 429 (throttled). */
  SEND_MAX_ATTEMPTS: positiveInt.max(10).default(4),
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

/** Parse an environment into a Config. Pure: pass process.env in main(), a literal in tests. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = configSchema.safeParse(env);
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
  const connections: Record<string, string> = { warehouse: c.CONNECTION_WAREHOUSE };
  for (const [key, value] of Object.entries(env)) {
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
