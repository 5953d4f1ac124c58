import { ConfigurationBotFrameworkAuthentication, type Activity } from 'botbuilder';
import { AuthenticationConstants, ClaimsIdentity, type ConnectorClient } from 'botframework-connector';
import { poolConnectorClients } from '../../src/teams/connector-pool';
import { startFakeBotConnector, type FakeBotConnector } from '../support/fakes/fake-bot-connector';
import { FixedTokenCredentialsFactory } from '../support/fakes/fixed-token-credentials';

/**
 * Pooled Bot Connector clients (issue 15): one client per app id, service URL and audience, built once by
 * botbuilder's own factory; the credentials inside still fetch a token for every request (so refresh stays
 * theirs), a failed creation is not kept, and the pool is bounded.
 */
const APP_ID = '00000000-0000-4000-8000-0000000000b1';
const claims = (appId: string): ClaimsIdentity =>
  new ClaimsIdentity([{ type: AuthenticationConstants.AudienceClaim, value: appId }], true);

function pooled(token: () => Promise<string>, maxClients?: number) {
  const credentials = new FixedTokenCredentialsFactory({ appId: APP_ID, token });
  const auth = new ConfigurationBotFrameworkAuthentication({ MicrosoftAppId: APP_ID }, credentials);
  poolConnectorClients(auth, maxClients);
  return { auth, credentials };
}

let connector: FakeBotConnector;
beforeAll(async () => {
  connector = await startFakeBotConnector();
});
afterAll(async () => {
  await connector.close();
});

describe('poolConnectorClients', () => {
  it('reuses one client per service URL and audience across turns; the token is still fetched per request', async () => {
    let n = 0;
    const { auth, credentials } = pooled(() => Promise.resolve(`token-${++n}`));
    const a = await auth.createConnectorFactory(claims(APP_ID)).create(connector.url);
    const b = await auth.createConnectorFactory(claims(APP_ID)).create(connector.url);
    expect(b).toBe(a);
    expect(credentials.requests).toHaveLength(1);
    const other = await auth.createConnectorFactory(claims(APP_ID)).create('http://127.0.0.1:1/');
    expect(other).not.toBe(a);
    const send = (c: ConnectorClient) =>
      c.conversations.sendToConversation('a:pool', { type: 'message', text: 'hi' });
    await send(a);
    await send(b);
    const auths = connector.requests().map((r) => r.authorization);
    expect(auths).toEqual(['Bearer token-1', 'Bearer token-2']);
  });

  it('does not keep a failed creation (another app id is refused by the credentials factory)', async () => {
    const { auth, credentials } = pooled(() => Promise.resolve('t'));
    const other = '00000000-0000-4000-8000-0000000000b2';
    await expect(auth.createConnectorFactory(claims(other)).create(connector.url)).rejects.toThrow();
    await expect(auth.createConnectorFactory(claims(other)).create(connector.url)).rejects.toThrow();
    expect(credentials.requests.filter((r) => r.appId === other)).toHaveLength(2);
  });

  it('inbound requests get the pooled factory, and one UserTokenClient serves every turn', async () => {
    const auth = new ConfigurationBotFrameworkAuthentication({}); // development: inbound auth off
    poolConnectorClients(auth);
    const activity = { type: 'message', channelId: 'msteams', serviceUrl: connector.url } as Activity;
    const r1 = await auth.authenticateRequest(activity, '');
    const r2 = await auth.authenticateRequest(activity, '');
    expect(r1.connectorFactory).toBe(auth.createConnectorFactory(r1.claimsIdentity));
    const c1 = await r1.connectorFactory?.create(connector.url, r1.audience);
    expect(c1).toBeDefined();
    expect(await r2.connectorFactory?.create(connector.url, r2.audience)).toBe(c1);
    const u1 = await auth.createUserTokenClient(r1.claimsIdentity);
    expect(await auth.createUserTokenClient(r2.claimsIdentity)).toBe(u1);
  });

  it('is bounded: the least recently used client beyond the limit is rebuilt', async () => {
    const { auth, credentials } = pooled(() => Promise.resolve('t'), 2);
    const f = auth.createConnectorFactory(claims(APP_ID));
    const url = (i: number): string => `http://127.0.0.1:${1000 + i}/`;
    const first = await f.create(url(1));
    await f.create(url(2));
    await f.create(url(1)); // touch 1: 2 is now the oldest
    await f.create(url(3)); // evicts 2
    expect(await f.create(url(1))).toBe(first);
    await f.create(url(2));
    expect(credentials.requests).toHaveLength(4);
  });
});
