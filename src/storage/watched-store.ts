import { StoreConflictError, type StateStore, type WriteCondition } from './store';

/** The outcome of the store's most recent call, for the admin `/status` (a conflict still reached the store). */
export interface StoreCall {
  ok: boolean;
  at: number;
}

/** A state store that remembers whether its last call reached the storage service. */
export interface WatchedStore extends StateStore {
  lastCall(): StoreCall | undefined;
}

/** Wraps `store`; every call goes through unchanged, only its success or failure is remembered. */
export function watchStore(store: StateStore, clock: () => number = Date.now): WatchedStore {
  let last: StoreCall | undefined;
  const note = async <T>(p: Promise<T>): Promise<T> => {
    try {
      const r = await p;
      last = { ok: true, at: clock() };
      return r;
    } catch (err) {
      last = { ok: err instanceof StoreConflictError, at: clock() };
      throw err;
    }
  };
  return {
    get: <T>(key: string) => note(store.get<T>(key)),
    put: <T>(key: string, value: T, condition: WriteCondition) => note(store.put(key, value, condition)),
    delete: (key: string, condition?: { ifMatch: string }) => note(store.delete(key, condition)),
    // The health probe (health.ts) must reach the real store: without it a dead store would read as up.
    ...(store.ping ? { ping: () => note(store.ping?.() ?? Promise.resolve()) } : {}),
    ...(store.close ? { close: () => store.close?.() ?? Promise.resolve() } : {}),
    lastCall: () => last,
  };
}
