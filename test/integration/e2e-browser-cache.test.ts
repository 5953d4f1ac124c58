import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpackOnce } from '../e2e/browser';

/**
 * unpackOnce (test/e2e/browser.ts), in a temporary folder: the npm-shipped Chromium is unpacked once, published
 * atomically, and a worker that loses the race to another one uses the winner's copy and leaves nothing behind.
 */

let root = '';
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'e2e-browser-cache-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function fakeBinary(dir: string, content: string): void {
  writeFileSync(join(dir, 'chromium'), content);
  chmodSync(join(dir, 'chromium'), 0o755);
}

test('the first call unpacks into <cache>/<version>; later calls reuse it without unpacking', () => {
  let unpacks = 0;
  const unpack = (dir: string): void => {
    unpacks += 1;
    fakeBinary(dir, 'v1');
  };
  const first = unpackOnce(root, '147.0.0', 'chromium', unpack);
  expect(first).toBe(join(root, '147.0.0', 'chromium'));
  expect(unpackOnce(root, '147.0.0', 'chromium', unpack)).toBe(first);
  expect(unpacks).toBe(1);
  expect(readdirSync(root)).toEqual(['147.0.0']); // no staging folder left
});

test('a worker that finishes second uses the copy the first one published and drops its own', () => {
  const path = unpackOnce(root, '147.0.0', 'chromium', (staging) => {
    fakeBinary(staging, 'mine');
    // Meanwhile another worker publishes its copy.
    mkdirSync(join(root, '147.0.0'));
    fakeBinary(join(root, '147.0.0'), 'theirs');
  });
  expect(readFileSync(path, 'utf8')).toBe('theirs');
  expect(readdirSync(root)).toEqual(['147.0.0']);
});

test('a failed unpack publishes nothing, cleans up, and the next call tries again', () => {
  expect(() =>
    unpackOnce(root, '147.0.0', 'chromium', (staging) => {
      writeFileSync(join(staging, 'chromium'), 'half'); // not executable: incomplete
    }),
  ).toThrow(/no executable chromium/);
  expect(readdirSync(root)).toEqual([]);
  const path = unpackOnce(root, '147.0.0', 'chromium', (staging) => fakeBinary(staging, 'ok'));
  expect(readFileSync(path, 'utf8')).toBe('ok');
});

test('another version gets its own folder', () => {
  unpackOnce(root, '147.0.0', 'chromium', (staging) => fakeBinary(staging, 'a'));
  const path = unpackOnce(root, '153.0.0', 'chromium', (staging) => fakeBinary(staging, 'b'));
  expect(readFileSync(path, 'utf8')).toBe('b');
  expect(readdirSync(root).sort()).toEqual(['147.0.0', '153.0.0']);
});
