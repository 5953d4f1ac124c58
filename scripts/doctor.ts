import { existsSync, readFileSync } from 'node:fs';
import type { TokenCredential } from '@azure/identity';
import { formatJson, formatText } from '../src/ops/doctor/format';
import { exitCodeOf, type Finding } from '../src/ops/doctor/report';
import { runDoctor } from '../src/ops/doctor/run';
import { runValidate } from '../src/ops/doctor/validate';
import { parseEnvFile } from './package-app';

/**
 * `npm run doctor` (= build + `node dist/scripts/doctor.js`; on the App Service console
 * `node dist/scripts/doctor.js`): checks the bot's configuration, Foundry access, agent and tools, consent-link
 * hosts, storage, bot registration and user mode, one line each (PASS / WARN / FAIL, with the fix for each
 * non-pass). `--json` for scripts; exit code 1 on any FAIL. `--validate "<prompt>"` also runs the prompt against
 * the agent as the configured identity (README "Operating it"). `--env-file <path>` reads settings from a file
 * (e.g. devTools/bot.env written by `npm run dev`, or .localConfigs.playground) on top of the environment.
 * Nothing printed holds a token, a secret or a link's query; validate's consent link goes to stderr, on its own.
 */

const USAGE = `usage: npm run doctor -- [--json] [--env-file <path>] [--timeout-seconds N]
                      [--validate "<prompt>" [--approve] [--expect-consent] [--wait-seconds N] [--poll-seconds N]]`;

interface Args {
  json: boolean;
  envFile: string | undefined;
  validate: string | undefined;
  approve: boolean;
  expectConsent: boolean;
  waitSeconds: number;
  pollSeconds: number;
  timeoutSeconds: number;
  help: boolean;
}

class UsageError extends Error {}

function num(v: string | undefined, name: string): number {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n < 0)
    throw new UsageError(`${name} needs a number of seconds`);
  return n;
}

export function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    json: false,
    envFile: undefined,
    validate: undefined,
    approve: false,
    expectConsent: false,
    waitSeconds: 300,
    pollSeconds: 10,
    timeoutSeconds: 15,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    if (flag === '--json') a.json = true;
    else if (flag === '--help' || flag === '-h') a.help = true;
    else if (flag === '--approve') a.approve = true;
    else if (flag === '--expect-consent') a.expectConsent = true;
    else if (flag === '--env-file') a.envFile = value();
    else if (flag === '--validate') a.validate = value();
    else if (flag === '--wait-seconds') a.waitSeconds = num(value(), flag);
    else if (flag === '--poll-seconds') a.pollSeconds = num(value(), flag);
    else if (flag === '--timeout-seconds') a.timeoutSeconds = num(value(), flag);
    else throw new UsageError(`unknown argument "${arg}"`);
  }
  if (a.validate !== undefined && a.validate.trim() === '') throw new UsageError('--validate needs a prompt');
  return a;
}

export interface DoctorCliDeps {
  env?: Readonly<Record<string, string | undefined>>;
  out?: (text: string) => void;
  err?: (text: string) => void;
  credential?: TokenCredential;
  botCredential?: TokenCredential;
}

/** Runs the command; returns the exit code (0, or 1 on any FAIL; 2 for a usage error). */
export async function main(argv: readonly string[], deps: DoctorCliDeps = {}): Promise<number> {
  const out = deps.out ?? ((t: string): void => void process.stdout.write(`${t}\n`));
  const err = deps.err ?? ((t: string): void => void process.stderr.write(`${t}\n`));
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    err(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    out(USAGE);
    return 0;
  }
  let env: Record<string, string | undefined> = { ...(deps.env ?? process.env) };
  if (args.envFile !== undefined) {
    if (!existsSync(args.envFile)) {
      err(`env file ${args.envFile} not found`);
      return 2;
    }
    env = { ...env, ...Object.fromEntries(parseEnvFile(readFileSync(args.envFile, 'utf8'))) };
  }
  // @azure/identity reads IDENTITY_ENDPOINT / IDENTITY_HEADER / AZURE_* from process.env itself.
  if (args.envFile !== undefined && deps.env === undefined) Object.assign(process.env, env);
  const timeoutMs = args.timeoutSeconds * 1000;
  const result = await runDoctor({
    env,
    timeoutMs,
    ...(deps.credential ? { credential: deps.credential } : {}),
    ...(deps.botCredential ? { botCredential: deps.botCredential } : {}),
  });
  const findings: Finding[] = [...result.findings];
  if (args.validate !== undefined && result.config) {
    findings.push(
      ...(await runValidate({
        config: result.config,
        prompt: args.validate,
        waitSeconds: args.waitSeconds,
        pollSeconds: args.pollSeconds,
        approve: args.approve,
        expectConsent: args.expectConsent,
        showLink: (line) => err(line),
        ...(deps.credential ? { credential: deps.credential } : {}),
      })),
    );
  }
  out(
    args.json
      ? formatJson(findings, result.secrets)
      : formatText(`Doctor for agent ${result.config?.foundry.agentName ?? '?'}`, findings, result.secrets),
  );
  return exitCodeOf(findings);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`doctor: ${e instanceof Error ? e.name : 'error'}\n`);
      process.exit(1);
    },
  );
}
