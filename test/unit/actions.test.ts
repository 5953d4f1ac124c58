import { ExecuteInvokeValue, parseCardAction } from '../../src/teams/actions';

/** parseCardAction: card data is untrusted (docs/reliability.md §2.3, CARD-04); only exact shapes pass. */
const B = 'a'.repeat(32);
const A = 'b'.repeat(32);

describe('parseCardAction', () => {
  it('accepts each verb with its exact data', () => {
    expect(
      parseCardAction('approval.decide', {
        kind: 'mcp-approval',
        batchId: B,
        approvalId: A,
        decision: 'approve',
      }),
    ).toEqual({
      ok: true,
      action: { verb: 'approval.decide', batchId: B, approvalId: A, decision: 'approve' },
    });
    expect(
      parseCardAction('approval.decide', {
        kind: 'mcp-approval',
        batchId: B,
        approvalId: '*',
        decision: 'deny',
      }),
    ).toEqual({
      ok: true,
      action: { verb: 'approval.decide', batchId: B, approvalId: '*', decision: 'deny' },
    });
    expect(parseCardAction('approval.refresh', { kind: 'mcp-approval', batchId: B })).toEqual({
      ok: true,
      action: { verb: 'approval.refresh', batchId: B },
    });
    for (const verb of ['consent.continue', 'consent.refresh', 'consent.cancel'] as const)
      expect(parseCardAction(verb, { kind: 'consent', consentId: A })).toEqual({
        ok: true,
        action: { verb, consentId: A },
      });
    expect(parseCardAction('retry', { kind: 'retry', text: 'hello' })).toEqual({
      ok: true,
      action: { verb: 'retry', text: 'hello' },
    });
  });

  it('CARD-07 accepts the Action.Submit fallback shape (verb and msteams in the data)', () => {
    const r = parseCardAction('approval.decide', {
      kind: 'mcp-approval',
      batchId: B,
      approvalId: A,
      decision: 'approve',
      verb: 'approval.decide',
      msteams: { type: 'messageBack' },
    });
    expect(r.ok).toBe(true);
  });

  it.each<[string, unknown, unknown, string]>([
    ['no verb', undefined, {}, 'no_verb'],
    ['unknown verb', 'approval.force', { kind: 'mcp-approval', batchId: B }, 'unknown_verb'],
    [
      'extra field',
      'approval.decide',
      { kind: 'mcp-approval', batchId: B, approvalId: A, decision: 'approve', x: 1 },
      'bad_data',
    ],
    [
      'bad kind',
      'approval.decide',
      { kind: 'consent', batchId: B, approvalId: A, decision: 'approve' },
      'bad_data',
    ],
    [
      'bad decision',
      'approval.decide',
      { kind: 'mcp-approval', batchId: B, approvalId: A, decision: 'yes' },
      'bad_data',
    ],
    [
      'non-hex id',
      'approval.decide',
      { kind: 'mcp-approval', batchId: 'Z'.repeat(32), approvalId: A, decision: 'approve' },
      'bad_data',
    ],
    [
      'Foundry id instead of opaque id',
      'approval.decide',
      { kind: 'mcp-approval', batchId: B, approvalId: 'mcpr_123', decision: 'approve' },
      'bad_data',
    ],
    ['array data', 'consent.continue', [A], 'bad_data'],
    ['null data', 'consent.continue', null, 'bad_data'],
    ['retry text too long', 'retry', { kind: 'retry', text: 'x'.repeat(4001) }, 'bad_data'],
    ['retry empty', 'retry', { kind: 'retry', text: '' }, 'bad_data'],
  ])('CARD-04 rejects %s', (_name, verb, data, reason) => {
    expect(parseCardAction(verb, data)).toEqual({ ok: false, reason });
  });

  it('parses the adaptiveCard/action invoke value', () => {
    expect(
      ExecuteInvokeValue.safeParse({ action: { type: 'Action.Execute', verb: 'x', data: {} } }).success,
    ).toBe(true);
    expect(ExecuteInvokeValue.safeParse({ action: { verb: 'x'.repeat(65) } }).success).toBe(false);
    expect(ExecuteInvokeValue.safeParse({ trigger: 'manual' }).success).toBe(false);
  });
});
