import type { Finding } from './report';

/**
 * How findings are printed: one line per finding (`PASS  check  summary`), the fix on the next line for each
 * non-pass, a count at the end; or JSON for scripts. Everything passes through {@link redact} first, so a
 * token, a secret from the configuration or a link's query can never reach stdout even if a message held one.
 */

const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
const URL_QUERY = /(https?:\/\/[^\s?#"']+)[?#][^\s"']*/gi;
const CONNECTION_SECRETS = /\b(AccountKey|SharedAccessSignature|SharedAccessKey)=[^;\s"]+/gi;

/** Removes tokens, `secrets` (exact values), connection-string keys and URL queries from `text`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out
    .replace(JWT, '***')
    .replace(BEARER, '$1 ***')
    .replace(CONNECTION_SECRETS, '$1=***')
    .replace(URL_QUERY, '$1?…');
}

const LABEL = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP', info: 'INFO' } as const;

/** Human-readable lines. */
export function formatText(title: string, findings: readonly Finding[], secrets: readonly string[]): string {
  const width = Math.max(8, ...findings.map((f) => f.check.length));
  const lines = [title];
  for (const f of findings) {
    lines.push(`${LABEL[f.status]}  ${f.check.padEnd(width)}  ${f.summary}`);
    if (f.fix !== undefined && (f.status === 'fail' || f.status === 'warn'))
      lines.push(`      ${' '.repeat(width)}  fix: ${f.fix}`);
  }
  const n = (s: Finding['status']): number => findings.filter((f) => f.status === s).length;
  lines.push(
    `${n('pass')} passed, ${n('warn')} warning(s), ${n('fail')} failed${n('skip') ? `, ${n('skip')} skipped` : ''}`,
  );
  return redact(lines.join('\n'), secrets);
}

/** JSON for scripts: `{ ok, findings }`. */
export function formatJson(findings: readonly Finding[], secrets: readonly string[]): string {
  const ok = !findings.some((f) => f.status === 'fail');
  return redact(JSON.stringify({ ok, findings }, null, 2), secrets);
}
