import { ClientSecretCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import type { Config } from '../../config/config';
import { fail, pass, warn, type Finding } from './report';

/**
 * Check 6: the bot registration. BOT_ID with BOT_PASSWORD (or, for BOT_TYPE=UserAssignedMsi, the managed
 * identity whose client id is BOT_ID) must get a Bot Framework token, as botbuilder does before every reply.
 * A definite refusal by Entra is a FAIL; anything else (no network path from here) is a WARN.
 */

const CHECK = 'bot-registration';
const BOT_FRAMEWORK_SCOPE = 'https://api.botframework.com/.default';

/** The credential botbuilder would use for outbound calls (test seam: replaced in tests). */
function botCredential(bot: Config['bot']): TokenCredential | undefined {
  if (!bot.appId) return undefined;
  if (bot.appType === 'UserAssignedMsi') return new ManagedIdentityCredential({ clientId: bot.appId });
  if (!bot.appPassword) return undefined;
  const tenant = bot.appType === 'SingleTenant' && bot.tenantId ? bot.tenantId : 'botframework.com';
  return new ClientSecretCredential(tenant, bot.appId, bot.appPassword);
}

interface EntraErrorShape {
  name?: unknown;
  statusCode?: unknown;
  errorResponse?: { error?: unknown; errorCodes?: unknown };
}

const REFUSALS = [
  'invalid_client',
  'unauthorized_client',
  'invalid_request',
  'invalid_grant',
  'invalid_resource',
];

/** Runs check 6. `credential` overrides {@link botCredential} (tests). */
export async function checkBot(
  config: Config,
  timeoutMs: number,
  credential: TokenCredential | undefined = botCredential(config.bot),
): Promise<Finding> {
  const bot = config.bot;
  if (!bot.appId)
    return warn(
      CHECK,
      'bot.no_id',
      'BOT_ID is empty: inbound authentication is off (development only) and Teams cannot reach this bot',
      'Set BOT_ID and BOT_PASSWORD (or BOT_TYPE=UserAssignedMsi) from the Azure Bot resource before using Teams.',
    );
  if (!credential)
    return fail(
      CHECK,
      'bot.no_secret',
      'BOT_PASSWORD is empty',
      'Set BOT_PASSWORD to a client secret of the bot app registration.',
    );
  const how = bot.appType === 'UserAssignedMsi' ? 'the managed identity' : `BOT_PASSWORD (${bot.appType})`;
  try {
    const t = await credential.getToken(BOT_FRAMEWORK_SCOPE, { abortSignal: AbortSignal.timeout(timeoutMs) });
    if (!t) throw new Error('no token');
  } catch (err) {
    const e = (typeof err === 'object' && err !== null ? err : {}) as EntraErrorShape;
    const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
    const code = typeof e.errorResponse?.error === 'string' ? e.errorResponse.error : undefined;
    if (
      e.name === 'AuthenticationError' &&
      status !== undefined &&
      status < 500 &&
      code &&
      REFUSALS.includes(code)
    ) {
      const codes = Array.isArray(e.errorResponse?.errorCodes)
        ? ` AADSTS${e.errorResponse.errorCodes.join(', ')}`
        : '';
      return fail(
        CHECK,
        'bot.rejected',
        `Entra refused a Bot Framework token for BOT_ID ${bot.appId} with ${how} (${code}${codes})`,
        bot.appType === 'UserAssignedMsi'
          ? 'Set BOT_ID to the client id of the managed identity the Azure Bot resource uses, and assign that identity to this app.'
          : 'Create a new client secret for the bot app registration and set BOT_PASSWORD; check BOT_TYPE (and BOT_TENANT_ID) match the Azure Bot resource.',
      );
    }
    return warn(
      CHECK,
      'bot.unreachable',
      `could not get a Bot Framework token for BOT_ID ${bot.appId} from here (${typeof e.name === 'string' ? e.name : 'error'}${status !== undefined ? ` ${status}` : ''})`,
      'Run the doctor where the bot runs (App Service console) or check outbound access to login.microsoftonline.com.',
    );
  }
  return pass(CHECK, `Bot Framework token for BOT_ID ${bot.appId} with ${how}`);
}
