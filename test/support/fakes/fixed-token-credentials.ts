import {
  ServiceClientCredentialsFactory,
  TokenCredentials,
  type ServiceClientCredentials,
} from 'botframework-connector';

/** The request object botbuilder's ConnectorClient hands to `signRequest`. */
type SignableRequest = Parameters<ServiceClientCredentials['signRequest']>[0];

/** One `createCredentials` call botbuilder made (which app, audience and login URL it asked for). */
export interface CredentialsRequest {
  appId: string;
  audience: string | undefined;
  loginEndpoint: string;
  validateAuthority: boolean;
}

/** Credentials that sign every outbound request with the same bearer token. */
export interface FixedTokenCredentials extends ServiceClientCredentials {
  /** Sets `Authorization: Bearer <token>` on the request. */
  signRequest(webResource: SignableRequest): Promise<SignableRequest>;
  /** The fixed token (what `AppCredentials.getToken()` would return). */
  getToken(forceRefresh?: boolean): Promise<string>;
}

/**
 * Test-only `ServiceClientCredentialsFactory` for the bot's OUTBOUND calls (bot → Bot Connector): instead of
 * MSAL's client-credentials flow against login.microsoftonline.com (which needs the internet and refuses http
 * authorities), every ConnectorClient gets credentials that add `Authorization: Bearer <token>`.
 *
 * Inbound authentication stays fully on: `isAuthenticationDisabled()` is false and `isValidAppId` accepts only the
 * configured app id (the `aud` check of channel tokens goes through it), so the bot still needs real channel
 * tokens, e.g. from `jwt-issuer.ts`. Pass it as the second argument of `ConfigurationBotFrameworkAuthentication`.
 */
export class FixedTokenCredentialsFactory extends ServiceClientCredentialsFactory {
  private readonly appId: string;
  private readonly token: string | (() => Promise<string>);
  /** Every `createCredentials` call, oldest first. */
  readonly requests: CredentialsRequest[] = [];

  /**
   * @param options.appId the bot's app id (BOT_ID); `createCredentials` for another app id throws, like
   *   botbuilder's `PasswordServiceClientCredentialFactory` ("Invalid appId.").
   * @param options.token the bearer to send, or a function producing it (e.g. fetched from the fake issuer).
   */
  constructor(options: { appId: string; token: string | (() => Promise<string>) }) {
    super();
    if (!options.appId)
      throw new Error('FixedTokenCredentialsFactory needs an app id (empty would disable auth)');
    this.appId = options.appId;
    this.token = options.token;
  }

  /** True only for the configured app id. */
  override isValidAppId(appId: string): Promise<boolean> {
    return Promise.resolve(appId === this.appId);
  }

  /** Always false: inbound requests must carry a valid channel token. */
  override isAuthenticationDisabled(): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** Returns credentials that sign with the fixed token. @throws Error for an app id other than the configured one. */
  override createCredentials(
    appId: string,
    audience: string | undefined,
    loginEndpoint: string,
    validateAuthority: boolean,
  ): Promise<FixedTokenCredentials> {
    this.requests.push({ appId, audience, loginEndpoint, validateAuthority });
    if (appId !== this.appId) return Promise.reject(new Error('Invalid appId.'));
    const source = this.token;
    const getToken = (): Promise<string> => (typeof source === 'string' ? Promise.resolve(source) : source());
    return Promise.resolve({
      getToken,
      signRequest: async (webResource: SignableRequest) =>
        new TokenCredentials(await getToken()).signRequest(webResource),
    });
  }

  // Mirrors botbuilder's credential classes: never serialise the token.
  toJSON(): { name: string; appId: string } {
    return { name: this.constructor.name, appId: this.appId };
  }
}
