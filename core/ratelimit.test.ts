import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter, withRetry, type Clock } from './ratelimit.ts';

/** A clock that only moves when someone sleeps: the tests check the schedule, not the wall time. */
function fakeClock(): Clock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => { slept.push(ms); t += ms; },
  };
}

test('no window is ever exceeded, and calls for one key keep their order', async () => {
  const clock = fakeClock();
  const windows = [{ limit: 7, ms: 1000 }, { limit: 60, ms: 30_000 }];
  const limiter = new RateLimiter(windows, clock);
  const granted: { i: number; at: number }[] = [];
  await Promise.all(Array.from({ length: 100 }, (_, i) => limiter.acquire('conv').then(() => granted.push({ i, at: clock.now() }))));
  assert.deepEqual(granted.map((g) => g.i), granted.map((_, i) => i), 'first come, first served');
  const times = granted.map((g) => g.at);
  for (const w of windows) {
    for (let i = w.limit; i < times.length; i++) {
      assert.ok(times[i] - times[i - w.limit] >= w.ms, `more than ${w.limit} calls within ${w.ms} ms at call ${i}`);
    }
  }
  // And it does not wait more than it must: the 61st call is exactly 30 s after the first.
  assert.equal(times[60] - times[0], 30_000);
});

test('keys are independent: a busy conversation does not slow another one', async () => {
  const clock = fakeClock();
  const limiter = new RateLimiter([{ limit: 2, ms: 1000 }], clock);
  await limiter.acquire('a');
  await limiter.acquire('a');
  assert.ok(limiter.waitFor('a') > 0);
  assert.equal(limiter.waitFor('b'), 0);
  await limiter.acquire('b');
  assert.deepEqual(clock.slept, []);
});

test('a bad window is refused', () => {
  assert.throws(() => new RateLimiter([]), RangeError);
  assert.throws(() => new RateLimiter([{ limit: 0, ms: 1000 }]), RangeError);
});

test('withRetry: waits Retry-After on throttling, backs off without it, gives up after the attempts', async () => {
  const clock = fakeClock();
  const throttled = (afterMs?: number) => Object.assign(new Error('429'), { status: 429, afterMs });
  const classify = (err: unknown) => {
    const e = err as { status?: number; afterMs?: number };
    return { retry: e.status === 429, afterMs: e.afterMs };
  };
  let calls = 0;
  const result = await withRetry(async () => {
    calls++;
    if (calls === 1) throw throttled(2000);
    if (calls === 2) throw throttled();
    return 'ok';
  }, { attempts: 4, baseMs: 100, classify, clock, random: () => 0.5 });
  assert.equal(result, 'ok');
  assert.deepEqual(clock.slept, [2050, 150], 'Retry-After plus a little jitter, then (second try) half of 200 ms plus jitter');

  calls = 0;
  await assert.rejects(withRetry(async () => { calls++; throw throttled(10); }, { attempts: 3, classify, clock }), /429/);
  assert.equal(calls, 3, 'bounded');

  calls = 0;
  await assert.rejects(withRetry(async () => { calls++; throw new Error('403'); }, { attempts: 3, classify, clock }), /403/);
  assert.equal(calls, 1, 'other errors are not retried');

  await assert.rejects(withRetry(async () => { throw throttled(3_600_000); }, { attempts: 2, maxDelayMs: 1000, classify, clock }));
  assert.equal(clock.slept.at(-1), 1000, 'a huge Retry-After is capped');
});
