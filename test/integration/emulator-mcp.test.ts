import OpenAI from 'openai';
import { startEmulator } from '../../emulator/server';
import {
  getLog,
  grantConsent,
  postResponse,
  setConsentState,
  setFaults,
  setSettings,
  submitConsent,
} from '../../emulator/test-client';
import {
  AGENT,
  ALICE,
  BEN,
  createConversation,
  messageText,
  openaiFor,
  outputOfType,
  streamTurn,
  terminal,
  type FoundryStreaming,
  type WireResponse,
  useEmulator,
} from './emulator-helpers';

// docs/foundry-wire.md §6.2 (consent), §6.3 (approval), §8.4 (turn algorithm), §11 (alternatives).

const emu = useEmulator();

const consentItem = (r: WireResponse): Record<string, unknown> | undefined =>
  outputOfType(r, 'oauth_consent_request')[0];
const linkOf = (r: WireResponse): string => String(consentItem(r)?.['consent_link']);
const approvals = (r: WireResponse): string[] => outputOfType(r, 'mcp_approval_request').map((i) => i.id);
const approve = (ids: string[], ok: boolean | boolean[]): Record<string, unknown>[] =>
  ids.map((id, i) => ({
    type: 'mcp_approval_response',
    approval_request_id: id,
    approve: Array.isArray(ok) ? ok[i] : ok,
  }));

describe('OAuth consent (§6.2)', () => {
  it('asks for consent with the §3.3 consent-turn events, ending incomplete', async () => {
    const events = await streamTurn(emu, ALICE, { input: 'search my issues' });
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.mcp_list_tools.in_progress',
      'response.mcp_list_tools.completed',
      'response.output_item.done',
      'response.output_item.added',
      'response.output_item.done',
      'response.incomplete',
    ]);
    expect(events[7]).toMatchObject({ sequence_number: 7, output_index: 1 });
    const r = terminal(events);
    expect(r.status).toBe('incomplete');
    expect(outputOfType(r, 'mcp_list_tools')[0]).toMatchObject({ server_label: 'github', tools: [] });
    const item = consentItem(r);
    expect(item).toMatchObject({ type: 'oauth_consent_request', server_label: 'github', created_by: {} });
    expect(item?.['id']).toMatch(/^oauthreq_[0-9a-f]{50}$/);
    expect(linkOf(r)).toMatch(new RegExp(`^${emu.url}/__emulator/consent/[0-9a-f]+$`));
  });

  it('serves a consent page with Allow/Decline buttons and records the decision', async () => {
    const r = terminal(await streamTurn(emu, ALICE, { input: 'search my issues' }));
    const page = await fetch(linkOf(r));
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('<title>Sign in to github</title>');
    expect(html).toMatch(
      /<form method="post"[^>]*>[\s\S]*<button[^>]*id="allow"[\s\S]*<button[^>]*id="decline"[\s\S]*<\/form>/,
    );
    expect(html).toContain(ALICE);
    const done = await fetch(linkOf(r), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'decision=allow',
    });
    expect(await done.text()).toContain('You can close this window');
    const log = await getLog(emu.url);
    expect(log.consents).toEqual([
      { oid: ALICE, serverLabel: 'github', decision: 'granted', source: 'page', at: expect.any(String) },
    ]);
  });

  it('continues in previous_response_id mode by re-sending the text; consent is per user', async () => {
    const c = terminal(await streamTurn(emu, ALICE, { input: 'search my issues' }));
    await submitConsent(emu.url, linkOf(c), 'allow');
    const events = await streamTurn(emu, ALICE, { input: 'search my issues', previous_response_id: c.id });
    const r = terminal(events);
    expect(r.status).toBe('completed');
    expect(outputOfType(r, 'mcp_list_tools')[0]?.['tools']).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'search_issues' })]),
    );
    const call = outputOfType(r, 'mcp_call')[0];
    expect(call).toMatchObject({
      name: 'search_issues',
      status: 'completed',
      error: null,
      approval_request_id: null,
    });
    expect(call?.['id']).toMatch(/^mcp_[0-9a-f]{48}$/);
    expect(messageText(r)).toContain('#12 Login page times out');
    // Ben has not consented: he is asked, even though Alice has.
    const ben = terminal(await streamTurn(emu, BEN, { input: 'search my issues' }));
    expect(ben.status).toBe('incomplete');
    expect(consentItem(ben)).toBeDefined();
    const log = await getLog(emu.url);
    expect(log.toolCalls).toEqual([expect.objectContaining({ name: 'search_issues', callerOid: ALICE })]);
  });

  it('continues in conversation mode with no input', async () => {
    const conv = await createConversation(emu, ALICE);
    const c = terminal(await streamTurn(emu, ALICE, { conversation: conv, input: 'search my issues' }));
    await submitConsent(emu.url, linkOf(c), 'allow');
    const r = terminal(await streamTurn(emu, ALICE, { conversation: conv }));
    expect(r.status).toBe('completed');
    expect(outputOfType(r, 'mcp_call')).toHaveLength(1);
    const log = await getLog(emu.url);
    expect(
      log.requests
        .filter((q) => q.method === 'POST' && q.path.endsWith('/responses'))
        .map((q) => q.inputKind),
    ).toEqual(['text', 'none']);
  });

  it('reports declined consent as a failed mcp_call with a string error, then asks again next time', async () => {
    const c = terminal(await streamTurn(emu, ALICE, { input: 'search my issues' }));
    const page = await submitConsent(emu.url, linkOf(c), 'decline');
    expect(page).toContain('declined');
    const r = terminal(
      await streamTurn(emu, ALICE, { input: 'search my issues', previous_response_id: c.id }),
    );
    expect(r.status).toBe('completed');
    expect(outputOfType(r, 'mcp_call')[0]).toMatchObject({
      status: 'failed',
      error: 'User declined consent',
      output: null,
    });
    expect(messageText(r)).toContain("couldn't use github");
    const again = terminal(await streamTurn(emu, ALICE, { input: 'search my issues' }));
    expect(consentItem(again)).toBeDefined();
  });

  it('needs neither consent nor approval for an auth:none tool', async () => {
    const events = await streamTurn(emu, ALICE, { input: 'weather?' });
    const types = events.map((e) => e.type);
    expect(types.slice(2, 12)).toEqual([
      'response.output_item.added',
      'response.mcp_list_tools.in_progress',
      'response.mcp_list_tools.completed',
      'response.output_item.done',
      'response.output_item.added',
      'response.mcp_call.in_progress',
      'response.mcp_call_arguments.delta',
      'response.mcp_call_arguments.done',
      'response.mcp_call.completed',
      'response.output_item.done',
    ]);
    const r = terminal(events);
    expect(outputOfType(r, 'mcp_call')[0]).toMatchObject({ server_label: 'weather', name: 'get_forecast' });
    expect(messageText(r)).toContain('Seattle');
  });
});

describe('MCP approval (§6.3)', () => {
  beforeEach(async () => {
    await grantConsent(emu.url, ALICE, 'github');
  });

  it('asks for approval with the §3.3 approval-turn events and resumes in chain mode', async () => {
    const events = await streamTurn(emu, ALICE, { input: 'please create an issue' });
    expect(events.map((e) => e.type).slice(-3)).toEqual([
      'response.output_item.added',
      'response.output_item.done',
      'response.completed',
    ]);
    const p = terminal(events);
    const req = outputOfType(p, 'mcp_approval_request')[0];
    expect(req?.id).toMatch(/^mcpr_[0-9a-f]{48}$/);
    expect(req).toMatchObject({ server_label: 'github', name: 'create_issue' });
    expect(JSON.parse(String(req?.['arguments']))).toEqual({
      owner: 'contoso',
      repo: 'helpdesk',
      title: 'Printer on floor 3 is offline',
      body: expect.any(String),
    });
    const r = terminal(
      await streamTurn(emu, ALICE, { previous_response_id: p.id, input: approve([req?.id ?? ''], true) }),
    );
    expect(r.previous_response_id).toBe(p.id);
    expect(outputOfType(r, 'mcp_call')[0]).toMatchObject({
      name: 'create_issue',
      approval_request_id: req?.id,
      status: 'completed',
      output: expect.stringContaining('"number":42'),
    });
    expect(messageText(r)).toMatch(/^Created issue #42/);
    const log = await getLog(emu.url);
    expect(log.approvals.filter((a) => a.requestId === req?.id)).toEqual([
      expect.objectContaining({ approve: true, callerOid: ALICE, responseId: r.id }),
    ]);
    expect(log.toolCalls).toEqual([
      expect.objectContaining({ name: 'create_issue', callerOid: ALICE, approvalRequestId: req?.id }),
    ]);
    // Replaying the same answer (a duplicate Teams submit) is rejected.
    const dup = await postResponse(emu.projectEndpoint, emu.issueToken({ oid: ALICE }), {
      agent_reference: AGENT,
      previous_response_id: p.id,
      input: approve([req?.id ?? ''], true),
    });
    expect(dup.status).toBe(400);
  });

  it('resumes in conversation mode through the openai client, and denies without calling', async () => {
    const client = openaiFor(emu, ALICE);
    const conv = await client.conversations.create({});
    const collect = async (body: Record<string, unknown>): Promise<WireResponse> => {
      const s = await client.responses.create({
        ...body,
        conversation: conv.id,
        stream: true,
        agent_reference: AGENT,
      } as FoundryStreaming);
      let last: unknown;
      for await (const ev of s) last = ev;
      return (last as { response: WireResponse }).response;
    };
    const p = await collect({ input: 'create an issue' });
    const r = await collect({ input: approve(approvals(p), false) });
    expect(outputOfType(r, 'mcp_call')).toHaveLength(0);
    expect(messageText(r)).toBe('OK, I did not create the issue.');
    const log = await getLog(emu.url);
    expect(log.toolCalls).toHaveLength(0);
    expect(log.approvals).toEqual([expect.objectContaining({ approve: false, requestId: approvals(p)[0] })]);
    expect(log.requests.at(-1)?.approvalResponses).toEqual([
      { approval_request_id: approvals(p)[0], approve: false },
    ]);
  });

  it('puts two approval requests in one response and honours mixed answers', async () => {
    const p = terminal(await streamTurn(emu, ALICE, { input: 'triage issue 17' }));
    const ids = approvals(p);
    expect(outputOfType(p, 'mcp_approval_request').map((i) => i['name'])).toEqual([
      'add_label',
      'assign_issue',
    ]);
    const r = terminal(
      await streamTurn(emu, ALICE, { previous_response_id: p.id, input: approve(ids, [true, false]) }),
    );
    expect(outputOfType(r, 'mcp_call').map((c) => [c['name'], c['approval_request_id']])).toEqual([
      ['add_label', ids[0]],
    ]);
    const q = terminal(await streamTurn(emu, ALICE, { input: 'triage again' }));
    const none = terminal(
      await streamTurn(emu, ALICE, { previous_response_id: q.id, input: approve(approvals(q), false) }),
    );
    expect(messageText(none)).toBe('OK, I left issue #17 unchanged.');
  });

  it('asks for consent before approval when the user has not consented', async () => {
    const r = terminal(await streamTurn(emu, BEN, { input: 'create an issue' }));
    expect(consentItem(r)).toBeDefined();
    expect(approvals(r)).toHaveLength(0);
  });
});

describe('§11 alternatives', () => {
  it('1: consent turn can end completed', async () => {
    await setSettings(emu.url, { consentTerminal: 'completed' });
    const events = await streamTurn(emu, ALICE, { input: 'search my issues' });
    expect(events.at(-1)?.type).toBe('response.completed');
    expect(consentItem(terminal(events))).toBeDefined();
  });

  it('2: top-level response.oauth_consent_requested event, instead of or with the item', async () => {
    await setSettings(emu.url, { consentDelivery: 'event' });
    const only = await streamTurn(emu, ALICE, { input: 'search my issues' });
    const ev = only.find((e) => e.type === 'response.oauth_consent_requested');
    expect(ev).toMatchObject({
      consent_link: expect.stringContaining('/__emulator/consent/'),
      server_label: 'github',
    });
    expect(Object.keys(ev ?? {})).not.toContain('error');
    expect(consentItem(terminal(only))).toBeUndefined();
    await setSettings(emu.url, { consentDelivery: 'item_and_event' });
    const both = await streamTurn(emu, ALICE, { input: 'search my issues' });
    expect(both.some((e) => e.type === 'response.oauth_consent_requested')).toBe(true);
    expect(consentItem(terminal(both))).toBeDefined();
  });

  it('3: consent item without server_label', async () => {
    await setSettings(emu.url, { consentServerLabel: false });
    const item = consentItem(terminal(await streamTurn(emu, ALICE, { input: 'search my issues' })));
    expect(item).toBeDefined();
    expect(item).not.toHaveProperty('server_label');
  });

  it.each([
    ['tool_execution_error', { type: 'mcp_tool_execution_error', content: expect.anything() }],
    ['http_error', { type: 'http_error', code: 401, message: 'User declined consent' }],
  ] as const)('5: mcp_call.error as a %s object', async (form, shape) => {
    await setSettings(emu.url, { mcpCallErrorForm: form });
    await setConsentState(emu.url, ALICE, 'github', 'declined');
    const r = terminal(await streamTurn(emu, ALICE, { input: 'search my issues' }));
    expect(outputOfType(r, 'mcp_call')[0]?.['error']).toEqual(shape);
  });

  it('consent URL inside approval arguments (older hosted-toolbox shape)', async () => {
    await setSettings(emu.url, { consentDelivery: 'approval_arguments' });
    const p = terminal(await streamTurn(emu, ALICE, { input: 'search my issues' }));
    expect(p.status).toBe('completed');
    const req = outputOfType(p, 'mcp_approval_request')[0];
    const args = JSON.parse(String(req?.['arguments'])) as { consent_url: string };
    expect(args.consent_url).toContain('/__emulator/consent/');
    await submitConsent(emu.url, args.consent_url, 'allow');
    const r = terminal(
      await streamTurn(emu, ALICE, { previous_response_id: p.id, input: approve([req?.id ?? ''], true) }),
    );
    expect(outputOfType(r, 'mcp_call')[0]).toMatchObject({ name: 'search_issues', status: 'completed' });
  });

  it('S22: a second consent request right after consent, then the tool runs', async () => {
    await setSettings(emu.url, { repeatConsentAfterGrant: true });
    const c1 = terminal(await streamTurn(emu, ALICE, { input: 'search my issues' }));
    await submitConsent(emu.url, linkOf(c1), 'allow');
    const c2 = terminal(
      await streamTurn(emu, ALICE, { input: 'search my issues', previous_response_id: c1.id }),
    );
    expect(consentItem(c2)).toBeDefined();
    await submitConsent(emu.url, linkOf(c2), 'allow');
    const r = terminal(
      await streamTurn(emu, ALICE, { input: 'search my issues', previous_response_id: c2.id }),
    );
    expect(outputOfType(r, 'mcp_call')).toHaveLength(1);
  });

  it('6: tool_choice is accepted (and ignored) with an agent', async () => {
    const r = terminal(await streamTurn(emu, ALICE, { input: 'hello', tool_choice: 'required' }));
    expect(r.status).toBe('completed');
  });

  it('9: agent_reference on an approval continuation is required by default, optional by switch', async () => {
    await grantConsent(emu.url, ALICE, 'github');
    const p = terminal(await streamTurn(emu, ALICE, { input: 'create an issue' }));
    const token = emu.issueToken({ oid: ALICE });
    const body = { previous_response_id: p.id, input: approve(approvals(p), true), stream: false };
    const strict = await postResponse(emu.projectEndpoint, token, body);
    expect(strict.status).toBe(400);
    expect(await strict.json()).toMatchObject({ error: { param: 'agent_reference' } });
    await setSettings(emu.url, { agentReferenceOnContinuation: 'optional' });
    const lenient = await postResponse(emu.projectEndpoint, token, body);
    expect(lenient.status).toBe(200);
    const r = (await lenient.json()) as WireResponse;
    expect(r.agent_reference).toMatchObject({ name: 'helpdesk-agent' });
    expect(outputOfType(r, 'mcp_call')).toHaveLength(1);
  });

  it('switches apply to the next N requests through an override fault', async () => {
    await setFaults(emu.url, [{ kind: 'override', settings: { consentTerminal: 'completed' }, count: 1 }]);
    const a = await streamTurn(emu, ALICE, { input: 'search my issues' });
    const b = await streamTurn(emu, ALICE, { input: 'search my issues' });
    expect([a.at(-1)?.type, b.at(-1)?.type]).toEqual(['response.completed', 'response.incomplete']);
  });

  it('optional data: [DONE] sentinel (openai-node stops there)', async () => {
    await setSettings(emu.url, { doneSentinel: true });
    const res = await postResponse(emu.projectEndpoint, emu.issueToken({ oid: ALICE }), {
      agent_reference: AGENT,
      input: 'hello',
      stream: true,
    });
    expect((await res.text()).endsWith('data: [DONE]\n\n')).toBe(true);
    const client = openaiFor(emu, ALICE);
    const s = await client.responses.create({
      input: 'hello',
      stream: true,
      agent_reference: AGENT,
    } as FoundryStreaming);
    const types: string[] = [];
    for await (const ev of s) types.push(ev.type);
    expect(types.at(-1)).toBe('response.completed');
  });
});

describe('consent link bases', () => {
  it('produces https look-alike links (consentLinkBase, apihub style) whose token works on the emulator', async () => {
    const e2 = await startEmulator({ consentLinkBase: 'https://logic-emulator.consent.azure-apihub.net' });
    try {
      await setSettings(e2.url, { consentLinkStyle: 'apihub' });
      const res = await postResponse(e2.projectEndpoint, e2.issueToken({ oid: ALICE }), {
        agent_reference: AGENT,
        input: 'search my issues',
      });
      const r = (await res.json()) as WireResponse;
      const link = linkOf(r);
      expect(link).toMatch(/^https:\/\/logic-emulator\.consent\.azure-apihub\.net\/login\?data=[0-9a-f]+$/);
      // The same page is served at the emulator under /login?data=… (for an https proxy in front of it).
      const page = await fetch(`${e2.url}/login${new URL(link).search}`);
      expect(await page.text()).toContain('id="allow"');
      await submitConsent(e2.url, link, 'allow');
      const log = await getLog(e2.url);
      expect(log.consents[0]).toMatchObject({ oid: ALICE, decision: 'granted' });
    } finally {
      await e2.close();
    }
  });

  it('uses publicBaseUrl by default', async () => {
    const e3 = await startEmulator({ publicBaseUrl: 'https://emulator.dev.example/' });
    try {
      const client = new OpenAI({
        baseURL: `${e3.projectEndpoint}/openai/v1`,
        apiKey: e3.issueToken({ oid: ALICE }),
      });
      const r = (await client.responses.create({
        input: 'search my issues',
        agent_reference: AGENT,
      } as OpenAI.Responses.ResponseCreateParamsNonStreaming)) as unknown as WireResponse;
      expect(linkOf(r)).toMatch(/^https:\/\/emulator\.dev\.example\/__emulator\/consent\/[0-9a-f]+$/);
    } finally {
      await e3.close();
    }
  });
});
