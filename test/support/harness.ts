import type { AccessToken, TokenCredential } from '@azure/identity';
import { startBot, type BotOverrides, type RunningBot } from '../../src/app';
import { loadConfig, type Config } from '../../src/config/config';
import { createLogger } from '../../src/observability/logger';
import { startEmulator, type RunningEmulator } from '../../emulator/server';
import {
  startFakeBotConnector,
  type FakeBotConnector,
  type RecordedRequest,
} from './fakes/fake-bot-connector';
import { postActivity, type InboundActivity } from './fakes/activities';

/**
 * Starts the real pieces on loopback for an integration test: the Foundry emulator, a fake Bot Connector
 * (the activities' serviceUrl), and the bot in-process with a configuration built from `env`.
 * Every log line the bot writes is captured in `logs` (for the LOG-01 canary checks).
 */
export interface Harness {
  emulator: RunningEmulator;
  connector: FakeBotConnector;
  bot: RunningBot;
  config: Config;
  logs: string[];
  /** Token credential the bot uses for Foundry in app mode (a token the emulator signed for the bot's oid). */
  botOid: string;
  post(activity: InboundActivity, token?: string): Promise<{ status: number; body: unknown }>;
  /** Waits until the relay has no job running. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export const BOT_OID = 'b0b0b0b0-0000-4000-8000-00000000b07a';

export function staticCredential(emulator: RunningEmulator, oid: string, tid?: string): TokenCredential {
  return {
    getToken(): Promise<AccessToken> {
      return Promise.resolve({
        token: emulator.issueToken({ oid, ...(tid ? { tid } : {}) }),
        expiresOnTimestamp: Date.now() + 3600_000,
      });
    },
  };
}

export async function startHarness(
  env: Record<string, string> = {},
  overrides: BotOverrides = {},
): Promise<Harness> {
  const emulator = await startEmulator({});
  const connector = await startFakeBotConnector();
  const logs: string[] = [];
  const emulatorHost = new URL(emulator.url).host;
  const config = loadConfig({
    NODE_ENV: 'development',
    PORT: '0',
    HOST: '127.0.0.1',
    FOUNDRY_PROJECT_ENDPOINT: emulator.projectEndpoint,
    FOUNDRY_AGENT_NAME: 'helpdesk-agent',
    CONSENT_LINK_HOSTS: emulatorHost,
    SHARED_CONSENT_ADMINS: 'aaaaaaaa-0000-0000-0000-000000000001',
    FOUNDRY_TIMEOUT_MS: '5000',
    FOUNDRY_IDLE_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'debug',
    ...env,
  });
  const bot = await startBot(config, {
    log: createLogger({ level: 'debug', sink: (l) => logs.push(l) }),
    appCredential: staticCredential(emulator, BOT_OID),
    ...overrides,
  });
  return {
    emulator,
    connector,
    bot,
    config,
    logs,
    botOid: BOT_OID,
    post: (activity, token) => postActivity(`${bot.url}/api/messages`, activity, token),
    idle: () => bot.relay.idle(),
    async close() {
      await bot.shutdown(1000).catch(() => undefined);
      await connector.close();
      await emulator.close();
    },
  };
}

/** The text of a recorded message request. */
export function textOf(r: RecordedRequest): string {
  const a = r.activity as { text?: unknown } | undefined;
  return typeof a?.text === 'string' ? a.text : '';
}

/** The first Adaptive Card of a recorded request. */
export function cardOf(r: RecordedRequest): Record<string, unknown> | undefined {
  const a = r.activity as
    { attachments?: { contentType?: string; content?: Record<string, unknown> }[] } | undefined;
  return a?.attachments?.find((x) => x.contentType === 'application/vnd.microsoft.card.adaptive')?.content;
}

/** All TextBlock / FactSet text in a card, flattened (for assertions). */
export function cardText(card: unknown): string {
  const out: string[] = [];
  const visit = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(visit);
    else if (n && typeof n === 'object') {
      const o = n as Record<string, unknown>;
      if (typeof o['text'] === 'string') out.push(o['text']);
      if (typeof o['title'] === 'string') out.push(o['title']);
      if (typeof o['value'] === 'string') out.push(o['value']);
      for (const v of Object.values(o)) visit(v);
    }
  };
  visit(card);
  return out.join('\n');
}

/** Finds an Action.Execute in a card by title. */
export function actionOf(
  card: unknown,
  title: string,
): { verb: string; data: Record<string, unknown> } | undefined {
  let found: { verb: string; data: Record<string, unknown> } | undefined;
  const visit = (n: unknown): void => {
    if (found) return;
    if (Array.isArray(n)) n.forEach(visit);
    else if (n && typeof n === 'object') {
      const o = n as Record<string, unknown>;
      if (o['type'] === 'Action.Execute' && o['title'] === title) {
        found = { verb: String(o['verb']), data: (o['data'] ?? {}) as Record<string, unknown> };
        return;
      }
      for (const [k, v] of Object.entries(o)) if (k !== 'fallback') visit(v);
    }
  };
  visit(card);
  return found;
}

/** The OpenUrl action URL of a card, if any. */
export function openUrlOf(card: unknown): string | undefined {
  let found: string | undefined;
  const visit = (n: unknown): void => {
    if (found) return;
    if (Array.isArray(n)) n.forEach(visit);
    else if (n && typeof n === 'object') {
      const o = n as Record<string, unknown>;
      if (o['type'] === 'Action.OpenUrl' && typeof o['url'] === 'string') found = o['url'];
      else for (const v of Object.values(o)) visit(v);
    }
  };
  visit(card);
  return found;
}

// ───────────── additions for the relay tests (test/integration/relay-*.test.ts) ─────────────

/** Waits for the relay to go idle, then clears the emulator (POST /__emulator/reset) and the fake connector. */
export async function resetAll(h: Harness): Promise<void> {
  await h.idle();
  const res = await fetch(`${h.emulator.url}/__emulator/reset`, { method: 'POST' });
  await res.arrayBuffer();
  h.connector.reset();
  h.logs.length = 0;
}

/** The parsed audit/log records the bot wrote (JSON lines), optionally filtered by event name. */
export function logRecords(h: Harness, event?: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const l of h.logs) {
    try {
      const r = JSON.parse(l) as Record<string, unknown>;
      if (event === undefined || r['event'] === event) out.push(r);
    } catch {
      // not JSON: ignore
    }
  }
  return out;
}

/** The body of an invoke answer (`{statusCode, type, value}`) as the bot returned it over HTTP. */
export interface InvokeBody {
  statusCode: number;
  type: string;
  value: unknown;
}

export function invokeBodyOf(r: { status: number; body: unknown }): InvokeBody {
  const b = r.body as Partial<InvokeBody> | undefined;
  if (!b || typeof b.statusCode !== 'number' || typeof b.type !== 'string')
    throw new Error(`not an invoke answer: ${r.status} ${JSON.stringify(r.body)}`);
  return { statusCode: b.statusCode, type: b.type, value: b.value };
}

/** Polls `check` until it returns a value other than undefined (or throws after `timeoutMs`). */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
