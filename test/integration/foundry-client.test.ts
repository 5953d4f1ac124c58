import type { AccessToken, TokenCredential } from '@azure/identity';
import type { RunningEmulator } from '../../emulator/server';
import { startEmulator } from '../../emulator/server';
import { BOT_MANAGED_IDENTITY_OID } from '../../emulator/identity';
import { getLog, reset, setFaults, setSettings, submitConsent } from '../../emulator/test-client';
import { BotError } from '../../src/errors';
import { createFoundryClient } from '../../src/foundry/client';
import { createAppCredential } from '../../src/foundry/credentials';
import type { AgentEvent, FoundryClient, Thread, TurnInput, TurnOutcome } from '../../src/foundry/types';
import { createLogger } from '../../src/observability/logger';
import type { Config } from '../../src/config/config';

/**
 * The Foundry client against the emulator over real HTTP (docs/foundry-wire.md §6, §7.2, §11): the bot's
 * identity through the REAL ManagedIdentityCredential (App Service style IDENTITY_ENDPOINT/IDENTITY_HEADER
 * pointed at the emulator), per-user identities through tokens the emulator issues.
 */

const ALICE = 'aaaaaaaa-0000-4000-8000-00000000a11c';
const BEN = 'bbbbbbbb-1111-4000-8000-000000000be2';
const OTHER_TENANT = '22222222-2222-2222-2222-222222222222';
const AGENT = { name: 'helpdesk-agent' };

let emu: RunningEmulator;
let appCredential: TokenCredential;
const savedEnv: Record<string, string | undefined> = {};
const ENV_KEYS = [
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'IDENTITY_SERVER_THUMBPRINT',
];

beforeAll(async () => {
  emu = await startEmulator();
  for (const k of ENV_KEYS) savedEnv[k] = process.env[k];
  for (const k of ENV_KEYS) delete process.env[k];
  process.env['IDENTITY_ENDPOINT'] = emu.identityEndpoint;
  process.env['IDENTITY_HEADER'] = emu.identityHeader;
  const foundryCfg: Config['foundry'] = {
    projectEndpoint: emu.projectEndpoint,
    agentName: AGENT.name,
    agentVersion: undefined,
    threading: 'previous_response',
    auth: 'app',
    credential: 'managed_identity',
    azureClientId: undefined,
    azureTenantId: undefined,
    azureClientSecret: undefined,
    authorityHost: undefined,
    timeoutMs: 5_000,
    idleTimeoutMs: 2_000,
    maxRetries: 2,
    busyRetries: 0,
    busyRetryDelayMs: 100,
  };
  appCredential = createAppCredential(foundryCfg);
});

afterAll(async () => {
  for (const k of ENV_KEYS) {
    const v = savedEnv[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await emu.close();
});

beforeEach(async () => {
  await reset(emu.url);
});

function userCredential(oid: string, extra: { tid?: string; expiresInSec?: number } = {}): TokenCredential {
  return {
    getToken: (): Promise<AccessToken> =>
      Promise.resolve({
        token: emu.issueToken({ oid, ...extra }),
        expiresOnTimestamp: Date.now() + 3_600_000,
      }),
  };
}

function client(o: { maxRetries?: number; idleTimeoutMs?: number } = {}): FoundryClient {
  return createFoundryClient({
    projectEndpoint: emu.projectEndpoint,
    timeoutMs: 5_000,
    idleTimeoutMs: o.idleTimeoutMs ?? 2_000,
    maxRetries: o.maxRetries ?? 2,
    log: createLogger({ sink: () => undefined }),
  });
}

interface TurnResult {
  events: AgentEvent[];
  outcome?: TurnOutcome;
  error?: BotError;
  text: string;
}

async function run(
  c: FoundryClient,
  thread: Thread,
  input: TurnInput,
  credential: TokenCredential,
  maxRetries?: number,
): Promise<TurnResult> {
  const events: AgentEvent[] = [];
  let error: BotError | undefined;
  try {
    for await (const e of c.streamTurn(
      { agent: AGENT, thread, input },
      { credential, ...(maxRetries !== undefined ? { maxRetries } : {}) },
    ))
      events.push(e);
  } catch (e) {
    if (!(e instanceof BotError)) throw e;
    error = e;
  }
  const end = events.find((e): e is Extract<AgentEvent, { type: 'turn.end' }> => e.type === 'turn.end');
  const text = events.map((e) => (e.type === 'text.delta' ? e.text : '')).join('');
  return { events, text, ...(end ? { outcome: end.outcome } : {}), ...(error ? { error } : {}) };
}

const ofType = <T extends AgentEvent['type']>(r: TurnResult, type: T): Extract<AgentEvent, { type: T }>[] =>
  r.events.filter((e): e is Extract<AgentEvent, { type: T }> => e.type === type);

/** A Teams conversation's Foundry thread in one of the two modes (§1.6). */
class Session {
  private conversationId: string | undefined;
  private lastResponseId: string | undefined;
  constructor(
    readonly mode: Thread['mode'],
    readonly c: FoundryClient,
    readonly credential: TokenCredential,
  ) {}

  async start(): Promise<this> {
    if (this.mode === 'conversation')
      this.conversationId = await this.c.createConversation({ credential: this.credential });
    return this;
  }

  thread(): Thread {
    if (this.mode === 'conversation')
      return { mode: 'conversation', conversationId: this.conversationId ?? '' };
    return this.lastResponseId === undefined
      ? { mode: 'previous_response' }
      : { mode: 'previous_response', previousResponseId: this.lastResponseId };
  }

  async send(input: TurnInput, maxRetries?: number): Promise<TurnResult> {
    const r = await run(this.c, this.thread(), input, this.credential, maxRetries);
    if (r.outcome) this.lastResponseId = r.outcome.responseId;
    return r;
  }

  say(text: string): Promise<TurnResult> {
    return this.send({ kind: 'text', text });
  }

  /** Consent continuation: re-send the text (previous_response) or re-run input-less (conversation), §6.2. */
  continueAfterConsent(text: string): Promise<TurnResult> {
    return this.send(this.mode === 'conversation' ? { kind: 'none' } : { kind: 'text', text });
  }
}

const MODES: Thread['mode'][] = ['previous_response', 'conversation'];

describe.each(MODES)('§6 flows in %s mode', (mode) => {
  const session = (oid = ALICE): Promise<Session> => new Session(mode, client(), userCredential(oid)).start();

  it('§6.1 plain text turn: deltas add up to the outcome text', async () => {
    const s = await session();
    const r = await s.say('hello');
    expect(r.error).toBeUndefined();
    expect(r.outcome?.status).toBe('completed');
    expect(r.outcome?.text).toBe("Hello! I'm the helpdesk agent. How can I help you today?");
    expect(r.text).toBe(r.outcome?.text);
    expect(r.events[0]).toMatchObject({ type: 'turn.started', responseId: r.outcome?.responseId });
    if (mode === 'conversation') expect(r.outcome?.conversationId).toMatch(/^conv_/);
  });

  it('§6.1 citations arrive as events and in the outcome', async () => {
    const s = await session();
    const r = await s.say('docs');
    expect(ofType(r, 'citation').map((c) => c.citation.kind)).toEqual(['url_citation', 'url_citation']);
    expect(r.outcome?.citations.map((c) => c.title)).toEqual([
      'Self-service password reset',
      'How multifactor authentication works',
    ]);
  });

  it('§6.2 consent → allow on the consent page → continue → tool result', async () => {
    const s = await session();
    const first = await s.say('search my issues');
    expect(first.outcome?.status).toBe('incomplete');
    const consents = first.outcome?.consents ?? [];
    expect(consents).toHaveLength(1);
    const consent = consents[0];
    expect(consent).toMatchObject({ serverLabel: 'github', source: 'item' });
    await submitConsent(emu.url, consent?.consentLink ?? '', 'allow');

    const next = await s.continueAfterConsent('search my issues');
    expect(next.error).toBeUndefined();
    expect(next.outcome?.status).toBe('completed');
    expect(next.outcome?.consents).toEqual([]);
    expect(next.outcome?.text).toContain('You have 3 open issues');
    expect(next.outcome?.toolCalls.find((t) => t.itemType === 'mcp_call')).toMatchObject({
      name: 'search_issues',
      serverLabel: 'github',
      status: 'completed',
    });
    expect(ofType(next, 'tool.progress').some((p) => p.call.itemType === 'mcp_call')).toBe(true);
  });

  it('consent is per caller: Ben is asked even after Alice consented', async () => {
    const alice = await session(ALICE);
    const a1 = await alice.say('search my issues');
    await submitConsent(emu.url, a1.outcome?.consents[0]?.consentLink ?? '', 'allow');
    expect((await alice.continueAfterConsent('search my issues')).outcome?.status).toBe('completed');
    const ben = await session(BEN);
    const b1 = await ben.say('search my issues');
    expect(b1.outcome?.consents).toHaveLength(1);
  });

  it('full sequence: consent → allow → continue → approval → approve → result', async () => {
    const s = await session();
    const r1 = await s.say('create an issue');
    const link = r1.outcome?.consents[0]?.consentLink ?? '';
    expect(link).not.toBe('');
    await submitConsent(emu.url, link, 'allow');

    const r2 = await s.continueAfterConsent('create an issue');
    expect(r2.outcome?.status).toBe('completed');
    const approvals = r2.outcome?.approvals ?? [];
    expect(approvals).toHaveLength(1);
    expect(approvals[0]).toMatchObject({
      serverLabel: 'github',
      toolName: 'create_issue',
      arguments: { owner: 'contoso', repo: 'helpdesk', title: 'Printer on floor 3 is offline' },
    });

    const requestId = approvals[0]?.requestId ?? '';
    const r3 = await s.send({ kind: 'approvals', decisions: [{ requestId, approve: true }] }, 0);
    expect(r3.error).toBeUndefined();
    expect(r3.outcome?.text).toBe('Created issue #42 in contoso/helpdesk: Printer on floor 3 is offline.');
    expect(r3.outcome?.toolCalls.find((t) => t.itemType === 'mcp_call')).toMatchObject({
      approvalRequestId: requestId,
      status: 'completed',
    });
    const log = await getLog(emu.url);
    expect(log.approvals.map((a) => [a.requestId, a.approve, a.callerOid])).toEqual([
      [requestId, true, ALICE],
    ]);
  });

  it('deny: the tool does not run and the agent answers in text', async () => {
    const s = await session();
    const r1 = await s.say('create an issue');
    await submitConsent(emu.url, r1.outcome?.consents[0]?.consentLink ?? '', 'allow');
    const r2 = await s.continueAfterConsent('create an issue');
    const requestId = r2.outcome?.approvals[0]?.requestId ?? '';
    const r3 = await s.send(
      { kind: 'approvals', decisions: [{ requestId, approve: false, reason: 'User declined in Teams' }] },
      0,
    );
    expect(r3.outcome?.text).toBe('OK, I did not create the issue.');
    expect(r3.outcome?.toolCalls.filter((t) => t.itemType === 'mcp_call')).toEqual([]);
    expect((await getLog(emu.url)).toolCalls).toEqual([]);
  });

  it('two approvals in one response are answered in one request', async () => {
    const s = await session();
    const r1 = await s.say('triage');
    await submitConsent(emu.url, r1.outcome?.consents[0]?.consentLink ?? '', 'allow');
    const r2 = await s.continueAfterConsent('triage');
    const ids = r2.outcome?.approvals.map((a) => a.requestId) ?? [];
    expect(ids).toHaveLength(2);
    const r3 = await s.send(
      { kind: 'approvals', decisions: ids.map((requestId) => ({ requestId, approve: true })) },
      0,
    );
    expect(r3.outcome?.text).toBe('Issue #17 is triaged: labelled bug and assigned to alex.');
  });

  it('declined consent: the call fails with a normalised ToolError and the agent explains', async () => {
    const s = await session();
    const r1 = await s.say('search my issues');
    await submitConsent(emu.url, r1.outcome?.consents[0]?.consentLink ?? '', 'decline');
    const r2 = await s.continueAfterConsent('search my issues');
    expect(r2.outcome?.status).toBe('completed');
    const failed = r2.outcome?.toolCalls.find((t) => t.status === 'failed');
    expect(failed?.error?.kind).toBe('string');
    expect(r2.outcome?.text).toContain('access was not granted');
  });

  it('a tool without consent or approval (weather) reports progress and answers', async () => {
    const s = await session();
    const r = await s.say('weather');
    expect(ofType(r, 'tool.progress').map((p) => [p.call.itemType, p.call.status])).toEqual(
      expect.arrayContaining([
        ['mcp_call', 'in_progress'],
        ['mcp_call', 'completed'],
      ]),
    );
    expect(r.outcome?.text).toContain('Seattle');
  });

  it('§7.2 a new message while an approval is pending → FOUNDRY_UNANSWERED_APPROVALS with the pending ids', async () => {
    const s = await session();
    const r1 = await s.say('create an issue');
    await submitConsent(emu.url, r1.outcome?.consents[0]?.consentLink ?? '', 'allow');
    const r2 = await s.continueAfterConsent('create an issue');
    const pending = r2.outcome?.approvals.map((a) => a.requestId);
    const r3 = await s.say('hello');
    expect(r3.error).toMatchObject({
      code: 'FOUNDRY_UNANSWERED_APPROVALS',
      details: { status: 400, pendingRequestIds: pending },
    });
  });
});

describe('the bot identity through the real ManagedIdentityCredential', () => {
  it('streams a turn and creates a conversation as the managed identity', async () => {
    const c = client();
    const conv = await c.createConversation({ credential: appCredential });
    expect(conv).toMatch(/^conv_/);
    const r = await run(
      c,
      { mode: 'conversation', conversationId: conv },
      { kind: 'text', text: 'hello' },
      appCredential,
    );
    expect(r.outcome?.status).toBe('completed');
    const log = await getLog(emu.url);
    const api = log.requests.filter((q) => q.path.includes('/openai/v1/'));
    expect(api.map((q) => q.callerOid)).toEqual([BOT_MANAGED_IDENTITY_OID, BOT_MANAGED_IDENTITY_OID]);
    expect(log.requests.some((q) => q.path === '/msi/token')).toBe(true);
  });

  it('serialising the app credential reveals no secret', () => {
    expect(JSON.stringify(appCredential)).toBe('{"name":"AppCredential","kind":"managed_identity"}');
    expect(JSON.stringify({ appCredential })).not.toContain(emu.identityHeader);
  });

  it('an identity endpoint failure surfaces as IDENTITY_UNAVAILABLE and Foundry is not called', async () => {
    await setFaults(emu.url, [{ kind: 'unauthorized', match: { target: 'identity' }, count: 5 }]);
    const fresh = createAppCredential({
      projectEndpoint: emu.projectEndpoint,
      agentName: AGENT.name,
      agentVersion: undefined,
      threading: 'previous_response',
      auth: 'app',
      credential: 'managed_identity',
      azureClientId: 'cccccccc-0000-4000-8000-00000000c0de',
      azureTenantId: undefined,
      azureClientSecret: undefined,
      authorityHost: undefined,
      timeoutMs: 5_000,
      idleTimeoutMs: 2_000,
      maxRetries: 0,
      busyRetries: 0,
      busyRetryDelayMs: 100,
    });
    const r = await run(client(), { mode: 'previous_response' }, { kind: 'text', text: 'hello' }, fresh);
    expect(r.error?.code).toBe('IDENTITY_UNAVAILABLE');
    const log = await getLog(emu.url);
    expect(log.requests.filter((q) => q.path.includes('/openai/v1/'))).toEqual([]);
  });
});

describe('§11 alternatives served by the emulator', () => {
  const consentTurn = async (): Promise<TurnResult> =>
    run(
      client(),
      { mode: 'previous_response' },
      { kind: 'text', text: 'search my issues' },
      userCredential(ALICE),
    );

  it('§11.1 consent turn ending completed', async () => {
    await setSettings(emu.url, { consentTerminal: 'completed' });
    const r = await consentTurn();
    expect(r.outcome?.status).toBe('completed');
    expect(r.outcome?.consents).toHaveLength(1);
  });

  it.each(['event', 'item_and_event'] as const)(
    '§11.2 consent delivered as %s: exactly one consent',
    async (consentDelivery) => {
      await setSettings(emu.url, { consentDelivery });
      const r = await consentTurn();
      expect(r.outcome?.consents).toHaveLength(1);
    },
  );

  it('§11.3 consent item without server_label', async () => {
    await setSettings(emu.url, { consentServerLabel: false });
    const r = await consentTurn();
    const consent = r.outcome?.consents[0];
    expect(consent?.consentLink).toMatch(/^http/);
    expect(consent && 'serverLabel' in consent).toBe(false);
  });

  it('§6.2 consent inside approval arguments: a consent (not an approval), answered by approving its id', async () => {
    await setSettings(emu.url, { consentDelivery: 'approval_arguments' });
    const c = client();
    const cred = userCredential(ALICE);
    const r1 = await run(c, { mode: 'previous_response' }, { kind: 'text', text: 'search my issues' }, cred);
    expect(r1.outcome?.approvals).toEqual([]);
    const consent = r1.outcome?.consents[0];
    expect(consent?.source).toBe('approval_arguments');
    await submitConsent(emu.url, consent?.consentLink ?? '', 'allow');
    const r2 = await run(
      c,
      { mode: 'previous_response', previousResponseId: r1.outcome?.responseId ?? '' },
      { kind: 'approvals', decisions: [{ requestId: consent?.itemId ?? '', approve: true }] },
      cred,
      0,
    );
    expect(r2.error).toBeUndefined();
    expect(r2.outcome?.text).toContain('You have 3 open issues');
  });

  it.each([
    ['tool_execution_error', 'mcp_tool_execution_error'],
    ['http_error', 'http_error'],
  ] as const)('§11.5 declined consent with mcp_call.error as %s', async (form, kind) => {
    await setSettings(emu.url, { mcpCallErrorForm: form });
    const c = client();
    const cred = userCredential(ALICE);
    const r1 = await run(c, { mode: 'previous_response' }, { kind: 'text', text: 'search my issues' }, cred);
    await submitConsent(emu.url, r1.outcome?.consents[0]?.consentLink ?? '', 'decline');
    const r2 = await run(
      c,
      { mode: 'previous_response', previousResponseId: r1.outcome?.responseId ?? '' },
      { kind: 'text', text: 'search my issues' },
      cred,
    );
    expect(r2.outcome?.toolCalls.find((t) => t.status === 'failed')?.error?.kind).toBe(kind);
  });
});

describe('§7.2 errors mapped to codes', () => {
  const text = (t: string): TurnInput => ({ kind: 'text', text: t });

  it('unknown agent → FOUNDRY_NOT_FOUND (1 call)', async () => {
    const c = client();
    const events: AgentEvent[] = [];
    let error: unknown;
    try {
      for await (const e of c.streamTurn(
        { agent: { name: 'no-such-agent' }, thread: { mode: 'previous_response' }, input: text('hi') },
        { credential: userCredential(ALICE) },
      ))
        events.push(e);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({
      code: 'FOUNDRY_NOT_FOUND',
      details: { status: 404, param: 'agent_reference' },
    });
    expect((await getLog(emu.url)).requests.filter((q) => q.path.endsWith('/responses'))).toHaveLength(1);
  });

  it('unknown previous_response_id → FOUNDRY_THREAD_NOT_FOUND previous_response_not_found (issue 11)', async () => {
    const r = await run(
      client(),
      { mode: 'previous_response', previousResponseId: 'resp_doesnotexist' },
      text('hi'),
      userCredential(ALICE),
    );
    expect(r.error).toMatchObject({
      code: 'FOUNDRY_THREAD_NOT_FOUND',
      details: { status: 400, code: 'previous_response_not_found', param: 'previous_response_id' },
    });
  });

  it('unknown conversation → FOUNDRY_THREAD_NOT_FOUND, not "agent not found" (issue 11)', async () => {
    const r = await run(
      client(),
      { mode: 'conversation', conversationId: 'conv_doesnotexist' },
      text('hi'),
      userCredential(ALICE),
    );
    expect(r.error?.code).toBe('FOUNDRY_THREAD_NOT_FOUND');
  });

  it('expired token → FOUNDRY_UNAUTHORIZED, not retried', async () => {
    const r = await run(
      client(),
      { mode: 'previous_response' },
      text('hi'),
      userCredential(ALICE, { expiresInSec: -600 }),
    );
    expect(r.error).toMatchObject({ code: 'FOUNDRY_UNAUTHORIZED', details: { status: 401 } });
    expect((await getLog(emu.url)).requests.filter((q) => q.path.endsWith('/responses'))).toHaveLength(1);
  });

  it('token from another tenant → FOUNDRY_FORBIDDEN', async () => {
    const r = await run(
      client(),
      { mode: 'previous_response' },
      text('hi'),
      userCredential(ALICE, { tid: OTHER_TENANT }),
    );
    expect(r.error).toMatchObject({ code: 'FOUNDRY_FORBIDDEN', details: { status: 403 } });
  });

  it('conversation busy → FOUNDRY_BUSY (no retry for the second turn)', async () => {
    const c = client();
    const cred = userCredential(ALICE);
    const conv = await c.createConversation({ credential: cred });
    await setFaults(emu.url, [{ kind: 'slow_tokens', delayMs: 15, match: { text: 'long' } }]);
    const slow = run(c, { mode: 'conversation', conversationId: conv }, text('long'), cred);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = await run(c, { mode: 'conversation', conversationId: conv }, text('hello'), cred, 0);
    expect(second.error).toMatchObject({
      code: 'FOUNDRY_BUSY',
      details: { status: 400, code: 'conversation_locked' },
    });
    expect((await slow).outcome?.status).toBe('completed');
  });

  it('500 on every attempt → FOUNDRY_UNAVAILABLE after maxRetries + 1 = 3 attempts', async () => {
    await setFaults(emu.url, [{ kind: 'server_error', count: 3 }]);
    const r = await run(
      client({ maxRetries: 2 }),
      { mode: 'previous_response' },
      text('hello'),
      userCredential(ALICE),
    );
    expect(r.error).toMatchObject({ code: 'FOUNDRY_UNAVAILABLE', details: { status: 500 } });
    expect((await getLog(emu.url)).requests.filter((q) => q.path.endsWith('/responses'))).toHaveLength(3);
  });

  it('429 is retried after its Retry-After and then succeeds', async () => {
    await setFaults(emu.url, [{ kind: 'rate_limit', retryAfterSec: 1 }]);
    const t0 = Date.now();
    const r = await run(client(), { mode: 'previous_response' }, text('hello'), userCredential(ALICE));
    const elapsed = Date.now() - t0;
    expect(r.outcome?.status).toBe('completed');
    expect(elapsed).toBeGreaterThanOrEqual(1_000);
    const posts = (await getLog(emu.url)).requests.filter((q) => q.path.endsWith('/responses'));
    expect(posts.map((q) => q.status)).toEqual([429, 200]);
    const gap = Date.parse(posts[1]?.at ?? '') - Date.parse(posts[0]?.at ?? '');
    expect(gap).toBeGreaterThanOrEqual(950);
    expect(gap).toBeLessThan(1_500);
  });

  it('response.failed mid-stream → turn.end with status failed and the error code', async () => {
    await setFaults(emu.url, [{ kind: 'response_failed', afterEvents: 3 }]);
    const r = await run(client(), { mode: 'previous_response' }, text('hello'), userCredential(ALICE));
    expect(r.outcome).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
  });

  it.each([false, true])(
    'an error event mid-stream (nested error object: %s) → FOUNDRY_FAILED',
    async (nested) => {
      await setFaults(emu.url, [{ kind: 'error_event', afterEvents: 3, nested }]);
      const r = await run(client(), { mode: 'previous_response' }, text('hello'), userCredential(ALICE));
      expect(r.error).toMatchObject({ code: 'FOUNDRY_FAILED', details: { code: 'server_error' } });
    },
  );
});

describe('interrupted streams', () => {
  it('a cut stream surfaces as STREAM_INTERRUPTED and the partial text is kept by the consumer', async () => {
    // slow_tokens spreads the writes over several ticks: the emulator destroys the socket right after its
    // 12th write, and frames written in the same tick as the destroy never leave the server.
    await setFaults(emu.url, [
      { kind: 'disconnect', afterEvents: 12 },
      { kind: 'slow_tokens', delayMs: 10 },
    ]);
    const r = await run(
      client(),
      { mode: 'previous_response' },
      { kind: 'text', text: 'long' },
      userCredential(ALICE),
    );
    expect(r.error?.code).toBe('STREAM_INTERRUPTED');
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.text.startsWith('Once upon')).toBe(true);
    expect(r.error?.details['reason']).toBe('connection_lost');
    expect(r.error?.details).toMatchObject({ partialTextLength: r.text.length });
    expect(r.error?.details['responseId']).toMatch(/^resp_/);
    expect((await getLog(emu.url)).requests.filter((q) => q.path.endsWith('/responses'))).toHaveLength(1);
  });

  it('a stall longer than the idle timeout is aborted at the idle timeout', async () => {
    await setFaults(emu.url, [{ kind: 'stall', afterEvents: 6, ms: 5_000 }]);
    const t0 = Date.now();
    const r = await run(
      client({ idleTimeoutMs: 300 }),
      { mode: 'previous_response' },
      { kind: 'text', text: 'long' },
      userCredential(ALICE),
    );
    expect(r.error).toMatchObject({ code: 'STREAM_INTERRUPTED', details: { reason: 'idle_timeout' } });
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});

describe('unknown items on the wire', () => {
  it('frames with unknown event and item types injected into the emulator stream are skipped', async () => {
    const unknown = [
      { type: 'response.workflow_action.started', sequence_number: 1000, item_id: 'wf_1' },
      {
        type: 'response.output_item.added',
        sequence_number: 1001,
        output_index: 9,
        item: { id: 'wf_1', type: 'workflow_action', status: 'in_progress' },
      },
      {
        type: 'response.output_item.done',
        sequence_number: 1002,
        output_index: 10,
        item: { id: 'mem_1', type: 'memory_search_call_output', results: [] },
      },
    ];
    const injected = unknown.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('');
    // A fetch that forwards to the emulator and splices the frames in after the first SSE frame.
    const injecting = (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const res = await fetch(input, init);
      if (!res.headers.get('content-type')?.includes('text/event-stream') || res.body === null) return res;
      let done = false;
      const enc = new TextEncoder();
      const dec = new TextDecoder();
      const body = res.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, ctrl) {
            const s = dec.decode(chunk, { stream: true });
            const i = s.indexOf('\n\n');
            if (!done && i >= 0) {
              done = true;
              ctrl.enqueue(enc.encode(s.slice(0, i + 2) + injected + s.slice(i + 2)));
            } else ctrl.enqueue(enc.encode(s));
          },
        }),
      );
      return new Response(body, { status: res.status, headers: res.headers });
    }) as typeof fetch;
    const c = createFoundryClient({
      projectEndpoint: emu.projectEndpoint,
      timeoutMs: 5_000,
      idleTimeoutMs: 2_000,
      maxRetries: 0,
      log: createLogger({ sink: () => undefined }),
      fetch: injecting,
    });
    const r = await run(
      c,
      { mode: 'previous_response' },
      { kind: 'text', text: 'hello' },
      userCredential(ALICE),
    );
    expect(r.error).toBeUndefined();
    expect(r.outcome?.text).toBe("Hello! I'm the helpdesk agent. How can I help you today?");
    expect(r.events.filter((e) => e.type === 'tool.progress')).toEqual([]);
  });
});
