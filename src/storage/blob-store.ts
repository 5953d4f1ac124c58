import { createHash } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import {
  BlobServiceClient,
  type BlobRequestConditions,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type { Logger } from '../observability/logger';
import { StoreConflictError, type StateStore, type Versioned, type WriteCondition } from './store';
import { storageErrorOf as storageError, storageUnavailable, unavailableReason } from './unavailable';

/**
 * `StateStore` on Azure Blob Storage (and Azurite). Each key is one block blob holding the JSON value; the blob's
 * ETag is the record version, so `ifMatch` / `ifNoneMatch` map 1:1 onto HTTP `If-Match` / `If-None-Match: *`
 * and the service, not this process, arbitrates races between bot instances.
 *
 * Failure modes: a lost condition (412 `ConditionNotMet`, 409 `BlobAlreadyExists`, or 404 `BlobNotFound` on an
 * `ifMatch` write, i.e. the record was deleted under us) throws `StoreConflictError`. Every call has a deadline
 * (`timeoutMs`) enforced with an `AbortSignal`, and the SDK's retries are sized to fit inside it; a call that
 * misses it, cannot connect, or gets 5xx / 503 / 429 / 401 / 403 throws `BotError('STORAGE_UNAVAILABLE')`
 * (unavailable.ts). A container deleted under the bot is recreated (once at a time) and the call retried once.
 * Errors are classified by HTTP status and the service's error code, never by message text (docs/conventions.md C4).
 */
interface CommonOptions {
  container: string;
  pipeline?: StoragePipelineOptions;
  /** Deadline of each call, SDK retries included (default DEFAULT_STORAGE_TIMEOUT_MS). */
  timeoutMs?: number;
  log?: Logger;
}
export type BlobStateStoreOptions = CommonOptions &
  ({ connectionString: string } | { accountUrl: string; credential: TokenCredential });

/**
 * Default deadline of one storage call. A small JSON blob takes tens of milliseconds on Blob Storage; 3 s leaves
 * room for two quick retries of a 503 or a refused connection, keeps a card click answered inside Teams' ~5 s
 * invoke window even when storage hangs, and tells a user whose message cannot be stored within seconds.
 */
const DEFAULT_STORAGE_TIMEOUT_MS = 3_000;
/** After a failed attempt to recreate a missing container, wait this long before trying again. */
const RECREATE_COOLDOWN_MS = 5_000;

/**
 * The SDK's retry policy sized to fit inside one call's deadline: its defaults (4 tries, 4 s exponential delay)
 * spend 16 s on a refused connection before failing. Here: 3 tries, delays of 0 and ≤ timeout/8 between them,
 * and the server-side timeout equal to the deadline. A hung request is cut by the deadline's AbortSignal.
 */
export function retryOptionsFor(timeoutMs: number): NonNullable<StoragePipelineOptions['retryOptions']> {
  return {
    maxTries: 3,
    retryDelayInMs: Math.max(50, Math.min(250, Math.floor(timeoutMs / 8))),
    maxRetryDelayInMs: Math.max(100, Math.floor(timeoutMs / 4)),
    tryTimeoutInMs: Math.max(1_000, timeoutMs),
  };
}

/** Blob names are at most 1024 characters (Azure Storage naming rules). */
export const MAX_BLOB_NAME_LENGTH = 1024;
/** Encoded names longer than this are replaced by a readable prefix plus a SHA-256 of the key. */
const HASH_THRESHOLD = MAX_BLOB_NAME_LENGTH;
const READABLE_PREFIX_LENGTH = 128;
/** `%` in an encoded name is always followed by two upper-case hex digits, so `%S` can never come from `encodeKey`. */
const HASH_MARKER = '%SHA256-';

/**
 * Maps a store key to a blob name: stable (same key → same name, across processes and versions), injective,
 * and safe for the Blob service. Every character outside RFC 3986's unreserved set `[A-Za-z0-9._~-]` is
 * percent-encoded as UTF-8 (so `/` does not create virtual directories and `;@:` never reach the URL raw), and a
 * trailing `.` is encoded too (the service trims trailing dots). A name that would exceed 1024 characters becomes
 * `<first 128 encoded chars>%SHA256-<hex digest of the key>`.
 *
 * @throws Error for an empty key (the service has no empty blob name).
 */
export function blobNameForKey(key: string): string {
  if (key.length === 0) throw new Error('state store keys must not be empty');
  let encoded = encodeURIComponent(key).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  if (encoded.endsWith('.')) encoded = `${encoded.slice(0, -1)}%2E`;
  if (encoded.length <= HASH_THRESHOLD) return encoded;
  const digest = createHash('sha256').update(key, 'utf8').digest('hex');
  return `${encoded.slice(0, READABLE_PREFIX_LENGTH)}${HASH_MARKER}${digest}`;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** See the type-level comment above `BlobStateStoreOptions`. Holds no module-level state; one instance per store. */
export class BlobStateStore implements StateStore {
  private readonly container: ContainerClient;
  readonly timeoutMs: number;
  private readonly log: Logger | undefined;
  private recreating: Promise<boolean> | undefined;
  private lastRecreateFailure = 0;

  /**
   * @param options a connection string (Azurite, or an account key) or an account URL plus an Entra credential
   *   (managed identity in production), and the container name. `pipeline` passes SDK options through
   *   (`retryOptions` given there replace the ones sized to the deadline).
   */
  constructor(options: BlobStateStoreOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_STORAGE_TIMEOUT_MS;
    this.log = options.log;
    const pipeline: StoragePipelineOptions = {
      ...options.pipeline,
      retryOptions: { ...retryOptionsFor(this.timeoutMs), ...options.pipeline?.retryOptions },
    };
    const service =
      'connectionString' in options
        ? BlobServiceClient.fromConnectionString(options.connectionString, pipeline)
        : new BlobServiceClient(options.accountUrl, options.credential, pipeline);
    this.container = service.getContainerClient(options.container);
  }

  /**
   * Creates the container if it does not exist. Call once before use; safe to call concurrently.
   * @throws BotError('STORAGE_UNAVAILABLE') when storage cannot be reached or refuses (start-up fails loudly).
   */
  async init(): Promise<void> {
    await this.call((abortSignal) => this.container.createIfNotExists({ abortSignal }), false);
  }

  /** Readiness probe: one cheap request (container properties); a missing container is recreated. */
  async ping(): Promise<void> {
    await this.call((abortSignal) => this.container.getProperties({ abortSignal }));
  }

  /** Reads a record and its ETag; `undefined` if the blob does not exist. */
  async get<T>(key: string): Promise<Versioned<T> | undefined> {
    const blob = this.container.getBlobClient(blobNameForKey(key));
    const read = await this.call(async (abortSignal) => {
      try {
        const res = await blob.download(0, undefined, { abortSignal, maxRetryRequests: 0 });
        const body = res.readableStreamBody;
        if (!body || !res.etag) throw new Error('blob download returned no body or no etag');
        return { json: await readAll(body), etag: res.etag };
      } catch (err) {
        const { status, code } = storageError(err);
        if (status === 404 && code !== 'ContainerNotFound') return undefined;
        throw err;
      }
    });
    return read && { value: JSON.parse(read.json) as T, etag: read.etag };
  }

  /**
   * Writes the JSON of `value` if the condition holds and returns the new ETag.
   * @throws StoreConflictError when the condition fails (another writer won, or the record was created/deleted).
   */
  async put<T>(key: string, value: T, condition: WriteCondition): Promise<string> {
    const body = JSON.stringify(value);
    if (body === undefined) throw new TypeError('state store values must be JSON-serialisable');
    const conditions: BlobRequestConditions =
      'ifNoneMatch' in condition ? { ifNoneMatch: '*' } : { ifMatch: condition.ifMatch };
    const blob = this.container.getBlockBlobClient(blobNameForKey(key));
    return this.call(async (abortSignal) => {
      try {
        const res = await blob.upload(body, Buffer.byteLength(body), {
          conditions,
          abortSignal,
          blobHTTPHeaders: { blobContentType: 'application/json; charset=utf-8' },
        });
        if (!res.etag) throw new Error('blob upload returned no etag');
        return res.etag;
      } catch (err) {
        const { status, code } = storageError(err);
        const lost =
          status === 412 ||
          (status === 409 && code === 'BlobAlreadyExists') ||
          (status === 404 && code === 'BlobNotFound' && 'ifMatch' in condition);
        if (lost) throw new StoreConflictError(key);
        throw err;
      }
    });
  }

  /** Deletes the record; with `ifMatch`, only that version. A missing record or a lost condition is not an error. */
  async delete(key: string, condition?: { ifMatch: string }): Promise<void> {
    const blob = this.container.getBlobClient(blobNameForKey(key));
    await this.call(async (abortSignal) => {
      try {
        await blob.delete(
          condition ? { conditions: { ifMatch: condition.ifMatch }, abortSignal } : { abortSignal },
        );
      } catch (err) {
        const { status, code } = storageError(err);
        if (status === 412 || (status === 404 && code !== 'ContainerNotFound')) return;
        throw err;
      }
    });
  }

  /**
   * Runs one SDK call under the deadline and maps availability failures to STORAGE_UNAVAILABLE. A missing
   * container is recreated and the call retried once (`recreate`: false for the calls that create it).
   */
  private async call<T>(op: (abortSignal: AbortSignal) => Promise<T>, recreate = true): Promise<T> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    try {
      return await op(deadline);
    } catch (err) {
      const reason = unavailableReason(err, deadline.aborted);
      if (reason === undefined) throw err;
      if (reason === 'container_missing' && recreate && (await this.recreateContainer())) {
        return this.call(op, false);
      }
      throw storageUnavailable(reason, err);
    }
  }

  /** Recreates a container deleted under the bot; one attempt at a time, then a pause after a failure. */
  private recreateContainer(): Promise<boolean> {
    if (Date.now() - this.lastRecreateFailure < RECREATE_COOLDOWN_MS) return Promise.resolve(false);
    this.recreating ??= (async () => {
      try {
        const abortSignal = AbortSignal.timeout(this.timeoutMs);
        const r = await this.container.createIfNotExists({ abortSignal });
        this.log?.error('storage.container_recreated', {
          container: this.container.containerName,
          created: r.succeeded,
          note: 'the container was missing: every stored record (pending approvals, threads) was lost',
        });
        return true;
      } catch (err) {
        this.lastRecreateFailure = Date.now();
        this.log?.error('storage.container_missing', {
          container: this.container.containerName,
          reason: unavailableReason(err, false) ?? 'error',
          err,
        });
        return false;
      } finally {
        this.recreating = undefined;
      }
    })();
    return this.recreating;
  }

  /** No pooled connections to release (the SDK uses the shared HTTP agent). */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
