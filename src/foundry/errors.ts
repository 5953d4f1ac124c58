import {
  AggregateAuthenticationError,
  AuthenticationError as IdentityAuthenticationError,
  AuthenticationRequiredError,
  CredentialUnavailableError,
} from '@azure/identity';
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
} from 'openai';
import { BotError } from '../errors';
import type { Logger } from '../observability/logger';
import type { TurnRequest } from './types';

/**
 * The Foundry boundary of the error hierarchy (docs/conventions.md C4): every failure of the `openai` SDK or of
 * `@azure/identity` becomes a `BotError` with a stable code here, and nowhere else.
 *
 * `details` carry only machine-readable facts — `status`, `requestId` (x-request-id), Foundry's error `code`
 * and `param`, and for unanswered approvals the `pendingRequestIds`. Foundry's message text is never copied
 * into a BotError message or into details, so nothing the service wrote reaches a user.
 */

/**
 * The documented 400 text for a turn sent while approval requests are still open (docs/foundry-wire.md §6.3,
 * §7.2). Foundry gives this case no error code, so this prefix is the one place a message is inspected.
 */
const UNANSWERED_APPROVALS_PREFIX = 'The following MCP approval requests do not have an approval:';

/**
 * OpenAI's code for "Another process is currently operating on this conversation" (HTTP 400; Foundry's
 * status for the same case is unconfirmed, 409 is mapped too). Nothing was processed, so it is safe to retry.
 */
const BUSY_CODE = 'conversation_locked';

/** Codes and params that say the thread (previous response or conversation) is gone, not the agent. */
const THREAD_GONE_CODES = new Set(['previous_response_not_found', 'conversation_not_found']);
const THREAD_PARAMS = new Set(['previous_response_id', 'conversation']);

function isThreadGone(details: Record<string, unknown>): boolean {
  const code = details['code'];
  const param = details['param'];
  return (
    (typeof code === 'string' && THREAD_GONE_CODES.has(code)) ||
    (details['status'] === 404 && typeof param === 'string' && THREAD_PARAMS.has(param))
  );
}

/** Error codes this module or the relay acts on; anything else is logged as unrecognised (operators). */
const KNOWN_CODES = new Set([
  'invalid_payload',
  'invalid_request_error',
  'not_found',
  'unauthorized',
  'forbidden',
  'rate_limit_exceeded',
  'server_error',
  'tool_user_error',
  BUSY_CODE,
  ...THREAD_GONE_CODES,
]);
const KNOWN_STATUSES = new Set([400, 401, 403, 404, 408, 409, 429]);

/**
 * Whether a mapped Foundry error carries a status or code this bot does not know (a shape no public source
 * or the emulator showed us): such errors are logged with status, code, param and request id only, so an
 * operator can compare them with docs/real-services.md. Unanswered approvals carry no code and are known.
 */
function isUnrecognised(err: BotError): boolean {
  const d = err.details;
  if (d['pendingRequestIds'] !== undefined || err.code === 'STREAM_INTERRUPTED') return false;
  const status = d['status'];
  const code = d['code'];
  if (typeof status === 'number' && status < 500 && !KNOWN_STATUSES.has(status)) return true;
  if (typeof code === 'string') return !KNOWN_CODES.has(code);
  // No code at all: fine for statuses whose class says everything; not for a 400/404 or a stream error.
  return status === 400 || status === 404 || (status === undefined && err.code === 'FOUNDRY_FAILED');
}

/** Opaque id tokens as they appear in the unanswered-approvals list (ids are opaque; `mcpr_` is not assumed). */
const ID_TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

/** Fields of the APIError that are safe to carry (no message text, no headers beyond the request id). */
function apiDetails(err: {
  readonly status: number | undefined;
  readonly requestID: string | null | undefined;
  readonly code: string | null | undefined;
  readonly param: string | null | undefined;
}): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  if (err.status !== undefined) d['status'] = err.status;
  if (typeof err.requestID === 'string' && err.requestID.length > 0) d['requestId'] = err.requestID;
  if (typeof err.code === 'string' && err.code.length > 0) d['code'] = err.code;
  if (typeof err.param === 'string' && err.param.length > 0) d['param'] = err.param;
  return d;
}

/** Foundry's inner `error.message`, read only to recognise the unanswered-approvals case. */
function bodyMessage(err: { readonly error: unknown }): string | undefined {
  const inner = err.error;
  if (typeof inner === 'object' && inner !== null && 'message' in inner) {
    const m = (inner as { message?: unknown }).message;
    return typeof m === 'string' ? m : undefined;
  }
  return undefined;
}

/**
 * Parses the ids listed after {@link UNANSWERED_APPROVALS_PREFIX}. Returns `undefined` when the message is a
 * different 400. Ids are separated by commas and/or whitespace; a trailing period is tolerated.
 */
export function parseUnansweredApprovals(message: string): string[] | undefined {
  const trimmed = message.trimStart();
  if (!trimmed.startsWith(UNANSWERED_APPROVALS_PREFIX)) return undefined;
  const rest = trimmed.slice(UNANSWERED_APPROVALS_PREFIX.length);
  const ids = rest
    .split(/[\s,;]+/)
    .map((t) => t.replace(/[.]+$/, ''))
    .filter((t) => ID_TOKEN.test(t));
  return [...new Set(ids)];
}

/** Whether an error is a fetch/DOM abort (`AbortError`), regardless of the class that carries it. */
export function isAbortLike(err: unknown): boolean {
  return (
    err instanceof APIUserAbortError ||
    (typeof err === 'object' && err !== null && 'name' in err && err.name === 'AbortError')
  );
}

/** Whether `err` comes from `@azure/identity` (a token could not be obtained). */
function isIdentityError(err: unknown): boolean {
  return (
    err instanceof CredentialUnavailableError ||
    err instanceof IdentityAuthenticationError ||
    err instanceof AggregateAuthenticationError ||
    err instanceof AuthenticationRequiredError
  );
}

/**
 * Maps a token-acquisition failure (`TokenCredential.getToken`) to `IDENTITY_UNAVAILABLE`. A `BotError`
 * thrown by a custom credential (e.g. the on-behalf-of wrapper) is passed through unchanged.
 */
export function fromIdentityError(err: unknown): BotError {
  if (err instanceof BotError) return err;
  const details: Record<string, unknown> = { errorName: err instanceof Error ? err.name : typeof err };
  if (err instanceof IdentityAuthenticationError) details['status'] = err.statusCode;
  return new BotError('IDENTITY_UNAVAILABLE', 'could not obtain a Foundry access token', {
    cause: err,
    details,
  });
}

/**
 * Converts anything thrown by the `openai` SDK (or by `@azure/identity` while getting the token) into a
 * `BotError`:
 *
 * | thrown | code |
 * |---|---|
 * | `APIUserAbortError`, any `AbortError` | `STREAM_INTERRUPTED` (`details.reason: 'aborted'`) |
 * | `APIConnectionTimeoutError` | `FOUNDRY_TIMEOUT` |
 * | `APIConnectionError` | `FOUNDRY_UNAVAILABLE` |
 * | `RateLimitError` (429) | `FOUNDRY_RATE_LIMITED` (+ `retryAfterMs` when the header was sent) |
 * | `InternalServerError` (≥500) | `FOUNDRY_UNAVAILABLE` |
 * | `AuthenticationError` (401) | `FOUNDRY_UNAUTHORIZED` |
 * | `PermissionDeniedError` (403) | `FOUNDRY_FORBIDDEN` |
 * | `NotFoundError` (404) with `param` conversation / previous_response_id, or a thread-gone code | `FOUNDRY_THREAD_NOT_FOUND` |
 * | other `NotFoundError` (404) | `FOUNDRY_NOT_FOUND` |
 * | `ConflictError` (409), `BadRequestError` `conversation_locked` | `FOUNDRY_BUSY` |
 * | `BadRequestError` `previous_response_not_found` | `FOUNDRY_THREAD_NOT_FOUND` |
 * | `BadRequestError` "…do not have an approval: ids" | `FOUNDRY_UNANSWERED_APPROVALS` (`details.pendingRequestIds`) |
 * | other 4xx | `FOUNDRY_REJECTED` |
 * | `APIError` without status (an `error` SSE event mid-stream) | `FOUNDRY_FAILED` |
 * | `@azure/identity` errors | `IDENTITY_UNAVAILABLE` |
 * | `BotError` | unchanged |
 * | anything else | `FOUNDRY_UNAVAILABLE` |
 *
 * Never throws.
 */
export function fromOpenAIError(err: unknown): BotError {
  if (err instanceof BotError) return err;
  if (isAbortLike(err)) {
    return new BotError('STREAM_INTERRUPTED', 'Foundry request aborted by the caller', {
      cause: err,
      details: { reason: 'aborted' },
    });
  }
  if (isIdentityError(err)) return fromIdentityError(err);
  // Order matters: APIConnectionTimeoutError extends APIConnectionError.
  if (err instanceof APIConnectionTimeoutError) {
    return new BotError('FOUNDRY_TIMEOUT', 'Foundry did not answer within the configured timeout', {
      cause: err,
    });
  }
  if (err instanceof APIConnectionError) {
    return new BotError('FOUNDRY_UNAVAILABLE', 'could not connect to Foundry', { cause: err });
  }
  if (!(err instanceof APIError)) {
    return new BotError('FOUNDRY_UNAVAILABLE', 'unexpected Foundry client failure', {
      cause: err,
      details: { errorName: err instanceof Error ? err.name : typeof err },
    });
  }

  const details = apiDetails(err);
  const tag = `${err.status ?? 'stream'}${typeof details['code'] === 'string' ? ` ${details['code']}` : ''}`;
  if (err instanceof RateLimitError) {
    const retryAfterMs = retryAfterFrom(err.headers);
    return new BotError('FOUNDRY_RATE_LIMITED', `Foundry throttled the request (${tag})`, {
      cause: err,
      details: retryAfterMs === undefined ? details : { ...details, retryAfterMs },
    });
  }
  if (err instanceof InternalServerError) {
    return new BotError('FOUNDRY_UNAVAILABLE', `Foundry server error (${tag})`, { cause: err, details });
  }
  if (err instanceof AuthenticationError) {
    return new BotError('FOUNDRY_UNAUTHORIZED', `Foundry rejected the access token (${tag})`, {
      cause: err,
      details,
    });
  }
  if (err instanceof PermissionDeniedError) {
    return new BotError('FOUNDRY_FORBIDDEN', `Foundry denied access (${tag})`, { cause: err, details });
  }
  if (err instanceof NotFoundError) {
    if (isThreadGone(details)) {
      return new BotError('FOUNDRY_THREAD_NOT_FOUND', `Foundry thread not found (${tag})`, {
        cause: err,
        details,
      });
    }
    return new BotError('FOUNDRY_NOT_FOUND', `Foundry resource not found (${tag})`, { cause: err, details });
  }
  if (err instanceof ConflictError || (err instanceof BadRequestError && details['code'] === BUSY_CODE)) {
    return new BotError('FOUNDRY_BUSY', `Foundry conversation busy (${tag})`, { cause: err, details });
  }
  if (err instanceof BadRequestError) return fromBadRequest(err, details, tag);
  if (err.status === undefined) {
    // The SDK throws a status-less APIError for an `error` SSE event (or a data object with a top-level
    // `error`) once the stream has started (docs/foundry-wire.md §3.1).
    return new BotError('FOUNDRY_FAILED', `Foundry reported an error mid-stream (${tag})`, {
      cause: err,
      details,
    });
  }
  return new BotError('FOUNDRY_REJECTED', `Foundry rejected the request (${tag})`, { cause: err, details });
}

/** A 400: the thread is gone, approvals are unanswered (§6.3), or the request was refused. */
function fromBadRequest(err: BadRequestError, details: Record<string, unknown>, tag: string): BotError {
  if (isThreadGone(details)) {
    return new BotError('FOUNDRY_THREAD_NOT_FOUND', `Foundry thread not found (${tag})`, {
      cause: err,
      details,
    });
  }
  const message = bodyMessage(err);
  const pending = message === undefined ? undefined : parseUnansweredApprovals(message);
  if (pending !== undefined) {
    return new BotError('FOUNDRY_UNANSWERED_APPROVALS', `Foundry has unanswered approval requests (${tag})`, {
      cause: err,
      details: { ...details, pendingRequestIds: pending },
    });
  }
  return new BotError('FOUNDRY_REJECTED', `Foundry rejected the request (${tag})`, { cause: err, details });
}

/** Status, code, param and request id of an error whose shape we do not know; never its message or body. */
export function logIfUnrecognised(log: Logger, err: BotError): void {
  if (!isUnrecognised(err)) return;
  const d = err.details;
  log.warn('foundry.error.unrecognised', {
    source: d['status'] === undefined ? 'stream' : 'http',
    mappedTo: err.code,
    ...(d['status'] !== undefined ? { status: d['status'] } : {}),
    ...(d['code'] !== undefined ? { code: d['code'] } : {}),
    ...(d['param'] !== undefined ? { param: d['param'] } : {}),
    ...(d['requestId'] !== undefined ? { requestId: d['requestId'] } : {}),
    ...(d['responseId'] !== undefined ? { responseId: d['responseId'] } : {}),
  });
}

/**
 * A 404 on a conversation-mode turn that names neither side (no `param`, no code beyond `not_found`) is taken as the
 * conversation being gone: the relay then retries once in a fresh thread, and a fresh thread that is "not
 * found" too is reported as the agent missing (turn-loop.ts), so either reading ends in the right message.
 */
export function refineNotFound(err: BotError, req: TurnRequest): BotError {
  if (err.code !== 'FOUNDRY_NOT_FOUND' || req.thread.mode !== 'conversation') return err;
  const code = err.details['code'];
  if (err.details['param'] !== undefined || (code !== undefined && code !== 'not_found')) return err;
  return new BotError('FOUNDRY_THREAD_NOT_FOUND', err.message, {
    cause: err.cause ?? err,
    details: { ...err.details, assumed: 'conversation' },
  });
}

/** `retry-after-ms`, else `retry-after` in seconds or as an HTTP date, as milliseconds (≥ 0). */
function retryAfterFrom(headers: Headers | undefined): number | undefined {
  if (headers === undefined) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && Number.isFinite(Number.parseFloat(ms))) return Math.max(0, Number.parseFloat(ms));
  const ra = headers.get('retry-after');
  if (ra === null) return undefined;
  const secs = Number.parseFloat(ra);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(ra);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}
