/**
 * Operating the bot and the runner over HTTP: /healthz, /readyz (503 naming the dependency that
 * does not answer), /metrics after a real run, and the admin queue view (off by default, Basic auth).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBot } from '../bot/main.ts';
import { parseConfig } from '../core/config.ts';
import { startStack, type Stack } from './harness/stack.ts';
import { callCard, cardStarting, fact } from './harness/cards.ts';

let stack: Stack;
before(async () => { stack = await startStack({ runners: 1 }); });
after(() => stack?.stop());

/** One sample's value from a Prometheus text body. */
function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
  const prefix = want ? `${name}{${want}} ` : `${name} `;
  const line = body.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

test('bot and runner: /healthz is 200, /readyz lists every dependency as ok', async () => {
  for (const base of [stack.bot.url, stack.runners[0].opsUrl]) {
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200, base);
    assert.deepEqual(await health.json(), { status: 'ok' });

    const ready = await fetch(`${base}/readyz`);
    const body = await ready.json() as { status: string; failed: string[]; checks: Record<string, { status: string }> };
    assert.equal(ready.status, 200, `${base}: ${JSON.stringify(body)}`);
    assert.equal(body.status, 'ready');
    assert.deepEqual(Object.keys(body.checks).sort(), ['blob', 'connection:plex', 'connection:warehouse', 'redis']);
    assert.ok(Object.values(body.checks).every((c) => c.status === 'ok'));
  }
  const missing = await fetch(`${stack.runners[0].opsUrl}/nothing-here`);
  assert.equal(missing.status, 404);
});

test('/metrics after a run: the runner counts the run, its steps and the delivery; the bot the message and the request', async () => {
  const user = stack.connector.user();
  await user.say(stack.endpoint, 'run gl-accounts pcn=900101');
  const ready = await user.waitFor(cardStarting('Ready: Chart of accounts'), 30_000);
  const runId = fact(callCard(ready), 'Run id')!;
  // The card goes out just before the job is recorded as completed.
  for (let i = 0; i < 200 && (await (await stack.queue.getJob(runId))?.getState()) !== 'completed'; i++) await sleep(25);

  // One process here (bot and runner share the registry); each endpoint serves the whole of it.
  for (const base of [stack.bot.url, stack.runners[0].opsUrl]) {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    assert.equal(sample(body, 'reportbot_runs_total', { report: 'gl-accounts', outcome: 'completed' }), 1, base);
    assert.equal(sample(body, 'reportbot_run_duration_seconds_count', { report: 'gl-accounts', outcome: 'completed' }), 1);
    assert.equal(sample(body, 'reportbot_step_duration_seconds_count', { report: 'gl-accounts', step: 'Chart of accounts' }), 1);
    assert.equal(sample(body, 'reportbot_deliveries_total', { channel: 'teams', outcome: 'sent' }), 1);
    assert.equal(sample(body, 'reportbot_bot_activities_total', { type: 'message' }), 1);
    assert.equal(sample(body, 'reportbot_requests_queued_total', { report: 'gl-accounts', origin: 'chat' }), 1);
    assert.equal(sample(body, 'reportbot_queue_jobs', { queue: 'reports', state: 'completed' }), 1);
    assert.equal(sample(body, 'reportbot_queue_jobs', { queue: 'reports', state: 'waiting' }), 0);
    assert.ok(sample(body, 'process_resident_memory_bytes')! > 0);
    assert.ok(!body.includes(runId), 'no run id in any label');
  }
});

test('a connection that does not answer makes /readyz 503 and names it, on the runner and on the bot', async () => {
  const unreachable = { CONNECTION_LEGACY: 'plex://user:secret@127.0.0.1:1/DataSource/Service.asmx', READINESS_TIMEOUT_MS: '3000' };
  const runner = await stack.startRunner(unreachable);
  const bot = await startBot(parseConfig({ ...stack.env, ...unreachable }), stack.log);
  try {
    for (const base of [runner.opsUrl, bot.url]) {
      const res = await fetch(`${base}/readyz`);
      const body = await res.json() as { status: string; failed: string[]; checks: Record<string, { status: string; error?: string }> };
      assert.equal(res.status, 503, base);
      assert.equal(body.status, 'unavailable');
      assert.deepEqual(body.failed, ['connection:legacy']);
      assert.equal(body.checks.redis.status, 'ok');
      assert.ok(body.checks['connection:legacy'].error);
      assert.ok(!JSON.stringify(body).includes('secret'));
      assert.equal((await fetch(`${base}/healthz`)).status, 200, 'still alive: liveness does not depend on others');
    }
  } finally {
    await bot.close();
    await runner.close();
  }
});

test('a runner whose RUNNER_PORT is taken refuses to start and says which variable to change', async () => {
  const port = new URL(stack.runners[0].opsUrl).port;
  await assert.rejects(stack.startRunner({ RUNNER_PORT: port }), /RUNNER_PORT \d+ is already in use/);
});

test('the admin queue view is off by default', () => {
  assert.equal(stack.bot.adminUrl, undefined);
  assert.equal(stack.config.ADMIN_BOARD_PORT, undefined);
});

test('the admin queue view: 401 without or with wrong credentials, 200 with them, read-only by default', async () => {
  const password = 'correct horse battery staple';
  const bot = await startBot(parseConfig({ ...stack.env, ADMIN_BOARD_PORT: '0', ADMIN_BOARD_PASSWORD: password }), stack.log);
  const basic = (user: string, pass: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });
  try {
    assert.match(bot.adminUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/, 'on loopback');
    for (const headers of [{}, basic('admin', 'wrong password!'), basic('root', password), basic('admin', ''), { authorization: 'Bearer x' }]) {
      for (const path of ['/', '/api/queues']) {
        const res = await fetch(`${bot.adminUrl}${path}`, { headers });
        assert.equal(res.status, 401, `${path} with ${JSON.stringify(headers)}`);
        assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="Report bot admin"/);
        assert.doesNotMatch(await res.text(), /reports|Bull/);
      }
    }
    const page = await fetch(`${bot.adminUrl}/`, { headers: basic('admin', password) });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<!DOCTYPE html>/i);
    const api = await fetch(`${bot.adminUrl}/api/queues`, { headers: basic('admin', password) });
    assert.equal(api.status, 200);
    const { queues } = await api.json() as { queues: { name: string; readOnlyMode: boolean; counts: Record<string, number> }[] };
    assert.equal(queues.length, 1);
    assert.equal(queues[0].name, 'reports');
    assert.equal(queues[0].readOnlyMode, true);
    assert.ok(queues[0].counts.completed >= 1, 'it sees the runs of this stack');
  } finally {
    await bot.close();
  }
});

test('the admin view never starts without a password', () => {
  assert.throws(() => parseConfig({ ...stack.env, ADMIN_BOARD_PORT: '0' }), /ADMIN_BOARD_PASSWORD: is required when ADMIN_BOARD_PORT is set/);
  assert.throws(() => parseConfig({ ...stack.env, ADMIN_BOARD_PORT: '0', ADMIN_BOARD_PASSWORD: 'short' }), /ADMIN_BOARD_PASSWORD: must be at least 12/);
});
