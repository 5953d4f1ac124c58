import { Agent } from 'node:https';
import { inspect } from 'node:util';
import {
  AuthenticationError,
  AuthenticationRequiredError,
  OnBehalfOfCredential,
  type AccessToken,
  type GetTokenOptions,
  type OnBehalfOfCredentialOptions,
  type TokenCredential,
} from '@azure/identity';
import type { Config } from '../config/config';
import { BotError } from '../errors';
import { FOUNDRY_SCOPE } from '../foundry/types';
import { hashId, type Logger } from '../observability/logger';
import type { Actor } from '../relay/model';
import type { IdentityProvider } from '../relay/ports';
import { SignInPages, tokenError } from './sign-in-pages';

/**
 * Individual authentication (FOUNDRY_AUTH=user, docs/identity.md): Foundry is called as the Teams user, with a
 * token obtained on-behalf-of the user's Teams SSO token through @azure/identity's OnBehalfOfCredential, so
 * OAuth identity passthrough consents stay per user (docs/foundry-wire.md §1.3).
 *
 * - The latest SSO token of each user (key: tenant + Entra object id) is kept **in memory only**: never in
 *   durable storage, never logged. After a restart the edge asks Teams for a new one (silent SSO).
 * - Foundry tokens are cached per user until 5 minutes before they expire; concurrent exchanges for one user
 *   (several devices, several turns) share one on-behalf-of call (single flight).
 * - Users whose conversation or SSO token tenant is not the project tenant (AAD_APP_TENANT_ID) are refused
 *   with TENANT_NOT_ALLOWED before anything is sent to Entra or Foundry (cross-tenant exchange isn't supported).
 * - Credentials handed out never serialise tokens (`toJSON`, `util.inspect`).
 */

/** Refresh this long before a Foundry token expires. */
const FOUNDRY_TOKEN_MARGIN_MS = 5 * 60_000;
/** Bound on remembered users (each entry is a few KB); the least recently used is forgotten first. */
const MAX_SESSIONS = 10_000;
/** Official Entra hosts: instance discovery stays on for these. */
const OFFICIAL_AUTHORITY = /^https:\/\/login\.microsoftonline\.(com|us)$/i;

export interface UserIdentityOptions {
  /**
   * Extra CA (PEM) trusted for the Entra authority only: tests pass the emulator's TEST-ONLY CA
   * (emulator/certs/ca.pem). Production leaves it unset (the system store verifies login.microsoftonline.com).
   */
  authorityCa?: string;
  clock?: () => number;
}

/** The user-mode provider: the IdentityProvider port plus what the Teams edge and tests need. */
export interface UserIdentityProvider extends IdentityProvider {
  readonly mode: 'user';
  acceptSsoToken(user: Actor, tenantId: string, ssoToken: string): Promise<void>;
  acceptPageSignIn(user: Actor, tenantId: string, state: string, conversationId: string): Promise<void>;
  forget(user: Actor, tenantId: string): void;
  /** The fallback sign-in pages (routes in src/http/sign-in-routes.ts, card button in src/teams/sso.ts). */
  readonly pages: SignInPages;
  /** Users currently remembered (for tests and metrics). */
  readonly size: number;
}

interface SsoClaims {
  oid: string;
  tid: string;
  /** Milliseconds since the epoch. */
  exp: number;
}

interface Session {
  /** Absent after a sign-in through the bot's own pages (its Foundry token came from code redemption). */
  ssoToken?: string;
  ssoExp: number;
  foundry?: AccessToken;
  inflight?: Promise<AccessToken>;
}

/**
 * Reads the claims the bot routes on (oid, tid, exp) **without verifying** the signature: the token arrived in
 * an authenticated Bot Framework invoke, and Entra verifies it (signature, audience, lifetime) during the
 * on-behalf-of exchange. Nothing is granted on these claims alone; they only let the bot refuse early.
 */
function ssoClaims(token: string): SsoClaims | undefined {
  const payload = token.split('.')[1];
  if (token.split('.').length !== 3 || !payload) return undefined;
  try {
    const p = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const { oid, tid, exp } = p;
    if (typeof oid !== 'string' || typeof tid !== 'string' || typeof exp !== 'number') return undefined;
    return { oid: oid.toLowerCase(), tid: tid.toLowerCase(), exp: exp * 1000 };
  } catch {
    return undefined;
  }
}

/**
 * Entra's OAuth error code of a failed exchange. @azure/identity wraps most MSAL errors (invalid_grant,
 * interaction_required) in AuthenticationRequiredError, whose message starts with MSAL's `code: description`.
 */
function oauthErrorOf(err: unknown): string {
  if (err instanceof AuthenticationError) return String(err.errorResponse.error).slice(0, 64);
  if (err instanceof AuthenticationRequiredError) {
    const m = /\b(interaction_required|consent_required|login_required|invalid_grant)\b/.exec(err.message);
    return m?.[1] ?? 'authentication_required';
  }
  return 'unknown';
}

/** A TokenCredential for one user that never serialises a token (docs/conventions.md C12). */
class UserCredential implements TokenCredential {
  readonly #get: () => Promise<AccessToken>;
  readonly #user: string;

  constructor(userHash: string, get: () => Promise<AccessToken>) {
    this.#user = userHash;
    this.#get = get;
  }

  getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    const list = Array.isArray(scopes) ? scopes : [scopes];
    if (list.length !== 1 || list[0] !== FOUNDRY_SCOPE) {
      return Promise.reject(new BotError('IDENTITY_UNAVAILABLE', 'user credential is for Foundry only'));
    }
    return this.#get();
  }

  toJSON(): { name: string; user: string } {
    return { name: 'UserCredential', user: this.#user };
  }

  [inspect.custom](): string {
    return `UserCredential { user: '${this.#user}' }`;
  }

  toString(): string {
    return `UserCredential(${this.#user})`;
  }
}

type AdditionalPolicies = NonNullable<OnBehalfOfCredentialOptions['additionalPolicies']>;

/** A pipeline policy that sends the credential's requests through an https agent trusting `ca`. */
function trustCaPolicies(ca: string): AdditionalPolicies {
  const agent = new Agent({ ca, keepAlive: false });
  return [
    {
      position: 'perCall',
      policy: {
        name: 'authorityCaPolicy',
        sendRequest: (request, next) => {
          request.agent ??= agent;
          return next(request);
        },
      },
    },
  ];
}

/**
 * Creates the user-mode identity provider. `config.sso` (AAD_APP_CLIENT_ID / _SECRET / _TENANT_ID) names the
 * Teams SSO app registration; `config.foundry.authorityHost` (AZURE_AUTHORITY_HOST) the Entra authority.
 *
 * @throws BotError('CONFIG_INVALID') when the SSO app is not fully configured (loadConfig rejects that first).
 */
export function createUserIdentity(
  config: Config,
  log: Logger,
  options: UserIdentityOptions = {},
): UserIdentityProvider {
  const { clientId, clientSecret } = config.sso;
  const projectTenant = config.sso.tenantId?.toLowerCase();
  if (!clientId || !clientSecret || !projectTenant) {
    throw new BotError(
      'CONFIG_INVALID',
      'FOUNDRY_AUTH=user needs AAD_APP_CLIENT_ID, _SECRET and _TENANT_ID',
      {
        details: { keys: ['AAD_APP_CLIENT_ID', 'AAD_APP_CLIENT_SECRET', 'AAD_APP_TENANT_ID'] },
      },
    );
  }
  const authorityHost = config.foundry.authorityHost;
  const obo: OboSettings = {
    tenantId: projectTenant,
    clientId,
    clientSecret,
    ...(authorityHost !== undefined ? { authorityHost } : {}),
    ...(authorityHost !== undefined && !OFFICIAL_AUTHORITY.test(authorityHost)
      ? { disableInstanceDiscovery: true }
      : {}),
    ...(options.authorityCa !== undefined
      ? { additionalPolicies: trustCaPolicies(options.authorityCa) }
      : {}),
  };
  const clock = options.clock ?? Date.now;
  const pages = new SignInPages({
    clientId,
    clientSecret,
    tenantId: projectTenant,
    authorityHost: authorityHost ?? 'https://login.microsoftonline.com',
    authorityCa: options.authorityCa,
    clock,
  });
  return new UserIdentity(obo, log, clock, pages);
}

type OboSettings = Omit<
  OnBehalfOfCredentialOptions & { tenantId: string; clientId: string; clientSecret: string },
  'userAssertionToken'
>;

/** Sessions per user (SSO token, cached Foundry token, the exchange in flight), in memory only. */
class UserIdentity implements UserIdentityProvider {
  readonly mode = 'user' as const;
  private readonly sessions = new Map<string, Session>();
  private readonly projectTenant: string;

  constructor(
    private readonly obo: OboSettings,
    private readonly log: Logger,
    private readonly clock: () => number,
    readonly pages: SignInPages,
  ) {
    this.projectTenant = obo.tenantId;
  }

  get size(): number {
    return this.sessions.size;
  }

  async credentialFor(user: Actor, tenantId: string): Promise<TokenCredential> {
    this.refuseForeignTenant(tenantId, user);
    const oid = user.aadObjectId;
    if (!oid) throw new BotError('IDENTITY_UNAVAILABLE', 'the user has no Entra object id');
    const key = this.keyOf(oid);
    const userHash = hashId(oid.toLowerCase());
    // Exchange now, so a missing or refused sign-in is known before anything is sent to Foundry.
    await this.foundryToken(key, userHash);
    return new UserCredential(userHash, () => this.foundryToken(key, userHash));
  }

  async acceptSsoToken(user: Actor, tenantId: string, ssoToken: string): Promise<void> {
    this.refuseForeignTenant(tenantId, user);
    const claims = ssoClaims(ssoToken);
    const oid = user.aadObjectId?.toLowerCase();
    const userHash = hashId(oid ?? user.id);
    if (!claims || !oid) {
      this.log.warn('identity.sso_rejected', { user: userHash, reason: 'unreadable' });
      throw new BotError('IDENTITY_UNAVAILABLE', 'the SSO token could not be read');
    }
    if (claims.tid !== this.projectTenant) this.refuseForeignTenant(claims.tid, user);
    if (claims.oid !== oid) {
      // A token of someone else in this user's invoke: never attach it to this user.
      this.log.warn('identity.sso_rejected', { user: userHash, reason: 'user_mismatch' });
      throw new BotError('IDENTITY_UNAVAILABLE', 'the SSO token belongs to another user');
    }
    if (claims.exp <= this.clock()) {
      this.log.warn('identity.sso_rejected', { user: userHash, reason: 'expired' });
      throw new BotError('IDENTITY_UNAVAILABLE', 'the SSO token has expired');
    }
    const key = this.keyOf(oid);
    const cur = this.sessions.get(key);
    if (cur) {
      // Several devices: keep the token that lives longest; join an exchange already running.
      if (claims.exp >= cur.ssoExp) {
        cur.ssoToken = ssoToken;
        cur.ssoExp = claims.exp;
      }
      this.remember(key, cur);
    } else {
      this.remember(key, { ssoToken, ssoExp: claims.exp });
    }
    await this.foundryToken(key, userHash);
  }

  async acceptPageSignIn(
    user: Actor,
    tenantId: string,
    state: string,
    conversationId: string,
  ): Promise<void> {
    this.refuseForeignTenant(tenantId, user);
    const oid = user.aadObjectId?.toLowerCase();
    if (!oid) throw new BotError('IDENTITY_UNAVAILABLE', 'the user has no Entra object id');
    const userHash = hashId(oid);
    let r;
    try {
      r = await this.pages.redeem(state, user, conversationId);
    } catch (err) {
      this.log.warn('identity.page_signin_failed', { user: userHash, code: (err as BotError).code });
      throw err;
    }
    if (r.tid !== this.projectTenant) this.refuseForeignTenant(r.tid, user);
    if (r.oid !== oid) {
      // Signed in in the browser with another account than the one of this Teams user: never attach it.
      this.log.warn('identity.page_signin_failed', { user: userHash, code: 'SIGNIN_WRONG_ACCOUNT' });
      throw new BotError('SIGNIN_WRONG_ACCOUNT', 'the page sign-in names another user');
    }
    const key = this.keyOf(oid);
    const cur = this.sessions.get(key);
    this.remember(key, { ...(cur ?? { ssoExp: 0 }), foundry: r.token });
    this.log.info('identity.page_signed_in', { user: userHash });
  }

  forget(user: Actor, tenantId: string): void {
    const oid = user.aadObjectId?.toLowerCase();
    if (!oid || tenantId.toLowerCase() !== this.projectTenant) return;
    if (this.sessions.delete(this.keyOf(oid))) this.log.info('identity.forgotten', { user: hashId(oid) });
  }

  private keyOf(oid: string): string {
    return `${this.projectTenant}|${oid.toLowerCase()}`;
  }

  private refuseForeignTenant(tenantId: string, user: Actor): void {
    if (tenantId.toLowerCase() === this.projectTenant) return;
    this.log.warn('identity.tenant_refused', {
      user: hashId(user.aadObjectId ?? user.id),
      tenant: hashId(tenantId),
    });
    throw new BotError('TENANT_NOT_ALLOWED', 'user is not in the Foundry project tenant');
  }

  private remember(key: string, session: Session): void {
    this.sessions.delete(key);
    this.sessions.set(key, session);
    if (this.sessions.size > MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
  }

  /**
   * The user's Foundry token: cached, or one (shared) on-behalf-of exchange. No abort signal: the exchange is
   * shared by every caller of this user, and one caller's abort must not fail the rest.
   */
  private foundryToken(key: string, userHash: string): Promise<AccessToken> {
    const s = this.sessions.get(key);
    if (!s) return Promise.reject(new BotError('IDENTITY_UNAVAILABLE', 'no sign-in for this user'));
    if (s.foundry !== undefined && s.foundry.expiresOnTimestamp - FOUNDRY_TOKEN_MARGIN_MS > this.clock())
      return Promise.resolve(s.foundry);
    if (s.inflight) return s.inflight;
    if (s.ssoToken === undefined || s.ssoExp <= this.clock())
      return Promise.reject(new BotError('IDENTITY_UNAVAILABLE', 'the sign-in has expired'));
    const run = this.exchange(key, userHash, s.ssoToken).finally(() => {
      const cur = this.sessions.get(key);
      if (cur?.inflight === run) delete cur.inflight;
    });
    s.inflight = run;
    return run;
  }

  private async exchange(key: string, userHash: string, assertion: string): Promise<AccessToken> {
    const started = this.clock();
    try {
      const token = await new OnBehalfOfCredential({ ...this.obo, userAssertionToken: assertion }).getToken(
        FOUNDRY_SCOPE,
      );
      const cur = this.sessions.get(key);
      if (cur) cur.foundry = token;
      this.log.info('identity.obo_exchanged', { user: userHash, ms: this.clock() - started });
      return token;
    } catch (err) {
      // Never the error text: Entra's descriptions are safe, but the cause chain holds request details.
      const error = oauthErrorOf(err);
      const status = err instanceof AuthenticationError ? err.statusCode : undefined;
      this.log.warn('identity.obo_failed', { user: userHash, error, ...(status ? { status } : {}) });
      // A token Entra refused is useless: forget it, so the next message asks Teams for a new one.
      if (this.sessions.get(key)?.ssoToken === assertion) this.sessions.delete(key);
      // invalid_grant (consent revoked, password changed) and interaction_required (conditional access, MFA)
      // get their own codes: the user is asked to sign in again with a line saying why.
      throw tokenError(status ?? 0, error);
    }
  }
}
