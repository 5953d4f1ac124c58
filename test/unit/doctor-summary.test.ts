/** Issue 13: the admin `/status` carries the doctor's short summary (src/ops/doctor/summary.ts). */
import type { AccessToken } from '@azure/identity';
import { loadConfig } from '../../src/config/config';
import { fail, pass, warn, type Finding } from '../../src/ops/doctor/report';
import { doctorSummary } from '../../src/ops/doctor/summary';

const SECRET = 'canary-client-secret-7f3a';
const config = loadConfig({
  NODE_ENV: 'development',
  FOUNDRY_PROJECT_ENDPOINT: 'http://127.0.0.1:5000/api/projects/demo',
  FOUNDRY_AGENT_NAME: 'helpdesk-agent',
  FOUNDRY_CREDENTIAL: 'client_secret',
  AZURE_CLIENT_ID: '00000000-0000-0000-0000-0000000000c1',
  AZURE_TENANT_ID: '00000000-0000-0000-0000-0000000000a1',
  AZURE_CLIENT_SECRET: SECRET,
});
const credential = { getToken: (): Promise<AccessToken | null> => Promise.resolve(null) };

const findings: Finding[] = [
  pass('foundry-token', 'token from ClientSecretCredential'),
  warn(
    'agent',
    'tool.approval_required',
    'calls of github create_issue stop for approval',
    'Set require_approval.',
  ),
  fail('storage', 'storage.unreachable', `probe failed with key ${SECRET}`, 'Check BLOB_ACCOUNT_URL.'),
];

describe('doctor summary in the admin /status', () => {
  test('counts the findings and lists each WARN and FAIL with its fix', async () => {
    const lines = await doctorSummary({ config, credential, check: () => Promise.resolve(findings) })();
    expect(lines[0]).toMatch(/^Doctor: 1 passed, 1 warning\(s\), 1 failed/);
    expect(lines).toContain(
      'WARN agent: calls of github create_issue stop for approval Fix: Set require_approval.',
    );
    expect(
      lines.some((l) => l.startsWith('FAIL storage:') && l.includes('Fix: Check BLOB_ACCOUNT_URL.')),
    ).toBe(true);
    expect(lines.some((l) => l.includes('foundry-token'))).toBe(false);
  });

  test('never shows a configured secret', async () => {
    const lines = await doctorSummary({ config, credential, check: () => Promise.resolve(findings) })();
    expect(lines.join('\n')).not.toContain(SECRET);
  });

  test('runs the checks at most once per five minutes, and once for concurrent callers', async () => {
    const clock = { now: 1_000_000 };
    let runs = 0;
    const summary = doctorSummary({
      config,
      credential,
      clock: () => clock.now,
      check: () => {
        runs += 1;
        return Promise.resolve(findings);
      },
    });
    await Promise.all([summary(), summary(), summary()]);
    expect(runs).toBe(1);
    clock.now += 4 * 60_000;
    expect((await summary())[0]).toContain('checked 240 s ago');
    expect(runs).toBe(1);
    clock.now += 2 * 60_000;
    await summary();
    expect(runs).toBe(2);
  });
});
