import { Deduper } from '../../src/relay/dedupe';
import { MemoryStateStore } from '../../src/storage/memory-store';

/** DUP-02: the inbound de-duplication store is bounded and honours its TTL (faked clock, no waiting). */
describe('Deduper', () => {
  const TEN_MIN = 10 * 60_000;

  it('DUP-02 the in-process LRU holds at most 10 000 entries', async () => {
    let now = 1_000_000;
    const store = new MemoryStateStore();
    // The default bound, not one passed in: that is what the relay uses.
    const d = new Deduper(store, TEN_MIN, () => now);
    for (let i = 0; i < 10_050; i++) {
      now += 1;
      expect(await d.claim('conv', `a${i}`)).toEqual({ first: true });
    }
    expect(d.size).toBe(10_000);
    // What memory holds is observable through the store: a repeat answered from memory never reads it.
    const get = jest.spyOn(store, 'get');
    const put = jest.spyOn(store, 'put');
    // The 10 000 most recent (a50 … a10049) are held in memory ...
    for (const held of ['a50', 'a5000', 'a10049'])
      expect(await d.claim('conv', held)).toEqual({ first: false });
    expect(get).not.toHaveBeenCalled();
    expect(put).not.toHaveBeenCalled();
    // ... the 50 oldest were evicted from memory, but the durable claim still recognises them.
    for (const evicted of ['a0', 'a49']) expect(await d.claim('conv', evicted)).toEqual({ first: false });
    expect(get).toHaveBeenCalledTimes(2);
    expect(d.size).toBeLessThanOrEqual(10_000);
  });

  it('DUP-02 a repeat within the TTL is a duplicate; after the TTL it is new again', async () => {
    let now = 5_000_000;
    const store = new MemoryStateStore();
    const d = new Deduper(store, TEN_MIN, () => now);
    expect(await d.claim('conv', 'x')).toEqual({ first: true });
    now += 16_000; // Teams' retry ladder: 15 s, then ~30 s
    expect(await d.claim('conv', 'x')).toEqual({ first: false });
    now += TEN_MIN - 16_000 - 1;
    expect(await d.claim('conv', 'x')).toEqual({ first: false });
    now += 2;
    expect(await d.claim('conv', 'x')).toEqual({ first: true });
    // A fresh instance (another replica, or after a restart) sees the durable claim.
    const other = new Deduper(store, TEN_MIN, () => now);
    expect(await other.claim('conv', 'x')).toEqual({ first: false });
  });

  it('DUP-02 a duplicate invoke gets the first answer; ids are per conversation', async () => {
    const now = 1;
    const store = new MemoryStateStore();
    const d = new Deduper(store, TEN_MIN, () => now);
    expect(await d.claim('c1', 'same')).toEqual({ first: true });
    await d.recordAnswer('c1', 'same', { kind: 'message', text: 'ok' });
    expect(await d.claim('c1', 'same')).toEqual({ first: false, answer: { kind: 'message', text: 'ok' } });
    expect(await new Deduper(store, TEN_MIN, () => now).claim('c1', 'same')).toEqual({
      first: false,
      answer: { kind: 'message', text: 'ok' },
    });
    expect(await d.claim('c2', 'same')).toEqual({ first: true });
  });

  it('DUP-02 concurrent claims of one activity: exactly one wins', async () => {
    const store = new MemoryStateStore();
    const a = new Deduper(store, TEN_MIN, () => 1);
    const b = new Deduper(store, TEN_MIN, () => 1);
    const results = await Promise.all([a.claim('c', 'z'), b.claim('c', 'z'), a.claim('c', 'z')]);
    expect(results.filter((r) => r.first)).toHaveLength(1);
  });
});
