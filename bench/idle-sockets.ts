/**
 * Memory per idle authenticated socket: a Pulse server in a child process, N sockets that
 * authenticate into 10 rooms and then stay idle; server heap and RSS measured before and after.
 * Compared with a bare `ws` server holding the same number of sockets in the same run.
 *
 *   npx tsx bench/idle-sockets.ts [--sockets 2000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { pulseReady } from './lib.ts';

const require = createRequire(import.meta.url);

const { values } = parseArgs({ options: { sockets: { type: 'string', default: '2000' } } });
const N = Number(values.sockets);
const BIN = new URL('../packages/server/bin/pulse.mjs', import.meta.url).pathname;

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
  const dataDir = mkdtempSync(join(tmpdir(), 'pulse-idle-'));
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', BIN, 'start'], {
    env: { ...process.env, PULSE_DATA_DIR: dataDir, PULSE_PORT: '0', PULSE_LOG_LEVEL: 'warn', PULSE_MAX_CONNECTIONS_PER_IP: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const ready = pulseReady(out);
      if (ready) resolve(ready.url);
    });
  });
  const { sk, pk } = pulseReady(out)!;
  const tokens = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const r = await fetch(`${url}/auth/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${sk}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: `idle-${i}`, name: `Idle ${i}` }),
      });
      return ((await r.json()) as { token: string }).token;
    }),
  );
  // Warm up: one round of sockets so code paths and caches exist before the baseline.
  const warm = await openMany(url.replace('http', 'ws'), async (ws, i) => authenticate(ws, pk, tokens[i % 50]!, `room-${i % 10}`));
  warm.forEach((ws) => ws.close());
  await sleep(2000);
  const before = await settle(child.pid!);
  const sockets = await openMany(url.replace('http', 'ws'), async (ws, i) => authenticate(ws, pk, tokens[i % 50]!, `room-${i % 10}`));
  const after = await settle(child.pid!);
  sockets.forEach((ws) => ws.terminate());
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
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
    wss.on('listening', () => console.log('port ' + wss.address().port));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.on('data', (d) => resolve(Number(/port (\d+)/.exec(String(d))![1]))));
  const ready = async (ws: WebSocket) => authenticate(ws, 'pk', 't', 'r');
  const warm = await openMany(`ws://127.0.0.1:${port}`, ready);
  warm.forEach((ws) => ws.close());
  await sleep(2000);
  const before = await settle(child.pid!);
  const sockets = await openMany(`ws://127.0.0.1:${port}`, ready);
  const after = await settle(child.pid!);
  sockets.forEach((ws) => ws.terminate());
  child.kill();
  return ((after - before) * 1024) / N;
}

const bare = await measureBareWs();
const pulse = await measurePulse();
console.log(`${N} idle sockets: bare ws ${(bare / 1024).toFixed(1)} KB/socket, Pulse (authenticated, in rooms) ${(pulse / 1024).toFixed(1)} KB/socket, ratio ${(pulse / bare).toFixed(2)}`);
