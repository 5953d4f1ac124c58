import { request as httpRequest } from 'node:http';
import { startBot, type BotOverrides, type RunningBot } from '../../src/app';
import { loadConfig, type Config } from '../../src/config/config';
import { startEmulator, type RunningEmulator } from '../../emulator/server';
import { getLog } from '../../emulator/test-client';
import { postActivity, type InboundActivity } from '../support/fakes/activities';
import { startFakeBotConnector, type FakeBotConnector } from '../support/fakes/fake-bot-connector';
import { FixedTokenCredentialsFactory } from '../support/fakes/fixed-token-credentials';
import {
  startJwtIssuer,
  type ChannelTokenOptions,
  type JwtIssuer,
  type JwtIssuerOptions,
} from '../support/fakes/jwt-issuer';
import { BOT_OID, staticCredential } from '../support/harness';

/**
 * The bot in AUTHENTICATED mode for the security suite: BOT_ID set, NODE_ENV=test, BOT_OPENID_METADATA_URL
 * pointing at a local JWT issuer with real RS256 keys, and the outbound token from FixedTokenCredentialsFactory
 * (inbound validation stays fully on). The bot builds its own logger from the config (so the configured secrets
 * are registered with the scrubber, as in production) and every line goes to `logs`.
 */
export const BOT_APP_ID = '22222222-3333-4444-5555-666666666666';
export const OUTBOUND_TOKEN = 'outbound-fixed-token';

export interface AuthHarness {
  issuer: JwtIssuer;
  emulator: RunningEmulator;
  connector: FakeBotConnector;
  bot: RunningBot;
  config: Config;
  factory: FixedTokenCredentialsFactory;
  logs: string[];
  /** A channel token for the default connector (override anything). */
  token(o?: Partial<ChannelTokenOptions>): string;
  /** POST with `Authorization: Bearer <token>` (none when `token` is undefined). */
  post(
    activity: unknown,
    token?: string,
    opts?: { authorization?: string },
  ): Promise<{ status: number; body: unknown }>;
  /** Requests the Foundry emulator received (its control plane `/__emulator/…` excluded). */
  foundryCalls(): Promise<number>;
  close(): Promise<void>;
}

export interface AuthHarnessOptions {
  env?: Record<string, string>;
  overrides?: BotOverrides;
  issuer?: JwtIssuerOptions;
  outboundToken?: string;
  password?: string;
  emulatorConsentLinkBase?: string;
}

export async function startAuthHarness(o: AuthHarnessOptions = {}): Promise<AuthHarness> {
  const issuer = await startJwtIssuer(o.issuer ?? {});
  const emulator = await startEmulator(
    o.emulatorConsentLinkBase ? { consentLinkBase: o.emulatorConsentLinkBase } : {},
  );
  const connector = await startFakeBotConnector();
  const logs: string[] = [];
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    BOT_ID: BOT_APP_ID,
    BOT_PASSWORD: o.password ?? 'test-password-not-used',
    BOT_OPENID_METADATA_URL: issuer.openIdMetadataUrl,
    FOUNDRY_PROJECT_ENDPOINT: emulator.projectEndpoint,
    FOUNDRY_AGENT_NAME: 'helpdesk-agent',
    CONSENT_LINK_HOSTS: new URL(emulator.url).host,
    FOUNDRY_TIMEOUT_MS: '5000',
    FOUNDRY_IDLE_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'debug',
    ...(o.env ?? {}),
  });
  const factory = new FixedTokenCredentialsFactory({
    appId: BOT_APP_ID,
    token: o.outboundToken ?? OUTBOUND_TOKEN,
  });
  const bot = await startBot(config, {
    logSink: (l) => logs.push(l),
    appCredential: staticCredential(emulator, BOT_OID),
    credentialsFactory: factory,
    ...(o.overrides ?? {}),
  });
  const url = `${bot.url}/api/messages`;
  return {
    issuer,
    emulator,
    connector,
    bot,
    config,
    factory,
    logs,
    token: (t = {}) => issuer.channelToken({ appId: BOT_APP_ID, serviceUrl: connector.url, ...t }),
    post: (activity, token, opts = {}) =>
      postActivity(
        url,
        activity,
        token,
        opts.authorization !== undefined ? { authorization: opts.authorization } : {},
      ),
    async foundryCalls() {
      const log = await getLog(emulator.url);
      return log.requests.filter((r) => !r.path.startsWith('/__emulator')).length;
    },
    async close() {
      await bot.shutdown(1000).catch(() => undefined);
      await connector.close();
      await emulator.close();
      await issuer.close();
    },
  };
}

/** Sends a request with raw header lines (repeated headers stay repeated; fetch would merge them). */
export function rawPost(
  url: string,
  body: string,
  headers: Array<[string, string]>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    // An array value becomes one header line per element.
    const out: Record<string, string | string[]> = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    };
    for (const [k, v] of headers) {
      const prev = out[k];
      out[k] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
    }
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: out, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export type { InboundActivity };
