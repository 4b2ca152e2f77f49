/**
 * P2P shared data under load: N peers in one room (the first `p2pMeshLimit` in the mesh, the rest
 * on the relay), each setting a map key R times a second.
 *
 *   node --conditions=pulse-source --import tsx bench/p2p.ts [--peers 20] [--mesh 6] [--rate 10] [--seconds 20]
 *                                                             [--interval 5000] [--doc-kb 1024] [--json]
 *
 * Reports: how long an update takes to reach every other peer (p50/p99/max, per delivery and per
 * update fully converged), the server's CPU per relayed update beside the cursor relay's (the same
 * clients moving cursors at the same rate), the store writes of the room per persist interval, and
 * the time a joining peer takes to load a persisted document of `--doc-kb`.
 *
 * Mesh peers run the real client with an in-process stand-in for WebRTC (p2p-fake-webrtc.ts):
 * signalling goes through the server for real, data channels are in-process. Everything else is
 * the real server (a child process pinned to core 0, SQLite in a temp dir) and the real
 * @pulse/core client. Bounded: stops by itself after a few minutes at most.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { PulseClient, type P2PManager } from '@pulse/core';
import WebSocket from 'ws';
import { installFakeWebRTC } from './p2p-fake-webrtc.ts';
import {
  boundRun,
  fmt,
  GeneratorProbe,
  NeighbourProbe,
  LatencyHistogram,
  mintTokens,
  pinSelf,
  processCpuMicros,
  PULSE_BIN,
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
    peers: { type: 'string', default: '20' },
    mesh: { type: 'string', default: '6' },
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '20' },
    interval: { type: 'string', default: '5000' },
    'doc-kb': { type: 'string', default: '1024' },
    json: { type: 'boolean', default: false },
  },
});
const PEERS = Number(values.peers);
const MESH = Number(values.mesh);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const INTERVAL = Number(values.interval);
const DOC_KB = Number(values['doc-kb']);

boundRun(6);
pinSelf();
installFakeWebRTC();

/** Counts the server's frames a client receives, by type (relayed updates, saved notices, cursor batches). */
const frames = { 'p2p:update': 0, 'p2p:saved': 0, batch: 0 } as Record<string, number>;
let sockets = 0;
class CountingSocket extends WebSocket {
  constructor(url: string) {
    super(url);
    // Store writes are announced to every peer: counted on the first socket only.
    const first = sockets++ === 0;
    this.on('message', (data) => {
      const text = data.toString('utf8', 0, 40);
      const type = /"type":"([^"]+)"/.exec(text)?.[1];
      if (type === 'p2p:saved' && !first) return;
      if (type && type in frames) frames[type]!++;
    });
  }
}

// A shared machine: wait (up to a minute) for other processes to calm down first.
const quiet = await waitForQuiet(60_000);
if (quiet >= 10) console.warn(`(the machine is still busy: ${fmt(quiet, 0)}% of a core used by other processes; running anyway)`);
const data = tempDir('pulse-bench-p2p-');
const server = await spawnServer({
  args: [PULSE_BIN, 'start'],
  env: { PULSE_DATA_DIR: data.path, PULSE_PORT: '0', PULSE_LOG_LEVEL: 'warn', PULSE_MAX_CONNECTIONS_PER_IP: '0' },
  ready: pulseReady,
});
try {
  const url = server.url;
  const mint = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.sk}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: 'probe', name: 'Probe' }),
  });
  const envId = ((await mint.json()) as { user: { id: string } }).user.id.split(':')[0]!;
  execFileSync(process.execPath, [PULSE_BIN, 'env', 'config', envId, 'allowP2P=true', `p2pMeshLimit=${MESH}`, `p2pPersistIntervalMs=${INTERVAL}`], {
    env: { ...scrubbedEnv(), PULSE_DATA_DIR: data.path },
    stdio: 'pipe',
  });

  const connect = async (userId: string, token: string, room: string): Promise<[PulseClient, P2PManager]> => {
    const client = new PulseClient({ apiKey: server.pk!, token, room, endpoint: url, WebSocket: CountingSocket as never });
    client.connect();
    return [client, await client.p2p];
  };
  const ids = Array.from({ length: PEERS }, (_, i) => `peer${i}`);
  const tokens = await mintTokens(url, server.sk!, [...ids, 'loader', 'writer']);
  const peers: [PulseClient, P2PManager][] = [];
  for (let i = 0; i < PEERS; i++) peers.push(await connect(ids[i]!, tokens[i]!, 'bench-room'));
  // Wait for the mesh: every mesh peer's channels open.
  const meshReady = Date.now();
  while (Date.now() - meshReady < 20_000) {
    const open = peers.slice(0, MESH).every(([, p]) => [...p.peers.values()].filter((s) => s.dataChannelOpen).length === MESH - 1);
    if (open) break;
    await sleep(50);
  }
  const transports = peers.map(([, p]) => p.transport);

  // --- Phase 1: map updates.
  const perDelivery = new LatencyHistogram();
  const perUpdate = new LatencyHistogram();
  const pending = new Map<string, { sentAt: number; left: number; max: number }>();
  peers.forEach(([, p], i) => {
    p.sharedMap<{ t: number; id: string }>('load').on('change', (changes) => {
      const now = performance.now();
      for (const c of changes) {
        if (c.local || !c.value) continue;
        const lat = now - c.value.t;
        perDelivery.record(lat);
        const u = pending.get(c.value.id);
        if (!u) continue;
        u.max = Math.max(u.max, lat);
        if (--u.left === 0) {
          perUpdate.record(u.max);
          pending.delete(c.value.id);
        }
      }
      void i;
    });
  });
  const relayBefore = frames['p2p:update']!;
  const savedBefore = frames['p2p:saved']!;
  const gen = new GeneratorProbe();
  gen.start();
  const neighbours = new NeighbourProbe(server.pid);
  neighbours.start();
  const cpu0 = processCpuMicros(server.pid);
  const started = performance.now();
  let sent = 0;
  const tickMs = 1000 / RATE;
  await Promise.all(
    peers.map(async ([, p], i) => {
      await sleep(Math.random() * tickMs);
      const map = p.sharedMap<{ t: number; id: string }>('load');
      for (let k = 0; performance.now() - started < SECONDS * 1000; k++) {
        const id = `${i}-${k}`;
        pending.set(id, { sentAt: performance.now(), left: PEERS - 1, max: 0 });
        map.set(`k${id}`, { t: performance.now(), id });
        sent++;
        const next = started + (k + 1) * tickMs + (i * tickMs) / PEERS;
        await sleep(Math.max(0, next - performance.now()));
      }
    }),
  );
  await sleep(1000); // let the last updates land
  const mapCpuUs = processCpuMicros(server.pid) - cpu0;
  const genStats = gen.stop();
  const neighbourPct = neighbours.stop();
  const relayed = frames['p2p:update']! - relayBefore;
  const savedDuring = frames['p2p:saved']! - savedBefore;
  const undelivered = pending.size;

  // --- Phase 2: the cursor relay, same clients, same rate (a cursor batch per 25 ms tick).
  const batchesBefore = frames.batch!;
  const cursorsSeen = { n: 0 };
  for (const [c] of peers) c.state.on('cursor', () => cursorsSeen.n++);
  const cpu1 = processCpuMicros(server.pid);
  const cursorStart = performance.now();
  await Promise.all(
    peers.map(async ([c], i) => {
      for (let k = 0; performance.now() - cursorStart < (SECONDS / 2) * 1000; k++) {
        c.moveCursor({ x: Math.random(), y: Math.random(), pageX: i, pageY: k });
        await sleep(tickMs);
      }
    }),
  );
  await sleep(500);
  const cursorCpuUs = processCpuMicros(server.pid) - cpu1;
  const cursorEvents = cursorsSeen.n;
  const cursorBatches = frames.batch! - batchesBefore;
  for (const [c] of peers) c.disconnect();
  await sleep(500);

  // --- Phase 3: a persisted document of DOC_KB loads into a joining peer.
  const [writerClient, writer] = await connect('writer', tokens[PEERS + 1]!, 'bench-doc');
  const chunk = 'x'.repeat(1000);
  const docMap = writer.sharedMap<string>('doc');
  writer.doc.transact(() => {
    for (let i = 0; i < DOC_KB; i++) docMap.set(`k${i}`, chunk);
  });
  await sleep(300);
  writerClient.disconnect();
  let stored = 0;
  for (let i = 0; i < 100 && stored === 0; i++) {
    await sleep(100);
    const r = await fetch(`${url}/api/v1/rooms/bench-doc/shared`, { headers: { authorization: `Bearer ${server.sk}` } });
    if (r.status === 200) stored = ((await r.json()) as { bytes: number }).bytes;
  }
  const loader = new PulseClient({ apiKey: server.pk!, token: tokens[PEERS]!, room: 'bench-doc', endpoint: url, WebSocket: WebSocket as never });
  const t0 = performance.now();
  let authAt = 0;
  loader.on('auth:ok', () => (authAt = performance.now()));
  loader.connect();
  const loaded = await loader.p2p;
  const loadMs = performance.now() - t0;
  const afterAuthMs = performance.now() - authAt;
  const loadedEntries = loaded.sharedMap('doc').size;
  loader.disconnect();

  const result = {
    peers: PEERS,
    mesh: transports.filter((t) => t === 'p2p').length,
    relay: transports.filter((t) => t === 'websocket').length,
    ratePerPeer: RATE,
    seconds: SECONDS,
    updatesSent: sent,
    undelivered,
    deliveryP50Ms: perDelivery.percentile(50),
    deliveryP99Ms: perDelivery.percentile(99),
    convergedP50Ms: perUpdate.percentile(50),
    convergedP99Ms: perUpdate.percentile(99),
    convergedMaxMs: perUpdate.max,
    relayedDeliveries: relayed,
    serverCpuPctMap: mapCpuUs / 10 / (SECONDS * 1000 + 1000),
    serverCpuUsPerRelayedDelivery: mapCpuUs / Math.max(1, relayed),
    serverCpuUsPerUpdateSent: mapCpuUs / Math.max(1, sent),
    cursorEventsDelivered: cursorEvents,
    cursorBatches,
    serverCpuUsPerCursorDelivery: cursorCpuUs / Math.max(1, cursorEvents),
    storeWritesDuringMapPhase: savedDuring,
    persistIntervals: (SECONDS * 1000 + 1000) / INTERVAL,
    docStoredBytes: stored,
    docLoadMs: loadMs,
    docLoadAfterAuthMs: afterAuthMs,
    docEntriesLoaded: loadedEntries,
    generatorLagP99Ms: genStats.lagP99Ms,
    generatorCpuPct: genStats.cpuPct,
    neighbourPct,
  };
  if (values.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(
      `generator: CPU ${fmt(genStats.cpuPct, 0)}%, event-loop lag p99 ${fmt(genStats.lagP99Ms, 1)} ms; other processes used ${fmt(neighbourPct, 0)}% of a core` +
        (neighbourPct > 15 ? '  ⚠ a busy machine: latencies include waiting for a core' : ''),
    );
    console.log(`P2P: ${PEERS} peers (${result.mesh} mesh, ${result.relay} relay), ${RATE} map updates/s each for ${SECONDS} s, persist interval ${INTERVAL} ms`);
    console.log(
      table(
        ['updates', 'lost', 'deliver p50', 'deliver p99', 'all-peers p50', 'all-peers p99', 'max', 'relayed', 'srv CPU%', 'µs/relayed', 'µs/cursor', 'writes', 'intervals', `${DOC_KB} KB load`],
        [
          [
            String(sent),
            String(undelivered),
            fmt(result.deliveryP50Ms, 2),
            fmt(result.deliveryP99Ms, 2),
            fmt(result.convergedP50Ms, 2),
            fmt(result.convergedP99Ms, 2),
            fmt(result.convergedMaxMs, 1),
            String(relayed),
            fmt(result.serverCpuPctMap, 1),
            fmt(result.serverCpuUsPerRelayedDelivery, 1),
            fmt(result.serverCpuUsPerCursorDelivery, 1),
            String(savedDuring),
            fmt(result.persistIntervals, 1),
            `${fmt(loadMs, 0)} ms (${fmt(afterAuthMs, 0)} after auth; ${fmt(stored / 1024, 0)} KB)`,
          ],
        ],
      ),
    );
  }
} finally {
  await server.stop();
  data.remove();
  await runCleanups();
}
