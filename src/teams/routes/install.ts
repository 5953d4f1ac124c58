import type { TurnContext } from 'botbuilder';
import type { RouteDeps } from './context';

/**
 * The bot was added to a conversation (conversationUpdate naming the bot, or installationUpdate `add`): the
 * relay sends the welcome card, at most once per conversation (the Playground and some clients re-send install
 * events; the relay dedupes them).
 */
export async function onConversationUpdate(ctx: TurnContext, d: RouteDeps): Promise<void> {
  const added = ctx.activity.membersAdded ?? [];
  if (added.some((m) => m.id === ctx.activity.recipient.id)) await d.relay.welcome(d.ioFor(ctx));
}

export async function onInstallationUpdate(ctx: TurnContext, d: RouteDeps): Promise<void> {
  const action = (ctx.activity as { action?: string }).action;
  if (action === 'add' || action === 'add-upgrade') await d.relay.welcome(d.ioFor(ctx));
}
