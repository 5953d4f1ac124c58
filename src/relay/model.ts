import type { Citation } from '../foundry/types';

/**
 * The relay's domain model: who is talking, where, and the durable records that survive restarts.
 * Nothing here knows about botbuilder or teams-ai; the Teams edge translates activities into these.
 */

export type ConversationScope = 'personal' | 'groupChat' | 'channel';

/** A Teams user as the relay sees them. */
export interface Actor {
  /** Teams user id (MRI, `29:…`); what `refresh.userIds` takes. */
  id: string;
  /** Entra object id; the identity for policy decisions. Absent ⇒ fail closed wherever identity matters. */
  aadObjectId?: string;
  name?: string;
}

/** Where a turn happens. */
export interface ConversationInfo {
  /** Teams conversation id (channel threads include `;messageid=…`). */
  id: string;
  tenantId: string;
  scope: ConversationScope;
}

/**
 * Opaque conversation reference as the edge needs it for proactive continuation (botbuilder
 * `ConversationReference`, serialised). The relay stores and hands it back without looking inside.
 */
export type ConversationRef = Record<string, unknown>;

/** The durable state of one Foundry thread (docs/architecture.md "State"). Key: see `threadKey`. */
export interface ThreadState {
  v: 1;
  lastResponseId?: string;
  foundryConversationId?: string;
  /** Set while a turn runs; a lease, so a crashed instance's turn does not block forever. */
  busy?: { since: number; activityId: string; instance: string };
  /** The open approval batch or consent of this thread, if any. */
  pendingApprovalBatchId?: string;
  pendingConsentId?: string;
  updatedAt: number;
}

type ApprovalDecisionValue = 'approve' | 'deny';

export interface ApprovalItem {
  /** Opaque random id (128 bits) that cards carry; never a Foundry id. */
  approvalId: string;
  /** Foundry's `mcpr_…` id. */
  requestId: string;
  serverLabel: string;
  toolName: string;
  argumentsJson: string;
  decision?: ApprovalDecisionValue;
  decidedBy?: { aadObjectId: string; name?: string };
  decidedAt?: number;
  reason?: 'user' | 'superseded' | 'expired' | 'reset';
}

/**
 * One agent response's approval requests. State machine (docs/reliability.md §2.4):
 * pending → submitting → submitted | failed; pending → superseded | expired | cancelled.
 */
export interface ApprovalBatch {
  v: 1;
  batchId: string;
  threadKey: string;
  conversation: ConversationInfo;
  conversationRef: ConversationRef;
  responseId: string;
  requester: Actor;
  items: ApprovalItem[];
  state: 'pending' | 'submitting' | 'submitted' | 'failed' | 'superseded' | 'expired' | 'cancelled';
  createdAt: number;
  expiresAt: number;
  /** When the winning click moved the batch to `submitting` (orphan detection after a crash). */
  submittingSince?: number;
  /** Random id of the click whose write moved the batch to `submitting` (resolves a write lost to an outage). */
  submitToken?: string;
  /** The Teams activity id of the card, to update it in place. */
  cardActivityId?: string;
  /** How many approval rounds this user turn has gone through (loop guard). */
  round: number;
}

/** One pending OAuth consent (sign-in) of a turn. */
export interface ConsentRecord {
  v: 1;
  consentId: string;
  threadKey: string;
  conversation: ConversationInfo;
  conversationRef: ConversationRef;
  /** The consent turn's response id (continuation target in previous_response mode). */
  responseId: string;
  requester: Actor;
  services: { serverLabel?: string; link?: string; host?: string; rejected?: string }[];
  /** True in app mode: the sign-in binds the bot's shared identity, so only admins may complete it. */
  shared: boolean;
  /**
   * The user's message, kept only while the consent is pending and only in previous_response mode,
   * because Foundry needs it re-sent after sign-in (docs/foundry-wire.md §6.2). Deleted with the record.
   */
  pendingText?: string;
  /**
   * The approval batch of the same response, when Foundry asked for a sign-in and approvals at once: the
   * approval continuation answers that response, so "I've signed in" sends nothing while the batch is open.
   */
  approvalBatchId?: string;
  /** Prompts shown in this user turn (at most 2, §6.2). */
  prompts: number;
  state: 'pending' | 'continuing' | 'done' | 'declined' | 'failed' | 'cancelled' | 'expired';
  createdAt: number;
  expiresAt: number;
  cardActivityId?: string;
}

/** The final answer of a turn, ready for the sink. */
export interface FinalAnswer {
  text: string;
  citations: Citation[];
  /** A short marker appended by the sink, e.g. after an interrupted stream. */
  note?: 'interrupted' | 'truncated';
  correlationId?: string;
}
