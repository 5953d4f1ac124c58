import type { AgentDef, CallDef, McpServerDef, RuleDef } from './scenario';
import { needsApproval, ruleCalls, ruleMatches } from './scenario';
import type { Settings } from './settings';
import type { PendingApproval } from './state';
import type {
  EventBody,
  ListedTool,
  McpApprovalRequestItem,
  McpCallError,
  McpCallItem,
  McpListToolsItem,
  MessageItem,
  OAuthConsentRequestItem,
  OutputItem,
  UrlCitation,
} from './wire';
import { ids } from './wire';

/**
 * The scripted turn engine (docs/foundry-wire.md §8.4): given the matched rule, the caller's consent state
 * and any approval answers, it plans the output items of one response; `eventsFor` turns each planned item
 * into its stream events in the order of §3.3 / §6.1.
 */

export type PlannedItem =
  | { kind: 'message'; item: MessageItem; deltas: string[] }
  | { kind: 'list_tools'; item: McpListToolsItem }
  | { kind: 'approval_request'; item: McpApprovalRequestItem }
  /** `silentMs`: quiet time after `mcp_call.in_progress` (a slow tool). */
  | { kind: 'mcp_call'; item: McpCallItem; silentMs: number }
  | { kind: 'consent'; item: OAuthConsentRequestItem; asItem: boolean; asEvent: boolean };

export type NewApproval = Pick<
  PendingApproval,
  'id' | 'ruleIndex' | 'callIndex' | 'kind' | 'serverLabel' | 'name' | 'arguments'
>;

export interface TurnPlan {
  ruleIndex: number;
  items: PlannedItem[];
  terminal: 'completed' | 'incomplete';
  newApprovals: NewApproval[];
}

/** What the engine needs from the outside world (consent state, link minting). */
export interface TurnContext {
  agent: AgentDef;
  settings: Settings;
  userText: string;
  consentFor(serverLabel: string): 'granted' | 'declined' | 'needed';
  consentLink(serverLabel: string): string;
  markDeclined(serverLabel: string): void;
}

/** Index of the first rule matching the text; -1 when none does (planRule then echoes). */
export function selectRule(agent: AgentDef, text: string): number {
  return agent.rules.findIndex((r) => ruleMatches(r, text));
}

const fill = (template: string, userText: string): string => template.split('{input}').join(userText);

/** Text → 2–5 deltas at word boundaries, or fixed-size chunks when `deltaChars` is set. */
export function splitDeltas(text: string, deltaChars?: number): string[] {
  if (text === '') return [''];
  if (deltaChars !== undefined) {
    const out: string[] = [];
    for (let i = 0; i < text.length; i += deltaChars) out.push(text.slice(i, i + deltaChars));
    return out;
  }
  const words = text.match(/\S+\s*/g) ?? [text];
  const n = Math.max(1, Math.min(5, Math.max(2, Math.ceil(text.length / 24)), words.length));
  const per = Math.ceil(words.length / n);
  const out: string[] = [];
  for (let i = 0; i < words.length; i += per) out.push(words.slice(i, i + per).join(''));
  const lead = /^\s+/.exec(text)?.[0] ?? '';
  if (lead && out[0] !== undefined) out[0] = lead + out[0];
  return out;
}

export function buildMessage(
  text: string,
  citations: RuleDef['citations'],
  deltaChars?: number,
): PlannedItem {
  const annotations: UrlCitation[] = [];
  for (const c of citations ?? []) {
    let start = c.start_index;
    let end = c.end_index;
    if (c.marker !== undefined) {
      const at = text.indexOf(c.marker);
      if (at < 0) continue;
      start = at;
      end = at + c.marker.length;
    }
    if (start === undefined || end === undefined) continue;
    annotations.push({
      type: 'url_citation',
      url: c.url,
      title: c.title,
      start_index: start,
      end_index: end,
    });
  }
  return {
    kind: 'message',
    deltas: splitDeltas(text, deltaChars),
    item: {
      id: ids.message(),
      type: 'message',
      role: 'assistant',
      status: 'completed',
      content: [{ type: 'output_text', text, annotations, logprobs: [] }],
    },
  };
}

const listTools = (server: McpServerDef, empty: boolean): PlannedItem => ({
  kind: 'list_tools',
  item: {
    id: ids.listTools(),
    type: 'mcp_list_tools',
    server_label: server.server_label,
    tools: empty
      ? []
      : server.tools.map((t): ListedTool => ({
          name: t.name,
          description: t.description,
          input_schema: t.input_schema,
          annotations: { read_only: t.read_only },
        })),
    error: null,
  },
});

const argsJson = (c: CallDef): string =>
  typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments);

function toolOutput(agent: AgentDef, c: CallDef): string {
  const tool = agent.mcp.find((s) => s.server_label === c.server_label)?.tools.find((t) => t.name === c.name);
  const out = c.output ?? tool?.output ?? '{}';
  return typeof out === 'string' ? out : JSON.stringify(out);
}

function serverOf(agent: AgentDef, label: string): McpServerDef {
  const s = agent.mcp.find((x) => x.server_label === label);
  if (!s) throw new Error(`unknown MCP server ${label}`); // the scenario schema rules this out
  return s;
}

function declinedError(form: Settings['mcpCallErrorForm']): McpCallError {
  switch (form) {
    case 'string':
      return 'User declined consent';
    case 'tool_execution_error':
      return { type: 'mcp_tool_execution_error', content: [{ type: 'text', text: 'User declined consent' }] };
    case 'http_error':
      return { type: 'http_error', code: 401, message: 'User declined consent' };
  }
}

/** A call's silence: the rule's `silent_ms`, else the tool's, else settings.toolSilentMs. */
function silentOf(ctx: TurnContext, c: CallDef): number {
  const tool = ctx.agent.mcp
    .find((s) => s.server_label === c.server_label)
    ?.tools.find((t) => t.name === c.name);
  return c.silent_ms ?? tool?.silent_ms ?? ctx.settings.toolSilentMs;
}

const mcpCall = (
  ctx: TurnContext,
  c: CallDef,
  approvalRequestId: string | null,
  result: { output: string } | { error: McpCallError },
): PlannedItem => ({
  kind: 'mcp_call',
  silentMs: 'output' in result ? silentOf(ctx, c) : 0,
  item: {
    id: ids.mcpCall(),
    type: 'mcp_call',
    server_label: c.server_label,
    name: c.name,
    arguments: argsJson(c),
    approval_request_id: approvalRequestId,
    output: 'output' in result ? result.output : null,
    error: 'error' in result ? result.error : null,
    status: 'output' in result ? 'completed' : 'failed',
  },
});

function approvalRequest(
  c: CallDef,
  ruleIndex: number,
  callIndex: number,
): { planned: PlannedItem; pending: NewApproval } {
  const item: McpApprovalRequestItem = {
    id: ids.approvalRequest(),
    type: 'mcp_approval_request',
    server_label: c.server_label,
    name: c.name,
    arguments: argsJson(c),
  };
  return {
    planned: { kind: 'approval_request', item },
    pending: {
      id: item.id,
      ruleIndex,
      callIndex,
      kind: 'tool',
      serverLabel: c.server_label,
      name: c.name,
      arguments: item.arguments,
    },
  };
}

/** The consent request of a server that still needs a sign-in (list-tools prelude without tools first). */
function consentItems(ctx: TurnContext, s: McpServerDef): PlannedItem[] {
  const item: OAuthConsentRequestItem = {
    id: ids.consent(),
    type: 'oauth_consent_request',
    created_by: {},
    consent_link: ctx.consentLink(s.server_label),
    ...(ctx.settings.consentServerLabel ? { server_label: s.server_label } : {}),
  };
  return [listTools(s, true), { kind: 'consent', item, asItem: true, asEvent: false }];
}

/**
 * The user's token for a tool lapsed (the `tool_auth_lapsed` fault): the first MCP call fails with
 * `message` and the agent says it could not use the tool. Returns the plan unchanged without MCP calls.
 */
export function lapseFirstCall(
  plan: TurnPlan,
  message: string,
  form: Settings['mcpCallErrorForm'],
): TurnPlan {
  const at = plan.items.findIndex((p) => p.kind === 'mcp_call');
  const call = plan.items[at];
  if (call?.kind !== 'mcp_call') return plan;
  const error: McpCallError =
    form === 'string'
      ? message
      : form === 'tool_execution_error'
        ? { type: 'mcp_tool_execution_error', content: [{ type: 'text', text: message }] }
        : { type: 'http_error', code: 401, message };
  const failed: PlannedItem = {
    kind: 'mcp_call',
    silentMs: 0,
    item: { ...call.item, output: null, error, status: 'failed' },
  };
  const label = `${call.item.server_label}.${call.item.name}`;
  const items = plan.items.slice(0, at).concat(failed);
  items.push(buildMessage(`I couldn't use ${label}: it reported an authentication error.`, undefined));
  return { ...plan, items, newApprovals: [] };
}

/** Number of stream events before a plan's first MCP call has reported `in_progress` (for a failure there). */
export function eventsUntilFirstCallRuns(plan: TurnPlan): number {
  let n = 2; // response.created, response.in_progress
  for (const p of plan.items) {
    if (p.kind === 'mcp_call') return n + 2; // output_item.added, mcp_call.in_progress
    n += eventsFor(p, 0, '').length;
  }
  return n;
}

/** A fresh run of a rule on the user's text (§8.4 steps 2–5). */
export function planRule(ctx: TurnContext, ruleIndex: number): TurnPlan {
  const rule = ctx.agent.rules[ruleIndex];
  if (!rule) {
    return {
      ruleIndex,
      items: [buildMessage(`Echo: ${ctx.userText}`, undefined)],
      terminal: 'completed',
      newApprovals: [],
    };
  }
  const calls = ruleCalls(rule);
  if (calls.length === 0) {
    const text = fill(rule.text ?? rule.default_text ?? '', ctx.userText);
    return {
      ruleIndex,
      items: [buildMessage(text, rule.citations, rule.delta_chars)],
      terminal: 'completed',
      newApprovals: [],
    };
  }
  const servers = [...new Set(calls.map((c) => c.server_label))].map((l) => serverOf(ctx.agent, l));
  const gated = servers.filter((s) => s.auth === 'oauth_passthrough');
  const verdicts = new Map(gated.map((s) => [s.server_label, ctx.consentFor(s.server_label)] as const));
  const declined = gated.filter((s) => verdicts.get(s.server_label) === 'declined');
  const needed = gated.filter((s) => verdicts.get(s.server_label) === 'needed');

  // Declined consent: the call fails, the agent says so, the turn completes (§6.2, §8.4 step 3).
  if (declined.length > 0) {
    const labels = new Set(declined.map((s) => s.server_label));
    const items: PlannedItem[] = calls
      .filter((c) => labels.has(c.server_label))
      .map((c) => mcpCall(ctx, c, null, { error: declinedError(ctx.settings.mcpCallErrorForm) }));
    const text = (rule.on_decline_text ?? ctx.settings.declinedConsentText)
      .split('{server_label}')
      .join([...labels].join(', '));
    items.push(buildMessage(fill(text, ctx.userText), undefined));
    return { ruleIndex, items, terminal: 'completed', newApprovals: [] };
  }

  // Consent needed: list-tools prelude with no tools, then the consent request (§3.3, §6.2).
  if (needed.length > 0) {
    const items: PlannedItem[] = [];
    const newApprovals: NewApproval[] = [];
    const delivery = ctx.settings.consentDelivery;
    for (const s of needed) {
      items.push(listTools(s, true));
      const link = ctx.consentLink(s.server_label);
      if (delivery === 'approval_arguments') {
        const callIndex = calls.findIndex((c) => c.server_label === s.server_label);
        const call = calls[callIndex];
        const item: McpApprovalRequestItem = {
          id: ids.approvalRequest(),
          type: 'mcp_approval_request',
          server_label: s.server_label,
          name: call?.name ?? 'consent',
          arguments: JSON.stringify({ consent_url: link }),
        };
        items.push({ kind: 'approval_request', item });
        newApprovals.push({
          id: item.id,
          ruleIndex,
          callIndex,
          kind: 'consent',
          serverLabel: s.server_label,
          name: item.name,
          arguments: item.arguments,
        });
      } else {
        const item: OAuthConsentRequestItem = {
          id: ids.consent(),
          type: 'oauth_consent_request',
          created_by: {},
          consent_link: link,
          ...(ctx.settings.consentServerLabel ? { server_label: s.server_label } : {}),
        };
        items.push({ kind: 'consent', item, asItem: delivery !== 'event', asEvent: delivery !== 'item' });
      }
    }
    if (ctx.settings.consentWithApprovals && delivery !== 'approval_arguments') {
      // Both in one response (issue 11): approvals for the calls whose server needs no sign-in.
      const open = calls
        .map((c, callIndex) => ({ c, callIndex }))
        .filter(({ c }) => !needed.some((s) => s.server_label === c.server_label))
        .filter(({ c }) => needsApproval(serverOf(ctx.agent, c.server_label), c.name));
      for (const { c, callIndex } of open) {
        const req = approvalRequest(c, ruleIndex, callIndex);
        items.push(req.planned);
        newApprovals.push(req.pending);
      }
    }
    const terminal = delivery === 'approval_arguments' ? 'completed' : ctx.settings.consentTerminal;
    return { ruleIndex, items, terminal, newApprovals };
  }

  // Approval needed: list-tools prelude with the tools, then one request per call (§6.3).
  const toApprove = calls
    .map((c, callIndex) => ({ c, callIndex }))
    .filter(({ c }) => needsApproval(serverOf(ctx.agent, c.server_label), c.name));
  if (toApprove.length > 0) {
    const items: PlannedItem[] = servers.map((s) => listTools(s, false));
    const newApprovals: NewApproval[] = [];
    for (const { c, callIndex } of toApprove) {
      const req = approvalRequest(c, ruleIndex, callIndex);
      items.push(req.planned);
      newApprovals.push(req.pending);
    }
    return { ruleIndex, items, terminal: 'completed', newApprovals };
  }

  // Run the tools, then answer (§3.3 MCP tool turn).
  const items: PlannedItem[] = servers.map((s) => listTools(s, false));
  for (const c of calls) items.push(mcpCall(ctx, c, null, { output: toolOutput(ctx.agent, c) }));
  items.push(buildMessage(fill(rule.then_text ?? 'Done.', ctx.userText), rule.citations, rule.delta_chars));
  return { ruleIndex, items, terminal: 'completed', newApprovals: [] };
}

/**
 * A continuation that answers approval requests (§6.3, §8.4 step 5): approved calls run with
 * `approval_request_id`, denied ones are skipped. Answers to a consent-in-approval request re-run the rule
 * (a denial counts as declined consent).
 */
export function planResume(
  ctx: TurnContext,
  answered: { pending: PendingApproval; approve: boolean }[],
): TurnPlan {
  const first = answered[0];
  if (!first) throw new Error('planResume needs at least one answer');
  const ruleIndex = first.pending.ruleIndex;
  const consentAnswers = answered.filter((a) => a.pending.kind === 'consent');
  if (consentAnswers.length > 0) {
    for (const a of consentAnswers) if (!a.approve) ctx.markDeclined(a.pending.serverLabel);
    return planRule(ctx, ruleIndex);
  }
  const rule = ctx.agent.rules[ruleIndex];
  if (!rule) return planRule(ctx, ruleIndex);
  const calls = ruleCalls(rule);
  const byCall = new Map(answered.map((a) => [a.pending.callIndex, a] as const));
  const items: PlannedItem[] = [];
  let approvedAny = false;
  // Servers still waiting for a sign-in (consent and approvals were asked together): no call runs there.
  const unsigned = [...new Set(calls.map((c) => c.server_label))]
    .map((l) => serverOf(ctx.agent, l))
    .filter((s) => s.auth === 'oauth_passthrough' && ctx.consentFor(s.server_label) === 'needed');
  calls.forEach((c, i) => {
    if (unsigned.some((s) => s.server_label === c.server_label)) return;
    const a = byCall.get(i);
    if (a === undefined) {
      if (!needsApproval(serverOf(ctx.agent, c.server_label), c.name)) {
        items.push(mcpCall(ctx, c, null, { output: toolOutput(ctx.agent, c) }));
      }
      return;
    }
    if (!a.approve) return;
    approvedAny = true;
    items.push(mcpCall(ctx, c, a.pending.id, { output: toolOutput(ctx.agent, c) }));
  });
  if (unsigned.length > 0) {
    for (const srv of unsigned) items.push(...consentItems(ctx, srv));
    return { ruleIndex, items, terminal: ctx.settings.consentTerminal, newApprovals: [] };
  }
  const text = approvedAny
    ? (rule.then_text ?? 'Done.')
    : (rule.on_deny_text ?? `OK, I did not run ${calls.map((c) => c.name).join(', ')}.`);
  items.push(
    buildMessage(fill(text, ctx.userText), approvedAny ? rule.citations : undefined, rule.delta_chars),
  );
  return { ruleIndex, items, terminal: 'completed', newApprovals: [] };
}

/** Whether a planned item appears in `response.output`. */
export const inOutput = (p: PlannedItem): boolean => p.kind !== 'consent' || p.asItem;

/** The stream events of one planned item, in §3.3 / §6.1 order (without sequence numbers). */
export function eventsFor(p: PlannedItem, outputIndex: number, responseId: string): EventBody[] {
  const oi = { output_index: outputIndex };
  switch (p.kind) {
    case 'message': {
      const part = p.item.content[0];
      const text = part?.type === 'output_text' ? part.text : '';
      const annotations = part?.type === 'output_text' ? part.annotations : [];
      const at = { item_id: p.item.id, ...oi, content_index: 0 };
      return [
        {
          type: 'response.output_item.added',
          ...oi,
          item: { ...p.item, status: 'in_progress', content: [] },
        },
        {
          type: 'response.content_part.added',
          ...at,
          part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
        },
        ...p.deltas.map((delta) => ({ type: 'response.output_text.delta', ...at, delta, logprobs: [] })),
        ...annotations.map((annotation, annotation_index) => ({
          type: 'response.output_text.annotation.added',
          ...at,
          annotation_index,
          annotation,
        })),
        { type: 'response.output_text.done', ...at, text, logprobs: [] },
        { type: 'response.content_part.done', ...at, part },
        { type: 'response.output_item.done', ...oi, item: p.item },
      ];
    }
    case 'list_tools':
      return [
        { type: 'response.output_item.added', ...oi, item: { ...p.item, tools: [] } },
        { type: 'response.mcp_list_tools.in_progress', item_id: p.item.id, ...oi },
        { type: 'response.mcp_list_tools.completed', item_id: p.item.id, ...oi },
        { type: 'response.output_item.done', ...oi, item: p.item },
      ];
    case 'approval_request':
      return [
        { type: 'response.output_item.added', ...oi, item: p.item },
        { type: 'response.output_item.done', ...oi, item: p.item },
      ];
    case 'mcp_call': {
      const at = { item_id: p.item.id, ...oi };
      return [
        {
          type: 'response.output_item.added',
          ...oi,
          item: { ...p.item, status: 'in_progress', output: null, error: null },
        },
        { type: 'response.mcp_call.in_progress', ...at },
        { type: 'response.mcp_call_arguments.delta', ...at, delta: p.item.arguments },
        { type: 'response.mcp_call_arguments.done', ...at, arguments: p.item.arguments },
        {
          type: p.item.status === 'failed' ? 'response.mcp_call.failed' : 'response.mcp_call.completed',
          ...at,
        },
        { type: 'response.output_item.done', ...oi, item: p.item },
      ];
    }
    case 'consent': {
      const out: EventBody[] = [];
      if (p.asItem) {
        out.push({ type: 'response.output_item.added', ...oi, item: p.item });
        out.push({ type: 'response.output_item.done', ...oi, item: p.item });
      }
      if (p.asEvent) {
        out.push({
          type: 'response.oauth_consent_requested',
          response_id: responseId,
          item_id: p.item.id,
          consent_link: p.item.consent_link,
          ...(p.item.server_label !== undefined ? { server_label: p.item.server_label } : {}),
        });
      }
      return out;
    }
  }
}

/** The output items of a plan, as they appear in `response.output`. */
export const outputOf = (items: readonly PlannedItem[]): OutputItem[] =>
  items.filter(inOutput).map((p) => p.item);
