import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The well-known Azurite development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
/** The well-known Azurite development account key. */
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running Azurite blob server on 127.0.0.1. */
export interface AzuriteHandle {
  /** `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=…;BlobEndpoint=http://127.0.0.1:<port>/devstoreaccount1;` */
  connectionString: string;
  /** `http://127.0.0.1:<port>/devstoreaccount1` */
  blobUrl: string;
  port: number;
  pid: number;
  /** Milliseconds from spawn until Azurite answered its first request. */
  startupMs: number;
  /** Kills the process (SIGTERM, then SIGKILL after 3 s) and removes its temp folder. Idempotent. */
  stop(): Promise<void>;
}

export interface StartAzuriteOptions {
  /** Keep data on disk in the temp folder instead of `--inMemoryPersistence` (default false). */
  persistent?: boolean;
  /** How long to wait for Azurite to answer (default 20 s; it usually takes 1–2 s). */
  timeoutMs?: number;
  /** Port attempts before giving up (another process may take the free port between probe and spawn). */
  attempts?: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function awaitChildEnd(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  child.kill('SIGTERM');
  if (!(await awaitChildEnd(child, 3000))) {
    child.kill('SIGKILL');
    await awaitChildEnd(child, 3000);
  }
}

/**
 * Answers true once *Azurite* (checked by its `Server` header, so a stranger that grabbed the port does not
 * count) serves requests on the port.
 */
async function isAzurite(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/${AZURITE_ACCOUNT}?comp=list`, {
      signal: AbortSignal.timeout(1000),
    });
    await res.arrayBuffer();
    return (res.headers.get('server') ?? '').startsWith('Azurite-Blob');
  } catch {
    return false;
  }
}

/**
 * Starts the Azurite blob service from this repo's node_modules (no global install, works in CI) on 127.0.0.1
 * and a free port, with telemetry off, quiet logs, no API-version check and loose header handling.
 * Data lives in memory (or in a temp folder with `persistent: true`) for as long as the process runs, so a test
 * can "restart the bot" (new store instances) while Azurite keeps the records.
 *
 * @throws Error if Azurite does not answer within `timeoutMs` on any of `attempts` ports (its stderr is included).
 */
export async function startAzurite(options: StartAzuriteOptions = {}): Promise<AzuriteHandle> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const attempts = options.attempts ?? 3;
  const main = require.resolve('azurite/dist/src/blob/main.js');
  let lastError = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'azurite-'));
    const port = await freePort();
    const args = [
      main,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      '--disableTelemetry',
      '--silent',
      '--skipApiVersionCheck',
      '--loose',
      // Azurite refuses --location together with --inMemoryPersistence; cwd is the temp folder either way.
      ...(options.persistent ? ['--location', dir] : ['--inMemoryPersistence']),
    ];
    const started = Date.now();
    const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      if (stderr.length < 4000) stderr += d;
    });
    let ready = false;
    while (!exited(child) && Date.now() - started < timeoutMs) {
      if (await isAzurite(port)) {
        ready = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (ready) {
      const startupMs = Date.now() - started;
      const blobUrl = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
      let stopped = false;
      return {
        connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobUrl};`,
        blobUrl,
        port,
        pid: child.pid ?? -1,
        startupMs,
        stop: async () => {
          if (stopped) return;
          stopped = true;
          await kill(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    await kill(child);
    await rm(dir, { recursive: true, force: true });
    lastError = stderr.includes('EADDRINUSE') ? `port ${port} in use` : stderr.trim() || 'no answer in time';
    if (!stderr.includes('EADDRINUSE') && Date.now() - started >= timeoutMs) break;
  }
  throw new Error(`Azurite did not start: ${lastError}`);
}
