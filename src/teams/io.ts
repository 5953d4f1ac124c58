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
  }

  private async send(activity: Partial<Activity>): Promise<string | undefined> {
    await this.o.pacer.take(this.conversation.id);
    const r = await this.ctx.sendActivity(activity);
    return r?.id;
  }

  beginAnswer(): TeamsAnswerStream {
    return new TeamsAnswerStream({
      send: (a) => this.send(a),
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
    await this.o.pacer.take(this.conversation.id);
    const reference = this.reference as Partial<ConversationReference>;
    await this.ctx.updateActivity({
      ...MessageFactory.attachment(CardFactory.adaptiveCard(card)),
      id: activityId,
      ...(reference.conversation ? { conversation: reference.conversation } : {}),
    });
  }
}
