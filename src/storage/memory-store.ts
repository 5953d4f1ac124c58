import { randomUUID } from 'node:crypto';
import { StoreConflictError, type StateStore, type Versioned, type WriteCondition } from './store';

/** In-process store with the same compare-and-set semantics as the blob store. Development and tests only. */
export class MemoryStateStore implements StateStore {
  private readonly data = new Map<string, { json: string; etag: string }>();

  get<T>(key: string): Promise<Versioned<T> | undefined> {
    const hit = this.data.get(key);
    return Promise.resolve(hit ? { value: JSON.parse(hit.json) as T, etag: hit.etag } : undefined);
  }

  put<T>(key: string, value: T, condition: WriteCondition): Promise<string> {
    const cur = this.data.get(key);
    if ('ifNoneMatch' in condition ? cur !== undefined : cur?.etag !== condition.ifMatch) {
      return Promise.reject(new StoreConflictError(key));
    }
    const etag = randomUUID();
    this.data.set(key, { json: JSON.stringify(value), etag });
    return Promise.resolve(etag);
  }

  delete(key: string, condition?: { ifMatch: string }): Promise<void> {
    const cur = this.data.get(key);
    if (cur && (!condition || cur.etag === condition.ifMatch)) this.data.delete(key);
    return Promise.resolve();
  }

  /** The keys held now (tests: records left behind). */
  keys(): string[] {
    return [...this.data.keys()];
  }

  /** Number of records (for tests and the benchmark). */
  get size(): number {
    return this.data.size;
  }
}
