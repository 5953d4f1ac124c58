import { randomBytes, createHash } from 'node:crypto';

/**
 * Structured one-line JSON logging with redaction on by default (docs/conventions.md C12, docs/reliability.md §2.10).
 *
 * - Keys that name secrets or private content (tokens, passwords, consent links, user text, tool arguments)
 *   are replaced by `[redacted]` whatever their value.
 * - Any string value is scrubbed of bearer tokens, JWT-shaped strings, URL query strings and registered
 *   secret values (e.g. the bot password), so a secret that slips into an error message is still caught.
 * - Every record is exactly one line: CR, LF, U+2028/U+2029 and other control characters are escaped.
 */
type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** An audit record (who decided what, when). Never contains argument values. */
  audit(event: string, fields: LogFields): void;
  child(component: string, fields?: LogFields): Logger;
}

/** Where records go. The default writes to stdout; tests pass a capturing sink. */
export type LogSink = (line: string) => void;

export interface LoggerOptions {
  level?: LogLevel;
  sink?: LogSink;
  /** Exact secret values to scrub anywhere they appear (bot password, client secrets). */
  secrets?: readonly string[];
  clock?: () => number;
}

const SECRET_KEY =
  /(authorization|token|password|secret|credential|cookie|consent_?link|consentlink|consent_?url|assertion|api_?key|^text$|^input$|user_?text|arguments|^args$|^body$|^value$)/i;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const URL_QUERY = /(https?:\/\/[^\s?#"']+)\?[^\s"']*/gi;
// Escapes control characters and the JSON-legal line separators that would split a record.

const LINE_BREAKERS = /[\u0000-\u001f\u007f\u2028\u2029]/g;

function scrubString(s: string, secrets: readonly string[]): string {
  let out = s;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out
    .replace(BEARER, '$1 [redacted]')
    .replace(JWT, '[redacted-jwt]')
    .replace(URL_QUERY, '$1?[redacted]')
    .replace(LINE_BREAKERS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function sanitize(value: unknown, secrets: readonly string[], depth: number, seen: WeakSet<object>): unknown {
  if (value === null || value === undefined) return value;
  if (typeof value === 'string')
    return scrubString(value.length > 2000 ? `${value.slice(0, 2000)}…` : value, secrets);
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return `[${typeof value}]`;
  if (depth > 6) return '[depth]';
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (value instanceof Error) {
    // Only the name, a code when present and a scrubbed message: never the stack or the cause chain.
    const code = (value as { code?: unknown }).code;
    return {
      name: value.name,
      ...(typeof code === 'string' ? { code } : {}),
      message: scrubString(value.message.slice(0, 500), secrets),
    };
  }
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => sanitize(v, secrets, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEY.test(k)
      ? v === undefined || v === null
        ? v
        : '[redacted]'
      : sanitize(v, secrets, depth + 1, seen);
  }
  return out;
}

class JsonLogger implements Logger {
  constructor(
    private readonly opts: Required<LoggerOptions>,
    private readonly base: LogFields,
  ) {}

  private write(level: LogLevel | 'audit', event: string, fields: LogFields | undefined): void {
    if (level !== 'audit' && LEVELS[level] < LEVELS[this.opts.level]) return;
    const record = sanitize(
      { t: new Date(this.opts.clock()).toISOString(), level, event, ...this.base, ...(fields ?? {}) },
      this.opts.secrets,
      0,
      new WeakSet(),
    );
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch {
      line = JSON.stringify({ level, event, note: 'unserialisable fields dropped' });
    }
    this.opts.sink(line.replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`));
  }

  debug(event: string, fields?: LogFields): void {
    this.write('debug', event, fields);
  }
  info(event: string, fields?: LogFields): void {
    this.write('info', event, fields);
  }
  warn(event: string, fields?: LogFields): void {
    this.write('warn', event, fields);
  }
  error(event: string, fields?: LogFields): void {
    this.write('error', event, fields);
  }
  audit(event: string, fields: LogFields): void {
    this.write('audit', event, fields);
  }
  child(component: string, fields?: LogFields): Logger {
    const prefix = typeof this.base['component'] === 'string' ? `${this.base['component']}.` : '';
    return new JsonLogger(this.opts, { ...this.base, ...(fields ?? {}), component: `${prefix}${component}` });
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return new JsonLogger(
    {
      level: options.level ?? 'info',
      sink: options.sink ?? ((line) => process.stdout.write(`${line}\n`)),
      secrets: options.secrets ?? [],
      clock: options.clock ?? Date.now,
    },
    {},
  );
}

/** A logger that drops everything (for benchmarks). */
export function silentLogger(): Logger {
  return createLogger({ sink: () => undefined, level: 'error' });
}

/** Short random id users can quote to support; it is logged with the failure it names. */
export function newCorrelationId(): string {
  return randomBytes(6).toString('hex');
}

/** A stable, non-reversible short hash for ids we want to correlate without logging them (tenants, users). */
export function hashId(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 12);
}
