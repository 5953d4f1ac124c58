import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError, sendHtml, sendJson, startSse } from './http';
import type { RequestLogEntry } from './state';
import type { HttpError } from './wire';
import { ids } from './wire';

/** One request/response pair: a request id for `x-request-id`, and the log entry it keeps up to date. */
export class Exchange {
  readonly requestId = ids.request();

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly url: URL,
    readonly entry: RequestLogEntry | null,
  ) {}

  json(status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (this.entry) this.entry.status = status;
    sendJson(this.res, status, body, this.requestId, headers);
  }

  error(e: HttpError): void {
    if (this.entry) this.entry.status = e.status;
    sendError(this.res, e, this.requestId);
  }

  html(status: number, html: string): void {
    if (this.entry) this.entry.status = status;
    sendHtml(this.res, status, html);
  }

  sse(): void {
    if (this.entry) this.entry.status = 200;
    startSse(this.res, this.requestId);
  }

  /** Cut the TCP connection without a response (fault injection). */
  cut(): void {
    if (this.entry) this.entry.status = 0;
    this.res.socket?.destroy();
  }
}

export function newLogEntry(method: string, path: string): RequestLogEntry {
  return {
    at: new Date().toISOString(),
    method,
    path,
    status: 0,
    callerOid: null,
    callerTid: null,
    stream: false,
    responseId: null,
    previousResponseId: null,
    conversationId: null,
    inputKind: null,
    approvalResponses: [],
  };
}
