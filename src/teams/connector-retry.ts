import type { TurnContext } from 'botbuilder';
import type { Logger } from '../observability/logger';
import { classifyConnectorError } from './connector-errors';

/**
 * botbuilder's ConnectorClient runs on @azure/core-client, whose default pipeline has a retry policy (3 retries:
 * 429/503 after Retry-After, and 408/5xx/transport errors with exponential backoff, for every method). Measured
 * against the fake connector: a 500 or 502 on a message POST was re-sent ~0.8 s later, which can post the same
 * message twice (Bot Connector creates are not idempotent, docs/reliability.md §2.4/§2.5), and a 429 was retried by
 * the pipeline *and* by our code (nested retries). So the pipeline's Retry phase is removed from the turn's
 * connector client, and `withConnectorRetry` is the one retry policy for Bot Connector calls (docs/conventions.md C11).
 */
export function disablePipelineRetries(ctx: TurnContext): void {
  const key = (ctx.adapter as { ConnectorClientKey?: symbol } | undefined)?.ConnectorClientKey;
  if (key === undefined) return;
  type PipelineHolder = { client?: { pipeline?: { removePolicy(o: { phase: 'Retry' }): unknown } } };
  const client = ctx.turnState.get<PipelineHolder | undefined>(key);
  client?.client?.pipeline?.removePolicy({ phase: 'Retry' });
}

/** Attempts per call, the first included. */
const MAX_ATTEMPTS = 4;
const BACKOFF_BASE_MS = 250;
const MAX_HINT_MS = 60_000;

/**
 * Retries a Bot Connector call (docs/reliability.md §2.5, RES-07):
 * - 429 (the request was refused, so nothing was created): after `Retry-After` (capped at 60 s; 1 s if absent);
 * - 412 / 502 / 504: only for `update` (PUT of an existing activity is idempotent), jittered exponential backoff;
 * - a connection that was refused (nothing sent): once;
 * - anything else, notably a 500 or 502 on a create, is not retried: the message may already exist.
 */
export async function withConnectorRetry<T>(
  op: () => Promise<T>,
  kind: 'create' | 'update',
  log: Logger,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS) throw err;
      const f = classifyConnectorError(err);
      const refused = (err as { code?: unknown } | undefined)?.code === 'ECONNREFUSED';
      let waitMs: number | undefined;
      if (f.status === 429) waitMs = Math.min(f.retryAfterMs ?? 1000, MAX_HINT_MS);
      else if (kind === 'update' && (f.status === 412 || f.status === 502 || f.status === 504))
        waitMs = BACKOFF_BASE_MS * 2 ** (attempt - 1) * (1 - Math.random() * 0.25);
      else if (refused && attempt === 1) waitMs = BACKOFF_BASE_MS;
      if (waitMs === undefined) throw err;
      log.info('connector.retry', { kind, status: f.status, attempt, waitMs: Math.round(waitMs) });
      await sleep(waitMs);
    }
  }
}
