/**
 * Figures for the walking skeleton:
 *  1. message → "queued" reply: 200 `run gl-accounts …` messages from 20 concurrent senders over real
 *     HTTP through the bot; latency from POST until the connector received the queued card.
 *  2. enqueue → runner start, idle: one job at a time into an idle runner; latency from queue.add
 *     until the worker's "active" event.
 * Runs on the same real parts as the tests (machine Redis under a unique prefix, Azurite, SQLite).
 */
import { QueueEvents } from 'bullmq';
import { newRunId } from '../core/job.ts';
import { enqueueReport } from '../core/queue.ts';
import { createRedis } from '../core/redis.ts';
import { cardOf } from '../demo/connector.ts';
import { startStack } from '../test/harness/stack.ts';

const REQUESTS = Number(process.argv[2] ?? 200);
const CONCURRENCY = Number(process.argv[3] ?? 20);
const IDLE_SAMPLES = 30;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

// No runner during part 1: it measures the bot's path only, and the queue just fills.
const stack = await startStack({ runners: 0 });
try {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, s) => {
    const user = stack.connector.user({ name: `Sender ${s}` });
    while (next < REQUESTS) {
      next++;
      const sent = performance.now();
      const since = Date.now();
      const res = await user.say(stack.endpoint, `run gl-accounts pcn=900101`);
      if (res.status !== 200) throw new Error(`bot answered ${res.status}`);
      await stack.connector.waitFor((c) => c.conversationId === user.reference.conversationId && c.at >= since
        && String((cardOf(c.activity) as { body?: { text?: string }[] } | undefined)?.body?.[0]?.text ?? '').startsWith('Queued'), 10_000);
      latencies.push(performance.now() - sent);
    }
  }));
  const wall = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  console.log(`message → queued reply: ${latencies.length} requests, ${CONCURRENCY} concurrent senders, ${(latencies.length / (wall / 1000)).toFixed(0)} req/s`);
  console.log(`  p50 ${fmt(pct(latencies, 50))}  p99 ${fmt(pct(latencies, 99))}  max ${fmt(latencies[latencies.length - 1])}`);

  // Part 2: drain what part 1 queued, then time single jobs into an idle runner.
  await stack.queue.obliterate({ force: true });
  const eventsRedis = createRedis(stack.config, { blocking: true });
  const events = new QueueEvents(stack.config.QUEUE_NAME, { connection: eventsRedis, prefix: stack.config.REDIS_PREFIX });
  await events.waitUntilReady();
  await stack.startRunner();
  const user = stack.connector.user();
  await user.say(stack.endpoint, 'hello'); // stores the conversation reference the runner replies to
  const conversation = { serviceUrl: stack.connector.url, channelId: 'msteams', conversation: { id: user.reference.conversationId } };
  const starts: number[] = [];
  for (let i = 0; i < IDLE_SAMPLES; i++) {
    const runId = newRunId();
    const active = new Promise<number>((resolve) => {
      const on = ({ jobId }: { jobId: string }) => { if (jobId === runId) { events.off('active', on); resolve(performance.now()); } };
      events.on('active', on);
    });
    const done = new Promise<void>((resolve) => {
      const on = ({ jobId }: { jobId: string }) => { if (jobId === runId) { events.off('completed', on); resolve(); } };
      events.on('completed', on);
    });
    const added = performance.now();
    await enqueueReport(stack.queue, {
      runId, reportId: 'gl-accounts', params: { pcn: '900101' }, origin: 'cli', requestedAt: new Date().toISOString(),
      requestedBy: { aadObjectId: user.reference.aadObjectId, name: 'bench', upn: '' }, conversation,
    }, stack.config);
    starts.push((await active) - added);
    await done;
  }
  starts.sort((a, b) => a - b);
  console.log(`enqueue → runner start (idle runner, ${IDLE_SAMPLES} jobs one at a time; measured at QueueEvents "active", which adds one Redis stream read):`);
  console.log(`  p50 ${fmt(pct(starts, 50))}  p99 ${fmt(pct(starts, 99))}  max ${fmt(starts[starts.length - 1])}`);
  await events.close();
  eventsRedis.disconnect();
} finally {
  await stack.stop();
}
