import type { StateStore } from '../storage/store';
import { StoreConflictError } from '../storage/store';
import { dedupeKey } from './keys';

/**
 * Inbound de-duplication by (conversation id, activity id) (docs/reliability.md §2.4, DUP-01/02, DUR-03).
 * Teams re-sends requests that take more than ~15 s; the platform does not dedupe. A bounded in-process LRU
 * answers repeats cheaply; the durable record (create-only write) makes the claim hold across instances and
 * restarts. A duplicate invoke gets the stored answer of the first one. Messages take the in-memory claim in
 * the inbound request and the durable one in their job (docs/storage.md "When storage hangs or fails").
 */
interface DedupeRecord {
  v: 1;
  expiresAt: number;
  /** The invoke answer of the first delivery (JSON), once known. */
  answer?: unknown;
}

export type ClaimResult = { first: true } | { first: false; answer?: unknown };

export class Deduper {
  private readonly lru = new Map<string, { expiresAt: number; answer?: unknown }>();

  constructor(
    private readonly store: StateStore,
    private readonly ttlMs: number,
    private readonly clock: () => number,
    readonly maxEntries = 10_000,
  ) {}

  /** Claims an activity. `first: false` means it was seen before (here or by another instance). */
  async claim(conversationId: string, activityId: string): Promise<ClaimResult> {
    const key = dedupeKey(conversationId, activityId);
    const cached = this.lru.get(key);
    if (cached && cached.expiresAt > this.clock())
      return cached.answer === undefined ? { first: false } : { first: false, answer: cached.answer };
    return this.claimDurable(conversationId, activityId);
  }

  /**
   * The in-memory half alone, for messages (the inbound request never waits on storage): false when this
   * instance has already taken the activity within the TTL; otherwise remembers it and returns true. The
   * durable claim (`claimDurable`) follows in the job, before anything else happens.
   */
  claimLocal(conversationId: string, activityId: string): boolean {
    const key = dedupeKey(conversationId, activityId);
    const now = this.clock();
    const cached = this.lru.get(key);
    if (cached && cached.expiresAt > now) return false;
    this.remember(key, { expiresAt: now + this.ttlMs });
    return true;
  }

  /**
   * The durable half: a create-only record, so exactly one instance (or one delivery) wins across restarts.
   * @throws BotError('STORAGE_UNAVAILABLE') when the store cannot be reached (the caller tells the user).
   */
  async claimDurable(conversationId: string, activityId: string): Promise<ClaimResult> {
    const key = dedupeKey(conversationId, activityId);
    const now = this.clock();
    const record: DedupeRecord = { v: 1, expiresAt: now + this.ttlMs };
    try {
      await this.store.put(key, record, { ifNoneMatch: true });
      this.remember(key, { expiresAt: record.expiresAt });
      return { first: true };
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err;
    }
    const existing = await this.store.get<DedupeRecord>(key);
    if (existing && existing.value.expiresAt <= now) {
      // Expired: lazily replace it (compare-and-set, so only one instance takes it over).
      try {
        await this.store.put(key, record, { ifMatch: existing.etag });
        this.remember(key, { expiresAt: record.expiresAt });
        return { first: true };
      } catch (err) {
        if (!(err instanceof StoreConflictError)) throw err;
      }
    }
    const answer = existing?.value.answer;
    return answer === undefined ? { first: false } : { first: false, answer };
  }

  /** Stores the answer of a first invoke so duplicates get the same one. */
  async recordAnswer(conversationId: string, activityId: string, answer: unknown): Promise<void> {
    const key = dedupeKey(conversationId, activityId);
    const expiresAt = this.clock() + this.ttlMs;
    this.remember(key, { expiresAt, answer });
    const cur = await this.store.get<DedupeRecord>(key);
    const next: DedupeRecord = { v: 1, expiresAt, answer };
    try {
      await this.store.put(key, next, cur ? { ifMatch: cur.etag } : { ifNoneMatch: true });
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err;
    }
  }

  /** Entries held in memory (DUP-02). */
  get size(): number {
    return this.lru.size;
  }

  private remember(key: string, entry: { expiresAt: number; answer?: unknown }): void {
    this.lru.delete(key);
    this.lru.set(key, entry);
    while (this.lru.size > this.maxEntries) {
      const oldest = this.lru.keys().next();
      if (oldest.done === true) break;
      this.lru.delete(oldest.value);
    }
  }
}
