/**
 * Rejoin after a restart: how fast 5,000 clients get back into their rooms with the full room
 * state when the server comes back. Target: all back in < 5 s, ≥ 2,000 joins per server
 * CPU-second.
 *
 * 1. Pulse (SQLite, temp data dir) in a child process pinned to core 0; this generator on core 1.
 *    One token per client is minted up front (POST /auth/token).
 * 2. Seeding over WebSocket: in each of --rooms (50) rooms, --threads (10) threads of --comments
 *    (5) comments each (the thread's first comment plus replies by other users, so reply
 *    notifications exist too), --reactions (3) reactions and --strokes (3) drawing strokes.
 * 3. --per-room (100) authenticated sockets per room (5,000 in all) are connected.
 * 4. Restart: SIGTERM to the server (it closes every socket), then a new server on the same data
 *    dir and the same port.
 * 5. All clients reconnect at once, --concurrency (200) handshakes in flight (the server allows
 *    256 unauthenticated sockets per address), each waiting for its auth:ok; a refused or failed
 *    attempt is retried up to --retries times after 250 ms. Each auth:ok is kept and, after the
 *    timed window, parsed and its room state checked (thread count, comment count, strokes).
 *    Clients go room by room (the handshakes in flight span two rooms), or with --shuffle in a
 *    random order over all rooms, as after a restart whose clients back off at random.
 *
 * Reported: time from the first reconnect to the last auth:ok, joins/s, server CPU used in that
 * window (utime + stime of the new server from /proc/<pid>/stat), joins per CPU-second, auth:ok
 * size, per-join latency, failures by code, generator CPU and lag, and other processes' CPU.
 *
 *   npx tsx bench/rejoin.ts [--rooms 50] [--per-room 100] [--threads 10] [--comments 5]
 *                           [--reactions 3] [--strokes 3] [--concurrency 200] [--retries 2]
 *                           [--timeout-s 60] [--max-seconds 120] [--quiet-wait 20] [--shuffle] [--cpu-prof DIR]
 *                           [--json]
 *
 * --cpu-prof DIR writes a V8 CPU profile of the restarted server (read it with bench/profile-top.ts).
 */
import { parseArgs } from 'node:util';
import WebSocket, { type RawData } from 'ws';
import {
  boundRun,
  fmt,
  GeneratorProbe,
  generatorSaturated,
  hasTaskset,
  LatencyHistogram,
  mintTokens,
  NEIGHBOUR_WARN_PCT,
  NeighbourProbe,
  pinSelf,
  pool,
  processCpuMicros,
  PULSE_BIN,
  pulseReady,
  runCleanups,
  sleep,
  spawnServer,
  tempDir,
  waitForQuiet,
  type ServerHandle,
} from './lib.ts';

const { values } = parseArgs({
  options: {
    rooms: { type: 'string', default: '50' },
    'per-room': { type: 'string', default: '100' },
    threads: { type: 'string', default: '10' },
    comments: { type: 'string', default: '5' },
    reactions: { type: 'string', default: '3' },
    strokes: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '200' },
    retries: { type: 'string', default: '2' },
    'timeout-s': { type: 'string', default: '60' },
    'max-seconds': { type: 'string', default: '120' },
    'quiet-wait': { type: 'string', default: '20' },
    shuffle: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const ROOMS = Number(values.rooms);
const PER_ROOM = Number(values['per-room']);
const THREADS = Number(values.threads);
const COMMENTS = Number(values.comments);
const REACTIONS = Number(values.reactions);
const STROKES = Number(values.strokes);
const CONCURRENCY = Number(values.concurrency);
const RETRIES = Number(values.retries);
const TIMEOUT_MS = Number(values['timeout-s']) * 1000;
const MAX_SECONDS = Number(values['max-seconds']);
const QUIET_WAIT_MS = Number(values['quiet-wait']) * 1000;
const SHUFFLE = values.shuffle;
const N = ROOMS * PER_ROOM;
/** Sockets per room that write the seed data (one thread each, at most). */
const SEEDERS = Math.min(PER_ROOM, Math.max(THREADS, 1));
const TARGETS = { seconds: 5, joinsPerCpuS: 2000 };

boundRun(MAX_SECONDS / 60);
pinSelf();

interface Client {
  room: string;
  token: string;
  ws?: WebSocket;
}

class JoinError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/** Opens a socket, sends `auth` and resolves on auth:ok with the frame; rejects with a code. */
function join(wsUrl: string, apiKey: string, token: string, room: string, timeoutMs: number): Promise<{ ws: WebSocket; frame: Buffer }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
    let done = false;
    const fail = (code: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.terminate();
      reject(new JoinError(code));
    };
    const timer = setTimeout(() => fail('timeout'), timeoutMs);
    ws.on('error', (e: NodeJS.ErrnoException) => fail(`socket ${e.code ?? e.message}`));
    ws.once('unexpected-response', (req, res) => {
      req.destroy();
      fail(`http ${res.statusCode}`);
    });
    ws.once('close', (code) => fail(`close ${code}`));
    ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', apiKey, token, room })));
    const onMessage = (data: RawData) => {
      if (done) return;
      const frame = data as Buffer;
      const head = frame.toString('latin1', 0, 24);
      if (head.startsWith('{"type":"auth:ok"')) {
        done = true;
        clearTimeout(timer);
        ws.off('message', onMessage);
        ws.removeAllListeners('close');
        resolve({ ws, frame });
      } else if (head.startsWith('{"type":"auth:error"')) {
        fail(`auth:error ${(JSON.parse(frame.toString()) as { code: string }).code}`);
      }
    };
    ws.on('message', onMessage);
  });
}

/** Durable requests of the seeding sockets, answered by `ack` or `error` with the same ref. */
class Requester {
  #next = 0;
  readonly #pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: RawData) => {
      const frame = data as Buffer;
      const head = frame.toString('latin1', 0, 16);
      if (!head.startsWith('{"type":"ack"') && !head.startsWith('{"type":"error"')) return;
      const m = JSON.parse(frame.toString()) as { type: string; ref?: string; code?: string; message?: string };
      const p = m.ref === undefined ? undefined : this.#pending.get(m.ref);
      if (!p) return;
      this.#pending.delete(m.ref!);
      if (m.type === 'ack') p.resolve(m);
      else p.reject(new Error(`${m.code}: ${m.message}`));
    });
    ws.on('close', () => {
      for (const p of this.#pending.values()) p.reject(new Error('socket closed'));
      this.#pending.clear();
    });
  }
  send(message: Record<string, unknown>): Promise<unknown> {
    const ref = `s${this.#next++}`;
    return new Promise((resolve, reject) => {
      this.#pending.set(ref, { resolve, reject });
      this.ws.send(JSON.stringify({ ...message, ref }));
    });
  }
}

const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
const byCode = (map: Map<string, number>) => (map.size === 0 ? 'none' : [...map].map(([k, v]) => `${v} ${k}`).join(', '));

const dir = tempDir('bench-rejoin-');
let server: ServerHandle | undefined;
const clients: Client[] = Array.from({ length: N }, (_, i) => ({ room: `rejoin-room-${Math.floor(i / PER_ROOM)}`, token: '' }));

try {
  console.log(
    `rejoin: ${N} clients in ${ROOMS} rooms × ${PER_ROOM}; per room ${THREADS} threads × ${COMMENTS} comments, ${REACTIONS} reactions, ${STROKES} strokes; ` +
      `concurrency ${CONCURRENCY}${hasTaskset ? '; server on core 0, generator on core 1' : '; taskset not found: nothing pinned'}`,
  );
  server = await spawnServer({
    args: [PULSE_BIN, 'start'],
    env: { PULSE_DATA_DIR: dir.path, PULSE_PORT: '0', PULSE_LOG_LEVEL: 'warn', PULSE_MAX_CONNECTIONS_PER_IP: '0' },
    ready: pulseReady,
  });
  const { url, pk, sk } = server as Required<ServerHandle>;
  const port = new URL(url).port;
  const wsUrl = url.replace(/^http/, 'ws') + '/';

  // 1. Tokens.
  let t = performance.now();
  const tokens = await mintTokens(
    url,
    sk,
    clients.map((_, i) => `rejoin-user-${i}`),
    16,
  );
  tokens.forEach((tok, i) => (clients[i]!.token = tok));
  console.log(`minted ${N} tokens in ${fmt((performance.now() - t) / 1000, 1)} s`);

  // 2. Seed: the first SEEDERS sockets of each room write the state.
  t = performance.now();
  const seeders: Requester[][] = [];
  await pool(ROOMS * SEEDERS, 50, async (k) => {
    const r = Math.floor(k / SEEDERS);
    const c = clients[r * PER_ROOM + (k % SEEDERS)]!;
    const { ws } = await join(wsUrl, pk, c.token, c.room, 30_000);
    c.ws = ws;
    ws.on('error', () => {});
    (seeders[r] ??= [])[k % SEEDERS] = new Requester(ws);
  });
  const seedTasks: Array<Array<() => Promise<unknown>>> = [[], [], []];
  for (let r = 0; r < ROOMS; r++) {
    const s = seeders[r]!;
    for (let th = 0; th < THREADS; th++) {
      const threadId = `t-${r}-${th}`;
      seedTasks[0]!.push(() =>
        s[th % SEEDERS]!.send({
          type: 'thread:create',
          id: threadId,
          commentId: `c-${r}-${th}-0`,
          body: `Thread ${th} of room ${r}: does this layout work on small screens?`,
          mentions: [],
          position: { x: (th + 1) / (THREADS + 2), y: 0.5 },
        }),
      );
      for (let k = 1; k < COMMENTS; k++)
        seedTasks[1]!.push(() =>
          s[(th + k) % SEEDERS]!.send({
            type: 'comment:create',
            id: `c-${r}-${th}-${k}`,
            threadId,
            body: `Reply ${k} to thread ${th}: I think the spacing needs another look, see the header.`,
          }),
        );
    }
    for (let k = 0; k < REACTIONS; k++)
      seedTasks[2]!.push(() => s[(k + 1) % SEEDERS]!.send({ type: 'reaction:add', targetId: `c-${r}-${k % THREADS}-0`, emoji: ['👍', '🎉', '👀'][k % 3] }));
    for (let k = 0; k < STROKES; k++)
      seedTasks[2]!.push(() =>
        s[k % SEEDERS]!.send({
          type: 'draw:stroke',
          id: `d-${r}-${k}`,
          points: Array.from({ length: 20 }, (_, p): [number, number] => [p / 20, (k + 1) / (STROKES + 2)]),
          color: '#6366f1',
          width: 3,
        }),
      );
  }
  // Phases in order (a reply needs its thread); 32 requests in flight, under the server's
  // 256-waiting-writes refusal threshold.
  for (const phase of seedTasks) await pool(phase.length, 32, (i) => phase[i]!().then(() => undefined));
  const seeded = seedTasks.reduce((n, p) => n + p.length, 0);
  console.log(`seeded ${seeded} durable writes over ${ROOMS * SEEDERS} sockets in ${fmt((performance.now() - t) / 1000, 1)} s`);

  // 3. Everyone else connects.
  t = performance.now();
  const preFailures = new Map<string, number>();
  await pool(N, CONCURRENCY, async (i) => {
    const c = clients[i]!;
    if (c.ws) return;
    try {
      const { ws } = await join(wsUrl, pk, c.token, c.room, TIMEOUT_MS);
      ws.on('error', () => {});
      c.ws = ws;
    } catch (err) {
      count(preFailures, err instanceof JoinError ? err.code : String(err));
    }
  });
  const connected = clients.filter((c) => c.ws).length;
  console.log(`connected ${connected}/${N} sockets before the restart in ${fmt((performance.now() - t) / 1000, 1)} s (failures: ${byCode(preFailures)})`);

  // 4. Restart on the same data dir and port.
  const quiet = await waitForQuiet(QUIET_WAIT_MS);
  const shutdownCodes = new Map<string, number>();
  let closed = 0;
  const allClosed = new Promise<void>((resolve) => {
    if (connected === 0) resolve();
    for (const c of clients)
      c.ws?.once('close', (code) => {
        count(shutdownCodes, String(code));
        if (++closed === connected) resolve();
      });
  });
  t = performance.now();
  const old = server;
  await old.stop();
  const stopMs = performance.now() - t;
  const exitedBy = old.child.signalCode ?? `exit code ${old.child.exitCode}`;
  await Promise.race([allClosed, sleep(5000)]);
  console.log(`SIGTERM → exit in ${fmt(stopMs, 0)} ms (${exitedBy}); sockets closed by the server: ${closed}/${connected}, close codes: ${byCode(shutdownCodes)}`);
  for (const c of clients) c.ws = undefined;

  t = performance.now();
  server = await spawnServer({
    args: [PULSE_BIN, 'start'],
    env: { PULSE_DATA_DIR: dir.path, PULSE_PORT: port, PULSE_LOG_LEVEL: 'warn', PULSE_MAX_CONNECTIONS_PER_IP: '0' },
    ...(values['cpu-prof'] ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`, '--cpu-prof-name=rejoin-after-restart.cpuprofile'] } : {}),
    ready: (out) => {
      const m = /Pulse is running at (\S+)/.exec(out);
      return m ? { url: m[1]! } : undefined;
    },
  });
  const startMs = performance.now() - t;
  const pid = server.pid;
  const startCpuMs = processCpuMicros(pid) / 1000;
  if (server.url !== url) throw new Error(`the new server listens at ${server.url}, not ${url}`);
  console.log(`new server ready at the same address in ${fmt(startMs, 0)} ms (${fmt(startCpuMs, 0)} ms CPU); machine busy ${fmt(quiet, 0)}% of a core just before the restart`);

  // 5. Everyone reconnects at once.
  const neighbours = new NeighbourProbe(pid);
  const gen = new GeneratorProbe();
  const latency = new LatencyHistogram();
  const sizes: number[] = [];
  const frames: Buffer[] = [];
  const firstFailures = new Map<string, number>();
  const finalFailures = new Map<string, number>();
  const stateMismatch = new Map<string, number>();
  let joined = 0;
  let tLast = 0;
  let cpuLast = 0;
  neighbours.start();
  gen.start();
  const cpu0 = processCpuMicros(pid);
  const t0 = performance.now();
  const deadline = t0 + TIMEOUT_MS;
  const order = clients.map((_, i) => i);
  if (SHUFFLE) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
  }
  await pool(N, CONCURRENCY, async (k) => {
    const c = clients[order[k]!]!;
    for (let attempt = 0; attempt <= RETRIES; attempt++) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) return void count(finalFailures, 'not joined before --timeout-s');
      const ts = performance.now();
      let joinedWith: { ws: WebSocket; frame: Buffer };
      try {
        joinedWith = await join(wsUrl, pk, c.token, c.room, remaining);
      } catch (err) {
        const code = err instanceof JoinError ? err.code : String(err);
        if (attempt === 0) count(firstFailures, code);
        if (attempt === RETRIES) return void count(finalFailures, code);
        await sleep(250);
        continue;
      }
      const { ws, frame } = joinedWith;
      const now = performance.now();
      tLast = now;
      cpuLast = processCpuMicros(pid);
      joined++;
      latency.record(now - ts);
      ws.on('error', () => {});
      c.ws = ws;
      sizes.push(frame.length);
      frames.push(frame);
      return;
    }
  });
  const g = gen.stop();
  const other = neighbours.stop();
  // The state check runs after the window so that parsing 5,000 frames of ~40 KB does not hold
  // up the generator's event loop while it is being timed.
  for (const frame of frames) {
    const state = (JSON.parse(frame.toString()) as { room: { threads: Array<{ comments: unknown[] }>; drawing: unknown[] } }).room;
    if (state.threads.length !== THREADS) count(stateMismatch, `threads ${state.threads.length}≠${THREADS}`);
    const comments = state.threads.reduce((n, th) => n + th.comments.length, 0);
    if (comments !== THREADS * COMMENTS) count(stateMismatch, `comments ${comments}≠${THREADS * COMMENTS}`);
    if (state.drawing.length !== STROKES) count(stateMismatch, `strokes ${state.drawing.length}≠${STROKES}`);
  }
  frames.length = 0;
  const wallS = (tLast - t0) / 1000;
  const cpuS = (cpuLast - cpu0) / 1e6;
  const joinsPerS = joined / wallS;
  const joinsPerCpuS = joined / cpuS;
  sizes.sort((a, b) => a - b);
  const kb = (b: number | undefined) => fmt((b ?? NaN) / 1024, 1);
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');

  console.log('');
  console.log(`joined ${joined}/${N} (failed: ${N - joined})`);
  console.log(`first reconnect → last auth:ok: ${fmt(wallS, 2)} s  [target < ${TARGETS.seconds} s: ${met(joined === N && wallS < TARGETS.seconds)}]`);
  console.log(`joins/s: ${fmt(joinsPerS, 0)}`);
  console.log(`server CPU in that window: ${fmt(cpuS, 2)} s (${fmt((cpuS / wallS) * 100, 0)}% of a core)`);
  console.log(`joins per server CPU-second: ${fmt(joinsPerCpuS, 0)}  [target ≥ ${TARGETS.joinsPerCpuS}: ${met(joinsPerCpuS >= TARGETS.joinsPerCpuS)}]`);
  console.log(`auth:ok size: min ${kb(sizes[0])} KB, median ${kb(sizes[Math.floor(sizes.length / 2)])} KB, max ${kb(sizes.at(-1))} KB; ${fmt(sizes.reduce((a, b) => a + b, 0) / 1024 / 1024, 1)} MB in all`);
  console.log(`join latency (open → auth:ok, ${CONCURRENCY} in flight): p50 ${fmt(latency.percentile(50), 1)} ms, p99 ${fmt(latency.percentile(99), 1)} ms, max ${fmt(latency.max, 1)} ms`);
  console.log(`failed attempts (first try): ${byCode(firstFailures)}; clients never joined: ${byCode(finalFailures)}`);
  console.log(`auth:ok frames whose room state is not as seeded (${THREADS} threads, ${THREADS * COMMENTS} comments, ${STROKES} strokes): ${byCode(stateMismatch)}`);
  console.log(
    `generator: CPU ${fmt(g.cpuPct, 0)}%, lag p99 ${fmt(g.lagP99Ms, 1)} ms, max ${fmt(g.lagMaxMs, 0)} ms` +
      `${generatorSaturated(g) ? '  ⚠ GENERATOR SATURATED' : ''}; other processes ${fmt(other, 0)}% of a core${other > NEIGHBOUR_WARN_PCT ? '  ⚠ busy machine' : ''}`,
  );
  if (values.json)
    console.log(
      JSON.stringify({
        clients: N,
        joined,
        wallS,
        joinsPerS,
        serverCpuS: cpuS,
        joinsPerCpuS,
        authOkBytes: { min: sizes[0], median: sizes[Math.floor(sizes.length / 2)], max: sizes.at(-1) },
        latencyMs: { p50: latency.percentile(50), p99: latency.percentile(99), max: latency.max },
        firstFailures: Object.fromEntries(firstFailures),
        finalFailures: Object.fromEntries(finalFailures),
        stateMismatch: Object.fromEntries(stateMismatch),
        restart: { stopMs, startMs, startCpuMs, shutdownCodes: Object.fromEntries(shutdownCodes) },
        generator: g,
        otherPct: other,
      }),
    );
} finally {
  for (const c of clients) c.ws?.terminate();
  await server?.stop();
  dir.remove();
  await runCleanups();
}
