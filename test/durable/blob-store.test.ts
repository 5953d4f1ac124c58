import { BlobServiceClient } from '@azure/storage-blob';
import { BlobStateStore, blobNameForKey, MAX_BLOB_NAME_LENGTH } from '../../src/storage/blob-store';
import { createStateStore } from '../../src/storage/create-store';
import { MemoryStateStore } from '../../src/storage/memory-store';
import { StoreConflictError, updateRecord, type StateStore } from '../../src/storage/store';
import { startAzurite, type AzuriteHandle } from '../support/fakes/azurite';

/**
 * One contract for every StateStore: the memory store is the reference semantics, the blob store must match it
 * against a real Azurite (docs/reliability.md DUR-01/DUR-02 rely on these guarantees).
 */
let azurite: AzuriteHandle;
let containerSeq = 0;

beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);

afterAll(async () => {
  await azurite?.stop();
});

interface Subject {
  name: string;
  /** A fresh, empty store. */
  make(): Promise<StateStore>;
  /** A second instance over the same data (a bot restart, or a second bot instance). */
  reopen(store: StateStore): Promise<StateStore>;
}

const containers = new WeakMap<StateStore, string>();

const subjects: Subject[] = [
  {
    name: 'MemoryStateStore',
    make: () => Promise.resolve(new MemoryStateStore()),
    reopen: (store) => Promise.resolve(store),
  },
  {
    name: 'BlobStateStore (Azurite)',
    make: async () => {
      const container = `state-${process.pid}-${++containerSeq}`;
      const store = new BlobStateStore({ connectionString: azurite.connectionString, container });
      await store.init();
      containers.set(store, container);
      return store;
    },
    reopen: async (store) => {
      const container = containers.get(store) ?? 'missing';
      const again = new BlobStateStore({ connectionString: azurite.connectionString, container });
      await again.init();
      return again;
    },
  },
];

describe.each(subjects)('StateStore contract: $name', (subject) => {
  let store: StateStore;
  beforeEach(async () => {
    store = await subject.make();
  });

  it('DUR-02 get of a missing key is undefined; create-only put succeeds once and conflicts after', async () => {
    expect(await store.get('missing')).toBeUndefined();
    const etag = await store.put('k', { n: 1 }, { ifNoneMatch: true });
    expect(typeof etag).toBe('string');
    await expect(store.put('k', { n: 2 }, { ifNoneMatch: true })).rejects.toBeInstanceOf(StoreConflictError);
    expect(await store.get('k')).toEqual({ value: { n: 1 }, etag });
  });

  it('DUR-02 ifMatch is compare-and-set: a stale etag conflicts, the current one wins and changes the etag', async () => {
    const e1 = await store.put('cas', { v: 'a' }, { ifNoneMatch: true });
    const e2 = await store.put('cas', { v: 'b' }, { ifMatch: e1 });
    expect(e2).not.toBe(e1);
    await expect(store.put('cas', { v: 'stale' }, { ifMatch: e1 })).rejects.toBeInstanceOf(
      StoreConflictError,
    );
    await expect(store.put('never-created', { v: 1 }, { ifMatch: e2 })).rejects.toBeInstanceOf(
      StoreConflictError,
    );
    expect((await store.get<{ v: string }>('cas'))?.value).toEqual({ v: 'b' });
  });

  it('delete removes; delete with a stale etag or of a missing key is a no-op', async () => {
    const e1 = await store.put('d', 1, { ifNoneMatch: true });
    const e2 = await store.put('d', 2, { ifMatch: e1 });
    await store.delete('d', { ifMatch: e1 });
    expect((await store.get<number>('d'))?.value).toBe(2);
    await store.delete('d', { ifMatch: e2 });
    expect(await store.get('d')).toBeUndefined();
    await expect(store.delete('d')).resolves.toBeUndefined();
    await store.put('d', 3, { ifNoneMatch: true });
    await store.delete('d');
    expect(await store.get('d')).toBeUndefined();
  });

  it('DUR-02 updateRecord under contention: 20 concurrent increments end at exactly 20', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        updateRecord<{ n: number }>(store, 'counter', (c) => ({ n: (c?.n ?? 0) + 1 }), 60),
      ),
    );
    expect(results.every((r) => r.changed)).toBe(true);
    expect((await store.get<{ n: number }>('counter'))?.value).toEqual({ n: 20 });
    expect(new Set(results.map((r) => r.value?.n))).toEqual(
      new Set(Array.from({ length: 20 }, (_, i) => i + 1)),
    );
  }, 30_000);

  it('keys with Teams ids, slashes, unicode, trailing dots and 5000 characters round-trip without colliding', async () => {
    const keys = [
      '19:abc@thread.v2;messageid=1/approval/…',
      '19:abc@thread.v2;messageid=1',
      '19:abc@thread.v2;messageid=1/',
      'a:1Xyz_-.~!*()\'"%20%2F?#[]&=+ $,',
      'dedupe/a:personal-ada/1700000000000',
      'ünïcødé/🙂/日本語',
      'ends-with-dot.',
      '..',
      'x'.repeat(5000),
      `${'x'.repeat(4999)}y`,
    ];
    for (const [i, key] of keys.entries()) await store.put(key, { i, key }, { ifNoneMatch: true });
    for (const [i, key] of keys.entries()) expect((await store.get(key))?.value).toEqual({ i, key });
  });

  it('DUR-01 a record survives a new store instance (bot restart) with its etag intact', async () => {
    const etag = await store.put('approval/1', { state: 'pending' }, { ifNoneMatch: true });
    const restarted = await subject.reopen(store);
    expect(await restarted.get('approval/1')).toEqual({ value: { state: 'pending' }, etag });
    await restarted.put('approval/1', { state: 'approved' }, { ifMatch: etag });
    await expect(store.put('approval/1', { state: 'denied' }, { ifMatch: etag })).rejects.toBeInstanceOf(
      StoreConflictError,
    );
  });
});

describe('blobNameForKey', () => {
  it('is stable, percent-encodes everything outside [A-Za-z0-9._~-] and never ends with a dot', () => {
    expect(blobNameForKey('19:abc@thread.v2;messageid=1/x')).toBe('19%3Aabc%40thread.v2%3Bmessageid%3D1%2Fx');
    expect(blobNameForKey("a!'()*")).toBe('a%21%27%28%29%2A');
    expect(blobNameForKey('end.')).toBe('end%2E');
    expect(blobNameForKey('k')).toBe(blobNameForKey('k'));
    expect(() => blobNameForKey('')).toThrow();
  });

  it('hashes keys whose encoded form would exceed 1024 characters', () => {
    const long = 'é'.repeat(400);
    const name = blobNameForKey(long);
    expect(name.length).toBeLessThanOrEqual(MAX_BLOB_NAME_LENGTH);
    expect(name).toMatch(/%SHA256-[0-9a-f]{64}$/);
    expect(blobNameForKey(`${long}x`)).not.toBe(name);
  });
});

describe('BlobStateStore on Azurite', () => {
  it('stores one blob per key under the encoded name, as JSON', async () => {
    const store = new BlobStateStore({ connectionString: azurite.connectionString, container: 'layout' });
    await store.init();
    await store.put('19:abc@thread.v2;messageid=1/a', { ok: true }, { ifNoneMatch: true });
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      'layout',
    );
    const names: string[] = [];
    for await (const b of container.listBlobsFlat()) names.push(b.name);
    expect(names).toEqual(['19%3Aabc%40thread.v2%3Bmessageid%3D1%2Fa']);
    const props = await container.getBlobClient(names[0] ?? '').getProperties();
    expect(props.contentType).toMatch(/^application\/json/);
  });

  it('init() is idempotent and createStateStore builds a ready blob store from config', async () => {
    const store = await createStateStore({
      kind: 'blob',
      connectionString: azurite.connectionString,
      accountUrl: undefined,
      container: 'from-config',
      timeoutMs: 3000,
    });
    await expect((store as BlobStateStore).init()).resolves.toBeUndefined();
    await store.put('x', 1, { ifNoneMatch: true });
    expect((await store.get<number>('x'))?.value).toBe(1);
    expect(await createStateStore({ kind: 'memory' })).toBeInstanceOf(MemoryStateStore);
  });

  it('createStateStore rejects blob config with neither connection string nor credential', async () => {
    await expect(
      createStateStore({
        kind: 'blob',
        connectionString: undefined,
        accountUrl: azurite.blobUrl,
        container: 'c1',
        timeoutMs: 3000,
      }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('a missing container is not a conflict: it is recreated and the call goes through', async () => {
    const store = new BlobStateStore({
      connectionString: azurite.connectionString,
      container: 'never-created',
      pipeline: { retryOptions: { maxTries: 1 } },
    });
    await expect(store.put('k', 1, { ifNoneMatch: true })).resolves.toEqual(expect.any(String));
    expect((await store.get<number>('k'))?.value).toBe(1);
    await expect(store.put('k', 2, { ifNoneMatch: true })).rejects.toBeInstanceOf(StoreConflictError);
  });
});

describe('startAzurite', () => {
  it('persistent mode (on-disk temp folder) serves the store too, and stop() frees the port', async () => {
    const disk = await startAzurite({ persistent: true });
    try {
      const store = new BlobStateStore({ connectionString: disk.connectionString, container: 'disk' });
      await store.init();
      await store.put('k', { v: 1 }, { ifNoneMatch: true });
      expect((await store.get('k'))?.value).toEqual({ v: 1 });
      expect(disk.port).not.toBe(azurite.port);
    } finally {
      await disk.stop();
    }
    await expect(fetch(`${disk.blobUrl}?comp=list`)).rejects.toThrow();
  }, 60_000);
});
