import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TokenCredential } from '@azure/identity';
import { BotError } from '../../src/errors';
import { createFoundryClient } from '../../src/foundry/client';
import type { AgentEvent, FoundryClient, TurnRequest } from '../../src/foundry/types';
import { createLogger } from '../../src/observability/logger';
import { encodeSse } from '../support/fakes/sse';

/**
 * docs/reliability.md RES-01..RES-05 and STR-01/STR-02 on the Foundry side: the real client (one `openai`
 * client, its own retries and timeout) against a tiny scripted HTTP server on 127.0.0.1:0.
 */

interface Call {
  at: number;
  closedAt?: number;
}

type Script = (n: number, req: IncomingMessage, res: ServerResponse) => void;

interface Scripted {
  endpoint: string;
  calls: Call[];
  close(): Promise<void>;
}

async function scripted(script: Script): Promise<Scripted> {
  const calls: Call[] = [];
  const server: Server = createServer((req, res) => {
    const call: Call = { at: Date.now() };
    calls.push(call);
    req.on('close', () => (call.closedAt ??= Date.now()));
    res.on('close', () => (call.closedAt ??= Date.now()));
    req.resume();
    req.on('end', () => script(calls.length, req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}/api/projects/p`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': `req_${status}`, ...headers });
  res.end(JSON.stringify(body));
}

const created = {
  type: 'response.created',
  sequence_number: 0,
  response: { id: 'resp_R', status: 'in_progress', output: [] },
};
const msgAdded = {
  type: 'response.output_item.added',
  sequence_number: 1,
  output_index: 0,
  item: { id: 'msg_1', type: 'message', role: 'assistant', status: 'in_progress', content: [] },
};
const deltaEv = (i: number): Record<string, unknown> => ({
  type: 'response.output_text.delta',
  sequence_number: 1 + i,
  item_id: 'msg_1',
  output_index: 0,
  content_index: 0,
  delta: `d${i} `,
});
const completed = {
  type: 'response.completed',
  sequence_number: 20,
  response: {
    id: 'resp_R',
    status: 'completed',
    output: [
      {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'ok', annotations: [] }],
      },
    ],
  },
};

function sse(res: ServerResponse, events: unknown[], end = true): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(encodeSse(events));
  if (end) res.end();
}

const credential: TokenCredential = {
  getToken: () => Promise.resolve({ token: 'tok', expiresOnTimestamp: Date.now() + 3_600_000 }),
};
const REQ: TurnRequest = {
  agent: { name: 'helpdesk-agent' },
  thread: { mode: 'previous_response' },
  input: { kind: 'text', text: 'hello' },
};

function clientFor(
  s: Scripted,
  o: { maxRetries?: number; timeoutMs?: number; idleTimeoutMs?: number } = {},
): FoundryClient {
  return createFoundryClient({
    projectEndpoint: s.endpoint,
    timeoutMs: o.timeoutMs ?? 5_000,
    idleTimeoutMs: o.idleTimeoutMs ?? 5_000,
    maxRetries: o.maxRetries ?? 2,
    log: createLogger({ sink: () => undefined }),
  });
}

async function drain(
  it: AsyncIterable<AgentEvent>,
): Promise<{ events: AgentEvent[]; error?: BotError; endedAt: number }> {
  const events: AgentEvent[] = [];
  try {
    for await (const e of it) events.push(e);
    return { events, endedAt: Date.now() };
  } catch (e) {
    if (!(e instanceof BotError)) throw e;
    return { events, error: e, endedAt: Date.now() };
  }
}

const gaps = (calls: Call[]): number[] => calls.slice(1).map((c, i) => c.at - (calls[i]?.at ?? c.at));

/** Measurements, printed once at the end for the report. */
const measured: Record<string, unknown> = {};
afterAll(() => {
  process.stdout.write(`foundry resilience measurements: ${JSON.stringify(measured)}\n`);
});

let server: Scripted | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('Foundry retries and timeouts (SDK-owned, C11)', () => {
  it('RES-01 429 with Retry-After: 1 then 200 → success, 2 calls, gap 1.0–1.5 s', async () => {
    server = await scripted((n, _req, res) =>
      n === 1
        ? json(res, 429, { error: { code: 'rate_limit_exceeded', message: 'x' } }, { 'retry-after': '1' })
        : sse(res, [created, msgAdded, deltaEv(1), completed]),
    );
    const r = await drain(clientFor(server).streamTurn(REQ, { credential }));
    expect(r.error).toBeUndefined();
    expect(r.events[r.events.length - 1]?.type).toBe('turn.end');
    expect(server.calls).toHaveLength(2);
    const [gap] = gaps(server.calls);
    measured['RES-01.gapMs'] = gap;
    expect(gap).toBeGreaterThanOrEqual(1_000);
    expect(gap).toBeLessThanOrEqual(1_500);
  });

  it('RES-02 500, 500, 200 with maxRetries 2 → success after 3 calls; gaps follow 0.5·2ⁿ s ×(0.75–1)', async () => {
    server = await scripted((n, _req, res) =>
      n < 3
        ? json(res, 500, { error: { code: 'server_error', message: 'x' } })
        : sse(res, [created, completed]),
    );
    const r = await drain(clientFor(server, { maxRetries: 2 }).streamTurn(REQ, { credential }));
    expect(r.error).toBeUndefined();
    expect(server.calls).toHaveLength(3);
    const g = gaps(server.calls);
    measured['RES-02.gapsMs'] = g;
    expect(g[0]).toBeGreaterThanOrEqual(375 - 5);
    expect(g[0]).toBeLessThanOrEqual(500 + 150);
    expect(g[1]).toBeGreaterThanOrEqual(750 - 5);
    expect(g[1]).toBeLessThanOrEqual(1_000 + 150);
  });

  it.each<[number, string]>([
    [500, 'FOUNDRY_UNAVAILABLE'],
    [429, 'FOUNDRY_RATE_LIMITED'],
  ])('RES-03 %i ×3 → one BotError %s; attempts = maxRetries + 1; surfaced promptly', async (status, code) => {
    server = await scripted((_n, _req, res) => json(res, status, { error: { code: 'x', message: 'x' } }));
    const r = await drain(clientFor(server, { maxRetries: 2 }).streamTurn(REQ, { credential }));
    expect(r.error?.code).toBe(code);
    expect(r.events).toEqual([]);
    expect(server.calls).toHaveLength(3);
    const lastAttempt = server.calls[2]?.at ?? 0;
    measured[`RES-03.${status}.msAfterLastAttempt`] = r.endedAt - lastAttempt;
    expect(r.endedAt - lastAttempt).toBeLessThan(5_000);
  });

  it('RES-04 server accepts but never answers → FOUNDRY_TIMEOUT at the configured 200 ms; the socket is closed', async () => {
    server = await scripted(() => undefined);
    const t0 = Date.now();
    const r = await drain(
      clientFor(server, { timeoutMs: 200, maxRetries: 0 }).streamTurn(REQ, { credential }),
    );
    const elapsed = Date.now() - t0;
    measured['RES-04.elapsedMs'] = elapsed;
    expect(r.error?.code).toBe('FOUNDRY_TIMEOUT');
    expect(elapsed).toBeGreaterThanOrEqual(195);
    expect(elapsed).toBeLessThan(700);
    expect(server.calls).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.calls[0]?.closedAt).toBeDefined();
  });

  it('RES-04 with the default maxRetries 2: each attempt times out at 200 ms, 3 attempts, then FOUNDRY_TIMEOUT', async () => {
    server = await scripted(() => undefined);
    const t0 = Date.now();
    const r = await drain(
      clientFor(server, { timeoutMs: 200, maxRetries: 2 }).streamTurn(REQ, { credential }),
    );
    const elapsed = Date.now() - t0;
    measured['RES-04.retried.elapsedMs'] = elapsed;
    expect(r.error?.code).toBe('FOUNDRY_TIMEOUT');
    expect(server.calls).toHaveLength(3);
    expect(server.calls.every((c) => c.closedAt !== undefined)).toBe(true);
  });

  it.each<[number, string]>([
    [400, 'FOUNDRY_REJECTED'],
    [401, 'FOUNDRY_UNAUTHORIZED'],
    [403, 'FOUNDRY_FORBIDDEN'],
    [404, 'FOUNDRY_NOT_FOUND'],
  ])('RES-05 %i → exactly 1 call, %s', async (status, code) => {
    server = await scripted((_n, _req, res) =>
      json(res, status, { error: { code: 'c', message: 'm', param: null } }),
    );
    const r = await drain(clientFor(server, { maxRetries: 2 }).streamTurn(REQ, { credential }));
    expect(r.error).toMatchObject({ code, details: { status, requestId: `req_${status}` } });
    expect(server.calls).toHaveLength(1);
  });
});

describe('Foundry stream interruptions (nothing after the stream started is retried)', () => {
  const fiveDeltas = [created, msgAdded, deltaEv(1), deltaEv(2), deltaEv(3), deltaEv(4), deltaEv(5)];
  const partial = 'd1 d2 d3 d4 d5 ';

  it('STR-01 SSE cut after 5 deltas (socket destroyed) → STREAM_INTERRUPTED; the consumer saw the 5 deltas', async () => {
    server = await scripted((_n, _req, res) => {
      sse(res, fiveDeltas, false);
      setTimeout(() => res.destroy(), 30);
    });
    const r = await drain(clientFor(server).streamTurn(REQ, { credential }));
    const deltas = r.events.filter(
      (e): e is Extract<AgentEvent, { type: 'text.delta' }> => e.type === 'text.delta',
    );
    expect(deltas).toHaveLength(5);
    expect(deltas.map((d) => d.text).join('')).toBe(partial);
    expect(r.error).toMatchObject({
      code: 'STREAM_INTERRUPTED',
      details: { responseId: 'resp_R', partialTextLength: partial.length },
    });
    measured['STR-01.reason'] = r.error?.details['reason'];
    expect(['connection_lost', 'no_terminal_event']).toContain(r.error?.details['reason']);
    expect(server.calls).toHaveLength(1);
  });

  it('STR-01 stream closed cleanly without a terminal event → STREAM_INTERRUPTED no_terminal_event, not retried', async () => {
    server = await scripted((_n, _req, res) => sse(res, fiveDeltas, true));
    const r = await drain(clientFor(server).streamTurn(REQ, { credential }));
    expect(r.events.filter((e) => e.type === 'text.delta')).toHaveLength(5);
    expect(r.error).toMatchObject({
      code: 'STREAM_INTERRUPTED',
      details: { reason: 'no_terminal_event', responseId: 'resp_R', partialTextLength: partial.length },
    });
    expect(server.calls).toHaveLength(1);
  });

  it('STR-02 stall longer than the idle timeout → aborted at the idle timeout (300 ms), handled as STR-01', async () => {
    let lastWrite = 0;
    server = await scripted((_n, _req, res) => {
      sse(res, [created, msgAdded, deltaEv(1), deltaEv(2)], false);
      lastWrite = Date.now();
    });
    const r = await drain(clientFor(server, { idleTimeoutMs: 300 }).streamTurn(REQ, { credential }));
    const stalledFor = r.endedAt - lastWrite;
    measured['STR-02.abortedAfterMs'] = stalledFor;
    expect(r.events.filter((e) => e.type === 'text.delta')).toHaveLength(2);
    expect(r.error).toMatchObject({
      code: 'STREAM_INTERRUPTED',
      details: {
        reason: 'idle_timeout',
        idleTimeoutMs: 300,
        responseId: 'resp_R',
        partialTextLength: 'd1 d2 '.length,
      },
    });
    expect(stalledFor).toBeGreaterThanOrEqual(290);
    expect(stalledFor).toBeLessThan(900);
    expect(server.calls).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.calls[0]?.closedAt).toBeDefined();
  });

  it('a slow consumer is not mistaken for an idle stream', async () => {
    server = await scripted((_n, _req, res) => sse(res, [created, msgAdded, deltaEv(1), completed]));
    const events: AgentEvent[] = [];
    for await (const e of clientFor(server, { idleTimeoutMs: 100 }).streamTurn(REQ, { credential })) {
      events.push(e);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect(events[events.length - 1]?.type).toBe('turn.end');
  });
});
