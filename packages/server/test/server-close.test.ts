import { request as httpRequest, Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, waitFor } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/**
 * close() used to wait for keep-alive connections: one whose response finished after the server
 * began closing stayed open until its keep-alive timeout (72 s), and close() with it.
 */

/** A generous bound: a hang lasts the keep-alive timeout (72 s), a clean close well under 1 s. */
const CLOSE_BOUND_MS = 5000;

async function timedClose(t: TestServer): Promise<number> {
  const start = Date.now();
  const closing = t.close();
  const bound = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), CLOSE_BOUND_MS).unref());
  const outcome = await Promise.race([closing.then(() => 'closed' as const), bound]);
  expect(outcome).toBe('closed');
  return Date.now() - start;
}

/** A raw keep-alive HTTP/1.1 client on one TCP connection. */
function rawClient(url: string) {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  let received = '';
  let closed = false;
  socket.on('data', (d) => (received += d));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  const ready = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    ready,
    get received() {
      return received;
    },
    get closed() {
      return closed;
    },
    write: (text: string) => socket.write(text),
  };
}

/** Resolves once the server has parsed a request's headers (a sleep is not enough on a busy machine). */
const requestSeen = (t: TestServer) => new Promise<void>((resolve) => t.server.app.server.once('request', () => resolve()));

describe('server close', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    // A failed test may leave the server open: do not let it hold the run.
    const left = t;
    t = undefined;
    if (left) await Promise.race([left.close().catch(() => undefined), sleep(1000)]);
  });

  it('closes promptly with an idle keep-alive connection open', async () => {
    t = await startTestServer();
    const agent = new Agent({ keepAlive: true });
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${t!.url}/healthz`, { agent }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(body).status).toBe('ok');
    const server = t;
    t = undefined;
    expect(await timedClose(server)).toBeLessThan(CLOSE_BOUND_MS);
    agent.destroy();
  });

  it('closes promptly when a keep-alive request finishes after close() began, and still answers it', async () => {
    t = await startTestServer();
    const c = rawClient(t.url);
    await c.ready;
    // A request in flight when the server starts closing: its body arrives a moment later.
    const body = JSON.stringify({ userId: 'late', name: 'Late' });
    const started = requestSeen(t);
    c.write(
      `POST /auth/token HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nAuthorization: Bearer ${t.secretKey}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    await started;
    const server = t;
    t = undefined;
    const start = Date.now();
    const closing = server.close();
    await sleep(50);
    c.write(body);
    const bound = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), CLOSE_BOUND_MS).unref());
    const outcome = await Promise.race([closing.then(() => 'closed' as const), bound]);
    expect(outcome).toBe('closed');
    expect(Date.now() - start).toBeLessThan(CLOSE_BOUND_MS);
    // The in-flight request was answered, not cut, and the connection was closed after it. (The
    // server's side may close before this process has read the answer: wait for the client's end.)
    await waitFor(() => c.closed, 2000, 'the client to see the connection end');
    expect(c.received).toMatch(/^HTTP\/1\.1 200/);
    expect(c.received).toContain('"token"');
    await sleep(50);
    expect(c.closed).toBe(true);
    c.socket.destroy();
  });

  it('cuts a request that is still not done after the grace period', async () => {
    t = await startTestServer('sqlite', { http: { closeGraceMs: 300 } });
    const c = rawClient(t.url);
    await c.ready;
    // A body that never arrives: without the grace period, close() would wait for its timeout.
    const started = requestSeen(t);
    c.write(`POST /auth/token HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.secretKey}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
    await started;
    const server = t;
    t = undefined;
    const took = await timedClose(server);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3000);
    await sleep(50);
    expect(c.closed).toBe(true);
  });
});
