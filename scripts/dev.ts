import { spawn, type ChildProcess } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

/**
 * `npm run dev` (= `npm run build && node dist/scripts/dev.js`): the local product in one command
 * (docs/local.md). Starts, each as a child process in its own process group:
 *   1. the Foundry emulator (emulator/) on DEV_EMULATOR_PORT (default 0 = a free port);
 *   2. the Microsoft 365 Agents Playground on DEV_PLAYGROUND_PORT (default 56150), with the tenant of
 *      .m365agentsplayground.yml (M365_AGENTS_PLAYGROUND_CONFIG_PATH);
 *   3. the bot on PORT (default 3978), pointed at the emulator through its managed-identity endpoint, with
 *      the Playground users as shared-consent admins.
 * It waits until each is ready, prints the Playground URL and prompts to try, and on Ctrl-C / SIGTERM stops
 * every process group. Everything binds to 127.0.0.1. Child output goes to devTools/*.log
 * (DEV_VERBOSE=1 also echoes it with a prefix).
 */

export const DEMO_PROMPTS: readonly { prompt: string; what: string }[] = [
  { prompt: 'hello', what: 'a short answer' },
  { prompt: 'docs', what: 'an answer with citations' },
  { prompt: 'long', what: 'a long answer, streamed' },
  { prompt: 'weather', what: 'a tool that needs no sign-in and no approval' },
  { prompt: 'search my issues', what: 'GitHub sign-in card (consent), then the tool result' },
  { prompt: 'create an issue', what: 'approval card: Approve or Deny the tool call' },
  { prompt: 'triage', what: 'two approvals in one card' },
];

const AGENT_NAME = 'helpdesk-agent';
const LOOPBACK = '127.0.0.1';

export interface PlaygroundUser {
  id: string;
  name: string;
  aadObjectId: string;
}

/** The part of the Playground's resolved config (`GET /_internal/v1/testConfig`) this script and the tests use. */
export interface PlaygroundConfig {
  tenantId: string;
  bot: { id: string; name: string };
  currentUser: PlaygroundUser;
  users: PlaygroundUser[];
  personalChat: { id: string };
  groupChats: { id: string; name: string; members: string[] }[];
  teams: { id: string; name: string; channels?: { id: string; name: string }[] }[];
}

export interface DevOptions {
  /** Repository root (where dist/, node_modules/ and the Playground config are). */
  root: string;
  emulatorPort: number;
  botPort: number;
  playgroundPort: number;
  /** Path of the Playground config, relative to root or absolute. */
  playgroundConfig: string;
  /** Folder for the child logs (devTools/ by default). */
  logDir: string;
  openBrowser: boolean;
  verbose: boolean;
  welcomePrompts: string;
  /** Printed progress lines. */
  say: (line: string) => void;
  /** Called with each child's pid (= its process group id) as soon as it is spawned. */
  onSpawn?: (pid: number) => void;
}

export interface DevStack {
  emulatorUrl: string;
  botUrl: string;
  playgroundUrl: string;
  config: PlaygroundConfig;
  /** Child process ids (each is also its process group id). */
  pids: number[];
  logDir: string;
  /** Resolves when any child exits on its own (a crash), with its name and code. */
  crashed: Promise<{ name: string; code: number | null }>;
  stop(): Promise<void>;
}

/** A failure with a message meant for the person at the terminal (no stack trace). */
export class DevError extends Error {
  override readonly name = 'DevError';
}

/** Reads the DEV_* / PORT environment into options. Invalid values are DevErrors naming the variable. */
export function optionsFromEnv(env: NodeJS.ProcessEnv, root: string, say: (l: string) => void): DevOptions {
  const port = (name: string, def: number): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new DevError(`${name}=${raw} is not a port number (0-65535).`);
    return n;
  };
  const headless =
    env['CI'] !== undefined || (process.platform === 'linux' && !env['DISPLAY'] && !env['WAYLAND_DISPLAY']);
  const truthy = (v: string | undefined): boolean =>
    v !== undefined && ['1', 'true', 'yes'].includes(v.trim().toLowerCase());
  return {
    root,
    emulatorPort: port('DEV_EMULATOR_PORT', 0),
    botPort: port('PORT', 3978),
    playgroundPort: port('DEV_PLAYGROUND_PORT', 56150),
    playgroundConfig: env['M365_AGENTS_PLAYGROUND_CONFIG_PATH'] ?? './.m365agentsplayground.yml',
    logDir: resolve(root, env['DEV_LOG_DIR'] ?? 'devTools'),
    openBrowser: truthy(env['DEV_OPEN_BROWSER']) && !headless,
    verbose: truthy(env['DEV_VERBOSE']),
    welcomePrompts: env['WELCOME_PROMPTS'] ?? DEMO_PROMPTS.map((p) => p.prompt).join(','),
    say,
  };
}

/** Whether 127.0.0.1:port can be bound right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once('error', () => done(false));
    s.listen(port, LOOPBACK, () => s.close(() => done(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, LOOPBACK, () => {
      const a = s.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      s.close(() => done(p));
    });
  });
}

async function checkPort(port: number, what: string, variable: string): Promise<void> {
  if (port === 0 || (await portFree(port))) return;
  throw new DevError(
    `Port ${port} (${what}) is already in use on ${LOOPBACK}. ` +
      `Stop whatever uses it, or choose another port: ${variable}=<port> npm run dev` +
      (variable === 'PORT' ? '' : ` (${variable}=0 picks a free port)`),
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether `p` settles within `ms` (the timer never outlives the race). */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
  /** Resolves with the first output line that matches. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  tail(): string;
}

function startChild(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  o: Pick<DevOptions, 'root' | 'verbose' | 'onSpawn'>,
  log: WriteStream,
): Child {
  // detached: its own process group, so stop() can signal the child and anything it spawned.
  const proc = spawn(process.execPath, args, {
    cwd: o.root,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid !== undefined) o.onSpawn?.(proc.pid);
  const lines: string[] = [];
  const waiters: { re: RegExp; done: (m: RegExpExecArray) => void }[] = [];
  const onData = (chunk: Buffer): void => {
    log.write(chunk);
    for (const line of chunk.toString('utf8').split(/\r?\n/)) {
      if (line.trim() === '') continue;
      lines.push(line);
      if (lines.length > 50) lines.shift();
      if (o.verbose) process.stdout.write(`[${name}] ${line}\n`);
      for (const w of [...waiters]) {
        const m = w.re.exec(line);
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.done(m);
        }
      }
    }
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<number | null>((done) => {
    proc.once('exit', (code, signal) => done(code ?? (signal ? 128 : null)));
    proc.once('error', () => done(127));
  });
  return {
    name,
    proc,
    exited,
    tail: () => lines.slice(-10).join('\n'),
    waitForLine(re, timeoutMs) {
      const seen = lines.map((l) => re.exec(l)).find((m): m is RegExpExecArray => m !== null);
      if (seen) return Promise.resolve(seen);
      return new Promise((done, fail) => {
        const timer = setTimeout(
          () =>
            fail(
              new DevError(`${name} did not start within ${timeoutMs / 1000}s. Last output:\n${this.tail()}`),
            ),
          timeoutMs,
        );
        waiters.push({
          re,
          done: (m) => {
            clearTimeout(timer);
            done(m);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          fail(
            new DevError(
              `${name} exited with code ${String(code)} while starting. Last output:\n${this.tail()}`,
            ),
          );
        });
      });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Signals a child's whole process group; SIGKILL after `graceMs`. */
async function stopChild(c: Child, graceMs: number): Promise<void> {
  const pid = c.proc.pid;
  if (pid === undefined) return;
  const signalGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      // already gone
    }
  };
  signalGroup('SIGTERM');
  const killed = await within(c.exited, graceMs);
  if (!killed) signalGroup('SIGKILL');
  // The leader may be gone while others in its group live on: make sure the group is empty.
  for (let i = 0; i < 20; i++) {
    try {
      process.kill(-pid, 0);
    } catch {
      return;
    }
    if (i === 10) signalGroup('SIGKILL');
    await sleep(100);
  }
}

async function waitHttp(
  url: string,
  ok: (body: string) => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok && ok(await r.text())) return;
    } catch {
      // not up yet
    }
    if (Date.now() > until)
      throw new DevError(`${what} did not become ready at ${url} within ${timeoutMs / 1000}s.`);
    await sleep(250);
  }
}

/** The reason a Playground start failed, from its log file (it exits 1 and writes the reason only there). */
function playgroundFailure(logFile: string): string {
  if (!existsSync(logFile)) return '';
  const lines = readFileSync(logFile, 'utf8').split('\n');
  const reasons = lines.filter((l) => /^error /.test(l)).slice(-3);
  return reasons.length > 0 ? `\n${reasons.join('\n')}` : '';
}

/**
 * The Playground binds every interface and has no host option. This preamble (run with `node -e`) makes
 * `server.listen(port[, cb])` bind 127.0.0.1, then runs its CLI: nothing is reachable from other machines.
 */
function loopbackLauncher(cli: string): string {
  return [
    "const net = require('net');",
    'const listen = net.Server.prototype.listen;',
    'net.Server.prototype.listen = function (...a) {',
    "  if ((typeof a[0] === 'number' || (typeof a[0] === 'string' && /^\\d+$/.test(a[0]))) &&",
    "      (a.length === 1 || typeof a[1] === 'function')) a.splice(1, 0, '127.0.0.1');",
    '  return listen.apply(this, a);',
    '};',
    `process.argv.splice(1, 0, ${JSON.stringify(cli)});`,
    `require(${JSON.stringify(cli)});`,
  ].join('\n');
}

export async function startDev(o: DevOptions): Promise<DevStack> {
  const dist = (p: string): string => {
    const f = join(o.root, 'dist', p);
    if (!existsSync(f))
      throw new DevError(`${f} is missing: run \`npm run build\` first (npm run dev does).`);
    return f;
  };
  const emulatorMain = dist('emulator/main.js');
  const botMain = dist('src/index.js');
  const pgPkg = join(o.root, 'node_modules/@microsoft/m365agentsplayground/package.json');
  if (!existsSync(pgPkg)) throw new DevError('The Agents Playground is not installed: run `npm ci`.');
  const pgCli = join(o.root, 'node_modules/@microsoft/m365agentsplayground/cli.js');
  const configPath = resolve(o.root, o.playgroundConfig);
  if (!existsSync(configPath))
    throw new DevError(`Playground config ${configPath} not found (M365_AGENTS_PLAYGROUND_CONFIG_PATH).`);

  // Every fixed port is checked before anything starts, so a busy port leaves nothing behind.
  await checkPort(o.botPort, 'bot', 'PORT');
  await checkPort(o.emulatorPort, 'Foundry emulator', 'DEV_EMULATOR_PORT');
  await checkPort(o.playgroundPort, 'Agents Playground', 'DEV_PLAYGROUND_PORT');
  const botPort = o.botPort === 0 ? await freePort() : o.botPort;

  mkdirSync(o.logDir, { recursive: true });
  const logs: WriteStream[] = [];
  const logStream = (file: string): WriteStream => {
    const s = createWriteStream(join(o.logDir, file), { flags: 'w' });
    logs.push(s);
    return s;
  };
  const children: Child[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Reverse start order: the bot first (it drains), then the Playground and the emulator.
      await Promise.all(children.reverse().map((c) => stopChild(c, c.name === 'bot' ? 12_000 : 5_000)));
      await Promise.all(logs.map((l) => new Promise<void>((r) => l.end(() => r()))));
    })();
    return stopping;
  };
  const baseEnv: NodeJS.ProcessEnv = { ...process.env };
  delete baseEnv['npm_lifecycle_event'];

  try {
    // 1. Foundry emulator.
    const emulator = startChild(
      'emulator',
      [emulatorMain],
      { ...baseEnv, EMULATOR_PORT: String(o.emulatorPort) },
      o,
      logStream('emulator.log'),
    );
    children.push(emulator);
    const em = await emulator.waitForLine(
      /Foundry emulator listening on (http:\/\/[^\s]+) \(project endpoint: ([^,]+), identity endpoint: ([^,]+), identity header: ([0-9a-f]+)\)/,
      30_000,
    );
    const [, emulatorUrl = '', projectEndpoint = '', identityEndpoint = '', identityHeader = ''] = em;
    o.say(`✓ Foundry emulator  ${emulatorUrl}`);

    // 2. Agents Playground (before the bot: its resolved config names the users the bot must know).
    const pgLog = join(o.logDir, 'm365agentsplayground.log');
    const playground = startChild(
      'playground',
      [
        '-e',
        loopbackLauncher(pgCli),
        '--',
        '-e',
        `http://${LOOPBACK}:${botPort}/api/messages`,
        '-c',
        'msteams',
        '-p',
        String(o.playgroundPort),
        '--disable-telemetry',
      ],
      {
        ...baseEnv,
        M365_AGENTS_PLAYGROUND_CONFIG_PATH: configPath,
        M365_AGENTS_PLAYGROUND_LOGFILE: pgLog,
        ...(o.openBrowser ? {} : { TEAMSAPPTESTER_BROWSER: 'none' }),
      },
      o,
      logStream('playground.out.log'),
    );
    children.push(playground);
    const listening = await playground.waitForLine(/^Listening on (\d+)/, 60_000);
    const pgPort = Number(listening[1]);
    if (o.playgroundPort !== 0 && pgPort !== o.playgroundPort)
      o.say(`! Port ${o.playgroundPort} was taken, the Playground picked ${pgPort} (DEV_PLAYGROUND_PORT).`);
    const playgroundUrl = `http://${LOOPBACK}:${pgPort}`;
    let config: PlaygroundConfig;
    try {
      await Promise.race([
        waitHttp(`${playgroundUrl}/_debug/ping`, (b) => b.includes('pong'), 30_000, 'The Agents Playground'),
        playground.exited.then((code) => {
          throw new DevError(`exited with code ${String(code)}`);
        }),
      ]);
      // A bad config makes the Playground exit shortly after "Listening on": give it a moment to do so.
      const res = await fetch(`${playgroundUrl}/_internal/v1/testConfig`);
      config = ((await res.json()) as { config: PlaygroundConfig }).config;
      await within(playground.exited, 500);
      if (!alive(playground.proc.pid ?? 0) || !config.currentUser) throw new DevError('exited');
    } catch {
      await stop();
      throw new DevError(
        `The Agents Playground stopped while starting (config ${configPath}).` +
          `${playgroundFailure(pgLog)}\nFull log: ${pgLog}`,
      );
    }
    o.say(`✓ Agents Playground ${playgroundUrl}/`);

    // 3. The bot, as `npm start` runs it, pointed at the emulator.
    const admins = [config.currentUser, ...config.users].map((u) => u.aadObjectId);
    const emulatorHost = new URL(emulatorUrl).host;
    const botSettings: Record<string, string> = {
      NODE_ENV: 'development',
      PORT: String(botPort),
      HOST: LOOPBACK,
      BOT_ID: '',
      BOT_PASSWORD: '',
      FOUNDRY_PROJECT_ENDPOINT: projectEndpoint,
      FOUNDRY_AGENT_NAME: AGENT_NAME,
      FOUNDRY_AUTH: 'app',
      FOUNDRY_CREDENTIAL: 'managed_identity',
      IDENTITY_ENDPOINT: identityEndpoint,
      IDENTITY_HEADER: identityHeader,
      CONSENT_LINK_HOSTS: emulatorHost,
      SHARED_CONSENT_ADMINS: admins.join(','),
      WELCOME_PROMPTS: o.welcomePrompts,
      STORAGE: 'memory',
    };
    // The bot's settings, for `npm run doctor -- --env-file devTools/bot.env` (README "Operating it").
    writeFileSync(
      join(o.logDir, 'bot.env'),
      Object.entries(botSettings)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') + '\n',
      { mode: 0o600 },
    );
    const bot = startChild('bot', [botMain], { ...baseEnv, ...botSettings }, o, logStream('bot.log'));
    children.push(bot);
    const botUrl = `http://${LOOPBACK}:${botPort}`;
    await Promise.race([
      waitHttp(`${botUrl}/readyz`, () => true, 60_000, 'The bot'),
      bot.exited.then((code) => {
        throw new DevError(
          `The bot exited with code ${String(code)} while starting. Last output:\n${bot.tail()}`,
        );
      }),
    ]);
    o.say(`✓ Bot               ${botUrl}/api/messages`);

    const crashed = Promise.race(children.map((c) => c.exited.then((code) => ({ name: c.name, code }))));
    return {
      emulatorUrl,
      botUrl,
      playgroundUrl,
      config,
      pids: children.map((c) => c.proc.pid).filter((p): p is number => p !== undefined),
      logDir: o.logDir,
      crashed,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export function banner(s: DevStack): string {
  const bot = s.config.bot.name;
  const group = s.config.groupChats[0]?.name ?? 'the group chat';
  const width = Math.max(...DEMO_PROMPTS.map((p) => p.prompt.length)) + 2;
  return [
    '',
    `Local product is ready. Open the Teams Playground: ${s.playgroundUrl}/`,
    `  You are ${s.config.currentUser.name}. "Personal Chat" is your 1:1 chat with ${bot};`,
    `  in "${group}" and the team channels, @mention ${bot} (type @${bot.slice(0, 3)} and pick it).`,
    '',
    'Try these prompts:',
    ...DEMO_PROMPTS.map((p) => `  ${`"${p.prompt}"`.padEnd(width + 2)} ${p.what}`),
    "  /help, /status, /new   the bot's own commands",
    '',
    `Foundry emulator: ${s.emulatorUrl} (request log: ${s.emulatorUrl}/__emulator/log)`,
    `Bot:              ${s.botUrl}/api/messages`,
    `Logs:             ${s.logDir}/{bot,emulator,m365agentsplayground}.log`,
    'Press Ctrl-C to stop everything.',
    '',
  ].join('\n');
}

/** Stops process groups by id (used while start-up is still running, when no DevStack exists yet). */
async function killGroups(pids: readonly number[], signal: NodeJS.Signals): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(-pid, signal);
    } catch {
      // gone
    }
  }
  for (let i = 0; i < 50 && pids.some((p) => alive(p)); i++) await sleep(100);
}

async function main(): Promise<void> {
  const root = resolve(__dirname, '..', '..');
  const say = (l: string): void => {
    process.stdout.write(`${l}\n`);
  };
  const pids: number[] = [];
  let stack: DevStack | undefined;
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) {
      // A second Ctrl-C: do not wait for the bot to drain.
      void killGroups(pids, 'SIGKILL').then(() => process.exit(130));
      return;
    }
    signalled = true;
    say(`\n${sig}: stopping…`);
    const stopped = stack
      ? stack.stop()
      : killGroups(pids, 'SIGTERM').then(() => killGroups(pids, 'SIGKILL'));
    void stopped.then(() => {
      say('Stopped.');
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    // Last resort (e.g. an exception): never leave a child behind.
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });

  say('Starting the local product (Foundry emulator, Agents Playground, bot)…');
  try {
    stack = await startDev({ ...optionsFromEnv(process.env, root, say), onSpawn: (pid) => pids.push(pid) });
  } catch (err) {
    if (signalled) return; // Ctrl-C during start-up: onSignal stops the rest and exits.
    throw err;
  }
  if (signalled) {
    await stack.stop();
    return;
  }
  say(banner(stack));
  const crash = await stack.crashed;
  if (signalled) return;
  process.stderr.write(
    `The ${crash.name} stopped unexpectedly (exit code ${String(crash.code)}); see ${stack.logDir}. Stopping the rest.\n`,
  );
  await stack.stop();
  process.exit(1);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`npm run dev: ${err instanceof DevError ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
