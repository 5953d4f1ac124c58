import { z } from 'zod';
import type { Exchange } from './exchange';
import { parseJson, readBody } from './http';
import type { TokenAuthority } from './identity';
import type { AgentDef } from './scenario';
import type { EmulatorState } from './state';
import type { HttpError } from './wire';
import { nowSec } from './wire';

/**
 * The Foundry Agents API (agent definitions, not runs) under `/api/projects/{project}`, as `@azure/ai-projects`
 * 2.x calls it (api-version `v1`): create a version, get an agent, list and get its versions, list agents,
 * delete an agent. `npm run agent:create` (scripts/agent-create.ts) writes through it; a doctor command can read
 * an agent's tools (`server_label`, `require_approval`, `project_connection_id`) back.
 *
 * Agents of the scenario (emulator/scenarios/*.json) are listed too, as a `prompt` definition synthesised from
 * their MCP servers (an `oauth_passthrough` server gets `project_connection_id` `<server_label>-oauth`), so the
 * agent the bot talks to is visible without creating it first. Created versions live in this instance only.
 */

const Label = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, - or _');
const ToolNames = z.union([
  z.array(z.string().min(1)),
  z.object({ tool_names: z.array(z.string().min(1)).optional(), read_only: z.boolean().optional() }).strict(),
]);
/** `"always"` | `"never"` | the filter object, in the typed and the docs' shorthand form (docs/foundry-wire.md §6.4). */
const RequireApproval = z.union([
  z.enum(['always', 'never']),
  z.object({ always: ToolNames.optional(), never: ToolNames.optional() }).strict(),
]);
const McpTool = z
  .object({
    type: z.literal('mcp'),
    server_label: Label,
    server_url: z.string().url().optional(),
    require_approval: RequireApproval.optional(),
    allowed_tools: z.array(z.string().min(1)).optional(),
    project_connection_id: z.string().min(1).optional(),
    headers: z.record(z.string()).optional(),
  })
  .strict()
  .refine((t) => t.server_url !== undefined || t.project_connection_id !== undefined, {
    message: 'an mcp tool needs server_url or project_connection_id',
    path: ['server_url'],
  });
const OtherTool = z
  .object({
    type: z
      .string()
      .min(1)
      .refine((t) => t !== 'mcp'),
  })
  .passthrough();
const PromptDefinition = z
  .object({
    kind: z.literal('prompt'),
    model: z.string().min(1),
    instructions: z.string().optional(),
    tools: z.array(z.union([McpTool, OtherTool])).optional(),
  })
  .passthrough();
const CreateVersionBody = z
  .object({
    definition: PromptDefinition,
    description: z.string().max(512).optional(),
    metadata: z.record(z.string().max(512)).optional(),
  })
  .strict();

const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;
/** `v1` (GA) or a dated preview; the service's exact answer to a missing or unknown version is not known [I]. */
const API_VERSION = /^(v1|\d{4}-\d{2}-\d{2}(-preview)?)$/;

export interface AgentVersionObject {
  object: 'agent.version';
  id: string;
  name: string;
  version: string;
  description: string;
  created_at: number;
  metadata: Record<string, string>;
  definition: z.infer<typeof PromptDefinition>;
  status: 'active';
}

const bad = (message: string, param: string | null, code = 'invalid_payload'): HttpError => ({
  status: 400,
  code,
  message,
  param,
});
const notFound = (message: string): HttpError => ({ status: 404, code: 'not_found', message, param: null });

/** A scenario agent as the Agents API would show it. */
function scenarioVersion(name: string, def: AgentDef): AgentVersionObject {
  return {
    object: 'agent.version',
    id: `${name}:${def.version}`,
    name,
    version: def.version,
    description: 'Scripted agent of the emulator scenario',
    created_at: 0,
    metadata: {},
    status: 'active',
    definition: {
      kind: 'prompt',
      model: def.model,
      tools: def.mcp.map((s) => ({
        type: 'mcp' as const,
        server_label: s.server_label,
        ...(s.server_url !== undefined ? { server_url: s.server_url } : {}),
        require_approval: s.require_approval,
        allowed_tools: s.tools.map((t) => t.name),
        ...(s.auth === 'oauth_passthrough' ? { project_connection_id: `${s.server_label}-oauth` } : {}),
      })),
    },
  };
}

export interface AgentsApiDeps {
  state: EmulatorState;
  authority: TokenAuthority;
}

export class AgentsApi {
  /** Versions created through the API, oldest first, per agent name. */
  private readonly created = new Map<string, AgentVersionObject[]>();

  constructor(private readonly d: AgentsApiDeps) {}

  reset(): void {
    this.created.clear();
  }

  /** Every version of an agent, oldest first: the scenario's (if any), then the created ones. */
  versions(name: string): AgentVersionObject[] {
    const def = this.d.state.scenario.agents[name];
    return [...(def ? [scenarioVersion(name, def)] : []), ...(this.created.get(name) ?? [])];
  }

  private agentObject(name: string): Record<string, unknown> | undefined {
    const all = this.versions(name);
    const latest = all[all.length - 1];
    return latest && { object: 'agent', id: name, name, versions: { latest } };
  }

  /** `rest` is the path below the project, starting with `/agents`. */
  async handle(x: Exchange, rest: string): Promise<void> {
    const method = x.req.method ?? 'GET';
    const body = method === 'POST' ? await readBody(x.req) : '';
    const auth = this.d.authority.verifyBearer(x.req.headers.authorization);
    if (!auth.ok)
      return x.error({ status: auth.status, code: auth.code, message: auth.message, param: null });
    if (x.entry) {
      x.entry.callerOid = auth.caller.oid;
      x.entry.callerTid = auth.caller.tid;
    }
    const apiVersion = x.url.searchParams.get('api-version');
    if (apiVersion === null || !API_VERSION.test(apiVersion))
      return x.error(
        bad(`Missing or unsupported api-version '${apiVersion ?? ''}'.`, 'api-version', 'BadRequest'),
      );

    const [, collection, name, sub, version, more] = rest.split('/');
    if (collection !== 'agents' || more !== undefined)
      return x.error(notFound(`No route for ${method} ${x.url.pathname}`));
    if (name === undefined || name === '') {
      if (method !== 'GET') return x.error(notFound(`No route for ${method} ${x.url.pathname}`));
      const names = new Set([...Object.keys(this.d.state.scenario.agents), ...this.created.keys()]);
      return x.json(200, listOf([...names].map((n) => this.agentObject(n)).filter((a) => a !== undefined)));
    }
    if (!AGENT_NAME.test(name)) return x.error(bad(`Invalid agent name '${name}'.`, 'agent_name'));
    if (sub === undefined) {
      if (method === 'GET') return this.getAgent(x, name);
      if (method === 'DELETE') return this.deleteAgent(x, name);
    } else if (sub === 'versions') {
      if (method === 'POST' && version === undefined) return this.createVersion(x, name, body);
      if (method === 'GET' && version === undefined) return this.listVersions(x, name);
      if (method === 'GET' && version !== undefined) return this.getVersion(x, name, version);
    }
    return x.error(notFound(`No route for ${method} ${x.url.pathname}`));
  }

  private getAgent(x: Exchange, name: string): void {
    const agent = this.agentObject(name);
    return agent ? x.json(200, agent) : x.error(notFound(`Agent '${name}' not found.`));
  }

  private deleteAgent(x: Exchange, name: string): void {
    if (!this.created.has(name)) return x.error(notFound(`Agent '${name}' not found.`));
    this.created.delete(name);
    return x.json(200, { object: 'agent.deleted', name, deleted: true });
  }

  private listVersions(x: Exchange, name: string): void {
    const all = this.versions(name);
    if (all.length === 0) return x.error(notFound(`Agent '${name}' not found.`));
    const order = x.url.searchParams.get('order') === 'asc' ? 'asc' : 'desc';
    return x.json(200, listOf(order === 'asc' ? all : [...all].reverse()));
  }

  private getVersion(x: Exchange, name: string, version: string): void {
    const v = this.versions(name).find((a) => a.version === version);
    return v ? x.json(200, v) : x.error(notFound(`Version '${version}' not found for agent '${name}'.`));
  }

  private createVersion(x: Exchange, name: string, text: string): void {
    const parsed = parseJson(text);
    if (!parsed.ok) return x.error(bad('The request body is not valid JSON.', null));
    const p = CreateVersionBody.safeParse(parsed.value);
    if (!p.success) {
      const i = p.error.issues[0];
      return x.error(
        bad(i ? `${i.path.join('.')}: ${i.message}` : 'invalid body', i ? i.path.join('.') : null),
      );
    }
    const labels = (p.data.definition.tools ?? []).flatMap((t) =>
      'server_label' in t ? [t.server_label] : [],
    );
    if (new Set(labels).size !== labels.length)
      return x.error(bad('Each mcp tool needs a distinct server_label.', 'definition.tools'));
    const all = this.versions(name);
    const next = all.reduce((m, v) => Math.max(m, Number(v.version) || 0), 0) + 1;
    const created: AgentVersionObject = {
      object: 'agent.version',
      id: `${name}:${next}`,
      name,
      version: String(next),
      description: p.data.description ?? '',
      created_at: nowSec(),
      metadata: p.data.metadata ?? {},
      definition: p.data.definition,
      status: 'active',
    };
    this.created.set(name, [...(this.created.get(name) ?? []), created]);
    return x.json(200, created);
  }
}

function listOf<T extends { id?: unknown }>(data: T[]): Record<string, unknown> {
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
    has_more: false,
  };
}
