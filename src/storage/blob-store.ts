import { createHash } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import {
  BlobServiceClient,
  type BlobRequestConditions,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { StoreConflictError, type StateStore, type Versioned, type WriteCondition } from './store';

/**
 * `StateStore` on Azure Blob Storage (and Azurite). Each key is one block blob holding the JSON value; the blob's
 * ETag is the record version, so `ifMatch` / `ifNoneMatch` map 1:1 onto HTTP `If-Match` / `If-None-Match: *`
 * and the service, not this process, arbitrates races between bot instances.
 *
 * Failure modes: a lost condition (412 `ConditionNotMet`, 409 `BlobAlreadyExists`, or 404 `BlobNotFound` on an
 * `ifMatch` write, i.e. the record was deleted under us) throws `StoreConflictError`. Anything else (network,
 * 403 auth, missing container) is rethrown unchanged: those are not races, retrying from a fresh read won't help.
 * Errors are classified by HTTP status and the service's error code, never by message text (conventions.md C4).
 */
export type BlobStateStoreOptions =
  | { connectionString: string; container: string; pipeline?: StoragePipelineOptions }
  | { accountUrl: string; credential: TokenCredential; container: string; pipeline?: StoragePipelineOptions };

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

interface StorageErrorShape {
  statusCode?: unknown;
  code?: unknown;
  details?: unknown;
}

/** The HTTP status and the service error code (x-ms-error-code) of an SDK error, if it has them. */
function storageError(err: unknown): { status: number | undefined; code: string | undefined } {
  if (typeof err !== 'object' || err === null) return { status: undefined, code: undefined };
  const e = err as StorageErrorShape;
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  let code = typeof e.code === 'string' ? e.code : undefined;
  const details = e.details;
  if (typeof details === 'object' && details !== null) {
    const fromDetails = (details as { errorCode?: unknown }).errorCode;
    if (typeof fromDetails === 'string') code = fromDetails;
  }
  return { status, code };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** See the type-level comment above `BlobStateStoreOptions`. Holds no module-level state; one instance per store. */
export class BlobStateStore implements StateStore {
  private readonly container: ContainerClient;

  /**
   * @param options a connection string (Azurite, or an account key) or an account URL plus an Entra credential
   *   (managed identity in production), and the container name. `pipeline` passes SDK options such as
   *   `retryOptions` through.
   */
  constructor(options: BlobStateStoreOptions) {
    const service =
      'connectionString' in options
        ? BlobServiceClient.fromConnectionString(options.connectionString, options.pipeline)
        : new BlobServiceClient(options.accountUrl, options.credential, options.pipeline);
    this.container = service.getContainerClient(options.container);
  }

  /** Creates the container if it does not exist. Call once before use; safe to call concurrently. */
  async init(): Promise<void> {
    await this.container.createIfNotExists();
  }

  /** Reads a record and its ETag; `undefined` if the blob does not exist. */
  async get<T>(key: string): Promise<Versioned<T> | undefined> {
    const blob = this.container.getBlobClient(blobNameForKey(key));
    try {
      const res = await blob.download(0);
      const body = res.readableStreamBody;
      if (!body || !res.etag) throw new Error('blob download returned no body or no etag');
      const json = await readAll(body);
      return { value: JSON.parse(json) as T, etag: res.etag };
    } catch (err) {
      const { status, code } = storageError(err);
      if (status === 404 && code !== 'ContainerNotFound') return undefined;
      throw err;
    }
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
    try {
      const res = await blob.upload(body, Buffer.byteLength(body), {
        conditions,
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
  }

  /** Deletes the record; with `ifMatch`, only that version. A missing record or a lost condition is not an error. */
  async delete(key: string, condition?: { ifMatch: string }): Promise<void> {
    const blob = this.container.getBlobClient(blobNameForKey(key));
    try {
      await blob.delete(condition ? { conditions: { ifMatch: condition.ifMatch } } : {});
    } catch (err) {
      const { status, code } = storageError(err);
      if (status === 412 || (status === 404 && code !== 'ContainerNotFound')) return;
      throw err;
    }
  }

  /** No pooled connections to release (the SDK uses the shared HTTP agent). */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
