import type { ServerResponse } from 'node:http';
import type { EventBody, StreamEvent } from './wire';

/**
 * SSE framing (docs/foundry-wire.md §3.1): `event: <type>` + `data: <json>` + blank line, `sequence_number`
 * from 0 and strictly increasing per response, no `[DONE]` unless asked.
 *
 * A response's events go into a `ResponseRun`, decoupled from the HTTP connection: the run keeps going when
 * the client drops (or a `disconnect` fault cuts it), so `GET …/responses/{id}?stream=true&starting_after=n`
 * can replay what was missed and follow the rest.
 */
export function frame(e: StreamEvent): string {
  return `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

export const DONE_FRAME = 'data: [DONE]\n\n';

type Listener = (e: StreamEvent | null) => void;

export class ResponseRun {
  readonly events: StreamEvent[] = [];
  private readonly listeners = new Set<Listener>();
  private ended = false;

  get finished(): boolean {
    return this.ended;
  }

  push(body: EventBody): StreamEvent {
    if (this.ended) throw new Error('ResponseRun already finished');
    const e: StreamEvent = { ...body, sequence_number: this.events.length };
    this.events.push(e);
    for (const l of [...this.listeners]) l(e);
    return e;
  }

  finish(): void {
    if (this.ended) return;
    this.ended = true;
    for (const l of [...this.listeners]) l(null);
    this.listeners.clear();
  }

  /** Replays events after `startingAfter` (-1 = all), then follows live ones; `null` marks the end. */
  subscribe(startingAfter: number, listener: Listener): () => void {
    for (const e of this.events) if (e.sequence_number > startingAfter) listener(e);
    if (this.ended) {
      listener(null);
      return () => undefined;
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export interface PipeOptions {
  startingAfter: number;
  /** Destroy the socket after this many events were written on this connection. */
  disconnectAfter?: number;
  doneSentinel: boolean;
}

/** Streams a run to an HTTP response whose SSE headers are already sent. Resolves when the connection ends. */
export function pipeRun(run: ResponseRun, res: ServerResponse, opts: PipeOptions): Promise<void> {
  return new Promise((resolve) => {
    let written = 0;
    let done = false;
    let unsubscribe: () => void = () => undefined;
    const finish = (): void => {
      if (done) return;
      done = true;
      unsubscribe();
      resolve();
    };
    res.on('close', finish);
    unsubscribe = run.subscribe(opts.startingAfter, (e) => {
      if (done) return;
      if (e === null) {
        if (opts.doneSentinel) res.write(DONE_FRAME);
        res.end();
        finish();
        return;
      }
      written += 1;
      if (opts.disconnectAfter !== undefined && written >= opts.disconnectAfter) {
        // Cut once the bytes so far reached the kernel: the client sees N events, then a dead connection
        // (no chunked terminator), as with a real network drop.
        const socket = res.socket;
        res.write(frame(e), () => socket?.destroy());
        finish();
        return;
      }
      res.write(frame(e));
    });
    if (done) unsubscribe();
  });
}
