/**
 * Without a SQL Server here, the next best thing: every SQL text a report would run on Azure SQL
 * (its .mssql.sql variant where there is one) parses as T-SQL, as do the choice-list queries.
 * A file may opt out with `-- tsql-check: skip <reason>` (a parser gap); the reasons are listed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCatalog, sqlFor } from '../../core/catalog.ts';
import { checkTSql } from './tsql-check.ts';

test('every report SQL meant for Azure SQL parses as T-SQL', async (t) => {
  const catalog = await loadCatalog('reports');
  assert.deepEqual(catalog.errors.map((e) => e.message), []);
  const failures: string[] = [];
  const skipped: string[] = [];
  let checked = 0;
  for (const report of catalog.reports.values()) {
    const texts: [string, string][] = Object.keys(report.sql).map((step) => [`${report.id} / ${step}`, sqlFor(report, step, 'mssql')]);
    for (const p of report.parameters) {
      if ((p.type === 'choice' || p.type === 'multichoice') && p.query) texts.push([`${report.id} / choices of ${p.name}`, p.query.sql]);
      if (p.type === 'string' && p.suggest) texts.push([`${report.id} / suggestions for ${p.name}`, p.suggest.sql]);
    }
    for (const [where, sql] of texts) {
      checked++;
      const result = checkTSql(sql);
      if (!result.ok) failures.push(`${where}: ${result.message}`);
      else if (result.skipped?.length) skipped.push(`${where}: ${result.skipped.join('; ')}`);
    }
  }
  t.diagnostic(`${checked} SQL texts checked; opted out: ${skipped.length ? skipped.join(' | ') : 'none'}`);
  assert.deepEqual(failures, []);
  assert.ok(checked >= 15);
});
