import { defineRelayFlows } from './relay-flows-suite';

/**
 * The relay flows (relay-flows-suite.ts) in FOUNDRY_THREADING=conversation mode, as a separate file so jest runs
 * the two modes in parallel.
 */
defineRelayFlows('conversation');
