import {
  CloudAdapter,
  ConfigurationBotFrameworkAuthentication,
  ConfigurationServiceClientCredentialFactory,
  type ConfigurationBotFrameworkAuthenticationOptions,
  type Request as BotRequest,
  type TurnContext,
} from 'botbuilder';
import type { ServiceClientCredentialsFactory } from 'botframework-connector';
import { createServer, plugins, type Server } from 'restify';
import { messageActivity, postActivity } from '../support/fakes/activities';
import { startFakeBotConnector, type FakeBotConnector } from '../support/fakes/fake-bot-connector';
import { FixedTokenCredentialsFactory } from '../support/fakes/fixed-token-credentials';
import {
  BOT_FRAMEWORK_ISSUER,
  BOT_FRAMEWORK_SCOPE,
  startJwtIssuer,
  type JwtIssuer,
} from '../support/fakes/jwt-issuer';

/**
 * Proves the offline auth harness against the real botbuilder 4.23.3 CloudAdapter: inbound channel tokens are
 * verified with real RS256 signatures against the fake issuer's JWKS, and replies reach the fake connector signed
 * with the fixed outbound token (no MSAL, no internet).
 */
const APP_ID = '22222222-3333-4444-5555-666666666666';
const FIXED = 'fixed-outbound-token-for-tests';

/**
 * ConfigurationBotFrameworkAuthentication switches to "fully parameterized" mode as soon as one URL is overridden
 * (botFrameworkAuthenticationFactory.js L32–40), so every value must be given, not only the OpenID URL.
 */
function authOptions(issuer: JwtIssuer, loginUrl: string): ConfigurationBotFrameworkAuthenticationOptions {
  return {
    MicrosoftAppId: APP_ID,
    ToBotFromChannelOpenIdMetadataUrl: issuer.openIdMetadataUrl,
    ToBotFromChannelTokenIssuer: BOT_FRAMEWORK_ISSUER,
    ToBotFromEmulatorOpenIdMetadataUrl: issuer.openIdMetadataUrl,
    ToChannelFromBotLoginUrl: loginUrl,
    ToChannelFromBotOAuthScope: BOT_FRAMEWORK_SCOPE,
    OAuthUrl: issuer.url,
    CallerId: 'urn:botframework:azure',
    ValidateAuthority: false,
  };
}

interface Bot {
  url: string;
  turns: number;
  errors: unknown[];
  close(): Promise<void>;
}

async function startBot(
  issuer: JwtIssuer,
  factory: ServiceClientCredentialsFactory,
  loginUrl: string,
): Promise<Bot> {
  const adapter = new CloudAdapter(
    new ConfigurationBotFrameworkAuthentication(authOptions(issuer, loginUrl), factory),
  );
  const server: Server = createServer();
  server.use(plugins.bodyParser());
  const bot: Bot = { url: '', turns: 0, errors: [], close: () => Promise.resolve() };
  server.post('/api/messages', async (req, res) => {
    // restify's Request type lacks `| undefined` on optional fields that botbuilder's (exactOptionalPropertyTypes).
    await adapter.process(req as unknown as BotRequest, res, async (ctx: TurnContext) => {
      bot.turns++;
      try {
        await ctx.sendActivity(`echo: ${ctx.activity.text ?? ''}`);
      } catch (err) {
        bot.errors.push(err);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  bot.url = `http://127.0.0.1:${server.address().port}/api/messages`;
  bot.close = () =>
    new Promise<void>((resolve) => {
      server.server.closeAllConnections(); // keep-alive sockets from fetch would otherwise hold the worker open
      server.close(() => resolve());
    });
  return bot;
}

let issuer: JwtIssuer;
let connector: FakeBotConnector;
let bot: Bot;
let factory: FixedTokenCredentialsFactory;

beforeAll(async () => {
  issuer = await startJwtIssuer();
  connector = await startFakeBotConnector();
  factory = new FixedTokenCredentialsFactory({ appId: APP_ID, token: FIXED });
  bot = await startBot(issuer, factory, issuer.loginUrl);
});
afterAll(async () => {
  await bot.close();
  await connector.close();
  await issuer.close();
});
beforeEach(() => {
  connector.reset();
  // CloudAdapter console.error()s every rejected request; keep the test output readable.
  jest.spyOn(console, 'error').mockImplementation(() => undefined);
});

const token = (o: Partial<Parameters<JwtIssuer['channelToken']>[0]> = {}): string =>
  issuer.channelToken({ appId: APP_ID, serviceUrl: connector.url, ...o });

describe('FixedTokenCredentialsFactory with CloudAdapter', () => {
  it('a valid channel token passes; the reply reaches the fake connector with Authorization: Bearer <fixed>', async () => {
    const activity = messageActivity('hello', {
      serviceUrl: connector.url,
      conversationId: '19:abc@thread.v2;messageid=7',
    });
    const res = await postActivity(bot.url, activity, token());
    expect(res.status).toBe(200);
    const reply = await connector.waitFor((r) => r.kind === 'message', 3000);
    expect(reply.authorization).toBe(`Bearer ${FIXED}`);
    expect(reply.conversationId).toBe('19:abc@thread.v2;messageid=7');
    expect(reply.activityId).toBe(activity.id);
    expect(reply.activity?.text).toBe('echo: hello');
    expect(factory.requests.at(-1)).toEqual({
      appId: APP_ID,
      audience: BOT_FRAMEWORK_SCOPE,
      loginEndpoint: issuer.loginUrl,
      validateAuthority: false,
    });
    expect(issuer.hits('/v1/.well-known/openidconfiguration')).toBe(1);
    expect(issuer.hits('/keys')).toBe(1);
  });

  it('the OpenID document and JWKS are cached: a second request does not fetch them again', async () => {
    const before = issuer.hits('/keys');
    const res = await postActivity(bot.url, messageActivity('again', { serviceUrl: connector.url }), token());
    expect(res.status).toBe(200);
    expect(issuer.hits('/keys')).toBe(before);
  });

  it('an unknown kid does not make botbuilder refetch the JWKS within the hour (openIdMetadata.js L64–68)', async () => {
    const before = issuer.hits('/keys');
    const res = await postActivity(
      bot.url,
      messageActivity('x', { serviceUrl: connector.url }),
      token({ sign: { key: 'unknown' } }),
    );
    expect(res.status).toBe(401);
    expect(issuer.hits('/keys')).toBe(before);
  });

  it('inbound auth stays on: no header → 401 and no turn, no outbound call', async () => {
    const turns = bot.turns;
    const res = await postActivity(bot.url, messageActivity('x', { serviceUrl: connector.url }));
    expect(res.status).toBe(401);
    expect(bot.turns).toBe(turns);
    expect(connector.requests()).toHaveLength(0);
  });

  it('createCredentials for another app id is refused', async () => {
    await expect(factory.createCredentials('someone-else', undefined, issuer.loginUrl, true)).rejects.toThrow(
      'Invalid appId.',
    );
    await expect(factory.isAuthenticationDisabled()).resolves.toBe(false);
  });
});

describe('jwt-issuer tokens as botbuilder 4.23.3 judges them', () => {
  // Every bad token is refused (no turn, nothing sent), but botbuilder 4.23.3 answers 500, not 401, when
  // jsonwebtoken.verify() throws something other than TokenExpiredError (jwtTokenExtractor.js L160–166 rethrows it,
  // cloudAdapter.js L107 maps only AuthenticationError to 401). The HTTP edge must map these to 401 itself.
  const cases: Array<{ name: string; make: () => string; expected: number }> = [
    { name: 'RS256 good key', make: () => token(), expected: 200 },
    { name: 'alg none', make: () => token({ sign: { alg: 'none' } }), expected: 500 },
    { name: 'HS256 keyed with the public key', make: () => token({ sign: { alg: 'HS256' } }), expected: 500 },
    { name: 'unknown kid', make: () => token({ sign: { key: 'unknown' } }), expected: 401 },
    {
      name: 'known kid, signed by an unknown key',
      make: () => token({ sign: { key: 'unknown', kid: issuer.kids[0] ?? '' } }),
      expected: 500,
    },
    { name: 'wrong iss', make: () => token({ iss: 'https://evil.example' }), expected: 401 },
    { name: 'wrong aud', make: () => token({ aud: '99999999-0000-0000-0000-000000000000' }), expected: 401 },
    { name: 'exp = now − 6 min', make: () => token({ expOffsetSec: -360 }), expected: 401 },
    {
      name: 'exp = now − 4 min (inside the 5-min skew)',
      make: () => token({ expOffsetSec: -240 }),
      expected: 200,
    },
    { name: 'nbf = now + 6 min', make: () => token({ nbfOffsetSec: 360 }), expected: 500 },
    {
      name: 'serviceurl claim ≠ activity.serviceUrl',
      make: () => token({ serviceUrl: 'http://127.0.0.1:1/' }),
      expected: 401,
    },
  ];
  it.each(cases)('$name → $expected', async ({ make, expected }) => {
    const turns = bot.turns;
    const res = await postActivity(bot.url, messageActivity('t', { serviceUrl: connector.url }), make());
    expect(res.status).toBe(expected);
    expect(bot.turns - turns).toBe(expected === 200 ? 1 : 0);
    if (expected !== 200) expect(connector.requests()).toHaveLength(0);
  });

  it('a key whose endorsements lack msteams is rejected (401, not the 403 the docs name)', async () => {
    const webchatOnly = await startJwtIssuer({ keys: [{ endorsements: ['webchat'] }] });
    const other = await startBot(
      webchatOnly,
      new FixedTokenCredentialsFactory({ appId: APP_ID, token: FIXED }),
      webchatOnly.loginUrl,
    );
    try {
      const t = webchatOnly.channelToken({ appId: APP_ID, serviceUrl: connector.url });
      const res = await postActivity(other.url, messageActivity('t', { serviceUrl: connector.url }), t);
      expect(res.status).toBe(401);
      expect(other.turns).toBe(0);
      expect(webchatOnly.hits('/keys')).toBe(1);
    } finally {
      await other.close();
      await webchatOnly.close();
    }
  });

  it('outbound token endpoint: client_credentials with the right secret gets a signed JWT, a wrong one 401', async () => {
    const strict = await startJwtIssuer({ app: { appId: APP_ID, password: 'pw' } });
    try {
      const ask = (secret: string): Promise<Response> =>
        fetch(`${strict.loginUrl}/oauth2/v2.0/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: APP_ID,
            client_secret: secret,
            scope: `${BOT_FRAMEWORK_SCOPE}/.default`,
          }).toString(),
        });
      const ok = await ask('pw');
      expect(ok.status).toBe(200);
      const body = (await ok.json()) as { access_token: string; token_type: string };
      expect(body.token_type).toBe('Bearer');
      const payload = JSON.parse(
        Buffer.from(body.access_token.split('.')[1] ?? '', 'base64url').toString(),
      ) as Record<string, unknown>;
      expect(payload).toMatchObject({ aud: BOT_FRAMEWORK_SCOPE, appid: APP_ID });
      expect((await ask('wrong')).status).toBe(401);
      expect(strict.tokenRequests().map((r) => r.accepted)).toEqual([true, false]);
    } finally {
      await strict.close();
    }
  });
});

describe('why the fixed-token factory is needed', () => {
  it('the real password credentials (MSAL) refuse an http login URL: authority_uri_insecure, nothing is sent', async () => {
    const real = new ConfigurationServiceClientCredentialFactory({
      MicrosoftAppId: APP_ID,
      MicrosoftAppPassword: 'pw',
      MicrosoftAppType: 'MultiTenant',
    });
    const passwordBot = await startBot(issuer, real, issuer.loginUrl);
    try {
      const res = await postActivity(
        passwordBot.url,
        messageActivity('x', { serviceUrl: connector.url }),
        token(),
      );
      expect(res.status).toBe(200);
      expect(passwordBot.errors).toHaveLength(1);
      expect(passwordBot.errors[0]).toMatchObject({ errorCode: 'authority_uri_insecure' });
      expect(connector.requests()).toHaveLength(0);
      expect(issuer.tokenRequests()).toHaveLength(0);
    } finally {
      await passwordBot.close();
    }
  });
});
