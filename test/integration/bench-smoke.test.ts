import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Smoke run of the benchmark (issue 15): `node dist/bench/run.js` with BENCH_SMOKE=1 (a few seconds, loopback
 * only; `npm test` builds dist first). No timing assertions: the run must produce every figure of the issue's
 * table, each from real turns.
 */
const RUN = join(__dirname, '..', '..', 'dist', 'bench', 'run.js');

interface Summary {
  n: number;
  p50: number;
  p99: number;
}

it('npm run bench (smoke) reports every figure', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  const out = join(dir, 'results.json');
  try {
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [RUN], {
        env: { ...process.env, BENCH_SMOKE: '1', BENCH_OUT: out },
        stdio: 'ignore',
      });
      child.once('exit', resolve);
    });
    expect(code).toBe(0);
    const r = JSON.parse(readFileSync(out, 'utf8')) as {
      figures: Record<string, unknown> & {
        throughput: Record<string, number>;
        rssMiB: { start: number; afterRuns: number[]; afterIdle: number; conversations: number };
      };
      scenarios: Array<{ errors: number }>;
    };
    for (const k of ['firstTextSlowAgentMs', 'firstTextFastAgentMs', 'final20ChatsMs']) {
      const s = r.figures[k] as Summary;
      expect(s.n).toBeGreaterThan(0);
      expect(Number.isFinite(s.p50) && Number.isFinite(s.p99)).toBe(true);
    }
    const tp = r.figures.throughput;
    for (const k of ['relayTurnsPerSecond', 'echoTurnsPerSecond', 'ratio']) expect(tp[k]).toBeGreaterThan(0);
    const rss = r.figures.rssMiB;
    expect(rss.start).toBeGreaterThan(0);
    expect(rss.afterRuns.length).toBeGreaterThanOrEqual(2);
    expect(rss.afterIdle).toBeGreaterThan(0);
    expect(rss.conversations).toBeGreaterThan(0);
    expect(r.scenarios.every((s) => s.errors === 0)).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
