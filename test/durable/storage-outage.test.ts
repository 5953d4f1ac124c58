import { spawn, type ChildProcess } from 'node:child_process';
import { startEmulator, type RunningEmulator } from '../../emulator/server';
import { BOT_MANAGED_IDENTITY_OID } from '../../emulator/identity';
import { getLog, grantConsent } from '../../emulator/test-client';
import { BlobStateStore } from '../../src/storage/blob-store';
import { userMessageFor } from '../../src/errors';
import {
  adaptiveCardActionInvoke,
  DEFAULT_USER,
  messageActivity,
  postActivity,
} from '../support/fakes/activities';
import { startAzurite, type AzuriteHandle } from '../support/fakes/azurite';
import { startFakeBotConnector, type FakeBotConnector } from '../support/fakes/fake-bot-connector';
import { actionOf, cardOf, cardText, textOf } from '../support/harness';
import { eventually, killAllBots, spawnBot, type BotProcess } from './bot-process';

/**
 * Issue 16: a real bot process (`node dist/src/index.js`, STORAGE=blob) while Azurite is paused (SIGSTOP, what
 * a network partition or a throttled account looks like from the bot) and while it is stopped (connections
 * refused). Measures the inbound answer time, the time until the user is told, readiness, and recovery; a
 * pending approval survives the outage and continues exactly once. Figures are printed with `[outage]`.
 */
jest.setTimeout(120_000);

const OUTAGE_TEXT = userMessageFor('STORAGE_UNAVAILABLE');
const PAUSE_MS = 20_000;

let azurite: AzuriteHandle;
let emu: RunningEmulator;
let connector: FakeBotConnector;
let bot: BotProcess;
let restarted: ChildProcess | undefined;
const figures: string[] = [];

beforeAll(async () => {
  [azurite, emu, connector] = await Promise.all([startAzurite(), startEmulator({}), startFakeBotConnector()]);
  await grantConsent(emu.url, BOT_MANAGED_IDENTITY_OID, 'github');
  bot = await spawnBot({
    emulator: emu,
    connectionString: azurite.connectionString,
    container: 'outage',
  });
}, 90_000);

afterAll(async () => {
  resume();
  await killAllBots();
  restarted?.kill('SIGKILL');
  await Promise.allSettled([azurite?.stop(), emu?.close(), connector?.close()]);
  if (figures.length > 0) console.log(figures.map((f) => `[outage] ${f}`).join('\n'));
}, 30_000);

/** Resumes Azurite if it is paused; it may already be gone (the last test stops it). */
function resume(): void {
  try {
    process.kill(azurite.pid, 'SIGCONT');
  } catch {
    // already stopped
  }
}

const newConversation = (): string => `a:outage-${Math.random().toString(16).slice(2)}`;
const said = (conv: string, fragment: string): boolean =>
  connector
    .activities(conv)
    .some((r) => textOf(r).includes(fragment) || cardText(cardOf(r)).includes(fragment));

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t = Date.now();
  const value = await f();
  return { value, ms: Date.now() - t };
}

function send(conv: string, text: string) {
  const activity = messageActivity(text, {
    serviceUrl: connector.url,
    conversationId: conv,
    user: DEFAULT_USER,
  });
  return timed(() => postActivity(`${bot.url}/api/messages`, activity));
}

function click(conv: string, action: { verb: string; data: Record<string, unknown> }) {
  const invoke = adaptiveCardActionInvoke(action.verb, action.data, {
    serviceUrl: connector.url,
    conversationId: conv,
    user: DEFAULT_USER,
  });
  return timed(() => postActivity(`${bot.url}/api/messages`, invoke));
}

const status = (path: string): Promise<number> =>
  fetch(`${bot.url}${path}`, { signal: AbortSignal.timeout(2000) }).then(
    (r) => r.status,
    () => 0,
  );

/** Polls `path` until it answers `want`; returns the milliseconds it took. */
async function untilStatus(path: string, want: number, timeoutMs: number): Promise<number> {
  const t = Date.now();
  await eventually(
    async () => ((await status(path)) === want ? true : undefined),
    timeoutMs,
    `${path} ${want}`,
  );
  return Date.now() - t;
}

async function untilSaid(conv: string, fragment: string, since: number, timeoutMs: number): Promise<number> {
  try {
    await eventually(() => (said(conv, fragment) ? true : undefined), timeoutMs, `"${fragment}"`);
  } catch {
    const got = connector.activities(conv).map((r) => textOf(r) || cardText(cardOf(r)).slice(0, 120));
    const events = bot.logs.map((l) => String(l['event'])).filter((e) => !e.startsWith('http.'));
    throw new Error(
      `never got "${fragment}"; got: ${got.join(' | ')}; bot events: ${events.slice(-40).join(', ')}`,
    );
  }
  return Date.now() - since;
}

function invokeMessage(body: unknown): string {
  const b = body as { type?: unknown; value?: unknown } | undefined;
  return b?.type === 'application/vnd.microsoft.activity.message' ? String(b.value) : '';
}

describe('storage outage (issue 16, Azurite)', () => {
  it('BlobStateStore: a paused endpoint and a refused port fail with STORAGE_UNAVAILABLE within the deadline', async () => {
    const store = new BlobStateStore({
      connectionString: azurite.connectionString,
      container: 'deadline',
      timeoutMs: 1000,
    });
    await store.init();
    process.kill(azurite.pid, 'SIGSTOP');
    let paused;
    try {
      paused = await timed(() => store.get('k').catch((e: unknown) => e));
    } finally {
      resume();
    }
    expect(paused.value).toMatchObject({ code: 'STORAGE_UNAVAILABLE', details: { reason: 'timeout' } });
    expect(paused.ms).toBeLessThan(2500);
    const refused = new BlobStateStore({
      connectionString: azurite.connectionString.replace(`:${azurite.port}/`, ':1/'),
      container: 'deadline',
      timeoutMs: 1000,
    });
    const r = await timed(() => refused.put('k', 1, { ifNoneMatch: true }).catch((e: unknown) => e));
    expect(r.value).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(r.ms).toBeLessThan(2500);
    figures.push(
      `BlobStateStore timeout 1000 ms: paused endpoint failed after ${paused.ms} ms, refused port after ${r.ms} ms`,
    );
  });

  it(`a ${PAUSE_MS / 1000} s pause: inbound answered at once, the user told why, not ready, a pending approval continues exactly once after`, async () => {
    const conv = newConversation();
    expect((await send(conv, 'create an issue')).value.status).toBe(200);
    const approve = await eventually(
      () => {
        for (const r of connector.activities(conv)) {
          const a = actionOf(cardOf(r), 'Approve');
          if (a) return a;
        }
        return undefined;
      },
      40_000,
      'an approval card',
    );
    const approvalsBefore = (await getLog(emu.url)).approvals.length;

    const paused = Date.now();
    process.kill(azurite.pid, 'SIGSTOP');
    try {
      const sent = Date.now();
      const inbound = await send(conv, 'hello');
      expect(inbound.value.status).toBe(200);
      expect(inbound.ms).toBeLessThan(3000);
      const toldMs = await untilSaid(conv, OUTAGE_TEXT, sent, 15_000);
      expect(toldMs).toBeLessThan(15_000);

      const during = await click(conv, approve);
      expect(during.value.status).toBe(200);
      expect(invokeMessage(during.value.body)).toBe(OUTAGE_TEXT);
      expect(during.ms).toBeLessThan(5000);

      const notReadyMs = await untilStatus('/readyz', 503, 10_000);
      expect(await status('/healthz')).toBe(200);
      figures.push(
        `${PAUSE_MS / 1000} s pause: POST /api/messages answered in ${inbound.ms} ms; the user told "${OUTAGE_TEXT}" ` +
          `${toldMs} ms after sending; card click answered in ${during.ms} ms with the same text; /readyz 503 ` +
          `(${notReadyMs} ms after that click), /healthz 200`,
      );
      await new Promise((r) => setTimeout(r, Math.max(0, paused + PAUSE_MS - Date.now())));
    } finally {
      resume();
    }
    const resumed = Date.now();
    const readyMs = await untilStatus('/readyz', 200, 20_000);

    const after = await click(conv, approve);
    expect(after.value.status).toBe(200);
    expect(cardText((after.value.body as { value?: unknown }).value)).not.toContain('already been decided');
    await untilSaid(conv, 'Created issue #42', resumed, 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    const log = await getLog(emu.url);
    expect(log.approvals.length - approvalsBefore).toBe(1);
    // Answered once: one final or message with the text (streamed chunks of that same answer do not count).
    const answers = connector
      .activities(conv)
      .filter((r) => r.kind !== 'streaming' && textOf(r).includes('Created issue #42'));
    expect(answers).toHaveLength(1);
    // The message sent during the outage started no turn (it would have superseded the approval).
    expect(said(conv, 'Hello!')).toBe(false);
    figures.push(
      `after SIGCONT: /readyz 200 in ${readyMs} ms; the approval clicked during the pause, clicked again after: ` +
        `1 approval response to Foundry, answered "Created issue #42" once`,
    );
  });

  it('Azurite stopped (connections refused): told within seconds, not ready; restarted empty: container recreated, ready, answering', async () => {
    const port = azurite.port;
    await azurite.stop();
    const conv = newConversation();
    const sent = Date.now();
    const inbound = await send(conv, 'hello');
    expect(inbound.value.status).toBe(200);
    expect(inbound.ms).toBeLessThan(3000);
    const toldMs = await untilSaid(conv, OUTAGE_TEXT, sent, 15_000);
    expect(said(conv, userMessageFor('INTERNAL'))).toBe(false);
    const notReadyMs = await untilStatus('/readyz', 503, 10_000);
    expect(await status('/healthz')).toBe(200);

    // Same port, empty (in-memory) Azurite: the bot's container is gone and must be recreated.
    restarted = spawn(
      process.execPath,
      [
        require.resolve('azurite/dist/src/blob/main.js'),
        ...['--blobHost', '127.0.0.1', '--blobPort', String(port), '--disableTelemetry', '--silent'],
        ...['--skipApiVersionCheck', '--loose', '--inMemoryPersistence'],
      ],
      { stdio: 'ignore' },
    );
    const started = Date.now();
    const readyMs = await untilStatus('/readyz', 200, 30_000);
    expect(bot.logs.some((l) => l['event'] === 'storage.container_recreated')).toBe(true);
    const again = Date.now();
    await send(conv, 'hello again');
    const answeredMs = await untilSaid(conv, 'Hello!', again, 20_000);
    figures.push(
      `Azurite stopped: POST answered in ${inbound.ms} ms, user told ${toldMs} ms after sending, /readyz 503 ` +
        `after ${notReadyMs} ms more; restarted empty: /readyz 200 ${readyMs} ms after the restart began ` +
        `(${Date.now() - started} ms incl. the next answer), container recreated, next message answered in ${answeredMs} ms`,
    );
  });
});
