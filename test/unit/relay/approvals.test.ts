/**
 * The approval flow (design "Card click"; docs/reliability.md CARD-*), run against the real flows with a
 * MemoryStateStore, a scripted Foundry and a fake conversation: no HTTP, no Teams SDK.
 */
import { StoreConflictError, type WriteCondition } from '../../../src/storage/store';
import { MemoryStateStore } from '../../../src/storage/memory-store';
import type { ApprovalCardView } from '../../../src/relay/views';
import { ADA, BEN, approval, ended, makeKit, outcome, type Kit } from './kit';

/** A store on which every write to one key loses its race (another instance always writes first). */
class RacingStore extends MemoryStateStore {
  losing: string | undefined;
  override put<T>(key: string, value: T, condition: WriteCondition): Promise<string> {
    if (key === this.losing) return Promise.reject(new StoreConflictError(key));
    return super.put(key, value, condition);
  }
}

async function askForApprovals(kit: Kit, ...names: string[]): Promise<ApprovalCardView> {
  kit.foundry.next({
    events: ended(outcome({ approvals: names.map((n) => approval(n, { title: 'Bug' })) })),
  });
  await kit.say(ADA, 'create an issue');
  const card = kit.io().cardsOf('approval').at(-1);
  if (!card) throw new Error('no approval card');
  return card;
}

function decide(
  kit: Kit,
  card: ApprovalCardView,
  who = ADA,
  decision: 'approve' | 'deny' = 'approve',
  item = 0,
) {
  const approvalId = card.items[item]?.approvalId ?? '*';
  return kit.relay.handleCardAction(kit.turn(who), {
    verb: 'approval.decide',
    batchId: card.batchId,
    approvalId,
    decision,
  });
}

describe('approvals', () => {
  test('a response that asks for approval shows a card with the tool and its arguments, actionable', async () => {
    const kit = makeKit();
    const card = await askForApprovals(kit, 'create_issue');
    expect(card.status).toBe('pending');
    expect(card.actionable).toBe(true);
    expect(card.items).toHaveLength(1);
    expect(card.items[0]).toMatchObject({ serverLabel: 'github', toolName: 'create_issue' });
    expect(card.items[0]?.argumentLines).toEqual([{ key: 'title', value: 'Bug' }]);
  });

  test('Approve continues the turn with mcp_approval_response approve=true on the asking response', async () => {
    const kit = makeKit();
    const card = await askForApprovals(kit, 'create_issue');
    const asking = kit.foundry.requests.length;
    kit.foundry.next({ events: ended(outcome({ text: 'Created issue #7' })) });
    const answer = await decide(kit, card);
    await kit.relay.idle();
    expect(answer.kind).toBe('card');
    const sent = kit.foundry.requests[asking];
    expect(sent?.input).toEqual({
      kind: 'approvals',
      decisions: [{ requestId: expect.stringMatching(/^mcpr_/), approve: true }],
    });
    expect(kit.io().texts()).toContain('Created issue #7');
    expect(kit.io().cardsOf('approval').at(-1)?.status).toBe('submitted');
  });

  test('someone other than the requester or an approver is refused with 403 and nothing reaches Foundry', async () => {
    const kit = makeKit();
    const card = await askForApprovals(kit, 'create_issue');
    const before = kit.foundry.requests.length;
    const answer = await decide(kit, card, BEN);
    await kit.relay.idle();
    expect(answer).toMatchObject({ kind: 'error', statusCode: 403, refusal: 'not_requester' });
    expect(kit.foundry.requests).toHaveLength(before);
  });

  test('a named approver may decide for the requester', async () => {
    const kit = makeKit({ settings: { approvers: [BEN.aadObjectId ?? ''] } });
    const card = await askForApprovals(kit, 'create_issue');
    const answer = await decide(kit, card, BEN);
    await kit.relay.idle();
    expect(answer.kind).toBe('card');
    expect(kit.foundry.requests.at(-1)?.input.kind).toBe('approvals');
  });

  test('when every write of the click loses its race, the click is "already decided" and Foundry gets nothing', async () => {
    const store = new RacingStore();
    const kit = makeKit({ store });
    const card = await askForApprovals(kit, 'create_issue');
    const before = kit.foundry.requests.length;
    store.losing = `approval/${card.batchId}`;
    const answer = await decide(kit, card);
    await kit.relay.idle();
    expect(answer).toMatchObject({ kind: 'card', refusal: 'already_decided' });
    // Before the fix the click went on with the old batch and sent its undecided item as a denial.
    expect(kit.foundry.requests).toHaveLength(before);
  });

  test('one of two decided keeps the batch pending; the second decision sends both', async () => {
    const kit = makeKit();
    const card = await askForApprovals(kit, 'create_issue', 'add_label');
    const first = await decide(kit, card, ADA, 'approve', 0);
    await kit.relay.idle();
    expect(first.kind === 'card' && first.card.kind === 'approval' && first.card.status).toBe('pending');
    const before = kit.foundry.requests.length;
    kit.foundry.next({ events: ended(outcome({ text: 'done' })) });
    await decide(kit, card, ADA, 'deny', 1);
    await kit.relay.idle();
    expect(kit.foundry.requests).toHaveLength(before + 1);
    const input = kit.foundry.requests.at(-1)?.input;
    expect(input?.kind === 'approvals' && input.decisions.map((d) => d.approve)).toEqual([true, false]);
  });

  test('a second click on a decided item is "already decided" and sends nothing more', async () => {
    const kit = makeKit();
    const card = await askForApprovals(kit, 'create_issue');
    await decide(kit, card);
    await kit.relay.idle();
    const before = kit.foundry.requests.length;
    const again = await decide(kit, card, ADA, 'deny');
    await kit.relay.idle();
    expect(again).toMatchObject({ kind: 'card', refusal: 'already_decided' });
    expect(kit.foundry.requests).toHaveLength(before);
  });

  test('a click after the approval expired answers 410 and the card says expired', async () => {
    const kit = makeKit();
    const card = await askForApprovals(kit, 'create_issue');
    kit.clock.now += 11 * 60_000;
    const answer = await decide(kit, card);
    await kit.relay.idle();
    expect(answer).toMatchObject({ kind: 'error', statusCode: 410, refusal: 'expired' });
    expect(kit.io().cardsOf('approval').at(-1)?.status).toBe('expired');
  });

  test('a new message denies open approvals first (superseded), then sends the message', async () => {
    const kit = makeKit();
    await askForApprovals(kit, 'create_issue');
    const before = kit.foundry.requests.length;
    kit.foundry.next({ events: ended(outcome()) }, { events: ended(outcome({ text: 'hi again' })) });
    await kit.say(ADA, 'never mind');
    const [deny, message] = kit.foundry.requests.slice(before);
    expect(deny?.input).toEqual({
      kind: 'approvals',
      decisions: [{ requestId: expect.any(String), approve: false, reason: 'Denied in Teams (superseded)' }],
    });
    expect(message?.input).toEqual({ kind: 'text', text: 'never mind' });
    expect(kit.io().cardsOf('approval').at(-1)?.status).toBe('superseded');
  });

  test('a click from another conversation is refused as not found', async () => {
    const kit = makeKit();
    const card = await askForApprovals(kit, 'create_issue');
    const answer = await kit.relay.handleCardAction(kit.turn(ADA, 'groupChat'), {
      verb: 'approval.decide',
      batchId: card.batchId,
      approvalId: card.items[0]?.approvalId ?? '',
      decision: 'approve',
    });
    expect(answer).toMatchObject({ kind: 'error', statusCode: 404, refusal: 'wrong_conversation' });
  });
});
