/**
 * Graceful shutdown with real processes. A runner that gets SIGTERM stops taking jobs, lets the
 * running one finish within SHUTDOWN_GRACE_MS, and past it hands the job back to the queue (not a
 * failed attempt, nobody told) for another runner, releasing its mutex on the way out. The bot stops
 * accepting connections and finishes the requests in flight. Every process exits 0.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { keys } from '../core/redis.ts';
import { runLogEvents, type Stack, startStack } from './harness/stack.ts';
import { callCard, cardStarting, fact } from './harness/cards.ts';
import { spawnRunner, spawnService, type ChildService } from './harness/child.ts';

let stack: Stack;
const children: ChildService[] = [];
before(async () => {
  stack = await startStack({ runners: 0, env: { RUNNER_CONCURRENCY: '1' } });
});
after(async () => {
  for (const c of children) c.kill();
  await stack?.stop();
});

const events = (tag: string): string[] => runLogEvents(stack.warehousePath, tag);

async function untilStarted(tag: string, runner: ChildService): Promise<void> {
  for (let i = 0; i < 600 && !events(tag).includes('start'); i++) await sleep(50);
  assert.deepEqual(events(tag), ['start'], `the child runner started the pipeline (stderr: ${runner.stderr().slice(-500)})`);
}

/** The job's state once it has left "active" (the result card goes out just before the job completes). */
async function settledState(runId: string): Promise<string | undefined> {
  let state: string | undefined;
  for (let i = 0; i < 200; i++) {
    state = await (await stack.queue.getJob(runId))?.getState();
    if (state !== 'active') break;
    await sleep(50);
  }
  return state;
}

async function runner(env: Record<string, string>) {
  const r = await spawnRunner({ ...stack.env, ...env });
  children.push(r);
  return r;
}

test('SIGTERM during a short run: it finishes, the result is delivered once, the runner exits 0', async () => {
  const child = await runner({ SHUTDOWN_GRACE_MS: '120000' });
  const user = stack.connector.user();
  await user.say(stack.endpoint, 'run slow-export tag=sd-finish rows=300000');
  const runId = fact(callCard(await user.waitFor(cardStarting('Queued: Slow export'))), 'Run id')!;
  await untilStarted('sd-finish', child);

  child.child.kill('SIGTERM');
  assert.equal(await child.exited, 0, `exit code (stderr: ${child.stderr().slice(-500)})`);

  assert.deepEqual(events('sd-finish'), ['start', 'end'], 'the run was finished, not restarted');
  const ready = user.activities().filter(cardStarting('Ready: Slow export'));
  assert.equal(ready.length, 1, 'delivered exactly once');
  assert.equal(fact(callCard(ready[0]), 'Run id'), runId);
  assert.equal(user.activities().filter(cardStarting('Failed')).length, 0);
  assert.equal(await settledState(runId), 'completed');
  assert.ok(child.logs.some((l) => l.msg === 'no longer taking jobs; letting running ones finish'));
  assert.ok(!child.logs.some((l) => l.msg === 'run handed back to the queue'));
});

test('SIGTERM during a long run with a short grace: handed back, another runner completes it, one result', async () => {
  // MUTEX_TTL_MS is long: if the stopped runner left its mutex behind, the next run would wait for it.
  const child = await runner({ SHUTDOWN_GRACE_MS: '300', MUTEX_TTL_MS: '60000' });
  const user = stack.connector.user();
  await user.say(stack.endpoint, 'run slow-export tag=sd-handback rows=1000000');
  const runId = fact(callCard(await user.waitFor(cardStarting('Queued: Slow export'))), 'Run id')!;
  await untilStarted('sd-handback', child);

  child.child.kill('SIGTERM');
  assert.equal(await child.exited, 0, `exit code (stderr: ${child.stderr().slice(-500)})`);
  assert.ok(child.logs.some((l) => l.msg === 'run handed back to the queue' && l.runId === runId), 'the runner says it handed the run back');

  // Back on the queue at once, with no attempt used up and no failure recorded or announced.
  const job = (await stack.queue.getJob(runId))!;
  assert.equal(await job.getState(), 'waiting');
  assert.equal(job.attemptsMade, 0);
  assert.equal(job.failedReason, undefined);
  assert.equal(await stack.redis.exists(keys(stack.prefix).mutex('tb')), 0, 'the mutex was released, not left to expire');
  assert.deepEqual(events('sd-handback'), ['start'], 'the stopped attempt did not run to its end');
  assert.equal(user.activities().filter(cardStarting('Failed')).length, 0, 'nobody was told about a failure');
  assert.equal(user.activities().filter(cardStarting('Ready')).length, 0);

  const next = await stack.startRunner();
  try {
    const ready = await user.waitFor(cardStarting('Ready: Slow export'), 120_000);
    assert.equal(fact(callCard(ready), 'Run id'), runId);
    assert.equal(await settledState(runId), 'completed');
    await sleep(1000);
    assert.equal(user.activities().filter(cardStarting('Ready')).length, 1, 'exactly one result card');
    assert.equal(user.activities().filter(cardStarting('Failed')).length, 0);
    assert.deepEqual(events('sd-handback'), ['start', 'start', 'end'], 'the second runner ran it to the end');
  } finally {
    await next.close();
  }
});

test('after SIGTERM a runner takes no new job, even with a free slot', async () => {
  const child = await runner({ SHUTDOWN_GRACE_MS: '120000', RUNNER_CONCURRENCY: '2' });
  const user = stack.connector.user();
  await user.say(stack.endpoint, 'run slow-export tag=sd-notake rows=1000000');
  await user.waitFor(cardStarting('Queued: Slow export'));
  await untilStarted('sd-notake', child);

  child.child.kill('SIGTERM');
  await child.waitForLog((l) => l.msg === 'no longer taking jobs; letting running ones finish');
  // Draining: out of rotation, but alive (a liveness probe must not kill it during the grace period).
  const ready = await fetch(`${child.opsUrl}/readyz`);
  assert.equal(ready.status, 503);
  assert.equal((await ready.json() as { reason?: string }).reason, 'shutting down');
  assert.equal((await fetch(`${child.opsUrl}/healthz`)).status, 200);
  await user.say(stack.endpoint, 'run gl-accounts pcn=900101');
  const late = fact(callCard(await user.waitFor(cardStarting('Queued: Chart of accounts'))), 'Run id')!;
  assert.equal(await child.exited, 0, `exit code (stderr: ${child.stderr().slice(-500)})`);

  assert.equal(user.activities().filter(cardStarting('Ready: Slow export')).length, 1, 'the running job finished');
  const job = (await stack.queue.getJob(late))!;
  assert.equal(await job.getState(), 'waiting', 'the job queued after SIGTERM was left for others');
  assert.equal(job.processedOn, undefined);
  assert.ok(!child.logs.some((l) => l.runId === late), 'the stopping runner never touched it');

  const next = await stack.startRunner();
  try {
    const ready = await user.waitFor(cardStarting('Ready: Chart of accounts'), 60_000);
    assert.equal(fact(callCard(ready), 'Run id'), late);
  } finally {
    await next.close();
  }
});

test('bot SIGTERM: stops accepting connections, finishes the request in flight, exits 0', async () => {
  const bot = spawnService('bot/main.ts', { ...stack.env, PORT: '0' });
  children.push(bot);
  const endpoint = new URL(String((await bot.waitForLog((l) => l.msg === 'bot listening')).endpoint));
  const user = stack.connector.user();
  const body = Buffer.from(JSON.stringify(user.activity('message', { text: 'run gl-accounts pcn=900202' })));

  // A request whose body is still arriving when the signal comes.
  let inFlight: ReturnType<typeof request> | undefined;
  const response = new Promise<number>((resolve, reject) => {
    const req = request(endpoint, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.write(body.subarray(0, 20));
    inFlight = req;
  });
  await sleep(200);
  bot.child.kill('SIGTERM');
  await bot.waitForLog((l) => l.msg === 'shutting down');

  // New connections are refused while the old request is still open.
  let refused: unknown;
  for (let i = 0; i < 100 && !refused; i++) {
    refused = await fetch(new URL('/healthz', endpoint)).then(() => undefined, (err: unknown) => err);
    if (!refused) await sleep(20);
  }
  assert.ok(refused, 'a new connection after SIGTERM is refused');

  inFlight!.end(body.subarray(20));
  assert.equal(await response, 200, 'the request in flight was answered');
  const queued = await user.waitFor(cardStarting('Queued: Chart of accounts'));
  assert.ok(fact(callCard(queued), 'Run id'));
  assert.equal(await bot.exited, 0, `exit code (stderr: ${bot.stderr().slice(-500)})`);
});
