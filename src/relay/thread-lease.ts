import type { BotError } from '../errors';
import type { Logger } from '../observability/logger';
import { updateRecord, type StateStore } from '../storage/store';
import { isStorageUnavailable } from '../storage/unavailable';
import type { ThreadState } from './model';

/**
 * After this long without a renewal a busy lease is considered abandoned by a crashed (SIGKILLed) instance.
 * A running job renews its lease every LEASE_RENEW_MS, so a long Foundry turn never looks stale, and a
 * restarted instance (new instanceId) waits at most this long for the dead one's lease.
 */
const LEASE_STALE_MS = 60_000;
const LEASE_RENEW_MS = 15_000;
/** Card continuations wait this long (in steps of WAIT_STEP_MS) for a running turn of the same thread. */
const WAIT_STEPS = 60;
const WAIT_STEP_MS = 500;
/** A release the store did not answer is retried this often, this many times (about LEASE_STALE_MS). */
const RELEASE_RETRY_MS = 1_000;
const RELEASE_RETRIES = 60;

/**
 * The durable busy lease of a Foundry thread: one job at a time per thread across instances. Owned per job
 * (instance + activity id), so a card continuation and a user turn of one instance never share a lease; only
 * the same job may take it again, and anyone may take a stale one.
 */
export class ThreadLease {
  /** Renewal timers of the jobs running here, by `${threadKey}|${activityId}`. */
  private readonly renewals = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly store: StateStore,
    private readonly clock: () => number,
    private readonly instanceId: string,
    private readonly log: Logger,
  ) {}

  /** Takes the lease; returns the thread state as written (so callers need not read it again). */
  async acquire(key: string, activityId: string): Promise<ThreadState | undefined> {
    const now = this.clock();
    const { value, changed } = await updateRecord<ThreadState>(this.store, key, (cur) => {
      const busy = cur?.busy;
      const mine = busy?.instance === this.instanceId && busy.activityId === activityId;
      if (busy && !mine && now - busy.since < LEASE_STALE_MS) return undefined;
      return {
        ...(cur ?? { v: 1 }),
        busy: { since: now, activityId, instance: this.instanceId },
        updatedAt: now,
      };
    });
    if (!changed) return undefined;
    this.startRenewing(key, activityId);
    return value;
  }

  /**
   * Card continuations wait briefly for a running turn of the same thread instead of failing at once, and
   * the same way for a store that does not answer (a decided approval must not be lost to a short outage).
   * @throws BotError('STORAGE_UNAVAILABLE') when the store still failed on the last attempt.
   */
  async waitFor(key: string, activityId: string, signal: AbortSignal): Promise<boolean> {
    let failure: BotError | undefined;
    for (let i = 0; i < WAIT_STEPS; i++) {
      try {
        if ((await this.acquire(key, activityId)) !== undefined) return true;
        failure = undefined;
      } catch (err) {
        if (!isStorageUnavailable(err)) throw err;
        failure = err;
      }
      if (signal.aborted) break;
      await new Promise((r) => setTimeout(r, WAIT_STEP_MS));
    }
    if (failure !== undefined) throw failure;
    return false;
  }

  /**
   * Releases the lease only if this job still holds it (a stale lease may have been taken over). When the
   * store cannot be reached, the release is retried in the background (once a second, at most until the
   * lease would be stale anyway), so an outage does not leave the thread blocked for LEASE_STALE_MS.
   */
  async release(key: string, activityId: string, attempt = 0): Promise<void> {
    const id = `${key}|${activityId}`;
    clearInterval(this.renewals.get(id));
    this.renewals.delete(id);
    try {
      await updateRecord<ThreadState>(this.store, key, (cur) => {
        if (cur?.busy?.instance !== this.instanceId || cur.busy.activityId !== activityId) return undefined;
        const { busy: _busy, ...rest } = cur;
        return { ...rest, updatedAt: this.clock() };
      });
    } catch (err) {
      const retry = isStorageUnavailable(err) && attempt < RELEASE_RETRIES;
      if (attempt === 0) this.log.warn('lease.release_failed', { err, retrying: retry });
      if (retry) setTimeout(() => void this.release(key, activityId, attempt + 1), RELEASE_RETRY_MS).unref();
    }
  }

  /** Whether `key`'s lease is held, and fresh, for `activityId` (by any instance). */
  async heldFor(key: string, activityId: string): Promise<boolean> {
    const busy = (await this.store.get<ThreadState>(key))?.value.busy;
    return busy?.activityId === activityId && this.clock() - busy.since < LEASE_STALE_MS;
  }

  /** Keeps a held lease fresh while its job runs (stops once the lease is no longer ours). */
  private startRenewing(key: string, activityId: string): void {
    const id = `${key}|${activityId}`;
    clearInterval(this.renewals.get(id));
    const timer = setInterval(() => {
      void updateRecord<ThreadState>(this.store, key, (cur) => {
        if (cur?.busy?.instance !== this.instanceId || cur.busy.activityId !== activityId) {
          clearInterval(timer);
          this.renewals.delete(id);
          return undefined;
        }
        return { ...cur, busy: { ...cur.busy, since: this.clock() } };
      }).catch((err: unknown) => this.log.warn('lease.renew_failed', { err }));
    }, LEASE_RENEW_MS);
    timer.unref();
    this.renewals.set(id, timer);
  }
}
