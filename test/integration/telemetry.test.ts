/**
 * The whole trace over real HTTP (README "Operating it"): a Teams activity into the bot, the relay, the Foundry
 * emulator and the fake Bot Connector, recorded by in-memory exporters: `teams.activity` → `relay.turn` →
 * `foundry.response` (with Foundry's request id) and `teams.send`; a canary check over every span; and the
 * bot's Foundry token taken from the credential once for many turns.
 */
import type { AccessToken, TokenCredential } from '@azure/identity';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { messageActivity } from '../support/fakes/activities';
import { BOT_OID, startHarness, type Harness } from '../support/harness';
import { registerTestOtel, spanStrings } from '../support/otel';

const otel = registerTestOtel();
let h: Harness;
let tokenCalls = 0;
const CANARY = 'CANARY-TEXT-c0ffee42';

beforeAll(async () => {
  let credential: TokenCredential | undefined = undefined;
  h = await startHarness(
    { SHARED_CONSENT_ADMINS: 'aaaaaaaa-0000-0000-0000-000000000001' },
    {
      appCredential: {
        getToken: (): Promise<AccessToken> => {
          tokenCalls += 1;
          if (!credential) throw new Error('not ready');
          return credential.getToken('https://ai.azure.com/.default', {}) as Promise<AccessToken>;
        },
      },
    },
  );
  credential = {
    getToken: () =>
      Promise.resolve({
        token: h.emulator.issueToken({ oid: BOT_OID }),
        expiresOnTimestamp: Date.now() + 3600_000,
      }),
  };
});
afterAll(async () => {
  await h.close();
});

let conversations = 0;
async function say(text: string): Promise<void> {
  const conversationId = `a:personal-telemetry-${++conversations}`;
  const r = await h.post(messageActivity(text, { serviceUrl: h.connector.url, conversationId }));
  expect(r.status).toBe(200);
  await h.idle();
}

const byName = (name: string): ReadableSpan[] => otel.spans().filter((s) => s.name === name);
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

test('one trace per turn: teams.activity → relay.turn → foundry.response (request id) and teams.send', async () => {
  otel.reset();
  await say(`hello ${CANARY}`);
  const [activity] = byName('teams.activity');
  const [turn] = byName('relay.turn');
  const [foundry] = byName('foundry.response');
  expect(activity?.attributes).toMatchObject({
    'teams.activity.type': 'message',
    'teams.conversation.scope': 'personal',
    'http.response.status_code': 200,
  });
  expect(turn && parentOf(turn)).toBe(activity?.spanContext().spanId);
  expect(turn?.attributes).toMatchObject({ 'relay.turn.kind': 'message', 'relay.turn.outcome': 'answered' });
  expect(foundry && parentOf(foundry)).toBe(turn?.spanContext().spanId);
  expect(foundry?.attributes).toMatchObject({
    'foundry.input.kind': 'text',
    'foundry.response.status': 'completed',
    'http.response.status_code': 200,
  });
  expect(foundry?.attributes['foundry.request_id']).toEqual(expect.any(String));
  expect(foundry?.attributes['foundry.response.id']).toEqual(expect.any(String));
  const sends = byName('teams.send');
  expect(sends.length).toBeGreaterThan(0);
  expect(sends.every((s) => parentOf(s) === turn?.spanContext().spanId)).toBe(true);
  // The answer: the stream's final, or one regular message when it was complete before the held first update.
  expect(sends.some((s) => ['final', 'message'].includes(String(s.attributes['teams.send.kind'])))).toBe(
    true,
  );
  expect(sends.every((s) => s.attributes['teams.send.status'] === 'ok')).toBe(true);
});

test('LOG-01 canary: an answered turn and a sign-in turn put no text, link or token into any span', async () => {
  // The spans of the first test (an answered turn with the canary in its text) are kept on purpose.

  await say(`search my issues ${CANARY}`);
  await say(`create an issue ${CANARY}`);
  const spans = otel.spans();
  expect(spans.map((s) => s.attributes['relay.turn.outcome'])).toEqual(
    expect.arrayContaining(['needs_consent', 'answered']),
  );
  const strings = spans.flatMap(spanStrings).join('\n');
  expect(strings).not.toContain('CANARY');
  expect(strings).not.toMatch(/https?:\/\//); // no consent link, no URL of any kind
  expect(strings).not.toMatch(/eyJ[A-Za-z0-9_-]{5,}\./); // no token
  const metricAttrs = (await otel.allMetricAttributes()).map(String).join('\n');
  expect(metricAttrs).not.toContain('CANARY');
});

test('the bot asked its credential for a Foundry token once across every turn of this file', () => {
  expect(tokenCalls).toBe(1);
});
