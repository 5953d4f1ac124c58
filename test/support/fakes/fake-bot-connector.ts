import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake Bot Connector (the Teams `serviceUrl`) on 127.0.0.1 and a free port, for tests that run a real bot
 * (CloudAdapter) and assert what reached "Teams": every request is recorded with a timestamp, and responses can
 * be scripted (throttling, stream cancellation, size limits, latency, hangs).
 *
 * Streaming follows what Teams and the M365 Agents Playground do (docs/playground-notes.md §5; msteams-docs streaming-ux.md):
 * the first `typing` with streamType `informative` (or the first `streaming` without a streamId) gets
 * **201 {id: streamId}**, later chunks with that streamId get **202**, the `message` with streamType `final` gets
 * **202** (`{id: streamId}`). Stream fields are read from the `streaminfo` entity and, because botbuilder 4.23.3's
 * Entity mapper drops the entity's extra fields on the wire, also from `channelData.streamType/streamId/streamSequence`.
 */

/** What a request was, as far as the connector can tell. */
export type RequestKind =
  | 'message'
  | 'typing'
  | 'informative'
  | 'streaming'
  | 'final'
  | 'other-activity'
  | 'update'
  | 'delete'
  | 'members'
  | 'create-conversation'
  | 'unknown';

/** Stream fields of an activity (from the streaminfo entity or channelData). */
export interface StreamInfo {
  streamType: 'informative' | 'streaming' | 'final';
  streamId: string | undefined;
  streamSequence: number | undefined;
}

/** A loosely typed Bot Framework activity as received on the wire. */
export type WireActivity = Record<string, unknown> & {
  type?: string;
  id?: string;
  text?: string;
  replyToId?: string;
  entities?: unknown[];
  channelData?: Record<string, unknown>;
  conversation?: { id?: string; conversationType?: string };
  attachments?: unknown[];
};

/** One request the fake received. */
export interface RecordedRequest {
  /** 1-based arrival order. */
  seq: number;
  /** `Date.now()` when the request body had been read. */
  at: number;
  method: string;
  /** Raw path (still URL-encoded). */
  path: string;
  /** Decoded conversation id, when the path names one. */
  conversationId: string | undefined;
  /** Decoded activity id from the path (`replyTo` for POST, the target for PUT/DELETE), or member id for GET. */
  activityId: string | undefined;
  /** The `Authorization` header as received. */
  authorization: string | undefined;
  kind: RequestKind;
  /** The JSON body (an activity for activity routes). */
  activity: WireActivity | undefined;
  stream: StreamInfo | undefined;
  /** The status the fake answered (undefined while a scripted delay/hang is pending). */
  status: number | undefined;
  responseBody: unknown;
  /** True when a scripted rule produced the response. */
  scripted: boolean;
}

/** A scripted answer. */
export interface ScriptResponse {
  status: number;
  /** Objects are sent as JSON, strings as text/plain; omitted → empty body. */
  body?: unknown;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Sets `Retry-After` (seconds, or an HTTP date string). */
  retryAfter?: number | string;
  headers?: Record<string, string>;
  /** Never answer (the socket stays open until `close()`): simulates a hung connector. */
  hang?: boolean;
}

/** When a scripted response applies. Rules are checked in registration order; the first applicable one wins. */
export interface ScriptRule {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Request kind; `'any'` (default) matches all. `'stream'` matches informative, streaming and final. */
  kind?: RequestKind | 'any' | 'stream';
  conversationId?: string;
  /** Extra predicate on the recorded request. */
  match?: (req: RecordedRequest) => boolean;
  /** Applies from the nth matching request (1-based, default 1)… */
  nth?: number;
  /** …for this many matching requests (default 1; `Infinity` for always). */
  count?: number;
  respond: ScriptResponse;
}

/** Ready-made error answers seen from Teams / Bot Connector (docs/reliability.md §2.5, §2.6; docs/playground-notes.md §5). */
export const ConnectorErrors = {
  throttled: (retryAfterSec = 2): ScriptResponse => ({
    status: 429,
    retryAfter: retryAfterSec,
    body: {
      error: { code: 'TooManyRequests', message: 'API calls quota exceeded! maximum admitted 7 per 1s.' },
    },
  }),
  streamCancelledByUser: (): ScriptResponse => ({
    status: 403,
    body: { error: { code: 'ContentStreamNotAllowed', message: 'Content stream was cancelled by user.' } },
  }),
  /** "Canceled" with one l: the spelling some services use (Teams' docs spell it "cancelled"). */
  streamCanceledByUser: (): ScriptResponse => ({
    status: 403,
    body: { error: { code: 'ContentStreamNotAllowed', message: 'Content stream was canceled by user.' } },
  }),
  /** Streaming is switched off for the tenant, the user or the bot (streaming-ux.md, error codes). */
  streamNotAllowed: (): ScriptResponse => ({
    status: 403,
    body: { error: { code: 'ContentStreamNotAllowed', message: 'Content stream is not allowed' } },
  }),
  streamTooLarge: (): ScriptResponse => ({
    status: 403,
    body: { error: { code: 'ContentStreamNotAllowed', message: 'Message size too large' } },
  }),
  /** Teams refuses a whole message for one citation it cannot parse (bot-messages-ai-generated-content.md). */
  badCitation: (position: number): ScriptResponse => ({
    status: 400,
    body: {
      error: { code: 'BadRequest', message: `Error while parsing citation entity with ID: ${position}.` },
    },
  }),
  streamTimeExceeded: (): ScriptResponse => ({
    status: 403,
    body: {
      error: {
        code: 'ContentStreamNotAllowed',
        message: 'Content stream finished due to exceeded streaming time.',
      },
    },
  }),
  streamAlreadyCompleted: (): ScriptResponse => ({
    status: 403,
    body: {
      error: {
        code: 'ContentStreamNotAllowed',
        message: 'Content stream is not allowed on an already completed streamed message.',
      },
    },
  }),
  streamingNotInThisScope: (): ScriptResponse => ({
    status: 405,
    body: {
      error: {
        code: 'BadArgument',
        message: 'Streaming API is not enabled for non personal scope or non copilot conversations.',
      },
    },
  }),
  messageTooBig: (): ScriptResponse => ({
    status: 413,
    body: { error: { code: 'MessageSizeTooBig', message: 'Message size too large.' } },
  }),
  preconditionFailed: (): ScriptResponse => ({
    status: 412,
    body: { error: { code: 'PreconditionFailed', message: 'Precondition failed.' } },
  }),
  badGateway: (): ScriptResponse => ({
    status: 502,
    body: { error: { code: 'BadGateway', message: 'Bad gateway.' } },
  }),
  gatewayTimeout: (): ScriptResponse => ({
    status: 504,
    body: { error: { code: 'GatewayTimeout', message: 'Gateway timeout.' } },
  }),
  internal: (): ScriptResponse => ({
    status: 500,
    body: { error: { code: 'InternalServerError', message: 'Internal server error.' } },
  }),
} as const;

/** A conversation member as returned by GET …/members. */
export interface FakeMember {
  id: string;
  name?: string;
  aadObjectId?: string;
  userPrincipalName?: string;
  tenantId?: string;
  [extra: string]: unknown;
}

export interface FakeBotConnectorOptions {
  /** Members returned for any conversation without `setMembers` (default: one user `29:user-1`). */
  members?: FakeMember[];
  /** Answer streaming requests in non-personal conversations with 405 BadArgument, like Teams (default false). */
  personalOnlyStreaming?: boolean;
  /** Streaming switched off for the tenant, user or bot: every stream request gets 403 "Content stream is not allowed". */
  streamingDisabled?: boolean;
  /**
   * Teams' streaming time cap (2 minutes in Teams; tests use less): a stream request more than this long after
   * the stream's first one gets 403 "exceeded streaming time", and the stream is over. Off when undefined.
   */
  streamTimeLimitMs?: number;
  /**
   * Validate messages (POST and PUT) as Teams does (docs/real-services.md, Teams): 400 for more than 20
   * citations, a citation name over 80 or abstract over 160 characters, or `feedbackLoop` together with
   * `feedbackLoopEnabled`; 413 for an activity over 100 KB (UTF-16 of its JSON); 403 "already completed" for
   * a stream request after that stream's final. Default false.
   */
  teamsValidation?: boolean;
}

/** Settings that can be changed while the fake runs (`configure`; `reset` clears them). */
export type FakeBotConnectorSettings = Pick<
  FakeBotConnectorOptions,
  'personalOnlyStreaming' | 'streamingDisabled' | 'streamTimeLimitMs' | 'teamsValidation'
>;

/** A running fake connector. */
export interface FakeBotConnector {
  /** The serviceUrl for inbound activities: `http://127.0.0.1:<port>/`. */
  url: string;
  /** Adds a scripted response rule. */
  script(rule: ScriptRule): void;
  /** Every recorded request, oldest first. */
  requests(): RecordedRequest[];
  /** Requests that carried an activity (POST/PUT activity routes), optionally for one conversation. */
  activities(conversationId?: string): RecordedRequest[];
  /** POSTed activities of type `message` (ordinary messages and stream finals), optionally for one conversation. */
  messages(conversationId?: string): RecordedRequest[];
  /** Informative, streaming and final requests in arrival order. */
  streamingRequests(conversationId?: string): RecordedRequest[];
  /** Resolves with the first recorded request (past or future) matching `predicate`; rejects after `timeoutMs`. */
  waitFor(predicate: (req: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  /** Sets the members GET …/members returns for a conversation. */
  setMembers(conversationId: string, members: FakeMember[]): void;
  /** Changes settings for the requests that follow (merged into the start options). */
  configure(settings: FakeBotConnectorSettings): void;
  /** Forgets requests, scripts, streams, members and `configure` settings. */
  reset(): void;
  close(): Promise<void>;
}

function streamInfoOf(activity: WireActivity | undefined): StreamInfo | undefined {
  if (!activity) return undefined;
  const entity = (activity.entities ?? []).find(
    (e): e is Record<string, unknown> =>
      typeof e === 'object' && e !== null && (e as Record<string, unknown>)['type'] === 'streaminfo',
  );
  const cd = activity.channelData ?? {};
  const pick = (k: string): unknown => entity?.[k] ?? cd[k];
  const type = pick('streamType');
  if (type !== 'informative' && type !== 'streaming' && type !== 'final') return undefined;
  const id = pick('streamId');
  const seq = pick('streamSequence');
  return {
    streamType: type,
    streamId: typeof id === 'string' && id.length > 0 ? id : undefined,
    streamSequence:
      typeof seq === 'number' ? seq : typeof seq === 'string' && seq !== '' ? Number(seq) : undefined,
  };
}

function kindOfActivity(activity: WireActivity | undefined, stream: StreamInfo | undefined): RequestKind {
  if (stream) return stream.streamType;
  if (activity?.type === 'message') return 'message';
  if (activity?.type === 'typing') return 'typing';
  return 'other-activity';
}

function matchesKind(rule: ScriptRule, kind: RequestKind): boolean {
  const want = rule.kind ?? 'any';
  if (want === 'any') return true;
  if (want === 'stream') return kind === 'informative' || kind === 'streaming' || kind === 'final';
  return want === kind;
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text) return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(text);
      }
    });
  });
}

const badRequest = (message: string): ScriptResponse => ({
  status: 400,
  body: { error: { code: 'BadRequest', message } },
});

/** What Teams says about a message's AI entity and feedback settings (null: acceptable). */
function messageRefusal(activity: WireActivity | undefined): ScriptResponse | null {
  if (!activity) return null;
  if (JSON.stringify(activity).length * 2 > 100_000) return ConnectorErrors.messageTooBig();
  const cd = activity.channelData ?? {};
  if (cd['feedbackLoop'] !== undefined && cd['feedbackLoopEnabled'] !== undefined)
    return badRequest('feedbackLoop and feedbackLoopEnabled cannot both be set.');
  for (const e of activity.entities ?? []) {
    const citations = (e as { citation?: unknown } | null)?.citation;
    if (!Array.isArray(citations)) continue;
    if (citations.length > 20) return badRequest('Bot message with more than 20 citations.');
    for (const c of citations as Array<{ position?: unknown; appearance?: Record<string, unknown> }>) {
      const name = c.appearance?.['name'];
      const abstract = c.appearance?.['abstract'];
      if (
        typeof name !== 'string' ||
        name.length > 80 ||
        (typeof abstract === 'string' && abstract.length > 160)
      )
        return ConnectorErrors.badCitation(Number(c.position));
    }
  }
  return null;
}

/**
 * Teams' verdict on the bot's answer to an invoke, for the invokes whose answer Teams checks: the feedback
 * buttons' `message/submitAction` must be answered HTTP 200 with an empty body (an empty object is tolerated),
 * else Teams reports 400 "message/submitAction invoke response isn't empty" (bot-messages-ai-generated-content.md).
 */
export function teamsVerdictOnInvokeResponse(
  name: string,
  status: number,
  body: unknown,
): { ok: true } | { ok: false; status: number; message: string } {
  if (name !== 'message/submitAction') return { ok: true };
  const empty =
    body === undefined ||
    body === null ||
    body === '' ||
    (typeof body === 'object' && Object.keys(body).length === 0);
  if (status === 200 && empty) return { ok: true };
  return { ok: false, status: 400, message: "message/submitAction invoke response isn't empty" };
}

const DEFAULT_MEMBERS: FakeMember[] = [
  {
    id: '29:user-1',
    name: 'Test User',
    aadObjectId: '00000000-0000-0000-0000-0000000000a1',
    userPrincipalName: 'user1@example.com',
  },
];

/** Starts the fake connector on 127.0.0.1 and a free port. */
export async function startFakeBotConnector(
  options: FakeBotConnectorOptions = {},
): Promise<FakeBotConnector> {
  let records: RecordedRequest[] = [];
  let rules: Array<{ rule: ScriptRule; seen: number }> = [];
  let members = new Map<string, FakeMember[]>();
  let waiters: Array<{ predicate: (r: RecordedRequest) => boolean; resolve: (r: RecordedRequest) => void }> =
    [];
  let seq = 0;
  let settings: FakeBotConnectorSettings = {};
  const setting = <K extends keyof FakeBotConnectorSettings>(k: K): FakeBotConnectorSettings[K] =>
    k in settings ? settings[k] : options[k];
  /** Streams by id: when their first request came, and whether their final was taken. */
  let streams = new Map<string, { startedAt: number; completed: boolean }>();

  /** Teams' own refusals (settings), checked before the default behaviour. */
  const teamsRefusal = (rec: RecordedRequest): ScriptResponse | null => {
    const validate = setting('teamsValidation') === true;
    if (validate && (rec.kind === 'message' || rec.kind === 'final' || rec.kind === 'update')) {
      const refusal = messageRefusal(rec.activity);
      if (refusal) return refusal;
    }
    if (!rec.stream) return null;
    if (setting('streamingDisabled')) return ConnectorErrors.streamNotAllowed();
    const id = rec.stream.streamId;
    const state = id === undefined ? undefined : streams.get(id);
    if (!state) return null;
    if (validate && state.completed) return ConnectorErrors.streamAlreadyCompleted();
    const limit = setting('streamTimeLimitMs');
    if (limit !== undefined && rec.at - state.startedAt > limit) {
      state.completed = true;
      return ConnectorErrors.streamTimeExceeded();
    }
    return null;
  };

  /** Remembers streams the fake opened and closed. */
  const trackStream = (rec: RecordedRequest): void => {
    if (!rec.stream || (rec.status ?? 500) >= 300) return;
    const id = rec.stream.streamId ?? (rec.responseBody as { id?: string } | undefined)?.id;
    if (id === undefined) return;
    const state = streams.get(id) ?? { startedAt: rec.at, completed: false };
    if (rec.kind === 'final') state.completed = true;
    streams.set(id, state);
  };

  const notify = (rec: RecordedRequest): void => {
    const hit = waiters.filter((w) => w.predicate(rec));
    waiters = waiters.filter((w) => !hit.includes(w));
    for (const w of hit) w.resolve(rec);
  };

  const respond = (res: ServerResponse, rec: RecordedRequest, r: ScriptResponse, scripted: boolean): void => {
    const headers: Record<string, string | number> = { ...(r.headers ?? {}) };
    if (r.retryAfter !== undefined) headers['retry-after'] = String(r.retryAfter);
    let payload = '';
    if (typeof r.body === 'string') {
      payload = r.body;
      headers['content-type'] = 'text/plain; charset=utf-8';
    } else if (r.body !== undefined) {
      payload = JSON.stringify(r.body);
      headers['content-type'] = 'application/json; charset=utf-8';
    }
    headers['content-length'] = Buffer.byteLength(payload);
    rec.status = r.status;
    rec.responseBody = r.body;
    rec.scripted = scripted;
    res.writeHead(r.status, headers);
    res.end(payload);
  };

  /** Default (unscripted) behaviour of the connector. */
  const emulate = (rec: RecordedRequest): ScriptResponse => {
    const conv = rec.conversationId ?? '';
    switch (rec.kind) {
      case 'informative':
      case 'streaming':
      case 'final': {
        const s = rec.stream;
        if (setting('personalOnlyStreaming') && rec.activity?.conversation?.conversationType !== 'personal') {
          return ConnectorErrors.streamingNotInThisScope();
        }
        if (rec.kind === 'final') return { status: 202, body: { id: s?.streamId ?? randomUUID() } };
        if (!s?.streamId) return { status: 201, body: { id: `stream-${randomUUID()}` } };
        return { status: 202, body: {} };
      }
      case 'message':
      case 'typing':
      case 'other-activity':
        return { status: 201, body: { id: `${Date.now()}${String(rec.seq).padStart(4, '0')}` } };
      case 'update':
        return { status: 200, body: { id: rec.activityId } };
      case 'delete':
        return { status: 200, body: {} };
      case 'members': {
        const list = members.get(conv) ?? options.members ?? DEFAULT_MEMBERS;
        if (!rec.activityId) return { status: 200, body: list };
        const one = list.find((m) => m.id === rec.activityId);
        return one
          ? { status: 200, body: one }
          : {
              status: 404,
              body: { error: { code: 'MemberNotFoundInConversation', message: 'The member was not found.' } },
            };
      }
      case 'create-conversation':
        return {
          status: 201,
          body: { id: `a:fake-${randomUUID()}`, activityId: undefined, serviceUrl: url },
        };
      case 'unknown':
        return {
          status: 404,
          body: { error: { code: 'NotFound', message: 'Unknown route in fake connector.' } },
        };
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const body = await readJson(req);
    const v3 = path.indexOf('/v3/');
    const segs = (v3 >= 0 ? path.slice(v3 + 1) : path.slice(1)).split('/').map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
    // segs: ['v3', 'conversations', conv?, 'activities'|'members'?, id?]
    const inConversations = segs[0] === 'v3' && segs[1] === 'conversations';
    const conversationId = inConversations && segs.length >= 3 && segs[2] !== '' ? segs[2] : undefined;
    const sub = segs[3];
    const subId = segs[4] !== undefined && segs[4] !== '' ? segs[4] : undefined;
    const activity =
      typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as WireActivity) : undefined;
    let kind: RequestKind = 'unknown';
    let stream: StreamInfo | undefined;
    if (inConversations && conversationId === undefined && method === 'POST') kind = 'create-conversation';
    else if (conversationId !== undefined && sub === 'activities') {
      if (method === 'POST') {
        stream = streamInfoOf(activity);
        kind = kindOfActivity(activity, stream);
      } else if (method === 'PUT' && subId) kind = 'update';
      else if (method === 'DELETE' && subId) kind = 'delete';
    } else if (conversationId !== undefined && sub === 'members' && method === 'GET') kind = 'members';

    const auth = req.headers.authorization;
    const rec: RecordedRequest = {
      seq: ++seq,
      at: Date.now(),
      method,
      path,
      conversationId,
      activityId: subId,
      authorization: typeof auth === 'string' ? auth : undefined,
      kind,
      activity: kind === 'members' || kind === 'delete' ? undefined : activity,
      stream,
      status: undefined,
      responseBody: undefined,
      scripted: false,
    };
    records.push(rec);

    let scripted: ScriptResponse | undefined;
    for (const entry of rules) {
      const r = entry.rule;
      if (r.method && r.method !== method) continue;
      if (!matchesKind(r, kind)) continue;
      if (r.conversationId !== undefined && r.conversationId !== conversationId) continue;
      if (r.match && !r.match(rec)) continue;
      entry.seen++;
      const from = r.nth ?? 1;
      const count = r.count ?? 1;
      if (scripted === undefined && entry.seen >= from && entry.seen < from + count) scripted = r.respond;
    }
    if (scripted?.hang) {
      notify(rec);
      return;
    }
    if (scripted?.delayMs) await new Promise((r) => setTimeout(r, scripted.delayMs));
    respond(res, rec, scripted ?? teamsRefusal(rec) ?? emulate(rec), scripted !== undefined);
    trackStream(rec);
    notify(rec);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  const byConv = (list: RecordedRequest[], conversationId: string | undefined): RecordedRequest[] =>
    conversationId === undefined ? list : list.filter((r) => r.conversationId === conversationId);

  return {
    url,
    script: (rule) => {
      rules.push({ rule, seen: 0 });
    },
    requests: () => [...records],
    activities: (conversationId) =>
      byConv(
        records.filter((r) => r.activity !== undefined && (r.method === 'POST' || r.method === 'PUT')),
        conversationId,
      ),
    messages: (conversationId) =>
      byConv(
        records.filter((r) => r.method === 'POST' && r.activity?.type === 'message'),
        conversationId,
      ),
    streamingRequests: (conversationId) =>
      byConv(
        records.filter((r) => r.stream !== undefined),
        conversationId,
      ),
    waitFor: (predicate, timeoutMs = 5000) => {
      const done = records.find(predicate);
      if (done) return Promise.resolve(done);
      return new Promise<RecordedRequest>((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (r: RecordedRequest): void => {
            clearTimeout(timer);
            resolve(r);
          },
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          const seen = records.map((r) => `${r.method} ${r.kind} ${r.status ?? '-'}`).join(', ');
          reject(
            new Error(`fake connector: no matching request within ${timeoutMs} ms (saw: ${seen || 'none'})`),
          );
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    setMembers: (conversationId, list) => {
      members.set(conversationId, list);
    },
    configure: (next) => {
      settings = { ...settings, ...next };
    },
    reset: () => {
      records = [];
      rules = [];
      members = new Map();
      streams = new Map();
      settings = {};
      seq = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
