import { randomBytes } from 'node:crypto';
import { needsSignIn, userMessageFor } from '../../errors';
import type { TurnOutcome } from '../../foundry/types';
import { hashId } from '../../observability/logger';
import { StoreConflictError, updateRecord } from '../../storage/store';
import type { TurnInfo } from '../api';
import type { RelayContext } from '../context';
import { notice, reportFailure, refuse } from '../failures';
import { approvalKey, consentKey } from '../keys';
import type { Actor, ApprovalBatch, ConsentRecord } from '../model';
import type { ConversationIO } from '../ports';
import { readRecord, sameConversation } from '../records';
import { TEXT } from '../texts';
import type { ThreadLease } from '../thread-lease';
import type { ThreadStore } from '../thread-store';
import { MAX_ROUNDS, type RunTurn, type TurnKind, type TurnScope } from '../turn-runner';
import type { ConsentCardView, InvokeAnswer } from '../views';
import { checkConsentLink } from './link';
import { consentView, mayCompleteConsent } from './view';

/** At most two consent prompts per turn: a second one right after "I've signed in" means sign-in failed. */
const MAX_CONSENT_PROMPTS = 2;

/** A click's answer, and the record to continue with when the click was "I've signed in". */
export interface ConsentClick {
  answer: InvokeAnswer;
  continuing?: ConsentRecord;
}

/**
 * The OAuth consent (sign-in) flow: the card for an `oauth_consent_request`, "I've signed in" (continue the
 * turn), refresh and cancel clicks, and settling the card once the continuation shows whether sign-in worked.
 */
export class ConsentFlow {
  constructor(
    private readonly ctx: RelayContext,
    private readonly threads: ThreadStore,
    private readonly lease: ThreadLease,
  ) {}

  view(
    record: ConsentRecord,
    viewer: Actor | undefined,
    status?: ConsentCardView['status'],
  ): ConsentCardView {
    return consentView(record, viewer, this.ctx.settings, status);
  }

  /** Shows (or, after a failed sign-in, updates) the sign-in card for the response's consent requests. */
  async open(
    scope: TurnScope,
    outcome: TurnOutcome,
    what: TurnKind,
    round: number,
    /** The batch opened for the same response's approvals (sign-in and approvals at once). */
    approvalBatchId?: string,
  ): Promise<void> {
    const { io } = scope;
    const previous = what.kind === 'consent' ? what.record : undefined;
    const prompts = (previous?.prompts ?? 0) + 1;
    if (prompts > MAX_CONSENT_PROMPTS || round >= MAX_ROUNDS) {
      if (previous) await this.setState(previous.consentId, 'failed', io);
      await io.sendText(userMessageFor('CONSENT_INCOMPLETE'));
      return;
    }
    const services = this.services(outcome);
    if (services.every((s) => s.link === undefined)) {
      // No safe link to show: say what is needed without a link (CONS-01).
      const names = services.map((s) => s.serverLabel ?? 'a tool').join(', ');
      await io.sendText(`${userMessageFor('CONSENT_LINK_REJECTED')} (${names})`);
      return;
    }
    const record = {
      ...this.record(scope, outcome, what, services, prompts),
      ...(approvalBatchId !== undefined ? { approvalBatchId } : {}),
    };
    if (!(await this.save(record, previous))) return;
    await this.threads.setPendingConsent(scope.key, record.consentId);
    const view = this.view(record, undefined, prompts > 1 ? 'retry' : 'pending');
    let cardId = record.cardActivityId;
    if (cardId) await io.updateCard(cardId, view);
    else cardId = await io.sendCard(view);
    if (cardId && cardId !== record.cardActivityId) {
      const id = cardId;
      await updateRecord<ConsentRecord>(this.ctx.store, consentKey(record.consentId), (cur) =>
        cur ? { ...cur, cardActivityId: id } : undefined,
      );
    }
    this.ctx.log.info('consent.requested', {
      consent: record.consentId,
      services: services.length,
      shared: record.shared,
      prompts,
    });
  }

  /**
   * A new consent is created; a retry replaces the record only while it is still `continuing` (the state the
   * "I've signed in" click set), so a cancel that came in meanwhile is never overwritten.
   */
  private async save(record: ConsentRecord, previous: ConsentRecord | undefined): Promise<boolean> {
    const key = consentKey(record.consentId);
    if (!previous) {
      await this.ctx.store.put(key, record, { ifNoneMatch: true });
      return true;
    }
    const r = await updateRecord<ConsentRecord>(this.ctx.store, key, (cur) =>
      cur?.state === 'continuing'
        ? { ...record, ...(cur.cardActivityId ? { cardActivityId: cur.cardActivityId } : {}) }
        : undefined,
    );
    if (!r.changed)
      this.ctx.log.info('consent.retry_skipped', { consent: record.consentId, state: r.value?.state });
    return r.changed;
  }

  private services(outcome: TurnOutcome): ConsentRecord['services'] {
    return outcome.consents.map((c) => {
      const label = c.serverLabel ? { serverLabel: c.serverLabel } : {};
      const check = checkConsentLink(c.consentLink, this.ctx.settings.consentLinkHosts);
      if (check.ok) return { ...label, link: check.url.toString(), host: check.host };
      this.ctx.log.warn('consent.link_rejected', { reason: check.reason, server: c.serverLabel });
      return { ...label, rejected: check.reason };
    });
  }

  private record(
    scope: TurnScope,
    outcome: TurnOutcome,
    what: TurnKind,
    services: ConsentRecord['services'],
    prompts: number,
  ): ConsentRecord {
    const previous = what.kind === 'consent' ? what.record : undefined;
    const now = this.ctx.clock();
    const text = what.kind === 'message' ? what.text : previous?.pendingText;
    const s = this.ctx.settings;
    return {
      v: 1,
      consentId: previous?.consentId ?? randomBytes(16).toString('hex'),
      threadKey: scope.key,
      conversation: scope.io.conversation,
      conversationRef: scope.io.reference,
      responseId: outcome.responseId,
      requester: scope.requester,
      services,
      shared: s.identityMode === 'app',
      ...(s.threading === 'previous_response' && text !== undefined ? { pendingText: text } : {}),
      prompts,
      state: 'pending',
      createdAt: now,
      expiresAt: now + s.consentTtlMs,
      ...(previous?.cardActivityId ? { cardActivityId: previous.cardActivityId } : {}),
    };
  }

  /** "I've signed in": one click wins (compare-and-set to `continuing`); the turn continues as a job. */
  async continueClick(turn: TurnInfo, consentId: string): Promise<ConsentClick> {
    const rec = await readRecord<ConsentRecord>(this.ctx, consentKey(consentId));
    if (!rec || !sameConversation(rec.value, turn)) return { answer: gone() };
    const record = rec.value;
    if (!mayCompleteConsent(record, turn.user, this.ctx.settings.sharedConsentAdmins)) {
      const reason = record.shared ? 'not_admin' : 'not_requester';
      this.ctx.log.audit('consent.rejected', { consent: consentId, reason });
      return { answer: refuse(this.view(record, turn.user), reason) };
    }
    if (record.state !== 'pending')
      return { answer: refuse(this.view(record, turn.user), 'already_decided') };
    if (await this.approvalsOpen(record)) {
      // Continuing now would leave the response's approval requests unanswered (Foundry: 400). The approval
      // continuation carries the turn on; the sign-in just made is used by it.
      return {
        answer: {
          kind: 'card',
          card: { ...this.view(record, turn.user), notice: TEXT.decideApprovalsFirst },
        },
      };
    }
    if (this.ctx.clock() > record.expiresAt) {
      await this.setState(consentId, 'expired');
      return { answer: refuse(this.view({ ...record, state: 'expired' }, turn.user), 'expired') };
    }
    const continuing: ConsentRecord = { ...record, state: 'continuing' };
    try {
      await this.ctx.store.put<ConsentRecord>(consentKey(consentId), continuing, { ifMatch: rec.etag });
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err;
      return { answer: refuse(this.view(record, turn.user), 'already_decided') };
    }
    this.ctx.log.audit('consent.continued', { consent: consentId, by: hashId(turn.user.aadObjectId ?? '') });
    return { answer: { kind: 'card', card: this.view(continuing, turn.user, 'signed_in') }, continuing };
  }

  /** Re-runs the turn that asked for sign-in, in the thread's lease. */
  async continue(
    record: ConsentRecord,
    io: ConversationIO,
    signal: AbortSignal,
    run: RunTurn,
  ): Promise<void> {
    const leaseId = `consent:${record.consentId}`;
    let held: boolean;
    try {
      held = await this.lease.waitFor(record.threadKey, leaseId, signal);
    } catch (err) {
      await reportFailure(io, this.ctx.log, err, undefined);
      return;
    }
    if (!held) {
      await io.sendText(userMessageFor('FOUNDRY_BUSY'));
      return;
    }
    try {
      const credential = await this.ctx.identity.credentialFor(
        record.requester,
        record.conversation.tenantId,
      );
      const scope = { io, key: record.threadKey, requester: record.requester, credential, signal };
      await run(scope, { kind: 'consent', record }, 0);
    } catch (err) {
      // A lapsed sign-in (user mode): the caller asks for sign-in and resumes this continuation afterwards.
      if (needsSignIn(err) && io.requestSignIn) throw err;
      await reportFailure(io, this.ctx.log, err, undefined);
    } finally {
      await this.lease.release(record.threadKey, leaseId);
    }
  }

  /** `consent.refresh`: the card as the clicker may see it. */
  async refresh(turn: TurnInfo, consentId: string): Promise<InvokeAnswer> {
    const rec = await readRecord<ConsentRecord>(this.ctx, consentKey(consentId));
    if (!rec || !sameConversation(rec.value, turn)) return gone();
    const expired = rec.value.state === 'pending' && this.ctx.clock() > rec.value.expiresAt;
    return { kind: 'card', card: this.view(rec.value, turn.user, expired ? 'expired' : undefined) };
  }

  /** `consent.cancel`, by the requester or whoever may complete the sign-in. */
  async cancel(turn: TurnInfo, consentId: string): Promise<InvokeAnswer> {
    const rec = await readRecord<ConsentRecord>(this.ctx, consentKey(consentId));
    if (!rec || !sameConversation(rec.value, turn)) return gone();
    const isRequester =
      turn.user.aadObjectId?.toLowerCase() === rec.value.requester.aadObjectId?.toLowerCase();
    if (!isRequester && !mayCompleteConsent(rec.value, turn.user, this.ctx.settings.sharedConsentAdmins))
      return refuse(this.view(rec.value, turn.user), 'not_requester');
    await this.setState(consentId, 'cancelled');
    const after = await this.ctx.store.get<ConsentRecord>(consentKey(consentId));
    return { kind: 'card', card: this.view(after?.value ?? rec.value, turn.user, 'cancelled') };
  }

  /** After a consent continuation: the card goes to its final state (signed in / declined), or stays for a retry. */
  async settle(record: ConsentRecord, outcome: TurnOutcome, io: ConversationIO): Promise<void> {
    if (outcome.consents.length > 0) return; // open() updates the card to "retry"
    await this.setState(record.consentId, declinedTool(outcome) ? 'declined' : 'done', io);
    await this.threads.clearPendingConsent(record.threadKey, record.consentId);
  }

  /** Whether the approval batch opened together with this consent still waits for decisions or Foundry. */
  private async approvalsOpen(record: ConsentRecord): Promise<boolean> {
    if (record.approvalBatchId === undefined) return false;
    const batch = await readRecord<ApprovalBatch>(this.ctx, approvalKey(record.approvalBatchId));
    return batch?.value.state === 'pending' || batch?.value.state === 'submitting';
  }

  /**
   * After an approval continuation: a sign-in opened together with that batch is over. With no new consent
   * request the tools ran (`done`); otherwise the new request gets a card of its own and this one closes.
   */
  async settleLinked(key: string, batchId: string, outcome: TurnOutcome, io: ConversationIO): Promise<void> {
    const consentId = (await this.threads.load(key))?.pendingConsentId;
    if (consentId === undefined) return;
    const rec = await readRecord<ConsentRecord>(this.ctx, consentKey(consentId));
    if (rec?.value.approvalBatchId !== batchId || rec.value.state !== 'pending') return;
    await this.setState(consentId, outcome.consents.length > 0 ? 'cancelled' : 'done', io);
    await this.threads.clearPendingConsent(key, consentId);
  }

  /** Moves a consent to `state` (dropping the kept message text unless pending) and updates its card. */
  async setState(consentId: string, state: ConsentRecord['state'], io?: ConversationIO): Promise<void> {
    const { value } = await updateRecord<ConsentRecord>(this.ctx.store, consentKey(consentId), (cur) => {
      if (!cur || cur.state === state) return undefined;
      const { pendingText: _t, ...rest } = cur;
      return state === 'pending' ? { ...cur, state } : { ...rest, state };
    });
    if (io && value?.cardActivityId)
      await this.ctx.updateCardQuietly(io, value.cardActivityId, this.view(value, undefined));
  }
}

/** The tool whose call failed after a sign-in (declined or failed consent), as `server.tool`. */
export function declinedTool(outcome: TurnOutcome): string | undefined {
  const failed = outcome.toolCalls.find((c) => c.status === 'failed');
  if (!failed) return undefined;
  return [failed.serverLabel, failed.name].filter(Boolean).join('.') || 'the tool';
}

function gone(): InvokeAnswer {
  return refuse(notice('Sign-in', userMessageFor('CONSENT_NOT_FOUND')), 'not_found');
}
