import { z } from 'zod';

/**
 * Zod schemas of the raw Responses stream events and output items (docs/foundry-wire.md §3, §4). Every
 * payload is untrusted and parsed at this edge (docs/conventions.md C6). All schemas are passthrough: Foundry adds
 * fields such as created_by / agent_reference / response_id (§4.3), and unknown fields are never an error.
 */

// ---------------------------------------------------------------------------------------------------------
// Stream events (§3)
// ---------------------------------------------------------------------------------------------------------

export const EventEnvelope = z
  .object({ type: z.string(), sequence_number: z.number().optional() })
  .passthrough();
export type EventEnvelope = z.infer<typeof EventEnvelope>;

export const ResponseSnapshot = z
  .object({
    id: z.string().min(1),
    status: z.string().nullish(),
    conversation: z.union([z.string(), z.object({ id: z.string() }).passthrough()]).nullish(),
    output: z.array(z.unknown()).nullish(),
    error: z.object({ code: z.string().nullish(), message: z.string().nullish() }).passthrough().nullish(),
    incomplete_details: z.object({ reason: z.string().nullish() }).passthrough().nullish(),
  })
  .passthrough();
export type ResponseSnapshot = z.infer<typeof ResponseSnapshot>;

export const WithResponse = z.object({ response: ResponseSnapshot }).passthrough();
export const WithItem = z
  .object({ item: z.object({ type: z.string() }).passthrough(), output_index: z.number().optional() })
  .passthrough();
export const TextDelta = z.object({ item_id: z.string(), delta: z.string() }).passthrough();
export const ItemRef = z.object({ item_id: z.string() }).passthrough();
export const AnnotationAdded = z.object({ item_id: z.string(), annotation: z.unknown() }).passthrough();
export const ErrorEvent = z.object({ code: z.string().nullish(), param: z.string().nullish() }).passthrough();
export const ConsentEvent = z
  .object({
    consent_link: z.string().min(1),
    server_label: z.string().nullish(),
    item_id: z.string().nullish(),
    id: z.string().nullish(),
  })
  .passthrough();

// ---------------------------------------------------------------------------------------------------------
// Annotations and message content parts (§4.1)
// ---------------------------------------------------------------------------------------------------------

const UrlCitation = z
  .object({
    type: z.literal('url_citation'),
    url: z.string(),
    title: z.string().nullish(),
    start_index: z.number().nullish(),
    end_index: z.number().nullish(),
  })
  .passthrough();
const FileCitation = z
  .object({
    type: z.literal('file_citation'),
    file_id: z.string(),
    filename: z.string().nullish(),
    index: z.number().nullish(),
  })
  .passthrough();
const ContainerFileCitation = z
  .object({
    type: z.literal('container_file_citation'),
    container_id: z.string().nullish(),
    file_id: z.string(),
    filename: z.string().nullish(),
    start_index: z.number().nullish(),
    end_index: z.number().nullish(),
  })
  .passthrough();
const FilePath = z
  .object({ type: z.literal('file_path'), file_id: z.string(), index: z.number().nullish() })
  .passthrough();
export const Annotation = z.discriminatedUnion('type', [
  UrlCitation,
  FileCitation,
  ContainerFileCitation,
  FilePath,
]);

export const OutputTextPart = z
  .object({ type: z.literal('output_text'), text: z.string(), annotations: z.array(z.unknown()).nullish() })
  .passthrough();
export const RefusalPart = z.object({ type: z.literal('refusal'), refusal: z.string() }).passthrough();

// ---------------------------------------------------------------------------------------------------------
// Output items (§4)
// ---------------------------------------------------------------------------------------------------------

export const MessageItem = z
  .object({
    type: z.literal('message'),
    id: z.string().nullish(),
    role: z.string().nullish(),
    content: z.array(z.unknown()).nullish(),
  })
  .passthrough();
export type MessageItem = z.infer<typeof MessageItem>;

export const McpListToolsItem = z
  .object({
    type: z.literal('mcp_list_tools'),
    id: z.string(),
    server_label: z.string().nullish(),
    error: z.unknown().optional(),
  })
  .passthrough();
export type McpListToolsItem = z.infer<typeof McpListToolsItem>;

/** `mcp_call` and every built-in or Foundry `*_call` item. */
export const ToolCallItem = z
  .object({
    type: z.string().regex(/_call$/),
    id: z.string(),
    server_label: z.string().nullish(),
    name: z.string().nullish(),
    status: z.string().nullish(),
    approval_request_id: z.string().nullish(),
    error: z.unknown().optional(),
  })
  .passthrough();
export type ToolCallItem = z.infer<typeof ToolCallItem>;

export const ApprovalRequestItem = z
  .object({
    type: z.literal('mcp_approval_request'),
    id: z.string().min(1),
    server_label: z.string().nullish(),
    name: z.string().nullish(),
    arguments: z.unknown().optional(),
  })
  .passthrough();
export type ApprovalRequestItem = z.infer<typeof ApprovalRequestItem>;

export const ConsentItem = z
  .object({
    type: z.literal('oauth_consent_request'),
    id: z.string().nullish(),
    consent_link: z.string().min(1),
    server_label: z.string().nullish(),
  })
  .passthrough();
export type ConsentItem = z.infer<typeof ConsentItem>;

/** The object forms of `mcp_call.error` / `mcp_list_tools.error` (§4.5). */
export const ToolErrorObject = z
  .object({
    type: z.string().nullish(),
    code: z.union([z.number(), z.string()]).nullish(),
    message: z.string().nullish(),
    content: z.unknown().optional(),
  })
  .passthrough();
