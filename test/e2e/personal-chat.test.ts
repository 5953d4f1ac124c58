import {
  cardsIn,
  cardTitle,
  chromiumPath,
  emulatorLog,
  grantGithubConsent,
  openChat,
  openPlayground,
  screenshot,
  send,
  STACK_TIMEOUT,
  startLocalProduct,
  UI_TIMEOUT,
  textMessages,
  waitFor,
  type LocalProduct,
  type PlaygroundPage,
} from './setup';

/** Ada's 1:1 chat with the bot in the Agents Playground: answers, citations, consent and approvals. */
jest.setTimeout(90_000);

let product: LocalProduct | undefined;
let ui: PlaygroundPage | undefined;

beforeAll(async () => {
  chromiumPath(); // fail (not skip) without Chromium
  product = await startLocalProduct('personal-chat');
  ui = await openPlayground(product.pg);
  await openChat(ui.page, 'Personal Chat');
}, STACK_TIMEOUT);

afterAll(async () => {
  await ui?.close();
  await product?.stop();
}, 30_000);

function env(): { p: LocalProduct; u: PlaygroundPage; conv: string } {
  if (!product || !ui) throw new Error('the local product did not start (see beforeAll)');
  return { p: product, u: ui, conv: product.config.personalChat.id };
}

test('a question gets an answer with its citations shown', async () => {
  const { u } = env();
  const { page } = u;
  await send(page, 'docs');
  const answer = page.getByText('You can reset your password in the self-service portal').last();
  await answer.waitFor();
  // Teams citations render as numbered buttons in the text; hovering one shows the source.
  const marker = page.getByRole('button', { name: '1', exact: true }).last();
  await marker.waitFor();
  await expect(page.getByRole('button', { name: '2', exact: true }).last().isVisible()).resolves.toBe(true);
  await expect(page.getByText('AI generated').last().isVisible()).resolves.toBe(true);
  await marker.hover();
  await page.getByText('Self-service password reset').first().waitFor();
  await page
    .getByText(/learn\.microsoft\.com/)
    .first()
    .waitFor();
  await screenshot(page, 'personal-citations');
  await page.keyboard.press('Escape');
});

test('consent: sign in on the consent page, continue, and the tool runs; no second sign-in', async () => {
  const { p, u, conv } = env();
  const { page, ctx, frames } = u;
  await send(page, 'search my issues');
  await page.getByText('Sign in to github').last().waitFor();
  await expect(
    page
      .getByText(/The sign-in page is on 127\.0\.0\.1:\d+/)
      .last()
      .isVisible(),
  ).resolves.toBe(true);
  await screenshot(page, 'personal-consent-card');

  // "Sign in" is an Action.OpenUrl: the emulator's consent page opens in a new tab.
  const [popup] = await Promise.all([
    ctx.waitForEvent('page', { timeout: UI_TIMEOUT }),
    page.getByRole('link', { name: 'Sign in' }).last().click(),
  ]);
  await popup.waitForLoadState();
  expect(popup.url()).toContain(`${p.emulator}/__emulator/consent/`);
  await popup.locator('#allow').click();
  await popup.getByText('Access to github was granted.').waitFor();
  await screenshot(popup, 'consent-page-granted');
  await popup.close();

  await page.getByRole('button', { name: "I've signed in" }).last().click();
  await page.getByText('You have 3 open issues').last().waitFor();
  await page.getByText('Signed in. Continuing…').last().waitFor();
  await screenshot(page, 'personal-consent-done');
  const log = await emulatorLog(p.emulator);
  expect(log.consents.filter((c) => c.serverLabel === 'github' && c.decision === 'granted')).toHaveLength(1);
  expect(log.toolCalls.filter((t) => t.name === 'search_issues' && t.status === 'completed')).toHaveLength(1);

  // Next time: the answer comes straight away, without a new sign-in card.
  const signInCards = (): number =>
    new Set(
      cardsIn(frames, conv)
        .filter((c) => cardTitle(c.card) === 'Sign in to github')
        .map((c) => c.messageId),
    ).size;
  expect(signInCards()).toBe(1);
  await send(page, 'search my issues');
  await waitFor('a second answer', () =>
    textMessages(frames, conv, /You have 3 open issues/).length === 2 ? true : undefined,
  );
  const after = await emulatorLog(p.emulator);
  expect(after.toolCalls.filter((t) => t.name === 'search_issues' && t.status === 'completed')).toHaveLength(
    2,
  );
  expect(after.consents).toHaveLength(1);
  expect(signInCards()).toBe(1);
});

test('approval: the card shows tool and arguments; Approve runs it, Deny does not', async () => {
  const { p, u } = env();
  const { page } = u;
  await grantGithubConsent(p.emulator);
  await send(page, 'create an issue');
  const card = page.locator('.ac-adaptiveCard', { hasText: 'The agent wants to run a tool' }).last();
  await card.waitFor();
  await expect(card.getByText('create_issue').first().isVisible()).resolves.toBe(true);
  await expect(card.getByText('Printer on floor 3 is offline').first().isVisible()).resolves.toBe(true);
  await expect(card.getByText('contoso').first().isVisible()).resolves.toBe(true);
  await screenshot(page, 'personal-approval-card');

  await card.getByRole('button', { name: 'Approve', exact: true }).click();
  await page.getByText('Created issue #42 in contoso/helpdesk').last().waitFor();
  await card.getByText(/Approved by Ada Lovelace/).waitFor();
  await expect(card.getByRole('button', { name: 'Approve', exact: true }).count()).resolves.toBe(0);
  await screenshot(page, 'personal-approval-approved');

  await send(page, 'create an issue');
  const second = page.locator('.ac-adaptiveCard', { hasText: 'The agent wants to run a tool' }).nth(1);
  await second.getByRole('button', { name: 'Deny', exact: true }).click();
  await page.getByText('OK, I did not create the issue.').last().waitFor();
  await second.getByText(/Denied by Ada Lovelace/).waitFor();

  const log = await emulatorLog(p.emulator);
  expect(log.approvals.map((a) => a.approve)).toEqual([true, false]);
  expect(log.toolCalls.filter((t) => t.name === 'create_issue')).toHaveLength(1);
});
