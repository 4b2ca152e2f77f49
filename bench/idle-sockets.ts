/**
 * Memory per idle authenticated socket: a Pulse server in a child process, N sockets that
 * authenticate into 10 rooms and then stay idle; server heap and RSS measured before and after.
 * Compared with a bare `ws` server holding the same number of sockets in the same run.
 *
 *   npx tsx bench/idle-sockets.ts [--sockets 2000]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { baselineReady, boundRun, mintTokens, PULSE_BIN, pulseReady, runCleanups, spawnServer, tempDir } from './lib.ts';

const require = createRequire(import.meta.url);

const { values } = parseArgs({ options: { sockets: { type: 'string', default: '2000' } } });
const N = Number(values.sockets);
/**
 * Users: the server allows one user 20 connections in one room, so each user gets at most 10
 * sockets, all in the same one of the 10 rooms.
 */
const USERS = Math.max(50, Math.ceil(N / 10));
const roomOf = (i: number) => `room-${(i % USERS) % 10}`;

// Servers are children started by lib.ts (scrubbed environment, pinned to core 0 when taskset
// exists, killed and their temp dirs removed on every exit path).
boundRun(10);

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function settle(pid: number): Promise<number> {
  // Give the server time to finish allocating, then take the lowest of a few readings.
  await sleep(1500);
  const readings = [];
  for (let i = 0; i < 5; i++) {
    readings.push(rssKb(pid));
    await sleep(200);
  }
  return Math.min(...readings);
}

async function openMany(url: string, onOpen: (ws: WebSocket, i: number) => Promise<void>): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < N; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, N - i) }, async (_, j) => {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        await new Promise((resolve, reject) => {
          ws.once('open', resolve);
          ws.once('error', reject);
        });
        await onOpen(ws, i + j);
        sockets.push(ws);
      }),
    );
  }
  return sockets;
}

async function measurePulse(): Promise<number> {
  const dataDir = tempDir('pulse-idle-');
  const server = await spawnServer({
    args: [PULSE_BIN, 'start'],
    nodeFlags: ['--expose-gc'],
    env: { PULSE_DATA_DIR: dataDir.path, PULSE_PORT: '0', PULSE_LOG_LEVEL: 'warn', PULSE_MAX_CONNECTIONS_PER_IP: '0' },
    ready: pulseReady,
  });
  const { url, sk, pk } = server as Required<typeof server>;
  const tokens = await mintTokens(
    url,
    sk,
    Array.from({ length: USERS }, (_, i) => `idle-${i}`),
  );
  const wsUrl = url.replace('http', 'ws');
  const open = (ws: WebSocket, i: number) => authenticate(ws, pk, tokens[i % USERS]!, roomOf(i));
  // Warm up: one round of sockets so code paths and caches exist before the baseline.
  const warm = await openMany(wsUrl, open);
  warm.forEach((ws) => ws.close());
  await sleep(2000);
  const before = await settle(server.pid);
  const sockets = await openMany(wsUrl, open);
  const after = await settle(server.pid);
  sockets.forEach((ws) => ws.terminate());
  await server.stop();
  dataDir.remove();
  return ((after - before) * 1024) / N;
}

function authenticate(ws: WebSocket, apiKey: string, token: string, room: string): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.on('message', function onMessage(data) {
      const text = data.toString();
      if (text.startsWith('{"type":"auth:ok"')) {
        ws.off('message', onMessage);
        resolve();
      } else if (text.startsWith('{"type":"auth:error"')) reject(new Error(text));
    });
    ws.send(JSON.stringify({ type: 'auth', apiKey, token, room }));
  });
}

async function measureBareWs(): Promise<number> {
  // The baseline runs in a child too, so both are measured the same way.
  const code = `
    const { WebSocketServer } = require(${JSON.stringify(require.resolve('ws'))});
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    wss.on('connection', (ws) => ws.on('message', () => ws.send('{"type":"auth:ok"}')));
    wss.on('listening', () => console.log('listening at http://127.0.0.1:' + wss.address().port));`;
  const server = await spawnServer({ args: ['-e', code], ready: baselineReady });
  const wsUrl = server.url.replace('http', 'ws');
  const ready = async (ws: WebSocket) => authenticate(ws, 'pk', 't', 'r');
  const warm = await openMany(wsUrl, ready);
  warm.forEach((ws) => ws.close());
  await sleep(2000);
  const before = await settle(server.pid);
  const sockets = await openMany(wsUrl, ready);
  const after = await settle(server.pid);
  sockets.forEach((ws) => ws.terminate());
  await server.stop();
  return ((after - before) * 1024) / N;
}

try {
  const bare = await measureBareWs();
  const pulse = await measurePulse();
  console.log(
    `${N} idle sockets: bare ws ${(bare / 1024).toFixed(1)} KB/socket, Pulse (authenticated, in rooms) ${(pulse / 1024).toFixed(1)} KB/socket, ratio ${(pulse / bare).toFixed(2)}`,
  );
} finally {
  await runCleanups();
}
