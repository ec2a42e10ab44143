/**
 * Outlook actionable messages over HTTP with the legacy token (ACTIONS_TOKEN=legacy), as Outlook
 * called them until June 2026: POST /api/actions/<verb> with a bearer token. Outlook's token issuer
 * cannot run here, so this file plays it: an RSA key pair whose public half it serves as a JWKS
 * (ACTIONS_JWKS_URL points there) and tokens shaped like Office 365's (iss
 * https://substrate.office.com/sts/, aud = the bot's base URL, appid of the Actions service, sender,
 * sub). Each Re-run names a run the archive says was emailed to the person clicking (see
 * test/actions-entra.test.ts for the Entra ID token, and for the e2e path from a real email). Graph is
 * the fake one, so that emails may carry the card (ACTIONABLE_ORIGINATOR needs Graph). Every refused
 * request is checked to have queued nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import restify from 'restify';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createActionTokenVerifier, ActionTokenError } from '../bot/action-token.ts';
import { mountActions } from '../bot/actions.ts';
import type { BotDeps } from '../bot/context.ts';
import { parseConfig } from '../core/config.ts';
import { startStack, jobCount, type Stack } from './harness/stack.ts';
import { action, callCard, cardStarting, fact, headline } from './harness/cards.ts';
import { emailedRun, jobOf as jobIn, postAction, queuedRunId, type ActionResponse, type RerunBody } from './harness/actions.ts';
import { FakeGraph } from './harness/graph.ts';

const BASE_URL = 'https://reports.contoso.test';
const SENDER = 'reports@contoso.com';
const ORIGINATOR = 'c9b4352b-a76b-43b9-88ff-80edddaa243b';
/** What Office 365 puts in every actionable-message token (Microsoft's validators check these). */
const ISSUER = 'https://substrate.office.com/sts/';
const ACTIONS_APP_ID = '48af08dc-f6d2-435f-b2a7-069abd99c086';
const KID = 'test-signing-key';

let stack: Stack;
let graph: FakeGraph;
let jwks: Server;
let jwksUrl: string;
let jwksRequests = 0;
let signingKey: CryptoKey;
let otherKey: CryptoKey;

before(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  signingKey = pair.privateKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: KID, use: 'sig', alg: 'RS256' };
  jwks = createServer((req, res) => {
    jwksRequests++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/sts/common/discovery/keys`;
  graph = await FakeGraph.start();
  stack = await startStack({
    runners: 0,
    env: graph.env({
      ACTIONS_TOKEN: 'legacy', PUBLIC_BASE_URL: BASE_URL, MAIL_SENDER: SENDER, ACTIONS_JWKS_URL: jwksUrl, ACTIONABLE_ORIGINATOR: ORIGINATOR,
    }),
  });
});
after(async () => {
  await stack?.stop();
  await graph?.close();
  jwks?.closeAllConnections();
  await new Promise((resolve) => jwks?.close(resolve));
});

type Claims = Record<string, unknown>;

/** A token as Office 365 issues it for a click by `sub`; `claims` override or (with undefined) remove claims. */
async function token(claims: Claims = {}, opts: { key?: CryptoKey | Uint8Array; alg?: string; kid?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Claims = {
    iss: ISSUER, aud: BASE_URL, iat: now, nbf: now, exp: now + 3600,
    ver: 'STI.ExternalAccessToken.V1', appid: ACTIONS_APP_ID, appidacr: '2', acr: '0',
    sender: SENDER, sub: 'megan.bowen@contoso.com',
    ...claims,
  };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: opts.alg ?? 'RS256', typ: 'JWT', kid: opts.kid ?? KID }).sign(opts.key ?? signingKey);
}

const bearer = async (claims: Claims = {}) => ({ authorization: `Bearer ${await token(claims)}` });

const post = (verb: string, body: unknown, headers: Record<string, string> = {}): Promise<ActionResponse> => postAction(stack, verb, body, headers);
const jobOf = (runId: string) => jobIn(stack, runId);

/** The Re-run body of a gl-accounts run (or `reportId`) that was emailed to `upn` (Megan by default). */
function rerunBody(params: Record<string, unknown> = { pcn: '900101' }, reportId = 'gl-accounts', upn = 'megan.bowen@contoso.com'): Promise<RerunBody> {
  return emailedRun(stack, { upn, reportId, params });
}

/** A body that names no run at all: for requests refused before the run is looked up. */
function anyBody(): RerunBody {
  return { runId: `20261120-${randomBytes(4).toString('hex')}`, reportId: 'gl-accounts', params: { pcn: '900101' } };
}

test('a valid token queues exactly one run for the person the token names, and the card is refreshed', async () => {
  const before = await jobCount(stack.queue);
  const card = await rerunBody();
  // The body cannot choose who runs the report: only the token says who clicked.
  const res = await post('rerun', { ...card, requestedBy: { upn: 'ceo@contoso.com', aadObjectId: randomUUID() } }, await bearer());

  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.match(res.cardStatus ?? '', /^Queued as run \d{8}-[0-9a-f]{8}; the file will be emailed to you\.$/);
  const runId = queuedRunId(res);
  assert.equal(res.updateInBody, 'true');
  assert.equal(res.body?.type, 'AdaptiveCard');
  assert.equal(res.body?.originator, ORIGINATOR);
  assert.equal(headline(res.body), 'Re-run queued: Chart of accounts');
  assert.equal(fact(res.body, 'Run id'), runId);
  assert.equal(fact(res.body, 'Re-run of'), card.runId);
  assert.equal(fact(res.body, 'Requested by'), 'megan.bowen@contoso.com');
  assert.equal(fact(res.body, 'PCN'), '900101 Demo Stamping - Plant A');
  assert.equal(action(res.body, 'Re-run'), undefined, 'the refreshed card offers no second Re-run');

  assert.equal(await jobCount(stack.queue), before + 1);
  const job = await jobOf(runId);
  assert.equal(job.origin, 'email');
  assert.equal(job.reportId, 'gl-accounts');
  assert.deepEqual(job.params, { pcn: '900101', includeInactive: false });
  assert.deepEqual(job.requestedBy, { aadObjectId: 'mail:megan.bowen@contoso.com', name: 'megan.bowen@contoso.com', upn: 'megan.bowen@contoso.com' });
  assert.deepEqual(job.delivery, { email: true, teams: false });
  assert.equal(job.conversation, undefined);
  assert.equal(jwksRequests, 1, 'the signing keys were fetched once and cached');

  // The same holds when the card blanked Authorization and Outlook used Action-Authorization instead.
  const viaActionHeader = await post('rerun', await rerunBody(), { authorization: '', 'action-authorization': `Bearer ${await token()}` });
  assert.equal(viaActionHeader.status, 200);
  assert.equal(await jobCount(stack.queue), before + 2);
  assert.equal(jwksRequests, 1);
});

test('a repeated click (Outlook retries, the email open twice) queues one run; another person still gets theirs', async () => {
  const before = await jobCount(stack.queue);
  const card = await rerunBody({ pcn: '900202', includeInactive: 'true' });
  const headers = await bearer();
  const answers = await Promise.all([1, 2, 3].map(() => post('rerun', card, headers)));
  answers.push(await post('rerun', card, await bearer()));
  const runIds = new Set(answers.map((a) => { assert.equal(a.status, 200); return queuedRunId(a); }));
  assert.equal(runIds.size, 1, `one run for all clicks, got ${[...runIds].join(', ')}`);
  assert.equal(await jobCount(stack.queue), before + 1);
  assert.ok(answers.some((a) => a.cardStatus?.startsWith('Already queued as run ')));
  for (const a of answers) {
    assert.equal(a.updateInBody, 'true');
    assert.equal(fact(a.body, 'Run id'), [...runIds][0]);
  }

  // A colleague's own email of the same report and parameters gives them their own run.
  const colleagueCard = await rerunBody({ pcn: '900202', includeInactive: 'true' }, 'gl-accounts', 'adele.vance@contoso.com');
  const colleague = await post('rerun', colleagueCard, await bearer({ sub: 'adele.vance@contoso.com' }));
  assert.equal(colleague.status, 200);
  assert.notEqual(queuedRunId(colleague), [...runIds][0]);
  assert.equal(await jobCount(stack.queue), before + 2);
});

test('a Re-run only of a run emailed to the person clicking, as it ran: else 404 and nothing queued', async () => {
  const before = await jobCount(stack.queue);
  const megans = await rerunBody();
  const notFound = 'is not a report emailed to you, so nothing was queued.';
  const cases: [string, RerunBody, string?][] = [
    ['a run that does not exist', anyBody()],
    ['Megan\'s run, clicked by Adele (a forwarded email)', megans, 'adele.vance@contoso.com'],
    ['a run whose email failed', await emailedRun(stack, { upn: 'megan.bowen@contoso.com', email: 'failed' })],
    ['a run that was not emailed', await emailedRun(stack, { upn: 'megan.bowen@contoso.com', email: 'none' })],
    ['other parameters than the run had', { ...megans, params: { pcn: '900202' } }],
    ['another report than the run', { ...megans, reportId: 'restricted-accounts' }],
  ];
  for (const [what, body, sub] of cases) {
    const res = await post('rerun', body, await bearer(sub ? { sub } : {}));
    assert.equal(res.status, 404, `${what}: ${res.status} ${res.cardStatus}`);
    assert.equal(res.cardStatus, `Run ${body.runId} of "${body.reportId}" ${notFound}`, what);
    assert.equal(res.updateInBody, null, what);
  }
  assert.equal(await jobCount(stack.queue), before);
  // The address is compared without regard to case, as Exchange does.
  assert.equal((await post('rerun', megans, await bearer({ sub: 'Megan.Bowen@Contoso.com' }))).status, 200);
});

test('tokens that are missing, forged, expired or not ours are refused with 401 and queue nothing', async () => {
  const before = await jobCount(stack.queue);
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: ISSUER, aud: BASE_URL, exp: now + 3600, appid: ACTIONS_APP_ID, sender: SENDER, sub: 'megan.bowen@contoso.com' })}.`;
  const cases: [string, Record<string, string>][] = [
    ['no token', {}],
    ['Basic auth', { authorization: 'Basic bWVnYW46cGFzcw==' }],
    ['garbage', { authorization: 'Bearer garbage' }],
    ['Bearer and nothing', { authorization: 'Bearer ' }],
    ['wrong issuer', await bearer({ iss: 'https://login.microsoftonline.com/common/v2.0' })],
    ['wrong audience', await bearer({ aud: 'https://attacker.example' })],
    ['audience with a path', await bearer({ aud: `${BASE_URL}/api/actions/rerun` })],
    ['expired', await bearer({ iat: now - 7200, nbf: now - 7200, exp: now - 600 })],
    ['no expiry', await bearer({ exp: undefined })],
    ['not yet valid', await bearer({ nbf: now + 600 })],
    ['signed by another key', { authorization: `Bearer ${await token({}, { key: otherKey })}` }],
    ['signed by an unknown key id', { authorization: `Bearer ${await token({}, { key: otherKey, kid: 'other-key' })}` }],
    ['alg none', { authorization: `Bearer ${unsigned}` }],
    ['HS256 with a shared secret', { authorization: `Bearer ${await token({}, { alg: 'HS256', key: randomBytes(32) })}` }],
    ['wrong sender', await bearer({ sender: 'someone.else@contoso.com' })],
    ['no sender', await bearer({ sender: undefined })],
    ['not issued to the Actions service', await bearer({ appid: randomUUID() })],
    ['no performer', await bearer({ sub: undefined })],
    ['performer not an email', await bearer({ sub: randomUUID() })],
  ];
  for (const [what, headers] of cases) {
    const res = await post('rerun', await rerunBody(), headers);
    assert.equal(res.status, 401, `${what} → ${res.status} ${JSON.stringify(res.body)}`);
    // Nothing tells the caller which check failed.
    assert.equal(res.cardStatus, 'This action could not be verified, so nothing was done.', what);
    assert.deepEqual(res.body, { error: { message: 'This action could not be verified, so nothing was done.' } }, what);
    assert.equal(res.updateInBody, null, what);
  }
  // The token is checked before the body or the verb is looked at.
  assert.equal((await post('rerun', '{not json', {})).status, 401);
  assert.equal((await post('approve-everything', anyBody(), {})).status, 401);
  assert.equal(await jobCount(stack.queue), before);
});

test('a token whose signing keys cannot be fetched is refused', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/keys`;
  await new Promise((resolve) => closed.close(resolve));
  const verifier = createActionTokenVerifier({ token: 'legacy', jwksUrl: url, publicBaseUrl: BASE_URL, sender: SENDER });
  await assert.rejects(verifier.verify({ authorization: `Bearer ${await token()}` }),
    (err: unknown) => err instanceof ActionTokenError && err.keysUnavailable);
});

test('parameters the report does not accept: 400 naming the problem, nothing queued', async () => {
  const before = await jobCount(stack.queue);
  // The run's parameters as emailed, no longer accepted (the report's choices changed since).
  const wrongPcn = await post('rerun', await rerunBody({ pcn: '123456' }), await bearer());
  assert.equal(wrongPcn.status, 400);
  assert.equal(wrongPcn.cardStatus, 'Nothing was queued: PCN must be one of 900101, 900202.');
  assert.equal(wrongPcn.updateInBody, null);

  const unknownParam = await post('rerun', await rerunBody({ pcn: '900101', limit: 5 }), await bearer());
  assert.equal(unknownParam.status, 400);
  assert.match(unknownParam.cardStatus ?? '', /gl-accounts has no parameter "limit"/);

  const notAnObject = await post('rerun', { ...(await rerunBody()), params: ['900101'] }, await bearer());
  assert.equal(notAnObject.status, 400);
  assert.match(notAnObject.cardStatus ?? '', /^The re-run request is incomplete \(params: /);
  assert.equal(await jobCount(stack.queue), before);
});

test('an unknown report and a report the person may not run get the same 404; people the rule allows get their run', async () => {
  const before = await jobCount(stack.queue);
  const unknown = await post('rerun', await rerunBody({}, 'no-such-report'), await bearer());
  assert.equal(unknown.status, 404);
  assert.equal(unknown.cardStatus, 'The report "no-such-report" is not available to you, so nothing was queued.');

  const restricted = (upn: string) => rerunBody({ pcn: '900101' }, 'restricted-accounts', upn);
  const refused = await post('rerun', await restricted('megan.bowen@contoso.com'), await bearer({ sub: 'megan.bowen@contoso.com' }));
  assert.equal(refused.status, 404);
  assert.equal(refused.cardStatus, 'The report "restricted-accounts" is not available to you, so nothing was queued.');
  // An object id the rule lists cannot be claimed through the body or a look-alike address.
  const attacker = 'controller@contoso.com.attacker.example';
  const lookAlike = await post('rerun', await restricted(attacker), await bearer({ sub: attacker }));
  assert.equal(lookAlike.status, 404);
  assert.equal(lookAlike.cardStatus, 'The report "restricted-accounts" is not available to you, so nothing was queued.');
  assert.equal(await jobCount(stack.queue), before);

  for (const sub of ['controller@contoso.com', 'Nestor.Wilke@finance.contoso.com']) {
    const ok = await post('rerun', await restricted(sub), await bearer({ sub }));
    assert.equal(ok.status, 200, `${sub}: ${ok.cardStatus}`);
    assert.equal((await jobOf(queuedRunId(ok))).requestedBy.upn, sub);
  }
  assert.equal(await jobCount(stack.queue), before + 2);
});

test('after a valid token: unknown verbs, bodies that are not a re-run, and oversized bodies are refused clearly', async () => {
  const before = await jobCount(stack.queue);
  const headers = await bearer();
  const cases: [string, string, unknown, number, RegExp][] = [
    ['unknown verb', 'approve', anyBody(), 400, /^Unknown action "approve"; nothing was done\.$/],
    ['not JSON', 'rerun', '{"runId": "20261120-0000', 400, /^The action's data is not valid JSON; nothing was done\.$/],
    ['empty body', 'rerun', '', 400, /^The action came without data; nothing was done\.$/],
    ['JSON but not an object', 'rerun', '"rerun"', 400, /^The re-run request is incomplete/],
    ['no run id', 'rerun', { reportId: 'gl-accounts', params: { pcn: '900101' } }, 400, /^The re-run request is incomplete \(runId: /],
    ['no report id', 'rerun', { runId: '20261120-00000000', params: {} }, 400, /^The re-run request is incomplete \(reportId: /],
    ['too large', 'rerun', { ...anyBody(), padding: 'x'.repeat(20_000) }, 413, /^The action's data is too large; nothing was done\.$/],
  ];
  for (const [what, verb, body, status, message] of cases) {
    const res = await post(verb, body, headers);
    assert.equal(res.status, status, `${what}: ${res.status} ${res.cardStatus}`);
    assert.match(res.cardStatus ?? '', message, what);
    assert.equal(res.updateInBody, null, what);
  }
  assert.equal(await jobCount(stack.queue), before);
});

test('without PUBLIC_BASE_URL and MAIL_SENDER the endpoint does not exist', async () => {
  const config = parseConfig({ NODE_ENV: 'test', ACTIONS_TOKEN: 'legacy', ACTIONS_JWKS_URL: jwksUrl });
  const server = restify.createServer({ handleUncaughtExceptions: false });
  // Off means nothing is mounted: none of the other services is touched.
  assert.equal(mountActions(server, { config, log: stack.log } as BotDeps), false);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  try {
    const res = await fetch(`http://127.0.0.1:${server.address().port}/api/actions/rerun`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(await bearer()) }, body: JSON.stringify(anyBody()),
    });
    assert.equal(res.status, 404);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('a person who chats with the bot gets the re-run in Teams as well, and a runner runs it', async () => {
  const aadObjectId = randomUUID();
  const user = stack.connector.user({ name: 'Adele Vance', aadObjectId });
  assert.equal((await user.say(stack.endpoint, 'help')).status, 200);
  // Only this run should meet the runner: the jobs queued above have no Teams chat to report to.
  await stack.queue.drain(true);

  const card = await rerunBody({ pcn: '900202' }, 'gl-accounts', 'adele.vance@contoso.com');
  const res = await post('rerun', card, await bearer({ sub: 'adele.vance@contoso.com', oid: aadObjectId, tid: randomUUID() }));
  assert.equal(res.status, 200, res.cardStatus ?? '');
  assert.match(res.cardStatus ?? '', /^Queued as run \S+; the file will be emailed to you and sent to you in Teams\.$/);
  const runId = queuedRunId(res);
  const job = await jobOf(runId);
  assert.deepEqual(job.requestedBy, { aadObjectId, name: 'Adele Vance', upn: 'adele.vance@contoso.com' });
  assert.deepEqual(job.delivery, { email: true, teams: true });
  assert.equal(job.conversation?.conversation.id, user.reference.conversationId);

  await stack.startRunner();
  const result = callCard(await user.waitFor(cardStarting('Ready: Chart of accounts'), 60_000));
  assert.equal(fact(result, 'Run id'), runId);
  assert.equal(fact(result, 'PCN'), '900202 Demo Machining - Plant B');
});
