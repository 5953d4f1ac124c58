import type { Request as BotRequest, Response as BotResponse, TurnContext } from 'botbuilder';

/**
 * Runs one inbound activity through botbuilder's CloudAdapter and turns every outcome into an HTTP answer
 * the edge can send as is (docs/reliability.md §2.1, AUTH-01..06, LOG-03).
 *
 * botbuilder 4.23.3 answers 500 with `err.message` as the body for every authentication failure that is
 * not an `AuthenticationError` (alg none, HS256 with the public key, a bad signature, nbf in the future:
 * jsonwebtoken errors are rethrown as they are, `cloudAdapter.js` L105–107). So `adapter.process` writes
 * into an in-memory response, never into the real one, and we track whether the turn logic was entered:
 * - no turn and a non-2xx answer → an authentication failure → 401, no body text;
 * - a 5xx after the turn started → the caller answers a bare 500 with a correlation id;
 * - an invoke nobody answered (botbuilder's 501) → 400: the bot does not support that invoke.
 * botbuilder's error text is only handed to the logger (which scrubs it), never to the client.
 */
export interface ActivityProcessor {
  process(req: BotRequest, res: BotResponse, logic: (context: TurnContext) => Promise<void>): Promise<void>;
}

export type EdgeResult =
  | { kind: 'answer'; status: number; body?: unknown }
  | { kind: 'unauthorized'; reason: string }
  | { kind: 'unsupported_invoke' }
  | { kind: 'failed'; error: unknown };

/** A Bot Framework bearer header: exactly `Bearer <one JWT-shaped token>`. */
const BEARER_HEADER = /^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Shape check of the Authorization header done before botbuilder (cheap refusal of garbage): exactly
 * `Bearer <header>.<payload>.<signature>` whose payload is a JSON object with a numeric `exp`. botbuilder
 * (jsonwebtoken) accepts a correctly signed token **without** `exp` as never expiring; the Bot Framework rules
 * say a token must not be expired, so a token that cannot expire is refused here. Nothing is trusted from
 * this unverified decode: it can only refuse.
 */
export function isWellFormedBearer(header: string): boolean {
  if (header.length > 16_384 || !BEARER_HEADER.test(header)) return false;
  const payload = header.slice('Bearer '.length).split('.')[1] ?? '';
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) return false;
    const exp = (claims as Record<string, unknown>)['exp'];
    return typeof exp === 'number' && Number.isFinite(exp);
  } catch {
    return false;
  }
}

/** What botbuilder wrote into the response. */
interface Captured {
  status: number | undefined;
  body: unknown;
}

function captureResponse(): { res: BotResponse; captured: Captured } {
  const captured: Captured = { status: undefined, body: undefined };
  const res: BotResponse = {
    socket: undefined,
    status(code: number) {
      captured.status = code;
      return res;
    },
    header() {
      return res;
    },
    send(body: unknown) {
      captured.body = body;
      return res;
    },
    end() {
      return res;
    },
  };
  return { res, captured };
}

/** Why botbuilder refused: the first words of its text, never the claims or values it may quote. */
function refusalReason(body: unknown): string {
  if (typeof body !== 'string') return 'Refused';
  const words = /^[A-Za-z][A-Za-z .]{0,40}/.exec(body)?.[0]?.trim();
  return words && words.length > 0 ? words : 'Refused';
}

export async function runActivity(
  adapter: ActivityProcessor,
  authHeader: string,
  activity: Record<string, unknown>,
  logic: (context: TurnContext) => Promise<void>,
): Promise<EdgeResult> {
  let entered = false;
  const { res, captured } = captureResponse();
  const req: BotRequest = {
    method: 'POST',
    headers: authHeader ? { authorization: authHeader } : {},
    body: activity,
  };
  try {
    await adapter.process(req, res, async (ctx) => {
      entered = true;
      await logic(ctx);
    });
  } catch (err) {
    // botbuilder throws (instead of answering) only for bodies it cannot parse, before any turn.
    return entered ? { kind: 'failed', error: err } : { kind: 'unauthorized', reason: 'Rejected' };
  }
  const status = captured.status ?? 500;
  if (!entered) {
    return status < 300
      ? { kind: 'failed', error: new Error('no turn ran for an accepted request') }
      : { kind: 'unauthorized', reason: refusalReason(captured.body) };
  }
  if (status === 501 && activity['type'] === 'invoke') return { kind: 'unsupported_invoke' };
  if (status >= 500 && typeof captured.body === 'string') {
    // botbuilder's own catch: the turn threw past onTurnError; its text is for the log only.
    return { kind: 'failed', error: new Error(captured.body) };
  }
  return captured.body === undefined
    ? { kind: 'answer', status }
    : { kind: 'answer', status, body: captured.body };
}
