/**
 * Converts Bot Connector failures (botbuilder's RestError) into a small typed shape at the boundary.
 * Teams gives one code, `ContentStreamNotAllowed`, for four different stream errors and tells them apart
 * only by message text (msteams-docs bots/streaming-ux.md), so that classification necessarily reads the
 * message; everything else goes by status and code.
 */
export interface ConnectorFailure {
  status: number | undefined;
  code: string | undefined;
  kind:
    | 'user_cancelled'
    | 'stream_time_exceeded'
    | 'stream_too_large'
    | 'stream_not_allowed'
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
  else if (code === 'ContentStreamNotAllowed' || status === 403) {
    if (message.includes('exceeded streaming time')) kind = 'stream_time_exceeded';
    else if (message.includes('too large')) kind = 'stream_too_large';
    else if (message.includes('already completed')) kind = 'stream_not_allowed';
    else kind = code === 'ContentStreamNotAllowed' ? 'user_cancelled' : 'other';
  } else if ((status === 405 || status === 400) && (code === 'BadArgument' || message.includes('streaming')))
    kind = 'stream_not_allowed';
  return { status, code, kind, retryAfterMs };
}
