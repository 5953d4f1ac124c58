import { createLogger } from '../../src/observability/logger';
import { TeamsAnswerStream } from '../../src/teams/stream';

/**
 * TeamsAnswerStream with a fake `send` and jest's fake clock (STR-03…05, reliability-plan §2.6): what Teams would
 * receive, and when.
 */
interface Sent {
  at: number;
  activity: Record<string, unknown>;
}

function info(a: Record<string, unknown>): {
  streamType?: string;
  streamSequence?: number;
  streamId?: string;
} {
  return a['channelData'] ?? {};
}

function connectorError(status: number, code: string, message: string): Error {
  return Object.assign(new Error(message), { statusCode: status, body: { error: { code, message } } });
}

function harness(
  opts: { streaming?: boolean; latencyMs?: number; fail?: (n: number) => Error | undefined } = {},
) {
  const sent: Sent[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const send = async (activity: Record<string, unknown>): Promise<string | undefined> => {
    sent.push({ at: Date.now(), activity });
    const n = sent.length;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      if (opts.latencyMs) await new Promise((r) => setTimeout(r, opts.latencyMs));
      const err = opts.fail?.(n);
      if (err) throw err;
      return n === 1 ? 'stream-1' : `id-${n}`;
    } finally {
      inFlight--;
    }
  };
  const stream = new TeamsAnswerStream({
    send,
    streaming: opts.streaming ?? true,
    log: createLogger({ level: 'error', sink: () => undefined }),
    typingIntervalMs: 3000,
  });
  return { stream, sent, maxInFlight: () => maxInFlight };
}

/** Feeds `n` deltas, one every `everyMs`. */
async function feed(stream: TeamsAnswerStream, n: number, everyMs: number, word = 'word '): Promise<string> {
  let all = '';
  for (let i = 0; i < n; i++) {
    stream.text(word);
    all += word;
    await jest.advanceTimersByTimeAsync(everyMs);
  }
  return all;
}

beforeEach(() => {
  jest.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  jest.useRealTimers();
});

describe('TeamsAnswerStream (1:1, streaming)', () => {
  it('STR-03 informative first, then coalesced chunks ≥ 1 s apart, sequence 1,2,3…, final without sequence', async () => {
    const { stream, sent, maxInFlight } = harness({ latencyMs: 200 });
    stream.informative('Asking the agent…');
    await jest.advanceTimersByTimeAsync(50); // Foundry's first delta comes after the request round trip
    const text = await feed(stream, 40, 100); // 4 s of deltas
    const done = stream.finish({ text, citations: [] });
    await jest.advanceTimersByTimeAsync(1000);
    const outcome = await done;
    expect(outcome).toBe('completed');
    const chunks = sent.slice(0, -1);
    expect(info(chunks[0]?.activity ?? {}).streamType).toBe('informative');
    expect(chunks[0]?.activity['text']).toBe('Asking the agent…');
    expect(chunks.map((s) => info(s.activity).streamSequence)).toEqual(chunks.map((_s, i) => i + 1));
    // Coalesced: 40 deltas, a handful of requests.
    expect(chunks.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < chunks.length; i++)
      expect((chunks[i]?.at ?? 0) - (chunks[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
    // Cumulative text, the stream id from the first answer.
    expect(String(chunks.at(-1)?.activity['text'])).toBe(
      text.slice(0, String(chunks.at(-1)?.activity['text']).length),
    );
    expect(chunks.slice(1).every((s) => info(s.activity).streamId === 'stream-1')).toBe(true);
    const final = sent.at(-1)?.activity ?? {};
    expect(final['type']).toBe('message');
    expect(info(final)).toMatchObject({ streamId: 'stream-1', streamType: 'final' });
    expect(info(final).streamSequence).toBeUndefined();
    expect(final['text']).toBe(text);
    expect(maxInFlight()).toBe(1);
  });

  it('STR-03 one request in flight: a slow answer delays the next chunk', async () => {
    const { stream, sent, maxInFlight } = harness({ latencyMs: 2500 });
    stream.informative('…');
    const text = await feed(stream, 60, 100);
    const done = stream.finish({ text, citations: [] });
    await jest.advanceTimersByTimeAsync(6000);
    await done;
    expect(maxInFlight()).toBe(1);
    const chunks = sent.slice(0, -1);
    for (let i = 1; i < chunks.length; i++)
      expect((chunks[i]?.at ?? 0) - (chunks[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(2500 + 1000);
  });

  it('STR-05 403 ContentStreamNotAllowed (user pressed stop) aborts `cancelled` and sends nothing more', async () => {
    const { stream, sent } = harness({
      fail: (n) =>
        n === 2
          ? connectorError(403, 'ContentStreamNotAllowed', 'Content stream was cancelled by user.')
          : undefined,
    });
    stream.informative('…');
    const text = await feed(stream, 20, 100);
    expect(stream.cancelled.aborted).toBe(true);
    const before = sent.length;
    expect(await stream.finish({ text, citations: [] })).toBe('user_cancelled');
    await stream.abandon();
    expect(sent).toHaveLength(before);
    expect(before).toBe(2);
  });

  it('STR-04 403 "exceeded streaming time" → no more chunks; the full text as a regular message', async () => {
    const { stream, sent } = harness({
      fail: (n) =>
        n === 2
          ? connectorError(
              403,
              'ContentStreamNotAllowed',
              'Content stream finished due to exceeded streaming time.',
            )
          : undefined,
    });
    stream.informative('…');
    const text = await feed(stream, 30, 100);
    const outcome = await stream.finish({ text, citations: [] });
    expect(outcome).toBe('fell_back_to_message');
    const afterFailure = sent.slice(2);
    expect(afterFailure.filter((s) => info(s.activity).streamType !== undefined)).toHaveLength(0);
    const final = sent.at(-1)?.activity ?? {};
    expect(final['type']).toBe('message');
    expect(final['text']).toBe(text);
    expect(afterFailure.some((s) => s.activity['type'] === 'typing')).toBe(true);
  });

  it('STR-04 soft deadline (100 s, faked clock): streaming stops, the final goes out as a regular message', async () => {
    const { stream, sent } = harness();
    stream.informative('…');
    const text = await feed(stream, 110, 1000); // 110 s of text
    const outcome = await stream.finish({ text, citations: [] });
    expect(outcome).toBe('fell_back_to_message');
    const streamed = sent.filter((s) => info(s.activity).streamType !== undefined);
    const first = streamed[0]?.at ?? 0;
    expect(streamed.every((s) => s.at - first <= 101_000)).toBe(true);
    const final = sent.at(-1)?.activity ?? {};
    expect(info(final).streamType).toBeUndefined();
    expect(final['text']).toBe(text);
  });

  it('STR-06 cumulative text over the budget is not streamed; finish splits it and closes the stream', async () => {
    const { stream, sent } = harness();
    stream.informative('…');
    const text = await feed(stream, 12, 1000, 'x'.repeat(5000));
    await stream.finish({ text, citations: [] });
    for (const s of sent) expect(JSON.stringify(s.activity).length * 2).toBeLessThanOrEqual(80_000);
    const messages = sent.filter((s) => s.activity['type'] === 'message');
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(info(messages[0]?.activity ?? {}).streamType).toBe('final');
    expect(messages.map((m) => String(m.activity['text'])).join('')).toBe(text);
  });

  it('a stream without an answer is closed by abandon (no dangling progress bubble)', async () => {
    const { stream, sent } = harness();
    stream.informative('Asking the agent…');
    await jest.advanceTimersByTimeAsync(10);
    await stream.abandon('A sign-in is needed to continue.');
    const last = sent.at(-1)?.activity ?? {};
    expect(info(last).streamType).toBe('final');
    expect(last['text']).toBe('A sign-in is needed to continue.');
  });
});

describe('TeamsAnswerStream (group chats: no streaming)', () => {
  it('typing, then one final message with the AI label and feedback; no stream fields', async () => {
    const { stream, sent } = harness({ streaming: false });
    stream.informative('Asking the agent…');
    const text = await feed(stream, 50, 100);
    expect(await stream.finish({ text, citations: [] })).toBe('completed');
    expect(sent.filter((s) => s.activity['type'] === 'typing').length).toBeGreaterThanOrEqual(2);
    expect(sent.every((s) => info(s.activity).streamType === undefined)).toBe(true);
    const messages = sent.filter((s) => s.activity['type'] === 'message');
    expect(messages).toHaveLength(1);
    expect(messages[0]?.activity['channelData']).toEqual({ feedbackLoopEnabled: true });
    expect(JSON.stringify(messages[0]?.activity['entities'])).toContain('AIGeneratedContent');
  });

  it('a 429 on the final message is retried once after Retry-After', async () => {
    const err = Object.assign(connectorError(429, 'TooManyRequests', 'quota'), {
      response: { headers: { 'retry-after': '2' } },
    });
    const { stream, sent } = harness({
      streaming: false,
      fail: (n) => (n === 2 ? err : undefined),
    });
    stream.text('hello');
    const done = stream.finish({ text: 'hello', citations: [] });
    await jest.advanceTimersByTimeAsync(2100);
    expect(await done).toBe('completed');
    const messages = sent.filter((s) => s.activity['type'] === 'message');
    expect(messages).toHaveLength(2);
    expect((messages[1]?.at ?? 0) - (messages[0]?.at ?? 0)).toBeGreaterThanOrEqual(2000);
  });
});
