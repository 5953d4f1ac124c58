import {
  CardFactory,
  MessageFactory,
  TurnContext,
  type Activity,
  type ConversationReference,
} from 'botbuilder';
import type { Logger } from '../observability/logger';
import type { ConversationInfo, ConversationRef, ConversationScope } from '../relay/model';
import type { ConversationIO } from '../relay/ports';
import type { CardView } from '../relay/views';
import { refreshFor, renderCard } from './cards';
import { classifyConnectorError } from './connector-errors';
import { TeamsAnswerStream } from './stream';

/**
 * Paces sends per conversation under Teams' per-bot-per-thread limits (msteams-docs rate-limit.md: 7 per 1 s,
 * 8 per 2 s, 60 per 30 s; reliability-plan §2.5, RES-08) with sliding windows set one below each limit.
 * A fixed token bucket (one send per 500 ms) would be simpler but caps every conversation at about one answer
 * per second, since an answer costs a typing indicator plus a message (measured with `npm run bench`).
 * Best-effort sends (typing indicators) are skipped rather than delayed when a window is full.
 * One instance per bot, not per turn; memory is bounded.
 */
export class SendPacer {
  private readonly sent = new Map<string, { times: number[]; chain: Promise<void> }>();

  constructor(
    private readonly windows: readonly { ms: number; max: number }[] = [
      { ms: 1000, max: 6 },
      { ms: 2000, max: 7 },
      { ms: 30_000, max: 55 },
    ],
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * How long to wait from `now` until one more send fits every window (0 = now), keeping `reserve` slots of
   * each window free (best-effort sends leave room for messages that matter).
   */
  private waitFor(times: readonly number[], now: number, reserve = 0): number {
    let wait = 0;
    for (const w of this.windows) {
      const inWindow = times.filter((t) => t > now - w.ms);
      if (inWindow.length >= w.max - reserve) {
        if (reserve > 0) return Infinity;
        // The oldest send that must leave the window before one more fits.
        const oldest = inWindow[inWindow.length - w.max] ?? now;
        wait = Math.max(wait, oldest + w.ms - now + 1);
      }
    }
    return wait;
  }

  private entry(conversationId: string): { times: number[]; chain: Promise<void> } {
    let e = this.sent.get(conversationId);
    if (!e) {
      e = { times: [], chain: Promise.resolve() };
      this.sent.set(conversationId, e);
      if (this.sent.size > 5000) {
        // Bounded: forget conversations with nothing in the longest window.
        const horizon = this.clock() - Math.max(...this.windows.map((w) => w.ms));
        for (const [k, v] of this.sent) if ((v.times[v.times.length - 1] ?? 0) < horizon) this.sent.delete(k);
      }
    }
    return e;
  }

  private record(e: { times: number[] }, now: number): void {
    e.times.push(now);
    const horizon = now - Math.max(...this.windows.map((w) => w.ms));
    while ((e.times[0] ?? Infinity) <= horizon) e.times.shift();
  }

  /** Waits until one more send to the conversation fits, then counts it. Sends are admitted in call order. */
  take(conversationId: string): Promise<void> {
    const e = this.entry(conversationId);
    const next = e.chain.then(async () => {
      for (;;) {
        const now = this.clock();
        const wait = this.waitFor(e.times, now);
        if (wait <= 0) {
          this.record(e, now);
          return;
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    });
    e.chain = next;
    return next;
  }

  /** Counts a best-effort send if it fits right now with two slots to spare; false means skip it. */
  tryTake(conversationId: string): boolean {
    const e = this.entry(conversationId);
    const now = this.clock();
    if (this.waitFor(e.times, now, 2) > 0) return false;
    this.record(e, now);
    return true;
  }
}

export function scopeOf(activity: Partial<Activity>): ConversationScope {
  const t = activity.conversation?.conversationType;
  if (t === 'channel') return 'channel';
  if (t === 'groupChat' || activity.conversation?.isGroup === true) return 'groupChat';
  return 'personal';
}

/**
 * True when the activity names two different tenants (`conversation.tenantId` vs `channelData.tenant.id`).
 * Teams never does that; such an activity is refused whatever the allow-list says (fail closed).
 */
export function tenantConflict(activity: Partial<Activity>): boolean {
  const channelData = activity.channelData as { tenant?: { id?: unknown } } | undefined;
  const a = activity.conversation?.tenantId;
  const b = channelData?.tenant?.id;
  return (
    typeof a === 'string' &&
    typeof b === 'string' &&
    a.length > 0 &&
    b.length > 0 &&
    a.toLowerCase() !== b.toLowerCase()
  );
}

export function tenantOf(activity: Partial<Activity>): string | undefined {
  const channelData = activity.channelData as { tenant?: { id?: unknown } } | undefined;
  const t = activity.conversation?.tenantId ?? channelData?.tenant?.id;
  return typeof t === 'string' && t.length > 0 ? t.toLowerCase() : undefined;
}

export function conversationOf(activity: Partial<Activity>): ConversationInfo {
  return {
    id: activity.conversation?.id ?? '',
    tenantId: tenantOf(activity) ?? '',
    scope: scopeOf(activity),
  };
}

export interface IoOptions {
  log: Logger;
  pacer: SendPacer;
  streaming: boolean;
  /** Test seam for retry waits (default: setTimeout). */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * botbuilder's ConnectorClient runs on @azure/core-client, whose default pipeline has a retry policy (3 retries:
 * 429/503 after Retry-After, and 408/5xx/transport errors with exponential backoff, for every method). Measured
 * against the fake connector: a 500 or 502 on a message POST was re-sent ~0.8 s later, which can post the same
 * message twice (Bot Connector creates are not idempotent, reliability-plan §2.4/§2.5), and a 429 was retried by
 * the pipeline *and* by our code (nested retries). So the pipeline's Retry phase is removed from the turn's
 * connector client, and `withConnectorRetry` is the one retry policy for Bot Connector calls (conventions.md C11).
 */
export function disablePipelineRetries(ctx: TurnContext): void {
  const key = (ctx.adapter as { ConnectorClientKey?: symbol } | undefined)?.ConnectorClientKey;
  if (key === undefined) return;
  type PipelineHolder = { client?: { pipeline?: { removePolicy(o: { phase: 'Retry' }): unknown } } };
  const client = ctx.turnState.get<PipelineHolder | undefined>(key);
  client?.client?.pipeline?.removePolicy({ phase: 'Retry' });
}

/** Attempts per call, the first included. */
const MAX_ATTEMPTS = 4;
const BACKOFF_BASE_MS = 250;
const MAX_HINT_MS = 60_000;

/**
 * Retries a Bot Connector call (reliability-plan §2.5, RES-07):
 * - 429 (the request was refused, so nothing was created): after `Retry-After` (capped at 60 s; 1 s if absent);
 * - 412 / 502 / 504: only for `update` (PUT of an existing activity is idempotent), jittered exponential backoff;
 * - a connection that was refused (nothing sent): once;
 * - anything else, notably a 500 or 502 on a create, is not retried: the message may already exist.
 */
export async function withConnectorRetry<T>(
  op: () => Promise<T>,
  kind: 'create' | 'update',
  log: Logger,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS) throw err;
      const f = classifyConnectorError(err);
      const refused = (err as { code?: unknown } | undefined)?.code === 'ECONNREFUSED';
      let waitMs: number | undefined;
      if (f.status === 429) waitMs = Math.min(f.retryAfterMs ?? 1000, MAX_HINT_MS);
      else if (kind === 'update' && (f.status === 412 || f.status === 502 || f.status === 504))
        waitMs = BACKOFF_BASE_MS * 2 ** (attempt - 1) * (1 - Math.random() * 0.25);
      else if (refused && attempt === 1) waitMs = BACKOFF_BASE_MS;
      if (waitMs === undefined) throw err;
      log.info('connector.retry', { kind, status: f.status, attempt, waitMs: Math.round(waitMs) });
      await sleep(waitMs);
    }
  }
}

/** ConversationIO over a botbuilder TurnContext (live or proactive). */
export class TurnContextIO implements ConversationIO {
  readonly conversation: ConversationInfo;
  readonly reference: ConversationRef;

  constructor(
    private readonly ctx: TurnContext,
    private readonly o: IoOptions,
  ) {
    this.conversation = conversationOf(ctx.activity);
    this.reference = TurnContext.getConversationReference(ctx.activity);
    disablePipelineRetries(ctx);
  }

  /** One paced POST, no retry (the answer stream has its own 429 handling). */
  private async sendOnce(activity: Partial<Activity>): Promise<string | undefined> {
    const bestEffort = activity.type === 'typing' && !activity.entities?.length && !activity.channelData;
    if (bestEffort) {
      if (!this.o.pacer.tryTake(this.conversation.id)) return undefined;
    } else await this.o.pacer.take(this.conversation.id);
    const r = await this.ctx.sendActivity(activity);
    return r?.id;
  }

  /** A paced POST of a new activity, retried only where a retry cannot duplicate it (RES-07). */
  private send(activity: Partial<Activity>): Promise<string | undefined> {
    return withConnectorRetry(() => this.sendOnce(activity), 'create', this.o.log, this.o.sleep);
  }

  beginAnswer(): TeamsAnswerStream {
    return new TeamsAnswerStream({
      send: (a) => this.sendOnce(a),
      streaming: this.o.streaming && this.conversation.scope === 'personal',
      log: this.o.log.child('stream'),
    });
  }

  async sendText(text: string): Promise<void> {
    await this.send({ type: 'message', text });
  }

  async sendCard(view: CardView): Promise<string | undefined> {
    const card = renderCard(view, { refresh: refreshFor(view, this.conversation.scope) });
    return this.send(MessageFactory.attachment(CardFactory.adaptiveCard(card)));
  }

  async updateCard(activityId: string, view: CardView): Promise<void> {
    const card = renderCard(view, { refresh: refreshFor(view, this.conversation.scope) });
    const reference = this.reference as Partial<ConversationReference>;
    const update = {
      ...MessageFactory.attachment(CardFactory.adaptiveCard(card)),
      id: activityId,
      ...(reference.conversation ? { conversation: reference.conversation } : {}),
    };
    await withConnectorRetry(
      async () => {
        await this.o.pacer.take(this.conversation.id);
        await this.ctx.updateActivity(update);
      },
      'update',
      this.o.log,
      this.o.sleep,
    );
  }
}
