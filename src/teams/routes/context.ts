import { TurnContext } from 'botbuilder';
import type { Logger } from '../../observability/logger';
import type { RelayApi, TurnInfo } from '../../relay/api';
import type { ConversationIO } from '../../relay/ports';
import { conversationOf } from '../activity-facts';
import { disablePipelineRetries } from '../connector-retry';
import type { SsoEdgeOptions } from '../sso';

/**
 * What every route handler gets (edge.ts builds it once). Route handlers only translate: an activity into a
 * relay call, the relay's answer into activities. No turn logic lives in src/teams (docs/architecture.md).
 */
export interface RouteDeps {
  relay: RelayApi;
  /** The ConversationIO of this turn (transport.ts). */
  ioFor: (ctx: TurnContext) => ConversationIO;
  /** User mode with Teams SSO configured; undefined otherwise. */
  sso: SsoEdgeOptions | undefined;
  log: Logger;
}

/** The inbound facts of the turn, for the relay. */
export function turnInfo(ctx: TurnContext): TurnInfo {
  // As the turn's ConversationIO does: the rest of the turn (card updates, replies) goes through our retry
  // policy only (connector-retry.ts).
  disablePipelineRetries(ctx);
  const a = ctx.activity;
  return {
    conversation: conversationOf(a),
    user: {
      id: a.from.id,
      ...(a.from.aadObjectId ? { aadObjectId: a.from.aadObjectId.toLowerCase() } : {}),
      ...(a.from.name ? { name: a.from.name } : {}),
    },
    activityId: a.id ?? '',
    reference: TurnContext.getConversationReference(a),
  };
}
