/**
 * The bot's Foundry token is cached the Azure SDK way (src/foundry/token-cache.ts: getBearerTokenProvider,
 * core-rest-pipeline's token cycler): reused until 2 minutes before expiry, refreshed ahead of it, one
 * credential call under concurrency. Counts `getToken` calls on a fake credential.
 */
import { CredentialUnavailableError, type AccessToken, type TokenCredential } from '@azure/identity';
import { cacheFoundryToken } from '../../src/foundry/token-cache';
import { FOUNDRY_SCOPE } from '../../src/foundry/types';

class CountingCredential implements TokenCredential {
  calls = 0;
  lifetimeMs = 60 * 60_000;
  fail: Error | undefined;
  async getToken(): Promise<AccessToken> {
    this.calls += 1;
    await new Promise((r) => setTimeout(r, 5));
    if (this.fail) throw this.fail;
    return { token: `token-${this.calls}`, expiresOnTimestamp: Date.now() + this.lifetimeMs };
  }
}

afterEach(() => jest.useRealTimers());

describe('Foundry token cache', () => {
  test('50 sequential Foundry requests make one credential call and reuse its token', async () => {
    const inner = new CountingCredential();
    const cached = cacheFoundryToken(inner);
    const tokens = new Set<string>();
    for (let i = 0; i < 50; i++) tokens.add((await cached.getToken(FOUNDRY_SCOPE))?.token ?? '');
    expect(inner.calls).toBe(1);
    expect([...tokens]).toEqual(['token-1']);
    const t = await cached.getToken(FOUNDRY_SCOPE);
    expect(t?.expiresOnTimestamp).toBeGreaterThan(Date.now() + 50 * 60_000);
  });

  test('20 concurrent requests share one credential call (single flight)', async () => {
    const inner = new CountingCredential();
    const cached = cacheFoundryToken(inner);
    const tokens = await Promise.all(Array.from({ length: 20 }, () => cached.getToken(FOUNDRY_SCOPE)));
    expect(inner.calls).toBe(1);
    expect(new Set(tokens.map((t) => t?.token))).toEqual(new Set(['token-1']));
  });

  test('refreshes ahead of expiry: inside the 2-minute window the old token is served while a new one comes', async () => {
    jest.useFakeTimers({ doNotFake: ['setTimeout', 'setImmediate', 'nextTick', 'queueMicrotask'] });
    const inner = new CountingCredential();
    const cached = cacheFoundryToken(inner);
    expect((await cached.getToken(FOUNDRY_SCOPE))?.token).toBe('token-1');
    jest.setSystemTime(Date.now() + 30 * 60_000); // half-way: still cached
    expect((await cached.getToken(FOUNDRY_SCOPE))?.token).toBe('token-1');
    expect(inner.calls).toBe(1);
    jest.setSystemTime(Date.now() + 29 * 60_000); // 1 minute before expiry: refresh starts in the background
    expect((await cached.getToken(FOUNDRY_SCOPE))?.token).toBe('token-1');
    await new Promise((r) => setTimeout(r, 20));
    expect(inner.calls).toBe(2);
    expect((await cached.getToken(FOUNDRY_SCOPE))?.token).toBe('token-2');
  });

  test('a credential failure with no token surfaces as the credential error (mapped to IDENTITY_UNAVAILABLE by the client)', async () => {
    const inner = new CountingCredential();
    inner.fail = new CredentialUnavailableError('no managed identity endpoint');
    const cached = cacheFoundryToken(inner);
    await expect(cached.getToken(FOUNDRY_SCOPE)).rejects.toBeInstanceOf(CredentialUnavailableError);
    inner.fail = undefined;
    expect((await cached.getToken(FOUNDRY_SCOPE))?.token).toBe('token-2');
  });

  test('other scopes (blob storage) go straight to the credential, uncached', async () => {
    const inner = new CountingCredential();
    const cached = cacheFoundryToken(inner);
    await cached.getToken('https://storage.azure.com/.default');
    await cached.getToken('https://storage.azure.com/.default');
    expect(inner.calls).toBe(2);
    expect(JSON.stringify({ cached })).toBe('{"cached":{"name":"FoundryTokenCache"}}');
  });
});
