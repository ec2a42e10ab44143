import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Report } from './catalog.ts';
import { parameterSchema } from './params.ts';
import { matchReport, understand } from './phrases.ts';

function report(id: string, title: string, aliases: string[], parameters: unknown[]): Report {
  return {
    id, title, aliases, description: '', category: 'GL', private: false, access: { allow: ['*'], shareRuns: false }, retentionDays: 90, delivery: { email: false }, locks: [], timeout: 1000,
    parameters: parameters.map((p) => parameterSchema.parse(p)), rules: [], steps: [], output: { fileName: 'x.xlsx' }, dir: '', sql: {},
  };
}

const tb = report('trial-balance', 'Trial Balance', ['tb', 'trial balance'], [
  { name: 'pcn', label: 'PCN', type: 'multichoice', query: { sql: 'select 1 as value' } },
  { name: 'startPeriod', label: 'Start period', type: 'period', default: 'startOfYear' },
  { name: 'endPeriod', label: 'End period', type: 'period', default: 'lastMonth' },
]);
const gl = report('gl-detail', 'GL detail by account', ['gl detail'], [
  { name: 'pcn', label: 'PCN', type: 'choice', choices: [{ value: '900101' }, { value: '900202' }] },
  { name: 'account', label: 'Account', type: 'string', pattern: '[0-9][0-9-]*' },
  { name: 'startPeriod', label: 'Start period', type: 'period' },
  { name: 'endPeriod', label: 'End period', type: 'period' },
]);
const coa = report('gl-accounts', 'Chart of accounts', ['coa'], [
  { name: 'pcn', label: 'PCN', type: 'choice', choices: [{ value: '900101' }] },
  { name: 'includeInactive', label: 'Include inactive accounts', type: 'boolean' },
]);
const reports = [tb, gl, coa];
const choices = { pcn: [{ value: '900101' }, { value: '900202' }] };
const now = new Date('2026-05-15T12:00:00Z');

test('a report is found by id, title or alias, ignoring case, dashes and punctuation', () => {
  for (const [text, id, rest] of [
    ['trial balance', 'trial-balance', ''],
    ['Trial-Balance for 900101', 'trial-balance', 'for 900101'],
    ['TB', 'trial-balance', ''],
    ['tb, 900101 jan to mar 2025', 'trial-balance', '900101 jan to mar 2025'],
    ['gl detail account 10001', 'gl-detail', 'account 10001'],
    ['GL detail by account', 'gl-detail', ''],
    ['chart of accounts 900101', 'gl-accounts', '900101'],
  ] as const) {
    const m = matchReport(text, reports);
    assert.equal(m?.report.id, id, text);
    assert.equal(m?.rest, rest, text);
    assert.equal(m?.exact, true, text);
  }
});

test('a near miss of a long name is found but marked as a guess; short words and strangers are not', () => {
  const m = matchReport('trial balence 2025', reports);
  assert.equal(m?.report.id, 'trial-balance');
  assert.equal(m?.exact, false);
  assert.equal(m?.rest, '2025');
  for (const text of ['payroll secrets', 'what is the weather', 'tbx', 'status', 'cancel 123']) {
    assert.equal(matchReport(text, reports), undefined, text);
  }
});

test('"900101 jan to mar 2025" pre-fills PCN and the period range', () => {
  const u = understand(tb, 'for 900101 jan to mar 2025', { choices, now });
  assert.deepEqual(u.values, { pcn: ['900101'], startPeriod: '202501', endPeriod: '202503' });
  assert.deepEqual(u.understood, [
    { label: 'PCN', value: '900101' }, { label: 'Start period', value: '202501' }, { label: 'End period', value: '202503' },
  ]);
  assert.deepEqual(u.ignored, []);
});

test('period phrases', () => {
  const periods = (text: string) => {
    const v = understand(tb, text, { choices, now }).values;
    return `${v.startPeriod}-${v.endPeriod}`;
  };
  assert.equal(periods('2025'), '202501-202512');
  assert.equal(periods('march 2025'), '202503-202503');
  assert.equal(periods('jan 2024 to mar 2025'), '202401-202503');
  assert.equal(periods('nov to feb 2025'), '202411-202502');
  assert.equal(periods('jan-mar 2025'), '202501-202503');
  assert.equal(periods('from 202501 through 202506'), '202501-202506');
  assert.equal(periods('202501-202503'), '202501-202503');
  assert.equal(periods('2025-01 to 2025-04'), '202501-202504');
  assert.equal(periods('q2 2025'), '202504-202506');
  assert.equal(periods('jan feb mar 2025'), '202501-202503');
  // Without a year: the latest such month that is not in the future (it is May 2026).
  assert.equal(periods('jan to mar'), '202601-202603');
  assert.equal(periods('december'), '202512-202512');
  assert.equal(periods('last month'), '202604-202604');
  assert.equal(periods('last year'), '202501-202512');
  assert.equal(periods('ytd'), '202601-202604');
});

test('several PCNs, name value pairs, labels, booleans; unknown words are reported, not guessed', () => {
  let u = understand(tb, '900101 and 900202 2025 please', { choices, now });
  assert.deepEqual(u.values.pcn, ['900101', '900202']);
  assert.deepEqual(u.ignored, []);

  u = understand(gl, 'pcn 900202 account 10001-000-0000 jan 2025', { now });
  assert.deepEqual(u.values, { pcn: '900202', account: '10001-000-0000', startPeriod: '202501', endPeriod: '202501' });

  u = understand(gl, 'account=5 startPeriod=202502 banana', { now });
  assert.deepEqual(u.values, { account: '5', startPeriod: '202502' });
  assert.deepEqual(u.ignored, ['banana']);

  u = understand(coa, '900101 including inactive', { now });
  assert.deepEqual(u.values, { pcn: '900101', includeInactive: 'true' });

  u = understand(gl, 'account for 900101 jan 2025', { now });
  assert.equal(u.values.account, undefined, 'a little word or a month after a parameter name is not its value');
  assert.equal(u.values.pcn, '900101');

  u = understand(gl, '999999 for pcn 123', { now });
  assert.equal(u.values.pcn, undefined, 'a value that is not one of the choices is not taken');
  assert.deepEqual(u.ignored, ['999999', '123']);
});
