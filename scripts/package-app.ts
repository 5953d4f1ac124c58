/**
 * Builds the Teams app package (a zip with manifest.json, color.png and outline.png at its root) from
 * appPackage/manifest.json and the Toolkit env files, without the Toolkit and without network access.
 *
 *   npm run package                   # env/.env.local (+ env/.env.local.user) → appPackage/build/appPackage.zip
 *   npm run package -- --env dev      # env/.env.dev (+ env/.env.dev.user)
 *   npm run package -- --env testtool --out /tmp/app.zip
 *
 * Contract:
 * - Placeholders are the Toolkit's `${{NAME}}`. Values come from `env/.env.<env>`, then `env/.env.<env>.user`
 *   (which wins). The process environment is deliberately NOT consulted: a developer's shell often has
 *   BOT_ID set for running the bot, and it must not leak silently into a package.
 * - A placeholder whose variable is missing or empty is an error that names every such variable, except the
 *   few that may legitimately be empty (APP_NAME_SUFFIX: production packages have no suffix).
 * - The filled manifest is validated against the official JSON schema of its manifestVersion, shipped by
 *   @microsoft/app-manifest (only its json-schemas files are read; the package's code is never loaded,
 *   because it needs undeclared dependencies and downloads schemas at run time).
 * - Both icons must exist and have Teams' sizes (color 192×192, outline 32×32).
 * - Identity mode (docs/deploy.md): `webApplicationInfo` (Teams SSO) names the SSO Entra app, which only user mode
 *   creates (teamsapp.user.yml). With FOUNDRY_AUTH=app, or with no FOUNDRY_AUTH and an empty AAD_APP_CLIENT_ID,
 *   it is dropped from the package (before filling, so AAD_APP_CLIENT_ID is not needed); with FOUNDRY_AUTH=user it
 *   is kept and AAD_APP_CLIENT_ID must be set. teamsapp.yml (app mode) derives the same manifest for the Toolkit.
 */
import AdmZip from 'adm-zip';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Variables that may be present-but-empty in an env file. */
export const MAY_BE_EMPTY: ReadonlySet<string> = new Set(['APP_NAME_SUFFIX']);
const PLACEHOLDER = /\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
const ICON_SIZES = { color: 192, outline: 32 } as const;

export class PackageError extends Error {
  override readonly name = 'PackageError';
}

export interface PackageOptions {
  /** Repository root; defaults to the folder above dist/ (or above scripts/ under ts-jest). */
  readonly root?: string;
  /** Toolkit environment name: reads env/.env.<env> and env/.env.<env>.user. Default `local`. */
  readonly env?: string;
  /** Folder holding the env files, relative to root. Default `env`. */
  readonly envDir?: string;
  /** Manifest template, relative to root. Default `appPackage/manifest.json`; icons are beside it. */
  readonly manifestPath?: string;
  /** Output zip path, relative to root. Default `appPackage/build/appPackage.zip`. */
  readonly outFile?: string;
}

export interface PackageResult {
  readonly zipPath: string;
  /** Whether `webApplicationInfo` (Teams SSO, user mode) is in the package. */
  readonly sso: boolean;
  readonly manifest: Record<string, unknown>;
  readonly envFiles: readonly string[];
  readonly entries: readonly string[];
}

/**
 * Parses a dotenv-style file as the Toolkit writes it: `KEY=value` lines, `#` comments, optional single or
 * double quotes (double quotes understand \n), an optional `export ` prefix, and ` #` inline comments after
 * unquoted values.
 */
export function parseEnvFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1] ?? '';
    let value = m[2] ?? '';
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.lastIndexOf(quote) > 0) {
      value = value.slice(1, value.lastIndexOf(quote));
      if (quote === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else {
      value = value.replace(/\s+#.*$/, '').trim();
    }
    out.set(key, value);
  }
  return out;
}

/** Whether the package carries Teams SSO (`webApplicationInfo`), from the env's FOUNDRY_AUTH (see the contract). */
export function ssoInPackage(vars: ReadonlyMap<string, string>): boolean {
  const auth = (vars.get('FOUNDRY_AUTH') ?? '').trim();
  if (auth === 'user') return true;
  if (auth === 'app') return false;
  if (auth !== '') throw new PackageError(`FOUNDRY_AUTH must be app or user, not "${auth}"`);
  return (vars.get('AAD_APP_CLIENT_ID') ?? '').trim() !== '';
}

/**
 * The manifest template without `webApplicationInfo` (app mode: no SSO app exists). Same text layout as the
 * app-mode manifest teamsapp.yml writes to appPackage/build/app-mode/manifest.json (2-space JSON + newline).
 */
export function withoutSso(template: string): string {
  const m = JSON.parse(template) as Record<string, unknown>;
  delete m['webApplicationInfo'];
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Every distinct `${{NAME}}` in a text, in order of first appearance. */
export function placeholdersIn(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1] ?? ''))];
}

/** Loads `<envDir>/.env.<env>` (required) and `<envDir>/.env.<env>.user` (optional; its values win). */
export function loadEnv(
  root: string,
  envDir: string,
  env: string,
): { vars: Map<string, string>; files: string[] } {
  if (!/^[A-Za-z0-9_-]+$/.test(env))
    throw new PackageError(`invalid env name "${env}" (letters, digits, - and _ only)`);
  const base = join(root, envDir, `.env.${env}`);
  if (!existsSync(base)) throw new PackageError(`env file ${relative(root, base)} not found (env "${env}")`);
  const vars = parseEnvFile(readFileSync(base, 'utf8'));
  const files = [relative(root, base)];
  const user = `${base}.user`;
  if (existsSync(user)) {
    for (const [k, v] of parseEnvFile(readFileSync(user, 'utf8'))) vars.set(k, v);
    files.push(relative(root, user));
  }
  return { vars, files };
}

/**
 * Replaces the placeholders of a manifest template. Throws one PackageError naming every variable that is
 * missing or empty, so a half-provisioned environment is reported in one go.
 */
export function fillPlaceholders(
  template: string,
  vars: ReadonlyMap<string, string>,
  where: string,
  hint = 'provisioning with the Toolkit writes the generated ids there',
): string {
  const missing = placeholdersIn(template).filter((name) => {
    const v = vars.get(name);
    return v === undefined || (v.trim() === '' && !MAY_BE_EMPTY.has(name));
  });
  if (missing.length > 0) {
    throw new PackageError(
      `unfilled placeholder${missing.length > 1 ? 's' : ''} ${missing.map((n) => `\${{${n}}}`).join(', ')}: ` +
        `set ${missing.join(', ')} in ${where} (${hint})`,
    );
  }
  // JSON-escape the values: they are spliced into string literals of the template.
  return template.replace(PLACEHOLDER, (_m, name: string) =>
    JSON.stringify(vars.get(name) ?? '').slice(1, -1),
  );
}

/** The official Teams manifest JSON schema (draft-04) for a manifestVersion, from @microsoft/app-manifest. */
export function loadManifestSchema(manifestVersion: string): object {
  if (!/^\d+\.\d+$/.test(manifestVersion))
    throw new PackageError(`manifestVersion "${manifestVersion}" is not of the form N.N`);
  let file: string;
  try {
    file = require.resolve(
      `@microsoft/app-manifest/build/json-schemas/teams/v${manifestVersion}/MicrosoftTeams.schema.json`,
    );
  } catch {
    throw new PackageError(
      `no bundled Teams manifest schema for manifestVersion ${manifestVersion} in @microsoft/app-manifest`,
    );
  }
  return JSON.parse(readFileSync(file, 'utf8')) as object;
}

/** Validates a filled manifest; returns human-readable errors (empty when valid). */
export function validateManifest(manifest: Record<string, unknown>): string[] {
  const version = manifest['manifestVersion'];
  if (typeof version !== 'string') return ['manifestVersion is missing'];
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(loadManifestSchema(version));
  if (validate(manifest)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
}

/** Width and height from a PNG's IHDR chunk (bytes 16–23); throws if the file is not a PNG. */
export function pngSize(buf: Buffer): { width: number; height: number } {
  const sig = '89504e470d0a1a0a';
  if (
    buf.length < 24 ||
    buf.subarray(0, 8).toString('hex') !== sig ||
    buf.subarray(12, 16).toString('latin1') !== 'IHDR'
  )
    throw new PackageError('not a PNG file');
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

function defaultRoot(): string {
  // Compiled: <root>/dist/scripts/package-app.js. Under ts-jest: <root>/scripts/package-app.ts.
  const here = __dirname;
  return here.endsWith(join('dist', 'scripts')) ? resolve(here, '..', '..') : resolve(here, '..');
}

/** Builds the app package zip. Never partially writes: everything is checked before the zip is written. */
export function packageApp(opts: PackageOptions = {}): PackageResult {
  const root = resolve(opts.root ?? defaultRoot());
  const env = opts.env ?? 'local';
  const envDir = opts.envDir ?? 'env';
  const manifestFile = resolve(root, opts.manifestPath ?? join('appPackage', 'manifest.json'));
  const outFile = resolve(root, opts.outFile ?? join('appPackage', 'build', 'appPackage.zip'));

  const { vars, files } = loadEnv(root, envDir, env);
  const sso = ssoInPackage(vars);
  const raw = readFileSync(manifestFile, 'utf8');
  const template = sso ? raw : withoutSso(raw);
  const provisionCmd = sso
    ? `\`TEAMSFX_CONFIG_FILE_PATH=teamsapp.user.yml npx atk provision --env ${env}\` (user mode)`
    : `\`npx atk provision --env ${env}\``;
  const filled = fillPlaceholders(
    template,
    vars,
    files.join(' or '),
    `${provisionCmd} writes the generated ids there; \`--env testtool\` packages the offline demo`,
  );
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(filled) as Record<string, unknown>;
  } catch (err) {
    throw new PackageError(
      `${relative(root, manifestFile)} is not valid JSON after filling placeholders: ${(err as Error).message}`,
    );
  }
  const errors = validateManifest(manifest);
  if (errors.length > 0) {
    throw new PackageError(
      `the filled manifest (env "${env}") does not match the Teams schema v${String(manifest['manifestVersion'])}:\n  ` +
        errors.join('\n  '),
    );
  }

  const icons = (manifest['icons'] ?? {}) as Record<string, unknown>;
  const zip = new AdmZip();
  zip.addFile('manifest.json', Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8'));
  for (const kind of ['color', 'outline'] as const) {
    const name = icons[kind];
    // Teams reads the icons from the zip root, so the manifest must name plain files beside it.
    if (typeof name !== 'string' || !/^[\w.-]+\.png$/i.test(name) || name.startsWith('.'))
      throw new PackageError(`icons.${kind} must be a .png file name beside the manifest (no folders)`);
    const iconFile = join(dirname(manifestFile), name);
    if (!existsSync(iconFile))
      throw new PackageError(`icon ${relative(root, iconFile)} not found (run npm run icons)`);
    const png = readFileSync(iconFile);
    const { width, height } = pngSize(png);
    const want = ICON_SIZES[kind];
    if (width !== want || height !== want)
      throw new PackageError(
        `icon ${name} is ${width}×${height}; Teams requires ${want}×${want} for the ${kind} icon`,
      );
    zip.addFile(name, png);
  }
  mkdirSync(dirname(outFile), { recursive: true });
  zip.writeZip(outFile);
  return {
    zipPath: outFile,
    sso,
    manifest,
    envFiles: files,
    entries: zip.getEntries().map((e) => e.entryName),
  };
}

function parseArgs(argv: readonly string[]): PackageOptions {
  let env: string | undefined;
  let outFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '') throw new PackageError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--env') env = value();
    else if (flag === '--out') outFile = resolve(value());
    else if (flag === '-h' || flag === '--help') {
      process.stdout.write(
        'usage: node dist/scripts/package-app.js [--env local|dev|prod|testtool|…] [--out file.zip]\n',
      );
      process.exit(0);
    } else throw new PackageError(`unknown argument "${a}" (expected --env NAME or --out FILE)`);
  }
  return { ...(env !== undefined ? { env } : {}), ...(outFile !== undefined ? { outFile } : {}) };
}

if (require.main === module) {
  try {
    const result = packageApp(parseArgs(process.argv.slice(2)));
    process.stdout.write(
      `wrote ${relative(process.cwd(), result.zipPath)} (${result.entries.join(', ')}) from ${result.envFiles.join(' + ')}; ` +
        `${result.sso ? 'user mode: with' : 'app mode: without'} webApplicationInfo (Teams SSO)\n`,
    );
  } catch (err) {
    process.stderr.write(`package-app: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
