import { randomUUID } from 'node:crypto';
import { ActionTypes, CardFactory, MessageFactory, type Activity, type TurnContext } from 'botbuilder';
import type { Config } from '../config/config';
import type { Actor, ConversationInfo, ConversationRef } from '../relay/model';
import type { AnswerStream, ConversationIO } from '../relay/ports';
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
 *
 * This file: the SSO settings, the sign-in card, and the IO that sends it. The invokes of steps 2–3 are
 * handled in routes/sign-in.ts.
 */

export interface SsoEdgeOptions {
  /** The Teams SSO app (AAD_APP_CLIENT_ID) and the project tenant (AAD_APP_TENANT_ID). */
  clientId: string;
  tenantId: string;
  /** Entra authority (AZURE_AUTHORITY_HOST, default https://login.microsoftonline.com). */
  authorityHost: string;
}

/** The SSO settings when the bot acts as the user (FOUNDRY_AUTH=user) and the SSO app is configured. */
export function ssoOptions(config: Config): SsoEdgeOptions | undefined {
  return config.foundry.auth === 'user' && config.sso.clientId && config.sso.tenantId
    ? {
        clientId: config.sso.clientId,
        tenantId: config.sso.tenantId,
        authorityHost: config.foundry.authorityHost ?? 'https://login.microsoftonline.com',
      }
    : undefined;
}

/** Where the card's Sign in button goes when silent SSO fails: Entra's consent prompt for the Foundry scope. */
function signInLink(o: SsoEdgeOptions): string {
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
function signInActivity(user: Actor, scope: ConversationInfo['scope'], o: SsoEdgeOptions): Partial<Activity> {
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
