import { SendPacer } from '../../src/teams/send-pacer';

/**
 * The send pacer's memory (issue 15): per-conversation windows are forgotten once a conversation has been idle
 * for the longest window, and the limits (RES-08) still hold for conversations that keep sending.
 */
describe('SendPacer', () => {
  it('forgets idle conversations as new ones arrive, keeps active ones', () => {
    let now = 0;
    const pacer = new SendPacer(undefined, () => now);
    for (let i = 0; i < 1000; i++) expect(pacer.tryTake(`idle-${i}`)).toBe(true);
    expect(pacer.size).toBe(1000);
    now = 20_000;
    expect(pacer.tryTake('active')).toBe(true);
    now = 30_001; // the first 1000 are idle for longer than the 30 s window; `active` is not
    expect(pacer.tryTake('new')).toBe(true);
    expect(pacer.size).toBe(2);
  });

  it('is capped: beyond maxEntries the least recently used conversation is dropped', () => {
    const pacer = new SendPacer(undefined, () => 0, 100);
    for (let i = 0; i < 250; i++) pacer.tryTake(`c-${i}`);
    expect(pacer.size).toBe(100);
  });

  it('RES-08 still paces a busy conversation: the 8th send within 1 s waits for the window', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const pacer = new SendPacer();
      const admitted: number[] = [];
      const all = Array.from({ length: 8 }, () => pacer.take('busy').then(() => admitted.push(Date.now())));
      await jest.advanceTimersByTimeAsync(5000);
      await Promise.all(all);
      expect(admitted.slice(0, 6).every((t) => t === 1_000_000)).toBe(true);
      expect(admitted[6] ?? 0).toBeGreaterThan(1_000_000 + 1000);
    } finally {
      jest.useRealTimers();
    }
  });
});
