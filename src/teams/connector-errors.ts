/**
 * Converts Bot Connector failures (botbuilder's RestError) into a small typed shape at the boundary.
 * Teams gives one code, `ContentStreamNotAllowed`, for five different stream errors and tells them apart
 * only by message text (msteams-docs bots/streaming-ux.md), so that classification necessarily reads the
 * message; everything else goes by status and code. Only a refusal that says the user cancelled is a Stop:
 * "Content stream is not allowed" (streaming switched off for the tenant, the user or the bot) and any
 * wording we do not know must not drop the answer (docs/real-services.md, Teams).
 */
export interface ConnectorFailure {
  status: number | undefined;
  code: string | undefined;
  kind:
    | 'user_cancelled'
    | 'stream_time_exceeded'
    | 'stream_completed'
    | 'stream_too_large'
    | 'stream_not_allowed'
    | 'bad_request'
    | 'throttled'
    | 'too_large'
    | 'other';
  retryAfterMs: number | undefined;
}

function bodyOf(err: Record<string, unknown>): { code?: unknown; message?: unknown } {
  const response = err['response'] as Record<string, unknown> | undefined;
  const candidates = [err['body'], response?.['parsedBody'], response?.['bodyAsText'], err['details']];
  for (const c of candidates) {
    let v: unknown = c;
    if (typeof v === 'string') {
      try {
        v = JSON.parse(v);
      } catch {
        continue;
      }
    }
    if (v && typeof v === 'object') {
      const inner = (v as Record<string, unknown>)['error'];
      const o = (inner && typeof inner === 'object' ? inner : v) as { code?: unknown; message?: unknown };
      if (o.code !== undefined || o.message !== undefined) return o;
    }
  }
  return {};
}

function header(err: Record<string, unknown>, name: string): string | undefined {
  const response = err['response'] as Record<string, unknown> | undefined;
  const headers = response?.['headers'] as
    { get?: (n: string) => string | undefined } | Record<string, string> | undefined;
  if (!headers) return undefined;
  if (typeof headers.get === 'function') return headers.get(name) ?? undefined;
  const h = headers as Record<string, string>;
  return h[name] ?? h[name.toLowerCase()];
}

/** The five messages of 403 ContentStreamNotAllowed ("cancelled" or "canceled"); unknown → not allowed. */
function streamRefusal(message: string): ConnectorFailure['kind'] {
  if (/cancel+ed by (the )?user/.test(message)) return 'user_cancelled';
  if (message.includes('exceeded streaming time')) return 'stream_time_exceeded';
  if (message.includes('too large')) return 'stream_too_large';
  if (message.includes('already completed')) return 'stream_completed';
  return 'stream_not_allowed';
}

export function classifyConnectorError(err: unknown): ConnectorFailure {
  if (!err || typeof err !== 'object')
    return { status: undefined, code: undefined, kind: 'other', retryAfterMs: undefined };
  const e = err as Record<string, unknown>;
  const status =
    typeof e['statusCode'] === 'number'
      ? e['statusCode']
      : typeof e['status'] === 'number'
        ? e['status']
        : undefined;
  const body = bodyOf(e);
  const code =
    typeof body.code === 'string' ? body.code : typeof e['code'] === 'string' ? e['code'] : undefined;
  const message = typeof body.message === 'string' ? body.message.toLowerCase() : '';
  const ra = header(e, 'retry-after');
  const retryAfterMs =
    ra !== undefined && /^\d+(\.\d+)?$/.test(ra) ? Math.min(Number(ra) * 1000, 60_000) : undefined;
  let kind: ConnectorFailure['kind'] = 'other';
  if (status === 429) kind = 'throttled';
  else if (status === 413 || code === 'MessageSizeTooBig') kind = 'too_large';
  else if (code === 'ContentStreamNotAllowed') kind = streamRefusal(message);
  else if ((status === 405 || status === 400) && (code === 'BadArgument' || message.includes('streaming')))
    kind = 'stream_not_allowed';
  else if (status === 400) kind = 'bad_request';
  return { status, code, kind, retryAfterMs };
}
