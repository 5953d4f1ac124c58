/**
 * `npm run doctor -- --validate "<prompt>"` against the Foundry emulator (app mode, the real
 * ManagedIdentityCredential and the bot's Foundry client): each troubleshooting row that only shows when a tool is
 * called is produced by an emulator setting (emulator/causes.ts tool failures, consent state, scenario) and must
 * print its finding with the fix. The consent is completed by driving the emulator's consent page.
 */
import { main } from '../../scripts/doctor';
import { BOT_MANAGED_IDENTITY_OID } from '../../emulator/identity';
import type { RunningEmulator } from '../../emulator/server';
import { useManagedIdentityEmulator } from '../support/managed-identity-emulator';
import { grantConsent, reset, setCauses, submitConsent } from '../../emulator/test-client';

let emu: RunningEmulator;
useManagedIdentityEmulator((e) => (emu = e));
beforeEach(() => reset(emu.url));

const settings = (extra: Record<string, string> = {}): Record<string, string> => ({
  NODE_ENV: 'development',
  BOT_ID: '',
  FOUNDRY_PROJECT_ENDPOINT: emu.projectEndpoint,
  FOUNDRY_AGENT_NAME: 'helpdesk-agent',
  FOUNDRY_CREDENTIAL: 'managed_identity',
  CONSENT_LINK_HOSTS: new URL(emu.url).host,
  SHARED_CONSENT_ADMINS: 'aaaaaaaa-0000-4000-8000-00000000000a',
  ...extra,
});

interface Run {
  code: number;
  out: string;
  err: string;
  json: {
    ok: boolean;
    findings: { check: string; status: string; cause?: string; summary: string; fix?: string }[];
  };
}

/** Runs validate; `onLink` gets each consent link printed on stderr (the admin's browser, here the test). */
async function validate(
  prompt: string,
  opts: { env?: Record<string, string>; argv?: string[]; onLink?: (link: string) => Promise<void> } = {},
): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const clicks: Promise<void>[] = [];
  const code = await main(
    ['--json', '--validate', prompt, '--poll-seconds', '0.2', '--wait-seconds', '5', ...(opts.argv ?? [])],
    {
      env: settings(opts.env),
      out: (t) => out.push(t),
      err: (t) => {
        err.push(t);
        const link = /https?:\/\/\S+/.exec(t)?.[0];
        if (link && opts.onLink) clicks.push(opts.onLink(link));
      },
    },
  );
  await Promise.all(clicks);
  const text = out.join('\n');
  return { code, out: text, err: err.join('\n'), json: JSON.parse(text) as Run['json'] };
}

const allow = async (link: string): Promise<void> => {
  await submitConsent(emu.url, link, 'allow');
};
const validateFindings = (r: Run): Run['json']['findings'] =>
  r.json.findings.filter((f) => f.check === 'validate');
const causes = (r: Run): (string | undefined)[] => validateFindings(r).map((f) => f.cause);

describe('validate: the Validate list, automated', () => {
  it('§6.2 consent: prints the link, waits, continues; the tool completes and the next call asks no consent', async () => {
    const r = await validate('search my issues', { onLink: allow });
    const summaries = validateFindings(r).map((f) => `${f.status} ${f.summary}`);
    expect(summaries).toEqual([
      'info oauth_consent_request for github',
      'pass consent completed: the continuation asked for no consent',
      'pass after consent: tool github.search_issues was called and completed',
      'pass next call: no consent asked',
      'pass next call: tool github.search_issues was called and completed',
      'info app mode: this consent is shared; every Teams user of the bot now uses it (docs/identity.md)',
    ]);
    expect(r.code).toBe(0);
    // The link goes to stderr, for the admin, and never into stdout.
    expect(r.err).toMatch(
      /Open this consent link for github .*\n {2}http:\/\/127\.0\.0\.1:\d+\/__emulator\/consent\/[0-9a-f]+/,
    );
    expect(r.out).not.toContain('/__emulator/consent/');
  });

  it('a consent nobody completes → consent.not_completed after --wait-seconds', async () => {
    const r = await validate('search my issues', { argv: ['--wait-seconds', '0.5'] });
    expect(causes(r)).toContain('consent.not_completed');
    expect(r.code).toBe(1);
  });

  it('a consent link outside CONSENT_LINK_HOSTS → consent.link_rejected (what Teams users would see)', async () => {
    const r = await validate('search my issues', {
      env: { CONSENT_LINK_HOSTS: 'consent.azure-apihub.net' },
      onLink: allow,
    });
    const f = validateFindings(r).find((x) => x.cause === 'consent.link_rejected');
    expect(f?.summary).toContain('not_https');
    expect(f?.fix).toContain('CONSENT_LINK_HOSTS');
  });

  it('no consent request when one is expected → consent.not_requested', async () => {
    await grantConsent(emu.url, BOT_MANAGED_IDENTITY_OID, 'github');
    const r = await validate('search my issues', { argv: ['--expect-consent'] });
    expect(causes(r)).toEqual(['consent.not_requested', undefined]);
    expect(validateFindings(r)[0]?.fix).toContain('OAuth identity passthrough');
  });

  it('tool calls blocked by require_approval → tool.approval_required (denied unless --approve)', async () => {
    await grantConsent(emu.url, BOT_MANAGED_IDENTITY_OID, 'github');
    const denied = await validate('create an issue');
    expect(causes(denied)).toEqual(['tool.approval_required', 'tool.not_called']);
    expect(validateFindings(denied)[0]?.fix).toContain('require_approval is "always" (the default)');
    const approved = await validate('create an issue', { argv: ['--approve'] });
    expect(validateFindings(approved).map((f) => f.status)).toEqual(['warn', 'pass']);
  });

  it('consent completes but the tool call fails (user lacks access) → tool.denied_after_consent', async () => {
    await setCauses(emu.url, { toolFailures: [{ server_label: 'github', kind: 'no_access' }] });
    const r = await validate('search my issues', { onLink: allow });
    expect(causes(r)).toContain('tool.denied_after_consent');
    expect(validateFindings(r).find((f) => f.cause === 'tool.denied_after_consent')?.fix).toContain(
      'Azure AI User',
    );
  });

  it('key-based auth fails, or "unauthorized" for a wrong header → tool.unauthorized', async () => {
    for (const kind of ['key_rejected', 'bad_header'] as const) {
      await setCauses(emu.url, { toolFailures: [{ server_label: 'weather', kind }] });
      const r = await validate('weather in Seattle');
      expect(causes(r)).toEqual(['tool.unauthorized']);
      expect(validateFindings(r)[0]?.fix).toContain('header');
    }
  });

  it('Microsoft Entra auth fails for a missing role on the service → tool.entra_forbidden', async () => {
    await setCauses(emu.url, { toolFailures: [{ server_label: 'weather', kind: 'entra_forbidden' }] });
    const r = await validate('weather in Seattle');
    expect(causes(r)).toEqual(['tool.entra_forbidden']);
    expect(validateFindings(r)[0]?.fix).toContain('agent identity or the project managed identity');
  });

  it('OAuth token that stops refreshing (first call works, the next gets 401) → oauth.token_stopped', async () => {
    await setCauses(emu.url, {
      toolFailures: [{ server_label: 'github', kind: 'token_expired', afterCalls: 1 }],
    });
    const r = await validate('search my issues', { onLink: allow });
    expect(causes(r)).toContain('oauth.token_stopped');
    expect(r.code).toBe(1);
  });

  it('no tool called → tool.not_called; Foundry refusing the caller → finding that points at the doctor', async () => {
    expect(causes(await validate('hello'))).toEqual(['tool.not_called']);
    await setCauses(emu.url, { missingRole: [BOT_MANAGED_IDENTITY_OID] });
    const r = await validate('hello');
    expect(validateFindings(r).map((f) => f.cause)).toEqual(['foundry.foundry_forbidden']);
  });

  it('user mode: prints the steps to follow in Teams with a second user', async () => {
    const r = await validate('search my issues', {
      env: {
        FOUNDRY_AUTH: 'user',
        AAD_APP_CLIENT_ID: emu.ssoClient.clientId,
        AAD_APP_CLIENT_SECRET: 'CANARY-sso-5',
        AAD_APP_TENANT_ID: emu.tenantId,
      },
    });
    const steps = validateFindings(r).map((f) => f.summary);
    expect(steps.join('\n')).toMatch(
      /Step 4: user B .* must get B's own sign-in card \(consent is per user\)/,
    );
    expect(r.out).not.toContain('CANARY-sso-5');
  });
});
