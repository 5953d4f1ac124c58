import { startBot, type RunningBot } from '../../src/app';
import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/observability/logger';
import { approvalKey, threadKey } from '../../src/relay/keys';
import type { ApprovalBatch, ThreadState } from '../../src/relay/model';
import { MemoryStateStore } from '../../src/storage/memory-store';
import { updateRecord } from '../../src/storage/store';
import { startEmulator, type RunningEmulator } from '../../emulator/server';
import { getLog, grantConsent } from '../../emulator/test-client';
import {
  adaptiveCardActionInvoke,
  DEFAULT_TENANT_ID,
  DEFAULT_USER,
  messageActivity,
  postActivity,
  type InboundActivity,
} from '../support/fakes/activities';
import { startFakeBotConnector, type FakeBotConnector } from '../support/fakes/fake-bot-connector';
import { actionOf, BOT_OID, cardOf, cardText, staticCredential, textOf } from '../support/harness';
import { eventually } from './bot-process';

/**
 * The DUR-01..03 concurrency checks on memory storage inside one process: two bots (two Relay instances with
 * distinct instance ids) share one MemoryStateStore, which has the same compare-and-set semantics as the blob
 * store. Also the crash-recovery rules: an orphaned `submitting` batch, lazy expiry, a dead instance's lease.
 */
jest.setTimeout(90_000);

let emu: RunningEmulator;
let connector: FakeBotConnector;
let store: MemoryStateStore;
const bots: RunningBot[] = [];

async function newBot(): Promise<RunningBot> {
  const config = loadConfig({
    NODE_ENV: 'development',
    PORT: '0',
    HOST: '127.0.0.1',
    FOUNDRY_PROJECT_ENDPOINT: emu.projectEndpoint,
    FOUNDRY_AGENT_NAME: 'helpdesk-agent',
    CONSENT_LINK_HOSTS: new URL(emu.url).host,
    FOUNDRY_TIMEOUT_MS: '10000',
    LOG_LEVEL: 'error',
  });
  const bot = await startBot(config, {
    log: createLogger({ level: 'error', sink: () => undefined }),
    appCredential: staticCredential(emu, BOT_OID),
    store,
  });
  bots.push(bot);
  return bot;
}

beforeAll(async () => {
  [emu, connector] = await Promise.all([startEmulator({}), startFakeBotConnector()]);
  await grantConsent(emu.url, BOT_OID, 'github');
  store = new MemoryStateStore();
});

afterAll(async () => {
  await Promise.allSettled(bots.map((b) => b.shutdown(500)));
  await Promise.allSettled([connector?.close(), emu?.close()]);
});

const newConversation = (): string => `a:personal-${Math.random().toString(16).slice(2)}`;
const message = (text: string, conversationId: string): InboundActivity =>
  messageActivity(text, { serviceUrl: connector.url, conversationId, user: DEFAULT_USER });
const post = (bot: RunningBot, a: InboundActivity): Promise<{ status: number; body: unknown }> =>
  postActivity(`${bot.url}/api/messages`, a);
const said = (conv: string, fragment: string): boolean =>
  connector.activities(conv).some((r) => textOf(r).includes(fragment));
const approvals = async (): Promise<number> => (await getLog(emu.url)).approvals.length;
const foundryTurns = async (): Promise<number> =>
  (await getLog(emu.url)).requests.filter((r) => r.method === 'POST' && r.path.endsWith('/responses')).length;

function approveActionIn(conv: string): Promise<{ verb: string; data: Record<string, unknown> }> {
  return eventually(
    () => {
      for (const r of connector.activities(conv)) {
        const a = actionOf(cardOf(r), 'Approve');
        if (a) return a;
      }
      return undefined;
    },
    30_000,
    'an approval card',
  );
}

const click = (
  bot: RunningBot,
  conv: string,
  action: { verb: string; data: Record<string, unknown> },
): Promise<{ status: number; body: unknown }> =>
  post(
    bot,
    adaptiveCardActionInvoke(action.verb, action.data, {
      serviceUrl: connector.url,
      conversationId: conv,
      user: DEFAULT_USER,
    }),
  );

function answerText(body: unknown): string {
  const b = body as { type?: unknown; value?: unknown } | undefined;
  return b?.type === 'application/vnd.microsoft.card.adaptive' ? cardText(b.value) : '';
}

async function pendingBatch(
  bot: RunningBot,
  conv: string,
): Promise<{
  action: { verb: string; data: Record<string, unknown> };
  batchId: string;
}> {
  expect((await post(bot, message('create an issue', conv))).status).toBe(200);
  const action = await approveActionIn(conv);
  await bot.relay.idle();
  return { action, batchId: String(action.data['batchId']) };
}

const batchOf = async (batchId: string): Promise<ApprovalBatch | undefined> =>
  (await store.get<ApprovalBatch>(approvalKey(batchId)))?.value;

describe('memory storage, one process', () => {
  let a: RunningBot;
  let b: RunningBot;
  beforeAll(async () => {
    a = await newBot();
    b = await newBot();
  });

  it('DUR-01 (memory): 20 pending approvals outlive the bot that asked; another instance continues each once', async () => {
    const before = await approvals();
    const convs = Array.from({ length: 20 }, newConversation);
    const pending = await Promise.all(convs.map(async (c) => ({ conv: c, ...(await pendingBatch(a, c)) })));
    const answers = await Promise.all(pending.map((p) => click(b, p.conv, p.action)));
    expect(answers.map((r) => r.status)).toEqual(convs.map(() => 200));
    await eventually(
      () => (convs.every((c) => said(c, 'Created issue #42')) ? true : undefined),
      45_000,
      '20 continuations',
    );
    await b.relay.idle();
    const log = await getLog(emu.url);
    expect(log.approvals.length - before).toBe(20);
    expect(new Set(log.approvals.slice(before).map((x) => x.requestId)).size).toBe(20);
    const states = await Promise.all(pending.map((p) => batchOf(p.batchId)));
    expect(states.map((s) => s?.state)).toEqual(convs.map(() => 'submitted'));
    const leases = await Promise.all(
      store
        .keys()
        .filter((k) => k.startsWith('thread/'))
        .map((k) => store.get<ThreadState>(k)),
    );
    expect(leases.filter((t) => t?.value.busy !== undefined)).toHaveLength(0);
  });

  it('DUR-02 (memory): simultaneous clicks on two instances, and twice on one, continue exactly once (10 races each)', async () => {
    for (const [x, y] of [
      [a, b],
      [a, a],
    ] as const) {
      // Ten races at once, each between two clicks (distinct activity ids) on the same approval.
      const convs = Array.from({ length: 10 }, newConversation);
      const pending = await Promise.all(
        convs.map(async (c, run) => ({ conv: c, ...(await pendingBatch(run % 2 ? x : y, c)) })),
      );
      const before = await approvals();
      const answers = await Promise.all(
        pending.map((p) => Promise.all([click(x, p.conv, p.action), click(y, p.conv, p.action)])),
      );
      for (const [r1, r2] of answers) {
        expect([r1.status, r2.status]).toEqual([200, 200]);
        const texts = [answerText(r1.body), answerText(r2.body)];
        expect(texts.every((t) => t.length > 0)).toBe(true);
        expect(texts.filter((t) => t.includes('already been decided'))).toHaveLength(1);
      }
      await eventually(
        () => (convs.every((c) => said(c, 'Created issue #42')) ? true : undefined),
        45_000,
        'continuations',
      );
      await Promise.all([x.relay.idle(), y.relay.idle()]);
      expect((await approvals()) - before).toBe(10);
      const states = await Promise.all(pending.map((p) => batchOf(p.batchId)));
      expect(states.map((st) => st?.state)).toEqual(convs.map(() => 'submitted'));
    }
  });

  it('DUR-03 (memory): a re-delivered message after a restart starts no second Foundry turn', async () => {
    const conv = newConversation();
    const original = message('hello', conv);
    const first = await newBot();
    expect((await post(first, original)).status).toBe(200);
    await eventually(() => (said(conv, 'Hello!') ? true : undefined), 10_000, 'the answer');
    await first.shutdown(500);
    const turns = await foundryTurns();
    const sent = connector.activities(conv).length;
    const restarted = await newBot();
    expect((await post(restarted, original)).status).toBe(200);
    expect((await post(a, original)).status).toBe(200);
    await Promise.all([restarted.relay.idle(), a.relay.idle()]);
    expect(await foundryTurns()).toBe(turns);
    expect(connector.activities(conv)).toHaveLength(sent);
  });

  it('an orphaned `submitting` batch (crash after the compare-and-set) is marked failed on the next click, never re-sent', async () => {
    const conv = newConversation();
    const { action, batchId } = await pendingBatch(a, conv);
    // What a crash between the CAS and the continuation leaves behind: submitting, 10 minutes ago, no lease.
    await updateRecord<ApprovalBatch>(store, approvalKey(batchId), (cur) =>
      cur
        ? {
            ...cur,
            state: 'submitting',
            submittingSince: Date.now() - 10 * 60_000,
            items: cur.items.map((i) => ({ ...i, decision: 'approve' as const })),
          }
        : undefined,
    );
    const before = await approvals();
    const r = await click(b, conv, action);
    expect(r.status).toBe(200);
    expect(answerText(r.body)).toContain('already been decided');
    expect((await batchOf(batchId))?.state).toBe('failed');
    await b.relay.idle();
    expect(await approvals()).toBe(before);
  });

  it('a recent `submitting` batch is left alone (its continuation may still be running)', async () => {
    const conv = newConversation();
    const { action, batchId } = await pendingBatch(a, conv);
    await updateRecord<ApprovalBatch>(store, approvalKey(batchId), (cur) =>
      cur ? { ...cur, state: 'submitting', submittingSince: Date.now() } : undefined,
    );
    const r = await click(b, conv, action);
    expect(answerText(r.body)).toContain('already been decided');
    expect((await batchOf(batchId))?.state).toBe('submitting');
  });

  it('lazy expiry: an approval record long past its expiry is deleted when next read', async () => {
    const conv = newConversation();
    const { batchId } = await pendingBatch(a, conv);
    await updateRecord<ApprovalBatch>(store, approvalKey(batchId), (cur) =>
      cur ? { ...cur, expiresAt: Date.now() - 2 * 3600_000 } : undefined,
    );
    const r = await post(
      b,
      adaptiveCardActionInvoke(
        'approval.refresh',
        { kind: 'mcp-approval', batchId },
        { serviceUrl: connector.url, conversationId: conv, user: DEFAULT_USER },
      ),
    );
    expect((r.body as { statusCode?: unknown }).statusCode).toBe(404);
    expect(await batchOf(batchId)).toBeUndefined();
  });

  it("a dead instance's stale busy lease does not block the user; a live one does", async () => {
    const conv = newConversation();
    const key = threadKey({ id: conv, tenantId: DEFAULT_TENANT_ID, scope: 'personal' }, DEFAULT_USER, 'app');
    const lease = (sinceMsAgo: number): Promise<unknown> =>
      updateRecord<ThreadState>(store, key, (cur) => ({
        ...(cur ?? { v: 1 }),
        busy: { since: Date.now() - sinceMsAgo, activityId: 'x', instance: 'dead-instance' },
        updatedAt: Date.now(),
      }));
    await lease(0);
    expect((await post(a, message('hello', conv))).status).toBe(200);
    await a.relay.idle();
    expect(said(conv, 'Hello!')).toBe(false);
    await lease(2 * 60_000);
    expect((await post(a, message('hello', conv))).status).toBe(200);
    await eventually(() => (said(conv, 'Hello!') ? true : undefined), 10_000, 'the answer');
    await a.relay.idle();
    expect((await store.get<ThreadState>(key))?.value.busy).toBeUndefined();
  });
});
