import { randomUUID } from 'node:crypto';
import { getLog, grantConsent, loadScenario, setFaults } from '../../emulator/test-client';
import {
  adaptiveCardActionInvoke,
  messageActivity,
  type ConversationType,
} from '../support/fakes/activities';
import { ConnectorErrors, type RecordedRequest } from '../support/fakes/fake-bot-connector';
import {
  actionOf,
  BOT_OID,
  cardOf,
  eventually,
  logRecords,
  resetAll,
  startHarness,
  textOf,
  type Harness,
} from '../support/harness';

/**
 * Streaming and Bot Connector resilience over real HTTP (docs/reliability.md §2.5–2.7: STR-01…06, RES-07, RES-08).
 * The Foundry idle timeout is 1 s here so the stall case (STR-02) stays short.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ FOUNDRY_IDLE_TIMEOUT_MS: '1000' });
});
afterAll(async () => {
  await h.close();
});
beforeEach(async () => {
  await resetAll(h);
});

function chat(scope: ConversationType = 'personal') {
  const conversationId =
    scope === 'personal' ? `a:personal-${randomUUID()}` : `19:group-${randomUUID()}@thread.v2`;
  return {
    conversationId,
    ctx: { serviceUrl: h.connector.url, conversationType: scope, conversationId },
  };
}

async function say(text: string, scope: ConversationType = 'personal') {
  const c = chat(scope);
  const r = await h.post(messageActivity(text, c.ctx));
  expect(r.status).toBe(200);
  await h.idle();
  return c;
}

const STORY_START = 'Once upon a time, in a busy';
const messagesWithText = (conversationId: string): RecordedRequest[] =>
  h.connector.messages(conversationId).filter((m) => textOf(m).length > 0);
const utf16Bytes = (r: RecordedRequest): number => JSON.stringify(r.activity).length * 2;

describe('streaming into Teams', () => {
  it('STR-01 Foundry cut after 5 deltas → exactly one final message with the partial text, marked interrupted', async () => {
    // created, in_progress, item.added, part.added, then deltas: the cut comes after the 5th delta.
    await setFaults(h.emulator.url, [{ kind: 'disconnect', afterEvents: 9 }]);
    const c = await say('long');
    const finals = messagesWithText(c.conversationId);
    expect(finals).toHaveLength(1);
    const text = textOf(finals[0] as RecordedRequest);
    expect(text.startsWith('Once upon a time')).toBe(true);
    expect(text).toContain('The answer was interrupted');
    expect(text).not.toContain('The end.');
    // A stream that was opened is closed by its final; a cut before anything went out (the first update is
    // held briefly) leaves a regular message. Either way: one message, the partial text, marked.
    const opened = h.connector.streamingRequests(c.conversationId).some((r) => r.kind === 'streaming');
    expect((finals[0] as RecordedRequest).stream?.streamType).toBe(opened ? 'final' : undefined);
  });

  it('STR-02 a stall beyond the idle timeout is aborted and finalised like STR-01', async () => {
    await setFaults(h.emulator.url, [{ kind: 'stall', afterEvents: 9, ms: 4000 }]);
    const t0 = Date.now();
    const c = await say('long');
    expect(Date.now() - t0).toBeLessThan(3500); // 1 s idle timeout, not the 4 s stall
    const finals = messagesWithText(c.conversationId);
    expect(finals).toHaveLength(1);
    expect(textOf(finals[0] as RecordedRequest)).toContain('The answer was interrupted');
    expect(textOf(finals[0] as RecordedRequest)).toContain(STORY_START);
  });

  it('STR-03 cadence: ≥ 1 s between streaming requests, sequence 1,2,3…, one in flight, final without sequence', async () => {
    // Every streaming request takes the connector 0.6 s to answer: a request sent while another is in flight
    // would arrive less than 0.6 s after it.
    // (Only requests of the open stream: the first one, which opens it, gets the connector's 201 and stream id —
    // with the informative hold it is a text chunk, not the informative update.)
    h.connector.script({
      kind: 'streaming',
      count: Infinity,
      match: (r) => r.stream?.streamId !== undefined,
      respond: { status: 202, body: {}, delayMs: 600 },
    });
    await setFaults(h.emulator.url, [{ kind: 'slow_tokens', delayMs: 40 }]);
    const c = await say('long');
    const reqs = h.connector.streamingRequests(c.conversationId);
    const chunks = reqs.filter((r) => r.kind !== 'final');
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    expect(chunks.map((r) => r.stream?.streamSequence)).toEqual(chunks.map((_r, i) => i + 1));
    for (let i = 1; i < chunks.length; i++) {
      const prev = chunks[i - 1] as RecordedRequest;
      const cur = chunks[i] as RecordedRequest;
      expect(cur.at - prev.at).toBeGreaterThanOrEqual(950);
      // One in flight: the next request starts only after the previous one was answered.
      if (prev.kind === 'streaming' && prev.stream?.streamId !== undefined)
        expect(cur.at - prev.at).toBeGreaterThanOrEqual(600 + 950);
    }
    const final = reqs.at(-1) as RecordedRequest;
    expect(final.kind).toBe('final');
    expect(final.stream?.streamSequence).toBeUndefined();
    expect(final.stream?.streamId).toBe(
      chunks[0]?.responseBody && (chunks[0].responseBody as { id: string }).id,
    );
    expect(textOf(final)).toContain('The end.');
  }, 20_000);

  it('STR-04 connector 403 "exceeded streaming time" → the full text replaces the streamed message, no more streaming', async () => {
    h.connector.script({ kind: 'streaming', nth: 2, respond: ConnectorErrors.streamTimeExceeded() });
    await setFaults(h.emulator.url, [{ kind: 'slow_tokens', delayMs: 30 }]);
    const c = await say('long');
    const reqs = h.connector.requests().filter((r) => r.conversationId === c.conversationId);
    const rejected = reqs.findIndex((r) => r.status === 403);
    expect(rejected).toBeGreaterThan(0);
    expect(reqs.slice(rejected + 1).filter((r) => r.stream !== undefined)).toHaveLength(0);
    // Shown once: the streamed message is updated in place (docs/real-services.md, Teams item 9).
    expect(messagesWithText(c.conversationId)).toHaveLength(0);
    const streamId = (reqs[0]?.responseBody as { id: string }).id;
    const puts = reqs.filter((r) => r.method === 'PUT' && r.activityId === streamId);
    expect(puts).toHaveLength(1);
    expect(textOf(puts[0] as RecordedRequest)).toContain(STORY_START);
    expect(textOf(puts[0] as RecordedRequest)).toContain('The end.');
  });

  it('STR-05 user pressed stop (403 ContentStreamNotAllowed) → Foundry aborted within 1 s, no final message', async () => {
    h.connector.script({ kind: 'streaming', respond: ConnectorErrors.streamCancelledByUser() });
    // 90 deltas × 60 ms: the agent would need ~5.4 s to finish.
    await setFaults(h.emulator.url, [{ kind: 'slow_tokens', delayMs: 60 }]);
    const c = chat();
    const t0 = Date.now();
    await h.post(messageActivity('long', c.ctx));
    const cancelled = await h.connector.waitFor((r) => r.status === 403, 5000);
    await h.idle();
    const turnEnded = Date.now();
    const rec = await eventually(() => logRecords(h, 'turn.user_cancelled')[0], 2000, 'user_cancelled log');
    const loggedAt = Date.parse(String(rec['t']));
    expect(loggedAt - cancelled.at).toBeLessThan(1000);
    expect(turnEnded - t0).toBeLessThan(4000);
    expect(logRecords(h, 'stream.user_cancelled')).toHaveLength(1);
    const after = h.connector
      .requests()
      .filter((r) => r.conversationId === c.conversationId && r.seq > cancelled.seq);
    expect(after.filter((r) => r.activity?.type === 'message')).toHaveLength(0);
    // The relay stays usable: the response id was kept and the thread continues.
    const log = await getLog(h.emulator.url);
    expect(log.requests.filter((r) => r.path.endsWith('/responses'))).toHaveLength(1);
  });

  it('STR-06 a 150 KB answer → split, no message over 80 KB (1:1 with streaming)', async () => {
    await loadScenario(h.emulator.url, bigAnswerScenario(75_000, 5_000));
    // 15 deltas of 5 000 characters over ~2.3 s: the cumulative streaming text would pass 80 KB.
    await setFaults(h.emulator.url, [{ kind: 'slow_tokens', delayMs: 150 }]);
    const c = await say('big');
    const sent = h.connector.activities(c.conversationId);
    expect(sent.every((r) => utf16Bytes(r) <= 80_000)).toBe(true);
    expect(sent.every((r) => r.status !== 413 && r.status !== 403)).toBe(true);
    const finals = messagesWithText(c.conversationId);
    expect(finals.length).toBeGreaterThanOrEqual(3);
    const strip = (t: string): string => t.replace(/\s/g, '');
    expect(strip(finals.map(textOf).join(''))).toBe(strip(bigText(75_000)));
  }, 20_000);
});

describe('Bot Connector resilience', () => {
  it('RES-07 429 + Retry-After 2 on the final message → one retry after ≥ 2 s (no nested retries)', async () => {
    h.connector.script({ method: 'POST', kind: 'message', respond: ConnectorErrors.throttled(2) });
    const c = await say('hello', 'groupChat');
    const posts = h.connector.messages(c.conversationId);
    expect(posts.map((p) => p.status)).toEqual([429, 201]);
    expect((posts[1] as RecordedRequest).at - (posts[0] as RecordedRequest).at).toBeGreaterThanOrEqual(1950);
  });

  it('RES-07 429 + Retry-After on a card send is retried after the hint', async () => {
    h.connector.script({ method: 'POST', kind: 'message', respond: ConnectorErrors.throttled(1) });
    const c = await say('/help', 'groupChat');
    const posts = h.connector.messages(c.conversationId);
    expect(posts.map((p) => p.status)).toEqual([429, 201]);
    expect(cardOf(posts[1] as RecordedRequest)).toBeDefined();
    expect((posts[1] as RecordedRequest).at - (posts[0] as RecordedRequest).at).toBeGreaterThanOrEqual(950);
  });

  it('RES-07 a 500 or 502 on the final POST is not retried (it may have been created)', async () => {
    h.connector.script({ method: 'POST', kind: 'message', respond: ConnectorErrors.internal() });
    const a = await say('hello', 'groupChat');
    // The answer is not re-posted; the user gets the error card instead (TEAMS-10).
    const posts = h.connector.messages(a.conversationId);
    expect(posts.map((p) => p.status)).toEqual([500, 201]);
    expect(cardOf(posts[1] as RecordedRequest)).toBeDefined();
    h.connector.script({ method: 'POST', kind: 'message', respond: ConnectorErrors.badGateway() });
    const b = await say('/help', 'groupChat');
    // The card is not re-posted; the user may get the generic "something went wrong" text instead.
    const cardPosts = h.connector.messages(b.conversationId).filter((p) => cardOf(p) !== undefined);
    expect(cardPosts.map((p) => p.status)).toEqual([502]);
  });

  it('RES-07 502, 504 and 412 on an idempotent card update (PUT) are retried', async () => {
    await grantConsent(h.emulator.url, BOT_OID, 'github');
    const c = await say('create an issue');
    const card = cardOf(h.connector.messages(c.conversationId).find((m) => cardOf(m)) as RecordedRequest);
    const approve = actionOf(card, 'Approve');
    h.connector.script({ method: 'PUT', kind: 'update', nth: 1, respond: ConnectorErrors.badGateway() });
    h.connector.script({ method: 'PUT', kind: 'update', nth: 2, respond: ConnectorErrors.gatewayTimeout() });
    h.connector.script({
      method: 'PUT',
      kind: 'update',
      nth: 3,
      respond: ConnectorErrors.preconditionFailed(),
    });
    const r = await h.post(adaptiveCardActionInvoke(approve?.verb ?? '', approve?.data ?? {}, c.ctx));
    expect(r.status).toBe(200);
    await h.idle();
    const puts = h.connector.requests().filter((q) => q.method === 'PUT');
    expect(puts.slice(0, 4).map((p) => p.status)).toEqual([502, 504, 412, 200]);
    expect(new Set(puts.slice(0, 4).map((p) => p.activityId)).size).toBe(1);
    expect((await getLog(h.emulator.url)).approvals).toHaveLength(1);
  });

  it('RES-08 an answer of many parts → ≤ 7 sends in any 1 s and ≤ 8 in any 2 s', async () => {
    // 8 × 35 000 characters: the final answer goes out as 8 messages (plus typing) to one conversation.
    await loadScenario(h.emulator.url, bigAnswerScenario(8 * 35_000 - 100, 70_000));
    const c = await say('big', 'groupChat');
    const sends = h.connector
      .requests()
      .filter((r) => r.conversationId === c.conversationId && (r.method === 'POST' || r.method === 'PUT'));
    expect(messagesWithText(c.conversationId).length).toBeGreaterThanOrEqual(8);
    const maxIn = (windowMs: number): number =>
      Math.max(...sends.map((s) => sends.filter((o) => o.at >= s.at && o.at < s.at + windowMs).length));
    expect(maxIn(1000)).toBeLessThanOrEqual(7);
    expect(maxIn(2000)).toBeLessThanOrEqual(8);
  }, 20_000);
});

function bigText(chars: number): string {
  const sentence = 'The quick brown fox jumps over the lazy dog. ';
  return sentence.repeat(Math.ceil(chars / sentence.length)).slice(0, chars);
}

function bigAnswerScenario(chars: number, deltaChars: number): Parameters<typeof loadScenario>[1] {
  const text = bigText(chars);
  return {
    agents: {
      'helpdesk-agent': {
        version: '1',
        model: 'gpt-4.1',
        mcp: [],
        rules: [{ when: 'big', text, delta_chars: deltaChars }, { default_text: 'Echo: {input}' }],
      },
    },
  };
}
