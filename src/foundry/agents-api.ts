import type { TokenCredential } from '@azure/identity';
import { BotError, type BotErrorCode } from '../errors';
import { FOUNDRY_SCOPE } from './types';

/**
 * A small REST client for the Foundry Agents API (agent definitions; api-version `v1`), the routes
 * `@azure/ai-projects` 2.x calls (`POST /agents/{name}/versions`, `GET /agents/{name}`,
 * `GET /agents/{name}/versions`). It exists because `@azure/ai-projects` ≥ 2.3 needs Node 22 and this project
 * still runs on Node 20 (docs/agent-setup.md). The bot never calls it at run time: `npm run agent:create` does,
 * and a doctor command can read an agent's tools with it.
 */

/** `require_approval` of an MCP tool: a string, or per-tool filters (docs/foundry-wire.md §6.4). */
type RequireApproval =
  'always' | 'never' | { always?: { tool_names?: string[] }; never?: { tool_names?: string[] } };

export interface McpToolDefinition {
  type: 'mcp';
  server_label: string;
  server_url?: string;
  require_approval?: RequireApproval;
  allowed_tools?: string[];
  /** A project connection, e.g. one with OAuth identity passthrough. */
  project_connection_id?: string;
}

export interface PromptAgentDefinition {
  kind: 'prompt';
  model: string;
  instructions?: string;
  tools?: (McpToolDefinition | { type: string; [k: string]: unknown })[];
}

export interface AgentVersion {
  object: 'agent.version';
  id: string;
  name: string;
  version: string;
  description?: string;
  created_at: number;
  metadata?: Record<string, string>;
  definition: PromptAgentDefinition | { kind: string; [k: string]: unknown };
}

export interface AgentObject {
  object: 'agent';
  id: string;
  name: string;
  versions: { latest: AgentVersion };
}

export interface AgentsApiOptions {
  /** `https://<resource>.services.ai.azure.com/api/projects/<project>`. */
  projectEndpoint: string;
  credential: TokenCredential;
  apiVersion?: string;
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
}

const CODE_BY_STATUS: Record<number, BotErrorCode> = {
  400: 'FOUNDRY_REJECTED',
  401: 'FOUNDRY_UNAUTHORIZED',
  403: 'FOUNDRY_FORBIDDEN',
  404: 'FOUNDRY_NOT_FOUND',
  409: 'FOUNDRY_REJECTED',
  429: 'FOUNDRY_RATE_LIMITED',
};

export class FoundryAgentsApi {
  private readonly base: string;
  private readonly apiVersion: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly o: AgentsApiOptions) {
    this.base = o.projectEndpoint.replace(/\/+$/, '');
    this.apiVersion = o.apiVersion ?? 'v1';
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.fetchImpl = o.fetchImpl ?? fetch;
  }

  /** Creates a new version of `name` (and the agent, if it does not exist yet). */
  createVersion(
    name: string,
    definition: PromptAgentDefinition,
    extra: { description?: string; metadata?: Record<string, string> } = {},
  ): Promise<AgentVersion> {
    return this.call<AgentVersion>('POST', `/agents/${encodeURIComponent(name)}/versions`, {
      definition,
      ...extra,
    });
  }

  getAgent(name: string): Promise<AgentObject> {
    return this.call<AgentObject>('GET', `/agents/${encodeURIComponent(name)}`);
  }

  /** Newest first. Only the first page (the service's default page size). */
  async listVersions(name: string): Promise<AgentVersion[]> {
    const page = await this.call<{ data: AgentVersion[] }>(
      'GET',
      `/agents/${encodeURIComponent(name)}/versions`,
    );
    return page.data;
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let token: string;
    try {
      const t = await this.o.credential.getToken(FOUNDRY_SCOPE);
      if (!t) throw new Error('the credential returned no token');
      token = t.token;
    } catch (cause) {
      throw new BotError('IDENTITY_UNAVAILABLE', `could not get a token for ${FOUNDRY_SCOPE}`, { cause });
    }
    const url = `${this.base}${path}?api-version=${encodeURIComponent(this.apiVersion)}`;
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (cause) {
      throw new BotError('FOUNDRY_UNAVAILABLE', `${method} ${path} failed: no response`, { cause });
    }
    const text = await res.text();
    if (!res.ok) {
      const err = parseError(text);
      throw new BotError(
        CODE_BY_STATUS[res.status] ?? 'FOUNDRY_UNAVAILABLE',
        `${method} ${path} → HTTP ${res.status}${err.code ? ` ${err.code}` : ''}${err.message ? `: ${err.message}` : ''}`,
        { details: { status: res.status, code: err.code, requestId: res.headers.get('x-request-id') } },
      );
    }
    return JSON.parse(text) as T;
  }
}

function parseError(text: string): { code: string | undefined; message: string | undefined } {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    return {
      code: typeof e?.code === 'string' ? e.code : undefined,
      message: typeof e?.message === 'string' ? e.message.slice(0, 300) : undefined,
    };
  } catch {
    return { code: undefined, message: undefined };
  }
}
