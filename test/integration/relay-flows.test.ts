import { defineApprovalLoops, defineRelayFlows } from './relay-flows-suite';

/** The relay flows (relay-flows-suite.ts) in FOUNDRY_THREADING=previous_response mode. */
defineRelayFlows('previous_response');

// One threading mode is enough for the approval loop, so it runs in this file only.
defineApprovalLoops();
