import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCatalog, outputFileName, sqlParameters } from './catalog.ts';

let root: string;
const good = `id: ok\ntitle: OK\nparameters:\n  - { name: pcn, type: string }\nsteps:\n  - { name: One, type: export, sql: one.sql, sheet: Data }\n`;

async function report(id: string, yaml: string, files: Record<string, string> = { 'one.sql': 'select @pcn as pcn' }) {
  await mkdir(join(root, id), { recursive: true });
  await writeFile(join(root, id, 'report.yaml'), yaml);
  for (const [name, body] of Object.entries(files)) await writeFile(join(root, id, name), body);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'catalog-'));
  await report('ok', good);
  await report('bad-yaml', 'id: bad-yaml\ntitle: [unclosed\n');
  await report('bad-field', 'id: bad-field\ntitle: X\nsteps:\n  - name: S\n    type: export\n    sql: one.sql\n    sheet: "a/b"\n');
  await report('no-sql', good.replace('id: ok', 'id: no-sql'), {});
  await report('unknown-param', good.replace('id: ok', 'id: unknown-param'), { 'one.sql': 'select 1 where x = @account' });
  await report('unknown-conn', good.replace('id: ok', 'id: unknown-conn').replace('sql: one.sql', 'connection: plex, sql: one.sql'));
  await report('wrong-id', good.replace('id: ok', 'id: other'));
  await report('twin-alias', good.replace('id: ok', 'id: twin-alias\naliases: [OK]'));
  await report('bad-filter', good.replace('id: ok', 'id: bad-filter').replace('type: string }', 'type: string, suggest: { sql: "select 1 as value", filterBy: plant } }'));
});
after(() => rm(root, { recursive: true, force: true }));

test('a broken definition is reported with file and line and never breaks the others', async () => {
  const c = await loadCatalog(root, new Set(['warehouse']));
  assert.deepEqual([...c.reports.keys()], ['ok']);
  const msg = (id: string) => c.errors.find((e) => e.file.includes(`/${id}/`))?.message ?? '(none)';
  assert.match(msg('bad-yaml'), /bad-yaml\/report\.yaml:\d+: invalid YAML/);
  assert.match(msg('bad-field'), /bad-field\/report\.yaml:7: steps\.0\.sheet: is not a valid Excel sheet name/);
  assert.match(msg('no-sql'), /no-sql\/report\.yaml:6: step "One": SQL file one\.sql not found/);
  assert.match(msg('unknown-param'), /one\.sql: uses @account, which is not a parameter of unknown-param/);
  assert.match(msg('unknown-conn'), /uses unknown connection "plex" \(configured: warehouse\)/);
  assert.match(msg('wrong-id'), /id "other" must match its folder "wrong-id"/);
  assert.match(msg('twin-alias'), /"ok" already names report ok; aliases must be unique/);
  assert.match(msg('bad-filter'), /bad-filter\/report\.yaml:\d+: suggest\.filterBy of "pcn" must name another parameter \("plant" is not one\)/);
  assert.equal(c.errors.length, 8);
});

test('the shipped reports all load', async () => {
  const c = await loadCatalog('reports,test/fixtures/reports', new Set(['warehouse', 'plex']));
  assert.deepEqual(c.errors.map((e) => e.message), []);
  assert.ok(c.reports.has('gl-accounts'));
});

test('sql parameters ignore comments, strings and @@globals', () => {
  assert.deepEqual([...sqlParameters("-- @nope\nselect @a, '@b', @@rowcount /* @c */ from t where x = @d_2")], ['a', 'd_2']);
});

test('output file names are filled from parameters and made safe', () => {
  const def = { id: 'x', output: { fileName: 'tb-{pcn}-{date}.xlsx' } } as Parameters<typeof outputFileName>[0];
  assert.equal(outputFileName(def, 'r1', { pcn: '9/../01' }, new Date('2026-01-02T10:00:00Z')), 'tb-9_.._01-2026-01-02.xlsx');
});

test('the committed JSON Schema of report.yaml is current (npm run schema)', async () => {
  const { readFile } = await import('node:fs/promises');
  const { reportJsonSchema, SCHEMA_PATH } = await import('./report-schema.ts');
  assert.equal(await readFile(SCHEMA_PATH, 'utf8'), reportJsonSchema());
});

test('pipeline definitions: forEach, rules, sources and dialect files are checked at load', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'catalog-pipe-'));
  try {
    const make = async (id: string, body: string, files: Record<string, string> = {}) => {
      await mkdir(join(dir, id));
      await writeFile(join(dir, id, 'report.yaml'), `id: ${id}\ntitle: T\nparameters:\n  - { name: pcn, type: multichoice, choices: [{ value: "1" }] }\n  - { name: p1, type: period }\n  - { name: label, type: string }\n${body}`);
      for (const [n, t] of Object.entries({ 'q.sql': 'select 1', ...files })) await writeFile(join(dir, id, n), t);
    };
    await make('foreach-not-multi', 'steps:\n  - { name: S, type: sql, sql: q.sql, forEach: { param: label, as: x } }\n');
    await make('foreach-export', 'steps:\n  - { name: S, type: export, sql: q.sql, sheet: X, forEach: { param: pcn, as: x } }\n');
    await make('rule-unknown', 'rules: [{ type: order, first: p1, second: p9 }]\nsteps:\n  - { name: S, type: sql, sql: q.sql }\n');
    await make('export-both', 'steps:\n  - { name: S, type: export, sql: q.sql, source: { connection: warehouse, sql: q.sql }, sheet: X }\n');
    await make('input-unknown', 'steps:\n  - name: S\n    type: extract\n    source: { connection: warehouse, dataSource: 4814, inputs: { PCNs: "@plant" } }\n    target: { table: t }\n');
    await make('dialect-bad', 'steps:\n  - { name: S, type: sql, sql: q.sql }\n', { 'q.mssql.sql': 'select @nope' });
    await make('foreach-ok', 'steps:\n  - { name: S, type: sql, sql: e.sql, forEach: { param: pcn, as: one } }\n', { 'e.sql': 'select @one, @p1' });
    const c = await loadCatalog(dir, new Set(['warehouse']));
    const msg = (id: string) => c.errors.find((e) => e.file.includes(`/${id}/`))?.message ?? '(loaded)';
    assert.match(msg('foreach-not-multi'), /report\.yaml:\d+: forEach\.param must name a multichoice parameter/);
    assert.match(msg('foreach-export'), /an export step writes one sheet and cannot use forEach/);
    assert.match(msg('rule-unknown'), /rule refers to unknown parameter "p9"/);
    assert.match(msg('export-both'), /needs exactly one of sql or source/);
    assert.match(msg('input-unknown'), /refers to @plant, which is not a parameter/);
    assert.match(msg('dialect-bad'), /q\.mssql\.sql: uses @nope, which is not a parameter/);
    assert.ok(c.reports.has('foreach-ok'), 'a forEach variable may be bound in its step');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
