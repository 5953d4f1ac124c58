import type { TurnContext } from 'botbuilder';
import { isWellFormedBearer, runActivity, type ActivityProcessor } from '../../src/http/activity-edge';

/**
 * The HTTP edge's reading of what botbuilder did (AUTH-03/04, LOG-03): a refusal before the turn is a 401
 * whatever status botbuilder chose, botbuilder's error text never survives, and failures after the turn
 * started are internal errors.
 */
type Script = (
  res: Parameters<ActivityProcessor['process']>[1],
  logic: (ctx: TurnContext) => Promise<void>,
) => Promise<void>;

const adapter = (script: Script): ActivityProcessor => ({
  process: (_req, res, logic) => script(res, logic),
});
const ctx = {} as TurnContext;
const activity = (type = 'message'): Record<string, unknown> => ({ type });
const noop = (): Promise<void> => Promise.resolve();

describe('runActivity', () => {
  it('botbuilder answering 500 + err.message before the turn (alg none, nbf) → unauthorized, reason without values', async () => {
    const r = await runActivity(
      adapter(async (res) => {
        res.status(500);
        res.send('invalid algorithm: token eyJhbGciOiJub25lIn0.e30. from 10.0.0.1');
        res.end();
        await Promise.resolve();
      }),
      'Bearer x',
      activity(),
      noop,
    );
    expect(r).toEqual({ kind: 'unauthorized', reason: 'invalid algorithm' });
  });

  it('botbuilder answering 401 → unauthorized', async () => {
    const r = await runActivity(
      adapter(async (res) => {
        res.status(401);
        res.end();
        await Promise.resolve();
      }),
      '',
      activity(),
      noop,
    );
    expect(r.kind).toBe('unauthorized');
  });

  it('botbuilder throwing before the turn → unauthorized', async () => {
    const r = await runActivity(
      adapter(() => Promise.reject(new Error('zod'))),
      '',
      activity(),
      noop,
    );
    expect(r).toEqual({ kind: 'unauthorized', reason: 'Rejected' });
  });

  it('a 500 after the turn started → failed (the edge answers a bare 500 with a correlation id)', async () => {
    const r = await runActivity(
      adapter(async (res, logic) => {
        await logic(ctx).catch(() => undefined);
        res.status(500);
        res.send('TypeError: x at /srv/app/file.js:1:1');
        res.end();
      }),
      'Bearer x',
      activity(),
      () => Promise.reject(new TypeError('x')),
    );
    expect(r.kind).toBe('failed');
  });

  it('an invoke nobody answered (501) → unsupported_invoke; a normal invoke answer passes through', async () => {
    const unanswered = await runActivity(
      adapter(async (res, logic) => {
        await logic(ctx);
        res.status(501);
        res.end();
      }),
      'Bearer x',
      activity('invoke'),
      noop,
    );
    expect(unanswered).toEqual({ kind: 'unsupported_invoke' });
    const answered = await runActivity(
      adapter(async (res, logic) => {
        await logic(ctx);
        res.status(200);
        res.send({ statusCode: 403 });
        res.end();
      }),
      'Bearer x',
      activity('invoke'),
      noop,
    );
    expect(answered).toEqual({ kind: 'answer', status: 200, body: { statusCode: 403 } });
  });
});

describe('isWellFormedBearer', () => {
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  it.each([
    [`Bearer ${b64({ alg: 'RS256' })}.${b64({ exp: 1 })}.sig`, true],
    [`Bearer ${b64({ alg: 'none' })}.${b64({ exp: 1 })}.`, true],
    [`Bearer ${b64({ alg: 'RS256' })}.${b64({ iss: 'x' })}.sig`, false],
    [`Bearer ${b64({ alg: 'RS256' })}.${b64({ exp: '1' })}.sig`, false],
    [`Bearer ${b64({ alg: 'RS256' })}.${b64([1])}.sig`, false],
    [`Bearer a.b.c`, false],
    ['Bearer', false],
    ['Basic dXNlcjpwYXNz', false],
    [`bearer ${b64({})}.${b64({ exp: 1 })}.s`, false],
    [`Bearer ${b64({})}.${b64({ exp: 1 })}.s extra`, false],
  ])('%s → %s', (header, ok) => {
    expect(isWellFormedBearer(header)).toBe(ok);
  });
});
