/**
 * Paces sends per conversation under Teams' per-bot-per-thread limits (msteams-docs rate-limit.md: 7 per 1 s,
 * 8 per 2 s, 60 per 30 s; docs/reliability.md §2.5, RES-08) with sliding windows set one below each limit.
 * A fixed token bucket (one send per 500 ms) would be simpler but caps every conversation at about one answer
 * per second, since an answer costs a typing indicator plus a message (measured with `npm run bench:reliability`).
 * Best-effort sends (typing indicators) are skipped rather than delayed when a window is full.
 * One instance per bot, not per turn. Memory is bounded by the conversations that sent within the longest
 * window: entries are kept in last-use order and idle ones are dropped from the front as new conversations
 * arrive (amortised O(1) per send; issue 15), plus a hard cap.
 */
interface Entry {
  times: number[];
  chain: Promise<void>;
  /** Last time a send to this conversation was asked for (sends that wait in `take` count as recent). */
  touched: number;
}

export class SendPacer {
  private readonly sent = new Map<string, Entry>();
  private readonly horizonMs: number;

  constructor(
    private readonly windows: readonly { ms: number; max: number }[] = [
      { ms: 1000, max: 6 },
      { ms: 2000, max: 7 },
      { ms: 30_000, max: 55 },
    ],
    private readonly clock: () => number = Date.now,
    private readonly maxEntries = 20_000,
  ) {
    this.horizonMs = Math.max(...windows.map((w) => w.ms));
  }

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

  private entry(conversationId: string): Entry {
    let e = this.sent.get(conversationId);
    if (e) {
      // Keep the map in last-use order, so idle conversations gather at the front.
      this.sent.delete(conversationId);
    } else {
      this.evictIdle();
      e = { times: [], chain: Promise.resolve(), touched: 0 };
    }
    e.touched = this.clock();
    this.sent.set(conversationId, e);
    return e;
  }

  /** Drops conversations with nothing in the longest window from the front; the cap drops the oldest. */
  private evictIdle(): void {
    const horizon = this.clock() - this.horizonMs;
    for (const [k, v] of this.sent) {
      const last = Math.max(v.touched, v.times[v.times.length - 1] ?? -Infinity);
      if (last >= horizon && this.sent.size < this.maxEntries) return;
      this.sent.delete(k);
    }
  }

  /** Conversations currently remembered (tests, benchmark). */
  get size(): number {
    return this.sent.size;
  }

  private record(e: { times: number[] }, now: number): void {
    e.times.push(now);
    const horizon = now - this.horizonMs;
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
