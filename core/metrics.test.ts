import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  recordActivity, recordDelivery, recordGraphThrottle, recordMutexWait, recordQueued, recordRun, recordStep,
  registry, renderMetrics, watchQueue,
} from './metrics.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The value of one sample line `name{labels} value` in the text format, or undefined. */
async function sample(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
  const prefix = want ? `${name}{${want}} ` : `${name} `;
  const line = (await renderMetrics()).body.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

test('the text format carries the process metrics and our series', async () => {
  const { contentType, body } = await renderMetrics();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  assert.match(body, /^process_cpu_seconds_total /m);
  assert.match(body, /^nodejs_eventloop_lag_seconds /m);
  for (const name of ['reportbot_runs_total', 'reportbot_run_duration_seconds', 'reportbot_step_duration_seconds', 'reportbot_mutex_wait_seconds',
    'reportbot_deliveries_total', 'reportbot_graph_throttles_total', 'reportbot_queue_jobs', 'reportbot_bot_activities_total',
    'reportbot_requests_queued_total', 'reportbot_bot_auth_rejected_total']) {
    assert.match(body, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
});

test('runs, steps, mutex waits, deliveries and queued requests are counted with their labels', async () => {
  recordRun('trial-balance', 'completed', 12.5);
  recordRun('trial-balance', 'completed', 30);
  recordRun('trial-balance', 'handed_back', 3);
  recordStep('trial-balance', 'Open activity', 4.2);
  recordMutexWait(['tb', 'gl'], 0.7);
  recordDelivery('teams', 'sent');
  recordDelivery('onedrive', 'failed');
  recordQueued('gl-accounts', 'card');
  assert.equal(await sample('reportbot_runs_total', { report: 'trial-balance', outcome: 'completed' }), 2);
  assert.equal(await sample('reportbot_runs_total', { report: 'trial-balance', outcome: 'handed_back' }), 1);
  assert.equal(await sample('reportbot_run_duration_seconds_sum', { report: 'trial-balance', outcome: 'completed' }), 42.5);
  assert.equal(await sample('reportbot_run_duration_seconds_bucket', { le: '30', report: 'trial-balance', outcome: 'completed' }), 2);
  assert.equal(await sample('reportbot_run_duration_seconds_bucket', { le: '10', report: 'trial-balance', outcome: 'completed' }), 0);
  assert.equal(await sample('reportbot_step_duration_seconds_count', { report: 'trial-balance', step: 'Open activity' }), 1);
  assert.equal(await sample('reportbot_mutex_wait_seconds_count', { lock: 'gl+tb' }), 1, 'locks are sorted and joined');
  assert.equal(await sample('reportbot_deliveries_total', { channel: 'teams', outcome: 'sent' }), 1);
  assert.equal(await sample('reportbot_deliveries_total', { channel: 'onedrive', outcome: 'failed' }), 1);
  assert.equal(await sample('reportbot_requests_queued_total', { report: 'gl-accounts', origin: 'card' }), 1);
});

test('label values stay bounded: unknown activity types and odd Graph operation names are "other"', async () => {
  recordActivity('message');
  recordActivity('something-new-from-teams');
  recordActivity('x'.repeat(500));
  recordGraphThrottle('upload');
  recordGraphThrottle('https://graph.microsoft.com/v1.0/users/someone@contoso.com/drive');
  assert.equal(await sample('reportbot_bot_activities_total', { type: 'message' }), 1);
  assert.equal(await sample('reportbot_bot_activities_total', { type: 'other' }), 2);
  assert.equal(await sample('reportbot_graph_throttles_total', { operation: 'upload' }), 1);
  assert.equal(await sample('reportbot_graph_throttles_total', { operation: 'other' }), 1);
  assert.ok(!(await renderMetrics()).body.includes('contoso'), 'no URL or user ever becomes a label');
});

test('queue depth is read from Redis at scrape time, and dropped (not left stale) when Redis fails', async () => {
  const redis = new Redis(REDIS_URL);
  const prefix = `test-metrics-${randomBytes(4).toString('hex')}`;
  const queue = new Queue('depth', { connection: redis, prefix });
  const unwatch = watchQueue(queue);
  try {
    await queue.add('a', {});
    await queue.add('b', {}, { delay: 60_000 });
    await queue.add('c', {});
    assert.equal(await sample('reportbot_queue_jobs', { queue: 'depth', state: 'waiting' }), 2);
    assert.equal(await sample('reportbot_queue_jobs', { queue: 'depth', state: 'delayed' }), 1);
    assert.equal(await sample('reportbot_queue_jobs', { queue: 'depth', state: 'active' }), 0);

    const broken = { name: 'broken', opts: { prefix }, getJobCounts: () => Promise.reject(new Error('connection refused')) };
    const unwatchBroken = watchQueue(broken as never);
    assert.equal(await sample('reportbot_queue_jobs', { queue: 'broken', state: 'waiting' }), undefined);
    assert.equal(await sample('reportbot_queue_jobs', { queue: 'depth', state: 'waiting' }), 2, 'one failing queue does not hide the others');
    unwatchBroken();
  } finally {
    unwatch();
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
  }
  assert.equal(await sample('reportbot_queue_jobs', { queue: 'depth', state: 'waiting' }), undefined, 'unwatched queues disappear');
  assert.ok(registry.getSingleMetric('reportbot_queue_jobs'));
});
