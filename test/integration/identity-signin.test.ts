import { randomUUID } from 'node:crypto';
import { setFaults } from '../../emulator/test-client';
import { userMessageFor } from '../../src/errors';
import { SIGNIN_TEXT } from '../../src/relay/texts';
import type { TeamsUser } from '../support/fakes/activities';
import {
  Chat,
  oboCalls,
  privateChats,
  requestsAs,
  startIdentityStack,
  type IdentityStack,
} from './identity-helpers';

/**
 * Issue 12, user mode around the silent SSO: the private 1:1 sign-in of group chats and channels (and when the
 * app is not installed for the user), the bot's own sign-in pages driven over HTTP (start → emulated Entra
 * authorize with PKCE → end → signin/verifyState → the waiting message answered as that user), and each token
 * failure: interaction_required, invalid_grant, Foundry 401. The browser drives the same pages in
 * test/e2e/sign-in-page.test.ts.
 */
let s: IdentityStack;
const logs: string[] = [];

beforeAll(async () => {
  s = await startIdentityStack({ mode: 'user', logs });
});
afterAll(async () => {
  await s.close();
});

function newUser(name: string): TeamsUser {
  return { id: `29:${name.toLowerCase()}-${randomUUID()}`, name, aadObjectId: randomUUID() };
}
const oid = (u: TeamsUser): string => u.aadObjectId ?? '';
const sso = (u: TeamsUser): string => s.emulator.issueSsoToken({ oid: oid(u), name: u.name });

/** The Sign in button's URL of the newest sign-in card in `chat`. */
function startUrlOf(chat: Chat): string {
  const content = chat.signInCards().at(-1)?.content as { buttons?: { value?: string }[] } | undefined;
  const url = content?.buttons?.[0]?.value;
  if (!url) throw new Error('no sign-in button');
  return url;
}

/** What the user does in the sign-in window, over HTTP: start page → Entra sign-in as `as` → end page. */
async function signInOnPages(
  startUrl: string,
  as: TeamsUser,
): Promise<{ endStatus: number; endHtml: string; state: string }> {
  const start = await fetch(startUrl, { redirect: 'manual' });
  expect(start.status).toBe(302);
  const authorize = new URL(start.headers.get('location') ?? '');
  expect(authorize.origin).toBe(s.emulator.authorityUrl);
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
  // The emulated Entra sign-in page, submitted as `as` (over http on the emulator's other listener: same routes).
  const form = new URLSearchParams(authorize.searchParams);
  form.set('oid', oid(as));
  form.set('name', as.name ?? '');
  form.set('decision', 'accept');
  const submitted = await fetch(`${s.emulator.url}${authorize.pathname}`, {
    method: 'POST',
    body: form,
    redirect: 'manual',
  });
  expect(submitted.status).toBe(302);
  const end = new URL(submitted.headers.get('location') ?? '');
  expect(end.pathname).toBe('/auth/end');
  const page = await fetch(end);
  return { endStatus: page.status, endHtml: await page.text(), state: end.searchParams.get('state') ?? '' };
}

describe('group chats and channels: sign-in only in private', () => {
  it('a channel message: no public sign-in card, a private card, 0 Foundry requests until SSO, then the answer in the channel', async () => {
    const ada = newUser('Ada');
    const channel = new Chat(s, 'channel');
    await channel.say(ada, 'weather');
    expect(channel.signInCards()).toHaveLength(0);
    expect(channel.texts()).toEqual([`<at>Ada</at>, ${SIGNIN_TEXT.sentPrivately}`]);
    expect(channel.texts().join(' ')).not.toContain('administrator');
    const dm = privateChats(s, ada).at(-1);
    expect(dm?.signInCards()).toHaveLength(1);
    expect(await requestsAs(s.emulator.url, oid(ada))).toBe(0);
    expect((await dm?.exchange(ada, sso(ada)))?.status).toBe(200);
    expect(channel.texts().at(-1)).toMatch(/forecast|weather|sunny|°/i);
    expect(dm?.texts().join(' ')).not.toMatch(/forecast|sunny|°/i);
  });

  it('the app is not installed for the user: the group is told without a link, nothing is sent for them; a 1:1 chat later completes it', async () => {
    const ben = newUser('Ben');
    s.connector.script({
      kind: 'create-conversation',
      respond: {
        status: 403,
        body: { error: { code: 'Forbidden', message: "Bot is not installed in user's personal scope" } },
      },
    });
    const group = new Chat(s, 'groupChat');
    await group.say(ben, 'weather');
    expect(group.signInCards()).toHaveLength(0);
    expect(group.texts()).toEqual([`<at>Ben</at>, ${SIGNIN_TEXT.notInstalled}`]);
    expect(group.texts()[0]).not.toMatch(/https?:/);
    expect(privateChats(s, ben)).toHaveLength(0); // Teams refused the 1:1 chat: no card went anywhere
    expect(await requestsAs(s.emulator.url, oid(ben))).toBe(0);
    // Ben opens a chat with the bot: the card comes there; after SSO the group's question is answered in the group.
    const dm = new Chat(s, 'personal');
    await dm.say(ben, 'hello');
    expect(dm.signInCards()).toHaveLength(1);
    expect((await dm.exchange(ben, sso(ben))).status).toBe(200);
    expect(group.texts().at(-1)).toMatch(/forecast|weather|sunny|°/i);
  });
});

describe("the bot's own sign-in pages (fallback when silent SSO fails)", () => {
  it('start → Entra (PKCE) → end page (notifySuccess) → verifyState → the waiting message answered as that user', async () => {
    const cleo = newUser('Cleo');
    const dm = new Chat(s, 'personal');
    await dm.say(cleo, 'weather');
    const startUrl = startUrlOf(dm);
    expect(startUrl).toMatch(new RegExp(`^${s.bot.url}/auth/start\\?state=[A-Za-z0-9_-]{43}$`));
    const { endStatus, endHtml, state } = await signInOnPages(startUrl, cleo);
    expect(endStatus).toBe(200);
    expect(endHtml).toContain('src="/auth/teams-js.js"');
    expect(endHtml).toContain(`data-outcome="success" data-value="${state}"`);
    expect(endHtml).not.toMatch(/code=/);
    // The start link is single-use.
    expect((await fetch(startUrl, { redirect: 'manual' })).status).toBe(400);
    const obo = await oboCalls(s.emulator.url, oid(cleo));
    const v = await dm.invoke(dm.signinInvoke(cleo, 'signin/verifyState', { state }));
    expect(v.status).toBe(200);
    expect(dm.texts().at(-1)).toMatch(/forecast|weather|sunny|°/i);
    // Foundry saw Cleo: one token request (the code redemption), with her token on the Foundry routes.
    expect(await requestsAs(s.emulator.url, oid(cleo))).toBeGreaterThan(1);
    expect(await oboCalls(s.emulator.url, oid(cleo))).toBe(obo + 1);
    // A second verifyState with the same state is refused: single use.
    const again = await dm.invoke(dm.signinInvoke(cleo, 'signin/verifyState', { state }));
    expect(again.status).toBe(412);
    expect(dm.signInCards().at(-1)?.activity.activity?.text).toContain(userMessageFor('SIGNIN_LINK_INVALID'));
  });

  it('the state is bound to the user and the conversation: another user, or another chat, cannot use it', async () => {
    const dora = newUser('Dora');
    const eve = newUser('Eve');
    const dm = new Chat(s, 'personal');
    await dm.say(dora, 'weather');
    const { state } = await signInOnPages(startUrlOf(dm), dora);
    const byEve = await dm.invoke(dm.signinInvoke(eve, 'signin/verifyState', { state }));
    expect(byEve.status).toBe(412);
    const elsewhere = new Chat(s, 'personal');
    const otherChat = await elsewhere.invoke(elsewhere.signinInvoke(dora, 'signin/verifyState', { state }));
    expect(otherChat.status).toBe(412);
    expect(await requestsAs(s.emulator.url, oid(eve))).toBe(0);
  });

  it('signing in with another account than the Teams user is refused and said so', async () => {
    const finn = newUser('Finn');
    const gus = newUser('Gus');
    const dm = new Chat(s, 'personal');
    await dm.say(finn, 'weather');
    const { state } = await signInOnPages(startUrlOf(dm), gus);
    const v = await dm.invoke(dm.signinInvoke(finn, 'signin/verifyState', { state }));
    expect(v.status).toBe(412);
    expect(dm.signInCards().at(-1)?.activity.activity?.text).toContain(
      userMessageFor('SIGNIN_WRONG_ACCOUNT'),
    );
    expect(await requestsAs(s.emulator.url, oid(finn))).toBe(0);
  });

  it('Entra answers the end page with an error: the page reports failure to Teams, the state is dropped', async () => {
    const hal = newUser('Hal');
    const dm = new Chat(s, 'personal');
    await dm.say(hal, 'weather');
    const state = new URL(startUrlOf(dm)).searchParams.get('state') ?? '';
    const end = await fetch(`${s.bot.url}/auth/end?error=access_denied&state=${state}`);
    expect(await end.text()).toContain('data-outcome="failure" data-value="access_denied"');
    expect((await fetch(startUrlOf(dm), { redirect: 'manual' })).status).toBe(400);
  });
});

describe('token failures', () => {
  async function entraError(user: TeamsUser, error: 'interaction_required' | 'invalid_grant'): Promise<void> {
    const r = await fetch(`${s.emulator.url}/__emulator/entra-errors`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ oid: oid(user), error }),
    });
    expect(r.status).toBe(200);
  }

  it.each([
    ['interaction_required', 'SIGNIN_INTERACTION_REQUIRED'],
    ['invalid_grant', 'SIGNIN_GRANT_INVALID'],
  ] as const)(
    'OBO %s → 412 (Teams shows Sign in), a line saying why, 0 Foundry requests',
    async (error, code) => {
      const ivy = newUser('Ivy');
      const dm = new Chat(s, 'personal');
      await dm.say(ivy, 'weather');
      await entraError(ivy, error);
      const r = await dm.exchange(ivy, sso(ivy));
      expect(r.status).toBe(412);
      expect(dm.texts().at(-1)).toBe(`${userMessageFor(code)} ${SIGNIN_TEXT.exchangeFailed}`);
      expect((await requestsAs(s.emulator.url, oid(ivy))) - (await oboCalls(s.emulator.url, oid(ivy)))).toBe(
        0,
      );
      // The fallback (the card's Sign in button → the bot's pages) completes it and the message is answered.
      const { state } = await signInOnPages(startUrlOf(dm), ivy);
      expect((await dm.invoke(dm.signinInvoke(ivy, 'signin/verifyState', { state }))).status).toBe(200);
      expect(dm.texts().at(-1)).toMatch(/forecast|weather|sunny|°/i);
    },
  );

  it('Foundry 401 drops the cached token and asks to sign in again with the reason; a new sign-in answers', async () => {
    const jo = newUser('Jo');
    const dm = new Chat(s, 'personal');
    await dm.say(jo, 'weather');
    expect((await dm.exchange(jo, sso(jo))).status).toBe(200);
    const obo = await oboCalls(s.emulator.url, oid(jo));
    await setFaults(s.emulator.url, [{ kind: 'unauthorized', count: 1 }]);
    await dm.say(jo, 'weather again');
    const cards = dm.signInCards();
    expect(cards).toHaveLength(2);
    expect(cards[1]?.activity.activity?.text).toContain(userMessageFor('SIGNIN_REJECTED_BY_FOUNDRY'));
    expect(dm.adaptiveCards().filter((c) => JSON.stringify(c).includes('FOUNDRY_UNAUTHORIZED'))).toHaveLength(
      0,
    );
    // The cached Foundry token was dropped: the next sign-in really exchanges again.
    expect((await dm.exchange(jo, sso(jo))).status).toBe(200);
    expect(await oboCalls(s.emulator.url, oid(jo))).toBe(obo + 1);
    expect(dm.texts().at(-1)).toMatch(/forecast|weather|sunny|°/i);
  });
});
