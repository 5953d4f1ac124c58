import * as restify from 'restify';
import { z } from 'zod';
import { newCorrelationId, type Logger } from '../observability/logger';
import { isWellFormedBearer, type EdgeResult } from './activity-edge';

/**
 * The HTTP edge: `POST /api/messages`, `GET /healthz` (liveness), `GET /readyz` (readiness).
 * Bad input gets a 4xx and never reaches the bot logic (docs/reliability.md §2.1 pitfalls, FUZZ-01):
 * - bodies over 256 KB → 413; non-JSON → 400; a body that is not an activity object → 400
 *   (botbuilder's CloudAdapter answers `{}` with a 500 because it validates outside its try);
 * - a `serviceUrl` outside the outbound allow-list → 400 before anything is processed, so a forged URL
 *   can never receive the bot's token (AUTH-05);
 * - authentication (when `authRequired`): a missing, duplicated or malformed `Authorization` header → 401
 *   before botbuilder sees the request; any failure of botbuilder's token validation → 401 with no error
 *   text (activity-edge.ts; botbuilder itself answers some of them with a 500 and the error message);
 * - any error escaping the turn → a bare 500 with a correlation id, never the error text;
 * - an invoke nobody answered (botbuilder's 501) → 400;
 * - while draining (SIGTERM) new requests get 503.
 */
const MAX_BODY_BYTES = 256 * 1024;

/** Just enough shape to be an activity; the adapter and the edge validate the rest. */
const ActivityShape = z
  .object({
    type: z.string().min(1).max(64),
    id: z.string().max(512).optional(),
    serviceUrl: z.string().min(1).max(2048),
    channelId: z.string().min(1).max(64),
    conversation: z.object({ id: z.string().min(1).max(1024) }).passthrough(),
    from: z.object({ id: z.string().min(1).max(512) }).passthrough(),
    recipient: z
      .object({ id: z.string().max(512) })
      .passthrough()
      .optional(),
    text: z.string().max(MAX_BODY_BYTES).optional(),
    name: z.string().max(256).optional(),
  })
  .passthrough();

/** Runs the adapter for one validated activity (see activity-edge.ts `runActivity`). */
interface MessageHandler {
  (input: { activity: Record<string, unknown>; authorization: string }): Promise<EdgeResult>;
}

export interface ServerOptions {
  log: Logger;
  /** Runs the adapter for one validated request. */
  handle: MessageHandler;
  /** True when the bot has an app id: every request must carry a Bot Framework bearer token. */
  authRequired: boolean;
  /** Whether a serviceUrl may receive replies. */
  serviceUrlAllowed: (serviceUrl: string) => boolean;
  /** Readiness: false while draining or when a dependency is down. */
  ready: () => boolean;
  /** True once shutdown began: /api/messages answers 503. */
  draining: () => boolean;
  /** More routes (user mode: the sign-in pages, sign-in-routes.ts). */
  routes?: (server: restify.Server) => void;
}

function sendJson(res: restify.Response, status: number, body: Record<string, unknown>): void {
  if (res.headersSent) return;
  res.status(status);
  res.json(body);
}

function unauthorized(res: restify.Response): void {
  res.header('WWW-Authenticate', 'Bearer');
  sendJson(res, 401, { error: 'Unauthorized' });
}

export function createServer(o: ServerOptions): restify.Server {
  const log = o.log.child('http');
  const server = restify.createServer({ name: 'foundry-teams-relay', handleUncaughtExceptions: false });
  server.pre(rejectDeclaredOversize);
  server.use(
    restify.plugins.bodyParser({
      maxBodySize: MAX_BODY_BYTES,
      mapParams: false,
      mapFiles: false,
      rejectUnknown: true,
    }),
  );

  server.get('/healthz', (_req, res, next) => {
    sendJson(res, 200, { status: 'ok' });
    return next();
  });
  server.get('/readyz', (_req, res, next) => {
    const ok = o.ready() && !o.draining();
    sendJson(res, ok ? 200 : 503, { status: ok ? 'ready' : o.draining() ? 'draining' : 'not_ready' });
    return next();
  });

  server.post('/api/messages', async (req, res) => {
    const accepted = acceptRequest(req, res, o, log);
    if (!accepted) return;
    let result: EdgeResult;
    try {
      result = await o.handle({ activity: accepted.activity, authorization: accepted.authorization });
    } catch (err) {
      result = { kind: 'failed', error: err };
    }
    sendEdgeResult(res, result, accepted.name, log);
  });

  o.routes?.(server);
  server.on('restifyError', restifyErrorHandler(log));
  return server;
}

/** Rejects oversized bodies early from the declared length; the body parser enforces the real size. */
function rejectDeclaredOversize(req: restify.Request, res: restify.Response, next: restify.Next): void {
  const len = Number(req.headers['content-length'] ?? '0');
  if (Number.isFinite(len) && len > MAX_BODY_BYTES) {
    sendJson(res, 413, { error: 'RequestEntityTooLarge' });
    req.resume();
    return next(false);
  }
  return next();
}

/** The checks of `POST /api/messages` before the adapter runs; undefined when the request was answered. */
function acceptRequest(
  req: restify.Request,
  res: restify.Response,
  o: ServerOptions,
  log: Logger,
): { activity: Record<string, unknown>; authorization: string; name: string | undefined } | undefined {
  if (o.draining()) {
    res.header('Retry-After', '5');
    sendJson(res, 503, { error: 'ShuttingDown' });
    return undefined;
  }
  const body: unknown = req.body;
  if (!req.is('application/json') || body === null || typeof body !== 'object' || Array.isArray(body)) {
    sendJson(res, 400, { error: 'BadRequest', message: 'expected an activity object' });
    return undefined;
  }
  const shape = ActivityShape.safeParse(body);
  if (!shape.success) {
    sendJson(res, 400, { error: 'BadRequest', message: 'not a valid activity' });
    return undefined;
  }
  if (!o.serviceUrlAllowed(shape.data.serviceUrl)) {
    log.warn('http.service_url_rejected', { channel: shape.data.channelId });
    sendJson(res, 400, { error: 'BadRequest', message: 'serviceUrl not allowed' });
    return undefined;
  }
  // Node keeps only the first of repeated Authorization headers; an ambiguous request is refused instead.
  const authHeaders = req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'authorization');
  const authorization = typeof req.headers.authorization === 'string' ? req.headers.authorization : '';
  if (authHeaders.length > 1 || (o.authRequired && !isWellFormedBearer(authorization))) {
    log.warn('http.auth_rejected', {
      reason:
        authHeaders.length > 1 ? 'DuplicateHeader' : authorization ? 'MalformedHeader' : 'MissingHeader',
    });
    unauthorized(res);
    return undefined;
  }
  return { activity: body as Record<string, unknown>, authorization, name: shape.data.name };
}

/** Turns what the adapter did into the HTTP answer (never error text). */
function sendEdgeResult(
  res: restify.Response,
  result: EdgeResult,
  name: string | undefined,
  log: Logger,
): void {
  switch (result.kind) {
    case 'answer':
      if (res.headersSent) return;
      res.status(result.status);
      if (result.body === undefined) res.end();
      else res.json(result.body);
      return;
    case 'unauthorized':
      log.warn('http.auth_rejected', { reason: result.reason });
      unauthorized(res);
      return;
    case 'unsupported_invoke':
      log.info('http.invoke_unanswered', { name: name?.slice(0, 64) ?? 'none' });
      sendJson(res, 400, { error: 'BadRequest', message: 'unsupported invoke' });
      return;
    case 'failed': {
      const correlationId = newCorrelationId();
      log.error('http.handler_error', { correlationId, err: result.error });
      sendJson(res, 500, { error: 'InternalError', correlationId });
      return;
    }
  }
}

/**
 * restify's own errors (bad JSON, too large, unsupported media type) keep their 4xx status, but never their
 * message (it can quote the input).
 */
function restifyErrorHandler(
  log: Logger,
): (
  req: restify.Request,
  res: restify.Response,
  err: { statusCode?: number; name?: string },
  cb: () => void,
) => void {
  return (req, res, err, cb) => {
    const status =
      typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500
        ? err.statusCode
        : 500;
    if (status === 500) log.error('http.restify_error', { err, path: req.path() });
    // eslint-disable-next-line @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-explicit-any
    (err as any).toJSON = () => ({
      error: status === 413 ? 'RequestEntityTooLarge' : status === 500 ? 'InternalError' : 'BadRequest',
    });
    void res;
    return cb();
  };
}
