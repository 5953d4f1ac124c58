import { isBotError, userMessageFor } from '../errors';
import { hashId } from '../observability/logger';
import type { TurnInfo } from './api';
import type { ApprovalFlow } from './approvals/flow';
import { declinedTool, type ConsentFlow } from './consent/flow';
import type { RelayContext } from './context';
import { finishOrError, reportFailure } from './failures';
import { threadKey } from './keys';
import type { ConversationIO } from './ports';
import type { PendingWork } from './pending';
import type { SignInReplay } from './signin';
import { TEXT } from './texts';
import type { ThreadLease } from './thread-lease';
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
    const held = await this.lease.acquire(key, turn.activityId);
    if (!held) {
      await io.sendText(userMessageFor('FOUNDRY_BUSY'));
      return;
    }
    try {
      const credential = await this.ctx.identity.credentialFor(turn.user, turn.conversation.tenantId);
      await this.pending.close(key, io, credential, 'superseded', held);
      await this.run({ io, key, requester: turn.user, credential, signal }, { kind: 'message', text }, 0);
    } catch (err) {
      if (isBotError(err, 'IDENTITY_UNAVAILABLE') && io.requestSignIn && turn.user.aadObjectId) {
        this.signIn.remember(turn, text);
        this.ctx.log.info('identity.signin_requested', { user: hashId(turn.user.aadObjectId) });
        await io.requestSignIn(turn.user);
      } else await reportFailure(io, this.ctx.log, err, text);
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
    switch (result.kind) {
      case 'needs_consent':
        await this.finishBefore(result, TEXT.signInNeeded);
        await this.consent.open(scope, result.outcome, what, round);
        return;
      case 'needs_approval':
        await this.finishBefore(result, TEXT.approvalNeeded);
        if (round >= MAX_ROUNDS) await scope.io.sendText(TEXT.approvalLoop);
        else await this.approvals.open(scope, result.outcome, round);
        return;
      case 'answered':
        return this.answered(scope, what, result);
    }
  };

  /** Text streamed before a card stays as a message; without text the stream closes with `note`. */
  private async finishBefore(result: Ended, note: string): Promise<void> {
    if (result.partial.text.length > 0) await result.answer.finish(result.partial);
    else await result.answer.abandon(note);
  }

  private async answered(scope: TurnScope, what: TurnKind, result: Ended): Promise<void> {
    const { answer, partial, outcome } = result;
    if (partial.text.length === 0) {
      const declined = what.kind === 'consent' ? declinedTool(outcome) : undefined;
      await answer.abandon();
      await scope.io.sendText(declined ? TEXT.declinedTool(declined) : TEXT.noAnswer);
      return;
    }
    const truncated = outcome.status === 'incomplete' && outcome.incompleteReason;
    await answer.finish({ ...partial, ...(truncated ? { note: 'truncated' as const } : {}) });
  }

  private async failed(scope: TurnScope, what: TurnKind, round: number, result: Failed): Promise<void> {
    const { error, answer } = result;
    if (what.kind === 'approvals' && result.raised)
      await this.approvals.mark(what.batch.batchId, 'failed', scope.io);
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
      answer,
      error.code,
      { ...result.partial, correlationId: result.correlationId },
      retryText,
    );
  }
}
