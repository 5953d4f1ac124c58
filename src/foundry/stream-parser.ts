import { BotError } from '../errors';
import type { Logger } from '../observability/logger';
import { envelopeOf, textDeltaOf } from './hot-path';
import { parseItem, TOOL_USER_ERROR, toCitation, toolStatus } from './items';
import { baseFrom, buildOutcome, conversationIdOf, logUnusableItem } from './outcome';
import type { AgentEvent, ConsentRequest, ToolCall, TurnOutcome } from './types';
import type { EventEnvelope } from './wire-schemas';
import { AnnotationAdded, ConsentEvent, ErrorEvent, ItemRef, WithItem, WithResponse } from './wire-schemas';

/**
 * Parser from raw Responses stream events (docs/foundry-wire.md §3) to the domain events of `types.ts`.
 *
 * Every payload is untrusted: events are parsed with zod at this edge (docs/conventions.md C6), output items
 * through `parseItem`, and anything that does not fit — unknown event types, unknown item types, malformed
 * items — is skipped with a debug log, never fatal (§3.2 "Clients must ignore unknown event and item types").
 * Foundry-only shapes that the `openai` TS unions do not know (`oauth_consent_request`,
 * `response.oauth_consent_requested`, the Foundry `*_call` items) are handled explicitly.
 */

/** Events that are known and deliberately ignored (no debug log). */
const IGNORED_EVENTS = new Set([
  'response.content_part.added',
  'response.content_part.done',
  'response.output_text.done',
  'response.refusal.delta',
  'response.refusal.done',
  'response.mcp_call_arguments.delta',
  'response.mcp_call_arguments.done',
  'response.function_call_arguments.delta',
  'response.function_call_arguments.done',
]);

/** `response.<item>_call.<phase>` and `response.mcp_list_tools.<phase>` progress events. */
const TOOL_EVENT = /^response\.([a-z0-9_]+_call|mcp_list_tools)\.([a-z_]+)$/;

/** What the parser remembers across the events of one turn. */
class TurnState {
  responseId: string | undefined;
  conversationId: string | undefined;
  started = false;
  ended = false;
  lastSequence: number | undefined;
  partialTextLength = 0;
  /**
   * item id → item type and latest snapshot (added, replaced by done), from output_item.added/done (§10:
   * track types by item_id); the snapshots are the fallback outcome when the terminal omits `output`.
   */
  readonly items = new Map<string, { index: number; order: number; type: string; item: unknown }>();
  /** item id → concatenated deltas. */
  readonly deltas = new Map<string, string>();
  readonly eventConsents: ConsentRequest[] = [];
  /** item id → last emitted progress key, so repeated phases do not spam the consumer. */
  readonly progress = new Map<string, string>();
  private order = 0;

  remember(id: string, index: number | undefined, type: string, item: unknown): void {
    const prev = this.items.get(id);
    this.items.set(id, {
      index: index ?? prev?.index ?? Number.MAX_SAFE_INTEGER,
      order: prev?.order ?? this.order++,
      type,
      item,
    });
  }

  collected(): unknown[] {
    return [...this.items.values()].sort((a, b) => a.index - b.index || a.order - b.order).map((e) => e.item);
  }

  details(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      ...extra,
      ...(this.responseId !== undefined ? { responseId: this.responseId } : {}),
      partialTextLength: this.partialTextLength,
      ...(this.lastSequence !== undefined ? { lastSequenceNumber: this.lastSequence } : {}),
    };
  }

  /** `turn.started` the first time it is called, nothing afterwards. */
  start(responseId: string, conversationId: string | undefined): AgentEvent[] {
    if (this.started) return [];
    this.started = true;
    return [
      { type: 'turn.started', responseId, ...(conversationId !== undefined ? { conversationId } : {}) },
    ];
  }

  /** `tool.progress`, unless this item already reported the same status (and error presence). */
  progressOf(call: ToolCall): AgentEvent[] {
    const key = `${call.status}${call.error ? ':error' : ''}`;
    if (this.progress.get(call.itemId) === key) return [];
    this.progress.set(call.itemId, key);
    return [{ type: 'tool.progress', call }];
  }
}

type EventHandler = (state: TurnState, ev: EventEnvelope, log: Logger) => AgentEvent[];

function onSnapshot(state: TurnState, ev: EventEnvelope, log: Logger): AgentEvent[] {
  const r = WithResponse.safeParse(ev);
  if (!r.success) return malformedEvent(ev, log);
  state.responseId ??= r.data.response.id;
  state.conversationId ??= conversationIdOf(r.data.response);
  return state.start(state.responseId, state.conversationId);
}

/**
 * Records the item (type and snapshot) and reports tool progress. Messages, consents and approvals only
 * matter to the outcome, built at `turn.end`.
 */
function onItem(state: TurnState, ev: EventEnvelope, log: Logger): AgentEvent[] {
  const r = WithItem.safeParse(ev);
  if (!r.success) return malformedEvent(ev, log);
  const { item: raw, output_index: outputIndex } = r.data;
  const rawId = (raw as { id?: unknown }).id;
  const id = typeof rawId === 'string' && rawId.length > 0 ? rawId : undefined;
  const key = id ?? `output_${outputIndex ?? state.items.size}`;
  state.remember(key, outputIndex, raw.type, raw);
  const item = parseItem(raw, { phase: ev.type.endsWith('.done') ? 'done' : 'added', fallbackId: key });
  if (logUnusableItem(log, item)) return [];
  return item.kind === 'tool' ? state.progressOf(item.call) : [];
}

/**
 * A delta for an item never announced by `output_item.added` is forwarded too (lenient); one for a known
 * non-message item (e.g. reasoning) is dropped.
 */
function onTextDelta(state: TurnState, ev: EventEnvelope, log: Logger): AgentEvent[] {
  const d = textDeltaOf(ev);
  if (d === undefined) return malformedEvent(ev, log);
  const itemType = state.items.get(d.item_id)?.type;
  if (itemType !== undefined && itemType !== 'message') {
    log.debug('foundry.delta.non_message', { itemType });
    return [];
  }
  if (d.delta.length === 0) return [];
  state.deltas.set(d.item_id, (state.deltas.get(d.item_id) ?? '') + d.delta);
  state.partialTextLength += d.delta.length;
  return [{ type: 'text.delta', itemId: d.item_id, text: d.delta }];
}

function onAnnotation(_state: TurnState, ev: EventEnvelope, log: Logger): AgentEvent[] {
  const r = AnnotationAdded.safeParse(ev);
  const citation = r.success ? toCitation(r.data.annotation) : undefined;
  if (!r.success || citation === undefined) {
    log.debug('foundry.annotation.skipped');
    return [];
  }
  return [{ type: 'citation', itemId: r.data.item_id, citation }];
}

/** The top-level consent event (§11.2), flat or with the fields under `item`: kept for the outcome. */
function onConsentEvent(state: TurnState, ev: EventEnvelope, log: Logger): AgentEvent[] {
  const r = ConsentEvent.safeParse(ev);
  const nested = r.success ? undefined : ConsentEvent.safeParse((ev as { item?: unknown }).item);
  const data = r.success ? r.data : nested?.success ? nested.data : undefined;
  if (data === undefined) return malformedEvent(ev, log);
  state.eventConsents.push({
    itemId: data.item_id ?? data.id ?? `consent_event_${state.lastSequence ?? state.eventConsents.length}`,
    consentLink: data.consent_link,
    source: 'event',
    ...(data.server_label != null ? { serverLabel: data.server_label } : {}),
  });
  return [];
}

function onTerminal(state: TurnState, ev: EventEnvelope, log: Logger): AgentEvent[] {
  const r = WithResponse.safeParse(ev);
  if (!r.success) return malformedEvent(ev, log);
  const resp = r.data.response;
  const status: TurnOutcome['status'] =
    ev.type === 'response.completed' ? 'completed' : ev.type === 'response.failed' ? 'failed' : 'incomplete';
  const items = resp.output && resp.output.length > 0 ? resp.output : state.collected();
  const outcome = buildOutcome(items, baseFrom(resp, status, state.conversationId), log, {
    deltaText: state.deltas,
    extraConsents: state.eventConsents,
  });
  state.ended = true;
  return [...state.start(outcome.responseId, outcome.conversationId), { type: 'turn.end', outcome }];
}

function onError(state: TurnState, ev: EventEnvelope): never {
  const r = ErrorEvent.safeParse(ev);
  const extra: Record<string, unknown> = {};
  if (r.success && r.data.code != null) extra['code'] = r.data.code;
  if (r.success && r.data.param != null) extra['param'] = r.data.param;
  // A tool whose user token lapsed (M365 template: `tool_user_error`, foundry-wire.md §6.2 "Token expiry").
  if (extra['code'] === TOOL_USER_ERROR) {
    throw new BotError('TOOL_SIGNIN_REQUIRED', 'a tool needs the user to sign in again', {
      details: state.details(extra),
    });
  }
  throw new BotError('FOUNDRY_FAILED', 'Foundry sent an error event mid-stream', {
    details: state.details(extra),
  });
}

/** `response.<item>.<phase>` tool events, and everything unknown (skipped with a debug log). */
function onOther(state: TurnState, ev: EventEnvelope, log: Logger): AgentEvent[] {
  const m = TOOL_EVENT.exec(ev.type);
  if (m?.[1] !== undefined && m[2] !== undefined) {
    const ref = ItemRef.safeParse(ev);
    return ref.success ? toolPhaseEvent(state, m[1], m[2], ref.data.item_id) : [];
  }
  if (!IGNORED_EVENTS.has(ev.type)) log.debug('foundry.event.skipped', { eventType: ev.type });
  return [];
}

/** Progress from a phase event; name, server label etc. come from the item's snapshot when it fits. */
function toolPhaseEvent(state: TurnState, itemType: string, phase: string, itemId: string): AgentEvent[] {
  const status = toolStatus(phase);
  if (status === undefined) return [];
  const snapshot = state.items.get(itemId);
  const parsed =
    snapshot === undefined
      ? undefined
      : parseItem(snapshot.item, {
          phase: phase === 'completed' || phase === 'failed' ? 'done' : 'added',
          fallbackId: itemId,
        });
  // The snapshot is used only if it is of the event's family (mcp_list_tools vs *_call).
  const fits =
    parsed?.kind === 'tool' &&
    (parsed.call.itemType === 'mcp_list_tools') === (itemType === 'mcp_list_tools');
  const base: ToolCall = fits ? parsed.call : { itemId, itemType, status };
  return state.progressOf({ ...base, status });
}

function malformedEvent(ev: EventEnvelope, log: Logger): AgentEvent[] {
  log.debug('foundry.event.malformed', { eventType: ev.type });
  return [];
}

const HANDLERS: ReadonlyMap<string, EventHandler> = new Map<string, EventHandler>([
  ['response.created', onSnapshot],
  ['response.in_progress', onSnapshot],
  ['response.queued', onSnapshot],
  ['response.output_item.added', onItem],
  ['response.output_item.done', onItem],
  ['response.output_text.delta', onTextDelta],
  ['response.output_text.annotation.added', onAnnotation],
  ['response.oauth_consent_requested', onConsentEvent],
  ['response.completed', onTerminal],
  ['response.incomplete', onTerminal],
  ['response.failed', onTerminal],
  ['error', onError],
]);

/**
 * Turns raw Responses stream events into {@link AgentEvent}s.
 *
 * - `turn.started` once, from the first `response.created` / `in_progress` / `queued` snapshot (or just
 *   before `turn.end` if none came).
 * - `text.delta` for `output_text.delta` of message items. A delta for an item never announced by
 *   `output_item.added` is forwarded too (lenient); one for a known non-message item is dropped.
 * - `citation` per `output_text.annotation.added` (url/file/container_file citations, file paths).
 * - `tool.progress` for `mcp_list_tools`, `mcp_call` and every `*_call` item (added/done and the
 *   `response.<item>.<phase>` events), once per distinct status.
 * - `turn.end` on `response.completed` / `incomplete` / `failed`, with an outcome built from
 *   `response.output`, or from the items collected during the stream when the terminal omits `output`.
 *   Consents (from `oauth_consent_request` items, the top-level `response.oauth_consent_requested` event and
 *   consent URLs inside approval arguments, deduplicated by link) and approvals are reported there only.
 *
 * Unknown event and item types are skipped with a debug log.
 *
 * @throws BotError('FOUNDRY_FAILED') on an `error` event (details `code`, `param`, `responseId`).
 * @throws BotError('STREAM_INTERRUPTED') (details `reason: 'no_terminal_event'`, `responseId`,
 *   `partialTextLength`, `lastSequenceNumber`) when `raw` ends without a terminal event.
 *   Errors thrown by `raw` itself propagate unchanged.
 */
export async function* toAgentEvents(raw: AsyncIterable<unknown>, log: Logger): AsyncGenerator<AgentEvent> {
  const state = new TurnState();
  for await (const rawEvent of raw) {
    const ev = envelopeOf(rawEvent);
    if (ev === undefined) {
      log.debug('foundry.event.malformed');
      continue;
    }
    if (ev.sequence_number !== undefined) state.lastSequence = ev.sequence_number;
    const handle = HANDLERS.get(ev.type) ?? onOther;
    for (const out of handle(state, ev, log)) yield out;
    if (state.ended) return;
  }
  throw new BotError('STREAM_INTERRUPTED', 'the Foundry stream ended without a terminal event', {
    details: state.details({ reason: 'no_terminal_event' }),
  });
}
