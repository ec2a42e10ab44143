/**
 * Horizontal scale figures, with runners as real child processes (`runner/main.ts`, one job at a
 * time each) sharing the queue on the machine's Redis under a private key prefix:
 *  1. 8 independent short reports (no shared lock) with 1, 2 and 4 runner processes: wall time from
 *     the first request to the last result card (median of 3 rounds after a warm-up round),
 *     throughput, and how the jobs spread over the runners.
 *  2. Several Trial Balance runs (lock `tb`) across 4 runners: when each held the lock, from the
 *     runners' own logs ("run started" once the mutex is held, "pipeline finished" before it is
 *     released), and whether any two of those intervals overlapped.
 * Requests go through the bot over HTTP and results come back as proactive cards to the local Bot
 * Connector, as in the tests. Prints tables; asserts nothing. `npm run bench:scale [tbRuns]`.
 */
import { availableParallelism } from 'node:os';
import { DEMO_SIZES } from '../demo/generator.ts';
import { startStack, type Stack } from '../test/harness/stack.ts';
import { callCard, cardStarting, fact } from '../test/harness/cards.ts';
import { spawnRunner, type ChildService } from '../test/harness/child.ts';

const TB_RUNS = Number(process.argv[2] ?? 4);
const RUNNER_COUNTS = [1, 2, 4];
const ROUNDS = 3;

/** Eight reports that share no lock: charts of accounts and GL detail over a medium ledger. */
const SHORT_REPORTS = [
  'run gl-accounts pcn=900101',
  'run gl-accounts pcn=900202',
  'run gl-accounts pcn=900101 includeInactive=true',
  'run gl-accounts pcn=900202 includeInactive=true',
  'run gl-detail pcn=900101 account=1 startPeriod=202501 endPeriod=202512',
  'run gl-detail pcn=900202 account=5 startPeriod=202501 endPeriod=202512',
  'run gl-detail pcn=900101 account=6 startPeriod=202601 endPeriod=202610',
  'run gl-detail pcn=900202 account=7 startPeriod=202601 endPeriod=202610',
];
const TB_REQUEST = 'run trial-balance pcn=900101,900202 startPeriod=202501 endPeriod=202612';

type Runner = ChildService & { opsUrl: string };

async function startRunners(stack: Stack, n: number): Promise<Runner[]> {
  return Promise.all(Array.from({ length: n }, () => spawnRunner({ ...stack.env, RUNNER_CONCURRENCY: '1' })));
}

async function stopRunners(runners: Runner[]): Promise<void> {
  for (const r of runners) r.child.kill('SIGTERM');
  const codes = await Promise.all(runners.map((r) => r.exited));
  if (codes.some((c) => c !== 0)) throw new Error(`a runner exited with ${codes.join(', ')}`);
}

/**
 * Send every request at once through the bot, each from a different person (their own chat), and
 * resolve once every result card is in. One person per request: a single chat is held to Teams'
 * per-conversation send rate (about 8 messages per 2 s: status updates and results), which would
 * measure Teams' limit instead of the runners.
 */
async function runAll(stack: Stack, requests: string[]): Promise<{ runIds: string[]; wallMs: number }> {
  // Fresh users (and conversations) per round, so their cards are this round's only.
  const users = requests.map((_, i) => stack.connector.user({ name: `Bench User ${i + 1}` }));
  const t0 = performance.now();
  await Promise.all(requests.map(async (text, i) => {
    const res = await users[i].say(stack.endpoint, text);
    if (res.status !== 200) throw new Error(`bot answered ${res.status} to "${text}"`);
  }));
  const runIds = await Promise.all(users.map(async (user) => {
    const queued = await user.waitFor(cardStarting('Queued'), 30_000);
    return fact(callCard(queued), 'Run id')!;
  }));
  await Promise.all(runIds.map(async (runId, i) => {
    const done = await users[i].waitFor((c) => fact(callCard(c), 'Run id') === runId && /^(Ready|Failed)/.test(String(callCard(c)?.body?.[0]?.text)), 600_000);
    if (!cardStarting('Ready')(done)) throw new Error(`run ${runId} failed: ${JSON.stringify(callCard(done))}`);
  }));
  return { runIds, wallMs: performance.now() - t0 };
}

const pad = (s: string | number, n: number) => String(s).padEnd(n);
const padL = (s: string | number, n: number) => String(s).padStart(n);

const stack = await startStack({ runners: 0, journalLines: DEMO_SIZES.medium });
const all: Runner[] = [];
try {
  console.log(`machine: ${availableParallelism()} CPU cores; Redis ${stack.config.REDIS_URL} (prefix ${stack.prefix}); demo ledger ${DEMO_SIZES.medium.toLocaleString('en-US')} journal lines`);
  console.log(`runners: child processes, RUNNER_CONCURRENCY=1 each; requests through the bot over HTTP, one person (chat) per request, results as Teams cards\n`);

  const rows: string[][] = [];
  let base = 0;
  for (const n of RUNNER_COUNTS) {
    const runners = await startRunners(stack, n);
    all.push(...runners);
    // Warm-up, not timed: every process opens its connections and runs each code path once or more.
    await runAll(stack, SHORT_REPORTS);
    const rounds: { runIds: string[]; wallMs: number }[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await runAll(stack, SHORT_REPORTS));
    await stopRunners(runners); // after exit every log line is in: count who ran what
    const walls = rounds.map((r) => r.wallMs).sort((a, b) => a - b);
    const median = walls[Math.floor(walls.length / 2)];
    const throughput = SHORT_REPORTS.length / (median / 1000);
    if (n === 1) base = throughput;
    const timedIds = rounds.flatMap((r) => r.runIds);
    const perRunner = runners.map((r) => timedIds.filter((id) => r.logs.some((l) => l.msg === 'run delivered' && l.runId === id)).length);
    rows.push([
      String(n), (median / 1000).toFixed(2), `${(walls[0] / 1000).toFixed(2)}–${(walls[walls.length - 1] / 1000).toFixed(2)}`,
      throughput.toFixed(2), `${(throughput / base).toFixed(2)}x`, perRunner.join(' / '),
    ]);
  }
  console.log(`${SHORT_REPORTS.length} independent short reports (gl-accounts x4, gl-detail x4), all requested at once; ${ROUNDS} timed rounds after one warm-up round:`);
  const head = ['runners', 'wall median (s)', 'wall range (s)', 'jobs/s', 'speed-up', `jobs per runner (${ROUNDS} rounds)`];
  const widths = head.map((h) => Math.max(h.length, 8));
  console.log(head.map((h, i) => pad(h, widths[i])).join(' | '));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(r.map((c, i) => pad(c, widths[i])).join(' | '));

  // Trial Balance runs share the `tb` lock: they must run one after another, whichever runner has them.
  const runners = await startRunners(stack, 4);
  all.push(...runners);
  const { runIds, wallMs } = await runAll(stack, Array.from({ length: TB_RUNS }, () => TB_REQUEST));
  await stopRunners(runners);
  const spans = runIds.map((runId) => {
    const index = runners.findIndex((r) => r.logs.some((l) => l.runId === runId && l.msg === 'pipeline finished'));
    const logs = runners[index]?.logs.filter((l) => l.runId === runId) ?? [];
    const start = logs.find((l) => l.msg === 'run started')?.time;
    const end = logs.find((l) => l.msg === 'pipeline finished')?.time;
    const waited = logs.find((l) => l.msg === 'waiting for mutex')?.time;
    if (start === undefined || end === undefined) throw new Error(`no lock interval logged for ${runId}`);
    return { runId, runner: index + 1, start, end, waitedMs: waited === undefined ? 0 : start - waited };
  }).sort((a, b) => a.start - b.start);
  const t0 = spans[0].start;
  console.log(`\n${TB_RUNS} Trial Balance runs (${TB_REQUEST.slice(4)}) requested at once on 4 runners; wall ${(wallMs / 1000).toFixed(2)} s`);
  console.log('run id            | runner | waited for tb (ms) | held tb from (ms) | to (ms) | pipeline (ms)');
  console.log('------------------|--------|--------------------|-------------------|---------|--------------');
  for (const s of spans) {
    console.log(`${pad(s.runId, 17)} | ${padL(s.runner, 6)} | ${padL(s.waitedMs, 18)} | ${padL(s.start - t0, 17)} | ${padL(s.end - t0, 7)} | ${padL(s.end - s.start, 12)}`);
  }
  const gaps = spans.slice(1).map((s, i) => s.start - spans[i].end);
  const overlaps = gaps.filter((g) => g < 0).length;
  console.log(overlaps === 0
    ? `overlaps: none — each run took the lock after the previous one finished (gaps ${gaps.map((g) => `${g} ms`).join(', ')}); ${new Set(spans.map((s) => s.runner)).size} different runners ran them`
    : `OVERLAPS: ${overlaps} (gaps ${gaps.join(', ')} ms)`);
} finally {
  for (const r of all) r.kill();
  await stack.stop();
}
