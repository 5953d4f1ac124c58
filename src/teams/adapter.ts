import { TeamsAdapter } from '@microsoft/teams-ai';
import { ActivityTypes, CallerIdConstants, type TurnContext } from 'botbuilder';
import { AuthenticationConstants, type ServiceClientCredentialsFactory } from 'botframework-connector';
import type { Config } from '../config/config';
import { isBotError, userMessageFor } from '../errors';
import { newCorrelationId, type Logger } from '../observability/logger';
import type { Telemetry } from '../observability/telemetry';
import { poolConnectorClients } from './connector-pool';
import { preserveEntityFields } from './entity-patch';
import { sendInvokeResponse } from './invoke-response';

/**
 * botbuilder's CloudAdapter (teams-ai TeamsAdapter): inbound authentication and the Bot Connector client.
 * Its turn error handler is the last resort for anything a route handler let escape.
 */
export interface AdapterOptions {
  config: Config;
  log: Logger;
  /** Test seam: outbound token factory (production uses the configured app credentials). */
  credentialsFactory?: ServiceClientCredentialsFactory | undefined;
  /** `teams.send` spans and throttling metrics (observability/telemetry.ts); none when absent. */
  telemetry?: Telemetry | undefined;
}

export function createAdapter(o: AdapterOptions): TeamsAdapter {
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
  const adapter = new PooledTeamsAdapter(auth, o.credentialsFactory);
  adapter.onTurnError = turnErrorHandler(o.log);
  return adapter;
}

/** TeamsAdapter whose proactive turns reuse Bot Connector clients (connector-pool.ts, issue 15). */
class PooledTeamsAdapter extends TeamsAdapter {
  constructor(auth: Record<string, string>, credentialsFactory: ServiceClientCredentialsFactory | undefined) {
    super(auth, credentialsFactory);
    poolConnectorClients(this.botFrameworkAuthentication);
  }
}

/**
 * Never echo raw errors (botbuilder's default sends err.message to the user): log a code, say little.
 * The correlation id links what the user sees to the log record (LOG-03).
 */
function turnErrorHandler(log: Logger): (ctx: TurnContext, err: unknown) => Promise<void> {
  return async (ctx, err) => {
    const correlationId = newCorrelationId();
    log.error('teams.turn_error', { code: isBotError(err) ? err.code : 'INTERNAL', correlationId, err });
    if (ctx.activity.type === (ActivityTypes.Invoke as string)) {
      await sendInvokeResponse(ctx, 500, {
        statusCode: 500,
        type: 'application/vnd.microsoft.error',
        value: { code: 'InternalError', message: userMessageFor('INTERNAL'), correlationId },
      });
    } else if (
      ctx.activity.type === (ActivityTypes.Message as string) ||
      ctx.activity.name === 'ContinueConversation' // the relay's background jobs (proactive continuation)
    ) {
      // The user hears that it failed and gets the reference; never the error text.
      await ctx
        .sendActivity(`${userMessageFor('INTERNAL')} (reference ${correlationId})`)
        .catch((sendErr: unknown) =>
          log.warn('teams.turn_error_not_delivered', { correlationId, err: sendErr }),
        );
    }
  };
}
