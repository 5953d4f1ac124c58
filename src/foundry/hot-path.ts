import type { EventEnvelope } from './wire-schemas';

/**
 * Checks for the two shapes every streamed event goes through (issue 15): the envelope of each event and the
 * text delta, the most frequent event by far. They check exactly what the zod schemas `EventEnvelope` and
 * `TextDelta` (wire-schemas.ts) check, field by field, but without zod's copy of every passthrough object, so
 * a long answer does not cost one or two object copies per delta. Whole items, snapshots and everything rarer
 * are still parsed with zod (docs/conventions.md C6).
 */
function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The event as `EventEnvelope` (a string `type`, an optional numeric `sequence_number`), or undefined. */
export function envelopeOf(raw: unknown): EventEnvelope | undefined {
  if (!isRecord(raw) || typeof raw['type'] !== 'string') return undefined;
  const seq = raw['sequence_number'];
  if (seq !== undefined && (typeof seq !== 'number' || Number.isNaN(seq))) return undefined;
  return raw as EventEnvelope;
}

/** `item_id` and `delta` of an `output_text.delta` event when both are strings, as `TextDelta` requires. */
export function textDeltaOf(ev: EventEnvelope): { item_id: string; delta: string } | undefined {
  const { item_id: itemId, delta } = ev as Record<string, unknown>;
  return typeof itemId === 'string' && typeof delta === 'string' ? { item_id: itemId, delta } : undefined;
}
