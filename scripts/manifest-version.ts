import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * `npm run manifest:version -- <patch|minor|major|X.Y.Z>`: raises `version` in appPackage/manifest.json for a
 * release (docs/deploy.md "Releasing"). Teams only accepts an updated app whose version is higher than the one
 * it has, in the form MAJOR.MINOR.PATCH (digits only). The file is edited in place; nothing else changes.
 */

export class VersionError extends Error {
  override readonly name = 'VersionError';
}

const SEMVER = /^(\d{1,9})\.(\d{1,9})\.(\d{1,9})$/;

function parts(v: string): [number, number, number] {
  const m = SEMVER.exec(v);
  if (!m) throw new VersionError(`"${v}" is not MAJOR.MINOR.PATCH (digits only)`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** The version after `bump` (a level or an explicit higher version). */
export function nextVersion(current: string, bump: string): string {
  const [a, b, c] = parts(current);
  if (bump === 'major') return `${a + 1}.0.0`;
  if (bump === 'minor') return `${a}.${b + 1}.0`;
  if (bump === 'patch') return `${a}.${b}.${c + 1}`;
  const [x, y, z] = parts(bump);
  const higher = x !== a ? x > a : y !== b ? y > b : z > c;
  if (!higher) throw new VersionError(`${bump} is not higher than the current version ${current}`);
  return bump;
}

/** Rewrites the top-level `"version"` of the manifest file; returns [old, new]. */
export function bumpManifest(file: string, bump: string): [string, string] {
  const text = readFileSync(file, 'utf8');
  const current = (JSON.parse(text) as { version?: unknown }).version;
  if (typeof current !== 'string') throw new VersionError(`${file} has no "version"`);
  const next = nextVersion(current, bump);
  const re = /^(\s*"version"\s*:\s*")([^"]*)(")/m;
  if (!re.test(text)) throw new VersionError(`cannot find the "version" line in ${file}`);
  writeFileSync(file, text.replace(re, `$1${next}$3`));
  return [current, next];
}

if (require.main === module) {
  const bump = process.argv[2];
  const file = resolve(join(__dirname, '..', '..', 'appPackage', 'manifest.json'));
  try {
    if (bump === undefined)
      throw new VersionError('usage: npm run manifest:version -- <patch|minor|major|X.Y.Z>');
    const [from, to] = bumpManifest(file, bump);
    process.stdout.write(`appPackage/manifest.json: version ${from} → ${to}\n`);
  } catch (err) {
    process.stderr.write(`manifest-version: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
