/**
 * Telemetry of the relay (README "Operating it"): the `relay.turn` span under the activity that caused it,
 * the turn, consent and approval metrics, and that no message text, consent link or tool argument reaches any
 * span or metric attribute. In-memory exporters; the relay runs with the flow-test kit.
 */
import { trace } from '@opentelemetry/api';
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import { Relay } from '../../src/relay/relay';
import { registerTestOtel, spanStrings } from '../support/otel';
import { ADA, ADMIN, BEN, approval, consent, ended, makeKit, outcome, settings, type Kit } from './relay/kit';

const otel = registerTestOtel();

async function sum(name: string, attrs: Record<string, unknown>): Promise<number> {
  const pts = await otel.points(name);
  return pts
    .filter((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))
    .reduce((n, p) => n + (typeof p.value === 'number' ? p.value : (p.value as Histogram).count), 0);
}

/** Sends a message inside an activity span, as the Teams edge does, and waits for the turn (a job). */
async function sayInActivity(kit: Kit, text: string, who = ADA): Promise<string> {
  const tracer = trace.getTracer('test');
  const spanId = await tracer.startActiveSpan('teams.activity', async (span) => {
    await kit.relay.handleMessage(kit.turn(who), text);
    span.end();
    return span.spanContext().spanId;
  });
  await kit.relay.idle();
  return spanId;
}

beforeEach(() => otel.reset());

describe('relay telemetry', () => {
  test('a message turn is one relay.turn span, a child of the activity, with kind, round and outcome', async () => {
    const kit = makeKit();
    const before = await sum('relay.turns', {
      'relay.turn.kind': 'message',
      'relay.turn.outcome': 'answered',
    });
    kit.foundry.next({ events: ended(outcome({ text: 'Hi there' })) });
    const activity = await sayInActivity(kit, 'hello');
    const turns = otel.spans().filter((s) => s.name === 'relay.turn');
    expect(turns).toHaveLength(1);
    expect(turns[0]?.parentSpanContext?.spanId).toBe(activity);
    expect(turns[0]?.attributes).toMatchObject({
      'relay.turn.kind': 'message',
      'relay.turn.round': 0,
      'relay.turn.outcome': 'answered',
    });
    expect(await sum('relay.turns', { 'relay.turn.kind': 'message', 'relay.turn.outcome': 'answered' })).toBe(
      before + 1,
    );
    const firstText = (await otel.points('relay.turn.time_to_first_text')) as DataPoint<Histogram>[];
    expect(firstText.reduce((n, p) => n + p.value.count, 0)).toBeGreaterThanOrEqual(1);
  });

  test('a queued turn keeps the context of its own activity, not of the turn it waited for', async () => {
    const kit = makeKit();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    kit.foundry.next(
      { gate, events: ended(outcome({ text: 'one' })) },
      { events: ended(outcome({ text: 'two' })) },
    );
    const tracer = trace.getTracer('test');
    const first = tracer.startActiveSpan('teams.activity', (s) => {
      void kit.relay.handleMessage(kit.turn(ADA), 'first');
      s.end();
      return s.spanContext().spanId;
    });
    const second = await tracer.startActiveSpan('teams.activity', async (s) => {
      await new Promise((r) => setImmediate(r));
      await kit.relay.handleMessage(kit.turn(ADA), 'second');
      s.end();
      return s.spanContext().spanId;
    });
    open();
    await kit.relay.idle();
    const parents = otel
      .spans()
      .filter((s) => s.name === 'relay.turn')
      .map((s) => s.parentSpanContext?.spanId);
    expect(parents.sort()).toEqual([first, second].sort());
  });

  test('a sign-in turn counts a consent requested, its continuation a consent completed', async () => {
    const kit = makeKit();
    const requested = await sum('relay.consents', { 'relay.consent.event': 'requested' });
    const completed = await sum('relay.consents', { 'relay.consent.event': 'completed' });
    kit.foundry.next({
      events: ended(
        outcome({ status: 'incomplete', consents: [consent('https://login.example.com/c?x=1')] }),
      ),
    });
    await kit.say(ADA, 'search my issues');
    const card = kit.io().cardsOf('consent').at(-1);
    if (!card) throw new Error('no consent card');
    kit.foundry.next({ events: ended(outcome({ text: 'Found 3 issues' })) });
    await kit.relay.handleCardAction(kit.turn(ADMIN), {
      verb: 'consent.continue',
      consentId: card.consentId,
    });
    await kit.relay.idle();
    expect(await sum('relay.consents', { 'relay.consent.event': 'requested' })).toBe(requested + 1);
    expect(await sum('relay.consents', { 'relay.consent.event': 'completed' })).toBe(completed + 1);
    const kinds = otel
      .spans()
      .filter((s) => s.name === 'relay.turn')
      .map((s) => [s.attributes['relay.turn.kind'], s.attributes['relay.turn.outcome']]);
    expect(kinds).toEqual([
      ['message', 'needs_consent'],
      ['consent', 'answered'],
    ]);
  });

  test('approval clicks are counted as approved, refused (with the reason) and the continuation is a turn', async () => {
    const kit = makeKit();
    const approved = await sum('relay.approvals', { 'relay.approval.outcome': 'approved' });
    const refused = await sum('relay.approvals', {
      'relay.approval.outcome': 'refused',
      'relay.approval.refusal': 'not_requester',
    });
    kit.foundry.next({ events: ended(outcome({ approvals: [approval('create_issue', { title: 'Bug' })] })) });
    await kit.say(ADA, 'create an issue');
    const card = kit.io().cardsOf('approval').at(-1);
    if (!card) throw new Error('no approval card');
    const click = { verb: 'approval.decide' as const, batchId: card.batchId, approvalId: '*' };
    await kit.relay.handleCardAction(kit.turn(BEN), { ...click, decision: 'approve' });
    kit.foundry.next({ events: ended(outcome({ text: 'Created #7' })) });
    await kit.relay.handleCardAction(kit.turn(ADA), { ...click, decision: 'approve' });
    await kit.relay.idle();
    expect(await sum('relay.approvals', { 'relay.approval.outcome': 'approved' })).toBe(approved + 1);
    expect(
      await sum('relay.approvals', {
        'relay.approval.outcome': 'refused',
        'relay.approval.refusal': 'not_requester',
      }),
    ).toBe(refused + 1);
    expect(otel.spans().some((s) => s.attributes['relay.turn.kind'] === 'approvals')).toBe(true);
  });

  test('LOG-01 canary: no span or metric attribute holds message text, a consent link or tool arguments', async () => {
    const kit = makeKit();
    const text = 'CANARY-TEXT-7f3a9c';
    const link = 'https://login.example.com/consent?state=CANARY-LINK-51d2';
    const arg = 'CANARY-ARG-e90b44';
    kit.foundry.next({ events: ended(outcome({ text: `echo ${text}`, consents: [consent(link)] })) });
    await sayInActivity(kit, `please ${text}`);
    kit.foundry.next({ events: ended(outcome({ approvals: [approval('create_issue', { title: arg })] })) });
    await sayInActivity(kit, `again ${text}`);
    const strings = otel.spans().flatMap(spanStrings).join('\n');
    const metricAttrs = (await otel.allMetricAttributes()).map(String).join('\n');
    expect(otel.spans().length).toBeGreaterThanOrEqual(4);
    for (const canary of ['CANARY-TEXT', 'CANARY-LINK', 'CANARY-ARG', 'login.example.com']) {
      expect(strings).not.toContain(canary);
      expect(metricAttrs).not.toContain(canary);
    }
  });
});

describe('/status for admins', () => {
  function relayWithDiagnostics(kit: Kit): Relay {
    return new Relay({
      settings: settings({ approvers: [BEN.aadObjectId ?? ''] }),
      foundry: kit.foundry,
      store: kit.store,
      identity: kit.identity,
      proactive: kit.teams,
      log: kit.log,
      diagnostics: () => Promise.resolve(['Storage: blob, last call succeeded 3 s ago']),
    });
  }

  test('admins (shared-consent admins and approvers) see the Deployment section; others do not', async () => {
    const kit = makeKit();
    const relay = relayWithDiagnostics(kit);
    for (const who of [ADA, ADMIN, BEN]) {
      await relay.handleMessage(kit.turn(who), '/status');
      await relay.idle();
    }
    const cards = kit
      .io()
      .cardsOf('notice')
      .filter((c) => c.title === 'Status');
    expect(cards).toHaveLength(3);
    const [ada, admin, approver] = cards.map((c) => c.lines.join('\n'));
    expect(ada).not.toContain('Deployment');
    expect(admin).toContain('Deployment (admins only):\n- Storage: blob, last call succeeded 3 s ago');
    expect(approver).toContain('Deployment (admins only):');
  });
});
