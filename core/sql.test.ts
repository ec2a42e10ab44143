import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitStatements } from './sql.ts';

test('splits at top-level semicolons only; comments between statements are dropped', () => {
  assert.deepEqual(splitStatements(`
    -- header; with a semicolon
    create table t (a text); /* a; block */
    insert into t values ('x;y', "q;""", [b;c]);
    ;
    select 1`), [
    'create table t (a text)',
    `insert into t values ('x;y', "q;""", [b;c])`,
    'select 1',
  ]);
  assert.deepEqual(splitStatements("select 'it''s; fine'"), ["select 'it''s; fine'"]);
  assert.deepEqual(splitStatements('-- only a comment;\n'), []);
});
