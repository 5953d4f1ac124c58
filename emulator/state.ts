import { FaultQueue } from './faults';
import type { Scenario } from './scenario';
import type { ResponseRun } from './sse';
import type { ConversationItem, ResponseObject } from './wire';
import { ids } from './wire';

/**
 * All mutable state of one emulator instance (docs/foundry-wire.md §8.3). Nothing lives at module level, so
 * several emulators can run in one process.
 */

export type ConsentDecision = 'granted' | 'declined' | 'none';

export interface StoredResponse {
  object: ResponseObject;
  ownerOid: string;
  agentName: string;
  /** The user text this response ran on (for chain-mode re-runs). */
  userText: string;
  /** Approval requests created by this response that are still pending. */
  pendingApprovalIds: string[];
  run: ResponseRun;
}

export interface StoredConversation {
  id: string;
  ownerOid: string;
  createdAt: number;
  metadata: Record<string, string>;
  items: ConversationItem[];
  /** The response currently streaming on this conversation (one at a time, §1.6). */
  activeResponseId: string | null;
  pendingApprovalIds: string[];
  /** Agent of the last response on this conversation (for settings.agentReferenceOnContinuation). */
  lastAgentName: string | null;
}

export interface PendingApproval {
  id: string;
  ownerOid: string;
  responseId: string;
  conversationId: string | null;
  agentName: string;
  ruleIndex: number;
  /** Index into the rule's calls; for `consent` approvals, the first call on that server. */
  callIndex: number;
  /** `consent` = the approval-arguments form of a consent request (settings.consentDelivery). */
  kind: 'tool' | 'consent';
  serverLabel: string;
  name: string;
  arguments: string;
  userText: string;
  state: 'pending' | 'approved' | 'denied';
}

export interface ConsentToken {
  oid: string;
  name: string | undefined;
  serverLabel: string;
  createdAt: number;
}

/** The read-only view `GET /__emulator/log` returns. */
export interface EmulatorLog {
  requests: RequestLogEntry[];
  approvals: { requestId: string; approve: boolean; callerOid: string; responseId: string; at: string }[];
  toolCalls: {
    serverLabel: string;
    name: string;
    callerOid: string;
    approvalRequestId: string | null;
    status: 'completed' | 'failed';
    responseId: string;
    at: string;
  }[];
  consents: {
    oid: string;
    serverLabel: string;
    decision: ConsentDecision;
    source: 'page' | 'control';
    at: string;
  }[];
}

export interface RequestLogEntry {
  at: string;
  method: string;
  path: string;
  status: number;
  callerOid: string | null;
  callerTid: string | null;
  stream: boolean;
  responseId: string | null;
  previousResponseId: string | null;
  conversationId: string | null;
  inputKind: 'none' | 'text' | 'messages' | 'approval_responses' | 'mixed' | null;
  approvalResponses: { approval_request_id: string; approve: boolean }[];
}

const consentKey = (oid: string, label: string): string => `${oid}\u0000${label}`;

export class EmulatorState {
  responses = new Map<string, StoredResponse>();
  conversations = new Map<string, StoredConversation>();
  approvals = new Map<string, PendingApproval>();
  consentTokens = new Map<string, ConsentToken>();
  /** How often each rule fault fired, keyed `${agent}#${rule}#${fault}`. */
  ruleFaultHits = new Map<string, number>();
  faults = new FaultQueue();
  log: EmulatorLog = emptyLog();
  private consent = new Map<string, { state: ConsentDecision; repeated: boolean }>();

  constructor(public scenario: Scenario) {}

  reset(): void {
    this.responses.clear();
    this.conversations.clear();
    this.approvals.clear();
    this.consentTokens.clear();
    this.ruleFaultHits.clear();
    this.faults.clear();
    this.consent.clear();
    this.log = emptyLog();
  }

  consentState(oid: string, label: string): ConsentDecision {
    return this.consent.get(consentKey(oid, label))?.state ?? 'none';
  }

  setConsent(oid: string, label: string, decision: ConsentDecision, source: 'page' | 'control'): void {
    const key = consentKey(oid, label);
    const prev = this.consent.get(key);
    const repeated = decision === 'granted' && prev?.state === 'granted' ? prev.repeated : false;
    this.consent.set(key, { state: decision, repeated });
    this.log.consents.push({ oid, serverLabel: label, decision, source, at: new Date().toISOString() });
  }

  /**
   * Consent gate for one turn (§8.4 step 3). `declined` is reported once, then the state returns to `none`
   * so the user is asked again next time. With `repeatAfterGrant` (S22) the first turn after a grant is
   * asked once more.
   */
  consentForTurn(oid: string, label: string, repeatAfterGrant: boolean): 'granted' | 'declined' | 'needed' {
    const rec = this.consent.get(consentKey(oid, label));
    if (!rec || rec.state === 'none') return 'needed';
    if (rec.state === 'declined') {
      rec.state = 'none';
      return 'declined';
    }
    if (repeatAfterGrant && !rec.repeated) {
      rec.repeated = true;
      return 'needed';
    }
    return 'granted';
  }

  newConsentToken(oid: string, name: string | undefined, serverLabel: string): string {
    const token = ids.consentToken();
    this.consentTokens.set(token, { oid, name, serverLabel, createdAt: Date.now() });
    return token;
  }
}

function emptyLog(): EmulatorLog {
  return { requests: [], approvals: [], toolCalls: [], consents: [] };
}
