/**
 * A runner that dies mid-run loses nothing: the job goes back to the queue when its BullMQ lock
 * expires, another runner takes it after the dead one's mutex expires, and the requester gets one
 * result. A run whose result was already delivered is never delivered again.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { runLogEvents, type Stack, startStack } from './harness/stack.ts';
import { callCard, cardStarting, fact } from './harness/cards.ts';

let stack: Stack;
before(async () => {
  stack = await startStack({ runners: 0, env: { JOB_LOCK_MS: '2000', MUTEX_TTL_MS: '2000', RUNNER_CONCURRENCY: '1' } });
});
after(() => stack?.stop());

const events = (tag: string): string[] => runLogEvents(stack.warehousePath, tag);

test('a runner killed mid-run (SIGKILL): the job is picked up again and delivered once', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'runner/main.ts'], {
    env: { ...process.env, ...stack.env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  try {
    const user = stack.connector.user();
    await user.say(stack.endpoint, 'run slow-export tag=crash rows=300000');
    const queued = callCard(await user.waitFor(cardStarting('Queued: Slow export')));
    const runId = fact(queued, 'Run id');
    for (let i = 0; i < 600 && !events('crash').includes('start'); i++) await sleep(50);
    assert.deepEqual(events('crash'), ['start'], `the child runner started the pipeline (stderr: ${stderr.slice(-500)})`);
    child.kill('SIGKILL');
    await once(child, 'exit');

    await stack.startRunner();
    const ready = await user.waitFor(cardStarting('Ready: Slow export'), 60_000);
    assert.equal(fact(callCard(ready), 'Run id'), runId);
    await sleep(1500);
    assert.equal(user.activities().filter(cardStarting('Ready')).length, 1, 'delivered exactly once');
    assert.equal(user.activities().filter(cardStarting('Failed')).length, 0);
    assert.deepEqual(events('crash'), ['start', 'start', 'end'], 'the killed attempt never finished; the retry did');
    const job = await stack.queue.getJob(runId!);
    assert.equal(await job?.getState(), 'completed');
  } finally {
    child.kill('SIGKILL');
  }
});

test('the same run processed again after its delivery is not delivered twice', async () => {
  const user = stack.connector.user();
  await user.say(stack.endpoint, 'run gl-accounts pcn=900101');
  const ready = await user.waitFor(cardStarting('Ready: Chart of accounts'), 30_000);
  const runId = fact(callCard(ready), 'Run id')!;
  const job = (await stack.queue.getJob(runId))!;
  // What a runner that died between delivering and acknowledging leaves behind: the run again.
  const again = await stack.queue.add(job.name, job.data, { jobId: `${runId}-again` });
  for (let i = 0; i < 200 && (await again.getState()) !== 'completed'; i++) await sleep(50);
  assert.equal(await again.getState(), 'completed');
  assert.equal(user.activities().filter(cardStarting('Ready')).length, 1);
});
