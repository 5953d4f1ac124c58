import { BotError, isBotError, isRetryable, userMessageFor, type BotErrorCode } from '../errors';
import { newCorrelationId, type Logger } from '../observability/logger';
import type { FinalAnswer } from './model';
import type { AnswerStream, ConversationIO, StreamOutcome } from './ports';
import type { CardView, InvokeAnswer, NoticeCardView, Refusal } from './views';

/**
 * How failures reach users: an error card with a short text from src/errors.ts, a reference id that matches
 * the log, and a Retry button where retrying makes sense; and how refused card clicks are answered.
 */

export function notice(title: string, ...lines: string[]): NoticeCardView {
  return { kind: 'notice', title, lines };
}

function errorCard(code: BotErrorCode, correlationId: string, retryText: string | undefined): CardView {
  return {
    kind: 'error',
    code,
    text: userMessageFor(code),
    correlationId,
    ...(retryText !== undefined && isRetryable(code) ? { retryText } : {}),
  };
}

/** Any error, as a BotError (unknown errors become INTERNAL; their text never reaches users). */
function asBotError(err: unknown): BotError {
  return isBotError(err) ? err : new BotError('INTERNAL', 'unexpected failure', { cause: err });
}

/** Logs the failure with a new correlation id and shows the error card (a send failure is logged too). */
export async function reportFailure(
  io: ConversationIO,
  log: Logger,
  err: unknown,
  retryText: string | undefined,
): Promise<void> {
  const error = asBotError(err);
  const correlationId = newCorrelationId();
  log.error('turn.error', {
    correlationId,
    code: error.code,
    err: isBotError(err) ? err : { name: (err as Error | undefined)?.name ?? 'unknown' },
  });
  try {
    await io.sendCard(errorCard(error.code, correlationId, retryText));
  } catch (sendErr) {
    log.error('turn.error_not_delivered', { correlationId, err: sendErr });
  }
}

/**
 * A final answer Teams did not take is never silent (finish → `failed`): the error card with the turn's
 * reference id, and Retry where there is a message to send again (docs/real-services.md, Teams).
 */
export async function reportUndelivered(
  io: ConversationIO,
  log: Logger,
  outcome: StreamOutcome,
  correlationId: string,
  retryText: string | undefined,
): Promise<void> {
  if (outcome !== 'failed') return;
  log.error('turn.answer_not_delivered', { correlationId });
  try {
    await io.sendCard(errorCard('ANSWER_NOT_DELIVERED', correlationId, retryText));
  } catch (err) {
    log.error('turn.error_not_delivered', { correlationId, err });
  }
}

/**
 * Ends a turn that failed: text already streamed is kept and marked interrupted (a drain also tells the user
 * to send again); without text the stream is closed and the error card shown.
 */
export async function finishOrError(
  io: ConversationIO,
  log: Logger,
  answer: AnswerStream,
  code: BotErrorCode,
  partial: Omit<FinalAnswer, 'note'> & { correlationId: string },
  retryText: string | undefined,
): Promise<void> {
  if (partial.text.length > 0) {
    const outcome = await answer.finish({ ...partial, note: 'interrupted' });
    await reportUndelivered(io, log, outcome, partial.correlationId, retryText);
    if (code === 'SHUTTING_DOWN') await io.sendText(userMessageFor('SHUTTING_DOWN'));
    return;
  }
  await answer.abandon();
  await io.sendCard(errorCard(code, partial.correlationId, retryText));
}

/**
 * A refused click (403 not allowed, 404 unknown or from another conversation, 410 expired) carries a short
 * message that Teams shows under the unchanged card; "already decided" returns the current card instead.
 */
export function refuse(card: CardView, refusal: Refusal): InvokeAnswer {
  if (refusal === 'already_decided') return { kind: 'card', card, refusal };
  const statusCode =
    refusal === 'expired' ? 410 : refusal === 'not_found' || refusal === 'wrong_conversation' ? 404 : 403;
  const message =
    card.kind === 'notice'
      ? card.lines.join(' ')
      : card.kind === 'approval' || card.kind === 'consent'
        ? (card.notice ?? userMessageFor('APPROVAL_FORBIDDEN'))
        : card.text;
  return { kind: 'error', statusCode, message, refusal };
}
