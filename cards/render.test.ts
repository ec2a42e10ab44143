import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Report } from '../core/catalog.ts';
import { parameterSchema } from '../core/params.ts';
import { catalogCard, errorCard, formatDuration, formCard, helpCard, queuedCard, resultCard } from './render.ts';
import { Verbs } from './verbs.ts';

const report = {
  id: 'demo', title: 'Demo', description: 'A demo', category: 'Test', locks: [], access: { allow: ['*'] }, rules: [], timeout: 1000, steps: [], dir: '', sql: {},
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

function walk(node: unknown, visit: (o: Record<string, unknown>) => void): void {
  if (Array.isArray(node)) node.forEach((n) => walk(n, visit));
  else if (node && typeof node === 'object') {
    visit(node as Record<string, unknown>);
    Object.values(node).forEach((v) => walk(v, visit));
  }
}

test('every Action.Execute verb a card can carry is one the bot handles; no ${} left unbound', () => {
  const cards = [
    helpCard('run demo pcn=900101'), catalogCard([report]), formCard(report), formCard(report, { limit: 'x' }, { limit: 'bad' }),
    queuedCard(report, 'r1', { pcn: '900101' }),
    resultCard(report, { pcn: '900101' }, { runId: 'r1', fileName: 'f.xlsx', rows: 3, durationMs: 10, downloadUrl: 'http://x', linkMinutes: 5 }),
    errorCard(report, 'r1', { pcn: '900101', detail: true }, { step: 'Load', message: 'failed' }),
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

test('durations read like a person would say them', () => {
  assert.equal(formatDuration(300), '1 s');
  assert.equal(formatDuration(42_400), '42 s');
  assert.equal(formatDuration(75_000), '1 min 15 s');
  assert.equal(formatDuration(120_000), '2 min');
});
