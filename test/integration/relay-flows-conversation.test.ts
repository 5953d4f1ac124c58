/**
 * The relay flows of relay-flows.test.ts in FOUNDRY_THREADING=conversation mode, as a separate file so jest runs
 * the two modes in parallel (the suite picks its mode from the running test path).
 */
import './relay-flows-suite';
