/**
 * `npm run agent:create` (scripts/agent-create.ts) against the emulator's Agents API (emulator/agents-api.ts),
 * over real HTTP, authenticating with the configured credential: FOUNDRY_CREDENTIAL=managed_identity, i.e. the
 * real @azure/identity ManagedIdentityCredential against the emulator's IDENTITY_ENDPOINT.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, sampleDefinition } from '../../scripts/agent-create';
import { loadAgentSetupConfig } from '../../src/config/agent-setup';
import { FoundryAgentsApi } from '../../src/foundry/agents-api';
import { BOT_MANAGED_IDENTITY_OID } from '../../emulator/identity';
import type { RunningEmulator } from '../../emulator/server';
import { useManagedIdentityEmulator } from '../support/managed-identity-emulator';
import { getLog, reset } from '../../emulator/test-client';

let emu: RunningEmulator;
useManagedIdentityEmulator((e) => (emu = e));
beforeEach(() => reset(emu.url));

const settings = (extra: Record<string, string> = {}): Record<string, string> => ({
  FOUNDRY_PROJECT_ENDPOINT: emu.projectEndpoint,
  FOUNDRY_AGENT_NAME: 'it-helpdesk',
  FOUNDRY_CREDENTIAL: 'managed_identity',
  AGENT_MODEL_DEPLOYMENT: 'gpt-4.1-mini',
  AGENT_OAUTH_MCP_CONNECTION_ID: 'github-oauth',
  AGENT_OAUTH_MCP_URL: 'https://api.githubcopilot.com/mcp',
  ...extra,
});

async function run(argv: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await main(argv, { env, say: (l) => lines.push(l) });
  return { code, out: lines.join('\n') };
}

const api = (token = emu.issueToken({ oid: BOT_MANAGED_IDENTITY_OID })): FoundryAgentsApi =>
  new FoundryAgentsApi({
    projectEndpoint: emu.projectEndpoint,
    credential: { getToken: () => Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) },
  });

describe('npm run agent:create against the emulator', () => {
  it('creates a prompt agent version with an approval MCP tool and an OAuth-passthrough MCP tool', async () => {
    const { code, out } = await run([], settings());
    expect(out).toContain('created it-helpdesk version 1 (it-helpdesk:1); latest is 1');
    expect(code).toBe(0);
    expect(out).toContain('mcp mslearn (https://learn.microsoft.com/api/mcp), require_approval: "always"');
    expect(out).toContain('mcp github (connection github-oauth), require_approval: "never"');

    // The REST path and the identity: the managed identity's token, from the configured credential.
    const log = await getLog(emu.url);
    const calls = log.requests.filter((r) => r.path.includes('/agents'));
    expect(calls.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'POST /api/projects/demo/agents/it-helpdesk/versions 200',
      'GET /api/projects/demo/agents/it-helpdesk 200',
    ]);
    expect(calls.every((r) => r.callerOid === BOT_MANAGED_IDENTITY_OID)).toBe(true);
    expect(log.requests.some((r) => r.path === '/msi/token' && r.status === 200)).toBe(true);

    const versions = await api().listVersions('it-helpdesk');
    expect(versions).toHaveLength(1);
    expect(versions[0]).toMatchObject({
      object: 'agent.version',
      name: 'it-helpdesk',
      version: '1',
      metadata: { created_by: 'foundry-teams-relay agent:create' },
      definition: {
        kind: 'prompt',
        model: 'gpt-4.1-mini',
        tools: [
          {
            type: 'mcp',
            server_label: 'mslearn',
            server_url: 'https://learn.microsoft.com/api/mcp',
            require_approval: 'always',
          },
          {
            type: 'mcp',
            server_label: 'github',
            server_url: 'https://api.githubcopilot.com/mcp',
            project_connection_id: 'github-oauth',
            require_approval: 'never',
          },
        ],
      },
    });
  });

  it('a second run adds version 2, which GET /agents/{name} reports as latest', async () => {
    expect((await run([], settings())).code).toBe(0);
    const second = await run([], settings({ AGENT_INSTRUCTIONS: 'Be terse.' }));
    expect(second.out).toContain('created it-helpdesk version 2 (it-helpdesk:2); latest is 2');
    const agent = await api().getAgent('it-helpdesk');
    expect(agent).toMatchObject({
      object: 'agent',
      name: 'it-helpdesk',
      versions: { latest: { version: '2' } },
    });
    expect((await api().listVersions('it-helpdesk')).map((v) => v.version)).toEqual(['2', '1']);
  });

  it('without a connection id it creates only the approval tool and says so', async () => {
    const { code, out } = await run([], settings({ AGENT_OAUTH_MCP_CONNECTION_ID: '' }));
    expect(code).toBe(0);
    expect(out).toContain('AGENT_OAUTH_MCP_CONNECTION_ID is not set');
    const [v] = await api().listVersions('it-helpdesk');
    expect((v?.definition as { tools: unknown[] }).tools).toHaveLength(1);
  });

  it('--dry-run prints the request and sends nothing', async () => {
    const { code, out } = await run(['--dry-run'], settings());
    expect(code).toBe(0);
    expect(out).toContain(`POST ${emu.projectEndpoint}/agents/it-helpdesk/versions?api-version=v1`);
    expect(out).toContain('"project_connection_id": "github-oauth"');
    expect((await getLog(emu.url)).requests).toEqual([]);
  });

  it('reads settings from env/.env.<name> with --env, the shell winning', async () => {
    const root = mkdtempSync(join(tmpdir(), 'agent-create-'));
    try {
      mkdirSync(join(root, 'env'));
      const file = Object.entries(settings({ FOUNDRY_AGENT_NAME: 'from-file' }))
        .map(([k, v]) => `${k}=${v}`)
        .join('\n');
      writeFileSync(join(root, 'env', '.env.prod'), `${file}\n`);
      const lines: string[] = [];
      const env = { AGENT_MODEL_DEPLOYMENT: 'gpt-4o' };
      expect(await main(['--env', 'prod'], { env, root, say: (l) => lines.push(l) })).toBe(0);
      const [v] = await api().listVersions('from-file');
      expect((v?.definition as { model: string }).model).toBe('gpt-4o');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reports a rejected credential, naming the status, without printing the token', async () => {
    const token = emu.issueToken({ oid: BOT_MANAGED_IDENTITY_OID, aud: 'https://management.azure.com' });
    const lines: string[] = [];
    const code = await main([], {
      env: settings(),
      credential: { getToken: () => Promise.resolve({ token, expiresOnTimestamp: Date.now() + 60_000 }) },
      say: (l) => lines.push(l),
    });
    expect(code).toBe(1);
    expect(lines.join('\n')).toMatch(/HTTP 401 unauthorized/);
    expect(lines.join('\n')).not.toContain(token);
  });

  it('stops on bad settings with the key names', async () => {
    const { code, out } = await run(
      [],
      settings({ AGENT_MODEL_DEPLOYMENT: '', FOUNDRY_PROJECT_ENDPOINT: 'http://example.com/p' }),
    );
    expect(code).toBe(1);
    expect(out).toContain('AGENT_MODEL_DEPLOYMENT is required');
    expect(out).toContain('FOUNDRY_PROJECT_ENDPOINT must use https (http only on loopback)');
  });
});

describe('the emulator Agents API', () => {
  it('shows the scenario agent with its MCP tools and approval policy (what a doctor reads)', async () => {
    const agent = await api().getAgent('helpdesk-agent');
    expect(agent.versions.latest).toMatchObject({ name: 'helpdesk-agent', version: '1' });
    const tools = (agent.versions.latest.definition as { tools: Record<string, unknown>[] }).tools;
    expect(tools.map((t) => [t['server_label'], t['project_connection_id'] ?? null])).toEqual([
      ['github', 'github-oauth'],
      ['weather', null],
    ]);
    expect(tools[0]?.['require_approval']).toEqual({
      never: ['search_issues'],
      always: ['create_issue', 'add_label', 'assign_issue'],
    });
  });

  it('validates the body, the api-version and the agent name', async () => {
    const token = emu.issueToken({ oid: BOT_MANAGED_IDENTITY_OID });
    const post = (path: string, body: unknown): Promise<Response> =>
      fetch(`${emu.projectEndpoint}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const noUrl = { definition: { kind: 'prompt', model: 'm', tools: [{ type: 'mcp', server_label: 'x' }] } };
    const r1 = await post('/agents/a/versions?api-version=v1', noUrl);
    expect(r1.status).toBe(400);
    expect(await r1.text()).toContain('needs server_url or project_connection_id');
    expect((await post('/agents/a/versions', sampleDefinition(cfg()))).status).toBe(400);
    expect(
      (await post('/agents/-bad/versions?api-version=v1', { definition: { kind: 'prompt', model: 'm' } }))
        .status,
    ).toBe(400);
    const missing = await fetch(`${emu.projectEndpoint}/agents/nope?api-version=v1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(missing.status).toBe(404);
    const anonymous = await fetch(`${emu.projectEndpoint}/agents/helpdesk-agent?api-version=v1`);
    expect(anonymous.status).toBe(401);
  });

  it('/__emulator/reset forgets created versions', async () => {
    expect((await run([], settings())).code).toBe(0);
    await reset(emu.url);
    await expect(api().getAgent('it-helpdesk')).rejects.toMatchObject({ code: 'FOUNDRY_NOT_FOUND' });
  });
});

function cfg(): ReturnType<typeof loadAgentSetupConfig> {
  return loadAgentSetupConfig(new Map(), settings());
}
