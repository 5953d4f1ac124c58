import { inspect } from 'node:util';
import {
  getBearerTokenProvider,
  type AccessToken,
  type GetTokenOptions,
  type TokenCredential,
} from '@azure/identity';
import { FOUNDRY_SCOPE } from './types';

/**
 * The bot's own Foundry token, cached the Azure SDK way: `@azure/identity`'s `getBearerTokenProvider`, i.e.
 * core-rest-pipeline's bearer-token policy and its token cycler. One token is reused until 2 minutes before
 * it expires; inside that window a background refresh starts while the cached token is still served (a failed
 * refresh is retried every 3 s until the token expires); only within 1 s of expiry (or with no token yet) do
 * requests wait for the refresh. Concurrent requests share one refresh (single flight).
 *
 * Without it every Foundry request asked the credential again, and `DefaultAzureCredential` walks its whole
 * chain each time, creating a `CredentialUnavailableError` per unavailable credential.
 *
 * Only the Foundry scope is cached here; any other scope goes straight to the wrapped credential (Azure SDK
 * clients such as the blob store cache in their own pipeline). User mode does not use this: per-user
 * on-behalf-of tokens are cached by src/identity/user-identity.ts.
 */
class FoundryTokenCache implements TokenCredential {
  readonly #inner: TokenCredential;
  readonly #provider: () => Promise<string>;
  /** The last token the credential returned: the provider hands out its string, the client wants the token. */
  #last: AccessToken | undefined;

  constructor(inner: TokenCredential) {
    this.#inner = inner;
    const recording: TokenCredential = {
      getToken: async (scopes, options) => {
        const t = await inner.getToken(scopes, options);
        if (t) this.#last = t;
        return t;
      },
    };
    this.#provider = getBearerTokenProvider(recording, FOUNDRY_SCOPE);
  }

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    const list = Array.isArray(scopes) ? scopes : [scopes];
    if (list.length !== 1 || list[0] !== FOUNDRY_SCOPE || options?.claims !== undefined) {
      return this.#inner.getToken(scopes, options);
    }
    const token = await this.#provider();
    const last = this.#last;
    return last?.token === token ? last : { token, expiresOnTimestamp: Date.now() };
  }

  toJSON(): { name: string } {
    return { name: 'FoundryTokenCache' };
  }

  [inspect.custom](): string {
    return 'FoundryTokenCache {}';
  }
}

/** Wraps the bot's app credential so Foundry requests reuse its token until shortly before expiry. */
export function cacheFoundryToken(credential: TokenCredential): TokenCredential {
  return new FoundryTokenCache(credential);
}
