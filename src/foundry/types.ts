import type { TokenCredential } from '@azure/identity';

/**
 * The domain view of a Foundry agent turn: what the relay needs, independent of the wire format
 * (docs/foundry-wire.md). The parser in `stream-parser.ts` turns raw SSE events into these; unknown event and item
 * types are skipped (logged at debug), never fatal.
 */

/** A citation built from `output_text` annotations (docs/foundry-wire.md §4.1). */
export interface Citation {
  kind: 'url_citation' | 'file_citation' | 'container_file_citation' | 'file_path';
  /** url_citation only. */
  url?: string;
  title?: string;
  fileId?: string;
  filename?: string;
  startIndex?: number;
  endIndex?: number;
}

/** `mcp_call.error` arrives as a string or a structured object (§4.5); normalised here. */
export interface ToolError {
  kind: 'string' | 'mcp_protocol_error' | 'mcp_tool_execution_error' | 'http_error' | 'unknown';
  message: string;
  code?: number;
  /** The user's token for the tool lapsed or was revoked (`tool_user_error`, "Failed to fetch access token"). */
  signInRequired?: true;
}

/** An OAuth identity-passthrough consent request (§4.6, §6.2). */
export interface ConsentRequest {
  /** Item id when known (`oauthreq_…`); synthetic for the top-level event form. */
  itemId: string;
  /** Raw link as Foundry sent it. Validate before showing (consent-link policy); never log it. */
  consentLink: string;
  /** Optional on the wire (§11 item 3). */
  serverLabel?: string;
  /** Where it was found: an output item, the top-level `response.oauth_consent_requested` event, or inside approval arguments. */
  source: 'item' | 'event' | 'approval_arguments';
}

/** One `mcp_approval_request` (§4.3). */
export interface ApprovalRequest {
  /** Foundry's request id (`mcpr_…`). Never put this alone into a card: cards carry opaque ids. */
  requestId: string;
  serverLabel: string;
  toolName: string;
  /** The JSON string as received. */
  argumentsJson: string;
  /** Parsed arguments; `undefined` if the string was not valid JSON. */
  arguments: unknown;
}

/** An MCP or built-in tool call seen in the output. */
export interface ToolCall {
  itemId: string;
  /** Item type, e.g. `mcp_call`, `web_search_call`, `bing_grounding_call`. */
  itemType: string;
  serverLabel?: string;
  name?: string;
  status: 'in_progress' | 'completed' | 'failed' | 'incomplete';
  approvalRequestId?: string;
  error?: ToolError;
}

/** Everything the relay needs once a response is over (from `response.output`, else the collected items). */
export interface TurnOutcome {
  status: 'completed' | 'incomplete' | 'failed';
  responseId: string;
  conversationId?: string;
  /** Concatenated assistant text of all message items. */
  text: string;
  citations: Citation[];
  /** Distinct by consent link. */
  consents: ConsentRequest[];
  approvals: ApprovalRequest[];
  toolCalls: ToolCall[];
  /** `response.error` when status is failed (code only is safe to show operators). */
  error?: { code: string; message: string };
  incompleteReason?: string;
}

/**
 * Events of one streamed turn, in order. The last one is always `turn.end`, or the iterator throws a BotError.
 * Consents and approvals are reported in the `turn.end` outcome only.
 */
export type AgentEvent =
  | { type: 'turn.started'; responseId: string; conversationId?: string }
  | { type: 'text.delta'; itemId: string; text: string }
  | { type: 'citation'; itemId: string; citation: Citation }
  | { type: 'tool.progress'; call: ToolCall }
  | { type: 'turn.end'; outcome: TurnOutcome };

interface AgentRef {
  name: string;
  version?: string;
}

/** How the Foundry thread is carried (docs/foundry-wire.md §1.6). Never both ids in one request. */
export type Thread =
  | { mode: 'previous_response'; previousResponseId?: string }
  | { mode: 'conversation'; conversationId: string };

export interface ApprovalDecision {
  requestId: string;
  approve: boolean;
  reason?: string;
}

/**
 * What to send. `text` is a new user message (or the re-sent text of a consent continuation in
 * previous_response mode); `approvals` answers approval requests (§6.3); `none` re-runs the agent on the
 * conversation (consent continuation in conversation mode, §6.2).
 */
export type TurnInput =
  { kind: 'text'; text: string } | { kind: 'approvals'; decisions: ApprovalDecision[] } | { kind: 'none' };

export interface TurnRequest {
  agent: AgentRef;
  thread: Thread;
  input: TurnInput;
}

export interface StreamOptions {
  /** Who Foundry sees as the caller: the bot (app mode) or the user (user mode, on-behalf-of). */
  credential: TokenCredential;
  /** Aborts the HTTP request and ends the iterator with a BotError('STREAM_INTERRUPTED', {details:{reason:'aborted'}}). */
  signal?: AbortSignal;
  /** Overrides the client's configured retries: continuations after approvals use 0 (not idempotent). */
  maxRetries?: number;
}

/** The Foundry port the relay depends on. */
export interface FoundryClient {
  /** Starts a streamed turn. HTTP errors before the stream, a cut stream, an idle stall and aborts all throw BotError. */
  streamTurn(req: TurnRequest, opts: StreamOptions): AsyncIterable<AgentEvent>;
  /** Creates an empty Foundry conversation (`conv_…`), for conversation threading. */
  createConversation(opts: { credential: TokenCredential; signal?: AbortSignal }): Promise<string>;
}

/** The token scope for Foundry's data plane (§1.3). */
export const FOUNDRY_SCOPE = 'https://ai.azure.com/.default';
