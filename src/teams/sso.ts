import { randomUUID } from 'node:crypto';
import { ActionTypes, CardFactory, MessageFactory, type Activity, type TurnContext } from 'botbuilder';
import { z } from 'zod';
import { isBotError, userMessageFor } from '../errors';
import { hashId, type Logger } from '../observability/logger';
import type { Actor, ConversationInfo, ConversationRef } from '../relay/model';
import type { AnswerStream, ConversationIO } from '../relay/ports';
import type { TurnInfo } from '../relay/api';
import type { CardView } from '../relay/views';
import type { SendPacer } from './send-pacer';

/**
 * Teams single sign-on at the edge (user mode, docs/identity.md). The wire contract is the one Teams uses for
 * bot SSO, and the one teams-ai 1.7.4's `TeamsSsoPrompt` implements:
 *
 * 1. The bot sends an OAuthCard whose `tokenExchangeResource` asks Teams for a token of the app named by the
 *    manifest's `webApplicationInfo` (`api://…/botid-…`, scope `access_as_user`).
 * 2. Teams gets it silently and sends `signin/tokenExchange` `{ id, connectionName, token }`. The bot answers
 *    200 `{ id }` when it could exchange the token on-behalf-of the user, or 412 `{ id, failureDetail }` so
 *    Teams shows the card's Sign in button instead.
 * 3. After the fallback sign-in (consent) Teams sends `signin/verifyState`; the bot sends the card again so the
 *    silent exchange is retried. Teams reports client-side problems (e.g. `resourcematchfailed`) as
 *    `signin/failure` `{ code, message }`.
 *
 * Why not teams-ai's `authentication` settings: they run their own MSAL on-behalf-of inside a dialog bound to the
 * conversation's turn state, take over every message route while signing in, and `console.log` exchange
 * errors; here the SSO token must reach the identity provider (OnBehalfOfCredential, per-user cache) and turns
 * stay relay jobs. The edge therefore speaks the same invokes itself and stays SDK-thin.
 */

export interface SsoEdgeOptions {
  /** The Teams SSO app (AAD_APP_CLIENT_ID) and the project tenant (AAD_APP_TENANT_ID). */
  clientId: string;
  tenantId: string;
  /** Entra authority (AZURE_AUTHORITY_HOST, default https://login.microsoftonline.com). */
  authorityHost: string;
}

/** Where the card's Sign in button goes when silent SSO fails: Entra's consent prompt for the Foundry scope. */
export function signInLink(o: SsoEdgeOptions): string {
  const q = new URLSearchParams({
    client_id: o.clientId,
    response_type: 'code',
    response_mode: 'query',
    prompt: 'consent',
    scope: 'https://ai.azure.com/user_impersonation openid profile offline_access',
    redirect_uri: 'https://token.botframework.com/.auth/web/redirect',
  });
  return `${o.authorityHost.replace(/\/+$/, '')}/${o.tenantId}/oauth2/v2.0/authorize?${q.toString()}`;
}

/** The sign-in OAuthCard; in group chats and channels it @mentions the user it is meant for. */
export function signInActivity(
  user: Actor,
  scope: ConversationInfo['scope'],
  o: SsoEdgeOptions,
): Partial<Activity> {
  const card = CardFactory.oauthCard(
    '',
    'Sign in to the agent',
    'The agent acts as you: please sign in.',
    signInLink(o),
    { id: randomUUID() },
  );
  const content = card.content as { buttons?: { type?: string }[] };
  const button = content.buttons?.[0];
  if (button) button.type = ActionTypes.Signin;
  const activity: Partial<Activity> = MessageFactory.attachment(card);
  if (scope !== 'personal') {
    const name = (user.name ?? 'there').replace(/[<>]/g, '');
    const mention = `<at>${name}</at>`;
    activity.text = `${mention}, please sign in so the agent can act as you.`;
    activity.entities = [{ type: 'mention', text: mention, mentioned: { id: user.id, name } }];
  } else {
    activity.text = 'Please sign in so the agent can act as you.';
  }
  return activity;
}

/**
 * A ConversationIO that can also ask for sign-in (the relay's `requestSignIn`), delegating the rest to the
 * TurnContextIO it wraps.
 */
export class SignInIO implements ConversationIO {
  constructor(
    private readonly inner: ConversationIO,
    private readonly ctx: TurnContext,
    private readonly pacer: SendPacer,
    private readonly o: SsoEdgeOptions,
  ) {}

  get conversation(): ConversationInfo {
    return this.inner.conversation;
  }

  get reference(): ConversationRef {
    return this.inner.reference;
  }

  beginAnswer(): AnswerStream {
    return this.inner.beginAnswer();
  }

  sendText(text: string): Promise<void> {
    return this.inner.sendText(text);
  }

  sendCard(card: CardView): Promise<string | undefined> {
    return this.inner.sendCard(card);
  }

  updateCard(activityId: string, card: CardView): Promise<void> {
    return this.inner.updateCard(activityId, card);
  }

  async requestSignIn(user: Actor): Promise<void> {
    await this.pacer.take(this.conversation.id);
    await this.ctx.sendActivity(signInActivity(user, this.conversation.scope, this.o));
  }
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

export interface SignInInvokeDeps {
  ctx: TurnContext;
  turn: TurnInfo;
  /** The IO of this turn (its requestSignIn re-sends the card). */
  io: ConversationIO;
  acceptSignIn(turn: TurnInfo, ssoToken: string): Promise<'signed_in' | 'replayed'>;
  log: Logger;
  sso: SsoEdgeOptions | undefined;
}

async function invokeResponse(ctx: TurnContext, status: number, body?: unknown): Promise<void> {
  await ctx.sendActivity({
    type: 'invokeResponse',
    value: { status, ...(body === undefined ? {} : { body }) },
  });
}

/** Handles `signin/tokenExchange`, `signin/verifyState` and `signin/failure`. Never silent towards the user. */
export async function handleSignInInvoke(name: string, d: SignInInvokeDeps): Promise<void> {
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
        await invokeResponse(ctx, v.success ? 404 : 400, { id, failureDetail: 'Sign-in is not available.' });
        return;
      }
      try {
        const r = await d.acceptSignIn(turn, v.data.token);
        log.info('signin.exchanged', { user, result: r });
        await invokeResponse(ctx, 200, { id });
      } catch (err) {
        const code = isBotError(err) ? err.code : 'INTERNAL';
        log.warn('signin.exchange_failed', { user, code });
        if (code === 'TENANT_NOT_ALLOWED') {
          await invokeResponse(ctx, 403, { id, failureDetail: 'The user is not permitted.' });
          await d.io.sendText(userMessageFor('TENANT_NOT_ALLOWED'));
        } else {
          // 412: Teams shows the card's Sign in button (the consent fallback).
          await invokeResponse(ctx, 412, { id, failureDetail: 'The token could not be exchanged.' });
          await d.io.sendText(EXCHANGE_FAILED_TEXT);
        }
      }
      return;
    }
    case 'signin/verifyState': {
      log.info('signin.verify_state', { user });
      await invokeResponse(ctx, 200);
      // The fallback sign-in (consent) finished: a new card lets Teams retry the silent exchange.
      if (d.io.requestSignIn) await d.io.requestSignIn(turn.user);
      else await d.io.sendText(userMessageFor('IDENTITY_UNAVAILABLE'));
      return;
    }
    case 'signin/failure': {
      const v = FailureValue.safeParse(ctx.activity.value);
      const raw = v.success && typeof v.data.code === 'string' ? v.data.code : 'unknown';
      log.warn('signin.failure', { user, code: raw.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64) });
      await invokeResponse(ctx, 200);
      await d.io.sendText(SIGNIN_FAILED_TEXT);
      return;
    }
    default:
      await invokeResponse(ctx, 400);
  }
}
