import { z } from 'zod';
import { BotError } from '../errors';
import type { Config } from './config';

/**
 * Configuration of `npm run agent:create` (scripts/agent-create.ts), read here because src/config is the one
 * reader of process.env (docs/conventions.md C8). It shares the bot's Foundry keys and their meaning
 * (FOUNDRY_PROJECT_ENDPOINT, FOUNDRY_AGENT_NAME, FOUNDRY_CREDENTIAL, AZURE_*), so the same env file or app
 * settings work for both; the bot-only rules (BOT_ID, storage) do not apply to a one-off admin script.
 * docs/agent-setup.md lists the keys.
 */

const emptyToUndefined = (v: unknown): unknown => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const opt = <T extends z.ZodTypeAny>(t: T) => z.preprocess(emptyToUndefined, t.optional());
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/i;
const url = z
  .string()
  .url('must be a URL')
  .refine((u) => u.startsWith('https://') || LOOPBACK.test(u), 'must use https (http only on loopback)')
  .transform((u) => u.replace(/\/+$/, ''));
const label = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, - or _');

const AgentSetupEnv = z.object({
  FOUNDRY_PROJECT_ENDPOINT: z.preprocess(emptyToUndefined, url),
  FOUNDRY_AGENT_NAME: z.preprocess(
    emptyToUndefined,
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/, 'must be 1-63 letters, digits or -'),
  ),
  FOUNDRY_CREDENTIAL: z.preprocess(
    emptyToUndefined,
    z
      .enum(['default', 'managed_identity', 'workload_identity', 'client_secret', 'azure_cli'])
      .default('default'),
  ),
  AZURE_CLIENT_ID: opt(z.string()),
  AZURE_TENANT_ID: opt(z.string()),
  AZURE_CLIENT_SECRET: opt(z.string()),
  AZURE_AUTHORITY_HOST: opt(url),
  /** The model deployment of the project the prompt agent uses. */
  AGENT_MODEL_DEPLOYMENT: z.preprocess(emptyToUndefined, z.string().min(1)),
  AGENT_INSTRUCTIONS: opt(z.string().max(32_000)),
  /** MCP server whose tool calls need approval in Teams (default: Microsoft Learn's public MCP server). */
  AGENT_APPROVAL_MCP_URL: z.preprocess(emptyToUndefined, url.default('https://learn.microsoft.com/api/mcp')),
  AGENT_APPROVAL_MCP_LABEL: z.preprocess(emptyToUndefined, label.default('mslearn')),
  /** Project connection (OAuth identity passthrough) of the second MCP server; unset = no such tool. */
  AGENT_OAUTH_MCP_CONNECTION_ID: opt(z.string().min(1)),
  AGENT_OAUTH_MCP_URL: opt(url),
  AGENT_OAUTH_MCP_LABEL: z.preprocess(emptyToUndefined, label.default('github')),
  FOUNDRY_AGENTS_API_VERSION: z.preprocess(emptyToUndefined, z.string().min(1).default('v1')),
});

export interface AgentSetupConfig {
  /** What `createAppCredential` needs (the bot's own credential choice). */
  readonly foundry: Config['foundry'];
  readonly apiVersion: string;
  readonly model: string;
  readonly instructions: string | undefined;
  readonly approvalServer: { readonly label: string; readonly url: string };
  readonly oauthServer:
    { readonly label: string; readonly connectionId: string; readonly url: string | undefined } | undefined;
}

/**
 * Validates the settings: `fileValues` (a Toolkit env file, `--env <name>`) overlaid by the environment, so a
 * secret can stay in the shell. A bad key stops the script with its name and reason, never its value.
 */
export function loadAgentSetupConfig(
  fileValues: ReadonlyMap<string, string> = new Map(),
  env: Readonly<Record<string, string | undefined>> = process.env,
): AgentSetupConfig {
  const merged: Record<string, string | undefined> = Object.fromEntries(fileValues);
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v.trim() !== '') merged[k] = v;
  const r = AgentSetupEnv.safeParse(merged);
  if (!r.success) {
    const problems = r.error.issues.map(
      (i) =>
        `${i.path.join('.')} ${i.code === 'invalid_type' && i.received === 'undefined' ? 'is required' : i.message}`,
    );
    throw new BotError('CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`, {
      details: { keys: r.error.issues.map((i) => i.path.join('.')) },
    });
  }
  const e = r.data;
  if (
    e.FOUNDRY_CREDENTIAL === 'client_secret' &&
    (!e.AZURE_CLIENT_ID || !e.AZURE_TENANT_ID || !e.AZURE_CLIENT_SECRET)
  )
    throw new BotError(
      'CONFIG_INVALID',
      'invalid configuration: FOUNDRY_CREDENTIAL=client_secret needs AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET',
      { details: { keys: ['AZURE_CLIENT_SECRET'] } },
    );
  return {
    foundry: {
      projectEndpoint: e.FOUNDRY_PROJECT_ENDPOINT,
      agentName: e.FOUNDRY_AGENT_NAME,
      agentVersion: undefined,
      threading: 'previous_response',
      auth: 'app',
      credential: e.FOUNDRY_CREDENTIAL,
      azureClientId: e.AZURE_CLIENT_ID,
      azureTenantId: e.AZURE_TENANT_ID,
      azureClientSecret: e.AZURE_CLIENT_SECRET,
      authorityHost: e.AZURE_AUTHORITY_HOST,
      timeoutMs: 30_000,
      idleTimeoutMs: 30_000,
      maxRetries: 0,
      // agent:create sends one request and reports what came back; it never waits out a busy project.
      busyRetries: 0,
      busyRetryDelayMs: 0,
    },
    apiVersion: e.FOUNDRY_AGENTS_API_VERSION,
    model: e.AGENT_MODEL_DEPLOYMENT,
    instructions: e.AGENT_INSTRUCTIONS,
    approvalServer: { label: e.AGENT_APPROVAL_MCP_LABEL, url: e.AGENT_APPROVAL_MCP_URL },
    oauthServer:
      e.AGENT_OAUTH_MCP_CONNECTION_ID === undefined
        ? undefined
        : {
            label: e.AGENT_OAUTH_MCP_LABEL,
            connectionId: e.AGENT_OAUTH_MCP_CONNECTION_ID,
            url: e.AGENT_OAUTH_MCP_URL,
          },
  };
}
