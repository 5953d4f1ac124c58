import type { AccessToken, TokenCredential } from '@azure/identity';
import { CredentialUnavailableError } from '@azure/identity';
import { BotError } from '../../src/errors';
import { buildResponseBody, createFoundryClient } from '../../src/foundry/client';
import type { AgentEvent, FoundryClient, Thread, TurnInput, TurnRequest } from '../../src/foundry/types';
import { FOUNDRY_SCOPE } from '../../src/foundry/types';
import { createLogger } from '../../src/observability/logger';
import { encodeSse, parseSseFixture, readFixture, sseResponse } from '../support/fakes/sse';

/**
 * What the client puts on the wire (docs/foundry-wire.md §1.5, §2), captured through the `fetch` seam: an
 * injected fetch records each request and answers with a canned SSE stream.
 */

const ENDPOINT = 'https://contoso.services.ai.azure.com/api/projects/helpdesk';

interface Recorded {
  url: string;
  method: string;
  headers: Headers;
  body: Record<string, unknown> | undefined;
  signal: AbortSignal | null | undefined;
}

type Responder = (req: Recorded, n: number) => Response | Promise<Response>;

function recordingFetch(respond: Responder): { fetch: typeof fetch; calls: Recorded[] } {
  const calls: Recorded[] = [];
  const fake = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const body =
      typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
    const rec: Recorded = {
      url: input instanceof Request ? input.url : String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body,
      signal: init?.signal,
    };
    calls.push(rec);
    return respond(rec, calls.length);
  };
  return { fetch: fake, calls };
}

const TEXT_TURN = parseSseFixture(readFixture('6.1-text-turn.sse')).events;

function credential(token: string): TokenCredential & { scopes: (string | string[])[] } {
  const scopes: (string | string[])[] = [];
  return {
    scopes,
    getToken(s: string | string[]): Promise<AccessToken> {
      scopes.push(s);
      return Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3_600_000 });
    },
  };
}

function client(
  fetchImpl: typeof fetch,
  overrides: { maxRetries?: number; idleTimeoutMs?: number } = {},
): FoundryClient {
  return createFoundryClient({
    projectEndpoint: ENDPOINT,
    timeoutMs: 5_000,
    idleTimeoutMs: overrides.idleTimeoutMs ?? 5_000,
    maxRetries: overrides.maxRetries ?? 0,
    log: createLogger({ sink: () => undefined }),
    fetch: fetchImpl,
  });
}

async function drain(it: AsyncIterable<AgentEvent>): Promise<{ events: AgentEvent[]; error?: unknown }> {
  const events: AgentEvent[] = [];
  try {
    for await (const e of it) events.push(e);
    return { events };
  } catch (error) {
    return { events, error };
  }
}

const FORBIDDEN_KEYS = ['agent', 'tools', 'tool_choice', 'text', 'model', 'instructions', 'response_format'];

const threads: [string, Thread][] = [
  ['conversation', { mode: 'conversation', conversationId: 'conv_X' }],
  ['previous_response (first turn)', { mode: 'previous_response' }],
  ['previous_response (chained)', { mode: 'previous_response', previousResponseId: 'resp_P1' }],
];
const inputs: [string, TurnInput][] = [
  ['text', { kind: 'text', text: 'What meetings do I have today?' }],
  [
    'approvals',
    {
      kind: 'approvals',
      decisions: [
        { requestId: 'mcpr_1', approve: true },
        { requestId: 'mcpr_2', approve: false, reason: 'User declined in Teams' },
      ],
    },
  ],
  ['none', { kind: 'none' }],
];

describe('request bodies for every TurnRequest shape in both threading modes', () => {
  const cases = threads.flatMap(([tn, thread]) =>
    inputs.map(([inName, input]) => [tn, inName, thread, input] as const),
  );

  it.each(cases)('%s × %s', async (_tn, _in, thread, input) => {
    const { fetch, calls } = recordingFetch((r) => sseResponse([encodeSse(TEXT_TURN)], { signal: r.signal }));
    const req: TurnRequest = { agent: { name: 'helpdesk-agent' }, thread, input };
    const { error } = await drain(client(fetch).streamTurn(req, { credential: credential('tok') }));
    expect(error).toBeUndefined();
    expect(calls).toHaveLength(1);
    const call = calls[0];
    expect(call?.method).toBe('POST');
    expect(call?.url).toBe(`${ENDPOINT}/openai/v1/responses`);
    const body = call?.body ?? {};

    const expectedKeys = ['agent_reference', 'stream'];
    if (thread.mode === 'conversation') expectedKeys.push('conversation');
    if (thread.mode === 'previous_response' && thread.previousResponseId !== undefined)
      expectedKeys.push('previous_response_id');
    if (input.kind !== 'none') expectedKeys.push('input');
    expect(Object.keys(body).sort()).toEqual(expectedKeys.sort());
    for (const k of FORBIDDEN_KEYS) expect(body).not.toHaveProperty(k);
    expect('conversation' in body && 'previous_response_id' in body).toBe(false);

    expect(body['agent_reference']).toEqual({ type: 'agent_reference', name: 'helpdesk-agent' });
    expect(body['stream']).toBe(true);
    if (thread.mode === 'conversation') expect(body['conversation']).toBe('conv_X');
    if (thread.mode === 'previous_response' && thread.previousResponseId !== undefined)
      expect(body['previous_response_id']).toBe('resp_P1');
    if (input.kind === 'text') expect(body['input']).toBe('What meetings do I have today?');
    if (input.kind === 'approvals') {
      expect(body['input']).toEqual([
        { type: 'mcp_approval_response', approval_request_id: 'mcpr_1', approve: true },
        {
          type: 'mcp_approval_response',
          approval_request_id: 'mcpr_2',
          approve: false,
          reason: 'User declined in Teams',
        },
      ]);
    }
  });

  it('sends agent_reference.version only when the agent is pinned', () => {
    const pinned = buildResponseBody({
      agent: { name: 'helpdesk-agent', version: '3' },
      thread: { mode: 'previous_response' },
      input: { kind: 'none' },
    });
    expect(pinned.agent_reference).toEqual({ type: 'agent_reference', name: 'helpdesk-agent', version: '3' });
    const latest = buildResponseBody({
      agent: { name: 'a' },
      thread: { mode: 'previous_response' },
      input: { kind: 'none' },
    });
    expect(Object.keys(latest.agent_reference)).toEqual(['type', 'name']);
  });

  it('rejects an approvals input without decisions and an empty conversation id before any I/O', async () => {
    const { fetch, calls } = recordingFetch(() => sseResponse([]));
    const c = client(fetch);
    const r1 = await drain(
      c.streamTurn(
        {
          agent: { name: 'a' },
          thread: { mode: 'conversation', conversationId: '' },
          input: { kind: 'none' },
        },
        { credential: credential('t') },
      ),
    );
    const r2 = await drain(
      c.streamTurn(
        {
          agent: { name: 'a' },
          thread: { mode: 'previous_response' },
          input: { kind: 'approvals', decisions: [] },
        },
        { credential: credential('t') },
      ),
    );
    expect([r1.error, r2.error]).toEqual([expect.any(BotError), expect.any(BotError)]);
    expect((r1.error as BotError).code).toBe('BAD_REQUEST');
    expect(calls).toHaveLength(0);
  });
});

describe('identity per call', () => {
  it('sends Authorization: Bearer <token> from the credential, requested for https://ai.azure.com/.default', async () => {
    const { fetch, calls } = recordingFetch((r) => sseResponse([encodeSse(TEXT_TURN)], { signal: r.signal }));
    const c = client(fetch);
    const bot = credential('bot-token');
    const user = credential('user-token');
    const req: TurnRequest = {
      agent: { name: 'a' },
      thread: { mode: 'previous_response' },
      input: { kind: 'text', text: 'hi' },
    };
    await drain(c.streamTurn(req, { credential: bot }));
    await drain(c.streamTurn(req, { credential: user }));
    expect(FOUNDRY_SCOPE).toBe('https://ai.azure.com/.default');
    expect(bot.scopes).toEqual([FOUNDRY_SCOPE]);
    expect(user.scopes).toEqual([FOUNDRY_SCOPE]);
    expect(calls.map((c2) => c2.headers.get('authorization'))).toEqual([
      'Bearer bot-token',
      'Bearer user-token',
    ]);
    expect(calls[0]?.headers.get('openai-organization')).toBeNull();
  });

  it('a credential failure surfaces as IDENTITY_UNAVAILABLE and nothing is sent', async () => {
    const { fetch, calls } = recordingFetch(() => sseResponse([]));
    const failing: TokenCredential = {
      getToken: () => Promise.reject(new CredentialUnavailableError('no managed identity endpoint')),
    };
    const { error } = await drain(
      client(fetch).streamTurn(
        { agent: { name: 'a' }, thread: { mode: 'previous_response' }, input: { kind: 'text', text: 'x' } },
        { credential: failing },
      ),
    );
    expect(error).toMatchObject({ code: 'IDENTITY_UNAVAILABLE' });
    expect(calls).toHaveLength(0);
  });

  it('a credential returning null is IDENTITY_UNAVAILABLE', async () => {
    const { fetch, calls } = recordingFetch(() => sseResponse([]));
    const { error } = await drain(
      client(fetch).streamTurn(
        { agent: { name: 'a' }, thread: { mode: 'previous_response' }, input: { kind: 'none' } },
        { credential: { getToken: () => Promise.resolve(null) } },
      ),
    );
    expect(error).toMatchObject({ code: 'IDENTITY_UNAVAILABLE' });
    expect(calls).toHaveLength(0);
  });
});

describe('createConversation', () => {
  it('POSTs {} to /openai/v1/conversations with the caller token and returns the id', async () => {
    const { fetch, calls } = recordingFetch(() =>
      Response.json({ id: 'conv_new', object: 'conversation', created_at: 1, metadata: {} }),
    );
    const id = await client(fetch).createConversation({ credential: credential('u1') });
    expect(id).toBe('conv_new');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ method: 'POST', url: `${ENDPOINT}/openai/v1/conversations`, body: {} });
    expect(calls[0]?.headers.get('authorization')).toBe('Bearer u1');
  });

  it('maps a 403 to FOUNDRY_FORBIDDEN', async () => {
    const { fetch } = recordingFetch(() =>
      Response.json({ error: { code: 'forbidden', message: 'nope', type: 'x' } }, { status: 403 }),
    );
    await expect(client(fetch).createConversation({ credential: credential('u1') })).rejects.toMatchObject({
      code: 'FOUNDRY_FORBIDDEN',
      details: { status: 403, code: 'forbidden' },
    });
  });
});

describe('abort via AbortSignal', () => {
  const req: TurnRequest = {
    agent: { name: 'a' },
    thread: { mode: 'previous_response' },
    input: { kind: 'text', text: 'long' },
  };
  const head = TEXT_TURN.slice(0, 5); // created, in_progress, item added, part added, first delta

  it('aborting mid-stream ends the iterator with STREAM_INTERRUPTED reason aborted and aborts the HTTP request', async () => {
    const { fetch, calls } = recordingFetch((r) =>
      sseResponse([encodeSse(head)], { signal: r.signal, hang: true }),
    );
    const ac = new AbortController();
    const events: AgentEvent[] = [];
    let error: unknown;
    try {
      for await (const e of client(fetch).streamTurn(req, {
        credential: credential('t'),
        signal: ac.signal,
      })) {
        events.push(e);
        if (e.type === 'text.delta') ac.abort();
      }
    } catch (e) {
      error = e;
    }
    expect(events.map((e) => e.type)).toEqual(['turn.started', 'text.delta']);
    expect(error).toBeInstanceOf(BotError);
    expect(error).toMatchObject({
      code: 'STREAM_INTERRUPTED',
      details: { reason: 'aborted', responseId: 'resp_A', partialTextLength: 'You have '.length },
    });
    expect(calls[0]?.signal?.aborted).toBe(true);
  });

  it('a signal aborted before the call sends nothing', async () => {
    const { fetch, calls } = recordingFetch(() => sseResponse([]));
    const { error } = await drain(
      client(fetch).streamTurn(req, { credential: credential('t'), signal: AbortSignal.abort() }),
    );
    expect(error).toMatchObject({ code: 'STREAM_INTERRUPTED', details: { reason: 'aborted' } });
    expect(calls).toHaveLength(0);
  });

  it('aborting while waiting for headers rejects at once', async () => {
    const { fetch } = recordingFetch(
      (r) =>
        new Promise<Response>((_, reject) =>
          r.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
        ),
    );
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t0 = Date.now();
    const { error } = await drain(
      client(fetch).streamTurn(req, { credential: credential('t'), signal: ac.signal }),
    );
    expect(error).toMatchObject({ code: 'STREAM_INTERRUPTED', details: { reason: 'aborted' } });
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('a consumer that stops early (break) closes the HTTP stream', async () => {
    const { fetch, calls } = recordingFetch((r) =>
      sseResponse([encodeSse(head)], { signal: r.signal, hang: true }),
    );
    for await (const e of client(fetch).streamTurn(req, { credential: credential('t') })) {
      if (e.type === 'turn.started') break;
    }
    expect(calls[0]?.signal?.aborted).toBe(true);
  });
});

describe('per-call retry override', () => {
  it('maxRetries: 0 on the call sends exactly one request even when the client allows retries', async () => {
    const { fetch, calls } = recordingFetch(() =>
      Response.json({ error: { code: 'server_error', message: 'x' } }, { status: 500 }),
    );
    const { error } = await drain(
      client(fetch, { maxRetries: 2 }).streamTurn(
        {
          agent: { name: 'a' },
          thread: { mode: 'previous_response', previousResponseId: 'resp_P1' },
          input: { kind: 'approvals', decisions: [{ requestId: 'mcpr_1', approve: true }] },
        },
        { credential: credential('t'), maxRetries: 0 },
      ),
    );
    expect(error).toMatchObject({ code: 'FOUNDRY_UNAVAILABLE', details: { status: 500 } });
    expect(calls).toHaveLength(1);
  });
});
