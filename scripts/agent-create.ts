import type { TokenCredential } from '@azure/identity';
import { join } from 'node:path';
import { loadAgentSetupConfig, type AgentSetupConfig } from '../src/config/agent-setup';
import { BotError } from '../src/errors';
import {
  FoundryAgentsApi,
  type AgentVersion,
  type McpToolDefinition,
  type PromptAgentDefinition,
} from '../src/foundry/agents-api';
import { createAppCredential } from '../src/foundry/credentials';
import { loadEnv } from './package-app';

/**
 * `npm run agent:create [-- --env <name>] [-- --dry-run]`: creates a new version of the prompt agent this bot
 * talks to (FOUNDRY_AGENT_NAME) in the Foundry project (FOUNDRY_PROJECT_ENDPOINT), with the two kinds of MCP
 * tool the bot has cards for (docs/agent-setup.md):
 *   1. an MCP server whose every call needs approval (`require_approval: "always"`; default Microsoft Learn's
 *      public MCP server) → the approval card;
 *   2. if AGENT_OAUTH_MCP_CONNECTION_ID is set, an MCP server behind a project connection with OAuth identity
 *      passthrough (`project_connection_id`; no approval) → the per-user sign-in (consent) card.
 * REST, not `@azure/ai-projects`: its 2.3+ releases need Node 22. It authenticates with the credential the bot
 * would use (FOUNDRY_CREDENTIAL, default DefaultAzureCredential, e.g. `az login`).
 */

const ROOT = join(__dirname, '..', '..');

export const DEFAULT_INSTRUCTIONS =
  'You are the help desk assistant of our organization, used from Microsoft Teams. Answer briefly. ' +
  'Use the documentation tool for product questions and cite the pages you used. ' +
  "Use the GitHub tool for the user's issues; it acts as the signed-in user.";

/** The agent definition the script sends. */
export function sampleDefinition(cfg: AgentSetupConfig): PromptAgentDefinition {
  const tools: McpToolDefinition[] = [
    {
      type: 'mcp',
      server_label: cfg.approvalServer.label,
      server_url: cfg.approvalServer.url,
      require_approval: 'always',
    },
  ];
  if (cfg.oauthServer) {
    tools.push({
      type: 'mcp',
      server_label: cfg.oauthServer.label,
      ...(cfg.oauthServer.url !== undefined ? { server_url: cfg.oauthServer.url } : {}),
      project_connection_id: cfg.oauthServer.connectionId,
      require_approval: 'never',
    });
  }
  return { kind: 'prompt', model: cfg.model, instructions: cfg.instructions ?? DEFAULT_INSTRUCTIONS, tools };
}

/** One line per MCP tool: label, URL or connection, approval policy. */
export function describeTools(v: AgentVersion): string[] {
  const tools = (v.definition as PromptAgentDefinition).tools ?? [];
  return tools.map((t) => {
    if (t.type !== 'mcp') return `  - ${t.type}`;
    const m = t as McpToolDefinition;
    const where = m.project_connection_id ? `connection ${m.project_connection_id}` : (m.server_url ?? '?');
    return `  - mcp ${m.server_label} (${where}), require_approval: ${JSON.stringify(m.require_approval ?? 'always')}`;
  });
}

export interface AgentCreateDeps {
  /** Settings from the shell (and the env file); default process.env via src/config. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Overrides the configured credential (tests). */
  credential?: TokenCredential;
  root?: string;
  say?: (line: string) => void;
}

interface Args {
  env: string | undefined;
  dryRun: boolean;
  help: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const out: Args = { env: undefined, dryRun: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--dry-run') out.dryRun = true;
    else if (a === '--help' || a === '-h') out.help = true;
    else if (a === '--env') out.env = argv[++i];
    else if (a.startsWith('--env=')) out.env = a.slice('--env='.length);
    else throw new BotError('CONFIG_INVALID', `unknown argument "${a}" (expected --env NAME, --dry-run)`);
  }
  return out;
}

/** Runs the command; returns the exit code. Errors are printed without secrets (BotError messages). */
export async function main(argv: readonly string[], deps: AgentCreateDeps = {}): Promise<number> {
  const say = deps.say ?? ((l: string): void => void process.stdout.write(`${l}\n`));
  try {
    const args = parseArgs(argv);
    if (args.help) {
      say('usage: npm run agent:create [-- --env <name>] [-- --dry-run]   (see docs/agent-setup.md)');
      return 0;
    }
    const files = args.env !== undefined ? loadEnv(deps.root ?? ROOT, 'env', args.env) : undefined;
    const cfg = loadAgentSetupConfig(files?.vars, deps.env);
    const definition = sampleDefinition(cfg);
    const name = cfg.foundry.agentName;
    const where = `${cfg.foundry.projectEndpoint}/agents/${name}/versions?api-version=${cfg.apiVersion}`;
    if (!cfg.oauthServer)
      say('note: AGENT_OAUTH_MCP_CONNECTION_ID is not set, so the OAuth (sign-in) tool is left out.');
    if (args.dryRun) {
      say(`POST ${where}`);
      say(JSON.stringify({ definition }, null, 2));
      return 0;
    }
    const api = new FoundryAgentsApi({
      projectEndpoint: cfg.foundry.projectEndpoint,
      credential: deps.credential ?? createAppCredential(cfg.foundry),
      apiVersion: cfg.apiVersion,
    });
    const created = await api.createVersion(name, definition, {
      description: 'Foundry Agent for Microsoft Teams (created by npm run agent:create)',
      metadata: { created_by: 'foundry-teams-relay agent:create' },
    });
    const agent = await api.getAgent(name);
    say(
      `created ${created.name} version ${created.version} (${created.id}); latest is ${agent.versions.latest.version}`,
    );
    for (const line of describeTools(created)) say(line);
    say(
      `The bot uses the latest version of FOUNDRY_AGENT_NAME=${name} (pin one with FOUNDRY_AGENT_VERSION).`,
    );
    return 0;
  } catch (err) {
    say(`agent:create: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    () => process.exit(1),
  );
}
