import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import type { RunningEmulator } from '../../emulator/server';
import { BlobStateStore } from '../../src/storage/blob-store';

/**
 * The bot as a real process (`node dist/src/index.js`, what `npm start` runs) for the durable tests: dev mode
 * (BOT_ID empty), blob storage on Azurite, Foundry at the emulator, and the app credential from the emulator's
 * managed-identity endpoint (the real ManagedIdentityCredential). `npm test` builds dist before jest runs.
 */
export interface BotProcess {
  url: string;
  pid: number;
  /** Milliseconds from spawn until GET /readyz answered 200. */
  readyMs: number;
  /** Parsed JSON log lines (stdout) so far. */
  logs: Record<string, unknown>[];
  /** Resolves with the exit code and signal once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

const ENTRY = join(__dirname, '..', '..', 'dist', 'src', 'index.js');
const live = new Set<ChildProcess>();

export interface BotEnv {
  emulator: RunningEmulator;
  connectionString: string;
  container: string;
  extra?: Record<string, string>;
}

/** Spawns a bot process and waits until it is ready (GET /readyz 200). */
export async function spawnBot(o: BotEnv, timeoutMs = 75_000): Promise<BotProcess> {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    NODE_ENV: 'development',
    PORT: '0',
    HOST: '127.0.0.1',
    BOT_ID: '',
    LOG_LEVEL: 'info',
    STORAGE: 'blob',
    BLOB_CONNECTION_STRING: o.connectionString,
    BLOB_CONTAINER: o.container,
    FOUNDRY_PROJECT_ENDPOINT: o.emulator.projectEndpoint,
    FOUNDRY_AGENT_NAME: 'helpdesk-agent',
    FOUNDRY_CREDENTIAL: 'managed_identity',
    IDENTITY_ENDPOINT: o.emulator.identityEndpoint,
    IDENTITY_HEADER: o.emulator.identityHeader,
    CONSENT_LINK_HOSTS: new URL(o.emulator.url).host,
    FOUNDRY_TIMEOUT_MS: '15000',
    ...o.extra,
  };
  const started = Date.now();
  const child = spawn(process.execPath, [ENTRY], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => {
    buffered += d;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    if (stderr.length < 4000) stderr += d;
  });
  let gone = false;
  void exited.then(() => (gone = true));
  let url: string | undefined;
  while (Date.now() - started < timeoutMs && !gone) {
    if (!url) {
      const port = logs.find((l) => l['event'] === 'bot.listening')?.['port'];
      if (typeof port === 'number') url = `http://127.0.0.1:${port}`;
    }
    if (url) {
      const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) })
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) {
        return {
          url,
          pid: child.pid ?? -1,
          readyMs: Date.now() - started,
          logs,
          exited,
          kill: (signal) => {
            child.kill(signal);
          },
        };
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`bot did not become ready: ${stderr.trim().slice(0, 1000) || 'no error output'}`);
}

/** SIGKILLs every bot process still running (afterAll, also after a failure). */
export async function killAllBots(): Promise<void> {
  const waits = [...live].map(
    (c) =>
      new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      }),
  );
  await Promise.all(waits);
}

/**
 * Every record in a container, by decoded key (BlobStateStore percent-encodes keys into blob names). Reads go
 * through BlobStateStore.get, so a record rewritten while we list is read whole; one deleted meanwhile is skipped.
 */
export async function readAllRecords(
  connectionString: string,
  container: string,
): Promise<Map<string, Record<string, unknown>>> {
  const client = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
  const store = new BlobStateStore({ connectionString, container });
  const out = new Map<string, Record<string, unknown>>();
  for await (const item of client.listBlobsFlat()) {
    const key = decodeURIComponent(item.name);
    const rec = await store.get<Record<string, unknown>>(key);
    if (rec) out.set(key, rec.value);
  }
  return out;
}

/** Counts keys by their prefix (`approval`, `thread`, `dedupe`, …). */
export function countByPrefix(keys: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const k of keys) {
    const p = k.slice(0, k.indexOf('/'));
    counts[p] = (counts[p] ?? 0) + 1;
  }
  return counts;
}

/** Polls `check` until it returns a value (not undefined) or the time is up. */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
