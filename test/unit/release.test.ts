/**
 * The production environment (env/.env.prod) and a release: `npm run package -- --env prod` once provisioning
 * has written the generated ids, validated offline by the packager (Teams JSON schema via ajv) and by atk's own
 * `validate --manifest-file` (it ships the schemas); and `npm run manifest:version` for the version bump.
 */
import AdmZip from 'adm-zip';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bumpManifest, nextVersion, VersionError } from '../../scripts/manifest-version';
import { packageApp, parseEnvFile } from '../../scripts/package-app';

const ROOT = join(__dirname, '..', '..');
const ATK = join(ROOT, 'node_modules', '@microsoft', 'm365agentstoolkit-cli', 'cli.js');

/** What `atk provision --env prod` writes below "# Generated during provision" (made-up ids). */
const PROVISIONED: Record<string, string> = {
  TEAMS_APP_ID: '3b9f2c1e-6a4d-4e2f-9c8b-7d1e5f3a2b90',
  BOT_ID: '9e4d2c6b-3a1f-4b7e-8c5d-2f1a0b9c8d7e',
  AAD_APP_CLIENT_ID: '6c2b1a9d-8e7f-4a3b-9c2d-1e0f9a8b7c6d',
  BOT_DOMAIN: 'foundrybotprod.azurewebsites.net',
};

const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});
function scratchRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'release-'));
  scratch.push(dir);
  cpSync(join(ROOT, 'appPackage'), join(dir, 'appPackage'), { recursive: true });
  cpSync(join(ROOT, 'env'), join(dir, 'env'), { recursive: true });
  return dir;
}
function provision(dir: string): string {
  const file = join(dir, 'env', '.env.prod');
  let text = readFileSync(file, 'utf8');
  for (const [k, v] of Object.entries(PROVISIONED))
    text = text.replace(new RegExp(`^${k}=$`, 'm'), `${k}=${v}`);
  writeFileSync(file, text);
  return file;
}

describe('env/.env.prod', () => {
  const prod = parseEnvFile(readFileSync(join(ROOT, 'env', '.env.prod'), 'utf8'));
  const dev = parseEnvFile(readFileSync(join(ROOT, 'env', '.env.dev'), 'utf8'));

  it('is an Azure environment with the same keys as dev, no name suffix, and nothing generated yet', () => {
    expect([...prod.keys()].sort()).toEqual([...dev.keys()].sort());
    expect(prod.get('TEAMSFX_ENV')).toBe('prod');
    expect(prod.get('APP_NAME_SUFFIX')).toBe('');
    for (const k of Object.keys(PROVISIONED)) expect(prod.get(k)).toBe('');
  });

  it('`npm run package -- --env prod` before provisioning names the missing ids', () => {
    expect(() => packageApp({ root: scratchRoot(), env: 'prod' })).toThrow(/TEAMS_APP_ID[\s\S]*BOT_ID/);
  });

  it('after provisioning it builds a package that validates against the Teams schema', () => {
    const dir = scratchRoot();
    provision(dir);
    const r = packageApp({ root: dir, env: 'prod' });
    expect([...r.entries].sort()).toEqual(['color.png', 'manifest.json', 'outline.png']);
    const manifest = JSON.parse(new AdmZip(r.zipPath).readAsText('manifest.json')) as Record<string, unknown>;
    expect(manifest['name']).toEqual({ short: 'Foundry Agent', full: 'Foundry Agent for Microsoft Teams' });
    expect(manifest['id']).toBe(PROVISIONED['TEAMS_APP_ID']);
    expect(JSON.stringify(manifest)).not.toContain('${{');
    // env/.env.prod is app mode (teamsapp.yml): no SSO app, so no webApplicationInfo.
    expect(r.sso).toBe(false);
    expect(manifest).not.toHaveProperty('webApplicationInfo');
  });

  it('in user mode (teamsapp.user.yml) the prod package keeps webApplicationInfo and validates', () => {
    const dir = scratchRoot();
    const file = provision(dir);
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^FOUNDRY_AUTH=app$/m, 'FOUNDRY_AUTH=user'));
    const r = packageApp({ root: dir, env: 'prod' });
    expect(r.sso).toBe(true);
    expect(r.manifest['webApplicationInfo']).toEqual({
      id: PROVISIONED['AAD_APP_CLIENT_ID'],
      resource: `api://${PROVISIONED['BOT_DOMAIN']}/botid-${PROVISIONED['BOT_ID']}`,
    });
  });

  (existsSync(ATK) ? it : it.skip)(
    'atk validates the prod manifest offline as well (`atk validate --manifest-file … --env-file env/.env.prod`)',
    () => {
      const dir = scratchRoot();
      const envFile = provision(dir);
      const out = execFileSync(
        process.execPath,
        [
          ATK,
          'validate',
          '--manifest-file',
          join(dir, 'appPackage', 'manifest.json'),
          '--env-file',
          envFile,
          '--telemetry',
          'false',
          '--interactive',
          'false',
        ],
        { cwd: dir, encoding: 'utf8', timeout: 90_000, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      expect(out).toMatch(/All passed/i);
    },
    120_000,
  );
});

describe('npm run manifest:version', () => {
  it('raises patch, minor, major, or to an explicit higher version', () => {
    expect(nextVersion('1.0.0', 'patch')).toBe('1.0.1');
    expect(nextVersion('1.2.3', 'minor')).toBe('1.3.0');
    expect(nextVersion('1.2.3', 'major')).toBe('2.0.0');
    expect(nextVersion('1.2.3', '1.10.0')).toBe('1.10.0');
  });

  it('refuses a version that is not higher, or not MAJOR.MINOR.PATCH', () => {
    expect(() => nextVersion('1.2.3', '1.2.3')).toThrow(VersionError);
    expect(() => nextVersion('1.2.3', '1.1.9')).toThrow('not higher');
    expect(() => nextVersion('1.2.3', '1.3.0-beta')).toThrow('MAJOR.MINOR.PATCH');
  });

  it('edits only the version line of the manifest', () => {
    const dir = scratchRoot();
    const file = join(dir, 'appPackage', 'manifest.json');
    const before = readFileSync(file, 'utf8');
    const current = (JSON.parse(before) as { version: string }).version;
    const [from, to] = bumpManifest(file, 'minor');
    expect(from).toBe(current);
    const after = readFileSync(file, 'utf8');
    expect((JSON.parse(after) as { version: string }).version).toBe(to);
    expect(after.replace(`"version": "${to}"`, `"version": "${from}"`)).toBe(before);
    expect(packageApp({ root: dir, env: 'testtool' }).manifest['version']).toBe(to);
  });
});

describe('runtime', () => {
  it('engines accept Node 20 (code, tests, CI here) and Node 22 LTS (App Service)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    // >=20.19: knip (lint) needs it; <23: Node 22 LTS is the newest line App Service runs here.
    expect(pkg.engines.node).toBe('>=20.19 <23');
    const [major, minor] = process.versions.node.split('.').map(Number);
    expect((major ?? 0) > 20 || (major === 20 && (minor ?? 0) >= 19)).toBe(true);
    expect(readFileSync(join(ROOT, 'infra', 'azure.bicep'), 'utf8')).toContain(
      "linuxFxVersion: 'NODE|22-lts'",
    );
  });
});
