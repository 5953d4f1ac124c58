import type { TokenCredential } from '@azure/identity';
import { BotError, isBotError } from '../errors';
import type { ApprovalDecision, Thread, TurnInput, TurnOutcome } from '../foundry/types';
import { newCorrelationId, type Logger } from '../observability/logger';
import type { RelayContext } from './context';
import type { Actor, ApprovalBatch, ConsentRecord, FinalAnswer } from './model';
import type { AnswerStream, ConversationIO } from './ports';
import { TEXT } from './texts';
import type { ThreadStore } from './thread-store';
import { ToolProgress } from './tool-progress';

/** Bound on approval/consent rounds in one user turn (a continuation may ask again, in a loop). */
export const MAX_ROUNDS = 8;

/** What a Foundry turn sends: the user's message, or the continuation of a card. */
export type TurnKind =
  /** `fresh`: the message is re-sent in a new thread because the old one is gone (sent at most once). */
  | { kind: 'message'; text: string; fresh?: true }
  | { kind: 'approvals'; batch: ApprovalBatch; decisions: ApprovalDecision[] }
  | { kind: 'consent'; record: ConsentRecord };

/** Where a turn runs and as whom. */
export interface TurnScope {
  io: ConversationIO;
  /** The thread record's key (keys.ts threadKey). */
  key: string;
  requester: Actor;
  credential: TokenCredential;
  /** Aborted when the shutdown drain runs out. */
  signal: AbortSignal;
}

interface Streamed {
  answer: AnswerStream;
  correlationId: string;
  /** The answer as far as it got (the final text and citations once the response ended). */
  partial: Omit<FinalAnswer, 'note' | 'correlationId'>;
}

/** Runs a turn and what follows it (the turn loop's `run`); handed to card continuations as a parameter. */
export type RunTurn = (scope: TurnScope, what: TurnKind, round: number) => Promise<void>;

/**
 * How one Foundry response ended. The runner streamed whatever text came and saved the response id; it
 * shows nothing else: the turn loop (turn-loop.ts) decides what the user sees next.
 */
export type TurnResult =
  | { kind: 'cancelled' }
  /** `raised`: the request or stream threw; otherwise Foundry answered with a failed response. */
  | (Streamed & { kind: 'failed'; error: BotError; thread: Thread; raised: boolean })
  | (Streamed & { kind: 'answered' | 'needs_consent' | 'needs_approval'; outcome: TurnOutcome });

/** Streams one Foundry response into the conversation (design "A turn, step by step"). */
export class TurnRunner {
  private readonly log: Logger;

  constructor(
    private readonly ctx: RelayContext,
    private readonly threads: ThreadStore,
  ) {
    this.log = ctx.log;
  }

  async run(scope: TurnScope, what: TurnKind, round: number): Promise<TurnResult> {
    const thread = await this.threadFor(scope, what);
    const correlationId = newCorrelationId();
    const log = this.log.child('turn', { correlationId, kind: what.kind, round });
    const answer = scope.io.beginAnswer();
    answer.informative(what.kind === 'message' ? TEXT.asking : TEXT.continuing);
    const ac = new AbortController();
    const abort = (): void => ac.abort();
    answer.cancelled.addEventListener('abort', abort);
    scope.signal.addEventListener('abort', abort);
    const partial: Streamed['partial'] = { text: '', citations: [] };
    const seen: { responseId?: string; outcome?: TurnOutcome } = {};
    const started = this.ctx.clock();
    try {
      await this.stream(scope, what, thread, ac.signal, answer, partial, seen);
    } catch (err) {
      if (answer.cancelled.aborted) {
        log.info('turn.user_cancelled', { ms: this.ctx.clock() - started });
        if (seen.responseId) await this.threads.saveResponse(scope.key, seen.responseId, thread);
        return { kind: 'cancelled' };
      }
      const error = scope.signal.aborted
        ? new BotError('SHUTTING_DOWN', 'drain timeout', { cause: err })
        : isBotError(err)
          ? err
          : new BotError('INTERNAL', 'unexpected failure', { cause: err });
      log.warn('turn.failed', { code: error.code, details: error.details, ms: this.ctx.clock() - started });
      return { kind: 'failed', error, thread, raised: true, answer, correlationId, partial };
    } finally {
      answer.cancelled.removeEventListener('abort', abort);
      scope.signal.removeEventListener('abort', abort);
    }
    const outcome = seen.outcome;
    if (!outcome) {
      await answer.abandon();
      return { kind: 'cancelled' };
    }
    await this.threads.saveResponse(scope.key, outcome.responseId, thread, outcome.conversationId);
    log.info('turn.ended', {
      status: outcome.status,
      ms: this.ctx.clock() - started,
      consents: outcome.consents.length,
      approvals: outcome.approvals.length,
      tools: outcome.toolCalls.length,
      chars: outcome.text.length,
    });
    return this.classify(outcome, { answer, correlationId, partial }, thread, log);
  }

  private classify(outcome: TurnOutcome, streamed: Streamed, thread: Thread, log: Logger): TurnResult {
    const partial = {
      text: outcome.text.length > 0 ? outcome.text : streamed.partial.text,
      citations: outcome.citations.length > 0 ? outcome.citations : streamed.partial.citations,
    };
    const base = { ...streamed, partial };
    if (outcome.status === 'failed' && outcome.consents.length === 0) {
      log.warn('turn.response_failed', { code: outcome.error?.code });
      // A tool whose user token lapsed or was revoked: ask for a new sign-in, not a generic failure.
      const lapsed =
        outcome.error?.code === 'tool_user_error' || outcome.toolCalls.some((c) => c.error?.signInRequired);
      const error = lapsed
        ? new BotError('TOOL_SIGNIN_REQUIRED', 'a tool needs the user to sign in again')
        : new BotError('FOUNDRY_FAILED', 'response failed');
      return { ...base, kind: 'failed', error, thread, raised: false };
    }
    if (outcome.consents.length > 0) return { ...base, kind: 'needs_consent', outcome };
    if (outcome.approvals.length > 0) return { ...base, kind: 'needs_approval', outcome };
    return { ...base, kind: 'answered', outcome };
  }

  private async stream(
    scope: TurnScope,
    what: TurnKind,
    thread: Thread,
    signal: AbortSignal,
    answer: AnswerStream,
    partial: Streamed['partial'],
    seen: { responseId?: string; outcome?: TurnOutcome },
  ): Promise<void> {
    const events = this.ctx.foundry.streamTurn(
      { agent: this.ctx.agent(), thread, input: this.inputFor(what) },
      { credential: scope.credential, signal, ...(what.kind === 'approvals' ? { maxRetries: 0 } : {}) },
    );
    const tools = new ToolProgress(answer, this.ctx.clock, this.ctx.settings.toolProgressIntervalMs);
    try {
      for await (const ev of events) {
        if (ev.type === 'turn.started') seen.responseId = ev.responseId;
        else if (ev.type === 'text.delta') {
          tools.stop();
          partial.text += ev.text;
          answer.text(ev.text);
        } else if (ev.type === 'citation') partial.citations.push(ev.citation);
        else if (ev.type === 'tool.progress') tools.onTool(ev.call);
        else if (ev.type === 'turn.end') seen.outcome = ev.outcome;
      }
    } finally {
      tools.stop();
    }
  }

  /** Forgets the thread's Foundry ids (the previous response or conversation is gone); keeps the lease. */
  forgetThread(key: string): Promise<void> {
    return this.threads.reset(key);
  }

  private inputFor(what: TurnKind): TurnInput {
    switch (what.kind) {
      case 'message':
        return { kind: 'text', text: what.text };
      case 'approvals':
        return { kind: 'approvals', decisions: what.decisions };
      case 'consent':
        // previous_response mode re-sends the user's text; conversation mode re-runs the conversation (§6.2).
        return this.ctx.settings.threading === 'previous_response' && what.record.pendingText !== undefined
          ? { kind: 'text', text: what.record.pendingText }
          : { kind: 'none' };
    }
  }

  /** The thread to continue: continuations target the response that asked; new turns the last response. */
  private async threadFor(scope: TurnScope, what: TurnKind): Promise<Thread> {
    const state = await this.threads.load(scope.key);
    if (this.ctx.settings.threading === 'conversation') {
      let conversationId = state?.foundryConversationId;
      if (!conversationId) {
        conversationId = await this.ctx.foundry.createConversation({ credential: scope.credential });
        await this.threads.setConversation(scope.key, conversationId);
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
}
