/**
 * The OAuth consent (sign-in) flow (design "Consent"; docs/reliability.md CONS-*), against the real flows
 * with a MemoryStateStore, a scripted Foundry and a fake conversation.
 */
import type { ConsentRecord } from '../../../src/relay/model';
import type { ConsentCardView } from '../../../src/relay/views';
import { ADA, ADMIN, BEN, consent, ended, makeKit, outcome, type Kit } from './kit';

async function askForSignIn(kit: Kit, who = ADA, link?: string): Promise<ConsentCardView> {
  kit.foundry.next({ events: ended(outcome({ status: 'incomplete', consents: [consent(link)] })) });
  await kit.say(who, 'search my issues');
  const card = kit.io().cardsOf('consent').at(-1);
  if (!card) throw new Error('no consent card');
  return card;
}

const click = (
  kit: Kit,
  verb: 'consent.continue' | 'consent.cancel' | 'consent.refresh',
  card: ConsentCardView,
  who = ADA,
) => kit.relay.handleCardAction(kit.turn(who), { verb, consentId: card.consentId });

describe('consent (individual sign-in, user mode)', () => {
  test('a consent request shows the requester a sign-in card with the validated link', async () => {
    const kit = makeKit({ settings: { identityMode: 'user' } });
    const card = await askForSignIn(kit);
    expect(card.status).toBe('pending');
    expect(card.shared).toBe(false);
    expect(card.services).toEqual([
      { label: 'github', host: 'login.example.com', link: 'https://login.example.com/consent?x=1' },
    ]);
  });

  test('a link whose host is not allowed is never shown; the user is told why', async () => {
    const kit = makeKit({ settings: { identityMode: 'user' } });
    kit.foundry.next({ events: ended(outcome({ consents: [consent('https://evil.example.net/x')] })) });
    await kit.say(ADA, 'search my issues');
    expect(kit.io().cardsOf('consent')).toHaveLength(0);
    expect(kit.io().texts().join('\n')).toContain('sign-in link could not be verified');
  });

  test("I've signed in re-sends the user's text on the consent response (previous_response mode)", async () => {
    const kit = makeKit({ settings: { identityMode: 'user' } });
    const card = await askForSignIn(kit);
    const consentResponse = kit.foundry.requests.length;
    kit.foundry.next({ events: ended(outcome({ text: '3 open issues' })) });
    const answer = await click(kit, 'consent.continue', card);
    await kit.relay.idle();
    expect(answer.kind === 'card' && answer.card.kind === 'consent' && answer.card.status).toBe('signed_in');
    const sent = kit.foundry.requests[consentResponse];
    expect(sent?.input).toEqual({ kind: 'text', text: 'search my issues' });
    expect(sent?.thread.mode === 'previous_response' && sent.thread.previousResponseId).toMatch(/^resp_/);
    expect(kit.io().texts()).toContain('3 open issues');
    expect(kit.io().cardsOf('consent').at(-1)?.status).toBe('signed_in');
  });

  test('another user cannot complete my sign-in (403, nothing sent)', async () => {
    const kit = makeKit({ settings: { identityMode: 'user' } });
    const card = await askForSignIn(kit);
    const before = kit.foundry.requests.length;
    const answer = await click(kit, 'consent.continue', card, BEN);
    await kit.relay.idle();
    expect(answer).toMatchObject({ kind: 'error', statusCode: 403 });
    expect(kit.foundry.requests).toHaveLength(before);
  });

  test('a cancel that arrives while the continuation runs is never overwritten by the retry card', async () => {
    const kit = makeKit({ settings: { identityMode: 'user' } });
    const card = await askForSignIn(kit);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // Foundry asks for consent again (sign-in did not complete), but only after the user cancelled.
    kit.foundry.next({ gate, events: ended(outcome({ status: 'incomplete', consents: [consent()] })) });
    await click(kit, 'consent.continue', card);
    const cancelled = await click(kit, 'consent.cancel', card);
    expect(cancelled.kind === 'card' && cancelled.card.kind === 'consent' && cancelled.card.status).toBe(
      'cancelled',
    );
    release();
    await kit.relay.idle();
    const record = await kit.store.get<ConsentRecord>(`consent/${card.consentId}`);
    expect(record?.value.state).toBe('cancelled');
    expect(
      kit
        .io()
        .cardsOf('consent')
        .some((c) => c.status === 'retry'),
    ).toBe(false);
  });

  test('a second consent request after signing in shows "retry"; a third stops with a clear message', async () => {
    const kit = makeKit({ settings: { identityMode: 'user' } });
    const card = await askForSignIn(kit);
    kit.foundry.next({ events: ended(outcome({ consents: [consent()] })) });
    await click(kit, 'consent.continue', card);
    await kit.relay.idle();
    expect(kit.io().cardsOf('consent').at(-1)?.status).toBe('retry');
    kit.foundry.next({ events: ended(outcome({ consents: [consent()] })) });
    await click(kit, 'consent.continue', card);
    await kit.relay.idle();
    expect(kit.io().texts().join('\n')).toContain('Sign-in did not complete');
    expect(kit.io().cardsOf('consent').at(-1)?.status).toBe('failed');
  });

  test('a declined sign-in ends with "this tool needs authorization"', async () => {
    const kit = makeKit({ settings: { identityMode: 'user' } });
    const card = await askForSignIn(kit);
    const failedCall = {
      itemId: 'mcp_1',
      itemType: 'mcp_call',
      serverLabel: 'github',
      name: 'search',
      status: 'failed' as const,
    };
    kit.foundry.next({ events: ended(outcome({ toolCalls: [failedCall] })) });
    await click(kit, 'consent.continue', card);
    await kit.relay.idle();
    expect(kit.io().texts().join('\n')).toContain('This tool needs authorization: github.search');
    expect(kit.io().cardsOf('consent').at(-1)?.status).toBe('declined');
  });
});

describe('consent (shared sign-in, app mode)', () => {
  test('the card says the sign-in is shared and only an admin may complete it', async () => {
    const kit = makeKit();
    const card = await askForSignIn(kit);
    expect(card.shared).toBe(true);
    const refused = await click(kit, 'consent.continue', card, ADA);
    expect(refused).toMatchObject({ kind: 'error', statusCode: 403, refusal: 'not_admin' });
    kit.foundry.next({ events: ended(outcome({ text: 'ok' })) });
    const accepted = await click(kit, 'consent.continue', card, ADMIN);
    await kit.relay.idle();
    expect(accepted.kind).toBe('card');
    expect(kit.io().texts()).toContain('ok');
  });
});
