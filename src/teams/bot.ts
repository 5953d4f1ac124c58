import { Application, TeamsAdapter, type TurnState } from '@microsoft/teams-ai';
import {
  ActivityTypes,
  CallerIdConstants,
  type Activity,
  type ConversationReference,
  type TurnContext,
} from 'botbuilder';
import { AuthenticationConstants, type ServiceClientCredentialsFactory } from 'botframework-connector';
import type { Config } from '../config/config';
import { BotError, isBotError, userMessageFor } from '../errors';
import { hashId, newCorrelationId, type Logger } from '../observability/logger';
import type { ConversationRef } from '../relay/model';
import type { ConversationIO, ProactiveRunner } from '../relay/ports';
import type { RelayApi, TurnInfo } from '../relay/api';
import type { InvokeAnswer } from '../relay/views';
import { ExecuteInvokeValue, parseCardAction } from './actions';
import { refreshFor, renderCard } from './cards';
import { preserveEntityFields } from './entity-patch';
import { conversationOf, tenantConflict, tenantOf } from './activity-facts';
import { SendPacer } from './send-pacer';
import { TurnContextIO } from './turn-io';
import { isAllowedServiceUrl } from './outbound';
import { handleSignInInvoke, SignInIO, type SsoEdgeOptions } from './sso';

/**
 * The Teams edge: botbuilder's CloudAdapter (teams-ai TeamsAdapter) for authentication and the Bot
 * Connector, a teams-ai Application for routing. It only translates activities into relay calls and relay
 * answers into activities; no turn logic lives here (design.md).
 */
export interface TeamsEdgeOptions {
  config: Config;
  log: Logger;
  /** Test seam: outbound token factory (production uses the configured app credentials). */
  credentialsFactory?: ServiceClientCredentialsFactory;
}

export function createAdapter(o: TeamsEdgeOptions): TeamsAdapter {
  preserveEntityFields();
  const { bot } = o.config;
  const auth: Record<string, string> = {
    MicrosoftAppId: bot.appId ?? '',
    MicrosoftAppPassword: bot.appPassword ?? '',
    MicrosoftAppType: bot.appType === 'UserAssignedMsi' ? 'UserAssignedMSI' : bot.appType,
    MicrosoftAppTenantId: bot.tenantId ?? '',
  };
  if (bot.openIdMetadataUrl) {
    // Setting one endpoint switches botbuilder to "fully parameterized" mode, where every value not given is
    // undefined (botFrameworkAuthenticationFactory.js L32–40): an undefined channel token issuer rejects every
    // token. So give the public-cloud values for the rest (the same ones the default branch uses).
    Object.assign(auth, {
      ToBotFromChannelOpenIdMetadataUrl: bot.openIdMetadataUrl,
      ToBotFromChannelTokenIssuer: AuthenticationConstants.ToBotFromChannelTokenIssuer,
      ToBotFromEmulatorOpenIdMetadataUrl: AuthenticationConstants.ToBotFromEmulatorOpenIdMetadataUrl,
      ToChannelFromBotLoginUrl: AuthenticationConstants.ToChannelFromBotLoginUrl,
      ToChannelFromBotOAuthScope: AuthenticationConstants.ToChannelFromBotOAuthScope,
      OAuthUrl: AuthenticationConstants.OAuthUrl,
      CallerId: CallerIdConstants.PublicAzureChannel,
    });
  }
  const adapter = new TeamsAdapter(auth, o.credentialsFactory);
  adapter.onTurnError = async (ctx: TurnContext, err: unknown): Promise<void> => {
    // Never echo raw errors (botbuilder's default sends err.message to the user): log a code, say little.
    // The correlation id links what the user sees to the log record (LOG-03).
    const correlationId = newCorrelationId();
    o.log.error('teams.turn_error', { code: isBotError(err) ? err.code : 'INTERNAL', correlationId, err });
    if (ctx.activity.type === (ActivityTypes.Invoke as string)) {
      await ctx.sendActivity({
        type: ActivityTypes.InvokeResponse,
        value: {
          status: 500,
          body: {
            statusCode: 500,
            type: 'application/vnd.microsoft.error',
            value: { code: 'InternalError', message: userMessageFor('INTERNAL'), correlationId },
          },
        },
      });
    } else if (
      ctx.activity.type === (ActivityTypes.Message as string) ||
      ctx.activity.name === 'ContinueConversation' // the relay's background jobs (proactive continuation)
    ) {
      // The user hears that it failed and gets the reference; never the error text.
      await ctx
        .sendActivity(`${userMessageFor('INTERNAL')} (reference ${correlationId})`)
        .catch((sendErr: unknown) =>
          o.log.warn('teams.turn_error_not_delivered', { correlationId, err: sendErr }),
        );
    }
  };
  return adapter;
}

/** Proactive continuation through the adapter (the relay's ProactiveRunner port). */
export class AdapterProactiveRunner implements ProactiveRunner {
  constructor(
    private readonly adapter: TeamsAdapter,
    private readonly config: Config,
    private readonly makeIo: (ctx: TurnContext) => ConversationIO,
  ) {}

  async continueConversation(
    ref: ConversationRef,
    work: (io: ConversationIO) => Promise<void>,
  ): Promise<void> {
    const reference = ref as Partial<ConversationReference>;
    // Defence in depth: never send to a service URL outside the allow-list, whatever is stored.
    if (!isAllowedServiceUrl(reference.serviceUrl, this.config.bot.outboundHosts)) {
      throw new BotError('AUTH_REJECTED', 'service URL not allowed for outbound calls');
    }
    await this.adapter.continueConversationAsync(this.config.bot.appId ?? '', reference, async (ctx) => {
      await work(this.makeIo(ctx));
    });
  }
}

/** The error `code` of an invoke error response matches its status (a refused click is not a "BadRequest"). */
const INVOKE_ERROR_CODES: Record<400 | 403 | 404 | 410 | 500, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  410: 'Gone',
  500: 'InternalError',
};

function invokeBody(
  answer: InvokeAnswer,
  scope: 'personal' | 'groupChat' | 'channel',
): Record<string, unknown> {
  switch (answer.kind) {
    case 'card':
      return {
        statusCode: 200,
        type: 'application/vnd.microsoft.card.adaptive',
        value: renderCard(answer.card, { refresh: refreshFor(answer.card, scope) }),
      };
    case 'message':
      return { statusCode: 200, type: 'application/vnd.microsoft.activity.message', value: answer.text };
    case 'error':
      return {
        statusCode: answer.statusCode,
        type: 'application/vnd.microsoft.error',
        value: { code: INVOKE_ERROR_CODES[answer.statusCode], message: answer.message },
      };
  }
}

async function sendInvokeResponse(ctx: TurnContext, status: number, body?: unknown): Promise<void> {
  await ctx.sendActivity({
    type: ActivityTypes.InvokeResponse,
    value: { status, ...(body === undefined ? {} : { body }) },
  });
}

export interface TeamsBot {
  app: Application<TurnState>;
  adapter: TeamsAdapter;
  proactive: AdapterProactiveRunner;
  /** Counts activities refused by the tenant allow-list (AUTH-07 metric). */
  readonly tenantRejections: number;
  /** Must be called once the relay exists (the relay needs the proactive runner first). */
  attach(relay: RelayApi): void;
}

export function createTeamsBot(o: TeamsEdgeOptions): TeamsBot {
  const { config, log } = o;
  const adapter = createAdapter(o);
  const pacer = new SendPacer();
  // User mode: Teams SSO (sso.ts). The relay asks for sign-in through the IO when it has no token for a user.
  const sso: SsoEdgeOptions | undefined =
    config.foundry.auth === 'user' && config.sso.clientId && config.sso.tenantId
      ? {
          clientId: config.sso.clientId,
          tenantId: config.sso.tenantId,
          authorityHost: config.foundry.authorityHost ?? 'https://login.microsoftonline.com',
        }
      : undefined;
  const makeIo = (ctx: TurnContext): ConversationIO => {
    const io = new TurnContextIO(ctx, { log: log.child('io'), pacer, streaming: config.policy.streaming });
    return sso ? new SignInIO(io, ctx, pacer, sso) : io;
  };
  const proactive = new AdapterProactiveRunner(adapter, config, makeIo);
  const app = new Application<TurnState>({
    adapter,
    removeRecipientMention: true,
    startTypingTimer: false,
    longRunningMessages: false,
  });
  let relay: RelayApi | undefined;
  let tenantRejections = 0;

  const tenantAllowed = (activity: Partial<Activity>): boolean => {
    if (tenantConflict(activity)) return false;
    const allowed = config.bot.allowedTenants;
    if (allowed.length === 0) return true;
    const tenant = tenantOf(activity);
    return tenant !== undefined && allowed.includes(tenant);
  };

  const turnInfo = (ctx: TurnContext): TurnInfo => {
    const a = ctx.activity;
    return {
      conversation: conversationOf(a),
      user: {
        id: a.from.id,
        ...(a.from.aadObjectId ? { aadObjectId: a.from.aadObjectId.toLowerCase() } : {}),
        ...(a.from.name ? { name: a.from.name } : {}),
      },
      activityId: a.id ?? '',
      reference: new TurnContextIO(ctx, { log, pacer, streaming: false }).reference,
    };
  };

  const requireRelay = (): RelayApi => {
    if (!relay) throw new BotError('INTERNAL', 'relay not attached');
    return relay;
  };

  // Tenant allow-list right after authentication (reliability-plan §2.2, AUTH-07): fails closed.
  app.turn('beforeTurn', async (ctx) => {
    if (tenantAllowed(ctx.activity)) return true;
    tenantRejections += 1;
    log.warn('tenant.rejected', {
      tenant: hashId(tenantOf(ctx.activity) ?? 'missing'),
      type: ctx.activity.type,
    });
    if (ctx.activity.type === (ActivityTypes.Invoke as string)) {
      await sendInvokeResponse(ctx, 200, {
        statusCode: 403,
        type: 'application/vnd.microsoft.error',
        value: { code: 'Forbidden', message: userMessageFor('TENANT_NOT_ALLOWED') },
      });
    }
    return false;
  });

  const onCardAction = async (ctx: TurnContext, verb: unknown, data: unknown): Promise<InvokeAnswer> => {
    const parsed = parseCardAction(verb, data);
    if (!parsed.ok) {
      log.warn('card.rejected', { reason: parsed.reason });
      return { kind: 'error', statusCode: 400, message: 'This card action is not valid.' };
    }
    return requireRelay().handleCardAction(turnInfo(ctx), parsed.action);
  };

  app.activity(ActivityTypes.Message, async (ctx) => {
    const a = ctx.activity;
    // Action.Submit fallback of our cards (older clients): the same checks as Action.Execute (CARD-07).
    if (a.value && typeof a.value === 'object' && !a.text) {
      const value = a.value as Record<string, unknown>;
      const answer = await onCardAction(ctx, value['verb'], value);
      if (answer.kind === 'card' && !answer.refusal && a.replyToId) {
        await ctx.updateActivity({
          type: 'message',
          id: a.replyToId,
          conversation: a.conversation,
          attachments: [
            { contentType: 'application/vnd.microsoft.card.adaptive', content: renderCard(answer.card) },
          ],
        });
      } else if (
        answer.kind === 'card' &&
        answer.card.kind !== 'approval' &&
        answer.card.kind !== 'consent'
      ) {
        await ctx.sendActivity({
          type: 'message',
          text: answer.card.kind === 'notice' ? answer.card.lines.join(' ') : 'Done.',
        });
      } else if (answer.kind === 'message' || answer.kind === 'error') {
        await ctx.sendActivity({
          type: 'message',
          text: answer.kind === 'message' ? answer.text : answer.message,
        });
      }
      return;
    }
    const info = turnInfo(ctx);
    if (info.conversation.scope !== 'personal' && !isBotMentioned(a)) return; // groups: only @mentions
    const text = (a.text ?? '').replace(/<at>[^<]*<\/at>/g, '').trim();
    try {
      const r = await requireRelay().handleMessage(info, text.length > 0 ? text : '/help');
      log.debug('message.accepted', { result: r });
    } catch (err) {
      if (isBotError(err, 'SHUTTING_DOWN')) await ctx.sendActivity(userMessageFor('SHUTTING_DOWN'));
      else throw err;
    }
  });

  app.activity(ActivityTypes.Invoke, async (ctx) => {
    const a = ctx.activity;
    const scope = conversationOf(a).scope;
    switch (a.name) {
      case 'adaptiveCard/action': {
        const v = ExecuteInvokeValue.safeParse(a.value);
        if (!v.success) {
          await sendInvokeResponse(
            ctx,
            200,
            invokeBody({ kind: 'error', statusCode: 400, message: 'This card action is not valid.' }, scope),
          );
          return;
        }
        const answer = await onCardAction(ctx, v.data.action.verb, v.data.action.data);
        await sendInvokeResponse(ctx, 200, invokeBody(answer, scope));
        return;
      }
      case 'message/submitAction': {
        // Feedback buttons (👍/👎): logged as a count, never the free text.
        const value = a.value as { actionName?: unknown; actionValue?: { reaction?: unknown } } | undefined;
        const reaction = value?.actionValue?.reaction;
        log.info('feedback.received', {
          action: typeof value?.actionName === 'string' ? value.actionName : 'unknown',
          reaction: reaction === 'like' || reaction === 'dislike' ? reaction : 'unknown',
        });
        await sendInvokeResponse(ctx, 200, {
          statusCode: 200,
          type: 'application/vnd.microsoft.activity.message',
          value: 'Thanks for the feedback.',
        });
        return;
      }
      case 'signin/tokenExchange':
      case 'signin/verifyState':
      case 'signin/failure': {
        const r = requireRelay();
        await handleSignInInvoke(a.name, {
          ctx,
          turn: turnInfo(ctx),
          io: makeIo(ctx),
          acceptSignIn: (t, token) => r.acceptSignIn(t, token),
          log: log.child('signin'),
          sso,
        });
        return;
      }
      default:
        log.info('invoke.unknown', { name: typeof a.name === 'string' ? a.name.slice(0, 64) : 'none' });
        await sendInvokeResponse(ctx, 400);
    }
  });

  // The relay welcomes once per conversation (the Playground and some clients re-send install events).
  const welcome = (ctx: TurnContext): Promise<void> => requireRelay().welcome(makeIo(ctx));

  app.activity(ActivityTypes.ConversationUpdate, async (ctx) => {
    const added = ctx.activity.membersAdded ?? [];
    if (added.some((m) => m.id === ctx.activity.recipient.id)) await welcome(ctx);
  });
  app.activity(ActivityTypes.InstallationUpdate, async (ctx) => {
    const action = (ctx.activity as { action?: string }).action;
    if (action === 'add' || action === 'add-upgrade') await welcome(ctx);
  });

  return {
    app,
    adapter,
    proactive,
    get tenantRejections() {
      return tenantRejections;
    },
    attach(r: RelayApi) {
      relay = r;
    },
  };
}

function isBotMentioned(a: Partial<Activity>): boolean {
  const botId = a.recipient?.id;
  return (a.entities ?? []).some(
    (e) => e.type === 'mention' && (e as { mentioned?: { id?: string } }).mentioned?.id === botId,
  );
}
