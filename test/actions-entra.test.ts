/**
 * Outlook actionable messages with Microsoft Entra ID tokens (ACTIONS_TOKEN=entra, the default), as
 * Outlook calls them since the legacy tokens were retired: POST /api/actions/<verb> with a v2.0 access
 * token the Actions service obtained for our app registration on behalf of the person who clicked.
 * Entra cannot run here, so test/harness/entra-token.ts serves one tenant's OpenID configuration and
 * keys over HTTPS and signs tokens the way the Entra docs describe them. Graph is the fake one, so a
 * runner can email a report whose card's Re-run is then clicked. Every refused request is checked to
 * have queued nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { ActionTokenError, createEntraTokenVerifier } from '../bot/action-token.ts';
import { HistoryIndex } from '../core/history.ts';
import { startStack, jobCount, type Stack } from './harness/stack.ts';
import { action, callCard, cardStarting, fact, headline } from './harness/cards.ts';
import { emailedRun, jobOf as jobIn, postAction, queuedRunId, type ActionResponse, type RerunBody } from './harness/actions.ts';
import { ACTIONS_SERVICE_APP_ID, EntraTokenIssuer, MSA_TENANT } from './harness/entra-token.ts';
import { FakeGraph } from './harness/graph.ts';
import { RUN_ID_PROPERTY } from '../runner/delivery/email.ts';

const TENANT = 'b3f5c2a1-7d4e-4f60-9a8b-1c2d3e4f5a6b';
const OTHER_TENANT = 'e1d2c3b4-a5f6-4789-8abc-def012345678';
/** Our app registration's client id: the `aud` of a v2.0 token for it. */
const AUDIENCE = '0f6b3e2d-9c8a-4b7e-a1d2-3c4b5a697887';
/** Its Application ID URI as the Actionable Email Developer Dashboard generates it (a v1.0 token's aud). */
const APP_ID_URI = `api://auth-am-5f1e2d3c-4b5a-4697-8877-665544332211/${AUDIENCE}`;
const BASE_URL = 'https://reports.contoso.test';
const SENDER = 'reports@contoso.test';
const ORIGINATOR = '7a9c1b3d-5e7f-4a1b-8c2d-4e6f8a0b2c4d';
const MEGAN = { upn: 'megan.bowen@contoso.test', oid: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', name: 'Megan Bowen' };
const ADELE = { upn: 'adele.vance@contoso.test', oid: 'c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f', name: 'Adele Vance' };
const REFUSED = 'This action could not be verified, so nothing was done.';

let stack: Stack;
let graph: FakeGraph;
let entra: EntraTokenIssuer;

before(async () => {
  entra = await EntraTokenIssuer.start(TENANT, AUDIENCE);
  graph = await FakeGraph.start();
  stack = await startStack({
    runners: 0,
    env: graph.env({ ...entra.env(), PUBLIC_BASE_URL: BASE_URL, MAIL_SENDER: SENDER, ACTIONABLE_ORIGINATOR: ORIGINATOR }),
  });
});
after(async () => {
  await stack?.stop();
  await graph?.close();
  await entra?.close();
});

const post = (verb: string, body: unknown, headers: Record<string, string> = {}): Promise<ActionResponse> => postAction(stack, verb, body, headers);
const jobOf = (runId: string) => jobIn(stack, runId);
const bearer = async (person = MEGAN, claims: Record<string, unknown> = {}) => ({ authorization: `Bearer ${await entra.token(person, claims)}` });
/** A gl-accounts run (PCN 900101 unless said) that was emailed to `person`, known by object id and address. */
const emailedTo = (person: { upn: string; oid: string }, params?: Record<string, unknown>): Promise<RerunBody> =>
  emailedRun(stack, { upn: person.upn, aadObjectId: person.oid, params });

test('an Entra token from the Actions service queues exactly one run for the person in it, and refreshes the card', async () => {
  const before = await jobCount(stack.queue);
  const card = await emailedTo(MEGAN);
  // Who clicked comes from the token; the body cannot name someone else.
  const res = await post('rerun', { ...card, requestedBy: { upn: 'ceo@contoso.test', aadObjectId: randomUUID() } }, await bearer());

  assert.equal(res.status, 200, res.cardStatus ?? '');
  assert.match(res.cardStatus ?? '', /^Queued as run \d{8}-[0-9a-f]{8}; the file will be emailed to you\.$/);
  const runId = queuedRunId(res);
  assert.equal(res.updateInBody, 'true');
  assert.equal(res.body?.originator, ORIGINATOR);
  assert.equal(headline(res.body), 'Re-run queued: Chart of accounts');
  assert.equal(fact(res.body, 'Re-run of'), card.runId);
  assert.equal(fact(res.body, 'Requested by'), MEGAN.upn);
  assert.equal(action(res.body, 'Re-run'), undefined);

  assert.equal(await jobCount(stack.queue), before + 1);
  const job = await jobOf(runId);
  assert.equal(job.origin, 'email');
  assert.deepEqual(job.params, { pcn: '900101', includeInactive: false });
  // oid is the person's Entra object id: access rules, history and their Teams chat all key on it.
  assert.deepEqual(job.requestedBy, { aadObjectId: MEGAN.oid, name: MEGAN.upn, upn: MEGAN.upn });
  assert.deepEqual(job.delivery, { email: true, teams: false });

  // Action-Authorization instead of Authorization (a card that blanks the latter) works the same.
  const again = await post('rerun', await emailedTo(MEGAN), { authorization: '', 'action-authorization': `Bearer ${await entra.token(MEGAN)}` });
  assert.equal(again.status, 200, again.cardStatus ?? '');
  assert.equal(await jobCount(stack.queue), before + 2);
  // The tenant's OpenID configuration and its keys were fetched once and cached.
  assert.equal(entra.requests.get(entra.configPath), 1);
  assert.equal(entra.requests.get(entra.keysPath), 1);
});

test('tokens that are not the Actions service\'s Entra token for our app in our tenant are refused with 401 and queue nothing', async () => {
  const before = await jobCount(stack.queue);
  const card = await emailedTo(MEGAN);
  const now = Math.floor(Date.now() / 1000);
  const signed = async (claims: Record<string, unknown>, opts: Parameters<EntraTokenIssuer['token']>[2]) =>
    ({ authorization: `Bearer ${await entra.token(MEGAN, claims, opts)}` });
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const payload = JSON.parse(Buffer.from((await entra.token(MEGAN)).split('.')[1], 'base64url').toString()) as object;
  const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
  const legacy = await new SignJWT({ iss: 'https://substrate.office.com/sts/', aud: BASE_URL, appid: ACTIONS_SERVICE_APP_ID, sender: SENDER, sub: MEGAN.upn })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: entra.kids.current }).setIssuedAt().setExpirationTime('1h').sign(entra.strayKey);

  const cases: [string, Record<string, string>][] = [
    ['no token', {}],
    ['not a bearer token', { authorization: `Basic ${Buffer.from('megan:pw').toString('base64')}` }],
    ['garbage', { authorization: 'Bearer garbage' }],
    // Issuer and tenant
    ['another tenant (its issuer and tid)', await bearer(MEGAN, { iss: `https://login.microsoftonline.com/${OTHER_TENANT}/v2.0`, tid: OTHER_TENANT })],
    ['another tenant in tid only', await bearer(MEGAN, { tid: OTHER_TENANT })],
    ['the tenant-independent issuer', await bearer(MEGAN, { iss: 'https://login.microsoftonline.com/common/v2.0' })],
    ['issuer without /v2.0', await bearer(MEGAN, { iss: `https://login.microsoftonline.com/${TENANT}` })],
    ['a v1.0 token of our tenant', await bearer(MEGAN, {
      iss: `https://sts.windows.net/${TENANT}/`, ver: '1.0', aud: APP_ID_URI, appid: ACTIONS_SERVICE_APP_ID, azp: undefined, upn: MEGAN.upn, preferred_username: undefined,
    })],
    ['the personal-account tenant', await bearer(MEGAN, { iss: `https://login.microsoftonline.com/${MSA_TENANT}/v2.0`, tid: MSA_TENANT })],
    // Audience
    ['another app\'s token', await bearer(MEGAN, { aud: randomUUID() })],
    ['Microsoft Graph\'s token', await bearer(MEGAN, { aud: 'https://graph.microsoft.com/' })],
    ['our Application ID URI in a v2.0 token', await bearer(MEGAN, { aud: APP_ID_URI })],
    ['no audience', await bearer(MEGAN, { aud: undefined })],
    // The client that obtained it
    ['obtained by another client', await bearer(MEGAN, { azp: randomUUID() })],
    ['no azp', await bearer(MEGAN, { azp: undefined })],
    ['appid instead of azp', await bearer(MEGAN, { azp: undefined, appid: ACTIONS_SERVICE_APP_ID })],
    ['an app-only token (no scp)', await bearer(MEGAN, { scp: undefined, roles: ['Reports.Run'] })],
    // Lifetime
    ['expired', await bearer(MEGAN, { iat: now - 7200, nbf: now - 7200, exp: now - 600 })],
    ['not yet valid', await bearer(MEGAN, { nbf: now + 600 })],
    ['no expiry', await bearer(MEGAN, { exp: undefined })],
    ['no nbf', await bearer(MEGAN, { nbf: undefined })],
    // Signature and header
    ['signed by another key under our key id', await signed({}, { key: entra.strayKey })],
    ['signed by an unpublished key id', await signed({}, { key: entra.strayKey, kid: 'unknown-kid' })],
    ['signed by a key published for another issuer only', await signed({}, { key: entra.foreignKey, kid: entra.kids.foreign })],
    ['alg none', { authorization: `Bearer ${unsigned}` }],
    ['HS256 with a shared secret', await signed({}, { alg: 'HS256', key: randomBytes(32) })],
    ['typ other than JWT', await signed({}, { typ: 'at+jwt' })],
    ['a legacy Outlook token', { authorization: `Bearer ${legacy}` }],
    // Who clicked
    ['no preferred_username', await bearer(MEGAN, { preferred_username: undefined })],
    ['preferred_username not an address', await bearer(MEGAN, { preferred_username: '+1 425 555 0100' })],
    ['no oid', await bearer(MEGAN, { oid: undefined })],
    ['oid not an object id', await bearer(MEGAN, { oid: 'megan' })],
    ['ver 1.0 with v2.0 claims', await bearer(MEGAN, { ver: '1.0' })],
  ];
  for (const [what, headers] of cases) {
    const res = await post('rerun', card, headers);
    assert.equal(res.status, 401, `${what} → ${res.status} ${res.cardStatus}`);
    assert.equal(res.cardStatus, REFUSED, what);
    assert.deepEqual(res.body, { error: { message: REFUSED } }, what);
    assert.equal(res.updateInBody, null, what);
  }
  assert.equal(await jobCount(stack.queue), before);
  // Still accepted as it is: the refusals above were the claims, not the card.
  assert.equal((await post('rerun', card, await bearer())).status, 200);
});

test('the verifier says why it refused (for the log), and a v1.0 token is named as such', async () => {
  const verifier = createEntraTokenVerifier({ tenantId: TENANT, audience: AUDIENCE, openIdConfigUrl: entra.openIdConfigUrl });
  const reason = async (claims: Record<string, unknown>) => {
    try {
      await verifier.verify({ authorization: `Bearer ${await entra.token(MEGAN, claims)}` });
    } catch (err) {
      assert.ok(err instanceof ActionTokenError);
      assert.equal(err.keysUnavailable, false);
      return err.reason;
    }
    assert.fail('accepted');
  };
  assert.deepEqual(await verifier.verify({ authorization: `Bearer ${await entra.token(MEGAN)}` }), { email: MEGAN.upn, objectId: MEGAN.oid, tenantId: TENANT });
  assert.equal(await reason({ azp: randomUUID() }), 'not obtained by the Actions service (azp)');
  assert.equal(await reason({ tid: OTHER_TENANT }), 'signing key belongs to another issuer');
  assert.equal(await reason({ aud: randomUUID() }), 'claim "aud" check failed');
  assert.equal(await reason({ scp: undefined }), 'malformed or missing claim "scp"');
  assert.match(await reason({ iss: `https://sts.windows.net/${TENANT}/`, ver: '1.0' }), /^a v1\.0 token: set accessTokenAcceptedVersion to 2/);

  // Keys published without an issuer of their own: the tid claim alone must still match.
  const bare = await EntraTokenIssuer.start(TENANT, AUDIENCE, { keyIssuers: false });
  try {
    const strict = createEntraTokenVerifier({ tenantId: TENANT, audience: AUDIENCE, openIdConfigUrl: bare.openIdConfigUrl });
    await assert.rejects(strict.verify({ authorization: `Bearer ${await bare.token(MEGAN, { tid: OTHER_TENANT })}` }),
      (err: unknown) => err instanceof ActionTokenError && err.reason === 'another tenant (tid)');
    assert.equal((await strict.verify({ authorization: `Bearer ${await bare.token(MEGAN)}` })).objectId, MEGAN.oid);
  } finally {
    await bare.close();
  }
});

test('signing keys that cannot be had are the service\'s fault: refused, told apart, and not cached', async () => {
  const keysUnavailable = (err: unknown) => err instanceof ActionTokenError && err.keysUnavailable;
  const header = { authorization: `Bearer ${await entra.token(MEGAN)}` };

  // Entra answering 503 once: this request is refused, the next one fetches again and passes.
  const flaky = createEntraTokenVerifier({ tenantId: TENANT, audience: AUDIENCE, openIdConfigUrl: entra.openIdConfigUrl });
  entra.failConfig = 1;
  await assert.rejects(flaky.verify(header), keysUnavailable);
  assert.equal((await flaky.verify(header)).objectId, MEGAN.oid);

  // Nothing listening.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const down = createEntraTokenVerifier({ tenantId: TENANT, audience: AUDIENCE, openIdConfigUrl: `https://127.0.0.1:${port}/${TENANT}/v2.0/.well-known/openid-configuration` });
  await assert.rejects(down.verify(header), keysUnavailable);

  // A configuration URL of another tenant (a typo in ACTIONS_OPENID_CONFIG_URL) is not trusted for ours.
  const other = await EntraTokenIssuer.start(OTHER_TENANT, AUDIENCE);
  try {
    const wrong = createEntraTokenVerifier({ tenantId: TENANT, audience: AUDIENCE, openIdConfigUrl: other.openIdConfigUrl });
    await assert.rejects(wrong.verify(header), (err: unknown) => keysUnavailable(err) && /is not tenant/.test((err as ActionTokenError).reason));
    assert.equal(other.requests.get(other.keysPath), undefined, 'its keys were never fetched');
  } finally {
    await other.close();
  }
});

test('a valid token re-runs only a run emailed to that person, as it ran: else 404 and nothing queued', async () => {
  const before = await jobCount(stack.queue);
  const megans = await emailedTo(MEGAN);
  const cases: [string, RerunBody, Record<string, string>][] = [
    ['a run that does not exist', { runId: `20261120-${randomBytes(4).toString('hex')}`, reportId: 'gl-accounts', params: { pcn: '900101' } }, await bearer()],
    ['Megan\'s run, clicked by Adele (the email forwarded)', megans, await bearer(ADELE)],
    ['Megan\'s address, another object id', megans, await bearer({ ...MEGAN, oid: ADELE.oid })],
    ['a run whose email failed', await emailedRun(stack, { upn: MEGAN.upn, aadObjectId: MEGAN.oid, email: 'failed' }), await bearer()],
    ['other parameters than the run had', { ...megans, params: { pcn: '900202' } }, await bearer()],
  ];
  for (const [what, body, headers] of cases) {
    const res = await post('rerun', body, headers);
    assert.equal(res.status, 404, `${what}: ${res.status} ${res.cardStatus}`);
    assert.equal(res.cardStatus, `Run ${body.runId} of "${body.reportId}" is not a report emailed to you, so nothing was queued.`, what);
  }
  assert.equal(await jobCount(stack.queue), before);

  // Renamed since (a new address in preferred_username): the object id still says it is Megan.
  const renamed = await post('rerun', megans, await bearer({ ...MEGAN, upn: 'megan.bowen-smith@contoso.test' }));
  assert.equal(renamed.status, 200, renamed.cardStatus ?? '');
  assert.equal((await jobOf(queuedRunId(renamed))).requestedBy.aadObjectId, MEGAN.oid);
});

test('end to end: a report emailed from Teams, its card\'s Re-run clicked in Outlook, run again and delivered', async () => {
  const user = stack.connector.user({ name: MEGAN.name, upn: MEGAN.upn, aadObjectId: MEGAN.oid });
  // Only these runs should meet the runner.
  await stack.queue.drain(true);
  await stack.startRunner();
  await user.say(stack.endpoint, 'run gl-accounts pcn=900202 --email');
  const runId = fact(callCard(await user.waitFor(cardStarting('Queued: Chart of accounts'))), 'Run id')!;
  await user.waitFor((c) => cardStarting('Ready: Chart of accounts')(c) && fact(callCard(c), 'Run id') === runId, 60_000);
  // The run.json is written once the attempt is over, just after the deliveries.
  const history = new HistoryIndex(stack.redis, stack.prefix);
  for (let i = 0; i < 200 && !(await history.get(runId)); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(await history.get(runId), 'the run was recorded');

  // What Outlook would post: the Re-run button of the card in the email Megan got.
  const mail = graph.sent().find((m) => m.properties.some((p) => p.id === RUN_ID_PROPERTY && p.value === runId));
  assert.ok(mail, 'the run was emailed');
  assert.deepEqual(mail.to, [MEGAN.upn]);
  const script = /<script type="application\/adaptivecard\+json">(.*?)<\/script>/s.exec(mail.body.content);
  assert.ok(script, 'the email carries the card');
  const card = JSON.parse(script[1]) as { originator: string; actions: { type: string; title: string; url?: string; body?: string }[] };
  assert.equal(card.originator, ORIGINATOR);
  const button = card.actions.find((a) => a.type === 'Action.Http' && a.title === 'Re-run');
  assert.equal(button?.url, `${BASE_URL}/api/actions/rerun`);

  const res = await post('rerun', button!.body!, await bearer());
  assert.equal(res.status, 200, res.cardStatus ?? '');
  assert.match(res.cardStatus ?? '', /^Queued as run \S+; the file will be emailed to you and sent to you in Teams\.$/);
  const rerunId = queuedRunId(res);
  const job = await jobOf(rerunId);
  assert.deepEqual(job.requestedBy, { aadObjectId: MEGAN.oid, name: MEGAN.name, upn: MEGAN.upn });
  assert.deepEqual(job.params, { pcn: '900202', includeInactive: false });
  assert.equal(job.conversation?.conversation.id, user.reference.conversationId);

  const result = callCard(await user.waitFor((c) => cardStarting('Ready: Chart of accounts')(c) && fact(callCard(c), 'Run id') === rerunId, 60_000));
  assert.equal(fact(result, 'PCN'), '900202 Demo Machining - Plant B');
});
