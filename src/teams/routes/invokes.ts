import type { TurnContext } from 'botbuilder';
import type { Logger } from '../../observability/logger';
import { sendInvokeResponse } from '../invoke-response';
import { onExecuteAction } from './card-actions';
import type { RouteDeps } from './context';
import { onSignInInvoke } from './sign-in';

/**
 * Invokes by name: card clicks (card-actions.ts), feedback buttons, sign-in (sign-in.ts). Any other invoke is
 * answered 400: the bot does not support it.
 */
export async function onInvoke(ctx: TurnContext, d: RouteDeps): Promise<void> {
  const name = ctx.activity.name;
  switch (name) {
    case 'adaptiveCard/action':
      return onExecuteAction(ctx, d);
    case 'message/submitAction':
      return onFeedback(ctx, d.log);
    case 'signin/tokenExchange':
    case 'signin/verifyState':
    case 'signin/failure':
      return onSignInInvoke(ctx, d);
    default:
      d.log.info('invoke.unknown', { name: typeof name === 'string' ? name.slice(0, 64) : 'none' });
      return sendInvokeResponse(ctx, 400);
  }
}

/**
 * Feedback buttons (👍/👎): logged as a count, never the free text. Teams wants HTTP 200 with an empty body
 * and answers 400 "message/submitAction invoke response isn't empty" otherwise
 * (bot-messages-ai-generated-content.md; docs/real-services.md, Teams).
 */
async function onFeedback(ctx: TurnContext, log: Logger): Promise<void> {
  const value = ctx.activity.value as
    { actionName?: unknown; actionValue?: { reaction?: unknown } } | undefined;
  const reaction = value?.actionValue?.reaction;
  log.info('feedback.received', {
    action: typeof value?.actionName === 'string' ? value.actionName : 'unknown',
    reaction: reaction === 'like' || reaction === 'dislike' ? reaction : 'unknown',
  });
  await sendInvokeResponse(ctx, 200);
}
