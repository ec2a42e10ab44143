import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parameterSchema, parseCommandArgs, validateParams, type ParameterDef } from './params.ts';
import { ValidationError } from './errors.ts';

const defs: ParameterDef[] = [
  { name: 'pcn', type: 'choice', required: true, choices: [{ value: '900101' }, { value: '900202' }] },
  { name: 'startPeriod', label: 'Start period', type: 'period', required: true, min: 202501, max: 202612 },
  { name: 'limit', type: 'integer', required: false, min: 1, max: 100 },
  { name: 'asOf', type: 'date', required: false },
  { name: 'detail', type: 'boolean', required: false, default: true },
  { name: 'account', type: 'string', required: false, pattern: '\\d{5}-\\d{3}-\\d{4}', maxLength: 20 },
].map((d) => parameterSchema.parse(d));

function fields(fn: () => unknown): Record<string, string> {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${err}`);
    return err.fields;
  }
  assert.fail('expected a ValidationError');
}

test('valid values are converted to their types, defaults applied', () => {
  assert.deepEqual(validateParams('r', defs, { pcn: '900101', startPeriod: '2025-03', limit: '7', asOf: '2025-02-28', account: '10001-000-0000' }),
    { pcn: '900101', startPeriod: 202503, limit: 7, asOf: '2025-02-28', detail: true, account: '10001-000-0000' });
  assert.equal(validateParams('r', defs, { pcn: '900202', startPeriod: 202612, detail: 'no' }).detail, false);
});

test('each kind of bad value gets its own message naming the field', () => {
  const f = fields(() => validateParams('r', defs, { pcn: '1', startPeriod: '202513', limit: '1.5', asOf: '2025-02-30', detail: 'maybe', account: 'x' }));
  assert.match(f.pcn, /must be one of 900101, 900202/);
  assert.match(f.startPeriod, /Start period must be a period like/);
  assert.match(f.limit, /whole number/);
  assert.match(f.asOf, /date like/);
  assert.match(f.detail, /yes or no/);
  assert.match(f.account, /wrong format/);
  assert.match(fields(() => validateParams('r', defs, { pcn: '900101', startPeriod: '202412' })).startPeriod, /202501 or later/);
  assert.match(fields(() => validateParams('r', defs, { pcn: '900101', startPeriod: '202501', limit: '101' })).limit, /at most 100/);
});

test('missing required and unknown parameters are errors; nothing is silently dropped', () => {
  const f = fields(() => validateParams('tb', defs, { pcnn: '900101' }));
  assert.match(f.pcn, /PCN|pcn is required/i);
  assert.match(f.startPeriod, /required/);
  assert.match(f.pcnn, /tb has no parameter "pcnn" \(it takes pcn, startPeriod/);
});

test('text command arguments: quotes, duplicates, bare words', () => {
  assert.deepEqual(parseCommandArgs(` pcn=900101 name="two words" other='x y' empty= `), { pcn: '900101', name: 'two words', other: 'x y', empty: '' });
  assert.deepEqual(parseCommandArgs(''), {});
  assert.throws(() => parseCommandArgs('pcn=1 pcn=2'), /given twice/);
  assert.throws(() => parseCommandArgs('900101'), /"900101" is not a parameter; write name=value/);
});
