import { z } from 'zod';
import { BotError } from '../errors';
import type { Logger } from '../observability/logger';
import type {
  AgentEvent,
  ApprovalRequest,
  Citation,
  ConsentRequest,
  ToolCall,
  ToolError,
  TurnOutcome,
} from './types';

/**
 * Parser from raw Responses stream events (foundry-protocol.md §3) to the domain events of `types.ts`.
 *
 * Every payload is untrusted: items are parsed with zod at this edge (conventions.md C6) and anything that
 * does not fit — unknown event types, unknown item types, malformed items — is skipped with a debug log,
 * never fatal (§3.2 "Clients must ignore unknown event and item types"). Foundry-only shapes that the
 * `openai` TS unions do not know (`oauth_consent_request`, `response.oauth_consent_requested`, the
 * Foundry `*_call` items) are handled explicitly.
 */

// ---------------------------------------------------------------------------------------------------------
// Wire schemas (passthrough: Foundry adds fields such as created_by / agent_reference / response_id, §4.3)
// ---------------------------------------------------------------------------------------------------------

const EventEnvelope = z.object({ type: z.string(), sequence_number: z.number().optional() }).passthrough();

const ResponseSnapshot = z
  .object({
    id: z.string().min(1),
    status: z.string().nullish(),
    conversation: z.union([z.string(), z.object({ id: z.string() }).passthrough()]).nullish(),
    output: z.array(z.unknown()).nullish(),
    error: z.object({ code: z.string().nullish(), message: z.string().nullish() }).passthrough().nullish(),
    incomplete_details: z.object({ reason: z.string().nullish() }).passthrough().nullish(),
  })
  .passthrough();
type ResponseSnapshot = z.infer<typeof ResponseSnapshot>;

const WithResponse = z.object({ response: ResponseSnapshot }).passthrough();
const WithItem = z
  .object({ item: z.object({ type: z.string() }).passthrough(), output_index: z.number().optional() })
  .passthrough();
const TextDelta = z.object({ item_id: z.string(), delta: z.string() }).passthrough();
const ItemRef = z.object({ item_id: z.string() }).passthrough();
const AnnotationAdded = z.object({ item_id: z.string(), annotation: z.unknown() }).passthrough();
const ErrorEvent = z.object({ code: z.string().nullish(), param: z.string().nullish() }).passthrough();
const ConsentEvent = z
  .object({
    consent_link: z.string().min(1),
    server_label: z.string().nullish(),
    item_id: z.string().nullish(),
    id: z.string().nullish(),
  })
  .passthrough();

const UrlCitation = z
  .object({
    type: z.literal('url_citation'),
    url: z.string(),
    title: z.string().nullish(),
    start_index: z.number().nullish(),
    end_index: z.number().nullish(),
  })
  .passthrough();
const FileCitation = z
  .object({
    type: z.literal('file_citation'),
    file_id: z.string(),
    filename: z.string().nullish(),
    index: z.number().nullish(),
  })
  .passthrough();
const ContainerFileCitation = z
  .object({
    type: z.literal('container_file_citation'),
    container_id: z.string().nullish(),
    file_id: z.string(),
    filename: z.string().nullish(),
    start_index: z.number().nullish(),
    end_index: z.number().nullish(),
  })
  .passthrough();
const FilePath = z
  .object({ type: z.literal('file_path'), file_id: z.string(), index: z.number().nullish() })
  .passthrough();
const Annotation = z.discriminatedUnion('type', [UrlCitation, FileCitation, ContainerFileCitation, FilePath]);

const OutputTextPart = z
  .object({ type: z.literal('output_text'), text: z.string(), annotations: z.array(z.unknown()).nullish() })
  .passthrough();
const RefusalPart = z.object({ type: z.literal('refusal'), refusal: z.string() }).passthrough();

const MessageItem = z
  .object({
    type: z.literal('message'),
    id: z.string().nullish(),
    role: z.string().nullish(),
    content: z.array(z.unknown()).nullish(),
  })
  .passthrough();
const McpListToolsItem = z
  .object({
    type: z.literal('mcp_list_tools'),
    id: z.string(),
    server_label: z.string().nullish(),
    error: z.unknown().optional(),
  })
  .passthrough();
const ToolCallItem = z
  .object({
    type: z.string().regex(/_call$/),
    id: z.string(),
    server_label: z.string().nullish(),
    name: z.string().nullish(),
    status: z.string().nullish(),
    approval_request_id: z.string().nullish(),
    error: z.unknown().optional(),
  })
  .passthrough();
const ApprovalRequestItem = z
  .object({
    type: z.literal('mcp_approval_request'),
    id: z.string().min(1),
    server_label: z.string().nullish(),
    name: z.string().nullish(),
    arguments: z.unknown().optional(),
  })
  .passthrough();
const ConsentItem = z
  .object({
    type: z.literal('oauth_consent_request'),
    id: z.string().nullish(),
    consent_link: z.string().min(1),
    server_label: z.string().nullish(),
  })
  .passthrough();

const ToolErrorObject = z
  .object({
    type: z.string().nullish(),
    code: z.union([z.number(), z.string()]).nullish(),
    message: z.string().nullish(),
    content: z.unknown().optional(),
  })
  .passthrough();

/** Keys inside approval arguments that carry a consent URL (an older hosted-toolbox shape, §6.2). */
const CONSENT_ARGUMENT_KEYS = ['consent_url', 'authorization_url', 'consent_link'] as const;

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

// ---------------------------------------------------------------------------------------------------------
// Item → domain helpers (shared by the stream parser and the outcome builder)
// ---------------------------------------------------------------------------------------------------------

function isToolItemType(type: string): boolean {
  return type === 'mcp_list_tools' || /_call$/.test(type);
}

function toolStatus(raw: string | null | undefined, fallback: ToolCall['status']): ToolCall['status'] {
  switch (raw ?? '') {
    case 'completed':
      return 'completed';
    case 'failed':
      return 'failed';
    case 'incomplete':
      return 'incomplete';
    case 'in_progress':
    case 'calling':
    case 'searching':
    case 'interpreting':
    case 'generating':
      return 'in_progress';
    default:
      return fallback;
  }
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    const texts = content.flatMap((c) => {
      if (typeof c === 'string') return [c];
      if (typeof c === 'object' && c !== null && typeof (c as { text?: unknown }).text === 'string') {
        return [(c as { text: string }).text];
      }
      return [];
    });
    if (texts.length > 0) return texts.join('\n');
  }
  try {
    return JSON.stringify(content) ?? '';
  } catch {
    return '';
  }
}

/**
 * Normalises `mcp_call.error` / `mcp_list_tools.error`, which is a string in older openai types and a union
 * of objects since openai-node a3deafb5 (§4.5). `null`/`undefined`/empty → `undefined`.
 */
export function toToolError(raw: unknown): ToolError | undefined {
  if (raw === null || raw === undefined) return undefined;
  if (typeof raw === 'string') return raw.length === 0 ? undefined : { kind: 'string', message: raw };
  const parsed = ToolErrorObject.safeParse(raw);
  if (!parsed.success) return { kind: 'unknown', message: contentText(raw) };
  const o = parsed.data;
  const code =
    typeof o.code === 'number'
      ? o.code
      : typeof o.code === 'string' && /^\d+$/.test(o.code)
        ? Number(o.code)
        : undefined;
  const withCode = (e: ToolError): ToolError => (code === undefined ? e : { ...e, code });
  switch (o.type ?? '') {
    case 'mcp_protocol_error':
      return withCode({ kind: 'mcp_protocol_error', message: o.message ?? '' });
    case 'http_error':
      return withCode({ kind: 'http_error', message: o.message ?? '' });
    case 'mcp_tool_execution_error':
      return { kind: 'mcp_tool_execution_error', message: o.message ?? contentText(o.content) };
    default:
      return withCode({ kind: 'unknown', message: o.message ?? contentText(raw) });
  }
}

function toCitation(raw: unknown): Citation | undefined {
  const r = Annotation.safeParse(raw);
  if (!r.success) return undefined;
  const a = r.data;
  switch (a.type) {
    case 'url_citation':
      return {
        kind: 'url_citation',
        url: a.url,
        ...(a.title != null ? { title: a.title } : {}),
        ...(a.start_index != null ? { startIndex: a.start_index } : {}),
        ...(a.end_index != null ? { endIndex: a.end_index } : {}),
      };
    case 'file_citation':
      return {
        kind: 'file_citation',
        fileId: a.file_id,
        ...(a.filename != null ? { filename: a.filename } : {}),
        ...(a.index != null ? { startIndex: a.index } : {}),
      };
    case 'container_file_citation':
      return {
        kind: 'container_file_citation',
        fileId: a.file_id,
        ...(a.filename != null ? { filename: a.filename } : {}),
        ...(a.start_index != null ? { startIndex: a.start_index } : {}),
        ...(a.end_index != null ? { endIndex: a.end_index } : {}),
      };
    case 'file_path':
      return { kind: 'file_path', fileId: a.file_id, ...(a.index != null ? { startIndex: a.index } : {}) };
  }
}

function toToolCall(
  item: z.infer<typeof ToolCallItem> | z.infer<typeof McpListToolsItem>,
  phase: 'added' | 'done',
): ToolCall {
  const error = toToolError(item.error);
  const fallback: ToolCall['status'] = error ? 'failed' : phase === 'added' ? 'in_progress' : 'completed';
  const status =
    'status' in item && typeof item.status === 'string' ? toolStatus(item.status, fallback) : fallback;
  const name = 'name' in item && typeof item.name === 'string' ? item.name : undefined;
  const approvalRequestId =
    'approval_request_id' in item && typeof item.approval_request_id === 'string'
      ? item.approval_request_id
      : undefined;
  return {
    itemId: item.id,
    itemType: item.type,
    status: error && status !== 'failed' && phase === 'done' ? 'failed' : status,
    ...(item.server_label != null ? { serverLabel: item.server_label } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(approvalRequestId !== undefined ? { approvalRequestId } : {}),
    ...(error ? { error } : {}),
  };
}

function parseArguments(raw: unknown): { json: string; value: unknown } {
  if (typeof raw !== 'string') {
    // Not the documented JSON string (§4.3); keep a JSON rendering for display, the value as given.
    if (raw === undefined || raw === null) return { json: '', value: undefined };
    try {
      return { json: JSON.stringify(raw), value: raw };
    } catch {
      return { json: '', value: undefined };
    }
  }
  try {
    return { json: raw, value: JSON.parse(raw) as unknown };
  } catch {
    return { json: raw, value: undefined };
  }
}

/** A consent-like URL inside parsed approval arguments (top level or one object level down, §6.2). */
function consentUrlIn(args: unknown, depth = 0): string | undefined {
  if (typeof args !== 'object' || args === null || Array.isArray(args) || depth > 1) return undefined;
  const rec = args as Record<string, unknown>;
  for (const key of CONSENT_ARGUMENT_KEYS) {
    const v = rec[key];
    if (typeof v === 'string' && /^https?:\/\//i.test(v.trim())) return v.trim();
  }
  for (const v of Object.values(rec)) {
    const nested = consentUrlIn(v, depth + 1);
    if (nested !== undefined) return nested;
  }
  return undefined;
}

type ApprovalOrConsent =
  { kind: 'approval'; approval: ApprovalRequest } | { kind: 'consent'; consent: ConsentRequest };

function fromApprovalItem(item: z.infer<typeof ApprovalRequestItem>): ApprovalOrConsent {
  const { json, value } = parseArguments(item.arguments);
  const link = consentUrlIn(value);
  if (link !== undefined) {
    return {
      kind: 'consent',
      consent: {
        itemId: item.id,
        consentLink: link,
        source: 'approval_arguments',
        ...(item.server_label != null ? { serverLabel: item.server_label } : {}),
      },
    };
  }
  return {
    kind: 'approval',
    approval: {
      requestId: item.id,
      serverLabel: item.server_label ?? '',
      toolName: item.name ?? '',
      argumentsJson: json,
      arguments: value,
    },
  };
}

function fromConsentItem(item: z.infer<typeof ConsentItem>, fallbackId: string): ConsentRequest {
  return {
    itemId: item.id ?? fallbackId,
    consentLink: item.consent_link,
    source: 'item',
    ...(item.server_label != null ? { serverLabel: item.server_label } : {}),
  };
}

interface MessageContent {
  text: string;
  citations: Citation[];
}

function fromMessageItem(item: z.infer<typeof MessageItem>): MessageContent {
  const texts: string[] = [];
  const citations: Citation[] = [];
  for (const part of item.content ?? []) {
    const t = OutputTextPart.safeParse(part);
    if (t.success) {
      texts.push(t.data.text);
      for (const a of t.data.annotations ?? []) {
        const c = toCitation(a);
        if (c) citations.push(c);
      }
      continue;
    }
    const r = RefusalPart.safeParse(part);
    if (r.success) texts.push(r.data.refusal);
  }
  return { text: texts.join(''), citations };
}

interface OutcomeBase {
  status: TurnOutcome['status'];
  responseId: string;
  conversationId?: string;
  error?: { code: string; message: string };
  incompleteReason?: string;
}

/**
 * Builds a TurnOutcome from a list of output items. `deltaText` supplies text for message items whose content
 * is empty (streamed but never completed); `extraConsents` are consents seen outside the items (the
 * top-level `response.oauth_consent_requested` event).
 */
function buildOutcome(
  items: readonly unknown[],
  base: OutcomeBase,
  log: Logger | undefined,
  deltaText: ReadonlyMap<string, string> = new Map(),
  extraConsents: readonly ConsentRequest[] = [],
): TurnOutcome {
  const texts: string[] = [];
  const citations: Citation[] = [];
  const consents: ConsentRequest[] = [];
  const links = new Set<string>();
  const approvals: ApprovalRequest[] = [];
  const toolCalls: ToolCall[] = [];
  const addConsent = (c: ConsentRequest): void => {
    if (links.has(c.consentLink)) return;
    links.add(c.consentLink);
    consents.push(c);
  };

  items.forEach((raw, index) => {
    const type = (raw as { type?: unknown } | null)?.type;
    if (typeof type !== 'string') {
      log?.debug('foundry.item.malformed', { index });
      return;
    }
    if (type === 'message') {
      const m = MessageItem.safeParse(raw);
      if (!m.success) return log?.debug('foundry.item.malformed', { itemType: type });
      if (m.data.role != null && m.data.role !== 'assistant') return;
      const content = fromMessageItem(m.data);
      const text =
        content.text.length > 0 ? content.text : m.data.id != null ? (deltaText.get(m.data.id) ?? '') : '';
      if (text.length > 0) texts.push(text);
      citations.push(...content.citations);
      return;
    }
    if (type === 'mcp_approval_request') {
      const a = ApprovalRequestItem.safeParse(raw);
      if (!a.success) return log?.debug('foundry.item.malformed', { itemType: type });
      const r = fromApprovalItem(a.data);
      if (r.kind === 'consent') addConsent(r.consent);
      else approvals.push(r.approval);
      return;
    }
    if (type === 'oauth_consent_request') {
      const c = ConsentItem.safeParse(raw);
      if (!c.success) return log?.debug('foundry.item.malformed', { itemType: type });
      addConsent(fromConsentItem(c.data, `consent_${index}`));
      return;
    }
    if (type === 'mcp_list_tools') {
      const t = McpListToolsItem.safeParse(raw);
      if (!t.success) return log?.debug('foundry.item.malformed', { itemType: type });
      toolCalls.push(toToolCall(t.data, 'done'));
      return;
    }
    if (isToolItemType(type)) {
      const t = ToolCallItem.safeParse(raw);
      if (!t.success) return log?.debug('foundry.item.malformed', { itemType: type });
      toolCalls.push(toToolCall(t.data, 'done'));
      return;
    }
    log?.debug('foundry.item.skipped', { itemType: type });
  });
  for (const c of extraConsents) addConsent(c);

  return {
    status: base.status,
    responseId: base.responseId,
    ...(base.conversationId !== undefined ? { conversationId: base.conversationId } : {}),
    // Several message items (e.g. a preamble and the answer) are separated by a blank line.
    text: texts.join('\n\n'),
    citations,
    consents,
    approvals,
    toolCalls,
    ...(base.error !== undefined ? { error: base.error } : {}),
    ...(base.incompleteReason !== undefined ? { incompleteReason: base.incompleteReason } : {}),
  };
}

function conversationIdOf(r: ResponseSnapshot): string | undefined {
  const c = r.conversation;
  if (typeof c === 'string') return c.length > 0 ? c : undefined;
  return c?.id;
}

function baseFrom(r: ResponseSnapshot, status: TurnOutcome['status'], conversationId?: string): OutcomeBase {
  const conv = conversationIdOf(r) ?? conversationId;
  const base: OutcomeBase = {
    status,
    responseId: r.id,
    ...(conv !== undefined ? { conversationId: conv } : {}),
  };
  if (status === 'failed') base.error = { code: r.error?.code ?? 'unknown', message: r.error?.message ?? '' };
  const reason = r.incomplete_details?.reason;
  if (typeof reason === 'string' && reason.length > 0) base.incompleteReason = reason;
  return base;
}

// ---------------------------------------------------------------------------------------------------------
// Stream parser
// ---------------------------------------------------------------------------------------------------------

class TurnState {
  responseId: string | undefined;
  conversationId: string | undefined;
  started = false;
  lastSequence: number | undefined;
  partialTextLength = 0;
  /** item id → item type, from output_item.added/done (§10: track types by item_id). */
  readonly types = new Map<string, string>();
  /** item id → latest snapshot (added, replaced by done), for the fallback outcome. */
  readonly items = new Map<string, { index: number; order: number; item: unknown }>();
  /** item id → concatenated deltas. */
  readonly deltas = new Map<string, string>();
  readonly eventConsents: ConsentRequest[] = [];
  /** item id → last emitted progress key, so repeated phases do not spam the consumer. */
  readonly progress = new Map<string, string>();
  private order = 0;

  remember(id: string, index: number | undefined, item: unknown): void {
    const prev = this.items.get(id);
    this.items.set(id, {
      index: index ?? prev?.index ?? Number.MAX_SAFE_INTEGER,
      order: prev?.order ?? this.order++,
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
}

function* progressEvent(state: TurnState, call: ToolCall): Generator<AgentEvent> {
  const key = `${call.status}${call.error ? ':error' : ''}`;
  if (state.progress.get(call.itemId) === key) return;
  state.progress.set(call.itemId, key);
  yield { type: 'tool.progress', call };
}

function* itemEvents(
  state: TurnState,
  raw: { type: string },
  phase: 'added' | 'done',
  outputIndex: number | undefined,
  log: Logger,
): Generator<AgentEvent> {
  const type = raw.type;
  const rawId = (raw as { id?: unknown }).id;
  const id = typeof rawId === 'string' && rawId.length > 0 ? rawId : undefined;
  const key = id ?? `output_${outputIndex ?? state.items.size}`;
  state.types.set(key, type);
  state.remember(key, outputIndex, raw);

  // Messages, consents and approvals only matter to the outcome (turn.end); the item is recorded above.
  if (type === 'message') return;
  if (type === 'oauth_consent_request') {
    if (!ConsentItem.safeParse(raw).success) log.debug('foundry.item.malformed', { itemType: type });
    return;
  }
  if (type === 'mcp_approval_request') {
    // `added` only records the item; on `done` the arguments are complete.
    if (phase === 'done' && !ApprovalRequestItem.safeParse(raw).success) {
      log.debug('foundry.item.malformed', { itemType: type });
    }
    return;
  }
  if (type === 'mcp_list_tools') {
    const t = McpListToolsItem.safeParse(raw);
    if (!t.success) return log.debug('foundry.item.malformed', { itemType: type });
    yield* progressEvent(state, toToolCall(t.data, phase));
    return;
  }
  if (isToolItemType(type)) {
    const t = ToolCallItem.safeParse(raw);
    if (!t.success) return log.debug('foundry.item.malformed', { itemType: type });
    yield* progressEvent(state, toToolCall(t.data, phase));
    return;
  }
  log.debug('foundry.item.skipped', { itemType: type });
}

function* toolPhaseEvent(
  state: TurnState,
  itemType: string,
  phase: string,
  itemId: string,
): Generator<AgentEvent> {
  const status: ToolCall['status'] | undefined =
    phase === 'completed'
      ? 'completed'
      : phase === 'failed'
        ? 'failed'
        : phase === 'incomplete'
          ? 'incomplete'
          : ['in_progress', 'searching', 'interpreting', 'generating', 'calling'].includes(phase)
            ? 'in_progress'
            : undefined;
  if (status === undefined) return;
  const snapshot = state.items.get(itemId)?.item;
  const parsed =
    itemType === 'mcp_list_tools' ? McpListToolsItem.safeParse(snapshot) : ToolCallItem.safeParse(snapshot);
  const base: ToolCall = parsed.success
    ? toToolCall(parsed.data, phase === 'completed' || phase === 'failed' ? 'done' : 'added')
    : { itemId, itemType, status };
  yield* progressEvent(state, { ...base, status });
}

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
    const env = EventEnvelope.safeParse(rawEvent);
    if (!env.success) {
      log.debug('foundry.event.malformed');
      continue;
    }
    const ev = env.data;
    if (ev.sequence_number !== undefined) state.lastSequence = ev.sequence_number;
    const type = ev.type;

    switch (type) {
      case 'response.created':
      case 'response.in_progress':
      case 'response.queued': {
        const r = WithResponse.safeParse(ev);
        if (!r.success) {
          log.debug('foundry.event.malformed', { eventType: type });
          break;
        }
        state.responseId ??= r.data.response.id;
        state.conversationId ??= conversationIdOf(r.data.response);
        if (!state.started) {
          state.started = true;
          yield {
            type: 'turn.started',
            responseId: state.responseId,
            ...(state.conversationId !== undefined ? { conversationId: state.conversationId } : {}),
          };
        }
        break;
      }

      case 'response.output_item.added':
      case 'response.output_item.done': {
        const r = WithItem.safeParse(ev);
        if (!r.success) {
          log.debug('foundry.event.malformed', { eventType: type });
          break;
        }
        yield* itemEvents(
          state,
          r.data.item,
          type.endsWith('.done') ? 'done' : 'added',
          r.data.output_index,
          log,
        );
        break;
      }

      case 'response.output_text.delta': {
        const r = TextDelta.safeParse(ev);
        if (!r.success) {
          log.debug('foundry.event.malformed', { eventType: type });
          break;
        }
        const itemType = state.types.get(r.data.item_id);
        if (itemType !== undefined && itemType !== 'message') {
          log.debug('foundry.delta.non_message', { itemType });
          break;
        }
        if (r.data.delta.length === 0) break;
        state.deltas.set(r.data.item_id, (state.deltas.get(r.data.item_id) ?? '') + r.data.delta);
        state.partialTextLength += r.data.delta.length;
        yield { type: 'text.delta', itemId: r.data.item_id, text: r.data.delta };
        break;
      }

      case 'response.output_text.annotation.added': {
        const r = AnnotationAdded.safeParse(ev);
        const citation = r.success ? toCitation(r.data.annotation) : undefined;
        if (!r.success || citation === undefined) {
          log.debug('foundry.annotation.skipped');
          break;
        }
        yield { type: 'citation', itemId: r.data.item_id, citation };
        break;
      }

      case 'response.oauth_consent_requested': {
        const r = ConsentEvent.safeParse(ev);
        const nested = r.success ? undefined : ConsentEvent.safeParse((ev as { item?: unknown }).item);
        const data = r.success ? r.data : nested?.success ? nested.data : undefined;
        if (data === undefined) {
          log.debug('foundry.event.malformed', { eventType: type });
          break;
        }
        const consent: ConsentRequest = {
          itemId:
            data.item_id ?? data.id ?? `consent_event_${state.lastSequence ?? state.eventConsents.length}`,
          consentLink: data.consent_link,
          source: 'event',
          ...(data.server_label != null ? { serverLabel: data.server_label } : {}),
        };
        state.eventConsents.push(consent);
        break;
      }

      case 'response.completed':
      case 'response.incomplete':
      case 'response.failed': {
        const r = WithResponse.safeParse(ev);
        if (!r.success) {
          log.debug('foundry.event.malformed', { eventType: type });
          break;
        }
        const resp = r.data.response;
        const status: TurnOutcome['status'] =
          type === 'response.completed' ? 'completed' : type === 'response.failed' ? 'failed' : 'incomplete';
        const items = resp.output && resp.output.length > 0 ? resp.output : state.collected();
        const outcome = buildOutcome(
          items,
          baseFrom(resp, status, state.conversationId),
          log,
          state.deltas,
          state.eventConsents,
        );
        if (!state.started) {
          state.started = true;
          yield {
            type: 'turn.started',
            responseId: outcome.responseId,
            ...(outcome.conversationId !== undefined ? { conversationId: outcome.conversationId } : {}),
          };
        }
        yield { type: 'turn.end', outcome };
        return;
      }

      case 'error': {
        const r = ErrorEvent.safeParse(ev);
        const extra: Record<string, unknown> = {};
        if (r.success && r.data.code != null) extra['code'] = r.data.code;
        if (r.success && r.data.param != null) extra['param'] = r.data.param;
        throw new BotError('FOUNDRY_FAILED', 'Foundry sent an error event mid-stream', {
          details: state.details(extra),
        });
      }

      default: {
        const m = TOOL_EVENT.exec(type);
        if (m?.[1] !== undefined && m[2] !== undefined) {
          const ref = ItemRef.safeParse(ev);
          if (ref.success) yield* toolPhaseEvent(state, m[1], m[2], ref.data.item_id);
          break;
        }
        if (!IGNORED_EVENTS.has(type)) log.debug('foundry.event.skipped', { eventType: type });
      }
    }
  }

  throw new BotError('STREAM_INTERRUPTED', 'the Foundry stream ended without a terminal event', {
    details: state.details({ reason: 'no_terminal_event' }),
  });
}
