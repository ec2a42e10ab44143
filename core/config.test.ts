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

test('Outlook actions: Entra ID tokens by default; the endpoint exists once it can check them', () => {
  const c = parseConfig(base);
  assert.equal(c.ACTIONS_TOKEN, 'entra');
  assert.equal(c.ACTIONS_JWKS_URL, 'https://substrate.office.com/sts/common/discovery/keys');
  assert.equal(c.ACTIONABLE_ORIGINATOR, undefined);
  assert.equal(c.actions, undefined);
  assert.throws(() => parseConfig({ ...base, ACTIONS_JWKS_URL: 'ftp://keys' }), /ACTIONS_JWKS_URL/);

  const mail = { ...base, PUBLIC_BASE_URL: 'https://reportbot.contoso.com', MAIL_SENDER: 'reports@contoso.com' };
  // Email without Entra settings and without the card: no Re-run button, so no endpoint and no error.
  assert.equal(parseConfig(mail).actions, undefined);
  const tenant = 'B3F5C2A1-7D4E-4F60-9A8B-1C2D3E4F5A6B';
  const app = '0f6b3e2d-9c8a-4b7e-a1d2-3c4b5a697887';
  const entra = parseConfig({ ...mail, ACTIONS_TENANT_ID: tenant, ACTIONS_AUDIENCE: app });
  assert.deepEqual(entra.actions, {
    token: 'entra', tenantId: tenant.toLowerCase(), audience: app,
    openIdConfigUrl: `https://login.microsoftonline.com/${tenant.toLowerCase()}/v2.0/.well-known/openid-configuration`,
  });
  assert.ok(Object.isFrozen(entra.actions));
  const usGov = 'https://login.microsoftonline.us/b3f5c2a1-7d4e-4f60-9a8b-1c2d3e4f5a6b/v2.0/.well-known/openid-configuration';
  assert.equal((parseConfig({ ...mail, ACTIONS_TENANT_ID: tenant, ACTIONS_AUDIENCE: app, ACTIONS_OPENID_CONFIG_URL: usGov }).actions as { openIdConfigUrl: string }).openIdConfigUrl, usGov);
  // Keys over plain http only from loopback (a test's own key server).
  const local = 'http://127.0.0.1:4000/t/v2.0/.well-known/openid-configuration';
  assert.equal((parseConfig({ ...mail, ACTIONS_TENANT_ID: tenant, ACTIONS_AUDIENCE: app, ACTIONS_OPENID_CONFIG_URL: local }).actions as { openIdConfigUrl: string }).openIdConfigUrl, local);

  const legacy = parseConfig({ ...mail, ACTIONS_TOKEN: 'legacy' });
  assert.deepEqual(legacy.actions, {
    token: 'legacy', jwksUrl: 'https://substrate.office.com/sts/common/discovery/keys', publicBaseUrl: 'https://reportbot.contoso.com', sender: 'reports@contoso.com',
  });
});

test('Outlook actions: missing or stray token settings fail naming the variable', () => {
  const mail = { ...base, PUBLIC_BASE_URL: 'https://reportbot.contoso.com', MAIL_SENDER: 'reports@contoso.com' };
  const card = { ...mail, GRAPH_MANAGED_IDENTITY: 'true', ACTIONABLE_ORIGINATOR: '7d1c0b2a-0000-4000-8000-000000000001' };
  const tenant = 'b3f5c2a1-7d4e-4f60-9a8b-1c2d3e4f5a6b';
  const app = '0f6b3e2d-9c8a-4b7e-a1d2-3c4b5a697887';
  const cases: [Record<string, string>, RegExp][] = [
    [{ ...base, ACTIONS_TOKEN: 'eat' }, /ACTIONS_TOKEN/],
    // Emails with Re-run buttons, and nothing to check the clicks' tokens against.
    [card, /ACTIONS_TENANT_ID: is required with ACTIONABLE_ORIGINATOR \(ACTIONS_TOKEN=entra\)/],
    [{ ...card, ACTIONS_TENANT_ID: tenant }, /ACTIONS_AUDIENCE: is required with ACTIONABLE_ORIGINATOR/],
    [{ ...card, ACTIONS_AUDIENCE: app }, /ACTIONS_TENANT_ID: is required with ACTIONABLE_ORIGINATOR/],
    // Half an Entra setup.
    [{ ...mail, ACTIONS_TENANT_ID: tenant }, /ACTIONS_AUDIENCE: is required with ACTIONS_TENANT_ID/],
    [{ ...mail, ACTIONS_AUDIENCE: app }, /ACTIONS_TENANT_ID: is required with ACTIONS_AUDIENCE/],
    [{ ...mail, ACTIONS_OPENID_CONFIG_URL: 'https://login.microsoftonline.com/x/v2.0/.well-known/openid-configuration' }, /ACTIONS_TENANT_ID: is required with ACTIONS_OPENID_CONFIG_URL/],
    [{ ...base, ACTIONS_TENANT_ID: tenant, ACTIONS_AUDIENCE: app }, /PUBLIC_BASE_URL: is required with ACTIONS_TENANT_ID/],
    [{ ...base, PUBLIC_BASE_URL: 'https://reportbot.contoso.com', ACTIONS_TENANT_ID: tenant, ACTIONS_AUDIENCE: app }, /MAIL_SENDER: is required with ACTIONS_TENANT_ID/],
    // Values Entra never has.
    [{ ...mail, ACTIONS_TENANT_ID: 'contoso.onmicrosoft.com', ACTIONS_AUDIENCE: app }, /ACTIONS_TENANT_ID: must be a GUID/],
    [{ ...mail, ACTIONS_TENANT_ID: tenant, ACTIONS_AUDIENCE: `api://auth-am-${tenant}/${app}` }, /ACTIONS_AUDIENCE: must be a GUID/],
    [{ ...mail, ACTIONS_TENANT_ID: tenant, ACTIONS_AUDIENCE: app, ACTIONS_OPENID_CONFIG_URL: 'http://login.example.com/x' }, /ACTIONS_OPENID_CONFIG_URL: must be an https:\/\/ URL/],
    // Entra settings with the legacy token are a mistake, not something to ignore.
    [{ ...mail, ACTIONS_TOKEN: 'legacy', ACTIONS_TENANT_ID: tenant }, /ACTIONS_TENANT_ID: is not used with ACTIONS_TOKEN=legacy/],
    // The endpoint re-runs only what the archive says was emailed.
    [{ PUBLIC_BASE_URL: 'https://reportbot.contoso.com', MAIL_SENDER: 'reports@contoso.com', ACTIONS_TOKEN: 'legacy' }, /BLOB_CONNECTION_STRING: is required for the Outlook actions endpoint/],
    [{ PUBLIC_BASE_URL: 'https://reportbot.contoso.com', MAIL_SENDER: 'reports@contoso.com', ACTIONS_TENANT_ID: tenant, ACTIONS_AUDIENCE: app }, /BLOB_CONNECTION_STRING: is required/],
  ];
  for (const [env, expected] of cases) {
    assert.throws(() => parseConfig(env), (e: ConfigError) => expected.test(e.message), `${JSON.stringify(env)} → ${expected}`);
  }
  assert.equal(parseConfig({ ...card, ACTIONS_TENANT_ID: tenant, ACTIONS_AUDIENCE: app }).actions?.token, 'entra');
  assert.equal(parseConfig({ ...card, ACTIONS_TOKEN: 'legacy' }).actions?.token, 'legacy');
});

test('no Graph settings: local mode, no Graph delivery', () => {
  assert.equal(parseConfig(base).graph, undefined);
  assert.equal(parseConfig({ ...base, GRAPH_MANAGED_IDENTITY: 'false' }).graph, undefined);
});

test('Graph with a client secret: defaults for where files go, links, retries and mail', () => {
  const c = parseConfig({ ...base, GRAPH_TENANT_ID: 't', GRAPH_CLIENT_ID: 'c', GRAPH_CLIENT_SECRET: 's', MAIL_SENDER: 'reports@contoso.com' });
  assert.deepEqual(c.graph?.credential, { kind: 'secret', tenantId: 't', clientId: 'c', secret: 's' });
  assert.equal(c.graph?.baseUrl, 'https://graph.microsoft.com/v1.0');
  assert.equal(c.graph?.scope, 'https://graph.microsoft.com/.default');
  assert.equal(c.graph?.authorityHost, 'https://login.microsoftonline.com');
  assert.deepEqual(c.graph?.files, { kind: 'requester' });
  assert.equal(c.graph?.folder, 'Reports');
  assert.equal(c.graph?.linkScope, 'organization');
  assert.deepEqual(c.graph?.mail, { sender: 'reports@contoso.com', maxMessageBytes: 35 * 1024 * 1024, actionable: undefined });
  assert.ok(Object.isFrozen(c.graph));
});

test('Graph credentials: certificate, managed identity (system or user-assigned), national cloud scope', () => {
  const cert = parseConfig({ ...base, GRAPH_TENANT_ID: 't', GRAPH_CLIENT_ID: 'c', GRAPH_CERTIFICATE_PATH: '/etc/app.pem' });
  assert.deepEqual(cert.graph?.credential, { kind: 'certificate', tenantId: 't', clientId: 'c', certificatePath: '/etc/app.pem' });
  assert.deepEqual(parseConfig({ ...base, GRAPH_MANAGED_IDENTITY: 'true' }).graph?.credential, { kind: 'managedIdentity', clientId: undefined });
  const uami = '6f0b8c2e-4a1d-4c3b-9e2f-1a2b3c4d5e6f';
  assert.deepEqual(parseConfig({ ...base, GRAPH_MANAGED_IDENTITY: uami }).graph?.credential, { kind: 'managedIdentity', clientId: uami });
  const us = parseConfig({ ...base, GRAPH_MANAGED_IDENTITY: 'true', GRAPH_BASE_URL: 'https://graph.microsoft.us/v1.0/', GRAPH_AUTHORITY_HOST: 'https://login.microsoftonline.us' });
  assert.equal(us.graph?.baseUrl, 'https://graph.microsoft.us/v1.0');
  assert.equal(us.graph?.scope, 'https://graph.microsoft.us/.default');
});

test('where files go: the requester\'s OneDrive, a site\'s library, or a drive', () => {
  const g = { ...base, GRAPH_MANAGED_IDENTITY: 'true' };
  assert.deepEqual(parseConfig({ ...g, GRAPH_SITE_ID: 'site1' }).graph?.files, { kind: 'site', siteId: 'site1', driveId: undefined });
  assert.deepEqual(parseConfig({ ...g, GRAPH_SITE_ID: 'site1', GRAPH_DRIVE_ID: 'b!x' }).graph?.files, { kind: 'site', siteId: 'site1', driveId: 'b!x' });
  assert.deepEqual(parseConfig({ ...g, GRAPH_DRIVE_ID: 'b!x' }).graph?.files, { kind: 'drive', driveId: 'b!x' });
  assert.equal(parseConfig({ ...g, GRAPH_FOLDER: 'Finance/Reports', GRAPH_LINK_SCOPE: 'users' }).graph?.folder, 'Finance/Reports');
});

test('bad Graph combinations fail naming the variable', () => {
  const secret = { ...base, GRAPH_TENANT_ID: 't', GRAPH_CLIENT_ID: 'c', GRAPH_CLIENT_SECRET: 's' };
  const cases: [Record<string, string>, RegExp][] = [
    [{ ...base, GRAPH_CLIENT_SECRET: 's' }, /GRAPH_TENANT_ID: is required with GRAPH_CLIENT_SECRET/],
    [{ ...base, GRAPH_TENANT_ID: 't', GRAPH_CLIENT_SECRET: 's' }, /GRAPH_CLIENT_ID: is required with GRAPH_CLIENT_SECRET/],
    [{ ...secret, GRAPH_CERTIFICATE_PATH: '/x.pem' }, /GRAPH_CLIENT_SECRET, GRAPH_CERTIFICATE_PATH: set only one Graph credential/],
    [{ ...secret, GRAPH_MANAGED_IDENTITY: 'true' }, /set only one Graph credential/],
    [{ ...base, GRAPH_MANAGED_IDENTITY: 'true', GRAPH_CLIENT_ID: 'c' }, /GRAPH_CLIENT_ID: is not used with GRAPH_MANAGED_IDENTITY/],
    [{ ...base, GRAPH_MANAGED_IDENTITY: 'yes' }, /GRAPH_MANAGED_IDENTITY: must be true, false or the client id/],
    [{ ...base, GRAPH_TENANT_ID: 't', GRAPH_CLIENT_ID: 'c' }, /GRAPH_TENANT_ID: needs a Graph credential/],
    [{ ...base, GRAPH_SITE_ID: 'site1' }, /GRAPH_SITE_ID: needs a Graph credential/],
    [{ ...secret, GRAPH_BASE_URL: 'http://graph.microsoft.com/v1.0' }, /GRAPH_BASE_URL: must be an https:\/\/ URL/],
    [{ ...secret, GRAPH_BASE_URL: 'https://graph.microsoft.com/' }, /GRAPH_BASE_URL: must be the service root with its version/],
    [{ ...secret, GRAPH_AUTHORITY_HOST: 'login.microsoftonline.com' }, /GRAPH_AUTHORITY_HOST/],
    [{ ...secret, GRAPH_FOLDER: 'Reports/../Secrets' }, /GRAPH_FOLDER: must be a folder path/],
    [{ ...secret, GRAPH_FOLDER: 'Re:ports' }, /GRAPH_FOLDER/],
    [{ ...secret, GRAPH_LINK_SCOPE: 'anonymous' }, /GRAPH_LINK_SCOPE/],
    [{ ...secret, MAIL_MAX_MESSAGE_MB: '0' }, /MAIL_MAX_MESSAGE_MB/],
    [{ ...secret, ACTIONABLE_ORIGINATOR: 'o' }, /MAIL_SENDER: is required with ACTIONABLE_ORIGINATOR/],
    [{ ...secret, ACTIONABLE_ORIGINATOR: 'o', MAIL_SENDER: 'r@contoso.com' }, /PUBLIC_BASE_URL: must be set to an https:\/\/ URL with ACTIONABLE_ORIGINATOR/],
    [{ ...secret, ACTIONABLE_ORIGINATOR: 'o', MAIL_SENDER: 'r@contoso.com', PUBLIC_BASE_URL: 'http://bot.contoso.com' }, /PUBLIC_BASE_URL: must be set to an https/],
  ];
  for (const [env, expected] of cases) {
    assert.throws(() => parseConfig(env), (e: ConfigError) => expected.test(e.message), `${JSON.stringify(env)} → ${expected}`);
  }
});

test('the Outlook card needs an originator, a sender and an https public URL', () => {
  const c = parseConfig({
    ...base, GRAPH_MANAGED_IDENTITY: 'true', MAIL_SENDER: 'reports@contoso.com', MAIL_MAX_MESSAGE_MB: '20',
    ACTIONABLE_ORIGINATOR: '7d1c0b2a-0000-4000-8000-000000000001', PUBLIC_BASE_URL: 'https://reportbot.contoso.com/',
    ACTIONS_TENANT_ID: 'b3f5c2a1-7d4e-4f60-9a8b-1c2d3e4f5a6b', ACTIONS_AUDIENCE: '0f6b3e2d-9c8a-4b7e-a1d2-3c4b5a697887',
  });
  assert.deepEqual(c.graph?.mail, {
    sender: 'reports@contoso.com', maxMessageBytes: 20 * 1024 * 1024,
    actionable: { originator: '7d1c0b2a-0000-4000-8000-000000000001', publicBaseUrl: 'https://reportbot.contoso.com' },
  });
});
