import { z } from 'zod';

/**
 * Behaviour switches, mostly the alternatives of docs/foundry-wire.md §11 that the client must survive.
 * They are layered: built-in defaults < scenario `settings` < EmulatorOptions < rule `settings` < an
 * `override` fault for the next N requests (faults.ts).
 */
export const SettingsSchema = z
  .object({
    /** §11.1: terminal event of a consent turn. */
    consentTerminal: z.enum(['incomplete', 'completed']),
    /**
     * How a consent request reaches the client (§3.2, §6.2, §11.2):
     * `item` = an `oauth_consent_request` output item; `event` = only the top-level
     * `response.oauth_consent_requested` event; `item_and_event` = both; `approval_arguments` = an
     * `mcp_approval_request` whose arguments carry `consent_url` (the older hosted-toolbox shape).
     */
    consentDelivery: z.enum(['item', 'event', 'item_and_event', 'approval_arguments']),
    /** §11.3: whether `oauth_consent_request` carries `server_label`. */
    consentServerLabel: z.boolean(),
    /** §11.5: the type of `mcp_call.error` (declined consent). */
    mcpCallErrorForm: z.enum(['string', 'tool_execution_error', 'http_error']),
    /** S22: after consent is granted, ask once more before the tool runs. */
    repeatConsentAfterGrant: z.boolean(),
    /** Base of consent links; default the emulator's publicBaseUrl. May be an https URL (see README). */
    consentLinkBase: z.string().url(),
    /** `emulator` → `<base>/__emulator/consent/<token>`; `apihub` → `<base>/login?data=<token>` (looks like §4.6). */
    consentLinkStyle: z.enum(['emulator', 'apihub']),
    /** Send `data: [DONE]` at the end of every stream (off by default, §8.1). */
    doneSentinel: z.boolean(),
    /** §8.2 item 3 (text is [U]); `{name}` and `{version}` are replaced. */
    unknownAgentMessage: z.string(),
    unknownVersionMessage: z.string(),
    /**
     * §8.2 item 9 (status and code are [U] for Foundry). Default: OpenAI's 400 `conversation_locked`, "Another
     * process is currently operating on this conversation. Please retry in a few seconds." (docs/real-services.md).
     */
    conversationLockedStatus: z.union([z.literal(409), z.literal(400)]),
    conversationLockedCode: z.string(),
    /**
     * Whether the 404s for an unknown agent / conversation name the field in `param` (default true). Off: both
     * come without `param`, the shape the client must survive when Foundry's bodies differ ([U], §7.2).
     */
    notFoundParam: z.boolean(),
    /**
     * Silence in ms between `response.mcp_call.in_progress` and the rest of every MCP call (a slow tool; Foundry
     * allows ~100 s). A tool's or a call's `silent_ms` in the scenario wins. Default 0.
     */
    toolSilentMs: z.number().int().nonnegative(),
    /**
     * A rule whose calls need consent on one server and approval on another answers with both the
     * `oauth_consent_request` and the `mcp_approval_request`s in one response (default false: consent only).
     */
    consentWithApprovals: z.boolean(),
    /** §11.9: `required` (default) = every request needs agent_reference; `optional` = continuations may omit it. */
    agentReferenceOnContinuation: z.enum(['required', 'optional']),
    /** Default text after a declined consent; `{server_label}` is replaced. */
    declinedConsentText: z.string(),
  })
  .strict();

export type Settings = z.infer<typeof SettingsSchema>;
export const PartialSettingsSchema = SettingsSchema.partial().strict();
export type PartialSettings = z.infer<typeof PartialSettingsSchema>;

export const DEFAULT_SETTINGS: Readonly<Omit<Settings, 'consentLinkBase'>> = Object.freeze({
  consentTerminal: 'incomplete',
  consentDelivery: 'item',
  consentServerLabel: true,
  mcpCallErrorForm: 'string',
  repeatConsentAfterGrant: false,
  consentLinkStyle: 'emulator',
  doneSentinel: false,
  unknownAgentMessage: "Agent '{name}' not found.",
  unknownVersionMessage: "Version '{version}' not found for agent '{name}'.",
  conversationLockedStatus: 400,
  conversationLockedCode: 'conversation_locked',
  notFoundParam: true,
  toolSilentMs: 0,
  consentWithApprovals: false,
  agentReferenceOnContinuation: 'required',
  declinedConsentText: "I couldn't use {server_label}: access was not granted. Sign in again to use it.",
});

/** Merge layers left to right; later layers win, `undefined` never overwrites. */
export function mergeSettings(base: Settings, ...layers: (PartialSettings | undefined)[]): Settings {
  const out: Settings = { ...base };
  for (const layer of layers) {
    if (layer === undefined) continue;
    for (const [k, v] of Object.entries(layer)) {
      if (v !== undefined) Object.assign(out, { [k]: v });
    }
  }
  return out;
}
