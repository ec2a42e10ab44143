/**
 * With an app id configured, /api/messages requires a valid Bot Framework token. No token, a forged
 * one, or one whose signing keys cannot be fetched (this machine has no internet) are all 401, and
 * nothing reaches the handlers.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, jobCount, type Stack } from './harness/stack.ts';

let stack: Stack;
before(async () => {
  stack = await startStack({ runners: 0, env: { BOT_ID: '11111111-2222-3333-4444-555555555555', BOT_PASSWORD: 'not-a-real-secret', HOST: '127.0.0.1' } });
});
after(() => stack?.stop());

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

test('unsigned, forged and malformed tokens are refused with 401', async () => {
  const user = stack.connector.user();
  const activity = user.activity('message', { text: 'run gl-accounts pcn=900101' });
  const now = Math.floor(Date.now() / 1000);
  const forged = `${b64({ alg: 'RS256', typ: 'JWT', kid: 'made-up' })}.${b64({
    iss: 'https://api.botframework.com', aud: '11111111-2222-3333-4444-555555555555', serviceurl: stack.connector.url, nbf: now - 60, exp: now + 3600,
  })}.${Buffer.from('not a signature').toString('base64url')}`;
  const unsignedAlgNone = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: 'https://api.botframework.com', aud: '11111111-2222-3333-4444-555555555555' })}.`;
  for (const authorization of [undefined, `Bearer ${forged}`, `Bearer ${unsignedAlgNone}`, 'Bearer garbage', 'Basic dXNlcjpwYXNz']) {
    const res = await user.send(stack.endpoint, activity, authorization ? { authorization } : {});
    assert.equal(res.status, 401, `authorization ${authorization?.slice(0, 16)} → ${res.status}`);
  }
  assert.equal(stack.connector.activities().length, 0, 'the bot sent nothing');
  assert.equal(await jobCount(stack.queue), 0);
  const metrics = await (await fetch(`${stack.bot.url}/metrics`)).text();
  assert.match(metrics, /^reportbot_bot_auth_rejected_total 5$/m, 'each refusal is counted');
  assert.doesNotMatch(metrics, /^reportbot_bot_activities_total\{/m, 'and none counts as an accepted activity');
});

test('the health endpoint needs no token', async () => {
  const res = await fetch(`${stack.bot.url}/healthz`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'ok' });
});
