/**
 * `npm run doctor` (scripts/doctor.ts, src/ops/doctor/) against the Foundry emulator with the settings
 * `npm run dev` gives the bot (scripts/dev.ts): the real ManagedIdentityCredential against the emulator's
 * IDENTITY_ENDPOINT, the real Agents REST client. Each failure cause is produced by an emulator setting
 * (emulator/causes.ts, the scenario, the Agents API) and must print its FAIL / WARN line with the fix.
 * One emulator for the file: MSAL caches the managed-identity source process-wide (emulator/README.md).
 */
import { AuthenticationError } from '@azure/identity';
import { main } from '../../scripts/doctor';
import { BOT_MANAGED_IDENTITY_OID } from '../../emulator/identity';
import type { RunningEmulator } from '../../emulator/server';
import { useManagedIdentityEmulator } from '../support/managed-identity-emulator';
import { loadScenario, reset, setCauses } from '../../emulator/test-client';
import { loadDefaultScenario } from '../../emulator/scenario';

let emu: RunningEmulator;
useManagedIdentityEmulator((e) => (emu = e));
beforeEach(() => reset(emu.url));

/** The bot's settings as scripts/dev.ts starts it (app mode, managed identity, memory storage, no BOT_ID). */
const devSettings = (extra: Record<string, string> = {}): Record<string, string> => ({
  NODE_ENV: 'development',
  BOT_ID: '',
  BOT_PASSWORD: '',
  FOUNDRY_PROJECT_ENDPOINT: emu.projectEndpoint,
  FOUNDRY_AGENT_NAME: 'helpdesk-agent',
  FOUNDRY_AUTH: 'app',
  FOUNDRY_CREDENTIAL: 'managed_identity',
  IDENTITY_ENDPOINT: emu.identityEndpoint,
  IDENTITY_HEADER: emu.identityHeader,
  CONSENT_LINK_HOSTS: new URL(emu.url).host,
  SHARED_CONSENT_ADMINS: 'aaaaaaaa-0000-4000-8000-00000000000a',
  STORAGE: 'memory',
  ...extra,
});

interface Run {
  code: number;
  out: string;
  err: string;
}

async function doctor(env: Record<string, string>, argv: string[] = [], more = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['--timeout-seconds', '5', ...argv], {
    env,
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    ...more,
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The line of a finding and its fix line. */
function lineOf(out: string, status: string, check: string): string {
  const lines = out.split('\n');
  const i = lines.findIndex((l) => new RegExp(`^${status} +${check} `).test(l));
  if (i < 0) throw new Error(`no ${status} ${check} line in:\n${out}`);
  return `${lines[i]}\n${lines[i + 1] ?? ''}`;
}

describe('npm run doctor on the local product', () => {
  it('prints one line per check and no FAIL (exit 0), naming the credential that answered', async () => {
    const r = await doctor(devSettings());
    expect(r.out).not.toMatch(/^FAIL/m);
    expect(r.code).toBe(0);
    expect(lineOf(r.out, 'PASS', 'config')).toContain('FOUNDRY_CREDENTIAL=managed_identity');
    expect(lineOf(r.out, 'PASS', 'foundry-token')).toContain(
      `from ManagedIdentityCredential (object id ${BOT_MANAGED_IDENTITY_OID}`,
    );
    expect(lineOf(r.out, 'PASS', 'agent')).toContain(
      'agent "helpdesk-agent" version 1 (latest), 2 MCP tool(s)',
    );
    expect(r.out).toContain('MCP tool github: connection github-oauth, require_approval');
    // github's create_issue etc. stop for approval: a warning with the documented resolution.
    expect(lineOf(r.out, 'WARN', 'agent')).toMatch(
      /calls of github create_issue, add_label, assign_issue stop for approval\n.*fix: .*require_approval to "never"/,
    );
    expect(lineOf(r.out, 'PASS', 'consent-links')).toContain(`refused (host_not_allowed)`);
    expect(lineOf(r.out, 'PASS', 'storage')).toContain('memory storage');
    expect(lineOf(r.out, 'WARN', 'bot-registration')).toContain('BOT_ID is empty');
    expect(r.out).toMatch(/^INFO +user-mode +FOUNDRY_AUTH=app/m);
    expect(r.out).toMatch(/\d+ passed, \d+ warning\(s\), 0 failed/);
  });

  it('--json gives the same findings for scripts, with stable cause ids', async () => {
    const r = await doctor(devSettings(), ['--json']);
    const parsed = JSON.parse(r.out) as { ok: boolean; findings: { status: string; cause?: string }[] };
    expect(parsed.ok).toBe(true);
    expect(parsed.findings.filter((f) => f.status === 'warn').map((f) => f.cause)).toEqual(
      expect.arrayContaining(['tool.approval_required', 'bot.no_id']),
    );
  });
});

describe('each failure cause prints its FAIL line with the fix (exit 1)', () => {
  it('config: an invalid setting is named, never its value', async () => {
    const r = await doctor(devSettings({ FOUNDRY_AGENT_NAME: '', FOUNDRY_THREADING: 'sideways-canary' }));
    expect(r.code).toBe(1);
    expect(lineOf(r.out, 'FAIL', 'config')).toMatch(
      /FOUNDRY_AGENT_NAME is required.*\n.*fix: Fix FOUNDRY_AGENT_NAME, FOUNDRY_THREADING/,
    );
    expect(r.out).not.toContain('sideways-canary');
    expect(r.out).toMatch(/^SKIP/m);
  });

  it('agent name typo → agent.not_found', async () => {
    const r = await doctor(devSettings({ FOUNDRY_AGENT_NAME: 'helpdesk-agnet' }));
    expect(r.code).toBe(1);
    expect(lineOf(r.out, 'FAIL', 'agent')).toMatch(
      /agent "helpdesk-agnet" not found.*\n.*fix: Set FOUNDRY_AGENT_NAME/,
    );
  });

  it('pinned version that does not exist → agent.version_not_found', async () => {
    const r = await doctor(devSettings({ FOUNDRY_AGENT_VERSION: '7' }));
    expect(lineOf(r.out, 'FAIL', 'agent')).toMatch(
      /has no version 7 \(latest is 1\)\n.*fix: Set FOUNDRY_AGENT_VERSION/,
    );
  });

  it('missing Azure AI User role (403 PermissionDenied) → foundry.role_missing naming the identity', async () => {
    await setCauses(emu.url, { missingRole: [BOT_MANAGED_IDENTITY_OID] });
    const r = await doctor(devSettings(), ['--json']);
    const f = (JSON.parse(r.out) as { findings: { cause?: string; fix?: string }[] }).findings.find(
      (x) => x.cause === 'foundry.role_missing',
    );
    expect(f?.fix).toContain(
      `Assign Azure AI User on the Foundry project to object id ${BOT_MANAGED_IDENTITY_OID}`,
    );
    expect(r.code).toBe(1);
  });

  it('cross-tenant caller (403 forbidden) → foundry.forbidden; token of another tenant than AZURE_TENANT_ID → identity.wrong_tenant', async () => {
    await setCauses(emu.url, { crossTenant: [BOT_MANAGED_IDENTITY_OID] });
    const r = await doctor(devSettings());
    expect(lineOf(r.out, 'FAIL', 'agent')).toMatch(
      /tenant .* is not the project's\n.*cross-tenant access is not supported/,
    );
    const t = await doctor(devSettings({ AZURE_TENANT_ID: '99999999-9999-4999-8999-999999999999' }));
    expect(lineOf(t.out, 'FAIL', 'foundry-token')).toMatch(
      /not AZURE_TENANT_ID 9999.*\n.*fix: Sign in to \(or configure\) the tenant/,
    );
  });

  it('token Foundry rejects (401) → foundry.unauthorized', async () => {
    await setCauses(emu.url, { rejectedTokens: [BOT_MANAGED_IDENTITY_OID] });
    const r = await doctor(devSettings());
    expect(lineOf(r.out, 'FAIL', 'agent')).toMatch(
      /rejected the token \(401\).*\n.*fix: Check that FOUNDRY_PROJECT_ENDPOINT/,
    );
  });

  it('wrong project endpoint → FAIL (not found) and a format warning', async () => {
    const r = await doctor(devSettings({ FOUNDRY_PROJECT_ENDPOINT: `${emu.url}/api/project/demo` }));
    expect(r.code).toBe(1);
    expect(lineOf(r.out, 'WARN', 'agent')).toContain('does not end in /api/projects/<project>');
  });

  it('a tool with require_approval "always" (the default) → WARN tool.approval_required', async () => {
    const s = loadDefaultScenario();
    const agent = s.agents['helpdesk-agent'];
    const weather = agent?.mcp.find((m) => m.server_label === 'weather');
    if (!weather) throw new Error('scenario changed');
    weather.require_approval = 'always';
    await loadScenario(emu.url, s);
    const r = await doctor(devSettings());
    expect(r.out).toMatch(
      /WARN +agent +every call of weather stops for approval \(require_approval is "always", the default when unset\)/,
    );
  });

  it('an OAuth connection nobody may consent to in app mode → WARN consent.no_admins', async () => {
    const r = await doctor(devSettings({ SHARED_CONSENT_ADMINS: '' }));
    expect(lineOf(r.out, 'WARN', 'agent')).toBeDefined();
    expect(r.out).toMatch(/github uses connection github-oauth;.*\n.*fix: Set SHARED_CONSENT_ADMINS/);
  });

  it('no usable managed identity (the endpoint refuses, as for an unassigned identity) → identity.no_managed_identity', async () => {
    const r = await doctor(
      devSettings({ AZURE_CLIENT_ID: 'cccccccc-0000-4000-8000-00000000dead' }),
      [],
      {},
    ).catch((e: unknown) => {
      throw e;
    });
    // A user-assigned id the emulator accepts: PASS. Now make the endpoint refuse a fresh identity.
    expect(r.code).toBe(0);
    await fetch(`${emu.url}/__emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ faults: [{ kind: 'unauthorized', count: 20, match: { target: 'identity' } }] }),
    });
    const f = await doctor(devSettings({ AZURE_CLIENT_ID: 'dddddddd-0000-4000-8000-00000000beef' }));
    expect(f.code).toBe(1);
    expect(lineOf(f.out, 'FAIL', 'foundry-token')).toMatch(
      /ManagedIdentityCredential: no managed identity is available.*\n.*fix: Turn on the App Service's managed identity.*Azure AI User on the Foundry project/,
    );
    expect(f.out).toMatch(/^SKIP +agent/m);
  });

  it('blob storage that does not answer → storage.unreachable', async () => {
    const r = await doctor(
      devSettings({
        STORAGE: 'blob',
        BLOB_CONNECTION_STRING:
          'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Q0FOQVJZLWJsb2Ita2V5LWNhbmFyeQ==;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;',
      }),
    );
    expect(lineOf(r.out, 'FAIL', 'storage')).toMatch(/did not answer.*\n.*fix: Check the account URL/);
    expect(r.out).not.toContain('Q0FOQVJZLWJsb2Ita2V5LWNhbmFyeQ');
  });

  it('bot registration: a secret Entra refuses → bot.rejected; no network path → WARN bot.unreachable', async () => {
    const bot = { BOT_ID: '8d2e4f6a-1b3c-4d5e-8f70-9a1b2c3d4e5f', BOT_PASSWORD: 'CANARY-bot-password-1' };
    const refusing = {
      getToken: () =>
        Promise.reject(
          new AuthenticationError(401, {
            error: 'invalid_client',
            error_description: 'AADSTS7000215: Invalid client secret provided.',
            error_codes: [7000215],
          }),
        ),
    };
    const r = await doctor(devSettings(bot), [], { botCredential: refusing });
    expect(lineOf(r.out, 'FAIL', 'bot-registration')).toMatch(
      /refused .* \(invalid_client AADSTS7000215\)\n.*fix: Create a new client secret/,
    );
    const offline = {
      getToken: () =>
        Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND'), { name: 'AuthenticationError' })),
    };
    const w = await doctor(devSettings(bot), [], { botCredential: offline });
    expect(lineOf(w.out, 'WARN', 'bot-registration')).toContain('could not get a Bot Framework token');
    expect(r.out + w.out).not.toContain('CANARY-bot-password-1');
  });

  it('user mode: ALLOWED_TENANTS without the project tenant → sso.tenant_not_allowed; a test authority → WARN', async () => {
    const r = await doctor(
      devSettings({
        FOUNDRY_AUTH: 'user',
        AAD_APP_CLIENT_ID: emu.ssoClient.clientId,
        AAD_APP_CLIENT_SECRET: 'CANARY-sso-secret-2',
        AAD_APP_TENANT_ID: emu.tenantId,
        ALLOWED_TENANTS: '22222222-2222-4222-8222-222222222222',
        AZURE_AUTHORITY_HOST: emu.authorityUrl,
      }),
    );
    expect(lineOf(r.out, 'FAIL', 'user-mode')).toMatch(
      /ALLOWED_TENANTS does not include AAD_APP_TENANT_ID.*\n.*fix: Add the project tenant/,
    );
    expect(lineOf(r.out, 'WARN', 'user-mode')).toContain('test authority');
    expect(r.out).not.toContain('CANARY-sso-secret-2');
  });
});

describe('redaction', () => {
  it('no secret, token or link query from the settings reaches stdout or stderr', async () => {
    const canaries = {
      BOT_ID: '8d2e4f6a-1b3c-4d5e-8f70-9a1b2c3d4e5f',
      BOT_PASSWORD: 'CANARY-bot-password-3',
      AZURE_CLIENT_SECRET: 'CANARY-client-secret-4',
      FOUNDRY_PROJECT_ENDPOINT: `${emu.projectEndpoint}`,
    };
    const offline = { getToken: () => Promise.reject(new Error('offline')) };
    for (const argv of [[], ['--json']]) {
      const r = await doctor(devSettings(canaries), argv, { botCredential: offline });
      const all = r.out + r.err;
      expect(all).not.toContain('CANARY-');
      expect(all).not.toContain(emu.identityHeader);
      expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{5,}\./);
    }
  });
});
