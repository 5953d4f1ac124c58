/**
 * The benchmark (`npm run bench`, issue 15): one instance's latency, capacity and memory, measured the way a
 * user would. `npm run bench` builds first; this file builds nothing.
 *
 * Processes: this one (load generator + fake Foundry + fake Bot Connector, bench/fakes.ts), the bot exactly as
 * `npm start` runs it (`node dist/src/index.js`, development mode: BOT_ID empty, inbound auth off; memory
 * storage; Foundry's token from the managed-identity endpoint through FOUNDRY_CREDENTIAL=default, i.e. the
 * DefaultAzureCredential chain production uses), and a bare botbuilder echo bot (bench/echo-bot.ts) as the
 * throughput baseline. Everything binds and sends to 127.0.0.1; every phase is bounded in turns and time.
 *
 * Figures (issue 15's table): first text after Foundry's first delta with a slow agent (first token after
 * 1.5 s) and a fast one (at once); final message after Foundry's last event at 20 concurrent chats;
 * throughput (instant answers, a new conversation per turn, 20 in flight) as a ratio to the echo bot; RSS at
 * start, after each run of new conversations, and after idle. Results: printed and written as JSON to
 * bench/results/latest.json (git-ignored: figures depend on the machine; the README quotes them).
 *
 * Env: BENCH_SMOKE=1 (seconds, for the smoke test), BENCH_OUT (JSON path), BENCH_CPU_PROF=1 (bot runs with
 * --cpu-prof; top self-time functions are summarised), BENCH_MEMORY_CONVERSATIONS (per run, default 7000),
 * BENCH_MEMORY_RUNS (3), BENCH_THROUGHPUT_SECONDS (10), BENCH_IDLE_MS (60000: V8 returns memory ~45 s after the load stops), BENCH_BOT_ENV (extra bot env,
 * `K=V,K=V`), BENCH_BOT_NODE_ARGS (extra node flags for the bot, e.g. `--heapsnapshot-signal=SIGUSR2`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startFakeFoundry, startLeanConnector } from './fakes';
import { LoadGenerator, type Scenario, type ScenarioResult } from './load';
import { summarizeProfile, type ProfileSummary } from './profile-summary';

const SMOKE = process.env['BENCH_SMOKE'] === '1';
const num = (k: string, full: number, smoke: number): number => {
  const v = Number(process.env[k]);
  return Number.isFinite(v) && v > 0 ? v : SMOKE ? smoke : full;
};
const MEMORY_CONVERSATIONS = num('BENCH_MEMORY_CONVERSATIONS', 7000, 40);
const MEMORY_RUNS = num('BENCH_MEMORY_RUNS', 3, 2);
const THROUGHPUT_MS = num('BENCH_THROUGHPUT_SECONDS', 10, 1.5) * 1000;
const IDLE_MS = num('BENCH_IDLE_MS', 60_000, 500);
const LATENCY_TURNS = num('BENCH_LATENCY_TURNS', 40, 4);
const CPU_PROF = process.env['BENCH_CPU_PROF'] === '1';
const ROOT = path.join(__dirname, '..', '..');
const RESULTS = path.join(ROOT, 'bench', 'results');
const OUT = process.env['BENCH_OUT'] ?? path.join(RESULTS, 'latest.json');

/** Children to kill if the benchmark fails half-way. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) if (c.exitCode === null) c.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] !== undefined ? Math.round((Number(m[1]) / 1024) * 10) / 10 : NaN;
}

async function waitReady(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function extraEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (process.env['BENCH_BOT_ENV'] ?? '').split(',')) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
  }
  return out;
}

function machine(): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    loadavg: os.loadavg().map((l) => Math.round(l * 100) / 100),
    node: process.version,
    at: new Date().toISOString(),
  };
}

const line = (s: string): boolean => process.stdout.write(`${s}\n`);
const fmt = (r: ScenarioResult, key: 'firstTextMs' | 'finalMs' | 'endToEndMs'): string =>
  `p50 ${r[key].p50} ms, p95 ${r[key].p95} ms, p99 ${r[key].p99} ms (n ${r[key].n})`;

async function main(): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  const profDir = path.join(RESULTS, 'profiles');
  if (CPU_PROF) {
    rmSync(profDir, { recursive: true, force: true });
    mkdirSync(profDir, { recursive: true });
  }
  const startMachine = machine();
  const foundry = await startFakeFoundry();
  const connector = await startLeanConnector();
  const [botPort, echoPort] = [await freePort(), await freePort()];
  const logFd = openSync(path.join(RESULTS, 'bot.log'), 'w');
  const bot = spawn(
    process.execPath,
    [
      ...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
      ...(process.env['BENCH_BOT_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
      path.join(ROOT, 'dist/src/index.js'),
    ],
    {
      env: {
        PATH: process.env['PATH'] ?? '',
        NODE_ENV: 'development',
        PORT: String(botPort),
        HOST: '127.0.0.1',
        BOT_ID: '',
        LOG_LEVEL: 'info',
        FOUNDRY_PROJECT_ENDPOINT: foundry.projectEndpoint,
        FOUNDRY_AGENT_NAME: 'helpdesk-agent',
        FOUNDRY_CREDENTIAL: 'default',
        IDENTITY_ENDPOINT: foundry.identityEndpoint,
        IDENTITY_HEADER: foundry.identityHeader,
        MAX_QUEUED_TURNS: '2',
        ...extraEnv(),
      },
      stdio: ['ignore', logFd, logFd],
    },
  );
  const echo = spawn(process.execPath, ['--no-deprecation', path.join(ROOT, 'dist/bench/echo-bot.js')], {
    env: { PATH: process.env['PATH'] ?? '', PORT: String(echoPort) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  live.add(bot).add(echo);
  const echoUrl = await new Promise<string>((resolve, reject) => {
    let buf = '';
    echo.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(buf);
      if (m?.[1]) resolve(m[1]);
    });
    echo.once('exit', (c) => reject(new Error(`echo bot exited with ${c}`)));
  });
  const botUrl = `http://127.0.0.1:${botPort}`;
  await waitReady(`${botUrl}/readyz`, bot);
  const rssStart = rssMiB(bot.pid);
  const load = new LoadGenerator(connector, foundry);
  const relayEndpoint = `${botUrl}/api/messages`;
  const echoEndpoint = `${echoUrl}/api/messages`;
  let conversations = 0;
  const runRelay = async (s: Scenario): Promise<ScenarioResult> => {
    const r = await load.run(relayEndpoint, s);
    conversations += s.newConversationPerTurn ? r.turns + r.errors : s.concurrency;
    return r;
  };

  const instant = { firstMs: 0, deltas: 5, gapMs: 0 };
  const throughput = (name: string, ms: number): Scenario => ({
    name,
    turns: 1_000_000,
    concurrency: 20,
    newConversationPerTurn: true,
    agent: instant,
    deadlineMs: ms,
  });
  // Warm-up (JIT, sockets, the first token): not reported.
  await load.run(echoEndpoint, { ...throughput('warmup-echo', 1000), turns: SMOKE ? 5 : 200 });
  await runRelay({ ...throughput('warmup-relay', 2000), turns: SMOKE ? 5 : 200 });

  const latency = (name: string, firstMs: number, concurrency: number, turns: number): Scenario => ({
    name,
    turns,
    concurrency,
    // A new conversation per turn: one conversation answering every ~0.5 s would exceed Teams' per-thread
    // limits (7 sends per 2 s) and measure the send pacer's waits, not the relay; users pause between turns.
    newConversationPerTurn: true,
    agent: { firstMs, deltas: 20, gapMs: 25 },
    deadlineMs: 120_000,
  });
  const slow = await runRelay(latency('first-text, agent first token after 1.5 s', 1500, 5, LATENCY_TURNS));
  line(`first text (slow agent): ${fmt(slow, 'firstTextMs')}  [load ${os.loadavg()[0]?.toFixed(2)}]`);
  const fast = await runRelay(latency('first-text, agent answering at once', 0, 5, LATENCY_TURNS));
  line(`first text (fast agent): ${fmt(fast, 'firstTextMs')}  [load ${os.loadavg()[0]?.toFixed(2)}]`);
  const final20 = await runRelay(latency('final message, 20 concurrent chats', 300, 20, LATENCY_TURNS * 5));
  line(`final message (20 chats): ${fmt(final20, 'finalMs')}  [load ${os.loadavg()[0]?.toFixed(2)}]`);

  const echoTp = await load.run(echoEndpoint, throughput('throughput, echo bot', THROUGHPUT_MS));
  const relayTp = await runRelay(throughput('throughput, relay', THROUGHPUT_MS));
  const echoTp2 = await load.run(echoEndpoint, throughput('throughput, echo bot (again)', THROUGHPUT_MS));
  const echoRate = (echoTp.turnsPerSecond + echoTp2.turnsPerSecond) / 2;
  const ratio = Math.round((relayTp.turnsPerSecond / echoRate) * 100) / 100;
  line(
    `throughput: relay ${relayTp.turnsPerSecond}/s (errors ${relayTp.errors}), echo ${echoTp.turnsPerSecond}/s and ${echoTp2.turnsPerSecond}/s, ratio ${ratio}  [load ${os.loadavg()[0]?.toFixed(2)}]`,
  );

  const memoryRuns: Array<{
    run: number;
    turns: number;
    errors: number;
    turnsPerSecond: number;
    conversations: number;
    rssMiB: number;
  }> = [];
  for (let run = 1; run <= MEMORY_RUNS; run++) {
    const r = await runRelay({
      ...throughput(`memory run ${run}`, 600_000),
      turns: MEMORY_CONVERSATIONS,
    });
    await new Promise((res) => setTimeout(res, 500));
    memoryRuns.push({
      run,
      turns: r.turns,
      errors: r.errors,
      turnsPerSecond: r.turnsPerSecond,
      conversations,
      rssMiB: rssMiB(bot.pid),
    });
    line(
      `memory run ${run}: ${r.turns} turns at ${r.turnsPerSecond}/s, ${conversations} conversations so far, RSS ${memoryRuns[memoryRuns.length - 1]?.rssMiB} MiB`,
    );
  }
  // RSS while idle, every 5 s: V8 gives memory back only some 45 s after allocation stops.
  const idleCurve: Array<{ s: number; rssMiB: number }> = [];
  for (let t = 0; t < IDLE_MS;) {
    const step = Math.min(5000, IDLE_MS - t);
    await new Promise((res) => setTimeout(res, step));
    t += step;
    idleCurve.push({ s: t / 1000, rssMiB: rssMiB(bot.pid) });
  }
  const rssIdle = rssMiB(bot.pid);
  line(
    `RSS: ${rssStart} MiB at start, ${rssIdle} MiB after ${conversations} conversations and ${IDLE_MS / 1000} s idle`,
  );

  const tokenRequests = foundry.tokenRequests();
  load.close();
  await Promise.all([stop(bot), stop(echo)]);
  await Promise.all([foundry.close(), connector.close()]);

  let profile: ProfileSummary | undefined;
  if (CPU_PROF) {
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (file) profile = summarizeProfile(path.join(profDir, file), 25);
  }
  const last = memoryRuns[memoryRuns.length - 1];
  const prev = memoryRuns[memoryRuns.length - 2];
  const results = {
    machine: { start: startMachine, end: machine() },
    smoke: SMOKE,
    botEnv: extraEnv(),
    figures: {
      firstTextSlowAgentMs: slow.firstTextMs,
      firstTextFastAgentMs: fast.firstTextMs,
      final20ChatsMs: final20.finalMs,
      throughput: {
        relayTurnsPerSecond: relayTp.turnsPerSecond,
        echoTurnsPerSecond: echoRate,
        ratio,
      },
      rssMiB: {
        start: rssStart,
        afterRuns: memoryRuns.map((m) => m.rssMiB),
        conversations,
        afterIdle: rssIdle,
        idleCurve,
        growthLastRun: last && prev ? Math.round((last.rssMiB - prev.rssMiB) * 10) / 10 : 0,
      },
    },
    targets: {
      'first text, slow agent: p99 <= 25 ms': slow.firstTextMs.p99 <= 25,
      'first text, fast agent: p99 <= 25 ms': fast.firstTextMs.p99 <= 25,
      'final message, 20 chats: p99 <= 25 ms': final20.finalMs.p99 <= 25,
      'throughput ratio >= 0.5': ratio >= 0.5,
      'RSS <= 250 MiB after the runs': rssIdle <= 250,
    },
    scenarios: [slow, fast, final20, echoTp, relayTp, echoTp2],
    memoryRuns,
    foundryTokenRequests: tokenRequests,
    ...(profile ? { profile } : {}),
  };
  writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
  line(JSON.stringify({ figures: results.figures, targets: results.targets }, null, 2));
  if (profile) {
    line('top self time (bot):');
    for (const f of profile.top) line(`  ${f.percent.toFixed(1).padStart(5)} %  ${f.name}`);
  }
  line(`results: ${OUT}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
