import type { TurnContext } from 'botbuilder';
import { z } from 'zod';
import { isBotError, needsSignIn, userMessageFor } from '../../errors';
import { hashId, type Logger } from '../../observability/logger';
import type { SignInProof, TurnInfo } from '../../relay/api';
import type { ConversationIO } from '../../relay/ports';
import { SIGNIN_TEXT } from '../../relay/texts';
import { sendInvokeResponse } from '../invoke-response';
import type { SsoEdgeOptions } from '../sso';
import { turnInfo, type RouteDeps } from './context';

/**
 * The sign-in invokes of Teams SSO (user mode; the wire contract is described in sso.ts): `signin/tokenExchange`
 * hands the user's SSO token to the relay; `signin/verifyState` comes after the bot's own sign-in page
 * (src/http/sign-in-routes.ts) called `authentication.notifySuccess(state)`, and the relay redeems that state's
 * code; `signin/failure` tells the user what Teams could not do. Never silent towards the user.
 */

/** The route of the three sign-in invokes. */
export async function onSignInInvoke(ctx: TurnContext, d: RouteDeps): Promise<void> {
  await handleSignInInvoke(ctx.activity.name ?? '', {
    ctx,
    turn: turnInfo(ctx),
    io: d.ioFor(ctx),
    acceptSignIn: (t, proof) => d.relay.acceptSignIn(t, proof),
    log: d.log.child('signin'),
    sso: d.sso,
  });
}

const TokenExchangeValue = z.object({
  id: z.string().max(256).optional(),
  connectionName: z.string().max(256).optional(),
  token: z.string().min(1).max(16_384),
});
const VerifyStateValue = z.object({ state: z.string().min(1).max(512) });
const FailureValue = z.object({ code: z.unknown().optional(), message: z.unknown().optional() });

interface SignInInvokeDeps {
  ctx: TurnContext;
  turn: TurnInfo;
  /** The IO of this turn (its requestSignIn sends a new card). */
  io: ConversationIO;
  acceptSignIn(turn: TurnInfo, proof: SignInProof): Promise<'signed_in' | 'replayed'>;
  log: Logger;
  sso: SsoEdgeOptions | undefined;
}

/** Handles `signin/tokenExchange`, `signin/verifyState` and `signin/failure`. Never silent towards the user. */
async function handleSignInInvoke(name: string, d: SignInInvokeDeps): Promise<void> {
  switch (name) {
    case 'signin/tokenExchange':
      return onTokenExchange(d);
    case 'signin/verifyState':
      return onVerifyState(d);
    case 'signin/failure':
      return onFailure(d);
    default:
      await sendInvokeResponse(d.ctx, 400);
  }
}

async function onTokenExchange(d: SignInInvokeDeps): Promise<void> {
  const { ctx, turn, log } = d;
  const user = hashId(turn.user.aadObjectId ?? turn.user.id);
  const v = TokenExchangeValue.safeParse(ctx.activity.value);
  const id = v.success ? v.data.id : undefined;
  if (!v.success || !d.sso) {
    log.warn('signin.exchange_rejected', { user, reason: v.success ? 'sso_not_configured' : 'bad_value' });
    await sendInvokeResponse(ctx, v.success ? 404 : 400, { id, failureDetail: 'Sign-in is not available.' });
    return;
  }
  try {
    const r = await d.acceptSignIn(turn, { kind: 'sso', token: v.data.token });
    log.info('signin.exchanged', { user, result: r });
    await sendInvokeResponse(ctx, 200, { id });
  } catch (err) {
    const code = isBotError(err) ? err.code : 'INTERNAL';
    log.warn('signin.exchange_failed', { user, code });
    if (code === 'TENANT_NOT_ALLOWED') {
      await sendInvokeResponse(ctx, 403, { id, failureDetail: 'The user is not permitted.' });
      await d.io.sendText(userMessageFor('TENANT_NOT_ALLOWED'));
      return;
    }
    // 412: Teams shows the card's Sign in button (the bot's own sign-in page). Say why, when it is known.
    await sendInvokeResponse(ctx, 412, { id, failureDetail: 'The token could not be exchanged.' });
    const why = code !== 'IDENTITY_UNAVAILABLE' && needsSignIn(err) ? `${userMessageFor(code)} ` : '';
    await d.io.sendText(`${why}${SIGNIN_TEXT.exchangeFailed}`);
  }
}

/** After the bot's sign-in page: redeem the state's code, replay what waited; on failure say why and re-ask. */
async function onVerifyState(d: SignInInvokeDeps): Promise<void> {
  const { ctx, turn, log } = d;
  const user = hashId(turn.user.aadObjectId ?? turn.user.id);
  const v = VerifyStateValue.safeParse(ctx.activity.value);
  if (!v.success || !d.sso) {
    // No state of ours (an old card's fallback): a new card lets Teams retry the silent exchange.
    log.info('signin.verify_state', { user, result: 'no_state' });
    await sendInvokeResponse(ctx, 200);
    if (d.io.requestSignIn) await d.io.requestSignIn(turn.user);
    else await d.io.sendText(userMessageFor('IDENTITY_UNAVAILABLE'));
    return;
  }
  try {
    const r = await d.acceptSignIn(turn, { kind: 'page', state: v.data.state });
    log.info('signin.verify_state', { user, result: r });
    await sendInvokeResponse(ctx, 200);
    if (r === 'signed_in') await d.io.sendText(SIGNIN_TEXT.signedIn);
  } catch (err) {
    const code = isBotError(err) ? err.code : 'INTERNAL';
    log.warn('signin.verify_state_failed', { user, code });
    if (code === 'TENANT_NOT_ALLOWED') {
      await sendInvokeResponse(ctx, 403);
      await d.io.sendText(userMessageFor('TENANT_NOT_ALLOWED'));
      return;
    }
    await sendInvokeResponse(ctx, 412);
    if (needsSignIn(err) && d.io.requestSignIn)
      await d.io.requestSignIn(turn.user, isBotError(err) ? err.code : undefined);
    else await d.io.sendText(userMessageFor(code));
  }
}

/**
 * Teams could not complete silent SSO (`{ code, message }`). `resourcematchfailed` in a 1:1 chat is a setup
 * problem (the manifest's webApplicationInfo); in a group chat or channel it is expected (silent SSO works in
 * personal scope only) and the user is reached privately instead. Teams' own message is never echoed.
 */
async function onFailure(d: SignInInvokeDeps): Promise<void> {
  const { ctx, turn, log } = d;
  const user = hashId(turn.user.aadObjectId ?? turn.user.id);
  const v = FailureValue.safeParse(ctx.activity.value);
  const raw = v.success && typeof v.data.code === 'string' ? v.data.code : 'unknown';
  const code = raw.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64);
  log.warn('signin.failure', { user, code, scope: turn.conversation.scope });
  await sendInvokeResponse(ctx, 200);
  if (turn.conversation.scope !== 'personal' && d.io.requestSignIn) {
    await d.io.requestSignIn(turn.user);
    return;
  }
  await d.io.sendText(code === 'resourcematchfailed' ? SIGNIN_TEXT.ssoMismatch : SIGNIN_TEXT.teamsFailed);
}
