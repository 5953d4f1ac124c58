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
 * Paces sends per conversation with a token bucket (burst 3, one more every 500 ms): well under Teams'
 * 7 sends/s per bot per thread (reliability-plan §2.5, RES-08). One instance per bot, not per turn.
 */
export class SendPacer {
  private readonly buckets = new Map<string, { tokens: number; at: number; chain: Promise<void> }>();

  constructor(
    private readonly burst = 3,
    private readonly refillMs = 500,
    private readonly clock: () => number = Date.now,
  ) {}

  take(conversationId: string): Promise<void> {
    let b = this.buckets.get(conversationId);
    if (!b) {
      b = { tokens: this.burst, at: this.clock(), chain: Promise.resolve() };
      this.buckets.set(conversationId, b);
    }
    const bucket = b;
    const next = bucket.chain.then(async () => {
      for (;;) {
        const now = this.clock();
        const refill = Math.floor((now - bucket.at) / this.refillMs);
        if (refill > 0) {
          bucket.tokens = Math.min(this.burst, bucket.tokens + refill);
          bucket.at += refill * this.refillMs;
        }
        if (bucket.tokens > 0) {
          bucket.tokens -= 1;
          return;
        }
        await new Promise((r) => setTimeout(r, this.refillMs - (now - bucket.at)));
      }
    });
    bucket.chain = next;
    if (this.buckets.size > 5000) {
      // Bounded: forget idle conversations (their buckets are full again anyway).
      for (const [k, v] of this.buckets) if (this.clock() - v.at > 10_000) this.buckets.delete(k);
    }
    return next;
  }
}

export function scopeOf(activity: Partial<Activity>): ConversationScope {
  const t = activity.conversation?.conversationType;
  if (t === 'channel') return 'channel';
  if (t === 'groupChat' || activity.conversation?.isGroup === true) return 'groupChat';
  return 'personal';
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
    await this.o.pacer.take(this.conversation.id);
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
