/**
 * Summarises a V8 .cpuprofile (`node --cpu-prof`) by self time: the top functions (name, file:line) and the
 * share per package (node_modules/<pkg>, node: internals, the bot's own dist/src, GC, idle).
 * `node dist/bench/profile-summary.js <file.cpuprofile> [top]` prints both.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Share of non-idle time. */
  top: Array<{ name: string; percent: number; ms: number }>;
  packages: Array<{ name: string; percent: number }>;
  idlePercentOfTotal: number;
}

function packageOf(url: string, fn: string): string {
  if (fn === '(garbage collector)') return '(gc)';
  if (fn === '(program)') return '(program)';
  if (url === '') return '(native)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m?.[1]) return m[1];
  if (url.startsWith('node:')) return 'node:' + (url.slice(5).split('/')[1] ?? url.slice(5));
  const own = /dist\/(src\/[^/]+)/.exec(url);
  return own?.[1] ?? url;
}

export function summarizeProfile(file: string, topN = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const fns = new Map<string, number>();
  const pkgs = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    total += us;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    const short = url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/');
    const name = `${functionName || '(anonymous)'} ${short ? `${short}:${lineNumber + 1}` : ''}`.trim();
    fns.set(name, (fns.get(name) ?? 0) + us);
    const pkg = packageOf(url, functionName);
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us);
  }
  const busy = total - idle || 1;
  const sorted = (m: Map<string, number>): Array<[string, number]> => [...m].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: Math.round(total / 1000),
    idlePercentOfTotal: Math.round((idle / (total || 1)) * 1000) / 10,
    top: sorted(fns)
      .slice(0, topN)
      .map(([name, us]) => ({
        name,
        ms: Math.round(us / 1000),
        percent: Math.round((us / busy) * 1000) / 10,
      })),
    packages: sorted(pkgs)
      .slice(0, topN)
      .map(([name, us]) => ({ name, percent: Math.round((us / busy) * 1000) / 10 })),
  };
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: profile-summary <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  const s = summarizeProfile(file, Number(process.argv[3] ?? 25));
  process.stdout.write(`total ${s.totalMs} ms, idle ${s.idlePercentOfTotal} %\n`);
  for (const f of s.top) process.stdout.write(`${f.percent.toFixed(1).padStart(5)} %  ${f.name}\n`);
  process.stdout.write('by package:\n');
  for (const f of s.packages) process.stdout.write(`${f.percent.toFixed(1).padStart(5)} %  ${f.name}\n`);
}
