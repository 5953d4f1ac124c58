import type { Logger } from '../observability/logger';
import type { FinalAnswer } from '../relay/model';
import type { AnswerStream, StreamOutcome } from '../relay/ports';
import { classifyConnectorError } from './connector-errors';
import { applyCitations, finalText, splitText, TEXT_BUDGET_BYTES, utf16Bytes } from './message';
import {
  answerMessage,
  closeStreamMessage,
  finalStreamMessage,
  informativeUpdate,
  streamingChunk,
  type OutgoingActivity,
} from './stream-activities';

/** Sends one activity to the conversation; resolves with the created activity id when the service gives one. */
type SendActivity = (activity: OutgoingActivity) => Promise<string | undefined>;

export interface TeamsStreamOptions {
  send: SendActivity;
  /** Stream in this conversation (1:1 chats only: Teams rejects streaming elsewhere with 405 BadArgument). */
  streaming: boolean;
  log: Logger;
  clock?: () => number;
  /** Teams: ≤ 1 streaming request per second, the next only after the previous succeeded (streaming-ux.md). */
  minGapMs?: number;
  /** Teams ends streams after 2 minutes; we stop streaming before that and send a regular message. */
  softDeadlineMs?: number;
  /** Group chats and channels: how often to re-send the typing indicator. */
  typingIntervalMs?: number;
  feedback?: boolean;
  /**
   * How long the first informative update waits before it is sent (default 0; the bot uses 300 ms,
   * turn-io.ts). Text that arrives
   * within the hold goes out first and the informative update is skipped, so a quick answer is not stuck
   * behind it and the 1 request/s gap (issue 15).
   */
  informativeHoldMs?: number;
}

type State = 'open' | 'fallback' | 'cancelled' | 'done';

/**
 * The Teams answer sink (conventions.md C10, reliability-plan §2.6, STR-03…06):
 * - 1:1: an informative update first, then text chunks at least `minGapMs` apart (deltas coalesced, the
 *   cumulative text each time, `streamSequence` 1, 2, 3…), one request in flight, then a final message
 *   (`streamType: final`, no sequence) with citations, the AI label and feedback buttons;
 * - 403 ContentStreamNotAllowed (user pressed stop) aborts `cancelled` and sends nothing more;
 * - exceeded streaming time / too large / not allowed, or the soft deadline: stop streaming, and the final
 *   text goes out as a regular message;
 * - groups and channels: typing indicators, then one final message;
 * - text over the size budget is split into several messages.
 */
export class TeamsAnswerStream implements AnswerStream {
  private readonly ac = new AbortController();
  private readonly clock: () => number;
  private readonly minGapMs: number;
  private readonly softDeadlineMs: number;
  private state: State;
  private buffer = '';
  private sentLength = 0;
  private informativeText: string | undefined;
  private textStarted = false;
  private streamId: string | undefined;
  private sequence = 0;
  private firstSendAt: number | undefined;
  private lastSendAt = -Infinity;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  /** When the first informative update may go out (set by the first `informative` call). */
  private informativeDue: number | undefined;
  private typingTimer: NodeJS.Timeout | undefined;
  private fellBack = false;
  private sizeCapped = false;

  constructor(private readonly o: TeamsStreamOptions) {
    this.clock = o.clock ?? Date.now;
    this.minGapMs = o.minGapMs ?? 1000;
    this.softDeadlineMs = o.softDeadlineMs ?? 100_000;
    this.state = o.streaming ? 'open' : 'fallback';
  }

  /** Read through a method: the state can change while `finish` awaits the request in flight. */
  private isCancelled(): boolean {
    return this.state === 'cancelled';
  }

  get cancelled(): AbortSignal {
    return this.ac.signal;
  }

  informative(text: string): void {
    if (this.state === 'fallback') this.startTyping();
    if (this.state !== 'open' || this.textStarted) return;
    this.informativeText = text;
    this.informativeDue ??= this.clock() + (this.o.informativeHoldMs ?? 0);
    this.schedule();
  }

  text(delta: string): void {
    if (this.state === 'cancelled' || this.state === 'done') return;
    this.buffer += delta;
    this.textStarted = true;
    if (this.state === 'fallback') this.startTyping();
    else this.schedule();
  }

  async finish(answer: FinalAnswer): Promise<StreamOutcome> {
    if (this.state === 'cancelled') return 'user_cancelled';
    await this.settle();
    if (this.isCancelled()) return 'user_cancelled';
    const { text, citations } = applyCitations(finalText(answer), answer.citations);
    const parts = splitText(text.length > 0 ? text : '(no answer)');
    const openStreamId = this.state === 'open' ? this.streamId : undefined;
    const wasStreaming = openStreamId !== undefined;
    this.state = 'done';
    const feedback = this.o.feedback !== false;
    let outcome: StreamOutcome = this.fellBack ? 'fell_back_to_message' : 'completed';
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? '';
      const partCitations = citations.filter((c) => part.includes(`[${c.position}]`));
      const activity =
        i === 0 && openStreamId !== undefined
          ? finalStreamMessage(part, partCitations, feedback, openStreamId)
          : answerMessage(part, partCitations, feedback);
      try {
        await this.sendWithOneThrottleRetry(activity);
      } catch (err) {
        const f = classifyConnectorError(err);
        if (i === 0 && wasStreaming && f.kind !== 'other' && f.kind !== 'throttled') {
          // The stream could not be finalised (time exceeded, too large…): send the text as a regular message.
          this.o.log.warn('stream.final_rejected', { kind: f.kind, status: f.status });
          await this.sendWithOneThrottleRetry(answerMessage(part, partCitations, feedback));
          outcome = 'fell_back_to_message';
          continue;
        }
        this.o.log.error('stream.final_failed', { kind: f.kind, status: f.status });
        return 'failed';
      }
    }
    return outcome;
  }

  async abandon(note?: string): Promise<void> {
    if (this.state === 'cancelled' || this.state === 'done') return;
    await this.settle();
    const openStreamId = this.state === 'open' ? this.streamId : undefined;
    this.state = 'done';
    if (openStreamId === undefined) return;
    // A stream that was started must be closed, or Teams keeps a progress bubble until its 2-minute cap.
    try {
      await this.o.send(
        closeStreamMessage(this.buffer.length > 0 ? this.buffer : (note ?? 'See below.'), openStreamId),
      );
    } catch (err) {
      this.o.log.warn('stream.close_failed', { kind: classifyConnectorError(err).kind });
    }
  }

  /** Stops timers and waits for the request in flight. */
  private async settle(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
    this.stopTyping();
    if (this.inFlight) await this.inFlight;
  }

  private schedule(): void {
    if (this.state !== 'open' || this.inFlight || this.sizeCapped) return;
    const now = this.clock();
    let due = Math.max(now, this.lastSendAt + this.minGapMs);
    // Nothing sent yet and no text: the informative update is held (text arriving meanwhile replaces it).
    if (this.sequence === 0 && !this.textStarted) due = Math.max(due, this.informativeDue ?? now);
    if (this.timer) {
      if (this.timerDue <= due) return;
      clearTimeout(this.timer);
    }
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Infinity;
      this.flush();
    }, due - now);
    this.timer.unref?.();
  }

  private flush(): void {
    if (this.state !== 'open' || this.inFlight) return;
    const now = this.clock();
    if (this.firstSendAt !== undefined && now - this.firstSendAt > this.softDeadlineMs) {
      this.o.log.info('stream.soft_deadline', { ms: now - this.firstSendAt });
      this.fallBack();
      return;
    }
    let activity: OutgoingActivity;
    if (this.buffer.length > this.sentLength) {
      if (this.streamId === undefined && this.sequence > 0) return; // wait for the stream id
      if (utf16Bytes(this.buffer) > TEXT_BUDGET_BYTES) {
        // Every chunk carries the cumulative text: past the budget Teams answers 403 "Message size too large"
        // (STR-06). Stop sending chunks; `finish` closes the stream with the first part and sends the rest.
        if (!this.sizeCapped) this.o.log.info('stream.size_cap', { chars: this.buffer.length });
        this.sizeCapped = true;
        return;
      }
      this.sequence += 1;
      activity = streamingChunk(this.buffer, this.sequence, this.streamId);
      this.sentLength = this.buffer.length;
    } else if (this.informativeText !== undefined && !this.textStarted) {
      this.sequence += 1;
      activity = informativeUpdate(this.informativeText, this.sequence, this.streamId);
      this.informativeText = undefined;
    } else return;
    this.firstSendAt ??= now;
    this.lastSendAt = now;
    this.inFlight = this.o
      .send(activity)
      .finally(() => {
        // The gap runs from the answer, not from the call: the send may first wait in the pacer, and Teams
        // wants the next request only after a successful response, ≥ 1 s apart (STR-03).
        if (this.lastSendAt <= this.clock()) this.lastSendAt = this.clock();
      })
      .then((id) => {
        if (this.streamId === undefined) {
          if (id) this.streamId = id;
          else {
            // No stream id came back: this client does not stream. Show typing and send one message at the end.
            this.o.log.info('stream.unsupported');
            this.fallBack();
          }
        }
      })
      .catch((err: unknown) => this.onSendError(err))
      .finally(() => {
        this.inFlight = undefined;
        if (
          this.state === 'open' &&
          (this.buffer.length > this.sentLength || (this.informativeText !== undefined && !this.textStarted))
        )
          this.schedule();
      });
  }

  private onSendError(err: unknown): void {
    const f = classifyConnectorError(err);
    switch (f.kind) {
      case 'user_cancelled':
        this.o.log.info('stream.user_cancelled');
        this.state = 'cancelled';
        this.stopTyping();
        this.ac.abort();
        return;
      case 'throttled':
        // Skip this chunk; the next one carries the cumulative text.
        this.lastSendAt = this.clock() + (f.retryAfterMs ?? 2000) - this.minGapMs;
        this.sentLength = 0;
        return;
      case 'stream_time_exceeded':
      case 'stream_too_large':
      case 'stream_not_allowed':
      case 'too_large':
      case 'other':
        this.o.log.warn('stream.fallback', { kind: f.kind, status: f.status });
        this.fallBack();
        return;
    }
  }

  private fallBack(): void {
    if (this.state !== 'open') return;
    this.state = 'fallback';
    this.fellBack = true;
    this.streamId = undefined;
    this.startTyping();
  }

  private startTyping(): void {
    if (this.typingTimer || this.state === 'done' || this.state === 'cancelled') return;
    const tick = (): void => {
      this.o.send({ type: 'typing' }).catch(() => undefined);
    };
    tick();
    this.typingTimer = setInterval(tick, this.o.typingIntervalMs ?? 3000);
    this.typingTimer.unref?.();
  }

  private stopTyping(): void {
    if (this.typingTimer) clearInterval(this.typingTimer);
    this.typingTimer = undefined;
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
