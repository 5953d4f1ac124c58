import { execFileSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';

/**
 * Which Chromium the browser tests (test/e2e) drive, in this order:
 *   1. `CHROMIUM_PATH`, when set (an installed Chrome or Chromium; how macOS and Windows run the tests);
 *   2. a system Chromium on PATH (`chromium`, then `chromium-browser`; Debian's `apt-get install chromium`);
 *   3. the Chromium shipped inside the npm package @sparticuz/chromium (a devDependency, so `npm ci` brings it;
 *      Linux x64 only), unpacked once into node_modules/.cache/e2e-chromium/<version>/.
 * Nothing found, or nothing that starts, is an error that says what to do: the browser tests never skip.
 */

export type BrowserSource = 'CHROMIUM_PATH' | 'system' | 'npm';

export interface E2eBrowser {
  source: BrowserSource;
  /** The executable handed to playwright-core. */
  path: string;
  /** For the log line and error messages, e.g. "npm @sparticuz/chromium 147.0.0 (node_modules/.cache/...)". */
  label: string;
}

/** What the lookup reads from the machine; injected so the order can be unit-tested. */
export interface BrowserHost {
  env: Readonly<Record<string, string | undefined>>;
  platform: NodeJS.Platform;
  arch: string;
  isExecutable(path: string): boolean;
  /** Unpacks (once) the npm-shipped Chromium; throws with the reason when it cannot. */
  npmChromium(): { path: string; version: string };
}

export const NPM_CHROMIUM = '@sparticuz/chromium';
export const SYSTEM_NAMES = ['chromium', 'chromium-browser'] as const;

export const WHAT_TO_DO =
  'What to do: on Linux x64, run `npm ci` (it installs the devDependency @sparticuz/chromium, which ships a ' +
  'Chromium build); or install Chromium (Debian/Ubuntu: `apt-get install -y chromium`); or, on any OS, set ' +
  'CHROMIUM_PATH to an installed Chrome or Chromium, e.g. ' +
  'CHROMIUM_PATH="/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" (macOS) or ' +
  'CHROMIUM_PATH="C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe" (Windows).';

/** Resolves the browser in the documented order. Pure apart from `host`. */
export function findBrowser(host: BrowserHost): E2eBrowser {
  const fromEnv = host.env['CHROMIUM_PATH']?.trim();
  if (fromEnv) {
    // An explicit choice that does not work is an error, not a reason to quietly use another browser.
    if (!host.isExecutable(fromEnv))
      throw new Error(`CHROMIUM_PATH is set to "${fromEnv}", which is not an executable file. ${WHAT_TO_DO}`);
    return { source: 'CHROMIUM_PATH', path: fromEnv, label: `CHROMIUM_PATH (${fromEnv})` };
  }

  const sep = host.platform === 'win32' ? ';' : ':';
  const dirs = (host.env['PATH'] ?? '').split(sep).filter((d) => d !== '');
  for (const name of SYSTEM_NAMES) {
    for (const dir of dirs) {
      const candidate = `${dir.replace(/[\\/]+$/, '')}/${name}`;
      if (host.isExecutable(candidate))
        return { source: 'system', path: candidate, label: `system Chromium (${candidate})` };
    }
  }

  if (host.platform !== 'linux' || host.arch !== 'x64')
    throw new Error(
      `No Chromium for the browser tests: CHROMIUM_PATH is not set, no ${SYSTEM_NAMES.join(' or ')} is on PATH, ` +
        `and the npm-shipped build (${NPM_CHROMIUM}) runs on Linux x64 only (this is ${host.platform} ${host.arch}). ` +
        WHAT_TO_DO,
    );
  let npm: { path: string; version: string };
  try {
    npm = host.npmChromium();
  } catch (err) {
    throw new Error(
      `No Chromium for the browser tests: CHROMIUM_PATH is not set, no ${SYSTEM_NAMES.join(' or ')} is on PATH, ` +
        `and the npm-shipped build could not be unpacked: ${err instanceof Error ? err.message : String(err)}. ` +
        WHAT_TO_DO,
    );
  }
  return { source: 'npm', path: npm.path, label: `npm ${NPM_CHROMIUM} ${npm.version} (${npm.path})` };
}

export function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Publishes an unpacked browser atomically: `unpackInto` fills a private staging folder, which is then renamed to
 * `<cacheRoot>/<version>`. Several jest workers may start at once: each one that finds no cache unpacks into its
 * own folder, the first rename wins and the others drop their copy. Nobody ever sees a half-written binary.
 * Returns the path of `binary` inside the published folder.
 */
export function unpackOnce(
  cacheRoot: string,
  version: string,
  binary: string,
  unpackInto: (stagingDir: string) => void,
): string {
  const final = join(cacheRoot, version);
  const published = join(final, binary);
  if (isExecutableFile(published)) return published;
  mkdirSync(cacheRoot, { recursive: true });
  const staging = mkdtempSync(join(cacheRoot, `.unpack-${version}-`));
  try {
    unpackInto(staging);
    if (!isExecutableFile(join(staging, binary)))
      throw new Error(`unpacking gave no executable ${binary} in ${staging}`);
    try {
      renameSync(staging, final);
    } catch (err) {
      // Another worker published first (ENOTEMPTY/EEXIST/EPERM): use its copy if it is complete.
      if (!isExecutableFile(published)) throw err;
    }
    return published;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Unpacks @sparticuz/chromium from `root`'s node_modules. The package writes to `os.tmpdir()` (`/tmp/chromium`,
 * shared by every project and user on the machine, and reused without a version check), so it runs in a child
 * Node with TMPDIR pointing at the staging folder. A child also keeps the package's ESM-only releases usable.
 */
export function unpackNpmChromium(root: string): { path: string; version: string } {
  const pkgDir = join(root, 'node_modules', ...NPM_CHROMIUM.split('/'));
  const pkgJson = join(pkgDir, 'package.json');
  if (!existsSync(pkgJson)) throw new Error(`${NPM_CHROMIUM} is not installed in ${root}/node_modules`);
  const { version } = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string };
  const cacheRoot = join(root, 'node_modules', '.cache', 'e2e-chromium');
  const path = unpackOnce(cacheRoot, version, 'chromium', (staging) => {
    const script = `import(${JSON.stringify(NPM_CHROMIUM)}).then((m) => (m.default ?? m).executablePath()).then((p) => process.stdout.write(p))`;
    execFileSync(process.execPath, ['-e', script], {
      cwd: root,
      env: { ...process.env, TMPDIR: staging, TMP: staging, TEMP: staging },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 180_000,
    });
  });
  return { path, version };
}

export function realHost(root: string): BrowserHost {
  return {
    env: process.env,
    platform: process.platform,
    arch: process.arch,
    isExecutable: isExecutableFile,
    npmChromium: () => unpackNpmChromium(root),
  };
}
