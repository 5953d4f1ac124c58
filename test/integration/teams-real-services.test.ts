import { randomUUID } from 'node:crypto';
import { loadScenario, setFaults } from '../../emulator/test-client';
import { baseActivity, messageActivity, type ConversationType } from '../support/fakes/activities';
import {
  ConnectorErrors,
  teamsVerdictOnInvokeResponse,
  type RecordedRequest,
} from '../support/fakes/fake-bot-connector';
import { cardOf, logRecords, resetAll, startHarness, textOf, type Harness } from '../support/harness';

/**
 * What real Teams does that the Playground and our emulator did not (docs/real-services.md, Teams; issue 11,
 * items 8–13), produced on demand by the fake Bot Connector's settings and scripts.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
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
  return { conversationId, ctx: { serviceUrl: h.connector.url, conversationType: scope, conversationId } };
}

async function say(text: string, scope: ConversationType = 'personal') {
  const c = chat(scope);
  const r = await h.post(messageActivity(text, c.ctx));
  expect(r.status).toBe(200);
  await h.idle();
  return c;
}

const STORY_START = 'Once upon a time';
const withText = (conversationId: string): RecordedRequest[] =>
  h.connector.messages(conversationId).filter((m) => textOf(m).length > 0 && cardOf(m) === undefined);

describe('Teams: streaming refusals and closing (items 8, 9)', () => {
  it('TEAMS-08 streaming switched off ("Content stream is not allowed") → the whole answer as one regular message', async () => {
    h.connector.configure({ streamingDisabled: true });
    const c = await say('long');
    const finals = withText(c.conversationId);
    expect(finals).toHaveLength(1);
    expect(finals[0]?.stream).toBeUndefined();
    expect(textOf(finals[0] as RecordedRequest)).toContain(STORY_START);
    expect(textOf(finals[0] as RecordedRequest)).toContain('The end.');
    expect(logRecords(h, 'stream.user_cancelled')).toHaveLength(0);
    expect(logRecords(h, 'turn.user_cancelled')).toHaveLength(0);
  });

  it('TEAMS-08 "Content stream was canceled by user" (either spelling) is still a Stop: no answer message', async () => {
    h.connector.script({ kind: 'streaming', respond: ConnectorErrors.streamCanceledByUser() });
    await setFaults(h.emulator.url, [{ kind: 'slow_tokens', delayMs: 40 }]);
    const c = await say('long');
    expect(logRecords(h, 'stream.user_cancelled')).toHaveLength(1);
    const cancelled = h.connector.requests().find((r) => r.status === 403) as RecordedRequest;
    const after = h.connector
      .messages(c.conversationId)
      .filter((r) => r.seq > cancelled.seq && textOf(r).includes(STORY_START));
    expect(after).toHaveLength(0);
  });

  it("TEAMS-09 Teams' time cap ends the stream → the answer replaces the streamed message in place, shown once", async () => {
    h.connector.configure({ streamTimeLimitMs: 1500, teamsValidation: true });
    await setFaults(h.emulator.url, [{ kind: 'slow_tokens', delayMs: 40 }]);
    const c = await say('long');
    const reqs = h.connector.requests().filter((r) => r.conversationId === c.conversationId);
    const capped = reqs.findIndex((r) => r.status === 403);
    expect(capped).toBeGreaterThan(0);
    // No stream request after Teams ended the stream, and no second copy of the answer as a new message.
    expect(reqs.slice(capped + 1).filter((r) => r.stream !== undefined)).toHaveLength(0);
    expect(withText(c.conversationId).filter((m) => m.stream === undefined)).toHaveLength(0);
    const streamId = (reqs[0]?.responseBody as { id: string }).id;
    const put = reqs.find((r) => r.method === 'PUT' && r.activityId === streamId) as RecordedRequest;
    expect(put.status).toBe(200);
    expect(textOf(put)).toContain(STORY_START);
    expect(textOf(put)).toContain('The end.');
  }, 20_000);

  it('TEAMS-09 a chunk refused as too large keeps the stream open and the final closes it', async () => {
    h.connector.script({ kind: 'streaming', nth: 2, respond: ConnectorErrors.streamTooLarge() });
    await setFaults(h.emulator.url, [{ kind: 'slow_tokens', delayMs: 30 }]);
    const c = await say('long');
    const streamed = h.connector.streamingRequests(c.conversationId);
    const final = streamed.at(-1) as RecordedRequest;
    expect(final.kind).toBe('final');
    expect(final.status).toBe(202);
    expect(final.stream?.streamId).toBe((streamed[0]?.responseBody as { id: string }).id);
    expect(textOf(final)).toContain('The end.');
    expect(withText(c.conversationId)).toHaveLength(1);
  });
});

describe('Teams: a failed final send (item 10)', () => {
  it('TEAMS-10 a 500 on the final message → the error card with a reference id, not silence', async () => {
    h.connector.script({ method: 'POST', kind: 'message', respond: ConnectorErrors.internal() });
    const c = await say('hello', 'groupChat');
    const posts = h.connector.messages(c.conversationId);
    expect(posts.map((p) => p.status)).toEqual([500, 201]);
    const card = JSON.stringify(cardOf(posts[1] as RecordedRequest));
    expect(card).toContain('The answer could not be delivered to Teams.');
    const ref = /Reference: ([\w-]+)/.exec(card)?.[1];
    expect(ref).toBeDefined();
    expect(logRecords(h, 'turn.answer_not_delivered')[0]?.['correlationId']).toBe(ref);
  });
});

describe('Teams: citations and feedback (items 11, 13)', () => {
  it('TEAMS-11 an over-long citation title is cut to 80 (abstract ≤ 160); Teams takes the message', async () => {
    h.connector.configure({ teamsValidation: true });
    const longTitle = `A very long source title ${'x'.repeat(200)}`;
    const longUrl = `https://learn.microsoft.com/${'a'.repeat(300)}`;
    await loadScenario(h.emulator.url, {
      agents: {
        'helpdesk-agent': {
          version: '1',
          model: 'gpt-4.1',
          mcp: [],
          rules: [
            {
              when: 'docs',
              text: 'See the guide [1].',
              citations: [{ url: longUrl, title: longTitle, marker: '[1]' }],
            },
            { default_text: 'Echo: {input}' },
          ],
        },
      },
    });
    const c = await say('docs', 'groupChat');
    const finals = withText(c.conversationId);
    expect(finals.map((f) => f.status)).toEqual([201]);
    const entity = (finals[0]?.activity?.entities ?? []).find(
      (e) => (e as Record<string, unknown>)['@type'] === 'Message',
    ) as { citation: { appearance: { name: string; abstract: string } }[] };
    expect(entity.citation[0]?.appearance.name.length).toBeLessThanOrEqual(80);
    expect(entity.citation[0]?.appearance.name.startsWith('A very long source title')).toBe(true);
    expect(entity.citation[0]?.appearance.abstract.length).toBeLessThanOrEqual(160);
  });

  it('TEAMS-11 a message Teams refuses for a citation (400) is sent again without citations, not dropped', async () => {
    h.connector.script({ method: 'POST', kind: 'message', respond: ConnectorErrors.badCitation(1) });
    const c = await say('where are the docs?', 'groupChat');
    const posts = withText(c.conversationId);
    expect(posts.map((p) => p.status)).toEqual([400, 201]);
    expect(textOf(posts[1] as RecordedRequest)).toBe(textOf(posts[0] as RecordedRequest));
    expect(JSON.stringify(posts[1]?.activity?.entities)).not.toContain('"citation"');
  });

  it('TEAMS-13 the final message declares feedback as feedbackLoop {type: default} and Teams takes it', async () => {
    h.connector.configure({ teamsValidation: true });
    const c = await say('hello');
    const final = withText(c.conversationId).at(-1) as RecordedRequest;
    expect(final.status).toBeLessThan(300);
    expect(final.activity?.channelData?.['feedbackLoop']).toEqual({ type: 'default' });
    expect(final.activity?.channelData?.['feedbackLoopEnabled']).toBeUndefined();
  });

  it('TEAMS-13 the feedback invoke (message/submitAction) is answered HTTP 200 with an empty body', async () => {
    const c = chat();
    const invoke = {
      ...baseActivity('invoke', c.ctx),
      name: 'message/submitAction',
      replyToId: 'some-answer',
      value: { actionName: 'feedback', actionValue: { reaction: 'like', feedback: '{"feedbackText":"ok"}' } },
    };
    const r = await h.post(invoke);
    expect(teamsVerdictOnInvokeResponse('message/submitAction', r.status, r.body)).toEqual({ ok: true });
    expect(r.status).toBe(200);
    expect(logRecords(h, 'feedback.received')).toHaveLength(1);
  });
});
