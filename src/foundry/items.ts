import type { ApprovalRequest, Citation, ConsentRequest, ToolCall, ToolError } from './types';
import {
  Annotation,
  ApprovalRequestItem,
  ConsentItem,
  McpListToolsItem,
  MessageItem,
  OutputTextPart,
  RefusalPart,
  ToolCallItem,
  ToolErrorObject,
} from './wire-schemas';

/**
 * The one place that turns a raw output item (docs/foundry-wire.md §4) into a typed domain item. Both the
 * outcome builder and the stream parser dispatch on item type only through {@link parseItem}.
 */

/** A raw output item, parsed. `unknown` items are skipped by type (§3.2), `malformed` ones failed their schema. */
export type DomainItem =
  | { kind: 'message'; itemId?: string; role?: string; text: string; citations: Citation[] }
  | { kind: 'approval'; approval: ApprovalRequest }
  | { kind: 'consent'; consent: ConsentRequest }
  | { kind: 'tool'; call: ToolCall }
  | { kind: 'unknown'; itemType: string }
  | { kind: 'malformed'; itemType?: string };

export interface ParseItemOptions {
  /**
   * `added`: the item just started (a tool without status or error is in progress); `done`: the item is final
   * (`output_item.done` or the terminal `response.output`).
   */
  phase: 'added' | 'done';
  /** Item id of an `oauth_consent_request` that carries none. */
  fallbackId: string;
}

/**
 * The one key inside approval arguments that carries a consent URL (the older hosted-toolbox shape, §6.2).
 * agent-framework's hosted-agent auth client reads only a top-level `consent_url`, deliberately, so that an
 * ordinary approval whose arguments happen to hold a URL is never misread as a sign-in (S20).
 */
const CONSENT_ARGUMENT_KEY = 'consent_url';

/** The error code Foundry uses when a tool's user token could not be used (M365 template, S17). */
export const TOOL_USER_ERROR = 'tool_user_error';
/**
 * The tool error text for a lapsed or revoked user token (S17 treats it as "needs authorization"). Foundry
 * gives no code for it inside `mcp_call.error`, so this is the one tool message inspected (like §6.3's 400).
 */
const TOKEN_LAPSED_TEXT = 'failed to fetch access token';

/**
 * Parses one raw output item. Never throws: an item without a string `type` or failing its schema is
 * `malformed`, an item of a type this bot does not handle is `unknown`. An `mcp_approval_request` whose
 * arguments carry a consent URL (§6.2) is a `consent`, not an `approval`.
 */
export function parseItem(raw: unknown, opts: ParseItemOptions): DomainItem {
  const type = (raw as { type?: unknown } | null)?.type;
  if (typeof type !== 'string') return { kind: 'malformed' };
  const malformed: DomainItem = { kind: 'malformed', itemType: type };
  switch (type) {
    case 'message': {
      const m = MessageItem.safeParse(raw);
      return m.success ? fromMessageItem(m.data) : malformed;
    }
    case 'mcp_approval_request': {
      const a = ApprovalRequestItem.safeParse(raw);
      return a.success ? fromApprovalItem(a.data) : malformed;
    }
    case 'oauth_consent_request': {
      const c = ConsentItem.safeParse(raw);
      return c.success ? { kind: 'consent', consent: fromConsentItem(c.data, opts.fallbackId) } : malformed;
    }
    case 'mcp_list_tools': {
      const t = McpListToolsItem.safeParse(raw);
      return t.success ? { kind: 'tool', call: toToolCall(t.data, opts.phase) } : malformed;
    }
    default: {
      if (!/_call$/.test(type)) return { kind: 'unknown', itemType: type };
      const t = ToolCallItem.safeParse(raw);
      return t.success ? { kind: 'tool', call: toToolCall(t.data, opts.phase) } : malformed;
    }
  }
}

function fromMessageItem(item: MessageItem): DomainItem {
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
  return {
    kind: 'message',
    ...(item.id != null ? { itemId: item.id } : {}),
    ...(item.role != null ? { role: item.role } : {}),
    text: texts.join(''),
    citations,
  };
}

function fromApprovalItem(item: ApprovalRequestItem): DomainItem {
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

function fromConsentItem(item: ConsentItem, fallbackId: string): ConsentRequest {
  return {
    itemId: item.id ?? fallbackId,
    consentLink: item.consent_link,
    source: 'item',
    ...(item.server_label != null ? { serverLabel: item.server_label } : {}),
  };
}

function toToolCall(item: ToolCallItem | McpListToolsItem, phase: 'added' | 'done'): ToolCall {
  const error = toToolError(item.error);
  const fallback: ToolCall['status'] = error ? 'failed' : phase === 'added' ? 'in_progress' : 'completed';
  const status =
    ('status' in item && typeof item.status === 'string' ? toolStatus(item.status) : undefined) ?? fallback;
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

/**
 * A tool status from an item `status` field or the phase of a `response.<item>.<phase>` event; `undefined`
 * for anything else.
 */
export function toolStatus(raw: string | null | undefined): ToolCall['status'] | undefined {
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
      return undefined;
  }
}

/**
 * Normalises `mcp_call.error` / `mcp_list_tools.error`, which is a string in older openai types and a union
 * of objects since openai-node a3deafb5 (§4.5). `null`/`undefined`/empty → `undefined`.
 */
export function toToolError(raw: unknown): ToolError | undefined {
  const e = parseToolError(raw);
  if (e === undefined) return undefined;
  const codeText = (raw as { code?: unknown; type?: unknown } | null) ?? {};
  const lapsed =
    codeText.code === TOOL_USER_ERROR ||
    codeText.type === TOOL_USER_ERROR ||
    e.message.toLowerCase().includes(TOKEN_LAPSED_TEXT);
  return lapsed ? { ...e, signInRequired: true } : e;
}

function parseToolError(raw: unknown): ToolError | undefined {
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

/** An `output_text` annotation (§4.1) as a Citation; `undefined` for unknown or malformed annotations. */
export function toCitation(raw: unknown): Citation | undefined {
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

/** A top-level `consent_url` http(s) argument of an approval request (§6.2); nothing else counts. */
function consentUrlIn(args: unknown): string | undefined {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return undefined;
  const v = (args as Record<string, unknown>)[CONSENT_ARGUMENT_KEY];
  return typeof v === 'string' && /^https?:\/\//i.test(v.trim()) ? v.trim() : undefined;
}
