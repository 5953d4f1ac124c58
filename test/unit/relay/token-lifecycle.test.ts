/**
 * Issue 12, user mode: what happens to a turn when the user's sign-in stops working — Foundry answers 401,
 * the on-behalf-of exchange is refused (invalid_grant, interaction_required), or the sign-in lapses while a
 * card continuation waits. Run against the real flows with fake ports (kit.ts).
 */
import { BotError } from '../../../src/errors';
import type { ApprovalCardView } from '../../../src/relay/views';
import { ADA, approval, ended, makeKit, outcome, type Kit } from './kit';

const user = (): Kit => makeKit({ settings: { identityMode: 'user' } });
const oid = ADA.aadObjectId ?? '';

function signIns(kit: Kit): { reason?: string }[] {
  return kit.io().shown.filter((s) => s.kind === 'signin');
}

async function askForApproval(kit: Kit): Promise<ApprovalCardView> {
  kit.foundry.next({ events: ended(outcome({ approvals: [approval('create_issue', { title: 'Bug' })] })) });
  await kit.say(ADA, 'create an issue');
  const card = kit.io().cardsOf('approval').at(-1);
  if (!card) throw new Error('no approval card');
  return card;
}

describe('token lifecycle (user mode)', () => {
  test('Foundry 401 drops the cached token, asks to sign in again with the reason, replays after sign-in', async () => {
    const kit = user();
    kit.foundry.next({ error: new BotError('FOUNDRY_UNAUTHORIZED', 'HTTP 401') });
    await kit.say(ADA, 'what is new?');
    expect(kit.identity.forgotten).toEqual([oid]);
    expect(signIns(kit)).toEqual([{ kind: 'signin', user: ADA, reason: 'SIGNIN_REJECTED_BY_FOUNDRY' }]);
    // No error card: the user is asked to sign in instead.
    expect(kit.io().cardsOf('error')).toHaveLength(0);
    kit.foundry.next({ events: ended(outcome({ text: 'Here is what is new' })) });
    expect(await kit.relay.acceptSignIn(kit.turn(ADA), { kind: 'sso', token: 't' })).toBe('replayed');
    await kit.relay.idle();
    expect(kit.foundry.requests.map((r) => r.input)).toEqual([
      { kind: 'text', text: 'what is new?' },
      { kind: 'text', text: 'what is new?' },
    ]);
    expect(kit.io().texts()).toContain('Here is what is new');
  });

  test('in app mode a Foundry 401 stays an error card (the bot itself is misconfigured)', async () => {
    const kit = makeKit();
    kit.foundry.next({ error: new BotError('FOUNDRY_UNAUTHORIZED', 'HTTP 401') });
    await kit.say(ADA, 'hi');
    expect(
      kit
        .io()
        .cardsOf('error')
        .map((c) => c.code),
    ).toEqual(['FOUNDRY_UNAUTHORIZED']);
    expect(kit.identity.forgotten).toEqual([]);
  });

  test.each(['SIGNIN_INTERACTION_REQUIRED', 'SIGNIN_GRANT_INVALID'] as const)(
    '%s from the exchange → a sign-in card that says why, 0 Foundry requests',
    async (code) => {
      const kit = user();
      kit.identity.signedOut.add(oid);
      kit.identity.failure = code;
      await kit.say(ADA, 'hello');
      expect(signIns(kit)).toEqual([{ kind: 'signin', user: ADA, reason: code }]);
      expect(kit.foundry.requests).toHaveLength(0);
      expect(kit.io().cardsOf('error')).toHaveLength(0);
    },
  );

  test('a sign-in that lapsed before an approval continuation: sign-in card, then the continuation resumes', async () => {
    const kit = user();
    const card = await askForApproval(kit);
    const asking = kit.foundry.requests.length;
    kit.identity.signedOut.add(oid); // the sign-in lapses while the card waits
    await kit.relay.handleCardAction(kit.turn(ADA), {
      verb: 'approval.decide',
      batchId: card.batchId,
      approvalId: card.items[0]?.approvalId ?? '',
      decision: 'approve',
    });
    await kit.relay.idle();
    expect(signIns(kit)).toHaveLength(1);
    expect(kit.io().cardsOf('error')).toHaveLength(0);
    expect(kit.foundry.requests).toHaveLength(asking); // nothing sent without a token
    expect(kit.io().cardsOf('approval').at(-1)?.status).not.toBe('failed');

    kit.foundry.next({ events: ended(outcome({ text: 'Created issue #7' })) });
    expect(await kit.relay.acceptSignIn(kit.turn(ADA), { kind: 'sso', token: 't' })).toBe('replayed');
    await kit.relay.idle();
    expect(kit.foundry.requests[asking]?.input).toMatchObject({ kind: 'approvals' });
    expect(kit.io().texts()).toContain('Created issue #7');
    expect(kit.io().cardsOf('approval').at(-1)?.status).toBe('submitted');
  });

  test('Foundry 401 on the approval continuation: sign in again, then the same decisions are sent', async () => {
    const kit = user();
    const card = await askForApproval(kit);
    const asking = kit.foundry.requests.length;
    kit.foundry.next({ error: new BotError('FOUNDRY_UNAUTHORIZED', 'HTTP 401') });
    await kit.relay.handleCardAction(kit.turn(ADA), {
      verb: 'approval.decide',
      batchId: card.batchId,
      approvalId: card.items[0]?.approvalId ?? '',
      decision: 'approve',
    });
    await kit.relay.idle();
    expect(kit.identity.forgotten).toEqual([oid]);
    expect(signIns(kit)).toEqual([{ kind: 'signin', user: ADA, reason: 'SIGNIN_REJECTED_BY_FOUNDRY' }]);
    kit.foundry.next({ events: ended(outcome({ text: 'Created issue #8' })) });
    await kit.relay.acceptSignIn(kit.turn(ADA), { kind: 'sso', token: 't' });
    await kit.relay.idle();
    const inputs = kit.foundry.requests.slice(asking).map((r) => r.input);
    expect(inputs).toHaveLength(2);
    expect(inputs[1]).toEqual(inputs[0]);
    expect(kit.io().texts()).toContain('Created issue #8');
  });

  test('a group message waits for a sign-in that happens in another conversation (the 1:1 chat)', async () => {
    const kit = user();
    kit.identity.signedOut.add(oid);
    await kit.relay.handleMessage(kit.turn(ADA, 'groupChat'), 'status please');
    await kit.relay.idle();
    expect(kit.io('groupChat').shown.filter((s) => s.kind === 'signin')).toHaveLength(1);
    expect(kit.foundry.requests).toHaveLength(0);
    kit.foundry.next({ events: ended(outcome({ text: 'All green' })) });
    // The sign-in arrives from Ada's personal chat; the group's message is answered in the group.
    expect(await kit.relay.acceptSignIn(kit.turn(ADA, 'personal'), { kind: 'sso', token: 't' })).toBe(
      'replayed',
    );
    await kit.relay.idle();
    expect(kit.io('groupChat').texts()).toContain('All green');
    expect(kit.io('personal').texts()).not.toContain('All green');
  });
});
