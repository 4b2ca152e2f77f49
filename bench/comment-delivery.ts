/**
 * Comment post → delivery latency over WebSocket. 1,000 sockets in 50 rooms (20 per room), each
 * authenticated as its own user; one thread per room, created by the room's first poster. Then
 * comments are posted open-loop at a fixed rate (round-robin across rooms) with `comment:create`,
 * and latency is measured from the send to the `comment:created` event at each of the other 19
 * sockets of the room (the send time, performance.now() of this process, rides in the body).
 *
 * Posters: per-connection durable messages are limited to 10/s, so each room gets
 * ceil(max(50, ceil(rate/8)) / 50) posting sockets (1 at 200/s, 2 at 500/s, 5 at 2000/s), each
 * posting at most 8/s. Pulse runs in a child process pinned to core 0 (this generator: core 1);
 * so does the baseline, bench/baseline/naive-comments.ts (Fastify + better-sqlite3 + ws, no
 * auth), driven by the same generator, so the ratio is printed.
 *
 *   npx tsx bench/comment-delivery.ts [--rate 500,1000,2000,3000,4000] [--full] [--driver sqlite|postgres]
 *                                     [--seconds 10] [--warmup 2] [--rooms 50] [--per-room 20]
 *                                     [--server pulse,naive] [--retry-noisy 2] [--quiet-wait 60]
 *                                     [--cpu-prof DIR] [--json]
 *
 * The rates form a ladder: a server "holds" a rate when delivery p99 ≤ 50 ms, nothing is lost and
 * nothing is refused; a server is not tried above the first rate it fails (--full tries them all).
 * Lost = acked but not delivered to every other socket of the room, or sent and never answered.
 * Refused = answered with an error (rate_limited, service_unavailable, …), reported by code.
 * Printed: p99 at the first rate (500/s) and the largest rate held, Pulse and naive, as ratios.
 * --driver postgres runs both servers on PostgreSQL at 127.0.0.1:5432/test (PULSE_BENCH_PG_URL),
 *   each in a fresh schema dropped at the end (Pulse: PULSE_DB_SCHEMA; target: holds ≥ 1,000/s).
 *
 * --retry-noisy K runs a measurement again (up to K times) when other processes on the machine
 *   used more than 15% of a core during it (column other%).
 * Profiling aids for the server child: BENCH_SERVER_NODE_FLAGS="--import ./bench/tools/sql-timing.mjs
 *   --import ./bench/tools/loop-lag.mjs" with SQL_TIMING_OUT=FILE / LOOP_LAG_OUT=FILE (see bench/README.md).
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import {
  boundRun,
  type Driver,
  fmt,
  GeneratorProbe,
  generatorSaturated,
  hasTaskset,
  LatencyHistogram,
  mintTokens,
  NEIGHBOUR_WARN_PCT,
  NeighbourProbe,
  numEnd,
  pinSelf,
  pool,
  processCpuMicros,
  readNumber,
  runCleanups,
  sleep,
  startComments,
  runQuietly,
  table,
  waitForQuiet,
} from './lib.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '500,1000,2000,3000,4000' },
    full: { type: 'boolean', default: false },
    driver: { type: 'string', default: 'sqlite' },
    'quiet-wait': { type: 'string', default: '60' },
    'p99-limit': { type: 'string', default: '50' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rooms: { type: 'string', default: '50' },
    'per-room': { type: 'string', default: '20' },
    server: { type: 'string', default: 'pulse,naive' },
    'retry-noisy': { type: 'string', default: '2' },
    'cpu-prof': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const RATES = values.rate.split(',').map(Number);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const ROOMS = Number(values.rooms);
const PER_ROOM = Number(values['per-room']);
const SOCKETS = ROOMS * PER_ROOM;
const RETRY_NOISY = Number(values['retry-noisy']);
const SERVERS = values.server.split(',') as Array<'pulse' | 'naive'>;
const PER_POSTER_MAX = 8;
const DRAIN_MS = 5000;
const DRIVER = values.driver as Driver;
if (DRIVER !== 'sqlite' && DRIVER !== 'postgres') throw new Error(`--driver must be sqlite or postgres, got ${values.driver}`);
const QUIET_WAIT_MS = Number(values['quiet-wait']) * 1000;
const P99_LIMIT_MS = Number(values['p99-limit']);
/** Errors that are the server saying no (explicit back-pressure), not failures. */
const REFUSALS = new Set(['rate_limited', 'service_unavailable']);

pinSelf();
boundRun(60);

const COMMENT_CREATED = Buffer.from('{"type":"comment:created"');
const ACK = Buffer.from('{"type":"ack"');
const ERROR = Buffer.from('{"type":"error"');
const MARK = Buffer.from('bench~');
const REF = Buffer.from('"ref":"c');
const startsWith = (data: Buffer, prefix: Buffer) => data.length >= prefix.length && prefix.compare(data, 0, prefix.length) === 0;

interface Result {
  server: string;
  rate: number;
  posters: number;
  achievedPerS: number;
  ackedPerS: number;
  delivered: number;
  expected: number;
  p50: number;
  p99: number;
  max: number;
  ackP50: number;
  ackP99: number;
  serverCpuPct: number;
  cpuUsPerComment: number;
  genCpuPct: number;
  genLagP99: number;
  saturated: boolean;
  neighbourPct: number;
  errors: Record<string, number>;
  errorCount: number;
  /** Comments answered with an error, by code (whole run). */
  refused: Record<string, number>;
  refusedCount: number;
  /** Acked but missing at one or more of the room's other sockets. */
  lostUndelivered: number;
  /** Sent, never acked nor refused within the drain. */
  lostUnanswered: number;
  lost: number;
  holds: boolean;
}

async function run(kind: 'pulse' | 'naive', rate: number): Promise<Result> {
  const quiet = await waitForQuiet(QUIET_WAIT_MS);
  if (quiet >= 10) console.warn(`  (the machine is still busy: ${fmt(quiet, 0)}% of a core used by other processes; running anyway)`);
  const nodeFlags = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`, `--cpu-prof-name=comments-${kind}-${rate}.cpuprofile`] : undefined;
  const server = await startComments(kind, DRIVER, nodeFlags ? { nodeFlags } : {});
  try {
    return await measure(kind, rate, server);
  } finally {
    await server.stopAndClean();
  }
}

async function measure(kind: 'pulse' | 'naive', rate: number, server: Awaited<ReturnType<typeof startComments>>): Promise<Result> {
  const wsUrl = server.url.replace(/^http/, 'ws') + '/';
  const perRoomPosters = Math.min(PER_ROOM, Math.ceil(Math.max(ROOMS, Math.ceil(rate / PER_POSTER_MAX)) / ROOMS));
  const roomOf = (i: number) => `comments-bench-${Math.floor(i / PER_ROOM)}`;
  const posterOf = (room: number, k: number) => room * PER_ROOM + k;

  const total = Math.round(rate * (WARMUP + SECONDS));
  const firstMeasured = Math.round(rate * WARMUP);
  const sendAt = new Float64Array(total);
  // Per comment: deliveries seen at the other sockets, and 1 = acked, 2 = answered with an error.
  const deliveredTo = new Uint16Array(total);
  const answer = new Uint8Array(total);
  const refused: Record<string, number> = {};
  let measureFrom = Infinity; // send time of the first measured comment
  const hist = new LatencyHistogram();
  const ackHist = new LatencyHistogram();
  let deliveredAll = 0;
  let delivered = 0;
  let acked = 0;
  let ackedMeasured = 0;
  let failed = 0;
  let stopping = false;
  const errors: Record<string, number> = {};
  const bump = (code: string) => (errors[code] = (errors[code] ?? 0) + 1);
  const sockets: WebSocket[] = [];
  const threadAcks = new Map<number, () => void>();

  const tokens = kind === 'pulse' ? await mintTokens(server.url, server.sk!, Array.from({ length: SOCKETS }, (_, i) => `commenter-${i}`)) : [];

  const onMessage = (self: number) => (data: Buffer) => {
    if (startsWith(data, COMMENT_CREATED)) {
      const now = performance.now();
      const p = data.indexOf(MARK);
      if (p === -1) return;
      const from = readNumber(data, p + MARK.length);
      const sentAt = readNumber(data, numEnd + 1);
      const j = readNumber(data, numEnd + 1);
      if (from === self) return;
      deliveredAll++;
      if (j < total) deliveredTo[j]!++;
      if (sentAt >= measureFrom - 0.0005) {
        delivered++;
        hist.record(now - sentAt);
      }
    } else if (startsWith(data, ACK)) {
      const p = data.indexOf(REF);
      if (p === -1) {
        // thread:create acks carry ref "t<room>"
        const t = /"ref":"t(\d+)"/.exec(data.toString());
        if (t) threadAcks.get(Number(t[1]))?.();
        return;
      }
      const j = readNumber(data, p + REF.length);
      if (answer[j]) return;
      answer[j] = 1;
      acked++;
      if (j >= firstMeasured) {
        ackedMeasured++;
        ackHist.record(performance.now() - sendAt[j]!);
      }
    } else if (startsWith(data, ERROR)) {
      const e = JSON.parse(data.toString()) as { code: string; ref?: string };
      if (e.ref?.startsWith('c')) {
        const j = Number(e.ref.slice(1));
        if (answer[j]) return;
        answer[j] = 2;
        failed++;
        if (REFUSALS.has(e.code)) refused[e.code] = (refused[e.code] ?? 0) + 1;
        else bump(e.code);
      } else bump(e.code);
    }
  };

  // Connect and authenticate all sockets, 50 at a time.
  await pool(SOCKETS, 50, async (i) => {
    const ws = new WebSocket(wsUrl, { perMessageDeflate: false, skipUTF8Validation: true });
    sockets[i] = ws;
    ws.on('error', () => bump('socket_error'));
    ws.on('close', (code) => {
      if (!stopping) bump(`closed_${code}`);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => {
        ws.send(JSON.stringify({ type: 'auth', apiKey: server.pk ?? '', token: tokens[i] ?? '', room: roomOf(i) }));
        const onAuth = (data: Buffer) => {
          const s = data.toString('latin1', 0, 24);
          if (s.startsWith('{"type":"auth:ok"')) {
            ws.off('message', onAuth);
            ws.on('message', onMessage(i));
            resolve();
          } else if (s.startsWith('{"type":"auth:error"')) reject(new Error(`auth failed: ${data}`));
        };
        ws.on('message', onAuth);
      });
      ws.once('error', reject);
    });
  });

  // Idle sockets would be timed out after 60 s without a message: heartbeat every 20 s.
  const heartbeat = setInterval(() => {
    for (const ws of sockets) if (ws.readyState === 1) ws.send('{"type":"presence:heartbeat"}');
  }, 20_000);

  // One thread per room, created by the room's first poster.
  await Promise.all(
    Array.from({ length: ROOMS }, (_, r) =>
      new Promise<void>((resolve) => {
        threadAcks.set(r, resolve);
        sockets[posterOf(r, 0)]!.send(
          JSON.stringify({ type: 'thread:create', ref: `t${r}`, id: `bench-thread-${r}`, body: 'Benchmark thread', mentions: [], position: null }),
        );
      }),
    ),
  );
  await sleep(500);

  // Open-loop posting: comment j is due at T0 + j/rate, to room j % ROOMS, from that room's
  // posters in turn. Late comments go out at once (no skipping: the rate is the offered load).
  const FILLER = ' — a comment with a realistic amount of text in it, about one sentence long.';
  const probe = new GeneratorProbe();
  const neighbours = new NeighbourProbe(server.pid);
  let cpu0 = 0;
  let measureStart = 0;
  let sent = 0;
  const T0 = performance.now() + 10;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      while (sent < total && T0 + (sent * 1000) / rate <= now) {
        const j = sent++;
        if (j === firstMeasured) {
          cpu0 = processCpuMicros(server.pid);
          neighbours.start();
          probe.start();
          measureStart = performance.now();
        }
        const room = j % ROOMS;
        const poster = posterOf(room, Math.floor(j / ROOMS) % perRoomPosters);
        const at = Math.round(performance.now() * 1000) / 1000;
        if (j === firstMeasured) measureFrom = at;
        sendAt[j] = at;
        sockets[poster]!.send(
          `{"type":"comment:create","ref":"c${j}","threadId":"bench-thread-${room}","body":"bench~${poster}~${at}~${j}~ comment${FILLER}"}`,
        );
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  const sendEnd = performance.now();
  const cpu1 = processCpuMicros(server.pid);
  const gen = probe.stop();
  const neighbourPct = neighbours.stop();
  const window = (sendEnd - measureStart) / 1000;
  const measuredSent = total - firstMeasured;

  // Drain: every comment answered, every delivery in (or DRAIN_MS passed).
  const drainUntil = performance.now() + DRAIN_MS;
  while (performance.now() < drainUntil && (acked + failed < total || deliveredAll < acked * (PER_ROOM - 1))) await sleep(50);
  clearInterval(heartbeat);
  stopping = true;
  for (const ws of sockets) ws?.terminate();

  let lostUndelivered = 0;
  let lostUnanswered = 0;
  for (let j = 0; j < total; j++) {
    if (answer[j] === 0) lostUnanswered++;
    else if (answer[j] === 1 && deliveredTo[j]! < PER_ROOM - 1) lostUndelivered++;
  }
  const refusedCount = Object.values(refused).reduce((a, b) => a + b, 0);
  const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
  const p99 = hist.percentile(99);
  const lost = lostUndelivered + lostUnanswered;
  const serverCpuUs = cpu1 - cpu0;
  return {
    server: kind,
    rate,
    posters: perRoomPosters * ROOMS,
    achievedPerS: measuredSent / window,
    ackedPerS: ackedMeasured / window,
    delivered,
    expected: ackedMeasured * (PER_ROOM - 1),
    p50: hist.percentile(50),
    p99,
    max: hist.max,
    ackP50: ackHist.percentile(50),
    ackP99: ackHist.percentile(99),
    serverCpuPct: serverCpuUs / 1e4 / window,
    // Per comment the server got through (acked), not per comment offered: under overload they differ.
    cpuUsPerComment: serverCpuUs / Math.max(1, ackedMeasured),
    genCpuPct: gen.cpuPct,
    genLagP99: gen.lagP99Ms,
    saturated: generatorSaturated(gen),
    neighbourPct,
    errors,
    errorCount,
    refused,
    refusedCount,
    lostUndelivered,
    lostUnanswered,
    lost,
    holds: p99 <= P99_LIMIT_MS && lost === 0 && refusedCount === 0 && errorCount === 0,
  };
}

console.log(
  `comment delivery (${DRIVER}): ${SOCKETS} sockets in ${ROOMS} rooms (${PER_ROOM} per room), ${WARMUP}s warm-up + ${SECONDS}s measured per rate; ` +
    `holds = p99 ≤ ${P99_LIMIT_MS} ms, 0 lost, 0 refused; server on core 0, generator on core 1 (taskset: ${hasTaskset}); node ${process.version}`,
);
const results: Result[] = [];
const failedAt = new Set<string>();
try {
  for (const rate of RATES) {
    for (const kind of SERVERS) {
      if (failedAt.has(kind) && !values.full) continue;
      const r = await runQuietly(() => run(kind, rate), RETRY_NOISY, `${kind} ${rate}/s`);
      results.push(r);
      if (!r.holds) failedAt.add(kind);
      console.log(
        `  ${kind.padEnd(5)} ${String(rate).padStart(5)}/s (${r.posters} posters): ${fmt(r.achievedPerS, 0)}/s sent, ${fmt(r.ackedPerS, 0)}/s acked, ` +
          `${r.delivered}/${r.expected} delivered, p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms, max ${fmt(r.max, 1)} ms, ` +
          `lost ${r.lost} (${r.lostUndelivered} acked-undelivered, ${r.lostUnanswered} unanswered), refused ${r.refusedCount ? JSON.stringify(r.refused) : 0}, ` +
          `server CPU ${fmt(r.serverCpuPct, 0)}%, generator CPU ${fmt(r.genCpuPct, 0)}% lag p99 ${fmt(r.genLagP99, 1)} ms, neighbours ${fmt(r.neighbourPct, 0)}%` +
          (r.errorCount ? `, errors ${JSON.stringify(r.errors)}` : '') +
          (r.holds ? '  holds' : '  FAILS') +
          (r.saturated ? '  ⚠ GENERATOR SATURATED' : '') +
          (r.neighbourPct > NEIGHBOUR_WARN_PCT ? '  ⚠ other processes used CPU during this run' : ''),
      );
    }
    if (SERVERS.every((k) => failedAt.has(k)) && !values.full) break;
  }
} finally {
  await runCleanups();
}

console.log('');
console.log(
  table(
    ['server', 'rate/s', 'sent/s', 'acked/s', 'delivered', 'expected', 'p50 ms', 'p99 ms', 'max ms', 'ack p99', 'lost', 'refused', 'errors', 'srv CPU%', 'µs CPU/acked', 'gen lag p99', 'other%', 'holds'],
    results.map((r) => [
      r.server,
      String(r.rate),
      fmt(r.achievedPerS, 0),
      fmt(r.ackedPerS, 0),
      String(r.delivered),
      String(r.expected),
      fmt(r.p50, 2),
      fmt(r.p99, 2),
      fmt(r.max, 1),
      fmt(r.ackP99, 2),
      String(r.lost),
      String(r.refusedCount),
      String(r.errorCount),
      fmt(r.serverCpuPct, 0),
      fmt(r.cpuUsPerComment, 0),
      fmt(r.genLagP99, 1) + (r.saturated ? ' ⚠' : ''),
      fmt(r.neighbourPct, 0) + (r.neighbourPct > NEIGHBOUR_WARN_PCT ? ' ⚠' : ''),
      r.holds ? 'yes' : 'no',
    ]),
  ),
);
console.log('');
const first = RATES[0]!;
const at = (kind: string, rate: number) => results.find((r) => r.server === kind && r.rate === rate);
const largest = (kind: string) => Math.max(0, ...results.filter((r) => r.server === kind && r.holds).map((r) => r.rate));
const lowerBound = (kind: string) => (results.filter((r) => r.server === kind).every((r) => r.holds) ? ' (the largest tried: a lower bound)' : '');
for (const kind of SERVERS) {
  const r = at(kind, first);
  console.log(
    `${kind}: p99 at ${first}/s ${r ? fmt(r.p99, 2) : '-'} ms; largest rate held ${largest(kind) || 'none'}${largest(kind) ? '/s' : ''}${lowerBound(kind)}`,
  );
}
if (SERVERS.includes('pulse') && SERVERS.includes('naive')) {
  const p = at('pulse', first);
  const n = at('naive', first);
  if (p && n) console.log(`Pulse/naive at ${first}/s: p99 ${fmt(p.p99 / n.p99, 2)}×, server CPU per comment ${fmt(p.cpuUsPerComment / n.cpuUsPerComment, 2)}×`);
  console.log(`Pulse/naive largest rate held: ${largest('naive') ? fmt(largest('pulse') / largest('naive'), 2) + '×' : '-'}`);
}
if (DRIVER === 'postgres' && SERVERS.includes('pulse')) console.log(`target (postgres): Pulse holds ≥ 1,000/s: ${largest('pulse') >= 1000 ? 'met' : 'NOT met'}`);
const sat = results.filter((r) => r.saturated);
if (sat.length) console.log(`⚠ generator saturated at: ${sat.map((r) => `${r.server} ${r.rate}/s`).join(', ')}; those latencies include queueing in this process.`);
const noisy = results.filter((r) => r.neighbourPct > NEIGHBOUR_WARN_PCT);
if (noisy.length) console.log(`⚠ other processes on this machine used > ${NEIGHBOUR_WARN_PCT}% of a core during: ${noisy.map((r) => `${r.server} ${r.rate}/s`).join(', ')}.`);
if (values.json) console.log(JSON.stringify(results));
