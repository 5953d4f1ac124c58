import type { FoundryClient } from '../foundry/types';
import type { Logger } from '../observability/logger';
import type { Telemetry } from '../observability/telemetry';
import type { StateStore } from '../storage/store';
import type { Actor, ConversationInfo, ConversationRef } from './model';
import type { ConversationIO, IdentityProvider, ProactiveRunner } from './ports';
import type { InvokeAnswer } from './views';

/**
 * Everything the Teams edge (src/teams) and the composition root need from the relay. The edge imports
 * from here, the ports (ports.ts), the model (model.ts) and the view models (views.ts), never from the
 * files that implement the flows.
 */

/** What the relay needs to know from configuration (a subset of Config, so tests can build it directly). */
export interface RelaySettings {
  agentName: string;
  agentVersion?: string | undefined;
  threading: 'previous_response' | 'conversation';
  identityMode: 'app' | 'user';
  consentLinkHosts: readonly string[];
  sharedConsentAdmins: readonly string[];
  approvers: readonly string[];
  approvalTtlMs: number;
  consentTtlMs: number;
  maxQueuedTurns: number;
  dedupeTtlMs: number;
  welcomePrompts: readonly string[];
  /** Time between "Still running <tool>…" updates while a tool call is silent (default 15 s). */
  toolProgressIntervalMs?: number;
}

export interface RelayDeps {
  settings: RelaySettings;
  foundry: FoundryClient;
  store: StateStore;
  identity: IdentityProvider;
  proactive: ProactiveRunner;
  log: Logger;
  clock?: () => number;
  /** Identifies this process in busy leases. */
  instanceId?: string;
  /** Spans and metrics; default: from the global OpenTelemetry providers (no-ops when none is registered). */
  telemetry?: Telemetry;
  /**
   * The "Deployment" lines `/status` shows to admins (SHARED_CONSENT_ADMINS or APPROVERS) only: what the
   * running bot knows of its set-up and health, one short line each (no secrets). Absent: no such section.
   */
  diagnostics?: () => Promise<string[]>;
}

/** The inbound facts of one activity, as the edge parsed them. */
export interface TurnInfo {
  conversation: ConversationInfo;
  user: Actor;
  activityId: string;
  reference: ConversationRef;
}

/** Validated card actions (the edge parses card data with zod before calling the relay). */
export type CardAction =
  | { verb: 'approval.decide'; batchId: string; approvalId: string; decision: 'approve' | 'deny' }
  | { verb: 'approval.refresh'; batchId: string }
  | { verb: 'consent.continue'; consentId: string }
  | { verb: 'consent.refresh'; consentId: string }
  | { verb: 'consent.cancel'; consentId: string }
  | { verb: 'retry'; text: string };

/**
 * How a user signed in: Teams' silent SSO token (`signin/tokenExchange`), or the state of the bot's own
 * sign-in page (`signin/verifyState`), which names the authorization code the page received.
 */
export type SignInProof = { kind: 'sso'; token: string } | { kind: 'page'; state: string };

/** What became of an inbound message (the turn itself runs later, as a job). */
export type MessageResult = 'started' | 'queued' | 'busy' | 'duplicate' | 'command';

/** The relay as the Teams edge calls it. */
export interface RelayApi {
  /** A user message (mention already removed). Returns at once; the turn runs as a job. */
  handleMessage(turn: TurnInfo, text: string): Promise<MessageResult>;
  /** A card click: answers at once with the updated card; Foundry work runs afterwards as a job. */
  handleCardAction(turn: TurnInfo, action: CardAction): Promise<InvokeAnswer>;
  /** User mode: the user signed in; replays what waited for it (their message, card continuations). */
  acceptSignIn(turn: TurnInfo, proof: SignInProof): Promise<'signed_in' | 'replayed'>;
  /** The welcome card on install, at most once per conversation (deduped in the state store). */
  welcome(io: ConversationIO): Promise<void>;
}
