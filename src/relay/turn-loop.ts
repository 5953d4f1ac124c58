import { BotError, needsSignIn, userMessageFor } from '../errors';
import type { TurnInfo } from './api';
import type { ApprovalFlow } from './approvals/flow';
import { declinedTool, type ConsentFlow } from './consent/flow';
import type { RelayContext } from './context';
import { finishOrError, reportFailure, reportUndelivered } from './failures';
import { threadKey } from './keys';
import type { ConversationIO } from './ports';
import type { PendingWork } from './pending';
import type { SignInReplay } from './signin';
import { TEXT } from './texts';
import type { ThreadLease } from './thread-lease';
import { toolLabel } from './tool-progress';
import { traceTurn, type TurnTrace } from './turn-telemetry';
import { MAX_ROUNDS, type TurnKind, type TurnResult, type TurnRunner, type TurnScope } from './turn-runner';

type Ended = Extract<TurnResult, { kind: 'answered' | 'needs_consent' | 'needs_approval' }>;
type Failed = Extract<TurnResult, { kind: 'failed' }>;

/**
 * The turn loop: a user message in its thread's lease, then one Foundry response after another until the
 * turn has its answer or stops for a sign-in or an approval. Card continuations re-enter through `run`.
 */
export class TurnLoop {
  constructor(
    private readonly ctx: RelayContext,
    private readonly runner: TurnRunner,
    private readonly lease: ThreadLease,
    private readonly pending: PendingWork,
    private readonly approvals: ApprovalFlow,
    private readonly consent: ConsentFlow,
    private readonly signIn: SignInReplay,
  ) {}

  keyOf(turn: Pick<TurnInfo, 'conversation' | 'user'>): string {
    return threadKey(turn.conversation, turn.user, this.ctx.settings.identityMode);
  }

  /** A user's message: closes what the thread had open, then runs the turn (or asks the user to sign in). */
  async userTurn(turn: TurnInfo, text: string, io: ConversationIO, signal: AbortSignal): Promise<void> {
    const key = this.keyOf(turn);
    let held;
    try {
      held = await this.lease.acquire(key, turn.activityId);
    } catch (err) {
      // The store cannot be reached (or lost every race): the user hears why; no lease is held by this job.
      await reportFailure(io, this.ctx.log, err, text);
      return;
    }
    if (!held) {
      await io.sendText(userMessageFor('FOUNDRY_BUSY'));
      return;
    }
    try {
      const credential = await this.ctx.identity.credentialFor(turn.user, turn.conversation.tenantId);
      await this.pending.close(key, io, credential, 'superseded', held);
      await this.run({ io, key, requester: turn.user, credential, signal }, { kind: 'message', text }, 0);
    } catch (err) {
      const waiting = { kind: 'message', turn, text } as const;
      if (!(needsSignIn(err) && (await this.signIn.ask(io, turn.user, err, waiting, this.ctx.log))))
        await reportFailure(io, this.ctx.log, err, text);
    } finally {
      await this.lease.release(key, turn.activityId);
    }
  }

  /** One Foundry response and what follows from it, in its `relay.turn` span (turn-telemetry.ts). */
  readonly run = (scope: TurnScope, what: TurnKind, round: number): Promise<void> =>
    traceTurn(this.ctx, scope, what, round, (s, t) => this.round(s, what, round, t));

  private readonly round = async (
    scope: TurnScope,
    what: TurnKind,
    round: number,
    trace: TurnTrace,
  ): Promise<void> => {
    const result = trace.ran(await this.runner.run(scope, what, round));
    if (result.kind === 'cancelled') return;
    if (result.kind === 'failed') return this.failed(scope, what, round, result);
    if (what.kind === 'consent') await this.consent.settle(what.record, result.outcome, scope.io);
    if (what.kind === 'approvals')
      await this.consent.settleLinked(scope.key, what.batch.batchId, result.outcome, scope.io);
    switch (result.kind) {
      case 'needs_consent':
        await this.finishBefore(scope, result, TEXT.signInNeeded);
        if (result.outcome.approvals.length > 0 && round < MAX_ROUNDS) {
          // Sign-in and approvals in one response: both cards. The approval continuation answers every
          // request; "I've signed in" waits for it (consent/flow.ts), so no request is ever left unanswered.
          const batchId = await this.approvals.open(scope, result.outcome, round);
          await this.consent.open(scope, result.outcome, what, round, batchId);
        } else await this.consent.open(scope, result.outcome, what, round);
        return;
      case 'needs_approval':
        await this.finishBefore(scope, result, TEXT.approvalNeeded);
        if (round >= MAX_ROUNDS) await scope.io.sendText(TEXT.approvalLoop);
        else await this.approvals.open(scope, result.outcome, round);
        return;
      case 'answered':
        return this.answered(scope, what, result);
    }
  };

  /** Text streamed before a card stays as a message; without text the stream closes with `note`. */
  private async finishBefore(scope: TurnScope, result: Ended, note: string): Promise<void> {
    if (result.partial.text.length === 0) return result.answer.abandon(note);
    const outcome = await result.answer.finish(result.partial);
    await reportUndelivered(scope.io, this.ctx.log, outcome, result.correlationId, undefined);
  }

  private async answered(scope: TurnScope, what: TurnKind, result: Ended): Promise<void> {
    const { answer, partial, outcome } = result;
    const declined = what.kind === 'consent' ? declinedTool(outcome) : undefined;
    const lapsed = declined ? undefined : outcome.toolCalls.find((c) => c.error?.signInRequired);
    if (partial.text.length === 0) {
      await answer.abandon();
      await scope.io.sendText(
        declined ? TEXT.declinedTool(declined) : lapsed ? TEXT.signInAgain(toolLabel(lapsed)) : TEXT.noAnswer,
      );
      return;
    }
    const truncated = outcome.status === 'incomplete' && outcome.incompleteReason;
    const delivered = await answer.finish({
      ...partial,
      ...(truncated ? { note: 'truncated' as const } : {}),
    });
    const retryText = what.kind === 'message' ? what.text : undefined;
    await reportUndelivered(scope.io, this.ctx.log, delivered, result.correlationId, retryText);
    // The agent may explain the failure in its own words; how to fix it is ours to say.
    if (lapsed) await scope.io.sendText(TEXT.signInAgain(toolLabel(lapsed)));
  }

  /**
   * The thread's previous response or Foundry conversation is gone (expired, deleted): forget it, so later
   * messages work, and answer a message once in a fresh thread with one line saying the earlier context
   * could not be continued. A fresh thread that is "not found" at once means the agent itself is missing.
   */
  private async threadGone(scope: TurnScope, what: TurnKind, round: number, result: Failed): Promise<void> {
    await this.runner.forgetThread(scope.key);
    this.ctx.log.warn('thread.reset', {
      reason: 'not_found',
      kind: what.kind,
      fresh: what.kind === 'message' && what.fresh === true,
    });
    if (what.kind === 'message' && !what.fresh) {
      await result.answer.abandon();
      await scope.io.sendText(TEXT.threadRestarted);
      await this.run(scope, { ...what, fresh: true }, round);
      return;
    }
    const code = what.kind === 'message' ? 'FOUNDRY_NOT_FOUND' : 'FOUNDRY_THREAD_NOT_FOUND';
    const retryText = what.kind === 'message' ? what.text : undefined;
    await finishOrError(
      scope.io,
      this.ctx.log,
      result.answer,
      code,
      { ...result.partial, correlationId: result.correlationId },
      retryText,
    );
  }

  private async failed(scope: TurnScope, what: TurnKind, round: number, result: Failed): Promise<void> {
    const { error, answer } = result;
    const signIn = this.signInAgain(scope, error);
    if (signIn) {
      // Nothing of this request was processed: the caller asks the user to sign in and resumes afterwards.
      if (result.partial.text.length > 0) await answer.finish({ ...result.partial, note: 'interrupted' });
      else await answer.abandon();
      throw signIn;
    }
    if (what.kind === 'approvals' && result.raised)
      await this.approvals.mark(what.batch.batchId, 'failed', scope.io);
    if (error.code === 'FOUNDRY_THREAD_NOT_FOUND') return this.threadGone(scope, what, round, result);
    if (error.code === 'FOUNDRY_UNANSWERED_APPROVALS' && what.kind === 'message' && round === 0) {
      // Foundry still holds approval requests we no longer track: deny them, then send the message again.
      await answer.abandon();
      if (await this.approvals.denyOrphans(scope.key, error, scope.credential, result.thread)) {
        await this.run(scope, what, round + 1);
        return;
      }
    }
    const retryText = what.kind === 'message' ? what.text : undefined;
    await finishOrError(
      scope.io,
      this.ctx.log,
      answer,
      error.code,
      { ...result.partial, correlationId: result.correlationId },
      retryText,
    );
  }

  /**
   * User mode: a lapsed sign-in, or Foundry refusing the user's token (401), means "sign in again": the cached
   * token is dropped first so the next sign-in really exchanges a new one.
   */
  private signInAgain(scope: TurnScope, error: BotError): BotError | undefined {
    if (this.ctx.settings.identityMode !== 'user') return undefined;
    if (needsSignIn(error)) return error;
    if (error.code !== 'FOUNDRY_UNAUTHORIZED') return undefined;
    this.ctx.identity.forget?.(scope.requester, scope.io.conversation.tenantId);
    return new BotError('SIGNIN_REJECTED_BY_FOUNDRY', 'Foundry refused the user token', { cause: error });
  }
}
