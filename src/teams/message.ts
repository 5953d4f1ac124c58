import type { Citation } from '../foundry/types';
import type { FinalAnswer } from '../relay/model';

/**
 * Builds the final Teams message(s) of an answer: Teams citations from Foundry annotations, the
 * AI-generated label, feedback buttons, and splitting when the text is too large for one message
 * (Teams' 80 KB guidance, measured as UTF-16; reliability-plan §2.7, STR-06).
 */

/**
 * The text budget of one message, below Teams' 80 KB so there is room left for entities and channel data in
 * one activity (also the cap on cumulative streaming text). test/unit/message.test.ts checks whole activities.
 */
export const TEXT_BUDGET_BYTES = 70_000;
const MAX_CITATIONS = 20;

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
      const name = (c.title ?? c.filename ?? c.url ?? 'Source').slice(0, 120);
      out.push({
        '@type': 'Claim',
        position: pos,
        appearance: {
          '@type': 'DigitalDocument',
          name,
          ...(c.url && /^https?:\/\//i.test(c.url) ? { url: c.url } : {}),
          abstract: (c.url ?? c.filename ?? name).slice(0, 160),
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

export function utf16Bytes(s: string): number {
  return s.length * 2;
}

/** Splits text into chunks of at most `maxBytes` UTF-16 bytes, preferring paragraph, line and word breaks. */
export function splitText(text: string, maxBytes = TEXT_BUDGET_BYTES): string[] {
  const maxChars = Math.floor(maxBytes / 2);
  if (text.length <= maxChars) return [text];
  const parts: string[] = [];
  let rest = text;
  while (rest.length > maxChars) {
    let cut = rest.lastIndexOf('\n\n', maxChars);
    if (cut < maxChars / 2) cut = rest.lastIndexOf('\n', maxChars);
    if (cut < maxChars / 2) cut = rest.lastIndexOf(' ', maxChars);
    if (cut < maxChars / 2) cut = maxChars;
    // Never split a surrogate pair.
    const code = rest.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^\s+/, '');
  }
  if (rest.length > 0) parts.push(rest);
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
