import type { Activity, TurnContext } from 'botbuilder';
import type { InvokeAnswer } from '../../relay/views';
import { ExecuteInvokeValue, parseCardAction } from '../actions';
import { conversationOf } from '../activity-facts';
import { refreshFor, renderCard } from '../cards';
import { invokeError, sendInvokeResponse } from '../invoke-response';
import { turnInfo, type RouteDeps } from './context';

/**
 * What happens on a card click. Our cards use `Action.Execute` (the `adaptiveCard/action` invoke); older
 * clients send the `Action.Submit` fallback as a message with a `value`. Both go through the same checks
 * (actions.ts parses the data with zod, CARD-07) and the relay's `handleCardAction`, which answers at once
 * with the card to show; Foundry work runs afterwards as a relay job.
 */

/** The error `code` of an invoke error response matches its status (a refused click is not a "BadRequest"). */
const INVOKE_ERROR_CODES: Record<400 | 403 | 404 | 410 | 500, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  410: 'Gone',
  500: 'InternalError',
};

const INVALID_ACTION: InvokeAnswer = {
  kind: 'error',
  statusCode: 400,
  message: 'This card action is not valid.',
};

async function cardAction(
  ctx: TurnContext,
  d: RouteDeps,
  verb: unknown,
  data: unknown,
): Promise<InvokeAnswer> {
  const parsed = parseCardAction(verb, data);
  if (!parsed.ok) {
    d.log.warn('card.rejected', { reason: parsed.reason });
    return INVALID_ACTION;
  }
  return d.relay.handleCardAction(turnInfo(ctx), parsed.action);
}

function invokeBody(
  answer: InvokeAnswer,
  scope: 'personal' | 'groupChat' | 'channel',
): Record<string, unknown> {
  switch (answer.kind) {
    case 'card':
      return {
        statusCode: 200,
        type: 'application/vnd.microsoft.card.adaptive',
        value: renderCard(answer.card, { refresh: refreshFor(answer.card, scope) }),
      };
    case 'message':
      return { statusCode: 200, type: 'application/vnd.microsoft.activity.message', value: answer.text };
    case 'error':
      return invokeError(answer.statusCode, INVOKE_ERROR_CODES[answer.statusCode], answer.message);
  }
}

/** `Action.Execute`: the `adaptiveCard/action` invoke, answered with the card (or message, or error) to show. */
export async function onExecuteAction(ctx: TurnContext, d: RouteDeps): Promise<void> {
  const scope = conversationOf(ctx.activity).scope;
  const v = ExecuteInvokeValue.safeParse(ctx.activity.value);
  const answer = v.success
    ? await cardAction(ctx, d, v.data.action.verb, v.data.action.data)
    : INVALID_ACTION;
  await sendInvokeResponse(ctx, 200, invokeBody(answer, scope));
}

/** A message carrying card data and no text: the `Action.Submit` fallback of our cards (older clients). */
export function isSubmitFallback(a: Partial<Activity>): boolean {
  return Boolean(a.value && typeof a.value === 'object' && !a.text);
}

/**
 * `Action.Submit`: there is no invoke response to carry the answer, so the card is updated in place (or a
 * short message is sent), with the same checks as Action.Execute (CARD-07).
 */
export async function onSubmitAction(ctx: TurnContext, d: RouteDeps): Promise<void> {
  const a = ctx.activity;
  const value = a.value as Record<string, unknown>;
  const answer = await cardAction(ctx, d, value['verb'], value);
  if (answer.kind === 'card' && !answer.refusal && a.replyToId) {
    await ctx.updateActivity({
      type: 'message',
      id: a.replyToId,
      conversation: a.conversation,
      attachments: [
        { contentType: 'application/vnd.microsoft.card.adaptive', content: renderCard(answer.card) },
      ],
    });
  } else if (answer.kind === 'card' && answer.card.kind !== 'approval' && answer.card.kind !== 'consent') {
    await ctx.sendActivity({
      type: 'message',
      text: answer.card.kind === 'notice' ? answer.card.lines.join(' ') : 'Done.',
    });
  } else if (answer.kind === 'message' || answer.kind === 'error') {
    await ctx.sendActivity({
      type: 'message',
      text: answer.kind === 'message' ? answer.text : answer.message,
    });
  }
}
