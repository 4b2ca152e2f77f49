/**
 * What webhooks cost the write path: REST comment writes (the 201 is the ack, sent after the
 * commit) against a Pulse server with no webhook endpoint, then against a fresh one with three
 * endpoints subscribed to every event, each a receiver answering 204 at once (all in one child
 * process of their own, bench/tools/receivers.mjs, so receiving never delays this generator's
 * event loop, which times the acks).
 * Target: throughput and ack p99 at most 10% worse with the endpoints.
 *
 * Closed loop (default): C keep-alive connections each post their next comment as soon as the
 * previous one is answered, for `--warmup` s (not counted) then `--seconds` s: the server's
 * saturation throughput. Open loop (`--rate R`): R comments/s on a fixed schedule over up to C
 * connections, whatever the answers; latency counts from the scheduled time (a request queued
 * behind a slow one counts its wait), and a send skipped because 1,000 are already open is an
 * error. Pulse runs in a child process pinned to core 0 (this generator and the receivers' process:
 * core 1, the receivers at nice 19: they stand in for machines elsewhere, and must not delay the
 * generator's timing of the acks). Reported per setup: comments/s, ack p50/p99, server CPU per
 * comment, webhook deliveries received during the run (and how long after their event) and after
 * it (backlog drained).
 * Then the floor under a delivery's CPU, measured in the same run: a bare keep-alive client
 * (bench/tools/post-loop.mjs) on the server's core, signing and posting bodies of the same size
 * at the same rate; Pulse's CPU per delivery is compared with its CPU per request.
 *
 *   npx tsx bench/webhooks.ts [--driver sqlite|postgres] [--seconds 8] [--warmup 2] [--concurrency 16]
 *                             [--endpoints 3] [--rate R] [--pairs 1] [--quiet-wait 30] [--server-cores 0] [--json]
 *
 * `--pairs N` measures N pairs, alternating which setup goes first (none, E, E, none, none, E, …)
 * so that a machine slowing down or speeding up during the run weighs on both alike, and reports
 * each pair's cost and the median: on a shared machine one pair's ack p99 varies by tens of %.
 *
 * `--server-cores 0,1` lets the server use the generator's core too, where its sending thread
 * (niced) can run when the generator leaves time: what the endpoints cost given a spare core.
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import { constants, setPriority } from 'node:os';
import { parseArgs } from 'node:util';
import {
  boundRun,
  type Driver,
  fmt,
  hasTaskset,
  httpRequest,
  keepAliveAgent,
  LatencyHistogram,
  NEIGHBOUR_WARN_PCT,
  NeighbourProbe,
  pgSchema,
  PG_URL,
  pinSelf,
  PULSE_BIN,
  processCpuMicros,
  threadCpuMicros,
  unnicedWriteBytes,
  pulseReady,
  runCleanups,
  scrubbedEnv,
  sleep,
  spawnServer,
  table,
  tempDir,
  waitForQuiet,
} from './lib.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '16' },
    endpoints: { type: 'string', default: '3' },
    rate: { type: 'string' },
    pairs: { type: 'string', default: '1' },
    driver: { type: 'string', default: 'sqlite' },
    'server-cores': { type: 'string', default: '0' },
    'quiet-wait': { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const C = Number(values.concurrency);
const ENDPOINTS = Number(values.endpoints);
const DRIVER = values.driver as Driver;
const RATE = values.rate ? Number(values.rate) : 0;
const MAX_OPEN = 1000;
const PAIRS = Number(values.pairs);
if (!Number.isInteger(PAIRS) || PAIRS < 1) throw new Error(`--pairs: a whole number of 1 or more, got "${values.pairs}"`);

boundRun(5 * PAIRS);
pinSelf();

interface ReceiverStats {
  count: number;
  bytes: number;
  lag?: { p50: number; p99: number };
}

/** N receivers answering 204 at once, in their own process (bench/tools/receivers.mjs) on this core. */
async function receivers(n: number): Promise<{ urls: string[]; ask: (op: 'stats' | 'lag-on' | 'lag-off') => Promise<ReceiverStats>; close: () => void }> {
  const child = fork(new URL('./tools/receivers.mjs', import.meta.url).pathname, [String(n)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (child.pid) setPriority(child.pid, constants.priority.PRIORITY_LOW);
  // The child answers in order: each message settles the oldest waiting question.
  const waiting: Array<{ resolve: (m: unknown) => void; reject: (e: Error) => void }> = [];
  child.on('message', (m) => waiting.shift()?.resolve(m));
  child.on('exit', () => {
    for (const w of waiting.splice(0)) w.reject(new Error('the webhook receivers exited'));
  });
  const next = () => new Promise<unknown>((resolve, reject) => waiting.push({ resolve, reject }));
  const { urls } = (await next()) as { urls: string[] };
  return {
    urls,
    ask: (op) => {
      const answer = next() as Promise<ReceiverStats>;
      child.send({ op });
      return answer;
    },
    close: () => child.disconnect(),
  };
}

interface Result {
  setup: string;
  comments: number;
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
  cpuUsPerComment: number;
  /** The CPU of the threads at the process's own priority (all but the webhook sending thread). */
  mainCpuUsPerComment: number;
  /** Bytes those threads wrote (database log and responses) per comment. */
  mainBytesPerComment: number;
  /** The webhook sending thread's CPU (it runs niced) per delivery received during the window. */
  sendingCpuUsPerDelivery: number;
  deliveredDuring: number;
  deliveredAfter: number;
  bytesAfter: number;
  lagP50: number;
  lagP99: number;
  neighbourPct: number;
}

async function run(endpoints: number): Promise<Result> {
  const dir = tempDir('bench-webhooks-');
  const schema = DRIVER === 'postgres' ? pgSchema('webhooks') : undefined;
  const env = {
    PULSE_DATA_DIR: dir.path,
    PULSE_PORT: '0',
    PULSE_LOG_LEVEL: 'warn',
    PULSE_MAX_CONNECTIONS_PER_IP: '0',
    PULSE_WEBHOOKS_ALLOW_PRIVATE: '1',
    ...(schema ? { DATABASE_URL: PG_URL, PULSE_DB_SCHEMA: schema.name } : {}),
  };
  const hooks = endpoints ? await receivers(endpoints) : undefined;
  const server = await spawnServer({ args: [PULSE_BIN, 'start'], env, ready: pulseReady, cores: values['server-cores'] });
  try {
    const url = new URL(server.url);
    const agent = keepAliveAgent(C);
    const headers = { authorization: `Bearer ${server.sk}`, 'content-type': 'application/json' };
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await httpRequest(agent, url, method, path, headers, body === undefined ? undefined : JSON.stringify(body));
      return { status: r.status, body: JSON.parse(r.body.toString() || 'null') };
    };
    // Endpoints are added the way an operator would: `pulse webhook add` on the same storage.
    const cli = (args: string[]) => spawnSync(process.execPath, [PULSE_BIN, ...args], { env: { ...scrubbedEnv(), ...env }, encoding: 'utf8' });
    if (hooks) {
      const envId = JSON.parse(cli(['env', 'list', '--json']).stdout).environments[0].id as string;
      for (const hookUrl of hooks.urls) {
        const added = cli(['webhook', 'add', envId, hookUrl, '--json']);
        if (added.status !== 0) throw new Error(`webhook add failed: ${added.stderr}`);
      }
    }
    await sleep(500); // the server reads the control log
    await call('PUT', '/api/v1/users/bench', { name: 'Bench' });
    const thread = (await call('POST', '/api/v1/rooms/bench-webhooks/threads', { userId: 'bench', body: 'start' })).body.thread;
    const path = `/api/v1/threads/${thread.id}/comments`;
    const body = JSON.stringify({ userId: 'bench', body: 'a comment of ordinary length, to be delivered to every subscribed endpoint' });

    const hist = new LatencyHistogram();
    let done = 0;
    let errors = 0;
    let measuring = false;
    let stop = false;
    const post = async (scheduled: number) => {
      try {
        const r = await httpRequest(agent, url, 'POST', path, headers, body);
        if (r.status !== 201) errors++;
      } catch {
        errors++;
      }
      if (measuring) {
        hist.record(performance.now() - scheduled);
        done++;
      }
    };
    const loop = async () => {
      while (!stop) await post(performance.now());
    };
    /** Open loop: sends what the schedule owes every 2 ms, never waiting for answers. */
    const schedule = async () => {
      const open = new Set<Promise<void>>();
      let sent = 0;
      const t0 = performance.now();
      while (!stop) {
        const now = performance.now();
        for (; sent < ((now - t0) * RATE) / 1000; sent++) {
          const scheduled = t0 + (sent * 1000) / RATE;
          if (open.size >= MAX_OPEN) {
            if (measuring) errors++;
            continue;
          }
          const p = post(scheduled).finally(() => open.delete(p));
          open.add(p);
        }
        await sleep(2);
      }
      await Promise.all(open);
    };
    const loops = RATE ? [schedule()] : Array.from({ length: C }, loop);
    await sleep(WARMUP * 1000);
    const received0 = (await hooks?.ask('lag-on'))?.count ?? 0;
    const cpu0 = processCpuMicros(server.pid);
    const threads0 = threadCpuMicros(server.pid);
    const written0 = unnicedWriteBytes(server.pid);
    const neighbours = new NeighbourProbe(server.pid);
    neighbours.start();
    measuring = true;
    await sleep(SECONDS * 1000);
    measuring = false;
    const during = await hooks?.ask('lag-off');
    const cpu = processCpuMicros(server.pid) - cpu0;
    const threads1 = threadCpuMicros(server.pid);
    const written = unnicedWriteBytes(server.pid) - written0;
    const neighbourPct = neighbours.stop();
    const receivedDuring = (during?.count ?? 0) - received0;
    stop = true;
    await Promise.all(loops);
    // Let the backlog drain (bounded).
    const deadline = Date.now() + 30_000;
    let last = -1;
    while (Date.now() < deadline) {
      const now = (await hooks?.ask('stats'))?.count ?? 0;
      if (now === last) break;
      last = now;
      await sleep(1000);
    }
    agent.destroy();
    const after = await hooks?.ask('stats');
    return {
      setup: endpoints ? `${endpoints} endpoints` : 'no endpoint',
      comments: done,
      perSecond: done / SECONDS,
      p50: hist.percentile(50),
      p99: hist.percentile(99),
      errors,
      cpuUsPerComment: cpu / Math.max(1, done),
      mainCpuUsPerComment: (threads1.rest - threads0.rest) / Math.max(1, done),
      mainBytesPerComment: written / Math.max(1, done),
      sendingCpuUsPerDelivery: receivedDuring ? (threads1.niced - threads0.niced) / receivedDuring : 0,
      deliveredDuring: receivedDuring,
      deliveredAfter: after?.count ?? 0,
      bytesAfter: after?.bytes ?? 0,
      lagP50: during?.lag?.p50 ?? 0,
      lagP99: during?.lag?.p99 ?? 0,
      neighbourPct,
    };
  } finally {
    await server.stop();
    hooks?.close();
    dir.remove();
    await schema?.drop();
  }
}

/**
 * The floor under a delivery's CPU: a bare keep-alive Node client on the server's core, signing
 * and posting bodies of the same size at the rate Pulse delivered, to the same kind of receiver.
 */
async function bareClient(rate: number, bodyBytes: number): Promise<number> {
  const r = await receivers(1);
  try {
    const script = new URL('./tools/post-loop.mjs', import.meta.url).pathname;
    const args = [script, r.urls[0]!, String(rate), String(SECONDS), String(bodyBytes)];
    const child = spawn(hasTaskset ? 'taskset' : process.execPath, hasTaskset ? ['-c', '0', process.execPath, ...args] : args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise((resolve) => child.on('exit', resolve));
    return (JSON.parse(out) as { cpuUsPerRequest: number }).cpuUsPerRequest;
  } finally {
    r.close();
  }
}

try {
  const waited = await waitForQuiet(Number(values['quiet-wait']) * 1000);
  if (!values.json) console.log(`driver ${DRIVER}, ${C} connections, ${RATE ? `open loop at ${RATE} comments/s` : 'closed loop'}, ${SECONDS} s per setup${hasTaskset ? `, server on core ${values['server-cores']}` : ''}${waited ? ` (waited ${fmt(waited / 1000)} s for a quiet machine)` : ''}`);
  const pairs: [Result, Result][] = [];
  for (let i = 0; i < PAIRS; i++) {
    if (i % 2 === 0) pairs.push([await run(0), await run(ENDPOINTS)]);
    else {
      const withEndpoints = await run(ENDPOINTS);
      pairs.push([await run(0), withEndpoints]);
    }
  }
  const results = pairs.flat();
  const [a, b] = pairs[0]!;
  // Pulse's CPU per delivery: what the endpoints added per comment (each comment is one event, sent to each endpoint).
  const perDelivery = (b.cpuUsPerComment - a.cpuUsPerComment) / Math.max(1, ENDPOINTS);
  const bare = b.deliveredAfter ? await bareClient(b.perSecond * ENDPOINTS, Math.round(b.bytesAfter / b.deliveredAfter)) : 0;
  if (values.json) console.log(JSON.stringify({ results, cpuUsPerDelivery: perDelivery, bareClientCpuUsPerRequest: bare }));
  else {
    console.log(
      table(
        ['setup', 'comments/s', 'ack p50 ms', 'ack p99 ms', 'errors', 'server µs/comment', 'deliveries in run', 'delivery lag p50/p99 ms', 'deliveries total', 'other%'],
        results.map((r) => [
          r.setup,
          fmt(r.perSecond, 0),
          fmt(r.p50),
          fmt(r.p99),
          String(r.errors),
          fmt(r.cpuUsPerComment, 0),
          String(r.deliveredDuring),
          r.deliveredDuring ? `${fmt(r.lagP50, 0)} / ${fmt(r.lagP99, 0)}` : '–',
          String(r.deliveredAfter),
          fmt(r.neighbourPct, 0) + (r.neighbourPct > NEIGHBOUR_WARN_PCT ? ' (busy)' : ''),
        ]),
      ),
    );
    const cost = pairs.map(([none, some]) => ({ throughput: (some.perSecond / none.perSecond - 1) * 100, p99: (some.p99 / none.p99 - 1) * 100 }));
    const median = (xs: number[]) => {
      const s = [...xs].sort((x, y) => x - y);
      return (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2;
    };
    const each = (k: 'throughput' | 'p99') => (PAIRS > 1 ? ` (pairs: ${cost.map((c) => `${fmt(c[k])}%`).join(', ')}; median)` : '');
    console.log(
      `with ${ENDPOINTS} endpoints: throughput ${fmt(median(cost.map((c) => c.throughput)))}%${each('throughput')}, ` +
        `ack p99 ${fmt(median(cost.map((c) => c.p99)))}%${each('p99')} (target: ≥ -10% and ≤ +10%)`,
    );
    if (bare) {
      console.log(
        `CPU per delivery: Pulse ${fmt(perDelivery, 0)} µs; a bare keep-alive client signing and posting the same bodies on the same core ${fmt(bare, 0)} µs ` +
          `(Pulse ${fmt(perDelivery / bare)}×). ${ENDPOINTS} deliveries per comment cost at least ${fmt(ENDPOINTS * bare, 0)} µs, ` +
          `${fmt((ENDPOINTS * bare * 100) / a.cpuUsPerComment, 0)}% of a comment's own ${fmt(a.cpuUsPerComment, 0)} µs.`,
      );
      console.log(
        `By thread, with ${ENDPOINTS} endpoints: the sending thread ${fmt(b.sendingCpuUsPerDelivery, 0)} µs per delivery; ` +
          `the other threads ${fmt(b.mainCpuUsPerComment, 0)} µs per comment (${fmt(a.mainCpuUsPerComment, 0)} with no endpoint), ` +
          `and wrote ${fmt(b.mainBytesPerComment / 1024, 1)} KB per comment (${fmt(a.mainBytesPerComment / 1024, 1)}): the database's log, the responses.`,
      );
    }
  }
} finally {
  await runCleanups();
}
