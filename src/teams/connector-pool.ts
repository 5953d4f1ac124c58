import {
  AuthenticationConstants,
  ConnectorFactory,
  type BotFrameworkAuthentication,
  type ClaimsIdentity,
  type ConnectorClient,
  type UserTokenClient,
} from 'botframework-connector';

/**
 * One Bot Connector client per (bot app id, service URL, audience), reused across turns (issue 15).
 *
 * botbuilder's CloudAdapter builds a new ConnectorFactory, credentials object and ConnectorClient (with its
 * @azure/core-client pipeline), and a UserTokenClient with credentials and a pipeline of its own, for every
 * inbound request and every proactive turn, and every relay turn is proactive (`continueConversationAsync`).
 * Reusing them is safe:
 * - auth: the client keeps its credentials object, which fetches and refreshes its own Bot Connector token
 *   (AppCredentials caches the token until shortly before expiry); one pooled per app id and audience, exactly
 *   what the factory would have built again;
 * - the outbound allow-list is checked before every continuation (transport.ts) and before an inbound request
 *   is authenticated (server.ts); a client is only ever created, after authentication, for a URL that passed;
 * - the inbound factory botbuilder builds in `authenticateRequest` is the very one `createConnectorFactory`
 *   builds for the same claims (parameterizedBotFrameworkAuthentication.js), so it is swapped for the pooled one;
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

/** A value per app id, at most `maxApps` of them (the bot has one; the bound is defence in depth). */
function perApp<T>(maxApps: number, make: (claims: ClaimsIdentity) => T): (claims: ClaimsIdentity) => T {
  const byApp = new Map<string, T>();
  return (claims) => {
    const appId = appIdOf(claims);
    let v = byApp.get(appId);
    if (v === undefined) {
      if (byApp.size >= maxApps) byApp.clear();
      v = make(claims);
      byApp.set(appId, v);
    }
    return v;
  };
}

/**
 * Makes `auth` hand out pooled connector factories (one per app id, at most `maxApps`, each with at most
 * `maxClients` clients) to proactive and inbound turns, and one UserTokenClient per app id.
 */
export function poolConnectorClients(auth: BotFrameworkAuthentication, maxClients = 64, maxApps = 8): void {
  const makeFactory = auth.createConnectorFactory.bind(auth);
  const makeUserTokenClient = auth.createUserTokenClient.bind(auth);
  const authenticate = auth.authenticateRequest.bind(auth);
  auth.createConnectorFactory = perApp(
    maxApps,
    (claims): ConnectorFactory => new PooledConnectorFactory(makeFactory(claims), maxClients),
  );
  const tokenClient = perApp(maxApps, (claims) => {
    const created: { p?: Promise<UserTokenClient> } = {};
    return (): Promise<UserTokenClient> => {
      const p = created.p ?? makeUserTokenClient(claims);
      if (created.p === undefined) {
        created.p = p;
        p.catch(() => {
          if (created.p === p) delete created.p;
        });
      }
      return p;
    };
  });
  auth.createUserTokenClient = (claims) => tokenClient(claims)();
  auth.authenticateRequest = async (activity, authHeader) => {
    const result = await authenticate(activity, authHeader);
    return { ...result, connectorFactory: auth.createConnectorFactory(result.claimsIdentity) };
  };
}
