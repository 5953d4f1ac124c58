import { createLogger } from '../../src/observability/logger';
import { TeamsAnswerStream } from '../../src/teams/stream';

/**
 * The held informative update (issue 15): with `informativeHoldMs`, text that arrives within the hold streams
 * at once and the informative update is never sent; a slow agent still gets the update after the hold; and
 * the 1 request/s gap between streaming requests (STR-03) holds either way. Jest's fake clock.
 */
interface Sent {
  at: number;
  type: string | undefined;
  text: unknown;
}

function harness(holdMs: number) {
  const sent: Sent[] = [];
  const send = async (activity: Record<string, unknown>): Promise<string | undefined> => {
    const cd = (activity['channelData'] ?? {}) as { streamType?: string };
    sent.push({ at: Date.now(), type: cd.streamType ?? String(activity['type']), text: activity['text'] });
    await new Promise((r) => setTimeout(r, 20));
    return sent.length === 1 ? 'stream-1' : `id-${sent.length}`;
  };
  const stream = new TeamsAnswerStream({
    send,
    streaming: true,
    log: createLogger({ level: 'error', sink: () => undefined }),
    informativeHoldMs: holdMs,
  });
  return { stream, sent };
}

const T0 = 1_000_000;
beforeEach(() => {
  jest.useFakeTimers({ now: T0 });
});
afterEach(() => {
  jest.useRealTimers();
});

describe('TeamsAnswerStream informative hold', () => {
  it('text within the hold goes out at once and the informative update is skipped', async () => {
    const { stream, sent } = harness(300);
    stream.informative('Asking the agent…');
    await jest.advanceTimersByTimeAsync(40);
    stream.text('Hello ');
    await jest.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([{ at: T0 + 40, type: 'streaming', text: 'Hello ' }]);
    stream.text('world');
    await jest.advanceTimersByTimeAsync(2000);
    expect(sent.map((s) => s.type)).toEqual(['streaming', 'streaming']);
    expect((sent[1]?.at ?? 0) - (sent[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
    const outcome = stream.finish({ text: 'Hello world', citations: [] });
    await jest.advanceTimersByTimeAsync(100);
    await expect(outcome).resolves.toBe('completed');
    expect(sent.every((s) => s.type !== 'informative')).toBe(true);
  });

  it('a slow agent gets the informative update after the hold, then its text ≥ 1 s later', async () => {
    const { stream, sent } = harness(300);
    stream.informative('Asking the agent…');
    await jest.advanceTimersByTimeAsync(299);
    expect(sent).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(sent).toEqual([{ at: T0 + 300, type: 'informative', text: 'Asking the agent…' }]);
    await jest.advanceTimersByTimeAsync(200);
    stream.text('Late answer');
    await jest.advanceTimersByTimeAsync(2000);
    expect(sent.map((s) => s.type)).toEqual(['informative', 'streaming']);
    expect((sent[1]?.at ?? 0) - (sent[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
  });

  it('without a hold the informative update goes out at once (the default)', async () => {
    const { stream, sent } = harness(0);
    stream.informative('Asking the agent…');
    await jest.advanceTimersByTimeAsync(0);
    expect(sent.map((s) => s.type)).toEqual(['informative']);
  });

  it('a turn that ends within the hold sends no stream at all, only the answer', async () => {
    const { stream, sent } = harness(300);
    stream.informative('Asking the agent…');
    const outcome = stream.finish({ text: 'Done.', citations: [] });
    await jest.advanceTimersByTimeAsync(100);
    await expect(outcome).resolves.toBe('completed');
    expect(sent.map((s) => s.type)).toEqual(['message']);
  });
});
