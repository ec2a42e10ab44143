import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../core/config.ts';
import { wantedChannels } from './deliver.ts';
import { emailHtml, encodedMessageBytes, type EmailBody } from './email.ts';
import { createCredential, GraphCallError, graphError, nextStart, retryAfterMs } from './graph.ts';
import { driveFileName, driveRoot } from './onedrive.ts';

test('Retry-After in seconds or as an HTTP date', () => {
  const now = Date.parse('2026-11-23T10:00:00Z');
  assert.equal(retryAfterMs('7', now), 7000);
  assert.equal(retryAfterMs(' 0 ', now), 0);
  assert.equal(retryAfterMs('Mon, 23 Nov 2026 10:00:30 GMT', now), 30_000);
  assert.equal(retryAfterMs('Mon, 23 Nov 2026 09:00:00 GMT', now), 0);
  assert.equal(retryAfterMs(null, now), undefined);
  assert.equal(retryAfterMs('soon', now), undefined);
});

test('nextExpectedRanges: OneDrive "start-", "start-end", Outlook "start"', () => {
  assert.equal(nextStart(['26-']), 26);
  assert.equal(nextStart(['12345-55232', '77829-99375']), 12345);
  assert.equal(nextStart(['2097152']), 2097152);
  assert.equal(nextStart([]), undefined);
  assert.equal(nextStart(undefined), undefined);
  assert.equal(nextStart(['junk']), undefined);
});

test('what is worth retrying: throttling, outages and no reply; not refusals', () => {
  for (const status of [0, 408, 429, 500, 502, 503, 504]) assert.equal(new GraphCallError('x', status, 'c', '').transient, true, String(status));
  for (const status of [400, 401, 403, 404, 409, 413]) assert.equal(new GraphCallError('x', status, 'c', '').transient, false, String(status));
  const reset = graphError('sendMail', Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } }));
  assert.equal(reset.status, 0);
  assert.equal(reset.code, 'ECONNRESET');
  assert.match(reset.message, /^sendMail: ECONNRESET/);
});

test('drive paths and file names', () => {
  const who = { aadObjectId: '6f0b8c2e-4a1d-4c3b-9e2f-1a2b3c4d5e6f' };
  assert.equal(driveRoot({ kind: 'requester' }, who), `/users/${who.aadObjectId}/drive`);
  assert.equal(driveRoot({ kind: 'site', siteId: 'host,1,2' }, who), '/sites/host%2C1%2C2/drive');
  assert.equal(driveRoot({ kind: 'site', siteId: 's', driveId: 'b!x' }, who), '/sites/s/drives/b!x');
  assert.equal(driveRoot({ kind: 'drive', driveId: 'b!x' }, who), '/drives/b!x');
  assert.equal(driveFileName('tb-900101-2026-11-23.xlsx', '20261123-3fa2c9d1'), 'tb-900101-2026-11-23 (20261123-3fa2c9d1).xlsx');
  assert.equal(driveFileName('gl-accounts-20261123-3fa2c9d1.xlsx', '20261123-3fa2c9d1'), 'gl-accounts-20261123-3fa2c9d1.xlsx');
});

test('which channels: the request decides, else the report; Teams unless declined', () => {
  assert.deepEqual(wantedChannels({}, { delivery: { email: false } }), { teams: true, email: false });
  assert.deepEqual(wantedChannels({}, { delivery: { email: true } }), { teams: true, email: true });
  assert.deepEqual(wantedChannels({ delivery: { email: false } }, { delivery: { email: true } }), { teams: true, email: false });
  assert.deepEqual(wantedChannels({ delivery: { teams: false, email: true } }, { delivery: { email: false } }), { teams: false, email: true });
});

test('message size counts the attachment as base64', () => {
  assert.equal(encodedMessageBytes(3, ''), 4 + 64 * 1024);
  assert.ok(encodedMessageBytes(27 * 1024 * 1024, '<p/>') > 35 * 1024 * 1024, '27 MB does not fit a 35 MB limit');
  assert.ok(encodedMessageBytes(25 * 1024 * 1024, '<p/>') < 35 * 1024 * 1024);
});

test('the email HTML escapes every value and cannot be broken out of its card script', () => {
  const body: EmailBody = {
    title: 'P&L <draft>', runId: 'r1', params: [{ label: 'Note', value: '"><img src=x onerror=alert(1)>' }], rows: 1234567, duration: '3 s',
    checks: '', checksFailed: false, fileName: 'a.xlsx', delivery: { attached: false, url: 'https://x/?a=1&b="2"', reason: 'Too big.', validity: 'the link works for 60 minutes' },
    card: { type: 'AdaptiveCard', body: [{ type: 'TextBlock', text: '</script><script>alert(1)</script>' }] },
  };
  const html = emailHtml(body);
  assert.doesNotMatch(html, /<img|<draft>|onerror=alert\(1\)>/);
  assert.match(html, /P&amp;L &lt;draft&gt; is ready/);
  assert.match(html, /1,234,567/);
  assert.match(html, /<a href="https:\/\/x\/\?a=1&amp;b=&quot;2&quot;">Open the workbook<\/a> \(the link works for 60 minutes\)\./);
  const script = /<script type="application\/adaptivecard\+json">(.*?)<\/script>/s.exec(html)!;
  assert.equal((JSON.parse(script[1]) as { body: { text: string }[] }).body[0].text, '</script><script>alert(1)</script>');
  assert.equal(html.match(/<\/script>/g)?.length, 1);
});

test('a certificate credential needs a readable PEM with the key; the error names the variable', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cert-'));
  try {
    const base = { authorityHost: 'https://login.microsoftonline.com' };
    const cert = (certificatePath: string) => createCredential({ ...base, credential: { kind: 'certificate', tenantId: 't', clientId: 'c', certificatePath } });
    assert.throws(() => cert(join(dir, 'missing.pem')), (e: ConfigError) => /GRAPH_CERTIFICATE_PATH: cannot read/.test(e.message));
    await writeFile(join(dir, 'only-cert.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    assert.throws(() => cert(join(dir, 'only-cert.pem')), /GRAPH_CERTIFICATE_PATH: must be a PEM file holding the certificate and its private key/);
    assert.ok(createCredential({ ...base, credential: { kind: 'managedIdentity' } }));
    assert.ok(createCredential({ ...base, credential: { kind: 'secret', tenantId: 't', clientId: 'c', secret: 's' } }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
