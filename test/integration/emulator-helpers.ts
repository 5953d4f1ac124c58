import OpenAI from 'openai';
import { startEmulator, type RunningEmulator } from '../../emulator/server';
import type { SseEvent } from '../../emulator/test-client';
import { postResponse, readSse, reset as resetEmulator } from '../../emulator/test-client';

/** Shared helpers for the emulator's own integration tests. */

export const AGENT = { type: 'agent_reference', name: 'helpdesk-agent' } as const;
export const ALICE = 'aaaaaaaa-0000-4000-8000-00000000a11c';
export const BEN = 'bbbbbbbb-1111-4000-8000-000000000be2';
export const OTHER_TENANT = '22222222-2222-2222-2222-222222222222';

/** Streams one turn with plain fetch and returns the parsed events (asserts HTTP 200). */
export async function streamTurn(
  emu: RunningEmulator,
  oid: string,
  body: Record<string, unknown>,
): Promise<SseEvent[]> {
  const res = await postResponse(emu.projectEndpoint, emu.issueToken({ oid }), {
    agent_reference: AGENT,
    stream: true,
    ...body,
  });
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${await res.text()}`);
  return readSse(res);
}

/** One JSON (non-streamed) turn; returns status and parsed body. */
export async function jsonTurn(
  emu: RunningEmulator,
  oid: string,
  body: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await postResponse(emu.projectEndpoint, emu.issueToken({ oid }), {
    agent_reference: AGENT,
    ...body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

export interface WireResponse {
  id: string;
  status: string;
  output: ({ type: string; id: string } & Record<string, unknown>)[];
  error: { code: string; message: string } | null;
  previous_response_id: string | null;
  conversation: { id: string } | null;
  usage: Record<string, unknown> | null;
  agent_reference: Record<string, unknown>;
}

/** The Response object carried by the terminal event. */
export function terminal(events: SseEvent[]): WireResponse {
  const last = events.at(-1);
  if (!last || !('response' in last)) throw new Error(`no terminal event: ${JSON.stringify(last)}`);
  return last['response'] as WireResponse;
}

export function outputOfType(
  r: WireResponse,
  type: string,
): ({ type: string; id: string } & Record<string, unknown>)[] {
  return r.output.filter((i) => i.type === type);
}

export function messageText(r: WireResponse): string {
  return outputOfType(r, 'message')
    .map((m) => (m['content'] as { text: string }[]).map((c) => c.text).join(''))
    .join('\n');
}

export function openaiFor(emu: RunningEmulator, oid: string, opts: { maxRetries?: number } = {}): OpenAI {
  return new OpenAI({
    baseURL: `${emu.projectEndpoint}/openai/v1`,
    apiKey: emu.issueToken({ oid }),
    maxRetries: opts.maxRetries ?? 2,
  });
}

/** Foundry request bodies: openai's TS types lack agent_reference (docs/foundry-wire.md §1.4). */
export type FoundryStreaming = OpenAI.Responses.ResponseCreateParamsStreaming & {
  agent_reference: typeof AGENT;
};
export type FoundryNonStreaming = OpenAI.Responses.ResponseCreateParamsNonStreaming & {
  agent_reference: typeof AGENT;
};

export async function createConversation(
  emu: RunningEmulator,
  oid: string,
  body: unknown = {},
): Promise<string> {
  const res = await fetch(`${emu.projectEndpoint}/openai/v1/conversations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${emu.issueToken({ oid })}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { id: string };
  return json.id;
}

/**
 * One emulator for the whole test file, reset before each test, closed after the last. The returned object
 * forwards to the running instance (it is started in `beforeAll`, so it can only be used inside tests).
 */
export function useEmulator(): RunningEmulator {
  let current: RunningEmulator | undefined;
  beforeAll(async () => {
    current = await startEmulator();
  });
  afterAll(async () => {
    await current?.close();
  });
  beforeEach(async () => {
    if (current) await resetEmulator(current.url);
  });
  const running = (): RunningEmulator => {
    if (!current) throw new Error('the emulator is not running (useEmulator starts it in beforeAll)');
    return current;
  };
  return new Proxy({} as RunningEmulator, {
    get: (_target, prop) => Reflect.get(running(), prop) as unknown,
  });
}
