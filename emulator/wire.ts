import { randomBytes, randomInt } from 'node:crypto';

/**
 * Wire shapes the emulator writes (docs/foundry-wire.md §4, §5, §7.1) and the id formats of §8.1.
 * These are the emulator's own types: the bot's `src/` has its own view of the protocol and the two never
 * import each other.
 */

export const hex = (chars: number): string =>
  randomBytes(Math.ceil(chars / 2))
    .toString('hex')
    .slice(0, chars);

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const alnum = (chars: number): string => Array.from({ length: chars }, () => ALNUM[randomInt(62)]).join('');

/** Id generators (§8.1): resp_/msg_ + 48 hex, oauthreq_ + 50 hex, conv_ + 48 alphanumerics. */
export const ids = {
  response: (): string => `resp_${hex(48)}`,
  message: (): string => `msg_${hex(48)}`,
  listTools: (): string => `mcpl_${hex(48)}`,
  approvalRequest: (): string => `mcpr_${hex(48)}`,
  approvalResponse: (): string => `mcpa_${hex(48)}`,
  mcpCall: (): string => `mcp_${hex(48)}`,
  consent: (): string => `oauthreq_${hex(50)}`,
  conversation: (): string => `conv_${alnum(48)}`,
  request: (): string => hex(32),
  consentToken: (): string => hex(40),
};

export const nowSec = (): number => Math.floor(Date.now() / 1000);

export interface AgentReference {
  type: 'agent_reference';
  name: string;
  version: string;
}

export interface UrlCitation {
  type: 'url_citation';
  url: string;
  title: string;
  start_index: number;
  end_index: number;
}

export interface OutputText {
  type: 'output_text';
  text: string;
  annotations: UrlCitation[];
  logprobs: [];
}

export interface MessageItem {
  id: string;
  type: 'message';
  role: 'assistant' | 'user';
  status: 'in_progress' | 'completed';
  content: (OutputText | { type: 'input_text'; text: string })[];
}

export interface ListedTool {
  name: string;
  description: string;
  input_schema: Record<string, unknown>;
  annotations: { read_only: boolean };
}

export interface McpListToolsItem {
  id: string;
  type: 'mcp_list_tools';
  server_label: string;
  tools: ListedTool[];
  error: string | null;
}

export interface McpApprovalRequestItem {
  id: string;
  type: 'mcp_approval_request';
  server_label: string;
  name: string;
  arguments: string;
}

export interface McpApprovalResponseItem {
  id: string;
  type: 'mcp_approval_response';
  approval_request_id: string;
  approve: boolean;
  reason: string | null;
}

/** `mcp_call.error`: a string by default, or one of the structured forms of openai-node ≥ a3deafb5 (§4.5). */
export type McpCallError =
  | string
  | { type: 'mcp_tool_execution_error'; content: unknown }
  | { type: 'http_error'; code: number; message: string };

export interface McpCallItem {
  id: string;
  type: 'mcp_call';
  server_label: string;
  name: string;
  arguments: string;
  approval_request_id: string | null;
  output: string | null;
  error: McpCallError | null;
  status: 'in_progress' | 'completed' | 'failed';
}

export interface OAuthConsentRequestItem {
  id: string;
  type: 'oauth_consent_request';
  created_by: Record<string, never>;
  consent_link: string;
  server_label?: string;
}

export type OutputItem =
  MessageItem | McpListToolsItem | McpApprovalRequestItem | McpCallItem | OAuthConsentRequestItem;

/** Items stored in a conversation: outputs plus what the client sent. */
export type ConversationItem = OutputItem | McpApprovalResponseItem;

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed' | 'cancelled';

export interface ResponseError {
  code: string;
  message: string;
}

export interface Usage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** The Response object of §5, with Foundry's top-level `agent_reference`. */
export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  completed_at: number | null;
  status: ResponseStatus;
  background: false;
  error: ResponseError | null;
  incomplete_details: null;
  instructions: null;
  metadata: Record<string, string>;
  model: string;
  agent_reference: AgentReference;
  conversation: { id: string } | null;
  previous_response_id: string | null;
  output: OutputItem[];
  parallel_tool_calls: true;
  store: true;
  temperature: number;
  top_p: number;
  text: { format: { type: 'text' } };
  tool_choice: 'auto';
  tools: [];
  truncation: 'disabled';
  usage: Usage | null;
}

/** A stream event before it gets its `sequence_number`. */
export type EventBody = { type: string } & Record<string, unknown>;
/** A stream event as written to the wire. */
export type StreamEvent = EventBody & { sequence_number: number };

/** The §7.1 error envelope. */
export interface ErrorEnvelope {
  error: {
    code: string;
    message: string;
    param: string | null;
    type: string;
    details: [];
    additionalInfo: { request_id: string };
  };
}

/** An HTTP error the routes return (status + §7.1 body fields; `headers` e.g. Retry-After). */
export interface HttpError {
  status: number;
  code: string;
  message: string;
  param?: string | null;
  type?: string;
  headers?: Record<string, string>;
}

export function errorEnvelope(e: HttpError, requestId: string): ErrorEnvelope {
  return {
    error: {
      code: e.code,
      message: e.message,
      param: e.param ?? null,
      type: e.type ?? 'invalid_request_error',
      details: [],
      additionalInfo: { request_id: requestId },
    },
  };
}

/** Rough token count for `usage` (4 characters a token). */
export const tokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));
