/**
 * The Teams app package: appPackage/manifest.json against the official schema, the parts the product relies on,
 * the icons' pixels, the offline packager (scripts/package-app.ts) and, when installed, the Toolkit's own
 * offline validator (`atk validate`).
 */
import AdmZip from 'adm-zip';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { execFile, execSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { renderColorIcon, renderOutlineIcon } from '../../scripts/make-icons';
import { parse } from 'yaml';
import {
  PackageError,
  packageApp,
  parseEnvFile,
  placeholdersIn,
  ssoInPackage,
  withoutSso,
} from '../../scripts/package-app';

const ROOT = join(__dirname, '..', '..');
const MANIFEST_TEXT = readFileSync(join(ROOT, 'appPackage', 'manifest.json'), 'utf8');
const EXPECTED_PLACEHOLDERS = [
  'TEAMS_APP_ID',
  'BOT_ID',
  'BOT_DOMAIN',
  'AAD_APP_CLIENT_ID',
  'APP_NAME_SUFFIX',
];
const SAMPLE: Record<string, string> = {
  TEAMS_APP_ID: '3f8b2c1e-5a4d-4e6f-9b7a-2c1d0e9f8a7b',
  BOT_ID: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  BOT_DOMAIN: 'foundry-agent.azurewebsites.net',
  AAD_APP_CLIENT_ID: '0f8fad5b-d9cb-469f-a165-70867728950e',
  APP_NAME_SUFFIX: ' (dev)',
};

interface Command {
  title: string;
  description?: string;
}
interface Bot {
  botId: string;
  scopes: string[];
  supportsFiles?: boolean;
  isNotificationOnly?: boolean;
  commandLists?: { scopes: string[]; commands: Command[] }[];
}
interface Manifest {
  $schema: string;
  manifestVersion: string;
  id: string;
  name: { short: string; full?: string };
  description: { short: string; full: string };
  accentColor: string;
  icons: { color: string; outline: string };
  bots: Bot[];
  validDomains?: string[];
  webApplicationInfo?: { id: string; resource: string };
  developer: { name: string; websiteUrl: string; privacyUrl: string; termsOfUseUrl: string };
}

const fill = (text: string, vars: Record<string, string>): string =>
  text.replace(/\$\{\{(\w+)\}\}/g, (_m, k: string) => JSON.stringify(vars[k] ?? '').slice(1, -1));

const template = JSON.parse(MANIFEST_TEXT) as Manifest;
const filled = JSON.parse(fill(MANIFEST_TEXT, SAMPLE)) as Manifest;

function schemaValidator(version: string) {
  const file = require.resolve(
    `@microsoft/app-manifest/build/json-schemas/teams/v${version}/MicrosoftTeams.schema.json`,
  );
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  return ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object);
}

// ------------------------------------------------------------------------------------------- PNG decoding

interface Png {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  pixels: Uint8Array; // RGBA8
}

/** A small, independent PNG decoder (8-bit RGBA, any filter type): the test does not trust the encoder. */
function decodePng(buf: Buffer): Png {
  expect(buf.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let off = 8;
  let width = 0;
  let height = 0;
  let bitDepth = 0;
  let colorType = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.subarray(off + 4, off + 8).toString('latin1');
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      bitDepth = data[8] ?? 0;
      colorType = data[9] ?? 0;
      expect(data[12]).toBe(0); // not interlaced
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  expect({ bitDepth, colorType }).toEqual({ bitDepth: 8, colorType: 6 });
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] ?? 0;
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x] ?? 0;
      const a = x >= 4 ? (out[y * stride + x - 4] ?? 0) : 0;
      const b = y > 0 ? (out[(y - 1) * stride + x] ?? 0) : 0;
      const c = x >= 4 && y > 0 ? (out[(y - 1) * stride + x - 4] ?? 0) : 0;
      const p = a + b - c;
      const paeth =
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
          ? a
          : Math.abs(p - b) <= Math.abs(p - c)
            ? b
            : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][filter];
      if (pred === undefined) throw new Error(`bad filter ${filter}`);
      out[y * stride + x] = (v + pred) & 0xff;
    }
  }
  return { width, height, bitDepth, colorType, pixels: out };
}

const pixel = (png: Png, x: number, y: number): number[] => {
  const i = (y * png.width + x) * 4;
  return [...png.pixels.subarray(i, i + 4)];
};

// ------------------------------------------------------------------------------------------------ manifest

describe('appPackage/manifest.json', () => {
  it('uses exactly the Toolkit placeholders the env files provide', () => {
    expect(placeholdersIn(MANIFEST_TEXT).sort()).toEqual([...EXPECTED_PLACEHOLDERS].sort());
  });

  it('is on a recent manifest version and its $schema names the same version', () => {
    const [major, minor] = template.manifestVersion.split('.').map(Number);
    expect(major).toBe(1);
    expect(minor).toBeGreaterThanOrEqual(22);
    expect(template.$schema).toBe(
      `https://developer.microsoft.com/en-us/json-schemas/teams/v${template.manifestVersion}/MicrosoftTeams.schema.json`,
    );
  });

  it('validates against the official JSON schema of its manifestVersion once placeholders are filled', () => {
    const validate = schemaValidator(filled.manifestVersion);
    const ok = validate(filled);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('the schema check is not vacuous: a bad id, accent color or long short name is rejected', () => {
    const validate = schemaValidator(filled.manifestVersion);
    for (const bad of [
      { ...filled, id: 'not-a-guid' },
      { ...filled, accentColor: 'purple' },
      { ...filled, name: { short: 'x'.repeat(31) } },
    ]) {
      expect(validate(bad)).toBe(false);
    }
  });

  it('declares one bot for personal, groupChat and team, conversational and without files', () => {
    expect(filled.bots).toHaveLength(1);
    const bot = filled.bots[0];
    expect(bot?.botId).toBe(SAMPLE['BOT_ID']);
    expect([...(bot?.scopes ?? [])].sort()).toEqual(['groupChat', 'personal', 'team']);
    expect(bot?.supportsFiles).toBe(false);
    expect(bot?.isNotificationOnly).toBe(false);
  });

  it('offers /new, /help and /status in every scope', () => {
    const lists = filled.bots[0]?.commandLists ?? [];
    for (const scope of ['personal', 'groupChat', 'team']) {
      const titles = lists
        .filter((l) => l.scopes.includes(scope))
        .flatMap((l) => l.commands.map((c) => c.title));
      expect(titles.sort()).toEqual(['/help', '/new', '/status']);
    }
    const newCommand = lists[0]?.commands.find((c) => c.title === '/new');
    expect(newCommand?.description).toBe('Start a fresh conversation with the agent');
  });

  it('enables SSO through webApplicationInfo and allows the bot domain', () => {
    expect(template.webApplicationInfo).toEqual({
      id: '${{AAD_APP_CLIENT_ID}}',
      resource: 'api://${{BOT_DOMAIN}}/botid-${{BOT_ID}}',
    });
    expect(template.validDomains).toContain('${{BOT_DOMAIN}}');
    expect(filled.webApplicationInfo?.resource).toBe(
      `api://${SAMPLE['BOT_DOMAIN']}/botid-${SAMPLE['BOT_ID']}`,
    );
  });

  it('keeps names and descriptions within Teams limits for every committed env suffix', () => {
    const suffixes = ['dev', 'local', 'testtool'].map(
      (env) =>
        parseEnvFile(readFileSync(join(ROOT, 'env', `.env.${env}`), 'utf8')).get('APP_NAME_SUFFIX') ?? '',
    );
    expect(suffixes).toEqual([' (dev)', ' (local)', ' (playground)']);
    for (const s of suffixes) {
      const m = JSON.parse(fill(MANIFEST_TEXT, { ...SAMPLE, APP_NAME_SUFFIX: s })) as Manifest;
      expect(m.name.short.length).toBeLessThanOrEqual(30);
      expect((m.name.full ?? '').length).toBeLessThanOrEqual(100);
    }
    expect(filled.description.short.length).toBeLessThanOrEqual(80);
    expect(filled.description.full.length).toBeLessThanOrEqual(4000);
    expect(filled.description.full).toContain('/new');
    expect(filled.accentColor).toMatch(/^#[0-9A-Fa-f]{6}$/);
  });
});

// --------------------------------------------------------------------------------------------------- icons

describe('icons', () => {
  const color = decodePng(readFileSync(join(ROOT, 'appPackage', template.icons.color)));
  const outline = decodePng(readFileSync(join(ROOT, 'appPackage', template.icons.outline)));

  it('have Teams sizes and are RGBA (IHDR)', () => {
    expect([color.width, color.height]).toEqual([192, 192]);
    expect([outline.width, outline.height]).toEqual([32, 32]);
  });

  it('the outline icon is white on transparent: every pixel white, alpha both 0 and 255', () => {
    const alphas = new Set<number>();
    for (let i = 0; i < outline.pixels.length; i += 4) {
      expect([outline.pixels[i], outline.pixels[i + 1], outline.pixels[i + 2]]).toEqual([255, 255, 255]);
      alphas.add(outline.pixels[i + 3] ?? -1);
    }
    expect(alphas.has(0)).toBe(true);
    expect(alphas.has(255)).toBe(true);
    expect(pixel(outline, 0, 0)[3]).toBe(0); // corner: background
    expect(pixel(outline, 16, 14)[3]).toBe(0); // the spark is cut out of the bubble
    expect(pixel(outline, 6, 12)[3]).toBe(255); // the bubble itself
  });

  it('the color icon is a full-color tile: opaque, many colors, rounded corners, white bubble', () => {
    expect(pixel(color, 0, 0)[3]).toBe(0); // rounded corner
    expect(pixel(color, 96, 8)[3]).toBe(255);
    expect(pixel(color, 50, 70)).toEqual([255, 255, 255, 255]); // inside the bubble
    const colors = new Set<string>();
    for (let i = 0; i < color.pixels.length; i += 4) colors.add(color.pixels.subarray(i, i + 3).join(','));
    expect(colors.size).toBeGreaterThan(200);
    const [r, g, b] = pixel(color, 20, 96);
    expect(b).toBeGreaterThan(r ?? 255); // violet/indigo background
    expect(b).toBeGreaterThan(g ?? 255);
  });

  it('the committed PNGs are what scripts/make-icons.ts draws (no drift)', () => {
    expect(Buffer.from(renderColorIcon().data).equals(Buffer.from(color.pixels))).toBe(true);
    expect(Buffer.from(renderOutlineIcon().data).equals(Buffer.from(outline.pixels))).toBe(true);
  }, 90_000);
});

// ------------------------------------------------------------------------------------------------ packager

describe('scripts/package-app.ts', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'app-package-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A minimal project root: the real appPackage/ plus the env files given. */
  function project(envs: Record<string, string>): string {
    const root = join(dir, 'root');
    cpSync(join(ROOT, 'appPackage'), join(root, 'appPackage'), {
      recursive: true,
      filter: (src) => !src.includes(join('appPackage', 'build')),
    });
    cpSync(join(ROOT, 'env'), join(root, 'env'), {
      recursive: true,
      filter: (src) => !src.endsWith('.user'),
    });
    for (const [name, text] of Object.entries(envs)) writeFileSync(join(root, 'env', name), text);
    return root;
  }

  it('builds a zip with exactly manifest.json, color.png and outline.png, all placeholders filled', () => {
    const outFile = join(dir, 'out', 'appPackage.zip');
    const result = packageApp({ root: ROOT, env: 'testtool', outFile });
    expect(result.zipPath).toBe(outFile);
    const zip = new AdmZip(outFile);
    expect(
      zip
        .getEntries()
        .map((e) => e.entryName)
        .sort(),
    ).toEqual(['color.png', 'manifest.json', 'outline.png']);
    const text = zip.readAsText('manifest.json');
    expect(text).not.toContain('${{');
    const m = JSON.parse(text) as Manifest;
    const env = parseEnvFile(readFileSync(join(ROOT, 'env', '.env.testtool'), 'utf8'));
    expect(m.id).toBe(env.get('TEAMS_APP_ID'));
    expect(m.bots[0]?.botId).toBe(env.get('BOT_ID'));
    expect(m.name.short).toBe('Foundry Agent (playground)');
    expect(env.get('FOUNDRY_AUTH')).toBe('app');
    expect(m.webApplicationInfo).toBeUndefined(); // app mode: no SSO app
    expect(zip.readFile('color.png')?.equals(readFileSync(join(ROOT, 'appPackage', 'color.png')))).toBe(true);
    expect(zip.readFile('outline.png')?.equals(readFileSync(join(ROOT, 'appPackage', 'outline.png')))).toBe(
      true,
    );
    expect(schemaValidator(m.manifestVersion)(m)).toBe(true);
  });

  it('lets env/.env.<env>.user override the committed file', () => {
    const root = project({
      '.env.ci': `TEAMS_APP_ID=${SAMPLE['TEAMS_APP_ID']}\nBOT_ID=${SAMPLE['BOT_ID']}\nBOT_DOMAIN=example.org\nAAD_APP_CLIENT_ID=\nAPP_NAME_SUFFIX=\n`,
      '.env.ci.user': `AAD_APP_CLIENT_ID="${SAMPLE['AAD_APP_CLIENT_ID']}"  \nBOT_DOMAIN=bot.example.org # the tunnel\n`,
    });
    const { manifest, envFiles } = packageApp({ root, env: 'ci' });
    expect(envFiles).toEqual([join('env', '.env.ci'), join('env', '.env.ci.user')]);
    expect(manifest['webApplicationInfo']).toEqual({
      id: SAMPLE['AAD_APP_CLIENT_ID'],
      resource: `api://bot.example.org/botid-${SAMPLE['BOT_ID']}`,
    });
    expect(manifest['name']).toEqual({ short: 'Foundry Agent', full: 'Foundry Agent for Microsoft Teams' });
    expect(existsSync(join(root, 'appPackage', 'build', 'appPackage.zip'))).toBe(true);
  });

  it('fails with a message naming each missing or empty variable, and writes nothing', () => {
    const root = project({
      '.env.ci': `FOUNDRY_AUTH=user\nTEAMS_APP_ID=${SAMPLE['TEAMS_APP_ID']}\nBOT_DOMAIN=example.org\nAAD_APP_CLIENT_ID=\n`,
    });
    const outFile = join(dir, 'never.zip');
    let error: unknown;
    try {
      packageApp({ root, env: 'ci', outFile });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PackageError);
    const message = (error as Error).message;
    expect(message).toContain('BOT_ID');
    expect(message).toContain('AAD_APP_CLIENT_ID');
    expect(message).toContain('APP_NAME_SUFFIX'); // missing entirely (empty would be fine)
    expect(message).not.toContain('TEAMS_APP_ID');
    expect(message).not.toContain('BOT_DOMAIN');
    expect(message).toContain(join('env', '.env.ci'));
    expect(existsSync(outFile)).toBe(false);
  });

  it('defaults to env "local" and, before provisioning, says which ids to generate and how', () => {
    const root = project({
      '.env.local': 'TEAMSFX_ENV=local\nAPP_NAME_SUFFIX=" (local)"\nBOT_DOMAIN=abc-3978.devtunnels.ms\n',
    });
    expect(() => packageApp({ root, outFile: join(dir, 'l.zip') })).toThrow(
      /unfilled placeholders \$\{\{TEAMS_APP_ID\}\}, \$\{\{BOT_ID\}\}: .*env\/\.env\.local.*`npx atk provision --env local`/,
    );
    expect(existsSync(join(dir, 'l.zip'))).toBe(false);
  });
  it('rejects a filled manifest that breaks the schema, naming the field', () => {
    const root = project({
      '.env.ci': `TEAMS_APP_ID=11111111-2222-3333-4444\nBOT_ID=${SAMPLE['BOT_ID']}\nBOT_DOMAIN=example.org\nAAD_APP_CLIENT_ID=${SAMPLE['AAD_APP_CLIENT_ID']}\nAPP_NAME_SUFFIX=\n`,
    });
    expect(() => packageApp({ root, env: 'ci', outFile: join(dir, 'x.zip') })).toThrow(
      /\/id must match pattern/,
    );
  });

  it('rejects an icon of the wrong size', () => {
    const root = project({ '.env.ci': readFileSync(join(ROOT, 'env', '.env.testtool'), 'utf8') });
    cpSync(join(root, 'appPackage', 'outline.png'), join(root, 'appPackage', 'color.png'));
    expect(() => packageApp({ root, env: 'ci', outFile: join(dir, 'x.zip') })).toThrow(
      /color.png is 32×32; Teams requires 192×192/,
    );
  });

  it('parses env files like the Toolkit writes them', () => {
    const vars = parseEnvFile(
      '# comment\nA=1\nexport B = two words # note\nC="quoted # not a comment"\nD=\'single\'\nE=\nbad line\nF="line\\nbreak"\n',
    );
    expect(Object.fromEntries(vars)).toEqual({
      A: '1',
      B: 'two words',
      C: 'quoted # not a comment',
      D: 'single',
      E: '',
      F: 'line\nbreak',
    });
  });
});

// ------------------------------------------------------------------------------------ app mode / user mode

describe('identity mode in the package (webApplicationInfo = Teams SSO, user mode only)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'app-package-mode-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** appPackage/ plus one env file `.env.ci` with the sample ids and the given extra lines. */
  function root(lines: Record<string, string>): string {
    const r = join(dir, 'root');
    cpSync(join(ROOT, 'appPackage'), join(r, 'appPackage'), {
      recursive: true,
      filter: (src) => !src.includes(join('appPackage', 'build')),
    });
    const vars = { ...SAMPLE, APP_NAME_SUFFIX: '', ...lines };
    const text = Object.entries(vars)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');
    mkdirSync(join(r, 'env'), { recursive: true });
    writeFileSync(join(r, 'env', '.env.ci'), `${text}\n`);
    return r;
  }
  const zipped = (zipPath: string): Manifest =>
    JSON.parse(new AdmZip(zipPath).readAsText('manifest.json')) as Manifest;

  it('app mode (FOUNDRY_AUTH=app) drops webApplicationInfo, needs no SSO app id, and validates', () => {
    const r = packageApp({ root: root({ FOUNDRY_AUTH: 'app', AAD_APP_CLIENT_ID: '' }), env: 'ci' });
    expect(r.sso).toBe(false);
    const m = zipped(r.zipPath);
    expect(m.webApplicationInfo).toBeUndefined();
    expect(m.validDomains).toEqual([SAMPLE['BOT_DOMAIN']]);
    const validate = schemaValidator(m.manifestVersion);
    expect(validate(m)).toBe(true);
    expect(validate.errors ?? []).toEqual([]);
    // Even a leftover SSO app id does not bring SSO back in app mode.
    expect(packageApp({ root: root({ FOUNDRY_AUTH: 'app' }), env: 'ci' }).manifest).not.toHaveProperty(
      'webApplicationInfo',
    );
  });

  it('user mode (FOUNDRY_AUTH=user) keeps webApplicationInfo with the SSO app, and validates', () => {
    const r = packageApp({ root: root({ FOUNDRY_AUTH: 'user' }), env: 'ci' });
    expect(r.sso).toBe(true);
    const m = zipped(r.zipPath);
    expect(m.webApplicationInfo).toEqual({
      id: SAMPLE['AAD_APP_CLIENT_ID'],
      resource: `api://${SAMPLE['BOT_DOMAIN']}/botid-${SAMPLE['BOT_ID']}`,
    });
    const validate = schemaValidator(m.manifestVersion);
    expect(validate(m)).toBe(true);
    expect(validate.errors ?? []).toEqual([]);
  });

  it('user mode without the SSO app id is an error that names it and the user-mode profile', () => {
    expect(() =>
      packageApp({ root: root({ FOUNDRY_AUTH: 'user', AAD_APP_CLIENT_ID: '' }), env: 'ci' }),
    ).toThrow(
      /unfilled placeholder \$\{\{AAD_APP_CLIENT_ID\}\}.*TEAMSFX_CONFIG_FILE_PATH=teamsapp\.user\.yml npx atk provision --env ci/,
    );
  });

  it('without FOUNDRY_AUTH the SSO app id decides; an unknown mode is refused', () => {
    expect(ssoInPackage(new Map([['AAD_APP_CLIENT_ID', '']]))).toBe(false);
    expect(ssoInPackage(new Map())).toBe(false);
    expect(ssoInPackage(new Map([['AAD_APP_CLIENT_ID', SAMPLE['AAD_APP_CLIENT_ID'] ?? '']]))).toBe(true);
    expect(ssoInPackage(new Map([['FOUNDRY_AUTH', ' user ']]))).toBe(true);
    expect(() => ssoInPackage(new Map([['FOUNDRY_AUTH', 'obo']]))).toThrow(/app or user, not "obo"/);
  });

  it('the committed envs: dev, prod, local and testtool are app mode, so their packages carry no SSO', () => {
    for (const env of ['dev', 'prod', 'local', 'testtool'])
      expect(
        `${env}: ${ssoInPackage(parseEnvFile(readFileSync(join(ROOT, 'env', `.env.${env}`), 'utf8')))}`,
      ).toBe(`${env}: false`);
  });

  it("teamsapp.yml's app-mode manifest step writes exactly what the packager uses (same text, icons beside it)", () => {
    const doc = parse(readFileSync(join(ROOT, 'teamsapp.yml'), 'utf8')) as {
      provision: { uses: string; name?: string; with?: { run?: string } }[];
    };
    const step = doc.provision.find((a) => a.name === 'write the app-mode manifest (no webApplicationInfo)');
    const r = root({});
    execSync(step?.with?.run ?? 'false', { cwd: r, stdio: 'pipe' });
    const out = join(r, 'appPackage', 'build', 'app-mode');
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(withoutSso(MANIFEST_TEXT));
    for (const icon of ['color.png', 'outline.png'])
      expect(readFileSync(join(out, icon)).equals(readFileSync(join(ROOT, 'appPackage', icon)))).toBe(true);
    expect(JSON.parse(withoutSso(MANIFEST_TEXT))).toEqual(
      Object.fromEntries(Object.entries(template).filter(([k]) => k !== 'webApplicationInfo')),
    );
  });
});

// ---------------------------------------------------------------------------------------------------- atk

const ATK = join(ROOT, 'node_modules', '.bin', process.platform === 'win32' ? 'atk.cmd' : 'atk');
// atk is a devDependency, so CI has it; skip only where it is genuinely absent.
const withAtk = existsSync(ATK) ? describe : describe.skip;

function runAtk(args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      ATK,
      args,
      { cwd, timeout: 120_000, env: { ...process.env, CI: 'true' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

withAtk('atk validate (Microsoft 365 Agents Toolkit CLI, offline schema check)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'atk-validate-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes the manifest filled from env/.env.testtool', async () => {
    const { code, out } = await runAtk(
      [
        'validate',
        '--manifest-file',
        './appPackage/manifest.json',
        '--env-file',
        './env/.env.testtool',
        '--telemetry',
        'false',
      ],
      ROOT,
    );
    expect(out).toContain('All passed');
    expect(code).toBe(0);
  }, 150_000);

  it('fails a manifest that breaks the schema (the check is real, not a no-op)', async () => {
    const bad = join(dir, 'manifest.json');
    writeFileSync(bad, MANIFEST_TEXT.replace(/"accentColor": "#[0-9A-Fa-f]{6}"/, '"accentColor": "purple"'));
    const { code, out } = await runAtk(
      [
        'validate',
        '--manifest-file',
        bad,
        '--env-file',
        join(ROOT, 'env', '.env.testtool'),
        '--telemetry',
        'false',
      ],
      ROOT,
    );
    expect(out).toContain('/accentColor must match pattern');
    expect(code).not.toBe(0);
  }, 150_000);
});
