import type { ApprovalDecision } from '../../foundry/types';
import type { Actor, ApprovalBatch, ApprovalItem } from '../model';
import type { ApprovalCardView, ApprovalItemView } from '../views';
import { argumentLines, argumentsPretty } from './arguments';

/**
 * Pure policy and view model of approval cards: who may decide, what the card shows to whom, and what is
 * sent to Foundry once every request of a batch is decided. No store, no clock of its own.
 */

/** The requester or a named approver (Entra object ids; no id, no decision: fail closed). */
export function mayApprove(batch: ApprovalBatch, user: Actor, approvers: readonly string[]): boolean {
  const id = user.aadObjectId?.toLowerCase();
  if (!id) return false;
  return id === batch.requester.aadObjectId?.toLowerCase() || approvers.includes(id);
}

export function waitingNotice(batch: ApprovalBatch): string {
  return `Only ${batch.requester.name ?? 'the requester'} or a named approver can decide this request.`;
}

/**
 * The approval card as `viewer` sees it at `now` (viewer undefined: the public view posted to the
 * conversation). The public card shows buttons too: Teams clients without user-specific views need them, and
 * every click is checked server-side anyway (refresh views are UX, not access control).
 */
export function approvalView(
  batch: ApprovalBatch,
  viewer: Actor | undefined,
  now: number,
  approvers: readonly string[],
  notice?: string,
): ApprovalCardView {
  const personal = batch.conversation.scope === 'personal';
  const status = batch.state === 'pending' && now > batch.expiresAt ? 'expired' : batch.state;
  const actionable = status === 'pending' && (viewer ? mayApprove(batch, viewer, approvers) : true);
  return {
    kind: 'approval',
    batchId: batch.batchId,
    requester: batch.requester,
    actionableUserIds: personal ? [] : [batch.requester.id],
    items: batch.items.map(itemView),
    status,
    actionable,
    ...(notice ? { notice } : {}),
  };
}

function itemView(i: ApprovalItem): ApprovalItemView {
  let args: unknown;
  try {
    args = JSON.parse(i.argumentsJson);
  } catch {
    args = undefined;
  }
  const decidedBy = i.decidedBy ? i.decidedBy.name || 'an approver' : undefined;
  return {
    approvalId: i.approvalId,
    serverLabel: i.serverLabel,
    toolName: i.toolName,
    argumentLines: argumentLines(args, i.argumentsJson),
    argumentsPretty: argumentsPretty(args, i.argumentsJson),
    ...(i.decision ? { decision: i.decision } : {}),
    ...(decidedBy ? { decidedBy } : {}),
    ...(i.decidedAt ? { decidedAt: i.decidedAt } : {}),
    ...(i.reason && i.reason !== 'user' ? { reason: i.reason } : {}),
  };
}

/** The `mcp_approval_response` items for a decided batch; anything not approved is a denial with a reason. */
export function decisionsOf(batch: ApprovalBatch): ApprovalDecision[] {
  return batch.items.map((i) => ({
    requestId: i.requestId,
    approve: i.decision === 'approve',
    ...(i.decision === 'approve'
      ? {}
      : { reason: i.reason === 'user' || !i.reason ? 'Denied in Teams' : `Denied in Teams (${i.reason})` }),
  }));
}

/**
 * Applies `decision` by `user` at `now` to the undecided items among `wanted`. Returns the next batch, or
 * undefined when nothing changes (the batch is no longer pending, or every wanted item is already decided).
 * A batch whose every item is decided moves to `submitting`.
 */
export function applyDecision(
  cur: ApprovalBatch,
  wanted: ReadonlySet<string>,
  decision: 'approve' | 'deny',
  user: Actor,
  now: number,
): ApprovalBatch | undefined {
  if (cur.state !== 'pending') return undefined;
  let changed = false;
  const items: ApprovalItem[] = cur.items.map((i) => {
    if (!wanted.has(i.approvalId) || i.decision) return i;
    changed = true;
    const decidedBy = { aadObjectId: user.aadObjectId ?? '', ...(user.name ? { name: user.name } : {}) };
    return { ...i, decision, decidedBy, decidedAt: now, reason: 'user' };
  });
  if (!changed) return undefined;
  return items.every((i) => i.decision)
    ? { ...cur, items, state: 'submitting', submittingSince: now }
    : { ...cur, items, state: 'pending' };
}

/**
 * Closes a batch that a new message supersedes (or `/new` resets): undecided items become denials, an
 * expired batch says so. Undefined when there is nothing to close.
 */
export function closeBatch(
  cur: ApprovalBatch,
  reason: 'superseded' | 'reset',
  now: number,
): ApprovalBatch | undefined {
  const open = cur.state === 'pending' || (cur.state === 'expired' && cur.items.some((it) => !it.decision));
  if (!open) return undefined;
  const expired = now > cur.expiresAt;
  return {
    ...cur,
    state: expired ? 'expired' : reason === 'reset' ? 'cancelled' : 'superseded',
    items: cur.items.map((i) =>
      i.decision ? i : { ...i, decision: 'deny', decidedAt: now, reason: expired ? 'expired' : reason },
    ),
  };
}
