import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { defaultScenarioPath, loadScenarioFile, parseScenario, ScenarioError } from '../../emulator/scenario';
import { grantConsent, loadScenario, postResponse } from '../../emulator/test-client';
import { AGENT, ALICE, outputOfType, streamTurn, terminal, useEmulator } from './emulator-helpers';

// Scenario format (docs/foundry-wire.md §8.3), its validation, and the CLI entry.

const ROOT = resolve(__dirname, '..', '..');

const emu = useEmulator();

describe('scenario loading', () => {
  it('finds the default scenario from emulator/ and from dist/emulator/', () => {
    const expected = join(ROOT, 'emulator', 'scenarios', 'default.json');
    expect(defaultScenarioPath(join(ROOT, 'emulator'))).toBe(expected);
    expect(defaultScenarioPath(join(ROOT, 'dist', 'emulator'))).toBe(expected);
    const s = loadScenarioFile(expected);
    expect(Object.keys(s.agents)).toEqual(['helpdesk-agent']);
    expect(s.agents['helpdesk-agent']?.version).toBe('1');
  });

  it('fails a bad scenario file with a message naming each problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'emu-scenario-'));
    try {
      const file = join(dir, 'bad.json');
      writeFileSync(
        file,
        JSON.stringify({
          agents: {
            a: {
              mcp: [{ server_label: 'gh', tools: [{ name: 't' }] }],
              rules: [
                { when: 'x', call: { server_label: 'nope', name: 't' } },
                { when: { regex: '(' }, text: 'y' },
              ],
            },
          },
        }),
      );
      expect(() => loadScenarioFile(file)).toThrow(ScenarioError);
      expect(() => loadScenarioFile(file)).toThrow(/agents\.a\.rules\.0: unknown MCP server 'nope'/);
      expect(() => loadScenarioFile(file)).toThrow(/invalid regex/);
      writeFileSync(file, '{oops');
      expect(() => loadScenarioFile(file)).toThrow(/is not JSON/);
      expect(() => loadScenarioFile(join(dir, 'missing.json'))).toThrow(/Cannot read scenario file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a rule with no or two actions', () => {
    expect(() => parseScenario({ agents: { a: { rules: [{ when: 'x' }] } } })).toThrow(/exactly one of/);
    expect(() => parseScenario({ agents: { a: { rules: [{ text: 'a', default_text: 'b' }] } } })).toThrow(
      /exactly one of/,
    );
  });

  it('rejects a bad scenario on the control endpoint with 400 and keeps the old one', async () => {
    const res = await fetch(`${emu.url}/__emulator/scenario`, { method: 'POST', body: '{"agents":{}}' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      ok: false,
      error: expect.stringContaining('at least one agent'),
    });
    const ok = await postResponse(emu.projectEndpoint, emu.issueToken({ oid: ALICE }), {
      agent_reference: AGENT,
      input: 'hello',
    });
    expect(ok.status).toBe(200);
  });
});

describe('scenario semantics', () => {
  beforeEach(async () => {
    await loadScenario(emu.url, {
      settings: { consentTerminal: 'completed' },
      agents: {
        'helpdesk-agent': {
          version: '7',
          mcp: [
            {
              server_label: 'typed',
              require_approval: { always: { tool_names: ['write'] }, never: { tool_names: ['read'] } },
              tools: [{ name: 'read', output: 'r' }, { name: 'write' }, { name: 'other' }],
            },
            {
              server_label: 'shorthand',
              auth: 'oauth_passthrough',
              require_approval: { never: ['peek'] },
              tools: [{ name: 'peek', output: { ok: 1 } }],
            },
          ],
          rules: [
            {
              when: { regex: '^read\\b' },
              call: { server_label: 'typed', name: 'read' },
              then_text: 'read done',
            },
            {
              when: 'write',
              call: { server_label: 'typed', name: 'write', arguments: '{"a":1}' },
              then_text: 'w',
            },
            { when: 'other', call: { server_label: 'typed', name: 'other' }, then_text: 'o' },
            {
              when: 'peek',
              call: { server_label: 'shorthand', name: 'peek' },
              then_text: 'peeked',
              settings: { consentTerminal: 'incomplete' },
            },
            { default_text: 'Default: {input}' },
          ],
        },
      },
    });
  });

  it('accepts both require_approval filter forms; a tool in neither list needs approval', async () => {
    const read = terminal(await streamTurn(emu, ALICE, { input: 'read it' }));
    expect(outputOfType(read, 'mcp_call')[0]).toMatchObject({ name: 'read', output: 'r' });
    const notRead = terminal(await streamTurn(emu, ALICE, { input: 'please read it' }));
    expect(outputOfType(notRead, 'mcp_call')).toHaveLength(0); // regex anchored: default rule
    const write = terminal(await streamTurn(emu, ALICE, { input: 'write it' }));
    expect(outputOfType(write, 'mcp_approval_request')[0]).toMatchObject({
      name: 'write',
      arguments: '{"a":1}',
    });
    const other = terminal(await streamTurn(emu, ALICE, { input: 'other' }));
    expect(outputOfType(other, 'mcp_approval_request')).toHaveLength(1);
    expect(read.agent_reference).toMatchObject({ version: '7' });
  });

  it('layers settings: scenario, then rule', async () => {
    const peek = await streamTurn(emu, ALICE, { input: 'peek' });
    expect(peek.at(-1)?.type).toBe('response.incomplete');
    await grantConsent(emu.url, ALICE, 'shorthand');
    const after = terminal(await streamTurn(emu, ALICE, { input: 'peek' }));
    expect(outputOfType(after, 'mcp_call')[0]).toMatchObject({ output: '{"ok":1}' });
  });
});

describe('CLI (emulator/main.ts)', () => {
  it('prints the listening line, serves requests and exits 0 on SIGTERM', async () => {
    // Lay out a throw-away copy like the build output (<root>/package.json, <root>/dist/emulator/*.js) so the
    // walk-up lookups (default scenario, test certificates) run as they do from dist; no full build needed.
    const out = mkdtempSync(join(tmpdir(), 'emu-cli-'));
    try {
      const src = join(ROOT, 'emulator');
      const dist = join(out, 'dist', 'emulator');
      mkdirSync(dist, { recursive: true });
      mkdirSync(join(out, 'emulator'));
      writeFileSync(join(out, 'package.json'), '{}');
      for (const d of ['scenarios', 'certs']) {
        if (existsSync(join(src, d))) symlinkSync(join(src, d), join(out, 'emulator', d));
      }
      for (const f of readdirSync(src).filter((n) => n.endsWith('.ts'))) {
        const js = ts.transpileModule(readFileSync(join(src, f), 'utf8'), {
          compilerOptions: {
            module: ts.ModuleKind.CommonJS,
            target: ts.ScriptTarget.ES2022,
            esModuleInterop: true,
          },
        }).outputText;
        writeFileSync(join(dist, f.replace(/\.ts$/, '.js')), js);
      }
      const child = spawn(process.execPath, [join(dist, 'main.js')], {
        env: {
          PATH: process.env['PATH'] ?? '',
          NODE_PATH: join(ROOT, 'node_modules'),
          EMULATOR_PORT: '0',
          EMULATOR_TENANT_ID: '33333333-3333-3333-3333-333333333333',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const line = await new Promise<string>((res, rej) => {
        let buf = '';
        child.stdout.on('data', (c: Buffer) => {
          buf += c.toString();
          const l = buf.split('\n').find((x) => x.startsWith('Foundry emulator listening on'));
          if (l) res(l);
        });
        child.stderr.on('data', (c: Buffer) => rej(new Error(c.toString())));
        setTimeout(() => rej(new Error(`no listening line: ${buf}`)), 10_000).unref();
      });
      expect(line).toMatch(
        /^Foundry emulator listening on http:\/\/127\.0\.0\.1:\d+ \(project endpoint: http:\/\/127\.0\.0\.1:\d+\/api\/projects\/demo, identity endpoint: http:\/\/127\.0\.0\.1:\d+\/msi\/token, identity header: [0-9a-f]+\)$/,
      );
      const url = /listening on (\S+)/.exec(line)?.[1] ?? '';
      const health = (await (await fetch(`${url}/__emulator/health`)).json()) as { tenantId: string };
      expect(health.tenantId).toBe('33333333-3333-3333-3333-333333333333');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
