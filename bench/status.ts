/**
 * Figures for the live status card: how many card updates a Trial Balance run sends, and the longest
 * a user waits without feedback (from pressing enter to the first card, between card updates, and
 * until the result). Runs the TB through the whole stack (bot over HTTP, a runner, the local Bot
 * Connector recording every send and update) on the demo ledger, twice:
 *   1. one TB alone;
 *   2. two TBs asked for at the same moment by two people: the second waits for the tb lock.
 *
 * Usage: tsx bench/status.ts [journalLines=1000000] [STATUS_UPDATE_MS=5000]
 */
import { cardOf, cardText, type ChatUser, type ConnectorCall } from '../demo/connector.ts';
import { startStack, type Stack } from '../test/harness/stack.ts';

const lines = Number(process.argv[2] ?? 1_000_000);
const updateMs = process.argv[3] ?? '5000';
const COMMAND = 'run trial-balance pcn=900101,900202 startPeriod=202501 endPeriod=202612';

const headline = (c: ConnectorCall) => cardText(cardOf(c.activity)).split('\n')[0] ?? '';
const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Figures {
  updates: number;
  messages: number;
  firstCardMs: number;
  longestGapMs: number;
  longestGapWhere: string;
  totalMs: number;
  states: string;
}

/** What one person saw: every message and update in their chat from `t0` until the result. */
function figures(user: ChatUser, t0: number, statusId: string, resultSeq: number): Figures {
  const seen = user.activities().filter((c) => c.at >= t0 && c.seq <= resultSeq);
  const updates = seen.filter((c) => c.route === 'update' && c.activityId === statusId);
  let last = t0;
  let lastWhat = 'the request';
  let longest = 0;
  let where = '';
  for (const c of seen) {
    if (c.at - last > longest) {
      longest = c.at - last;
      where = `after ${lastWhat}`;
    }
    last = c.at;
    lastWhat = `"${headline(c)}${c.route === 'update' ? ` · ${cardText(cardOf(c.activity)).split('\n')[1] ?? ''}` : ''}"`;
  }
  const states: string[] = [];
  for (const c of seen.filter((x) => x.activityId === statusId)) {
    const word = headline(c).split(':')[0];
    if (states.at(-1) !== word) states.push(word);
  }
  return {
    updates: updates.length,
    messages: seen.length - updates.length,
    firstCardMs: (seen[0]?.at ?? t0) - t0,
    longestGapMs: longest,
    longestGapWhere: where,
    totalMs: (seen.at(-1)?.at ?? t0) - t0,
    states: states.join(' → '),
  };
}

async function runTb(stack: Stack, user: ChatUser, t0: number): Promise<Figures> {
  await user.say(stack.endpoint, COMMAND);
  const queued = await user.waitFor((c) => c.at >= t0 && headline(c).startsWith('Queued: Trial Balance'), 30_000);
  const result = await user.waitFor((c) => c.at >= t0 && c.route !== 'update' && /^(Ready|Failed): Trial Balance/.test(headline(c)), 30 * 60_000);
  if (!headline(result).startsWith('Ready')) throw new Error(`the TB failed: ${cardText(cardOf(result.activity))}`);
  // The last update (Done) goes out before the result message.
  return figures(user, t0, queued.activityId!, result.seq);
}

function print(label: string, f: Figures): void {
  console.log(`${label}`);
  console.log(`  card updates: ${f.updates} (plus ${f.messages} messages: the status card and the result)`);
  console.log(`  first card after ${fmt(f.firstCardMs)}; result after ${fmt(f.totalMs)}`);
  console.log(`  longest wait without feedback: ${fmt(f.longestGapMs)} (${f.longestGapWhere})`);
  console.log(`  states shown: ${f.states}`);
}

const t = performance.now();
const stack = await startStack({ runners: 1, journalLines: lines, env: { STATUS_UPDATE_MS: updateMs, RUNNER_CONCURRENCY: '2' } });
try {
  console.log(`demo ledger: ${lines.toLocaleString('en-US')} journal lines (stack up in ${fmt(performance.now() - t)}); STATUS_UPDATE_MS=${updateMs}`);
  console.log(`command: ${COMMAND}`);
  const alone = await runTb(stack, stack.connector.user({ name: 'Megan Bowen' }), Date.now());
  print('1. one Trial Balance', alone);

  const t0 = Date.now();
  const [first, second] = await Promise.all([
    runTb(stack, stack.connector.user({ name: 'Adele Vance' }), t0),
    runTb(stack, stack.connector.user({ name: 'Lee Gu' }), t0),
  ]);
  const [ahead, behind] = first.totalMs <= second.totalMs ? [first, second] : [second, first];
  print('2a. two at once: the one that got the tb lock', ahead);
  print('2b. two at once: the one that waited for it', behind);
} finally {
  await stack.stop();
}
