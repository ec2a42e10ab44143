import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createLogger } from './logger.ts';
import { connectionChecks, Readiness, redisCheck, type DependencyCheck } from './health.ts';
import { ConnectorError } from './errors.ts';

const log = createLogger('test', 'silent');
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const ok = (name: string): DependencyCheck => ({ name, check: async () => {} });

test('all dependencies answer: ready, with each check timed', async () => {
  const report = await new Readiness([ok('redis'), ok('blob')], { timeoutMs: 1000, log }).check();
  assert.equal(report.status, 'ready');
  assert.deepEqual(report.failed, []);
  assert.deepEqual(Object.keys(report.checks), ['redis', 'blob']);
  assert.equal(report.checks.redis.status, 'ok');
  assert.equal(typeof report.checks.redis.ms, 'number');
});

test('a failing and a hanging dependency are both named; the reason gives nothing away', async () => {
  const failing: DependencyCheck = {
    name: 'connection:plex',
    check: async () => { throw new ConnectorError('plex', 'connect ECONNREFUSED 10.1.2.3:443 for user DemoWS_All'); },
  };
  let sawAbort = false;
  const hanging: DependencyCheck = {
    name: 'blob',
    check: (signal) => new Promise(() => { signal.addEventListener('abort', () => { sawAbort = true; }); }),
  };
  const report = await new Readiness([ok('redis'), failing, hanging], { timeoutMs: 100, log }).check();
  assert.equal(report.status, 'unavailable');
  assert.deepEqual(report.failed.sort(), ['blob', 'connection:plex']);
  assert.equal(report.checks.redis.status, 'ok');
  assert.equal(report.checks['connection:plex'].error, 'ConnectorError (CONNECTOR)');
  assert.equal(report.checks.blob.error, 'no answer within 100 ms');
  assert.ok(sawAbort, 'the hanging check was told to stop');
  assert.ok(!JSON.stringify(report).includes('10.1.2.3'), 'no host names or users in the answer');
});

test('concurrent probes share one round of checks; a shutting-down process is unavailable without checking', async () => {
  let calls = 0;
  const counted: DependencyCheck = { name: 'redis', check: async () => { calls++; await new Promise((r) => setTimeout(r, 20)); } };
  const readiness = new Readiness([counted], { timeoutMs: 1000, log });
  const [a, b] = await Promise.all([readiness.check(), readiness.check()]);
  assert.equal(calls, 1);
  assert.deepEqual(a, b);
  await readiness.check();
  assert.equal(calls, 2, 'a later probe checks again');
  readiness.shuttingDown();
  assert.deepEqual(await readiness.check(), { status: 'unavailable', reason: 'shutting down', failed: [], checks: {} });
  assert.equal(calls, 2);
});

test('redisCheck against the real Redis, and against a port where nothing listens', async () => {
  const up = new Redis(REDIS_URL);
  const down = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
  down.on('error', () => {});
  try {
    const report = await new Readiness([redisCheck(up), redisCheck(down, 'redis-down')], { timeoutMs: 1500, log }).check();
    assert.equal(report.checks.redis.status, 'ok');
    assert.equal(report.checks['redis-down'].status, 'failed');
    assert.deepEqual(report.failed, ['redis-down']);
  } finally {
    up.disconnect();
    down.disconnect();
  }
});

test('one check per configured connection, named after it', async () => {
  const tested: string[] = [];
  const checks = connectionChecks({
    names: () => new Set(['warehouse', 'plex']),
    get: (name) => ({ testConnection: async () => { tested.push(name); } }),
  });
  assert.deepEqual(checks.map((c) => c.name), ['connection:plex', 'connection:warehouse']);
  await Promise.all(checks.map((c) => c.check(new AbortController().signal)));
  assert.deepEqual(tested.sort(), ['plex', 'warehouse']);
});
