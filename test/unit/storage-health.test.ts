/**
 * Issue 16 at the storage boundary: which SDK failures mean "storage unavailable", and the health wrapper
 * that fails fast while the store is down and drives /readyz.
 */
import { isBotError } from '../../src/errors';
import { retryOptionsFor } from '../../src/storage/blob-store';
import { MonitoredStateStore } from '../../src/storage/health';
import { watchStore } from '../../src/storage/watched-store';
import { MemoryStateStore } from '../../src/storage/memory-store';
import { StoreConflictError, type Versioned, type WriteCondition } from '../../src/storage/store';
import { storageUnavailable, unavailableReason } from '../../src/storage/unavailable';

const rest = (statusCode: number | undefined, code?: string): Error =>
  Object.assign(new Error('x'), { name: 'RestError', statusCode, code });

describe('unavailableReason', () => {
  it.each([
    ['REQUEST_SEND_ERROR', rest(undefined, 'REQUEST_SEND_ERROR'), 'unreachable'],
    ['ECONNREFUSED', Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }), 'unreachable'],
    ['503 ServerBusy', rest(503, 'ServerBusy'), 'throttled'],
    ['429', rest(429), 'throttled'],
    ['500', rest(500, 'InternalError'), 'server_error'],
    ['403', rest(403, 'AuthorizationPermissionMismatch'), 'denied'],
    ['404 ContainerNotFound', rest(404, 'ContainerNotFound'), 'container_missing'],
    ['AbortError', Object.assign(new Error('aborted'), { name: 'AbortError' }), 'timeout'],
  ])('%s maps to %s', (_label, err, reason) => {
    expect(unavailableReason(err, false)).toBe(reason);
  });

  it('our own deadline is a timeout whatever the SDK raised; races and bugs are not outages', () => {
    expect(unavailableReason(new Error('anything'), true)).toBe('timeout');
    expect(unavailableReason(new StoreConflictError('k'), false)).toBeUndefined();
    expect(unavailableReason(rest(412, 'ConditionNotMet'), false)).toBeUndefined();
    expect(unavailableReason(rest(409, 'BlobAlreadyExists'), false)).toBeUndefined();
    expect(unavailableReason(new SyntaxError('bad json'), false)).toBeUndefined();
  });

  it('the SDK retries fit inside the deadline (its defaults spend 16 s on a refused connection)', () => {
    for (const timeoutMs of [500, 3000, 30_000]) {
      const r = retryOptionsFor(timeoutMs);
      const maxTries = r.maxTries ?? 0;
      // Exponential policy: delay before try n is (2^(n-1) - 1) * retryDelay, capped at maxRetryDelay.
      let delays = 0;
      for (let n = 1; n < maxTries; n++)
        delays += Math.min((2 ** (n - 1) - 1) * (r.retryDelayInMs ?? 0), r.maxRetryDelayInMs ?? 0);
      expect(delays).toBeLessThan(timeoutMs / 2);
    }
  });
});

class SwitchStore extends MemoryStateStore {
  down = false;
  pings = 0;
  hang: Promise<void> | undefined;
  override async get<T>(key: string): Promise<Versioned<T> | undefined> {
    if (this.hang) await this.hang;
    if (this.down) throw storageUnavailable('unreachable');
    return super.get(key);
  }
  override put<T>(key: string, value: T, condition: WriteCondition): Promise<string> {
    if (this.down) return Promise.reject(storageUnavailable('unreachable'));
    return super.put(key, value, condition);
  }
  ping(): Promise<void> {
    this.pings += 1;
    return this.down ? Promise.reject(storageUnavailable('unreachable')) : Promise.resolve();
  }
}

describe('MonitoredStateStore', () => {
  it('one failed call marks it not ready; calls then fail at once without reaching the store; a probe brings it back', async () => {
    const inner = new SwitchStore();
    const store = new MonitoredStateStore(inner, { upIntervalMs: 60_000, downIntervalMs: 60_000 });
    expect(store.ready).toBe(true);
    inner.down = true;
    await expect(store.put('k', 1, { ifNoneMatch: true })).rejects.toMatchObject({
      code: 'STORAGE_UNAVAILABLE',
    });
    expect(store.ready).toBe(false);
    inner.down = false;
    const err: unknown = await store.get('k').catch((e: unknown) => e);
    expect(isBotError(err, 'STORAGE_UNAVAILABLE') && err.details['reason']).toBe('known_down');
    expect(await store.probe()).toBe(true);
    expect(store.ready).toBe(true);
    await store.put('k', 1, { ifNoneMatch: true });
    await expect(store.put('k', 2, { ifNoneMatch: true })).rejects.toBeInstanceOf(StoreConflictError);
    expect(store.ready).toBe(true);
    await store.close();
  });

  it('the background probe notices an outage without traffic, and the recovery', async () => {
    const inner = new SwitchStore();
    const store = new MonitoredStateStore(inner, { upIntervalMs: 20, downIntervalMs: 20 });
    store.start();
    inner.down = true;
    const until = async (ready: boolean): Promise<void> => {
      for (let i = 0; i < 200 && store.ready !== ready; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(false);
    expect(store.ready).toBe(false);
    inner.down = false;
    await until(true);
    expect(store.ready).toBe(true);
    expect(inner.pings).toBeGreaterThanOrEqual(2);
    await store.close();
  });

  it('a call hung across the recovery does not flip it back to not ready', async () => {
    const clock = { now: 1000 };
    let release: () => void = () => undefined;
    const inner = new SwitchStore();
    const store = new MonitoredStateStore(inner, {
      upIntervalMs: 60_000,
      downIntervalMs: 60_000,
      clock: () => clock.now,
    });
    inner.hang = new Promise((r) => (release = r));
    clock.now += 1;
    const hung = store.get('a'); // begins while up, then hangs through the whole outage
    inner.down = true;
    inner.hang = undefined;
    clock.now += 1;
    await expect(store.put('b', 1, { ifNoneMatch: true })).rejects.toBeDefined();
    expect(store.ready).toBe(false);
    inner.down = false;
    clock.now += 1;
    expect(await store.probe()).toBe(true);
    inner.down = true; // the hung call ends with the deadline's failure after the recovery
    release();
    await expect(hung).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(store.ready).toBe(true);
    // A call that begins after the recovery and fails does count.
    clock.now += 1;
    await expect(store.get('c')).rejects.toBeDefined();
    expect(store.ready).toBe(false);
    await store.close();
  });
});

describe('watchStore (admin /status: the last storage call)', () => {
  it('passes the health probe through to the real store, so a dead store never reads as up', async () => {
    let pings = 0;
    const inner = Object.assign(new MemoryStateStore(), {
      ping: (): Promise<void> => {
        pings += 1;
        return Promise.reject(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }));
      },
    });
    const watched = watchStore(inner);
    const monitored = new MonitoredStateStore(watched, { upIntervalMs: 60_000, downIntervalMs: 60_000 });
    expect(await monitored.probe()).toBe(false);
    expect(pings).toBe(1);
    expect(monitored.ready).toBe(false);
    expect(watched.lastCall()?.ok).toBe(false);
    await monitored.close();
  });
});
