import type { Citation } from '../../src/foundry/types';
import { aiEntity, applyCitations, finalText, MAX_MESSAGE_BYTES, splitText } from '../../src/teams/message';

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
    expect(MAX_MESSAGE_BYTES).toBe(80_000);
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
