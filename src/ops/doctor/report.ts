/**
 * What the doctor and validate report (issue 13): one finding per check, PASS / WARN / FAIL (SKIP when a check
 * cannot run because an earlier one failed, INFO for facts), with a stable `cause` id for each non-pass and the
 * fix in one sentence. Findings never hold tokens, secrets or link queries (format.ts scrubs them again).
 */
type Status = 'pass' | 'warn' | 'fail' | 'skip' | 'info';

export interface Finding {
  /** The check, e.g. `config`, `foundry-token`, `agent`, `validate`. */
  check: string;
  status: Status;
  /** One line: what was found. */
  summary: string;
  /** Stable id of the cause for a non-pass (tests and scripts match on it), e.g. `foundry.role_missing`. */
  cause?: string;
  /** The fix, one sentence. */
  fix?: string;
}

export const pass = (check: string, summary: string): Finding => ({ check, status: 'pass', summary });
export const info = (check: string, summary: string): Finding => ({ check, status: 'info', summary });
export const skip = (check: string, summary: string): Finding => ({ check, status: 'skip', summary });

export const warn = (check: string, cause: string, summary: string, fix: string): Finding => ({
  check,
  status: 'warn',
  cause,
  summary,
  fix,
});

export const fail = (check: string, cause: string, summary: string, fix: string): Finding => ({
  check,
  status: 'fail',
  cause,
  summary,
  fix,
});

/** Exit code of the command: 1 when any finding failed. */
export function exitCodeOf(findings: readonly Finding[]): 0 | 1 {
  return findings.some((f) => f.status === 'fail') ? 1 : 0;
}

/** The oid, tid and app id a Foundry token names (read, not verified: for naming the caller only). */
export interface TokenIdentity {
  oid: string | undefined;
  tid: string | undefined;
  appId: string | undefined;
}

export function tokenIdentity(token: string): TokenIdentity {
  try {
    const p = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    return { oid: str(p['oid']), tid: str(p['tid']), appId: str(p['appid']) ?? str(p['azp']) };
  } catch {
    return { oid: undefined, tid: undefined, appId: undefined };
  }
}
