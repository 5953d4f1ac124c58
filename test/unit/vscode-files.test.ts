/**
 * .vscode/launch.json and tasks.json (F5 with the Microsoft 365 Agents Toolkit extension): every name a file
 * refers to resolves. Launch configurations and compounds name configurations and tasks; tasks name tasks,
 * npm scripts, Toolkit environments (which atk resolves to a project file), env files and ports; other files
 * (the Toolkit project files, env files, docs) name tasks and launch configurations in prose.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseEnvFile } from '../../scripts/package-app';

const ROOT = join(__dirname, '..', '..');
const read = (...p: string[]): string => readFileSync(join(ROOT, ...p), 'utf8');

interface LaunchConfig {
  name: string;
  type: string;
  request: string;
  port?: number;
  url?: string;
  preLaunchTask?: string;
  cascadeTerminateToConfigurations?: string[];
}
interface Compound {
  name: string;
  configurations: string[];
  preLaunchTask?: string;
}
interface Task {
  label: string;
  type?: string;
  command?: string;
  args?: Record<string, unknown>;
  dependsOn?: string[];
  isBackground?: boolean;
  problemMatcher?: string | { background?: { endsPattern?: string } };
}

const launch = JSON.parse(read('.vscode', 'launch.json')) as {
  configurations: LaunchConfig[];
  compounds: Compound[];
};
const { tasks } = JSON.parse(read('.vscode', 'tasks.json')) as { tasks: Task[] };
const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
const labels = new Set(tasks.map((t) => t.label));
const configNames = new Set(launch.configurations.map((c) => c.name));
const compoundNames = new Set(launch.compounds.map((c) => c.name));

/** How atk 1.1.17 picks the project file for `--env <name>` (teamsapp*.yml names; see toolkit-profiles.test.ts). */
const profileFor = (env: string): string =>
  env === 'local' ? 'teamsapp.local.yml' : env === 'testtool' ? 'teamsapp.testtool.yml' : 'teamsapp.yml';

/** Files a profile's deploy stage writes (file/createOrUpdateEnvironmentFile targets). */
function writtenByProfiles(): Set<string> {
  const out = new Set<string>();
  for (const f of readdirSync(ROOT).filter((n) => /^teamsapp(\.\w+)?\.yml$/.test(n))) {
    const doc = parse(read(f)) as Record<string, { uses: string; with?: { target?: string } }[] | undefined>;
    for (const stage of ['provision', 'deploy'])
      for (const a of doc[stage] ?? [])
        if (a.uses === 'file/createOrUpdateEnvironmentFile' && a.with?.target)
          out.add(a.with.target.replace(/^\.\//, ''));
  }
  return out;
}

describe('.vscode/launch.json', () => {
  it('has the two F5 entry points of the Toolkit bot templates', () => {
    expect([...compoundNames]).toEqual(
      expect.arrayContaining([
        'Debug in Microsoft 365 Agents Playground',
        'Debug in Teams (Edge)',
        'Debug in Teams (Chrome)',
      ]),
    );
    const pg = launch.compounds.find((c) => c.name === 'Debug in Microsoft 365 Agents Playground');
    expect(pg?.configurations).toEqual(['Attach to Local Service']);
    const teams = launch.compounds.find((c) => c.name === 'Debug in Teams (Edge)');
    expect(teams?.configurations).toEqual(['Launch App in Teams (Edge)', 'Attach to Local Service']);
  });

  it('names are unique; compounds and cascades name existing configurations', () => {
    expect(configNames.size).toBe(launch.configurations.length);
    expect(compoundNames.size).toBe(launch.compounds.length);
    for (const c of launch.compounds) for (const n of c.configurations) expect(configNames).toContain(n);
    for (const c of launch.configurations)
      for (const n of c.cascadeTerminateToConfigurations ?? []) expect(configNames).toContain(n);
  });

  it('every preLaunchTask is a task', () => {
    const pre = [...launch.configurations, ...launch.compounds].flatMap((c) => c.preLaunchTask ?? []);
    expect(pre.length).toBeGreaterThan(3);
    for (const t of pre) expect(labels).toContain(t);
  });

  it('attaches to the inspector port the bot scripts open, and maps dist/ back to the TypeScript', () => {
    const attach = launch.configurations.find((c) => c.name === 'Attach to Local Service');
    expect(attach).toMatchObject({ type: 'node', request: 'attach', port: 9239 });
    for (const s of ['dev:teamsfx', 'dev:teamsfx:playground'])
      expect(scripts[s]).toContain(`--inspect=127.0.0.1:${attach?.port}`);
    expect(
      (JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { sourceMap?: boolean } })
        .compilerOptions.sourceMap,
    ).toBe(true);
  });

  it('${{local:VAR}} and ${{VAR}} in URLs are keys of env/.env.local and of the remote env files', () => {
    const local = parseEnvFile(read('env', '.env.local'));
    const remote = ['dev', 'prod'].map((e) => parseEnvFile(read('env', `.env.${e}`)));
    const urls = [
      ...launch.configurations.flatMap((c) => c.url ?? []),
      ...tasks.flatMap((t) => (typeof t.args?.['url'] === 'string' ? [t.args['url']] : [])),
    ];
    let seen = 0;
    for (const u of urls)
      for (const m of u.matchAll(/\$\{\{(?:(local):)?([A-Z0-9_]+)\}\}/g)) {
        seen++;
        if (m[1] === 'local') expect(local.has(m[2] ?? '')).toBe(true);
        else for (const r of remote) expect(r.has(m[2] ?? '')).toBe(true);
      }
    expect(seen).toBeGreaterThanOrEqual(4);
  });
});

describe('.vscode/tasks.json', () => {
  it('labels are unique and every dependsOn is a task', () => {
    expect(labels.size).toBe(tasks.length);
    for (const t of tasks) for (const d of t.dependsOn ?? []) expect(labels).toContain(d);
  });

  it('Toolkit tasks run a profile that atk resolves for their environment, with its env file and stage', () => {
    const tk = tasks.filter((t) => t.type === 'teamsfx' && typeof t.args?.['env'] === 'string');
    expect(tk.map((t) => `${t.command} ${String(t.args?.['env'])}`).sort()).toEqual(
      ['debug-start-local-tunnel local', 'deploy local', 'deploy testtool', 'provision local'].sort(),
    );
    for (const t of tk) {
      const env = String(t.args?.['env']);
      expect(existsSync(join(ROOT, 'env', `.env.${env}`))).toBe(true);
      const doc = parse(read(profileFor(env))) as Record<string, unknown>;
      if (t.command === 'provision' || t.command === 'deploy') expect(doc[t.command]).toBeDefined();
    }
  });

  it('the tunnel writes BOT_ENDPOINT / BOT_DOMAIN, which the local profile registers the bot at', () => {
    const tunnel = tasks.find((t) => t.command === 'debug-start-local-tunnel');
    const ports = tunnel?.args?.['ports'] as {
      portNumber: number;
      writeToEnvironmentFile: Record<string, string>;
    }[];
    expect(ports[0]?.portNumber).toBe(3978);
    expect(ports[0]?.writeToEnvironmentFile).toEqual({ endpoint: 'BOT_ENDPOINT', domain: 'BOT_DOMAIN' });
    const local = parseEnvFile(read('env', '.env.local'));
    expect(local.has('BOT_ENDPOINT') && local.has('BOT_DOMAIN')).toBe(true);
    expect(read('teamsapp.local.yml')).toContain('messagingEndpoint: ${{BOT_ENDPOINT}}/api/messages');
  });

  it('shell tasks run npm scripts whose files exist or are written by a profile', () => {
    const written = writtenByProfiles();
    const shell = tasks.filter((t) => t.type === 'shell');
    expect(shell.length).toBe(4);
    for (const t of shell) {
      const m = /^npm run ([\w:-]+)$/.exec(t.command ?? '');
      expect(m).not.toBeNull();
      const script = scripts[m?.[1] ?? ''];
      expect(`${m?.[1]}: ${typeof script}`).toBe(`${m?.[1]}: string`);
      for (const f of (script ?? '').matchAll(/--env-file=(\S+)/g)) {
        const file = f[1] ?? '';
        expect(`${file}: ${existsSync(join(ROOT, file)) || written.has(file)}`).toBe(`${file}: true`);
      }
      for (const f of (script ?? '').matchAll(/\bdist\/(\S+)\.js\b/g))
        expect(existsSync(join(ROOT, `${f[1] ?? ''}.ts`))).toBe(true);
    }
  });

  it('background tasks end on lines the programs really print', () => {
    const sources: Record<string, string> = {
      'npm run dev:teamsfx': read('src', 'app.ts'),
      'npm run dev:teamsfx:playground': read('src', 'app.ts'),
      'npm run dev:teamsfx:emulator': read('emulator', 'main.ts'),
      // The Playground CLI prints "Listening on <port>" (tooling.md §2).
      'npm run dev:teamsfx:launch-playground': 'Listening on 56150',
    };
    for (const t of tasks.filter((x) => x.type === 'shell')) {
      expect(t.isBackground).toBe(true);
      const ends =
        typeof t.problemMatcher === 'object' ? t.problemMatcher.background?.endsPattern : undefined;
      const src = sources[t.command ?? ''];
      expect(src).toBeDefined();
      const first = (ends ?? '').split('|')[0] ?? '';
      expect(new RegExp(first).test(src ?? '')).toBe(true);
    }
  });

  it('the Playground chain checks the ports the emulator, bot, debugger and Playground use', () => {
    const check = tasks.find((t) => t.label === 'Validate prerequisites (Microsoft 365 Agents Playground)');
    const pg = parseEnvFile(read('env', '.env.testtool'));
    expect(check?.args?.['portOccupancy']).toEqual([
      3978,
      9239,
      Number(pg.get('TEAMSAPPTESTER_PORT')),
      Number(pg.get('EMULATOR_PORT')),
    ]);
    expect(scripts['dev:teamsfx:launch-playground']).toContain(`-p ${pg.get('TEAMSAPPTESTER_PORT')}`);
    expect(scripts['dev:teamsfx:launch-playground']).toContain(`-e ${pg.get('BOT_ENDPOINT')}`);
    const profile = read('teamsapp.testtool.yml');
    expect(profile).toContain('IDENTITY_ENDPOINT: http://127.0.0.1:${{EMULATOR_PORT}}/msi/token');
    expect(profile).toContain('IDENTITY_HEADER: ${{EMULATOR_IDENTITY_HEADER}}');
    expect(read('emulator', 'main.ts')).toContain("env['EMULATOR_IDENTITY_HEADER']");
  });
});

describe('task and launch names quoted in other files', () => {
  const files = [
    ...readdirSync(ROOT).filter((n) => /^teamsapp.*\.yml$/.test(n) || n === 'README.md'),
    ...readdirSync(join(ROOT, 'env')).map((n) => `env/${n}`),
    ...readdirSync(join(ROOT, 'docs'))
      .filter((n) => n.endsWith('.md'))
      .map((n) => `docs/${n}`),
  ];

  it('every `VS Code "<name>"` reference is a task, a launch configuration or a compound', () => {
    const refs: string[] = [];
    for (const f of files)
      for (const m of read(f).matchAll(
        /VS Code (?:task |launch configuration |debug configuration )?["“]([^"”]+)["”]/g,
      ))
        refs.push(`${f}: ${m[1] ?? ''}`);
    expect(refs.length).toBeGreaterThanOrEqual(4);
    for (const r of refs) {
      const name = r.slice(r.indexOf(': ') + 2);
      const known = labels.has(name) || configNames.has(name) || compoundNames.has(name);
      expect(`${r} resolves: ${known}`).toBe(`${r} resolves: true`);
    }
  });
});
