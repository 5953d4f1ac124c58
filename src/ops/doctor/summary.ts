import type { TokenCredential } from '@azure/identity';
import { configSecrets, type Config } from '../../config/config';
import { redact } from './format';
import type { Finding } from './report';
import { runChecks } from './run';

/** The admin `/status` re-runs the doctor at most this often (each run calls Foundry, storage and Entra). */
const SUMMARY_TTL_MS = 5 * 60_000;
/** Per network step in `/status`: the command answers within seconds even when a dependency hangs. */
const STEP_TIMEOUT_MS = 5_000;

export interface SummaryDeps {
  config: Config;
  /** The Foundry credential the bot uses. */
  credential: TokenCredential;
  clock?: () => number;
  /** Checks 2–7 (tests inject findings). */
  check?: () => Promise<Finding[]>;
}

/**
 * The doctor's short summary for the admin `/status` (RelayDeps.diagnostics): the counts, then each WARN and
 * FAIL with its fix, redacted like the command's output. Cached for five minutes; runs one at a time.
 */
export function doctorSummary(d: SummaryDeps): () => Promise<string[]> {
  const clock = d.clock ?? Date.now;
  const check = d.check ?? (() => runChecks(d.config, { credential: d.credential }, STEP_TIMEOUT_MS));
  const secrets = configSecrets(d.config);
  let last: { at: number; findings: Finding[] } | undefined;
  let running: Promise<Finding[]> | undefined;
  return async () => {
    if (!last || clock() - last.at > SUMMARY_TTL_MS) {
      running ??= check().finally(() => (running = undefined));
      last = { at: clock(), findings: await running };
    }
    return summaryLines(last.findings, Math.round((clock() - last.at) / 1000), secrets);
  };
}

function summaryLines(
  findings: readonly Finding[],
  ageSeconds: number,
  secrets: readonly string[],
): string[] {
  const count = (s: Finding['status']): number => findings.filter((f) => f.status === s).length;
  const lines = [
    `Doctor: ${count('pass')} passed, ${count('warn')} warning(s), ${count('fail')} failed (checked ${ageSeconds} s ago; npm run doctor for details)`,
  ];
  for (const f of findings.filter((x) => x.status === 'warn' || x.status === 'fail'))
    lines.push(`${f.status.toUpperCase()} ${f.check}: ${f.summary}${f.fix ? ` Fix: ${f.fix}` : ''}`);
  return lines.map((l) => redact(l, secrets));
}
