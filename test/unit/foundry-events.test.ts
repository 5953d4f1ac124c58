import { BotError } from '../../src/errors';
import { toToolError } from '../../src/foundry/items';
import { toAgentEvents } from '../../src/foundry/stream-parser';
import type { AgentEvent, TurnOutcome } from '../../src/foundry/types';
import { createLogger } from '../../src/observability/logger';
import { iterate, parseSseFixture, readFixture } from '../support/fakes/sse';

/**
 * The stream parser against the wire examples of docs/foundry-wire.md §6 (fixtures kept verbatim) and every
 * alternative listed in §11 items 1–5.
 */

type Ev = Record<string, unknown>;

function capture(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: 'debug', sink: (l) => lines.push(l) }), lines };
}

async function run(
  events: readonly unknown[],
): Promise<{ out: AgentEvent[]; error?: unknown; lines: string[] }> {
  const { log, lines } = capture();
  const out: AgentEvent[] = [];
  try {
    for await (const e of toAgentEvents(iterate(events), log)) out.push(e);
    return { out, lines };
  } catch (error) {
    return { out, error, lines };
  }
}

function fixture(name: string): Ev[] {
  return parseSseFixture(readFixture(name)).events;
}

function endOf(out: AgentEvent[]): TurnOutcome {
  const last = out[out.length - 1];
  if (last?.type !== 'turn.end') throw new Error(`last event is ${last?.type ?? 'none'}`);
  return last.outcome;
}

const ofType = <T extends AgentEvent['type']>(
  out: AgentEvent[],
  type: T,
): Extract<AgentEvent, { type: T }>[] =>
  out.filter((e): e is Extract<AgentEvent, { type: T }> => e.type === type);

const created = (id: string, extra: Ev = {}): Ev => ({
  type: 'response.created',
  sequence_number: 0,
  response: { id, object: 'response', status: 'in_progress', output: [], ...extra },
});
const added = (seq: number, index: number, item: Ev): Ev => ({
  type: 'response.output_item.added',
  sequence_number: seq,
  output_index: index,
  item,
});
const done = (seq: number, index: number, item: Ev): Ev => ({
  type: 'response.output_item.done',
  sequence_number: seq,
  output_index: index,
  item,
});
const terminal = (type: string, seq: number, response: Ev): Ev => ({ type, sequence_number: seq, response });
const delta = (seq: number, itemId: string, text: string): Ev => ({
  type: 'response.output_text.delta',
  sequence_number: seq,
  item_id: itemId,
  output_index: 0,
  content_index: 0,
  delta: text,
  logprobs: [],
});

const LINK = 'https://logic-swedencentral-001.consent.azure-apihub.net/login?data=xxxx';
const consentItem = (extra: Ev = {}): Ev => ({
  type: 'oauth_consent_request',
  id: 'oauthreq_1',
  created_by: {},
  consent_link: LINK,
  ...extra,
});

describe('fixture reader', () => {
  it('expands the documented elisions of §6 and keeps every data line', () => {
    const c = parseSseFixture(readFixture('6.3-approval-continuation.sse'));
    expect(c.elidedLines).toBe(1);
    expect(c.events).toHaveLength(9);
    const last = c.events[8] as { response: { output: { id: string }[] } };
    expect(last.response.output.map((i) => i.id)).toEqual(['mcp_1', 'msg_2']);
  });
});

describe('§6.1 plain streamed text turn (verbatim fixture)', () => {
  it('emits turn.started, the two deltas and a completed outcome with the text', async () => {
    const { out, error } = await run(fixture('6.1-text-turn.sse'));
    expect(error).toBeUndefined();
    expect(out.map((e) => e.type)).toEqual(['turn.started', 'text.delta', 'text.delta', 'turn.end']);
    expect(out[0]).toEqual({ type: 'turn.started', responseId: 'resp_A', conversationId: 'conv_X' });
    expect(ofType(out, 'text.delta').map((d) => d.text)).toEqual(['You have ', 'two meetings today.']);
    const outcome = endOf(out);
    expect(outcome).toMatchObject({ status: 'completed', responseId: 'resp_A', conversationId: 'conv_X' });
    expect(outcome.text).toBe('You have two meetings today.');
    expect(outcome.approvals).toEqual([]);
    expect(outcome.consents).toEqual([]);
  });

  it('turns the documented annotation.added event into a url citation', async () => {
    const events = fixture('6.1-text-turn.sse');
    const annotation = JSON.parse(readFixture('6.1-annotation-event.json.txt')) as Ev;
    events.splice(6, 0, annotation);
    const { out } = await run(events);
    expect(ofType(out, 'citation')).toEqual([
      {
        type: 'citation',
        itemId: 'msg_1',
        citation: { kind: 'url_citation', url: 'https://…', title: '…', startIndex: 10, endIndex: 13 },
      },
    ]);
  });

  it('maps file_citation, container_file_citation and file_path annotations; skips unknown ones', async () => {
    const ann = (annotation: Ev): Ev => ({
      type: 'response.output_text.annotation.added',
      item_id: 'msg_1',
      annotation,
    });
    const events = [
      created('resp_A'),
      added(1, 0, { id: 'msg_1', type: 'message', role: 'assistant', content: [] }),
      ann({ type: 'file_citation', file_id: 'file_1', filename: 'a.pdf', index: 3 }),
      ann({
        type: 'container_file_citation',
        container_id: 'c1',
        file_id: 'file_2',
        filename: 'b.csv',
        start_index: 1,
        end_index: 2,
      }),
      ann({ type: 'file_path', file_id: 'file_3', index: 0 }),
      ann({ type: 'future_citation', foo: 1 }),
      terminal('response.completed', 9, { id: 'resp_A', status: 'completed' }),
    ];
    const { out } = await run(events);
    expect(ofType(out, 'citation').map((c) => c.citation)).toEqual([
      { kind: 'file_citation', fileId: 'file_1', filename: 'a.pdf', startIndex: 3 },
      { kind: 'container_file_citation', fileId: 'file_2', filename: 'b.csv', startIndex: 1, endIndex: 2 },
      { kind: 'file_path', fileId: 'file_3', startIndex: 0 },
    ]);
  });
});

describe('§6.2 consent turn (verbatim fixture)', () => {
  it('reports one consent (added + done deduplicated by link), list-tools progress, and ends incomplete', async () => {
    const { out, error } = await run(fixture('6.2-consent-turn.sse'));
    expect(error).toBeUndefined();
    expect(out[0]).toEqual({ type: 'turn.started', responseId: 'resp_C1', conversationId: 'conv_X' });
    expect(endOf(out).consents).toEqual([
      {
        itemId: 'oauthreq_10b0f026610e2b76006981547b53d48190840179e52f39a0aa',
        consentLink: LINK,
        serverLabel: 'outlook',
        source: 'item',
      },
    ]);
    const progress = ofType(out, 'tool.progress').map((p) => [p.call.itemId, p.call.itemType, p.call.status]);
    expect(progress).toEqual([
      ['mcpl_1', 'mcp_list_tools', 'in_progress'],
      ['mcpl_1', 'mcp_list_tools', 'completed'],
    ]);
    const outcome = endOf(out);
    expect(outcome.status).toBe('incomplete');
    expect(outcome.consents.map((c) => c.consentLink)).toEqual([LINK]);
    expect(outcome.approvals).toEqual([]);
  });

  it('§11.1 the same turn ending in response.completed gives the same consent, status completed', async () => {
    const events = fixture('6.2-consent-turn.sse');
    const last = events[events.length - 1] as Ev & { response: Ev };
    events[events.length - 1] = {
      ...last,
      type: 'response.completed',
      response: { ...last.response, status: 'completed' },
    };
    const { out } = await run(events);
    const outcome = endOf(out);
    expect(outcome.status).toBe('completed');
    expect(outcome.consents).toHaveLength(1);
  });

  it('§11.3 the docs item without server_label (verbatim §4.6) gives a consent without serverLabel', async () => {
    const itemDone = JSON.parse(readFixture('4.6-consent-item-done.json')) as Ev;
    const { out } = await run([
      created('resp_C1'),
      itemDone,
      terminal('response.incomplete', 8, { id: 'resp_C1', status: 'incomplete' }),
    ]);
    expect(endOf(out).consents).toHaveLength(1);
    const consent = endOf(out).consents[0];
    expect(consent).toEqual({
      itemId: 'oauthreq_10b0f026610e2b76006981547b53d48190840179e52f39a0aa',
      consentLink: LINK,
      source: 'item',
    });
    expect(consent && 'serverLabel' in consent).toBe(false);
  });

  it('§11.3 items carrying agent_reference/response_id instead of created_by parse the same', async () => {
    const { out } = await run([
      created('resp_C1'),
      done(
        1,
        0,
        consentItem({
          created_by: undefined,
          agent_reference: { type: 'agent_reference', name: 'a' },
          response_id: 'resp_C1',
          server_label: 'github',
        }),
      ),
      terminal('response.incomplete', 2, { id: 'resp_C1', status: 'incomplete' }),
    ]);
    expect(endOf(out).consents[0]?.serverLabel).toBe('github');
  });

  it('§11.2 top-level response.oauth_consent_requested together with the item: one consent', async () => {
    const { out } = await run([
      created('resp_C1'),
      {
        type: 'response.oauth_consent_requested',
        sequence_number: 1,
        consent_link: LINK,
        server_label: 'outlook',
      },
      added(2, 0, consentItem({ server_label: 'outlook' })),
      done(3, 0, consentItem({ server_label: 'outlook' })),
      terminal('response.incomplete', 4, {
        id: 'resp_C1',
        status: 'incomplete',
        output: [consentItem({ server_label: 'outlook' })],
      }),
    ]);
    // The output item wins over the event with the same link.
    expect(endOf(out).consents).toEqual([
      { itemId: 'oauthreq_1', consentLink: LINK, serverLabel: 'outlook', source: 'item' },
    ]);
  });

  it('§11.2 top-level response.oauth_consent_requested without any item: consent from the event', async () => {
    const { out } = await run([
      created('resp_C1'),
      { type: 'response.oauth_consent_requested', sequence_number: 1, consent_link: LINK },
      terminal('response.incomplete', 2, { id: 'resp_C1', status: 'incomplete', output: [] }),
    ]);
    expect(endOf(out).consents).toEqual([{ itemId: 'consent_event_1', consentLink: LINK, source: 'event' }]);
  });

  it('§6.2 a consent URL inside approval arguments becomes a consent, not an approval', async () => {
    const approval = {
      id: 'mcpr_9',
      type: 'mcp_approval_request',
      server_label: 'toolbox',
      name: 'connect',
      arguments: JSON.stringify({ consent_url: 'https://x.consent.azure-apim.net/login?data=1' }),
    };
    const { out } = await run([
      created('resp_T'),
      added(1, 0, approval),
      done(2, 0, approval),
      terminal('response.completed', 3, { id: 'resp_T', status: 'completed', output: [approval] }),
    ]);
    const outcome = endOf(out);
    expect(outcome.approvals).toEqual([]);
    expect(outcome.consents).toEqual([
      {
        itemId: 'mcpr_9',
        consentLink: 'https://x.consent.azure-apim.net/login?data=1',
        serverLabel: 'toolbox',
        source: 'approval_arguments',
      },
    ]);
  });

  // Issue 11 item 5: agent-framework (S20) reads only a top-level `consent_url`; an approval whose arguments
  // merely carry a URL (under another key, or nested) is a real approval and must stay one.
  it.each([
    ['authorization_url', { authorization_url: 'https://h.example/a' }],
    ['consent_link', { consent_link: 'https://h.example/a' }],
    ['a nested consent_url', { page: { consent_url: 'https://h.example/a' } }],
    ['a url argument', { url: 'https://h.example/a', title: 'Bug' }],
  ])('§6.2 approval arguments with %s stay an approval', async (_what, args) => {
    const approval = {
      id: 'mcpr_8',
      type: 'mcp_approval_request',
      server_label: 'github',
      name: 'create_issue',
      arguments: JSON.stringify(args),
    };
    const { out } = await run([
      created('r'),
      done(1, 0, approval),
      terminal('response.completed', 2, { id: 'r', status: 'completed' }),
    ]);
    expect(endOf(out).consents).toEqual([]);
    expect(endOf(out).approvals).toMatchObject([{ requestId: 'mcpr_8', toolName: 'create_issue' }]);
  });
});

describe('§11.4 declined consent shapes', () => {
  const base = (items: Ev[], term: Ev): Ev[] => [created('resp_D'), ...items, term];

  it('mcp_call failed with a string error', async () => {
    const call = {
      id: 'mcp_1',
      type: 'mcp_call',
      server_label: 'github',
      name: 'get_me',
      arguments: '{}',
      status: 'failed',
      error: 'User declined consent',
    };
    const { out } = await run(
      base(
        [added(1, 0, { ...call, status: 'in_progress', error: null }), done(2, 0, call)],
        terminal('response.completed', 3, { id: 'resp_D', status: 'completed', output: [call] }),
      ),
    );
    const failed = ofType(out, 'tool.progress').find((p) => p.call.status === 'failed');
    expect(failed?.call.error).toEqual({ kind: 'string', message: 'User declined consent' });
    expect(endOf(out).toolCalls).toEqual([
      {
        itemId: 'mcp_1',
        itemType: 'mcp_call',
        serverLabel: 'github',
        name: 'get_me',
        status: 'failed',
        error: { kind: 'string', message: 'User declined consent' },
      },
    ]);
  });

  it('mcp_call failed with an object error', async () => {
    const call = {
      id: 'mcp_1',
      type: 'mcp_call',
      server_label: 'github',
      name: 'get_me',
      status: 'failed',
      error: { type: 'http_error', code: 401, message: 'Unauthorized' },
    };
    const { out } = await run(
      base([done(1, 0, call)], terminal('response.completed', 2, { id: 'resp_D', status: 'completed' })),
    );
    expect(endOf(out).toolCalls[0]?.error).toEqual({
      kind: 'http_error',
      code: 401,
      message: 'Unauthorized',
    });
    expect(endOf(out).toolCalls[0]?.status).toBe('failed');
  });

  it('mcp_list_tools with an error (no status field) is a failed tool call', async () => {
    const list = {
      id: 'mcpl_1',
      type: 'mcp_list_tools',
      server_label: 'github',
      tools: [],
      error: 'consent declined',
    };
    const { out } = await run(
      base(
        [added(1, 0, { ...list, error: null }), done(2, 0, list)],
        terminal('response.completed', 3, { id: 'resp_D', status: 'completed', output: [list] }),
      ),
    );
    expect(ofType(out, 'tool.progress').map((p) => p.call.status)).toEqual(['in_progress', 'failed']);
    expect(endOf(out).toolCalls[0]).toMatchObject({
      itemType: 'mcp_list_tools',
      status: 'failed',
      error: { kind: 'string', message: 'consent declined' },
    });
  });

  it('response.failed with tool_user_error keeps error {code,message}', async () => {
    const { out, error } = await run(
      base(
        [],
        terminal('response.failed', 1, {
          id: 'resp_D',
          status: 'failed',
          error: { code: 'tool_user_error', message: 'Failed to fetch access token' },
          output: [],
        }),
      ),
    );
    expect(error).toBeUndefined();
    expect(endOf(out)).toMatchObject({
      status: 'failed',
      error: { code: 'tool_user_error', message: 'Failed to fetch access token' },
    });
  });

  it('response.failed without an error object still ends with status failed, code unknown', async () => {
    const { out } = await run(base([], terminal('response.failed', 1, { id: 'resp_D', status: 'failed' })));
    expect(endOf(out).error).toEqual({ code: 'unknown', message: '' });
  });
});

describe('§11.5 mcp_call.error string vs object forms', () => {
  it.each<[string, unknown, unknown]>([
    ['string', 'boom', { kind: 'string', message: 'boom' }],
    [
      'mcp_protocol_error',
      { type: 'mcp_protocol_error', code: -32000, message: 'bad' },
      { kind: 'mcp_protocol_error', code: -32000, message: 'bad' },
    ],
    [
      'mcp_tool_execution_error',
      { type: 'mcp_tool_execution_error', content: [{ type: 'text', text: 'tool blew up' }] },
      { kind: 'mcp_tool_execution_error', message: 'tool blew up' },
    ],
    [
      'http_error',
      { type: 'http_error', code: 503, message: 'down' },
      { kind: 'http_error', code: 503, message: 'down' },
    ],
    ['unknown object', { type: 'weird', message: 'hm' }, { kind: 'unknown', message: 'hm' }],
    ['null', null, undefined],
  ])('%s', async (_name, raw, expected) => {
    expect(toToolError(raw)).toEqual(expected);
    const call = {
      id: 'mcp_1',
      type: 'mcp_call',
      name: 't',
      status: raw === null ? 'completed' : 'failed',
      error: raw,
    };
    const { out } = await run([
      created('r'),
      done(1, 0, call),
      terminal('response.completed', 2, { id: 'r', status: 'completed' }),
    ]);
    expect(endOf(out).toolCalls[0]?.error).toEqual(expected);
  });
});

describe('§6.3 approval turn (verbatim fixtures)', () => {
  it('initial: one approval with parsed arguments; outcome completed with the approval', async () => {
    const { out, error } = await run(fixture('6.3-approval-turn.sse'));
    expect(error).toBeUndefined();
    const outcome = endOf(out);
    expect(outcome.approvals).toEqual([
      { requestId: 'mcpr_1', serverLabel: 'github', toolName: 'get_me', argumentsJson: '{}', arguments: {} },
    ]);
    expect(outcome.status).toBe('completed');
    expect(outcome.responseId).toBe('resp_P1');
    expect(outcome.toolCalls.map((t) => [t.itemType, t.status])).toEqual([['mcp_list_tools', 'completed']]);
  });

  it('continuation: mcp_call progress tied to the approval, completed, no new approvals', async () => {
    const { out, error } = await run(fixture('6.3-approval-continuation.sse'));
    expect(error).toBeUndefined();
    expect(out[0]).toEqual({ type: 'turn.started', responseId: 'resp_P2' });
    expect(
      ofType(out, 'tool.progress').map((p) => [p.call.itemId, p.call.status, p.call.approvalRequestId]),
    ).toEqual([
      ['mcp_1', 'in_progress', 'mcpr_1'],
      ['mcp_1', 'completed', 'mcpr_1'],
    ]);
    const outcome = endOf(out);
    expect(outcome.status).toBe('completed');
    expect(outcome.approvals).toEqual([]);
    expect(outcome.toolCalls).toEqual([
      {
        itemId: 'mcp_1',
        itemType: 'mcp_call',
        serverLabel: 'github',
        name: 'get_me',
        approvalRequestId: 'mcpr_1',
        status: 'completed',
      },
    ]);
  });

  it('several approval requests in one response are all reported', async () => {
    const a = (id: string): Ev => ({
      id,
      type: 'mcp_approval_request',
      server_label: 'github',
      name: 'create_issue',
      arguments: '{"title":"Bug"}',
    });
    const { out } = await run([
      created('r'),
      done(1, 0, a('mcpr_1')),
      done(2, 1, a('mcpr_2')),
      terminal('response.completed', 3, { id: 'r', status: 'completed' }),
    ]);
    expect(endOf(out).approvals.map((x) => x.requestId)).toEqual(['mcpr_1', 'mcpr_2']);
    expect(endOf(out).approvals.map((x) => x.arguments)).toEqual([{ title: 'Bug' }, { title: 'Bug' }]);
  });

  it('an approval only present in the terminal output is reported in the outcome', async () => {
    const a = {
      id: 'mcpr_5',
      type: 'mcp_approval_request',
      server_label: 'github',
      name: 'x',
      arguments: '{}',
    };
    const { out } = await run([
      created('r'),
      terminal('response.completed', 1, { id: 'r', status: 'completed', output: [a] }),
    ]);
    expect(out.map((e) => e.type)).toEqual(['turn.started', 'turn.end']);
    expect(endOf(out).approvals.map((x) => x.requestId)).toEqual(['mcpr_5']);
  });

  it('approval with invalid JSON arguments keeps the string and leaves arguments undefined', async () => {
    const a = {
      id: 'mcpr_3',
      type: 'mcp_approval_request',
      server_label: 'github',
      name: 'create_issue',
      arguments: '{"title": "unterminated',
    };
    const { out } = await run([
      created('r'),
      done(1, 0, a),
      terminal('response.completed', 2, { id: 'r', status: 'completed' }),
    ]);
    const approval = endOf(out).approvals[0];
    expect(approval?.argumentsJson).toBe('{"title": "unterminated');
    expect(approval?.arguments).toBeUndefined();
  });
});

describe('tool progress for built-in and Foundry *_call items', () => {
  it.each([
    'web_search_call',
    'file_search_call',
    'code_interpreter_call',
    'bing_grounding_call',
    'azure_ai_search_call',
    'openapi_call',
    'sharepoint_grounding_preview_call',
  ])('%s: added → in_progress, phase events, done → completed', async (itemType) => {
    const id = `${itemType}_1`;
    const { out } = await run([
      created('r'),
      added(1, 0, { id, type: itemType, status: 'in_progress' }),
      { type: `response.${itemType}.searching`, sequence_number: 2, item_id: id, output_index: 0 },
      { type: `response.${itemType}.completed`, sequence_number: 3, item_id: id, output_index: 0 },
      done(4, 0, { id, type: itemType, status: 'completed' }),
      added(5, 1, { id: `${itemType}_output_1`, type: `${itemType}_output` }),
      terminal('response.completed', 6, { id: 'r', status: 'completed' }),
    ]);
    expect(ofType(out, 'tool.progress').map((p) => [p.call.itemType, p.call.status])).toEqual([
      [itemType, 'in_progress'],
      [itemType, 'completed'],
    ]);
    expect(endOf(out).toolCalls.map((t) => t.itemType)).toEqual([itemType]);
  });

  it('mcp_call.* events report progress with the name and server label from the added item', async () => {
    const { out } = await run([
      created('r'),
      added(1, 0, {
        id: 'mcp_1',
        type: 'mcp_call',
        server_label: 'github',
        name: 'search_issues',
        arguments: '',
        status: 'in_progress',
      }),
      { type: 'response.mcp_call.in_progress', sequence_number: 2, item_id: 'mcp_1', output_index: 0 },
      {
        type: 'response.mcp_call_arguments.delta',
        sequence_number: 3,
        item_id: 'mcp_1',
        output_index: 0,
        delta: '{}',
      },
      { type: 'response.mcp_call.failed', sequence_number: 4, item_id: 'mcp_1', output_index: 0 },
      terminal('response.completed', 5, { id: 'r', status: 'completed' }),
    ]);
    expect(ofType(out, 'tool.progress').map((p) => [p.call.name, p.call.serverLabel, p.call.status])).toEqual(
      [
        ['search_issues', 'github', 'in_progress'],
        ['search_issues', 'github', 'failed'],
      ],
    );
  });
});

describe('robustness', () => {
  it('unknown event and item types are skipped with a debug log, never fatal', async () => {
    const { out, error, lines } = await run([
      created('r'),
      { type: 'response.workflow_action.progress', sequence_number: 1, foo: 1 },
      added(2, 0, { id: 'wf_1', type: 'workflow_action', status: 'in_progress' }),
      added(3, 1, { id: 'mem_1', type: 'structured_outputs' }),
      { no_type: true },
      'not an object',
      added(4, 2, { id: 'msg_1', type: 'message', role: 'assistant', content: [] }),
      delta(5, 'msg_1', 'Hi'),
      terminal('response.completed', 6, {
        id: 'r',
        status: 'completed',
        output: [
          { id: 'wf_1', type: 'workflow_action' },
          {
            id: 'msg_1',
            type: 'message',
            role: 'assistant',
            content: [{ type: 'output_text', text: 'Hi', annotations: [] }],
          },
        ],
      }),
    ]);
    expect(error).toBeUndefined();
    expect(out.map((e) => e.type)).toEqual(['turn.started', 'text.delta', 'turn.end']);
    expect(endOf(out).text).toBe('Hi');
    const logged = lines.map(
      (l) => JSON.parse(l) as { event: string; eventType?: string; itemType?: string },
    );
    expect(logged).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          event: 'foundry.event.skipped',
          eventType: 'response.workflow_action.progress',
        }),
        expect.objectContaining({ event: 'foundry.item.skipped', itemType: 'workflow_action' }),
        expect.objectContaining({ event: 'foundry.item.skipped', itemType: 'structured_outputs' }),
        expect.objectContaining({ event: 'foundry.event.malformed' }),
      ]),
    );
  });

  it('output_text.delta of a non-message item is not forwarded', async () => {
    const { out } = await run([
      created('r'),
      added(1, 0, { id: 'rs_1', type: 'reasoning' }),
      delta(2, 'rs_1', 'secret thoughts'),
      terminal('response.completed', 3, { id: 'r', status: 'completed' }),
    ]);
    expect(ofType(out, 'text.delta')).toEqual([]);
  });

  it('terminal without output falls back to the collected items and the deltas', async () => {
    const { out } = await run([
      created('r', { conversation: 'conv_S' }),
      added(1, 0, { id: 'mcpl_1', type: 'mcp_list_tools', server_label: 'github', tools: [] }),
      done(2, 0, { id: 'mcpl_1', type: 'mcp_list_tools', server_label: 'github', tools: [], error: null }),
      done(3, 1, {
        id: 'mcpr_1',
        type: 'mcp_approval_request',
        server_label: 'github',
        name: 'create_issue',
        arguments: '{}',
      }),
      added(4, 2, { id: 'msg_1', type: 'message', role: 'assistant', content: [] }),
      delta(5, 'msg_1', 'Need '),
      delta(6, 'msg_1', 'approval.'),
      // msg_1 never gets output_item.done; the terminal omits output entirely.
      terminal('response.completed', 7, { id: 'r', status: 'completed' }),
    ]);
    const outcome = endOf(out);
    expect(outcome.conversationId).toBe('conv_S');
    expect(outcome.text).toBe('Need approval.');
    expect(outcome.approvals.map((a) => a.requestId)).toEqual(['mcpr_1']);
    expect(outcome.toolCalls.map((t) => t.itemId)).toEqual(['mcpl_1']);
  });

  it('a stream without a terminal event throws STREAM_INTERRUPTED with responseId and partial length', async () => {
    const events = fixture('6.1-text-turn.sse').slice(0, 6);
    const { out, error } = await run(events);
    expect(ofType(out, 'text.delta')).toHaveLength(2);
    expect(error).toBeInstanceOf(BotError);
    expect(error).toMatchObject({
      code: 'STREAM_INTERRUPTED',
      details: {
        reason: 'no_terminal_event',
        responseId: 'resp_A',
        partialTextLength: 'You have two meetings today.'.length,
        lastSequenceNumber: 5,
      },
    });
  });

  it('an error event mid-stream throws FOUNDRY_FAILED with the code, not the message', async () => {
    const { error } = await run([
      created('r'),
      { type: 'error', sequence_number: 1, code: 'server_error', message: 'secret internals', param: null },
    ]);
    expect(error).toMatchObject({
      code: 'FOUNDRY_FAILED',
      details: { code: 'server_error', responseId: 'r' },
    });
    expect((error as BotError).message).not.toContain('secret internals');
  });

  it('incomplete_details.reason is reported as incompleteReason', async () => {
    const { out } = await run([
      created('r'),
      terminal('response.incomplete', 1, {
        id: 'r',
        status: 'incomplete',
        incomplete_details: { reason: 'max_output_tokens' },
      }),
    ]);
    expect(endOf(out)).toMatchObject({ status: 'incomplete', incompleteReason: 'max_output_tokens' });
  });

  it('events after the terminal event are ignored', async () => {
    const { out } = await run([
      created('r'),
      terminal('response.completed', 1, { id: 'r', status: 'completed' }),
      delta(2, 'x', 'late'),
    ]);
    expect(out.map((e) => e.type)).toEqual(['turn.started', 'turn.end']);
  });
});
