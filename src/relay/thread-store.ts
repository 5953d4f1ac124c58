import type { Thread } from '../foundry/types';
import { updateRecord, type StateStore } from '../storage/store';
import type { ThreadState } from './model';

/**
 * Every write to a thread record (design: one record per Foundry thread, key from keys.ts `threadKey`),
 * each a compare-and-set through `updateRecord`. The busy lease lives in the same record but is written by
 * thread-lease.ts.
 */
export class ThreadStore {
  constructor(
    private readonly store: StateStore,
    private readonly clock: () => number,
  ) {}

  async load(key: string): Promise<ThreadState | undefined> {
    return (await this.store.get<ThreadState>(key))?.value;
  }

  empty(): ThreadState {
    return { v: 1, updatedAt: this.clock() };
  }

  /** The last response id is updated after every response, consent and approval turns included (§1.6). */
  async saveResponse(
    key: string,
    responseId: string,
    thread: Thread,
    conversationId?: string,
  ): Promise<void> {
    await this.update(key, (cur) => {
      const next: ThreadState = { ...(cur ?? this.empty()), lastResponseId: responseId };
      if (thread.mode === 'conversation')
        next.foundryConversationId = conversationId ?? thread.conversationId;
      return next;
    });
  }

  async setConversation(key: string, conversationId: string): Promise<void> {
    await this.update(key, (cur) => ({ ...(cur ?? this.empty()), foundryConversationId: conversationId }));
  }

  async setPendingConsent(key: string, consentId: string): Promise<void> {
    await this.update(key, (cur) => ({ ...(cur ?? this.empty()), pendingConsentId: consentId }));
  }

  async setPendingApprovals(key: string, batchId: string): Promise<void> {
    await this.update(key, (cur) => ({ ...(cur ?? this.empty()), pendingApprovalBatchId: batchId }));
  }

  /** Clears the thread's open consent if it is still `consentId`. */
  async clearPendingConsent(key: string, consentId: string): Promise<void> {
    await this.update(key, (cur) => {
      if (!cur || cur.pendingConsentId !== consentId) return undefined;
      const { pendingConsentId: _p, ...rest } = cur;
      return rest;
    });
  }

  /** Clears the thread's open approval batch if it is still `batchId`. */
  async clearPendingApprovals(key: string, batchId: string): Promise<void> {
    await this.update(key, (cur) => {
      if (!cur || cur.pendingApprovalBatchId !== batchId) return undefined;
      const { pendingApprovalBatchId: _p, ...rest } = cur;
      return rest;
    });
  }

  /** Clears whatever is open (after it was closed: see pending.ts). */
  async clearAllPending(key: string): Promise<void> {
    await this.update(key, (cur) => {
      if (!cur || (!cur.pendingApprovalBatchId && !cur.pendingConsentId)) return undefined;
      const { pendingApprovalBatchId: _a, pendingConsentId: _c, ...rest } = cur;
      return rest;
    });
  }

  /** `/new`: forgets the Foundry thread (keeps a running job's lease). */
  async reset(key: string): Promise<void> {
    await this.update(key, (cur) => (cur ? { v: 1, ...(cur.busy ? { busy: cur.busy } : {}) } : undefined));
  }

  private async update(
    key: string,
    fn: (cur: ThreadState | undefined) => Omit<ThreadState, 'updatedAt'> | undefined,
  ): Promise<void> {
    await updateRecord<ThreadState>(this.store, key, (cur) => {
      const next = fn(cur);
      return next ? { ...next, updatedAt: this.clock() } : undefined;
    });
  }
}
