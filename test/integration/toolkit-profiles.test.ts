/**
 * Which project file the Toolkit CLI (atk 1.1.17, a devDependency) runs for each environment, checked offline
 * with atk itself in a scratch copy of the project:
 * - a probe makes one project file schema-invalid; atk refuses it before doing anything (no sign-in, no
 *   network) and names the file it resolved: "Unable to parse yaml file: <path>";
 * - `atk deploy --env playground` runs for real (its two actions are local: build, write .localConfigs.playground),
 *   with a stub `build` script so that it takes seconds.
 * atk resolves `local` → m365agents.local.yml, `playground` → m365agents.playground.yml, any other name →
 * m365agents.yml, and only when an m365agents* file is missing the old teamsapp* names (where the Playground
 * environment is called `testtool`). The last test shows the bug this layout fixes.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnvFile } from '../../scripts/package-app';

const ROOT = join(__dirname, '..', '..');
const ATK = join(ROOT, 'node_modules', '@microsoft', 'm365agentstoolkit-cli', 'cli.js');
const hasAtk = existsSync(ATK);
const PROFILES = ['m365agents.yml', 'm365agents.local.yml', 'm365agents.playground.yml'];
const BROKEN =
  'version: v1.12\nenvironmentFolderPath: ./env\ndeploy:\n  - uses: teamsApp/frobnicate\n    with: {}\n';
const BUILD_MARKER = 'stub-build-ran';

const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

/** A copy of the project's Toolkit files; `rename` maps our file names to others (the legacy layout). */
function project(rename: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'atk-profiles-'));
  scratch.push(dir);
  for (const f of PROFILES) cpSync(join(ROOT, f), join(dir, rename[f] ?? f));
  for (const d of ['env', 'appPackage', 'infra']) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
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

function atk(dir: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [ATK, ...args, '--telemetry', 'false', '--interactive', 'false'],
      { cwd: dir, timeout: 150_000, env: { ...process.env, CI: '1', NO_COLOR: '1' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        done({ code, out: `${stdout}\n${stderr}` });
      },
    );
    child.stdin?.end();
  });
}

/** The project file atk resolves for `deploy --env <env>`: break `file`, see whether atk names it. */
async function resolves(env: string, file: string, dir = project()): Promise<string> {
  writeFileSync(join(dir, file), BROKEN);
  const r = await atk(dir, ['deploy', '--env', env]);
  const m = /Unable to parse yaml file: (\S+?)\.?\s/.exec(r.out);
  return m?.[1]?.replace(`${dir}/`, '') ?? `(no parse error; exit ${r.code}: ${r.out.slice(-300)})`;
}

(hasAtk ? describe : describe.skip)('atk resolves the profiles offline', () => {
  jest.setTimeout(180_000);

  it('`--env playground` runs m365agents.playground.yml: build + .localConfigs.playground, nothing in Azure', async () => {
    const dir = project();
    const r = await atk(dir, ['deploy', '--env', 'playground']);
    expect(r.out).toContain('2/2 actions in deploy stage executed successfully');
    expect(r.out).toContain(BUILD_MARKER);
    expect(r.out).not.toMatch(/zipDeploy|npm ci/);
    expect(r.code).toBe(0);
    const written = parseEnvFile(readFileSync(join(dir, '.localConfigs.playground'), 'utf8'));
    const env = parseEnvFile(readFileSync(join(ROOT, 'env', '.env.playground'), 'utf8'));
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
    ['playground', 'm365agents.playground.yml'],
    ['local', 'm365agents.local.yml'],
    ['dev', 'm365agents.yml'],
    ['prod', 'm365agents.yml'],
  ])('`--env %s` resolves to %s', async (env, file) => {
    expect(await resolves(env, file)).toBe(file);
  });

  it('with the old teamsapp* names, `--env playground` fell through to the Azure file (the bug)', async () => {
    const dir = project({
      'm365agents.yml': 'teamsapp.yml',
      'm365agents.local.yml': 'teamsapp.local.yml',
      'm365agents.playground.yml': 'teamsapp.testtool.yml',
    });
    expect(await resolves('playground', 'teamsapp.yml', dir)).toBe('teamsapp.yml');
  });
});
