import type { Activity } from 'botbuilder';
import type { EdgeResult } from '../http/activity-edge';
import { failSpan, inSpan, type Telemetry } from '../observability/telemetry';
import { classifyConnectorError } from './connector-errors';

/**
 * The Teams ends of a trace (README "Operating it"): `teams.activity` around each inbound activity (type,
 * invoke name, conversation scope, HTTP status) and `teams.send` around each outbound send (kind, status).
 * Only values from fixed sets become attributes: an activity's own strings are untrusted, and its text,
 * card data and ids never go into telemetry.
 */

const ACTIVITY_TYPES = new Set(['message', 'invoke', 'conversationUpdate', 'installationUpdate', 'typing']);
const INVOKE_NAMES = new Set([
  'adaptiveCard/action',
  'message/submitAction',
  'signin/tokenExchange',
  'signin/verifyState',
  'signin/failure',
]);
const SCOPES = new Set(['personal', 'groupChat', 'channel']);

const known = (set: ReadonlySet<string>, v: unknown): string =>
  typeof v === 'string' && set.has(v) ? v : 'other';

/** Runs one inbound activity in its `teams.activity` span. */
export function traceActivity(
  tel: Telemetry | undefined,
  activity: Record<string, unknown>,
  run: () => Promise<EdgeResult>,
): Promise<EdgeResult> {
  if (!tel) return run();
  const conversation = activity['conversation'] as { conversationType?: unknown } | undefined;
  const type = known(ACTIVITY_TYPES, activity['type']);
  const attributes = {
    'teams.activity.type': type,
    ...(type === 'invoke' ? { 'teams.activity.name': known(INVOKE_NAMES, activity['name']) } : {}),
    'teams.conversation.scope': known(SCOPES, conversation?.conversationType ?? 'personal'),
  };
  return inSpan(tel.tracer, 'teams.activity', attributes, async (span) => {
    const r = await run();
    span.setAttribute('teams.activity.result', r.kind);
    if (r.kind === 'answer') span.setAttribute('http.response.status_code', r.status);
    if (r.kind === 'failed') failSpan(span, r.error);
    return r;
  });
}

type SendKind = 'stream' | 'final' | 'message' | 'card' | 'card_update';

/** What an outgoing activity is, for `teams.send.kind`; typing indicators are not traced. */
function sendKind(a: Partial<Activity>): SendKind | undefined {
  const streamType = (a.channelData as { streamType?: unknown } | undefined)?.streamType;
  if (streamType === 'informative' || streamType === 'streaming') return 'stream';
  if (streamType === 'final') return 'final';
  if (a.type === 'typing') return undefined;
  return (a.attachments?.length ?? 0) > 0 ? 'card' : 'message';
}

/** Runs one Bot Connector call in a `teams.send` span; a 429 also counts as `relay.throttled{teams}`. */
export function traceSend<T>(
  tel: Telemetry | undefined,
  activity: Partial<Activity> | 'card_update',
  send: () => Promise<T>,
): Promise<T> {
  const kind = activity === 'card_update' ? activity : sendKind(activity);
  if (!tel || !kind) return send();
  return inSpan(tel.tracer, 'teams.send', { 'teams.send.kind': kind }, async (span) => {
    try {
      const r = await send();
      span.setAttribute('teams.send.status', 'ok');
      return r;
    } catch (err) {
      const f = classifyConnectorError(err);
      span.setAttribute('teams.send.status', f.kind);
      if (f.status !== undefined) span.setAttribute('http.response.status_code', f.status);
      if (f.kind === 'throttled') tel.throttled('teams');
      throw err;
    }
  });
}
