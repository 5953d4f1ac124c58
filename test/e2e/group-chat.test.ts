import {
  cardsIn,
  cardTitle,
  chromiumPath,
  emulatorLog,
  executeAction,
  grantGithubConsent,
  openChat,
  openPlayground,
  screenshot,
  sendWithMention,
  STACK_TIMEOUT,
  startLocalProduct,
  textMessages,
  waitFor,
  type LocalProduct,
  type PlaygroundPage,
} from './setup';

/**
 * The group chat "Ada and Ben": the bot answers @mentions only, and only the requester (Ada) can decide her
 * approval. Ben's click goes through the Playground's invoke endpoint with his id (docs/playground-notes.md §2 recipe A):
 * the Playground cannot switch the UI user, but invokes honour `from.id`.
 */
jest.setTimeout(90_000);

let product: LocalProduct | undefined;
let ui: PlaygroundPage | undefined;

beforeAll(async () => {
  chromiumPath(); // fail (not skip) without Chromium
  product = await startLocalProduct('group-chat');
  ui = await openPlayground(product.pg);
}, STACK_TIMEOUT);

afterAll(async () => {
  await ui?.close();
  await product?.stop();
}, 30_000);

function env(): { p: LocalProduct; u: PlaygroundPage; group: { id: string; name: string } } {
  if (!product || !ui) throw new Error('the local product did not start (see beforeAll)');
  const group = product.config.groupChats[0];
  if (!group) throw new Error('the Playground config has no group chat');
  return { p: product, u: ui, group };
}

test('the bot answers an @mention in the group chat', async () => {
  const { p, u, group } = env();
  expect(group.name).toBe('Ada and Ben');
  await openChat(u.page, group.name);
  await sendWithMention(u.page, p.config.bot.name, 'hello');
  await u.page.getByText("Hello! I'm the helpdesk agent.").last().waitFor();
  const answers = textMessages(u.frames, group.id, /Hello! I'm the helpdesk agent/);
  expect(answers).toHaveLength(1);
  await screenshot(u.page, 'group-mention');
});

test("Ben cannot approve Ada's request (403, nothing reaches the agent); then Ada approves", async () => {
  const { p, u, group } = env();
  const { page, frames } = u;
  await grantGithubConsent(p.emulator);
  await openChat(page, group.name);
  await sendWithMention(page, p.config.bot.name, 'create an issue');
  const card = page.locator('.ac-adaptiveCard', { hasText: 'The agent wants to run a tool' }).last();
  await card.waitFor();
  await card.getByText('Requested by Ada Lovelace').waitFor();

  const posted = await waitFor('the approval card frame', () =>
    cardsIn(frames, group.id).find((c) => cardTitle(c.card) === 'The agent wants to run a tool'),
  );
  const approve = executeAction(posted.card, 'Approve');
  expect(approve?.verb).toBe('approval.decide');

  const ben = p.config.users.find((x) => x.name.startsWith('Ben'));
  expect(ben).toBeDefined();
  const res = await fetch(`${p.pg}/_conversation/v1/invoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'adaptiveCard/action',
      from: { id: ben?.id },
      conversation: { id: group.id },
      replyToId: posted.messageId,
      value: {
        action: { type: 'Action.Execute', title: 'Approve', verb: approve?.verb, data: approve?.data },
      },
    }),
  });
  // The Playground relays the bot's invoke response body without its statusCode (403 in the bot).
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({
    type: 'application/vnd.microsoft.error',
    value: { code: 'Forbidden', message: 'Only Ada Lovelace or a named approver can decide this request.' },
  });
  const afterBen = await emulatorLog(p.emulator);
  expect(afterBen.approvals).toHaveLength(0);
  expect(afterBen.toolCalls.filter((t) => t.name === 'create_issue')).toHaveLength(0);

  // Ada, the requester, approves in the UI: the tool runs and the card shows the decision.
  await card.getByRole('button', { name: 'Approve', exact: true }).click();
  await page.getByText('Created issue #42 in contoso/helpdesk').last().waitFor();
  await card.getByText(/Approved by Ada Lovelace/).waitFor();
  await screenshot(page, 'group-approval-approved');
  const afterAda = await emulatorLog(p.emulator);
  expect(afterAda.approvals.map((a) => a.approve)).toEqual([true]);
  expect(
    afterAda.toolCalls.filter((t) => t.name === 'create_issue' && t.status === 'completed'),
  ).toHaveLength(1);
});
