import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { FaultSchema } from './faults';
import { PartialSettingsSchema } from './settings';

/**
 * The scripted-agent scenario (docs/foundry-wire.md §8.3), validated with zod. A scenario names agents; each
 * agent has MCP servers (with tools and an approval policy) and ordered rules matched against the latest
 * user text. See emulator/README.md for the format and emulator/scenarios/default.json for an example.
 */

const ToolName = z.string().min(1);
/** `require_approval` filters: the docs shorthand `{always:[…]}` and the typed `{always:{tool_names:[…]}}` (§6.4). */
const ToolFilter = z.union([
  z.array(ToolName),
  z.object({ tool_names: z.array(ToolName).default([]), read_only: z.boolean().optional() }).strict(),
]);
const RequireApproval = z.union([
  z.enum(['always', 'never']),
  z.object({ always: ToolFilter.optional(), never: ToolFilter.optional() }).strict(),
]);

const JsonValue: z.ZodType<unknown> = z.unknown();

const ToolSchema = z
  .object({
    name: ToolName,
    description: z.string().default(''),
    input_schema: z.record(JsonValue).default({ type: 'object', properties: {} }),
    read_only: z.boolean().default(false),
    /** Canned tool result; objects are JSON-encoded. `{arg}` placeholders take call arguments. */
    output: z.union([z.string(), z.record(JsonValue), z.array(JsonValue)]).default('{}'),
    /** A slow tool: ms of silence after `response.mcp_call.in_progress` (default settings.toolSilentMs). */
    silent_ms: z.number().int().nonnegative().optional(),
  })
  .strict();

const McpServerSchema = z
  .object({
    server_label: z.string().min(1),
    server_url: z.string().optional(),
    /** `oauth_passthrough` tools need per-user consent (keyed by the caller's oid and the server label). */
    auth: z.enum(['none', 'oauth_passthrough']).default('none'),
    require_approval: RequireApproval.default('always'),
    tools: z.array(ToolSchema).min(1),
  })
  .strict();

const CallSchema = z
  .object({
    server_label: z.string().min(1),
    name: ToolName,
    /** An object, or a JSON string as in §8.3. */
    arguments: z.union([z.string(), z.record(JsonValue)]).default({}),
    /** Overrides the tool's canned output for this rule. */
    output: z.union([z.string(), z.record(JsonValue), z.array(JsonValue)]).optional(),
    /** Overrides the tool's `silent_ms` for this rule. */
    silent_ms: z.number().int().nonnegative().optional(),
  })
  .strict();

const Matcher = z.union([z.string().min(1), z.object({ regex: z.string().min(1) }).strict()]);

const CitationSchema = z
  .object({
    url: z.string().url(),
    title: z.string(),
    /** Text the citation points at (first occurrence), e.g. "[1]"; or give start_index/end_index. */
    marker: z.string().optional(),
    start_index: z.number().int().nonnegative().optional(),
    end_index: z.number().int().nonnegative().optional(),
  })
  .strict()
  .refine((c) => c.marker !== undefined || (c.start_index !== undefined && c.end_index !== undefined), {
    message: 'a citation needs a marker or start_index and end_index',
  });

const RuleSchema = z
  .object({
    /** Substring(s) or {regex}; case-insensitive. No `when` = matches everything (a default rule). */
    when: z.union([Matcher, z.array(Matcher).min(1)]).optional(),
    /** Short description for the README / prompt listing. */
    description: z.string().optional(),
    text: z.string().optional(),
    /** §8.3 alias: a default rule's text. */
    default_text: z.string().optional(),
    /** Characters per `output_text.delta`; default: the text in 2–5 deltas. */
    delta_chars: z.number().int().positive().optional(),
    citations: z.array(CitationSchema).optional(),
    call: CallSchema.optional(),
    calls: z.array(CallSchema).min(1).optional(),
    /** Text after the tool call(s) ran (or after approvals, when at least one was approved). */
    then_text: z.string().optional(),
    /** Text when every approval was denied. */
    on_deny_text: z.string().optional(),
    /** Text after declined consent; default settings.declinedConsentText. */
    on_decline_text: z.string().optional(),
    faults: z.array(FaultSchema).optional(),
    settings: PartialSettingsSchema.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const actions = [r.text, r.default_text, r.call, r.calls].filter((x) => x !== undefined).length;
    if (actions !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: 'a rule needs exactly one of text, default_text, call, calls',
      });
    }
    if (r.default_text !== undefined && r.when !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['when'], message: 'default_text is for a rule without `when`' });
    }
    const matchers = r.when === undefined ? [] : Array.isArray(r.when) ? r.when : [r.when];
    for (const m of matchers) {
      if (typeof m === 'string') continue;
      try {
        new RegExp(m.regex, 'i');
      } catch {
        ctx.addIssue({ code: 'custom', path: ['when'], message: `invalid regex: ${m.regex}` });
      }
    }
  });

const AgentSchema = z
  .object({
    version: z.string().min(1).default('1'),
    model: z.string().min(1).default('gpt-4.1'),
    mcp: z.array(McpServerSchema).default([]),
    rules: z.array(RuleSchema).min(1),
  })
  .strict()
  .superRefine((a, ctx) => {
    a.rules.forEach((r, i) => {
      for (const c of r.calls ?? (r.call ? [r.call] : [])) {
        const server = a.mcp.find((s) => s.server_label === c.server_label);
        if (!server) {
          ctx.addIssue({
            code: 'custom',
            path: ['rules', i],
            message: `unknown MCP server '${c.server_label}'`,
          });
        } else if (!server.tools.some((t) => t.name === c.name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['rules', i],
            message: `server '${c.server_label}' has no tool '${c.name}'`,
          });
        }
        if (typeof c.arguments === 'string') {
          try {
            JSON.parse(c.arguments);
          } catch {
            ctx.addIssue({ code: 'custom', path: ['rules', i], message: 'call.arguments is not valid JSON' });
          }
        }
      }
    });
  });

export const ScenarioSchema = z
  .object({
    $comment: z.string().optional(),
    settings: PartialSettingsSchema.optional(),
    agents: z.record(z.string().min(1).max(256), AgentSchema).refine((a) => Object.keys(a).length > 0, {
      message: 'at least one agent is required',
    }),
  })
  .strict();

export type Scenario = z.infer<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;
export type AgentDef = z.infer<typeof AgentSchema>;
export type RuleDef = z.infer<typeof RuleSchema>;
export type McpServerDef = z.infer<typeof McpServerSchema>;
export type ToolDef = z.infer<typeof ToolSchema>;
export type CallDef = z.infer<typeof CallSchema>;

/** Thrown for an invalid scenario; the message lists every problem with its JSON path. */
export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioError';
  }
}

export function parseScenario(value: unknown, source = 'scenario'): Scenario {
  const r = ScenarioSchema.safeParse(value);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new ScenarioError(`Invalid ${source}: ${problems}`);
}

export function loadScenarioFile(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ScenarioError(
      `Cannot read scenario file ${path}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(
      `Scenario file ${path} is not JSON: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  return parseScenario(json, `scenario file ${path}`);
}

/**
 * emulator/scenarios/default.json, found from both emulator/*.ts (ts-jest) and dist/emulator/*.js by walking
 * up to the directory holding package.json.
 */
export function defaultScenarioPath(from: string = __dirname): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'emulator', 'scenarios', 'default.json');
    const parent = dirname(dir);
    if (parent === dir)
      throw new ScenarioError(`No package.json above ${from}; cannot find the default scenario`);
    dir = parent;
  }
}

export function loadDefaultScenario(): Scenario {
  return loadScenarioFile(defaultScenarioPath());
}

// ---- rule helpers used by the turn engine ----

export function ruleMatches(rule: RuleDef, text: string): boolean {
  if (rule.when === undefined) return true;
  const matchers = Array.isArray(rule.when) ? rule.when : [rule.when];
  const lower = text.toLowerCase();
  return matchers.some((m) =>
    typeof m === 'string' ? lower.includes(m.toLowerCase()) : new RegExp(m.regex, 'i').test(text),
  );
}

export function ruleCalls(rule: RuleDef): CallDef[] {
  return rule.calls ?? (rule.call ? [rule.call] : []);
}

const inFilter = (f: z.infer<typeof ToolFilter> | undefined, name: string): boolean =>
  f !== undefined && (Array.isArray(f) ? f : f.tool_names).includes(name);

/** §6.4: `always` (the default) / `never` / a filter in either form. A tool in neither list needs approval. */
export function needsApproval(server: McpServerDef, tool: string): boolean {
  const ra = server.require_approval;
  if (ra === 'always') return true;
  if (ra === 'never') return false;
  if (inFilter(ra.always, tool)) return true;
  if (inFilter(ra.never, tool)) return false;
  return true;
}
