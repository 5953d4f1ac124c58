import type { FoundryClient } from '../foundry/types';
import type { Logger } from '../observability/logger';
import type { Telemetry } from '../observability/telemetry';
import type { StateStore } from '../storage/store';
import type { RelaySettings } from './api';
import type { Job, Lanes } from './lanes';
import type { ConversationRef } from './model';
import type { ConversationIO, IdentityProvider, ProactiveRunner } from './ports';
import type { CardView } from './views';

/**
 * What every flow of the relay shares: the ports, the settings, the clock and the job runner. Built once by
 * the facade (relay.ts) and handed to each flow; no flow keeps state of its own beyond what it is given.
 */
export class RelayContext {
  constructor(
    readonly settings: RelaySettings,
    readonly foundry: FoundryClient,
    readonly store: StateStore,
    readonly identity: IdentityProvider,
    readonly log: Logger,
    readonly clock: () => number,
    private readonly proactive: ProactiveRunner,
    private readonly lanes: Lanes,
    /** Spans and metrics (no-ops without an OpenTelemetry SDK). */
    readonly telemetry: Telemetry,
    /** Admin-only `/status` lines about the deployment (RelayDeps.diagnostics). */
    readonly diagnostics: (() => Promise<string[]>) | undefined,
  ) {}

  /** Runs `work` in a Teams conversation outside the inbound request (proactive continuation). */
  inConversation(ref: ConversationRef, work: (io: ConversationIO) => Promise<void>): Promise<void> {
    return this.proactive.continueConversation(ref, work);
  }

  /** Fire-and-forget work in a conversation, still tracked for the shutdown drain. */
  later(ref: ConversationRef, work: (io: ConversationIO) => Promise<void>): void {
    this.lanes.detach({ run: () => this.inConversation(ref, work) });
  }

  /** Work with no conversation of its own (still tracked for the shutdown drain, aborted by it). */
  background(run: (signal: AbortSignal) => Promise<void>): void {
    this.lanes.detach({ run });
  }

  /**
   * Card continuations run in their thread's lane, so in this instance they queue behind (and ahead of) that
   * thread's user turns instead of racing them; a full lane must not lose a decided continuation.
   */
  runInThread(threadKey: string, job: Job): void {
    if (this.lanes.submit(threadKey, job) === 'full') this.lanes.detach(job);
  }

  /** Updates a card in place; a failed update is logged, never thrown (the flow has moved on). */
  async updateCardQuietly(io: ConversationIO, activityId: string, card: CardView): Promise<void> {
    try {
      await io.updateCard(activityId, card);
    } catch (err) {
      this.log.warn('card.update_failed', { err });
    }
  }

  /** The agent as Foundry's `agent_reference` names it. */
  agent(): { name: string; version?: string } {
    const s = this.settings;
    return s.agentVersion ? { name: s.agentName, version: s.agentVersion } : { name: s.agentName };
  }
}
