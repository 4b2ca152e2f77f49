/**
 * REST throughput, Pulse against the naive baseline in one run (bench/baseline/naive-comments.ts:
 * Fastify + better-sqlite3 or pg, no auth, no validation):
 *
 *   write  POST /api/v1/threads/:id/comments  Pulse: Bearer sk_ authentication, schema validation,
 *          the comment, its notifications and activity, broadcast to the room (none connected)
 *   read   GET  /api/v1/threads/:id            a thread of 20 comments
 *
 * C keep-alive connections (an http.Agent loop in this process, pinned to core 1; each server a
 * child process on core 0), each sending its next request as soon as the previous one is
 * answered, for `--warmup` s (not counted) then `--seconds` s. Reported: requests/s, p50/p99,
 * non-2xx answers, server CPU per request, and Pulse ÷ naive (targets: write ≥ 0.5×, read ≥ 0.8×).
 *
 *   npx tsx bench/rest-comments.ts [--driver sqlite|postgres] [--seconds 5] [--warmup 1]
 *                                  [--concurrency 32] [--server pulse,naive] [--quiet-wait 30] [--json]
 *
 * --driver postgres: both servers on PostgreSQL at 127.0.0.1:5432/test (PULSE_BENCH_PG_URL), each
 * in a fresh schema dropped at the end.
 */
import { parseArgs } from 'node:util';
import {
  boundRun,
  type Driver,
  fmt,
  GeneratorProbe,
  hasTaskset,
  httpRequest,
  keepAliveAgent,
  LatencyHistogram,
  NEIGHBOUR_WARN_PCT,
  NeighbourProbe,
  pinSelf,
  processCpuMicros,
  runCleanups,
  startComments,
  table,
  waitForQuiet,
} from './lib.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '32' },
    driver: { type: 'string', default: 'sqlite' },
    server: { type: 'string', default: 'pulse,naive' },
    'quiet-wait': { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const CONCURRENCY = Number(values.concurrency);
const DRIVER = values.driver as Driver;
if (DRIVER !== 'sqlite' && DRIVER !== 'postgres') throw new Error(`--driver must be sqlite or postgres, got ${values.driver}`);
const SERVERS = values.server.split(',') as Array<'pulse' | 'naive'>;
const READ_THREADS = 16;
const COMMENTS_PER_READ_THREAD = 20;
const TARGETS = { write: 0.5, read: 0.8 };

pinSelf();
boundRun(10);

interface PhaseResult {
  server: string;
  phase: 'write' | 'read';
  reqPerS: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: Record<string, number>;
  serverCpuPct: number;
  cpuUsPerReq: number;
  genCpuPct: number;
  neighbourPct: number;
}

type Send = (worker: number, n: number) => Promise<{ status: number; body: Buffer }>;

/** C closed-loop workers for warmup + seconds; only requests started after the warm-up count. */
async function closedLoop(serverPid: number, send: Send): Promise<Omit<PhaseResult, 'server' | 'phase'>> {
  const hist = new LatencyHistogram();
  const non2xx: Record<string, number> = {};
  const t0 = performance.now();
  const measureFrom = t0 + WARMUP * 1000;
  const until = measureFrom + SECONDS * 1000;
  let cpu0 = 0;
  let cpu1 = 0;
  const probe = new GeneratorProbe();
  const neighbours = new NeighbourProbe(serverPid);
  let gen = { cpuPct: NaN };
  let neighbourPct = NaN;
  // The window's edges: by timer, or at once after the loop if a timer has not fired yet.
  let started = false;
  let stopped = false;
  const begin = () => {
    if (started) return;
    started = true;
    cpu0 = processCpuMicros(serverPid);
    probe.start();
    neighbours.start();
  };
  const end = () => {
    if (stopped) return;
    stopped = true;
    cpu1 = processCpuMicros(serverPid);
    gen = probe.stop();
    neighbourPct = neighbours.stop();
  };
  const startTimer = setTimeout(begin, Math.max(0, measureFrom - performance.now()));
  const stopTimer = setTimeout(end, Math.max(0, until - performance.now()));
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let n = 0; ; n++) {
        const start = performance.now();
        if (start >= until) return;
        let status: number | string;
        try {
          status = (await send(w, n)).status;
        } catch (err) {
          status = (err as Error).message;
        }
        const done = performance.now();
        if (start < measureFrom || done > until) continue;
        if (typeof status === 'number' && status >= 200 && status < 300) hist.record(done - start);
        else non2xx[String(status)] = (non2xx[String(status)] ?? 0) + 1;
      }
    }),
  );
  clearTimeout(startTimer);
  clearTimeout(stopTimer);
  begin();
  end();
  const cpuUs = cpu1 - cpu0;
  return {
    reqPerS: hist.count / SECONDS,
    p50: hist.percentile(50),
    p99: hist.percentile(99),
    max: hist.max,
    non2xx,
    serverCpuPct: cpuUs / 1e4 / SECONDS,
    cpuUsPerReq: cpuUs / Math.max(1, hist.count),
    genCpuPct: gen.cpuPct,
    neighbourPct,
  };
}

async function run(kind: 'pulse' | 'naive'): Promise<PhaseResult[]> {
  const quiet = await waitForQuiet(Number(values['quiet-wait']) * 1000);
  if (quiet >= 10) console.warn(`  (the machine is still busy: ${fmt(quiet, 0)}% of a core used by other processes; running anyway)`);
  const server = await startComments(kind, DRIVER);
  const agent = keepAliveAgent(CONCURRENCY);
  try {
    const url = new URL(server.url);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(server.sk ? { authorization: `Bearer ${server.sk}` } : {}) };
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await httpRequest(agent, url, method, path, headers, body === undefined ? undefined : JSON.stringify(body));
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.body}`);
      return JSON.parse(r.body.toString()) as any;
    };
    if (kind === 'pulse') {
      await call('PUT', '/api/v1/users/bench', { name: 'Bench' });
      for (let k = 0; k < 5; k++) await call('PUT', `/api/v1/users/reader-${k}`, { name: `Reader ${k}` });
    }
    const newThread = async (i: number) =>
      (await call('POST', `/api/v1/rooms/rest-bench-${i % 8}/threads`, { userId: 'bench', body: 'A thread to comment on' })).thread.id as string;

    // Read set first (the write phase must not grow these threads): 16 threads of 20 comments.
    const readThreads: string[] = [];
    for (let i = 0; i < READ_THREADS; i++) {
      const id = await newThread(i);
      readThreads.push(id);
      for (let k = 1; k < COMMENTS_PER_READ_THREAD; k++) {
        await call('POST', `/api/v1/threads/${id}/comments`, { userId: `reader-${k % 5}`, body: `Comment ${k} with a realistic amount of text in it, about one sentence long.` });
      }
    }
    const check = await call('GET', `/api/v1/threads/${readThreads[0]}`);
    if (check.comments?.length !== COMMENTS_PER_READ_THREAD) throw new Error(`${kind}: GET thread returned ${check.comments?.length} comments, expected ${COMMENTS_PER_READ_THREAD}`);
    const writeThreads: string[] = [];
    for (let i = 0; i < CONCURRENCY; i++) writeThreads.push(await newThread(i));

    const write = await closedLoop(server.pid, (w, n) =>
      httpRequest(
        agent,
        url,
        'POST',
        `/api/v1/threads/${writeThreads[w]}/comments`,
        headers,
        JSON.stringify({ userId: 'bench', body: `Comment ${w}-${n} with a realistic amount of text in it, about one sentence long.` }),
      ),
    );
    const read = await closedLoop(server.pid, (w, n) => httpRequest(agent, url, 'GET', `/api/v1/threads/${readThreads[(w + n) % READ_THREADS]}`, headers));
    return [
      { server: kind, phase: 'write', ...write },
      { server: kind, phase: 'read', ...read },
    ];
  } finally {
    agent.destroy();
    await server.stopAndClean();
  }
}

console.log(
  `REST (${DRIVER}): ${CONCURRENCY} keep-alive connections, ${WARMUP}s warm-up + ${SECONDS}s per phase; ` +
    `write = POST /api/v1/threads/:id/comments, read = GET /api/v1/threads/:id (${COMMENTS_PER_READ_THREAD} comments); ` +
    `server on core 0, generator on core 1 (taskset: ${hasTaskset}); node ${process.version}`,
);
const results: PhaseResult[] = [];
try {
  for (const kind of SERVERS) {
    const rs = await run(kind);
    results.push(...rs);
    for (const r of rs) {
      console.log(
        `  ${kind.padEnd(5)} ${r.phase.padEnd(5)}: ${fmt(r.reqPerS, 0)} req/s, p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms, ` +
          `server CPU ${fmt(r.serverCpuPct, 0)}% (${fmt(r.cpuUsPerReq, 0)} µs/req), generator CPU ${fmt(r.genCpuPct, 0)}%, neighbours ${fmt(r.neighbourPct, 0)}%` +
          (Object.keys(r.non2xx).length ? `, non-2xx ${JSON.stringify(r.non2xx)}` : '') +
          (r.neighbourPct > NEIGHBOUR_WARN_PCT ? '  ⚠ other processes used CPU during this run' : ''),
      );
    }
  }
} finally {
  await runCleanups();
}

console.log('');
console.log(
  table(
    ['server', 'phase', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'non-2xx', 'srv CPU%', 'µs CPU/req', 'gen CPU%', 'other%'],
    results.map((r) => [
      r.server,
      r.phase,
      fmt(r.reqPerS, 0),
      fmt(r.p50, 2),
      fmt(r.p99, 2),
      fmt(r.max, 1),
      String(Object.values(r.non2xx).reduce((a, b) => a + b, 0)),
      fmt(r.serverCpuPct, 0),
      fmt(r.cpuUsPerReq, 0),
      fmt(r.genCpuPct, 0),
      fmt(r.neighbourPct, 0) + (r.neighbourPct > NEIGHBOUR_WARN_PCT ? ' ⚠' : ''),
    ]),
  ),
);
if (SERVERS.includes('pulse') && SERVERS.includes('naive')) {
  console.log('');
  for (const phase of ['write', 'read'] as const) {
    const p = results.find((r) => r.server === 'pulse' && r.phase === phase)!;
    const n = results.find((r) => r.server === 'naive' && r.phase === phase)!;
    const ratio = p.reqPerS / n.reqPerS;
    console.log(
      `${phase}: Pulse/naive req/s ${fmt(ratio, 2)}× (target ≥ ${TARGETS[phase]}×: ${ratio >= TARGETS[phase] ? 'met' : 'NOT met'}), ` +
        `p99 ${fmt(p.p99 / n.p99, 2)}×, server CPU per request ${fmt(p.cpuUsPerReq / n.cpuUsPerReq, 2)}×`,
    );
  }
}
if (values.json) console.log(JSON.stringify(results));
