import type { TokenCredential } from '@azure/identity';
import type { ApprovalFlow } from './approvals/flow';
import type { ConsentFlow } from './consent/flow';
import type { ThreadState } from './model';
import type { ConversationIO } from './ports';
import type { ThreadStore } from './thread-store';

/**
 * What is open in a thread when a new message (or `/new`) arrives: an open consent is cancelled; open
 * approvals are denied in Foundry (reason superseded, so Foundry never answers 400 "do not have an
 * approval") and their card says so. Then the thread record forgets both.
 */
export class PendingWork {
  constructor(
    private readonly threads: ThreadStore,
    private readonly approvals: ApprovalFlow,
    private readonly consent: ConsentFlow,
  ) {}

  async close(
    key: string,
    io: ConversationIO,
    credential: TokenCredential,
    reason: 'superseded' | 'reset',
    /** The thread state this job already holds (read under its lease); read from the store when absent. */
    known?: ThreadState,
  ): Promise<void> {
    const state = known ?? (await this.threads.load(key));
    // The common case: nothing open, nothing to close (and no further store round trip).
    if (!state?.pendingConsentId && !state?.pendingApprovalBatchId) return;
    if (state.pendingConsentId) await this.consent.setState(state.pendingConsentId, 'cancelled', io);
    const closed = state.pendingApprovalBatchId
      ? await this.approvals.close(state.pendingApprovalBatchId, reason, io)
      : undefined;
    await this.threads.clearAllPending(key);
    if (closed && reason === 'superseded') await this.approvals.denyClosed(key, credential, closed);
  }
}
