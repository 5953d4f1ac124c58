import { context, createContextKey, trace, type Span } from '@opentelemetry/api';
import { failSpan, type Telemetry } from '../observability/telemetry';
import type { AgentEvent, FoundryClient, StreamOptions, TurnRequest } from './types';

/**
 * The `foundry.response` span around one streamed turn (README "Operating it"), and the fetch observer that
 * puts Foundry's request ids on it and counts 429s. Both wrap the client from outside (app.ts), so the
 * client's retry and error logic stays as it is. Attributes: input kind, threading, HTTP status, request ids
 * (`x-request-id`, `apim-request-id`), response id and status, approval / consent counts, error code.
 */

/** The span of the Foundry turn in progress, for the fetch observer (not every fetch belongs to a turn). */
const FOUNDRY_SPAN = createContextKey('foundry-teams-relay.foundry.response');

/** Wraps `client.streamTurn` in a `foundry.response` span; `createConversation` is left as it is. */
export function traceFoundry(client: FoundryClient, tel: Telemetry): FoundryClient {
  return {
    streamTurn: (req, so) => tracedStream(client, req, so, tel),
    createConversation: (o) => client.createConversation(o),
  };
}

async function* tracedStream(
  client: FoundryClient,
  req: TurnRequest,
  so: StreamOptions,
  tel: Telemetry,
): AsyncGenerator<AgentEvent> {
  const span = tel.tracer.startSpan('foundry.response', {
    attributes: { 'foundry.input.kind': req.input.kind, 'foundry.threading': req.thread.mode },
  });
  const ctx = trace.setSpan(context.active(), span).setValue(FOUNDRY_SPAN, span);
  const it = context.with(ctx, () => client.streamTurn(req, so)[Symbol.asyncIterator]());
  try {
    for (;;) {
      // Each step runs in the span's context: the request (and its retries) happens inside the first one.
      const r = await context.with(ctx, () => it.next());
      if (r.done === true) return;
      observe(span, r.value);
      yield r.value;
    }
  } catch (err) {
    failSpan(span, err);
    throw err;
  } finally {
    await it.return?.();
    span.end();
  }
}

function observe(span: Span, ev: AgentEvent): void {
  if (ev.type === 'turn.started') span.setAttribute('foundry.response.id', ev.responseId);
  else if (ev.type === 'turn.end') {
    const o = ev.outcome;
    span.setAttributes({
      'foundry.response.id': o.responseId,
      'foundry.response.status': o.status,
      'foundry.response.approvals': o.approvals.length,
      'foundry.response.consents': o.consents.length,
      'foundry.response.tool_calls': o.toolCalls.length,
    });
    if (o.error?.code !== undefined) span.setAttribute('foundry.response.error_code', o.error.code);
  }
}

/**
 * A fetch that reports each Foundry HTTP attempt: 429s count as `relay.throttled{relay.dependency=foundry}`,
 * and inside a turn the status and request ids go on its `foundry.response` span (the last attempt wins).
 */
export function observedFetch(inner: typeof fetch, tel: Telemetry): typeof fetch {
  return async (input, init) => {
    const res = await inner(input, init);
    if (res.status === 429) tel.throttled('foundry');
    const span = context.active().getValue(FOUNDRY_SPAN) as Span | undefined;
    if (span) {
      span.setAttribute('http.response.status_code', res.status);
      const requestId = res.headers.get('x-request-id');
      const apimId = res.headers.get('apim-request-id');
      if (requestId) span.setAttribute('foundry.request_id', requestId.slice(0, 128));
      if (apimId) span.setAttribute('foundry.apim_request_id', apimId.slice(0, 128));
    }
    return res;
  };
}
