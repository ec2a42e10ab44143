import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reportSchema } from './catalog.ts';
import { isAdmin, mayDownload, runManifestSchema, summarize, type RunManifest } from './history.ts';

const definition = (extra: Record<string, unknown> = {}) => reportSchema.parse({
  id: 'demo', title: 'Demo', steps: [{ name: 'x', type: 'sql', sql: 'x.sql' }], ...extra,
});

const megan = { aadObjectId: 'aaaa-1', name: 'Megan', upn: 'megan@contoso.com' };
const adele = { aadObjectId: 'bbbb-2', name: 'Adele', upn: 'adele@contoso.com' };
const outsider = { aadObjectId: 'cccc-3', name: 'Ext', upn: 'ext@fabrikam.com' };
const run = { requestedBy: { aadObjectId: megan.aadObjectId, name: megan.name } };

test('report.yaml: retentionDays defaults to 90, runs are private unless access.shareRuns', () => {
  const plain = definition();
  assert.equal(plain.retentionDays, 90);
  assert.deepEqual(plain.access, { allow: ['*'], shareRuns: false });
  assert.equal(definition({ retentionDays: 7 }).retentionDays, 7);
  assert.throws(() => definition({ retentionDays: 0 }));
  assert.throws(() => definition({ retentionDays: 1.5 }));
  assert.throws(() => definition({ access: { allow: ['*'], shareRuns: 'yes' } }));
});

test('download: the requester and admins always; others only when the report shares its runs and admits them', () => {
  const priv = definition();
  const shared = definition({ access: { allow: ['@contoso.com'], shareRuns: true } });
  assert.equal(mayDownload(run, priv, megan, []), true);
  assert.equal(mayDownload(run, priv, adele, []), false);
  assert.equal(mayDownload(run, priv, adele, ['BBBB-2']), true, 'admin ids compare case-insensitively');
  assert.equal(mayDownload(run, shared, adele, []), true);
  assert.equal(mayDownload(run, shared, outsider, []), false, 'shared only with whom access.allow admits');
  assert.equal(mayDownload(run, undefined, adele, []), false, 'a report gone from the catalog shares nothing');
  assert.equal(mayDownload({ requestedBy: { aadObjectId: '', name: '' } }, priv, { ...adele, aadObjectId: '' }, ['']), false, 'an empty id matches nobody');
  assert.equal(isAdmin(megan, ['x', ' ']), false);
});

test('a manifest round-trips through its schema and summarizes without steps or deliveries', () => {
  const m: RunManifest = {
    manifestVersion: 1, runId: '20260301-0badc0de', reportId: 'demo', reportTitle: 'Demo', params: { pcn: '900101', pcns: ['1', '2'], top: 5, yes: true },
    requestedBy: megan, origin: 'chat', requestedAt: '2026-03-01T08:00:00.000Z', startedAt: '2026-03-01T08:00:01.000Z', finishedAt: '2026-03-01T08:00:09.000Z',
    status: 'failed', attempts: 2, durationMs: 8000, steps: [], checks: [], deliveries: [{ channel: 'teams', status: 'failed', attempts: 2, at: '2026-03-01T08:00:09.000Z', detail: 'no' }],
    failure: { step: 'Load', message: 'It broke.', code: 'CONNECTOR' }, retentionDays: 90,
  };
  assert.deepEqual(runManifestSchema.parse(JSON.parse(JSON.stringify(m))), m);
  assert.throws(() => runManifestSchema.parse({ ...m, status: 'exploded' }));
  const s = summarize(m);
  assert.deepEqual(Object.keys(s).sort(), ['checks', 'durationMs', 'failure', 'finishedAt', 'params', 'reportId', 'reportTitle', 'requestedAt', 'requestedBy', 'runId', 'status']);
  assert.deepEqual(s.failure, { step: 'Load', message: 'It broke.' });
  assert.deepEqual(s.requestedBy, { aadObjectId: megan.aadObjectId, name: 'Megan' });
});
