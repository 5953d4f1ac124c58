import type { Logger } from '../observability/logger';
import { classifyConnectorError, type ConnectorFailure } from './connector-errors';
import { MESSAGE_BUDGET_BYTES, serialisedBytes, type TeamsCitation } from './message';
import { answerMessage, finalStreamMessage, type OutgoingActivity } from './stream-activities';

/** Stream refusals after which Teams takes no more requests for that stream. */
const STREAM_GONE: ReadonlySet<ConnectorFailure['kind']> = new Set([
  'stream_time_exceeded',
  'stream_completed',
  'stream_not_allowed',
]);

/** One message of an answer (long answers are split) with the citations its text refers to. */
export interface Part {
  text: string;
  citations: TeamsCitation[];
}

interface DeliveryOptions {
  send: (activity: OutgoingActivity) => Promise<string | undefined>;
  update?: ((activityId: string, activity: OutgoingActivity) => Promise<void>) | undefined;
  log: Logger;
  feedback?: boolean | undefined;
}

/**
 * How the final answer reaches Teams once the stream is over (stream.ts decides when): the stream's final,
 * the closed stream's message replaced in place, or a new message; citations that do not fit Teams' size or
 * that Teams refuses are dropped rather than losing the answer; one retry after a 429.
 */
export class AnswerDelivery {
  constructor(private readonly o: DeliveryOptions) {}

  /**
   * Delivers one part: `final` closes the open stream, `update` replaces the closed stream's message, `post`
   * sends a new message. A final Teams refuses because the stream is gone moves to `update`, then `post`.
   */
  async deliver(
    part: Part,
    how: 'final' | 'update' | 'post',
    streamId: string,
  ): Promise<'ok' | 'moved' | 'failed'> {
    const feedback = this.o.feedback !== false;
    const plain = (c: TeamsCitation[]): OutgoingActivity => answerMessage(part.text, c, feedback);
    if (how === 'final') {
      try {
        await this.sendMessage((c) => finalStreamMessage(part.text, c, feedback, streamId), part.citations);
        return 'ok';
      } catch (err) {
        const f = classifyConnectorError(err);
        if (!STREAM_GONE.has(f.kind) && f.kind !== 'stream_too_large') return this.failed(f);
        this.o.log.warn('stream.final_rejected', { kind: f.kind, status: f.status });
        how = 'update';
      }
    }
    if (how === 'update' && this.o.update) {
      try {
        await this.o.update(streamId, plain(this.fitting(plain, part.citations)));
        return 'ok';
      } catch (err) {
        this.o.log.warn('stream.update_failed', { kind: classifyConnectorError(err).kind });
      }
    }
    try {
      await this.sendMessage(plain, part.citations);
      return how === 'post' ? 'ok' : 'moved';
    } catch (err) {
      return this.failed(classifyConnectorError(err));
    }
  }

  private failed(f: ConnectorFailure): 'failed' {
    this.o.log.error('stream.final_failed', { kind: f.kind, status: f.status });
    return 'failed';
  }

  /** The citations an activity can carry and stay within Teams' message size (none if they do not fit). */
  private fitting(
    build: (c: TeamsCitation[]) => OutgoingActivity,
    citations: TeamsCitation[],
  ): TeamsCitation[] {
    if (citations.length === 0 || serialisedBytes(build(citations)) <= MESSAGE_BUDGET_BYTES) return citations;
    this.o.log.warn('stream.citations_dropped', { reason: 'size', count: citations.length });
    return [];
  }

  /**
   * Sends a message (one retry after a 429: it was not accepted, so no duplicate). A 400 on a message with
   * citations (Teams refuses the whole message for one bad citation entity) is sent once more without them.
   */
  private async sendMessage(
    build: (c: TeamsCitation[]) => OutgoingActivity,
    citations: TeamsCitation[],
  ): Promise<void> {
    const cits = this.fitting(build, citations);
    try {
      await this.sendWithOneThrottleRetry(build(cits));
    } catch (err) {
      if (cits.length === 0 || classifyConnectorError(err).kind !== 'bad_request') throw err;
      this.o.log.warn('stream.citations_dropped', { reason: 'rejected', count: cits.length });
      await this.sendWithOneThrottleRetry(build([]));
    }
  }

  private async sendWithOneThrottleRetry(activity: OutgoingActivity): Promise<void> {
    try {
      await this.o.send(activity);
    } catch (err) {
      const f = classifyConnectorError(err);
      if (f.kind !== 'throttled') throw err;
      // A 429 means the message was not accepted: waiting and sending again cannot duplicate it.
      await new Promise((r) => setTimeout(r, f.retryAfterMs ?? 1000));
      await this.o.send(activity);
    }
  }
}
