import type { TokenCredential } from '@azure/identity';
import type { ServiceClientCredentialsFactory } from 'botframework-connector';
import type { Server } from 'restify';
import type { Config } from './config/config';
import { configSecrets } from './config/config';
import { createAppCredential } from './foundry/credentials';
import { createFoundryClient } from './foundry/client';
import type { FoundryClient } from './foundry/types';
import { runActivity } from './http/activity-edge';
import { createServer } from './http/server';
import { createLogger, type Logger, type LogSink } from './observability/logger';
import type { IdentityProvider } from './relay/ports';
import { Relay } from './relay/relay';
import { createStateStore } from './storage/create-store';
import { MonitoredStateStore } from './storage/health';
import type { StateStore } from './storage/store';
import { createTeamsBot } from './teams/bot';
import { isAllowedServiceUrl } from './teams/outbound';
import { createUserIdentity } from './identity/user-identity';

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
  const log =
    o.log ??
    createLogger({
      level: config.logLevel,
      secrets: configSecrets(config),
      ...(o.logSink ? { sink: o.logSink } : {}),
    });
  if (!config.bot.appId) {
    log.warn('SECURITY_WARNING_AUTH_DISABLED', {
      message:
        'BOT_ID is empty: inbound requests are NOT authenticated. Allowed only with NODE_ENV=development.',
    });
  }
  const appCredential = o.appCredential ?? createAppCredential(config.foundry);
  const store = o.store ?? (await createStateStore(config.storage, appCredential, log.child('storage')));
  // What the relay uses: fails fast while storage is known to be down; its health is /readyz's (storage.md).
  const monitored = new MonitoredStateStore(store, { log: log.child('storage') });
  monitored.start();
  const foundry =
    o.foundry ??
    createFoundryClient({
      projectEndpoint: config.foundry.projectEndpoint,
      timeoutMs: config.foundry.timeoutMs,
      idleTimeoutMs: config.foundry.idleTimeoutMs,
      maxRetries: config.foundry.maxRetries,
      log: log.child('foundry'),
    });
  const identity: IdentityProvider =
    o.identity ??
    (config.foundry.auth === 'user'
      ? createUserIdentity(config, log.child('identity'))
      : { mode: 'app', credentialFor: () => Promise.resolve(appCredential) });
  const teams = createTeamsBot({
    config,
    log: log.child('teams'),
    ...(o.credentialsFactory ? { credentialsFactory: o.credentialsFactory } : {}),
  });
  const relay = new Relay({
    settings: {
      agentName: config.foundry.agentName,
      agentVersion: config.foundry.agentVersion,
      threading: config.foundry.threading,
      identityMode: identity.mode,
      consentLinkHosts: config.policy.consentLinkHosts,
      sharedConsentAdmins: config.policy.sharedConsentAdmins,
      approvers: config.policy.approvers,
      approvalTtlMs: config.policy.approvalTtlMs,
      consentTtlMs: config.policy.consentTtlMs,
      maxQueuedTurns: config.policy.maxQueuedTurns,
      dedupeTtlMs: config.policy.dedupeTtlMs,
      welcomePrompts: config.policy.welcomePrompts,
    },
    foundry,
    store: monitored,
    identity,
    proactive: teams.proactive,
    log,
    ...(o.clock ? { clock: o.clock } : {}),
  });
  teams.attach(relay);

  let draining = false;
  const server = createServer({
    log,
    // Inbound auth at the edge: botbuilder validates the token; any failure before the turn starts is a 401.
    handle: ({ activity, authorization }) =>
      runActivity(teams.adapter, authorization, activity, async (ctx) => {
        await teams.app.run(ctx);
      }),
    authRequired: Boolean(config.bot.appId),
    serviceUrlAllowed: (u) => isAllowedServiceUrl(u, config.bot.outboundHosts),
    ready: () => relay.isAccepting && monitored.ready,
    draining: () => draining,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const port = server.address().port;
  const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
  log.info('bot.listening', {
    port,
    agent: config.foundry.agentName,
    threading: config.foundry.threading,
    identity: identity.mode,
    storage: config.storage.kind,
  });

  return {
    url: `http://${host}:${port}`,
    port,
    relay,
    store,
    log,
    server,
    tenantRejections: () => teams.tenantRejections,
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
