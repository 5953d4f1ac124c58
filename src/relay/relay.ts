import { randomBytes } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import { BotError, isBotError, isRetryable, userMessageFor, type BotErrorCode } from '../errors';
import type { ApprovalDecision, Thread, TurnInput, TurnOutcome } from '../foundry/types';
import { hashId, newCorrelationId, type Logger } from '../observability/logger';
import { StoreConflictError, updateRecord, type Versioned } from '../storage/store';
import { argumentLines, argumentsPretty } from './arguments';
import { checkConsentLink } from './consent-link';
import { Deduper } from './dedupe';
import { Lanes, type Job } from './lanes';
import { approvalKey, consentKey, threadKey, welcomeKey } from './keys';
import type {
  Actor,
  ApprovalBatch,
  ApprovalItem,
  ConsentRecord,
  ConversationInfo,
  ConversationRef,
  FinalAnswer,
  ThreadState,
} from './model';
import type { ConversationIO } from './ports';
import type { CardAction, MessageResult, RelayApi, RelayDeps, RelaySettings, TurnInfo } from './api';
import type { ApprovalCardView, CardView, ConsentCardView, InvokeAnswer, Refusal } from './views';

/**
 * After this long without a renewal a busy lease is considered abandoned by a crashed (SIGKILLed) instance.
 * A running job renews its lease every LEASE_RENEW_MS, so a long Foundry turn never looks stale, and a
 * restarted instance (new instanceId) waits at most this long for the dead one's lease.
 */
const LEASE_STALE_MS = 60_000;
const LEASE_RENEW_MS = 15_000;
/**
 * A batch in `submitting` longer than this, whose continuation holds no fresh thread lease, was orphaned by a
 * crash between the compare-and-set and the Foundry call. It is marked `failed` (never re-submitted: the dead
 * instance may already have sent the approval response, and a second one could run the tool twice). The
 * next message denies whatever Foundry still waits for (denyOrphans). Well under the 5-minute bound of DUR-01.
 */
const SUBMITTING_ORPHAN_MS = 2 * 60_000;
/**
 * Approval and consent records stay this long after `expiresAt` (so late clicks still get "expired" /
 * "already decided"), then the next read deletes them (lazy expiry; no scan on the hot path).
 */
const RECORD_RETENTION_MS = 60 * 60_000;
/** Bound on approval/consent rounds in one user turn (a continuation may ask again, in a loop). */
const MAX_ROUNDS = 8;
/** A message sent while signed out is replayed after sign-in only within this window. */
const SIGNIN_REPLAY_MS = 10 * 60_000;
/** At most two consent prompts per turn (foundry-protocol.md §6.2). */
const MAX_CONSENT_PROMPTS = 2;

type TurnKind =
  | { kind: 'message'; text: string }
  | { kind: 'approvals'; batch: ApprovalBatch }
  | { kind: 'consent'; record: ConsentRecord };

/**
 * The turn state machine (design.md "A turn, step by step"). SDK-free: Teams is reached only through
 * ConversationIO / ProactiveRunner, Foundry through FoundryClient, state through StateStore.
 *
 * Every message and every card continuation runs as a job outside the inbound HTTP request (Teams retries
 * requests slower than ~15 s), serialised per Foundry thread in-process and by a durable busy lease across
 * instances.
 */
export class Relay implements RelayApi {
  private readonly s: RelaySettings;
  private readonly clock: () => number;
  private readonly instanceId: string;
  private readonly lanes: Lanes;
  private readonly dedupe: Deduper;
  private readonly log: Logger;
  /** Lease renewal timers of the jobs running here, by `${threadKey}|${activityId}`. */
  private readonly renewals = new Map<string, NodeJS.Timeout>();
  /**
   * User mode: the message each user sent while not signed in, by `${conversation}|${oid}`, replayed once the
   * Teams SSO token arrives (acceptSignIn). Memory only and short-lived (a restart loses only the replay).
   */
  private readonly awaitingSignIn = new Map<string, { turn: TurnInfo; text: string; at: number }>();
  private accepting = true;

  constructor(private readonly deps: RelayDeps) {
    this.s = deps.settings;
    this.clock = deps.clock ?? Date.now;
    this.instanceId = deps.instanceId ?? randomBytes(4).toString('hex');
    this.log = deps.log.child('relay');
    this.lanes = new Lanes(this.s.maxQueuedTurns, (err) => this.log.error('job.failed', { err }));
    this.dedupe = new Deduper(deps.store, this.s.dedupeTtlMs, this.clock);
  }

  // ───────────────────────────── inbound ─────────────────────────────

  /**
   * A user message (mention already removed). Returns at once; the turn runs as a job.
   * Duplicates (same conversation + activity id) start nothing.
   */
  async handleMessage(turn: TurnInfo, rawText: string): Promise<MessageResult> {
    const claim = await this.dedupe.claim(turn.conversation.id, turn.activityId);
    if (!claim.first) {
      this.log.info('inbound.duplicate', { kind: 'message', activity: hashId(turn.activityId) });
      return 'duplicate';
    }
    const text = rawText.trim();
    const command = /^\/(new|help|status)\b/i.exec(text)?.[1]?.toLowerCase();
    if (command) {
      this.lanes.detach({
        run: () => this.inConversation(turn.reference, (io) => this.runCommand(command, turn, io)),
      });
      return 'command';
    }
    if (!this.accepting) throw new BotError('SHUTTING_DOWN', 'not accepting new turns');
    const key = this.key(turn);
    const result = this.lanes.submit(key, {
      run: (signal) => this.inConversation(turn.reference, (io) => this.runUserTurn(turn, text, io, signal)),
      dropped: () =>
        this.inConversation(turn.reference, (io) => io.sendText(userMessageFor('SHUTTING_DOWN'))),
    });
    if (result === 'full') {
      this.lanes.detach({
        run: () => this.inConversation(turn.reference, (io) => io.sendText(userMessageFor('FOUNDRY_BUSY'))),
      });
      return 'busy';
    }
    return result;
  }

  /**
   * A card click. Answers at once with the updated card (p99 well under 2 s whatever Foundry does); any
   * Foundry work runs afterwards as a job. A duplicate invoke gets the first one's answer.
   */
  async handleCardAction(turn: TurnInfo, action: CardAction): Promise<InvokeAnswer> {
    const claim = await this.dedupe.claim(turn.conversation.id, turn.activityId);
    if (!claim.first) {
      this.log.info('inbound.duplicate', { kind: 'invoke', activity: hashId(turn.activityId) });
      if (claim.answer !== undefined) return claim.answer as InvokeAnswer;
      return { kind: 'message', text: 'Your earlier click is still being processed.' };
    }
    const answer = await this.decideCardAction(turn, action);
    await this.dedupe.recordAnswer(turn.conversation.id, turn.activityId, answer);
    return answer;
  }

  /**
   * The welcome card on install, once per conversation: a create-only record under welcomeKey claims it. When
   * the store cannot be reached the welcome is skipped (a missed welcome costs less than one repeated on every
   * re-sent install event) and the outage is logged.
   */
  async welcome(io: ConversationIO): Promise<void> {
    try {
      await this.deps.store.put(
        welcomeKey(io.conversation.id),
        { v: 1, at: this.clock() },
        { ifNoneMatch: true },
      );
    } catch (err) {
      if (err instanceof StoreConflictError) return;
      this.log.warn('welcome.store_unavailable', { err });
      return;
    }
    await io.sendCard(this.helpCard("Hi! I relay your messages to the organisation's Foundry agent."));
  }

  /** Stops taking new turns (SIGTERM). */
  stopAccepting(): void {
    this.accepting = false;
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  /** Lets running turns finish within `graceMs`, then aborts them so they tell their users to retry. */
  drain(graceMs: number): Promise<{ finished: boolean }> {
    this.stopAccepting();
    return this.lanes.drain(graceMs);
  }

  /** Resolves when no job runs (tests, benchmark). */
  idle(): Promise<void> {
    return this.lanes.idle();
  }

  get inFlight(): number {
    return this.lanes.inFlight;
  }

  /** In-memory dedupe entries (DUP-02). */
  get dedupeEntries(): number {
    return this.dedupe.size;
  }

  // ───────────────────────────── turns ─────────────────────────────

  private key(turn: { conversation: ConversationInfo; user: Actor }): string {
    return threadKey(turn.conversation, turn.user, this.s.identityMode);
  }

  private inConversation(ref: ConversationRef, work: (io: ConversationIO) => Promise<void>): Promise<void> {
    return this.deps.proactive.continueConversation(ref, work);
  }

  private async runUserTurn(
    turn: TurnInfo,
    text: string,
    io: ConversationIO,
    signal: AbortSignal,
  ): Promise<void> {
    const key = this.key(turn);
    const lease = await this.acquireLease(key, turn.activityId);
    if (!lease) {
      await io.sendText(userMessageFor('FOUNDRY_BUSY'));
      return;
    }
    try {
      const credential = await this.credential(turn.user, turn.conversation.tenantId);
      await this.closePending(key, io, credential, 'superseded', lease);
      await this.runTurn(io, key, turn.user, { kind: 'message', text }, credential, signal, 0);
    } catch (err) {
      if (isBotError(err, 'IDENTITY_UNAVAILABLE') && io.requestSignIn && turn.user.aadObjectId) {
        this.rememberForSignIn(turn, text);
        this.log.info('identity.signin_requested', { user: hashId(turn.user.aadObjectId) });
        await io.requestSignIn(turn.user);
      } else await this.reportFailure(io, err, text);
    } finally {
      await this.releaseLease(key, turn.activityId);
    }
  }

  // ───────────────────────────── sign-in (user mode) ─────────────────────────────

  private rememberForSignIn(turn: TurnInfo, text: string): void {
    const now = this.clock();
    for (const [k, v] of this.awaitingSignIn)
      if (now - v.at > SIGNIN_REPLAY_MS) this.awaitingSignIn.delete(k);
    const k = `${turn.conversation.id}|${turn.user.aadObjectId ?? turn.user.id}`;
    this.awaitingSignIn.delete(k);
    if (this.awaitingSignIn.size >= 1000) {
      const oldest = this.awaitingSignIn.keys().next().value;
      if (oldest !== undefined) this.awaitingSignIn.delete(oldest);
    }
    this.awaitingSignIn.set(k, { turn, text, at: now });
  }

  /**
   * The user's Teams SSO token arrived (`signin/tokenExchange`): hands it to the identity provider (which
   * exchanges it on-behalf-of the user), then replays the message the user sent while signed out, if any.
   * Throws BotError('TENANT_NOT_ALLOWED' | 'IDENTITY_UNAVAILABLE') when the sign-in cannot be used; the edge
   * tells the user.
   */
  async acceptSignIn(turn: TurnInfo, ssoToken: string): Promise<'signed_in' | 'replayed'> {
    const identity = this.deps.identity;
    if (!identity.acceptSsoToken)
      throw new BotError('IDENTITY_UNAVAILABLE', 'this bot does not use Teams sign-in');
    await identity.acceptSsoToken(turn.user, turn.conversation.tenantId, ssoToken);
    const k = `${turn.conversation.id}|${turn.user.aadObjectId ?? turn.user.id}`;
    const pending = this.awaitingSignIn.get(k);
    this.awaitingSignIn.delete(k);
    if (!pending || this.clock() - pending.at > SIGNIN_REPLAY_MS) return 'signed_in';
    const replay = { ...pending.turn, activityId: `${pending.turn.activityId}#signin` };
    await this.handleMessage(replay, pending.text);
    return 'replayed';
  }

  /**
   * Runs one Foundry turn and everything it leads to in this job: streams text, then shows a consent or an
   * approval card, or the final answer. Continuations re-enter here with their own input.
   */
  private async runTurn(
    io: ConversationIO,
    key: string,
    requester: Actor,
    what: TurnKind,
    credential: TokenCredential,
    signal: AbortSignal,
    round: number,
  ): Promise<void> {
    const state = (await this.deps.store.get<ThreadState>(key))?.value;
    const thread = await this.threadFor(key, state, credential, what);
    const input = this.inputFor(what);
    const correlationId = newCorrelationId();
    const log = this.log.child('turn', { correlationId, kind: what.kind, round });
    const answer = io.beginAnswer();
    answer.informative(what.kind === 'message' ? 'Asking the agent…' : 'Continuing…');

    const ac = new AbortController();
    const abort = (): void => ac.abort();
    answer.cancelled.addEventListener('abort', abort);
    signal.addEventListener('abort', abort);
    let text = '';
    const citations: FinalAnswer['citations'] = [];
    let outcome: TurnOutcome | undefined;
    let responseId: string | undefined;
    const started = this.clock();
    try {
      const stream = this.deps.foundry.streamTurn(
        { agent: this.agent(), thread, input },
        { credential, signal: ac.signal, ...(what.kind === 'approvals' ? { maxRetries: 0 } : {}) },
      );
      for await (const ev of stream) {
        switch (ev.type) {
          case 'turn.started':
            responseId = ev.responseId;
            break;
          case 'text.delta':
            text += ev.text;
            answer.text(ev.text);
            break;
          case 'citation':
            citations.push(ev.citation);
            break;
          case 'tool.progress':
            if (ev.call.status === 'in_progress' && ev.call.itemType !== 'mcp_list_tools') {
              const label = [ev.call.serverLabel, ev.call.name].filter(Boolean).join('.') || ev.call.itemType;
              answer.informative(`Using ${label}…`);
            }
            break;
          case 'turn.end':
            outcome = ev.outcome;
            break;
        }
      }
    } catch (err) {
      answer.cancelled.removeEventListener('abort', abort);
      signal.removeEventListener('abort', abort);
      if (answer.cancelled.aborted) {
        log.info('turn.user_cancelled', { ms: this.clock() - started });
        if (responseId) await this.saveResponse(key, responseId, thread);
        return;
      }
      const error = signal.aborted
        ? new BotError('SHUTTING_DOWN', 'drain timeout', { cause: err })
        : isBotError(err)
          ? err
          : new BotError('INTERNAL', 'unexpected failure', { cause: err });
      log.warn('turn.failed', { code: error.code, details: error.details, ms: this.clock() - started });
      if (what.kind === 'approvals') await this.markBatch(what.batch.batchId, 'failed', io);
      if (error.code === 'FOUNDRY_UNANSWERED_APPROVALS' && what.kind === 'message' && round === 0) {
        // Foundry still holds approval requests we no longer track: deny them, then send the message again.
        await answer.abandon();
        if (await this.denyOrphans(key, error, credential, thread)) {
          await this.runTurn(io, key, requester, what, credential, signal, round + 1);
          return;
        }
      }
      if (text.length > 0) {
        await answer.finish({ text, citations, note: 'interrupted', correlationId });
        // SHUT-01: a turn cut short by the drain bound tells its user to retry, not just "interrupted".
        if (error.code === 'SHUTTING_DOWN') await io.sendText(userMessageFor('SHUTTING_DOWN'));
      } else {
        await answer.abandon();
        await io.sendCard(
          this.errorCard(error.code, correlationId, what.kind === 'message' ? what.text : undefined),
        );
      }
      return;
    }
    answer.cancelled.removeEventListener('abort', abort);
    signal.removeEventListener('abort', abort);

    if (!outcome) {
      await answer.abandon();
      return;
    }
    await this.saveResponse(key, outcome.responseId, thread, outcome.conversationId);
    log.info('turn.ended', {
      status: outcome.status,
      ms: this.clock() - started,
      consents: outcome.consents.length,
      approvals: outcome.approvals.length,
      tools: outcome.toolCalls.length,
      chars: outcome.text.length,
    });
    const finalText = outcome.text.length > 0 ? outcome.text : text;
    const finalCitations = outcome.citations.length > 0 ? outcome.citations : citations;

    if (outcome.status === 'failed' && outcome.consents.length === 0) {
      const code: BotErrorCode = 'FOUNDRY_FAILED';
      log.warn('turn.response_failed', { code: outcome.error?.code });
      if (finalText.length > 0)
        await answer.finish({
          text: finalText,
          citations: finalCitations,
          note: 'interrupted',
          correlationId,
        });
      else {
        await answer.abandon();
        await io.sendCard(
          this.errorCard(code, correlationId, what.kind === 'message' ? what.text : undefined),
        );
      }
      return;
    }

    if (what.kind === 'consent') await this.settleConsentCard(what.record, outcome, io);

    if (outcome.consents.length > 0) {
      if (finalText.length > 0) await answer.finish({ text: finalText, citations: finalCitations });
      else await answer.abandon('A sign-in is needed to continue.');
      await this.openConsent(io, key, requester, outcome, what, round);
      return;
    }
    if (outcome.approvals.length > 0) {
      if (finalText.length > 0) await answer.finish({ text: finalText, citations: finalCitations });
      else await answer.abandon('Your approval is needed to continue.');
      if (round >= MAX_ROUNDS) {
        await io.sendText('The agent kept asking for approvals, so I stopped. Send /new to start over.');
        return;
      }
      await this.openApprovals(io, key, requester, outcome, round);
      return;
    }
    const declined = what.kind === 'consent' ? this.declinedTool(outcome) : undefined;
    if (finalText.length === 0) {
      await answer.abandon();
      await io.sendText(
        declined
          ? `This tool needs authorization: ${declined} could not be used because sign-in was not completed.`
          : 'The agent did not return an answer.',
      );
      return;
    }
    const note = outcome.status === 'incomplete' && outcome.incompleteReason ? 'truncated' : undefined;
    await answer.finish({ text: finalText, citations: finalCitations, ...(note ? { note } : {}) });
  }

  private agent(): { name: string; version?: string } {
    return this.s.agentVersion
      ? { name: this.s.agentName, version: this.s.agentVersion }
      : { name: this.s.agentName };
  }

  private inputFor(what: TurnKind): TurnInput {
    switch (what.kind) {
      case 'message':
        return { kind: 'text', text: what.text };
      case 'approvals':
        return { kind: 'approvals', decisions: this.decisionsOf(what.batch) };
      case 'consent':
        // previous_response mode re-sends the user's text; conversation mode re-runs the conversation (§6.2).
        return this.s.threading === 'previous_response' && what.record.pendingText !== undefined
          ? { kind: 'text', text: what.record.pendingText }
          : { kind: 'none' };
    }
  }

  private decisionsOf(batch: ApprovalBatch): ApprovalDecision[] {
    return batch.items.map((i) => ({
      requestId: i.requestId,
      approve: i.decision === 'approve',
      ...(i.decision === 'approve'
        ? {}
        : { reason: i.reason === 'user' || !i.reason ? 'Denied in Teams' : `Denied in Teams (${i.reason})` }),
    }));
  }

  /** The thread to continue: continuations target the response that asked; new turns the last response. */
  private async threadFor(
    key: string,
    state: ThreadState | undefined,
    credential: TokenCredential,
    what: TurnKind,
  ): Promise<Thread> {
    if (this.s.threading === 'conversation') {
      let conversationId = state?.foundryConversationId;
      if (!conversationId) {
        conversationId = await this.deps.foundry.createConversation({ credential });
        const id = conversationId;
        await updateRecord<ThreadState>(this.deps.store, key, (cur) => ({
          ...(cur ?? this.emptyThread()),
          foundryConversationId: id,
          updatedAt: this.clock(),
        }));
      }
      return { mode: 'conversation', conversationId };
    }
    const previousResponseId =
      what.kind === 'approvals'
        ? what.batch.responseId
        : what.kind === 'consent'
          ? what.record.responseId
          : state?.lastResponseId;
    return previousResponseId
      ? { mode: 'previous_response', previousResponseId }
      : { mode: 'previous_response' };
  }

  private emptyThread(): ThreadState {
    return { v: 1, updatedAt: this.clock() };
  }

  /** The last response id must be updated after every response, including consent and approval turns (§1.6). */
  private async saveResponse(
    key: string,
    responseId: string,
    thread: Thread,
    conversationId?: string,
  ): Promise<void> {
    await updateRecord<ThreadState>(this.deps.store, key, (cur) => {
      const next: ThreadState = {
        ...(cur ?? this.emptyThread()),
        lastResponseId: responseId,
        updatedAt: this.clock(),
      };
      if (thread.mode === 'conversation')
        next.foundryConversationId = conversationId ?? thread.conversationId;
      return next;
    });
  }

  private async credential(user: Actor, tenantId: string): Promise<TokenCredential> {
    return this.deps.identity.credentialFor(user, tenantId);
  }

  // ───────────────────────────── lease ─────────────────────────────

  /** Takes the thread's busy lease; returns the thread state as written (so callers need not read it again). */
  private async acquireLease(key: string, activityId: string): Promise<ThreadState | undefined> {
    const now = this.clock();
    let got = false;
    const { value } = await updateRecord<ThreadState>(this.deps.store, key, (cur) => {
      const busy = cur?.busy;
      // Owned per job (instance + activity), so a card continuation and a user turn of one instance never
      // share a lease; only the same job may take it again, and anyone may take a stale one.
      const mine = busy?.instance === this.instanceId && busy.activityId === activityId;
      if (busy && !mine && now - busy.since < LEASE_STALE_MS) {
        got = false;
        return undefined;
      }
      got = true;
      return {
        ...(cur ?? this.emptyThread()),
        busy: { since: now, activityId, instance: this.instanceId },
        updatedAt: now,
      };
    });
    if (!got) return undefined;
    this.startRenewing(key, activityId);
    return value;
  }

  /** Keeps a held lease fresh while its job runs (stops once the lease is no longer ours). */
  private startRenewing(key: string, activityId: string): void {
    const id = `${key}|${activityId}`;
    clearInterval(this.renewals.get(id));
    const timer = setInterval(() => {
      void updateRecord<ThreadState>(this.deps.store, key, (cur) => {
        if (cur?.busy?.instance !== this.instanceId || cur.busy.activityId !== activityId) {
          clearInterval(timer);
          this.renewals.delete(id);
          return undefined;
        }
        return { ...cur, busy: { ...cur.busy, since: this.clock() } };
      }).catch((err: unknown) => this.log.warn('lease.renew_failed', { err }));
    }, LEASE_RENEW_MS);
    timer.unref();
    this.renewals.set(id, timer);
  }

  /** Releases the lease only if this job still holds it (a stale lease may have been taken over). */
  private async releaseLease(key: string, activityId: string): Promise<void> {
    const id = `${key}|${activityId}`;
    clearInterval(this.renewals.get(id));
    this.renewals.delete(id);
    try {
      await updateRecord<ThreadState>(this.deps.store, key, (cur) => {
        if (cur?.busy?.instance !== this.instanceId || cur.busy.activityId !== activityId) return undefined;
        const { busy: _busy, ...rest } = cur;
        return { ...rest, updatedAt: this.clock() };
      });
    } catch (err) {
      this.log.warn('lease.release_failed', { err });
    }
  }

  /** Whether `key`'s lease is held, and fresh, for `activityId` (by any instance). */
  private async leaseHeldFor(key: string, activityId: string): Promise<boolean> {
    const busy = (await this.deps.store.get<ThreadState>(key))?.value.busy;
    return busy?.activityId === activityId && this.clock() - busy.since < LEASE_STALE_MS;
  }

  // ───────────────────────────── lazy expiry and crash recovery ─────────────────────────────

  /**
   * Reads an approval or consent record; one more than RECORD_RETENTION_MS past its `expiresAt` is deleted
   * (compare-and-set on its eTag) and reads as absent. Records never read again are left to the storage
   * lifecycle rule (docs/storage.md).
   */
  private async readRecord<T extends { expiresAt: number }>(key: string): Promise<Versioned<T> | undefined> {
    const rec = await this.deps.store.get<T>(key);
    if (!rec || this.clock() <= rec.value.expiresAt + RECORD_RETENTION_MS) return rec;
    await this.deps.store.delete(key, { ifMatch: rec.etag });
    this.log.info('record.expired_deleted', { kind: key.slice(0, key.indexOf('/')) });
    return undefined;
  }

  /**
   * Marks an orphaned `submitting` batch `failed` (see SUBMITTING_ORPHAN_MS) and updates its card. Returns the
   * batch as it is afterwards. Called wherever a batch is read: clicks, refresh, /status, the next message.
   */
  private async recoverOrphan(batch: ApprovalBatch, io?: ConversationIO): Promise<ApprovalBatch> {
    if (batch.state !== 'submitting') return batch;
    const since = batch.submittingSince ?? batch.createdAt;
    if (this.clock() - since < SUBMITTING_ORPHAN_MS) return batch;
    if (await this.leaseHeldFor(batch.threadKey, `approval:${batch.batchId}`)) return batch;
    const r = await updateRecord<ApprovalBatch>(this.deps.store, approvalKey(batch.batchId), (cur) =>
      cur && cur.state === 'submitting' && (cur.submittingSince ?? cur.createdAt) === since
        ? { ...cur, state: 'failed' }
        : undefined,
    );
    const after = r.value ?? batch;
    if (r.changed) {
      this.log.warn('approval.orphan_failed', { batch: batch.batchId, ageMs: this.clock() - since });
      if (after.cardActivityId) {
        const cardId = after.cardActivityId;
        const view = this.approvalView(after, undefined);
        if (io) await this.safeUpdate(io, cardId, view);
        else
          this.lanes.detach({
            run: () => this.inConversation(after.conversationRef, (c) => this.safeUpdate(c, cardId, view)),
          });
      }
    }
    return after;
  }

  // ───────────────────────────── consent ─────────────────────────────

  private async openConsent(
    io: ConversationIO,
    key: string,
    requester: Actor,
    outcome: TurnOutcome,
    what: TurnKind,
    round: number,
  ): Promise<void> {
    const previous = what.kind === 'consent' ? what.record : undefined;
    const prompts = (previous?.prompts ?? 0) + 1;
    const services: ConsentRecord['services'] = outcome.consents.map((c) => {
      const check = checkConsentLink(c.consentLink, this.s.consentLinkHosts);
      if (!check.ok) {
        this.log.warn('consent.link_rejected', { reason: check.reason, server: c.serverLabel });
        return { ...(c.serverLabel ? { serverLabel: c.serverLabel } : {}), rejected: check.reason };
      }
      return {
        ...(c.serverLabel ? { serverLabel: c.serverLabel } : {}),
        link: check.url.toString(),
        host: check.host,
      };
    });
    if (prompts > MAX_CONSENT_PROMPTS || round >= MAX_ROUNDS) {
      if (previous) await this.setConsentState(previous.consentId, 'failed', io);
      await io.sendText(
        'Sign-in did not complete, so the tool could not run. Please try again later or ask your administrator.',
      );
      return;
    }
    if (services.every((s) => s.link === undefined)) {
      // No safe link to show: say what is needed without a link (CONS-01).
      const names = services.map((s) => s.serverLabel ?? 'a tool').join(', ');
      await io.sendText(
        `This tool needs authorization (${names}), but the sign-in link could not be verified. Please tell your administrator.`,
      );
      return;
    }
    const now = this.clock();
    const text =
      what.kind === 'message' ? what.text : what.kind === 'consent' ? what.record.pendingText : undefined;
    const record: ConsentRecord = {
      v: 1,
      consentId: previous?.consentId ?? randomBytes(16).toString('hex'),
      threadKey: key,
      conversation: io.conversation,
      conversationRef: io.reference,
      responseId: outcome.responseId,
      requester,
      services,
      shared: this.s.identityMode === 'app',
      ...(this.s.threading === 'previous_response' && text !== undefined ? { pendingText: text } : {}),
      prompts,
      state: 'pending',
      createdAt: now,
      expiresAt: now + this.s.consentTtlMs,
      ...(previous?.cardActivityId ? { cardActivityId: previous.cardActivityId } : {}),
    };
    await this.deps.store.put(
      consentKey(record.consentId),
      record,
      previous ? { ifMatch: await this.etagOf(consentKey(record.consentId)) } : { ifNoneMatch: true },
    );
    await updateRecord<ThreadState>(this.deps.store, key, (cur) => ({
      ...(cur ?? this.emptyThread()),
      pendingConsentId: record.consentId,
      updatedAt: now,
    }));
    const view = this.consentView(record, undefined, prompts > 1 ? 'retry' : 'pending');
    let cardId = record.cardActivityId;
    if (cardId) await io.updateCard(cardId, view);
    else cardId = await io.sendCard(view);
    if (cardId && cardId !== record.cardActivityId) {
      const id = cardId;
      await updateRecord<ConsentRecord>(this.deps.store, consentKey(record.consentId), (cur) =>
        cur ? { ...cur, cardActivityId: id } : undefined,
      );
    }
    this.log.info('consent.requested', {
      consent: record.consentId,
      services: services.length,
      shared: record.shared,
      prompts,
    });
  }

  private async etagOf(key: string): Promise<string> {
    return (await this.deps.store.get(key))?.etag ?? '';
  }

  /** Builds the consent card for `viewer` (undefined = the public view that is posted in the conversation). */
  private consentView(
    record: ConsentRecord,
    viewer: Actor | undefined,
    status?: ConsentCardView['status'],
  ): ConsentCardView {
    const personal = record.conversation.scope === 'personal';
    const mayAct = this.mayCompleteConsent(record, viewer ?? (personal ? record.requester : undefined));
    const labels = record.services.map((s) => ({
      label: s.serverLabel ?? 'this tool',
      ...(s.host ? { host: s.host } : {}),
      ...(mayAct && s.link ? { link: s.link } : {}),
    }));
    const actionableUserIds =
      this.s.identityMode === 'app'
        ? this.isAdmin(record.requester)
          ? [record.requester.id]
          : []
        : [record.requester.id];
    const requesterName = record.requester.name ?? 'The requester';
    let notice: string | undefined;
    if (!mayAct) {
      notice = record.shared
        ? this.isAdmin(viewer ?? record.requester)
          ? undefined
          : 'This sign-in is shared by everyone who uses the bot, so only an administrator can complete it. Please ask an administrator.'
        : `${requesterName} needs to sign in to ${labels.map((l) => l.label).join(', ')}.`;
    }
    return {
      kind: 'consent',
      consentId: record.consentId,
      requester: record.requester,
      services: labels,
      shared: record.shared,
      status: status ?? this.consentStatus(record),
      actionable:
        mayAct &&
        (status ?? this.consentStatus(record)) !== 'signed_in' &&
        ['pending', 'retry'].includes(status ?? this.consentStatus(record)),
      actionableUserIds,
      ...(notice ? { notice } : {}),
      ...(record.shared && this.s.sharedConsentAdmins.length === 0
        ? { adminHint: 'No administrator is configured (SHARED_CONSENT_ADMINS).' }
        : {}),
    };
  }

  private consentStatus(record: ConsentRecord): ConsentCardView['status'] {
    switch (record.state) {
      case 'pending':
        return record.prompts > 1 ? 'retry' : 'pending';
      case 'continuing':
      case 'done':
        return 'signed_in';
      case 'declined':
        return 'declined';
      case 'failed':
        return 'failed';
      case 'cancelled':
        return 'cancelled';
      case 'expired':
        return 'expired';
    }
  }

  private isAdmin(user: Actor | undefined): boolean {
    const id = user?.aadObjectId?.toLowerCase();
    return id !== undefined && this.s.sharedConsentAdmins.includes(id);
  }

  private mayCompleteConsent(record: ConsentRecord, viewer: Actor | undefined): boolean {
    if (!viewer?.aadObjectId) return false;
    if (record.shared) return this.isAdmin(viewer);
    return viewer.aadObjectId.toLowerCase() === record.requester.aadObjectId?.toLowerCase();
  }

  private async setConsentState(
    consentId: string,
    state: ConsentRecord['state'],
    io?: ConversationIO,
  ): Promise<void> {
    const { value } = await updateRecord<ConsentRecord>(this.deps.store, consentKey(consentId), (cur) => {
      if (!cur || cur.state === state) return undefined;
      const { pendingText: _t, ...rest } = cur;
      return state === 'pending' ? { ...cur, state } : { ...rest, state };
    });
    if (io && value?.cardActivityId)
      await this.safeUpdate(io, value.cardActivityId, this.consentView(value, undefined));
  }

  /** After a consent continuation: the card goes to its final state (signed in / declined), or stays for a retry. */
  private async settleConsentCard(
    record: ConsentRecord,
    outcome: TurnOutcome,
    io: ConversationIO,
  ): Promise<void> {
    if (outcome.consents.length > 0) return; // openConsent updates the card to "retry"
    const declined = this.declinedTool(outcome);
    await this.setConsentState(record.consentId, declined ? 'declined' : 'done', io);
    await updateRecord<ThreadState>(this.deps.store, record.threadKey, (cur) => {
      if (!cur || cur.pendingConsentId !== record.consentId) return undefined;
      const { pendingConsentId: _p, ...rest } = cur;
      return { ...rest, updatedAt: this.clock() };
    });
  }

  private declinedTool(outcome: TurnOutcome): string | undefined {
    const failed = outcome.toolCalls.find((c) => c.status === 'failed');
    if (!failed) return undefined;
    return [failed.serverLabel, failed.name].filter(Boolean).join('.') || 'the tool';
  }

  // ───────────────────────────── approvals ─────────────────────────────

  private async openApprovals(
    io: ConversationIO,
    key: string,
    requester: Actor,
    outcome: TurnOutcome,
    round: number,
  ): Promise<void> {
    const now = this.clock();
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
      expiresAt: now + this.s.approvalTtlMs,
      round: round + 1,
    };
    await this.deps.store.put(approvalKey(batch.batchId), batch, { ifNoneMatch: true });
    await updateRecord<ThreadState>(this.deps.store, key, (cur) => ({
      ...(cur ?? this.emptyThread()),
      pendingApprovalBatchId: batch.batchId,
      updatedAt: now,
    }));
    const cardId = await io.sendCard(this.approvalView(batch, undefined));
    if (cardId) {
      await updateRecord<ApprovalBatch>(this.deps.store, approvalKey(batch.batchId), (cur) =>
        cur ? { ...cur, cardActivityId: cardId } : undefined,
      );
    }
    this.log.info('approval.requested', {
      batch: batch.batchId,
      items: batch.items.length,
      tools: batch.items.map((i) => `${i.serverLabel}.${i.toolName}`),
    });
  }

  private mayApprove(batch: ApprovalBatch, user: Actor): boolean {
    const id = user.aadObjectId?.toLowerCase();
    if (!id) return false;
    return id === batch.requester.aadObjectId?.toLowerCase() || this.s.approvers.includes(id);
  }

  /** The approval card as `viewer` sees it (undefined: the public view posted to the conversation). */
  private approvalView(batch: ApprovalBatch, viewer: Actor | undefined, notice?: string): ApprovalCardView {
    const personal = batch.conversation.scope === 'personal';
    const status = batch.state === 'pending' && this.clock() > batch.expiresAt ? 'expired' : batch.state;
    // The public card shows buttons too: Teams clients without user-specific views need them, and every
    // click is checked server-side anyway (refresh views are UX, not access control: reliability-plan §2.3).
    const actionable = status === 'pending' && (viewer ? this.mayApprove(batch, viewer) : true);
    return {
      kind: 'approval',
      batchId: batch.batchId,
      requester: batch.requester,
      actionableUserIds: personal ? [] : [batch.requester.id],
      items: batch.items.map((i) => {
        let args: unknown;
        try {
          args = JSON.parse(i.argumentsJson);
        } catch {
          args = undefined;
        }
        return {
          approvalId: i.approvalId,
          serverLabel: i.serverLabel,
          toolName: i.toolName,
          argumentLines: argumentLines(args, i.argumentsJson),
          argumentsPretty: argumentsPretty(args, i.argumentsJson),
          ...(i.decision ? { decision: i.decision } : {}),
          ...(i.decidedBy?.name
            ? { decidedBy: i.decidedBy.name }
            : i.decidedBy
              ? { decidedBy: 'an approver' }
              : {}),
          ...(i.decidedAt ? { decidedAt: i.decidedAt } : {}),
          ...(i.reason && i.reason !== 'user' ? { reason: i.reason } : {}),
        };
      }),
      status,
      actionable,
      ...(notice ? { notice } : {}),
    };
  }

  private async markBatch(
    batchId: string,
    state: ApprovalBatch['state'],
    io?: ConversationIO,
  ): Promise<void> {
    const { value } = await updateRecord<ApprovalBatch>(this.deps.store, approvalKey(batchId), (cur) =>
      cur && cur.state !== state ? { ...cur, state } : undefined,
    );
    if (io && value?.cardActivityId)
      await this.safeUpdate(io, value.cardActivityId, this.approvalView(value, undefined));
  }

  private async safeUpdate(io: ConversationIO, activityId: string, card: CardView): Promise<void> {
    try {
      await io.updateCard(activityId, card);
    } catch (err) {
      this.log.warn('card.update_failed', { err });
    }
  }

  /**
   * Before a new message: open approvals are denied in Foundry (reason superseded, so Foundry never answers
   * 400 "do not have an approval") and their card says so; an open consent is cancelled.
   */
  private async closePending(
    key: string,
    io: ConversationIO,
    credential: TokenCredential,
    reason: 'superseded' | 'reset',
    /** The thread state this job already holds (read under its lease); read from the store when absent. */
    known?: ThreadState,
  ): Promise<void> {
    const state = known ?? (await this.deps.store.get<ThreadState>(key))?.value;
    // The common case: nothing open, nothing to close (and no further store round trip).
    if (!state?.pendingConsentId && !state?.pendingApprovalBatchId) return;
    if (state?.pendingConsentId) await this.setConsentState(state.pendingConsentId, 'cancelled', io);
    const batchId = state?.pendingApprovalBatchId;
    let denied: ApprovalBatch | undefined;
    if (batchId) {
      const open = (await this.readRecord<ApprovalBatch>(approvalKey(batchId)))?.value;
      if (open) await this.recoverOrphan(open, io);
      const now = this.clock();
      const r = await updateRecord<ApprovalBatch>(this.deps.store, approvalKey(batchId), (cur) => {
        if (
          !cur ||
          !(cur.state === 'pending' || (cur.state === 'expired' && cur.items.some((it) => !it.decision)))
        )
          return undefined;
        const expired = now > cur.expiresAt;
        return {
          ...cur,
          state: expired ? 'expired' : reason === 'reset' ? 'cancelled' : 'superseded',
          items: cur.items.map((i) =>
            i.decision ? i : { ...i, decision: 'deny', decidedAt: now, reason: expired ? 'expired' : reason },
          ),
        };
      });
      if (r.changed && r.value) {
        denied = r.value;
        this.log.audit('approval.closed', {
          batch: batchId,
          state: r.value.state,
          items: r.value.items.length,
        });
        if (r.value.cardActivityId)
          await this.safeUpdate(io, r.value.cardActivityId, this.approvalView(r.value, undefined));
      }
    }
    await updateRecord<ThreadState>(this.deps.store, key, (cur) => {
      if (!cur || (!cur.pendingApprovalBatchId && !cur.pendingConsentId)) return undefined;
      const { pendingApprovalBatchId: _a, pendingConsentId: _c, ...rest } = cur;
      return { ...rest, updatedAt: this.clock() };
    });
    if (denied && reason === 'superseded')
      await this.answerQuietly(key, credential, denied.responseId, this.decisionsOf(denied));
  }

  /** Sends approval answers and drains the agent's reply without showing it; keeps the thread chained. */
  private async answerQuietly(
    key: string,
    credential: TokenCredential,
    previousResponseId: string,
    decisions: ApprovalDecision[],
  ): Promise<boolean> {
    const state = (await this.deps.store.get<ThreadState>(key))?.value;
    const thread: Thread =
      this.s.threading === 'conversation' && state?.foundryConversationId
        ? { mode: 'conversation', conversationId: state.foundryConversationId }
        : { mode: 'previous_response', previousResponseId };
    try {
      for await (const ev of this.deps.foundry.streamTurn(
        { agent: this.agent(), thread, input: { kind: 'approvals', decisions } },
        { credential, maxRetries: 0 },
      )) {
        if (ev.type === 'turn.end')
          await this.saveResponse(key, ev.outcome.responseId, thread, ev.outcome.conversationId);
      }
      return true;
    } catch (err) {
      this.log.warn('approval.deny_failed', { code: isBotError(err) ? err.code : 'INTERNAL' });
      return false;
    }
  }

  private async denyOrphans(
    key: string,
    error: BotError,
    credential: TokenCredential,
    thread: Thread,
  ): Promise<boolean> {
    const ids = error.details['pendingRequestIds'];
    if (!Array.isArray(ids) || ids.length === 0) return false;
    const previous = thread.mode === 'previous_response' ? thread.previousResponseId : undefined;
    if (thread.mode === 'previous_response' && !previous) return false;
    const decisions = ids
      .filter((i): i is string => typeof i === 'string')
      .map((requestId) => ({ requestId, approve: false, reason: 'Denied in Teams (superseded)' }));
    this.log.audit('approval.orphans_denied', { count: decisions.length });
    return this.answerQuietly(key, credential, previous ?? '', decisions);
  }

  // ───────────────────────────── card actions ─────────────────────────────

  private refuse(card: CardView, refusal: Refusal): InvokeAnswer {
    if (refusal === 'already_decided') return { kind: 'card', card, refusal };
    const statusCode =
      refusal === 'expired' ? 410 : refusal === 'not_found' || refusal === 'wrong_conversation' ? 404 : 403;
    const message =
      card.kind === 'notice'
        ? card.lines.join(' ')
        : card.kind === 'approval' || card.kind === 'consent'
          ? (card.notice ?? userMessageFor('APPROVAL_FORBIDDEN'))
          : card.text;
    return { kind: 'error', statusCode, message, refusal };
  }

  private notice(title: string, ...lines: string[]): CardView {
    return { kind: 'notice', title, lines };
  }

  private async decideCardAction(turn: TurnInfo, action: CardAction): Promise<InvokeAnswer> {
    switch (action.verb) {
      case 'approval.decide':
        return this.decideApproval(turn, action.batchId, action.approvalId, action.decision);
      case 'approval.refresh': {
        const rec = await this.readRecord<ApprovalBatch>(approvalKey(action.batchId));
        if (!rec || !this.sameConversation(rec.value.conversation, turn))
          return this.refuse(
            this.notice('Approval request', userMessageFor('APPROVAL_NOT_FOUND')),
            'not_found',
          );
        const batch = await this.recoverOrphan(rec.value);
        const allowed = this.mayApprove(batch, turn.user);
        return {
          kind: 'card',
          card: this.approvalView(batch, turn.user, allowed ? undefined : this.waitingNotice(batch)),
        };
      }
      case 'consent.continue':
        return this.continueConsent(turn, action.consentId);
      case 'consent.refresh': {
        const rec = await this.readRecord<ConsentRecord>(consentKey(action.consentId));
        if (!rec || !this.sameConversation(rec.value.conversation, turn))
          return this.refuse(
            this.notice('Sign-in', 'This sign-in request is no longer available.'),
            'not_found',
          );
        const expired = rec.value.state === 'pending' && this.clock() > rec.value.expiresAt;
        return {
          kind: 'card',
          card: this.consentView(rec.value, turn.user, expired ? 'expired' : undefined),
        };
      }
      case 'consent.cancel': {
        const rec = await this.readRecord<ConsentRecord>(consentKey(action.consentId));
        if (!rec || !this.sameConversation(rec.value.conversation, turn))
          return this.refuse(
            this.notice('Sign-in', 'This sign-in request is no longer available.'),
            'not_found',
          );
        if (
          !this.mayCompleteConsent(rec.value, turn.user) &&
          turn.user.aadObjectId?.toLowerCase() !== rec.value.requester.aadObjectId?.toLowerCase()
        ) {
          return this.refuse(this.consentView(rec.value, turn.user), 'not_requester');
        }
        await this.setConsentState(action.consentId, 'cancelled');
        const after = await this.deps.store.get<ConsentRecord>(consentKey(action.consentId));
        return { kind: 'card', card: this.consentView(after?.value ?? rec.value, turn.user, 'cancelled') };
      }
      case 'retry': {
        if (!this.accepting) return { kind: 'message', text: userMessageFor('SHUTTING_DOWN') };
        const r = await this.handleMessage({ ...turn, activityId: `${turn.activityId}:retry` }, action.text);
        return { kind: 'message', text: r === 'busy' ? userMessageFor('FOUNDRY_BUSY') : 'Retrying…' };
      }
    }
  }

  private sameConversation(conv: ConversationInfo, turn: TurnInfo): boolean {
    return (
      conv.id === turn.conversation.id &&
      conv.tenantId.toLowerCase() === turn.conversation.tenantId.toLowerCase()
    );
  }

  private waitingNotice(batch: ApprovalBatch): string {
    return `Only ${batch.requester.name ?? 'the requester'} or a named approver can decide this request.`;
  }

  private async decideApproval(
    turn: TurnInfo,
    batchId: string,
    approvalId: string,
    decision: 'approve' | 'deny',
  ): Promise<InvokeAnswer> {
    const key = approvalKey(batchId);
    const rec = await this.readRecord<ApprovalBatch>(key);
    const audit = (result: string, extra: Record<string, unknown> = {}): void =>
      this.log.audit(result === 'decided' ? 'approval.decided' : 'approval.rejected', {
        batch: batchId,
        by: turn.user.aadObjectId ? hashId(turn.user.aadObjectId) : 'unknown',
        ...(result === 'decided' ? {} : { reason: result }),
        ...extra,
      });
    if (!rec) {
      audit('not_found');
      return this.refuse(this.notice('Approval request', userMessageFor('APPROVAL_NOT_FOUND')), 'not_found');
    }
    if (!this.sameConversation(rec.value.conversation, turn)) {
      audit('wrong_conversation');
      return this.refuse(
        this.notice('Approval request', userMessageFor('APPROVAL_NOT_FOUND')),
        'wrong_conversation',
      );
    }
    const batch = await this.recoverOrphan(rec.value);
    if (!turn.user.aadObjectId) {
      audit('no_identity');
      return this.refuse(
        this.approvalView(
          batch,
          turn.user,
          'Your identity could not be verified, so this click was ignored.',
        ),
        'no_identity',
      );
    }
    if (!this.mayApprove(batch, turn.user)) {
      audit('not_requester');
      return this.refuse(this.approvalView(batch, turn.user, this.waitingNotice(batch)), 'not_requester');
    }
    const targets =
      approvalId === '*'
        ? batch.items.filter((i) => !i.decision)
        : batch.items.filter((i) => i.approvalId === approvalId);
    if (targets.length === 0 && approvalId !== '*') {
      audit('not_found');
      return this.refuse(this.notice('Approval request', userMessageFor('APPROVAL_NOT_FOUND')), 'not_found');
    }
    if (batch.state !== 'pending' || targets.every((t) => t.decision)) {
      audit('already_decided');
      return this.refuse(
        this.approvalView(batch, turn.user, userMessageFor('APPROVAL_ALREADY_DECIDED')),
        'already_decided',
      );
    }
    const now = this.clock();
    if (now > batch.expiresAt) {
      const r = await updateRecord<ApprovalBatch>(this.deps.store, key, (cur) =>
        cur && cur.state === 'pending' ? { ...cur, state: 'expired' } : undefined,
      );
      audit('expired');
      const expired = r.value ?? batch;
      if (expired.cardActivityId) {
        const cardId = expired.cardActivityId;
        this.lanes.detach({
          run: () =>
            this.inConversation(expired.conversationRef, (io) =>
              this.safeUpdate(io, cardId, this.approvalView(expired, undefined)),
            ),
        });
      }
      return this.refuse(
        this.approvalView(expired, turn.user, userMessageFor('APPROVAL_EXPIRED')),
        'expired',
      );
    }
    // Compare-and-set: exactly one click wins each item, across instances (storage eTag).
    const wanted = new Set(targets.map((t) => t.approvalId));
    let won = false;
    let complete = false;
    let latest: ApprovalBatch = batch;
    try {
      const r = await updateRecord<ApprovalBatch>(this.deps.store, key, (cur) => {
        won = false;
        if (!cur || cur.state !== 'pending') return undefined;
        const items: ApprovalItem[] = cur.items.map((i) =>
          wanted.has(i.approvalId) && !i.decision
            ? {
                ...i,
                decision,
                decidedBy: {
                  aadObjectId: turn.user.aadObjectId ?? '',
                  ...(turn.user.name ? { name: turn.user.name } : {}),
                },
                decidedAt: now,
                reason: 'user',
              }
            : i,
        );
        if (items.every((i, n) => i.decision === cur.items[n]?.decision)) return undefined;
        won = true;
        complete = items.every((i) => i.decision);
        return complete
          ? { ...cur, items, state: 'submitting', submittingSince: now }
          : { ...cur, items, state: 'pending' };
      });
      if (r.value) latest = r.value;
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err;
    }
    if (!won) {
      audit('already_decided');
      const fresh = (await this.deps.store.get<ApprovalBatch>(key))?.value ?? latest;
      return this.refuse(
        this.approvalView(fresh, turn.user, userMessageFor('APPROVAL_ALREADY_DECIDED')),
        'already_decided',
      );
    }
    for (const t of targets) audit('decided', { decision, tool: `${t.serverLabel}.${t.toolName}` });
    if (complete) {
      const submitted = latest;
      this.runInThread(submitted.threadKey, {
        run: (signal) =>
          this.inConversation(submitted.conversationRef, (io) =>
            this.continueApprovals(submitted, io, signal),
          ),
      });
    } else if (latest.cardActivityId) {
      // Others see the partial decision too (the clicker gets it in the invoke answer).
      const cardId = latest.cardActivityId;
      const snapshot = latest;
      this.lanes.detach({
        run: () =>
          this.inConversation(snapshot.conversationRef, (io) =>
            this.safeUpdate(io, cardId, this.approvalView(snapshot, undefined)),
          ),
      });
    }
    return { kind: 'card', card: this.approvalView(latest, turn.user) };
  }

  private async continueApprovals(
    batch: ApprovalBatch,
    io: ConversationIO,
    signal: AbortSignal,
  ): Promise<void> {
    if (batch.cardActivityId)
      await this.safeUpdate(io, batch.cardActivityId, this.approvalView(batch, undefined));
    const lease = await this.waitForLease(batch.threadKey, `approval:${batch.batchId}`, signal);
    if (!lease) {
      await this.markBatch(batch.batchId, 'failed', io);
      await io.sendText(userMessageFor('FOUNDRY_BUSY'));
      return;
    }
    try {
      await updateRecord<ThreadState>(this.deps.store, batch.threadKey, (cur) => {
        if (!cur || cur.pendingApprovalBatchId !== batch.batchId) return undefined;
        const { pendingApprovalBatchId: _p, ...rest } = cur;
        return { ...rest, updatedAt: this.clock() };
      });
      const credential = await this.credential(batch.requester, batch.conversation.tenantId);
      await this.runTurn(
        io,
        batch.threadKey,
        batch.requester,
        { kind: 'approvals', batch },
        credential,
        signal,
        batch.round,
      );
      const after = (await this.deps.store.get<ApprovalBatch>(approvalKey(batch.batchId)))?.value;
      // The card leaves "Sending to the agent…" only once Foundry has answered (CARD-08).
      if (after?.state === 'submitting') await this.markBatch(batch.batchId, 'submitted', io);
    } catch (err) {
      await this.markBatch(batch.batchId, 'failed', io);
      await this.reportFailure(io, err, undefined);
    } finally {
      await this.releaseLease(batch.threadKey, `approval:${batch.batchId}`);
    }
  }

  /**
   * Card continuations run in their thread's lane, so in this instance they queue behind (and ahead of) that
   * thread's user turns instead of racing them; a full lane must not lose a decided continuation.
   */
  private runInThread(threadKey: string, job: Job): void {
    if (this.lanes.submit(threadKey, job) === 'full') this.lanes.detach(job);
  }

  /** Card continuations wait briefly for a running turn of the same thread instead of failing at once. */
  private async waitForLease(key: string, activityId: string, signal: AbortSignal): Promise<boolean> {
    for (let i = 0; i < 60; i++) {
      if ((await this.acquireLease(key, activityId)) !== undefined) return true;
      if (signal.aborted) return false;
      await new Promise((r) => setTimeout(r, 500));
    }
    return false;
  }

  private async continueConsent(turn: TurnInfo, consentId: string): Promise<InvokeAnswer> {
    const key = consentKey(consentId);
    const rec = await this.readRecord<ConsentRecord>(key);
    if (!rec || !this.sameConversation(rec.value.conversation, turn)) {
      return this.refuse(this.notice('Sign-in', 'This sign-in request is no longer available.'), 'not_found');
    }
    const record = rec.value;
    if (!this.mayCompleteConsent(record, turn.user)) {
      this.log.audit('consent.rejected', {
        consent: consentId,
        reason: record.shared ? 'not_admin' : 'not_requester',
      });
      return this.refuse(this.consentView(record, turn.user), record.shared ? 'not_admin' : 'not_requester');
    }
    if (record.state !== 'pending')
      return this.refuse(this.consentView(record, turn.user), 'already_decided');
    if (this.clock() > record.expiresAt) {
      await this.setConsentState(consentId, 'expired');
      return this.refuse(this.consentView({ ...record, state: 'expired' }, turn.user), 'expired');
    }
    let won = false;
    try {
      await this.deps.store.put<ConsentRecord>(
        key,
        { ...record, state: 'continuing' },
        { ifMatch: rec.etag },
      );
      won = true;
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err;
    }
    if (!won) return this.refuse(this.consentView(record, turn.user), 'already_decided');
    this.log.audit('consent.continued', { consent: consentId, by: hashId(turn.user.aadObjectId ?? '') });
    const continuing: ConsentRecord = { ...record, state: 'continuing' };
    this.runInThread(record.threadKey, {
      run: (signal) =>
        this.inConversation(record.conversationRef, async (io) => {
          const lease = await this.waitForLease(record.threadKey, `consent:${consentId}`, signal);
          if (!lease) {
            await io.sendText(userMessageFor('FOUNDRY_BUSY'));
            return;
          }
          try {
            const credential = await this.credential(record.requester, record.conversation.tenantId);
            await this.runTurn(
              io,
              record.threadKey,
              record.requester,
              { kind: 'consent', record: continuing },
              credential,
              signal,
              0,
            );
          } catch (err) {
            await this.reportFailure(io, err, undefined);
          } finally {
            await this.releaseLease(record.threadKey, `consent:${consentId}`);
          }
        }),
    });
    return { kind: 'card', card: this.consentView(continuing, turn.user, 'signed_in') };
  }

  // ───────────────────────────── commands and failures ─────────────────────────────

  private async runCommand(command: string, turn: TurnInfo, io: ConversationIO): Promise<void> {
    const key = this.key(turn);
    switch (command) {
      case 'new': {
        const credential = await this.credential(turn.user, turn.conversation.tenantId).catch(
          () => undefined,
        );
        if (credential) await this.closePending(key, io, credential, 'reset');
        await updateRecord<ThreadState>(this.deps.store, key, (cur) =>
          cur ? { v: 1, ...(cur.busy ? { busy: cur.busy } : {}), updatedAt: this.clock() } : undefined,
        );
        await io.sendText('Started a new conversation with the agent. Earlier context is forgotten.');
        return;
      }
      case 'status': {
        const state = (await this.deps.store.get<ThreadState>(key))?.value;
        const read = state?.pendingApprovalBatchId
          ? (await this.readRecord<ApprovalBatch>(approvalKey(state.pendingApprovalBatchId)))?.value
          : undefined;
        const batch = read ? await this.recoverOrphan(read, io) : undefined;
        const pendingApprovals =
          batch?.state === 'pending' ? batch.items.filter((i) => !i.decision).length : 0;
        const consent = state?.pendingConsentId
          ? (await this.readRecord<ConsentRecord>(consentKey(state.pendingConsentId)))?.value
          : undefined;
        await io.sendCard(
          this.notice(
            'Status',
            `Agent: ${this.s.agentName}${this.s.agentVersion ? ` (version ${this.s.agentVersion})` : ' (active version)'}`,
            `Threading: ${this.s.threading === 'conversation' ? 'Foundry conversation' : 'previous_response_id chain'}`,
            `Identity: ${this.s.identityMode === 'user' ? 'individual (the agent acts as you)' : 'shared (the agent acts as the bot; sign-ins are shared)'}`,
            `Pending approvals: ${pendingApprovals}`,
            `Pending sign-in: ${consent?.state === 'pending' ? consent.services.map((s) => s.serverLabel ?? 'a tool').join(', ') : 'none'}`,
            `Conversation: ${state?.lastResponseId || state?.foundryConversationId ? 'in progress' : 'new'}`,
          ),
        );
        return;
      }
      default:
        await io.sendCard(this.helpCard('Here is what I can do.'));
    }
  }

  private helpCard(intro: string): CardView {
    const lines = [
      intro,
      'Just write your question; in group chats and channels, @mention me.',
      '/new: start a fresh conversation with the agent',
      '/status: show the agent, the modes and anything pending',
      '/help: show this help',
    ];
    if (this.s.welcomePrompts.length > 0)
      lines.push(`Try: ${this.s.welcomePrompts.map((p) => `"${p}"`).join(', ')}`);
    return this.notice('Foundry Agent', ...lines);
  }

  private errorCard(code: BotErrorCode, correlationId: string, retryText: string | undefined): CardView {
    return {
      kind: 'error',
      code,
      text: userMessageFor(code),
      correlationId,
      ...(retryText !== undefined && isRetryable(code) ? { retryText } : {}),
    };
  }

  private async reportFailure(
    io: ConversationIO,
    err: unknown,
    retryText: string | undefined,
  ): Promise<void> {
    const error = isBotError(err) ? err : new BotError('INTERNAL', 'unexpected failure', { cause: err });
    const correlationId = newCorrelationId();
    this.log.error('turn.error', {
      correlationId,
      code: error.code,
      err: isBotError(err) ? err : { name: (err as Error | undefined)?.name ?? 'unknown' },
    });
    try {
      await io.sendCard(this.errorCard(error.code, correlationId, retryText));
    } catch (sendErr) {
      this.log.error('turn.error_not_delivered', { correlationId, err: sendErr });
    }
  }
}
