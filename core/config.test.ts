import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from './config.ts';
import { Archive } from './archive.ts';

const base = { BLOB_CONNECTION_STRING: 'UseDevelopmentStorage=true' };

test('defaults: local mode on loopback, warehouse connection, frozen', () => {
  const c = parseConfig(base);
  assert.equal(c.PORT, 3978);
  assert.equal(c.localMode, true);
  assert.equal(c.host, '127.0.0.1');
  assert.deepEqual(c.connections, { warehouse: 'sqlite:.data/warehouse.sqlite' });
  assert.equal(c.CLEANUP_CRON, '30 2 * * *');
  assert.equal(parseConfig({ ...base, CLEANUP_TIME_ZONE: 'America/Detroit' }).CLEANUP_TIME_ZONE, 'America/Detroit');
  assert.ok(Object.isFrozen(c));
});

test('a bad value names the variable', () => {
  assert.throws(() => parseConfig({ ...base, PORT: 'eighty' }), (e: ConfigError) => /PORT:/.test(e.message));
  assert.throws(() => new Archive(parseConfig({})), /BLOB_CONNECTION_STRING: is required/);
  assert.throws(() => parseConfig({ ...base, REDIS_URL: 'http://x' }), /REDIS_URL/);
  assert.throws(() => parseConfig({ ...base, BOT_ID: 'abc' }), /BOT_PASSWORD: is required when BOT_ID is set/);
  assert.throws(() => parseConfig({ ...base, BOT_ID: 'abc', BOT_PASSWORD: 'p', BOT_TYPE: 'SingleTenant' }), /BOT_TENANT_ID/);
  assert.throws(() => parseConfig({ ...base, CLEANUP_CRON: 'daily' }), /CLEANUP_CRON: must be a cron pattern/);
  assert.throws(() => parseConfig({ ...base, CLEANUP_TIME_ZONE: 'Mars/Olympus' }), /CLEANUP_TIME_ZONE: must be an IANA time zone/);
});

test('with an app id, auth is on and the server listens on all interfaces', () => {
  const c = parseConfig({ ...base, BOT_ID: 'abc', BOT_PASSWORD: 'p' });
  assert.equal(c.localMode, false);
  assert.equal(c.host, '0.0.0.0');
});

test('an empty variable counts as not set, so generated env files may list every name', () => {
  const c = parseConfig({ ...base, PUBLIC_BASE_URL: '', MAIL_SENDER: ' ', BLOB_CONTAINER: '', PORT: '', CONNECTION_PLEX: '' });
  assert.equal(c.PUBLIC_BASE_URL, undefined);
  assert.equal(c.MAIL_SENDER, undefined);
  assert.equal(c.BLOB_CONTAINER, 'reports');
  assert.equal(c.PORT, 3978);
  assert.deepEqual(c.connections, { warehouse: 'sqlite:.data/warehouse.sqlite' });
  assert.throws(() => parseConfig({ ...base, BLOB_CONTAINER: 'No_Such' }), /BLOB_CONTAINER/);
});

test('CONNECTION_<NAME> variables become named connections', () => {
  const c = parseConfig({ ...base, CONNECTION_PLEX: 'plex://u:p@host', CONNECTION_WAREHOUSE: 'sqlite::memory:' });
  assert.deepEqual(c.connections, { warehouse: 'sqlite::memory:', plex: 'plex://u:p@host' });
});

test('connection URLs lose their passwords before they are logged', async () => {
  const { redactUrl } = await import('./logger.ts');
  assert.equal(redactUrl('redis://:s3cret@cache:6380'), 'redis://:***@cache:6380');
  assert.equal(redactUrl('mssql://user:p%40ss@db/x'), 'mssql://user:***@db/x');
  assert.equal(redactUrl('AccountName=a;AccountKey=abc==;BlobEndpoint=x'), 'AccountName=a;AccountKey=***;BlobEndpoint=x');
});

test('operations settings: defaults, and the admin view only with a password', () => {
  const c = parseConfig(base);
  assert.equal(c.RUNNER_PORT, 9464);
  assert.equal(c.SHUTDOWN_GRACE_MS, 20_000);
  assert.equal(c.READINESS_TIMEOUT_MS, 2_000);
  assert.equal(c.ADMIN_BOARD_PORT, undefined, 'the admin view is off by default');
  assert.equal(c.ADMIN_BOARD_HOST, '127.0.0.1');
  assert.equal(c.ADMIN_BOARD_READONLY, true);
  assert.equal(parseConfig({ ...base, ADMIN_BOARD_PORT: '' }).ADMIN_BOARD_PORT, undefined, 'an empty value is unset');
  assert.equal(parseConfig({ ...base, RUNNER_PORT: '0' }).RUNNER_PORT, 0);
  const on = parseConfig({ ...base, ADMIN_BOARD_PORT: '3100', ADMIN_BOARD_PASSWORD: 'a long enough secret', ADMIN_BOARD_READONLY: 'false' });
  assert.equal(on.ADMIN_BOARD_PORT, 3100);
  assert.equal(on.ADMIN_BOARD_READONLY, false);
  assert.throws(() => parseConfig({ ...base, ADMIN_BOARD_PORT: '3100' }), /ADMIN_BOARD_PASSWORD: is required when ADMIN_BOARD_PORT is set/);
  assert.throws(() => parseConfig({ ...base, ADMIN_BOARD_PORT: '3100', ADMIN_BOARD_PASSWORD: 'short' }), /ADMIN_BOARD_PASSWORD: must be at least 12/);
  assert.throws(() => parseConfig({ ...base, ADMIN_BOARD_READONLY: 'maybe' }), /ADMIN_BOARD_READONLY/);
  assert.throws(() => parseConfig({ ...base, RUNNER_PORT: '70000' }), /RUNNER_PORT/);
  assert.throws(() => parseConfig({ ...base, SHUTDOWN_GRACE_MS: '-1' }), /SHUTDOWN_GRACE_MS/);
});

test('Outlook actions: Office 365 signing keys by default; a bad key set URL names the variable', () => {
  const c = parseConfig(base);
  assert.equal(c.ACTIONS_JWKS_URL, 'https://substrate.office.com/sts/common/discovery/keys');
  assert.equal(c.ACTIONABLE_ORIGINATOR, undefined);
  assert.throws(() => parseConfig({ ...base, ACTIONS_JWKS_URL: 'ftp://keys' }), /ACTIONS_JWKS_URL/);
});
