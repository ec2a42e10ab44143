import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emailRerunCard, teamsChatUrl } from './render.ts';
import { EmailActions, emailActionUrl } from './verbs.ts';

const summary = {
  runId: '20261123-3fa2c9d1', rerunOf: '20261120-00c0ffee', title: 'Trial balance', performer: 'megan.bowen@contoso.com',
  params: [{ label: 'PCN', value: '900101' }], teams: false,
};

test('the Outlook refresh card: Adaptive Cards 1.0, fully bound, who re-ran it, no Re-run button', () => {
  const card = emailRerunCard({ ...summary, originator: 'c9b4352b-a76b-43b9-88ff-80edddaa243b', teamsUrl: teamsChatUrl('11111111-2222-3333-4444-555555555555') });
  assert.equal(card.version, '1.0');
  assert.equal(card.originator, 'c9b4352b-a76b-43b9-88ff-80edddaa243b');
  assert.doesNotMatch(JSON.stringify(card), /\$\{|\$when|\$data/);
  const facts = (card.body as { facts?: { title: string; value: string }[] }[]).flatMap((e) => e.facts ?? []);
  assert.deepEqual(facts, [
    { title: 'PCN', value: '900101' }, { title: 'Run id', value: '20261123-3fa2c9d1' },
    { title: 'Re-run of', value: '20261120-00c0ffee' }, { title: 'Requested by', value: 'megan.bowen@contoso.com' },
  ]);
  assert.deepEqual(card.actions, [{
    type: 'Action.OpenUrl', title: 'Open in Teams',
    url: 'https://teams.microsoft.com/l/chat/0/0?users=28%3A11111111-2222-3333-4444-555555555555',
  }]);
  assert.match(JSON.stringify(card.body), /emailed to you when it is ready/);
});

test('without a provider id or a bot id the card leaves originator and the Teams link out', () => {
  const card = emailRerunCard({ ...summary, teams: true });
  assert.ok(!('originator' in card));
  assert.deepEqual(card.actions, []);
  assert.match(JSON.stringify(card.body), /emailed to you and sent to your chat with the bot in Teams/);
});

test('email card buttons point at the bot\'s actions endpoint', () => {
  assert.equal(emailActionUrl('https://reports.contoso.com/', EmailActions.rerun), 'https://reports.contoso.com/api/actions/rerun');
  assert.equal(emailActionUrl('https://reports.contoso.com', EmailActions.rerun), 'https://reports.contoso.com/api/actions/rerun');
});
