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
  assert.ok(Object.isFrozen(c));
});

test('a bad value names the variable', () => {
  assert.throws(() => parseConfig({ ...base, PORT: 'eighty' }), (e: ConfigError) => /PORT:/.test(e.message));
  assert.throws(() => new Archive(parseConfig({})), /BLOB_CONNECTION_STRING: is required/);
  assert.throws(() => parseConfig({ ...base, REDIS_URL: 'http://x' }), /REDIS_URL/);
  assert.throws(() => parseConfig({ ...base, BOT_ID: 'abc' }), /BOT_PASSWORD: is required when BOT_ID is set/);
  assert.throws(() => parseConfig({ ...base, BOT_ID: 'abc', BOT_PASSWORD: 'p', BOT_TYPE: 'SingleTenant' }), /BOT_TENANT_ID/);
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
