import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_HTTP_LIMITS } from '../src/http-limits.ts';
import { optionsFromEnv, type ServerOptions } from '../src/options.ts';
import { mintToken, RawSocket, sleep } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/**
 * Issue 11: Fastify's requestTimeout and connectionTimeout were 0, so a slow client could hold a
 * login or upload connection open for minutes, and one address could open any number of them.
 */

const PHOTO = readFileSync(new URL('./fixtures/media/photo.png', import.meta.url));

/** A raw TCP client: writes what it is told, records what it gets and when it is closed. */
class Raw {
  readonly socket: Socket;
  received = '';
  closedAt: number | undefined;
  readonly openedAt = Date.now();
  readonly ready: Promise<void>;
  constructor(url: string) {
    const { hostname, port } = new URL(url);
    this.socket = connect(Number(port), hostname);
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('error', () => undefined);
    this.socket.on('data', (d) => (this.received += d));
    this.socket.on('close', () => (this.closedAt = Date.now()));
  }
  write(text: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(text);
  }
  /** Writes `text` a few bytes at a time, every `everyMs`, until done or the socket closes. */
  async trickle(text: string | Buffer, bytes: number, everyMs: number): Promise<void> {
    const data = Buffer.from(text);
    for (let i = 0; i < data.length && this.closedAt === undefined; i += bytes) {
      this.write(data.subarray(i, i + bytes));
      await sleep(everyMs);
    }
  }
  async closed(ms: number): Promise<number> {
    const start = Date.now();
    while (this.closedAt === undefined) {
      if (Date.now() - start > ms) throw new Error(`still open after ${ms} ms; got: ${this.received}`);
      await sleep(20);
    }
    return this.closedAt - this.openedAt;
  }
  destroy(): void {
    this.socket.destroy();
  }
}

const SHORT = { headersTimeoutMs: 1000, bodyTimeoutMs: 1000, idleTimeoutMs: 1500, uploadTimeoutMs: 4000, checkIntervalMs: 100, maxConnectionsPerAddress: 50 };

describe('request timeouts', () => {
  let t: TestServer;
  const raws: Raw[] = [];
  const raw = () => {
    const r = new Raw(t.url);
    raws.push(r);
    return r;
  };
  beforeAll(async () => {
    t = await startTestServer('sqlite', { http: SHORT });
  });
  afterAll(async () => {
    for (const r of raws) r.destroy();
    await t?.close();
  });

  it('has non-zero defaults', async () => {
    const d = await startTestServer('sqlite');
    try {
      const server = d.server.app.server;
      expect(server.headersTimeout).toBe(DEFAULT_HTTP_LIMITS.headersTimeoutMs);
      expect(server.requestTimeout).toBe(DEFAULT_HTTP_LIMITS.uploadTimeoutMs);
      expect(server.timeout).toBe(DEFAULT_HTTP_LIMITS.idleTimeoutMs);
    } finally {
      await d.close();
    }
    expect(optionsFromEnv({ PULSE_MAX_CONNECTIONS_PER_IP: '10' }).http).toEqual({ maxConnectionsPerAddress: 10 });
    expect(() => optionsFromEnv({ PULSE_MAX_CONNECTIONS_PER_IP: 'lots' })).toThrow(/PULSE_MAX_CONNECTIONS_PER_IP/);
  });

  it('closes a connection whose headers trickle in (slowloris) with 408', async () => {
    const r = raw();
    await r.ready;
    r.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    // One header byte every 200 ms keeps the connection from being idle, never completes.
    void r.trickle('X-Slow: ' + 'a'.repeat(200), 1, 200).catch(() => undefined);
    const after = await r.closed(4000);
    expect(after).toBeGreaterThanOrEqual(SHORT.headersTimeoutMs - 50);
    expect(r.received).toMatch(/^HTTP\/1\.1 408/);
  });

  it('answers 408 to a login body that trickles in, without waiting for it', async () => {
    const r = raw();
    await r.ready;
    const body = JSON.stringify({ email: 'admin@example.com', password: 'x'.repeat(60) });
    const csrf = 'c'.repeat(43); // a well-formed form submission: the server waits for its body
    r.write(
      `POST /panel/api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nCookie: pulse_csrf=${csrf}\r\nX-CSRF-Token: ${csrf}\r\n` +
        `Content-Length: ${body.length}\r\n\r\n`,
    );
    // 4 bytes every 200 ms: the whole body would take ~4 s; never idle for the idle timeout.
    void r.trickle(body, 4, 200).catch(() => undefined);
    const after = await r.closed(4000);
    expect(after).toBeLessThan(3000);
    expect(r.received).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
    expect(r.received).toContain('"request_timeout"');
  });

  it('closes an upload that stops making progress, but lets a slow one that keeps going finish', async () => {
    const token = await mintToken(t, 'uploader');
    const boundary = 'pulseboundary';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.png"\r\nContent-Type: image/png\r\n\r\n`;
    const tail = `\r\n--${boundary}--\r\n`;
    const body = Buffer.concat([Buffer.from(head), PHOTO, Buffer.from(tail)]);
    const request = (r: Raw) =>
      r.write(
        `POST /api/v1/upload HTTP/1.1\r\nHost: x\r\nX-Pulse-Key: ${t.publishableKey}\r\nX-Pulse-Token: ${token}\r\n` +
          `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`,
      );

    // Stalled: half the body, then nothing.
    const stalled = raw();
    await stalled.ready;
    request(stalled);
    stalled.write(body.subarray(0, body.length >> 1));
    const after = await stalled.closed(5000);
    expect(after).toBeGreaterThanOrEqual(SHORT.idleTimeoutMs - 100);
    expect(after).toBeLessThan(SHORT.idleTimeoutMs + 1500);

    // Slow but moving: longer than the body timeout of other routes, shorter than the upload total.
    const slow = raw();
    await slow.ready;
    request(slow);
    const chunk = Math.ceil(body.length / 12);
    await slow.trickle(body, chunk, 200); // ~2.4 s
    await waitUntil(() => /\r\n\r\n/.test(slow.received), 3000);
    expect(slow.received).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(slow.received).toMatch(/"id":"/); // the stored attachment
  });

  it('does not close a quiet WebSocket: the timeouts stop at the upgrade', async () => {
    const socket = new RawSocket(t.wsUrl);
    try {
      await socket.auth(t, 'listener');
      // Longer than every HTTP limit above (headers, body, idle, and the whole-request total).
      await sleep(SHORT.uploadTimeoutMs + 1000);
      expect(socket.closed).toBeUndefined();
      const pong = new Promise<void>((resolve) => socket.ws.once('pong', () => resolve()));
      socket.ws.ping();
      await pong;
    } finally {
      socket.close();
    }
  }, 15_000);
});

async function waitUntil(check: () => boolean, ms: number): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await sleep(20);
  }
}

describe('connections per client address', () => {
  let t: TestServer;
  const raws: Raw[] = [];
  beforeAll(async () => {
    // Its clients are all on this machine, which the limit leaves alone by default.
    t = await startTestServer('sqlite', { limitLoopback: true, http: { maxConnectionsPerAddress: 5 } });
  });
  afterAll(async () => {
    for (const r of raws) r.destroy();
    await t?.close();
  });

  it('refuses one connection too many from one address with a clear 429, and accepts again once one closes', async () => {
    const held = Array.from({ length: 5 }, () => new Raw(t.url));
    raws.push(...held);
    await Promise.all(held.map((r) => r.ready));
    await sleep(100);
    const extra = new Raw(t.url);
    raws.push(extra);
    await extra.ready;
    extra.write('POST /panel/api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    await extra.closed(3000);
    expect(extra.received).toMatch(/^HTTP\/1\.1 429 Too Many Requests/);
    expect(extra.received).toContain('Too many open connections from your address (at most 5)');
    expect(held.every((r) => r.closedAt === undefined)).toBe(true);

    held[0]!.destroy();
    await held[0]!.closed(1000);
    await sleep(100);
    const again = new Raw(t.url);
    raws.push(again);
    await again.ready;
    again.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await again.closed(3000);
    expect(again.received).toMatch(/^HTTP\/1\.1 200/);
  });

  /** Whether a fourth connection gets an answer from a server that allows each address two. */
  async function fourthAnswered(options: Partial<ServerOptions>): Promise<boolean> {
    const server = await startTestServer('sqlite', { ...options, http: { maxConnectionsPerAddress: 2 } });
    const mine: Raw[] = [];
    try {
      for (let i = 0; i < 4; i++) mine.push(new Raw(server.url));
      await Promise.all(mine.map((r) => r.ready));
      const last = mine[3]!;
      last.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await last.closed(3000);
      return /^HTTP\/1\.1 200/.test(last.received);
    } finally {
      for (const r of mine) r.destroy();
      await server.close();
    }
  }

  it('does not count connections from a trusted proxy', async () => {
    expect(await fourthAnswered({ limitLoopback: true, trustProxy: '127.0.0.1' })).toBe(true);
  });

  it('warns once when a proxy on this machine sends X-Forwarded-For and PULSE_TRUST_PROXY is unset', async () => {
    const warn = vi.spyOn(t.server.app.log, 'warn');
    const healthz = async (forwarded: boolean) => {
      const r = new Raw(t.url);
      raws.push(r);
      await r.ready;
      r.write(`GET /healthz HTTP/1.1\r\nHost: x\r\n${forwarded ? 'X-Forwarded-For: 203.0.113.9\r\n' : ''}Connection: close\r\n\r\n`);
      await r.closed(3000);
      expect(r.received).toMatch(/^HTTP\/1\.1 200/);
    };
    try {
      await healthz(false);
      expect(warn).not.toHaveBeenCalled();
      await healthz(true);
      await healthz(true);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toContain('PULSE_TRUST_PROXY is not set');
    } finally {
      warn.mockRestore();
    }
  });

  it('does not count connections from this machine unless told to (a local proxy, load tests)', async () => {
    expect(await fourthAnswered({})).toBe(true);
    expect(await fourthAnswered({ limitLoopback: true })).toBe(false);
  });
});
