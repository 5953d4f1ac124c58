import type { Citation } from '../../src/foundry/types';
import { createLogger } from '../../src/observability/logger';
import { aiEntity, applyCitations, finalText, splitText } from '../../src/teams/message';
import { TeamsAnswerStream } from '../../src/teams/stream';

const url = (u: string, start: number, end: number, title = 'T'): Citation => ({
  kind: 'url_citation',
  url: u,
  title,
  startIndex: start,
  endIndex: end,
});

describe('applyCitations', () => {
  it('replaces markers Foundry wrote over the span and numbers sources once', () => {
    const text = 'Reset it in the portal [1]. MFA is in the guide [2]. Again [1].';
    const r = applyCitations(text, [
      url('https://a.example/x', 23, 26, 'Portal'),
      url('https://b.example/y', 48, 51, 'Guide'),
      url('https://a.example/x', 59, 62, 'Portal'),
    ]);
    expect(r.text).toBe(text);
    expect(r.citations.map((c) => [c.position, c.appearance.name, c.appearance.url])).toEqual([
      [1, 'Portal', 'https://a.example/x'],
      [2, 'Guide', 'https://b.example/y'],
    ]);
  });

  it('turns 【…】 markers into [n] and inserts a marker where the span is text', () => {
    const r = applyCitations('See 【4:0†source】 and the docs', [
      url('https://a.example', 4, 16),
      url('https://b.example', 25, 29),
    ]);
    expect(r.text).toBe('See [1] and the docs [2]');
  });

  it('appends markers for citations that could not be placed; drops non-http urls from the entity', () => {
    const r = applyCitations('short', [
      { kind: 'url_citation', url: 'javascript:alert(1)', title: 'x', startIndex: 100, endIndex: 120 },
      { kind: 'file_citation', fileId: 'file-1', filename: 'a.pdf' },
    ]);
    expect(r.text).toBe('short [1] [2]');
    expect(r.citations[0]?.appearance.url).toBeUndefined();
    expect(r.citations[1]?.appearance.name).toBe('a.pdf');
  });

  it('TEAMS-11 names are cut to 80 characters and abstracts to 160 (Teams refuses the whole message beyond)', () => {
    const title = `${'Long title '.repeat(20)}😀`;
    const r = applyCitations('x [1]', [url(`https://a.example/${'p'.repeat(400)}`, 2, 5, title)]);
    const a = r.citations[0]?.appearance;
    expect(a?.name.length).toBeLessThanOrEqual(80);
    expect(a?.name.endsWith('…')).toBe(true);
    expect(a?.name.startsWith('Long title Long title')).toBe(true);
    expect(a?.abstract.length).toBeLessThanOrEqual(160);
    const emoji = applyCitations('x [1]', [url('https://b.example', 2, 5, '😀'.repeat(60))]).citations[0];
    expect(/[\uD800-\uDBFF]…$/.test(emoji?.appearance.name ?? '')).toBe(false);
    expect(
      applyCitations('x [1]', [url('https://c.example', 2, 5, 'Short')]).citations[0]?.appearance.name,
    ).toBe('Short');
  });

  it('caps at 20 sources', () => {
    const many = Array.from({ length: 30 }, (_v, i) => url(`https://s${i}.example`, 0, 0));
    expect(applyCitations('x', many).citations).toHaveLength(20);
  });
});

describe('splitText', () => {
  it('STR-06 keeps every part under the budget, prefers paragraph breaks, loses nothing', () => {
    const para = `${'word '.repeat(3000)}\n\n`; // 15 002 chars
    const text = para.repeat(10); // ~150 KB of UTF-16
    const parts = splitText(text);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    for (const p of parts) expect(p.length * 2).toBeLessThanOrEqual(70_000);
    expect(parts.join('').replace(/\s/g, '')).toBe(text.replace(/\s/g, ''));
    expect(parts.slice(0, -1).every((p) => p.endsWith('word '))).toBe(true);
  });

  it('STR-06 splits text without breaks hard and never inside a surrogate pair', () => {
    const text = '😀'.repeat(40_000); // 80 000 UTF-16 code units
    const parts = splitText(text, 10_001);
    for (const p of parts) {
      expect(p.length * 2).toBeLessThanOrEqual(10_001);
      expect(/^[\uDC00-\uDFFF]/.test(p)).toBe(false);
      expect(/[\uD800-\uDBFF]$/.test(p)).toBe(false);
    }
    expect(parts.join('')).toBe(text);
  });

  it('leaves short text alone', () => {
    expect(splitText('hello')).toEqual(['hello']);
  });
});

describe('final message parts', () => {
  it('adds the interrupted note with the reference; the AI label entity carries citations', () => {
    expect(finalText({ text: 'partial', citations: [], note: 'interrupted', correlationId: 'abc' })).toBe(
      'partial\n\n_The answer was interrupted. (reference abc)_',
    );
    const e = aiEntity([]);
    expect(e['additionalType']).toEqual(['AIGeneratedContent']);
    expect(e['citation']).toBeUndefined();
  });
});

describe('final message size (STR-06)', () => {
  /** Teams' guidance: the message itself within 80 KB, measured as UTF-16 (docs/reliability.md §2.7). */
  const TEAMS_MESSAGE_LIMIT_BYTES = 80_000;

  it('a 150 KB answer goes out as several messages, each activity under 80 KB as serialised', async () => {
    const paragraph =
      'Rotate the signing key in the portal, then restart the bot so it picks up the new secret [1]. ' +
      'Rollbacks are documented in the operations guide 📘 with the "before" and "after" values [2].\n\n';
    const text = paragraph.repeat(Math.ceil(75_000 / paragraph.length)); // ≥ 150 KB as UTF-16
    const citations: Citation[] = [];
    for (let at = text.indexOf('[1]'); at >= 0; at = text.indexOf('[1]', at + 1))
      citations.push(url('https://a.example/keys', at, at + 3, 'Keys'));
    citations.push(url('https://b.example/ops', text.indexOf('[2]'), text.indexOf('[2]') + 3, 'Ops'));
    const sent: Record<string, unknown>[] = [];
    const stream = new TeamsAnswerStream({
      send: (activity) => {
        sent.push(activity);
        return Promise.resolve(`id-${sent.length}`);
      },
      streaming: false,
      log: createLogger({ level: 'error', sink: () => undefined }),
    });

    expect(await stream.finish({ text, citations })).toBe('completed');

    const messages = sent.filter((a) => a['type'] === 'message');
    expect(messages.length).toBeGreaterThan(1);
    for (const m of messages) {
      expect(Buffer.byteLength(JSON.stringify(m), 'utf16le')).toBeLessThanOrEqual(TEAMS_MESSAGE_LIMIT_BYTES);
    }
    // Nothing lost: the parts put back together are the answer (cuts only drop the whitespace at the cut).
    const rejoined = messages.map((m) => String(m['text'])).join('');
    expect(rejoined.replace(/\s+/g, '')).toBe(text.replace(/\s+/g, ''));
  });
});

describe('TEAMS-11 serialised size: quotes and newlines count twice in the JSON activity', () => {
  it('a quote-heavy answer is split so every serialised message stays within 80 KB', async () => {
    const text = '"a"\n'.repeat(30_000); // 120 000 chars; 210 000 once escaped
    const sent: Record<string, unknown>[] = [];
    const stream = new TeamsAnswerStream({
      send: (activity) => {
        sent.push(activity);
        return Promise.resolve(`id-${sent.length}`);
      },
      streaming: false,
      log: createLogger({ level: 'error', sink: () => undefined }),
    });
    expect(await stream.finish({ text, citations: [] })).toBe('completed');
    const messages = sent.filter((a) => a['type'] === 'message');
    for (const m of messages) expect(JSON.stringify(m).length * 2).toBeLessThanOrEqual(80_000);
    expect(
      messages
        .map((m) => String(m['text']))
        .join('')
        .replace(/\s+/g, ''),
    ).toBe(text.replace(/\s+/g, ''));
  });
});
