import type { TokenCredential } from '@azure/identity';
import type { BotErrorCode } from '../errors';
import type { Actor, ConversationInfo, ConversationRef, FinalAnswer } from './model';
import type { CardView } from './views';

/** How an answer stream ended (docs/conventions.md C10). */
export type StreamOutcome = 'completed' | 'user_cancelled' | 'fell_back_to_message' | 'timed_out' | 'failed';

/**
 * One answer being delivered to Teams. 1:1 chats stream (informative updates, coalesced text chunks ≥ 1 s
 * apart, one request in flight); group chats and channels show typing and then one final message.
 * Implementations never throw from `informative`/`text`; `finish` reports how delivery ended.
 */
export interface AnswerStream {
  /** A status line such as "Asking the agent…" or "Using github.search_issues…". */
  informative(text: string): void;
  /** Appends answer text (coalesced by the sink). */
  text(delta: string): void;
  /** Aborted when the user stops the stream in Teams (403 ContentStreamNotAllowed): abort Foundry too. */
  readonly cancelled: AbortSignal;
  /** Ends the stream with the final message (citations, AI label, feedback buttons). */
  finish(answer: FinalAnswer): Promise<StreamOutcome>;
  /**
   * Ends the stream without an answer message (e.g. the turn only produced a card). A stream that was
   * already opened is closed with `note` as its text.
   */
  abandon(note?: string): Promise<void>;
}

/** What the relay can do in one Teams conversation: in a live turn, or proactively later. */
export interface ConversationIO {
  readonly conversation: ConversationInfo;
  /** A reference for proactive continuation later (opaque to the relay). */
  readonly reference: ConversationRef;
  beginAnswer(): AnswerStream;
  sendText(text: string): Promise<void>;
  /** Sends a card and returns its activity id (to update it later). */
  sendCard(card: CardView): Promise<string | undefined>;
  updateCard(activityId: string, card: CardView): Promise<void>;
  /**
   * User mode: asks `user` to sign in (Teams: an OAuthCard with a tokenExchangeResource for silent SSO and a
   * Sign in button to the bot's own sign-in page). In group chats and channels the card goes to the user
   * privately (a 1:1 chat); the group only hears that it happened. `reason` says why a sign-in is needed again
   * (its user text comes from src/errors.ts). Optional: edges without SSO leave it out and the relay shows the
   * error card instead.
   */
  requestSignIn?(user: Actor, reason?: BotErrorCode): Promise<void>;
}

/** Runs work in a conversation outside of the inbound request (botbuilder continueConversationAsync). */
export interface ProactiveRunner {
  continueConversation(ref: ConversationRef, work: (io: ConversationIO) => Promise<void>): Promise<void>;
}

/** Gives the credential Foundry should see for a user's turn (app mode: the bot; user mode: on-behalf-of). */
export interface IdentityProvider {
  readonly mode: 'app' | 'user';
  /** Throws BotError('IDENTITY_UNAVAILABLE') when the user has no usable sign-in (user mode). */
  credentialFor(user: Actor, tenantId: string): Promise<TokenCredential>;
  /**
   * User mode: takes the user's Teams SSO token (from `signin/tokenExchange`) and makes sure it can be
   * exchanged on-behalf-of the user. Tokens are kept in memory only. Throws BotError('TENANT_NOT_ALLOWED')
   * for a user outside the project tenant and BotError('IDENTITY_UNAVAILABLE') when the exchange fails.
   */
  acceptSsoToken?(user: Actor, tenantId: string, ssoToken: string): Promise<void>;
  /**
   * User mode: the fallback sign-in page finished (`signin/verifyState` with the page's state): redeems the
   * authorization code bound to `state`, which must have been issued to this user for this conversation.
   */
  acceptPageSignIn?(user: Actor, tenantId: string, state: string, conversationId: string): Promise<void>;
  /** User mode: drops what is cached for the user (Foundry answered 401 with their token). */
  forget?(user: Actor, tenantId: string): void;
}
