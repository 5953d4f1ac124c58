import { format } from 'node:util';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { loadDefaultScenario } from '../../emulator/scenario';
import { grantConsent, loadScenario, reset, setSettings, submitConsent } from '../../emulator/test-client';
import { createLogger } from '../../src/observability/logger';
import {
  adaptiveCardActionInvoke,
  baseActivity,
  messageActivity,
  type InboundActivity,
} from '../support/fakes/activities';
import type { RecordedRequest } from '../support/fakes/fake-bot-connector';
import { actionOf, BOT_OID, cardOf, openUrlOf } from '../support/harness';
import { startAuthHarness, type AuthHarness } from './auth-harness';

/**
 * LOG-01..03 (docs/reliability.md §2.10, docs/conventions.md C12). Canary secrets go through the message, consent and
 * approval paths; every log sink is captured (the bot's logger, process stdout/stderr writes and console.*
 * calls, which is where botbuilder prints) together with every activity sent to Teams.
 */
jest.setTimeout(60_000);

const ADMIN = 'aaaaaaaa-0000-0000-0000-000000000001'; // DEFAULT_USER's aadObjectId
const C = {
  password: 'CANARYpassword4f1c9e',
  outbound: 'CANARYoutbound7b2d1a',
  claim: 'CANARYclaim0e9f3c',
  userText: 'CANARYusertext5a8b2d',
  toolArg: 'CANARYtoolarg3c7e1f',
} as const;

let h: AuthHarness;
const foundryTokens: string[] = [];
const inboundTokens: string[] = [];
const captured: string[] = [];
const restore: Array<() => void> = [];

function capturingCredential(inner: () => string): TokenCredential {
  return {
    getToken(): Promise<AccessToken> {
      const token = inner();
      foundryTokens.push(token);
      return Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3600_000 });
    },
  };
}

function captureProcessOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    stream.write = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return (original as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
    };
    restore.push(() => {
      stream.write = original;
    });
  }
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      captured.push(format(...args));
    });
  }
}

beforeAll(async () => {
  let issue: () => string = () => '';
  h = await startAuthHarness({
    password: C.password,
    outboundToken: C.outbound,
    env: { SHARED_CONSENT_ADMINS: ADMIN },
    overrides: { appCredential: capturingCredential(() => issue()) },
  });
  issue = () => h.emulator.issueToken({ oid: BOT_OID });
});
afterAll(async () => {
  await h.close();
  if (summary.length > 0) console.log(summary.join('\n'));
});
beforeEach(() => {
  captureProcessOutput();
});
afterEach(() => {
  while (restore.length > 0) restore.pop()?.();
  jest.restoreAllMocks(); // the console spies, so the summary below reaches the output
});

const ctx = (): { serviceUrl: string; conversationId: string } => ({
  serviceUrl: h.connector.url,
  conversationId: 'a:personal-log-canary',
});
const token = (): string => {
  const t = h.token({ claims: { canary: C.claim } });
  inboundTokens.push(t);
  return t;
};
async function say(text: string): Promise<void> {
  const r = await h.post(messageActivity(text, ctx()), token());
  expect(r.status).toBe(200);
  await h.bot.relay.idle();
}
async function click(
  verb: string,
  data: Record<string, unknown>,
): Promise<{ status: number; body: unknown }> {
  const r = await h.post(adaptiveCardActionInvoke(verb, data, ctx()), token());
  await h.bot.relay.idle();
  return r;
}
const cards = (): RecordedRequest[] =>
  h.connector.requests().filter((r) => r.method === 'POST' && cardOf(r) !== undefined);

/** Where each canary must never appear. */
function secretsFor(where: 'logs' | 'teams'): Array<[string, string]> {
  const always: Array<[string, string]> = [
    ['BOT_PASSWORD', C.password],
    ['outbound bearer', C.outbound],
    ['inbound token claim', C.claim],
    ...inboundTokens.map((t, i): [string, string] => [`inbound bearer #${i}`, t.split('.')[2] ?? t]),
    ...foundryTokens.map((t, i): [string, string] => [`Foundry token #${i}`, t.split('.')[2] ?? t]),
  ];
  if (where === 'teams') return always;
  // Legitimate in Teams (the echo reply, the approval card, the consent card), never in logs.
  return [
    ...always,
    ['user text', C.userText],
    ['tool arguments', C.toolArg],
    ...consentSecrets.map((s, i): [string, string] => [`consent link query #${i}`, s]),
  ];
}
const consentSecrets: string[] = [];
const summary: string[] = [];

describe('LOG-01 canaries through the message, consent and approval paths', () => {
  it('LOG-01: 0 canary occurrences in any log sink; 0 secrets in any activity sent to Teams', async () => {
    await reset(h.emulator.url);
    const scenario = loadDefaultScenario();
    const agent = scenario.agents['helpdesk-agent'];
    if (!agent) throw new Error('default scenario without helpdesk-agent');
    agent.rules.unshift({
      when: ['file a ticket'],
      description: 'approval whose arguments carry the canary',
      call: {
        server_label: 'github',
        name: 'create_issue',
        arguments: { owner: 'contoso', repo: 'helpdesk', title: C.toolArg, body: C.toolArg },
      },
      then_text: 'Filed.',
    });
    await loadScenario(h.emulator.url, scenario);
    await setSettings(h.emulator.url, { consentLinkStyle: 'apihub' });

    // 1. Message path: the user's text goes to Foundry and comes back in the echo.
    await say(`please repeat ${C.userText} with CR\r\nLF`);
    expect(h.connector.requests().some((r) => JSON.stringify(r.activity).includes(C.userText))).toBe(true);

    // 2. Consent path: sign-in card, the admin's own view with the link (?data=<secret>), allow, continue.
    await say('search my issues');
    const consentCard = cardOf(cards().at(-1) as RecordedRequest);
    const consentId = /"consentId":"([0-9a-f]{32})"/.exec(JSON.stringify(consentCard))?.[1] ?? '';
    expect(consentId).not.toBe('');
    const view = await click('consent.refresh', { kind: 'consent', consentId });
    const viewCard = (view.body as { value?: unknown }).value;
    const link = openUrlOf(viewCard) ?? '';
    const data = new URL(link).searchParams.get('data') ?? '';
    expect(data.length).toBeGreaterThan(8);
    consentSecrets.push(data, link);
    await submitConsent(h.emulator.url, link, 'allow');
    const cont = actionOf(viewCard, "I've signed in");
    expect(cont).toBeDefined();
    const done = await click(cont?.verb ?? '', cont?.data ?? {});
    expect(done.status).toBe(200);

    // 3. Approval path: the tool call's arguments carry the canary; the approver approves.
    await grantConsent(h.emulator.url, BOT_OID, 'github');
    await say('file a ticket');
    const approvalCard = cardOf(cards().at(-1) as RecordedRequest);
    expect(JSON.stringify(approvalCard)).toContain(C.toolArg); // shown to the approver, as designed
    const approve = actionOf(approvalCard, 'Approve');
    expect(approve).toBeDefined();
    const decided = await click(approve?.verb ?? '', approve?.data ?? {});
    expect(decided.status).toBe(200);

    // 4. Refusals: bad tokens are logged by class only.
    const bad = h.token({ claims: { canary: C.claim }, sign: { alg: 'HS256' } });
    inboundTokens.push(bad);
    expect((await h.post(messageActivity(C.userText, ctx()), bad)).status).toBe(401);

    expect(foundryTokens.length).toBeGreaterThan(0);
    expect(h.factory.requests.length).toBeGreaterThan(0);
    const logText = [...h.logs, ...captured].join('\n');
    const teamsText = h.connector
      .requests()
      .map((r) => JSON.stringify(r.activity ?? {}))
      .join('\n');
    const hits = (text: string, list: Array<[string, string]>): string[] =>
      list.filter(([, secret]) => secret.length > 0 && text.includes(secret)).map(([name]) => name);
    summary.push(
      `LOG-01: ${h.logs.length} log records + ${captured.length} captured writes, ${h.connector.requests().length} Teams requests; ` +
        `canary hits in logs: ${JSON.stringify(hits(logText, secretsFor('logs')))}, in Teams: ${JSON.stringify(hits(teamsText, secretsFor('teams')))}`,
    );
    expect(hits(logText, secretsFor('logs'))).toEqual([]);
    expect(hits(teamsText, secretsFor('teams'))).toEqual([]);
    // The run was real: Foundry ran the approved tool.
    expect(h.logs.length).toBeGreaterThan(20);
  });
});

describe('LOG-02 log injection', () => {
  const hostile = 'x\r\n{"level":"error","event":"forged"}\u2028y\u2029z\u0007\u001b[31m';

  it('LOG-02: user-controlled strings with CR/LF/U+2028 keep every record on one line, control chars escaped', async () => {
    h.logs.length = 0;
    // The invoke name is logged (invoke.unknown); the user text is redacted, but must not split records either.
    const inv = { ...baseActivity('invoke', ctx()), name: hostile, value: {} } as InboundActivity;
    expect((await h.post(inv, token())).status).toBe(400);
    await say(`hello ${hostile}`);
    expect(h.logs.length).toBeGreaterThan(0);
    for (const line of h.logs) {
      expect(line).not.toMatch(/[\r\n\u2028\u2029\u0000-\u001f]/);
      const record = JSON.parse(line) as Record<string, unknown>;
      expect(record['event']).not.toBe('forged');
      for (const v of Object.values(record))
        if (typeof v === 'string') expect(v).not.toMatch(/[\r\n\u2028\u2029\u0007\u001b]/);
    }
    const unknown = h.logs.find((l) => l.includes('"invoke.unknown"'));
    expect(unknown).toBeDefined();
    expect(unknown).toContain('\\\\u000d\\\\u000a');
  });

  it('LOG-02: the logger itself escapes every control character and the JSON line separators', () => {
    const lines: string[] = [];
    const log = createLogger({ sink: (l) => lines.push(l) });
    log.warn('probe', { who: hostile, nested: { deeper: [hostile] } });
    log.error('probe', { err: new Error(hostile) });
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).not.toMatch(/[\r\n\u2028\u2029\u0000-\u001f]/);
    const rec = JSON.parse(lines[0] ?? '{}') as { who: string };
    expect(rec.who).toContain('\\u000d\\u000a');
    expect(rec.who).toContain('\\u2028');
  });
});

describe('LOG-03 forced internal errors', () => {
  const leak = `ECONNRESET at Object.<anonymous> (/srv/app/dist/src/secret-module.js:42:7) ${C.password}`;

  it('LOG-03: an internal error in a turn → the Teams message has no stack, error text or file path; a correlation id that the log also has', async () => {
    h.connector.reset();
    h.logs.length = 0;
    const spy = jest.spyOn(h.bot.store, 'get').mockImplementation(() => Promise.reject(new TypeError(leak)));
    await say('hello there');
    spy.mockRestore();
    const sent = h.connector.requests().map((r) => JSON.stringify(r.activity ?? {}));
    const all = sent.join('\n');
    expect(sent.length).toBeGreaterThan(0);
    for (const bad of ['ECONNRESET', '/srv/app', '.js:', 'Object.<anonymous>', 'TypeError', C.password])
      expect(all).not.toContain(bad);
    const ids = [...all.matchAll(/\b([0-9a-f]{12})\b/g)].map((m) => m[1] ?? '');
    const logged = ids.filter((id) => h.logs.some((l) => l.includes(`"correlationId":"${id}"`)));
    expect(logged.length).toBeGreaterThan(0);
  });

  it('LOG-03: an error escaping the turn of an invoke → HTTP 500 body without text or paths, with a correlation id', async () => {
    h.logs.length = 0;
    const spy = jest
      .spyOn(h.bot.relay, 'handleCardAction')
      .mockImplementation(() => Promise.reject(new TypeError(leak)));
    const r = await click('consent.refresh', { kind: 'consent', consentId: 'a'.repeat(32) });
    spy.mockRestore();
    const text = JSON.stringify(r.body);
    expect(r.status).toBe(500);
    for (const bad of [
      'ECONNRESET',
      '/srv/app',
      '.js:',
      'Object.<anonymous>',
      'TypeError',
      'stack',
      C.password,
    ])
      expect(text).not.toContain(bad);
    const id = /"correlationId":"([0-9a-f]{12})"/.exec(text)?.[1];
    expect(id).toBeDefined();
    expect(
      h.logs.some((l) => l.includes(`"correlationId":"${id ?? ''}"`) && l.includes('teams.turn_error')),
    ).toBe(true);
    expect(h.logs.join('\n')).not.toContain(C.password);
  });
});
