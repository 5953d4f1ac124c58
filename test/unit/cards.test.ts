import { AdaptiveCard, SerializationContext, Version } from 'adaptivecards';
import { argumentLines, argumentsPretty } from '../../src/relay/approvals/arguments';
import type { ApprovalCardView, ApprovalItemView, CardView, ConsentCardView } from '../../src/relay/views';
import {
  assertCardBudget,
  CARD_BUDGET_BYTES,
  refreshFor,
  renderCard,
  type AdaptiveCardJson,
} from '../../src/teams/cards';

/**
 * Every card view rendered, parsed by the Adaptive Cards library (no unknown types, no parse or validation
 * errors), checked for the Action.Submit fallback on every Action.Execute and the size budget, and snapshot-tested
 * with a fixed time formatter (docs/conventions.md C7).
 */
const formatTime = (ms: number): string => `T+${ms}`;
const ADA = { id: '29:ada', aadObjectId: 'aaaaaaaa-0000-0000-0000-000000000001', name: 'Ada Lovelace' };
const BATCH = '0123456789abcdef0123456789abcdef';

function item(n: number, args: unknown, extra: Partial<ApprovalItemView> = {}): ApprovalItemView {
  const raw = JSON.stringify(args);
  return {
    approvalId: `${String(n).repeat(32)}`.slice(0, 32),
    serverLabel: 'github',
    toolName: 'create_issue',
    argumentLines: argumentLines(args, raw),
    argumentsPretty: argumentsPretty(args, raw),
    ...extra,
  };
}

const ISSUE = { owner: 'contoso', repo: 'helpdesk', title: 'Printer on floor 3 is offline' };

function approval(over: Partial<ApprovalCardView> = {}): ApprovalCardView {
  return {
    kind: 'approval',
    batchId: BATCH,
    requester: ADA,
    actionableUserIds: ['29:ada'],
    items: [item(1, ISSUE)],
    status: 'pending',
    actionable: true,
    ...over,
  };
}

function consent(over: Partial<ConsentCardView> = {}): ConsentCardView {
  return {
    kind: 'consent',
    consentId: 'fedcba9876543210fedcba9876543210',
    requester: ADA,
    services: [
      {
        label: 'github',
        host: 'consent.azure-apihub.net',
        link: 'https://consent.azure-apihub.net/login?data=x',
      },
    ],
    shared: false,
    status: 'pending',
    actionable: true,
    actionableUserIds: ['29:ada'],
    ...over,
  };
}

const VIEWS: [string, CardView][] = [
  ['approval pending', approval()],
  [
    'approval decided',
    approval({
      status: 'submitted',
      actionable: false,
      items: [
        item(1, ISSUE, { decision: 'approve', decidedBy: 'Ada Lovelace', decidedAt: 1_700_000_000_000 }),
      ],
    }),
  ],
  ['approval expired', approval({ status: 'expired', actionable: false })],
  [
    'approval superseded',
    approval({
      status: 'superseded',
      actionable: false,
      items: [item(1, ISSUE, { decision: 'deny', reason: 'superseded', decidedAt: 1 })],
    }),
  ],
  [
    'approval several items',
    approval({
      items: [
        item(1, { issue: 17, label: 'bug' }, { toolName: 'add_label' }),
        item(2, { issue: 17, assignee: 'alex' }, { toolName: 'assign_issue' }),
      ],
    }),
  ],
  ['approval long arguments', approval({ items: [item(3, { body: 'x'.repeat(5000), ...bigObject(20) })] })],
  [
    'approval markdown in arguments',
    approval({
      items: [item(4, { title: '**bold** [click](https://evil.example) <at>x</at> # h1 `code`' })],
    }),
  ],
  [
    'approval neutral view',
    approval({ actionable: false, notice: 'Only Ada Lovelace can decide this request.' }),
  ],
  ['consent actionable', consent()],
  [
    'consent public',
    consent({
      actionable: false,
      services: [{ label: 'github', host: 'consent.azure-apihub.net' }],
      notice: 'Ada Lovelace needs to sign in to github.',
    }),
  ],
  [
    'consent shared',
    consent({ shared: true, adminHint: 'No administrator is configured (SHARED_CONSENT_ADMINS).' }),
  ],
  ['consent retry', consent({ status: 'retry' })],
  ['consent signed in', consent({ status: 'signed_in', actionable: false })],
  ['consent declined', consent({ status: 'declined', actionable: false })],
  [
    'error with retry',
    {
      kind: 'error',
      code: 'FOUNDRY_UNAVAILABLE',
      text: 'The agent is unavailable.',
      correlationId: 'c0ffee',
      retryText: 'hello',
    },
  ],
  [
    'error without retry',
    { kind: 'error', code: 'INTERNAL', text: 'Something went wrong.', correlationId: 'c0ffee' },
  ],
  ['notice', { kind: 'notice', title: 'Status', lines: ['Agent: helpdesk-agent', 'Pending approvals: 0'] }],
];

function bigObject(n: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: n }, (_v, i) => [`key${i}`, `value ${i} `.repeat(40)]));
}

/** Parses with the Adaptive Cards SDK; returns every parse/validation message. */
function sdkProblems(json: AdaptiveCardJson): string[] {
  const ctx = new SerializationContext(Version.parse('1.5', new SerializationContext()));
  const card = new AdaptiveCard();
  card.parse(json, ctx);
  const out: string[] = [];
  for (let i = 0; i < ctx.eventCount; i++) out.push(ctx.getEventAt(i).message);
  for (const e of card.validateProperties().validationEvents) out.push(e.message);
  return out;
}

function executes(node: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(node)) node.forEach((n) => executes(n, out));
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (o['type'] === 'Action.Execute') out.push(o);
    for (const [k, v] of Object.entries(o)) if (k !== 'fallback') executes(v, out);
  }
  return out;
}

/** Every value of `key` on nodes of `type` (walks the whole card). */
function collect(
  node: unknown,
  type: string,
  out: Record<string, unknown>[] = [],
): Record<string, unknown>[] {
  if (Array.isArray(node)) node.forEach((n) => collect(n, type, out));
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (o['type'] === type) out.push(o);
    for (const [k, v] of Object.entries(o)) if (k !== 'fallback') collect(v, type, out);
  }
  return out;
}
const textRuns = (c: AdaptiveCardJson): string[] => collect(c, 'TextRun').map((r) => String(r['text']));
const textBlocks = (c: AdaptiveCardJson): string[] => collect(c, 'TextBlock').map((r) => String(r['text']));
const actionSets = (c: AdaptiveCardJson): Record<string, unknown>[] => collect(c, 'ActionSet');

describe.each(VIEWS)('card: %s', (_name, view) => {
  const card = renderCard(view, { formatTime, refresh: refreshFor(view, 'groupChat') });

  it('parses in the Adaptive Cards SDK without errors or unknown types', () => {
    expect(card.version).toBe('1.5');
    expect(sdkProblems(card)).toEqual([]);
  });

  it('has an Action.Submit fallback with the same verb and data on every Action.Execute', () => {
    const refreshAction = (card['refresh'] as { action?: unknown } | undefined)?.action;
    const missing = executes(card).filter((a) => {
      if (a === refreshAction) return false;
      const f = a['fallback'] as { type?: unknown; title?: unknown; data?: unknown } | undefined;
      return (
        f?.type !== 'Action.Submit' ||
        f.title !== a['title'] ||
        JSON.stringify(f.data) !== JSON.stringify({ ...(a['data'] as object), verb: a['verb'] })
      );
    });
    expect(missing).toEqual([]);
  });

  it('stays within the 40 KB budget and matches its snapshot', () => {
    expect(JSON.stringify(card).length * 2).toBeLessThanOrEqual(CARD_BUDGET_BYTES);
    expect(card).toMatchSnapshot();
  });
});

describe('card details', () => {
  it('the SDK check is not vacuous: an unknown element type is reported', () => {
    const bogus: AdaptiveCardJson = { type: 'AdaptiveCard', version: '1.5', body: [{ type: 'Bogus' }] };
    expect(sdkProblems(bogus).length).toBeGreaterThan(0);
  });

  const text = (c: AdaptiveCardJson): string => JSON.stringify(c);

  it('approval: tool, server, argument lines; buttons only while pending and actionable', () => {
    const c = renderCard(approval(), { formatTime });
    expect(text(c)).toContain(
      '"inlines":[{"type":"TextRun","text":"create_issue","weight":"Bolder"},{"type":"TextRun","text":" on "},{"type":"TextRun","text":"github"}]',
    );
    expect(text(c)).toContain(
      '{"type":"TextRun","text":"owner: ","weight":"Bolder"},{"type":"TextRun","text":"contoso"}',
    );
    expect(executes(c).map((a) => a['title'])).toEqual(['Approve', 'Deny']);
    expect(executes(renderCard(approval({ actionable: false }), { formatTime }))).toHaveLength(0);
    expect(executes(renderCard(approval({ status: 'expired' }), { formatTime }))).toHaveLength(0);
  });

  it('approval with several pending items offers Approve all / Deny all (approvalId "*")', () => {
    const c = renderCard(VIEWS[4]?.[1] as CardView, { formatTime });
    const all = executes(c).filter((a) => String(a['title']).endsWith(' all'));
    expect(all.map((a) => [a['title'], (a['data'] as { approvalId: string }).approvalId])).toEqual([
      ['Approve all', '*'],
      ['Deny all', '*'],
    ]);
  });

  it('decided approval names who and when with the injected formatter', () => {
    expect(text(renderCard(VIEWS[1]?.[1] as CardView, { formatTime }))).toContain(
      'Approved by Ada Lovelace · T+1700000000000',
    );
  });

  it('long arguments are cut, with the full JSON behind a Show details toggle', () => {
    const c = renderCard(VIEWS[5]?.[1] as CardView, { formatTime });
    expect(text(c)).toContain('Action.ToggleVisibility');
    expect(text(c)).toContain('"isVisible":false');
    expect(text(c)).toContain('more');
    expect(text(c)).not.toContain('x'.repeat(2100));
  });

  it('TEAMS-12 markdown in arguments stays literal text in TextRuns (no link smuggled in, no backslashes)', () => {
    const c = renderCard(VIEWS[6]?.[1] as CardView, { formatTime });
    const runs = textRuns(c);
    expect(runs).toContain('**bold** [click](https://evil.example) <at>x</at> # h1 `code`');
    // Markdown is rendered only in TextBlock (and FactSet): no untrusted text reaches one.
    expect(textBlocks(c).some((t) => t.includes('click'))).toBe(false);
    expect(text(c)).not.toContain('\\\\');
  });

  it('TEAMS-12 names with markdown characters show as typed: no escapes for Teams mobile to show', () => {
    const name = 'Ada_Lovelace (ops) #1';
    const cards = [
      renderCard(
        approval({ requester: { ...ADA, name }, items: [item(1, ISSUE, { toolName: 'create_issue' })] }),
      ),
      renderCard(
        approval({
          status: 'submitted',
          actionable: false,
          items: [item(1, ISSUE, { decision: 'approve', decidedBy: name, decidedAt: 1 })],
        }),
        { formatTime },
      ),
      renderCard(consent({ actionable: false, requester: { ...ADA, name } })),
      renderCard({ kind: 'notice', title: 'Status', lines: [`Agent: ${name}`] }),
    ];
    for (const c of cards) {
      expect(textRuns(c).some((t) => t.includes(name))).toBe(true);
      expect(text(c)).not.toMatch(/\\\\[_()#*[\]-]/);
      expect(textBlocks(c).some((t) => t.includes(name))).toBe(false);
    }
  });

  it('TEAMS-12 Approve / Deny name the tool for screen readers (tooltip, also on the Submit fallback)', () => {
    const c = renderCard(VIEWS[4]?.[1] as CardView, { formatTime });
    const tips = executes(c).map((a) => [a['title'], a['tooltip']]);
    expect(tips).toEqual([
      ['Approve', 'Approve add_label on github'],
      ['Deny', 'Deny add_label on github'],
      ['Approve', 'Approve assign_issue on github'],
      ['Deny', 'Deny assign_issue on github'],
      ['Approve all', 'Approve all 2 tools'],
      ['Deny all', 'Deny all 2 tools'],
    ]);
    for (const a of executes(c)) expect((a['fallback'] as { tooltip?: unknown }).tooltip).toBe(a['tooltip']);
  });

  it.each(VIEWS)(
    'TEAMS-12 %s: no card-level actions; every button sits in an ActionSet; none empty',
    (_n, view) => {
      const c = renderCard(view, { formatTime, refresh: refreshFor(view, 'groupChat') });
      expect(c['actions']).toBeUndefined();
      const sets = actionSets(c);
      expect(sets.every((s) => Array.isArray(s['actions']) && (s['actions'] as unknown[]).length > 0)).toBe(
        true,
      );
      const inSets = sets.flatMap((s) => s['actions'] as Record<string, unknown>[]);
      const refreshAction = (c['refresh'] as { action?: unknown } | undefined)?.action;
      for (const a of executes(c)) if (a !== refreshAction) expect(inSets).toContain(a);
    },
  );

  it('consent: the link only in the actionable view; the host is shown; public view has "Show my sign-in link"', () => {
    const mine = renderCard(consent(), { formatTime });
    expect(text(mine)).toContain('"type":"Action.OpenUrl"');
    expect(textRuns(mine)).toContain('The sign-in page is on consent.azure-apihub.net.');
    const pub = renderCard(VIEWS[9]?.[1] as CardView, {
      refresh: refreshFor(VIEWS[9]?.[1] as CardView, 'groupChat'),
    });
    expect(text(pub)).not.toContain('Action.OpenUrl');
    expect(text(pub)).not.toContain('login?data');
    expect(executes(pub).map((a) => a['title'])).toContain('Show my sign-in link');
    expect((pub['refresh'] as { userIds: string[] }).userIds).toEqual(['29:ada']);
    expect(refreshFor(consent(), 'personal')).toBeUndefined();
  });

  it('consent states: retry says sign-in did not complete; signed in has no buttons', () => {
    expect(text(renderCard(consent({ status: 'retry' })))).toContain('Sign-in did not complete');
    const signed = renderCard(consent({ status: 'signed_in', actionable: false }));
    expect(text(signed)).toContain('Signed in');
    expect(executes(signed)).toHaveLength(0);
  });

  it('error card: Retry only when a retry text is given', () => {
    expect(executes(renderCard(VIEWS[14]?.[1] as CardView)).map((a) => a['verb'])).toEqual(['retry']);
    expect(executes(renderCard(VIEWS[15]?.[1] as CardView))).toHaveLength(0);
  });

  it('the budget guard throws above 40 KB, and twelve huge tool calls still fit (previews are capped)', () => {
    const huge: AdaptiveCardJson = { type: 'AdaptiveCard', version: '1.5', body: 'x'.repeat(20_001) };
    expect(() => assertCardBudget(huge)).toThrow(/exceeds/);
    const many = approval({
      items: Array.from({ length: 12 }, (_v, i) =>
        item(i % 10, { body: 'y'.repeat(50_000), ...bigObject(30) }),
      ),
    });
    const rendered = renderCard(many);
    expect(JSON.stringify(rendered).length * 2).toBeLessThanOrEqual(CARD_BUDGET_BYTES);
    expect(executes(rendered).filter((a) => a['title'] === 'Approve')).toHaveLength(12);
  });
});
