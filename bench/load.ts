/**
 * The benchmark's closed-loop load generator: `concurrency` workers each post a message, wait until the fake
 * Bot Connector received the answer's final message, and post the next, until `turns` turns were sent or the
 * deadline passed. Every request goes to 127.0.0.1. Per turn it measures, on the load process's clock:
 *
 * - firstText: first activity carrying answer text (a streaming chunk, a final or a plain message) at the
 *   connector, minus the moment the fake Foundry wrote its first delta;
 * - final: the final message at the connector, minus the moment Foundry wrote its terminal event;
 * - endToEnd: the final message minus the POST.
 */
import { Agent, request } from 'node:http';
import { messageActivity } from '../test/support/fakes/activities';
import { directiveText, type FakeFoundry, type LeanConnector } from './fakes';

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  const pct = (p: number): number =>
    s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { n: s.length, p50: r(pct(50)), p95: r(pct(95)), p99: r(pct(99)), max: r(s[s.length - 1] ?? NaN) };
}

export interface Scenario {
  name: string;
  turns: number;
  concurrency: number;
  /** A new conversation per turn (throughput, memory) or one conversation per worker. */
  newConversationPerTurn: boolean;
  agent: { firstMs: number; deltas: number; gapMs: number };
  /** Stop starting turns after this long. */
  deadlineMs: number;
}

export interface ScenarioResult {
  name: string;
  turns: number;
  errors: number;
  seconds: number;
  turnsPerSecond: number;
  firstTextMs: Summary;
  finalMs: Summary;
  endToEndMs: Summary;
}

interface Pending {
  firstTextAt?: number;
  done: (at: number) => void;
}

const TURN_TIMEOUT_MS = 30_000;

/** Drives one target (the relay or the echo bot) through the shared fakes. */
export class LoadGenerator {
  private readonly pending = new Map<string, Pending>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private runId = 0;

  constructor(
    private readonly connector: LeanConnector,
    private readonly foundry: FakeFoundry,
  ) {
    connector.onActivity((e) => {
      const p = this.pending.get(e.conversationId);
      if (!p) return;
      if (e.hasText && p.firstTextAt === undefined) p.firstTextAt = e.at;
      if (e.kind === 'final' || e.kind === 'message') p.done(e.at);
    });
  }

  private post(endpoint: string, body: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(
        endpoint,
        {
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: 15_000,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
  }

  async run(endpoint: string, s: Scenario): Promise<ScenarioResult> {
    const run = ++this.runId;
    const first: number[] = [];
    const final: number[] = [];
    const e2e: number[] = [];
    let errors = 0;
    let started = 0;
    const t0 = performance.now();
    const worker = async (w: number): Promise<void> => {
      let k = 0;
      while (started < s.turns && performance.now() - t0 < s.deadlineMs) {
        const i = started++;
        const conversationId = s.newConversationPerTurn ? `a:bench-${run}-${i}` : `a:bench-${run}-w${w}`;
        const turnId = `${run}.${i}`;
        const text = directiveText({ turnId, ...s.agent });
        const activity = messageActivity(text, {
          serviceUrl: this.connector.url,
          conversationId,
          conversationType: 'personal',
          overrides: { id: `${run}-${w}-${k++}` },
        });
        const begin = performance.now();
        const p: Pending = { done: () => undefined };
        const finished = new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no final message')), TURN_TIMEOUT_MS);
          p.done = (at) => {
            clearTimeout(timer);
            resolve(at);
          };
        });
        this.pending.set(conversationId, p);
        try {
          const status = await this.post(endpoint, JSON.stringify(activity));
          if (status >= 300) throw new Error(`status ${status}`);
          const doneAt = await finished;
          const times = this.foundry.take(turnId);
          e2e.push(doneAt - begin);
          if (times?.firstDeltaAt !== undefined && p.firstTextAt !== undefined)
            first.push(p.firstTextAt - times.firstDeltaAt);
          if (times?.lastEventAt !== undefined) final.push(doneAt - times.lastEventAt);
        } catch {
          errors++;
          finished.catch(() => undefined);
        } finally {
          this.pending.delete(conversationId);
        }
      }
    };
    await Promise.all(Array.from({ length: s.concurrency }, (_, w) => worker(w)));
    const seconds = (performance.now() - t0) / 1000;
    return {
      name: s.name,
      turns: e2e.length,
      errors,
      seconds: Math.round(seconds * 100) / 100,
      turnsPerSecond: Math.round((e2e.length / seconds) * 10) / 10,
      firstTextMs: summarize(first),
      finalMs: summarize(final),
      endToEndMs: summarize(e2e),
    };
  }

  close(): void {
    this.agent.destroy();
  }
}
