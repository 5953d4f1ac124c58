import type { TokenCredential } from '@azure/identity';
import type { Actor, ConversationInfo, ConversationRef, FinalAnswer } from './model';
import type { CardView } from './views';

/** How an answer stream ended (conventions.md C10). */
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
   * User mode: asks `user` to sign in (Teams: an OAuthCard with a tokenExchangeResource, so Teams performs
   * silent SSO and sends `signin/tokenExchange`; in group chats it names the user). Optional: edges without
   * SSO (e.g. tests of app mode) leave it out and the relay shows the error card instead.
   */
  requestSignIn?(user: Actor): Promise<void>;
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
}
