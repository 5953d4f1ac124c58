import { createHash, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';

/**
 * The emulator's stand-in for Entra ID (docs/foundry-wire.md §1.3): it signs RS256 access tokens with a key
 * pair made at start, publishes the key as JWKS with an OpenID configuration, verifies bearer tokens on the
 * Foundry routes, and answers managed-identity token requests in the App Service 2019-08-01 format that
 * @azure/identity's ManagedIdentityCredential uses when IDENTITY_ENDPOINT and IDENTITY_HEADER are set.
 */

/** Audience of Foundry data-plane tokens (scope `https://ai.azure.com/.default`). */
export const FOUNDRY_AUDIENCE = 'https://ai.azure.com';
/** Object id of the bot's system-assigned managed identity in the project tenant. */
export const BOT_MANAGED_IDENTITY_OID = 'bbbbbbbb-0000-4000-8000-00000000b07a';
/** Client (application) id of that system-assigned identity. */
export const BOT_MANAGED_IDENTITY_CLIENT_ID = 'bbbbbbbb-0000-4000-8000-00000000c11d';
export const BOT_MANAGED_IDENTITY_NAME = 'foundry-relay-bot (managed identity)';

export interface TokenClaims {
  oid: string;
  tid?: string;
  name?: string;
  /** Lifetime from now; negative gives an already expired token. Default 3600. */
  expiresInSec?: number;
  aud?: string;
  /** Application id (appid / azp), e.g. a managed identity's client id. */
  appid?: string;
  /** `user` (default) or `app`. */
  idtyp?: 'user' | 'app';
  /** Delegated scopes (`scp`); default `user_impersonation` for user tokens (Teams SSO tokens: `access_as_user`). */
  scp?: string;
}

/** What `verifyJwt` returns: the verified payload, or why the token is not acceptable. */
export type JwtCheck =
  | { ok: true; payload: Record<string, unknown> }
  | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' | 'not_yet_valid' };

export interface Caller {
  oid: string;
  tid: string;
  name: string | undefined;
}

export type VerifyResult =
  | { ok: true; caller: Caller }
  | { ok: false; status: 401 | 403; code: 'unauthorized' | 'forbidden'; message: string };

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** A GUID-shaped id derived from a string (user-assigned identities get stable, distinct oids). */
export function derivedGuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class TokenAuthority {
  readonly kid = randomUUID();
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor(
    private readonly baseUrl: string,
    readonly tenantId: string,
  ) {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  /** `${url}/${tenant}/v2.0`, like login.microsoftonline.com's v2 issuer. */
  issuerFor(tenantId: string): string {
    return `${this.baseUrl}/${tenantId}/v2.0`;
  }

  issueToken(claims: TokenClaims): string {
    const now = Math.floor(Date.now() / 1000);
    const tid = claims.tid ?? this.tenantId;
    const payload = {
      iss: this.issuerFor(tid),
      aud: claims.aud ?? FOUNDRY_AUDIENCE,
      oid: claims.oid,
      sub: claims.oid,
      tid,
      name: claims.name ?? `User ${claims.oid.slice(0, 8)}`,
      idtyp: claims.idtyp ?? 'user',
      ...(claims.appid !== undefined ? { appid: claims.appid, azp: claims.appid } : {}),
      scp: claims.idtyp === 'app' ? undefined : (claims.scp ?? 'user_impersonation'),
      iat: now,
      nbf: now - 60,
      exp: now + (claims.expiresInSec ?? 3600),
      ver: '2.0',
    };
    const header = { alg: 'RS256', typ: 'JWT', kid: this.kid };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    return `${input}.${b64url(sign('sha256', Buffer.from(input), this.privateKey))}`;
  }

  /**
   * Checks an `Authorization` header: RS256 signature with this emulator's key, exp/nbf, audience
   * (401 `unauthorized`), and the tenant (403 `forbidden` when tid is not the project's, §1.3).
   */
  verifyBearer(authorization: string | undefined): VerifyResult {
    const deny = (message: string): VerifyResult => ({
      ok: false,
      status: 401,
      code: 'unauthorized',
      message,
    });
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m?.[1]) return deny('Missing or malformed Authorization header: a Bearer token is required.');
    const parts = m[1].split('.');
    const [h, p, s] = parts;
    if (parts.length !== 3 || h === undefined || p === undefined || s === undefined) {
      return deny('Invalid token: not a JWT.');
    }
    let header: unknown;
    let payload: unknown;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
      payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    } catch {
      return deny('Invalid token: undecodable.');
    }
    if (!isRecord(header) || !isRecord(payload)) return deny('Invalid token: undecodable.');
    if (header['alg'] !== 'RS256' || header['kid'] !== this.kid)
      return deny('Invalid token: unknown signing key.');
    if (!verify('sha256', Buffer.from(`${h}.${p}`), this.publicKey, Buffer.from(s, 'base64url'))) {
      return deny('Invalid token: signature validation failed.');
    }
    const now = Math.floor(Date.now() / 1000);
    const exp = payload['exp'];
    const nbf = payload['nbf'];
    if (typeof exp !== 'number' || exp <= now) return deny('Token expired.');
    if (typeof nbf === 'number' && nbf > now + 300) return deny('Token not yet valid.');
    const aud = payload['aud'];
    if (aud !== FOUNDRY_AUDIENCE && aud !== `${FOUNDRY_AUDIENCE}/`) {
      return deny(`Invalid audience '${String(aud)}': expected ${FOUNDRY_AUDIENCE}.`);
    }
    const oid = payload['oid'];
    const tid = payload['tid'];
    if (typeof oid !== 'string' || oid === '' || typeof tid !== 'string')
      return deny('Token lacks oid or tid.');
    if (payload['iss'] !== this.issuerFor(tid)) return deny('Invalid issuer.');
    if (tid !== this.tenantId) {
      return {
        ok: false,
        status: 403,
        code: 'forbidden',
        message: `The user's tenant '${tid}' does not match the project's tenant. Cross-tenant access isn't supported.`,
      };
    }
    const name = payload['name'];
    return { ok: true, caller: { oid, tid, name: typeof name === 'string' ? name : undefined } };
  }

  /**
   * Verifies any token this authority signed (RS256 with its key, exp, nbf), whatever its audience: the
   * on-behalf-of endpoint (obo.ts) uses it for user assertions (Teams SSO tokens) and checks the rest itself.
   */
  verifyJwt(token: string): JwtCheck {
    const parts = token.split('.');
    const [h, p, s] = parts;
    if (parts.length !== 3 || h === undefined || p === undefined || s === undefined)
      return { ok: false, reason: 'malformed' };
    let header: unknown;
    let payload: unknown;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
      payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (!isRecord(header) || !isRecord(payload)) return { ok: false, reason: 'malformed' };
    if (header['alg'] !== 'RS256' || header['kid'] !== this.kid)
      return { ok: false, reason: 'bad_signature' };
    if (!verify('sha256', Buffer.from(`${h}.${p}`), this.publicKey, Buffer.from(s, 'base64url')))
      return { ok: false, reason: 'bad_signature' };
    const now = Math.floor(Date.now() / 1000);
    const exp = payload['exp'];
    const nbf = payload['nbf'];
    if (typeof exp !== 'number' || exp <= now) return { ok: false, reason: 'expired' };
    if (typeof nbf === 'number' && nbf > now + 300) return { ok: false, reason: 'not_yet_valid' };
    return { ok: true, payload };
  }

  jwks(): { keys: Record<string, unknown>[] } {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return { keys: [{ ...jwk, kid: this.kid, use: 'sig', alg: 'RS256' }] };
  }

  /**
   * The tenant's OpenID configuration. `base` is the listener it is served from: the https authority
   * (MSAL's discovery for on-behalf-of) must name https endpoints; tokens keep the http issuer either way.
   */
  openidConfiguration(base: string = this.baseUrl): Record<string, unknown> {
    const t = this.tenantId;
    return {
      issuer: `${base}/${t}/v2.0`,
      jwks_uri: `${base}/${t}/discovery/v2.0/keys`,
      // The on-behalf-of token endpoint (obo.ts).
      token_endpoint: `${base}/${t}/oauth2/v2.0/token`,
      authorization_endpoint: `${base}/${t}/oauth2/v2.0/authorize`,
      response_types_supported: ['code', 'id_token', 'token'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt'],
      tenant_region_scope: 'NA',
    };
  }
}

/** The managed identity a token request names. */
export interface ManagedIdentity {
  oid: string;
  clientId: string;
  name: string;
}

export type MiResult = { status: number; body: Record<string, unknown> };

/**
 * App Service / Container Apps managed identity (api-version 2019-08-01), as MSAL's AppService source calls it:
 * `GET <IDENTITY_ENDPOINT>?api-version=2019-08-01&resource=<r>[&client_id=…|&object_id=…|&mi_res_id=…]` with
 * header `X-IDENTITY-HEADER: <IDENTITY_HEADER>`. No client id → the bot's system-assigned identity; a
 * user-assigned id → a different, stable oid.
 */
export function managedIdentityToken(
  authority: TokenAuthority,
  secret: string,
  query: URLSearchParams,
  headerValue: string | undefined,
): MiResult & { identity?: ManagedIdentity } {
  const err = (status: number, error: string, description: string): MiResult => ({
    status,
    body: { error, error_description: description },
  });
  if (headerValue === undefined || headerValue === '') {
    return err(400, 'invalid_request', 'Required header X-IDENTITY-HEADER is missing.');
  }
  if (headerValue !== secret) return err(401, 'unauthorized', 'X-IDENTITY-HEADER does not match.');
  const apiVersion = query.get('api-version');
  if (apiVersion !== '2019-08-01') {
    return err(400, 'invalid_request', `Unsupported api-version '${apiVersion ?? ''}'; use 2019-08-01.`);
  }
  const resource = query.get('resource');
  if (!resource) return err(400, 'invalid_request', 'Required query parameter resource is missing.');
  const clientId = query.get('client_id');
  const objectId = query.get('object_id') ?? query.get('principal_id');
  const resId = query.get('mi_res_id');
  let identity: ManagedIdentity;
  if (clientId)
    identity = { clientId, oid: derivedGuid(`mi-client:${clientId}`), name: `user-assigned ${clientId}` };
  else if (objectId)
    identity = { clientId: derivedGuid(`mi-object:${objectId}`), oid: objectId, name: 'user-assigned' };
  else if (resId) {
    identity = {
      clientId: derivedGuid(`mi-res-client:${resId}`),
      oid: derivedGuid(`mi-res:${resId}`),
      name: resId,
    };
  } else {
    identity = {
      clientId: BOT_MANAGED_IDENTITY_CLIENT_ID,
      oid: BOT_MANAGED_IDENTITY_OID,
      name: BOT_MANAGED_IDENTITY_NAME,
    };
  }
  const lifetime = 24 * 3600;
  const aud = resource.replace(/\/\.default$/, '');
  const accessToken = authority.issueToken({
    oid: identity.oid,
    name: identity.name,
    aud,
    appid: identity.clientId,
    idtyp: 'app',
    expiresInSec: lifetime,
  });
  return {
    status: 200,
    identity,
    body: {
      access_token: accessToken,
      expires_on: String(Math.floor(Date.now() / 1000) + lifetime),
      resource,
      token_type: 'Bearer',
      client_id: identity.clientId,
    },
  };
}
