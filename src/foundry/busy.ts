import type { Logger } from '../observability/logger';
import { delay } from './abortable';
import { fromOpenAIError } from './errors';

/** How {@link withBusyRetry} waits and how often. */
interface BusyPolicy {
  /** Extra attempts after the first (0 = none). */
  retries: number;
  /** First wait; doubled for each further attempt. A `Retry-After` on the refusal wins. */
  delayMs: number;
  /** The SDK's own retries for this call: when > 0 it has already retried a 409 itself. */
  sdkRetries: number;
}

/**
 * Runs `open` (a request that starts a turn) again while Foundry refuses it as busy: another response is
 * running on the conversation (OpenAI: 400 `conversation_locked`, "Another process is currently operating
 * on this conversation. Please retry in a few seconds."; Foundry's status is unconfirmed, so a 409 counts
 * too). Nothing was processed, so re-sending is safe, approval continuations included.
 *
 * Bounded by `retries`; each wait ends at once when `signal` aborts (the caller's turn, inside its thread
 * lease, owns the signal). A 409 is retried here only when the SDK's retries (which cover 409) are off for
 * the call, so the two loops never nest (docs/conventions.md C11). After the last attempt the refusal is thrown
 * as it came; the relay shows FOUNDRY_BUSY ("still working on your last message").
 */
export async function withBusyRetry<T>(
  open: () => Promise<T>,
  policy: BusyPolicy,
  log: Logger,
  signal: AbortSignal,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await open();
    } catch (e) {
      const err = fromOpenAIError(e);
      const sdkRetried = err.details['status'] === 409 && policy.sdkRetries > 0;
      if (err.code !== 'FOUNDRY_BUSY' || sdkRetried || attempt >= policy.retries || signal.aborted) throw e;
      const retryAfter = err.details['retryAfterMs'];
      const waitMs = typeof retryAfter === 'number' ? retryAfter : policy.delayMs * 2 ** attempt;
      log.info('foundry.busy_retry', {
        attempt: attempt + 1,
        waitMs,
        status: err.details['status'],
        requestId: err.details['requestId'],
      });
      await delay(waitMs, signal);
    }
  }
}
