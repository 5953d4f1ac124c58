import type { Logger } from '../observability/logger';
import type { FinalAnswer } from '../relay/model';
import type { AnswerStream, StreamOutcome } from '../relay/ports';
import { AnswerDelivery, type Part } from './answer-delivery';
import { classifyConnectorError } from './connector-errors';
import { applyCitations, finalText, serialisedBytes, splitText, TEXT_BUDGET_BYTES } from './message';
import {
  closeStreamMessage,
  informativeUpdate,
  streamingChunk,
  type OutgoingActivity,
} from './stream-activities';

/** Sends one activity to the conversation; resolves with the created activity id when the service gives one. */
type SendActivity = (activity: OutgoingActivity) => Promise<string | undefined>;
/** Replaces an activity the bot sent earlier (PUT …/activities/{id}). */
type UpdateActivity = (activityId: string, activity: OutgoingActivity) => Promise<void>;

export interface TeamsStreamOptions {
  send: SendActivity;
  /** Updates a stream's message in place once the stream was closed early (time cap); without it, a new message. */
  update?: UpdateActivity;
  /** Stream in this conversation (1:1 chats only: Teams rejects streaming elsewhere with 405 BadArgument). */
  streaming: boolean;
  log: Logger;
  clock?: () => number;
  /** Teams: ≤ 1 streaming request per second, the next only after the previous succeeded (streaming-ux.md). */
  minGapMs?: number;
  /** Teams ends streams after 2 minutes; we close ours before that and deliver the answer in place at the end. */
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

/**
 * - open: streaming (a stream message exists once Teams returned its id);
 * - closed: the stream's message exists but takes no more stream requests (our soft deadline closed it, or
 *   Teams ended it: 2-minute cap, already completed, not allowed) — the answer replaces it in place at the end;
 * - fallback: no stream message exists (group chats, streaming switched off or unsupported): a new message;
 * - cancelled: the user pressed Stop; done: finished.
 */
type State = 'open' | 'closed' | 'fallback' | 'cancelled' | 'done';

/** The text a stream is closed with at the soft deadline when no answer text came yet. */
const STILL_WORKING = 'Still working on the answer…';

/**
 * The Teams answer sink (docs/conventions.md C10, reliability.md §2.6, STR-03…06, docs/real-services.md Teams):
 * - 1:1: an informative update first, then text chunks at least `minGapMs` apart (deltas coalesced, the
 *   cumulative text each time, `streamSequence` 1, 2, 3…), one request in flight, then a final message
 *   (`streamType: final`, no sequence) with citations, the AI label and feedback buttons;
 * - only a 403 that says the user cancelled is a Stop: abort `cancelled` and send nothing more;
 * - "Content stream is not allowed" before a stream exists: typing, then the whole answer as a regular message;
 * - a started stream is always closed: at the soft deadline it is closed with the text so far and the answer
 *   replaces it in place at the end (also after Teams' own 2-minute cap); too large or other chunk errors stop
 *   the chunks and the final still closes the stream;
 * - groups and channels: typing indicators, then one final message;
 * - text over the size budget (measured as serialised) is split into several messages;
 * - `finish` never throws: an answer that could not be delivered is reported as `failed`.
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
  private deadlineTimer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  /** When the first informative update may go out (set by the first `informative` call). */
  private informativeDue: number | undefined;
  private typingTimer: NodeJS.Timeout | undefined;
  private fellBack = false;
  private timedOut = false;
  private readonly delivery: AnswerDelivery;
  /** No more chunks (too large, or a chunk failed); the final still closes the stream. */
  private paused = false;
  private deadlinePassed = false;

  constructor(private readonly o: TeamsStreamOptions) {
    this.delivery = new AnswerDelivery(o);
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
    if (this.state === 'fallback' || this.state === 'closed') this.startTyping();
    if (this.state !== 'open' || this.textStarted) return;
    this.informativeText = text;
    this.informativeDue ??= this.clock() + (this.o.informativeHoldMs ?? 0);
    this.schedule();
  }

  text(delta: string): void {
    if (this.state === 'cancelled' || this.state === 'done') return;
    this.buffer += delta;
    this.textStarted = true;
    if (this.state === 'open') this.schedule();
    else this.startTyping();
  }

  async finish(answer: FinalAnswer): Promise<StreamOutcome> {
    if (this.state === 'cancelled') return 'user_cancelled';
    await this.settle();
    if (this.isCancelled()) return 'user_cancelled';
    const { text, citations } = applyCitations(finalText(answer), answer.citations);
    const parts = splitText(text.length > 0 ? text : '(no answer)').map((t) => ({
      text: t,
      citations: citations.filter((c) => t.includes(`[${c.position}]`)),
    }));
    const streamId = this.streamId;
    const first: 'final' | 'update' | 'post' =
      streamId === undefined ? 'post' : this.state === 'open' ? 'final' : 'update';
    this.state = 'done';
    let outcome: StreamOutcome = this.timedOut
      ? 'timed_out'
      : this.fellBack
        ? 'fell_back_to_message'
        : 'completed';
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as Part;
      const how = i === 0 && streamId !== undefined ? first : 'post';
      const r = await this.delivery.deliver(part, how, streamId ?? '');
      if (r === 'failed') return 'failed';
      if (r === 'moved' && outcome === 'completed') outcome = 'fell_back_to_message';
    }
    return outcome;
  }

  async abandon(note?: string): Promise<void> {
    if (this.state === 'cancelled' || this.state === 'done') return;
    await this.settle();
    if (this.isCancelled()) return;
    const { state, streamId } = this;
    this.state = 'done';
    if (streamId === undefined || state === 'fallback') return;
    // A stream that was started must be closed, or Teams keeps a progress bubble until its 2-minute cap.
    const text = this.buffer.length > 0 ? this.buffer : (note ?? 'See below.');
    try {
      if (state === 'open') await this.o.send(closeStreamMessage(text, streamId));
      else if (this.buffer.length === 0 && this.o.update)
        await this.o.update(streamId, { type: 'message', text });
    } catch (err) {
      this.o.log.warn('stream.close_failed', { kind: classifyConnectorError(err).kind });
    }
  }

  /** Stops timers and waits for the request in flight. */
  private async settle(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.timer = undefined;
    this.deadlineTimer = undefined;
    this.timerDue = Infinity;
    this.stopTyping();
    while (this.inFlight) await this.inFlight;
  }

  private schedule(): void {
    if (this.state !== 'open' || this.inFlight) return;
    if (this.paused && !this.deadlinePassed) return;
    const now = this.clock();
    // Past the soft deadline: close at once. Otherwise Teams' 1 request/s, and the first informative update
    // is held briefly (informativeHoldMs) so text arriving meanwhile goes out instead.
    let due = this.deadlinePassed ? now : Math.max(now, this.lastSendAt + this.minGapMs);
    if (!this.deadlinePassed && this.sequence === 0 && !this.textStarted)
      due = Math.max(due, this.informativeDue ?? now);
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

  /** The soft deadline runs from the first request, whether or not more text comes (STR-04). */
  private startDeadline(): void {
    this.deadlineTimer = setTimeout(() => {
      this.deadlinePassed = true;
      this.schedule();
    }, this.softDeadlineMs);
    this.deadlineTimer.unref?.();
  }

  private nextUpdate(): OutgoingActivity | undefined {
    if (this.buffer.length > this.sentLength && !this.paused) {
      if (this.streamId === undefined && this.sequence > 0) return undefined; // wait for the stream id
      if (serialisedBytes(this.buffer) > TEXT_BUDGET_BYTES) {
        // Every chunk carries the cumulative text: past the budget Teams answers 403 "Message size too large"
        // (STR-06). Stop sending chunks; `finish` closes the stream with the first part and sends the rest.
        this.o.log.info('stream.size_cap', { chars: this.buffer.length });
        this.paused = true;
        return undefined;
      }
      this.sequence += 1;
      this.sentLength = this.buffer.length;
      return streamingChunk(this.buffer, this.sequence, this.streamId);
    }
    if (this.informativeText !== undefined && !this.textStarted) {
      this.sequence += 1;
      const text = this.informativeText;
      this.informativeText = undefined;
      return informativeUpdate(text, this.sequence, this.streamId);
    }
    return undefined;
  }

  private flush(): void {
    if (this.state !== 'open' || this.inFlight) return;
    const now = this.clock();
    const pastDeadline =
      this.deadlinePassed || (this.firstSendAt !== undefined && now - this.firstSendAt > this.softDeadlineMs);
    if (pastDeadline) return this.closeEarly(now);
    const activity = this.nextUpdate();
    if (!activity) return;
    if (this.firstSendAt === undefined) {
      this.firstSendAt = now;
      this.startDeadline();
    }
    this.lastSendAt = now;
    this.track(
      this.o.send(activity).then((id) => {
        if (this.streamId === undefined) {
          if (id) this.streamId = id;
          else {
            // No stream id came back: this client does not stream. Show typing and send one message at the end.
            this.o.log.info('stream.unsupported');
            this.fallBack();
          }
        }
      }),
    );
  }

  private track(request: Promise<void>): void {
    this.inFlight = request
      .finally(() => {
        // The gap runs from the answer, not from the call: the send may first wait in the pacer, and Teams
        // wants the next request only after a successful response, ≥ 1 s apart (STR-03).
        if (this.lastSendAt <= this.clock()) this.lastSendAt = this.clock();
      })
      .catch((err: unknown) => this.onSendError(err))
      .finally(() => {
        this.inFlight = undefined;
        const pending =
          this.buffer.length > this.sentLength || (this.informativeText !== undefined && !this.textStarted);
        if (this.state === 'open' && (pending || this.deadlinePassed)) this.schedule();
      });
  }

  /**
   * Our soft deadline, before Teams' 2-minute cap: close the stream now with the text so far (so no progress
   * bubble is left), and replace that message with the answer at the end.
   */
  private closeEarly(now: number): void {
    this.o.log.info('stream.soft_deadline', { ms: now - (this.firstSendAt ?? now) });
    const streamId = this.streamId;
    if (streamId === undefined) return this.fallBack();
    this.state = 'closed';
    this.timedOut = true;
    this.startTyping();
    const text = this.buffer.length > 0 ? this.buffer : STILL_WORKING;
    this.track(
      this.o.send(closeStreamMessage(text, streamId)).then(() => {
        this.sentLength = this.buffer.length;
      }),
    );
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
      case 'stream_completed':
      case 'stream_not_allowed':
        this.o.log.warn('stream.ended_by_teams', { kind: f.kind, status: f.status });
        if (f.kind === 'stream_time_exceeded') this.timedOut = true;
        return this.endedByTeams();
      case 'stream_too_large':
      case 'too_large':
      case 'bad_request':
      case 'other':
        this.o.log.warn('stream.chunk_failed', { kind: f.kind, status: f.status });
        // Without a stream id nothing is open: a regular message at the end. Otherwise keep the stream
        // open without more chunks, so the final closes it.
        if (this.streamId === undefined) this.fallBack();
        else this.paused = true;
        return;
    }
  }

  /** Teams takes no more requests for this stream: its message (if any) is replaced at the end. */
  private endedByTeams(): void {
    if (this.state !== 'open') return;
    if (this.streamId === undefined) return this.fallBack();
    this.state = 'closed';
    this.startTyping();
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
}
