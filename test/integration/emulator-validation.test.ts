import OpenAI from 'openai';
import { startEmulator, type RunningEmulator } from '../../emulator/server';
import {
  grantConsent,
  postResponse,
  readSse,
  reset,
  setFaults,
  setSettings,
} from '../../emulator/test-client';
import {
  AGENT,
  ALICE,
  OTHER_TENANT,
  createConversation,
  jsonTurn,
  openaiFor,
  streamTurn,
  terminal,
  type FoundryNonStreaming,
} from './emulator-helpers';

// docs/foundry-wire.md §7.1, §7.2, §8.2: every rejection with its status and exact body; §1.3 token checks.

let emu: RunningEmulator;
let other: RunningEmulator;
beforeAll(async () => {
  [emu, other] = await Promise.all([startEmulator(), startEmulator()]);
});
afterAll(async () => {
  await Promise.all([emu.close(), other.close()]);
});
beforeEach(async () => {
  await reset(emu.url);
});

type ErrorBody = {
  error: {
    code: string;
    message: string;
    param: string | null;
    type: string;
    details: unknown[];
    additionalInfo: { request_id: string };
  };
};

async function rejected(
  body: Record<string, unknown>,
  oid = ALICE,
): Promise<{ status: number; error: ErrorBody['error'] }> {
  const res = await postResponse(emu.projectEndpoint, emu.issueToken({ oid }), body);
  const json = (await res.json()) as ErrorBody;
  expect(res.headers.get('x-request-id')).toBe(json.error.additionalInfo.request_id);
  return { status: res.status, error: json.error };
}

describe('request validation (§8.2)', () => {
  it('rejects the deprecated agent key with the §7.2 body', async () => {
    const r = await rejected({ agent: { type: 'agent_reference', name: 'helpdesk-agent' }, input: 'hello' });
    expect(r.status).toBe(400);
    expect(r.error).toEqual({
      code: 'invalid_payload',
      message: "The 'agent' property is deprecated. Use 'agent_reference' instead.",
      param: 'agent',
      type: 'invalid_request_error',
      details: [],
      additionalInfo: { request_id: expect.stringMatching(/^[0-9a-f]{32}$/) },
    });
  });

  it('requires agent_reference', async () => {
    const r = await rejected({ model: 'gpt-4.1', input: 'hello' });
    expect(r.status).toBe(400);
    expect(r.error).toMatchObject({ code: 'invalid_payload', param: 'agent_reference' });
  });

  it('404s an unknown agent or version, with a configurable message', async () => {
    const r = await rejected({ agent_reference: { type: 'agent_reference', name: 'nope' }, input: 'hi' });
    expect(r.status).toBe(404);
    expect(r.error).toMatchObject({
      code: 'not_found',
      message: "Agent 'nope' not found.",
      param: 'agent_reference',
    });
    const v = await rejected({ agent_reference: { ...AGENT, version: '5' }, input: 'hi' });
    expect(v.status).toBe(404);
    expect(v.error.message).toBe("Version '5' not found for agent 'helpdesk-agent'.");
    await setSettings(emu.url, { unknownAgentMessage: 'The agent {name} does not exist' });
    const c = await rejected({ agent_reference: { type: 'agent_reference', name: 'nope' }, input: 'hi' });
    expect(c.error.message).toBe('The agent nope does not exist');
  });

  it.each([
    ['tools', { tools: [{ type: 'web_search' }] }],
    ['text.format', { text: { format: { type: 'json_object' } } }],
    ['response_format', { response_format: { type: 'json_object' } }],
  ])('rejects %s together with an agent', async (param, extra) => {
    const r = await rejected({ agent_reference: AGENT, input: 'hi', ...extra });
    expect(r.status).toBe(400);
    expect(r.error).toMatchObject({
      code: 'invalid_payload',
      message: 'Not allowed when agent is specified.',
      param,
    });
  });

  it('rejects conversation together with previous_response_id', async () => {
    const conv = await createConversation(emu, ALICE);
    const prev = terminal(await streamTurn(emu, ALICE, { input: 'hello' }));
    const r = await rejected({
      agent_reference: AGENT,
      input: 'hi',
      conversation: conv,
      previous_response_id: prev.id,
    });
    expect(r.status).toBe(400);
    expect(r.error).toMatchObject({
      code: 'invalid_payload',
      param: 'previous_response_id',
      message: 'Cannot be used with conversation.',
    });
  });

  it('400s an unknown previous_response_id and 404s an unknown conversation', async () => {
    const p = await rejected({ agent_reference: AGENT, input: 'hi', previous_response_id: 'resp_missing' });
    expect(p.status).toBe(400);
    expect(p.error).toMatchObject({ code: 'previous_response_not_found', param: 'previous_response_id' });
    const c = await rejected({ agent_reference: AGENT, input: 'hi', conversation: { id: 'conv_missing' } });
    expect(c.status).toBe(404);
    expect(c.error).toMatchObject({ code: 'not_found', param: 'conversation' });
  });

  it('lists unanswered approval requests (conversation and chain)', async () => {
    await grantConsent(emu.url, ALICE, 'github');
    const conv = await createConversation(emu, ALICE);
    const t = terminal(await streamTurn(emu, ALICE, { conversation: conv, input: 'triage #17' }));
    const ids = t.output.filter((i) => i.type === 'mcp_approval_request').map((i) => i.id);
    expect(ids).toHaveLength(2);
    const r = await rejected({ agent_reference: AGENT, conversation: conv, input: 'hello' });
    expect(r.status).toBe(400);
    expect(r.error.message).toBe(
      `The following MCP approval requests do not have an approval: ${ids.join(', ')}`,
    );
    // Answering only one of two is not enough.
    const half = await rejected({
      agent_reference: AGENT,
      previous_response_id: t.id,
      input: [{ type: 'mcp_approval_response', approval_request_id: ids[0], approve: true }],
    });
    expect(half.error.message).toBe(`The following MCP approval requests do not have an approval: ${ids[1]}`);
  });

  it('rejects an approval response for an id that is not pending', async () => {
    const r = await rejected({
      agent_reference: AGENT,
      input: [{ type: 'mcp_approval_response', approval_request_id: 'mcpr_unknown', approve: true }],
    });
    expect(r.status).toBe(400);
    expect(r.error).toMatchObject({ code: 'invalid_payload', param: 'input' });
  });

  it("refuses a second response while one is in progress on the conversation (OpenAI's 400 by default)", async () => {
    const conv = await createConversation(emu, ALICE);
    await setFaults(emu.url, [{ kind: 'stall', afterEvents: 2, ms: 1500 }]);
    const firstRes = await postResponse(emu.projectEndpoint, emu.issueToken({ oid: ALICE }), {
      agent_reference: AGENT,
      conversation: conv,
      input: 'hello',
      stream: true,
    });
    // Headers are sent once the response is accepted and the conversation is locked.
    expect(firstRes.status).toBe(200);
    const first = readSse(firstRes);
    const client = openaiFor(emu, ALICE, { maxRetries: 0 });
    const second = client.responses.create({
      conversation: conv,
      input: 'hi',
      agent_reference: AGENT,
    } as FoundryNonStreaming);
    await expect(second).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(second).rejects.toMatchObject({ code: 'conversation_locked', status: 400 });
    expect((await first).at(-1)?.type).toBe('response.completed');
    // Unlocked afterwards.
    expect((await jsonTurn(emu, ALICE, { conversation: conv, input: 'hi' })).status).toBe(200);
  });

  it('rejects malformed JSON and schema mismatches', async () => {
    const res = await fetch(`${emu.projectEndpoint}/openai/v1/responses`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${emu.issueToken({ oid: ALICE })}`,
        'content-type': 'application/json',
      },
      body: '{not json',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { param: '/', code: 'invalid_payload' } });
    const r = await rejected({ agent_reference: AGENT, input: 42 });
    expect(r.error.message).toBe('The provided data does not match the expected schema');
  });

  it('surfaces through openai-node error classes with requestID', async () => {
    const client = openaiFor(emu, ALICE);
    const p = client.responses.create({
      input: 'x',
      agent: { name: 'helpdesk-agent' },
    } as unknown as FoundryNonStreaming);
    await expect(p).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(p).rejects.toMatchObject({
      param: 'agent',
      requestID: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
  });
});

describe('bearer tokens (§1.3)', () => {
  const call = (authorization?: string): Promise<Response> =>
    fetch(`${emu.projectEndpoint}/openai/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ agent_reference: AGENT, input: 'hello' }),
    });

  it.each([
    ['missing', undefined],
    ['not a JWT', 'Bearer abc'],
    ['expired', () => `Bearer ${emu.issueToken({ oid: ALICE, expiresInSec: -5 })}`],
    ['wrong audience', () => `Bearer ${emu.issueToken({ oid: ALICE, aud: 'https://management.azure.com' })}`],
    ['signed by another emulator', () => `Bearer ${other.issueToken({ oid: ALICE })}`],
  ])('401s a %s token', async (_name, auth) => {
    const res = await call(typeof auth === 'function' ? auth() : auth);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'unauthorized', details: [] } });
  });

  it('403s a token from another tenant', async () => {
    const res = await call(`Bearer ${emu.issueToken({ oid: ALICE, tid: OTHER_TENANT })}`);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'forbidden' } });
  });

  it('maps to openai AuthenticationError / PermissionDeniedError', async () => {
    const expired = new OpenAI({
      baseURL: `${emu.projectEndpoint}/openai/v1`,
      apiKey: emu.issueToken({ oid: ALICE, expiresInSec: -1 }),
    });
    await expect(
      expired.responses.create({ input: 'hi', agent_reference: AGENT } as FoundryNonStreaming),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const foreign = new OpenAI({
      baseURL: `${emu.projectEndpoint}/openai/v1`,
      apiKey: emu.issueToken({ oid: ALICE, tid: OTHER_TENANT }),
    });
    await expect(
      foreign.responses.create({ input: 'hi', agent_reference: AGENT } as FoundryNonStreaming),
    ).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
  });
});
