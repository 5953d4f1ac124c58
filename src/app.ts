import type { TokenCredential } from '@azure/identity';
import type { ServiceClientCredentialsFactory } from 'botframework-connector';
import type { Server } from 'restify';
import type { Config } from './config/config';
import { configSecrets } from './config/config';
import { createAppCredential } from './foundry/credentials';
import { createFoundryClient, type FoundryClientOptions } from './foundry/client';
import { observedFetch, traceFoundry } from './foundry/telemetry';
import { cacheFoundryToken } from './foundry/token-cache';
import type { FoundryClient } from './foundry/types';
import { createServer } from './http/server';
import { deploymentSummary, telemetryMode } from './observability/deployment';
import { doctorSummary } from './ops/doctor/summary';
import { withOtelLogs } from './observability/log-bridge';
import { createLogger, type Logger, type LoggerOptions, type LogSink } from './observability/logger';
import { Telemetry } from './observability/telemetry';
import type { RelaySettings } from './relay/api';
import type { IdentityProvider } from './relay/ports';
import { Relay } from './relay/relay';
import { createStateStore } from './storage/create-store';
import type { StateStore } from './storage/store';
import { watchStore } from './storage/watched-store';
import { createTeamsEdge } from './teams/edge';
import { isAllowedServiceUrl } from './teams/outbound';
import { createTeamsTransport } from './teams/transport';
import { createUserIdentity } from './identity/user-identity';
import { MonitoredStateStore } from './storage/health';
import type { SignInPages } from './identity/sign-in-pages';
import { registerSignInRoutes } from './http/sign-in-routes';

/** Test and benchmark seams. Production passes none of these. */
export interface BotOverrides {
  log?: Logger;
  logSink?: LogSink;
  appCredential?: TokenCredential;
  identity?: IdentityProvider;
  store?: StateStore;
  foundry?: FoundryClient;
  credentialsFactory?: ServiceClientCredentialsFactory;
  clock?: () => number;
}

export interface RunningBot {
  url: string;
  port: number;
  relay: Relay;
  store: StateStore;
  log: Logger;
  server: Server;
  /** Activities refused by the tenant allow-list so far. */
  tenantRejections(): number;
  /** SHUT-01: stop taking turns (503), drain running ones within `graceMs`, close the server. */
  shutdown(graceMs?: number): Promise<{ drained: boolean }>;
}

/** Builds and starts the bot (composition only: no logic here). */
export async function startBot(config: Config, o: BotOverrides = {}): Promise<RunningBot> {
  const log = o.log ?? createLogger(loggerOptions(config, o));
  if (!config.bot.appId) {
    log.warn('SECURITY_WARNING_AUTH_DISABLED', {
      message:
        'BOT_ID is empty: inbound requests are NOT authenticated. Allowed only with NODE_ENV=development.',
    });
  }
  // Built after src/index.ts registered the OpenTelemetry SDK (if configured); no-ops otherwise.
  const telemetry = new Telemetry();
  const { appCredential, foundry, identity } = foundrySide(config, o, log, telemetry);
  const { store, monitored } = await storageSide(config, o, appCredential, log);
  // User mode: the bot's own sign-in pages (fallback when Teams' silent SSO cannot complete).
  const pages = 'pages' in identity ? (identity as { pages: SignInPages }).pages : undefined;
  // The Teams transport first (adapter, pacer, proactive runner), then the relay, then the routes that call it.
  const transport = createTeamsTransport({
    config,
    log: log.child('teams'),
    credentialsFactory: o.credentialsFactory,
    signInStart: pages ? (user, conversationId) => pages.begin(user, conversationId) : undefined,
    telemetry,
  });
  const relay = new Relay({
    settings: relaySettings(config, identity.mode),
    foundry,
    store: monitored,
    identity,
    proactive: transport.proactive,
    log,
    ...(o.clock ? { clock: o.clock } : {}),
    telemetry,
    diagnostics: adminDiagnostics(config, identity.mode, store, appCredential),
  });
  const teams = createTeamsEdge({ transport, relay, config, log: log.child('teams'), telemetry });

  let draining = false;
  const server = createServer({
    log,
    // Inbound auth at the edge: botbuilder validates the token; any failure before the turn starts is a 401.
    handle: teams.handle,
    authRequired: Boolean(config.bot.appId),
    serviceUrlAllowed: (u) => isAllowedServiceUrl(u, config.bot.outboundHosts),
    ready: () => relay.isAccepting && monitored.ready,
    draining: () => draining,
    ...(pages ? { routes: (srv: Server) => registerSignInRoutes(srv, pages, log) } : {}),
  });
  await listen(server, config.http.port, config.http.host);
  const port = server.address().port;
  const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
  pages?.useBaseUrl(config.sso.pagesBaseUrl ?? `http://${host}:${port}`);
  log.info('bot.listening', {
    port,
    agent: config.foundry.agentName,
    threading: config.foundry.threading,
    identity: identity.mode,
    storage: config.storage.kind,
    telemetry: telemetryMode(config.telemetry),
  });

  return {
    url: `http://${host}:${port}`,
    port,
    relay,
    store,
    log,
    server,
    tenantRejections: () => teams.tenantRejections(),
    async shutdown(graceMs = config.shutdownDrainMs) {
      draining = true;
      log.info('bot.draining', { inFlight: relay.inFlight, graceMs });
      const { finished } = await relay.drain(graceMs);
      await new Promise<void>((r) => {
        server.close(() => r());
      });
      await monitored.close();
      log.info('bot.stopped', { drained: finished });
      return { drained: finished };
    },
  };
}

/**
 * The state store: watched (the admin /status shows whether its last call succeeded) and monitored (fails fast
 * while storage is known to be down; its health is /readyz's, docs/storage.md). The relay uses `monitored`.
 */
async function storageSide(
  config: Config,
  o: BotOverrides,
  appCredential: TokenCredential,
  log: Logger,
): Promise<{ store: ReturnType<typeof watchStore>; monitored: MonitoredStateStore }> {
  const store = watchStore(
    o.store ?? (await createStateStore(config.storage, appCredential, log.child('storage'))),
  );
  const monitored = new MonitoredStateStore(store, { log: log.child('storage') });
  monitored.start();
  return { store, monitored };
}

/** The admin `/status` lines: what the running bot knows of its set-up, then the doctor's short summary. */
function adminDiagnostics(
  config: Config,
  identityMode: 'app' | 'user',
  store: ReturnType<typeof watchStore>,
  credential: TokenCredential,
): () => Promise<string[]> {
  const deployment = deploymentSummary({ config, identityMode, lastStoreCall: () => store.lastCall() });
  const doctor = doctorSummary({ config, credential });
  return async () => [...(await deployment()), ...(await doctor())];
}

/** The Foundry client (traced) and who it calls Foundry as; app mode reuses a cached token (token-cache.ts). */
function foundrySide(
  config: Config,
  o: BotOverrides,
  log: Logger,
  telemetry: Telemetry,
): { appCredential: TokenCredential; foundry: FoundryClient; identity: IdentityProvider } {
  const appCredential = o.appCredential ?? createAppCredential(config.foundry);
  const foundryCredential = cacheFoundryToken(appCredential);
  const foundry = traceFoundry(
    o.foundry ?? createFoundryClient(foundryOptions(config, log.child('foundry'), telemetry)),
    telemetry,
  );
  const identity: IdentityProvider =
    o.identity ??
    (config.foundry.auth === 'user'
      ? createUserIdentity(config, log.child('identity'))
      : { mode: 'app', credentialFor: () => Promise.resolve(foundryCredential) });
  return { appCredential, foundry, identity };
}

function loggerOptions(config: Config, o: BotOverrides): LoggerOptions {
  const sink: LogSink = o.logSink ?? ((line) => process.stdout.write(`${line}\n`));
  return {
    level: config.logLevel,
    secrets: configSecrets(config),
    // With telemetry on, log records are exported too (after redaction: the bridge sees the written line).
    sink: telemetryMode(config.telemetry) === 'off' ? sink : withOtelLogs(sink),
  };
}

function foundryOptions(config: Config, log: Logger, telemetry: Telemetry): FoundryClientOptions {
  return {
    fetch: observedFetch(globalThis.fetch, telemetry),
    projectEndpoint: config.foundry.projectEndpoint,
    timeoutMs: config.foundry.timeoutMs,
    idleTimeoutMs: config.foundry.idleTimeoutMs,
    maxRetries: config.foundry.maxRetries,
    busyRetries: config.foundry.busyRetries,
    busyRetryDelayMs: config.foundry.busyRetryDelayMs,
    log,
  };
}

/** What the relay needs from configuration. */
function relaySettings(config: Config, identityMode: 'app' | 'user'): RelaySettings {
  return {
    agentName: config.foundry.agentName,
    agentVersion: config.foundry.agentVersion,
    threading: config.foundry.threading,
    identityMode,
    consentLinkHosts: config.policy.consentLinkHosts,
    sharedConsentAdmins: config.policy.sharedConsentAdmins,
    approvers: config.policy.approvers,
    approvalTtlMs: config.policy.approvalTtlMs,
    consentTtlMs: config.policy.consentTtlMs,
    maxQueuedTurns: config.policy.maxQueuedTurns,
    dedupeTtlMs: config.policy.dedupeTtlMs,
    welcomePrompts: config.policy.welcomePrompts,
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}
