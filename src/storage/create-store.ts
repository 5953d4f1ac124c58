import type { TokenCredential } from '@azure/identity';
import type { Config } from '../config/config';
import { BotError } from '../errors';
import type { Logger } from '../observability/logger';
import { BlobStateStore } from './blob-store';
import { MemoryStateStore } from './memory-store';
import type { StateStore } from './store';

/**
 * Builds the configured `StateStore`. `memory` gives a `MemoryStateStore` (development and tests); `blob` gives a
 * `BlobStateStore` whose container has been created (`init()`), using the connection string when one is
 * configured, otherwise the account URL with `credential` (managed identity / DefaultAzureCredential).
 *
 * @throws BotError('CONFIG_INVALID') when blob storage has neither a connection string nor an account URL plus a
 *   credential. Errors from `init()` (BotError('STORAGE_UNAVAILABLE'): unreachable account, 403, each call
 *   bounded by `timeoutMs`) propagate so start-up fails loudly.
 */
export async function createStateStore(
  cfg: Config['storage'],
  credential?: TokenCredential,
  log?: Logger,
): Promise<StateStore> {
  switch (cfg.kind) {
    case 'memory':
      return new MemoryStateStore();
    case 'blob': {
      let store: BlobStateStore;
      const common = { container: cfg.container, timeoutMs: cfg.timeoutMs, ...(log ? { log } : {}) };
      if (cfg.connectionString) {
        store = new BlobStateStore({ connectionString: cfg.connectionString, ...common });
      } else if (cfg.accountUrl && credential) {
        store = new BlobStateStore({ accountUrl: cfg.accountUrl, credential, ...common });
      } else {
        throw new BotError(
          'CONFIG_INVALID',
          'blob storage needs BLOB_CONNECTION_STRING, or BLOB_ACCOUNT_URL plus an Azure credential',
          { details: { keys: ['BLOB_CONNECTION_STRING', 'BLOB_ACCOUNT_URL'] } },
        );
      }
      await store.init();
      return store;
    }
  }
}
