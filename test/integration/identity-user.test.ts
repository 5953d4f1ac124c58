import { inspect } from 'node:util';
import { randomUUID } from 'node:crypto';
import { getLog, submitConsent } from '../../emulator/test-client';
import { FOUNDRY_SCOPE } from '../../src/foundry/types';
import { MemoryStateStore } from '../../src/storage/memory-store';
import { userMessageFor } from '../../src/errors';
import { SIGNIN_TEXT } from '../../src/relay/texts';
import { DEFAULT_USER, SECOND_USER, type TeamsUser } from '../support/fakes/activities';
import { actionOf, cardText, openUrlOf } from '../support/harness';
import {
  Chat,
  consentIdOf,
  oboCalls,
  privateChats,
  requestsAs,
  startIdentityStack,
  toolCalls,
  type IdentityStack,
} from './identity-helpers';

/**
 * Issue 5, user mode (FOUNDRY_AUTH=user): Teams SSO token → OnBehalfOfCredential (real, against the emulator's
 * https Entra authority) → Foundry as the user. Teams itself is simulated by the invokes it sends
 * (signin/tokenExchange, signin/verifyState, signin/failure) with SSO tokens the emulator signs.
 */
const ADA = DEFAULT_USER;
const BEN = SECOND_USER;
const oid = (u: TeamsUser): string => u.aadObjectId ?? '';
const OTHER_TENANT = '99999999-9999-4999-8999-999999999999';

let s: IdentityStack;
const store = new MemoryStateStore();
const logs: string[] = [];
/** Every token minted or handed out in this file (LOG-01 canaries). */
const tokens: string[] = [];
const sso = (u: TeamsUser, extra: { tid?: string; aud?: string; expiresInSec?: number } = {}): string => {
  const t = s.emulator.issueSsoToken({ oid: oid(u), name: u.name, ...extra });
  tokens.push(t);
  return t;
};

beforeAll(async () => {
  s = await startIdentityStack({ mode: 'user', store, logs });
});
afterAll(async () => {
  await s.close();
});

/** Ada or Ben completes their own consent on the consent card addressed to them. */
async function completeConsent(chat: Chat, user: TeamsUser, card: Record<string, unknown>): Promise<void> {
  const consentId = consentIdOf(card);
  const mine = await chat.click(user, 'consent.refresh', { kind: 'consent', consentId });
  const link = openUrlOf(mine.value);
  expect(link).toBeDefined();
  await submitConsent(s.emulator.url, link ?? '', 'allow');
  const cont = actionOf(mine.value, "I've signed in");
  expect(cont).toBeDefined();
  const answer = await chat.click(user, cont?.verb ?? '', cont?.data ?? {});
  expect(answer.statusCode).toBe(200);
  await s.bot.relay.idle();
}

const consentCards = (chat: Chat): Record<string, unknown>[] =>
  chat.adaptiveCards().filter((c) => JSON.stringify(c).includes('"consentId"'));

describe('user mode: two users in one group chat', () => {
  const chat = (): Chat => groupChat;
  let groupChat: Chat;
  beforeAll(() => {
    groupChat = new Chat(s, 'groupChat');
  });

  it('Ada: sign-in card in her 1:1 chat (never in the group), SSO exchange, her own consent, the tool runs as Ada', async () => {
    await chat().say(ADA, 'search my issues');
    // No sign-in card in the group: the group hears only that Ada was asked privately.
    expect(chat().signInCards()).toHaveLength(0);
    expect(chat().texts()).toEqual([`<at>Ada Lovelace</at>, ${SIGNIN_TEXT.sentPrivately}`]);
    const dm = privateChats(s, ADA).at(-1);
    const signIn = dm?.signInCards() ?? [];
    expect(signIn).toHaveLength(1);
    expect(signIn[0]?.content['tokenExchangeResource']).toEqual({ id: expect.any(String) as string });
    // Nothing was sent to Foundry (or Entra) for Ada before she signed in.
    expect(await requestsAs(s.emulator.url, oid(ADA))).toBe(0);

    // Teams' silent SSO works in the 1:1 chat; the group's message is then answered in the group.
    const r = await (dm ?? chat()).exchange(ADA, sso(ADA));
    expect(r.status).toBe(200);
    expect(await oboCalls(s.emulator.url, oid(ADA))).toBe(1);
    // Her message was replayed after sign-in: Foundry asks for Ada's consent (per user, not shared).
    const consent = consentCards(chat());
    expect(consent).toHaveLength(1);
    expect(cardText(consent[0])).not.toContain('shared');
    await completeConsent(chat(), ADA, consent[0] ?? {});
    expect(
      chat()
        .texts()
        .some((t) => t.includes('You have 3 open issues')),
    ).toBe(true);
    const calls = await toolCalls(s.emulator.url);
    expect(calls).toEqual([{ name: 'search_issues', callerOid: oid(ADA) }]);
  });

  it('Ben still gets his own sign-in and consent card; every tool call of Ben runs as Ben', async () => {
    const consentBefore = consentCards(chat()).length;
    await chat().say(BEN, 'search my issues');
    expect(chat().signInCards()).toHaveLength(0);
    expect(chat().texts()).toContain(`<at>Ben Bauer</at>, ${SIGNIN_TEXT.sentPrivately}`);
    const dm = privateChats(s, BEN).at(-1);
    expect(dm?.signInCards()).toHaveLength(1);
    expect((await (dm ?? chat()).exchange(BEN, sso(BEN))).status).toBe(200);
    // Ada's consent does not serve Ben: he is asked for his own.
    const consent = consentCards(chat());
    expect(consent).toHaveLength(consentBefore + 1);
    const bens = consent.at(-1) ?? {};
    // Ada cannot complete Ben's consent (it is his, not shared).
    const adaView = await chat().click(ADA, 'consent.refresh', {
      kind: 'consent',
      consentId: consentIdOf(bens),
    });
    expect(openUrlOf(adaView.value)).toBeUndefined();
    await completeConsent(chat(), BEN, bens);
    await chat().say(BEN, 'search my issues again');
    const calls = await toolCalls(s.emulator.url);
    const bensCalls = calls.slice(1);
    expect(bensCalls).toHaveLength(2);
    expect(bensCalls.every((c) => c.callerOid === oid(BEN))).toBe(true);
    expect(calls.filter((c) => c.callerOid === oid(ADA))).toHaveLength(1);
    // The emulator saw Ben's Foundry requests with Ben's own token only.
    const log = await getLog(s.emulator.url);
    const foundry = log.requests.filter((q) => q.path.endsWith('/responses'));
    expect(foundry.length).toBeGreaterThanOrEqual(4);
    expect(foundry.every((q) => q.callerOid === oid(ADA) || q.callerOid === oid(BEN))).toBe(true);
  });

  it('after her consent Ada is not asked again in a new conversation (cached Foundry token, no new exchange)', async () => {
    const dm = new Chat(s, 'personal');
    const obo = await oboCalls(s.emulator.url);
    await dm.say(ADA, 'search my issues');
    expect(dm.signInCards()).toHaveLength(0);
    expect(consentCards(dm)).toHaveLength(0);
    expect(dm.texts().some((t) => t.includes('You have 3 open issues'))).toBe(true);
    expect(await oboCalls(s.emulator.url)).toBe(obo);
    expect((await toolCalls(s.emulator.url)).filter((c) => c.callerOid === oid(ADA))).toHaveLength(2);
  });

  it('across a bot restart on the same store: silent sign-in again, no consent again, per-user threads kept', async () => {
    const adaResponses = (await getLog(s.emulator.url)).requests
      .filter((q) => q.path.endsWith('/responses') && q.callerOid === oid(ADA))
      .map((q) => q.responseId);
    await s.close({ keepEmulator: true });
    s = await startIdentityStack({ mode: 'user', store, logs, emulator: s.emulator });
    // The same group chat, new bot process: tokens were memory-only, so Teams is asked for SSO again.
    const again = new Chat(s, 'groupChat');
    Object.defineProperty(again, 'id', { value: groupChat.id });
    await again.say(ADA, 'search my issues');
    expect(again.signInCards()).toHaveLength(0);
    const adaDm = privateChats(s, ADA).at(-1);
    expect(adaDm?.signInCards()).toHaveLength(1);
    expect((await (adaDm ?? again).exchange(ADA, sso(ADA))).status).toBe(200);
    expect(consentCards(again)).toHaveLength(0);
    expect(again.texts().some((t) => t.includes('You have 3 open issues'))).toBe(true);
    const last = (await getLog(s.emulator.url)).requests
      .filter((q) => q.path.endsWith('/responses') && q.callerOid === oid(ADA))
      .at(-1);
    // Ada's thread in this group chat survived the restart (durable state) and stayed hers.
    expect(adaResponses).toContain(last?.previousResponseId);
    // Ben too: signed in again, not asked to consent again, his call runs as Ben.
    await again.say(BEN, 'search my issues');
    const benDm = privateChats(s, BEN).at(-1);
    expect((await (benDm ?? again).exchange(BEN, sso(BEN))).status).toBe(200);
    expect(consentCards(again)).toHaveLength(0);
    expect((await toolCalls(s.emulator.url)).at(-1)).toEqual({ name: 'search_issues', callerOid: oid(BEN) });
  });
});

describe('user mode: edge cases', () => {
  it('several devices exchanging at once for one user → one on-behalf-of call', async () => {
    const carol: TeamsUser = {
      id: '29:carol',
      name: 'Carol',
      aadObjectId: 'cccccccc-0000-4000-8000-00000000000c',
    };
    const chat = new Chat(s, 'personal');
    const results = await Promise.all(
      [3000, 3300, 3600, 3900].map((sec) => chat.exchange(carol, sso(carol, { expiresInSec: sec }))),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(await oboCalls(s.emulator.url, oid(carol))).toBe(1);
    // And several turns asking for the credential at once share the cached token.
    const identity = s.identity;
    if (!identity) throw new Error('user mode has an identity provider');
    const creds = await Promise.all([1, 2, 3].map(() => identity.credentialFor(carol, s.emulator.tenantId)));
    const got = await Promise.all(creds.map((c) => c.getToken(FOUNDRY_SCOPE)));
    expect(new Set(got.map((t) => t?.token)).size).toBe(1);
    tokens.push(got[0]?.token ?? '');
    expect(await oboCalls(s.emulator.url, oid(carol))).toBe(1);
    // Credentials never serialise a token.
    expect(JSON.stringify(creds[0])).not.toContain(got[0]?.token ?? '');
    expect(inspect(creds[0])).toMatch(/^UserCredential/);
  });

  it('a user from another tenant gets "not permitted" and nothing is sent to Foundry or Entra for them', async () => {
    const mallory: TeamsUser = {
      id: '29:mallory',
      name: 'Mallory',
      aadObjectId: 'eeeeeeee-0000-4000-8000-00000000000e',
    };
    const chat = new Chat(s, 'personal', OTHER_TENANT);
    await chat.say(mallory, 'search my issues');
    expect(chat.signInCards()).toHaveLength(0);
    expect(
      chat
        .adaptiveCards()
        .map((c) => cardText(c))
        .join('\n'),
    ).toContain('not permitted');
    // Even with an SSO token of their own tenant, the exchange is refused before Entra is called.
    const r = await chat.exchange(mallory, sso(mallory, { tid: OTHER_TENANT }));
    expect(r.status).toBe(403);
    expect(chat.texts().some((t) => t.includes('not permitted'))).toBe(true);
    expect(await requestsAs(s.emulator.url, oid(mallory))).toBe(0);
    expect(await oboCalls(s.emulator.url, oid(mallory))).toBe(0);
    // The emulator's Foundry routes refuse such a user with 403 anyway.
    const direct = await fetch(`${s.emulator.projectEndpoint}/openai/v1/responses`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${s.emulator.issueToken({ oid: oid(mallory), tid: OTHER_TENANT })}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        input: 'hi',
        agent_reference: { type: 'agent_reference', name: 'helpdesk-agent' },
      }),
    });
    expect(direct.status).toBe(403);
  });

  it('a failed exchange answers 412 (Teams shows Sign in) and tells the user; an unknown verifyState state re-asks', async () => {
    const dan: TeamsUser = { id: '29:dan', name: 'Dan', aadObjectId: 'dddddddd-0000-4000-8000-00000000000d' };
    const chat = new Chat(s, 'personal');
    await chat.say(dan, 'hello');
    expect(chat.signInCards()).toHaveLength(1);
    const r = await chat.exchange(dan, sso(dan, { aud: 'api://somewhere-else/botid-x' }));
    expect(r.status).toBe(412);
    expect(chat.texts().at(-1)).toBe(
      `${userMessageFor('SIGNIN_GRANT_INVALID')} ${SIGNIN_TEXT.exchangeFailed}`,
    );
    expect(await oboCalls(s.emulator.url, oid(dan))).toBe(0); // refused by "Entra": no token issued
    // A state the bot never issued: 412, and a new card that says why.
    const v = await chat.invoke(chat.signinInvoke(dan, 'signin/verifyState', { state: '123456' }));
    expect(v.status).toBe(412);
    expect(chat.signInCards()).toHaveLength(2);
    expect(chat.signInCards()[1]?.activity.activity?.text).toContain(userMessageFor('SIGNIN_LINK_INVALID'));
    // A token of someone else in Dan's invoke is never attached to Dan.
    const swapped = await chat.exchange(dan, sso(ADA));
    expect(swapped.status).toBe(412);
  });

  it('signin/failure produces a clear message, never silence', async () => {
    const chat = new Chat(s, 'personal');
    const r = await chat.invoke(
      chat.signinInvoke(ADA, 'signin/failure', {
        code: 'resourcematchfailed',
        message: 'Resource match failed',
      }),
    );
    expect(r.status).toBe(200);
    // In a 1:1 chat resourcematchfailed is a setup problem (webApplicationInfo): said so, with the way out.
    expect(chat.texts()).toEqual([SIGNIN_TEXT.ssoMismatch]);
  });

  it('LOG-01 canary: no SSO, on-behalf-of or Foundry token appears in any log line or Teams message', async () => {
    const canaryUser: TeamsUser = { id: '29:canary', name: 'Canary', aadObjectId: randomUUID() };
    const chat = new Chat(s, 'personal');
    await chat.say(canaryUser, 'weather');
    expect((await chat.exchange(canaryUser, sso(canaryUser))).status).toBe(200);
    expect(chat.texts().length).toBeGreaterThan(0);
    const cred = await s.identity?.credentialFor(canaryUser, s.emulator.tenantId);
    tokens.push((await cred?.getToken(FOUNDRY_SCOPE))?.token ?? '');
    const sent = JSON.stringify(s.connector.requests().map((q) => q.activity));
    const logged = logs.join('\n');
    expect(logs.length).toBeGreaterThan(10);
    const leaks = tokens
      .filter((t) => t.length > 0)
      .flatMap((t) => [t, t.split('.')[2] ?? t])
      .filter((needle) => logged.includes(needle) || sent.includes(needle));
    expect(leaks).toEqual([]);
    // The SSO client secret is scrubbed too.
    expect(logged).not.toContain(s.emulator.ssoClient.clientSecret);
  });
});
