import { createLogger } from '../../src/observability/logger';
import { TeamsAnswerStream } from '../../src/teams/stream';

/**
 * TeamsAnswerStream with a fake `send` and jest's fake clock (STR-03…05, docs/reliability.md §2.6): what Teams would
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
  opts: {
    streaming?: boolean;
    latencyMs?: number;
    fail?: (n: number) => Error | undefined;
    failUpdate?: Error;
  } = {},
) {
  const sent: Sent[] = [];
  const updates: { at: number; id: string; activity: Record<string, unknown> }[] = [];
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
  const update = (id: string, activity: Record<string, unknown>): Promise<void> => {
    updates.push({ at: Date.now(), id, activity });
    return opts.failUpdate ? Promise.reject(opts.failUpdate) : Promise.resolve();
  };
  const stream = new TeamsAnswerStream({
    send,
    update,
    streaming: opts.streaming ?? true,
    log: createLogger({ level: 'error', sink: () => undefined }),
    typingIntervalMs: 3000,
  });
  return { stream, sent, updates, maxInFlight: () => maxInFlight };
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

  it('STR-04 TEAMS-09 403 "exceeded streaming time" → no more chunks; the answer replaces the streamed message in place', async () => {
    const { stream, sent, updates } = harness({
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
    expect(outcome).toBe('timed_out');
    const afterFailure = sent.slice(2);
    expect(afterFailure.filter((s) => info(s.activity).streamType !== undefined)).toHaveLength(0);
    // Shown once: no new message with the text, the stream's own message is replaced.
    expect(sent.filter((s) => s.activity['type'] === 'message')).toHaveLength(0);
    expect(updates).toHaveLength(1);
    expect(updates[0]?.id).toBe('stream-1');
    expect(updates[0]?.activity['text']).toBe(text);
    expect(JSON.stringify(updates[0]?.activity['entities'])).toContain('AIGeneratedContent');
    expect(afterFailure.some((s) => s.activity['type'] === 'typing')).toBe(true);
  });

  it('TEAMS-09 when the in-place update fails the answer goes out as a regular message (never lost)', async () => {
    const { stream, sent, updates } = harness({
      fail: (n) =>
        n === 2
          ? connectorError(
              403,
              'ContentStreamNotAllowed',
              'Content stream finished due to exceeded streaming time.',
            )
          : undefined,
      failUpdate: connectorError(404, 'NotFound', 'not found'),
    });
    stream.informative('…');
    const text = await feed(stream, 30, 100);
    expect(await stream.finish({ text, citations: [] })).toBe('timed_out');
    expect(updates).toHaveLength(1);
    const messages = sent.filter((s) => s.activity['type'] === 'message');
    expect(messages.map((m) => m.activity['text'])).toEqual([text]);
    expect(info(messages[0]?.activity ?? {}).streamType).toBeUndefined();
  });

  it('STR-04 TEAMS-09 soft deadline (100 s, faked clock): the stream is closed before the 2-minute cap, the answer replaces it', async () => {
    const { stream, sent, updates } = harness();
    stream.informative('…');
    const text = await feed(stream, 110, 1000); // 110 s of text
    const outcome = await stream.finish({ text, citations: [] });
    expect(outcome).toBe('timed_out');
    const streamed = sent.filter((s) => info(s.activity).streamType !== undefined);
    const first = streamed[0]?.at ?? 0;
    expect(streamed.every((s) => s.at - first <= 101_000)).toBe(true);
    // The last stream request is a final that closes it (no progress bubble left), well before 120 s.
    const close = streamed.at(-1);
    expect(info(close?.activity ?? {}).streamType).toBe('final');
    expect((close?.at ?? 0) - first).toBeLessThan(120_000);
    expect(text.startsWith(String(close?.activity['text']))).toBe(true);
    // The answer replaces that message; no second copy as a new message.
    expect(updates.map((u) => [u.id, u.activity['text']])).toEqual([['stream-1', text]]);
    expect(sent.filter((s) => s.activity['type'] === 'message')).toHaveLength(1);
  });

  it('TEAMS-09 soft deadline with no text yet (a long tool call): the stream is still closed before the cap', async () => {
    const { stream, sent, updates } = harness();
    stream.informative('Using github.search…');
    await jest.advanceTimersByTimeAsync(105_000);
    const close = sent.filter((s) => info(s.activity).streamType !== undefined).at(-1)?.activity ?? {};
    expect(info(close).streamType).toBe('final');
    expect(close['text']).toBe('Still working on the answer…');
    expect(await stream.finish({ text: 'done', citations: [] })).toBe('timed_out');
    expect(updates.map((u) => u.activity['text'])).toEqual(['done']);
  });

  it('TEAMS-08 403 "Content stream is not allowed" (switched off) is not a Stop: the whole answer as a message', async () => {
    const { stream, sent } = harness({
      fail: (n) =>
        n === 1 ? connectorError(403, 'ContentStreamNotAllowed', 'Content stream is not allowed') : undefined,
    });
    stream.informative('…');
    const text = await feed(stream, 20, 100);
    expect(stream.cancelled.aborted).toBe(false);
    expect(await stream.finish({ text, citations: [] })).toBe('fell_back_to_message');
    const messages = sent.filter((s) => s.activity['type'] === 'message');
    expect(messages.map((m) => m.activity['text'])).toEqual([text]);
    expect(info(messages[0]?.activity ?? {}).streamType).toBeUndefined();
  });

  it('TEAMS-08 a ContentStreamNotAllowed wording we do not know is not a Stop either', async () => {
    const { stream, sent } = harness({
      fail: (n) =>
        n === 1 ? connectorError(403, 'ContentStreamNotAllowed', 'Something new from Teams') : undefined,
    });
    stream.informative('…');
    const text = await feed(stream, 5, 100);
    expect(stream.cancelled.aborted).toBe(false);
    expect(await stream.finish({ text, citations: [] })).toBe('fell_back_to_message');
    expect(sent.filter((s) => s.activity['type'] === 'message')).toHaveLength(1);
  });

  it('TEAMS-08 "Content stream was canceled by user." (one l) is a Stop', async () => {
    const { stream } = harness({
      fail: (n) =>
        n === 2
          ? connectorError(403, 'ContentStreamNotAllowed', 'Content stream was canceled by user.')
          : undefined,
    });
    stream.informative('…');
    const text = await feed(stream, 20, 100);
    expect(stream.cancelled.aborted).toBe(true);
    expect(await stream.finish({ text, citations: [] })).toBe('user_cancelled');
  });

  it('TEAMS-09 a chunk that fails (500) stops the chunks; the final still closes the stream', async () => {
    const { stream, sent } = harness({
      fail: (n) => (n === 2 ? connectorError(500, 'InternalServerError', 'boom') : undefined),
    });
    stream.informative('…');
    const text = await feed(stream, 30, 100);
    expect(await stream.finish({ text, citations: [] })).toBe('completed');
    const streamed = sent.filter((s) => info(s.activity).streamType !== undefined);
    expect(streamed.map((s) => info(s.activity).streamType)).toEqual(['streaming', 'streaming', 'final']);
    expect(streamed.at(-1)?.activity['text']).toBe(text);
  });

  it('TEAMS-10 a final that fails is reported `failed` (finish never throws)', async () => {
    const { stream } = harness({
      fail: (n) => (n === 3 ? connectorError(500, 'InternalServerError', 'boom') : undefined),
    });
    stream.informative('…');
    const text = await feed(stream, 12, 100);
    await expect(stream.finish({ text, citations: [] })).resolves.toBe('failed');
  });

  it('TEAMS-10 a final refused as time exceeded whose fallbacks also fail is `failed`, not a throw', async () => {
    const { stream } = harness({
      fail: (n) =>
        n >= 3
          ? connectorError(
              403,
              'ContentStreamNotAllowed',
              'Content stream finished due to exceeded streaming time.',
            )
          : undefined,
      failUpdate: connectorError(500, 'InternalServerError', 'boom'),
    });
    stream.informative('…');
    const text = await feed(stream, 12, 100);
    await expect(stream.finish({ text, citations: [] })).resolves.toBe('failed');
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
    expect(messages[0]?.activity['channelData']).toEqual({ feedbackLoop: { type: 'default' } });
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
