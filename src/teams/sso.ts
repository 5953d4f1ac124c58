import { randomUUID } from 'node:crypto';
import {
  ActionTypes,
  CardFactory,
  MessageFactory,
  type Activity,
  type CloudAdapter,
  type ConversationParameters,
  type TurnContext,
} from 'botbuilder';
import { AuthenticationConstants } from 'botframework-connector';
import type { Config } from '../config/config';
import { userMessageFor, type BotErrorCode } from '../errors';
import { hashId, type Logger } from '../observability/logger';
import { SIGNIN_TEXT } from '../relay/texts';
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
 * 3. When the silent exchange cannot complete, the card's Sign in button opens the bot's own sign-in page
 *    (src/http/sign-in-routes.ts); it ends with teams-js `authentication.notifySuccess(state)` and Teams sends
 *    `signin/verifyState { state }`, whose code the bot redeems. Teams reports client-side problems (e.g.
 *    `resourcematchfailed`, expected outside 1:1 chats) as `signin/failure` `{ code, message }`.
 * 4. Silent SSO works in 1:1 chats only, and a sign-in card is personal: group chats and channels never get one;
 *    the card goes to the user's 1:1 chat with the bot (SignInIO below).
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
  /** The bot's id (BOT_ID), the `bot` of a new 1:1 conversation. */
  botAppId: string;
  /**
   * The bot's own sign-in page for `user` in `conversationId` (a new single-use state bound to both; see
   * src/identity/sign-in-pages.ts): the card's Sign in button when silent SSO cannot complete.
   */
  start?: ((user: Actor, conversationId: string) => string | undefined) | undefined;
}

/** The SSO settings when the bot acts as the user (FOUNDRY_AUTH=user) and the SSO app is configured. */
export function ssoOptions(
  config: Config,
  start?: (user: Actor, conversationId: string) => string | undefined,
): SsoEdgeOptions | undefined {
  return config.foundry.auth === 'user' && config.sso.clientId && config.sso.tenantId
    ? {
        clientId: config.sso.clientId,
        tenantId: config.sso.tenantId,
        authorityHost: config.foundry.authorityHost ?? 'https://login.microsoftonline.com',
        botAppId: config.bot.appId ?? '',
        start,
      }
    : undefined;
}

/** Without sign-in pages (a test edge): Entra's consent prompt for the Foundry scope, as before. */
function consentLink(o: SsoEdgeOptions): string {
  const q = new URLSearchParams({
    client_id: o.clientId,
    response_type: 'code',
    response_mode: 'query',
    prompt: 'consent',
    scope: 'https://ai.azure.com/user_impersonation openid profile offline_access',
  });
  return `${o.authorityHost.replace(/\/+$/, '')}/${o.tenantId}/oauth2/v2.0/authorize?${q.toString()}`;
}

/**
 * The sign-in OAuthCard, for a 1:1 conversation only (never posted in a group chat or channel): silent SSO
 * through `tokenExchangeResource`, and a Sign in button to the bot's own sign-in page bound to this user and
 * conversation. `reason` (src/errors.ts) says why a new sign-in is needed.
 */
function signInActivity(
  user: Actor,
  conversationId: string,
  o: SsoEdgeOptions,
  reason?: BotErrorCode,
): Partial<Activity> {
  const card = CardFactory.oauthCard(
    '',
    'Sign in to the agent',
    'The agent acts as you: please sign in.',
    o.start?.(user, conversationId) ?? consentLink(o),
    { id: randomUUID() },
  );
  const content = card.content as { buttons?: { type?: string }[] };
  const button = content.buttons?.[0];
  if (button) button.type = ActionTypes.Signin;
  const activity: Partial<Activity> = MessageFactory.attachment(card);
  const why = reason ? `${userMessageFor(reason)} ` : '';
  activity.text = `${why}Please sign in so the agent can act as you.`;
  return activity;
}

/** A group-chat line that @mentions `user`. */
function mentionActivity(user: Actor, text: (mention: string) => string): Partial<Activity> {
  const name = (user.name ?? 'there').replace(/[<>]/g, '');
  const mention = `<at>${name}</at>`;
  return {
    type: 'message',
    text: text(mention),
    entities: [{ type: 'mention', text: mention, mentioned: { id: user.id, name } }],
  };
}

/** Status codes with which Teams refuses a 1:1 chat: the app is not installed for the user (or blocked). */
function notReachable(err: unknown): boolean {
  const status = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return status === 403 || status === 404;
}

/**
 * A ConversationIO that can also ask for sign-in (the relay's `requestSignIn`), delegating the rest to the
 * TurnContextIO it wraps. 1:1 chats get the sign-in card; group chats and channels never see one: the card goes
 * to the user's 1:1 chat with the bot (created through the Bot Connector), and the group hears only that, or,
 * when Teams refuses the 1:1 chat (the app is not installed for the user), that they should open one.
 */
export class SignInIO implements ConversationIO {
  constructor(
    private readonly inner: ConversationIO,
    private readonly ctx: TurnContext,
    private readonly pacer: SendPacer,
    private readonly o: SsoEdgeOptions,
    private readonly log: Logger,
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

  async requestSignIn(user: Actor, reason?: BotErrorCode): Promise<void> {
    const { id, scope } = this.conversation;
    if (scope === 'personal') {
      await this.pacer.take(id);
      await this.ctx.sendActivity(signInActivity(user, id, this.o, reason));
      return;
    }
    let line: (mention: string) => string;
    try {
      await this.signInPrivately(user, reason);
      line = (m) => `${m}, ${SIGNIN_TEXT.sentPrivately}`;
    } catch (err) {
      const unreachable = notReachable(err);
      this.log.warn('signin.private_chat_failed', {
        user: hashId(user.aadObjectId ?? user.id),
        status: (err as { statusCode?: unknown }).statusCode ?? 'none',
      });
      line = (m) => `${m}, ${unreachable ? SIGNIN_TEXT.notInstalled : SIGNIN_TEXT.privateChatFailed}`;
    }
    await this.pacer.take(id);
    await this.ctx.sendActivity(mentionActivity(user, line));
  }

  /** Creates (or reopens) the user's 1:1 chat with the bot and sends the sign-in card there. */
  private async signInPrivately(user: Actor, reason?: BotErrorCode): Promise<void> {
    const a = this.ctx.activity;
    const adapter = this.ctx.adapter as CloudAdapter;
    const { tenantId } = this.conversation;
    const params = {
      isGroup: false,
      bot: a.recipient,
      members: [{ id: user.id, ...(user.name ? { name: user.name } : {}) }],
      tenantId,
      channelData: { tenant: { id: tenantId } },
    } as ConversationParameters;
    await adapter.createConversationAsync(
      this.o.botAppId,
      a.channelId,
      a.serviceUrl,
      AuthenticationConstants.ToChannelFromBotOAuthScope,
      params,
      async (dm) => {
        const dmId = dm.activity.conversation.id;
        await this.pacer.take(dmId);
        await dm.sendActivity(signInActivity(user, dmId, this.o, reason));
      },
    );
    this.log.info('signin.sent_privately', { user: hashId(user.aadObjectId ?? user.id) });
  }
}
