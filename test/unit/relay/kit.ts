/**
 * Fakes for the relay's flow tests: a Teams conversation that records what the relay shows, a proactive
 * runner, a scripted Foundry and a manual clock, around a real MemoryStateStore. No HTTP, no SDK: the flows
 * run exactly as in production, only the ports are fakes.
 */
import type { AccessToken, TokenCredential } from '@azure/identity';
import { BotError, type BotErrorCode } from '../../../src/errors';
import type {
  AgentEvent,
  ApprovalRequest,
  ConsentRequest,
  FoundryClient,
  StreamOptions,
  TurnOutcome,
  TurnRequest,
} from '../../../src/foundry/types';
import { createLogger, type Logger } from '../../../src/observability/logger';
import type { RelaySettings, TurnInfo } from '../../../src/relay/api';
import type { Actor, ConversationInfo, ConversationRef, FinalAnswer } from '../../../src/relay/model';
import type {
  AnswerStream,
  ConversationIO,
  IdentityProvider,
  ProactiveRunner,
  StreamOutcome,
} from '../../../src/relay/ports';
import { Relay } from '../../../src/relay/relay';
import type { CardView } from '../../../src/relay/views';
import { MemoryStateStore } from '../../../src/storage/memory-store';

export type Shown =
  | { kind: 'text'; text: string }
  | { kind: 'card'; id: string; card: CardView }
  | { kind: 'update'; id: string; card: CardView }
  | { kind: 'informative'; text: string }
  | { kind: 'final'; answer: FinalAnswer }
  | { kind: 'abandon'; note?: string }
  | { kind: 'signin'; user: Actor; reason?: BotErrorCode };

/** One Teams conversation as the relay sees it; `shown` is everything it showed, in order. */
export class FakeConversation implements ConversationIO {
  readonly shown: Shown[] = [];
  /** What `finish` reports (e.g. `failed`: Teams did not take the final message). */
  finishOutcome: StreamOutcome = 'completed';
  private cards = 0;

  constructor(
    readonly conversation: ConversationInfo,
    readonly reference: ConversationRef,
    private readonly signIn: boolean,
  ) {
    if (signIn)
      this.requestSignIn = (user: Actor, reason?: BotErrorCode): Promise<void> =>
        this.record({ kind: 'signin', user, ...(reason ? { reason } : {}) });
  }

  requestSignIn?: (user: Actor, reason?: BotErrorCode) => Promise<void>;

  beginAnswer(): AnswerStream {
    const ac = new AbortController();
    return {
      informative: (text) => void this.shown.push({ kind: 'informative', text }),
      text: () => undefined,
      cancelled: ac.signal,
      finish: async (answer): Promise<StreamOutcome> => {
        await this.record({ kind: 'final', answer });
        return this.finishOutcome;
      },
      abandon: (note) => this.record({ kind: 'abandon', ...(note ? { note } : {}) }),
    };
  }

  sendText(text: string): Promise<void> {
    return this.record({ kind: 'text', text });
  }

  async sendCard(card: CardView): Promise<string> {
    const id = `card-${++this.cards}`;
    await this.record({ kind: 'card', id, card });
    return id;
  }

  updateCard(id: string, card: CardView): Promise<void> {
    return this.record({ kind: 'update', id, card });
  }

  texts(): string[] {
    return this.shown.flatMap((s) =>
      s.kind === 'text' ? [s.text] : s.kind === 'final' ? [s.answer.text] : [],
    );
  }

  cardsOf<K extends CardView['kind']>(kind: K): Extract<CardView, { kind: K }>[] {
    return this.shown.flatMap((s) =>
      (s.kind === 'card' || s.kind === 'update') && s.card.kind === kind
        ? [s.card as Extract<CardView, { kind: K }>]
        : [],
    );
  }

  private record(s: Shown): Promise<void> {
    this.shown.push(s);
    return Promise.resolve();
  }
}

/** Proactive continuation: one FakeConversation per conversation id. */
export class FakeTeams implements ProactiveRunner {
  readonly conversations = new Map<string, FakeConversation>();
  constructor(private readonly signIn = false) {}

  conversationFor(info: ConversationInfo): FakeConversation {
    let c = this.conversations.get(info.id);
    if (!c) {
      c = new FakeConversation(
        info,
        { conversationId: info.id, tenantId: info.tenantId, scope: info.scope },
        this.signIn,
      );
      this.conversations.set(info.id, c);
    }
    return c;
  }

  continueConversation(ref: ConversationRef, work: (io: ConversationIO) => Promise<void>): Promise<void> {
    const info = {
      id: String(ref['conversationId']),
      tenantId: String(ref['tenantId']),
      scope: ref['scope'],
    } as ConversationInfo;
    return work(this.conversationFor(info));
  }
}

/** What one scripted Foundry response does: events to stream, an error to throw, or a wait first. */
export interface Scripted {
  events?: AgentEvent[];
  error?: BotError;
  /** Resolves before the response streams (lets a test act while Foundry "thinks"). */
  gate?: Promise<void>;
  /** Pauses the stream after `after` events until `until` resolves (a silent tool, issue 11). */
  hold?: { after: number; until: Promise<void> };
}

/** A Foundry that answers each request with the next scripted response and records the requests. */
export class ScriptedFoundry implements FoundryClient {
  readonly requests: TurnRequest[] = [];
  private readonly script: Scripted[] = [];
  private conversations = 0;

  next(...responses: Scripted[]): this {
    this.script.push(...responses);
    return this;
  }

  async *streamTurn(req: TurnRequest, _opts: StreamOptions): AsyncIterable<AgentEvent> {
    this.requests.push(req);
    const r = this.script.shift() ?? { events: ended(outcome({ text: 'default answer' })) };
    if (r.gate) await r.gate;
    if (r.error) throw r.error;
    let n = 0;
    for (const ev of r.events ?? []) {
      if (r.hold && n++ === r.hold.after) await r.hold.until;
      yield ev;
    }
  }

  createConversation(): Promise<string> {
    return Promise.resolve(`conv_${++this.conversations}`);
  }
}

let responses = 0;

export function outcome(o: Partial<TurnOutcome> = {}): TurnOutcome {
  return {
    status: 'completed',
    responseId: `resp_${++responses}`,
    text: '',
    citations: [],
    consents: [],
    approvals: [],
    toolCalls: [],
    ...o,
  };
}

/** The events of a response that streams `outcome.text` and ends with `outcome`. */
export function ended(o: TurnOutcome): AgentEvent[] {
  return [
    { type: 'turn.started', responseId: o.responseId },
    ...(o.text ? [{ type: 'text.delta' as const, itemId: 'msg_1', text: o.text }] : []),
    { type: 'turn.end', outcome: o },
  ];
}

export function approval(name: string, args: Record<string, unknown> = {}): ApprovalRequest {
  const argumentsJson = JSON.stringify(args);
  return {
    requestId: `mcpr_${name}_${++responses}`,
    serverLabel: 'github',
    toolName: name,
    argumentsJson,
    arguments: args,
  };
}

export function consent(
  link = 'https://login.example.com/consent?x=1',
  serverLabel = 'github',
): ConsentRequest {
  return { itemId: `oauthreq_${++responses}`, consentLink: link, serverLabel, source: 'item' };
}

export const ADA: Actor = { id: '29:ada', aadObjectId: 'aaaaaaaa-0000-0000-0000-00000000000a', name: 'Ada' };
export const BEN: Actor = { id: '29:ben', aadObjectId: 'bbbbbbbb-0000-0000-0000-00000000000b', name: 'Ben' };
export const ADMIN: Actor = {
  id: '29:admin',
  aadObjectId: 'cccccccc-0000-0000-0000-00000000000c',
  name: 'Admin',
};
export const TENANT = 'tttttttt-0000-0000-0000-000000000001';

const staticCredential: TokenCredential = {
  getToken: (): Promise<AccessToken> =>
    Promise.resolve({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }),
};

export class FakeIdentity implements IdentityProvider {
  readonly mode: 'app' | 'user';
  signedOut = new Set<string>();
  /** Why a signed-out user cannot get a credential (default: no sign-in at all). */
  failure: BotErrorCode = 'IDENTITY_UNAVAILABLE';
  /** Users whose cached token was dropped (`forget`). */
  readonly forgotten: string[] = [];
  constructor(mode: 'app' | 'user' = 'app') {
    this.mode = mode;
  }
  credentialFor(user: Actor): Promise<TokenCredential> {
    if (this.signedOut.has(user.aadObjectId ?? ''))
      return Promise.reject(new BotError(this.failure, 'no usable sign-in'));
    return Promise.resolve(staticCredential);
  }
  acceptSsoToken(user: Actor): Promise<void> {
    this.signedOut.delete(user.aadObjectId ?? '');
    return Promise.resolve();
  }
  forget(user: Actor): void {
    this.forgotten.push(user.aadObjectId ?? '');
    this.signedOut.add(user.aadObjectId ?? '');
  }
}

export function settings(s: Partial<RelaySettings> = {}): RelaySettings {
  return {
    agentName: 'helpdesk',
    threading: 'previous_response',
    identityMode: 'app',
    consentLinkHosts: ['login.example.com'],
    sharedConsentAdmins: [ADMIN.aadObjectId ?? ''],
    approvers: [],
    approvalTtlMs: 10 * 60_000,
    consentTtlMs: 30 * 60_000,
    maxQueuedTurns: 3,
    dedupeTtlMs: 10 * 60_000,
    welcomePrompts: [],
    ...s,
  };
}

export interface Kit {
  relay: Relay;
  store: MemoryStateStore;
  foundry: ScriptedFoundry;
  teams: FakeTeams;
  identity: FakeIdentity;
  clock: { now: number };
  logs: Record<string, unknown>[];
  log: Logger;
  /** A turn of `user` in a conversation of `scope` (one conversation id per scope). */
  turn(user: Actor, scope?: ConversationInfo['scope'], activityId?: string): TurnInfo;
  io(scope?: ConversationInfo['scope']): FakeConversation;
  /** Sends a message and waits until every job has run. */
  say(user: Actor, text: string, scope?: ConversationInfo['scope']): Promise<void>;
}

let activities = 0;

export function makeKit(opts: { settings?: Partial<RelaySettings>; store?: MemoryStateStore } = {}): Kit {
  const store = opts.store ?? new MemoryStateStore();
  const foundry = new ScriptedFoundry();
  const s = settings(opts.settings);
  const teams = new FakeTeams(s.identityMode === 'user');
  const identity = new FakeIdentity(s.identityMode);
  const clock = { now: Date.UTC(2026, 10, 30, 10, 0, 0) };
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({
    level: 'debug',
    sink: (line) => logs.push(JSON.parse(line) as Record<string, unknown>),
  });
  const relay = new Relay({
    settings: s,
    foundry,
    store,
    identity,
    proactive: teams,
    log,
    clock: () => clock.now,
  });
  const conv = (scope: ConversationInfo['scope']): ConversationInfo => ({
    id: `conv-${scope}`,
    tenantId: TENANT,
    scope,
  });
  const kit: Kit = {
    relay,
    store,
    foundry,
    teams,
    identity,
    clock,
    logs,
    log,
    turn: (user, scope = 'personal', activityId = `act-${++activities}`) => {
      const c = conv(scope);
      return { conversation: c, user, activityId, reference: teams.conversationFor(c).reference };
    },
    io: (scope = 'personal') => teams.conversationFor(conv(scope)),
    say: async (user, text, scope = 'personal') => {
      await relay.handleMessage(kit.turn(user, scope), text);
      await relay.idle();
    },
  };
  return kit;
}
