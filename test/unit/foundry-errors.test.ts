import {
  AggregateAuthenticationError,
  AuthenticationError as IdentityAuthenticationError,
  CredentialUnavailableError,
} from '@azure/identity';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { BotError, userMessageFor } from '../../src/errors';
import type { BotErrorCode } from '../../src/errors';
import { createFoundryClient } from '../../src/foundry/client';
import { fromOpenAIError, parseUnansweredApprovals } from '../../src/foundry/errors';
import type { AgentEvent } from '../../src/foundry/types';
import { createLogger } from '../../src/observability/logger';
import { encodeSse, sseResponse } from '../support/fakes/sse';

/** Error mapping at the Foundry boundary (docs/conventions.md C4), with real openai / @azure/identity instances. */

const SECRET_TEXT = 'internal detail CANARY-7f3a';

function apiError(
  status: number,
  inner: Record<string, unknown>,
  headers: Record<string, string> = {},
): APIError {
  return APIError.generate(
    status,
    { error: inner },
    undefined,
    new Headers({ 'x-request-id': 'req_123', ...headers }),
  );
}

describe('fromOpenAIError: status classes', () => {
  it.each<[number, BotErrorCode]>([
    [400, 'FOUNDRY_REJECTED'],
    [401, 'FOUNDRY_UNAUTHORIZED'],
    [403, 'FOUNDRY_FORBIDDEN'],
    [404, 'FOUNDRY_NOT_FOUND'],
    [409, 'FOUNDRY_BUSY'],
    [422, 'FOUNDRY_REJECTED'],
    [429, 'FOUNDRY_RATE_LIMITED'],
    [500, 'FOUNDRY_UNAVAILABLE'],
    [503, 'FOUNDRY_UNAVAILABLE'],
  ])('%i → %s with status, requestId, code, param and no Foundry message text', (status, code) => {
    const err = fromOpenAIError(
      apiError(status, {
        code: 'some_code',
        message: SECRET_TEXT,
        param: 'p',
        type: 'invalid_request_error',
      }),
    );
    expect(err).toBeInstanceOf(BotError);
    expect(err.code).toBe(code);
    expect(err.details).toMatchObject({ status, requestId: 'req_123', code: 'some_code', param: 'p' });
    expect(err.message).not.toContain('CANARY');
    expect(JSON.stringify(err)).not.toContain('CANARY');
    expect(userMessageFor(err.code)).not.toContain('CANARY');
  });

  it('429 carries retryAfterMs from retry-after-ms or Retry-After', () => {
    expect(fromOpenAIError(apiError(429, {}, { 'retry-after-ms': '1500' })).details['retryAfterMs']).toBe(
      1500,
    );
    expect(fromOpenAIError(apiError(429, {}, { 'retry-after': '2' })).details['retryAfterMs']).toBe(2000);
  });

  it('400 "…do not have an approval: ids" → FOUNDRY_UNANSWERED_APPROVALS with the pending ids', () => {
    const err = fromOpenAIError(
      apiError(400, {
        code: null,
        message: 'The following MCP approval requests do not have an approval: mcpr_abc, mcpr_def',
        param: null,
      }),
    );
    expect(err.code).toBe('FOUNDRY_UNANSWERED_APPROVALS');
    expect(err.details['pendingRequestIds']).toEqual(['mcpr_abc', 'mcpr_def']);
    expect(err.details['status']).toBe(400);
  });

  it('parses single ids, whitespace and a trailing period; other messages are not matched', () => {
    expect(
      parseUnansweredApprovals('The following MCP approval requests do not have an approval: mcpr_1'),
    ).toEqual(['mcpr_1']);
    expect(
      parseUnansweredApprovals('The following MCP approval requests do not have an approval: a1 b2,c3.'),
    ).toEqual(['a1', 'b2', 'c3']);
    expect(parseUnansweredApprovals('Not allowed when agent is specified.')).toBeUndefined();
  });

  it('issue 11 item 2: 400 previous_response_not_found → FOUNDRY_THREAD_NOT_FOUND (not a plain rejection)', () => {
    const err = fromOpenAIError(
      apiError(400, {
        code: 'previous_response_not_found',
        message: SECRET_TEXT,
        param: 'previous_response_id',
      }),
    );
    expect(err.code).toBe('FOUNDRY_THREAD_NOT_FOUND');
    expect(err.details).toMatchObject({ code: 'previous_response_not_found', param: 'previous_response_id' });
    expect(JSON.stringify(err)).not.toContain('CANARY');
  });

  it('issue 11 item 2: a 404 on the conversation is the thread, a 404 on agent_reference the agent', () => {
    const conv = fromOpenAIError(
      apiError(404, { code: 'not_found', message: SECRET_TEXT, param: 'conversation' }),
    );
    const agent = fromOpenAIError(
      apiError(404, { code: 'not_found', message: SECRET_TEXT, param: 'agent_reference' }),
    );
    expect(conv.code).toBe('FOUNDRY_THREAD_NOT_FOUND');
    expect(agent.code).toBe('FOUNDRY_NOT_FOUND');
    expect(userMessageFor(conv.code)).not.toBe(userMessageFor(agent.code));
  });

  it("issue 11 item 3: OpenAI's 400 conversation_locked → FOUNDRY_BUSY", () => {
    const err = fromOpenAIError(
      apiError(400, {
        code: 'conversation_locked',
        message:
          'Another process is currently operating on this conversation. Please retry in a few seconds.',
        param: 'conversation',
        type: 'invalid_request_error',
      }),
    );
    expect(err.code).toBe('FOUNDRY_BUSY');
    expect(userMessageFor(err.code)).toBe('The agent is still working on your last message.');
  });

  it('400 invalid_payload (tools with an agent) → FOUNDRY_REJECTED with param', () => {
    const err = fromOpenAIError(
      apiError(400, {
        code: 'invalid_payload',
        message: 'Not allowed when agent is specified.',
        param: 'tools',
      }),
    );
    expect(err).toMatchObject({
      code: 'FOUNDRY_REJECTED',
      details: { code: 'invalid_payload', param: 'tools' },
    });
  });
});

describe('fromOpenAIError: transport, abort, stream and identity failures', () => {
  it.each<[string, BotErrorCode, unknown]>([
    ['APIConnectionTimeoutError', 'FOUNDRY_TIMEOUT', new APIConnectionTimeoutError()],
    ['APIConnectionError', 'FOUNDRY_UNAVAILABLE', new APIConnectionError({ message: 'ECONNREFUSED' })],
    ['APIUserAbortError', 'STREAM_INTERRUPTED', new APIUserAbortError()],
    ['DOMException AbortError', 'STREAM_INTERRUPTED', new DOMException('aborted', 'AbortError')],
    ['CredentialUnavailableError', 'IDENTITY_UNAVAILABLE', new CredentialUnavailableError('no MSI')],
    ['unknown Error', 'FOUNDRY_UNAVAILABLE', new TypeError('weird')],
    [
      'status-less APIError (error SSE event)',
      'FOUNDRY_FAILED',
      new APIError(undefined, { code: 'server_error', message: SECRET_TEXT }, undefined, undefined),
    ],
    [
      'identity AuthenticationError',
      'IDENTITY_UNAVAILABLE',
      new IdentityAuthenticationError(400, { error: 'invalid_grant', error_description: 'x' }),
    ],
    [
      'AggregateAuthenticationError',
      'IDENTITY_UNAVAILABLE',
      new AggregateAuthenticationError([], 'chain failed'),
    ],
  ])('%s → %s', (_name, code, thrown) => {
    const err = fromOpenAIError(thrown);
    expect(err.code).toBe(code);
    expect(err.message).not.toContain('CANARY');
  });

  it('aborts carry details.reason aborted; a BotError passes through unchanged', () => {
    expect(fromOpenAIError(new APIUserAbortError()).details).toEqual({ reason: 'aborted' });
    const original = new BotError('FOUNDRY_BUSY', 'x');
    expect(fromOpenAIError(original)).toBe(original);
  });
});

describe('mapped through the client (fetch answering each status, maxRetries 0)', () => {
  const credential = {
    getToken: () => Promise.resolve({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }),
  };

  async function turnError(
    respond: (signal: AbortSignal | null | undefined) => Response | Promise<Response>,
  ): Promise<{
    error: unknown;
    events: AgentEvent[];
    calls: number;
  }> {
    let calls = 0;
    const fetchImpl = ((_url: string, init?: RequestInit) => {
      calls++;
      return Promise.resolve(respond(init?.signal));
    }) as unknown as typeof fetch;
    const c = createFoundryClient({
      projectEndpoint: 'https://x.services.ai.azure.com/api/projects/p',
      timeoutMs: 2_000,
      idleTimeoutMs: 2_000,
      maxRetries: 0,
      log: createLogger({ sink: () => undefined }),
      fetch: fetchImpl,
    });
    const events: AgentEvent[] = [];
    try {
      for await (const e of c.streamTurn(
        { agent: { name: 'a' }, thread: { mode: 'previous_response' }, input: { kind: 'text', text: 'x' } },
        { credential },
      ))
        events.push(e);
    } catch (error) {
      return { error, events, calls };
    }
    return { error: undefined, events, calls };
  }

  it.each<[number, Record<string, unknown>, BotErrorCode]>([
    [400, { code: 'invalid_payload', message: 'bad', param: 'tools' }, 'FOUNDRY_REJECTED'],
    [
      400,
      { message: 'The following MCP approval requests do not have an approval: mcpr_9' },
      'FOUNDRY_UNANSWERED_APPROVALS',
    ],
    [401, { code: 'unauthorized', message: 'Invalid token' }, 'FOUNDRY_UNAUTHORIZED'],
    [403, { code: 'forbidden', message: 'no role' }, 'FOUNDRY_FORBIDDEN'],
    [
      404,
      { code: 'not_found', message: "Agent 'x' not found.", param: 'agent_reference' },
      'FOUNDRY_NOT_FOUND',
    ],
    [409, { code: 'conversation_locked', message: 'busy' }, 'FOUNDRY_BUSY'],
    [429, { code: 'rate_limit_exceeded', message: 'slow down' }, 'FOUNDRY_RATE_LIMITED'],
    [500, { code: 'server_error', message: 'oops' }, 'FOUNDRY_UNAVAILABLE'],
  ])('HTTP %i %j → %s', async (status, inner, code) => {
    const r = await turnError(() =>
      Response.json({ error: inner }, { status, headers: { 'x-request-id': 'req_h' } }),
    );
    expect(r.calls).toBe(1);
    expect(r.error).toMatchObject({ code, details: { status, requestId: 'req_h' } });
  });

  it('a fetch that cannot connect → FOUNDRY_UNAVAILABLE', async () => {
    const r = await turnError(() => Promise.reject(new TypeError('fetch failed')));
    expect(r.error).toMatchObject({ code: 'FOUNDRY_UNAVAILABLE' });
  });

  it('an `error` SSE event with a top-level error object (thrown by the SDK) → FOUNDRY_FAILED with responseId', async () => {
    const r = await turnError((signal) =>
      sseResponse(
        [
          encodeSse([
            {
              type: 'response.created',
              sequence_number: 0,
              response: { id: 'resp_E', status: 'in_progress', output: [] },
            },
          ]),
          `event: error\ndata: ${JSON.stringify({ error: { code: 'server_error', message: SECRET_TEXT } })}\n\n`,
        ],
        { signal },
      ),
    );
    expect(r.events.map((e) => e.type)).toEqual(['turn.started']);
    expect(r.error).toMatchObject({
      code: 'FOUNDRY_FAILED',
      details: { code: 'server_error', responseId: 'resp_E' },
    });
    expect((r.error as BotError).message).not.toContain('CANARY');
  });

  it('a body that breaks mid-stream → STREAM_INTERRUPTED connection_lost with responseId and partial length', async () => {
    const r = await turnError(() => {
      const enc = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(
            enc.encode(
              encodeSse([
                {
                  type: 'response.created',
                  sequence_number: 0,
                  response: { id: 'resp_K', status: 'in_progress', output: [] },
                },
                {
                  type: 'response.output_text.delta',
                  sequence_number: 1,
                  item_id: 'msg_1',
                  delta: 'partial',
                },
              ]),
            ),
          );
          setTimeout(() => controller.error(new TypeError('terminated')), 10);
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    });
    expect(r.events.map((e) => e.type)).toEqual(['turn.started', 'text.delta']);
    expect(r.error).toMatchObject({
      code: 'STREAM_INTERRUPTED',
      details: { reason: 'connection_lost', responseId: 'resp_K', partialTextLength: 7 },
    });
  });
});
