/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. the benchmarks' --cpu-prof DIR):
 * self time per function and per file/package, heaviest first.
 *
 *   npx tsx bench/profile-top.ts FILE.cpuprofile [--top 30] [--window FROM,TO] [--focus NAME --under PATH]
 *
 * --window FROM,TO   only samples between FROM and TO seconds after the profile started
 * --focus NAME       also attribute the self time of functions named NAME (e.g. executeQuery) to
 *                    their nearest caller whose file path contains --under (default src/store)
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '30' },
    window: { type: 'string' },
    focus: { type: 'string' },
    under: { type: 'string', default: 'src/store' },
  },
});
const [FROM, TO] = values.window ? values.window.split(',').map((x) => Number(x) * 1e6) : [0, Infinity];
const TOP = Number(values.top);

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < FROM! || t > TO!) continue;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const where = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const short = url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, 'node_modules/').replace(/.*\/packages\//, 'packages/');
    const key = `${functionName || '(anonymous)'}  ${short ? `${short}:${lineNumber + 1}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const group = !short
      ? functionName.startsWith('(') ? functionName : '(native/builtin)'
      : short.startsWith('node_modules/')
        ? short.split('/').slice(0, short.startsWith('node_modules/@') ? 3 : 2).join('/')
        : short.startsWith('node:')
          ? short
          : short.split('/').slice(0, 4).join('/');
    where.set(group, (where.get(group) ?? 0) + us);
  }
  const pct = (us: number) => ((us / total) * 100).toFixed(1).padStart(5) + '%';
  console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled over ${((p.endTime - p.startTime) / 1e6).toFixed(2)} s`);
  console.log('\nself time by file / package:');
  for (const [k, us] of [...where].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`  ${pct(us)}  ${k}`);
  console.log('\nself time by function:');
  for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`  ${pct(us)}  ${k}`);
  if (values.focus) {
    const callers = new Map<string, number>();
    let focused = 0;
    for (const [id, us] of self) {
      if (byId.get(id)!.callFrame.functionName !== values.focus) continue;
      focused += us;
      let up = parent.get(id);
      while (up !== undefined && !byId.get(up)!.callFrame.url.includes(values.under)) up = parent.get(up);
      const f = up === undefined ? undefined : byId.get(up)!.callFrame;
      const key = f ? `${f.functionName || '(anonymous)'}  ${f.url.replace(/.*\/packages\//, 'packages/')}:${f.lineNumber + 1}` : '(no caller under ' + values.under + ')';
      callers.set(key, (callers.get(key) ?? 0) + us);
    }
    console.log(`\nself time of ${values.focus} (${pct(focused)} of all) by nearest caller under ${values.under}:`);
    for (const [k, us] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`  ${pct(us)}  ${k}`);
  }
  console.log('');
}
