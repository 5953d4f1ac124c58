import type { BotErrorCode } from '../errors';
import type { Actor } from './model';

/**
 * Card view models: pure data the Teams edge renders into Adaptive Cards. The relay decides what a card
 * says; the edge decides how it looks. Ids in here are opaque relay ids, never Foundry ids.
 */

export interface ApprovalItemView {
  approvalId: string;
  serverLabel: string;
  toolName: string;
  /** Readable key/value lines (long values cut). */
  argumentLines: { key: string; value: string }[];
  /** Pretty-printed full JSON (capped) for the "Show details" toggle. */
  argumentsPretty: string;
  decision?: 'approve' | 'deny';
  decidedBy?: string;
  decidedAt?: number;
  reason?: string;
}

export interface ApprovalCardView {
  kind: 'approval';
  batchId: string;
  requester: Actor;
  /** MRIs that get the actionable view (`refresh.userIds`), requester first. */
  actionableUserIds: string[];
  items: ApprovalItemView[];
  /** pending: buttons; the rest: read-only. */
  status: 'pending' | 'submitting' | 'submitted' | 'failed' | 'superseded' | 'expired' | 'cancelled';
  /** Show buttons in this rendering (the actionable view for allowed users; false for the neutral view). */
  actionable: boolean;
  /** A neutral-view note, e.g. "Only Ada can decide". */
  notice?: string;
}

export interface ConsentCardView {
  kind: 'consent';
  consentId: string;
  requester: Actor;
  services: { label: string; host?: string; link?: string }[];
  shared: boolean;
  status: 'pending' | 'retry' | 'signed_in' | 'cancelled' | 'expired' | 'declined' | 'failed';
  /** Show links and buttons (requester's / admin's view); false for everyone else. */
  actionable: boolean;
  actionableUserIds: string[];
  notice?: string;
  /** Names of admins who can complete a shared sign-in. */
  adminHint?: string;
}

export interface ErrorCardView {
  kind: 'error';
  code: BotErrorCode;
  text: string;
  correlationId: string;
  /** When set, a Retry button re-sends this text. */
  retryText?: string;
}

export interface NoticeCardView {
  kind: 'notice';
  title: string;
  lines: string[];
}

export type CardView = ApprovalCardView | ConsentCardView | ErrorCardView | NoticeCardView;

/** The answer to a card click, returned synchronously in the invoke response. */
/**
 * Refused clicks answer with the reliability plan's status codes (§2.3: 403 not allowed, 404 unknown or from
 * another conversation, 410 expired) and a short message; Teams shows it under the unchanged card. A click on
 * something already decided gets the current card instead, so a stale view catches up (409 semantics, 200).
 */
export type Refusal =
  | 'not_found'
  | 'wrong_conversation'
  | 'no_identity'
  | 'not_requester'
  | 'not_admin'
  | 'already_decided'
  | 'expired';

export type InvokeAnswer =
  | { kind: 'card'; card: CardView; refusal?: Refusal }
  | { kind: 'message'; text: string }
  | { kind: 'error'; statusCode: 400 | 403 | 404 | 410 | 500; message: string; refusal?: Refusal };
