import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:https';
import type { AccessToken } from '@azure/identity';
import { BotError } from '../errors';
import { FOUNDRY_SCOPE } from '../foundry/types';
import type { Actor } from '../relay/model';

/**
 * The bot's own sign-in pages (user mode, docs/identity.md "Fallback sign-in"), used when Teams' silent SSO
 * cannot complete (first use before admin consent, conditional access, a new device): the sign-in card's
 * button opens `GET /auth/start?state=…` in Teams' sign-in window; it sends the user to Entra's authorize
 * endpoint (authorization code + PKCE S256); Entra returns to `GET /auth/end?code=…&state=…`, whose page
 * completes with the Teams JavaScript SDK (`authentication.notifySuccess(state)`); Teams then sends the bot
 * `signin/verifyState {state}` and the bot redeems the code here.
 *
 * The state is random (256 bits), single-use, expires after 10 minutes and is bound to the Teams user (MRI and
 * Entra object id) and the conversation the card was sent to: `redeem` refuses any other user or conversation.
 * The PKCE verifier and the code stay in this process's memory, keyed by the state; neither is ever logged or
 * sent to Teams. (Several instances behind one domain need session affinity for /auth/* — docs/identity.md.)
 */

/** A pending sign-in lives this long from the card. */
const STATE_TTL_MS = 10 * 60_000;
const MAX_PENDING = 10_000;
/** What the authorize request asks for: the Foundry scope (consent for it is the usual reason SSO failed). */
const AUTHORIZE_SCOPE = 'https://ai.azure.com/user_impersonation openid profile offline_access';

export interface SignInPagesOptions {
  clientId: string;
  clientSecret: string;
  tenantId: string;
  /** Entra authority, e.g. https://login.microsoftonline.com. */
  authorityHost: string;
  /** Extra CA for the authority only (tests: the emulator's TEST-ONLY CA). */
  authorityCa?: string | undefined;
  clock: () => number;
}

interface Pending {
  userId: string;
  oid: string;
  conversationId: string;
  verifier: string;
  expiresAt: number;
  code?: string;
}

/** What a redeemed code gave: a Foundry token for the user it names. */
export interface PageSignIn {
  token: AccessToken;
  oid: string;
  tid: string;
}

export class SignInPages {
  private readonly pending = new Map<string, Pending>();
  private base: string | undefined;

  constructor(private readonly o: SignInPagesOptions) {}

  /** The bot's public base URL (`https://<BOT_DOMAIN>`), set once the bot knows it. */
  useBaseUrl(url: string): void {
    this.base = url.replace(/\/+$/, '');
  }

  get redirectUri(): string {
    return `${this.base ?? ''}/auth/end`;
  }

  get ready(): boolean {
    return this.base !== undefined;
  }

  /** A new state for `user` in `conversationId`; returns the start page's URL for the card's Sign in button. */
  begin(user: Actor, conversationId: string): string | undefined {
    if (!this.base || !user.aadObjectId) return undefined;
    const now = this.o.clock();
    for (const [k, p] of this.pending) if (p.expiresAt <= now) this.pending.delete(k);
    if (this.pending.size >= MAX_PENDING) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
    }
    const state = randomBytes(32).toString('base64url');
    this.pending.set(state, {
      userId: user.id,
      oid: user.aadObjectId.toLowerCase(),
      conversationId,
      verifier: randomBytes(32).toString('base64url'),
      expiresAt: now + STATE_TTL_MS,
    });
    return `${this.base}/auth/start?state=${state}`;
  }

  private live(state: string): Pending | undefined {
    const p = this.pending.get(state);
    if (p && p.expiresAt > this.o.clock()) return p;
    this.pending.delete(state);
    return undefined;
  }

  /** `GET /auth/start`: Entra's authorize URL for a live state that has no code yet. */
  authorizeUrl(state: string): string | undefined {
    const p = this.live(state);
    if (!p || p.code !== undefined) return undefined;
    const q = new URLSearchParams({
      client_id: this.o.clientId,
      response_type: 'code',
      response_mode: 'query',
      redirect_uri: this.redirectUri,
      scope: AUTHORIZE_SCOPE,
      state,
      code_challenge: createHash('sha256').update(p.verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    return `${this.authority()}/oauth2/v2.0/authorize?${q.toString()}`;
  }

  /** `GET /auth/end`: keeps the code for its state (once). False for an unknown, used or expired state. */
  receive(state: string, code: string): boolean {
    const p = this.live(state);
    if (!p || p.code !== undefined) return false;
    p.code = code;
    return true;
  }

  /** Forgets a state whose sign-in Entra refused (the end page got an error). */
  drop(state: string): void {
    this.pending.delete(state);
  }

  /**
   * `signin/verifyState`: redeems the code of `state` (single use) with its PKCE verifier, if the state was
   * issued to this user in this conversation. Throws BotError('SIGNIN_LINK_INVALID') otherwise,
   * ('SIGNIN_INTERACTION_REQUIRED' | 'SIGNIN_GRANT_INVALID' | 'IDENTITY_UNAVAILABLE') when Entra refuses.
   */
  async redeem(state: string, user: Actor, conversationId: string): Promise<PageSignIn> {
    const p = this.live(state);
    const bound =
      p?.code !== undefined &&
      p.userId === user.id &&
      p.oid === user.aadObjectId?.toLowerCase() &&
      p.conversationId === conversationId;
    if (!p || !bound || p.code === undefined)
      throw new BotError(
        'SIGNIN_LINK_INVALID',
        p ? 'state bound to another user or not completed' : 'unknown state',
      );
    this.pending.delete(state);
    const form = new URLSearchParams({
      client_id: this.o.clientId,
      client_secret: this.o.clientSecret,
      grant_type: 'authorization_code',
      code: p.code,
      redirect_uri: this.redirectUri,
      code_verifier: p.verifier,
      scope: FOUNDRY_SCOPE,
    });
    const started = this.o.clock();
    const r = await this.post(`${this.authority()}/oauth2/v2.0/token`, form.toString());
    const accessToken = r.body['access_token'];
    const expiresIn = r.body['expires_in'];
    if (r.status !== 200 || typeof accessToken !== 'string') throw tokenError(r.status, r.body['error']);
    const claims = readClaims(accessToken);
    if (!claims)
      throw new BotError('IDENTITY_UNAVAILABLE', 'the token endpoint returned an unreadable token');
    const lifetime = typeof expiresIn === 'number' ? expiresIn : Number(expiresIn ?? 3600);
    return {
      token: { token: accessToken, expiresOnTimestamp: started + lifetime * 1000 },
      oid: claims.oid,
      tid: claims.tid,
    };
  }

  private authority(): string {
    return `${this.o.authorityHost.replace(/\/+$/, '')}/${this.o.tenantId}`;
  }

  /** One form POST to the authority (never logged: the body holds the code and the client secret). */
  private post(url: string, body: string): Promise<{ status: number; body: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(body),
          },
          timeout: 15_000,
          ...(this.o.authorityCa !== undefined ? { ca: this.o.authorityCa } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              parsed = {};
            }
            const obj =
              typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
            resolve({ status: res.statusCode ?? 0, body: obj });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('token request timed out')));
      req.on('error', (err) =>
        reject(new BotError('IDENTITY_UNAVAILABLE', 'token request failed', { cause: err })),
      );
      req.end(body);
    });
  }
}

/** Entra's OAuth error as the bot's code: what the user is told, and that a new sign-in is the way out. */
export function tokenError(status: number, error: unknown): BotError {
  const e = typeof error === 'string' ? error.slice(0, 64) : 'unknown';
  const details = { error: e, status };
  if (e === 'interaction_required' || e === 'consent_required' || e === 'login_required')
    return new BotError('SIGNIN_INTERACTION_REQUIRED', 'Entra asks for interaction', { details });
  if (e === 'invalid_grant')
    return new BotError('SIGNIN_GRANT_INVALID', 'Entra refused the grant', { details });
  return new BotError('IDENTITY_UNAVAILABLE', 'token request failed', { details });
}

/** oid and tid of a token that came straight from the authority over TLS (not verified again here). */
function readClaims(token: string): { oid: string; tid: string; exp?: number } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const p = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Record<string, unknown>;
    const { oid, tid, exp } = p;
    if (typeof oid !== 'string' || typeof tid !== 'string') return undefined;
    return {
      oid: oid.toLowerCase(),
      tid: tid.toLowerCase(),
      ...(typeof exp === 'number' ? { exp: exp * 1000 } : {}),
    };
  } catch {
    return undefined;
  }
}
