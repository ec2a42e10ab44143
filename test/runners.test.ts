/**
 * Two runners share the queue. Reports that name the same lock never run at the same time (each run
 * records when its pipeline started and ended, inside the mutex), and a run that loses its lock stops.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import { keys } from '../core/redis.ts';
import { startStack, type Stack } from './harness/stack.ts';
import { callCard, cardStarting, fact, texts } from './harness/cards.ts';

let stack: Stack;
before(async () => {
  stack = await startStack({ runners: 2, env: { RUNNER_CONCURRENCY: '1', JOB_ATTEMPTS: '1', MUTEX_TTL_MS: '1500' } });
});
after(() => stack?.stop());

function runLog(tags: string[]): { tag: string; event: string; at: number }[] {
  const db = new Database(stack.warehousePath, { readonly: true });
  try {
    return db.prepare(`select tag, event, at from run_log where tag in (${tags.map(() => '?').join(',')}) order by at`).all(...tags) as never;
  } finally {
    db.close();
  }
}

test('two requests for a locked report on two runners never overlap', async () => {
  const tags = ['lock-a', 'lock-b', 'lock-c'];
  const user = stack.connector.user();
  for (const tag of tags) await user.say(stack.endpoint, `run slow-export tag=${tag} rows=20000`);
  for (const tag of tags) {
    await user.waitFor((c) => cardStarting('Ready: Slow export')(c) && fact(callCard(c), 'Tag') === tag, 60_000);
  }
  const log = runLog(tags);
  assert.equal(log.length, 6);
  const spans = tags.map((tag) => ({
    tag,
    start: log.find((e) => e.tag === tag && e.event === 'start')!.at,
    end: log.find((e) => e.tag === tag && e.event === 'end')!.at,
  })).sort((a, b) => a.start - b.start);
  for (let i = 1; i < spans.length; i++) {
    assert.ok(spans[i].start >= spans[i - 1].end, `runs overlapped: ${JSON.stringify(spans)}`);
  }
});

test('a run that loses its lock is aborted and the requester is told', async () => {
  const user = stack.connector.user();
  await user.say(stack.endpoint, 'run slow-export tag=lost rows=400000');
  const mutexKey = keys(stack.prefix).mutex('tb');
  // Wait until the pipeline holds the lock and is writing rows, then take the lock away.
  for (let i = 0; i < 200 && !runLog(['lost']).length; i++) await sleep(50);
  assert.equal(await stack.redis.exists(mutexKey), 1, 'the run holds the tb mutex');
  await stack.redis.del(mutexKey);
  const failed = callCard(await user.waitFor(cardStarting('Failed: Slow export'), 30_000));
  assert.match(texts(failed), /lost its exclusive lock/);
  assert.deepEqual(runLog(['lost']).map((e) => e.event), ['start'], 'the pipeline did not run to its end');
  assert.equal(user.activities().filter(cardStarting('Ready')).length, 0);
});
