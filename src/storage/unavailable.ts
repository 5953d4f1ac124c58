import { BotError, isBotError } from '../errors';

/**
 * The storage boundary's error mapping (docs/conventions.md C4): anything that means "the state store cannot be
 * used right now" becomes `BotError('STORAGE_UNAVAILABLE')`, whose user text says so. Lost races stay
 * `StoreConflictError` (store.ts); programming errors (a value that is not JSON, a corrupt record) are not
 * mapped. Classified by HTTP status, the SDK's error code and our own deadline, never by message text.
 */
export type UnavailableReason =
  'timeout' | 'unreachable' | 'server_error' | 'throttled' | 'denied' | 'container_missing' | 'known_down';

/** Transport failures the SDK reports as RestError codes or Node system error codes. */
const NETWORK_CODES = new Set([
  'REQUEST_SEND_ERROR',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

interface ErrorShape {
  name?: unknown;
  statusCode?: unknown;
  code?: unknown;
  details?: unknown;
}

/** The HTTP status and the service error code (x-ms-error-code) of an SDK error, if it has them. */
export function storageErrorOf(err: unknown): { status: number | undefined; code: string | undefined } {
  if (typeof err !== 'object' || err === null) return { status: undefined, code: undefined };
  const e = err as ErrorShape;
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  let code = typeof e.code === 'string' ? e.code : undefined;
  const details = e.details;
  if (typeof details === 'object' && details !== null) {
    const fromDetails = (details as { errorCode?: unknown }).errorCode;
    if (typeof fromDetails === 'string') code = fromDetails;
  }
  return { status, code };
}

/**
 * Why the store is unusable, or undefined when `err` is not an availability problem (a conflict, a bug).
 * `timedOut`: our own deadline fired (whatever error the SDK raised for the abort).
 */
export function unavailableReason(err: unknown, timedOut: boolean): UnavailableReason | undefined {
  if (timedOut) return 'timeout';
  if (typeof err !== 'object' || err === null) return undefined;
  const { status, code } = storageErrorOf(err);
  const name = (err as ErrorShape).name;
  if (status === 404 && code === 'ContainerNotFound') return 'container_missing';
  if (status === 409 && code === 'ContainerBeingDeleted') return 'container_missing';
  if (status === 503 || status === 429 || code === 'ServerBusy') return 'throttled';
  if (status !== undefined && status >= 500) return 'server_error';
  if (status === 401 || status === 403) return 'denied';
  if (status === 408) return 'timeout';
  if (code !== undefined && NETWORK_CODES.has(code)) return 'unreachable';
  if (name === 'AbortError') return 'timeout';
  if (name === 'RestError' && status === undefined) return 'unreachable';
  return undefined;
}

/** The error to throw for an unusable store (the original error is kept as the cause, never shown). */
export function storageUnavailable(reason: UnavailableReason, cause?: unknown): BotError {
  return new BotError('STORAGE_UNAVAILABLE', `state store unavailable (${reason})`, {
    ...(cause === undefined ? {} : { cause }),
    details: { reason },
  });
}

export function isStorageUnavailable(err: unknown): err is BotError {
  return isBotError(err, 'STORAGE_UNAVAILABLE');
}
