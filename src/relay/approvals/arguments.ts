/**
 * Turns MCP tool arguments into readable key/value lines for an approval card (long values cut) and a capped
 * pretty JSON for "Show details". Keeps cards well under Teams' size guidance (docs/reliability.md §2.7).
 */
const MAX_LINES = 12;
const MAX_VALUE = 200;
const MAX_PRETTY = 2000;

export function argumentLines(args: unknown, raw: string): { key: string; value: string }[] {
  if (args === undefined) return [{ key: '(raw)', value: cut(raw) }];
  if (args === null || typeof args !== 'object' || Array.isArray(args))
    return [{ key: 'value', value: cut(JSON.stringify(args)) }];
  const entries = Object.entries(args as Record<string, unknown>);
  const lines = entries.slice(0, MAX_LINES).map(([key, v]) => ({
    key: cut(key, 60),
    value: cut(typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v))),
  }));
  if (entries.length > MAX_LINES) lines.push({ key: '…', value: `${entries.length - MAX_LINES} more` });
  return lines;
}

export function argumentsPretty(args: unknown, raw: string): string {
  const s = args === undefined ? raw : JSON.stringify(args, null, 2);
  return cut(s, MAX_PRETTY);
}

function cut(s: string, max = MAX_VALUE): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
