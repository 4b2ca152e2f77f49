/**
 * Comments over WebSocket at twice the saturation rate: does Pulse stay responsive, refuse
 * explicitly, and keep every comment it acknowledged?
 *
 * 1. Saturation (skipped with --saturation N): a fresh Pulse server is offered a ladder of rates
 *    (--steps, 3 s each, open loop). A step holds when ≥ 98 % of its comments are acked within
 *    its 3 s + 2 s, none refused, ack p99 ≤ 250 ms. Saturation = the largest rate held.
 * 2. Overload: a second fresh server is offered --factor (2) × saturation for --seconds (30),
 *    open loop, round-robin over --posters sockets (default 400, more if needed so that none
 *    posts faster than 8/s: the server allows each connection a 40 burst then 10 durable
 *    messages/s) in --rooms rooms, each room's comments to one thread. Meanwhile:
 *    - a health probe GETs /healthz every 50 ms (one at a time on a keep-alive connection); its
 *      latency is the stall figure (the server's event loop can't be observed from outside);
 *    - the server's RSS (VmRSS of the child process) is sampled every second.
 *    After the window, up to --timeout-ms (10 s) for the last answers, then every thread is read
 *    back over REST (GET /api/v1/threads/:id) and every acked comment id must be there.
 *
 * Reported: offered and acked /s, refusals by code, timeouts (no answer within 10 s), comments
 * dropped because the server had closed the socket, lost acked comments, probe latency p50/p99/max
 * and failures, RSS start / max / end and growth, server CPU. Targets: stall ≤ 100 ms, RSS growth
 * ≤ 100 MB, 0 lost, 0 timeouts.
 *
 *   npx tsx bench/overload.ts [--saturation N] [--factor 2] [--seconds 30] [--posters 400] [--rooms 50]
 *                             [--steps 200,400,600,800,1000,1300,1600,2000,2500,3000]
 *                             [--driver sqlite|postgres] [--quiet-wait 30] [--json]
 *
 * Pulse runs as a child process pinned to core 0 (RSS is its own); this generator on core 1.
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import {
  boundRun,
  type Driver,
  fmt,
  GeneratorProbe,
  hasTaskset,
  httpRequest,
  keepAliveAgent,
  LatencyHistogram,
  mintTokens,
  NeighbourProbe,
  pinSelf,
  pool,
  processCpuMicros,
  readNumber,
  rssKb,
  runCleanups,
  sleep,
  startComments,
  waitForQuiet,
} from './lib.ts';

const { values } = parseArgs({
  options: {
    saturation: { type: 'string' },
    factor: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '30' },
    posters: { type: 'string', default: '400' },
    rooms: { type: 'string', default: '50' },
    steps: { type: 'string', default: '200,400,600,800,1000,1300,1600,2000,2500,3000' },
    'step-seconds': { type: 'string', default: '3' },
    'probe-ms': { type: 'string', default: '50' },
    'timeout-ms': { type: 'string', default: '10000' },
    driver: { type: 'string', default: 'sqlite' },
    'quiet-wait': { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
  },
});
const FACTOR = Number(values.factor);
const SECONDS = Number(values.seconds);
const ROOMS = Number(values.rooms);
const STEPS = values.steps.split(',').map(Number);
const STEP_SECONDS = Number(values['step-seconds']);
const PROBE_MS = Number(values['probe-ms']);
const TIMEOUT_MS = Number(values['timeout-ms']);
const DRIVER = values.driver as Driver;
if (DRIVER !== 'sqlite' && DRIVER !== 'postgres') throw new Error(`--driver must be sqlite or postgres, got ${values.driver}`);
const PER_POSTER_MAX = 8;
const TARGETS = { stallMs: 100, rssGrowthMb: 100 };

pinSelf();
boundRun(15);

const ACK = Buffer.from('{"type":"ack"');
const ERROR = Buffer.from('{"type":"error"');
const REF = Buffer.from('"ref":"c');
const startsWith = (data: Buffer, prefix: Buffer) => data.length >= prefix.length && prefix.compare(data, 0, prefix.length) === 0;
const FILLER = ' — a comment with a realistic amount of text in it, about one sentence long.';

type Server = Awaited<ReturnType<typeof startComments>>;

/** Answer state per comment: 0 none yet, 1 acked, 2 refused (error frame), 3 not sent (socket closed). */
interface OfferResult {
  rate: number;
  seconds: number;
  sent: number;
  notSent: number;
  acked: number;
  ackedInWindow: number;
  refused: Record<string, number>;
  otherErrors: Record<string, number>;
  closes: Record<string, number>;
  timeouts: number;
  ackHist: LatencyHistogram;
  ids: string[];
  answer: Uint8Array;
  serverCpuPct: number;
  gen: { lagP99Ms: number; lagMaxMs: number; cpuPct: number };
  neighbourPct: number;
}

/** P authenticated sockets in ROOMS rooms, one thread per room; offers comments open loop. */
class Posters {
  readonly sockets: WebSocket[] = [];
  #onAck: (j: number) => void = () => {};
  #onError: (ref: string | undefined, code: string) => void = () => {};
  readonly closes: Record<string, number> = {};
  #stopping = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #batch = 0;

  private constructor(
    readonly server: Server,
    readonly count: number,
  ) {}

  static async open(server: Server, count: number): Promise<Posters> {
    const p = new Posters(server, count);
    const tokens = await mintTokens(server.url, server.sk!, Array.from({ length: count }, (_, i) => `poster-${i}`));
    const wsUrl = server.url.replace(/^http/, 'ws') + '/';
    const threadAcks = new Map<string, () => void>();
    await pool(count, 50, async (i) => {
      const ws = new WebSocket(wsUrl, { perMessageDeflate: false, skipUTF8Validation: true });
      p.sockets[i] = ws;
      ws.on('error', () => {});
      ws.on('close', (code) => {
        if (!p.#stopping) p.closes[code] = (p.closes[code] ?? 0) + 1;
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => {
          ws.send(JSON.stringify({ type: 'auth', apiKey: server.pk, token: tokens[i], room: `overload-${i % ROOMS}` }));
          const onAuth = (data: Buffer) => {
            const s = data.toString('latin1', 0, 24);
            if (s.startsWith('{"type":"auth:ok"')) {
              ws.off('message', onAuth);
              ws.on('message', (d: Buffer) => p.#onMessage(d, threadAcks));
              resolve();
            } else if (s.startsWith('{"type":"auth:error"')) reject(new Error(`auth failed: ${data}`));
          };
          ws.on('message', onAuth);
        });
        ws.once('error', reject);
      });
    });
    p.#heartbeat = setInterval(() => {
      for (const ws of p.sockets) if (ws.readyState === 1) ws.send('{"type":"presence:heartbeat"}');
    }, 20_000);
    await Promise.all(
      Array.from({ length: Math.min(ROOMS, count) }, (_, r) =>
        new Promise<void>((resolve) => {
          threadAcks.set(`t${r}`, resolve);
          p.sockets[r]!.send(JSON.stringify({ type: 'thread:create', ref: `t${r}`, id: `overload-thread-${r}`, body: 'Overload thread', mentions: [], position: null }));
        }),
      ),
    );
    return p;
  }

  #onMessage(data: Buffer, threadAcks: Map<string, () => void>): void {
    if (startsWith(data, ACK)) {
      const p = data.indexOf(REF);
      if (p !== -1) return this.#onAck(readNumber(data, p + REF.length));
      const t = /"ref":"(t\d+)"/.exec(data.toString());
      if (t) threadAcks.get(t[1]!)?.();
    } else if (startsWith(data, ERROR)) {
      const e = JSON.parse(data.toString()) as { code: string; ref?: string };
      this.#onError(e.ref, e.code);
    }
  }

  /** Offers `rate` comments/s for `seconds`, then waits up to TIMEOUT_MS for the answers. */
  async offer(rate: number, seconds: number, during?: { start(): void; stop(): void }): Promise<OfferResult> {
    const batch = this.#batch++;
    const total = Math.round(rate * seconds);
    const sendAt = new Float64Array(total);
    const answer = new Uint8Array(total);
    const ids = Array.from({ length: total }, (_, j) => `ov-${batch}-${j}`);
    const ackHist = new LatencyHistogram();
    const refused: Record<string, number> = {};
    const otherErrors: Record<string, number> = {};
    let acked = 0;
    let answered = 0;
    let ackedInWindow = 0;
    let timeouts = 0;
    let windowEnd = Infinity;
    this.#onAck = (j) => {
      if (j >= total || answer[j]) return;
      const now = performance.now();
      answer[j] = 1;
      acked++;
      answered++;
      if (now <= windowEnd) ackedInWindow++;
      const ms = now - sendAt[j]!;
      ackHist.record(ms);
      if (ms > TIMEOUT_MS) timeouts++;
    };
    this.#onError = (ref, code) => {
      if (ref?.startsWith('c')) {
        const j = Number(ref.slice(1));
        if (j >= total || answer[j]) return;
        answer[j] = 2;
        answered++;
        if (performance.now() - sendAt[j]! > TIMEOUT_MS) timeouts++;
        refused[code] = (refused[code] ?? 0) + 1;
      } else otherErrors[code] = (otherErrors[code] ?? 0) + 1;
    };

    const probe = new GeneratorProbe();
    const neighbours = new NeighbourProbe(this.server.pid);
    const cpu0 = processCpuMicros(this.server.pid);
    probe.start();
    neighbours.start();
    during?.start();
    let sent = 0;
    let notSent = 0;
    const T0 = performance.now() + 10;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        while (sent < total && T0 + (sent * 1000) / rate <= now) {
          const j = sent++;
          const poster = j % this.count;
          const ws = this.sockets[poster]!;
          sendAt[j] = performance.now();
          if (ws.readyState !== 1) {
            answer[j] = 3;
            notSent++;
            answered++;
            continue;
          }
          ws.send(`{"type":"comment:create","ref":"c${j}","id":"${ids[j]}","threadId":"overload-thread-${poster % ROOMS}","body":"overload ${j}${FILLER}"}`);
        }
        if (sent >= total) {
          clearInterval(timer);
          resolve();
        }
      }, 1);
    });
    windowEnd = performance.now();
    const window = (windowEnd - T0) / 1000;
    const cpu1 = processCpuMicros(this.server.pid);
    const gen = probe.stop();
    const neighbourPct = neighbours.stop();
    during?.stop();
    const until = performance.now() + TIMEOUT_MS;
    while (answered < total && performance.now() < until) await sleep(50);
    for (let j = 0; j < total; j++) if (answer[j] === 0) timeouts++;
    this.#onAck = () => {};
    this.#onError = () => {};
    return {
      rate,
      seconds: window,
      sent: sent - notSent,
      notSent,
      acked,
      ackedInWindow,
      refused,
      otherErrors,
      closes: { ...this.closes },
      timeouts,
      ackHist,
      ids,
      answer,
      serverCpuPct: (cpu1 - cpu0) / 1e4 / window,
      gen,
      neighbourPct,
    };
  }

  close(): void {
    this.#stopping = true;
    clearInterval(this.#heartbeat);
    for (const ws of this.sockets) ws?.terminate();
  }
}

/** GET /healthz every PROBE_MS, one at a time; latency of each, failures (non-200, errors). */
class HealthProbe {
  readonly hist = new LatencyHistogram();
  readonly failures: Record<string, number> = {};
  #running = false;
  #done: Promise<void> | undefined;
  constructor(readonly server: Server) {}
  start(): void {
    this.#running = true;
    const url = new URL(this.server.url);
    const agent = keepAliveAgent(1);
    this.#done = (async () => {
      let next = performance.now();
      while (this.#running) {
        const t0 = performance.now();
        try {
          const r = await httpRequest(agent, url, 'GET', '/healthz', {}, undefined, TIMEOUT_MS);
          if (r.status !== 200) this.failures[`http_${r.status}`] = (this.failures[`http_${r.status}`] ?? 0) + 1;
        } catch (err) {
          const k = (err as Error).message;
          this.failures[k] = (this.failures[k] ?? 0) + 1;
        }
        this.hist.record(performance.now() - t0);
        next += PROBE_MS;
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        else next = performance.now();
      }
      agent.destroy();
    })();
  }
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}

const postersFor = (rate: number) => Math.max(Number(values.posters), Math.ceil(rate / PER_POSTER_MAX));

async function findSaturation(): Promise<{ saturation: number; steps: Array<{ rate: number; ackedPerS: number; ackP99: number; refused: number; holds: boolean }> }> {
  const server = await startComments('pulse', DRIVER);
  const steps: Array<{ rate: number; ackedPerS: number; ackP99: number; refused: number; holds: boolean }> = [];
  let posters: Posters | undefined;
  try {
    posters = await Posters.open(server, postersFor(Math.max(...STEPS)));
    await sleep(500);
    let saturation = 0;
    for (const rate of STEPS) {
      const r = await posters.offer(rate, STEP_SECONDS);
      const refused = Object.values(r.refused).reduce((a, b) => a + b, 0);
      const ackP99 = r.ackHist.percentile(99);
      const holds = r.acked >= 0.98 * Math.round(rate * STEP_SECONDS) && refused === 0 && r.notSent === 0 && ackP99 <= 250;
      steps.push({ rate, ackedPerS: r.acked / r.seconds, ackP99, refused, holds });
      console.log(`  step ${String(rate).padStart(5)}/s: acked ${fmt(r.acked / r.seconds, 0)}/s, ack p99 ${fmt(ackP99, 1)} ms, refused ${refused}, server CPU ${fmt(r.serverCpuPct, 0)}%${holds ? '' : '  (does not hold)'}`);
      if (!holds) {
        if (saturation === 0) saturation = Math.floor(r.ackedInWindow / r.seconds);
        break;
      }
      saturation = rate;
    }
    return { saturation, steps };
  } finally {
    posters?.close();
    await server.stopAndClean();
  }
}

async function overload(rate: number) {
  const server = await startComments('pulse', DRIVER);
  let posters: Posters | undefined;
  const probe = new HealthProbe(server);
  try {
    const count = postersFor(rate);
    posters = await Posters.open(server, count);
    await sleep(1000);
    const rss: number[] = [];
    let rssTimer: NodeJS.Timeout | undefined;
    const r = await posters.offer(rate, SECONDS, {
      start: () => {
        probe.start();
        rss.push(rssKb(server.pid));
        rssTimer = setInterval(() => rss.push(rssKb(server.pid)), 1000);
      },
      stop: () => {
        clearInterval(rssTimer);
        rss.push(rssKb(server.pid));
      },
    });
    await probe.stop();
    const rssAfterDrain = rssKb(server.pid);

    // Every acked comment must be stored: read each thread back over REST.
    const agent = keepAliveAgent(4);
    const url = new URL(server.url);
    const stored = new Set<string>();
    for (let t = 0; t < Math.min(ROOMS, count); t++) {
      const res = await httpRequest(agent, url, 'GET', `/api/v1/threads/overload-thread-${t}`, { authorization: `Bearer ${server.sk}` }, undefined, 60_000);
      if (res.status !== 200) throw new Error(`GET thread ${t}: ${res.status} ${res.body}`);
      for (const c of (JSON.parse(res.body.toString()) as { comments: Array<{ id: string }> }).comments) stored.add(c.id);
    }
    agent.destroy();
    let lost = 0;
    let storedUnacked = 0;
    for (let j = 0; j < r.ids.length; j++) {
      const has = stored.has(r.ids[j]!);
      if (r.answer[j] === 1 && !has) lost++;
      if (r.answer[j] !== 1 && has) storedUnacked++;
    }
    return { rate, posters: count, r, rss, rssAfterDrain, probe, lost, storedUnacked };
  } finally {
    await probe.stop();
    posters?.close();
    await server.stopAndClean();
  }
}

console.log(
  `overload (${DRIVER}): comments over WebSocket at ${FACTOR}× saturation for ${SECONDS}s, ${ROOMS} rooms; /healthz every ${PROBE_MS} ms; ` +
    `server on core 0, generator on core 1 (taskset: ${hasTaskset}); node ${process.version}`,
);
try {
  const quiet = await waitForQuiet(Number(values['quiet-wait']) * 1000);
  if (quiet >= 10) console.warn(`  (the machine is still busy: ${fmt(quiet, 0)}% of a core used by other processes; running anyway)`);
  let saturation = Number(values.saturation ?? 0);
  let steps: Awaited<ReturnType<typeof findSaturation>>['steps'] = [];
  if (!saturation) {
    console.log(`saturation: ${STEP_SECONDS}s per step (holds: ≥ 98% acked, 0 refused, ack p99 ≤ 250 ms)`);
    ({ saturation, steps } = await findSaturation());
    if (steps.length && steps.every((s) => s.holds)) console.log(`  (every step held: ${saturation}/s is a lower bound)`);
  }
  if (!saturation) throw new Error('no saturation rate found');
  const rate = Math.round(saturation * FACTOR);
  console.log(`saturation ${saturation}/s${values.saturation ? ' (given)' : ''}; offering ${rate}/s for ${SECONDS}s`);
  const o = await overload(rate);
  const { r } = o;
  const refusedTotal = Object.values(r.refused).reduce((a, b) => a + b, 0);
  const rssStart = o.rss[0]!;
  const rssMax = Math.max(...o.rss);
  const rssEnd = o.rss[o.rss.length - 1]!;
  const growthMb = (rssEnd - rssStart) / 1024;
  const stallMax = o.probe.hist.max;
  const probeFailures = Object.values(o.probe.failures).reduce((a, b) => a + b, 0);
  console.log('');
  console.log(`posters ${o.posters} (≤ ${fmt(rate / o.posters, 1)}/s each), window ${fmt(r.seconds, 1)} s`);
  console.log(`offered ${fmt(r.sent / r.seconds, 0)}/s (${r.sent} sent${r.notSent ? `, ${r.notSent} not sent: socket closed by the server` : ''})`);
  console.log(`acked ${fmt(r.ackedInWindow / r.seconds, 0)}/s during the window (${r.acked} in all), ack p50 ${fmt(r.ackHist.percentile(50), 1)} ms, p99 ${fmt(r.ackHist.percentile(99), 1)} ms, max ${fmt(r.ackHist.max, 0)} ms`);
  console.log(`refused explicitly ${refusedTotal}${refusedTotal ? ' ' + JSON.stringify(r.refused) : ''}${Object.keys(r.otherErrors).length ? `; errors without a ref ${JSON.stringify(r.otherErrors)}` : ''}`);
  console.log(`sockets closed by the server: ${Object.keys(r.closes).length ? JSON.stringify(r.closes) : 0}`);
  console.log(`timeouts (no answer within ${TIMEOUT_MS / 1000} s) ${r.timeouts}  [target 0: ${r.timeouts === 0 ? 'met' : 'NOT met'}]`);
  console.log(`lost (acked, not stored) ${o.lost}  [target 0: ${o.lost === 0 ? 'met' : 'NOT met'}]; stored but not acked ${o.storedUnacked}`);
  console.log(
    `/healthz probe: ${o.probe.hist.count} probes, p50 ${fmt(o.probe.hist.percentile(50), 1)} ms, p99 ${fmt(o.probe.hist.percentile(99), 1)} ms, ` +
      `max ${fmt(stallMax, 0)} ms, failures ${probeFailures}${probeFailures ? ' ' + JSON.stringify(o.probe.failures) : ''}  [target stall ≤ ${TARGETS.stallMs} ms: ${stallMax <= TARGETS.stallMs ? 'met' : 'NOT met'}]`,
  );
  console.log(
    `server RSS: start ${fmt(rssStart / 1024, 0)} MB, max ${fmt(rssMax / 1024, 0)} MB, end of window ${fmt(rssEnd / 1024, 0)} MB (growth ${fmt(growthMb, 0)} MB), ` +
      `after drain ${fmt(o.rssAfterDrain / 1024, 0)} MB  [target growth ≤ ${TARGETS.rssGrowthMb} MB: ${growthMb <= TARGETS.rssGrowthMb ? 'met' : 'NOT met'}]`,
  );
  console.log(`server CPU ${fmt(r.serverCpuPct, 0)}%, generator CPU ${fmt(r.gen.cpuPct, 0)}% lag p99 ${fmt(r.gen.lagP99Ms, 1)} ms max ${fmt(r.gen.lagMaxMs, 0)} ms, neighbours ${fmt(r.neighbourPct, 0)}% of a core`);
  console.log(`RSS per second (MB): ${o.rss.map((k) => Math.round(k / 1024)).join(' ')}`);
  if (values.json)
    console.log(
      JSON.stringify({
        saturation,
        steps,
        rate,
        posters: o.posters,
        ackedPerS: r.ackedInWindow / r.seconds,
        refused: r.refused,
        timeouts: r.timeouts,
        notSent: r.notSent,
        lost: o.lost,
        probe: { p50: o.probe.hist.percentile(50), p99: o.probe.hist.percentile(99), max: stallMax, failures: o.probe.failures },
        rssKb: o.rss,
      }),
    );
} finally {
  await runCleanups();
}
