/**
 * Which project file the Toolkit CLI (atk 1.1.17, a devDependency) runs for each environment, and what the
 * offline parts of the app-mode and user-mode Azure profiles do, checked with atk itself in a scratch copy:
 * - a probe makes one project file schema-invalid; atk refuses it before doing anything (no sign-in, no
 *   network) and names the file it resolved: "Unable to parse yaml file: <path>";
 * - `atk deploy --env testtool` runs for real (its two actions are local: build, write .localConfigs.testtool),
 *   with a stub `build` script so that it takes seconds;
 * - the offline actions of a profile's provision stage (the FOUNDRY_AUTH check, the app-mode manifest, the
 *   manifest validation and the zip) run for real as the deploy stage of a scratch file selected with
 *   TEAMSFX_CONFIG_FILE_PATH, the way teamsapp.user.yml is selected.
 * The project uses the teamsapp* names (no m365agents* file, which atk would prefer): `local` →
 * teamsapp.local.yml, `testtool` → teamsapp.testtool.yml, any other name → teamsapp.yml (the app-mode Azure
 * profile); TEAMSFX_CONFIG_FILE_PATH (or deploy's hidden --config-file-path) overrides all of them.
 */
import AdmZip from 'adm-zip';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseEnvFile, validateManifest } from '../../scripts/package-app';

const ROOT = join(__dirname, '..', '..');
const ATK = join(ROOT, 'node_modules', '@microsoft', 'm365agentstoolkit-cli', 'cli.js');
const hasAtk = existsSync(ATK);
const PROFILES = ['teamsapp.yml', 'teamsapp.user.yml', 'teamsapp.local.yml', 'teamsapp.testtool.yml'];
const BROKEN =
  'version: v1.12\nenvironmentFolderPath: ./env\ndeploy:\n  - uses: teamsApp/frobnicate\n    with: {}\n';
const BUILD_MARKER = 'stub-build-ran';

/** What `atk provision --env dev` writes below "# Generated during provision" (made-up ids). */
const PROVISIONED = {
  TEAMS_APP_ID: '3b9f2c1e-6a4d-4e2f-9c8b-7d1e5f3a2b90',
  BOT_ID: '9e4d2c6b-3a1f-4b7e-8c5d-2f1a0b9c8d7e',
  BOT_DOMAIN: 'foundrybotdev.azurewebsites.net',
};
const SSO_APP = '6c2b1a9d-8e7f-4a3b-9c2d-1e0f9a8b7c6d';

const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

/** A copy of the project's Toolkit files (without appPackage/build). */
function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'atk-profiles-'));
  scratch.push(dir);
  for (const f of PROFILES) cpSync(join(ROOT, f), join(dir, f));
  cpSync(join(ROOT, 'env'), join(dir, 'env'), { recursive: true, filter: (s) => !s.endsWith('.user') });
  cpSync(join(ROOT, 'appPackage'), join(dir, 'appPackage'), {
    recursive: true,
    filter: (s) => !s.includes(join('appPackage', 'build')),
  });
  cpSync(join(ROOT, 'infra'), join(dir, 'infra'), { recursive: true });
  cpSync(join(ROOT, 'aad.manifest.json'), join(dir, 'aad.manifest.json'));
  const pkg = {
    name: 'scratch',
    version: '1.0.0',
    private: true,
    scripts: { build: `echo ${BUILD_MARKER}` },
  };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
  return dir;
}

/** Sets `KEY=value` lines of env/.env.<env> in a scratch project. */
function setEnv(dir: string, env: string, values: Record<string, string>): void {
  const file = join(dir, 'env', `.env.${env}`);
  let text = readFileSync(file, 'utf8');
  for (const [k, v] of Object.entries(values)) text = text.replace(new RegExp(`^${k}=.*$`, 'm'), `${k}=${v}`);
  writeFileSync(file, text);
}

function atk(
  dir: string,
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    const env: NodeJS.ProcessEnv = { ...process.env, CI: '1', NO_COLOR: '1', ...extraEnv };
    if (!('TEAMSFX_CONFIG_FILE_PATH' in extraEnv)) delete env['TEAMSFX_CONFIG_FILE_PATH'];
    const child = execFile(
      process.execPath,
      [ATK, ...args, '--telemetry', 'false', '--interactive', 'false'],
      { cwd: dir, timeout: 150_000, env },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        done({ code, out: `${stdout}\n${stderr}` });
      },
    );
    child.stdin?.end();
  });
}

const parseError = (dir: string, r: { code: number; out: string }): string =>
  /Unable to parse yaml file: (\S+?)\.?\s/.exec(r.out)?.[1]?.replace(`${dir}/`, '') ??
  `(no parse error; exit ${r.code}: ${r.out.slice(-300)})`;

/** The project file atk resolves for `deploy --env <env>`: break `file`, see whether atk names it. */
async function resolves(env: string, file: string, extraEnv: Record<string, string> = {}): Promise<string> {
  const dir = project();
  writeFileSync(join(dir, file), BROKEN);
  return parseError(dir, await atk(dir, ['deploy', '--env', env], extraEnv));
}

type Action = { uses: string; name?: string; with?: Record<string, unknown> };
const OFFLINE = new Set(['script', 'teamsApp/validateManifest', 'teamsApp/zipAppPackage']);

/**
 * Runs the offline actions of `profile`'s provision stage, unchanged and in order, as the deploy stage of a
 * scratch file that TEAMSFX_CONFIG_FILE_PATH selects; returns atk's result and the zipped manifest.
 */
async function provisionOffline(
  profile: string,
  values: Record<string, string>,
): Promise<{ code: number; out: string; names: string[]; manifest?: Record<string, unknown> }> {
  const dir = project();
  setEnv(dir, 'dev', { ...PROVISIONED, ...values });
  const doc = parse(readFileSync(join(ROOT, profile), 'utf8')) as { version: string; provision: Action[] };
  const actions = doc.provision.filter((a) => OFFLINE.has(a.uses));
  const probe = { version: doc.version, environmentFolderPath: './env', deploy: actions };
  writeFileSync(join(dir, 'offline-provision.yml'), stringify(probe, { lineWidth: 0 }));
  const r = await atk(dir, ['deploy', '--env', 'dev'], { TEAMSFX_CONFIG_FILE_PATH: 'offline-provision.yml' });
  const zip = join(dir, 'appPackage', 'build', 'appPackage.dev.zip');
  const names = actions.map((a) => a.name ?? a.uses);
  if (!existsSync(zip)) return { ...r, names };
  const manifest = JSON.parse(new AdmZip(zip).readAsText('manifest.json')) as Record<string, unknown>;
  return { ...r, names, manifest };
}

(hasAtk ? describe : describe.skip)('atk resolves the profiles offline', () => {
  jest.setTimeout(180_000);

  it('`--env testtool` runs teamsapp.testtool.yml: build + .localConfigs.testtool, nothing in Azure', async () => {
    const dir = project();
    const r = await atk(dir, ['deploy', '--env', 'testtool']);
    expect(r.out).toContain('2/2 actions in deploy stage executed successfully');
    expect(r.out).toContain(BUILD_MARKER);
    expect(r.out).not.toMatch(/zipDeploy|npm ci/);
    expect(r.code).toBe(0);
    const written = parseEnvFile(readFileSync(join(dir, '.localConfigs.testtool'), 'utf8'));
    const env = parseEnvFile(readFileSync(join(ROOT, 'env', '.env.testtool'), 'utf8'));
    expect(Object.fromEntries(written)).toMatchObject({
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      FOUNDRY_PROJECT_ENDPOINT: env.get('FOUNDRY_PROJECT_ENDPOINT'),
      FOUNDRY_CREDENTIAL: 'managed_identity',
      IDENTITY_ENDPOINT: `http://127.0.0.1:${env.get('EMULATOR_PORT')}/msi/token`,
      IDENTITY_HEADER: env.get('EMULATOR_IDENTITY_HEADER'),
      STORAGE: 'memory',
    });
    expect(written.has('BOT_ID')).toBe(false);
  });

  it.each([
    ['testtool', 'teamsapp.testtool.yml'],
    ['local', 'teamsapp.local.yml'],
    ['dev', 'teamsapp.yml'],
    ['prod', 'teamsapp.yml'],
  ])('`--env %s` resolves to %s', async (env, file) => {
    expect(await resolves(env, file)).toBe(file);
  });

  it('`--env playground` is no environment here: atk would run the Azure file teamsapp.yml', async () => {
    expect(existsSync(join(ROOT, 'env', '.env.playground'))).toBe(false);
    expect(await resolves('playground', 'teamsapp.yml')).toBe('teamsapp.yml');
  });

  it('TEAMSFX_CONFIG_FILE_PATH=teamsapp.user.yml (and deploy --config-file-path) select the user-mode profile', async () => {
    const env = { TEAMSFX_CONFIG_FILE_PATH: 'teamsapp.user.yml' };
    expect(await resolves('dev', 'teamsapp.user.yml', env)).toBe('teamsapp.user.yml');
    const dir = project();
    writeFileSync(join(dir, 'teamsapp.user.yml'), BROKEN);
    const r = await atk(dir, ['deploy', '--env', 'prod', '--config-file-path', 'teamsapp.user.yml']);
    expect(parseError(dir, r)).toBe('teamsapp.user.yml');
  });
});

(hasAtk ? describe : describe.skip)('the offline provision actions of the Azure profiles, run by atk', () => {
  jest.setTimeout(180_000);

  it('teamsapp.yml (app mode) zips a manifest without webApplicationInfo that needs no SSO app', async () => {
    const r = await provisionOffline('teamsapp.yml', { FOUNDRY_AUTH: 'app', AAD_APP_CLIENT_ID: '' });
    expect(r.names).toEqual([
      'check FOUNDRY_AUTH=app',
      'write the app-mode manifest (no webApplicationInfo)',
      'teamsApp/validateManifest',
      'teamsApp/zipAppPackage',
    ]);
    expect(r.out).toContain('4/4 actions in deploy stage executed successfully');
    expect(r.code).toBe(0);
    expect(r.manifest).toBeDefined();
    expect(r.manifest).not.toHaveProperty('webApplicationInfo');
    expect(r.manifest?.['id']).toBe(PROVISIONED.TEAMS_APP_ID);
    expect(validateManifest(r.manifest ?? {})).toEqual([]);
  });

  it('teamsapp.yml refuses an env whose FOUNDRY_AUTH is user, before anything else', async () => {
    const r = await provisionOffline('teamsapp.yml', { FOUNDRY_AUTH: 'user' });
    expect(r.out).toContain('teamsapp.yml is the app-mode profile, but FOUNDRY_AUTH="user"');
    expect(r.out).not.toContain('actions in deploy stage executed successfully');
    expect(r.manifest).toBeUndefined();
    expect(r.code).not.toBe(0);
  });

  it('teamsapp.user.yml (user mode) keeps webApplicationInfo with the SSO app it created', async () => {
    const r = await provisionOffline('teamsapp.user.yml', {
      FOUNDRY_AUTH: 'user',
      AAD_APP_CLIENT_ID: SSO_APP,
    });
    expect(r.names).toEqual([
      'check FOUNDRY_AUTH=user',
      'teamsApp/validateManifest',
      'teamsApp/zipAppPackage',
    ]);
    expect(r.code).toBe(0);
    expect(r.manifest?.['webApplicationInfo']).toEqual({
      id: SSO_APP,
      resource: `api://${PROVISIONED.BOT_DOMAIN}/botid-${PROVISIONED.BOT_ID}`,
    });
    expect(validateManifest(r.manifest ?? {})).toEqual([]);
  });

  it('teamsapp.user.yml refuses an env whose FOUNDRY_AUTH is app', async () => {
    const r = await provisionOffline('teamsapp.user.yml', { FOUNDRY_AUTH: 'app' });
    expect(r.out).toContain('teamsapp.user.yml is the user-mode profile, but FOUNDRY_AUTH="app"');
    expect(r.code).not.toBe(0);
  });
});
