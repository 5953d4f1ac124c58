import type { TurnContext } from 'botbuilder';
import { z } from 'zod';
import { isBotError, userMessageFor } from '../../errors';
import { hashId, type Logger } from '../../observability/logger';
import type { TurnInfo } from '../../relay/api';
import type { ConversationIO } from '../../relay/ports';
import { sendInvokeResponse } from '../invoke-response';
import type { SsoEdgeOptions } from '../sso';
import { turnInfo, type RouteDeps } from './context';

/**
 * The sign-in invokes of Teams SSO (user mode; the wire contract is described in sso.ts): `signin/tokenExchange`
 * hands the user's SSO token to the relay (`acceptSignIn`), `signin/verifyState` re-sends the sign-in card,
 * `signin/failure` tells the user. Never silent towards the user.
 */

/** The route of the three sign-in invokes. */
export async function onSignInInvoke(ctx: TurnContext, d: RouteDeps): Promise<void> {
  await handleSignInInvoke(ctx.activity.name ?? '', {
    ctx,
    turn: turnInfo(ctx),
    io: d.ioFor(ctx),
    acceptSignIn: (t, token) => d.relay.acceptSignIn(t, token),
    log: d.log.child('signin'),
    sso: d.sso,
  });
}

const TokenExchangeValue = z.object({
  id: z.string().max(256).optional(),
  connectionName: z.string().max(256).optional(),
  token: z.string().min(1).max(16_384),
});
const FailureValue = z.object({ code: z.unknown().optional(), message: z.unknown().optional() });

/** Text for the user when Teams reports a sign-in failure (never Teams' own message: it is not ours to echo). */
export const SIGNIN_FAILED_TEXT =
  'Sign-in to the agent failed in Teams. Please try again; if it keeps failing, ask your administrator to check ' +
  "the app's single sign-on setup.";
export const EXCHANGE_FAILED_TEXT =
  "I couldn't complete your sign-in to the agent. Select Sign in on the card to try again; if it keeps failing, " +
  'ask your administrator to grant consent for the app.';

interface SignInInvokeDeps {
  ctx: TurnContext;
  turn: TurnInfo;
  /** The IO of this turn (its requestSignIn re-sends the card). */
  io: ConversationIO;
  acceptSignIn(turn: TurnInfo, ssoToken: string): Promise<'signed_in' | 'replayed'>;
  log: Logger;
  sso: SsoEdgeOptions | undefined;
}

/** Handles `signin/tokenExchange`, `signin/verifyState` and `signin/failure`. Never silent towards the user. */
async function handleSignInInvoke(name: string, d: SignInInvokeDeps): Promise<void> {
  const { ctx, turn, log } = d;
  const user = hashId(turn.user.aadObjectId ?? turn.user.id);
  switch (name) {
    case 'signin/tokenExchange': {
      const v = TokenExchangeValue.safeParse(ctx.activity.value);
      const id = v.success ? v.data.id : undefined;
      if (!v.success || !d.sso) {
        log.warn('signin.exchange_rejected', {
          user,
          reason: v.success ? 'sso_not_configured' : 'bad_value',
        });
        await sendInvokeResponse(ctx, v.success ? 404 : 400, {
          id,
          failureDetail: 'Sign-in is not available.',
        });
        return;
      }
      try {
        const r = await d.acceptSignIn(turn, v.data.token);
        log.info('signin.exchanged', { user, result: r });
        await sendInvokeResponse(ctx, 200, { id });
      } catch (err) {
        const code = isBotError(err) ? err.code : 'INTERNAL';
        log.warn('signin.exchange_failed', { user, code });
        if (code === 'TENANT_NOT_ALLOWED') {
          await sendInvokeResponse(ctx, 403, { id, failureDetail: 'The user is not permitted.' });
          await d.io.sendText(userMessageFor('TENANT_NOT_ALLOWED'));
        } else {
          // 412: Teams shows the card's Sign in button (the consent fallback).
          await sendInvokeResponse(ctx, 412, { id, failureDetail: 'The token could not be exchanged.' });
          await d.io.sendText(EXCHANGE_FAILED_TEXT);
        }
      }
      return;
    }
    case 'signin/verifyState': {
      log.info('signin.verify_state', { user });
      await sendInvokeResponse(ctx, 200);
      // The fallback sign-in (consent) finished: a new card lets Teams retry the silent exchange.
      if (d.io.requestSignIn) await d.io.requestSignIn(turn.user);
      else await d.io.sendText(userMessageFor('IDENTITY_UNAVAILABLE'));
      return;
    }
    case 'signin/failure': {
      const v = FailureValue.safeParse(ctx.activity.value);
      const raw = v.success && typeof v.data.code === 'string' ? v.data.code : 'unknown';
      log.warn('signin.failure', { user, code: raw.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64) });
      await sendInvokeResponse(ctx, 200);
      await d.io.sendText(SIGNIN_FAILED_TEXT);
      return;
    }
    default:
      await sendInvokeResponse(ctx, 400);
  }
}
