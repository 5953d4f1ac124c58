import type { Config } from '../../config/config';
import type { BotError } from '../../errors';
import type { ToolCall, TurnOutcome } from '../../foundry/types';
import { fail, info, pass, warn, type Finding } from './report';

/**
 * What validate concludes from the turns it ran (issue 13): the troubleshooting rows of the Foundry MCP
 * authentication docs that only show when a tool is really called. Classified by the tool error's HTTP code
 * and by what happened earlier in the run (a consent, an earlier successful call), never by message text.
 */

const CHECK = 'validate';

/** What the run has seen so far, per MCP server label. */
export interface RunMemory {
  consentedLabels: Set<string>;
  completedLabels: Set<string>;
}

function toolFailure(call: ToolCall, memory: RunMemory): Finding {
  const label = call.serverLabel ?? call.name ?? 'the tool';
  const code = call.error?.code;
  const after = memory.consentedLabels.has(label);
  if (code === 401 && memory.completedLabels.has(label))
    return fail(
      CHECK,
      'oauth.token_stopped',
      `${label}: the first call worked, the next one got 401 (the OAuth token stopped refreshing)`,
      'Consent again (a refresh token was revoked or expired) and check the OAuth connection grants offline access / refresh tokens; a known service issue returns 401 once the provider token expires.',
    );
  if (code === 403 || (code === 401 && after))
    return after
      ? fail(
          CHECK,
          'tool.denied_after_consent',
          `${label}: consent completed, but the tool call failed (${code}): the signed-in user lacks access`,
          `Give the user access in the service behind ${label} and the Azure AI User role on the Foundry project, then run validate again.`,
        )
      : fail(
          CHECK,
          'tool.entra_forbidden',
          `${label}: the MCP server refused the call (403): the identity it sees has no role there (Microsoft Entra auth)`,
          `Assign the role the service behind ${label} needs to the agent identity or the project managed identity (whichever the connection uses).`,
        );
  if (code === 401)
    return fail(
      CHECK,
      'tool.unauthorized',
      `${label}: the MCP server answered 401 unauthorized: the key is wrong or expired, or the header name or format is not what the server expects`,
      'In the project connection, re-enter (or regenerate) the key and use the header the server documents (e.g. "Authorization: Bearer <key>" rather than "x-api-key").',
    );
  return fail(
    CHECK,
    'tool.failed',
    `${label}${call.name ? `.${call.name}` : ''}: the tool call failed (${call.error?.kind ?? 'no error detail'}${code !== undefined ? ` ${code}` : ''})`,
    'Check the MCP server is reachable from Foundry and its connection settings; the tool call must finish within 100 s.',
  );
}

/** Findings for the tool calls of one outcome; remembers completed servers. */
export function toolFindings(outcome: TurnOutcome, memory: RunMemory, step: string): Finding[] {
  // Tool calls only: `mcp_list_tools` items are listed too but are not calls.
  const calls = outcome.toolCalls.filter(
    (c) => c.itemType !== 'mcp_list_tools' && (c.status === 'completed' || c.status === 'failed'),
  );
  const out: Finding[] = [];
  for (const c of calls) {
    const label = c.serverLabel ?? c.name ?? c.itemType;
    if (c.status === 'completed') {
      out.push(pass(CHECK, `${step}: tool ${label}${c.name ? `.${c.name}` : ''} was called and completed`));
      memory.completedLabels.add(label);
    } else out.push(toolFailure(c, memory));
  }
  return out;
}

export const approvalFinding = (outcome: TurnOutcome, approve: boolean): Finding =>
  warn(
    CHECK,
    'tool.approval_required',
    `mcp_approval_request for ${outcome.approvals.map((a) => `${a.serverLabel}.${a.toolName}`).join(', ')} (answered: ${approve ? 'approve' : 'deny'})`,
    'Tool calls stop for approval because require_approval is "always" (the default): set it to "never" (or name the safe tools under "never") on the agent, or approve in Teams; rerun with --approve to let validate approve.',
  );

export const noToolFinding = (): Finding =>
  warn(
    CHECK,
    'tool.not_called',
    'the prompt ran without any tool call',
    'Use a prompt that needs the tool (name the task the tool does), or check the tool is attached to the agent version the bot uses.',
  );

export const notRequestedFinding = (): Finding =>
  fail(
    CHECK,
    'consent.not_requested',
    'no oauth_consent_request came back although --expect-consent was given',
    "Check the tool's project connection uses OAuth identity passthrough, the prompt triggers that tool, and this identity has not consented already (consent is per user, connection and project).",
  );

export const repeatedConsentFinding = (): Finding =>
  fail(
    CHECK,
    'consent.repeated',
    'the call after a completed consent asked for consent again',
    'Check the OAuth app of the connection (redirect URL registered, scopes granted); consents are stored per user, connection and project, so the same identity must be used.',
  );

export const timeoutFinding = (seconds: number): Finding =>
  fail(
    CHECK,
    'consent.not_completed',
    `the consent was not completed within ${seconds} s`,
    'Open the printed link in a browser signed in as the identity above, choose Allow, and run validate again (raise --wait-seconds if needed).',
  );

/** A Foundry error during validate: points at the doctor's finding for the same cause. */
export function foundryErrorFinding(err: BotError): Finding {
  return fail(
    CHECK,
    `foundry.${err.code.toLowerCase()}`,
    `Foundry answered ${err.code}${typeof err.details['status'] === 'number' ? ` (HTTP ${err.details['status']})` : ''}`,
    'Run `npm run doctor` (without --validate): its foundry-token and agent lines name the cause and the fix.',
  );
}

/** User mode: validate cannot act as a Teams user; the steps to follow in Teams with two users. */
export function userModeSteps(config: Config, prompt: string): Finding[] {
  const agent = config.foundry.agentName;
  return [
    info(
      CHECK,
      'FOUNDRY_AUTH=user: Foundry sees each Teams user, so validate cannot send the prompt for them.',
    ),
    info(
      CHECK,
      `Step 1: in Teams, user A (in tenant ${config.sso.tenantId ?? '?'}, with Azure AI User) sends "${prompt}" to the bot in a 1:1 chat.`,
    ),
    info(
      CHECK,
      'Step 2: the bot asks A to sign in (SSO) once, then shows a sign-in card for the tool: A opens it, signs in and chooses Allow, then clicks "I\'ve signed in".',
    ),
    info(
      CHECK,
      `Step 3: the answer shows the tool result; A sends "${prompt}" again: no sign-in card this time.`,
    ),
    info(
      CHECK,
      `Step 4: user B (another account of the same tenant, with Azure AI User) sends "${prompt}": B must get B's own sign-in card (consent is per user), not A's result.`,
    ),
    info(
      CHECK,
      `Step 5: after B allows, B's answer shows B's data; in a group chat, B's turn must never reuse A's sign-in (agent ${agent}).`,
    ),
  ];
}
