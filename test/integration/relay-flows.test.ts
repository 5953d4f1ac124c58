/** Step towards defineRelayFlows: the flows moved to relay-flows-suite.ts; this file runs them (previous_response). */
import './relay-flows-suite';
