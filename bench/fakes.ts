/**
 * The benchmark's fakes, run in the load generator's process (never in the bot's), on 127.0.0.1 only:
 *
 * - a fake Foundry: `POST …/openai/v1/responses` answers a text turn as SSE (the events of
 *   docs/foundry-wire.md §6.1); the agent's behaviour comes from directives in the user's text
 *   (`t=<turn id> first=<ms> deltas=<n> gap=<ms>`), so one bot serves every scenario. It records when it
 *   wrote the first delta and the terminal event of each turn. It also answers App Service managed-identity
 *   token requests (`GET /msi/token`, api-version 2019-08-01), so the bot's real credential runs.
 * - a lean fake Bot Connector: answers like Teams (a stream's first request gets 201 `{id}`, later ones 202;
 *   messages 201 `{id}`) and reports each activity to a listener. Unlike test/support/fakes/fake-bot-connector.ts
 *   it keeps no record of requests: over tens of thousands of turns that record (and `waitFor`'s linear scan
 *   of it) would make the load process, not the bot, the bottleneck and distort RSS-free timings.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TurnTimes {
  /** Foundry wrote the first text delta (performance.now() of the load process). */
  firstDeltaAt?: number;
  /** Foundry wrote the terminal event. */
  lastEventAt?: number;
}

export interface FakeFoundry {
  url: string;
  projectEndpoint: string;
  identityEndpoint: string;
  identityHeader: string;
  /** Turn id → when Foundry wrote its first delta and its terminal event. Entries are removed by `take`. */
  take(turnId: string): TurnTimes | undefined;
  responses(): number;
  tokenRequests(): number;
  close(): Promise<void>;
}

export interface Directives {
  turnId: string;
  firstMs: number;
  deltas: number;
  gapMs: number;
}

/** The directives the load generator puts in a message's text. */
export function directiveText(d: Directives): string {
  return `bench t=${d.turnId} first=${d.firstMs} deltas=${d.deltas} gap=${d.gapMs}`;
}

function parseDirectives(input: unknown): Directives {
  const text = typeof input === 'string' ? input : '';
  const num = (k: string, def: number): number => {
    const m = new RegExp(`\\b${k}=(\\d+)`).exec(text);
    return m?.[1] !== undefined ? Number(m[1]) : def;
  };
  return {
    turnId: /\bt=(\S+)/.exec(text)?.[1] ?? '',
    firstMs: num('first', 0),
    deltas: Math.max(1, num('deltas', 1)),
    gapMs: num('gap', 0),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const WORD = 'lorem ';

/** Starts the fake Foundry (and its managed-identity endpoint) on 127.0.0.1 and a free port. */
export async function startFakeFoundry(): Promise<FakeFoundry> {
  const times = new Map<string, TurnTimes>();
  let responses = 0;
  let tokenRequests = 0;
  let n = 0;
  const identityHeader = 'bench-identity-header';

  const sse = async (res: ServerResponse, d: Directives): Promise<void> => {
    const id = `resp_${++n}`;
    const msg = `msg_${n}`;
    let seq = 0;
    const ev = (type: string, body: Record<string, unknown>): string =>
      `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...body })}\n\n`;
    const t: TurnTimes = {};
    if (d.turnId) times.set(d.turnId, t);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(
      ev('response.created', { response: { id, object: 'response', status: 'in_progress', output: [] } }) +
        ev('response.output_item.added', {
          output_index: 0,
          item: { id: msg, type: 'message', role: 'assistant', status: 'in_progress', content: [] },
        }) +
        ev('response.content_part.added', {
          item_id: msg,
          output_index: 0,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [] },
        }),
    );
    if (d.firstMs > 0) await sleep(d.firstMs);
    let text = '';
    let batch = '';
    for (let i = 0; i < d.deltas; i++) {
      if (i > 0 && d.gapMs > 0) {
        res.write(batch);
        batch = '';
        await sleep(d.gapMs);
      }
      const delta = `${WORD}${i} `;
      text += delta;
      batch += ev('response.output_text.delta', { item_id: msg, output_index: 0, content_index: 0, delta });
      if (i === 0) {
        res.write(batch);
        batch = '';
        t.firstDeltaAt = performance.now();
      }
    }
    const item = {
      id: msg,
      type: 'message',
      role: 'assistant',
      status: 'completed',
      content: [{ type: 'output_text', text, annotations: [] }],
    };
    res.write(
      batch +
        ev('response.output_text.done', { item_id: msg, output_index: 0, content_index: 0, text }) +
        ev('response.output_item.done', { output_index: 0, item }) +
        ev('response.completed', {
          response: { id, object: 'response', status: 'completed', output: [item] },
        }),
    );
    t.lastEventAt = performance.now();
    res.end();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/msi/token') {
      tokenRequests++;
      if (req.headers['x-identity-header'] !== identityHeader) {
        res.writeHead(401).end();
        return;
      }
      const body = JSON.stringify({
        access_token: `bench.${Buffer.from(JSON.stringify({ aud: 'https://ai.azure.com' })).toString('base64url')}.sig`,
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        resource: url.searchParams.get('resource') ?? 'https://ai.azure.com',
        token_type: 'Bearer',
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    if (req.method === 'POST' && url.pathname.endsWith('/openai/v1/responses')) {
      responses++;
      const body = JSON.parse(await readBody(req)) as { input?: unknown };
      await sse(res, parseDirectives(body.input));
      return;
    }
    await readBody(req);
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found"}}');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  const url = await listen(server);
  return {
    url,
    projectEndpoint: `${url}/api/projects/bench`,
    identityEndpoint: `${url}/msi/token`,
    identityHeader,
    take: (turnId) => {
      const t = times.get(turnId);
      times.delete(turnId);
      return t;
    },
    responses: () => responses,
    tokenRequests: () => tokenRequests,
    close: () => close(server),
  };
}

/** One activity the fake connector received, as the load generator needs it. */
export interface ConnectorEvent {
  conversationId: string;
  /** message | typing | informative | streaming | final */
  kind: string;
  /** The activity carries answer text (a streaming chunk, a final or a plain message). */
  hasText: boolean;
  at: number;
}

export interface LeanConnector {
  url: string;
  /** Called for every activity POST, after it was answered. */
  onActivity(listener: (e: ConnectorEvent) => void): void;
  requests(): number;
  close(): Promise<void>;
}

function streamTypeOf(a: Record<string, unknown>): { type?: string; id?: string } {
  const cd = (a['channelData'] ?? {}) as Record<string, unknown>;
  const entity = Array.isArray(a['entities'])
    ? (a['entities'] as Record<string, unknown>[]).find((e) => e?.['type'] === 'streaminfo')
    : undefined;
  const type = (entity?.['streamType'] ?? cd['streamType']) as string | undefined;
  const id = (entity?.['streamId'] ?? cd['streamId']) as string | undefined;
  return { ...(type ? { type } : {}), ...(id ? { id } : {}) };
}

/** Starts the lean fake Bot Connector on 127.0.0.1 and a free port. */
export async function startLeanConnector(): Promise<LeanConnector> {
  const listeners: Array<(e: ConnectorEvent) => void> = [];
  let requests = 0;
  let ids = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    requests++;
    const raw = await readBody(req);
    const m = /\/v3\/conversations\/([^/]+)\/activities/.exec(req.url ?? '');
    if (!m?.[1] || req.method !== 'POST') {
      res.writeHead(req.method === 'PUT' ? 200 : 404, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const conversationId = decodeURIComponent(m[1]);
    const a = JSON.parse(raw) as Record<string, unknown>;
    const s = streamTypeOf(a);
    const kind = s.type ?? String(a['type']);
    let status = 201;
    let body: unknown = { id: `act-${++ids}` };
    if (s.type === 'informative' || s.type === 'streaming') {
      if (s.id) {
        status = 202;
        body = {};
      } else body = { id: `stream-${++ids}` };
    } else if (s.type === 'final') status = 202;
    const at = performance.now();
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const hasText = kind === 'streaming' || kind === 'final' || kind === 'message';
    for (const l of listeners) l({ conversationId, kind, hasText, at });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  const url = `${await listen(server)}/`;
  return {
    url,
    onActivity: (l) => listeners.push(l),
    requests: () => requests,
    close: () => close(server),
  };
}
