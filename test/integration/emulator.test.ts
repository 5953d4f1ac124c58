import OpenAI from 'openai';
import { getLog, parseSse, postResponse, readSse, setFaults } from '../../emulator/test-client';
import {
  AGENT,
  ALICE,
  BEN,
  createConversation,
  jsonTurn,
  messageText,
  openaiFor,
  outputOfType,
  streamTurn,
  terminal,
  type FoundryNonStreaming,
  type FoundryStreaming,
  useEmulator,
} from './emulator-helpers';

// docs/foundry-wire.md §1.2, §3, §5, §6.1, §8.1: the emulator's wire surface, over real HTTP.

const emu = useEmulator();

describe('SSE framing (§3.1)', () => {
  it('writes event: and data: lines, blank-line separated, sequence numbers 0..n, no [DONE]', async () => {
    const res = await postResponse(emu.projectEndpoint, emu.issueToken({ oid: ALICE }), {
      agent_reference: AGENT,
      input: 'hello',
      stream: true,
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
    const text = await res.text();
    expect(text).not.toContain('[DONE]');
    expect(text.endsWith('\n\n')).toBe(true);
    const frames = parseSse(text);
    frames.forEach((f, i) => {
      const data = JSON.parse(f.data) as { type: string; sequence_number: number };
      expect(f.event).toBe(data.type);
      expect(data.sequence_number).toBe(i);
      // openai-node throws on any data with a top-level `error` (§3.1).
      expect(Object.keys(data)).not.toContain('error');
    });
  });

  it('orders a text turn as §3.3 / §6.1', async () => {
    const events = await streamTurn(emu, ALICE, { input: 'hello' });
    const types = events.map((e) => e.type);
    const deltas = types.filter((t) => t === 'response.output_text.delta').length;
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array<string>(deltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(deltas).toBeGreaterThanOrEqual(2);
    const r = terminal(events);
    expect(r.status).toBe('completed');
    expect(r.id).toMatch(/^resp_[0-9a-f]{48}$/);
    expect(r.output[0]?.id).toMatch(/^msg_[0-9a-f]{48}$/);
    expect(r.agent_reference).toEqual({ type: 'agent_reference', name: 'helpdesk-agent', version: '1' });
    expect(r.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });
    const joined = events
      .filter((e) => e.type === 'response.output_text.delta')
      .map((e) => e['delta'])
      .join('');
    expect(joined).toBe(messageText(r));
    expect((events[0]?.['response'] as { status: string }).status).toBe('in_progress');
  });

  it('streams a long answer in many small deltas', async () => {
    const events = await streamTurn(emu, ALICE, { input: 'tell me a story' });
    const deltas = events.filter((e) => e.type === 'response.output_text.delta');
    expect(deltas.length).toBeGreaterThan(50);
    expect(deltas.every((d) => typeof d['delta'] === 'string' && d['delta'].length <= 6)).toBe(true);
  });

  it('emits url_citation annotations between the deltas and output_text.done, repeated in the item', async () => {
    const events = await streamTurn(emu, ALICE, { input: 'where are the docs?' });
    const types = events.map((e) => e.type);
    const ann = events.filter((e) => e.type === 'response.output_text.annotation.added');
    expect(ann).toHaveLength(2);
    const lastDelta = types.lastIndexOf('response.output_text.delta');
    const done = types.indexOf('response.output_text.done');
    for (const a of ann) {
      const at = events.indexOf(a);
      expect(at).toBeGreaterThan(lastDelta);
      expect(at).toBeLessThan(done);
    }
    const text = messageText(terminal(events));
    const first = ann[0]?.['annotation'] as {
      type: string;
      start_index: number;
      end_index: number;
      url: string;
    };
    expect(first.type).toBe('url_citation');
    expect(text.slice(first.start_index, first.end_index)).toBe('[1]');
    const item = outputOfType(terminal(events), 'message')[0];
    expect(JSON.stringify(item)).toContain(first.url);
  });

  it('echoes unknown prompts with the default rule', async () => {
    const events = await streamTurn(emu, ALICE, { input: 'what is the meaning of life' });
    expect(messageText(terminal(events))).toBe('Echo: what is the meaning of life');
  });
});

describe('JSON mode and the openai client', () => {
  it('returns a §5 Response object when stream is false', async () => {
    const r = await jsonTurn(emu, ALICE, { input: 'hello' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      object: 'response',
      status: 'completed',
      previous_response_id: null,
      conversation: null,
      model: 'gpt-4.1',
      tools: [],
    });
    expect(r.body).not.toHaveProperty('output_text');
  });

  it('serves the real openai client, streaming and not', async () => {
    const client = openaiFor(emu, ALICE);
    const r = await client.responses.create({
      input: 'hello',
      agent_reference: AGENT,
    } as FoundryNonStreaming);
    expect(r.output_text).toContain('helpdesk agent');
    const stream = await client.responses.create({
      input: 'docs',
      stream: true,
      agent_reference: AGENT,
    } as FoundryStreaming);
    const seen: string[] = [];
    for await (const ev of stream) seen.push(ev.type);
    expect(seen[0]).toBe('response.created');
    expect(seen.at(-1)).toBe('response.completed');
    expect(seen).toContain('response.output_text.annotation.added');
  });

  it('retrieves, cancels (400 once completed) and deletes responses through the client', async () => {
    const client = openaiFor(emu, ALICE);
    const r = await client.responses.create({
      input: 'hello',
      agent_reference: AGENT,
    } as FoundryNonStreaming);
    const got = await client.responses.retrieve(r.id);
    expect(got.status).toBe('completed');
    await expect(client.responses.cancel(r.id)).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await client.responses.delete(r.id);
    await expect(client.responses.retrieve(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('cancels an in-progress stream', async () => {
    const client = openaiFor(emu, ALICE);
    // Slow the turn down so the cancel lands mid-stream.
    await setFaults(emu.url, [{ kind: 'slow_tokens', delayMs: 200 }]);
    const slow = await client.responses.create({
      input: 'tell me a story',
      stream: true,
      agent_reference: AGENT,
    } as FoundryStreaming);
    const types: string[] = [];
    let cancelledId: string | undefined;
    for await (const ev of slow) {
      types.push(ev.type);
      if (ev.type === 'response.created') {
        cancelledId = ev.response.id;
        const c = await client.responses.cancel(cancelledId);
        expect(c.status).toBe('cancelled');
      }
    }
    expect(types).not.toContain('response.completed');
    expect((await client.responses.retrieve(cancelledId ?? '')).status).toBe('cancelled');
  });
});

describe('conversations (§1.2, §1.6)', () => {
  it('creates, reads, adds items, runs a turn, lists items and deletes', async () => {
    const client = openaiFor(emu, ALICE);
    const conv = await client.conversations.create({
      items: [{ type: 'message', role: 'user', content: 'earlier question' }],
    });
    expect(conv.id).toMatch(/^conv_[A-Za-z0-9]{48}$/);
    expect((await client.conversations.retrieve(conv.id)).id).toBe(conv.id);
    const added = await client.conversations.items.create(conv.id, {
      items: [{ type: 'message', role: 'user', content: 'hello there' }],
    });
    expect(added.data).toHaveLength(1);
    const r = await client.responses.create({
      conversation: conv.id,
      input: 'hello',
      agent_reference: AGENT,
    } as FoundryNonStreaming);
    expect(r.conversation).toEqual({ id: conv.id });
    const items = await client.conversations.items.list(conv.id);
    expect(items.data.length).toBe(4);
    await client.conversations.delete(conv.id);
    await expect(client.conversations.retrieve(conv.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('accepts conversation as a string or {id}, and runs input-less on the last user message', async () => {
    const conv = await createConversation(emu, ALICE, {
      items: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] }],
    });
    const a = await streamTurn(emu, ALICE, { conversation: { id: conv } });
    expect(messageText(terminal(a))).toContain('helpdesk agent');
    const b = await streamTurn(emu, ALICE, { conversation: conv, input: 'weather tomorrow?' });
    expect(terminal(b).conversation).toEqual({ id: conv });
    expect(messageText(terminal(b))).toContain('Seattle');
  });

  it('chains previous_response_id and echoes it on the response', async () => {
    const first = terminal(await streamTurn(emu, ALICE, { input: 'hello' }));
    const second = terminal(await streamTurn(emu, ALICE, { input: 'docs', previous_response_id: first.id }));
    expect(second.previous_response_id).toBe(first.id);
    expect(second.conversation).toBeNull();
  });

  it('hides one user’s responses and conversations from another (404)', async () => {
    const conv = await createConversation(emu, ALICE);
    const r = terminal(await streamTurn(emu, ALICE, { input: 'hello' }));
    const ben = openaiFor(emu, BEN);
    await expect(ben.responses.retrieve(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(ben.conversations.retrieve(conv)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const chained = await jsonTurn(emu, BEN, { input: 'hi', previous_response_id: r.id });
    expect(chained.status).toBe(400);
    expect(chained.body).toMatchObject({ error: { code: 'previous_response_not_found' } });
  });
});

describe('resume (§1.2 GET ?stream=true&starting_after)', () => {
  it('replays the events after a sequence number', async () => {
    const events = await streamTurn(emu, ALICE, { input: 'hello' });
    const id = terminal(events).id;
    const res = await fetch(`${emu.projectEndpoint}/openai/v1/responses/${id}?stream=true&starting_after=3`, {
      headers: { authorization: `Bearer ${emu.issueToken({ oid: ALICE })}` },
    });
    const replay = await readSse(res);
    expect(replay.map((e) => e.sequence_number)).toEqual(events.slice(4).map((e) => e.sequence_number));
    expect(replay.at(-1)?.type).toBe('response.completed');
  });
});

describe('log view', () => {
  it('records each request with caller, threading and input kind', async () => {
    const first = terminal(await streamTurn(emu, ALICE, { input: 'hello' }));
    await jsonTurn(emu, BEN, { input: 'hello' });
    await streamTurn(emu, ALICE, {
      input: [{ role: 'user', content: 'docs' }],
      previous_response_id: first.id,
    });
    const log = await getLog(emu.url);
    const posts = log.requests.filter((r) => r.method === 'POST');
    expect(posts.map((r) => [r.callerOid, r.stream, r.inputKind, r.status])).toEqual([
      [ALICE, true, 'text', 200],
      [BEN, false, 'text', 200],
      [ALICE, true, 'messages', 200],
    ]);
    expect(posts[2]?.previousResponseId).toBe(first.id);
    expect(posts[0]?.responseId).toBe(first.id);
    expect(posts[0]?.path).toBe('/api/projects/demo/openai/v1/responses');
  });
});
