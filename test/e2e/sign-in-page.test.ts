import { randomUUID } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { TeamsUser } from '../support/fakes/activities';
import { Chat, requestsAs, startIdentityStack, type IdentityStack } from '../integration/identity-helpers';
import { e2eBrowser } from './setup';

/**
 * Issue 12: the bot's own sign-in pages in a real browser (Chromium). A user whose silent SSO failed selects
 * Sign in; Teams would open the card's URL in its sign-in window. Here a **Teams SDK host stand-in** plays
 * Teams: a page on the bot's origin (served by Playwright's router, not by the bot) that opens the start URL
 * as a popup and answers the two messages @microsoft/teams-js sends its host through `window.opener`:
 *
 * - `{ id, func: 'initialize', args: [version, …] }` → `{ id, args: ['authentication', 'web', runtimeConfig,
 *   version] }` (frame context "authentication" is what `authentication.notifySuccess` requires);
 * - `{ func: 'authentication.authenticate.success', args: [result] }` (or `.failure`) → recorded.
 *
 * teams-js accepts the host's messages because the stand-in has the page's own origin (teams-js trusts the
 * page's origin; real Teams is trusted through its list of Teams origins). The popup goes start page → the
 * emulator's Entra sign-in (https, TEST-ONLY CA, so the browser context ignores certificate errors) → end page,
 * which loads teams-js from the bot (/auth/teams-js.js) and calls notifySuccess(state). Then the test sends the
 * `signin/verifyState` Teams would send with that result, and the message that waited is answered as the user.
 */
jest.setTimeout(90_000);

let s: IdentityStack;
let browser: Browser;

beforeAll(async () => {
  const path = e2eBrowser().path; // fail (not skip) without Chromium
  s = await startIdentityStack({ mode: 'user' });
  browser = await chromium.launch({
    executablePath: path,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

/** The Teams host stand-in (see above): opens `startUrl` as the sign-in window and answers teams-js. */
const HOST_HTML = `<!doctype html><html><body><button id="signin">Sign in</button><script>
window.result = null;
document.getElementById('signin').onclick = function () {
  window.signInWindow = window.open(window.startUrl, 'signin', 'width=600,height=600');
};
window.addEventListener('message', function (e) {
  var m = e.data || {};
  if (m.func === 'initialize') {
    var runtime = JSON.stringify({ apiVersion: 4, supports: { authentication: {} } });
    e.source.postMessage({ id: m.id, args: ['authentication', 'web', runtime, '2.58.0'] }, e.origin);
  } else if (m.func === 'authentication.authenticate.success') {
    window.result = { outcome: 'success', value: m.args[0] };
  } else if (m.func === 'authentication.authenticate.failure') {
    window.result = { outcome: 'failure', value: m.args[0] };
  }
});
</script></body></html>`;

async function openHost(startUrl: string): Promise<Page> {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  await ctx.route(`${s.bot.url}/__teams-host`, (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: HOST_HTML }),
  );
  const host = await ctx.newPage();
  await host.goto(`${s.bot.url}/__teams-host`);
  await host.evaluate((u) => {
    (window as unknown as { startUrl: string }).startUrl = u;
  }, startUrl);
  return host;
}

it('start page → Entra sign-in → end page notifySuccess → signin/verifyState → the waiting message answered as that user', async () => {
  const user: TeamsUser = { id: `29:kim-${randomUUID()}`, name: 'Kim', aadObjectId: randomUUID() };
  const chat = new Chat(s, 'personal');
  await chat.say(user, 'weather');
  expect(await requestsAs(s.emulator.url, user.aadObjectId ?? '')).toBe(0);
  const content = chat.signInCards().at(-1)?.content as { buttons?: { value?: string }[] } | undefined;
  const startUrl = content?.buttons?.[0]?.value ?? '';
  expect(startUrl).toContain('/auth/start?state=');

  const host = await openHost(startUrl);
  const [popup] = await Promise.all([host.waitForEvent('popup'), host.click('#signin')]);
  // The emulated Entra sign-in page (reached through the start page's redirect).
  await popup.waitForSelector('#oid', { timeout: 30_000 });
  expect(popup.url()).toContain('/oauth2/v2.0/authorize?');
  expect(new URL(popup.url()).searchParams.get('code_challenge_method')).toBe('S256');
  await popup.fill('#oid', user.aadObjectId ?? '');
  await popup.fill('#name', user.name ?? '');
  await Promise.all([popup.waitForEvent('close', { timeout: 30_000 }), popup.click('#accept')]);

  const result = (
    await host.waitForFunction(() => (window as unknown as { result: unknown }).result, undefined, {
      timeout: 30_000,
    })
  ).jsonValue() as Promise<{ outcome: string; value: string }>;
  const { outcome, value } = await result;
  expect(outcome).toBe('success');
  expect(value).toBe(new URL(startUrl).searchParams.get('state'));

  // What Teams sends the bot after notifySuccess.
  const v = await chat.invoke(chat.signinInvoke(user, 'signin/verifyState', { state: value }));
  expect(v.status).toBe(200);
  expect(chat.texts().at(-1)).toMatch(/forecast|weather|sunny|°/i);
  const log = (await (await fetch(`${s.emulator.url}/__emulator/log`)).json()) as {
    requests: { path: string; callerOid?: string }[];
  };
  const foundry = log.requests.filter((r) => r.path.endsWith('/responses'));
  expect(foundry.at(-1)?.callerOid).toBe(user.aadObjectId);
});
