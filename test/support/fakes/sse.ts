import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Test helpers for Server-Sent Events: read the wire examples of docs/foundry-wire.md (kept verbatim in
 * test/fixtures/foundry/*.sse) into event objects, and encode event objects back into real SSE wire text.
 *
 * The protocol document writes one event per `data:` line (§6 "Example SSE frames below show `data:` only; a
 * real stream prefixes each with `event: <same type>`"), and sometimes elides content with `…`. The reader
 * therefore treats every `data:` line as one event, and expands the elisions deterministically:
 *
 * - a terminal `"output":[ …mcpl_1…, …oauthreq_…… ]` becomes the latest snapshots (output_item.done, else
 *   .added) of the named items, matched by id or id prefix;
 * - `"response":{ …full object as in §5, status "completed", output [msg_1] … }` becomes a minimal response
 *   object with the response id seen earlier, that status and those items;
 * - prose lines (e.g. `… content_part.added / output_text.delta* / … …`) are not SSE fields and are skipped,
 *   counted in `elidedLines`.
 */

export interface SseFrame {
  event: string | null;
  data: string;
}

export const FIXTURES_DIR = join(__dirname, '..', '..', 'fixtures', 'foundry');

export function readFixture(name: string): string {
  return readFileSync(join(FIXTURES_DIR, name), 'utf8');
}

/** Splits doc-notation SSE text into frames: each `data:` line is one frame; `event:` names the next one. */
export function readSseFrames(text: string): { frames: SseFrame[]; elidedLines: number } {
  const frames: SseFrame[] = [];
  let event: string | null = null;
  let elidedLines = 0;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trimEnd();
    if (line === '' || line.startsWith(':')) continue;
    if (line.startsWith('event:')) {
      event = line.slice('event:'.length).trim();
      continue;
    }
    if (line.startsWith('data:')) {
      frames.push({ event, data: line.slice('data:'.length).trimStart() });
      event = null;
      continue;
    }
    elidedLines++;
  }
  return { frames, elidedLines };
}

interface Snapshot {
  id: string;
  item: unknown;
}

function findItems(names: string[], snapshots: Snapshot[]): unknown[] {
  return names.map((name) => {
    const token = name.replace(/^…+|…+$/g, '').trim();
    const hit =
      snapshots.find((s) => s.id === token) ??
      snapshots.find((s) => token.length > 0 && s.id.startsWith(token));
    if (hit === undefined) throw new Error(`fixture elision names unknown item "${name}"`);
    return hit.item;
  });
}

/**
 * Parses doc-notation SSE text into event objects, expanding `…` elisions as described in the module
 * comment. Throws when a data line is neither JSON nor a recognised elision (a broken fixture).
 */
export function parseSseFixture(text: string): { events: Record<string, unknown>[]; elidedLines: number } {
  const { frames, elidedLines } = readSseFrames(text);
  const snapshots: Snapshot[] = [];
  let responseId: string | undefined;
  const events: Record<string, unknown>[] = [];
  for (const frame of frames) {
    let data = frame.data;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(data) as Record<string, unknown>;
    } catch {
      const fullObject =
        /"response":\{ …full object as in §5, status "([a-z_]+)", output \[([^\]]*)\] … \}/.exec(data);
      if (fullObject?.[1] !== undefined && fullObject[2] !== undefined) {
        const output = findItems(fullObject[2].split(','), snapshots);
        const response = { id: responseId, object: 'response', status: fullObject[1], output };
        data = data.replace(fullObject[0], `"response":${JSON.stringify(response)}`);
      }
      const elidedOutput = /"output":\[ (…[^\]]*…) \]/.exec(data);
      if (elidedOutput?.[1] !== undefined) {
        const output = findItems(elidedOutput[1].split(', '), snapshots);
        data = data.replace(elidedOutput[0], `"output":${JSON.stringify(output)}`);
      }
      parsed = JSON.parse(data) as Record<string, unknown>;
    }
    const response = parsed['response'] as { id?: unknown } | undefined;
    if (responseId === undefined && typeof response?.id === 'string') responseId = response.id;
    const item = parsed['item'] as { id?: unknown } | undefined;
    if (typeof item?.id === 'string') {
      const existing = snapshots.findIndex((s) => s.id === item.id);
      if (existing >= 0) snapshots.splice(existing, 1);
      snapshots.push({ id: item.id, item });
    }
    events.push(parsed);
  }
  return { events, elidedLines };
}

/** Encodes events as real SSE wire text: `event: <type>`, `data: <json>`, blank line. */
export function encodeSse(events: readonly unknown[]): string {
  return events
    .map((e) => {
      const type = (e as { type?: unknown }).type;
      return `${typeof type === 'string' ? `event: ${type}\n` : ''}data: ${JSON.stringify(e)}\n\n`;
    })
    .join('');
}

/** An async iterable over a fixed list (the parser's input in unit tests). */
export async function* iterate<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) {
    await Promise.resolve();
    yield item;
  }
}

/**
 * A `text/event-stream` Response whose body emits `chunks` and then either ends or stays open (`hang`), and
 * that errors with an AbortError when `signal` aborts — as undici's fetch does.
 */
export function sseResponse(
  chunks: readonly string[],
  opts: {
    signal?: AbortSignal | null | undefined;
    hang?: boolean;
    status?: number;
    headers?: Record<string, string>;
  } = {},
): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      if (opts.hang !== true) controller.close();
      opts.signal?.addEventListener(
        'abort',
        () => {
          try {
            controller.error(new DOMException('This operation was aborted', 'AbortError'));
          } catch {
            // already closed
          }
        },
        { once: true },
      );
    },
  });
  return new Response(body, {
    status: opts.status ?? 200,
    headers: { 'content-type': 'text/event-stream', ...(opts.headers ?? {}) },
  });
}
