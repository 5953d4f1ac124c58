import { randomBytes } from 'node:crypto';
import { userMessageFor } from '../../errors';
import { hashId } from '../../observability/logger';
import type { Telemetry } from '../../observability/telemetry';
import { StoreConflictError, updateRecord } from '../../storage/store';
import { isStorageUnavailable } from '../../storage/unavailable';
import type { TurnInfo } from '../api';
import type { RelayContext } from '../context';
import { notice, refuse } from '../failures';
import { approvalKey } from '../keys';
import type { ApprovalBatch } from '../model';
import { readRecord, sameConversation } from '../records';
import { TEXT } from '../texts';
import type { InvokeAnswer } from '../views';
import type { ApprovalFlow } from './flow';
import { applyDecision, mayApprove, waitingNotice } from './view';

/**
 * A deciding write whose answer was lost: the store stopped answering while it was sent, so it may or may not
 * have landed. Its random token, written with the move to `submitting`, tells afterwards (`landed`).
 */
export interface UnknownDecision {
  batchId: string;
  token: string;
}

/** A click's answer, and the batch to continue with when this click decided the last open request. */
export interface ClickResult {
  answer: InvokeAnswer;
  submitted?: ApprovalBatch;
  /** The click's write may have landed: the facade continues the batch once the store shows it did. */
  unknown?: UnknownDecision;
}

type Written = { won: ApprovalBatch } | { lost: true } | { unknown: UnknownDecision };

/**
 * How long a write lost to an outage is resolved: one read a second, at most this many. Well inside the
 * orphan bound of flow.ts (2 minutes), so orphan recovery never races a late continuation.
 */
const RESOLVE_ATTEMPTS = 60;
const RESOLVE_STEP_MS = 1_000;

/**
 * What happens when someone clicks Approve / Deny (or Approve all / Deny all) on an approval card: the checks
 * (record exists, same tenant and conversation, clicker allowed, still pending, not expired), then one
 * compare-and-set so exactly one click wins each item across instances. The invoke is answered at once;
 * the continuation runs as a job (the facade schedules `submitted`).
 */
export class ApprovalClicks {
  constructor(
    private readonly ctx: RelayContext,
    private readonly flow: ApprovalFlow,
  ) {}

  /** `approval.refresh`: the card as the clicker may see it (Teams' user-specific views). */
  async refresh(turn: TurnInfo, batchId: string): Promise<InvokeAnswer> {
    const rec = await readRecord<ApprovalBatch>(this.ctx, approvalKey(batchId));
    if (!rec || !sameConversation(rec.value, turn)) return notFound('not_found');
    const batch = await this.flow.recoverOrphan(rec.value);
    const allowed = mayApprove(batch, turn.user, this.ctx.settings.approvers);
    return {
      kind: 'card',
      card: this.flow.view(batch, turn.user, allowed ? undefined : waitingNotice(batch)),
    };
  }

  async decide(
    turn: TurnInfo,
    batchId: string,
    approvalId: string,
    decision: 'approve' | 'deny',
  ): Promise<ClickResult> {
    const audit = (result: string, extra: Record<string, unknown> = {}): void => {
      countClick(this.ctx.telemetry, result, decision);
      this.ctx.log.audit(result === 'decided' ? 'approval.decided' : 'approval.rejected', {
        batch: batchId,
        by: turn.user.aadObjectId ? hashId(turn.user.aadObjectId) : 'unknown',
        ...(result === 'decided' ? {} : { reason: result }),
        ...extra,
      });
    };
    const checked = await this.check(turn, batchId, approvalId);
    if ('refused' in checked) {
      audit(checked.refused);
      return { answer: checked.answer };
    }
    const { batch, targets } = checked;
    if (this.ctx.clock() > batch.expiresAt) {
      audit('expired');
      return { answer: await this.expire(batch, turn) };
    }
    const w = await this.write(batchId, new Set(targets.map((t) => t.approvalId)), decision, turn);
    if ('unknown' in w) {
      audit('storage_unavailable');
      return {
        answer: { kind: 'message', text: userMessageFor('STORAGE_UNAVAILABLE') },
        unknown: w.unknown,
      };
    }
    if ('lost' in w) {
      audit('already_decided');
      const fresh = (await this.ctx.store.get<ApprovalBatch>(approvalKey(batchId)))?.value ?? batch;
      const card = this.flow.view(fresh, turn.user, userMessageFor('APPROVAL_ALREADY_DECIDED'));
      return { answer: refuse(card, 'already_decided') };
    }
    const written = w.won;
    for (const t of targets) audit('decided', { decision, tool: `${t.serverLabel}.${t.toolName}` });
    const answer: InvokeAnswer = { kind: 'card', card: this.flow.view(written, turn.user) };
    if (written.state === 'submitting') return { answer, submitted: written };
    // Others see the partial decision too (the clicker gets it in the invoke answer).
    await this.flow.show(written);
    return { answer };
  }

  /** Every check before the write; a refusal carries its answer and its audit reason. */
  private async check(
    turn: TurnInfo,
    batchId: string,
    approvalId: string,
  ): Promise<
    { refused: string; answer: InvokeAnswer } | { batch: ApprovalBatch; targets: ApprovalBatch['items'] }
  > {
    const rec = await readRecord<ApprovalBatch>(this.ctx, approvalKey(batchId));
    if (!rec) return { refused: 'not_found', answer: notFound('not_found') };
    if (!sameConversation(rec.value, turn))
      return { refused: 'wrong_conversation', answer: notFound('wrong_conversation') };
    const batch = await this.flow.recoverOrphan(rec.value);
    if (!turn.user.aadObjectId) {
      const card = this.flow.view(batch, turn.user, TEXT.identityUnverified);
      return { refused: 'no_identity', answer: refuse(card, 'no_identity') };
    }
    if (!mayApprove(batch, turn.user, this.ctx.settings.approvers)) {
      const card = this.flow.view(batch, turn.user, waitingNotice(batch));
      return { refused: 'not_requester', answer: refuse(card, 'not_requester') };
    }
    const targets =
      approvalId === '*'
        ? batch.items.filter((i) => !i.decision)
        : batch.items.filter((i) => i.approvalId === approvalId);
    if (targets.length === 0 && approvalId !== '*')
      return { refused: 'not_found', answer: notFound('not_found') };
    if (batch.state !== 'pending' || targets.every((t) => t.decision)) {
      const card = this.flow.view(batch, turn.user, userMessageFor('APPROVAL_ALREADY_DECIDED'));
      return { refused: 'already_decided', answer: refuse(card, 'already_decided') };
    }
    return { batch, targets };
  }

  /**
   * The compare-and-set: the batch as written, `lost` when this click did not win (someone else decided
   * first, or every write attempt lost its race), or `unknown` when the store stopped answering. Only the
   * store's `changed` says who won.
   */
  private async write(
    batchId: string,
    wanted: ReadonlySet<string>,
    decision: 'approve' | 'deny',
    turn: TurnInfo,
  ): Promise<Written> {
    const now = this.ctx.clock();
    const token = randomBytes(12).toString('hex');
    try {
      const r = await updateRecord<ApprovalBatch>(this.ctx.store, approvalKey(batchId), (cur) => {
        const next = cur ? applyDecision(cur, wanted, decision, turn.user, now) : undefined;
        return next?.state === 'submitting' ? { ...next, submitToken: token } : next;
      });
      return r.changed && r.value ? { won: r.value } : { lost: true };
    } catch (err) {
      if (err instanceof StoreConflictError) return { lost: true };
      if (isStorageUnavailable(err)) return { unknown: { batchId, token } };
      throw err;
    }
  }

  /**
   * Resolves a write lost to an outage: reads the batch once the store answers again (one read a second, up
   * to RESOLVE_ATTEMPTS) and returns it when that write landed and moved it to `submitting`. The token is
   * this click's alone, so exactly one continuation follows; a write that never landed leaves the batch
   * pending for the user's next click.
   */
  async landed(u: UnknownDecision, signal: AbortSignal): Promise<ApprovalBatch | undefined> {
    for (let i = 0; i < RESOLVE_ATTEMPTS && !signal.aborted; i++) {
      try {
        const batch = (await this.ctx.store.get<ApprovalBatch>(approvalKey(u.batchId)))?.value;
        const mine = batch?.state === 'submitting' && batch.submitToken === u.token;
        this.ctx.log.info('approval.unknown_resolved', { batch: u.batchId, landed: mine });
        return mine ? batch : undefined;
      } catch (err) {
        if (!isStorageUnavailable(err)) throw err;
      }
      await new Promise((r) => setTimeout(r, RESOLVE_STEP_MS));
    }
    this.ctx.log.warn('approval.unknown_unresolved', { batch: u.batchId });
    return undefined;
  }

  private async expire(batch: ApprovalBatch, turn: TurnInfo): Promise<InvokeAnswer> {
    const r = await updateRecord<ApprovalBatch>(this.ctx.store, approvalKey(batch.batchId), (cur) =>
      cur && cur.state === 'pending' ? { ...cur, state: 'expired' } : undefined,
    );
    const expired = r.value ?? batch;
    await this.flow.show(expired);
    return refuse(this.flow.view(expired, turn.user, userMessageFor('APPROVAL_EXPIRED')), 'expired');
  }
}

/** The `relay.approvals` metric: one per decided item, expired or refused click (README "Operating it"). */
function countClick(tel: Telemetry, result: string, decision: 'approve' | 'deny'): void {
  if (result === 'decided') tel.approval(decision === 'approve' ? 'approved' : 'denied');
  else if (result === 'expired') tel.approval('expired');
  else tel.approval('refused', result);
}

function notFound(refusal: 'not_found' | 'wrong_conversation'): InvokeAnswer {
  return refuse(notice('Approval request', userMessageFor('APPROVAL_NOT_FOUND')), refusal);
}
