import type { Activity, TurnContext } from 'botbuilder';
import { isBotError, userMessageFor } from '../../errors';
import { isSubmitFallback, onSubmitAction } from './card-actions';
import { turnInfo, type RouteDeps } from './context';

/**
 * A user message. 1:1 chats: every message; group chats and channels: only messages that @mention the bot.
 * The mention is removed and an empty message means `/help`. The relay answers at once (the turn runs later as
 * a job); while shutting down the user is told to try again. Card data without text is a card click instead.
 */
export async function onMessage(ctx: TurnContext, d: RouteDeps): Promise<void> {
  const a = ctx.activity;
  if (isSubmitFallback(a)) {
    await onSubmitAction(ctx, d);
    return;
  }
  const info = turnInfo(ctx);
  if (info.conversation.scope !== 'personal' && !isBotMentioned(a)) return; // groups: only @mentions
  const text = (a.text ?? '').replace(/<at>[^<]*<\/at>/g, '').trim();
  try {
    const r = await d.relay.handleMessage(info, text.length > 0 ? text : '/help');
    d.log.debug('message.accepted', { result: r });
  } catch (err) {
    if (isBotError(err, 'SHUTTING_DOWN')) await ctx.sendActivity(userMessageFor('SHUTTING_DOWN'));
    else throw err;
  }
}

function isBotMentioned(a: Partial<Activity>): boolean {
  const botId = a.recipient?.id;
  return (a.entities ?? []).some(
    (e) => e.type === 'mention' && (e as { mentioned?: { id?: string } }).mentioned?.id === botId,
  );
}
