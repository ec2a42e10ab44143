/**
 * The fake Graph and token endpoint hold clients to Graph's documented contract: raw HTTP against
 * them, so a delivery that broke the contract would fail its tests instead of passing against a lax fake.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { FakeGraph } from './harness/graph.ts';

let fake: FakeGraph;
let token: string;

before(async () => {
  fake = await FakeGraph.start();
  const { tenantId, clientId, clientSecret } = fake.entra.app;
  const res = await fetch(`${fake.entra.url}/${tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: clientId, client_secret: clientSecret, grant_type: 'client_credentials', scope: `${fake.origin}/.default` }),
  });
  assert.equal(res.status, 200);
  token = (await res.json() as { access_token: string }).access_token;
});
after(() => fake?.close());

const api = (path: string, init: RequestInit & { auth?: boolean } = {}) => fetch(`${fake.origin}/v1.0${path}`, {
  ...init,
  headers: { ...(init.auth === false ? {} : { Authorization: `Bearer ${token}` }), ...(init.headers as Record<string, string> | undefined) },
});
const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

test('the token endpoint refuses a wrong secret, a wrong scope and a wrong grant', async () => {
  const { tenantId, clientId, clientSecret } = fake.entra.app;
  const post = (form: Record<string, string>) => fetch(`${fake.entra.url}/${tenantId}/oauth2/v2.0/token`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form),
  });
  const ok = { client_id: clientId, client_secret: clientSecret, grant_type: 'client_credentials', scope: `${fake.origin}/.default` };
  const wrongSecret = await post({ ...ok, client_secret: 'nope' });
  assert.equal(wrongSecret.status, 401);
  assert.equal((await wrongSecret.json() as { error: string }).error, 'invalid_client');
  assert.equal((await post({ ...ok, scope: 'https://graph.microsoft.com/.default' })).status, 400);
  assert.equal((await post({ ...ok, grant_type: 'password' })).status, 400);
});

test('no token, a bad token: 401 InvalidAuthenticationToken in Graph\'s error shape', async () => {
  for (const headers of [{}, { Authorization: 'Bearer forged' }] as Record<string, string>[]) {
    const res = await fetch(`${fake.origin}/v1.0/users/u1/drive/root:/R/x.xlsx:/content`, { method: 'PUT', headers, body: 'x' });
    assert.equal(res.status, 401);
    const body = await res.json() as { error: { code: string; innerError: Record<string, string> } };
    assert.equal(body.error.code, 'InvalidAuthenticationToken');
    assert.ok(body.error.innerError['request-id']);
  }
});

test('sendMail answers 202 with an empty body and no content type; bad messages are refused', async () => {
  const message = { subject: 's', body: { contentType: 'HTML', content: '<p>x</p>' }, toRecipients: [{ emailAddress: { address: 'a@contoso.test' } }] };
  const res = await api('/users/sender@contoso.test/sendMail', json({ message }));
  assert.equal(res.status, 202);
  assert.equal(res.headers.get('content-type'), null);
  assert.equal(await res.text(), '');
  assert.equal((await api('/users/sender@contoso.test/sendMail', json({ message, extra: 1 }))).status, 400);
  assert.equal((await api('/users/sender@contoso.test/sendMail', json({ message: { ...message, toRecipients: [] } }))).status, 400);
  assert.equal((await api('/users/sender@contoso.test/sendMail', { method: 'POST', body: JSON.stringify({ message }) })).status, 400, 'JSON needs its content type');
  const big = { ...message, attachments: [{ '@odata.type': '#microsoft.graph.fileAttachment', name: 'x.xlsx', contentBytes: Buffer.alloc(3 * 1024 * 1024).toString('base64') }] };
  assert.equal((await api('/users/sender@contoso.test/sendMail', json({ message: big }))).status, 413, '3 MB and more need an upload session');
});

test('upload sessions: no token on the upload URL, fragments of 320 KiB multiples, in order, 416 for a range already sent', async () => {
  const created = await api('/users/u1/drive/root:/R/big.bin:/createUploadSession', json({ item: { name: 'big.bin' } }));
  assert.equal(created.status, 200);
  const { uploadUrl, nextExpectedRanges } = await created.json() as { uploadUrl: string; nextExpectedRanges: string[] };
  assert.deepEqual(nextExpectedRanges, ['0-']);
  const total = 1024 * 1024;
  const put = (start: number, length: number, headers: Record<string, string> = {}) => fetch(uploadUrl, {
    method: 'PUT', headers: { 'Content-Range': `bytes ${start}-${start + length - 1}/${total}`, ...headers }, body: Buffer.alloc(length),
  });
  assert.equal((await put(0, 327_680, { Authorization: `Bearer ${token}` })).status, 401);
  assert.equal((await put(0, 300_000)).status, 400, 'not a multiple of 320 KiB');
  const first = await put(0, 327_680);
  assert.equal(first.status, 202);
  assert.deepEqual((await first.json() as { nextExpectedRanges: string[] }).nextExpectedRanges, ['327680-']);
  assert.equal((await put(0, 327_680)).status, 416);
  assert.equal((await put(655_360, 327_680)).status, 400, 'out of order');
  const status = await fetch(uploadUrl);
  assert.deepEqual((await status.json() as { nextExpectedRanges: string[] }).nextExpectedRanges, ['327680-']);
  const last = await put(327_680, total - 327_680);
  assert.equal(last.status, 201);
  assert.equal((await last.json() as { size: number }).size, total);
});

test('attachment upload sessions start at 3 MB, take octet-stream, and end with 201 + Location', async () => {
  const msg = await api('/users/sender@contoso.test/messages', json({ subject: 'd', toRecipients: [{ emailAddress: { address: 'a@contoso.test' } }] }));
  assert.equal(msg.status, 201);
  const { id } = await msg.json() as { id: string };
  const small = await api(`/users/sender@contoso.test/messages/${id}/attachments/createUploadSession`, json({ AttachmentItem: { attachmentType: 'file', name: 'x', size: 1000 } }));
  assert.equal(small.status, 400);
  assert.equal((await small.json() as { error: { code: string } }).error.code, 'ErrorAttachmentSizeShouldNotBeLessThanMinimumSize');
  const size = 3 * 1024 * 1024 + 10;
  const created = await api(`/users/sender@contoso.test/messages/${id}/attachments/createUploadSession`, json({ AttachmentItem: { attachmentType: 'file', name: 'x.xlsx', size } }));
  assert.equal(created.status, 201);
  const { uploadUrl } = await created.json() as { uploadUrl: string };
  const put = (start: number, length: number, type = 'application/octet-stream') => fetch(uploadUrl, {
    method: 'PUT', headers: { 'Content-Type': type, 'Content-Range': `bytes ${start}-${start + length - 1}/${size}` }, body: Buffer.alloc(length),
  });
  assert.equal((await put(0, 1000, 'text/plain')).status, 400);
  const first = await put(0, 2 * 1024 * 1024);
  assert.equal(first.status, 200);
  assert.deepEqual((await first.json() as { nextExpectedRanges: string[] }).nextExpectedRanges, [String(2 * 1024 * 1024)]);
  const last = await put(2 * 1024 * 1024, size - 2 * 1024 * 1024);
  assert.equal(last.status, 201);
  assert.match(last.headers.get('location') ?? '', /\/attachments\('/);
  assert.equal(await last.text(), '');
  assert.equal((await api(`/users/sender@contoso.test/messages/${id}/send`, json({}))).status, 400, 'send takes no body');
  assert.equal((await api(`/users/sender@contoso.test/messages/${id}/send`, { method: 'POST' })).status, 202);
  assert.equal((await api(`/users/sender@contoso.test/messages/${id}`)).status, 404, 'the sent copy has a new id');
});

test('throttling on demand: 429 with Retry-After, then normal service', async () => {
  fake.fail({ path: /\/sendMail$/, status: 429, retryAfter: '7', code: 'TooManyRequests' });
  const message = { subject: 's', toRecipients: [{ emailAddress: { address: 'a@contoso.test' } }] };
  const throttled = await api('/users/sender@contoso.test/sendMail', json({ message }));
  assert.equal(throttled.status, 429);
  assert.equal(throttled.headers.get('retry-after'), '7');
  assert.equal((await throttled.json() as { error: { code: string } }).error.code, 'TooManyRequests');
  assert.equal((await api('/users/sender@contoso.test/sendMail', json({ message }))).status, 202);
});
