import { z } from 'zod';
import type { PlannedItem, TurnContext, TurnPlan } from './agent';
import {
  eventsFor,
  eventsUntilFirstCallRuns,
  inOutput,
  lapseFirstCall,
  planResume,
  planRule,
  selectRule,
} from './agent';
import type { Exchange } from './exchange';
import type { Fault, PreStreamFault, StreamFaults } from './faults';
import { isPreStream, streamFaults } from './faults';
import { parseJson, readBody, sleep } from './http';
import type { Caller, TokenAuthority } from './identity';
import type { AgentDef } from './scenario';
import type { Settings } from './settings';
import { mergeSettings } from './settings';
import type { EmulatorState, PendingApproval, StoredConversation, StoredResponse } from './state';
import { pipeRun, ResponseRun } from './sse';
import type { ConversationItem, EventBody, HttpError, MessageItem, ResponseObject } from './wire';
import { ids, nowSec, tokens } from './wire';

/**
 * The Foundry data-plane routes under `/api/projects/{project}/openai/v1` (docs/foundry-wire.md §1.2, §8):
 * responses (JSON and SSE), conversations, bearer-token checks, the §7.2 / §8.2 validation errors, and the
 * per-request turn run with fault injection.
 */

// ---- request bodies (zod at the edge; unknown fields pass through, as the service ignores them) ----

const ContentPart = z.object({ type: z.string(), text: z.string().optional() }).passthrough();
const MessageInput = z
  .object({
    type: z.literal('message').optional(),
    role: z.enum(['user', 'assistant', 'system', 'developer']),
    content: z.union([z.string(), z.array(ContentPart)]),
  })
  .passthrough();
const ApprovalInput = z
  .object({
    type: z.literal('mcp_approval_response'),
    approval_request_id: z.string().min(1),
    approve: z.boolean(),
    reason: z.string().nullable().optional(),
    id: z.string().nullable().optional(),
  })
  .passthrough();
const InputItem = z.union([ApprovalInput, MessageInput]);
type InputItemT = z.infer<typeof InputItem>;

const CreateResponseBody = z
  .object({
    agent_reference: z
      .object({
        type: z.literal('agent_reference').optional(),
        name: z.string().min(1).max(256),
        version: z.string().min(1).nullable().optional(),
      })
      .passthrough()
      .optional(),
    model: z.string().optional(),
    input: z.union([z.string(), z.array(InputItem)]).optional(),
    conversation: z
      .union([z.string().min(1), z.object({ id: z.string().min(1) }).passthrough()])
      .nullable()
      .optional(),
    previous_response_id: z.string().min(1).nullable().optional(),
    stream: z.boolean().nullable().optional(),
    metadata: z.record(z.string()).nullable().optional(),
  })
  .passthrough();

const CreateConversationBody = z
  .object({ items: z.array(InputItem).optional(), metadata: z.record(z.string()).nullable().optional() })
  .passthrough();
const AddItemsBody = z.object({ items: z.array(InputItem).min(1) }).passthrough();

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const SCHEMA_MISMATCH: HttpError = {
  status: 400,
  code: 'invalid_payload',
  message: 'The provided data does not match the expected schema',
  param: '/',
};
const invalid = (message: string, param: string | null): HttpError => ({
  status: 400,
  code: 'invalid_payload',
  message,
  param,
});
const notFound = (message: string, param: string | null): HttpError => ({
  status: 404,
  code: 'not_found',
  message,
  param,
});

function contentText(content: string | z.infer<typeof ContentPart>[]): string {
  if (typeof content === 'string') return content;
  return content.map((p) => p.text ?? '').join('');
}

function toConversationItem(i: InputItemT): ConversationItem {
  if (i.type === 'mcp_approval_response') {
    return {
      id: ids.approvalResponse(),
      type: 'mcp_approval_response',
      approval_request_id: i.approval_request_id,
      approve: i.approve,
      reason: i.reason ?? null,
    };
  }
  const item: MessageItem = {
    id: ids.message(),
    type: 'message',
    role: i.role === 'assistant' ? 'assistant' : 'user',
    status: 'completed',
    content:
      i.role === 'assistant'
        ? [{ type: 'output_text', text: contentText(i.content), annotations: [], logprobs: [] }]
        : [{ type: 'input_text', text: contentText(i.content) }],
  };
  return item;
}

function lastUserText(items: readonly (ConversationItem | InputItemT)[]): string | undefined {
  for (let i = items.length - 1; i >= 0; i--) {
    const it = items[i];
    if (it === undefined || it.type === 'mcp_approval_response') continue;
    if (!('role' in it) || it.role !== 'user') continue;
    if (typeof it.content === 'string') return it.content;
    return it.content.map((p) => ('text' in p && typeof p.text === 'string' ? p.text : '')).join('');
  }
  return undefined;
}

/** The caller-facing view of a conversation. */
const conversationObject = (c: StoredConversation): Record<string, unknown> => ({
  id: c.id,
  object: 'conversation',
  created_at: c.createdAt,
  metadata: c.metadata,
});

export interface ApiDeps {
  state: EmulatorState;
  authority: TokenAuthority;
  /** Settings before rule and fault layers. */
  baseSettings(): Settings;
  consentLink(settings: Settings, token: string): string;
  signal: AbortSignal;
  log(line: string): void;
  /** Operational causes (causes.ts): rewrites the planned tool calls of a turn. */
  rewritePlan?(plan: TurnPlan, caller: Caller): void;
}

/** Marks a run stopped by `POST …/cancel`. */
class Cancelled extends Error {}

export class ResponsesApi {
  private readonly running = new Set<Promise<void>>();
  private readonly cancelled = new Set<string>();

  constructor(private readonly d: ApiDeps) {}

  /** Resolves when every turn in flight has ended (used by close()). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  /** Routes one request below `/openai/v1`; `rest` is the path after it. */
  async handle(x: Exchange, rest: string): Promise<void> {
    const method = x.req.method ?? 'GET';
    const body = method === 'POST' ? await readBody(x.req) : '';
    const parsed = parseJson(body);
    if (!parsed.ok) return x.error(SCHEMA_MISMATCH);
    const raw = parsed.value;

    const isCreate = method === 'POST' && rest === '/responses';
    const facts = {
      target: rest.startsWith('/conversations') ? ('conversations' as const) : ('responses' as const),
      text: isCreate && isRecord(raw) ? roughText(raw['input']) : '',
      stream: isCreate && isRecord(raw) && raw['stream'] === true,
    };
    if (x.entry) x.entry.stream = facts.stream;
    const queued = this.d.state.faults.take(facts);
    const pre = queued.find(isPreStream);
    if (pre) return this.preStreamFault(x, pre);

    const auth = this.d.authority.verifyBearer(x.req.headers.authorization);
    if (!auth.ok)
      return x.error({ status: auth.status, code: auth.code, message: auth.message, param: null });
    const caller = auth.caller;
    if (x.entry) {
      x.entry.callerOid = caller.oid;
      x.entry.callerTid = caller.tid;
    }

    if (isCreate) return this.createResponse(x, caller, raw, queued);
    const seg = rest.split('/').filter((s) => s !== '');
    const [collection, id, sub, more] = seg;
    if (collection === 'responses' && id !== undefined && more === undefined) {
      if (method === 'GET' && sub === undefined) return this.getResponse(x, caller, id);
      if (method === 'DELETE' && sub === undefined) return this.deleteResponse(x, caller, id);
      if (method === 'POST' && sub === 'cancel') return this.cancelResponse(x, caller, id);
    }
    if (collection === 'conversations') {
      if (method === 'POST' && id === undefined) return this.createConversation(x, caller, raw);
      if (id !== undefined && more === undefined) {
        if (method === 'GET' && sub === undefined)
          return this.withConversation(x, caller, id, (c) => x.json(200, conversationObject(c)));
        if (method === 'DELETE' && sub === undefined) return this.deleteConversation(x, caller, id);
        if (sub === 'items' && method === 'POST') return this.addItems(x, caller, id, raw);
        if (sub === 'items' && method === 'GET') {
          return this.withConversation(x, caller, id, (c) => x.json(200, listOf(c.items)));
        }
      }
    }
    return x.error(notFound(`No route for ${method} ${x.url.pathname}`, null));
  }

  preStreamFault(x: Exchange, f: PreStreamFault): void {
    switch (f.kind) {
      case 'rate_limit': {
        const ms = f.retryAfterMs ?? f.retryAfterSec * 1000;
        return x.error({
          status: 429,
          code: 'rate_limit_exceeded',
          type: 'rate_limit_error',
          message: `Rate limit is exceeded. Try again in ${f.retryAfterSec} seconds.`,
          headers: { 'retry-after': String(f.retryAfterSec), 'retry-after-ms': String(ms) },
        });
      }
      case 'server_error':
        return x.error({ status: f.status, code: 'server_error', type: 'server_error', message: f.message });
      case 'unauthorized':
        return x.error({
          status: 401,
          code: 'unauthorized',
          message: 'Invalid token (emulated fault).',
          param: null,
        });
      case 'wrong_tenant':
        return x.error({
          status: 403,
          code: 'forbidden',
          message: "The user's tenant does not match the project's tenant (emulated fault).",
          param: null,
        });
      case 'conversation_locked':
        return x.error(this.lockedError());
      case 'http_error':
        return x.error({ status: f.status, code: f.code, message: f.message, param: f.param });
    }
  }

  /** "Another response is running" (§8.2 item 9): OpenAI's text, status and code from the settings. */
  private lockedError(): HttpError {
    const base = this.d.baseSettings();
    return {
      status: base.conversationLockedStatus,
      code: base.conversationLockedCode,
      message: 'Another process is currently operating on this conversation. Please retry in a few seconds.',
      param: 'conversation',
    };
  }

  // ---- POST /responses ----

  private async createResponse(x: Exchange, caller: Caller, raw: unknown, queued: Fault[]): Promise<void> {
    const { state } = this.d;
    // §8.2 order: deprecated `agent`, schema, agent_reference, tools / text.format, threading.
    if (isRecord(raw) && 'agent' in raw) {
      return x.error(invalid("The 'agent' property is deprecated. Use 'agent_reference' instead.", 'agent'));
    }
    const p = CreateResponseBody.safeParse(raw);
    if (!p.success) return x.error(SCHEMA_MISMATCH);
    const body = p.data;
    const rawRec = isRecord(raw) ? raw : {};
    const stream = body.stream === true;
    const input = body.input;
    const approvalsIn = Array.isArray(input) ? input.filter((i) => i.type === 'mcp_approval_response') : [];
    if (x.entry) {
      x.entry.previousResponseId = body.previous_response_id ?? null;
      x.entry.inputKind = inputKind(input);
      x.entry.approvalResponses = approvalsIn.map((a) => ({
        approval_request_id: a.approval_request_id,
        approve: a.approve,
      }));
    }
    const base = this.d.baseSettings();
    // §11.9: whether a continuation must repeat agent_reference is [U]; 'optional' takes the agent of the
    // previous response or of the conversation's last response.
    const inferred =
      base.agentReferenceOnContinuation === 'optional' ? this.continuationAgent(caller, body) : undefined;
    const agentName = body.agent_reference?.name ?? inferred;
    if (agentName === undefined) {
      return x.error(invalid("Missing required parameter: 'agent_reference'.", 'agent_reference'));
    }
    const agent = state.scenario.agents[agentName];
    const fillName = (t: string, version = ''): string =>
      t.split('{name}').join(agentName).split('{version}').join(version);
    // §7.2 [U]: whether Foundry's 404s name the field; `notFoundParam: false` leaves `param` out.
    const nf = (field: string): string | null => (base.notFoundParam ? field : null);
    if (!agent) return x.error(notFound(fillName(base.unknownAgentMessage), nf('agent_reference')));
    const version = body.agent_reference?.version;
    if (version !== undefined && version !== null && version !== agent.version) {
      return x.error(notFound(fillName(base.unknownVersionMessage, version), nf('agent_reference')));
    }
    for (const key of ['tools', 'response_format'] as const) {
      if (key in rawRec) return x.error(invalid('Not allowed when agent is specified.', key));
    }
    const text = rawRec['text'];
    if (isRecord(text) && 'format' in text)
      return x.error(invalid('Not allowed when agent is specified.', 'text.format'));

    const convId =
      typeof body.conversation === 'string' ? body.conversation : (body.conversation?.id ?? null);
    const prevId = body.previous_response_id ?? null;
    if (x.entry) x.entry.conversationId = convId;
    if (convId !== null && prevId !== null) {
      return x.error(invalid('Cannot be used with conversation.', 'previous_response_id'));
    }
    let conv: StoredConversation | undefined;
    if (convId !== null) {
      conv = state.conversations.get(convId);
      if (!conv || conv.ownerOid !== caller.oid) {
        return x.error(notFound(`Conversation with id '${convId}' not found.`, nf('conversation')));
      }
    }
    let prev: StoredResponse | undefined;
    if (prevId !== null) {
      prev = state.responses.get(prevId);
      if (!prev || prev.ownerOid !== caller.oid) {
        return x.error({
          status: 400,
          code: 'previous_response_not_found',
          message: `Previous response with id '${prevId}' not found.`,
          param: 'previous_response_id',
        });
      }
    }
    if (conv?.activeResponseId) return x.error(this.lockedError());

    // Approvals (§6.3, §8.2 items 7–8): every answer must be pending here, and every pending one answered.
    const scope = conv?.pendingApprovalIds ?? prev?.pendingApprovalIds ?? [];
    const answered: { pending: PendingApproval; approve: boolean; reason: string | null }[] = [];
    for (const a of approvalsIn) {
      const pending = state.approvals.get(a.approval_request_id);
      const dup = answered.some((x2) => x2.pending.id === a.approval_request_id);
      if (
        !pending ||
        pending.state !== 'pending' ||
        !scope.includes(pending.id) ||
        dup ||
        pending.ownerOid !== caller.oid
      ) {
        return x.error(
          invalid(`No pending MCP approval request with id '${a.approval_request_id}'.`, 'input'),
        );
      }
      answered.push({ pending, approve: a.approve, reason: a.reason ?? null });
    }
    const unanswered = scope.filter((id) => !answered.some((a) => a.pending.id === id));
    if (unanswered.length > 0) {
      return x.error(
        invalid(
          `The following MCP approval requests do not have an approval: ${unanswered.join(', ')}`,
          'input',
        ),
      );
    }

    const messagesIn = Array.isArray(input) ? input.filter((i) => i.type !== 'mcp_approval_response') : [];
    const userText =
      typeof input === 'string'
        ? input
        : (lastUserText(messagesIn) ??
          (answered[0]?.pending.userText ||
            (conv ? lastUserText(conv.items) : undefined) ||
            (prev ? prev.userText : undefined)));
    if (userText === undefined) return x.error(invalid("Missing required parameter: 'input'.", 'input'));

    // Rule and its faults (§8.5); pre-stream rule faults end the request before any state changes.
    const ruleIndex = answered[0] ? answered[0].pending.ruleIndex : selectRule(agent, userText);
    const rule = agent.rules[ruleIndex];
    const ruleFaults: Fault[] = [];
    (rule?.faults ?? []).forEach((f, j) => {
      if (f.match?.stream !== undefined && f.match.stream !== stream) return;
      const key = `${agentName}#${ruleIndex}#${j}`;
      const hits = state.ruleFaultHits.get(key) ?? 0;
      if (f.count !== undefined && hits >= f.count) return;
      state.ruleFaultHits.set(key, hits + 1);
      ruleFaults.push(f);
    });
    const rulePre = ruleFaults.find(isPreStream);
    if (rulePre) return this.preStreamFault(x, rulePre);
    const faults = [...ruleFaults, ...queued];
    const settings = mergeSettings(
      base,
      rule?.settings,
      ...faults.map((f) => (f.kind === 'override' ? f.settings : undefined)),
    );

    // Commit: the request is accepted.
    const responseId = ids.response();
    if (x.entry) x.entry.responseId = responseId;
    for (const a of answered) {
      a.pending.state = a.approve ? 'approved' : 'denied';
      state.log.approvals.push({
        requestId: a.pending.id,
        approve: a.approve,
        callerOid: caller.oid,
        responseId,
        at: new Date().toISOString(),
      });
    }
    const answeredIds = new Set(answered.map((a) => a.pending.id));
    if (conv) conv.pendingApprovalIds = conv.pendingApprovalIds.filter((id) => !answeredIds.has(id));
    if (prev) prev.pendingApprovalIds = prev.pendingApprovalIds.filter((id) => !answeredIds.has(id));
    if (conv && Array.isArray(input)) conv.items.push(...input.map(toConversationItem));
    else if (conv && typeof input === 'string')
      conv.items.push(toConversationItem({ role: 'user', content: input }));

    const ctx = this.turnContext(agent, settings, caller, userText);
    const planned = answered.length > 0 ? planResume(ctx, answered) : planRule(ctx, ruleIndex);
    const sf = streamFaults(faults);
    const lapse = sf.authLapse;
    const plan =
      lapse?.form === 'mcp_call'
        ? lapseFirstCall(planned, lapse.message, settings.mcpCallErrorForm)
        : planned;
    this.d.rewritePlan?.(plan, caller);
    if (lapse?.form === 'response_failed' && plan.items.some((p) => p.kind === 'mcp_call')) {
      sf.failAfter = {
        kind: 'response_failed',
        afterEvents: eventsUntilFirstCallRuns(plan),
        code: 'tool_user_error',
        message: lapse.message,
      };
    }

    const object: ResponseObject = {
      id: responseId,
      object: 'response',
      created_at: nowSec(),
      completed_at: null,
      status: 'in_progress',
      background: false,
      error: null,
      incomplete_details: null,
      instructions: null,
      metadata: body.metadata ?? {},
      model: agent.model,
      agent_reference: { type: 'agent_reference', name: agentName, version: agent.version },
      conversation: conv ? { id: conv.id } : null,
      previous_response_id: prevId,
      output: [],
      parallel_tool_calls: true,
      store: true,
      temperature: 1,
      top_p: 1,
      text: { format: { type: 'text' } },
      tool_choice: 'auto',
      tools: [],
      truncation: 'disabled',
      usage: null,
    };
    const stored: StoredResponse = {
      object,
      ownerOid: caller.oid,
      agentName,
      userText,
      pendingApprovalIds: [],
      run: new ResponseRun(),
    };
    state.responses.set(responseId, stored);
    if (conv) {
      conv.activeResponseId = responseId;
      conv.lastAgentName = agentName;
    }
    this.d.log(`response ${responseId} rule=${ruleIndex} stream=${stream} oid=${caller.oid}`);

    const turn = this.runTurn(stored, plan, sf, caller, conv);
    this.running.add(turn);
    void turn.finally(() => this.running.delete(turn));

    if (stream) {
      x.sse();
      await pipeRun(stored.run, x.res, {
        startingAfter: -1,
        doneSentinel: settings.doneSentinel,
        ...(sf.disconnectAfter !== undefined ? { disconnectAfter: sf.disconnectAfter } : {}),
      });
      return;
    }
    await turn;
    if (sf.disconnectAfter !== undefined) return x.cut();
    if (sf.errorAfter && stored.object.status === 'failed') {
      return x.error({
        status: 500,
        code: sf.errorAfter.code,
        type: 'server_error',
        message: sf.errorAfter.message,
      });
    }
    return x.json(200, stored.object);
  }

  private continuationAgent(caller: Caller, body: z.infer<typeof CreateResponseBody>): string | undefined {
    const { state } = this.d;
    const prev = body.previous_response_id ? state.responses.get(body.previous_response_id) : undefined;
    if (prev && prev.ownerOid === caller.oid) return prev.agentName;
    const convId = typeof body.conversation === 'string' ? body.conversation : body.conversation?.id;
    const conv = convId ? state.conversations.get(convId) : undefined;
    return conv && conv.ownerOid === caller.oid ? (conv.lastAgentName ?? undefined) : undefined;
  }

  private turnContext(agent: AgentDef, settings: Settings, caller: Caller, userText: string): TurnContext {
    const { state } = this.d;
    return {
      agent,
      settings,
      userText,
      consentFor: (label) => state.consentForTurn(caller.oid, label, settings.repeatConsentAfterGrant),
      consentLink: (label) =>
        this.d.consentLink(settings, state.newConsentToken(caller.oid, caller.name, label)),
      markDeclined: (label) => state.setConsent(caller.oid, label, 'declined', 'control'),
    };
  }

  /** Emits the plan's events into the run, applying stream faults; then settles state (§8.4 step 6). */
  private async runTurn(
    stored: StoredResponse,
    plan: TurnPlan,
    sf: StreamFaults,
    caller: Caller,
    conv: StoredConversation | undefined,
  ): Promise<void> {
    const { state } = this.d;
    const r = stored.object;
    const run = stored.run;
    const snapshot = (): ResponseObject => structuredClone(r);
    let stallDone = false;
    const emit = async (body: EventBody): Promise<'ok' | 'stopped'> => {
      if (this.cancelled.has(r.id)) throw new Cancelled();
      const n = run.events.length;
      if (sf.stall && !stallDone && n >= sf.stall.afterEvents) {
        stallDone = true;
        await sleep(sf.stall.ms, this.d.signal);
      }
      if (sf.failAfter && n >= sf.failAfter.afterEvents) {
        r.status = 'failed';
        r.error = { code: sf.failAfter.code, message: sf.failAfter.message };
        run.push({ type: 'response.failed', response: snapshot() });
        return 'stopped';
      }
      if (sf.errorAfter && n >= sf.errorAfter.afterEvents) {
        const e = sf.errorAfter;
        r.status = 'failed';
        r.error = { code: e.code, message: e.message };
        run.push({
          type: 'error',
          code: e.code,
          message: e.message,
          param: null,
          ...(e.nested
            ? { error: { type: 'server_error', code: e.code, message: e.message, param: null } }
            : {}),
        });
        return 'stopped';
      }
      if (body.type === 'response.output_text.delta' && sf.deltaDelayMs > 0)
        await sleep(sf.deltaDelayMs, this.d.signal);
      if (this.cancelled.has(r.id)) throw new Cancelled();
      run.push(body);
      return 'ok';
    };
    const emitAll = async (): Promise<'ok' | 'stopped'> => {
      if ((await emit({ type: 'response.created', response: snapshot() })) === 'stopped') return 'stopped';
      if ((await emit({ type: 'response.in_progress', response: snapshot() })) === 'stopped')
        return 'stopped';
      let index = 0;
      for (const p of plan.items) {
        const shown = inOutput(p);
        for (const ev of eventsFor(p, shown ? index : -1, r.id)) {
          if ((await emit(ev)) === 'stopped') return 'stopped';
          // A slow tool: the stream stays silent while it runs (settings.toolSilentMs, `silent_ms`).
          if (ev.type === 'response.mcp_call.in_progress' && p.kind === 'mcp_call' && p.silentMs > 0)
            await sleep(p.silentMs, this.d.signal);
        }
        if (shown) {
          r.output.push(p.item);
          index += 1;
        }
        this.recordToolCall(p, caller, r.id);
      }
      r.status = plan.terminal;
      r.completed_at = nowSec();
      const outText = r.output
        .map((i) => (i.type === 'message' ? i.content.map((c) => ('text' in c ? c.text : '')).join('') : ''))
        .join('');
      const inTok = tokens(stored.userText) + 120;
      const outTok = tokens(outText);
      r.usage = {
        input_tokens: inTok,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: outTok,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: inTok + outTok,
      };
      return emit({ type: `response.${plan.terminal}`, response: snapshot() });
    };
    try {
      const result = await emitAll();
      if (result === 'ok' && r.status !== 'failed') {
        for (const a of plan.newApprovals) {
          state.approvals.set(a.id, {
            ...a,
            ownerOid: caller.oid,
            agentName: stored.agentName,
            responseId: r.id,
            conversationId: conv?.id ?? null,
            userText: stored.userText,
            state: 'pending',
          });
          stored.pendingApprovalIds.push(a.id);
          conv?.pendingApprovalIds.push(a.id);
        }
      }
    } catch (e) {
      if (!(e instanceof Cancelled)) {
        r.status = 'failed';
        r.error = { code: 'server_error', message: e instanceof Error ? e.message : String(e) };
        this.d.log(`response ${r.id} failed: ${r.error.message}`);
      } else {
        r.status = 'cancelled';
      }
    } finally {
      this.cancelled.delete(r.id);
      if (conv) {
        conv.items.push(...r.output);
        if (conv.activeResponseId === r.id) conv.activeResponseId = null;
      }
      run.finish();
    }
  }

  private recordToolCall(p: PlannedItem, caller: Caller, responseId: string): void {
    if (p.kind !== 'mcp_call') return;
    this.d.state.log.toolCalls.push({
      serverLabel: p.item.server_label,
      name: p.item.name,
      callerOid: caller.oid,
      approvalRequestId: p.item.approval_request_id,
      status: p.item.status === 'failed' ? 'failed' : 'completed',
      responseId,
      at: new Date().toISOString(),
    });
  }

  // ---- other response routes ----

  private ownedResponse(x: Exchange, caller: Caller, id: string): StoredResponse | undefined {
    const r = this.d.state.responses.get(id);
    if (r && r.ownerOid === caller.oid) return r;
    x.error(notFound(`Response with id '${id}' not found.`, null));
    return undefined;
  }

  private async getResponse(x: Exchange, caller: Caller, id: string): Promise<void> {
    const r = this.ownedResponse(x, caller, id);
    if (!r) return;
    if (x.url.searchParams.get('stream') !== 'true') return x.json(200, r.object);
    // Resume (§1.2, §3.1): replay events after `starting_after`, then follow the live run.
    const after = Number(x.url.searchParams.get('starting_after') ?? '-1');
    if (x.entry) {
      x.entry.stream = true;
      x.entry.responseId = id;
    }
    x.sse();
    await pipeRun(r.run, x.res, {
      startingAfter: Number.isFinite(after) ? after : -1,
      doneSentinel: this.d.baseSettings().doneSentinel,
    });
  }

  private deleteResponse(x: Exchange, caller: Caller, id: string): void {
    if (!this.ownedResponse(x, caller, id)) return;
    this.d.state.responses.delete(id);
    x.json(200, { id, object: 'response.deleted', deleted: true });
  }

  private cancelResponse(x: Exchange, caller: Caller, id: string): void {
    const r = this.ownedResponse(x, caller, id);
    if (!r) return;
    if (r.object.status !== 'in_progress') {
      return x.error(invalid(`Cannot cancel a response with status '${r.object.status}'.`, null));
    }
    this.cancelled.add(id);
    r.object.status = 'cancelled';
    x.json(200, r.object);
  }

  // ---- conversations ----

  private withConversation(
    x: Exchange,
    caller: Caller,
    id: string,
    then: (c: StoredConversation) => void,
  ): void {
    const c = this.d.state.conversations.get(id);
    if (x.entry) x.entry.conversationId = id;
    if (!c || c.ownerOid !== caller.oid)
      return x.error(notFound(`Conversation with id '${id}' not found.`, 'conversation'));
    then(c);
  }

  private createConversation(x: Exchange, caller: Caller, raw: unknown): void {
    const p = CreateConversationBody.safeParse(raw);
    if (!p.success) return x.error(SCHEMA_MISMATCH);
    const c: StoredConversation = {
      id: ids.conversation(),
      ownerOid: caller.oid,
      createdAt: nowSec(),
      metadata: p.data.metadata ?? {},
      items: (p.data.items ?? []).map(toConversationItem),
      activeResponseId: null,
      pendingApprovalIds: [],
      lastAgentName: null,
    };
    this.d.state.conversations.set(c.id, c);
    if (x.entry) x.entry.conversationId = c.id;
    x.json(200, conversationObject(c));
  }

  private addItems(x: Exchange, caller: Caller, id: string, raw: unknown): void {
    this.withConversation(x, caller, id, (c) => {
      const p = AddItemsBody.safeParse(raw);
      if (!p.success) return x.error(SCHEMA_MISMATCH);
      const added = p.data.items.map(toConversationItem);
      c.items.push(...added);
      x.json(200, listOf(added));
    });
  }

  private deleteConversation(x: Exchange, caller: Caller, id: string): void {
    this.withConversation(x, caller, id, (c) => {
      this.d.state.conversations.delete(c.id);
      x.json(200, { id: c.id, object: 'conversation.deleted', deleted: true });
    });
  }
}

function listOf(items: readonly ConversationItem[]): Record<string, unknown> {
  return {
    object: 'list',
    data: items,
    first_id: items[0]?.id ?? null,
    last_id: items[items.length - 1]?.id ?? null,
    has_more: false,
  };
}

function inputKind(
  input: string | InputItemT[] | undefined,
): 'none' | 'text' | 'messages' | 'approval_responses' | 'mixed' {
  if (input === undefined) return 'none';
  if (typeof input === 'string') return 'text';
  const approvals = input.filter((i) => i.type === 'mcp_approval_response').length;
  if (input.length === 0) return 'none';
  if (approvals === input.length) return 'approval_responses';
  return approvals === 0 ? 'messages' : 'mixed';
}

/** User text of a raw body, for fault matching before validation. */
function roughText(input: unknown): string {
  if (typeof input === 'string') return input;
  if (!Array.isArray(input)) return '';
  return input
    .map((i: unknown) => {
      if (!isRecord(i)) return '';
      const c = i['content'];
      if (typeof c === 'string') return c;
      if (Array.isArray(c))
        return c
          .map((p: unknown) => (isRecord(p) && typeof p['text'] === 'string' ? p['text'] : ''))
          .join('');
      return '';
    })
    .join(' ');
}
