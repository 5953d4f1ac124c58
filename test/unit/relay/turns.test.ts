/**
 * Turns, commands, welcome and sign-in replay (design "A turn, step by step"), against the real relay with a
 * MemoryStateStore, a scripted Foundry and a fake conversation.
 */
import { BotError } from '../../../src/errors';
import { MemoryStateStore } from '../../../src/storage/memory-store';
import type { WriteCondition } from '../../../src/storage/store';
import { ADA, BEN, approval, ended, makeKit, outcome } from './kit';

describe('turns', () => {
  test('an answer streams, then finishes with its text and citations', async () => {
    const kit = makeKit();
    const citation = { kind: 'url_citation' as const, url: 'https://learn.example.com/a', title: 'A' };
    kit.foundry.next({ events: ended(outcome({ text: 'Hello Ada', citations: [citation] })) });
    await kit.say(ADA, 'hello');
    const shown = kit.io().shown;
    expect(shown[0]).toEqual({ kind: 'informative', text: 'Asking the agent…' });
    expect(shown.at(-1)).toEqual({ kind: 'final', answer: { text: 'Hello Ada', citations: [citation] } });
  });

  test('the next message continues the thread from the last response id', async () => {
    const kit = makeKit();
    kit.foundry.next({ events: ended(outcome({ responseId: 'resp_first', text: 'one' })) });
    await kit.say(ADA, 'first');
    await kit.say(ADA, 'second');
    expect(kit.foundry.requests[0]?.thread).toEqual({ mode: 'previous_response' });
    expect(kit.foundry.requests[1]?.thread).toEqual({
      mode: 'previous_response',
      previousResponseId: 'resp_first',
    });
  });

  test('conversation threading creates one Foundry conversation and keeps using it', async () => {
    const kit = makeKit({ settings: { threading: 'conversation' } });
    await kit.say(ADA, 'first');
    await kit.say(ADA, 'second');
    expect(kit.foundry.requests.map((r) => r.thread)).toEqual([
      { mode: 'conversation', conversationId: 'conv_1' },
      { mode: 'conversation', conversationId: 'conv_1' },
    ]);
  });

  test('in a group chat each user has their own Foundry thread', async () => {
    const kit = makeKit();
    kit.foundry.next({ events: ended(outcome({ responseId: 'resp_ada', text: 'a' })) });
    await kit.say(ADA, 'mine', 'groupChat');
    await kit.say(BEN, 'mine too', 'groupChat');
    expect(kit.foundry.requests[1]?.thread).toEqual({ mode: 'previous_response' });
  });

  test('TEAMS-10 a final answer Teams did not take (finish → failed) shows the error card with the turn reference', async () => {
    const kit = makeKit();
    kit.io().finishOutcome = 'failed';
    kit.foundry.next({ events: ended(outcome({ text: 'Hello Ada' })) });
    await kit.say(ADA, 'hello');
    const shown = kit.io().shown;
    expect(shown.at(-2)).toMatchObject({ kind: 'final' });
    const card = kit.io().cardsOf('error')[0];
    expect(card).toMatchObject({ code: 'ANSWER_NOT_DELIVERED', retryText: 'hello' });
    // The reference is the turn's correlation id: the log of the Foundry turn carries the same id.
    const turnLog = kit.logs.find((l) => l['msg'] === 'turn.ended' || l['event'] === 'turn.ended');
    expect(turnLog?.['correlationId']).toBe(card?.correlationId);
  });

  test('TEAMS-10 a delivered answer shows no error card', async () => {
    const kit = makeKit();
    kit.foundry.next({ events: ended(outcome({ text: 'Hello Ada' })) });
    await kit.say(ADA, 'hello');
    expect(kit.io().cardsOf('error')).toHaveLength(0);
  });

  test('a failure before any text shows the error card with a reference id and a Retry button', async () => {
    const kit = makeKit();
    kit.foundry.next({ error: new BotError('FOUNDRY_UNAVAILABLE', 'down') });
    await kit.say(ADA, 'hello');
    const card = kit.io().cardsOf('error')[0];
    expect(card).toMatchObject({ code: 'FOUNDRY_UNAVAILABLE', retryText: 'hello' });
    expect(card?.correlationId).toMatch(/\S{6,}/);
    expect(kit.logs.some((l) => l['correlationId'] === card?.correlationId)).toBe(true);
  });

  test('a failure after some text keeps the text, marked interrupted', async () => {
    const kit = makeKit();
    const events = [
      { type: 'turn.started' as const, responseId: 'resp_x' },
      { type: 'text.delta' as const, itemId: 'm', text: 'Half an ans' },
    ];
    kit.foundry.next({ events });
    await kit.say(ADA, 'hello');
    expect(kit.io().shown.at(-1)).toMatchObject({ kind: 'abandon' });
    kit.foundry.next({ events: [...events, { type: 'turn.end', outcome: outcome({ status: 'failed' }) }] });
    await kit.say(ADA, 'again');
    expect(kit.io().shown.at(-1)).toMatchObject({
      kind: 'final',
      answer: { text: 'Half an ans', note: 'interrupted' },
    });
  });

  test('approvals Foundry still holds (400 unanswered) are denied, then the message is sent once more', async () => {
    const kit = makeKit();
    kit.foundry.next({ events: ended(outcome({ responseId: 'resp_prev', text: 'x' })) });
    await kit.say(ADA, 'first');
    const unanswered = new BotError('FOUNDRY_UNANSWERED_APPROVALS', '400', {
      details: { pendingRequestIds: ['mcpr_lost'] },
    });
    kit.foundry.next(
      { error: unanswered },
      { events: ended(outcome()) },
      { events: ended(outcome({ text: 'ok now' })) },
    );
    await kit.say(ADA, 'second');
    const [, failed, deny, resent] = kit.foundry.requests;
    expect(failed?.input).toEqual({ kind: 'text', text: 'second' });
    expect(deny?.input).toEqual({
      kind: 'approvals',
      decisions: [{ requestId: 'mcpr_lost', approve: false, reason: 'Denied in Teams (superseded)' }],
    });
    expect(resent?.input).toEqual({ kind: 'text', text: 'second' });
    expect(kit.io().texts()).toContain('ok now');
  });

  test('an agent that keeps asking for approvals is stopped after the round limit', async () => {
    const kit = makeKit();
    for (let i = 0; i < 10; i++)
      kit.foundry.next({ events: ended(outcome({ approvals: [approval('loop')] })) });
    await kit.say(ADA, 'loop');
    for (let round = 0; round < 9; round++) {
      const card = [...kit.io().cardsOf('approval')].reverse().find((c) => c.status === 'pending');
      if (!card) break;
      await kit.relay.handleCardAction(kit.turn(ADA), {
        verb: 'approval.decide',
        batchId: card.batchId,
        approvalId: '*',
        decision: 'approve',
      });
      await kit.relay.idle();
    }
    expect(kit.io().texts().join('\n')).toContain('kept asking for approvals');
    expect(kit.foundry.requests).toHaveLength(9); // the message and eight continuations
  });
});

describe('commands', () => {
  test('/new forgets the thread: the next message starts without a previous response', async () => {
    const kit = makeKit();
    kit.foundry.next({ events: ended(outcome({ responseId: 'resp_old', text: 'x' })) });
    await kit.say(ADA, 'first');
    await kit.say(ADA, '/new');
    await kit.say(ADA, 'fresh');
    expect(kit.io().texts()).toContain(
      'Started a new conversation with the agent. Earlier context is forgotten.',
    );
    expect(kit.foundry.requests.at(-1)?.thread).toEqual({ mode: 'previous_response' });
  });

  test('/status names the agent and counts the open approvals', async () => {
    const kit = makeKit({ settings: { agentVersion: '3' } });
    kit.foundry.next({ events: ended(outcome({ approvals: [approval('a'), approval('b')] })) });
    await kit.say(ADA, 'go');
    await kit.say(ADA, '/status');
    const status = kit.io().cardsOf('notice').at(-1);
    expect(status?.lines).toEqual(
      expect.arrayContaining(['Agent: helpdesk (version 3)', 'Pending approvals: 2']),
    );
  });
});

describe('welcome', () => {
  test('the welcome card is sent once per conversation, however often install events repeat', async () => {
    const kit = makeKit();
    await kit.relay.welcome(kit.io());
    await kit.relay.welcome(kit.io());
    await kit.relay.welcome(kit.io('groupChat'));
    expect(kit.io().cardsOf('notice')).toHaveLength(1);
    expect(kit.io('groupChat').cardsOf('notice')).toHaveLength(1);
  });

  test('the welcome record uses the injected clock and a key from keys.ts', async () => {
    const kit = makeKit();
    await kit.relay.welcome(kit.io());
    const key = kit.store.keys().find((k) => k.startsWith('welcome/'));
    expect((await kit.store.get<{ at: number }>(key ?? ''))?.value.at).toBe(kit.clock.now);
  });

  test('a store outage skips the welcome and is logged, not swallowed', async () => {
    class DownStore extends MemoryStateStore {
      override put<T>(_k: string, _v: T, _c: WriteCondition): Promise<string> {
        return Promise.reject(new Error('ECONNREFUSED'));
      }
    }
    const kit = makeKit({ store: new DownStore() });
    await kit.relay.welcome(kit.io());
    expect(kit.io().shown).toHaveLength(0);
    expect(
      kit.logs.some(
        (l) => l['msg'] === 'welcome.store_unavailable' || l['event'] === 'welcome.store_unavailable',
      ),
    ).toBe(true);
  });
});

describe('sign-in replay (user mode)', () => {
  test('a message sent while signed out asks for sign-in and is answered once the token arrives', async () => {
    const kit = makeKit({ settings: { identityMode: 'user' } });
    kit.identity.signedOut.add(ADA.aadObjectId ?? '');
    await kit.say(ADA, 'what is new?');
    expect(kit.io().shown.some((s) => s.kind === 'signin')).toBe(true);
    expect(kit.foundry.requests).toHaveLength(0);
    kit.foundry.next({ events: ended(outcome({ text: 'Here is what is new' })) });
    expect(await kit.relay.acceptSignIn(kit.turn(ADA), { kind: 'sso', token: 'sso-token' })).toBe('replayed');
    await kit.relay.idle();
    expect(kit.foundry.requests[0]?.input).toEqual({ kind: 'text', text: 'what is new?' });
    expect(kit.io().texts()).toContain('Here is what is new');
  });
});
