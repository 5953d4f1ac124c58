import {
  ConnectorErrors,
  startFakeBotConnector,
  teamsVerdictOnInvokeResponse,
  type FakeBotConnector,
} from '../support/fakes/fake-bot-connector';

/** The fake must behave like Teams' connector, or tests built on it prove nothing. */
let fake: FakeBotConnector;
const conv = '19:abc@thread.v2;messageid=1';
const enc = encodeURIComponent(conv);

beforeAll(async () => {
  fake = await startFakeBotConnector();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown; retryAfter: string | null }> {
  const res = await fetch(new URL(path, fake.url), {
    method,
    headers: { 'content-type': 'application/json', authorization: 'Bearer t0k' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? (JSON.parse(text) as unknown) : undefined,
    retryAfter: res.headers.get('retry-after'),
  };
}

const streamChunk = (
  streamType: string,
  streamId?: string,
  streamSequence?: number,
): Record<string, unknown> => ({
  type: streamType === 'final' ? 'message' : 'typing',
  text: streamType,
  entities: [
    {
      type: 'streaminfo',
      streamType,
      ...(streamId ? { streamId } : {}),
      ...(streamSequence ? { streamSequence } : {}),
    },
  ],
});

it('records messages with decoded conversation ids and the bearer, and answers 201 {id}; PUT → 200 {id}', async () => {
  const created = await call('POST', `v3/conversations/${enc}/activities`, { type: 'message', text: 'hi' });
  expect(created.status).toBe(201);
  expect(created.body).toEqual({ id: expect.any(String) });
  const reply = await call('POST', `v3/conversations/${enc}/activities/1700%3Areply`, {
    type: 'message',
    text: 'r',
  });
  expect(reply.status).toBe(201);
  const put = await call('PUT', `v3/conversations/${enc}/activities/42`, { type: 'message', text: 'v2' });
  expect(put).toMatchObject({ status: 200, body: { id: '42' } });
  expect(fake.messages(conv).map((m) => [m.activity?.text, m.activityId, m.authorization])).toEqual([
    ['hi', undefined, 'Bearer t0k'],
    ['r', '1700:reply', 'Bearer t0k'],
  ]);
  expect(fake.activities(conv).map((a) => a.kind)).toEqual(['message', 'message', 'update']);
});

it('emulates Teams streaming: informative → 201 {id}, chunks → 202, final → 202; channelData-only fields count', async () => {
  const first = await call(
    'POST',
    `v3/conversations/${enc}/activities`,
    streamChunk('informative', undefined, 1),
  );
  expect(first.status).toBe(201);
  const streamId = (first.body as { id: string }).id;
  expect(
    (await call('POST', `v3/conversations/${enc}/activities`, streamChunk('streaming', streamId, 2))).status,
  ).toBe(202);
  // botbuilder 4.23.3 strips entity fields on the wire; the stream fields then only live in channelData.
  const viaChannelData = await call('POST', `v3/conversations/${enc}/activities`, {
    type: 'typing',
    entities: [{ type: 'streaminfo' }],
    channelData: { streamType: 'streaming', streamId, streamSequence: 3 },
  });
  expect(viaChannelData.status).toBe(202);
  expect(
    (await call('POST', `v3/conversations/${enc}/activities`, streamChunk('final', streamId))).status,
  ).toBe(202);
  expect(fake.streamingRequests().map((r) => [r.kind, r.stream?.streamSequence, r.status])).toEqual([
    ['informative', 1, 201],
    ['streaming', 2, 202],
    ['streaming', 3, 202],
    ['final', undefined, 202],
  ]);
  expect(fake.messages()).toHaveLength(1);
});

it('scripts: 429 with Retry-After on the 2nd message only, 403 user-cancel on streaming, delayed PUT', async () => {
  fake.script({ kind: 'message', nth: 2, respond: ConnectorErrors.throttled(2) });
  fake.script({ kind: 'streaming', count: Infinity, respond: ConnectorErrors.streamCancelledByUser() });
  fake.script({ method: 'PUT', respond: { status: 504, delayMs: 150 } });
  const statuses = [];
  for (let i = 0; i < 3; i++)
    statuses.push((await call('POST', `v3/conversations/${enc}/activities`, { type: 'message' })).status);
  expect(statuses).toEqual([201, 429, 201]);
  expect(fake.messages()[1]?.scripted).toBe(true);
  const throttled = fake.requests()[1];
  expect(throttled?.status).toBe(429);
  const cancelled = await call(
    'POST',
    `v3/conversations/${enc}/activities`,
    streamChunk('streaming', 's1', 2),
  );
  expect(cancelled).toMatchObject({ status: 403, body: { error: { code: 'ContentStreamNotAllowed' } } });
  const t0 = Date.now();
  expect((await call('PUT', `v3/conversations/${enc}/activities/9`, { type: 'message' })).status).toBe(504);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
});

it('429 carries Retry-After; members and create-conversation routes answer', async () => {
  fake.script({ kind: 'typing', respond: ConnectorErrors.throttled(3) });
  expect((await call('POST', `v3/conversations/${enc}/activities`, { type: 'typing' })).retryAfter).toBe('3');
  fake.setMembers(conv, [{ id: '29:ben', name: 'Ben', aadObjectId: 'b' }]);
  expect((await call('GET', `v3/conversations/${enc}/members`)).body).toEqual([
    { id: '29:ben', name: 'Ben', aadObjectId: 'b' },
  ]);
  expect((await call('GET', `v3/conversations/${enc}/members/29%3Aben`)).status).toBe(200);
  expect((await call('GET', `v3/conversations/${enc}/members/29%3Anobody`)).status).toBe(404);
  const created = await call('POST', 'v3/conversations', { members: [{ id: '29:ben' }], isGroup: false });
  expect(created).toMatchObject({ status: 201, body: { id: expect.stringMatching(/^a:/) } });
});

it('waitFor resolves on a future request and rejects on timeout', async () => {
  const waiting = fake.waitFor((r) => r.activity?.text === 'later', 2000);
  setTimeout(
    () => void call('POST', `v3/conversations/${enc}/activities`, { type: 'message', text: 'later' }),
    50,
  );
  expect((await waiting).conversationId).toBe(conv);
  await expect(fake.waitFor((r) => r.activity?.text === 'never', 100)).rejects.toThrow(/no matching request/);
});

it('personalOnlyStreaming answers 405 BadArgument to streaming outside 1:1 chats', async () => {
  const strict = await startFakeBotConnector({ personalOnlyStreaming: true });
  try {
    const res = await fetch(new URL(`v3/conversations/${enc}/activities`, strict.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        ...streamChunk('informative', undefined, 1),
        conversation: { id: conv, conversationType: 'groupChat' },
      }),
    });
    expect(res.status).toBe(405);
    expect(await res.json()).toMatchObject({ error: { code: 'BadArgument' } });
  } finally {
    await strict.close();
  }
});

describe('Teams behaviours on demand (docs/real-services.md, Teams)', () => {
  const post = (activity: Record<string, unknown>) =>
    call('POST', `/v3/conversations/${enc}/activities`, activity);
  const citation = (position: number, name: string) => ({
    '@type': 'Claim',
    position,
    appearance: { '@type': 'DigitalDocument', name, abstract: 'a' },
  });
  const withCitations = (c: unknown[]) => ({
    type: 'message',
    text: 'x',
    entities: [{ type: 'https://schema.org/Message', '@type': 'Message', citation: c }],
  });

  it('streamingDisabled: every stream request gets 403 "Content stream is not allowed"', async () => {
    fake.configure({ streamingDisabled: true });
    const r = await post({
      type: 'typing',
      text: '…',
      channelData: { streamType: 'informative', streamSequence: 1 },
    });
    expect(r.status).toBe(403);
    expect(JSON.stringify(r.body)).toContain('Content stream is not allowed');
    fake.reset();
    const ok = await post({
      type: 'typing',
      text: '…',
      channelData: { streamType: 'informative', streamSequence: 1 },
    });
    expect(ok.status).toBe(201);
  });

  it('streamTimeLimitMs: a stream request after the cap gets 403 "exceeded streaming time"', async () => {
    fake.configure({ streamTimeLimitMs: 50 });
    const first = await post({
      type: 'typing',
      text: 'a',
      channelData: { streamType: 'streaming', streamSequence: 1 },
    });
    const id = (first.body as { id: string }).id;
    await new Promise((r) => setTimeout(r, 80));
    const late = await post({
      type: 'typing',
      text: 'ab',
      channelData: { streamType: 'streaming', streamSequence: 2, streamId: id },
    });
    expect(late.status).toBe(403);
    expect(JSON.stringify(late.body)).toContain('exceeded streaming time');
  });

  it('teamsValidation: citation limits, feedbackLoop with feedbackLoopEnabled, size', async () => {
    fake.configure({ teamsValidation: true });
    expect((await post(withCitations([citation(1, 'n'.repeat(80))]))).status).toBe(201);
    expect((await post(withCitations([citation(1, 'n'.repeat(81))]))).status).toBe(400);
    const many = Array.from({ length: 21 }, (_v, i) => citation(i + 1, 'n'));
    expect(JSON.stringify((await post(withCitations(many))).body)).toContain('more than 20 citations');
    const both = {
      type: 'message',
      text: 'x',
      channelData: { feedbackLoop: { type: 'default' }, feedbackLoopEnabled: true },
    };
    expect((await post(both)).status).toBe(400);
    expect((await post({ type: 'message', text: '"'.repeat(30_000) })).status).toBe(413);
  });

  it('the feedback invoke verdict: 200 with an empty body only', () => {
    expect(teamsVerdictOnInvokeResponse('message/submitAction', 200, undefined)).toEqual({ ok: true });
    expect(teamsVerdictOnInvokeResponse('message/submitAction', 200, {})).toEqual({ ok: true });
    expect(
      teamsVerdictOnInvokeResponse('message/submitAction', 200, { statusCode: 200, value: 'Thanks' }),
    ).toMatchObject({
      ok: false,
      status: 400,
    });
  });
});
