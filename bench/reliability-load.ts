/**
 * Benchmark (docs/reliability.md LOAD-01 / LOAD-02): `npm run bench`.
 *
 * 50 concurrent 1:1 conversations × 10 messages each, against the real bot (in this process), the Foundry
 * emulator (a child process, every response held 200 ms before its first event) and a fake Bot Connector.
 * Measures the bot's overhead (end-to-end time from POST to the final message at the connector, minus the
 * emulator's fixed latency), event-loop delay, and RSS across three back-to-back runs (leak check).
 *
 * Options (env): BENCH_CONVERSATIONS (50), BENCH_MESSAGES (10), BENCH_LATENCY_MS (200), BENCH_RUNS (3),
 * BENCH_CHECK=1 exits 1 when a LOAD-01/02 target is missed. Loopback only; bounded in count and time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as path from 'node:path';
import { startBot } from '../src/app';
import { loadConfig } from '../src/config/config';
import { silentLogger } from '../src/observability/logger';
import { startFakeBotConnector, type RecordedRequest } from '../test/support/fakes/fake-bot-connector';
import { messageActivity, postActivity } from '../test/support/fakes/activities';

const env = (k: string, d: number): number => {
  const v = Number(process.env[k]);
  return Number.isFinite(v) && v > 0 ? v : d;
};
const CONVERSATIONS = env('BENCH_CONVERSATIONS', 50);
const MESSAGES = env('BENCH_MESSAGES', 10);
const LATENCY_MS = env('BENCH_LATENCY_MS', 200);
const RUNS = env('BENCH_RUNS', 3);
const CHECK = process.env['BENCH_CHECK'] === '1';
const DEADLINE_MS = 120_000;

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function startEmulatorProcess(): Promise<{
  child: ChildProcess;
  url: string;
  projectEndpoint: string;
  identityEndpoint: string;
  identityHeader: string;
}> {
  const main = path.join(__dirname, '..', 'emulator', 'main.js');
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, EMULATOR_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('emulator did not start within 15 s')), 15_000);
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /Foundry emulator listening on .*/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code ?? 'signal'}`)));
  });
  const url = /listening on (http:\/\/[^\s]+)/.exec(line)?.[1] ?? '';
  const projectEndpoint = /project endpoint: ([^\s,)]+)/.exec(line)?.[1] ?? '';
  const identityEndpoint = /identity endpoint: ([^\s,)]+)/.exec(line)?.[1] ?? '';
  const identityHeader = /identity header: ([^\s,)]+)/.exec(line)?.[1] ?? '';
  return { child, url, projectEndpoint, identityEndpoint, identityHeader };
}

async function main(): Promise<void> {
  const emu = await startEmulatorProcess();
  const connector = await startFakeBotConnector();
  // Every response is held LATENCY_MS before its first event: the fixed "Foundry latency" of LOAD-01.
  await fetch(`${emu.url}/__emulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ faults: [{ kind: 'stall', afterEvents: 0, ms: LATENCY_MS, count: 1_000_000 }] }),
  });
  const config = loadConfig({
    NODE_ENV: 'development',
    PORT: '0',
    HOST: '127.0.0.1',
    FOUNDRY_PROJECT_ENDPOINT: emu.projectEndpoint,
    FOUNDRY_AGENT_NAME: 'helpdesk-agent',
    FOUNDRY_CREDENTIAL: 'managed_identity',
    STREAMING: 'false',
    MAX_QUEUED_TURNS: '20',
    LOG_LEVEL: 'error',
  });
  // The bot's real ManagedIdentityCredential, pointed at the emulator's identity endpoint.
  process.env['IDENTITY_ENDPOINT'] = emu.identityEndpoint;
  process.env['IDENTITY_HEADER'] = emu.identityHeader;
  const bot = await startBot(config, { log: silentLogger() });
  const endpoint = `${bot.url}/api/messages`;

  const seen = new Set<RecordedRequest>();
  const waitReply = (conv: string): Promise<RecordedRequest> =>
    connector
      .waitFor((r) => r.conversationId === conv && r.kind === 'message' && !seen.has(r), 30_000)
      .then((r) => {
        seen.add(r);
        return r;
      });

  const results: Record<string, unknown>[] = [];
  for (let run = 1; run <= RUNS; run++) {
    connector.reset();
    seen.clear();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const overheads: number[] = [];
    let errors = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONVERSATIONS }, async (_, c) => {
        const conversationId = `a:bench-${run}-${c}`;
        for (let m = 0; m < MESSAGES && Date.now() - started < DEADLINE_MS; m++) {
          const t0 = performance.now();
          const reply = waitReply(conversationId);
          const res = await postActivity(
            endpoint,
            messageActivity(`hello ${m}`, {
              serviceUrl: connector.url,
              conversationId,
              conversationType: 'personal',
            }),
          );
          if (res.status !== 200) errors++;
          try {
            await reply;
            overheads.push(performance.now() - t0 - LATENCY_MS);
          } catch {
            errors++;
          }
        }
      }),
    );
    loop.disable();
    await bot.relay.idle();
    const sorted = overheads.sort((a, b) => a - b);
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const r = {
      run,
      messages: overheads.length,
      errors,
      seconds: (Date.now() - started) / 1000,
      overheadMs: {
        p50: pct(sorted, 50),
        p95: pct(sorted, 95),
        p99: pct(sorted, 99),
        max: sorted[sorted.length - 1] ?? NaN,
      },
      eventLoopDelayMs: {
        p50: loop.percentile(50) / 1e6,
        p99: loop.percentile(99) / 1e6,
        max: loop.max / 1e6,
      },
      rssMB: process.memoryUsage().rss / 2 ** 20,
      heapUsedMB: process.memoryUsage().heapUsed / 2 ** 20,
    };
    results.push(r);
    process.stdout.write(
      `run ${run}: ${r.messages} msgs in ${r.seconds.toFixed(1)} s, errors ${errors}, overhead p50 ${r.overheadMs.p50.toFixed(1)} ms p95 ${r.overheadMs.p95.toFixed(1)} ms p99 ${r.overheadMs.p99.toFixed(1)} ms, ` +
        `event-loop p99 ${r.eventLoopDelayMs.p99.toFixed(1)} ms, RSS ${r.rssMB.toFixed(1)} MB${gc ? ' (after gc)' : ''}\n`,
    );
  }

  await bot.shutdown(2000);
  await connector.close();
  emu.child.kill('SIGTERM');

  const last = results[results.length - 1] as {
    overheadMs: { p95: number; p99: number };
    eventLoopDelayMs: { p99: number };
    errors: number;
    rssMB: number;
  };
  const prev = results[results.length - 2] as { rssMB: number } | undefined;
  const growth = prev ? last.rssMB - prev.rssMB : 0;
  const verdict = {
    'LOAD-01 overhead p95 < 50 ms': last.overheadMs.p95 < 50,
    'LOAD-01 overhead p99 < 150 ms': last.overheadMs.p99 < 150,
    'LOAD-01 event-loop p99 < 100 ms': last.eventLoopDelayMs.p99 < 100,
    'LOAD-01 0 errors': last.errors === 0,
    'LOAD-02 RSS growth run 2→3 < 10 MB': growth < 10,
  };
  process.stdout.write(
    `${JSON.stringify({ conversations: CONVERSATIONS, messages: MESSAGES, latencyMs: LATENCY_MS, results, rssGrowthLastRunMB: growth, verdict }, null, 2)}\n`,
  );
  if (CHECK && Object.values(verdict).some((v) => !v)) process.exit(1);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
