import {
  AuthenticationConstants,
  ConnectorFactory,
  type BotFrameworkAuthentication,
  type ClaimsIdentity,
  type ConnectorClient,
} from 'botframework-connector';

/**
 * One Bot Connector client per (bot app id, service URL, audience), reused across turns (issue 15).
 *
 * botbuilder's CloudAdapter builds a new ConnectorFactory, credentials object and ConnectorClient (with its
 * @azure/core-client pipeline) for every proactive turn, and every relay turn is proactive
 * (`continueConversationAsync`). Reusing them is safe:
 * - auth: the client keeps its credentials object, which fetches and refreshes its own Bot Connector token
 *   (AppCredentials caches the token until shortly before expiry); one pooled per app id and audience, exactly
 *   what the factory would have built again;
 * - the outbound allow-list is checked by the caller before every continuation (transport.ts), and a client is
 *   only ever created for a service URL that passed it;
 * - a client holds no per-turn state; `disablePipelineRetries` (connector-retry.ts) is idempotent.
 * A failed creation is not kept. Bounded: least recently used clients beyond `maxClients` are dropped.
 */
class PooledConnectorFactory extends ConnectorFactory {
  private readonly clients = new Map<string, Promise<ConnectorClient>>();

  constructor(
    private readonly inner: ConnectorFactory,
    private readonly maxClients: number,
  ) {
    super();
  }

  override create(serviceUrl: string, audience?: string): Promise<ConnectorClient> {
    const key = `${serviceUrl}\n${audience ?? ''}`;
    const cached = this.clients.get(key);
    if (cached) {
      this.clients.delete(key);
      this.clients.set(key, cached);
      return cached;
    }
    const created = this.inner.create(serviceUrl, audience);
    this.clients.set(key, created);
    created.catch(() => {
      if (this.clients.get(key) === created) this.clients.delete(key);
    });
    for (const oldest of this.clients.keys()) {
      if (this.clients.size <= this.maxClients) break;
      this.clients.delete(oldest);
    }
    return created;
  }
}

/** The app id botbuilder's own factory would use: the audience claim, else the appid claim. */
function appIdOf(claims: ClaimsIdentity): string {
  return (
    claims.getClaimValue(AuthenticationConstants.AudienceClaim) ??
    claims.getClaimValue(AuthenticationConstants.AppIdClaim) ??
    ''
  );
}

/** Makes `auth.createConnectorFactory` hand out pooled factories (one per app id, at most `maxApps`). */
export function poolConnectorClients(auth: BotFrameworkAuthentication, maxClients = 64, maxApps = 8): void {
  const make = auth.createConnectorFactory.bind(auth);
  const factories = new Map<string, PooledConnectorFactory>();
  auth.createConnectorFactory = (claims: ClaimsIdentity): ConnectorFactory => {
    const appId = appIdOf(claims);
    let f = factories.get(appId);
    if (!f) {
      if (factories.size >= maxApps) factories.clear();
      f = new PooledConnectorFactory(make(claims), maxClients);
      factories.set(appId, f);
    }
    return f;
  };
}
