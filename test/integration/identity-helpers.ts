import { randomUUID } from 'node:crypto';
import { startBot, type BotOverrides, type RunningBot } from '../../src/app';
import { configSecrets, loadConfig, type Config } from '../../src/config/config';
import { createUserIdentity, type UserIdentityProvider } from '../../src/identity/user-identity';
import { createLogger } from '../../src/observability/logger';
import type { StateStore } from '../../src/storage/store';
import { startEmulator, type RunningEmulator } from '../../emulator/server';
import { getLog } from '../../emulator/test-client';
import {
  startFakeBotConnector,
  type FakeBotConnector,
  type RecordedRequest,
} from '../support/fakes/fake-bot-connector';
import {
  adaptiveCardActionInvoke,
  baseActivity,
  messageActivity,
  postActivity,
  type InboundActivity,
  type TeamsUser,
} from '../support/fakes/activities';
import { cardOf, invokeBodyOf, textOf, type InvokeBody } from '../support/harness';

/**
 * Test stack for the identity suites (issue 5): the Foundry emulator (with its https Entra authority for
 * on-behalf-of), a fake Bot Connector, and the bot built by the real composition root, in app or user mode.
 * Unlike ../support/harness.ts it injects no Foundry credential: app mode uses the real @azure/identity
 * credential chosen by config (managed identity against the emulator's endpoint), user mode the real
 * OnBehalfOfCredential.
 */
export interface IdentityStack {
  emulator: RunningEmulator;
  connector: FakeBotConnector;
  bot: RunningBot;
  config: Config;
  identity: UserIdentityProvider | undefined;
  /** Every log line the bot wrote (JSON). */
  logs: string[];
  close(opts?: { keepEmulator?: boolean }): Promise<void>;
}

export interface StackOptions {
  mode: 'app' | 'user';
  env?: Record<string, string>;
  /** Reuse an emulator (a bot restart against the same Foundry). */
  emulator?: RunningEmulator;
  /** Reuse a state store (a bot restart with durable storage). */
  store?: StateStore;
  logs?: string[];
  overrides?: BotOverrides;
}

export async function startIdentityStack(o: StackOptions): Promise<IdentityStack> {
  const emulator = o.emulator ?? (await startEmulator({}));
  const connector = await startFakeBotConnector();
  const logs = o.logs ?? [];
  const config = loadConfig({
    NODE_ENV: 'development',
    PORT: '0',
    HOST: '127.0.0.1',
    FOUNDRY_PROJECT_ENDPOINT: emulator.projectEndpoint,
    FOUNDRY_AGENT_NAME: 'helpdesk-agent',
    CONSENT_LINK_HOSTS: new URL(emulator.url).host,
    FOUNDRY_TIMEOUT_MS: '5000',
    FOUNDRY_IDLE_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'debug',
    FOUNDRY_AUTH: o.mode,
    FOUNDRY_CREDENTIAL: 'managed_identity',
    ...(o.mode === 'user'
      ? {
          AAD_APP_CLIENT_ID: emulator.ssoClient.clientId,
          AAD_APP_CLIENT_SECRET: emulator.ssoClient.clientSecret,
          AAD_APP_TENANT_ID: emulator.tenantId,
          AZURE_AUTHORITY_HOST: emulator.authorityUrl,
        }
      : {}),
    ...o.env,
  });
  const log = createLogger({ level: 'debug', secrets: configSecrets(config), sink: (l) => logs.push(l) });
  // The emulator's authority is https with a TEST-ONLY CA: trusted for this credential only (docs/identity.md).
  const identity =
    o.mode === 'user'
      ? createUserIdentity(config, log.child('identity'), { authorityCa: emulator.testCaPem })
      : undefined;
  const bot = await startBot(config, {
    log,
    ...(identity ? { identity } : {}),
    ...(o.store ? { store: o.store } : {}),
    ...o.overrides,
  });
  return {
    emulator,
    connector,
    bot,
    config,
    identity,
    logs,
    async close(c = {}) {
      await bot.shutdown(1000).catch(() => undefined);
      await connector.close();
      if (!c.keepEmulator) await emulator.close();
    },
  };
}

/** One conversation seen by a test: say things as a user, click cards, read what the bot sent. */
export class Chat {
  readonly id: string;

  constructor(
    private readonly s: IdentityStack,
    readonly scope: 'personal' | 'groupChat' | 'channel',
    readonly tenantId?: string,
    id?: string,
  ) {
    this.id =
      id ??
      (scope === 'personal'
        ? `a:personal-${randomUUID()}`
        : scope === 'channel'
          ? `19:channel-${randomUUID()}@thread.skype;messageid=1`
          : `19:group-${randomUUID()}@thread.v2`);
  }

  private ctx(user: TeamsUser): {
    serviceUrl: string;
    conversationType: 'personal' | 'groupChat' | 'channel';
    conversationId: string;
    user: TeamsUser;
    tenantId?: string;
  } {
    return {
      serviceUrl: this.s.connector.url,
      conversationType: this.scope,
      conversationId: this.id,
      user,
      ...(this.tenantId ? { tenantId: this.tenantId } : {}),
    };
  }

  async say(user: TeamsUser, text: string): Promise<void> {
    const r = await postActivity(`${this.s.bot.url}/api/messages`, messageActivity(text, this.ctx(user)));
    expect(r.status).toBe(200);
    await this.s.bot.relay.idle();
  }

  async click(user: TeamsUser, verb: string, data: Record<string, unknown>): Promise<InvokeBody> {
    const r = await postActivity(
      `${this.s.bot.url}/api/messages`,
      adaptiveCardActionInvoke(verb, data, this.ctx(user)),
    );
    expect(r.status).toBe(200);
    return invokeBodyOf(r);
  }

  /** A sign-in invoke as Teams sends it (`signin/tokenExchange`, `signin/verifyState`, `signin/failure`). */
  signinInvoke(user: TeamsUser, name: string, value: unknown): InboundActivity {
    return { ...baseActivity('invoke', this.ctx(user)), name, value };
  }

  async invoke(activity: InboundActivity): Promise<{ status: number; body: unknown }> {
    const r = await postActivity(`${this.s.bot.url}/api/messages`, activity);
    await this.s.bot.relay.idle();
    return r;
  }

  /** What Teams does after a sign-in card: silent SSO, then `signin/tokenExchange` with the user's token. */
  async exchange(user: TeamsUser, ssoToken: string): Promise<{ status: number; body: unknown }> {
    return this.invoke(
      this.signinInvoke(user, 'signin/tokenExchange', {
        id: randomUUID(),
        connectionName: '',
        token: ssoToken,
      }),
    );
  }

  posted(): RecordedRequest[] {
    return this.s.connector.requests().filter((r) => r.method === 'POST' && r.conversationId === this.id);
  }

  texts(): string[] {
    return this.posted()
      .map((r) => textOf(r))
      .filter((t) => t.length > 0);
  }

  adaptiveCards(): Record<string, unknown>[] {
    return this.posted()
      .map((r) => cardOf(r))
      .filter((c): c is Record<string, unknown> => c !== undefined);
  }

  /** Sign-in OAuthCards the bot sent, with the activity that carried each. */
  signInCards(): { activity: RecordedRequest; content: Record<string, unknown> }[] {
    const out: { activity: RecordedRequest; content: Record<string, unknown> }[] = [];
    for (const r of this.posted()) {
      const a = r.activity as { attachments?: { contentType?: string; content?: unknown }[] } | undefined;
      const att = a?.attachments?.find((x) => x.contentType === 'application/vnd.microsoft.card.oauth');
      if (att?.content && typeof att.content === 'object')
        out.push({ activity: r, content: att.content as Record<string, unknown> });
    }
    return out;
  }
}

/**
 * The 1:1 chats the bot opened through the connector (`POST /v3/conversations`) for `user`, newest last, as
 * Chats: where the private sign-in card went.
 */
export function privateChats(s: IdentityStack, user: TeamsUser): Chat[] {
  return s.connector
    .requests()
    .filter((r) => r.kind === 'create-conversation' && r.status === 201)
    .filter((r) => JSON.stringify(r.activity ?? {}).includes(`"id":"${user.id}"`))
    .map((r) => new Chat(s, 'personal', undefined, String((r.responseBody as { id?: unknown }).id)));
}

/** The consent id in a consent card. */
export function consentIdOf(card: unknown): string {
  const m = /"consentId":"([0-9a-f]{32})"/.exec(JSON.stringify(card));
  if (!m?.[1]) throw new Error('no consent id in card');
  return m[1];
}

export async function toolCalls(emulatorUrl: string): Promise<{ name: string; callerOid: string }[]> {
  return (await getLog(emulatorUrl)).toolCalls.map((t) => ({ name: t.name, callerOid: t.callerOid }));
}

/** Emulator requests made with a token of `oid` (Foundry routes, OBO and managed identity alike). */
export async function requestsAs(emulatorUrl: string, oid: string): Promise<number> {
  return (await getLog(emulatorUrl)).requests.filter((r) => r.callerOid === oid).length;
}

export async function oboCalls(emulatorUrl: string, oid?: string): Promise<number> {
  return (await getLog(emulatorUrl)).requests.filter(
    (r) =>
      r.method === 'POST' &&
      r.path.endsWith('/oauth2/v2.0/token') &&
      (oid === undefined || r.callerOid === oid),
  ).length;
}
