import { adaptiveCardActionInvoke, messageActivity, type InboundActivity } from '../support/fakes/activities';
import { startAuthHarness, type AuthHarness } from './auth-harness';

/**
 * AUTH-07 (docs/reliability.md §2.2): with ALLOWED_TENANTS, an authenticated activity from another tenant, or with
 * no tenant at all, is refused right after authentication and fails closed: invoke → HTTP 200 with
 * `statusCode: 403`; message → HTTP 200, no turn, 0 Foundry calls; the rejection counter goes up.
 */
jest.setTimeout(30_000);

const ALLOWED = '11111111-1111-1111-1111-111111111111';
const OTHER = '99999999-9999-4999-8999-999999999999';

let h: AuthHarness;
const statuses: Record<string, string> = {};

beforeAll(async () => {
  h = await startAuthHarness({ env: { ALLOWED_TENANTS: ALLOWED } });
});
afterAll(async () => {
  await h.close();
  console.log(`AUTH-07 answers: ${JSON.stringify(statuses)}`);
});
beforeEach(() => {
  h.connector.reset();
});

function withoutTenant(a: InboundActivity): InboundActivity {
  const { tenantId: _dropped, ...conversation } = a.conversation;
  const { tenant: _t, ...channelData } = a.channelData;
  return {
    ...a,
    conversation: conversation as InboundActivity['conversation'],
    channelData: channelData as InboundActivity['channelData'],
  };
}

const cases: Array<{ name: string; make: () => InboundActivity }> = [
  {
    name: 'message from another tenant',
    make: () => messageActivity('hello', { serviceUrl: h.connector.url, tenantId: OTHER }),
  },
  {
    name: 'message without any tenant',
    make: () => withoutTenant(messageActivity('hello', { serviceUrl: h.connector.url })),
  },
  {
    name: 'invoke from another tenant',
    make: () =>
      adaptiveCardActionInvoke(
        'approve',
        { approvalId: 'a' },
        { serviceUrl: h.connector.url, tenantId: OTHER },
      ),
  },
  {
    name: 'message naming the allowed tenant in conversation but another in channelData',
    make: () => {
      const a = messageActivity('hello', { serviceUrl: h.connector.url, tenantId: ALLOWED });
      return { ...a, channelData: { ...a.channelData, tenant: { id: OTHER } } };
    },
  },
  {
    name: 'invoke without any tenant',
    make: () =>
      withoutTenant(
        adaptiveCardActionInvoke('approve', { approvalId: 'a' }, { serviceUrl: h.connector.url }),
      ),
  },
];

describe('AUTH-07 tenant allow-list', () => {
  it.each(cases)('AUTH-07: $name → refused, 0 turns, 0 Foundry calls, metric +1', async ({ name, make }) => {
    const handled = jest.spyOn(h.bot.relay, 'handleMessage');
    const clicked = jest.spyOn(h.bot.relay, 'handleCardAction');
    const foundryBefore = await h.foundryCalls();
    const rejectionsBefore = h.bot.tenantRejections();
    const activity = make();
    const r = await h.post(activity, h.token());
    statuses[name] =
      `${r.status} ${JSON.stringify((r.body as { statusCode?: number } | undefined)?.statusCode ?? null)}`;
    expect(r.status).toBe(200);
    if (activity.type === 'invoke') {
      expect(r.body).toMatchObject({ statusCode: 403, type: 'application/vnd.microsoft.error' });
    } else {
      expect(r.body).toBeUndefined();
    }
    await h.bot.relay.idle();
    expect(handled).not.toHaveBeenCalled();
    expect(clicked).not.toHaveBeenCalled();
    expect(await h.foundryCalls()).toBe(foundryBefore);
    expect(h.bot.tenantRejections()).toBe(rejectionsBefore + 1);
    // Messages end silently: nothing is posted to the conversation.
    expect(h.connector.requests().filter((q) => q.kind !== 'typing')).toHaveLength(0);
    expect(h.logs.some((l) => l.includes('"tenant.rejected"'))).toBe(true);
    expect(h.logs.join('\n')).not.toContain(OTHER);
  });

  it('AUTH-07: the allowed tenant (any case) is served (positive control)', async () => {
    const foundryBefore = await h.foundryCalls();
    const rejectionsBefore = h.bot.tenantRejections();
    const r = await h.post(
      messageActivity('hello', { serviceUrl: h.connector.url, tenantId: ALLOWED.toUpperCase() }),
      h.token(),
    );
    expect(r.status).toBe(200);
    await h.bot.relay.idle();
    expect(await h.foundryCalls()).toBeGreaterThan(foundryBefore);
    expect(h.bot.tenantRejections()).toBe(rejectionsBefore);
  });
});
