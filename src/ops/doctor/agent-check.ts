import type { Config } from '../../config/config';
import { isBotError } from '../../errors';
import type { AgentVersion, FoundryAgentsApi, McpToolDefinition } from '../../foundry/agents-api';
import { fail, info, pass, warn, type Finding, type TokenIdentity } from './report';

/**
 * Check 3: the agent exists (name, and the pinned version), read through the Foundry Agents API with the
 * configured credential (src/foundry/agents-api.ts, the REST path `@azure/ai-projects` uses), and its MCP tools:
 * server label, `require_approval` (foundry-wire.md §6.4: `always` is the default) and project connection.
 */

const CHECK = 'agent';

/** The MCP tools of an agent version, as the Agents API shows them. */
function mcpToolsOf(v: AgentVersion): McpToolDefinition[] {
  const tools = (v.definition as { tools?: { type: string }[] }).tools ?? [];
  return tools.filter((t): t is McpToolDefinition => t.type === 'mcp');
}

/** Which tools of a server stop for approval: `all` (always, or unset), a list, or none. */
function approvalNeeded(t: McpToolDefinition): 'all' | string[] | 'none' {
  const r = t.require_approval;
  if (r === undefined || r === 'always') return 'all';
  if (r === 'never') return 'none';
  const always = r.always?.tool_names ?? (Array.isArray(r.always) ? (r.always as string[]) : []);
  const never = r.never?.tool_names ?? (Array.isArray(r.never) ? (r.never as string[]) : []);
  if (always.length > 0) return always;
  // A filter that names only `never` tools: any other tool of the server still needs approval.
  const others = (t.allowed_tools ?? []).filter((n) => !never.includes(n));
  return others.length > 0 ? others : never.length > 0 ? 'none' : 'all';
}

function toolFindings(config: Config, tools: readonly McpToolDefinition[]): Finding[] {
  const out: Finding[] = [];
  for (const t of tools) {
    const where = t.project_connection_id ? `connection ${t.project_connection_id}` : 'no project connection';
    const need = approvalNeeded(t);
    const policy = JSON.stringify(t.require_approval ?? 'always (default)');
    out.push(info(CHECK, `MCP tool ${t.server_label}: ${where}, require_approval ${policy}`));
    if (need !== 'none')
      out.push(
        warn(
          CHECK,
          'tool.approval_required',
          need === 'all'
            ? `every call of ${t.server_label} stops for approval (require_approval is "always", the default when unset)`
            : `calls of ${t.server_label} ${need.join(', ')} stop for approval`,
          `If those calls are safe without review, set require_approval to "never" (or name them under "never") on the agent's tool; otherwise ${config.policy.approvers.length > 0 ? 'the APPROVERS' : 'users'} answer the approval card in Teams.`,
        ),
      );
    if (
      t.project_connection_id &&
      config.foundry.auth === 'app' &&
      config.policy.sharedConsentAdmins.length === 0
    )
      out.push(
        warn(
          CHECK,
          'consent.no_admins',
          `${t.server_label} uses connection ${t.project_connection_id}; if it is OAuth identity passthrough, a shared sign-in is needed and no one may complete it`,
          'Set SHARED_CONSENT_ADMINS to the Entra object ids of the admins who may sign in once for everyone (app mode), or use FOUNDRY_AUTH=user.',
        ),
      );
  }
  return out;
}

function accessFailure(config: Config, err: unknown, who: TokenIdentity | undefined): Finding {
  const name = config.foundry.agentName;
  const oid = who?.oid ?? 'the identity';
  const grant = `Assign Azure AI User on the Foundry project to object id ${oid} (for FOUNDRY_AUTH=user: to every user, e.g. through a group).`;
  if (isBotError(err, 'FOUNDRY_FORBIDDEN'))
    return err.details['code'] === 'PermissionDenied'
      ? fail(
          CHECK,
          'foundry.role_missing',
          `Foundry refused ${oid} (403 PermissionDenied): no role on the project`,
          grant,
        )
      : fail(
          CHECK,
          'foundry.forbidden',
          `Foundry refused ${oid} (403): a role is missing or the identity's tenant ${who?.tid ?? ''} is not the project's`,
          `${grant} The identity must belong to the project's tenant: cross-tenant access is not supported.`,
        );
  if (isBotError(err, 'FOUNDRY_UNAUTHORIZED'))
    return fail(
      CHECK,
      'foundry.unauthorized',
      'Foundry rejected the token (401): not a token for this project (audience, tenant or cloud)',
      'Check that FOUNDRY_PROJECT_ENDPOINT is the project endpoint (https://<resource>.services.ai.azure.com/api/projects/<project>) and AZURE_TENANT_ID is the project tenant.',
    );
  if (isBotError(err, 'FOUNDRY_NOT_FOUND'))
    return fail(
      CHECK,
      'agent.not_found',
      `agent "${name}" not found in the project`,
      'Set FOUNDRY_AGENT_NAME to the agent name shown in the Foundry portal (not its id or display name), and check FOUNDRY_PROJECT_ENDPOINT names the project that holds it.',
    );
  return fail(
    CHECK,
    'foundry.unreachable',
    `the Agents API did not answer (${isBotError(err) ? err.code : 'network error'})`,
    'Check FOUNDRY_PROJECT_ENDPOINT and that this host can reach it (private endpoint, firewall, DNS).',
  );
}

/** Runs check 3. */
export async function checkAgent(
  config: Config,
  api: FoundryAgentsApi,
  who: TokenIdentity | undefined,
): Promise<Finding[]> {
  const { agentName: name, agentVersion: pinned, projectEndpoint } = config.foundry;
  const out: Finding[] = [];
  if (!/\/api\/projects\/[^/]+$/.test(projectEndpoint))
    out.push(
      warn(
        CHECK,
        'foundry.endpoint_format',
        'FOUNDRY_PROJECT_ENDPOINT does not end in /api/projects/<project>',
        'Copy the project endpoint from the Foundry portal (project overview), e.g. https://<resource>.services.ai.azure.com/api/projects/<project>.',
      ),
    );
  let version: AgentVersion;
  try {
    const agent = await api.getAgent(name);
    version = agent.versions.latest;
    if (pinned !== undefined && pinned !== version.version) {
      const found = (await api.listVersions(name)).find((v) => v.version === pinned);
      if (!found)
        return [
          ...out,
          fail(
            CHECK,
            'agent.version_not_found',
            `agent "${name}" has no version ${pinned} (latest is ${version.version})`,
            'Set FOUNDRY_AGENT_VERSION to an existing version, or leave it empty to use the latest.',
          ),
        ];
      version = found;
    }
  } catch (err) {
    return [...out, accessFailure(config, err, who)];
  }
  const tools = mcpToolsOf(version);
  out.push(
    pass(
      CHECK,
      `agent "${name}" version ${version.version}${pinned === undefined ? ' (latest)' : ' (pinned)'}, ${tools.length} MCP tool(s)`,
    ),
  );
  return [...out, ...toolFindings(config, tools)];
}
