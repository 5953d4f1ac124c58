import { createHmac, generateKeyPairSync, randomUUID, sign as rsaSign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake Bot Framework token service with real crypto (docs/reliability.md §2.11 "real crypto against a fake JWKS",
 * the botbuilder-js `jwt.stub()` pattern, without nock): RSA-2048 keys from node:crypto, RS256 signatures computed
 * here, and an OpenID document + JWKS served over loopback HTTP so botbuilder's `OpenIdMetadata` (node-fetch)
 * really downloads and verifies them.
 *
 * Wire the bot under test with `ToBotFromChannelOpenIdMetadataUrl: issuer.openIdMetadataUrl` (see README.md).
 */

/** Issuer of Bot Framework channel tokens (`AuthenticationConstants.ToBotFromChannelTokenIssuer`). */
export const BOT_FRAMEWORK_ISSUER = 'https://api.botframework.com';
/** Audience of the bot's outbound tokens (`AuthenticationConstants.ToChannelFromBotOAuthScope`). */
export const BOT_FRAMEWORK_SCOPE = 'https://api.botframework.com';

/** A published signing key. */
export interface IssuerKeyOptions {
  /** Defaults to a random id. */
  kid?: string;
  /** JWKS `endorsements` (channel ids the key may sign for). Default `['msteams', 'webchat', 'emulator']`. */
  endorsements?: readonly string[];
}

export interface JwtIssuerOptions {
  /** Published keys; default one key endorsed for msteams. The first key signs by default. */
  keys?: readonly IssuerKeyOptions[];
  /**
   * App credentials the outbound token endpoint accepts (client_credentials grant). When unset any client id and
   * secret get a token.
   */
  app?: { appId: string; password: string };
}

export type SigningAlgorithm = 'RS256' | 'none' | 'HS256';

export interface SignOptions {
  /** `kid` header; defaults to the signing key's kid (`'unknown-key'` for `key: 'unknown'`). */
  kid?: string;
  /** `RS256` (default), `none` (empty signature) or `HS256` keyed with the public key PEM (key-confusion attack). */
  alg?: SigningAlgorithm;
  /** `good`: the first published key (default); `unknown`: a key pair that is never published in the JWKS. */
  key?: 'good' | 'unknown';
  /** Extra JOSE header fields. */
  header?: Record<string, unknown>;
}

export interface ChannelTokenOptions {
  appId: string;
  serviceUrl: string;
  /** `exp` = now + this (default 3600). Use negative values for expired tokens. */
  expOffsetSec?: number;
  /** `nbf` = now + this (default -60). Use positive values for not-yet-valid tokens. */
  nbfOffsetSec?: number;
  /** Default `https://api.botframework.com`. */
  iss?: string;
  /** Default `appId`. */
  aud?: string;
  /** Extra or overriding claims. */
  claims?: Record<string, unknown>;
  sign?: SignOptions;
}

/** One outbound-token request the fake answered. */
export interface TokenRequestRecord {
  at: number;
  path: string;
  grantType: string | undefined;
  clientId: string | undefined;
  scope: string | undefined;
  /** Whether the client id and secret matched `options.app` (true when no app is configured). */
  accepted: boolean;
}

/** A running fake issuer. */
export interface JwtIssuer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `<url>/v1/.well-known/openidconfiguration`: put this into `ToBotFromChannelOpenIdMetadataUrl`. */
  openIdMetadataUrl: string;
  /** `<url>/keys` */
  jwksUrl: string;
  /**
   * A login URL (`<url>/botframework.com`) whose `/oauth2/v2.0/token` issues outbound tokens. Note: botbuilder's
   * MSAL-based credentials refuse non-https authorities, so this only serves direct HTTP clients (README.md).
   */
  loginUrl: string;
  /** The kids of the published keys, in order. */
  kids: readonly string[];
  /** Signs `claims` as a compact JWS. */
  sign(claims: Record<string, unknown>, opts?: SignOptions): string;
  /** A Bot Framework channel → bot token (iss, aud, serviceurl, exp, nbf, iat, jti). */
  channelToken(opts: ChannelTokenOptions): string;
  /** Changes the endorsements a published key advertises (takes effect on the next JWKS download). */
  setEndorsements(kid: string, endorsements: readonly string[] | undefined): void;
  /** Requests per path since start or the last `resetHits()`, e.g. `hits('/keys')`. */
  hits(path: string): number;
  resetHits(): void;
  /** Outbound-token requests, oldest first. */
  tokenRequests(): readonly TokenRequestRecord[];
  close(): Promise<void>;
}

interface KeyPair {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicPem: string;
  endorsements: readonly string[] | undefined;
}

function b64url(input: Buffer | string): string {
  return Buffer.from(input).toString('base64url');
}

function makeKey(kid: string, endorsements: readonly string[] | undefined): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicExponent: 0x10001,
  });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { kid, privateKey, publicKey, publicPem, endorsements };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts the fake issuer on 127.0.0.1 and a free port. Generating RSA keys takes ~50–200 ms each. */
export async function startJwtIssuer(options: JwtIssuerOptions = {}): Promise<JwtIssuer> {
  const keySpecs = options.keys ?? [{}];
  const keys: KeyPair[] = keySpecs.map((k) =>
    makeKey(k.kid ?? randomUUID(), k.endorsements ?? ['msteams', 'webchat', 'emulator']),
  );
  const firstKey = keys[0];
  if (!firstKey) throw new Error('startJwtIssuer needs at least one key');
  const unknownKey = makeKey('unknown-key', undefined);
  const hitCounts = new Map<string, number>();
  const tokenLog: TokenRequestRecord[] = [];
  let url = '';

  const sign = (claims: Record<string, unknown>, opts: SignOptions = {}): string => {
    const alg = opts.alg ?? 'RS256';
    const pair = opts.key === 'unknown' ? unknownKey : firstKey;
    const header = {
      alg,
      typ: 'JWT',
      kid: opts.kid ?? pair.kid,
      x5t: opts.kid ?? pair.kid,
      ...(opts.header ?? {}),
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    switch (alg) {
      case 'none':
        return `${input}.`;
      case 'HS256':
        return `${input}.${b64url(createHmac('sha256', pair.publicPem).update(input).digest())}`;
      case 'RS256':
        return `${input}.${b64url(rsaSign('sha256', Buffer.from(input), pair.privateKey))}`;
    }
  };

  const channelToken = (o: ChannelTokenOptions): string => {
    const now = Math.floor(Date.now() / 1000);
    return sign(
      {
        iss: o.iss ?? BOT_FRAMEWORK_ISSUER,
        aud: o.aud ?? o.appId,
        serviceurl: o.serviceUrl,
        iat: now,
        nbf: now + (o.nbfOffsetSec ?? -60),
        exp: now + (o.expOffsetSec ?? 3600),
        jti: randomUUID(),
        ...(o.claims ?? {}),
      },
      o.sign,
    );
  };

  const jwks = (): { keys: Array<Record<string, unknown>> } => ({
    keys: keys.map((k) => {
      const jwk = k.publicKey.export({ format: 'jwk' });
      return {
        kty: 'RSA',
        use: 'sig',
        kid: k.kid,
        x5t: k.kid,
        n: jwk.n,
        e: jwk.e,
        ...(k.endorsements ? { endorsements: [...k.endorsements] } : {}),
      };
    }),
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hitCounts.set(path, (hitCounts.get(path) ?? 0) + 1);
    if (req.method === 'GET' && path === '/v1/.well-known/openidconfiguration') {
      return send(res, 200, {
        issuer: BOT_FRAMEWORK_ISSUER,
        authorization_endpoint: `${url}/v1/authorize`,
        jwks_uri: `${url}/keys`,
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
      });
    }
    if (req.method === 'GET' && path === '/keys') return send(res, 200, jwks());
    const tenantDoc = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
    if (req.method === 'GET' && tenantDoc) {
      const tenant = tenantDoc[1] ?? 'botframework.com';
      return send(res, 200, {
        issuer: `${url}/${tenant}/v2.0`,
        token_endpoint: `${url}/${tenant}/oauth2/v2.0/token`,
        authorization_endpoint: `${url}/${tenant}/oauth2/v2.0/authorize`,
        jwks_uri: `${url}/keys`,
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    const tokenPath = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (req.method === 'POST' && tokenPath) {
      const form = new URLSearchParams(await readBody(req));
      const clientId = form.get('client_id') ?? undefined;
      const accepted =
        !options.app ||
        (clientId === options.app.appId && form.get('client_secret') === options.app.password);
      tokenLog.push({
        at: Date.now(),
        path,
        grantType: form.get('grant_type') ?? undefined,
        clientId,
        scope: form.get('scope') ?? undefined,
        accepted,
      });
      if (!accepted || form.get('grant_type') !== 'client_credentials') {
        return send(res, 401, {
          error: 'invalid_client',
          error_description: 'AADSTS7000215: Invalid client secret.',
        });
      }
      const now = Math.floor(Date.now() / 1000);
      const tenant = tokenPath[1] ?? 'botframework.com';
      const access = sign({
        iss: `https://sts.windows.net/${tenant}/`,
        aud: BOT_FRAMEWORK_SCOPE,
        appid: clientId,
        azp: clientId,
        ver: '1.0',
        iat: now,
        nbf: now - 60,
        exp: now + 3600,
      });
      return send(res, 200, {
        token_type: 'Bearer',
        expires_in: 3600,
        ext_expires_in: 3600,
        access_token: access,
      });
    }
    return send(res, 404, { error: 'not_found' });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { error: 'fake_issuer_error' });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    openIdMetadataUrl: `${url}/v1/.well-known/openidconfiguration`,
    jwksUrl: `${url}/keys`,
    loginUrl: `${url}/botframework.com`,
    kids: keys.map((k) => k.kid),
    sign,
    channelToken,
    setEndorsements: (kid, endorsements) => {
      const k = keys.find((x) => x.kid === kid);
      if (!k) throw new Error(`no published key ${kid}`);
      k.endorsements = endorsements;
    },
    hits: (path) => hitCounts.get(path) ?? 0,
    resetHits: () => hitCounts.clear(),
    tokenRequests: () => [...tokenLog],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
