import type { Citation } from '../foundry/types';
import type { FinalAnswer } from '../relay/model';

/**
 * Builds the final Teams message(s) of an answer: Teams citations from Foundry annotations, the
 * AI-generated label, feedback buttons, and splitting when the text is too large for one message
 * (Teams' 80 KB guidance, measured as UTF-16; docs/reliability.md §2.7, STR-06).
 */

/**
 * The text budget of one message, below Teams' 80 KB so there is room left for entities and channel data in
 * one activity (also the cap on cumulative streaming text). test/unit/message.test.ts checks whole activities.
 */
export const TEXT_BUDGET_BYTES = 70_000;
/** Teams' guidance for one bot message, measured on the serialised activity (reliability.md §2.7). */
export const MESSAGE_BUDGET_BYTES = 80_000;
/** Teams citation limits (bot-messages-ai-generated-content.md): 20 per message, name 80, abstract 160. */
const MAX_CITATIONS = 20;
const NAME_MAX = 80;
const ABSTRACT_MAX = 160;

export interface TeamsCitation {
  '@type': 'Claim';
  position: number;
  appearance: { '@type': 'DigitalDocument'; name: string; url?: string; abstract: string };
}

/**
 * Numbers url/file citations `[1]…[n]` (deduplicated by url or file) and makes sure the text carries the
 * matching markers: a marker Foundry already wrote over the annotation span (`[1]`, `【3†source】`) is replaced,
 * otherwise one is inserted at the annotation's end index.
 */
export function applyCitations(
  text: string,
  citations: readonly Citation[],
): { text: string; citations: TeamsCitation[] } {
  const positions = new Map<string, number>();
  const out: TeamsCitation[] = [];
  const inserts: { start: number; end: number; marker: string }[] = [];
  for (const c of citations) {
    const id = c.url ?? c.fileId ?? c.filename;
    if (!id) continue;
    let pos = positions.get(id);
    if (pos === undefined) {
      if (out.length >= MAX_CITATIONS) continue;
      pos = out.length + 1;
      positions.set(id, pos);
      const name = cutChars(c.title ?? c.filename ?? c.url ?? 'Source', NAME_MAX);
      out.push({
        '@type': 'Claim',
        position: pos,
        appearance: {
          '@type': 'DigitalDocument',
          name,
          ...(c.url && /^https?:\/\//i.test(c.url) ? { url: c.url } : {}),
          abstract: cutChars(c.url ?? c.filename ?? name, ABSTRACT_MAX),
        },
      });
    }
    const end = c.endIndex ?? c.startIndex;
    if (end === undefined || end > text.length) continue;
    const start = c.startIndex ?? end;
    const span = text.slice(start, end);
    const replace = /^\s*(\[\d+\]|【[^】]*】)\s*$/.test(span);
    inserts.push(replace ? { start, end, marker: `[${pos}]` } : { start: end, end, marker: ` [${pos}]` });
  }
  let result = text;
  for (const ins of inserts.sort((a, b) => b.start - a.start)) {
    result = result.slice(0, ins.start) + ins.marker + result.slice(ins.end);
  }
  // Citations that could not be placed still need a marker, or Teams does not show them.
  for (const c of out) if (!result.includes(`[${c.position}]`)) result += ` [${c.position}]`;
  return { text: result, citations: out };
}

/** Cuts `s` to at most `max` UTF-16 units with an ellipsis, never inside a surrogate pair. */
function cutChars(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max - 1;
  const code = s.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return `${s.slice(0, end)}…`;
}

/** What one UTF-16 unit of text costs inside a JSON string: quotes, backslashes and newlines are escaped. */
function jsonUnits(code: number): number {
  if (code === 0x22 || code === 0x5c || (code >= 0x08 && code <= 0x0d && code !== 0x0b)) return 2;
  return code < 0x20 ? 6 : 1;
}

/** UTF-16 bytes of a string or activity as it goes over the wire (JSON), as Teams counts (§2.7). */
export function serialisedBytes(value: unknown): number {
  return JSON.stringify(value).length * 2;
}

/** How many leading UTF-16 units of `text` fit in `maxUnits` once JSON-escaped. */
function fittingPrefix(text: string, maxUnits: number): number {
  let used = 0;
  for (let i = 0; i < text.length; i++) {
    used += jsonUnits(text.charCodeAt(i));
    if (used > maxUnits) return i;
  }
  return text.length;
}

/**
 * Splits text into chunks of at most `maxBytes` UTF-16 bytes **as serialised** (a quote or a newline takes
 * two units in the JSON activity), preferring paragraph, line and word breaks.
 */
export function splitText(text: string, maxBytes = TEXT_BUDGET_BYTES): string[] {
  const maxUnits = Math.floor(maxBytes / 2);
  const parts: string[] = [];
  let rest = text;
  for (;;) {
    const maxChars = fittingPrefix(rest, maxUnits);
    if (maxChars >= rest.length) break;
    let cut = rest.lastIndexOf('\n\n', maxChars);
    if (cut < maxChars / 2) cut = rest.lastIndexOf('\n', maxChars);
    if (cut < maxChars / 2) cut = rest.lastIndexOf(' ', maxChars);
    if (cut < maxChars / 2) cut = Math.max(maxChars, 1);
    // Never split a surrogate pair.
    const code = rest.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^\s+/, '');
  }
  if (rest.length > 0 || parts.length === 0) parts.push(rest);
  return parts;
}

const NOTE_TEXT: Record<NonNullable<FinalAnswer['note']>, string> = {
  interrupted: 'The answer was interrupted.',
  truncated: 'The answer was cut short by the agent.',
};

/** The visible text of the final answer with its note and reference. */
export function finalText(answer: FinalAnswer): string {
  if (!answer.note) return answer.text;
  const ref = answer.correlationId ? ` (reference ${answer.correlationId})` : '';
  return `${answer.text}\n\n_${NOTE_TEXT[answer.note]}${ref}_`;
}

/** The AI label + citations entity Teams reads from a bot message. */
export function aiEntity(citations: TeamsCitation[]): Record<string, unknown> {
  return {
    type: 'https://schema.org/Message',
    '@type': 'Message',
    '@context': 'https://schema.org',
    '@id': '',
    additionalType: ['AIGeneratedContent'],
    ...(citations.length > 0 ? { citation: citations } : {}),
  };
}
