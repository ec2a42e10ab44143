import { test } from 'node:test';
import assert from 'node:assert/strict';
import { takeFlag } from '../bot/handlers/run.ts';

test('--email is taken out of a command wherever it stands, but never from inside a quoted value', () => {
  assert.deepEqual(takeFlag('pcn=900101 --email', '--email'), { rest: 'pcn=900101 ', found: true });
  assert.deepEqual(takeFlag('--email pcn=900101', '--email'), { rest: ' pcn=900101', found: true });
  assert.deepEqual(takeFlag('pcn=900101', '--email'), { rest: 'pcn=900101', found: false });
  assert.deepEqual(takeFlag('note="a --email b" pcn=1', '--email'), { rest: 'note="a --email b" pcn=1', found: false });
  assert.deepEqual(takeFlag("note='--email' --email", '--email'), { rest: "note='--email' ", found: true });
  assert.deepEqual(takeFlag('--emails pcn=1', '--email'), { rest: '--emails pcn=1', found: false });
});
