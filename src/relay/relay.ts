import { randomBytes } from 'node:crypto';
import { BotError, needsSignIn, userMessageFor } from '../errors';
import { hashId, type Logger } from '../observability/logger';
import { Telemetry } from '../observability/telemetry';
import { StoreConflictError } from '../storage/store';
import type { CardAction, MessageResult, RelayApi, RelayDeps, SignInProof, TurnInfo } from './api';
import { isStorageUnavailable } from '../storage/unavailable';
import { ApprovalClicks, type UnknownDecision } from './approvals/decide';
import { ApprovalFlow } from './approvals/flow';
import { commandOf, Commands, helpCard } from './commands';
import { ConsentFlow } from './consent/flow';
import { RelayContext } from './context';
import { Deduper } from './dedupe';
import { welcomeKey } from './keys';
import { Lanes } from './lanes';
import type { Actor, ApprovalBatch, ConsentRecord, ConversationInfo } from './model';
import { reportFailure } from './failures';
import { PendingWork } from './pending';
import type { ConversationIO } from './ports';
import { SignInReplay } from './signin';
import { TEXT } from './texts';
import { ThreadLease } from './thread-lease';
import { ThreadStore } from './thread-store';
import { TurnLoop } from './turn-loop';
import { TurnRunner } from './turn-runner';
import type { InvokeAnswer } from './views';

/**
 * The relay's front door (design "A turn, step by step" and "Card click"). SDK-free: Teams is reached only
 * through ConversationIO / ProactiveRunner, Foundry through FoundryClient, state through StateStore.
 *
 * Inbound activities are deduped here, then routed: messages and commands to the turn loop, card clicks to
 * the approval and consent flows. Every turn and continuation runs as a job outside the inbound HTTP request
 * (Teams re-sends requests slower than ~15 s), serialised per Foundry thread in-process (lanes.ts) and by a
 * durable busy lease across instances (thread-lease.ts).
 */
export class Relay implements RelayApi {
  private readonly ctx: RelayContext;
  private readonly lanes: Lanes;
  private readonly dedupe: Deduper;
  private readonly log: Logger;
  private readonly loop: TurnLoop;
  private readonly commands: Commands;
  private readonly approvals: ApprovalFlow;
  private readonly clicks: ApprovalClicks;
  private readonly consent: ConsentFlow;
  private readonly signIn: SignInReplay;
  private accepting = true;

  constructor(deps: RelayDeps) {
    const clock = deps.clock ?? Date.now;
    this.log = deps.log.child('relay');
    this.lanes = new Lanes(deps.settings.maxQueuedTurns, (err) => this.log.error('job.failed', { err }));
    this.dedupe = new Deduper(deps.store, deps.settings.dedupeTtlMs, clock);
    const { settings, foundry, store, identity, proactive } = deps;
    const telemetry = deps.telemetry ?? new Telemetry();
    this.ctx = new RelayContext(
      settings,
      foundry,
      store,
      identity,
      this.log,
      clock,
      proactive,
      this.lanes,
      telemetry,
      deps.diagnostics,
    );
    const threads = new ThreadStore(store, clock);
    const lease = new ThreadLease(store, clock, deps.instanceId ?? randomBytes(4).toString('hex'), this.log);
    this.approvals = new ApprovalFlow(this.ctx, threads, lease);
    this.clicks = new ApprovalClicks(this.ctx, this.approvals);
    this.consent = new ConsentFlow(this.ctx, threads, lease);
    this.signIn = new SignInReplay(clock);
    const pending = new PendingWork(threads, this.approvals, this.consent);
    const runner = new TurnRunner(this.ctx, threads);
    this.loop = new TurnLoop(this.ctx, runner, lease, pending, this.approvals, this.consent, this.signIn);
    this.commands = new Commands(this.ctx, threads, pending, this.approvals);
  }

  /**
   * A user message (mention already removed). Duplicates (same conversation + activity id) start nothing.
   * Never waits on storage: this instance's in-memory claim is taken here, the durable one first thing in the
   * job, so the inbound request is answered at once whatever the store does (docs/storage.md).
   */
  // eslint-disable-next-line @typescript-eslint/require-await -- async: callers rely on a rejected promise
  async handleMessage(turn: TurnInfo, rawText: string): Promise<MessageResult> {
    if (!this.dedupe.claimLocal(turn.conversation.id, turn.activityId)) {
      this.log.info('inbound.duplicate', { kind: 'message', activity: hashId(turn.activityId) });
      return 'duplicate';
    }
    const text = rawText.trim();
    const key = this.loop.keyOf(turn);
    const command = commandOf(text);
    if (command) {
      this.ctx.later(turn.reference, async (io) => {
        if (await this.claimed(turn, io, text)) await this.commands.run(command, turn, io, key);
      });
      return 'command';
    }
    if (!this.accepting) throw new BotError('SHUTTING_DOWN', 'not accepting new turns');
    const result = this.lanes.submit(key, {
      run: (signal) =>
        this.ctx.inConversation(turn.reference, async (io) => {
          if (await this.claimed(turn, io, text)) await this.loop.userTurn(turn, text, io, signal);
        }),
      dropped: () =>
        this.ctx.inConversation(turn.reference, (io) => io.sendText(userMessageFor('SHUTTING_DOWN'))),
    });
    if (result !== 'full') return result;
    this.ctx.later(turn.reference, async (io) => {
      if (await this.claimed(turn, io, text)) await io.sendText(userMessageFor('FOUNDRY_BUSY'));
    });
    return 'busy';
  }

  /**
   * The durable dedupe claim of a message, first thing in its job. False for a duplicate (an earlier delivery
   * or another instance took it), or when the store cannot be reached: then the user is told so, with a Retry
   * button, and nothing else happens (no turn starts without its claim, so none can run twice).
   */
  private async claimed(turn: TurnInfo, io: ConversationIO, text: string): Promise<boolean> {
    try {
      const claim = await this.dedupe.claimDurable(turn.conversation.id, turn.activityId);
      if (!claim.first)
        this.log.info('inbound.duplicate', { kind: 'message', activity: hashId(turn.activityId) });
      return claim.first;
    } catch (err) {
      await reportFailure(io, this.log, err, text);
      return false;
    }
  }

  /**
   * A card click, answered at once; a duplicate invoke gets the first one's answer. While the store cannot
   * be reached the click changes nothing and is answered with that reason (each store call has a deadline).
   */
  async handleCardAction(turn: TurnInfo, action: CardAction): Promise<InvokeAnswer> {
    try {
      const claim = await this.dedupe.claim(turn.conversation.id, turn.activityId);
      if (!claim.first) {
        this.log.info('inbound.duplicate', { kind: 'invoke', activity: hashId(turn.activityId) });
        if (claim.answer !== undefined) return claim.answer as InvokeAnswer;
        return { kind: 'message', text: TEXT.clickInProgress };
      }
      const answer = await this.route(turn, action);
      await this.dedupe
        .recordAnswer(turn.conversation.id, turn.activityId, answer)
        .catch((err: unknown) => this.log.warn('dedupe.answer_not_stored', { err }));
      return answer;
    } catch (err) {
      if (!isStorageUnavailable(err)) throw err;
      this.log.warn('card.storage_unavailable', { verb: action.verb, reason: err.details['reason'] });
      return { kind: 'message', text: userMessageFor('STORAGE_UNAVAILABLE') };
    }
  }

  private async route(turn: TurnInfo, action: CardAction): Promise<InvokeAnswer> {
    switch (action.verb) {
      case 'approval.decide': {
        const r = await this.clicks.decide(turn, action.batchId, action.approvalId, action.decision);
        if (r.submitted) this.continueApprovals(r.submitted);
        const unknown = r.unknown;
        if (unknown) this.ctx.background((signal) => this.resolveUnknown(unknown, signal));
        return r.answer;
      }
      case 'approval.refresh':
        return this.clicks.refresh(turn, action.batchId);
      case 'consent.continue': {
        const r = await this.consent.continueClick(turn, action.consentId);
        if (r.continuing) this.continueConsent(r.continuing);
        return r.answer;
      }
      case 'consent.refresh':
        return this.consent.refresh(turn, action.consentId);
      case 'consent.cancel':
        return this.consent.cancel(turn, action.consentId);
      case 'retry': {
        if (!this.accepting) return { kind: 'message', text: userMessageFor('SHUTTING_DOWN') };
        const r = await this.handleMessage({ ...turn, activityId: `${turn.activityId}:retry` }, action.text);
        return { kind: 'message', text: r === 'busy' ? userMessageFor('FOUNDRY_BUSY') : TEXT.retrying };
      }
    }
  }

  private continueApprovals(batch: ApprovalBatch): void {
    const id = `approval:${batch.batchId}`;
    this.ctx.runInThread(batch.threadKey, {
      run: (signal) =>
        this.ctx.inConversation(batch.conversationRef, (io) =>
          this.approvals
            .continue(batch, io, signal, this.loop.run)
            .catch((err: unknown) =>
              this.signInThenResume(err, io, batch.requester, batch.conversation, id, () =>
                this.continueApprovals(batch),
              ),
            ),
        ),
    });
  }

  /** A winning write whose answer was lost to an outage: continue once the store shows it landed (decide.ts). */
  private async resolveUnknown(unknown: UnknownDecision, signal: AbortSignal): Promise<void> {
    const batch = await this.clicks.landed(unknown, signal);
    if (batch) this.continueApprovals(batch);
  }

  private continueConsent(record: ConsentRecord): void {
    const id = `consent:${record.consentId}`;
    this.ctx.runInThread(record.threadKey, {
      run: (signal) =>
        this.ctx.inConversation(record.conversationRef, (io) =>
          this.consent
            .continue(record, io, signal, this.loop.run)
            .catch((err: unknown) =>
              this.signInThenResume(err, io, record.requester, record.conversation, id, () =>
                this.continueConsent(record),
              ),
            ),
        ),
    });
  }

  /** A card continuation whose sign-in lapsed: a sign-in card now, the same continuation once signed in. */
  private async signInThenResume(
    err: unknown,
    io: ConversationIO,
    user: Actor,
    conversation: ConversationInfo,
    id: string,
    resume: () => void,
  ): Promise<void> {
    const waiting = { kind: 'resume', id, conversationId: conversation.id, resume } as const;
    if (needsSignIn(err) && (await this.signIn.ask(io, user, err, waiting, this.log))) return;
    await reportFailure(io, this.log, err, undefined);
  }

  /**
   * User mode: the user signed in — Teams' silent SSO (`signin/tokenExchange`, `proof.kind = 'sso'`) or the
   * bot's own sign-in page (`signin/verifyState`, `proof.kind = 'page'`). Hands the proof to the identity
   * provider, then replays what waited for this user's sign-in (their message, possibly in a group chat, and
   * card continuations). Throws BotError('TENANT_NOT_ALLOWED' | 'IDENTITY_UNAVAILABLE' | 'SIGNIN_…') when the
   * sign-in cannot be used.
   */
  async acceptSignIn(turn: TurnInfo, proof: SignInProof): Promise<'signed_in' | 'replayed'> {
    const identity = this.ctx.identity;
    const tenantId = turn.conversation.tenantId;
    if (proof.kind === 'sso' && identity.acceptSsoToken)
      await identity.acceptSsoToken(turn.user, tenantId, proof.token);
    else if (proof.kind === 'page' && identity.acceptPageSignIn)
      await identity.acceptPageSignIn(turn.user, tenantId, proof.state, turn.conversation.id);
    else throw new BotError('IDENTITY_UNAVAILABLE', 'this bot does not use Teams sign-in');
    const waiting = this.signIn.take(turn.user);
    for (const w of waiting) {
      if (w.kind === 'resume') w.resume();
      else await this.handleMessage({ ...w.turn, activityId: `${w.turn.activityId}#signin` }, w.text);
    }
    return waiting.length > 0 ? 'replayed' : 'signed_in';
  }

  /**
   * The welcome card on install, once per conversation: a create-only record under welcomeKey claims it. When
   * the store cannot be reached the welcome is skipped (a missed welcome costs less than one repeated on every
   * re-sent install event) and the outage is logged.
   */
  async welcome(io: ConversationIO): Promise<void> {
    try {
      await this.ctx.store.put(
        welcomeKey(io.conversation.id),
        { v: 1, at: this.ctx.clock() },
        { ifNoneMatch: true },
      );
    } catch (err) {
      if (!(err instanceof StoreConflictError)) this.log.warn('welcome.store_unavailable', { err });
      return;
    }
    await io.sendCard(helpCard(this.ctx.settings, TEXT.welcome));
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
}
