import type { Logger } from '../observability/logger';
import { parseItem, type DomainItem } from './items';
import type { ApprovalRequest, Citation, ConsentRequest, ToolCall, TurnOutcome } from './types';
import type { ResponseSnapshot } from './wire-schemas';

/** What a turn's outcome takes from the response object itself (not its output items). */
export interface OutcomeBase {
  status: TurnOutcome['status'];
  responseId: string;
  conversationId?: string;
  error?: { code: string; message: string };
  incompleteReason?: string;
}

/** What the stream saw besides the output items. */
export interface StreamExtras {
  /** Item id → concatenated `output_text.delta`s: the text of message items whose content is empty. */
  deltaText?: ReadonlyMap<string, string>;
  /** Consents seen outside the items (the top-level `response.oauth_consent_requested` event, §11.2). */
  extraConsents?: readonly ConsentRequest[];
}

/** The conversation id of a response snapshot (`conversation` is a string or `{ id }`). */
export function conversationIdOf(r: ResponseSnapshot): string | undefined {
  const c = r.conversation;
  if (typeof c === 'string') return c.length > 0 ? c : undefined;
  return c?.id;
}

/**
 * The outcome base of a terminal response snapshot. A failed response always carries `error` (code
 * `unknown` when absent); `conversationId` falls back to the one seen earlier in the stream.
 */
export function baseFrom(
  r: ResponseSnapshot,
  status: TurnOutcome['status'],
  conversationId?: string,
): OutcomeBase {
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

/** Logs (debug) an item that {@link parseItem} could not use; `false` for usable items. */
export function logUnusableItem(
  log: Logger,
  item: DomainItem,
  index?: number,
): item is Extract<DomainItem, { kind: 'unknown' | 'malformed' }> {
  if (item.kind === 'unknown') {
    log.debug('foundry.item.skipped', { itemType: item.itemType });
    return true;
  }
  if (item.kind === 'malformed') {
    log.debug(
      'foundry.item.malformed',
      item.itemType !== undefined ? { itemType: item.itemType } : { index },
    );
    return true;
  }
  return false;
}

/**
 * Builds a TurnOutcome from a list of raw output items: assistant message texts (a message item with empty
 * content takes its streamed deltas), their citations, approvals, consents (distinct by link, the
 * top-level-event ones last) and final tool calls. Unusable items are skipped with a debug log.
 */
export function buildOutcome(
  items: readonly unknown[],
  base: OutcomeBase,
  log: Logger,
  extras: StreamExtras = {},
): TurnOutcome {
  const deltaText = extras.deltaText ?? new Map<string, string>();
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
    const item = parseItem(raw, { phase: 'done', fallbackId: `consent_${index}` });
    if (logUnusableItem(log, item, index)) return;
    switch (item.kind) {
      case 'message': {
        if (item.role !== undefined && item.role !== 'assistant') return;
        const text =
          item.text.length > 0
            ? item.text
            : item.itemId !== undefined
              ? (deltaText.get(item.itemId) ?? '')
              : '';
        if (text.length > 0) texts.push(text);
        citations.push(...item.citations);
        return;
      }
      case 'approval':
        approvals.push(item.approval);
        return;
      case 'consent':
        addConsent(item.consent);
        return;
      case 'tool':
        toolCalls.push(item.call);
        return;
    }
  });
  for (const c of extras.extraConsents ?? []) addConsent(c);

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
