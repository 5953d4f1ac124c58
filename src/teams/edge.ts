import { Application, type TurnState } from '@microsoft/teams-ai';
import { ActivityTypes } from 'botbuilder';
import type { Config } from '../config/config';
import { runActivity, type EdgeResult } from '../http/activity-edge';
import type { Logger } from '../observability/logger';
import type { Telemetry } from '../observability/telemetry';
import type { RelayApi } from '../relay/api';
import type { RouteDeps } from './routes/context';
import { onConversationUpdate, onInstallationUpdate } from './routes/install';
import { onInvoke } from './routes/invokes';
import { onMessage } from './routes/messages';
import { tenantGate } from './routes/tenant-gate';
import { traceActivity } from './telemetry';
import type { TeamsTransport } from './transport';

/**
 * The Teams edge: a teams-ai Application routes each authenticated activity to its handler in routes/
 * (messages, invokes → card actions / feedback / sign-in, install → welcome), after the tenant gate. It only
 * translates activities into relay calls and relay answers into activities; no turn logic lives here
 * (docs/architecture.md).
 */
export interface TeamsEdgeOptions {
  /** Built first (transport.ts): the relay was given its proactive runner. */
  transport: TeamsTransport;
  relay: RelayApi;
  config: Config;
  log: Logger;
  /** `teams.activity` spans (telemetry.ts); none when absent. */
  telemetry?: Telemetry | undefined;
}

export interface TeamsEdge {
  /** The HTTP edge's request handler: authenticates and runs one activity (http/activity-edge.ts). */
  handle: (input: { activity: Record<string, unknown>; authorization: string }) => Promise<EdgeResult>;
  /** Activities refused by the tenant allow-list so far (AUTH-07 metric). */
  tenantRejections(): number;
}

export function createTeamsEdge(o: TeamsEdgeOptions): TeamsEdge {
  const { transport, log } = o;
  const app = new Application<TurnState>({
    adapter: transport.adapter,
    removeRecipientMention: true,
    startTypingTimer: false,
    longRunningMessages: false,
  });
  const gate = tenantGate(o.config.bot.allowedTenants, log);
  const deps: RouteDeps = { relay: o.relay, ioFor: transport.ioFor, sso: transport.sso, log };

  app.turn('beforeTurn', (ctx) => gate.beforeTurn(ctx));
  app.activity(ActivityTypes.Message, (ctx) => onMessage(ctx, deps));
  app.activity(ActivityTypes.Invoke, (ctx) => onInvoke(ctx, deps));
  app.activity(ActivityTypes.ConversationUpdate, (ctx) => onConversationUpdate(ctx, deps));
  app.activity(ActivityTypes.InstallationUpdate, (ctx) => onInstallationUpdate(ctx, deps));

  return {
    handle: ({ activity, authorization }) =>
      traceActivity(o.telemetry, activity, () =>
        runActivity(transport.adapter, authorization, activity, async (ctx) => {
          await app.run(ctx);
        }),
      ),
    tenantRejections: () => gate.rejections,
  };
}
