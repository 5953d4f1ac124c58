import type { Logger } from '../observability/logger';
import { type StateStore, type Versioned, type WriteCondition } from './store';
import { isStorageUnavailable, storageUnavailable } from './unavailable';

/** Probe interval while the store answers: an outage with no traffic shows in /readyz within this. */
const PROBE_UP_INTERVAL_MS = 5_000;
/** Probe interval while it does not: the instance is ready again within this (plus one probe) of recovery. */
const PROBE_DOWN_INTERVAL_MS = 1_000;

export interface StoreHealthOptions {
  log?: Logger;
  upIntervalMs?: number;
  downIntervalMs?: number;
  clock?: () => number;
}

/**
 * The state store as the relay uses it, with its health: readiness for `/readyz`, and a fast failure while
 * the store is known to be down (so a message, a click or a lease release during an outage does not wait a
 * whole deadline again; the user is told at once).
 *
 * - A call that fails with STORAGE_UNAVAILABLE marks the store down (unless it began before the store was last
 *   seen up again, so a request hung across the recovery does not flip it back).
 * - While down, every call throws STORAGE_UNAVAILABLE (`known_down`) at once; a probe (`ping`) runs every
 *   PROBE_DOWN_INTERVAL_MS and its first success marks the store up.
 * - While up, the probe runs every PROBE_UP_INTERVAL_MS, so an outage is noticed without traffic too.
 * No state besides the health flag.
 */
export class MonitoredStateStore implements StateStore {
  private down: { since: number; reason: string } | undefined;
  private upSince: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly clock: () => number;
  private readonly upMs: number;
  private readonly downMs: number;

  constructor(
    private readonly inner: StateStore,
    private readonly o: StoreHealthOptions = {},
  ) {
    this.clock = o.clock ?? Date.now;
    this.upMs = o.upIntervalMs ?? PROBE_UP_INTERVAL_MS;
    this.downMs = o.downIntervalMs ?? PROBE_DOWN_INTERVAL_MS;
    this.upSince = this.clock();
  }

  /** Whether the store answered its last call or probe. */
  get ready(): boolean {
    return this.down === undefined;
  }

  /** Starts the background probe (an unref'd timer: it never keeps the process alive). */
  start(): void {
    this.stopped = false;
    this.schedule(this.upMs);
  }

  get<T>(key: string): Promise<Versioned<T> | undefined> {
    return this.guard(() => this.inner.get<T>(key));
  }

  put<T>(key: string, value: T, condition: WriteCondition): Promise<string> {
    return this.guard(() => this.inner.put(key, value, condition));
  }

  delete(key: string, condition?: { ifMatch: string }): Promise<void> {
    return this.guard(() => this.inner.delete(key, condition));
  }

  /** Probes now (also what the timer runs); resolves whether the store answered. */
  async probe(): Promise<boolean> {
    const started = this.clock();
    try {
      await this.inner.ping?.();
      this.markUp();
      return true;
    } catch (err) {
      this.markDown(started, err);
      return false;
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inner.close?.();
  }

  private async guard<T>(op: () => Promise<T>): Promise<T> {
    if (this.down) throw storageUnavailable('known_down');
    const started = this.clock();
    try {
      return await op();
    } catch (err) {
      if (isStorageUnavailable(err)) this.markDown(started, err);
      throw err;
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.probe().then(() => this.schedule(this.down ? this.downMs : this.upMs));
    }, ms);
    this.timer.unref();
  }

  private markUp(): void {
    if (!this.down) return;
    const downMs = this.clock() - this.down.since;
    this.down = undefined;
    this.upSince = this.clock();
    this.o.log?.info('storage.available', { downMs });
  }

  private markDown(startedAt: number, err: unknown): void {
    if (this.down || startedAt < this.upSince) return;
    const reason = isStorageUnavailable(err) ? String(err.details['reason']) : 'probe_failed';
    this.down = { since: this.clock(), reason };
    this.o.log?.warn('storage.unavailable', { reason });
    // Probe soon rather than at the (slower) healthy interval.
    this.schedule(this.downMs);
  }
}
