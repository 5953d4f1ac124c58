import { randomBytes } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import { isBotError, needsSignIn, userMessageFor, type BotError } from '../../errors';
import type { ApprovalDecision, Thread, TurnOutcome } from '../../foundry/types';
import { updateRecord } from '../../storage/store';
import type { RelayContext } from '../context';
import { reportFailure } from '../failures';
import { approvalKey } from '../keys';
import { readRecord } from '../records';
import type { Actor, ApprovalBatch } from '../model';
import type { ConversationIO } from '../ports';
import type { ThreadLease } from '../thread-lease';
import type { ThreadStore } from '../thread-store';
import type { RunTurn, TurnScope } from '../turn-runner';
import type { ApprovalCardView } from '../views';
import { approvalView, closeBatch, decisionsOf } from './view';

/**
 * A batch in `submitting` longer than this, whose continuation holds no fresh thread lease, was orphaned by a
 * crash between the compare-and-set and the Foundry call. It is marked `failed` (never re-submitted: the dead
 * instance may already have sent the approval response, and a second one could run the tool twice). The
 * next message denies whatever Foundry still waits for (denyOrphans). Well under the 5-minute bound of DUR-01.
 */
const SUBMITTING_ORPHAN_MS = 2 * 60_000;

/**
 * The approval flow around Foundry: opening a batch for an `mcp_approval_request` response, continuing with
 * `mcp_approval_response` once every request is decided, closing a batch a new message supersedes, and
 * recovering a batch orphaned by a crash. The click itself is in decide.ts.
 */
export class ApprovalFlow {
  constructor(
    private readonly ctx: RelayContext,
    private readonly threads: ThreadStore,
    private readonly lease: ThreadLease,
  ) {}

  view(batch: ApprovalBatch, viewer: Actor | undefined, notice?: string): ApprovalCardView {
    return approvalView(batch, viewer, this.ctx.clock(), this.ctx.settings.approvers, notice);
  }

  /** Stores a batch for the response's approval requests and posts its card; returns the batch id. */
  async open(scope: TurnScope, outcome: TurnOutcome, round: number): Promise<string> {
    const { io, key, requester } = scope;
    const now = this.ctx.clock();
    const batch: ApprovalBatch = {
      v: 1,
      batchId: randomBytes(16).toString('hex'),
      threadKey: key,
      conversation: io.conversation,
      conversationRef: io.reference,
      responseId: outcome.responseId,
      requester,
      items: outcome.approvals.map((a) => ({
        approvalId: randomBytes(16).toString('hex'),
        requestId: a.requestId,
        serverLabel: a.serverLabel,
        toolName: a.toolName,
        argumentsJson: a.argumentsJson,
      })),
      state: 'pending',
      createdAt: now,
      expiresAt: now + this.ctx.settings.approvalTtlMs,
      round: round + 1,
    };
    await this.ctx.store.put(approvalKey(batch.batchId), batch, { ifNoneMatch: true });
    await this.threads.setPendingApprovals(key, batch.batchId);
    const cardId = await io.sendCard(this.view(batch, undefined));
    if (cardId) {
      await updateRecord<ApprovalBatch>(this.ctx.store, approvalKey(batch.batchId), (cur) =>
        cur ? { ...cur, cardActivityId: cardId } : undefined,
      );
    }
    this.ctx.log.info('approval.requested', {
      batch: batch.batchId,
      items: batch.items.length,
      tools: batch.items.map((i) => `${i.serverLabel}.${i.toolName}`),
    });
    return batch.batchId;
  }

  /** After the winning click: sends the decisions to Foundry in the thread's lease, then settles the card. */
  async continue(batch: ApprovalBatch, io: ConversationIO, signal: AbortSignal, run: RunTurn): Promise<void> {
    if (batch.cardActivityId)
      await this.ctx.updateCardQuietly(io, batch.cardActivityId, this.view(batch, undefined));
    const leaseId = `approval:${batch.batchId}`;
    let held: boolean;
    try {
      held = await this.lease.waitFor(batch.threadKey, leaseId, signal);
    } catch (err) {
      // The store stayed unreachable for the whole wait: say so; the batch stays `submitting` in the store,
      // where orphan recovery marks it failed (never re-sent: see SUBMITTING_ORPHAN_MS).
      await reportFailure(io, this.ctx.log, err, undefined);
      return;
    }
    if (!held) {
      await this.mark(batch.batchId, 'failed', io);
      await io.sendText(userMessageFor('FOUNDRY_BUSY'));
      return;
    }
    try {
      await this.threads.clearPendingApprovals(batch.threadKey, batch.batchId);
      const credential = await this.ctx.identity.credentialFor(batch.requester, batch.conversation.tenantId);
      const scope = { io, key: batch.threadKey, requester: batch.requester, credential, signal };
      await run(scope, { kind: 'approvals', batch, decisions: decisionsOf(batch) }, batch.round);
      const after = (await this.ctx.store.get<ApprovalBatch>(approvalKey(batch.batchId)))?.value;
      // The card leaves "Sending to the agent…" only once Foundry has answered (CARD-08).
      if (after?.state === 'submitting') await this.mark(batch.batchId, 'submitted', io);
    } catch (err) {
      // A lapsed sign-in (user mode): nothing reached Foundry; the caller asks for sign-in and resumes this.
      if (needsSignIn(err) && io.requestSignIn) throw err;
      await this.mark(batch.batchId, 'failed', io);
      await reportFailure(io, this.ctx.log, err, undefined);
    } finally {
      await this.lease.release(batch.threadKey, leaseId);
    }
  }

  /** Moves a batch to `state` and updates its card (when `io` is given). */
  async mark(batchId: string, state: ApprovalBatch['state'], io?: ConversationIO): Promise<void> {
    const { value } = await updateRecord<ApprovalBatch>(this.ctx.store, approvalKey(batchId), (cur) =>
      cur && cur.state !== state ? { ...cur, state } : undefined,
    );
    if (io && value?.cardActivityId)
      await this.ctx.updateCardQuietly(io, value.cardActivityId, this.view(value, undefined));
  }

  /**
   * Marks an orphaned `submitting` batch `failed` (see SUBMITTING_ORPHAN_MS) and updates its card. Returns the
   * batch as it is afterwards. Called wherever a batch is read: clicks, refresh, /status, the next message.
   */
  async recoverOrphan(batch: ApprovalBatch, io?: ConversationIO): Promise<ApprovalBatch> {
    if (batch.state !== 'submitting') return batch;
    const since = batch.submittingSince ?? batch.createdAt;
    if (this.ctx.clock() - since < SUBMITTING_ORPHAN_MS) return batch;
    if (await this.lease.heldFor(batch.threadKey, `approval:${batch.batchId}`)) return batch;
    const r = await updateRecord<ApprovalBatch>(this.ctx.store, approvalKey(batch.batchId), (cur) =>
      cur && cur.state === 'submitting' && (cur.submittingSince ?? cur.createdAt) === since
        ? { ...cur, state: 'failed' }
        : undefined,
    );
    const after = r.value ?? batch;
    if (r.changed) {
      this.ctx.log.warn('approval.orphan_failed', { batch: batch.batchId, ageMs: this.ctx.clock() - since });
      await this.show(after, io);
    }
    return after;
  }

  /** Updates the public card of a batch, in `io` when there is one, else in a job of its own. */
  async show(batch: ApprovalBatch, io?: ConversationIO): Promise<void> {
    const cardId = batch.cardActivityId;
    if (!cardId) return;
    const view = this.view(batch, undefined);
    if (io) await this.ctx.updateCardQuietly(io, cardId, view);
    else this.ctx.later(batch.conversationRef, (c) => this.ctx.updateCardQuietly(c, cardId, view));
  }

  /**
   * Closes the thread's open batch before a new message (`superseded`) or `/new` (`reset`): undecided items
   * become denials and the card says so. Returns the closed batch, if one was open.
   */
  async close(
    batchId: string,
    reason: 'superseded' | 'reset',
    io: ConversationIO,
  ): Promise<ApprovalBatch | undefined> {
    const key = approvalKey(batchId);
    const open = (await readRecord<ApprovalBatch>(this.ctx, key))?.value;
    if (open) await this.recoverOrphan(open, io);
    const now = this.ctx.clock();
    const r = await updateRecord<ApprovalBatch>(this.ctx.store, key, (cur) =>
      cur ? closeBatch(cur, reason, now) : undefined,
    );
    if (!r.changed || !r.value) return undefined;
    this.ctx.log.audit('approval.closed', {
      batch: batchId,
      state: r.value.state,
      items: r.value.items.length,
    });
    if (r.value.cardActivityId)
      await this.ctx.updateCardQuietly(io, r.value.cardActivityId, this.view(r.value, undefined));
    return r.value;
  }

  /** Tells Foundry a closed batch's answers (denials), so it never answers 400 "do not have an approval". */
  denyClosed(key: string, credential: TokenCredential, batch: ApprovalBatch): Promise<boolean> {
    return this.answerQuietly(key, credential, batch.responseId, decisionsOf(batch));
  }

  /** Denies the approval requests Foundry still holds but we no longer track (its 400 lists their ids). */
  denyOrphans(key: string, error: BotError, credential: TokenCredential, thread: Thread): Promise<boolean> {
    const ids = error.details['pendingRequestIds'];
    if (!Array.isArray(ids) || ids.length === 0) return Promise.resolve(false);
    const previous = thread.mode === 'previous_response' ? thread.previousResponseId : undefined;
    if (thread.mode === 'previous_response' && !previous) return Promise.resolve(false);
    const decisions = ids
      .filter((i): i is string => typeof i === 'string')
      .map((requestId) => ({ requestId, approve: false, reason: 'Denied in Teams (superseded)' }));
    this.ctx.log.audit('approval.orphans_denied', { count: decisions.length });
    return this.answerQuietly(key, credential, previous ?? '', decisions);
  }

  /** Sends approval answers and drains the agent's reply without showing it; keeps the thread chained. */
  private async answerQuietly(
    key: string,
    credential: TokenCredential,
    previousResponseId: string,
    decisions: ApprovalDecision[],
  ): Promise<boolean> {
    const state = await this.threads.load(key);
    const thread: Thread =
      this.ctx.settings.threading === 'conversation' && state?.foundryConversationId
        ? { mode: 'conversation', conversationId: state.foundryConversationId }
        : { mode: 'previous_response', previousResponseId };
    try {
      const input = { kind: 'approvals', decisions } as const;
      for await (const ev of this.ctx.foundry.streamTurn(
        { agent: this.ctx.agent(), thread, input },
        { credential, maxRetries: 0 },
      )) {
        if (ev.type === 'turn.end')
          await this.threads.saveResponse(key, ev.outcome.responseId, thread, ev.outcome.conversationId);
      }
      return true;
    } catch (err) {
      this.ctx.log.warn('approval.deny_failed', { code: isBotError(err) ? err.code : 'INTERNAL' });
      return false;
    }
  }
}
