import OpenAI from 'openai';
import { getLog, loadScenario, parseSse, postResponse, readSse, setFaults } from '../../emulator/test-client';
import {
  AGENT,
  ALICE,
  jsonTurn,
  openaiFor,
  streamTurn,
  terminal,
  type FoundryNonStreaming,
  type FoundryStreaming,
  useEmulator,
} from './emulator-helpers';

// docs/foundry-wire.md §7.3 / §8.5: fault injection through the control endpoint and scenario rules.

const emu = useEmulator();

const post = (body: Record<string, unknown>): Promise<Response> =>
  postResponse(emu.projectEndpoint, emu.issueToken({ oid: ALICE }), { agent_reference: AGENT, ...body });

describe('pre-stream faults', () => {
  it('429 with Retry-After and retry-after-ms, for the next N requests', async () => {
    await setFaults(emu.url, [{ kind: 'rate_limit', retryAfterSec: 2, count: 2 }]);
    const a = await post({ input: 'hello' });
    expect(a.status).toBe(429);
    expect(a.headers.get('retry-after')).toBe('2');
    expect(a.headers.get('retry-after-ms')).toBe('2000');
    expect(await a.json()).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
    expect((await post({ input: 'hello' })).status).toBe(429);
    expect((await post({ input: 'hello' })).status).toBe(200);
  });

  it('lets openai-node retry a 429 on its own (retry-after-ms honoured)', async () => {
    await setFaults(emu.url, [{ kind: 'rate_limit', retryAfterSec: 5, retryAfterMs: 50 }]);
    const started = Date.now();
    const r = await openaiFor(emu, ALICE).responses.create({
      input: 'hello',
      agent_reference: AGENT,
    } as FoundryNonStreaming);
    expect(r.status).toBe('completed');
    // Retry-After says 5 s; retry-after-ms (50 ms) wins.
    expect(Date.now() - started).toBeLessThan(3000);
    const statuses = (await getLog(emu.url)).requests.map((q) => q.status);
    expect(statuses).toEqual([429, 200]);
    await setFaults(emu.url, [{ kind: 'rate_limit' }]);
    await expect(
      openaiFor(emu, ALICE, { maxRetries: 0 }).responses.create({
        input: 'hi',
        agent_reference: AGENT,
      } as FoundryNonStreaming),
    ).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  });

  it('500 before the stream', async () => {
    await setFaults(emu.url, [{ kind: 'server_error' }]);
    const res = await post({ input: 'hello', stream: true });
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toMatch(/json/);
    await setFaults(emu.url, [{ kind: 'server_error', status: 503 }]);
    await expect(
      openaiFor(emu, ALICE, { maxRetries: 0 }).responses.create({
        input: 'hi',
        agent_reference: AGENT,
      } as FoundryNonStreaming),
    ).rejects.toBeInstanceOf(OpenAI.InternalServerError);
  });

  it('401 invalid token and 403 wrong tenant as switches', async () => {
    await setFaults(emu.url, [{ kind: 'unauthorized' }, { kind: 'wrong_tenant', match: { text: 'docs' } }]);
    expect((await post({ input: 'hello' })).status).toBe(401);
    expect((await post({ input: 'hello' })).status).toBe(200);
    const r = await post({ input: 'docs please' });
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: { code: 'forbidden' } });
  });

  it('matches only the selected requests (text, stream)', async () => {
    await setFaults(emu.url, [{ kind: 'server_error', match: { text: 'weather', stream: false } }]);
    expect((await post({ input: 'weather', stream: true })).status).toBe(200);
    expect((await post({ input: 'hello' })).status).toBe(200);
    expect((await post({ input: 'Weather today' })).status).toBe(500);
  });
});

describe('stream faults', () => {
  it('response.failed mid-stream with error {code:server_error}', async () => {
    await setFaults(emu.url, [{ kind: 'response_failed', afterEvents: 4, message: 'model overloaded' }]);
    const events = await streamTurn(emu, ALICE, { input: 'hello' });
    expect(events).toHaveLength(5);
    expect(events[4]?.type).toBe('response.failed');
    expect(events.every((e) => !('error' in e))).toBe(true);
    const r = terminal(events);
    expect(r.status).toBe('failed');
    expect(r.error).toEqual({ code: 'server_error', message: 'model overloaded' });
    // openai-node yields it as an ordinary event.
    await setFaults(emu.url, [{ kind: 'response_failed', afterEvents: 3 }]);
    const s = await openaiFor(emu, ALICE).responses.create({
      input: 'hello',
      stream: true,
      agent_reference: AGENT,
    } as FoundryStreaming);
    const types: string[] = [];
    for await (const ev of s) types.push(ev.type);
    expect(types.at(-1)).toBe('response.failed');
  });

  it('an event: error frame mid-stream (flat by default; nested makes openai-node throw)', async () => {
    await setFaults(emu.url, [
      { kind: 'error_event', afterEvents: 5, code: 'server_error', message: 'boom' },
    ]);
    const res = await post({ input: 'hello', stream: true });
    const frames = parseSse(await res.text());
    expect(frames).toHaveLength(6);
    expect(frames[5]?.event).toBe('error');
    expect(JSON.parse(frames[5]?.data ?? '{}')).toEqual({
      type: 'error',
      sequence_number: 5,
      code: 'server_error',
      message: 'boom',
      param: null,
    });
    // openai-node 6.x yields a flat error frame as an ordinary event of type 'error'.
    await setFaults(emu.url, [{ kind: 'error_event', afterEvents: 2 }]);
    const flat = await openaiFor(emu, ALICE).responses.create({
      input: 'hello',
      stream: true,
      agent_reference: AGENT,
    } as FoundryStreaming);
    const flatTypes: string[] = [];
    for await (const ev of flat) flatTypes.push(ev.type);
    expect(flatTypes).toEqual(['response.created', 'response.in_progress', 'error']);
    await setFaults(emu.url, [{ kind: 'error_event', afterEvents: 2, nested: true, message: 'nested boom' }]);
    const s = await openaiFor(emu, ALICE).responses.create({
      input: 'hello',
      stream: true,
      agent_reference: AGENT,
    } as FoundryStreaming);
    const drain = async (): Promise<void> => {
      for await (const _ of s) void _;
    };
    await expect(drain()).rejects.toBeInstanceOf(OpenAI.APIError);
  });

  it('cuts the TCP connection after N events; the stream can be resumed', async () => {
    await setFaults(emu.url, [{ kind: 'disconnect', afterEvents: 3 }]);
    const res = await post({ input: 'hello', stream: true });
    let text = '';
    const reader = res.body?.getReader();
    const dec = new TextDecoder();
    await expect(
      (async () => {
        for (;;) {
          const chunk = await reader?.read();
          if (!chunk || chunk.done) return;
          text += dec.decode(chunk.value);
        }
      })(),
    ).rejects.toThrow();
    const got = parseSse(text).map(
      (f) => JSON.parse(f.data) as { sequence_number: number; response?: { id: string } },
    );
    expect(got).toHaveLength(3);
    const id = got[0]?.response?.id ?? '';
    const resumed = await fetch(
      `${emu.projectEndpoint}/openai/v1/responses/${id}?stream=true&starting_after=2`,
      {
        headers: { authorization: `Bearer ${emu.issueToken({ oid: ALICE })}` },
      },
    );
    const rest = await readSse(resumed);
    expect(rest[0]?.sequence_number).toBe(3);
    expect(rest.at(-1)?.type).toBe('response.completed');
  });

  it('the openai client sees a cut stream as an error after the events that arrived', async () => {
    await setFaults(emu.url, [{ kind: 'disconnect', afterEvents: 2 }]);
    const s = await openaiFor(emu, ALICE).responses.create({
      input: 'hello',
      stream: true,
      agent_reference: AGENT,
    } as FoundryStreaming);
    const seen: string[] = [];
    const drain = async (): Promise<void> => {
      for await (const ev of s) seen.push(ev.type);
    };
    await expect(drain()).rejects.toThrow();
    expect(seen).toEqual(['response.created', 'response.in_progress']);
  });

  it('stalls for X ms after N events', async () => {
    await setFaults(emu.url, [{ kind: 'stall', afterEvents: 3, ms: 400 }]);
    const res = await post({ input: 'hello', stream: true });
    const reader = res.body?.getReader();
    const stamps: number[] = [];
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const c = await reader?.read();
      if (!c || c.done) break;
      buf += dec.decode(c.value);
      const n = buf.split('\n\n').length - 1;
      while (stamps.length < n) stamps.push(Date.now());
    }
    expect(stamps.length).toBeGreaterThan(4);
    const gap = (stamps[3] ?? 0) - (stamps[2] ?? 0);
    expect(gap).toBeGreaterThanOrEqual(350);
  });

  it('slows tokens down (delay per delta)', async () => {
    await setFaults(emu.url, [{ kind: 'slow_tokens', delayMs: 40 }]);
    const started = Date.now();
    const events = await streamTurn(emu, ALICE, { input: 'hello' });
    const deltas = events.filter((e) => e.type === 'response.output_text.delta').length;
    expect(Date.now() - started).toBeGreaterThanOrEqual(deltas * 40 - 10);
  });

  it('in JSON mode: a failed response is a 200 with status failed; a cut drops the connection', async () => {
    await setFaults(emu.url, [{ kind: 'response_failed', afterEvents: 2 }]);
    const r = await jsonTurn(emu, ALICE, { input: 'hello' });
    expect([r.status, r.body['status']]).toEqual([200, 'failed']);
    await setFaults(emu.url, [{ kind: 'disconnect', afterEvents: 2 }]);
    await expect(post({ input: 'hello' })).rejects.toThrow();
  });
});

describe('rule faults (scenario)', () => {
  it('applies a rule fault the first `count` times that rule matches', async () => {
    await loadScenario(emu.url, {
      agents: {
        'helpdesk-agent': {
          rules: [
            { when: 'busy', text: 'finally', faults: [{ kind: 'rate_limit', retryAfterSec: 1, count: 1 }] },
            { when: 'flaky', text: 'never finishes', faults: [{ kind: 'response_failed', afterEvents: 2 }] },
            { default_text: 'Echo: {input}' },
          ],
        },
      },
    });
    expect((await post({ input: 'hello' })).status).toBe(200);
    expect((await post({ input: 'busy?' })).status).toBe(429);
    expect((await post({ input: 'busy?' })).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const events = await streamTurn(emu, ALICE, { input: 'flaky' });
      expect(events.at(-1)?.type).toBe('response.failed');
    }
  });
});
