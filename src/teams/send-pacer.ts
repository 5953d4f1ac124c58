/**
 * Paces sends per conversation under Teams' per-bot-per-thread limits (msteams-docs rate-limit.md: 7 per 1 s,
 * 8 per 2 s, 60 per 30 s; reliability-plan §2.5, RES-08) with sliding windows set one below each limit.
 * A fixed token bucket (one send per 500 ms) would be simpler but caps every conversation at about one answer
 * per second, since an answer costs a typing indicator plus a message (measured with `npm run bench`).
 * Best-effort sends (typing indicators) are skipped rather than delayed when a window is full.
 * One instance per bot, not per turn; memory is bounded.
 */
export class SendPacer {
  private readonly sent = new Map<string, { times: number[]; chain: Promise<void> }>();

  constructor(
    private readonly windows: readonly { ms: number; max: number }[] = [
      { ms: 1000, max: 6 },
      { ms: 2000, max: 7 },
      { ms: 30_000, max: 55 },
    ],
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * How long to wait from `now` until one more send fits every window (0 = now), keeping `reserve` slots of
   * each window free (best-effort sends leave room for messages that matter).
   */
  private waitFor(times: readonly number[], now: number, reserve = 0): number {
    let wait = 0;
    for (const w of this.windows) {
      const inWindow = times.filter((t) => t > now - w.ms);
      if (inWindow.length >= w.max - reserve) {
        if (reserve > 0) return Infinity;
        // The oldest send that must leave the window before one more fits.
        const oldest = inWindow[inWindow.length - w.max] ?? now;
        wait = Math.max(wait, oldest + w.ms - now + 1);
      }
    }
    return wait;
  }

  private entry(conversationId: string): { times: number[]; chain: Promise<void> } {
    let e = this.sent.get(conversationId);
    if (!e) {
      e = { times: [], chain: Promise.resolve() };
      this.sent.set(conversationId, e);
      if (this.sent.size > 5000) {
        // Bounded: forget conversations with nothing in the longest window.
        const horizon = this.clock() - Math.max(...this.windows.map((w) => w.ms));
        for (const [k, v] of this.sent) if ((v.times[v.times.length - 1] ?? 0) < horizon) this.sent.delete(k);
      }
    }
    return e;
  }

  private record(e: { times: number[] }, now: number): void {
    e.times.push(now);
    const horizon = now - Math.max(...this.windows.map((w) => w.ms));
    while ((e.times[0] ?? Infinity) <= horizon) e.times.shift();
  }

  /** Waits until one more send to the conversation fits, then counts it. Sends are admitted in call order. */
  take(conversationId: string): Promise<void> {
    const e = this.entry(conversationId);
    const next = e.chain.then(async () => {
      for (;;) {
        const now = this.clock();
        const wait = this.waitFor(e.times, now);
        if (wait <= 0) {
          this.record(e, now);
          return;
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    });
    e.chain = next;
    return next;
  }

  /** Counts a best-effort send if it fits right now with two slots to spare; false means skip it. */
  tryTake(conversationId: string): boolean {
    const e = this.entry(conversationId);
    const now = this.clock();
    if (this.waitFor(e.times, now, 2) > 0) return false;
    this.record(e, now);
    return true;
  }
}
