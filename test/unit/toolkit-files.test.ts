/**
 * The Microsoft 365 Agents Toolkit project files: teamsapp*.yml, env/*, aad.manifest.json and infra/*.bicep.
 * teamsapp.yml is the app-mode Azure profile (no SSO app), teamsapp.user.yml the user-mode one (SSO app + secret).
 * Nothing here can be provisioned offline, so the checks are the ones the Toolkit itself makes before it
 * touches the cloud, plus consistency between the files:
 * - each yml validates against the yaml schema bundled in atk (the same ajv setup atk's own Validator uses);
 * - every `uses:` is a Toolkit action;
 * - every `${{VAR}}` an action needs (in the yml or in a file it reads) is a user input of the matching env file,
 *   a Toolkit built-in, or an output of an earlier action (writeToEnvironmentFile, implicit outputs, Bicep outputs);
 * - committed env files hold no secret values;
 * - the Bicep files agree with their parameters file and modules, and the web app's settings are keys the bot's
 *   config knows (there is no Bicep compiler on this machine).
 */
import Ajv from 'ajv';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseEnvFile, placeholdersIn, withoutSso } from '../../scripts/package-app';

const ROOT = join(__dirname, '..', '..');
const read = (...p: string[]): string => readFileSync(join(ROOT, ...p), 'utf8');
const ATK_DIR = join(ROOT, 'node_modules', '@microsoft', 'm365agentstoolkit-cli');
const hasAtk = existsSync(join(ATK_DIR, 'package.json'));

interface Action {
  uses: string;
  name?: string;
  with?: Record<string, unknown>;
  writeToEnvironmentFile?: Record<string, string>;
}
type Lifecycle = 'provision' | 'deploy' | 'publish';
type ProjectYml = { version: string; environmentFolderPath?: string } & Partial<Record<Lifecycle, Action[]>>;

/** The profiles and the env file each one reads (atk's resolution: test/integration/toolkit-profiles.test.ts). */
const PROFILES = [
  { file: 'teamsapp.yml', env: 'dev' },
  { file: 'teamsapp.yml', env: 'prod' },
  { file: 'teamsapp.user.yml', env: 'dev' },
  { file: 'teamsapp.user.yml', env: 'prod' },
  { file: 'teamsapp.local.yml', env: 'local' },
  { file: 'teamsapp.testtool.yml', env: 'testtool' },
] as const;

/** The app-mode manifest teamsapp.yml writes (git-ignored build output): the template without webApplicationInfo. */
const APP_MODE_MANIFEST = './appPackage/build/app-mode/manifest.json';

/** Action list of the v1.12 yaml schema, used only if atk (which ships the schema) is not installed. */
const DOCUMENTED_ACTIONS = [
  'aadApp/create', 'aadApp/update', 'apiKey/register', 'apiKey/update', 'arm/deploy', 'azureAppService/zipDeploy',
  'azureFunctions/zipDeploy', 'azureStaticWebApps/getDeploymentToken', 'azureStorage/deploy',
  'azureStorage/enableStaticWebsite', 'botAadApp/create', 'botFramework/create', 'cli/runDotnetCommand',
  'cli/runNpmCommand', 'cli/runNpxCommand', 'copilotAgent/publish', 'devChannel/create', 'devChannel/installApp',
  'devTool/install', 'file/createOrUpdateEnvironmentFile', 'file/createOrUpdateJsonFile', 'oauth/register',
  'oauth/update', 'script', 'spfx/deploy', 'teamsApp/copyAppPackageToSPFx', 'teamsApp/create',
  'teamsApp/extendToM365', 'teamsApp/publishAppPackage', 'teamsApp/update', 'teamsApp/validateAppPackage',
  'teamsApp/validateManifest', 'teamsApp/validateWithTestCases', 'teamsApp/zipAppPackage', 'typeSpec/compile',
]; // prettier-ignore

/** Variables the Toolkit itself provides or prompts for. */
const BUILTINS = new Set([
  'TEAMSFX_ENV',
  'AZURE_SUBSCRIPTION_ID',
  'AZURE_RESOURCE_GROUP_NAME',
  'RESOURCE_SUFFIX',
]);

/** Outputs an action writes without being asked to in writeToEnvironmentFile (read from atk's drivers). */
const IMPLICIT_OUTPUTS: Record<string, string[]> = {
  'teamsApp/create': ['TEAMS_APP_TENANT_ID'],
  'aadApp/update': ['AAD_APP_ACCESS_AS_USER_PERMISSION_ID'],
};

/** Settings @azure/identity reads from the environment itself (ManagedIdentityCredential, App Service style). */
const AZURE_SDK_ENV = new Set(['IDENTITY_ENDPOINT', 'IDENTITY_HEADER']);

const GENERATED_MARKER = '# Generated during provision';

function loadYml(file: string): { doc: ProjectYml; text: string } {
  const text = read(file);
  return { doc: parse(text) as ProjectYml, text };
}

/** Env file keys split at the "# Generated during provision" marker: inputs above, generated ids below. */
function envSections(env: string): { inputs: Map<string, string>; generated: Map<string, string> } {
  const text = read('env', `.env.${env}`);
  const at = text.indexOf(GENERATED_MARKER);
  return {
    inputs: parseEnvFile(at >= 0 ? text.slice(0, at) : text),
    generated: parseEnvFile(at >= 0 ? text.slice(at) : ''),
  };
}

function bicepOutputs(file: string): string[] {
  return [...read(file).matchAll(/^output\s+(\w+)\s/gm)].map((m) => m[1] ?? '');
}

interface BicepParam {
  name: string;
  hasDefault: boolean;
}
function bicepParams(file: string): BicepParam[] {
  return [...read(file).matchAll(/^param\s+(\w+)\s+\w+(\s*=)?/gm)].map((m) => ({
    name: m[1] ?? '',
    hasDefault: !!m[2],
  }));
}

/** Placeholders an action needs: its own `with`, plus the files it reads that the Toolkit fills. */
function neededBy(action: Action): { where: string; vars: string[] }[] {
  const out = [{ where: `${action.uses} (with)`, vars: placeholdersIn(JSON.stringify(action.with ?? {})) }];
  const w = action.with ?? {};
  const fileArg = (k: string): string | undefined => (typeof w[k] === 'string' ? w[k] : undefined);
  const manifest = fileArg('manifestPath');
  if (
    manifest &&
    ['teamsApp/validateManifest', 'teamsApp/zipAppPackage', 'aadApp/update'].includes(action.uses)
  ) {
    const text =
      manifest === APP_MODE_MANIFEST ? withoutSso(read('appPackage', 'manifest.json')) : read(manifest);
    out.push({ where: manifest, vars: placeholdersIn(text) });
  }
  if (action.uses === 'arm/deploy') {
    for (const t of (w['templates'] ?? []) as { parameters?: string }[])
      if (t.parameters) out.push({ where: t.parameters, vars: placeholdersIn(read(t.parameters)) });
  }
  return out;
}

function outputsOf(action: Action): string[] {
  const out = [
    ...Object.values(action.writeToEnvironmentFile ?? {}),
    ...(IMPLICIT_OUTPUTS[action.uses] ?? []),
  ];
  if (action.uses === 'arm/deploy') {
    for (const t of ((action.with ?? {})['templates'] ?? []) as { path: string }[])
      out.push(...bicepOutputs(t.path));
  }
  return out;
}

/** Walks the actions in order, like the Toolkit: what does an action need that nothing has provided yet? */
function unresolved(actions: readonly Action[], inputs: ReadonlyMap<string, string>): string[] {
  const available = new Set<string>([...inputs.keys(), ...BUILTINS]);
  const problems: string[] = [];
  for (const action of actions) {
    // Implicit outputs are generated by the action itself, before it reads its inputs (aadApp/update).
    for (const o of IMPLICIT_OUTPUTS[action.uses] ?? []) available.add(o);
    for (const { where, vars } of neededBy(action))
      for (const v of vars)
        if (!available.has(v)) problems.push(`${v} needed by ${where} before anything produces it`);
    for (const o of outputsOf(action)) available.add(o);
  }
  return problems;
}

// ------------------------------------------------------------------------------------------------ yml files

describe.each(PROFILES)('$file', ({ file, env }) => {
  const { doc, text } = loadYml(file);
  const actions = (['provision', 'deploy', 'publish'] as const).flatMap((l) => doc[l] ?? []);

  it('declares a yaml schema version atk supports, with the matching yaml-language-server comment', () => {
    expect(doc.version).toMatch(/^v1\.\d+$/);
    expect(text.split('\n')[0]).toBe(
      `# yaml-language-server: $schema=https://aka.ms/m365-agents-toolkits/${doc.version}/yaml.schema.json`,
    );
    expect(doc.environmentFolderPath).toBe('./env');
    if (hasAtk)
      expect(existsSync(join(ATK_DIR, 'resource', 'yaml-schema', doc.version, 'yaml.schema.json'))).toBe(
        true,
      );
  });

  (hasAtk ? it : it.skip)(
    'validates against the yaml schema bundled in atk (as atk does before running)',
    () => {
      const schema = JSON.parse(
        readFileSync(join(ATK_DIR, 'resource', 'yaml-schema', doc.version, 'yaml.schema.json'), 'utf8'),
      ) as object;
      const ajv = new Ajv({ allowUnionTypes: true, strict: false });
      ajv.addKeyword('deprecationMessage');
      const validate = ajv.compile(schema);
      const ok = validate(doc);
      expect(validate.errors ?? []).toEqual([]);
      expect(ok).toBe(true);
      // The schema check can fail: an unknown action is refused.
      expect(validate({ ...doc, deploy: [{ uses: 'teamsApp/frobnicate', with: {} }] })).toBe(false);
    },
  );

  it('uses only Toolkit actions', () => {
    let known = DOCUMENTED_ACTIONS;
    if (hasAtk) {
      const schema = readFileSync(
        join(ATK_DIR, 'resource', 'yaml-schema', doc.version, 'yaml.schema.json'),
        'utf8',
      );
      known = [...schema.matchAll(/"uses":\s*\{[^{}]*?"const":\s*"([^"]+)"/g)].map((m) => m[1] ?? '');
      expect(known).toEqual(expect.arrayContaining(['teamsApp/create', 'arm/deploy', 'script']));
    }
    expect(actions.length).toBeGreaterThan(0);
    for (const a of actions) expect(known).toContain(a.uses);
  });

  it(`every \${{VAR}} is an input of env/.env.${env}, a built-in, or produced by an earlier action`, () => {
    expect(unresolved(actions, envSections(env).inputs)).toEqual([]);
  });

  it(`every generated id in env/.env.${env} is produced by a profile of that environment`, () => {
    const produced = new Set(
      PROFILES.filter((p) => p.env === env).flatMap((p) => {
        const d = loadYml(p.file).doc;
        return (['provision', 'deploy', 'publish'] as const).flatMap((l) => d[l] ?? []).flatMap(outputsOf);
      }),
    );
    const stale = [...envSections(env).generated.keys()].filter((k) => !produced.has(k));
    expect(stale).toEqual([]);
  });

  it('writes runtime settings only under keys the bot reads (src/config/env-schema.ts)', () => {
    const config = read('src', 'config', 'env-schema.ts'); // every key the bot reads
    const writers = actions.filter((x) => x.uses === 'file/createOrUpdateEnvironmentFile');
    // In Azure the settings are the web app's (infra/azure.bicep); locally a .localConfigs file.
    expect(writers).toHaveLength(env === 'dev' || env === 'prod' ? 0 : 1);
    for (const a of writers) {
      const envs = Object.keys(a.with?.['envs'] ?? {});
      expect(envs.length).toBeGreaterThan(0);
      for (const k of envs.filter((e) => !AZURE_SDK_ENV.has(e)))
        expect(`${k}: ${config.includes(`${k}:`)}`).toBe(`${k}: true`);
    }
  });
});

describe('profiles', () => {
  it('the variable check catches a variable used before it is produced, or never produced', () => {
    const actions: Action[] = [
      {
        uses: 'botFramework/create',
        with: { botId: '${{BOT_ID}}', messagingEndpoint: '${{NOPE}}/api/messages' },
      },
      { uses: 'botAadApp/create', with: { name: 'x' }, writeToEnvironmentFile: { botId: 'BOT_ID' } },
      { uses: 'botFramework/create', with: { botId: '${{BOT_ID}}', name: '${{TEAMSFX_ENV}}${{SUFFIX}}' } },
    ];
    expect(unresolved(actions, new Map([['SUFFIX', '']]))).toEqual([
      'BOT_ID needed by botFramework/create (with) before anything produces it',
      'NOPE needed by botFramework/create (with) before anything produces it',
    ]);
  });

  it('teamsapp.yml (app mode) provisions in the required order without the SSO app, and deploys to App Service', () => {
    const { doc, text } = loadYml('teamsapp.yml');
    const uses = (doc.provision ?? []).map((a) => a.name ?? a.uses);
    expect(uses).toEqual([
      'check FOUNDRY_AUTH=app',
      'teamsApp/create',
      'arm/deploy',
      'write the app-mode manifest (no webApplicationInfo)',
      'teamsApp/validateManifest',
      'teamsApp/zipAppPackage',
      'teamsApp/validateAppPackage',
      'teamsApp/update',
    ]);
    expect(text).not.toMatch(/aadApp\/|AAD_APP_|SECRET_/);
    const arm = doc.provision?.find((a) => a.uses === 'arm/deploy');
    expect(arm?.with?.['templates']).toEqual([
      expect.objectContaining({ path: './infra/azure.bicep', parameters: './infra/azure.parameters.json' }),
    ]);
    for (const stage of ['provision', 'publish'] as const)
      for (const a of (doc[stage] ?? []).filter((x) => typeof x.with?.['manifestPath'] === 'string'))
        expect(a.with?.['manifestPath']).toBe(APP_MODE_MANIFEST);
    const deploy = (doc.deploy ?? []).map((a) => a.uses);
    expect(deploy).toContain('cli/runNpmCommand');
    expect(deploy[deploy.length - 1]).toBe('azureAppService/zipDeploy');
  });

  it('teamsapp.user.yml (user mode) adds the SSO app and its secret; deploy is the same as app mode', () => {
    const app = loadYml('teamsapp.yml').doc;
    const { doc } = loadYml('teamsapp.user.yml');
    expect((doc.provision ?? []).map((a) => a.name ?? a.uses)).toEqual([
      'check FOUNDRY_AUTH=user',
      'teamsApp/create',
      'aadApp/create',
      'arm/deploy',
      'aadApp/update',
      'teamsApp/validateManifest',
      'teamsApp/zipAppPackage',
      'teamsApp/validateAppPackage',
      'teamsApp/update',
    ]);
    const create = doc.provision?.find((a) => a.uses === 'aadApp/create');
    expect(create?.with).toMatchObject({ generateClientSecret: true, clientSecretExpireDays: 180 });
    expect(create?.writeToEnvironmentFile?.['clientSecret']).toBe('SECRET_AAD_APP_CLIENT_SECRET');
    const arm = doc.provision?.find((a) => a.uses === 'arm/deploy');
    expect(arm?.with?.['templates']).toEqual([
      expect.objectContaining({
        path: './infra/azure.bicep',
        parameters: './infra/azure.parameters.user.json',
      }),
    ]);
    expect(doc.deploy).toEqual(app.deploy);
    // publish differs only in which manifest it packages (the app-mode one has no webApplicationInfo).
    const strip = (as: Action[] = []): unknown[] =>
      as
        .filter((a) => a.uses !== 'script')
        .map((a) => ({ ...a, with: { ...a.with, manifestPath: undefined } }));
    expect(strip(doc.publish)).toEqual(strip(app.publish));
  });

  it('the parameters files fix the identity mode; only user mode passes the SSO app and secret', () => {
    const app = JSON.parse(read('infra', 'azure.parameters.json')) as {
      parameters: Record<string, { value: unknown }>;
    };
    const user = JSON.parse(read('infra', 'azure.parameters.user.json')) as typeof app;
    expect(app.parameters['foundryAuth']?.value).toBe('app');
    expect(user.parameters['foundryAuth']?.value).toBe('user');
    expect(read('infra', 'azure.parameters.json')).not.toMatch(/AAD_APP_|SECRET_/);
    expect(user.parameters).toMatchObject({
      aadAppClientId: { value: '${{AAD_APP_CLIENT_ID}}' },
      aadAppTenantId: { value: '${{AAD_APP_TENANT_ID}}' },
      aadAppClientSecret: { value: '${{SECRET_AAD_APP_CLIENT_SECRET}}' },
    });
    const {
      foundryAuth: _a,
      aadAppClientId: _b,
      aadAppTenantId: _c,
      aadAppClientSecret: _d,
      ...rest
    } = user.parameters;
    const { foundryAuth: _e, ...appRest } = app.parameters;
    expect(rest).toEqual(appRest);
  });

  it('no m365agents*.yml exists (atk would prefer it over every teamsapp*.yml)', () => {
    expect(readdirSync(ROOT).filter((n) => /^m365agents.*\.ya?ml$/.test(n))).toEqual([]);
  });

  it('local registers a client-secret bot at the tunnel endpoint; testtool provisions nothing', () => {
    const local = loadYml('teamsapp.local.yml').doc;
    const uses = (local.provision ?? []).map((a) => a.uses);
    expect(uses).toEqual(
      expect.arrayContaining(['botAadApp/create', 'aadApp/create', 'aadApp/update', 'botFramework/create']),
    );
    const bf = local.provision?.find((a) => a.uses === 'botFramework/create');
    expect(bf?.with?.['messagingEndpoint']).toBe('${{BOT_ENDPOINT}}/api/messages');
    const testtool = loadYml('teamsapp.testtool.yml').doc;
    expect(testtool.provision).toBeUndefined();
    const write = testtool.deploy?.find((a) => a.uses === 'file/createOrUpdateEnvironmentFile');
    expect(write?.with?.['target']).toBe('./.localConfigs.testtool');
    expect(Object.keys(write?.with?.['envs'] ?? {})).not.toContain('BOT_ID'); // auth off in the demo
  });

  it('the testtool env describes the local demo and fills every manifest placeholder', () => {
    const env = parseEnvFile(read('env', '.env.testtool'));
    expect(env.get('BOT_ENDPOINT')).toBe('http://127.0.0.1:3978/api/messages');
    expect(env.get('FOUNDRY_PROJECT_ENDPOINT')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/projects\/\w+$/);
    const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (const k of ['TEAMS_APP_ID', 'BOT_ID', 'AAD_APP_CLIENT_ID']) expect(env.get(k)).toMatch(v4);
    for (const k of placeholdersIn(read('appPackage', 'manifest.json'))) expect(env.has(k)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------- env/

describe('env/', () => {
  const committed = readdirSync(join(ROOT, 'env')).filter((f) => !f.endsWith('.user'));

  it('holds the four environments and samples of the secret files', () => {
    expect(committed).toEqual(
      expect.arrayContaining([
        '.env.dev',
        '.env.prod',
        '.env.local',
        '.env.testtool',
        '.env.dev.user.sample',
      ]),
    );
    // The Playground environment is `testtool` (the name atk resolves to teamsapp.testtool.yml).
    expect(committed).not.toContain('.env.playground');
  });

  it('commits no secret values', () => {
    const secretName = /(^SECRET_|PASSWORD|CLIENT_SECRET|CONNECTION_STRING|ACCOUNT_KEY|API_KEY|TOKEN)/;
    for (const f of committed) {
      for (const [k, v] of parseEnvFile(read('env', f))) {
        if (secretName.test(k)) expect(`${f}: ${k}=${v}`).toBe(`${f}: ${k}=`);
        // Entra client secrets look like `abc8Q~...` (34–40 chars with a tilde); storage keys end in `==`.
        expect(`${f}: ${k}=${v}`).not.toMatch(
          /=.*([A-Za-z0-9_.-]{3}\dQ~[A-Za-z0-9_.~-]{20,}|[A-Za-z0-9+/]{60,}==)/,
        );
      }
    }
  });

  it('keeps the .user files out of git and documents every SECRET_ the yml files use', () => {
    expect(read('.gitignore').split('\n')).toContain('env/.env.*.user');
    const samples = committed
      .filter((f) => f.endsWith('.user.sample'))
      .map((f) => read('env', f))
      .join('\n');
    const used = new Set(
      PROFILES.flatMap((p) => placeholdersIn(read(p.file))).filter((v) => v.startsWith('SECRET_')),
    );
    used.add('SECRET_AAD_APP_CLIENT_SECRET'); // also used by infra/azure.parameters.user.json
    expect(used.size).toBeGreaterThan(0);
    for (const s of used) expect(samples).toContain(`${s}=`);
  });
});

// ------------------------------------------------------------------------------------------ Entra (SSO) app

describe('aad.manifest.json', () => {
  const aad = JSON.parse(read('aad.manifest.json')) as {
    signInAudience: string;
    identifierUris: string[];
    api: {
      oauth2PermissionScopes: { id: string; value: string; type: string; isEnabled: boolean }[];
      preAuthorizedApplications: { appId: string; delegatedPermissionIds: string[] }[];
    };
    requiredResourceAccess: { resourceAppId: string; resourceAccess: { id: string; type: string }[] }[];
  };
  const manifest = JSON.parse(read('appPackage', 'manifest.json')) as {
    webApplicationInfo: { id: string; resource: string };
  };

  it('exposes the resource the Teams manifest asks SSO tokens for', () => {
    expect(aad.identifierUris).toEqual([manifest.webApplicationInfo.resource]);
    expect(read('aad.manifest.json')).toContain(`"appId": "${manifest.webApplicationInfo.id}"`);
    expect(aad.signInAudience).toBe('AzureADMyOrg');
  });

  it('has access_as_user pre-authorized for the Teams desktop/mobile and web clients', () => {
    const scope = aad.api.oauth2PermissionScopes.find((s) => s.value === 'access_as_user');
    expect(scope).toMatchObject({
      type: 'User',
      isEnabled: true,
      id: '${{AAD_APP_ACCESS_AS_USER_PERMISSION_ID}}',
    });
    const pre = Object.fromEntries(
      aad.api.preAuthorizedApplications.map((p) => [p.appId, p.delegatedPermissionIds]),
    );
    expect(pre).toEqual({
      '1fec8e78-bce4-4aaf-ab1b-5451cc387264': [scope?.id],
      '5e3ce6c0-2b1f-4285-8d4b-75ee78787346': [scope?.id],
    });
  });

  it('requests delegated user_impersonation on Azure Machine Learning Services (https://ai.azure.com) for OBO', () => {
    const aml = aad.requiredResourceAccess.find(
      (r) => r.resourceAppId === '18a66f5f-dbdf-4c17-9dd7-1634712a9cbe',
    );
    expect(aml?.resourceAccess).toEqual([{ id: '1a7925b5-f871-417a-9b8b-303f9f29fa10', type: 'Scope' }]);
  });
});

// -------------------------------------------------------------------------------------------------- infra/

describe('infra/', () => {
  const main = bicepParams('infra/azure.bicep');
  const bicep = read('infra', 'azure.bicep');

  it.each(['azure.parameters.json', 'azure.parameters.user.json'])(
    '%s sets only declared parameters and every parameter without a default',
    (file) => {
      const params = JSON.parse(read('infra', file)) as { parameters: Record<string, { value: unknown }> };
      const declared = new Set(main.map((p) => p.name));
      for (const k of Object.keys(params.parameters))
        expect(`${k} declared: ${declared.has(k)}`).toBe(`${k} declared: true`);
      for (const p of main.filter((x) => !x.hasDefault))
        expect(Object.keys(params.parameters)).toContain(p.name);
    },
  );

  it('modules exist and receive exactly their required parameters', () => {
    for (const m of bicep.matchAll(/^module\s+\w+\s+'([^']+)'[^{]*\{([\s\S]*?)^\}/gm)) {
      const path = join('infra', m[1] ?? '');
      expect(existsSync(join(ROOT, path))).toBe(true);
      const passed = [...(m[2] ?? '').matchAll(/^ {4}(\w+):/gm)].map((x) => x[1] ?? '');
      const declared = bicepParams(path);
      for (const p of passed) expect(declared.map((d) => d.name)).toContain(p);
      for (const d of declared.filter((x) => !x.hasDefault)) expect(passed).toContain(d.name);
    }
  });

  it('outputs what the Toolkit and the Teams manifest need', () => {
    expect(bicepOutputs('infra/azure.bicep')).toEqual(
      expect.arrayContaining([
        'BOT_ID',
        'BOT_DOMAIN',
        'BOT_ENDPOINT',
        'BOT_TENANT_ID',
        'AZURE_APP_SERVICE_RESOURCE_ID',
      ]),
    );
  });

  it('wires the managed identity as the bot and Foundry credential, with blob state', () => {
    const settings = Object.fromEntries(
      [...bicep.matchAll(/name: '([A-Z_]+)'\s*\n\s*value: (.+)/g)].map((m) => [
        m[1] ?? '',
        (m[2] ?? '').trim(),
      ]),
    );
    expect(settings).toMatchObject({
      BOT_ID: 'identity.properties.clientId',
      BOT_TYPE: "'UserAssignedMsi'",
      BOT_TENANT_ID: 'identity.properties.tenantId',
      AZURE_CLIENT_ID: 'identity.properties.clientId',
      FOUNDRY_CREDENTIAL: "'managed_identity'",
      STORAGE: "'blob'",
      NODE_ENV: "'production'",
      FOUNDRY_PROJECT_ENDPOINT: 'foundryProjectEndpoint',
      FOUNDRY_AGENT_NAME: 'foundryAgentName',
      FOUNDRY_AUTH: 'foundryAuth',
      BLOB_ACCOUNT_URL: 'storage.properties.primaryEndpoints.blob',
    });
    const config = read('src', 'config', 'env-schema.ts'); // every key the bot reads
    for (const k of Object.keys(settings).filter((s) => !/^(WEBSITE|SCM)_/.test(s)))
      expect(`${k}: ${config.includes(`${k}:`)}`).toBe(`${k}: true`);
    // Node 20 reached end of life in April 2026: App Service runs Node 22 LTS (the code also runs on 20).
    expect(bicep).toContain("linuxFxVersion: 'NODE|22-lts'");
    expect(bicep).not.toMatch(/NODE\|20|Node 20/);
    expect(bicep).toContain("'ba92f5b4-2d11-453d-a403-e96b0029c9fe'"); // Storage Blob Data Contributor
    expect(bicep).toContain("param stateContainerName string = 'botstate'");
    expect(bicep).toMatch(
      /resource stateContainer '[^']+' = \{\s*parent: blobService\s*name: stateContainerName/,
    );
  });

  it('registers the bot as a user-assigned MSI bot with the Teams channel', () => {
    const bot = read('infra', 'botRegistration', 'azurebot.bicep');
    expect(bot).toContain("msaAppType: 'UserAssignedMSI'");
    expect(bot).toContain('msaAppMSIResourceId: identityResourceId');
    expect(bot).toContain('msaAppTenantId: identityTenantId');
    expect(bot).toContain("channelName: 'MsTeamsChannel'");
  });

  it('grants Azure AI User on the existing Foundry project', () => {
    const access = read('infra', 'modules', 'foundry-access.bicep');
    expect(access).toMatch(/resource account 'Microsoft\.CognitiveServices\/accounts@[\w-]+' existing/);
    expect(access).toMatch(
      /resource project 'Microsoft\.CognitiveServices\/accounts\/projects@[\w-]+' existing/,
    );
    expect(access).toContain("'53ca6127-db72-4b80-b1b0-d745d6d5456d'");
    expect(access).toContain('scope: project');
    expect(bicep).toMatch(
      /module foundryAccess '\.\/modules\/foundry-access\.bicep' = if \(!empty\(foundryResourceGroupName\)\)/,
    );
  });
});
