import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { FOUNDRY_AUDIENCE, type TokenAuthority } from './identity';
import type { OboClient, OboResult } from './obo';

/**
 * The emulator's Entra sign-in for the bot's own sign-in pages (docs/identity.md "Fallback sign-in"):
 *
 * - `GET /{tenant}/oauth2/v2.0/authorize?client_id&redirect_uri&response_type=code&scope&state&code_challenge
 *   &code_challenge_method=S256`: a sign-in page (who signs in: an object id and a name, since there is no
 *   directory) for a known client; PKCE S256 is required (as Entra requires for SPAs, and this bot always sends);
 * - `POST` of that page: a single-use code (5 minutes) bound to the client, redirect URI, challenge and user,
 *   then 302 to `redirect_uri?code=…&state=…` (or `?error=access_denied&state=…` when cancelled);
 * - `POST /{tenant}/oauth2/v2.0/token` `grant_type=authorization_code`: checks the client secret, the code, the
 *   redirect URI and `code_verifier` against the challenge, and issues a Foundry token for that user;
 * - errors on demand (`POST /__emulator/entra-errors {oid, error}`): the next on-behalf-of exchange for that
 *   user answers `interaction_required` (AADSTS50076, conditional access / MFA) or `invalid_grant`
 *   (AADSTS65001, consent revoked), as Entra does.
 *
 * Not modelled: a directory (any oid may sign in), redirect URI registration (any URI the client sends is
 * accepted and must match at redemption), consent prompts, refresh tokens.
 */

const CODE_TTL_MS = 5 * 60_000;
const TOKEN_LIFETIME_SEC = 3600;

interface Code {
  clientId: string;
  redirectUri: string;
  challenge: string;
  oid: string;
  name: string;
  expiresAt: number;
}

export type EntraError = 'interaction_required' | 'invalid_grant';

function oauthError(status: number, error: string, description: string): OboResult {
  return {
    status,
    body: { error, error_description: description, error_codes: [], timestamp: new Date().toISOString() },
  };
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export class EntraSignIn {
  private readonly codes = new Map<string, Code>();
  private readonly errors = new Map<string, EntraError>();

  constructor(
    private readonly authority: TokenAuthority,
    private readonly clients: readonly OboClient[],
  ) {}

  /** The next on-behalf-of exchange of `oid` fails with `error` (once). */
  failNextObo(oid: string, error: EntraError): void {
    this.errors.set(oid.toLowerCase(), error);
  }

  /** The error to answer an on-behalf-of request with, if one was asked for its assertion's user. */
  oboError(form: URLSearchParams): OboResult | undefined {
    const payload = (form.get('assertion') ?? '').split('.')[1] ?? '';
    let oid = '';
    try {
      oid = String((JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { oid?: unknown }).oid);
    } catch {
      return undefined;
    }
    const e = this.errors.get(oid.toLowerCase());
    if (!e) return undefined;
    this.errors.delete(oid.toLowerCase());
    return e === 'interaction_required'
      ? oauthError(
          400,
          'interaction_required',
          'AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication.',
        )
      : oauthError(
          400,
          'invalid_grant',
          'AADSTS65001: The user or administrator has not consented to use the application.',
        );
  }

  /** GET authorize: the sign-in page, or 400 for a request Entra would refuse. */
  page(q: URLSearchParams, action: string): { status: number; html: string } {
    const problem = this.check(q);
    if (problem)
      return { status: 400, html: `<!doctype html><title>Sign-in error</title><p>${esc(problem)}</p>` };
    const hidden = [...q.entries()]
      .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
      .join('');
    return {
      status: 200,
      html:
        '<!doctype html><html><head><meta charset="utf-8"><title>Sign in (emulated Entra ID)</title></head><body>' +
        '<h1>Sign in to your account</h1><p>Emulated Entra ID: no password; say who you are.</p>' +
        `<form method="post" action="${esc(action)}">${hidden}` +
        '<label>Object id <input name="oid" id="oid" required></label> ' +
        '<label>Name <input name="name" id="name"></label> ' +
        '<button type="submit" name="decision" value="accept" id="accept">Sign in</button> ' +
        '<button type="submit" name="decision" value="cancel" id="cancel" formnovalidate>Cancel</button>' +
        '</form></body></html>',
    };
  }

  /** POST authorize: a code for the user, as a redirect to the client's redirect URI. */
  submit(form: URLSearchParams): { status: number; location?: string; html?: string } {
    const problem = this.check(form);
    if (problem) return { status: 400, html: esc(problem) };
    const redirect = new URL(form.get('redirect_uri') ?? '');
    const state = form.get('state');
    if (state !== null) redirect.searchParams.set('state', state);
    const oid = (form.get('oid') ?? '').trim().toLowerCase();
    if (form.get('decision') !== 'accept' || !oid) {
      redirect.searchParams.set('error', 'access_denied');
      return { status: 302, location: redirect.toString() };
    }
    const code = randomBytes(24).toString('base64url');
    this.codes.set(code, {
      clientId: form.get('client_id') ?? '',
      redirectUri: form.get('redirect_uri') ?? '',
      challenge: form.get('code_challenge') ?? '',
      oid,
      name: (form.get('name') ?? '').trim() || `User ${oid.slice(0, 8)}`,
      expiresAt: Date.now() + CODE_TTL_MS,
    });
    redirect.searchParams.set('code', code);
    return { status: 302, location: redirect.toString() };
  }

  private check(q: URLSearchParams): string | undefined {
    if (!this.clients.some((c) => c.clientId === q.get('client_id')))
      return 'AADSTS700016: Application not found in the directory.';
    if (q.get('response_type') !== 'code') return 'AADSTS900144: response_type must be code.';
    const redirect = q.get('redirect_uri') ?? '';
    if (!/^https?:\/\//.test(redirect)) return 'AADSTS50011: The redirect URI is missing or not absolute.';
    if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge'))
      return 'AADSTS9002325: Proof Key for Code Exchange (S256) is required.';
    if (!(q.get('scope') ?? '').split(/\s+/).includes(`${FOUNDRY_AUDIENCE}/user_impersonation`))
      return `AADSTS70011: The emulator signs in for ${FOUNDRY_AUDIENCE}/user_impersonation only.`;
    return undefined;
  }

  /** POST token with `grant_type=authorization_code`; undefined for any other grant. */
  redeem(form: URLSearchParams): OboResult | undefined {
    if (form.get('grant_type') !== 'authorization_code') return undefined;
    const client = this.clients.find((c) => c.clientId === form.get('client_id'));
    const secret = Buffer.from(form.get('client_secret') ?? '');
    const want = Buffer.from(client?.clientSecret ?? '');
    if (!client || secret.length !== want.length || !timingSafeEqual(secret, want))
      return oauthError(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');
    const code = this.codes.get(form.get('code') ?? '');
    this.codes.delete(form.get('code') ?? '');
    if (!code || code.expiresAt < Date.now() || code.clientId !== client.clientId)
      return oauthError(
        400,
        'invalid_grant',
        'AADSTS70008: The provided authorization code is expired or used.',
      );
    if (code.redirectUri !== form.get('redirect_uri'))
      return oauthError(
        400,
        'invalid_grant',
        'AADSTS50148: The redirect_uri does not match the authorize request.',
      );
    const verifier = form.get('code_verifier') ?? '';
    if (createHash('sha256').update(verifier).digest('base64url') !== code.challenge)
      return oauthError(
        400,
        'invalid_grant',
        'AADSTS501481: The Code_Verifier does not match the code_challenge.',
      );
    const access = this.authority.issueToken({
      oid: code.oid,
      name: code.name,
      aud: FOUNDRY_AUDIENCE,
      appid: client.clientId,
      idtyp: 'user',
      expiresInSec: TOKEN_LIFETIME_SEC,
    });
    return {
      status: 200,
      caller: { oid: code.oid, tid: this.authority.tenantId },
      body: {
        token_type: 'Bearer',
        scope: `${FOUNDRY_AUDIENCE}/user_impersonation`,
        expires_in: TOKEN_LIFETIME_SEC,
        access_token: access,
      },
    };
  }
}
