import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Report } from '../core/catalog.ts';
import { parameterSchema } from '../core/params.ts';
import type { RunSummary } from '../core/history.ts';
import type { RunStatus } from '../core/status.ts';
import {
  catalogCard, COMMANDS, deliveryFailedCard, downloadCard, emailActionCard, errorCard, formatDuration, formCard, helpCard, historyCard, resultCard,
  runsCard, statusCard, TYPEAHEAD_OVER,
} from './render.ts';
import { EMAIL_OPTION_INPUT, Verbs } from './verbs.ts';

const report = {
  id: 'demo', title: 'Demo', description: 'A demo', category: 'Test', aliases: [], private: false, locks: [],
  access: { allow: ['*'], shareRuns: false }, retentionDays: 90, rules: [], timeout: 1000, steps: [], dir: '', sql: {},
  output: { fileName: 'x.xlsx' }, delivery: { email: false },
  parameters: [
    { name: 'pcn', type: 'choice', choices: [{ value: '900101', title: 'Plant A' }] },
    { name: 'limit', type: 'integer', required: false },
    { name: 'top', type: 'integer', min: 1, max: 10 },
    { name: 'asOf', type: 'date', required: false },
    { name: 'period', type: 'period' },
    { name: 'detail', type: 'boolean' },
  ].map((p) => parameterSchema.parse(p)),
} as Report;

const succeeded: RunSummary = {
  runId: 'r1', reportId: 'demo', reportTitle: 'Demo', params: { pcn: '900101', detail: true }, requestedBy: { aadObjectId: 'u1', name: 'Megan' },
  requestedAt: '2026-03-01T08:00:00.123Z', finishedAt: '2026-03-01T08:00:05.000Z', status: 'succeeded', rows: 1234, durationMs: 4000,
  checks: [{ name: 'Balanced', passed: true, violations: 0 }], file: { blobName: 'runs/demo/r1/x.xlsx', fileName: 'x.xlsx', bytes: 20_000 },
};
const failed: RunSummary = {
  ...succeeded, runId: 'r2', status: 'failed', rows: undefined, file: undefined, checks: [], failure: { step: 'Load', message: 'The data source "warehouse" did not answer as expected.' },
};

test('history: status, when in the reader\'s time zone, parameters by label; Download only where a workbook exists', () => {
  const card = historyCard({ scope: 'mine', page: { runs: [succeeded, failed], total: 12, page: 0, pages: 2, pageSize: 10 }, reports: new Map([['demo', report]]) });
  const json = JSON.stringify(card);
  assert.match(json, /Runs 1–2 of 12, newest first \(page 1 of 2\)/);
  assert.match(json, /\{\{DATE\(2026-03-01T08:00:00Z, SHORT\)\}\} \{\{TIME\(2026-03-01T08:00:00Z\)\}\}/);
  assert.match(json, /"title":"pcn","value":"Plant A"/, 'choice titles from the definition');
  assert.doesNotMatch(json, /Requested by/, 'a person\'s own history does not name them on every run');
  const containers = (card.body as { type: string; items?: unknown[] }[]).filter((e) => e.type === 'Container');
  const actionsOf = (c: unknown) => {
    const titles: string[] = [];
    walk(c, (o) => { if (o.type === 'Action.Execute') titles.push(String(o.title)); });
    return titles;
  };
  assert.deepEqual(actionsOf(containers[0]), ['Download', 'Re-run']);
  assert.deepEqual(actionsOf(containers[1]), ['Re-run']);
  assert.match(JSON.stringify(containers[1]), /"Failed step","value":"Load"/);
  assert.deepEqual((card.actions as { title: string; data: unknown }[]).map((a) => [a.title, a.data]), [['Older', { page: 1, scope: 'mine' }]]);
});

function walk(node: unknown, visit: (o: Record<string, unknown>) => void): void {
  if (Array.isArray(node)) node.forEach((n) => walk(n, visit));
  else if (node && typeof node === 'object') {
    visit(node as Record<string, unknown>);
    Object.values(node).forEach((v) => walk(v, visit));
  }
}

const run = { runId: 'r1', params: { pcn: '900101' }, requestedBy: 'Megan Bowen', requesterTeamsId: '29:megan' };
const startedAt = new Date(Date.now() - 75_000).toISOString();
const STATUSES: RunStatus[] = [
  { state: 'queued', position: 3 }, { state: 'queued' }, { state: 'retrying', attempt: 1, message: 'x' }, { state: 'starting', startedAt },
  { state: 'waiting-lock', locks: ['tb'], startedAt }, { state: 'running', step: 2, steps: 5, name: 'Load', rows: 1234, startedAt },
  { state: 'delivering', startedAt }, { state: 'cancelling', by: 'Megan Bowen', startedAt },
  { state: 'done', rows: 10, durationMs: 4000, checksFailed: 0 }, { state: 'failed', message: 'Broken.', step: 'Load' },
  { state: 'cancelled', by: 'Megan Bowen', at: startedAt },
];

test('every Action.Execute verb a card can carry is one the bot handles; no ${} left unbound', () => {
  const cards = [
    helpCard('run demo pcn=900101'), catalogCard([report]), formCard(report), formCard(report, { limit: 'x' }, { limit: 'bad' }),
    ...STATUSES.map((s) => statusCard(report, run, s)),
    runsCard(STATUSES.map((status) => ({ report, run, status })), { everyone: true }), runsCard([], { everyone: false }),
    resultCard(report, { pcn: '900101' }, { runId: 'r1', fileName: 'f.xlsx', rows: 3, durationMs: 10, downloadUrl: 'http://x', linkMinutes: 5 }),
    errorCard(report, 'r1', { pcn: '900101', detail: true }, { step: 'Load', message: 'failed' }),
    historyCard({ scope: 'all', page: { runs: [succeeded, failed], total: 25, page: 1, pages: 3, pageSize: 10 }, reports: new Map([['demo', report]]) }),
    historyCard({ scope: 'mine', page: { runs: [], total: 0, page: 0, pages: 1, pageSize: 10 }, reports: new Map() }),
    downloadCard({ ...succeeded, file: succeeded.file! }, report, { url: 'http://x', minutes: 5 }, { page: 1, scope: 'mine' }),
    formCard(report, {}, {}, {}, { checked: true }),
    resultCard(report, { pcn: '900101' }, {
      runId: 'r1', fileName: 'f.xlsx', rows: 3, durationMs: 10, downloadUrl: 'http://x', linkMinutes: 5, openUrl: 'https://s', emailedTo: 'a@b.c', notes: ['n'],
    }),
    deliveryFailedCard(report, { runId: 'r1', problems: ['p'], openUrl: 'https://s', downloadUrl: 'http://x', linkMinutes: 5 }),
  ];
  const handled = new Set<string>(Object.values(Verbs));
  for (const card of cards) {
    assert.equal(card.version, '1.5');
    assert.doesNotMatch(JSON.stringify(card), /\$\{/);
    walk(card, (o) => {
      if (o.type === 'Action.Execute') assert.ok(handled.has(String(o.verb)), `unhandled verb ${o.verb}`);
    });
  }
});

test('the form has one input per parameter, typed, pre-filled, with no empty bounds', () => {
  const card = formCard(report, { pcn: '900101', period: '202503', detail: 'true' }, { period: 'Period must be …' });
  const inputs: Record<string, unknown>[] = [];
  walk(card.body, (o) => { if (String(o.type).startsWith('Input.')) inputs.push(o); });
  assert.deepEqual(inputs.map((i) => `${i.type}:${i.id}`), [
    'Input.ChoiceSet:param.pcn', 'Input.Number:param.limit', 'Input.Number:param.top', 'Input.Date:param.asOf',
    'Input.Text:param.period', 'Input.Toggle:param.detail',
  ]);
  const byId = Object.fromEntries(inputs.map((i) => [i.id, i]));
  assert.equal(byId['param.pcn'].value, '900101');
  assert.equal(byId['param.period'].value, '202503');
  assert.equal(byId['param.detail'].value, 'true');
  assert.equal(byId['param.limit'].isRequired, false);
  assert.ok(!('min' in byId['param.limit']) && !('max' in byId['param.limit']));
  assert.equal(byId['param.top'].min, 1);
  assert.equal(byId['param.top'].max, 10);
  assert.match(JSON.stringify(card), /Period must be …/);
});

test('commands fit the Teams manifest command list (title ≤ 32, description ≤ 128, at most 10)', () => {
  assert.ok(COMMANDS.length <= 10);
  for (const c of COMMANDS) {
    assert.ok(c.usage.length <= 32, c.usage);
    assert.ok(c.text.length <= 128, c.text);
  }
});

test('durations read like a person would say them', () => {
  assert.equal(formatDuration(300), '1 s');
  assert.equal(formatDuration(42_400), '42 s');
  assert.equal(formatDuration(75_000), '1 min 15 s');
  assert.equal(formatDuration(120_000), '2 min');
});

test('the email toggle is offered only when asked, after the parameters, not named param.*', () => {
  const inputsOf = (card: unknown) => {
    const ids: string[] = [];
    walk((card as { body: unknown }).body, (o) => { if (String(o.type).startsWith('Input.')) ids.push(String(o.id)); });
    return ids;
  };
  assert.ok(!inputsOf(formCard(report)).includes(EMAIL_OPTION_INPUT));
  const card = formCard(report, {}, {}, {}, { checked: true });
  const ids = inputsOf(card);
  assert.equal(ids.at(-1), EMAIL_OPTION_INPUT);
  assert.ok(!EMAIL_OPTION_INPUT.startsWith('param.'));
  const toggle = (card.body as Record<string, unknown>[]).at(-1)!;
  assert.deepEqual({ type: toggle.type, title: toggle.title, value: toggle.value, valueOn: toggle.valueOn, valueOff: toggle.valueOff },
    { type: 'Input.Toggle', title: 'Also email me the file', value: 'true', valueOn: 'true', valueOff: 'false' });
  assert.equal((formCard(report, {}, {}, {}, { checked: false }).body as Record<string, unknown>[]).at(-1)!.value, 'false');
});

test('the result card: local mode keeps the download link only; with Graph, Open in Excel first, notes as warnings', () => {
  const summary = { runId: 'r1', fileName: 'f.xlsx', rows: 3, durationMs: 10, downloadUrl: 'http://x', linkMinutes: 5 };
  const local = resultCard(report, {}, summary);
  assert.deepEqual(local.actions, [{ type: 'Action.OpenUrl', title: 'Download Excel', url: 'http://x' }]);
  assert.equal((local.body as unknown[]).length, 3);
  const graph = resultCard(report, {}, { ...summary, openUrl: 'https://share', emailedTo: 'megan@contoso.com', notes: ['Not emailed: no address.'] });
  assert.deepEqual((graph.actions as { title: string; url: string }[]).map((a) => [a.title, a.url]), [['Open in Excel', 'https://share'], ['Download Excel', 'http://x']]);
  assert.match(JSON.stringify(graph), /"title":"Emailed to","value":"megan@contoso.com"/);
  assert.ok((graph.body as Record<string, unknown>[]).some((b) => b.text === 'Not emailed: no address.' && b.color === 'Warning'));
});

test('the Outlook card: originator, Action.Http Re-run with the exact body contract, Open in Teams to the bot', () => {
  const params = { pcn: '900101', periods: ['202501', '202502'], top: 3, detail: true, note: 'say "hi" </script> ${x}' };
  const card = emailActionCard(report, '20261123-3fa2c9d1', params, { originator: 'orig-1', publicBaseUrl: 'https://bot.contoso.com/', botId: 'app-1' });
  assert.equal(card.originator, 'orig-1');
  const [rerun, teams] = card.actions as Record<string, unknown>[];
  assert.equal(rerun.type, 'Action.Http');
  assert.equal(rerun.method, 'POST');
  assert.equal(rerun.url, 'https://bot.contoso.com/api/actions/rerun');
  assert.deepEqual(rerun.headers, [{ name: 'Content-Type', value: 'application/json' }]);
  assert.equal(rerun.body, JSON.stringify({ runId: '20261123-3fa2c9d1', reportId: 'demo', params }));
  assert.deepEqual(JSON.parse(String(rerun.body)), { runId: '20261123-3fa2c9d1', reportId: 'demo', params });
  assert.deepEqual(teams, { type: 'Action.OpenUrl', title: 'Open in Teams', url: 'https://teams.microsoft.com/l/chat/0/0?users=28:app-1' });
  const noBot = emailActionCard(report, 'r', {}, { originator: 'o', publicBaseUrl: 'https://h' });
  assert.deepEqual((noBot.actions as { type: string }[]).map((a) => a.type), ['Action.Http']);
});

test('the status card: headline per state, elapsed time, Cancel while it can stop, Re-run once over, refresh for the requester', () => {
  const queued = statusCard(report, run, { state: 'queued', position: 2 });
  const body = JSON.stringify(queued.body);
  assert.match(body, /"Queued: Demo"/);
  assert.match(body, /Number 2 in the queue/);
  assert.deepEqual(queued.refresh, { action: { type: 'Action.Execute', verb: 'run.status', data: { runId: 'r1' } }, userIds: ['29:megan'] });
  assert.deepEqual((queued.actions as { title: string }[]).map((a) => a.title), ['Cancel']);

  const running = statusCard(report, run, { state: 'running', step: 2, steps: 5, name: 'Load', rows: 1234, startedAt }, Date.parse(startedAt) + 75_000);
  assert.match(JSON.stringify(running.body), /Step 2 of 5: Load · 1,234 rows/);
  assert.match(JSON.stringify(running.body), /"title":"Elapsed","value":"1 min 15 s"/);

  const done = statusCard(report, run, { state: 'done', rows: 10, durationMs: 4000, checksFailed: 0 });
  assert.equal(done.refresh, undefined, 'a finished run needs no refresh');
  const actions = done.actions as { title: string; verb: string; data: Record<string, unknown> }[];
  assert.deepEqual(actions.map((a) => a.title), ['Re-run', 'Change parameters']);
  assert.deepEqual(actions[0].data, { runId: 'r1', reportId: 'demo', params: { pcn: '900101' } });
  assert.deepEqual(actions[1].data, { runId: 'r1', reportId: 'demo', values: { pcn: '900101' } });

  const hidden = statusCard(report, { ...run, privately: true }, { state: 'queued' });
  assert.doesNotMatch(JSON.stringify(hidden.body), /900101/, 'a private report keeps its parameters off shared cards');
});

test('a long choice list and a free-text parameter with suggestions become a typeahead with a static fallback', () => {
  const many = Array.from({ length: TYPEAHEAD_OVER + 1 }, (_, i) => ({ value: String(1000 + i) }));
  const r = {
    ...report,
    parameters: [
      { name: 'site', type: 'choice', query: { sql: 'select 1 as value' } },
      { name: 'account', type: 'string', suggest: { sql: 'select 1 as value' } },
    ].map((p) => parameterSchema.parse(p)),
  } as Report;
  const card = formCard(r, { account: '5' }, {}, { choices: { site: many }, suggestions: { account: [{ value: '10000', title: '10000 Cash' }] } });
  const inputs: Record<string, unknown>[] = [];
  walk(card.body, (o) => { if (String(o.type).startsWith('Input.')) inputs.push(o); });
  for (const input of inputs) {
    assert.equal(input.type, 'Input.ChoiceSet');
    assert.equal(input.style, 'filtered');
    assert.deepEqual(input['choices.data'], { type: 'Data.Query', dataset: `demo.${String(input.id).slice(6)}`, associatedInputs: 'auto' });
  }
  assert.equal((inputs[0].choices as unknown[]).length, 15);
  assert.deepEqual(inputs[1].choices, [{ title: '5', value: '5' }, { title: '10000 Cash', value: '10000' }], 'what was typed stays selectable');
  assert.equal(inputs[1].value, '5');
});
