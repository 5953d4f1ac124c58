import type { Span } from '@opentelemetry/api';
import { failSpan, inSpan, type Telemetry, type TurnKindName } from '../observability/telemetry';
import type { RelayContext } from './context';
import type { Actor, FinalAnswer } from './model';
import type { AnswerStream, ConversationIO, StreamOutcome } from './ports';
import type { TurnKind, TurnResult, TurnScope } from './turn-runner';
import type { CardView } from './views';

/**
 * The `relay.turn` span and the turn metrics (README "Operating it"): one span per round of a turn (one
 * Foundry response and what the relay shows for it), a child of the Teams activity that caused it, with the
 * Foundry request and the Teams sends as its children. Attributes: kind, round, outcome, error code. The
 * answer stream is observed for the time to first text and for stream fallbacks; nothing of the text is kept.
 */
export class TurnTrace {
  private recorded = false;

  constructor(
    private readonly tel: Telemetry,
    private readonly clock: () => number,
    private readonly kind: TurnKindName,
    private readonly span: Span,
    private readonly startedAt: number,
  ) {}

  /** Records how the round's Foundry response ended; returns `result` unchanged. */
  ran(result: TurnResult): TurnResult {
    const code = result.kind === 'failed' ? result.error.code : undefined;
    this.span.setAttribute('relay.turn.outcome', result.kind);
    if (result.kind === 'failed') failSpan(this.span, result.error);
    this.record(result.kind, code);
    if (result.kind === 'needs_consent') this.tel.consent('requested');
    else if (this.kind === 'consent' && (result.kind === 'answered' || result.kind === 'needs_approval'))
      this.tel.consent('completed');
    return result;
  }

  /** The round threw before its response ended (state store, identity): counted as failed once. */
  threw(err: unknown): void {
    if (this.recorded) return;
    this.span.setAttribute('relay.turn.outcome', 'failed');
    failSpan(this.span, err);
    const code =
      typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : undefined;
    this.record('failed', code ?? 'INTERNAL');
  }

  private record(outcome: TurnResult['kind'], code: string | undefined): void {
    this.recorded = true;
    this.tel.turnEnded(this.kind, outcome, (this.clock() - this.startedAt) / 1000, code);
  }

  /** The scope with an answer stream that reports first text and fallbacks. */
  observe(scope: TurnScope): TurnScope {
    const io = scope.io instanceof ObservedIO ? scope.io.inner : scope.io;
    const onText = (): void => this.tel.firstText(this.kind, (this.clock() - this.startedAt) / 1000);
    const onOutcome = (o: StreamOutcome): void => {
      if (o === 'fell_back_to_message') this.tel.streamFallback(this.kind);
    };
    return { ...scope, io: new ObservedIO(io, () => observeAnswer(io.beginAnswer(), onText, onOutcome)) };
  }
}

/**
 * Runs one round of a turn inside its `relay.turn` span. `fn` gets the observed scope and the trace, and
 * reports the runner's result through `trace.ran`.
 */
export function traceTurn(
  ctx: RelayContext,
  scope: TurnScope,
  what: TurnKind,
  round: number,
  fn: (scope: TurnScope, trace: TurnTrace) => Promise<void>,
): Promise<void> {
  const attributes = { 'relay.turn.kind': what.kind, 'relay.turn.round': round };
  return inSpan(ctx.telemetry.tracer, 'relay.turn', attributes, async (span) => {
    const t = new TurnTrace(ctx.telemetry, ctx.clock, what.kind, span, ctx.clock());
    try {
      await fn(t.observe(scope), t);
    } catch (err) {
      t.threw(err);
      throw err;
    }
  });
}

function observeAnswer(
  inner: AnswerStream,
  onFirstText: () => void,
  onOutcome: (o: StreamOutcome) => void,
): AnswerStream {
  let texted = false;
  return {
    informative: (text) => inner.informative(text),
    text: (delta) => {
      if (!texted && delta.length > 0) {
        texted = true;
        onFirstText();
      }
      inner.text(delta);
    },
    get cancelled() {
      return inner.cancelled;
    },
    finish: async (answer: FinalAnswer) => {
      const outcome = await inner.finish(answer);
      onOutcome(outcome);
      return outcome;
    },
    abandon: (note) => inner.abandon(note),
  };
}

/** A ConversationIO whose answers are observed; everything else goes straight to the real one. */
class ObservedIO implements ConversationIO {
  requestSignIn?: (user: Actor) => Promise<void>;

  constructor(
    readonly inner: ConversationIO,
    private readonly answer: () => AnswerStream,
  ) {
    const signIn = inner.requestSignIn?.bind(inner);
    if (signIn) this.requestSignIn = signIn;
  }

  get conversation(): ConversationIO['conversation'] {
    return this.inner.conversation;
  }

  get reference(): ConversationIO['reference'] {
    return this.inner.reference;
  }

  beginAnswer(): AnswerStream {
    return this.answer();
  }

  sendText(text: string): Promise<void> {
    return this.inner.sendText(text);
  }

  sendCard(card: CardView): Promise<string | undefined> {
    return this.inner.sendCard(card);
  }

  updateCard(activityId: string, card: CardView): Promise<void> {
    return this.inner.updateCard(activityId, card);
  }
}
