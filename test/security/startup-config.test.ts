import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * AUTH-08: the real entry point (`node dist/src/index.js`, what `npm start` runs) refuses an unsafe production
 * configuration: it exits ≠ 0 within 2 s, and stderr names the key but never prints the value (canaries).
 * Needs the build (`npm test` runs `npm run build` before jest).
 */
const ENTRY = join(__dirname, '..', '..', 'dist', 'src', 'index.js');
const CANARY = 'CANARY7e1d';

const BASE: Record<string, string> = {
  NODE_ENV: 'production',
  PORT: '0',
  HOST: '127.0.0.1',
  BOT_ID: '22222222-3333-4444-5555-666666666666',
  BOT_PASSWORD: `${CANARY}-password`,
  FOUNDRY_PROJECT_ENDPOINT: 'https://x.services.ai.azure.com/api/projects/p',
  FOUNDRY_AGENT_NAME: 'helpdesk-agent',
  STORAGE: 'blob',
  BLOB_ACCOUNT_URL: 'https://acct.blob.core.windows.net',
};

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  stdout: string;
  stderr: string;
}

function run(env: Record<string, string>): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    // Only the test's variables plus PATH: nothing from the developer's shell leaks into the check.
    const child = spawn(process.execPath, [ENTRY], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, ms: Date.now() - started, stdout, stderr });
    });
  });
}

const timings: Record<string, number> = {};

beforeAll(() => {
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run \`npm run build\` first`);
});
afterAll(() => {
  console.log(`AUTH-08 exit times (ms): ${JSON.stringify(timings)}`);
});

const cases: Array<{ name: string; env: Record<string, string>; key: string; canary: string }> = [
  {
    name: 'empty BOT_ID',
    env: { ...BASE, BOT_ID: '' },
    key: 'BOT_ID',
    canary: CANARY,
  },
  {
    name: 'STORAGE=memory in production',
    env: { ...BASE, STORAGE: 'memory', BLOB_ACCOUNT_URL: `https://${CANARY}.blob.core.windows.net` },
    key: 'STORAGE',
    canary: CANARY,
  },
  {
    name: 'a non-official BOT_OPENID_METADATA_URL in production',
    env: { ...BASE, BOT_OPENID_METADATA_URL: `http://127.0.0.1:9/${CANARY}/openid` },
    key: 'BOT_OPENID_METADATA_URL',
    canary: CANARY,
  },
  {
    name: 'CONSENT_LINK_HOSTS with a loopback host and port',
    env: { ...BASE, CONSENT_LINK_HOSTS: `localhost:8443,${CANARY}.example:9443` },
    key: 'CONSENT_LINK_HOSTS',
    canary: CANARY,
  },
  {
    name: 'CONSENT_LINK_HOSTS with a URL (http://…) instead of a host',
    env: { ...BASE, CONSENT_LINK_HOSTS: `http://${CANARY}.example` },
    key: 'CONSENT_LINK_HOSTS',
    canary: CANARY,
  },
  {
    name: 'BOT_ID that is not a GUID',
    env: { ...BASE, BOT_ID: `${CANARY}-not-a-guid` },
    key: 'BOT_ID',
    canary: CANARY,
  },
];

describe('AUTH-08 start-up refuses unsafe production configuration', () => {
  it.each(cases)('AUTH-08: $name → exit ≠ 0 within 2 s; stderr names $key, never the value', async (c) => {
    const r = await run(c.env);
    timings[c.name] = r.ms;
    expect(r.signal).toBeNull();
    expect(r.code).not.toBe(0);
    expect(r.ms).toBeLessThan(2000);
    expect(r.stderr).toContain(c.key);
    expect(r.stderr).not.toContain(c.canary);
    expect(r.stdout).not.toContain(c.canary);
    expect(r.stdout).not.toContain('bot.listening');
  });

  it('AUTH-08: every problem is reported at once, each by key', async () => {
    const r = await run({
      ...BASE,
      BOT_ID: '',
      STORAGE: 'memory',
      BOT_OPENID_METADATA_URL: `https://${CANARY}.example/openid`,
      CONSENT_LINK_HOSTS: '127.0.0.1',
    });
    expect(r.code).toBe(1);
    for (const key of ['BOT_ID', 'STORAGE', 'BOT_OPENID_METADATA_URL', 'CONSENT_LINK_HOSTS'])
      expect(r.stderr).toContain(key);
    expect(r.stderr).not.toContain(CANARY);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
