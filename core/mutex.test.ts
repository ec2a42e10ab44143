import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Mutex } from './mutex.ts';
import { LockLostError, LockTimeoutError } from './errors.ts';

const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `test-mutex-${randomBytes(4).toString('hex')}:`;
const mutex = new Mutex(redis, prefix);

after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

test('two holders of the same resource never overlap; the second waits and says so', async () => {
  const spans: { who: string; start: number; end: number }[] = [];
  let waited = 0;
  const hold = (who: string) => mutex.withLock(['tb'], { ttlMs: 1000, waitMs: 10_000, onWaiting: () => { waited++; } }, async () => {
    const start = Date.now();
    await sleep(300);
    spans.push({ who, start, end: Date.now() });
  });
  await Promise.all([hold('a'), hold('b'), hold('c')]);
  spans.sort((x, y) => x.start - y.start);
  for (let i = 1; i < spans.length; i++) assert.ok(spans[i].start >= spans[i - 1].end, `overlap: ${JSON.stringify(spans)}`);
  assert.equal(waited, 2);
  assert.equal(await redis.exists(`${prefix}tb`), 0, 'released after the last holder');
});

test('different resources run in parallel', async () => {
  const t0 = Date.now();
  await Promise.all(['x', 'y', 'z'].map((r) => mutex.withLock([r], { ttlMs: 1000, waitMs: 1000 }, () => sleep(300))));
  assert.ok(Date.now() - t0 < 850, 'three independent locks should not serialize');
});

test('the lock is extended while the work runs longer than its ttl', async () => {
  await mutex.withLock(['long'], { ttlMs: 600, waitMs: 1000 }, async (signal) => {
    await sleep(1500);
    assert.equal(signal.aborted, false);
    assert.equal(await redis.exists(`${prefix}long`), 1);
  });
});

test('losing the lock aborts the work with LockLostError', async () => {
  let sawAbort = false;
  await assert.rejects(mutex.withLock(['lost'], { ttlMs: 600, waitMs: 1000 }, async (signal) => {
    await redis.del(`${prefix}lost`); // another party took it over / it expired
    await sleep(2000, undefined, { signal }).catch(() => { sawAbort = true; });
    return 'finished';
  }), LockLostError);
  assert.ok(sawAbort, 'the work saw its signal abort');
});

test('released on failure, and a waiter gives up after waitMs', async () => {
  await assert.rejects(mutex.withLock(['fail'], { ttlMs: 1000, waitMs: 1000 }, async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await redis.exists(`${prefix}fail`), 0);
  const holding = mutex.withLock(['busy'], { ttlMs: 1000, waitMs: 1000 }, () => sleep(1200));
  await sleep(50);
  await assert.rejects(mutex.withLock(['busy'], { ttlMs: 1000, waitMs: 300 }, async () => 'never'), LockTimeoutError);
  await holding;
});

test('an aborted caller stops waiting at once', async () => {
  const holding = mutex.withLock(['abort'], { ttlMs: 1000, waitMs: 1000 }, () => sleep(800));
  await sleep(50);
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('cancelled by user')), 100);
  await assert.rejects(mutex.withLock(['abort'], { ttlMs: 1000, waitMs: 10_000, signal: controller.signal }, async () => 'never'), /cancelled by user/);
  await holding;
});

test('an unreachable Redis is an error, not an endless wait', async () => {
  const dead = new Redis({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  dead.on('error', () => {});
  const m = new Mutex(dead, prefix);
  await assert.rejects(m.withLock(['x'], { ttlMs: 1000, waitMs: 60_000 }, async () => 'never'), (err: Error) => !(err instanceof LockTimeoutError));
  dead.disconnect();
});
