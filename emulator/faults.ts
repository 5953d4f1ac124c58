import { z } from 'zod';
import { PartialSettingsSchema } from './settings';

/**
 * Fault injection (docs/foundry-wire.md §8.5). A fault comes from a scenario rule (`faults` on the rule:
 * applies each time the rule matches, or only the first `count` times) or from `POST /__emulator/faults`
 * (applies to the next `count` matching requests, default 1).
 *
 * Pre-stream kinds end the request with an HTTP error: rate_limit, server_error, unauthorized, wrong_tenant.
 * Stream kinds shape the SSE stream: response_failed, error_event, disconnect, stall, slow_tokens.
 * `override` switches settings (the §11 alternatives) for the matching requests.
 */
const Match = z
  .object({
    /** Which route the fault applies to (default `responses` = POST …/openai/v1/responses). */
    target: z.enum(['responses', 'conversations', 'identity', 'any']).optional(),
    /** Case-insensitive substring of the request's user text. */
    text: z.string().optional(),
    /** Only streamed (true) or only JSON (false) requests. */
    stream: z.boolean().optional(),
  })
  .strict();

const common = { count: z.number().int().positive().optional(), match: Match.optional() };
const afterEvents = z.number().int().nonnegative().default(4);

export const FaultSchema = z.discriminatedUnion('kind', [
  /** 429 with `Retry-After` (seconds) and `retry-after-ms` (default retryAfterSec × 1000). */
  z
    .object({
      kind: z.literal('rate_limit'),
      retryAfterSec: z.number().int().nonnegative().default(1),
      retryAfterMs: z.number().int().nonnegative().optional(),
      ...common,
    })
    .strict(),
  /** 5xx JSON error before any stream starts. */
  z
    .object({
      kind: z.literal('server_error'),
      status: z.number().int().min(500).max(599).default(500),
      message: z.string().default('The server had an error while processing your request.'),
      ...common,
    })
    .strict(),
  /** 401 as for an invalid token. */
  z.object({ kind: z.literal('unauthorized'), ...common }).strict(),
  /** 403 as for a token from another tenant. */
  z.object({ kind: z.literal('wrong_tenant'), ...common }).strict(),
  /** `response.failed` with `error:{code,message}` after N events. */
  z
    .object({
      kind: z.literal('response_failed'),
      afterEvents,
      code: z.string().default('server_error'),
      message: z.string().default('The model produced an error (emulated).'),
      ...common,
    })
    .strict(),
  /** An `event: error` frame after N events, then the stream ends. `nested` adds a top-level `error` object. */
  z
    .object({
      kind: z.literal('error_event'),
      afterEvents,
      code: z.string().default('server_error'),
      message: z.string().default('Stream error (emulated).'),
      nested: z.boolean().default(false),
      ...common,
    })
    .strict(),
  /** Destroy the TCP connection after N events (the response keeps running; resume with GET ?stream=true). */
  z.object({ kind: z.literal('disconnect'), afterEvents, ...common }).strict(),
  /** No events for `ms` after N events. */
  z
    .object({
      kind: z.literal('stall'),
      afterEvents,
      ms: z.number().int().nonnegative().default(2000),
      ...common,
    })
    .strict(),
  /** Delay before every `output_text.delta`. */
  z
    .object({
      kind: z.literal('slow_tokens'),
      delayMs: z.number().int().nonnegative().default(50),
      ...common,
    })
    .strict(),
  /**
   * The "another response is running" refusal, on demand: status and code from the settings
   * (`conversationLockedStatus`, `conversationLockedCode`), OpenAI's message. Nothing is processed.
   */
  z.object({ kind: z.literal('conversation_locked'), ...common }).strict(),
  /** Any HTTP error before the stream, e.g. a status or code no source documents (unrecognised shapes). */
  z
    .object({
      kind: z.literal('http_error'),
      status: z.number().int().min(400).max(599),
      code: z.string().default('emulated_error'),
      message: z.string().default('Emulated error.'),
      param: z.string().nullable().default(null),
      ...common,
    })
    .strict(),
  /**
   * The user's token for the tool lapsed or was revoked: the first MCP call of the response fails with
   * `message` (`form: 'mcp_call'`, the agent then answers), or the response fails with `tool_user_error`
   * at that call (`form: 'response_failed'`).
   */
  z
    .object({
      kind: z.literal('tool_auth_lapsed'),
      form: z.enum(['mcp_call', 'response_failed']).default('mcp_call'),
      message: z.string().default('Failed to fetch access token'),
      ...common,
    })
    .strict(),
  /** Switch settings (§11 alternatives) for the matching requests. */
  z.object({ kind: z.literal('override'), settings: PartialSettingsSchema, ...common }).strict(),
]);

export type Fault = z.infer<typeof FaultSchema>;
/** What callers may send (defaults not yet applied). */
export type FaultInput = z.input<typeof FaultSchema>;
export type FaultTarget = 'responses' | 'conversations' | 'identity';

export const PRE_STREAM_KINDS = [
  'rate_limit',
  'server_error',
  'unauthorized',
  'wrong_tenant',
  'conversation_locked',
  'http_error',
] as const;
export type PreStreamFault = Extract<Fault, { kind: (typeof PRE_STREAM_KINDS)[number] }>;
export const isPreStream = (f: Fault): f is PreStreamFault =>
  (PRE_STREAM_KINDS as readonly string[]).includes(f.kind);

export interface RequestFacts {
  target: FaultTarget;
  text: string;
  stream: boolean;
}

export function matches(f: Fault, facts: RequestFacts): boolean {
  const m = f.match;
  const target = m?.target ?? 'responses';
  if (target !== 'any' && target !== facts.target) return false;
  if (m?.stream !== undefined && m.stream !== facts.stream) return false;
  if (m?.text !== undefined && !facts.text.toLowerCase().includes(m.text.toLowerCase())) return false;
  return true;
}

/** The control-plane queue: each entry applies to the next `count` matching requests. */
export class FaultQueue {
  private entries: { fault: Fault; remaining: number }[] = [];

  add(faults: readonly Fault[]): void {
    for (const fault of faults) this.entries.push({ fault, remaining: fault.count ?? 1 });
  }

  /** All queued faults matching this request; each one's remaining count drops by one. */
  take(facts: RequestFacts): Fault[] {
    const hit: Fault[] = [];
    for (const e of this.entries) {
      if (e.remaining > 0 && matches(e.fault, facts)) {
        e.remaining -= 1;
        hit.push(e.fault);
      }
    }
    this.entries = this.entries.filter((e) => e.remaining > 0);
    return hit;
  }

  pending(): { fault: Fault; remaining: number }[] {
    return this.entries.map((e) => ({ ...e }));
  }

  clear(): void {
    this.entries = [];
  }
}

/** What the streaming side needs from a request's faults. */
export interface StreamFaults {
  failAfter?: Extract<Fault, { kind: 'response_failed' }>;
  errorAfter?: Extract<Fault, { kind: 'error_event' }>;
  disconnectAfter?: number;
  stall?: { afterEvents: number; ms: number };
  deltaDelayMs: number;
  authLapse?: Extract<Fault, { kind: 'tool_auth_lapsed' }>;
}

export function streamFaults(faults: readonly Fault[]): StreamFaults {
  const out: StreamFaults = { deltaDelayMs: 0 };
  for (const f of faults) {
    switch (f.kind) {
      case 'response_failed':
        out.failAfter = f;
        break;
      case 'error_event':
        out.errorAfter = f;
        break;
      case 'disconnect':
        out.disconnectAfter = f.afterEvents;
        break;
      case 'stall':
        out.stall = { afterEvents: f.afterEvents, ms: f.ms };
        break;
      case 'slow_tokens':
        out.deltaDelayMs = Math.max(out.deltaDelayMs, f.delayMs);
        break;
      case 'tool_auth_lapsed':
        out.authLapse = f;
        break;
      case 'rate_limit':
      case 'server_error':
      case 'unauthorized':
      case 'wrong_tenant':
      case 'conversation_locked':
      case 'http_error':
      case 'override':
        break;
    }
  }
  return out;
}
