import { findBrowser, type BrowserHost } from '../e2e/browser';

/**
 * The browser tests' browser lookup (test/e2e/browser.ts): CHROMIUM_PATH, then a system Chromium on PATH, then the
 * npm-shipped build (Linux x64); anything else fails with what to do. The host is faked: no file system.
 */

const NPM_BIN = '/repo/node_modules/.cache/e2e-chromium/147.0.0/chromium';

function host(o: {
  env?: Record<string, string>;
  executables?: string[];
  platform?: NodeJS.Platform;
  arch?: string;
  npm?: () => { path: string; version: string };
}): BrowserHost & { npmCalls: number } {
  const executables = new Set(o.executables ?? []);
  const h = {
    env: o.env ?? {},
    platform: o.platform ?? 'linux',
    arch: o.arch ?? 'x64',
    isExecutable: (p: string) => executables.has(p),
    npmCalls: 0,
    npmChromium: () => {
      h.npmCalls += 1;
      return (o.npm ?? (() => ({ path: NPM_BIN, version: '147.0.0' })))();
    },
  };
  return h;
}

test('CHROMIUM_PATH wins over a system Chromium and the npm build, and nothing is unpacked', () => {
  const h = host({
    env: { CHROMIUM_PATH: '/opt/chrome/chrome', PATH: '/usr/bin' },
    executables: ['/opt/chrome/chrome', '/usr/bin/chromium'],
  });
  expect(findBrowser(h)).toEqual({
    source: 'CHROMIUM_PATH',
    path: '/opt/chrome/chrome',
    label: 'CHROMIUM_PATH (/opt/chrome/chrome)',
  });
  expect(h.npmCalls).toBe(0);
});

test('a CHROMIUM_PATH that is not executable is an error, not a silent fallback to another browser', () => {
  const h = host({
    env: { CHROMIUM_PATH: '/nope/chrome', PATH: '/usr/bin' },
    executables: ['/usr/bin/chromium'],
  });
  expect(() => findBrowser(h)).toThrow(
    /CHROMIUM_PATH is set to "\/nope\/chrome", which is not an executable/,
  );
  expect(h.npmCalls).toBe(0);
});

test('an empty CHROMIUM_PATH counts as unset', () => {
  const h = host({ env: { CHROMIUM_PATH: ' ', PATH: '/usr/bin' }, executables: ['/usr/bin/chromium'] });
  expect(findBrowser(h).source).toBe('system');
});

test('a system Chromium on PATH wins over the npm build: the first PATH entry that has one', () => {
  const h = host({
    env: { PATH: '/home/me/bin::/usr/local/bin:/usr/bin' },
    executables: ['/usr/local/bin/chromium', '/usr/bin/chromium'],
  });
  expect(findBrowser(h)).toEqual({
    source: 'system',
    path: '/usr/local/bin/chromium',
    label: 'system Chromium (/usr/local/bin/chromium)',
  });
  expect(h.npmCalls).toBe(0);
});

test('`chromium` anywhere on PATH comes before `chromium-browser`', () => {
  const h = host({
    env: { PATH: '/a:/b/' },
    executables: ['/a/chromium-browser', '/b/chromium'],
  });
  expect(findBrowser(h).path).toBe('/b/chromium');
  expect(findBrowser(host({ env: { PATH: '/a' }, executables: ['/a/chromium-browser'] })).path).toBe(
    '/a/chromium-browser',
  );
});

test('with no CHROMIUM_PATH and no system Chromium, Linux x64 uses the npm-shipped build', () => {
  const h = host({ env: { PATH: '/usr/local/bin:/usr/bin:/bin' }, executables: ['/usr/bin/node'] });
  expect(findBrowser(h)).toEqual({
    source: 'npm',
    path: NPM_BIN,
    label: `npm @sparticuz/chromium 147.0.0 (${NPM_BIN})`,
  });
  expect(h.npmCalls).toBe(1);
});

test.each([
  ['darwin', 'arm64'],
  ['win32', 'x64'],
  ['linux', 'arm64'],
] as const)(
  'on %s %s without CHROMIUM_PATH or a system Chromium it fails and says to set CHROMIUM_PATH',
  (platform, arch) => {
    const h = host({ env: { PATH: '/usr/bin' }, platform, arch });
    expect(() => findBrowser(h)).toThrow(
      /runs on Linux x64 only[\s\S]*set CHROMIUM_PATH to an installed Chrome/,
    );
    expect(h.npmCalls).toBe(0);
  },
);

test('when the npm build cannot be unpacked, the error gives the reason and what to do', () => {
  const h = host({
    env: {},
    npm: () => {
      throw new Error('@sparticuz/chromium is not installed in /repo/node_modules');
    },
  });
  expect(() => findBrowser(h)).toThrow(
    /could not be unpacked: @sparticuz\/chromium is not installed[\s\S]*run `npm ci`[\s\S]*CHROMIUM_PATH/,
  );
});
