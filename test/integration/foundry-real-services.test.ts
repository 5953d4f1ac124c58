/**
 * Issue 11 ("First contact with the real services"), Foundry side: the real client against the emulator,
 * which produces each behaviour on demand (docs/real-services.md "## Foundry").
 */
import type { AccessToken, TokenCredential } from '@azure/identity';
import type { RunningEmulator } from '../../emulator/server';
import { startEmulator } from '../../emulator/server';
import { getLog, loadScenario, reset, setFaults, setSettings } from '../../emulator/test-client';
import { BotError } from '../../src/errors';
import { createFoundryClient } from '../../src/foundry/client';
import type { AgentEvent, FoundryClient, Thread, TurnInput, TurnOutcome } from '../../src/foundry/types';
import { createLogger } from '../../src/observability/logger';

const ALICE = 'aaaaaaaa-0000-4000-8000-00000000a11c';
const AGENT = { name: 'helpdesk-agent' };
const CANARY = 'user said CANARY-91c2';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu.close();
});
beforeEach(async () => {
  await reset(emu.url);
});

const credential: TokenCredential = {
  getToken: (): Promise<AccessToken> =>
    Promise.resolve({ token: emu.issueToken({ oid: ALICE }), expiresOnTimestamp: Date.now() + 3_600_000 }),
};

function client(
  o: { idleTimeoutMs?: number; busyRetries?: number; logs?: string[]; maxRetries?: number } = {},
): FoundryClient {
  return createFoundryClient({
    projectEndpoint: emu.projectEndpoint,
    timeoutMs: 5_000,
    idleTimeoutMs: o.idleTimeoutMs ?? 2_000,
    maxRetries: o.maxRetries ?? 0,
    busyRetries: o.busyRetries ?? 0,
    busyRetryDelayMs: 20,
    log: createLogger({ level: 'debug', sink: (line) => o.logs?.push(line) }),
  });
}

interface Run {
  events: { at: number; ev: AgentEvent }[];
  outcome?: TurnOutcome;
  error?: BotError;
}

async function run(c: FoundryClient, thread: Thread, input: TurnInput, signal?: AbortSignal): Promise<Run> {
  const events: Run['events'] = [];
  let error: BotError | undefined;
  try {
    for await (const ev of c.streamTurn(
      { agent: AGENT, thread, input },
      { credential, ...(signal ? { signal } : {}) },
    ))
      events.push({ at: Date.now(), ev });
  } catch (e) {
    if (!(e instanceof BotError)) throw e;
    error = e;
  }
  const end = events.map((e) => e.ev).find((e) => e.type === 'turn.end');
  return {
    events,
    ...(end?.type === 'turn.end' ? { outcome: end.outcome } : {}),
    ...(error ? { error } : {}),
  };
}

const text = (t: string): TurnInput => ({ kind: 'text', text: t });
const fresh: Thread = { mode: 'previous_response' };
const responsesIn = async (): Promise<number> =>
  (await getLog(emu.url)).requests.filter((q) => q.method === 'POST' && q.path.endsWith('/responses')).length;

describe('item 1: slow tools', () => {
  it('toolSilentMs keeps the stream silent after mcp_call.in_progress; the turn survives it', async () => {
    await setSettings(emu.url, { toolSilentMs: 600 });
    const r = await run(client({ idleTimeoutMs: 1_500 }), fresh, text('weather in Seattle'));
    expect(r.error).toBeUndefined();
    expect(r.outcome?.status).toBe('completed');
    const i = r.events.findIndex(
      (e) =>
        e.ev.type === 'tool.progress' &&
        e.ev.call.itemType === 'mcp_call' &&
        e.ev.call.status === 'in_progress',
    );
    const next = r.events[i + 1];
    expect(i).toBeGreaterThanOrEqual(0);
    // Measured on the client, so allow for buffering of the events before the silence.
    expect((next?.at ?? 0) - (r.events[i]?.at ?? 0)).toBeGreaterThanOrEqual(400);
  });

  it("a tool's silence longer than the idle timeout cuts the turn (why the default is 120 s)", async () => {
    await setSettings(emu.url, { toolSilentMs: 800 });
    const r = await run(client({ idleTimeoutMs: 300 }), fresh, text('weather in Seattle'));
    expect(r.error).toMatchObject({ code: 'STREAM_INTERRUPTED', details: { reason: 'idle_timeout' } });
  });
});

describe('item 2: a thread that can no longer continue', () => {
  it('a deleted previous response → FOUNDRY_THREAD_NOT_FOUND', async () => {
    const c = client();
    const first = await run(c, fresh, text('hello'));
    const id = first.outcome?.responseId ?? '';
    await fetch(`${emu.projectEndpoint}/openai/v1/responses/${id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${emu.issueToken({ oid: ALICE })}` },
    });
    const r = await run(c, { mode: 'previous_response', previousResponseId: id }, text('again'));
    expect(r.error).toMatchObject({
      code: 'FOUNDRY_THREAD_NOT_FOUND',
      details: { status: 400, code: 'previous_response_not_found' },
    });
  });

  it.each([true, false])(
    'a missing conversation → FOUNDRY_THREAD_NOT_FOUND, an unknown agent → FOUNDRY_NOT_FOUND (notFoundParam %s)',
    async (notFoundParam) => {
      await setSettings(emu.url, { notFoundParam });
      const c = client();
      const conv = await run(c, { mode: 'conversation', conversationId: 'conv_gone' }, text('hi'));
      expect(conv.error?.code).toBe('FOUNDRY_THREAD_NOT_FOUND');
      const agent = await (async (): Promise<BotError | undefined> => {
        try {
          for await (const _ of c.streamTurn(
            { agent: { name: 'no-such-agent' }, thread: fresh, input: text('hi') },
            { credential },
          ));
        } catch (e) {
          return e as BotError;
        }
        return undefined;
      })();
      expect(agent?.code).toBe('FOUNDRY_NOT_FOUND');
    },
  );
});

describe('item 3: busy', () => {
  it('400 conversation_locked is retried (bounded) and then succeeds', async () => {
    await setFaults(emu.url, [{ kind: 'conversation_locked', count: 2 }]);
    const r = await run(client({ busyRetries: 3 }), fresh, text('hello'));
    expect(r.outcome?.status).toBe('completed');
    expect(await responsesIn()).toBe(3);
  });

  it('still busy after the retries → FOUNDRY_BUSY after 1 + busyRetries attempts', async () => {
    await setFaults(emu.url, [{ kind: 'conversation_locked', count: 10 }]);
    const r = await run(client({ busyRetries: 2 }), fresh, text('hello'));
    expect(r.error).toMatchObject({
      code: 'FOUNDRY_BUSY',
      details: { status: 400, code: 'conversation_locked' },
    });
    expect(await responsesIn()).toBe(3);
  });

  it('an abort during the wait ends the turn at once (no further attempt)', async () => {
    await setFaults(emu.url, [{ kind: 'conversation_locked', count: 10 }]);
    const c = createFoundryClient({
      projectEndpoint: emu.projectEndpoint,
      timeoutMs: 5_000,
      idleTimeoutMs: 2_000,
      maxRetries: 0,
      busyRetries: 5,
      busyRetryDelayMs: 5_000,
      log: createLogger({ sink: () => undefined }),
    });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const started = Date.now();
    const r = await run(c, fresh, text('hello'), ac.signal);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(r.error).toMatchObject({ code: 'STREAM_INTERRUPTED', details: { reason: 'aborted' } });
    expect(await responsesIn()).toBe(1);
  });
});

describe('item 4: sign-in and approvals in one response (consentWithApprovals)', () => {
  it('one response carries both; answering every approval is accepted and asks for the sign-in again', async () => {
    await loadScenario(emu.url, {
      settings: { consentWithApprovals: true },
      agents: {
        'helpdesk-agent': {
          mcp: [
            {
              server_label: 'github',
              auth: 'oauth_passthrough',
              require_approval: 'never',
              tools: [{ name: 'search_issues' }],
            },
            { server_label: 'tracker', require_approval: 'always', tools: [{ name: 'add_label' }] },
          ],
          rules: [
            {
              when: 'triage',
              calls: [
                { server_label: 'github', name: 'search_issues' },
                { server_label: 'tracker', name: 'add_label', arguments: { label: 'bug' } },
              ],
              then_text: 'Done.',
            },
          ],
        },
      },
    });
    const c = client();
    const first = await run(c, fresh, text('triage'));
    expect(first.outcome?.consents).toHaveLength(1);
    expect(first.outcome?.approvals.map((a) => a.toolName)).toEqual(['add_label']);
    const id = first.outcome?.responseId ?? '';
    // A consent-style continuation (the text again) would leave the approval unanswered: Foundry's 400.
    const premature = await run(c, { mode: 'previous_response', previousResponseId: id }, text('triage'));
    expect(premature.error?.code).toBe('FOUNDRY_UNANSWERED_APPROVALS');
    const decisions = (first.outcome?.approvals ?? []).map((a) => ({
      requestId: a.requestId,
      approve: true,
    }));
    const cont = await run(
      c,
      { mode: 'previous_response', previousResponseId: id },
      {
        kind: 'approvals',
        decisions,
      },
    );
    expect(cont.error).toBeUndefined();
    expect(cont.outcome?.consents).toHaveLength(1);
  });
});

describe('item 6: a tool whose user token lapsed (tool_auth_lapsed)', () => {
  it('form mcp_call: the call fails "Failed to fetch access token" and is marked signInRequired', async () => {
    await setFaults(emu.url, [{ kind: 'tool_auth_lapsed' }]);
    const r = await run(client(), fresh, text('weather in Seattle'));
    expect(r.outcome?.status).toBe('completed');
    expect(r.outcome?.toolCalls.find((t) => t.itemType === 'mcp_call')).toMatchObject({
      status: 'failed',
      error: { signInRequired: true },
    });
  });

  it('form response_failed: the response fails with tool_user_error', async () => {
    await setFaults(emu.url, [{ kind: 'tool_auth_lapsed', form: 'response_failed' }]);
    const r = await run(client(), fresh, text('weather in Seattle'));
    expect(r.outcome).toMatchObject({ status: 'failed', error: { code: 'tool_user_error' } });
  });
});

describe('item 7: unrecognised errors are logged with status, code and request id, never the body', () => {
  it('an HTTP error of unknown status and code', async () => {
    await setFaults(emu.url, [{ kind: 'http_error', status: 422, code: 'brand_new_code', message: CANARY }]);
    const logs: string[] = [];
    const r = await run(client({ logs }), fresh, text(CANARY));
    expect(r.error).toMatchObject({ code: 'FOUNDRY_REJECTED', details: { status: 422 } });
    const line = logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['msg'] === 'foundry.error.unrecognised' || l['event'] === 'foundry.error.unrecognised');
    expect(line).toMatchObject({ status: 422, code: 'brand_new_code', source: 'http' });
    expect(typeof line?.['requestId']).toBe('string');
    expect(logs.join('\n')).not.toContain('CANARY');
  });

  it('a response.failed with an unknown code', async () => {
    await setFaults(emu.url, [{ kind: 'response_failed', code: 'mystery_failure', message: CANARY }]);
    const logs: string[] = [];
    await run(client({ logs }), fresh, text('hello'));
    expect(logs.join('\n')).toContain('mystery_failure');
    expect(logs.join('\n')).toContain('foundry.error.unrecognised');
    expect(logs.join('\n')).not.toContain('CANARY');
  });
});
