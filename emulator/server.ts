import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AgentsApi } from './agents-api';
import { CausesControl } from './causes';
import { consentDonePage, consentNotFoundPage, consentPage } from './consent-page';
import { Exchange, newLogEntry } from './exchange';
import { FaultSchema } from './faults';
import { BodyTooLarge, parseJson, readBody } from './http';
import { EntraSignIn } from './authorize';
import { managedIdentityToken, TokenAuthority } from './identity';
import {
  DEFAULT_OBO_CLIENT,
  EMULATOR_SSO_APP_ID_URI,
  handleOboTokenRequest,
  loadTestTls,
  TEAMS_CLIENT_APP_ID,
  type OboClient,
} from './obo';
import { ResponsesApi } from './responses-api';
import type { Scenario } from './scenario';
import { loadDefaultScenario, parseScenario, ScenarioError } from './scenario';
import type { PartialSettings, Settings } from './settings';
import { DEFAULT_SETTINGS, mergeSettings, PartialSettingsSchema } from './settings';
import { EmulatorState } from './state';

/**
 * The local Foundry Agent Service emulator (docs/foundry-wire.md §8): HTTP routing, the test control plane,
 * consent pages, the identity endpoints, and lifecycle. The data-plane logic is in responses-api.ts, the
 * scripted agent in agent.ts.
 */

export const DEFAULT_TENANT_ID = '11111111-1111-1111-1111-111111111111';

export interface EmulatorOptions {
  /** Default 0 (a free port); the host is always 127.0.0.1. */
  port?: number;
  /** Default 'demo'. */
  project?: string;
  /** The project's tenant; default '11111111-1111-1111-1111-111111111111'. */
  tenantId?: string;
  /** Default: emulator/scenarios/default.json. */
  scenario?: Scenario;
  /** Base used in consent links (default the emulator's own http URL). */
  publicBaseUrl?: string;
  /** Base of consent links when they must look different, e.g. an https host the bot allow-lists. */
  consentLinkBase?: string;
  log?: (line: string) => void;
  /** Port of the https Entra authority (OBO token endpoint + OpenID metadata); default 0 (a free port). */
  authorityPort?: number;
  /** App registrations allowed to do on-behalf-of; default the emulator's SSO app (obo.ts DEFAULT_OBO_CLIENT). */
  oboClients?: OboClient[];
  /** IDENTITY_HEADER secret of the managed-identity endpoint; default random (fixed values suit VS Code tasks). */
  identityHeader?: string;
}

export interface RunningEmulator {
  /** http://127.0.0.1:<port> */
  url: string;
  /** `${url}/api/projects/${project}` (FOUNDRY_PROJECT_ENDPOINT). */
  projectEndpoint: string;
  /** Managed-identity endpoint for IDENTITY_ENDPOINT (App Service / Container Apps style). */
  identityEndpoint: string;
  /** Secret for IDENTITY_HEADER. */
  identityHeader: string;
  tenantId: string;
  /** Mint a signed access token directly (tests): claims oid, tid, aud (default https://ai.azure.com), exp etc. */
  issueToken(claims: {
    oid: string;
    tid?: string;
    name?: string;
    expiresInSec?: number;
    aud?: string;
  }): string;
  /**
   * https://127.0.0.1:<port>: the Entra authority for on-behalf-of (AZURE_AUTHORITY_HOST), served with the
   * TEST-ONLY certificate of emulator/certs (trust `testCaPem` per credential, or NODE_EXTRA_CA_CERTS).
   */
  authorityUrl: string;
  /** PEM of the TEST-ONLY CA that signed the authority's certificate, and its path. */
  testCaPem: string;
  testCaPath: string;
  /** The default SSO app (AAD_APP_CLIENT_ID / AAD_APP_CLIENT_SECRET) and its identifier URI. */
  ssoClient: { clientId: string; clientSecret: string; appIdUri: string };
  /**
   * Mints a Teams SSO token as Teams would hand it to the bot (signin/tokenExchange): aud = the SSO app's
   * identifier URI (default), scp access_as_user, appid = the Teams client, tid default the project tenant.
   */
  issueSsoToken(claims: {
    oid: string;
    tid?: string;
    name?: string;
    aud?: string;
    expiresInSec?: number;
  }): string;
  close(): Promise<void>;
}

const ConsentStateBody = z
  .object({
    oid: z.string().min(1),
    server_label: z.string().min(1),
    state: z.enum(['granted', 'declined', 'none']),
  })
  .strict();
const FaultsBody = z.object({ faults: z.array(FaultSchema) }).strict();
const SettingsBody = z.object({ settings: PartialSettingsSchema }).strict();
const EntraErrorBody = z
  .object({ oid: z.string().min(1), error: z.enum(['interaction_required', 'invalid_grant']) })
  .strict();

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export async function startEmulator(opts: EmulatorOptions = {}): Promise<RunningEmulator> {
  const project = opts.project ?? 'demo';
  const tenantId = opts.tenantId ?? DEFAULT_TENANT_ID;
  const initialScenario = opts.scenario ?? loadDefaultScenario();
  const log = opts.log ?? ((): void => undefined);
  const sockets = new Set<Socket>();
  const abort = new AbortController();
  const identityHeader = opts.identityHeader ?? randomBytes(24).toString('hex');

  const server = createServer();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const publicBaseUrl = (opts.publicBaseUrl ?? url).replace(/\/+$/, '');
  const projectPrefix = `/api/projects/${project}`;
  const apiPrefix = `${projectPrefix}/openai/v1`;

  // The Entra authority for on-behalf-of, over https (MSAL refuses http authorities): same routes, TLS socket.
  const tls = loadTestTls();
  const httpsServer = createHttpsServer({ key: tls.key, cert: tls.cert });
  httpsServer.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    httpsServer.once('error', reject);
    httpsServer.listen(opts.authorityPort ?? 0, '127.0.0.1', () => {
      httpsServer.off('error', reject);
      resolve();
    });
  });
  const authorityUrl = `https://127.0.0.1:${(httpsServer.address() as AddressInfo).port}`;
  const oboClients = opts.oboClients ?? [DEFAULT_OBO_CLIENT];

  const state = new EmulatorState(initialScenario);
  const authority = new TokenAuthority(url, tenantId);
  const causes = new CausesControl();
  // Sign-in with authorization code + PKCE, and Entra errors on demand (authorize.ts).
  const entra = new EntraSignIn(authority, oboClients);
  let runtimeSettings: PartialSettings = {};
  const baseSettings = (): Settings =>
    mergeSettings(
      { ...DEFAULT_SETTINGS, consentLinkBase: publicBaseUrl },
      state.scenario.settings,
      opts.consentLinkBase !== undefined ? { consentLinkBase: opts.consentLinkBase } : undefined,
      runtimeSettings,
    );
  const api = new ResponsesApi({
    state,
    authority: causes.guard(authority),
    rewritePlan: (plan, caller) => causes.applyToPlan(plan, caller),
    baseSettings,
    signal: abort.signal,
    log,
    consentLink: (s, token) => {
      const base = s.consentLinkBase.replace(/\/+$/, '');
      return s.consentLinkStyle === 'apihub'
        ? `${base}/login?data=${token}`
        : `${base}/__emulator/consent/${token}`;
    },
  });

  const agents = new AgentsApi({ state, authority: causes.guard(authority) });

  async function consentRoute(x: Exchange, token: string): Promise<void> {
    const t = state.consentTokens.get(token);
    if (!t) return x.html(404, consentNotFoundPage());
    if (x.req.method === 'POST') {
      const form = new URLSearchParams(await readBody(x.req));
      const decision = form.get('decision') === 'allow' ? 'granted' : 'declined';
      state.setConsent(t.oid, t.serverLabel, decision, 'page');
      log(`consent ${decision} oid=${t.oid} server=${t.serverLabel}`);
      return x.html(200, consentDonePage(t.serverLabel, decision));
    }
    return x.html(
      200,
      consentPage({
        serverLabel: t.serverLabel,
        userName: t.name,
        oid: t.oid,
        action: x.url.pathname + x.url.search,
        current: state.consentState(t.oid, t.serverLabel),
      }),
    );
  }

  async function controlRoute(x: Exchange, path: string): Promise<void> {
    const method = x.req.method ?? 'GET';
    const body = async (): Promise<unknown> => {
      const p = parseJson(await readBody(x.req));
      return p.ok ? p.value : undefined;
    };
    const bad = (message: string): void => x.json(400, { ok: false, error: message });
    if (method === 'POST' && path === '/reset') {
      state.reset();
      agents.reset();
      causes.reset();
      state.scenario = initialScenario;
      runtimeSettings = {};
      return x.json(200, { ok: true });
    }
    if (method === 'POST' && path === '/scenario') {
      try {
        state.scenario = parseScenario(await body());
      } catch (e) {
        return bad(e instanceof ScenarioError ? e.message : String(e));
      }
      return x.json(200, { ok: true, agents: Object.keys(state.scenario.agents) });
    }
    if (method === 'POST' && path === '/faults') {
      const p = FaultsBody.safeParse(await body());
      if (!p.success) return bad(p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      state.faults.add(p.data.faults);
      return x.json(200, { ok: true, pending: state.faults.pending() });
    }
    if (method === 'GET' && path === '/faults') return x.json(200, { pending: state.faults.pending() });
    if (method === 'POST' && path === '/settings') {
      const p = SettingsBody.safeParse(await body());
      if (!p.success) return bad(p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      runtimeSettings = { ...runtimeSettings, ...p.data.settings };
      return x.json(200, { ok: true, settings: baseSettings() });
    }
    if (method === 'GET' && path === '/settings') return x.json(200, { settings: baseSettings() });
    if (method === 'POST' && path === '/consent-state') {
      const p = ConsentStateBody.safeParse(await body());
      if (!p.success) return bad(p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      state.setConsent(p.data.oid, p.data.server_label, p.data.state, 'control');
      return x.json(200, { ok: true });
    }
    if (path === '/causes') return causes.route(x);
    if (method === 'POST' && path === '/entra-errors') {
      const p = EntraErrorBody.safeParse(await body());
      if (!p.success) return bad(p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      entra.failNextObo(p.data.oid, p.data.error);
      return x.json(200, { ok: true });
    }
    if (method === 'GET' && path === '/log') return x.json(200, structuredClone(state.log));
    if (method === 'GET' && path === '/health') return x.json(200, { ok: true, project, tenantId });
    const consent = /^\/consent\/([0-9a-f]+)$/.exec(path);
    if (consent?.[1] !== undefined && (method === 'GET' || method === 'POST'))
      return consentRoute(x, consent[1]);
    return x.json(404, { ok: false, error: `no control route ${method} ${path}` });
  }

  function identityRoute(x: Exchange): void {
    const pre = state.faults
      .take({ target: 'identity', text: '', stream: false })
      .find((f) => ['rate_limit', 'server_error', 'unauthorized'].includes(f.kind));
    if (pre?.kind === 'rate_limit') {
      return x.json(
        429,
        { error: 'too_many_requests', error_description: 'Rate limited (emulated fault).' },
        { 'retry-after': String(pre.retryAfterSec) },
      );
    }
    if (pre?.kind === 'server_error') {
      return x.json(pre.status, { error: 'server_error', error_description: pre.message });
    }
    if (pre?.kind === 'unauthorized') {
      return x.json(401, { error: 'unauthorized', error_description: 'Emulated fault.' });
    }
    const h = x.req.headers['x-identity-header'];
    const r = managedIdentityToken(
      authority,
      identityHeader,
      x.url.searchParams,
      Array.isArray(h) ? h[0] : h,
    );
    if (x.entry && r.identity) {
      x.entry.callerOid = r.identity.oid;
      x.entry.callerTid = tenantId;
    }
    return x.json(r.status, r.body);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', url);
    const path = u.pathname;
    const method = req.method ?? 'GET';
    const isControl = path.startsWith('/__emulator/');
    const entry = isControl && !path.startsWith('/__emulator/consent/') ? null : newLogEntry(method, path);
    if (entry) state.log.requests.push(entry);
    const x = new Exchange(req, res, u, entry);

    if (isControl) {
      if (!LOOPBACK.has(req.socket.remoteAddress ?? ''))
        return x.json(403, { ok: false, error: 'loopback only' });
      return controlRoute(x, path.slice('/__emulator'.length));
    }
    if (path === '/login' && (method === 'GET' || method === 'POST')) {
      return consentRoute(x, u.searchParams.get('data') ?? '');
    }
    if (path === '/msi/token' && method === 'GET') return identityRoute(x);
    const t = tenantId;
    if (method === 'GET' && path === `/${t}/discovery/v2.0/keys`) return x.json(200, authority.jwks());
    const overTls = (req.socket as Partial<TLSSocket>).encrypted === true;
    if (method === 'GET' && path === `/${t}/v2.0/.well-known/openid-configuration`) {
      return x.json(200, authority.openidConfiguration(overTls ? authorityUrl : url));
    }
    if (path === `/${t}/oauth2/v2.0/authorize`) {
      if (method === 'GET') {
        const p = entra.page(u.searchParams, path);
        return x.html(p.status, p.html);
      }
      const r = entra.submit(new URLSearchParams(await readBody(req)));
      if (r.location) {
        res.writeHead(302, { location: r.location });
        return void res.end();
      }
      return x.html(r.status, r.html ?? '');
    }
    if (method === 'POST' && path === `/${t}/oauth2/v2.0/token`) {
      const form = new URLSearchParams(await readBody(req));
      const r =
        entra.redeem(form) ??
        entra.oboError(form) ??
        handleOboTokenRequest(authority, form, oboClients, req.headers.authorization);
      if (x.entry && r.caller) {
        x.entry.callerOid = r.caller.oid;
        x.entry.callerTid = r.caller.tid;
      }
      log(`obo ${r.status}${r.caller ? ` oid=${r.caller.oid}` : ''}`);
      return x.json(r.status, r.body);
    }
    if (path.startsWith(`${apiPrefix}/`)) return api.handle(x, path.slice(apiPrefix.length));
    if (path === `${projectPrefix}/agents` || path.startsWith(`${projectPrefix}/agents/`))
      return agents.handle(x, path.slice(projectPrefix.length));
    if (path.startsWith('/api/projects/')) {
      return x.error({
        status: 404,
        code: 'not_found',
        message: `Project or route not found: ${path}`,
        param: null,
      });
    }
    return x.json(404, { error: { code: 'not_found', message: `No route for ${method} ${path}` } });
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch((e: unknown) => {
      const tooLarge = e instanceof BodyTooLarge;
      log(`request failed: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) {
        const text = JSON.stringify({
          error: {
            code: tooLarge ? 'payload_too_large' : 'server_error',
            message: tooLarge ? 'Body too large.' : 'Emulator error.',
          },
        });
        res.writeHead(tooLarge ? 413 : 500, { 'content-type': 'application/json' });
        res.end(text);
      } else {
        res.destroy();
      }
    });
  };
  server.on('request', onRequest);
  httpsServer.on('request', onRequest);

  log(`Foundry emulator on ${url} project=${project} tenant=${tenantId}`);
  let closing: Promise<void> | undefined;
  return {
    url,
    projectEndpoint: `${url}${projectPrefix}`,
    identityEndpoint: `${url}/msi/token`,
    identityHeader,
    tenantId,
    issueToken: (claims) => authority.issueToken(claims),
    authorityUrl,
    testCaPem: tls.ca,
    testCaPath: tls.caPath,
    ssoClient: {
      clientId: oboClients[0]?.clientId ?? DEFAULT_OBO_CLIENT.clientId,
      clientSecret: oboClients[0]?.clientSecret ?? DEFAULT_OBO_CLIENT.clientSecret,
      appIdUri: oboClients[0]?.identifierUris[0] ?? EMULATOR_SSO_APP_ID_URI,
    },
    issueSsoToken: (claims) =>
      authority.issueToken({
        ...claims,
        aud: claims.aud ?? oboClients[0]?.identifierUris[0] ?? EMULATOR_SSO_APP_ID_URI,
        scp: 'access_as_user',
        appid: TEAMS_CLIENT_APP_ID,
        idtyp: 'user',
      }),
    close: () => {
      closing ??= (async () => {
        abort.abort();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        const closedTls = new Promise<void>((resolve) => httpsServer.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await api.drain();
        await closed;
        await closedTls;
      })();
      return closing;
    },
  };
}
