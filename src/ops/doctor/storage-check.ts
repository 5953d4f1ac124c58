import { randomBytes } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import type { Config } from '../../config/config';
import { BlobStateStore } from '../../storage/blob-store';
import type { StateStore } from '../../storage/store';
import { fail, pass, warn, type Finding } from './report';

/**
 * Check 5: the state store is reachable and writable. For blob storage a probe record is created
 * (If-None-Match: *), read, replaced (If-Match), deleted (If-Match) and read back as gone: the conditional
 * writes the bot's approvals and dedupe rely on (docs/storage.md). One try per request, so an outage shows fast.
 */

const CHECK = 'storage';

async function probe(store: StateStore): Promise<void> {
  const key = `doctor-probe/${randomBytes(8).toString('hex')}`;
  const etag = await store.put(key, { probe: 1 }, { ifNoneMatch: true });
  const read = await store.get<{ probe: number }>(key);
  if (read?.value.probe !== 1) throw new ProbeMismatch('the probe record read back differently');
  const etag2 = await store.put(key, { probe: 2 }, { ifMatch: etag });
  await store.delete(key, { ifMatch: etag2 });
  if ((await store.get(key)) !== undefined) throw new ProbeMismatch('the probe record was not deleted');
}

class ProbeMismatch extends Error {}

function storageFailure(err: unknown, cfg: Extract<Config['storage'], { kind: 'blob' }>): Finding {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { statusCode?: unknown; code?: unknown };
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const how = cfg.connectionString ? 'BLOB_CONNECTION_STRING' : 'BLOB_ACCOUNT_URL with the managed identity';
  if (status === 403 || status === 401)
    return fail(
      CHECK,
      'storage.forbidden',
      `blob storage refused the probe (HTTP ${status}) using ${how}`,
      cfg.connectionString
        ? 'Check the account key in BLOB_CONNECTION_STRING (it may have been rotated) and the storage firewall.'
        : "Give the bot's identity Storage Blob Data Contributor on the account (or the container) and check the storage firewall.",
    );
  if (err instanceof ProbeMismatch || status === 409 || status === 412)
    return fail(
      CHECK,
      'storage.conditions',
      `blob storage did not honour conditional writes (${status !== undefined ? `HTTP ${status}` : 'read-back mismatch'})`,
      'Use an Azure Storage account (or Azurite) with blob versioning off and no proxy that strips If-Match / If-None-Match.',
    );
  return fail(
    CHECK,
    'storage.unreachable',
    `blob storage did not answer (${status !== undefined ? `HTTP ${status}` : typeof e.code === 'string' ? e.code : 'network error'})`,
    'Check the account URL / connection string, DNS and the network path from this host (private endpoint, firewall).',
  );
}

/** Runs check 5. */
export async function checkStorage(
  config: Config,
  credential: TokenCredential,
  timeoutMs: number,
): Promise<Finding> {
  const cfg = config.storage;
  if (cfg.kind === 'memory')
    return config.env === 'production'
      ? warn(
          CHECK,
          'storage.memory',
          'memory storage in production: pending approvals and consents are lost on restart, and instances do not share them',
          'Set STORAGE=blob with BLOB_ACCOUNT_URL (managed identity) or BLOB_CONNECTION_STRING.',
        )
      : pass(CHECK, 'memory storage (development: state is lost on restart)');
  const pipeline = { retryOptions: { maxTries: 1, tryTimeoutInMs: timeoutMs } };
  let store: BlobStateStore | undefined;
  try {
    if (cfg.connectionString)
      store = new BlobStateStore({
        connectionString: cfg.connectionString,
        container: cfg.container,
        pipeline,
      });
    else if (cfg.accountUrl)
      store = new BlobStateStore({
        accountUrl: cfg.accountUrl,
        credential,
        container: cfg.container,
        pipeline,
      });
    else throw new ProbeMismatch('no account');
    const s = store;
    await withDeadline(
      (async () => {
        await s.init();
        await probe(s);
      })(),
      timeoutMs * 3,
    );
  } catch (err) {
    return storageFailure(err, cfg);
  }
  return pass(
    CHECK,
    `blob container "${cfg.container}": probe record created, read, replaced and deleted with conditions`,
  );
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('deadline'), { code: 'TIMEOUT' })), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
