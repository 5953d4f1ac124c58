import fc from 'fast-check';
import { envelopeOf, textDeltaOf } from '../../src/foundry/hot-path';
import { EventEnvelope, TextDelta } from '../../src/foundry/wire-schemas';

/**
 * The hand-written checks of the streaming hot path (issue 15) accept exactly what the zod schemas accept
 * (docs/conventions.md C6): property tests over arbitrary JSON-like values and near-miss events.
 */
const nearMiss = fc.record(
  {
    type: fc.oneof(fc.constant('response.output_text.delta'), fc.string(), fc.integer(), fc.constant(null)),
    sequence_number: fc.oneof(
      fc.integer(),
      fc.double(),
      fc.string(),
      fc.constant(null),
      fc.constant(undefined),
    ),
    item_id: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant(undefined)),
    delta: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant(undefined)),
  },
  { requiredKeys: [] },
);
const anything = fc.oneof(fc.anything(), nearMiss);

describe('foundry hot path', () => {
  it('envelopeOf accepts exactly what EventEnvelope accepts', () => {
    fc.assert(
      fc.property(anything, (v) => {
        expect(envelopeOf(v) !== undefined).toBe(EventEnvelope.safeParse(v).success);
      }),
      { numRuns: 2000 },
    );
  });

  it('textDeltaOf accepts exactly what TextDelta accepts, with the same fields', () => {
    fc.assert(
      fc.property(nearMiss, (v) => {
        const ev = envelopeOf({ ...v, type: 'response.output_text.delta' });
        if (ev === undefined) return;
        const z = TextDelta.safeParse(ev);
        const mine = textDeltaOf(ev);
        expect(mine !== undefined).toBe(z.success);
        if (z.success) expect(mine).toEqual({ item_id: z.data.item_id, delta: z.data.delta });
      }),
      { numRuns: 2000 },
    );
  });
});
