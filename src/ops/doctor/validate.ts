import type { TokenCredential } from '@azure/identity';
import type { Config } from '../../config/config';
import { isBotError } from '../../errors';
import { createFoundryClient } from '../../foundry/client';
import { createAppCredential } from '../../foundry/credentials';
import type { FoundryClient, Thread, TurnInput, TurnOutcome } from '../../foundry/types';
import { silentLogger } from '../../observability/logger';
import { checkConsentLink } from '../../relay/consent/link';
import { fail, info, pass, type Finding } from './report';
import {
  approvalFinding,
  foundryErrorFinding,
  noToolFinding,
  notRequestedFinding,
  repeatedConsentFinding,
  timeoutFinding,
  toolFindings,
  userModeSteps,
  type RunMemory,
} from './validate-findings';

/**
 * `npm run doctor -- --validate "<prompt>"`: the "Validate" list of the Foundry MCP authentication docs,
 * automated against the configured project with the bot's own Foundry client and credential (app mode):
 * send the prompt; report tool calls, `mcp_approval_request` and `oauth_consent_request`; for a consent, show
 * the link, wait (bounded) until a continuation no longer asks, then check that the next call asks no consent.
 */

export interface ValidateOptions {
  config: Config;
  prompt: string;
  /** How long to wait for a consent (default 300 s) and how often to look (default 10 s; each look is one response). */
  waitSeconds: number;
  pollSeconds: number;
  /** Approve approval requests (default: deny, so validate never runs a tool that needs approval). */
  approve: boolean;
  expectConsent: boolean;
  /** Where the consent link goes (the CLI uses stderr): the only place a link is ever printed. */
  showLink(line: string): void;
  credential?: TokenCredential;
  fetch?: typeof fetch;
}

interface Session {
  client: FoundryClient;
  credential: TokenCredential;
  thread: Thread;
  agent: { name: string; version?: string };
}

async function turn(s: Session, input: TurnInput): Promise<TurnOutcome> {
  let outcome: TurnOutcome | undefined;
  for await (const e of s.client.streamTurn(
    { agent: s.agent, thread: s.thread, input },
    { credential: s.credential },
  )) {
    if (e.type === 'turn.end') outcome = e.outcome;
  }
  if (!outcome) throw new Error('the turn ended without an outcome');
  if (s.thread.mode === 'previous_response')
    s.thread = { mode: 'previous_response', previousResponseId: outcome.responseId };
  return outcome;
}

/** Answers approval requests (bounded), reporting each round. */
async function settleApprovals(
  s: Session,
  o: ValidateOptions,
  first: TurnOutcome,
  out: Finding[],
): Promise<TurnOutcome> {
  let outcome = first;
  for (let round = 0; round < 3 && outcome.approvals.length > 0; round++) {
    out.push(approvalFinding(outcome, o.approve));
    const decisions = outcome.approvals.map((a) => ({
      requestId: a.requestId,
      approve: o.approve,
      ...(o.approve ? {} : { reason: 'Denied by npm run doctor --validate' }),
    }));
    outcome = await turn(s, { kind: 'approvals', decisions });
  }
  return outcome;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Shows the link, then continues every `pollSeconds` until no consent is asked (or the wait is over). */
async function awaitConsent(
  s: Session,
  o: ValidateOptions,
  asked: TurnOutcome,
  out: Finding[],
): Promise<TurnOutcome | undefined> {
  for (const c of asked.consents) {
    const label = c.serverLabel ?? 'the tool';
    out.push(info('validate', `oauth_consent_request for ${label}`));
    const check = checkConsentLink(c.consentLink, o.config.policy.consentLinkHosts);
    if (!check.ok)
      out.push(
        fail(
          'validate',
          'consent.link_rejected',
          `the bot would not show this consent link (${check.reason}): Teams users would see "tell your administrator"`,
          `Add the link's host (${safeHost(c.consentLink)}) to CONSENT_LINK_HOSTS if it is a Foundry consent host.`,
        ),
      );
    o.showLink(
      `Open this consent link for ${label} in a browser, signed in as the identity above, and choose Allow:\n  ${c.consentLink}`,
    );
  }
  const deadline = Date.now() + o.waitSeconds * 1000;
  const consentResponse = asked.responseId;
  while (Date.now() < deadline) {
    await sleep(Math.min(o.pollSeconds * 1000, Math.max(0, deadline - Date.now())));
    const input: TurnInput =
      s.thread.mode === 'conversation' ? { kind: 'none' } : { kind: 'text', text: o.prompt };
    if (s.thread.mode === 'previous_response')
      s.thread = { mode: 'previous_response', previousResponseId: consentResponse };
    const next = await turn(s, input);
    if (next.consents.length === 0) return next;
  }
  return undefined;
}

function safeHost(link: string): string {
  try {
    return new URL(link).host;
  } catch {
    return 'unparsable link';
  }
}

/** The whole flow; never throws (a Foundry error becomes a finding). */
export async function runValidate(o: ValidateOptions): Promise<Finding[]> {
  const { config } = o;
  if (config.foundry.auth === 'user') return userModeSteps(config, o.prompt);
  const credential = o.credential ?? createAppCredential(config.foundry);
  const client = createFoundryClient({
    projectEndpoint: config.foundry.projectEndpoint,
    timeoutMs: config.foundry.timeoutMs,
    idleTimeoutMs: config.foundry.idleTimeoutMs,
    maxRetries: config.foundry.maxRetries,
    log: silentLogger(),
    ...(o.fetch ? { fetch: o.fetch } : {}),
  });
  const out: Finding[] = [];
  try {
    const thread: Thread =
      config.foundry.threading === 'conversation'
        ? { mode: 'conversation', conversationId: await client.createConversation({ credential }) }
        : { mode: 'previous_response' };
    const agent = {
      name: config.foundry.agentName,
      ...(config.foundry.agentVersion ? { version: config.foundry.agentVersion } : {}),
    };
    const s: Session = { client, credential, thread, agent };
    await validateFlow(s, o, out);
  } catch (err) {
    out.push(
      isBotError(err)
        ? foundryErrorFinding(err)
        : fail(
            'validate',
            'validate.error',
            'validate stopped on an unexpected error',
            'Run `npm run doctor` first and fix its FAIL lines.',
          ),
    );
  }
  return out;
}

async function validateFlow(s: Session, o: ValidateOptions, out: Finding[]): Promise<void> {
  const memory: RunMemory = { consentedLabels: new Set(), completedLabels: new Set() };
  let outcome = await settleApprovals(s, o, await turn(s, { kind: 'text', text: o.prompt }), out);
  const consented = outcome.consents.length > 0;
  if (consented) {
    for (const c of outcome.consents) memory.consentedLabels.add(c.serverLabel ?? 'the tool');
    const after = await awaitConsent(s, o, outcome, out);
    if (!after) {
      out.push(timeoutFinding(o.waitSeconds));
      return;
    }
    out.push(pass('validate', 'consent completed: the continuation asked for no consent'));
    outcome = await settleApprovals(s, o, after, out);
  } else if (o.expectConsent) out.push(notRequestedFinding());
  const tools = toolFindings(outcome, memory, consented ? 'after consent' : 'first call');
  out.push(...(tools.length > 0 ? tools : [noToolFinding()]));
  if (!consented || tools.some((f) => f.status === 'fail')) return;
  const again = await settleApprovals(s, o, await turn(s, { kind: 'text', text: o.prompt }), out);
  if (again.consents.length > 0) out.push(repeatedConsentFinding());
  else out.push(pass('validate', 'next call: no consent asked'));
  out.push(...toolFindings(again, memory, 'next call'));
  out.push(
    info(
      'validate',
      'app mode: this consent is shared; every Teams user of the bot now uses it (docs/identity.md)',
    ),
  );
}
