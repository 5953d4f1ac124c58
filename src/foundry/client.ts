import OpenAI from 'openai';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { BotError } from '../errors';
import type { Logger } from '../observability/logger';
import { fromIdentityError, fromOpenAIError, isAbortLike, logIfUnrecognised, refineNotFound } from './errors';
import { guard, raceAbort } from './abortable';
import { withBusyRetry } from './busy';
import { toAgentEvents } from './stream-parser';
import type { AgentEvent, FoundryClient, StreamOptions, TurnRequest } from './types';
import { FOUNDRY_SCOPE } from './types';

/**
 * The Foundry port implemented on ONE `openai` client (docs/foundry-wire.md §1.4) pointed at
 * `${projectEndpoint}/openai/v1`.
 *
 * Retry policy lives in exactly one place (docs/conventions.md C11): the SDK's own `maxRetries` / `timeout`,
 * configured once here. It retries 408/409/429/≥500 and connection failures *before* a stream starts, honours
 * `retry-after-ms` / `Retry-After`, and backs off 0.5·2ⁿ s with jitter otherwise. Nothing after the first
 * byte of a stream is retried, by the SDK or by this module.
 *
 * Identity is per call: each request carries `Authorization: Bearer <token>` from the caller's
 * `TokenCredential` (scope {@link FOUNDRY_SCOPE}), so the same client serves the bot's identity and per-user
 * identities (§1.3).
 */

/** `agent_reference` as Foundry expects it (§1.5). Never the deprecated top-level `agent` key. */
interface AgentReferenceWire {
  type: 'agent_reference';
  name: string;
  version?: string;
}

/** The streaming request body the client sends: the openai type plus Foundry's `agent_reference`. */
export type FoundryResponseBody = OpenAI.Responses.ResponseCreateParamsStreaming & {
  agent_reference: AgentReferenceWire;
};

/** Options of {@link createFoundryClient}. */
export interface FoundryClientOptions {
  /** `https://<resource>.services.ai.azure.com/api/projects/<project>`; a trailing `/` is tolerated. */
  projectEndpoint: string;
  /**
   * Per-attempt time allowed until response headers arrive (the SDK `timeout`). Expiry is retried like a
   * connection failure, then surfaces as `FOUNDRY_TIMEOUT`. Config default 45 s.
   */
  timeoutMs: number;
  /**
   * Longest silence allowed between two SSE events once a stream has started (docs/reliability.md STR-02).
   * Expiry aborts the request and ends the iterator with `STREAM_INTERRUPTED` (`reason: 'idle_timeout'`),
   * handled like a cut stream (STR-01). Config default 120 s: an MCP tool call may run silently for up to
   * ~100 s between `response.mcp_call.in_progress` and its completion (foundry-wire.md §7.2).
   */
  idleTimeoutMs: number;
  /** SDK retries before a stream starts (attempts = maxRetries + 1). Config default 2. */
  maxRetries: number;
  /**
   * Extra attempts when Foundry refuses a turn because another response is running on the conversation
   * (`FOUNDRY_BUSY`: 400 `conversation_locked`, or a 409 the SDK did not already retry). Nothing was processed,
   * so waiting and re-sending is safe, approval continuations included. Default 0; config default 3.
   */
  busyRetries?: number;
  /** First wait before a busy retry, doubled each time (a `Retry-After` wins). Default 2 s. */
  busyRetryDelayMs?: number;
  log: Logger;
  /** Test seam: the fetch implementation (default: the global fetch). */
  fetch?: typeof fetch;
}

/**
 * Builds the `POST /openai/v1/responses` body for a turn (§1.5, §2):
 * `agent_reference` (+ `version` when pinned), `stream: true`; `conversation` in conversation mode, or
 * `previous_response_id` when present in previous_response mode (never both); `input` as a string for text,
 * as `mcp_approval_response` items for approvals, absent for `none`. Never `agent`, `tools`, `tool_choice`,
 * `text`, `model` or `instructions`.
 *
 * @throws BotError('BAD_REQUEST') for an empty conversation id or an approvals input without decisions.
 */
export function buildResponseBody(req: TurnRequest): FoundryResponseBody {
  const body: FoundryResponseBody = {
    agent_reference: {
      type: 'agent_reference',
      name: req.agent.name,
      ...(req.agent.version !== undefined ? { version: req.agent.version } : {}),
    },
    stream: true,
  };
  const thread = req.thread;
  if (thread.mode === 'conversation') {
    if (thread.conversationId.length === 0)
      throw new BotError('BAD_REQUEST', 'empty Foundry conversation id');
    body.conversation = thread.conversationId;
  } else if (thread.previousResponseId !== undefined && thread.previousResponseId.length > 0) {
    body.previous_response_id = thread.previousResponseId;
  }
  const input = req.input;
  switch (input.kind) {
    case 'text':
      body.input = input.text;
      break;
    case 'approvals':
      if (input.decisions.length === 0)
        throw new BotError('BAD_REQUEST', 'approvals input without decisions');
      body.input = input.decisions.map((d): OpenAI.Responses.ResponseInputItem.McpApprovalResponse => ({
        type: 'mcp_approval_response',
        approval_request_id: d.requestId,
        approve: d.approve,
        ...(d.reason !== undefined ? { reason: d.reason } : {}),
      }));
      break;
    case 'none':
      break;
  }
  return body;
}

/**
 * Wraps fetch so that an `AbortError` from another JS realm (a vm sandbox such as jest's, or a polyfill) is
 * re-thrown as a same-realm `Error`. The SDK runs `castToError` on fetch failures, which turns a foreign
 * DOMException into a nameless Error; its own timeout would then surface as a connection error instead of
 * `APIConnectionTimeoutError` (→ FOUNDRY_TIMEOUT).
 */
function realmSafeFetch(inner: typeof fetch): typeof fetch {
  return async (input, init) => {
    try {
      return await inner(input, init);
    } catch (e) {
      if (!(e instanceof Error) && isAbortLike(e)) {
        const err = new Error('The operation was aborted.');
        err.name = 'AbortError';
        throw err;
      }
      throw e;
    }
  };
}

/** Adapts the SDK's console-style logger to ours (message only; the SDK's debug records carry headers). */
function sdkLogger(log: Logger): NonNullable<ConstructorParameters<typeof OpenAI>[0]>['logger'] {
  const message = (m: unknown): { message: string } => ({ message: typeof m === 'string' ? m : '' });
  return {
    error: (m: unknown) => log.error('openai.sdk', message(m)),
    warn: (m: unknown) => log.warn('openai.sdk', message(m)),
    info: (m: unknown) => log.debug('openai.sdk', message(m)),
    debug: () => undefined,
  };
}

/** What a streamed turn has got so far; decides how a failure is classified and what details it carries. */
interface TurnProgress {
  /** The HTTP stream is open (after this, nothing is retried). */
  streaming: boolean;
  idleFired: boolean;
  responseId?: string;
  requestId?: string;
  partialTextLength: number;
}

function progressDetails(p: TurnProgress): Record<string, unknown> {
  if (!p.streaming) return {};
  return {
    ...(p.responseId !== undefined ? { responseId: p.responseId } : {}),
    partialTextLength: p.partialTextLength,
  };
}

function withDetails(err: BotError, extra: Record<string, unknown>): BotError {
  return new BotError(err.code, err.message, {
    cause: err.cause ?? err,
    details: { ...extra, ...err.details },
  });
}

/** Maps any failure of a streamed turn to a BotError (see {@link createFoundryClient} for the cases). */
function classifyTurnFailure(
  e: unknown,
  p: TurnProgress,
  callerAborted: boolean,
  idleTimeoutMs: number,
): BotError {
  if (callerAborted) {
    return new BotError('STREAM_INTERRUPTED', 'Foundry turn aborted by the caller', {
      cause: e,
      details: { ...progressDetails(p), reason: 'aborted' },
    });
  }
  if (p.idleFired) {
    return new BotError('STREAM_INTERRUPTED', `Foundry stream idle for more than ${idleTimeoutMs} ms`, {
      cause: e,
      details: { ...progressDetails(p), reason: 'idle_timeout', idleTimeoutMs },
    });
  }
  if (e instanceof BotError) return p.streaming ? withDetails(e, progressDetails(p)) : e;
  if (!p.streaming) return fromOpenAIError(e);
  if (e instanceof OpenAI.APIError && !(e instanceof OpenAI.APIConnectionError)) {
    return withDetails(fromOpenAIError(e), progressDetails(p));
  }
  return new BotError('STREAM_INTERRUPTED', 'the Foundry stream was cut', {
    cause: e,
    details: {
      ...progressDetails(p),
      reason: 'connection_lost',
      errorName: e instanceof Error ? e.name : typeof e,
    },
  });
}

/** `Bearer <token>` for Foundry from the caller's credential; IDENTITY_UNAVAILABLE when it has none. */
async function authorization(credential: TokenCredential, signal: AbortSignal | undefined): Promise<string> {
  let token: AccessToken | null;
  try {
    token = await raceAbort(
      credential.getToken(FOUNDRY_SCOPE, signal !== undefined ? { abortSignal: signal } : {}),
      signal,
    );
  } catch (e) {
    if (signal?.aborted === true || isAbortLike(e)) throw e;
    throw fromIdentityError(e);
  }
  if (token === null || token.token.length === 0) {
    throw new BotError('IDENTITY_UNAVAILABLE', 'the credential returned no Foundry access token');
  }
  return `Bearer ${token.token}`;
}

/** An open SSE stream and Foundry's request id for it (x-request-id), for the logs. */
interface Opened {
  stream: AsyncIterable<unknown>;
  requestId?: string;
}

/** Sends the turn request; resolves once the response headers arrived (after the SDK's retries). */
async function openTurnStream(
  client: OpenAI,
  log: Logger,
  req: TurnRequest,
  so: StreamOptions,
  signal: AbortSignal,
): Promise<Opened> {
  const body = buildResponseBody(req);
  log.debug('foundry.turn.start', {
    threading: req.thread.mode,
    inputKind: req.input.kind,
    agent: req.agent.name,
  });
  const auth = await authorization(so.credential, so.signal);
  // The agent_reference must be in the FIRST argument: a second-argument `{ body }` would replace the
  // whole body on a plain client (§1.4 pitfall).
  const { data, request_id } = await raceAbort(
    client.responses
      .create(body, {
        headers: { Authorization: auth },
        signal,
        ...(so.maxRetries !== undefined ? { maxRetries: so.maxRetries } : {}),
      })
      .withResponse(),
    so.signal,
  );
  return { stream: data, ...(request_id ? { requestId: request_id } : {}) };
}

/** `response.failed` error codes the relay knows; others are logged as unrecognised. */
const KNOWN_FAILURE_CODES = new Set(['server_error', 'rate_limit_exceeded', 'tool_user_error']);

/** Updates the turn's progress from one event; logs the end of the turn. */
function observe(p: TurnProgress, ev: AgentEvent, log: Logger, startedAt: number): void {
  if (ev.type === 'turn.started') p.responseId = ev.responseId;
  else if (ev.type === 'text.delta') p.partialTextLength += ev.text.length;
  else if (ev.type === 'turn.end') {
    const o = ev.outcome;
    const requestId = p.requestId !== undefined ? { requestId: p.requestId } : {};
    log.info('foundry.turn.end', {
      responseId: o.responseId,
      status: o.status,
      approvals: o.approvals.length,
      consents: o.consents.length,
      durationMs: Date.now() - startedAt,
      ...requestId,
    });
    if (o.error !== undefined && !KNOWN_FAILURE_CODES.has(o.error.code)) {
      // Code only: the message may quote user text or tool output (docs/conventions.md C12).
      log.warn('foundry.error.unrecognised', {
        source: 'response.failed',
        code: o.error.code,
        responseId: o.responseId,
        ...requestId,
      });
    }
  }
}

async function createConversation(
  client: OpenAI,
  log: Logger,
  { credential, signal }: { credential: TokenCredential; signal?: AbortSignal },
): Promise<string> {
  try {
    const auth = await authorization(credential, signal);
    const conv = await raceAbort(
      client.conversations.create(
        {},
        { headers: { Authorization: auth }, ...(signal !== undefined ? { signal } : {}) },
      ),
      signal,
    );
    return conv.id;
  } catch (e) {
    const err =
      signal?.aborted === true
        ? new BotError('STREAM_INTERRUPTED', 'conversation creation aborted by the caller', {
            cause: e,
            details: { reason: 'aborted' },
          })
        : fromOpenAIError(e);
    log.warn('foundry.conversation.failed', { code: err.code, details: err.details });
    throw err;
  }
}

/**
 * Creates the Foundry client (see the module comment for the retry and identity model).
 *
 * `streamTurn` failures, all as `BotError`:
 * - before the stream starts (after SDK retries): the codes of {@link fromOpenAIError} — e.g. `FOUNDRY_TIMEOUT`
 *   when no headers arrive within `timeoutMs` on the last attempt, `FOUNDRY_RATE_LIMITED`, `FOUNDRY_UNAVAILABLE`;
 *   `IDENTITY_UNAVAILABLE` when the credential cannot produce a token;
 * - caller abort (any time): `STREAM_INTERRUPTED`, `details.reason: 'aborted'`;
 * - idle stall longer than `idleTimeoutMs`: `STREAM_INTERRUPTED`, `details.reason: 'idle_timeout'` (chosen over
 *   FOUNDRY_TIMEOUT because the plan handles STR-02 as STR-01: the consumer keeps the partial text);
 * - connection cut or stream ended without a terminal event: `STREAM_INTERRUPTED`, `details.reason`
 *   `'connection_lost'` / `'no_terminal_event'`;
 * - an `error` SSE event: `FOUNDRY_FAILED` (`details.code`).
 * After the stream started, `details` also carry `responseId` (when known) and `partialTextLength`.
 */
export function createFoundryClient(opts: FoundryClientOptions): FoundryClient {
  const log = opts.log.child('foundry');
  const baseURL = `${opts.projectEndpoint.replace(/\/+$/, '')}/openai/v1`;
  const client = new OpenAI({
    baseURL,
    // Placeholder only: every request sets its own Authorization header from the caller's credential.
    apiKey: 'per-request-entra-token',
    organization: null,
    project: null,
    maxRetries: opts.maxRetries,
    timeout: opts.timeoutMs,
    logger: sdkLogger(log),
    logLevel: 'info',
    fetch: realmSafeFetch(opts.fetch ?? globalThis.fetch),
  });

  async function* streamTurn(req: TurnRequest, so: StreamOptions): AsyncGenerator<AgentEvent> {
    const startedAt = Date.now();
    const watchdog = new AbortController();
    const signal = so.signal !== undefined ? AbortSignal.any([so.signal, watchdog.signal]) : watchdog.signal;
    const p: TurnProgress = { streaming: false, idleFired: false, partialTextLength: 0 };
    try {
      const { stream, requestId } = await withBusyRetry(
        () => openTurnStream(client, log, req, so, signal),
        {
          retries: opts.busyRetries ?? 0,
          delayMs: opts.busyRetryDelayMs ?? 2_000,
          sdkRetries: so.maxRetries ?? opts.maxRetries,
        },
        log,
        signal,
      );
      p.streaming = true;
      if (requestId !== undefined) p.requestId = requestId;
      const raw = guard<unknown>(stream, opts.idleTimeoutMs, signal, () => {
        p.idleFired = true;
        watchdog.abort();
      });
      for await (const ev of toAgentEvents(raw, log)) {
        observe(p, ev, log, startedAt);
        yield ev;
      }
    } catch (e) {
      const err = refineNotFound(
        classifyTurnFailure(e, p, so.signal?.aborted === true, opts.idleTimeoutMs),
        req,
      );
      log.warn('foundry.turn.failed', {
        code: err.code,
        details: err.details,
        durationMs: Date.now() - startedAt,
      });
      logIfUnrecognised(log, err);
      throw err;
    } finally {
      // Closes the HTTP stream when the consumer stops early, and releases the idle timer.
      watchdog.abort();
    }
  }

  return {
    streamTurn: (req, so) => streamTurn(req, so),
    createConversation: (o) => createConversation(client, log, o),
  };
}
