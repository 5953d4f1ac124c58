/**
 * Issue 11 ("First contact with the real services"), Foundry side, at the relay: slow tools, a thread that
 * can no longer continue, sign-in and approvals in one response, lapsed tool sign-ins. Scripted Foundry, fake
 * conversation, real flows (docs/real-services.md "## Foundry").
 */
import { BotError, userMessageFor } from '../../../src/errors';
import type { AgentEvent } from '../../../src/foundry/types';
import { ADA, approval, consent, ended, makeKit, outcome } from './kit';

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('item 1: a slow tool keeps the user informed', () => {
  test('while an MCP call is silent, "Still running <tool>… (n s)" is re-sent until it completes', async () => {
    const kit = makeKit({ settings: { toolProgressIntervalMs: 10 } });
    const call = {
      itemId: 'mcp_1',
      itemType: 'mcp_call',
      serverLabel: 'github',
      name: 'search_issues',
    } as const;
    const o = outcome({ text: '3 open issues' });
    const events: AgentEvent[] = [
      { type: 'turn.started', responseId: o.responseId },
      { type: 'tool.progress', call: { ...call, status: 'in_progress' } },
      { type: 'tool.progress', call: { ...call, status: 'completed' } },
      { type: 'text.delta', itemId: 'msg_1', text: o.text },
      { type: 'turn.end', outcome: o },
    ];
    let release: () => void = () => undefined;
    const until = new Promise<void>((resolve) => (release = resolve));
    kit.foundry.next({ events, hold: { after: 2, until } });
    const said = kit.say(ADA, 'search my issues');
    await wait(30);
    kit.clock.now += 40_000; // the tool has been running for 40 s
    await wait(40);
    release();
    await said;
    const informative = kit.io().shown.flatMap((s) => (s.kind === 'informative' ? [s.text] : []));
    expect(informative).toContain('Using github.search_issues…');
    expect(informative).toContain('Still running github.search_issues… (40 s)');
    const after = informative.length;
    await wait(40); // the watch stopped with the call: nothing more is sent
    expect(kit.io().shown.filter((s) => s.kind === 'informative')).toHaveLength(after);
    expect(kit.io().texts()).toEqual(['3 open issues']);
  });
});

describe('item 2: a thread that can no longer continue', () => {
  test('a gone previous response resets the thread and answers once in a fresh one, with one line', async () => {
    const kit = makeKit();
    kit.foundry.next({ events: ended(outcome({ responseId: 'resp_old', text: 'one' })) });
    await kit.say(ADA, 'first');
    kit.foundry.next(
      { error: new BotError('FOUNDRY_THREAD_NOT_FOUND', 'gone', { details: { status: 400 } }) },
      { events: ended(outcome({ responseId: 'resp_new', text: 'fresh answer' })) },
    );
    await kit.say(ADA, 'second');
    expect(kit.foundry.requests.map((r) => r.thread)).toEqual([
      { mode: 'previous_response' },
      { mode: 'previous_response', previousResponseId: 'resp_old' },
      { mode: 'previous_response' },
    ]);
    expect(kit.foundry.requests[2]?.input).toEqual({ kind: 'text', text: 'second' });
    const texts = kit.io().texts();
    expect(texts.filter((t) => t.includes('could not continue our earlier conversation'))).toHaveLength(1);
    expect(texts.at(-1)).toBe('fresh answer');
    expect(kit.io().cardsOf('error')).toHaveLength(0);
    await kit.say(ADA, 'third'); // and the thread goes on from the fresh response
    expect(kit.foundry.requests[3]?.thread).toEqual({
      mode: 'previous_response',
      previousResponseId: 'resp_new',
    });
  });

  test('conversation threading: a missing conversation is replaced by a new one', async () => {
    const kit = makeKit({ settings: { threading: 'conversation' } });
    await kit.say(ADA, 'first');
    kit.foundry.next({
      error: new BotError('FOUNDRY_THREAD_NOT_FOUND', 'gone', { details: { status: 404 } }),
    });
    await kit.say(ADA, 'second');
    expect(kit.foundry.requests.map((r) => r.thread)).toEqual([
      { mode: 'conversation', conversationId: 'conv_1' },
      { mode: 'conversation', conversationId: 'conv_1' },
      { mode: 'conversation', conversationId: 'conv_2' },
    ]);
  });

  test('no loop: a fresh thread that is "not found" too is reported as the agent missing', async () => {
    const kit = makeKit();
    const gone = (): BotError => new BotError('FOUNDRY_THREAD_NOT_FOUND', 'gone');
    kit.foundry.next({ error: gone() }, { error: gone() }, { error: gone() });
    await kit.say(ADA, 'hello');
    expect(kit.foundry.requests).toHaveLength(2);
    expect(
      kit
        .io()
        .cardsOf('error')
        .map((c) => c.code),
    ).toEqual(['FOUNDRY_NOT_FOUND']);
  });
});

describe('item 4: sign-in and approvals in one response', () => {
  test('both cards are offered; sign-in waits for the approvals, whose continuation answers every request', async () => {
    const kit = makeKit({ settings: { identityMode: 'user' } });
    const requests = [approval('add_label', { label: 'bug' }), approval('assign_issue', { to: 'ada' })];
    kit.foundry.next({
      events: ended(outcome({ status: 'incomplete', consents: [consent()], approvals: requests })),
    });
    await kit.say(ADA, 'triage and search');
    const consentCard = kit.io().cardsOf('consent').at(-1);
    const approvalCard = kit.io().cardsOf('approval').at(-1);
    expect(consentCard?.status).toBe('pending');
    expect(approvalCard?.items).toHaveLength(2);

    const sent = kit.foundry.requests.length;
    const click = await kit.relay.handleCardAction(kit.turn(ADA), {
      verb: 'consent.continue',
      consentId: consentCard?.consentId ?? '',
    });
    await kit.relay.idle();
    expect(kit.foundry.requests).toHaveLength(sent); // no continuation while approvals are open
    expect(click.kind === 'card' && click.card.kind === 'consent' && click.card.notice).toContain(
      'Decide the approval request',
    );

    kit.foundry.next({ events: ended(outcome({ text: 'Labelled and assigned.' })) });
    for (const [i, item] of (approvalCard?.items ?? []).entries()) {
      await kit.relay.handleCardAction(kit.turn(ADA), {
        verb: 'approval.decide',
        batchId: approvalCard?.batchId ?? '',
        approvalId: item.approvalId,
        decision: i === 0 ? 'approve' : 'deny',
      });
    }
    await kit.relay.idle();
    const continuation = kit.foundry.requests[sent];
    expect(continuation?.input).toEqual({
      kind: 'approvals',
      decisions: [
        expect.objectContaining({ requestId: requests[0]?.requestId, approve: true }),
        expect.objectContaining({ requestId: requests[1]?.requestId, approve: false }),
      ],
    });
    expect(kit.foundry.requests).toHaveLength(sent + 1);
    expect(kit.io().texts()).toContain('Labelled and assigned.');
    expect(kit.io().cardsOf('consent').at(-1)?.status).not.toBe('pending');
  });
});

describe('item 6: a tool whose sign-in lapsed', () => {
  test('a failed MCP call "Failed to fetch access token" → "needs you to sign in again", with the way', async () => {
    const kit = makeKit();
    const failed = {
      itemId: 'mcp_1',
      itemType: 'mcp_call',
      serverLabel: 'github',
      name: 'search_issues',
      status: 'failed' as const,
      error: {
        kind: 'string' as const,
        message: 'Failed to fetch access token',
        signInRequired: true as const,
      },
    };
    kit.foundry.next({ events: ended(outcome({ text: 'I could not search.', toolCalls: [failed] })) });
    await kit.say(ADA, 'search my issues');
    const last = kit.io().texts().at(-1) ?? '';
    expect(last).toContain('github.search_issues needs you to sign in again');
    expect(last).toContain('choose Sign in on the card');
  });

  test('a response that failed with tool_user_error shows the sign-in-again card, not a generic failure', async () => {
    const kit = makeKit();
    kit.foundry.next({
      events: ended(outcome({ status: 'failed', error: { code: 'tool_user_error', message: 'x' } })),
    });
    await kit.say(ADA, 'search my issues');
    const card = kit.io().cardsOf('error').at(-1);
    expect(card?.code).toBe('TOOL_SIGNIN_REQUIRED');
    expect(card?.text).toBe(userMessageFor('TOOL_SIGNIN_REQUIRED'));
    expect(card?.text).not.toBe(userMessageFor('FOUNDRY_FAILED'));
  });
});
