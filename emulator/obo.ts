import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import { FOUNDRY_AUDIENCE, type TokenAuthority } from './identity';

/**
 * The emulator's Entra on-behalf-of (OBO) token endpoint (docs/foundry-wire.md §1.3; docs/architecture.md "Identity").
 *
 * `POST /{tenant}/oauth2/v2.0/token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`,
 * `requested_token_use=on_behalf_of`, `assertion=<the user's Teams SSO token>`, `scope=https://ai.azure.com/.default`
 * and the SSO app's client credentials (`client_id` + `client_secret`, as MSAL posts them). It checks, in
 * Entra's order: the grant, the client (401 `invalid_client`), the assertion (signed by this emulator, not
 * expired, audience = the SSO app's client id or one of its identifier URIs `api://…/botid-…`, tenant = the
 * project tenant; else 400 `invalid_grant`), the scope (400 `invalid_scope`), and issues a Foundry token
 * (aud https://ai.azure.com) carrying the assertion's `oid`, `tid` and `name`, so Foundry routes see the end
 * user. Served over https (server.ts): MSAL refuses http authorities.
 */

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Client id of the emulator's default Teams SSO app registration (AAD_APP_CLIENT_ID in tests). */
export const EMULATOR_SSO_CLIENT_ID = '5501c11d-0000-4000-8000-00000000a55a';
/** TEST-ONLY secret of that app (AAD_APP_CLIENT_SECRET in tests). */
export const EMULATOR_SSO_CLIENT_SECRET = 'emulator-sso-client-secret-test-only';
/** The SSO app's identifier URI, as the manifest's webApplicationInfo.resource names it. */
export const EMULATOR_SSO_APP_ID_URI = `api://localhost/botid-${EMULATOR_SSO_CLIENT_ID}`;
/** Teams desktop/mobile client id (a pre-authorized client of the SSO app): the `appid` of SSO tokens. */
export const TEAMS_CLIENT_APP_ID = '1fec8e78-bce4-4aaf-ab1b-5451cc387264';

/** An app registration allowed to perform on-behalf-of at the emulator. */
export interface OboClient {
  clientId: string;
  clientSecret: string;
  /** Audiences its SSO tokens may carry besides the client id (identifier URIs). */
  identifierUris: string[];
}

export const DEFAULT_OBO_CLIENT: Readonly<OboClient> = Object.freeze({
  clientId: EMULATOR_SSO_CLIENT_ID,
  clientSecret: EMULATOR_SSO_CLIENT_SECRET,
  identifierUris: [EMULATOR_SSO_APP_ID_URI],
});

export interface OboResult {
  status: number;
  body: Record<string, unknown>;
  /** The user the token was issued for (for the request log). */
  caller?: { oid: string; tid: string };
}

/** Lifetime of issued Foundry tokens (Entra's default for access tokens is 60–90 minutes). */
export const OBO_TOKEN_LIFETIME_SEC = 3600;

function oauthError(status: number, error: string, description: string): OboResult {
  // Entra answers with AADSTS codes in the description; MSAL surfaces `error` and `error_description`.
  return {
    status,
    body: { error, error_description: description, error_codes: [], timestamp: new Date().toISOString() },
  };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Client credentials from the body (client_secret_post) or an `Authorization: Basic` header. */
function clientCredentials(
  form: URLSearchParams,
  authorization: string | undefined,
): { id: string; secret: string } | undefined {
  const id = form.get('client_id');
  const secret = form.get('client_secret');
  if (id && secret) return { id, secret };
  const m = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i <= 0) return undefined;
  return { id: decodeURIComponent(decoded.slice(0, i)), secret: decodeURIComponent(decoded.slice(i + 1)) };
}

export function handleOboTokenRequest(
  authority: TokenAuthority,
  form: URLSearchParams,
  clients: readonly OboClient[] = [DEFAULT_OBO_CLIENT],
  authorization?: string,
): OboResult {
  if (form.get('grant_type') !== JWT_BEARER_GRANT) {
    return oauthError(
      400,
      'unsupported_grant_type',
      'AADSTS70003: The emulator supports only the on-behalf-of jwt-bearer grant on this endpoint.',
    );
  }
  if (form.get('requested_token_use') !== 'on_behalf_of') {
    return oauthError(400, 'invalid_request', "AADSTS900144: 'requested_token_use' must be 'on_behalf_of'.");
  }
  const cred = clientCredentials(form, authorization);
  const client = cred ? clients.find((c) => c.clientId === cred.id) : undefined;
  if (!cred || !client) {
    return oauthError(401, 'invalid_client', 'AADSTS700016: Application not found in the directory.');
  }
  if (!sameSecret(cred.secret, client.clientSecret)) {
    return oauthError(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');
  }
  const assertion = form.get('assertion');
  if (!assertion) return oauthError(400, 'invalid_request', "AADSTS900144: 'assertion' is required.");
  const checked = authority.verifyJwt(assertion);
  if (!checked.ok) {
    return oauthError(
      400,
      'invalid_grant',
      checked.reason === 'expired'
        ? 'AADSTS500133: Assertion is not within its valid time range.'
        : 'AADSTS50013: Assertion failed signature validation.',
    );
  }
  const p = checked.payload;
  const aud = p['aud'];
  if (typeof aud !== 'string' || (aud !== client.clientId && !client.identifierUris.includes(aud))) {
    return oauthError(400, 'invalid_grant', 'AADSTS50013: Assertion audience does not match the client app.');
  }
  const oid = p['oid'];
  const tid = p['tid'];
  const name = p['name'];
  if (typeof oid !== 'string' || oid === '' || typeof tid !== 'string') {
    return oauthError(400, 'invalid_grant', 'AADSTS50013: Assertion lacks oid or tid.');
  }
  if (tid !== authority.tenantId) {
    // The SSO app is single-tenant in the project tenant (docs/foundry-wire.md §1.3: no cross-tenant exchange).
    return oauthError(
      400,
      'invalid_grant',
      'AADSTS50020: User account from an external identity provider does not exist in the tenant.',
    );
  }
  const scopes = (form.get('scope') ?? '').split(/\s+/).filter((s) => s.length > 0);
  const foundryScope = scopes.find(
    (s) => s === `${FOUNDRY_AUDIENCE}/.default` || s === `${FOUNDRY_AUDIENCE}/user_impersonation`,
  );
  if (!foundryScope) {
    return oauthError(
      400,
      'invalid_scope',
      `AADSTS70011: The emulator issues on-behalf-of tokens for ${FOUNDRY_AUDIENCE} only.`,
    );
  }
  const accessToken = authority.issueToken({
    oid,
    tid,
    ...(typeof name === 'string' ? { name } : {}),
    aud: FOUNDRY_AUDIENCE,
    appid: client.clientId,
    idtyp: 'user',
    expiresInSec: OBO_TOKEN_LIFETIME_SEC,
  });
  return {
    status: 200,
    caller: { oid, tid },
    body: {
      token_type: 'Bearer',
      scope: `${FOUNDRY_AUDIENCE}/user_impersonation`,
      expires_in: OBO_TOKEN_LIFETIME_SEC,
      ext_expires_in: OBO_TOKEN_LIFETIME_SEC,
      access_token: accessToken,
    },
  };
}

/** The TEST-ONLY TLS material of emulator/certs (see its README): never trust `ca` outside tests. */
export interface TestTls {
  key: string;
  cert: string;
  ca: string;
  caPath: string;
}

/** Finds emulator/certs from emulator/*.ts (ts-jest) and dist/emulator/*.js alike. */
export function loadTestTls(from: string = __dirname): TestTls {
  let dir = resolve(from);
  for (;;) {
    const certs = join(dir, 'emulator', 'certs');
    if (existsSync(join(dir, 'package.json')) && existsSync(certs)) {
      const read = (f: string): string => readFileSync(join(certs, f), 'utf8');
      return {
        key: read('server-key.pem'),
        cert: read('server.pem'),
        ca: read('ca.pem'),
        caPath: join(certs, 'ca.pem'),
      };
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`emulator/certs not found above ${from}`);
    dir = parent;
  }
}
