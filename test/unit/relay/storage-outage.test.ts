/**
 * Issue 16: the relay when its state store hangs or fails, on a MemoryStateStore that can be switched into
 * an outage. The inbound call never waits on storage, the user is told the specific reason, a click during
 * an outage changes nothing, and a decided approval continues exactly once.
 */
import { userMessageFor } from '../../../src/errors';
import type { ThreadState } from '../../../src/relay/model';
import type { ApprovalCardView, ErrorCardView } from '../../../src/relay/views';
import { MemoryStateStore } from '../../../src/storage/memory-store';
import type { Versioned, WriteCondition } from '../../../src/storage/store';
import { storageUnavailable } from '../../../src/storage/unavailable';
import { ADA, approval, ended, makeKit, outcome, type Kit } from './kit';

type Mode = 'up' | 'down' | 'hang' | 'write-then-fail';

/** A store that is up, refuses every call, hangs every call, or applies a write and then loses its answer. */
class OutageStore extends MemoryStateStore {
  mode: Mode = 'up';
  /** Only keys with this prefix are affected (all when empty). */
  prefix = '';
  /** Refuse only writes that release a thread's busy lease (the store fails just as a turn ends). */
  refuseRelease = false;
  private readonly hung: Array<() => void> = [];

  private affected(key: string): boolean {
    return this.mode !== 'up' && key.startsWith(this.prefix);
  }

  private outage<T>(): Promise<T> {
    if (this.mode === 'hang')
      return new Promise<T>((_, reject) => this.hung.push(() => reject(storageUnavailable('timeout'))));
    return Promise.reject(storageUnavailable('unreachable'));
  }

  /** Ends the outage; hung calls fail as the deadline would have failed them. */
  restore(): void {
    this.mode = 'up';
    for (const h of this.hung.splice(0)) h();
  }

  override get<T>(key: string): Promise<Versioned<T> | undefined> {
    if (this.affected(key) && this.mode !== 'write-then-fail') return this.outage();
    return super.get(key);
  }

  override async put<T>(key: string, value: T, condition: WriteCondition): Promise<string> {
    const releasing =
      key.startsWith('thread/') && (value as ThreadState).busy === undefined && 'ifMatch' in condition;
    if (this.refuseRelease && releasing) throw storageUnavailable('unreachable');
    if (!this.affected(key)) return super.put(key, value, condition);
    if (this.mode === 'write-then-fail') {
      await super.put(key, value, condition);
      throw storageUnavailable('timeout');
    }
    return this.outage();
  }

  override delete(key: string, condition?: { ifMatch: string }): Promise<void> {
    if (this.affected(key) && this.mode !== 'write-then-fail') return this.outage();
    return super.delete(key, condition);
  }
}

const OUTAGE_TEXT = userMessageFor('STORAGE_UNAVAILABLE');

function kitWith(): { kit: Kit; store: OutageStore } {
  const store = new OutageStore();
  return { kit: makeKit({ store }), store };
}

async function askForApproval(kit: Kit): Promise<ApprovalCardView> {
  kit.foundry.next({ events: ended(outcome({ approvals: [approval('create_issue', { title: 'Bug' })] })) });
  await kit.say(ADA, 'create an issue');
  const card = kit.io().cardsOf('approval').at(-1);
  if (!card) throw new Error('no approval card');
  return card;
}

function approve(kit: Kit, card: ApprovalCardView) {
  return kit.relay.handleCardAction(kit.turn(ADA), {
    verb: 'approval.decide',
    batchId: card.batchId,
    approvalId: card.items[0]?.approvalId ?? '*',
    decision: 'approve',
  });
}

const approvalTurns = (kit: Kit): number =>
  kit.foundry.requests.filter((r) => r.input.kind === 'approvals').length;

describe('storage outage (issue 16)', () => {
  test('a message is accepted at once while every store call hangs; the user is told why once the call fails', async () => {
    const { kit, store } = kitWith();
    store.mode = 'hang';
    const turn = kit.turn(ADA);
    const result = await Promise.race([
      kit.relay.handleMessage(turn, 'hello'),
      new Promise((r) => setTimeout(() => r('held'), 500)),
    ]);
    expect(result).toBe('started');
    expect(kit.io().shown).toEqual([]);
    store.restore(); // the deadline fires
    await kit.relay.idle();
    const cards: ErrorCardView[] = kit.io().cardsOf('error');
    expect(cards).toHaveLength(1);
    expect(cards[0]).toMatchObject({ code: 'STORAGE_UNAVAILABLE', text: OUTAGE_TEXT, retryText: 'hello' });
    expect(kit.foundry.requests).toHaveLength(0);
  });

  test('refused storage: the message starts no turn, the user hears the specific reason; a re-delivery to this instance is a duplicate', async () => {
    const { kit, store } = kitWith();
    store.mode = 'down';
    const turn = kit.turn(ADA);
    await kit.relay.handleMessage(turn, 'hello');
    await kit.relay.idle();
    expect(kit.io().cardsOf('error')).toMatchObject([{ code: 'STORAGE_UNAVAILABLE', text: OUTAGE_TEXT }]);
    expect(kit.io().texts().join(' ')).not.toContain(userMessageFor('INTERNAL'));
    expect(await kit.relay.handleMessage(turn, 'hello')).toBe('duplicate');
    await kit.relay.idle();
    expect(kit.io().cardsOf('error')).toHaveLength(1);
    // Back up: a new message (the user's retry) runs normally.
    store.restore();
    kit.foundry.next({ events: ended(outcome({ text: 'Hi Ada' })) });
    await kit.say(ADA, 'hello again');
    expect(kit.io().texts()).toContain('Hi Ada');
    expect(kit.foundry.requests).toHaveLength(1);
  });

  test('the thread lease cannot be taken: the user is told, and no lease is left behind', async () => {
    const { kit, store } = kitWith();
    store.mode = 'down';
    store.prefix = 'thread/';
    await kit.say(ADA, 'hello');
    expect(kit.io().cardsOf('error')).toMatchObject([{ code: 'STORAGE_UNAVAILABLE' }]);
    store.restore();
    const threads = store.keys().filter((k) => k.startsWith('thread/'));
    for (const k of threads) expect((await store.get<ThreadState>(k))?.value.busy).toBeUndefined();
    expect(kit.foundry.requests).toHaveLength(0);
  });

  test('a lease whose release the store refused is released once it answers (not left until stale)', async () => {
    const { kit, store } = kitWith();
    store.refuseRelease = true;
    kit.foundry.next({ events: ended(outcome({ text: 'Hi' })) });
    await kit.say(ADA, 'hello');
    const key = store.keys().find((k) => k.startsWith('thread/')) ?? '';
    expect((await store.get<ThreadState>(key))?.value.busy).toBeDefined();
    store.refuseRelease = false;
    for (let i = 0; i < 30 && (await store.get<ThreadState>(key))?.value.busy; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect((await store.get<ThreadState>(key))?.value.busy).toBeUndefined();
  });

  test('a click during an outage is answered with the reason and changes nothing; after recovery it continues exactly once', async () => {
    const { kit, store } = kitWith();
    const card = await askForApproval(kit);
    store.mode = 'down';
    expect(await approve(kit, card)).toEqual({ kind: 'message', text: OUTAGE_TEXT });
    await kit.relay.idle();
    expect(approvalTurns(kit)).toBe(0);
    store.restore();
    kit.foundry.next({ events: ended(outcome({ text: 'Created issue #7' })) });
    const answer = await approve(kit, card);
    expect(answer).toMatchObject({ kind: 'card', card: { kind: 'approval', status: 'submitting' } });
    await kit.relay.idle();
    expect(approvalTurns(kit)).toBe(1);
    expect(kit.io().texts()).toContain('Created issue #7');
  });

  test('a deciding write that landed but lost its answer to the outage still continues, exactly once', async () => {
    const { kit, store } = kitWith();
    const card = await askForApproval(kit);
    store.mode = 'write-then-fail';
    store.prefix = 'approval/';
    kit.foundry.next({ events: ended(outcome({ text: 'Created issue #7' })) });
    const first = await approve(kit, card);
    expect(first).toEqual({ kind: 'message', text: OUTAGE_TEXT });
    store.restore();
    await kit.relay.idle();
    expect(approvalTurns(kit)).toBe(1);
    expect(kit.io().texts()).toContain('Created issue #7');
    // The user's retry click finds it decided: no second continuation.
    const again = await approve(kit, card);
    expect(again).toMatchObject({ kind: 'card', refusal: 'already_decided' });
    await kit.relay.idle();
    expect(approvalTurns(kit)).toBe(1);
    expect(kit.logs.some((l) => l['event'] === 'approval.unknown_resolved' && l['landed'] === true)).toBe(
      true,
    );
  });
});
