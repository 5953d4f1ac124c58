import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { BOT_MANAGED_IDENTITY_OID } from '../../emulator/identity';
import { startEmulator } from '../../emulator/server';
import { messageActivity } from '../support/fakes/activities';
import { startFakeBotConnector } from '../support/fakes/fake-bot-connector';
import { RESULTS, ROOT } from './setup';

/**
 * `npm run dev` as a process (node dist/scripts/dev.js, which `npm run dev` runs after the build): it starts
 * the three services, validates the Playground config, reports a busy port clearly, and leaves no process
 * behind after SIGTERM. Also `npm start` (the bot alone, as a hosting service runs it) against the emulator.
 */
jest.setTimeout(120_000);

const DEV = join(ROOT, 'dist', 'scripts', 'dev.js');
const LOGS = join(RESULTS, 'logs', 'dev');

interface Run {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

/** Pids of live processes whose environment carries this marker (children inherit it). */
function processesWithMark(mark: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(`DEV_TEST_MARK=${mark}`))
        found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

function runDev(env: Record<string, string>, mark = randomUUID()): Run & { mark: string } {
  let out = '';
  const proc = spawn(process.execPath, [DEV], {
    cwd: ROOT,
    env: { ...process.env, CI: '1', DEV_LOG_DIR: LOGS, DEV_TEST_MARK: mark, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, out: () => out, exited, mark };
}

async function waitForOutput(run: Run, re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(run.out());
    if (m) return m;
    if (run.proc.exitCode !== null || Date.now() > until)
      throw new Error(`no ${String(re)} in the output of dev.js:\n${run.out()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** pid → pgid of every process on the machine. */
function processTable(): Map<number, number> {
  const table = new Map<number, number>();
  for (const line of execFileSync('ps', ['-eo', 'pid=,pgid='], { encoding: 'utf8' }).split('\n')) {
    const [pid, pgid] = line.trim().split(/\s+/).map(Number);
    if (pid !== undefined && pgid !== undefined && !Number.isNaN(pid)) table.set(pid, pgid);
  }
  return table;
}

function childrenOf(pid: number): number[] {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => n > 0);
}

function occupy(): Promise<Server & { port: number }> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      resolve(Object.assign(s, { port: typeof a === 'object' && a ? a.port : 0 }));
    });
  });
}

beforeAll(() => {
  mkdirSync(LOGS, { recursive: true });
});

test('starts emulator, Playground and bot, prints the URL and prompts, and SIGTERM leaves no process behind', async () => {
  const run = runDev({ PORT: '0', DEV_EMULATOR_PORT: '0', DEV_PLAYGROUND_PORT: '0' });
  try {
    const [, pg = ''] = await waitForOutput(
      run,
      /Open the Teams Playground: (http:\/\/127\.0\.0\.1:\d+)\//,
      100_000,
    );
    expect(run.out()).toContain('"search my issues"');
    expect(run.out()).toContain('"create an issue"');
    const children = childrenOf(run.proc.pid ?? 0);
    expect(children).toHaveLength(3);
    // Each child leads its own process group.
    const table = processTable();
    for (const c of children) expect(table.get(c)).toBe(c);

    // The Playground runs with the repo's tenant (a bad config would have stopped it).
    const cfg = (await (await fetch(`${pg}/_internal/v1/testConfig`)).json()) as {
      config: {
        currentUser: { name: string };
        users: { id: string }[];
        groupChats: { name: string }[];
        teams: { channels: { name: string }[] }[];
      };
    };
    expect(cfg.config.currentUser.name).toBe('Ada Lovelace');
    expect(cfg.config.users).toHaveLength(5);
    expect(new Set(cfg.config.users.map((u) => u.id)).size).toBe(5);
    expect(cfg.config.groupChats.map((g) => g.name)).toEqual(['Ada and Ben']);
    expect(cfg.config.teams[0]?.channels.map((c) => c.name)).toEqual(['General', 'Helpdesk']);
    // The bot's output goes to the log folder.
    const botLog = readFileSync(join(LOGS, 'bot.log'), 'utf8');
    expect(botLog).toContain('"event":"bot.listening"');

    run.proc.kill('SIGTERM');
    await expect(run.exited).resolves.toBe(0);
    const after = processTable();
    const strays = [...after].filter(([pid, pgid]) => children.includes(pid) || children.includes(pgid));
    expect(strays).toEqual([]);
    expect(processesWithMark(run.mark)).toEqual([]);
    await expect(fetch(`${pg}/_debug/ping`)).rejects.toThrow();
  } finally {
    if (run.proc.exitCode === null) run.proc.kill('SIGKILL');
  }
});

test('a busy port stops it at once with a message naming the port and the variable', async () => {
  const busy = await occupy();
  try {
    const run = runDev({ PORT: String(busy.port), DEV_PLAYGROUND_PORT: '0' });
    await expect(run.exited).resolves.toBe(1);
    expect(run.out()).toContain(`Port ${busy.port} (bot) is already in use`);
    expect(run.out()).toContain('PORT=<port> npm run dev');

    const run2 = runDev({ PORT: '0', DEV_PLAYGROUND_PORT: String(busy.port) });
    await expect(run2.exited).resolves.toBe(1);
    expect(run2.out()).toContain(`Port ${busy.port} (Agents Playground) is already in use`);
    expect(run2.out()).toContain('DEV_PLAYGROUND_PORT=<port>');
  } finally {
    busy.close();
  }
});

test('an invalid Playground config is reported with the reason from its log, and nothing is left running', async () => {
  const bad = join(LOGS, 'bad-playground.yml');
  const good = readFileSync(join(ROOT, '.m365agentsplayground.yml'), 'utf8');
  // Only 4 users: the Playground requires exactly 5.
  writeFileSync(bad, good.replace(/ {2}- id: '29:farid'[\s\S]*?email: farid@contoso\.example\n/, ''));
  const run = runDev({
    PORT: '0',
    DEV_PLAYGROUND_PORT: '0',
    M365_AGENTS_PLAYGROUND_CONFIG_PATH: bad,
  });
  await expect(run.exited).resolves.toBe(1);
  expect(run.out()).toContain('The Agents Playground stopped while starting');
  expect(run.out()).toContain('must NOT have fewer than 5 items');
  expect(processesWithMark(run.mark)).toEqual([]);
});

test('npm start: the bot alone, configured as a hosting service would, answers through the emulator', async () => {
  const emulator = await startEmulator();
  const connector = await startFakeBotConnector();
  const free = await occupy();
  const port = free.port;
  await new Promise<void>((r) => free.close(() => r()));
  const bot = spawn('npm', ['start'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      NODE_ENV: 'development',
      PORT: String(port),
      HOST: '127.0.0.1',
      BOT_ID: '',
      FOUNDRY_PROJECT_ENDPOINT: emulator.projectEndpoint,
      FOUNDRY_AGENT_NAME: 'helpdesk-agent',
      FOUNDRY_CREDENTIAL: 'managed_identity',
      IDENTITY_ENDPOINT: emulator.identityEndpoint,
      IDENTITY_HEADER: emulator.identityHeader,
    },
  });
  let out = '';
  bot.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  bot.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => bot.once('exit', (code) => r(code)));
  try {
    const until = Date.now() + 60_000;
    for (;;) {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (ready === 200) break;
      if (Date.now() > until || bot.exitCode !== null) throw new Error(`the bot did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const res = await fetch(`http://127.0.0.1:${port}/api/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(messageActivity('hello', { serviceUrl: connector.url })),
    });
    expect(res.status).toBeLessThan(300);
    const reply = await connector.waitFor(
      (r) =>
        typeof r.activity?.text === 'string' && r.activity.text.includes("Hello! I'm the helpdesk agent"),
      30_000,
    );
    // The answer closes the 1:1 stream, or, when it was complete before the first streaming update was due
    // (the informative update is held briefly), goes out as one regular message.
    expect(['final', 'message']).toContain(reply.kind);
    // The bot authenticated with its managed identity at the emulator's identity endpoint.
    const log = (await (await fetch(`${emulator.url}/__emulator/log`)).json()) as {
      requests: { path: string; callerOid: string | null; status: number }[];
    };
    expect(log.requests.some((r) => r.path === '/msi/token' && r.status === 200)).toBe(true);
    expect(
      log.requests.some((r) => r.path.endsWith('/responses') && r.callerOid === BOT_MANAGED_IDENTITY_OID),
    ).toBe(true);
  } finally {
    if (bot.pid !== undefined) process.kill(-bot.pid, 'SIGTERM');
    await exited;
    await connector.close();
    await emulator.close();
  }
});
