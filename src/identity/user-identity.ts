import type { Config } from '../config/config';
import { BotError } from '../errors';
import type { Logger } from '../observability/logger';
import type { IdentityProvider } from '../relay/ports';

/**
 * Individual authentication (FOUNDRY_AUTH=user): Foundry is called as the Teams user, with a token obtained
 * on-behalf-of the user's SSO token. Placeholder until the identity work lands: fails closed.
 */
export function createUserIdentity(_config: Config, _log: Logger): IdentityProvider {
  return {
    mode: 'user',
    credentialFor: () => Promise.reject(new BotError('IDENTITY_UNAVAILABLE', 'user identity not configured')),
  };
}
