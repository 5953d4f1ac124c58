import { z } from 'zod';
import type { CardAction } from '../relay/api';

/**
 * Card data is echoed back by the client and is not integrity-protected (docs/reliability.md §2.3), so every
 * click is parsed strictly (docs/conventions.md C6): opaque 128-bit hex ids only, known verbs only, no extra
 * fields. Anything else is rejected before the relay sees it.
 */
const hex32 = z.string().regex(/^[0-9a-f]{32}$/);

const ApprovalDecide = z
  .object({
    kind: z.literal('mcp-approval'),
    batchId: hex32,
    approvalId: z.union([hex32, z.literal('*')]),
    decision: z.enum(['approve', 'deny']),
  })
  .strict();
const ApprovalRefresh = z.object({ kind: z.literal('mcp-approval'), batchId: hex32 }).strict();
const ConsentData = z.object({ kind: z.literal('consent'), consentId: hex32 }).strict();
const RetryData = z.object({ kind: z.literal('retry'), text: z.string().min(1).max(4000) }).strict();

export type ParsedAction = { ok: true; action: CardAction } | { ok: false; reason: string };

/** Parses a verb + data pair (from Action.Execute, or from the Action.Submit fallback's data). */
export function parseCardAction(verb: unknown, rawData: unknown): ParsedAction {
  if (typeof verb !== 'string') return { ok: false, reason: 'no_verb' };
  const data = stripClientFields(rawData);
  const fail = (): ParsedAction => ({ ok: false, reason: 'bad_data' });
  switch (verb) {
    case 'approval.decide': {
      const r = ApprovalDecide.safeParse(data);
      return r.success
        ? {
            ok: true,
            action: {
              verb,
              batchId: r.data.batchId,
              approvalId: r.data.approvalId,
              decision: r.data.decision,
            },
          }
        : fail();
    }
    case 'approval.refresh': {
      const r = ApprovalRefresh.safeParse(data);
      return r.success ? { ok: true, action: { verb, batchId: r.data.batchId } } : fail();
    }
    case 'consent.continue':
    case 'consent.refresh':
    case 'consent.cancel': {
      const r = ConsentData.safeParse(data);
      return r.success ? { ok: true, action: { verb, consentId: r.data.consentId } } : fail();
    }
    case 'retry': {
      const r = RetryData.safeParse(data);
      return r.success ? { ok: true, action: { verb, text: r.data.text } } : fail();
    }
    default:
      return { ok: false, reason: 'unknown_verb' };
  }
}

/** Teams adds `msteams` to Action.Submit data, and our fallback copies the verb into the data. */
function stripClientFields(raw: unknown): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const { msteams: _m, verb: _v, ...rest } = raw as Record<string, unknown>;
  return rest;
}

/** The invoke value of an `adaptiveCard/action`. */
export const ExecuteInvokeValue = z.object({
  action: z.object({ type: z.string().optional(), verb: z.string().max(64), data: z.unknown().optional() }),
  trigger: z.enum(['manual', 'automatic']).optional(),
});
