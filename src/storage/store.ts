/**
 * The state-store port. Every write is conditional: `ifMatch` replaces only the version that was read
 * (compare-and-set), `ifNoneMatch` creates only if absent. Losing a race throws `StoreConflictError`;
 * callers retry from a fresh read or report "already decided".
 *
 * Why not botbuilder's `Storage` interface directly: `MemoryStorage` and `BlobsStorage` write blindly when an
 * item has no eTag, so two instances creating the same record (a dedupe claim, a first conversation record)
 * would both "win". Conditional create (If-None-Match: *) is what makes that safe, and the botbuilder
 * interface cannot express it.
 */
export interface Versioned<T> {
  value: T;
  etag: string;
}

export type WriteCondition = { ifMatch: string } | { ifNoneMatch: true };

export class StoreConflictError extends Error {
  constructor(readonly key: string) {
    super(`state write conflict on a record`);
    this.name = 'StoreConflictError';
  }
}

export interface StateStore {
  get<T>(key: string): Promise<Versioned<T> | undefined>;
  /** Writes a JSON-serialisable value under the condition and returns the new etag. */
  put<T>(key: string, value: T, condition: WriteCondition): Promise<string>;
  /** Deletes; with `ifMatch`, only that version (a conflict is ignored: someone else changed it). */
  delete(key: string, condition?: { ifMatch: string }): Promise<void>;
  /** Releases connections (no-op for memory). */
  close?(): Promise<void>;
  /** One cheap request that proves the store answers (readiness); throws like any other call. */
  ping?(): Promise<void>;
}

/**
 * Read-modify-write with compare-and-set. `fn` gets the current value (undefined if absent) and returns the next
 * value, or `undefined` to leave it unchanged. A lost race re-reads and calls `fn` again, up to `attempts`.
 * Returns the value that was written (or left unchanged).
 */
export async function updateRecord<T>(
  store: StateStore,
  key: string,
  fn: (current: T | undefined) => T | undefined,
  attempts = 8,
): Promise<{ value: T | undefined; changed: boolean }> {
  for (let i = 0; ; i++) {
    const current = await store.get<T>(key);
    const next = fn(current?.value);
    if (next === undefined) return { value: current?.value, changed: false };
    try {
      await store.put(key, next, current ? { ifMatch: current.etag } : { ifNoneMatch: true });
      return { value: next, changed: true };
    } catch (err) {
      if (!(err instanceof StoreConflictError) || i + 1 >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 5 * (i + 1))));
    }
  }
}
