import type { TeamsAdapter } from '@microsoft/teams-ai';
import type { ConversationReference, TurnContext } from 'botbuilder';
import type { Config } from '../config/config';
import { BotError } from '../errors';
import type { Actor, ConversationRef } from '../relay/model';
import type { ConversationIO, ProactiveRunner } from '../relay/ports';
import { createAdapter, type AdapterOptions } from './adapter';
import { isAllowedServiceUrl } from './outbound';
import { SendPacer } from './send-pacer';
import { SignInIO, ssoOptions, type SsoEdgeOptions } from './sso';
import { TurnContextIO } from './turn-io';

/**
 * The Teams side the relay talks to, built before the relay exists (the relay takes `proactive` in its
 * constructor; the routes in edge.ts take the relay): the adapter, one send pacer for the bot, the
 * ConversationIO of a turn, and proactive continuation. Nothing here calls the relay.
 */
export interface TeamsTransport {
  adapter: TeamsAdapter;
  /** The relay's ProactiveRunner port (background jobs, card continuations). */
  proactive: ProactiveRunner;
  /** User mode with Teams SSO configured; undefined otherwise. */
  sso: SsoEdgeOptions | undefined;
  /** The ConversationIO of a live or proactive turn (with sign-in requests when SSO is on). */
  ioFor: (ctx: TurnContext) => ConversationIO;
}

export interface TransportOptions extends AdapterOptions {
  /** User mode: the bot's own sign-in page for a user in a conversation (src/identity/sign-in-pages.ts). */
  signInStart?: ((user: Actor, conversationId: string) => string | undefined) | undefined;
}

export function createTeamsTransport(o: TransportOptions): TeamsTransport {
  const { config, log } = o;
  const adapter = createAdapter(o);
  const pacer = new SendPacer();
  // User mode: Teams SSO (sso.ts). The relay asks for sign-in through the IO when it has no token for a user.
  const sso = ssoOptions(config, o.signInStart);
  const ioFor = (ctx: TurnContext): ConversationIO => {
    const io = new TurnContextIO(ctx, {
      log: log.child('io'),
      pacer,
      streaming: config.policy.streaming,
      telemetry: o.telemetry,
    });
    return sso ? new SignInIO(io, ctx, pacer, sso, log.child('signin')) : io;
  };
  return { adapter, proactive: new AdapterProactiveRunner(adapter, config, ioFor), sso, ioFor };
}

/** Proactive continuation through the adapter (the relay's ProactiveRunner port). */
class AdapterProactiveRunner implements ProactiveRunner {
  constructor(
    private readonly adapter: TeamsAdapter,
    private readonly config: Config,
    private readonly makeIo: (ctx: TurnContext) => ConversationIO,
  ) {}

  async continueConversation(
    ref: ConversationRef,
    work: (io: ConversationIO) => Promise<void>,
  ): Promise<void> {
    const reference = ref as Partial<ConversationReference>;
    // Defence in depth: never send to a service URL outside the allow-list, whatever is stored.
    if (!isAllowedServiceUrl(reference.serviceUrl, this.config.bot.outboundHosts)) {
      throw new BotError('AUTH_REJECTED', 'service URL not allowed for outbound calls');
    }
    await this.adapter.continueConversationAsync(this.config.bot.appId ?? '', reference, async (ctx) => {
      await work(this.makeIo(ctx));
    });
  }
}
