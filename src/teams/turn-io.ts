import {
  CardFactory,
  MessageFactory,
  TurnContext,
  type Activity,
  type ConversationReference,
} from 'botbuilder';
import type { Logger } from '../observability/logger';
import type { Telemetry } from '../observability/telemetry';
import type { ConversationInfo, ConversationRef } from '../relay/model';
import type { ConversationIO } from '../relay/ports';
import type { CardView } from '../relay/views';
import { conversationOf } from './activity-facts';
import { refreshFor, renderCard } from './cards';
import { disablePipelineRetries, withConnectorRetry } from './connector-retry';
import type { SendPacer } from './send-pacer';
import { TeamsAnswerStream } from './stream';
import { traceSend } from './telemetry';

export interface IoOptions {
  log: Logger;
  pacer: SendPacer;
  streaming: boolean;
  /** Test seam for retry waits (default: setTimeout). */
  sleep?: (ms: number) => Promise<void>;
  /** `teams.send` spans (telemetry.ts); none when absent. */
  telemetry?: Telemetry | undefined;
}

/**
 * The first informative update ("Asking the agent…") waits this long; an agent that answers sooner streams its
 * text at once instead of queueing it behind the update and Teams' 1 request/s (issue 15).
 */
const INFORMATIVE_HOLD_MS = 300;

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
    const r = await traceSend(this.o.telemetry, activity, () => this.ctx.sendActivity(activity));
    return r?.id;
  }

  /** A paced POST of a new activity, retried only where a retry cannot duplicate it (RES-07). */
  private send(activity: Partial<Activity>): Promise<string | undefined> {
    return withConnectorRetry(() => this.sendOnce(activity), 'create', this.o.log, this.o.sleep);
  }

  beginAnswer(): TeamsAnswerStream {
    return new TeamsAnswerStream({
      send: (a) => this.sendOnce(a),
      update: (id, a) => this.replace(id, a),
      streaming: this.o.streaming && this.conversation.scope === 'personal',
      log: this.o.log.child('stream'),
      informativeHoldMs: INFORMATIVE_HOLD_MS,
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
    await this.replace(activityId, MessageFactory.attachment(CardFactory.adaptiveCard(card)));
  }

  /** A paced PUT of an activity sent earlier (idempotent, so 412/502/504 are retried too: RES-07). */
  private async replace(activityId: string, activity: Partial<Activity>): Promise<void> {
    const reference = this.reference as Partial<ConversationReference>;
    const update = {
      ...activity,
      id: activityId,
      ...(reference.conversation ? { conversation: reference.conversation } : {}),
    };
    await withConnectorRetry(
      async () => {
        await this.o.pacer.take(this.conversation.id);
        await traceSend(this.o.telemetry, 'card_update', () => this.ctx.updateActivity(update));
      },
      'update',
      this.o.log,
      this.o.sleep,
    );
  }
}
