/**
 * Cluster fan-out: what a second node costs. In one run, the same room traffic against
 *   1. one node, in-process bus (the default, no Redis),
 *   2. one node, Redis bus (cluster mode with a single node),
 *   3. two nodes, Redis bus, receivers split across them,
 *   4. as 3, with the local shortcut off (every delivery makes the Redis round trip, even to the
 *      publisher's own sockets: PULSE_BENCH_BUS_ROUNDTRIP=1), to measure the shortcut.
 * Movers and comment writers are on node A; receivers alternate between the nodes, so in 3 and 4
 * "same node" and "other node" latencies come from the same events. Server processes are pinned
 * to core 0 with taskset (both nodes share it in 3 and 4), this generator to core 1; PostgreSQL
 * and Redis run unpinned.
 *
 * Cursors: movers send cursor:move at --hz with the send time (performance.now(), ms) in pageX;
 * latency = arrival of the batch frame carrying it − send time (includes the 25 ms room tick).
 * Comments: writers send comment:create with a client id; latency = arrival of comment:created
 * at each receiver − send time (includes the PostgreSQL commit).
 * Then, with Redis MONITOR on for a short window: PUBLISH commands per room event per node
 * (comments: PUBLISHes on the room channel ÷ comments; cursors: PUBLISHes by node A ÷ batches
 * from A seen by one receiver on B), and Redis connections per node (CLIENT LIST) with 0 sockets,
 * with the bench room, and with --idle-rooms more rooms.
 *
 *   npx tsx bench/cluster-fanout.ts [--seconds 8] [--receivers 20] [--movers 4] [--hz 20]
 *                                   [--comments 240] [--writers 4] [--idle-rooms 100] [--repeat 1] [--json]
 *
 * --repeat R runs the four setups R times round-robin and pools the samples of each setup, so a
 * slow moment of the shared PostgreSQL (or of a neighbour on the machine) hits every setup alike.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import WebSocket from 'ws';
import { PULSE_BIN, pulseReady } from './lib.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    receivers: { type: 'string', default: '20' },
    movers: { type: 'string', default: '4' },
    hz: { type: 'string', default: '20' },
    comments: { type: 'string', default: '240' },
    writers: { type: 'string', default: '4' },
    'idle-rooms': { type: 'string', default: '100' },
    repeat: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const RECEIVERS = Number(values.receivers);
const MOVERS = Number(values.movers);
const HZ = Number(values.hz);
const COMMENTS = Number(values.comments);
const WRITERS = Number(values.writers);
const IDLE_ROOMS = Number(values['idle-rooms']);
const REPEAT = Number(values.repeat);
const PG_URL = process.env.PULSE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.PULSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BIN = PULSE_BIN;
const ROOM = 'bench-room';

const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
})();
if (hasTaskset) execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

class Samples {
  readonly values: number[] = [];
  add(ms: number) {
    this.values.push(ms);
  }
  pct(p: number): number {
    if (this.values.length === 0) return NaN;
    const sorted = [...this.values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  }
  get count() {
    return this.values.length;
  }
}

interface Node {
  name: string;
  url: string;
  child: ChildProcess;
}

interface Scenario {
  label: string;
  nodes: number;
  redis: boolean;
  roundTrip?: boolean;
}

async function startNode(env: NodeJS.ProcessEnv, name: string): Promise<{ node: Node; out: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pulse-cbench-'));
  const cmd = hasTaskset ? 'taskset' : process.execPath;
  const args = hasTaskset ? ['-c', '0', process.execPath, BIN, 'start'] : [BIN, 'start'];
  const child = spawn(cmd, args, {
    env: { ...process.env, ...env, PULSE_DATA_DIR: dataDir, PULSE_PORT: '0', PULSE_LOG_LEVEL: 'warn', PULSE_MAX_CONNECTIONS_PER_IP: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${name} did not start:\n${out}`)), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /Pulse is running at (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  return { node: { name, url, child }, out };
}

function stop(node: Node): Promise<void> {
  return new Promise((resolve) => {
    if (node.child.exitCode !== null) return resolve();
    node.child.once('exit', () => resolve());
    node.child.kill('SIGTERM');
    setTimeout(() => node.child.kill('SIGKILL'), 5000).unref();
  });
}

async function mint(url: string, sk: string, userId: string): Promise<string> {
  const r = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sk}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId, name: userId }),
  });
  if (r.status !== 200) throw new Error(`mint: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { token: string }).token;
}

/** A raw protocol socket that hands every parsed frame to `onFrame`. */
async function connect(node: Node, pk: string, token: string, room: string, onFrame: (m: any, at: number) => void): Promise<WebSocket> {
  const ws = new WebSocket(node.url.replace(/^http/, 'ws'));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const ok = new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const at = now();
      const m = JSON.parse(data.toString());
      if (m.type === 'auth:ok') resolve();
      else if (m.type === 'auth:error') reject(new Error(m.code));
      onFrame(m, at);
    });
  });
  ws.send(JSON.stringify({ type: 'auth', apiKey: pk, token, room }));
  await ok;
  return ws;
}

interface Result {
  label: string;
  cursor: Record<'same' | 'other', Samples>;
  comment: Record<'same' | 'other', Samples>;
  cursorsExpected: number;
  cursorsReceived: number;
  cpuMsPerNode: number[];
  publishes?: { comments: number; commentPublishes: Record<string, number>; batchesFromA: number; cursorPublishesByA: number };
  connections?: { idle: Record<string, number>; busy: Record<string, number>; channels: number };
}

function emptyResult(label: string): Result {
  return {
    label,
    cursor: { same: new Samples(), other: new Samples() },
    comment: { same: new Samples(), other: new Samples() },
    cursorsExpected: 0,
    cursorsReceived: 0,
    cpuMsPerNode: [],
  };
}

async function run(s: Scenario, result: Result): Promise<Result> {
  const schema = `pulse_cbench_${randomBytes(4).toString('hex')}`;
  const prefix = `pulse-cbench-${randomBytes(4).toString('hex')}:`;
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: PG_URL,
    PULSE_DB_SCHEMA: schema,
    PULSE_SECRET: randomBytes(32).toString('hex'),
    ...(s.redis ? { REDIS_URL, PULSE_REDIS_PREFIX: prefix } : {}),
    ...(s.roundTrip ? { PULSE_BENCH_BUS_ROUNDTRIP: '1' } : {}),
  };
  const first = await startNode(env, 'A');
  const pk = /Publishable key\s+(pk_\w+)/.exec(first.out)![1]!;
  const sk = pulseReady(first.out)!.sk;
  const envId = /environment \((\S+)\)/.exec(first.out)![1]!;
  const nodes = [first.node];
  for (let i = 1; i < s.nodes; i++) nodes.push((await startNode(env, String.fromCharCode(65 + i))).node);
  const A = nodes[0]!;
  const redis = s.redis ? new Redis(REDIS_URL) : undefined;
  const sockets: WebSocket[] = [];

  /** Redis connections per node, from CLIENT LIST names (pulse:<nodeId>:cmd|sub). */
  const connectionsPerNode = async () => {
    const list = (await redis!.client('LIST')) as string;
    const counts: Record<string, number> = {};
    for (const line of list.split('\n')) {
      const m = /name=pulse:([0-9a-f]{12}):/.exec(line);
      if (m) counts[m[1]!] = (counts[m[1]!] ?? 0) + 1;
    }
    return counts;
  };
  try {
    const idleConnections = redis ? await connectionsPerNode() : undefined;
    // Receivers alternate between the nodes; movers and writers are on node A.
    const seenFromA = { batches: 0 };
    // Latency samples are taken in the measured phases only (not during warm-up or MONITOR).
    let collecting = false;
    const moverIds = new Set(Array.from({ length: MOVERS }, (_, i) => `mover-${i}`));
    const sentAt = new Map<string, number>();
    const tokens = await Promise.all(Array.from({ length: RECEIVERS }, (_, i) => mint(A.url, sk, `recv-${i}`)));
    for (let i = 0; i < RECEIVERS; i++) {
      const node = nodes[i % nodes.length]!;
      const where = node === A ? 'same' : 'other';
      const watchBatches = i === 1 && nodes.length > 1;
      sockets.push(
        await connect(node, pk, tokens[i]!, ROOM, (m, at) => {
          if (m.type === 'batch') {
            let fromA = false;
            for (const e of m.events) {
              if (e.type !== 'cursor:move' || !moverIds.has(e.userId)) continue;
              fromA = true;
              if (!collecting) continue;
              result.cursor[where].add(at - e.position.pageX);
              result.cursorsReceived++;
            }
            if (watchBatches && fromA) seenFromA.batches++;
          } else if (m.type === 'comment:created') {
            const t0 = sentAt.get(m.comment.id);
            if (t0 !== undefined && collecting) result.comment[where].add(at - t0);
          }
        }),
      );
    }
    const movers = await Promise.all(
      [...moverIds].map(async (id) => {
        const ws = await connect(A, pk, await mint(A.url, sk, id), ROOM, () => undefined);
        sockets.push(ws);
        return ws;
      }),
    );
    const acks = new Map<string, () => void>();
    const writers = await Promise.all(
      Array.from({ length: WRITERS }, async (_, i) => {
        const ws = await connect(A, pk, await mint(A.url, sk, `writer-${i}`), ROOM, (m) => {
          if (m.type === 'ack' || m.type === 'error') acks.get(m.ref)?.();
          if (m.type === 'error') console.error('writer error', m);
        });
        sockets.push(ws);
        return ws;
      }),
    );
    const request = (ws: WebSocket, message: object, ref: string) =>
      new Promise<void>((resolve) => {
        acks.set(ref, resolve);
        ws.send(JSON.stringify({ ...message, ref }));
      });
    const threadId = `bench-thread-${randomBytes(3).toString('hex')}`;
    await request(writers[0]!, { type: 'thread:create', id: threadId, body: 'bench', mentions: [], position: null }, 'thread');
    await sleep(500);

    // Cursor phase (warm-up of 1 s not counted).
    const moveFor = async (ms: number, count: boolean) => {
      const end = now() + ms;
      let sent = 0;
      while (now() < end) {
        const tick = now();
        for (const ws of movers) {
          ws.send(JSON.stringify({ type: 'cursor:move', position: { x: 0.5, y: 0.5, pageX: now(), pageY: 0 } }));
          sent++;
        }
        await sleep(Math.max(0, 1000 / HZ - (now() - tick)));
      }
      return count ? sent : 0;
    };
    await moveFor(1000, false);
    await sleep(200);
    collecting = true;
    const cpu0 = nodes.map((n) => cpuMs(n.child.pid!));
    const sent = await moveFor(SECONDS * 1000, true);
    const cpu = nodes.map((n, i) => (cpuMs(n.child.pid!) - cpu0[i]!) / SECONDS);
    // Averaged over repeats.
    result.cpuMsPerNode = cpu.map((c, i) => (result.cpuMsPerNode[i] === undefined ? c : (result.cpuMsPerNode[i]! + c) / 2));
    result.cursorsExpected += sent * RECEIVERS;
    await sleep(300);

    // Comment phase: writers in turn, each within its durable rate limit (10/s).
    const commentRound = async (count: number, tag: string) => {
      const interval = 1000 / Math.min(WRITERS * 8, 200);
      for (let i = 0; i < count; i++) {
        const id = `c-${tag}-${i}`;
        const ws = writers[i % WRITERS]!;
        sentAt.set(id, now());
        void request(ws, { type: 'comment:create', id, threadId, body: `comment ${i}` }, id);
        await sleep(interval);
      }
      await sleep(500);
    };
    await commentRound(COMMENTS, 'lat');
    collecting = false;

    if (redis) {
      // MONITOR for a short window: PUBLISHes on the room channel, per node.
      const addrToNode = new Map<string, string>();
      for (const line of ((await redis.client('LIST')) as string).split('\n')) {
        const addr = /addr=(\S+)/.exec(line)?.[1];
        const node = /name=pulse:([0-9a-f]{12}):/.exec(line)?.[1];
        if (addr && node) addrToNode.set(addr, node);
      }
      const monitor = await redis.monitor();
      const roomChannel = `${prefix}room:${envId}:${ROOM}`;
      const publishes: Record<string, { room: number }> = {};
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (args[0]?.toLowerCase() !== 'publish' || args[1] !== roomChannel) return;
        const node = addrToNode.get(source) ?? source;
        (publishes[node] ??= { room: 0 }).room++;
      });
      await sleep(200);
      const commentsBefore = Object.values(publishes).reduce((n, p) => n + p.room, 0);
      const countComments = 50;
      await commentRound(countComments, 'count');
      const commentPublishes: Record<string, number> = {};
      for (const [node, p] of Object.entries(publishes)) commentPublishes[node] = p.room;
      const afterComments = Object.values(publishes).reduce((n, p) => n + p.room, 0);
      if (commentsBefore !== 0) console.warn('unexpected publishes before the counting window');
      const batchesBefore = seenFromA.batches;
      const aId = Object.keys(commentPublishes)[0];
      const aBefore = aId ? (publishes[aId]?.room ?? 0) : 0;
      await moveFor(2000, false);
      await sleep(300);
      const aAfter = aId ? (publishes[aId]?.room ?? 0) : 0;
      monitor.disconnect();
      result.publishes = {
        comments: countComments,
        commentPublishes: Object.fromEntries(Object.entries(commentPublishes)),
        batchesFromA: seenFromA.batches - batchesBefore,
        cursorPublishesByA: aAfter - aBefore,
      };
      void afterComments;

      // Connections per node with the bench room, then with IDLE_ROOMS more rooms.
      const idleTokens = await Promise.all(Array.from({ length: IDLE_ROOMS }, (_, i) => mint(A.url, sk, `idle-${i}`)));
      for (let i = 0; i < IDLE_ROOMS; i++) sockets.push(await connect(nodes[i % nodes.length]!, pk, idleTokens[i]!, `idle-room-${i}`, () => undefined));
      await sleep(300);
      const channels = ((await redis.pubsub('CHANNELS', `${prefix}*`)) as string[]).length;
      result.connections = { idle: idleConnections!, busy: await connectionsPerNode(), channels };
    }
    return result;
  } finally {
    for (const ws of sockets) ws.terminate();
    await Promise.all(nodes.map(stop));
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  }
}

const f = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '–');

async function main() {
  const scenarios: Scenario[] = [
    { label: '1 node, in-process bus', nodes: 1, redis: false },
    { label: '1 node, Redis bus', nodes: 1, redis: true },
    { label: '2 nodes, Redis bus', nodes: 2, redis: true },
    { label: '2 nodes, Redis bus, no local shortcut', nodes: 2, redis: true, roundTrip: true },
  ];
  const results = scenarios.map((s) => emptyResult(s.label));
  for (let r = 0; r < REPEAT; r++) {
    for (const [i, s] of scenarios.entries()) {
      process.stderr.write(`running: ${s.label} (${r + 1}/${REPEAT})\n`);
      await run(s, results[i]!);
    }
  }
  if (values.json) {
    console.log(JSON.stringify(results.map((r) => ({ ...r, cursor: summary(r.cursor), comment: summary(r.comment) })), null, 2));
    return;
  }
  console.log(
    `\n${RECEIVERS} receivers in one room (alternating between nodes), ${MOVERS} movers at ${HZ} Hz and ${WRITERS} comment writers on node A; ${SECONDS} s of cursors, ${COMMENTS} comments; ${REPEAT} run(s) per setup, samples pooled. Latencies in ms.`,
  );
  console.log(`taskset: ${hasTaskset ? 'servers on core 0, generator on core 1' : 'not available'}\n`);
  console.log('| setup | receivers on | cursor p50 | cursor p99 | comment p50 | comment p99 | cursor updates delivered | server CPU (ms/s per node) |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    for (const k of ['same', 'other'] as const) {
      if (r.cursor[k].count === 0 && r.comment[k].count === 0) continue;
      console.log(
        `| ${r.label} | ${k === 'same' ? 'node A (sender’s)' : 'node B'} | ${f(r.cursor[k].pct(50))} | ${f(r.cursor[k].pct(99))} | ${f(r.comment[k].pct(50))} | ${f(r.comment[k].pct(99))} | ${k === 'same' ? `${((100 * r.cursorsReceived) / Math.max(1, r.cursorsExpected)).toFixed(1)} %` : ''} | ${k === 'same' ? r.cpuMsPerNode.map((c) => c.toFixed(0)).join(' / ') : ''} |`,
      );
    }
  }
  const base = results[0]!;
  console.log('\nAdded latency against 1 node with the in-process bus (ms; positive = slower):\n');
  console.log('| setup | receivers on | cursor p50 | cursor p99 | comment p50 | comment p99 |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const r of results.slice(1)) {
    for (const k of ['same', 'other'] as const) {
      if (r.cursor[k].count === 0) continue;
      const d = (a: Samples, b: Samples, p: number) => f(a.pct(p) - b.pct(p));
      console.log(
        `| ${r.label} | ${k === 'same' ? 'node A' : 'node B'} | ${d(r.cursor[k], base.cursor.same, 50)} | ${d(r.cursor[k], base.cursor.same, 99)} | ${d(r.comment[k], base.comment.same, 50)} | ${d(r.comment[k], base.comment.same, 99)} |`,
      );
    }
  }
  const two = results[2]!;
  console.log('\nThe cross-node hop in the same runs (2 nodes, Redis bus: receivers on node B − receivers on node A, ms):\n');
  console.log('| | cursor p50 | cursor p99 | comment p50 | comment p99 |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  const hop = (k: 'cursor' | 'comment', p: number) => f(two[k].other.pct(p) - two[k].same.pct(p));
  console.log(`| added by the hop | ${hop('cursor', 50)} | ${hop('cursor', 99)} | ${hop('comment', 50)} | ${hop('comment', 99)} |`);
  const rt = results[3]!;
  const sc = (k: 'cursor' | 'comment', p: number) => f(rt[k].same.pct(p) - two[k].same.pct(p));
  console.log(`| saved by the local shortcut on node A (no shortcut − shortcut) | ${sc('cursor', 50)} | ${sc('cursor', 99)} | ${sc('comment', 50)} | ${sc('comment', 99)} |`);
  console.log('\nRedis PUBLISHes and connections (last run):\n');
  console.log('| setup | PUBLISH per comment (per node) | PUBLISH per cursor batch (node A) | connections per node, no sockets | with bench room + idle rooms | distinct channels subscribed (all nodes) |');
  console.log('| --- | --- | --- | --- | --- | ---: |');
  for (const r of results) {
    if (!r.publishes || !r.connections) continue;
    const perComment = Object.values(r.publishes.commentPublishes).map((n) => (n / r.publishes!.comments).toFixed(2));
    console.log(
      `| ${r.label} | ${perComment.join(' / ') || '0'} | ${r.publishes.batchesFromA ? (r.publishes.cursorPublishesByA / r.publishes.batchesFromA).toFixed(2) : '– (1 node)'} (${r.publishes.cursorPublishesByA}/${r.publishes.batchesFromA || '–'}) | ${Object.values(r.connections.idle).join(' / ')} | ${Object.values(r.connections.busy).join(' / ')} | ${r.connections.channels} |`,
    );
  }
}

function summary(s: Record<'same' | 'other', Samples>) {
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, { count: v.count, p50: v.pct(50), p99: v.pct(99) }]));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
