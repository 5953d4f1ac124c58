import {
  context,
  metrics,
  SpanStatusCode,
  trace,
  type Attributes,
  type Counter,
  type Histogram,
  type Span,
  type Tracer,
} from '@opentelemetry/api';

/**
 * Traces and metrics through the OpenTelemetry **API** only (README "Operating it"). Without a registered SDK
 * every call here is a no-op, so telemetry that is switched off costs nothing; `src/observability/otel-sdk.ts`
 * registers the SDK at start-up when APPLICATIONINSIGHTS_CONNECTION_STRING or OTEL_EXPORTER_OTLP_ENDPOINT is
 * set.
 *
 * Attributes carry kinds, outcomes, counts, stable error codes and Foundry / Azure request ids — never message
 * text, tokens, consent links or tool arguments (docs/conventions.md C12; the canary test proves it).
 */

/** Instrumentation scope of every span and metric of the bot. */
const SCOPE = 'foundry-teams-relay';

export type TurnKindName = 'message' | 'approvals' | 'consent';
export type TurnOutcomeName = 'answered' | 'needs_consent' | 'needs_approval' | 'failed' | 'cancelled';
export type ApprovalMetricOutcome = 'approved' | 'denied' | 'expired' | 'refused';

/** The bot's metrics (names, units and attributes are documented in README "Operating it"). */
interface Instruments {
  turns: Counter;
  turnDuration: Histogram;
  firstText: Histogram;
  consents: Counter;
  approvals: Counter;
  throttled: Counter;
  fallbacks: Counter;
}

/**
 * The tracer and the instruments. Built once by the composition root (or the relay's default) from the global
 * providers: metric instruments taken from the API before an SDK is registered stay no-ops, so build this
 * after `startTelemetry`.
 */
export class Telemetry {
  readonly tracer: Tracer;
  private readonly m: Instruments;

  constructor() {
    this.tracer = trace.getTracer(SCOPE);
    const meter = metrics.getMeter(SCOPE);
    this.m = {
      turns: meter.createCounter('relay.turns', {
        description: 'Foundry responses the relay ran (one per round of a turn)',
        unit: '{turn}',
      }),
      turnDuration: meter.createHistogram('relay.turn.duration', {
        description: 'Time from the start of a round until it was answered, stopped for a card, or failed',
        unit: 's',
      }),
      firstText: meter.createHistogram('relay.turn.time_to_first_text', {
        description: 'Time from the start of a round until the first answer text reached the Teams sink',
        unit: 's',
      }),
      consents: meter.createCounter('relay.consents', {
        description: 'Sign-ins (OAuth consent) requested by Foundry, and completed',
        unit: '{consent}',
      }),
      approvals: meter.createCounter('relay.approvals', {
        description: 'Approval card clicks: approved, denied, expired, refused',
        unit: '{approval}',
      }),
      throttled: meter.createCounter('relay.throttled', {
        description: 'HTTP 429 answers from Foundry (per attempt) or the Bot Connector',
        unit: '{response}',
      }),
      fallbacks: meter.createCounter('relay.stream.fallbacks', {
        description: 'Answers that stopped streaming and went out as a regular message',
        unit: '{answer}',
      }),
    };
  }

  turnEnded(kind: TurnKindName, outcome: TurnOutcomeName, seconds: number, errorCode?: string): void {
    const attrs: Attributes = {
      'relay.turn.kind': kind,
      'relay.turn.outcome': outcome,
      ...(errorCode !== undefined ? { 'error.type': errorCode } : {}),
    };
    this.m.turns.add(1, attrs);
    this.m.turnDuration.record(seconds, attrs);
  }

  firstText(kind: TurnKindName, seconds: number): void {
    this.m.firstText.record(seconds, { 'relay.turn.kind': kind });
  }

  consent(event: 'requested' | 'completed'): void {
    this.m.consents.add(1, { 'relay.consent.event': event });
  }

  approval(outcome: ApprovalMetricOutcome, refusal?: string): void {
    this.m.approvals.add(1, {
      'relay.approval.outcome': outcome,
      ...(refusal !== undefined ? { 'relay.approval.refusal': refusal } : {}),
    });
  }

  throttled(dependency: 'foundry' | 'teams'): void {
    this.m.throttled.add(1, { 'relay.dependency': dependency });
  }

  streamFallback(kind: TurnKindName): void {
    this.m.fallbacks.add(1, { 'relay.turn.kind': kind });
  }
}

/**
 * Runs `fn` in a new active span and ends it afterwards; a throw sets the span's status to error with the
 * exception's **name** only (messages can quote user input), then rethrows.
 */
export async function inSpan<T>(
  tracer: Tracer,
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Marks a span failed with a stable code: a BotError's `code`, else the error's class name. */
export function failSpan(span: Span, err: unknown): void {
  const code =
    typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
      ? (err as { code: string }).code
      : err instanceof Error
        ? err.name
        : 'unknown';
  span.setAttribute('error.type', code);
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/**
 * Binds `fn` to the trace context active now, so work that runs later (a job queued behind another turn, a
 * proactive continuation) stays a child of the Teams activity that caused it. Identity without an SDK.
 */
export function bindToActiveContext<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  return context.bind(context.active(), fn);
}
