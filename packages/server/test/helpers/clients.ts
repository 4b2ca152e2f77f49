import { PulseClient, type PulseClientOptions } from '@pulse/core';
import WebSocket from 'ws';
import type { TestServer } from './server.ts';

/** Mints a token for a user with the test server's secret key. */
export async function mintToken(t: TestServer, userId: string, name = userId, secretKey = t.secretKey): Promise<string> {
  const res = await t.api('POST', '/auth/token', { userId, name }, secretKey);
  if (res.status !== 200) throw new Error(`mint failed: ${JSON.stringify(res.body)}`);
  return res.body.token;
}

/** A PulseClient (the real SDK, on the `ws` package) connected and authenticated. */
export async function connectClient(
  t: TestServer,
  userId: string,
  room = 'room-1',
  options: Partial<PulseClientOptions> = {},
): Promise<PulseClient> {
  const token = options.token ?? (await mintToken(t, userId));
  const client = new PulseClient({
    apiKey: t.publishableKey,
    token,
    room,
    endpoint: t.wsUrl,
    WebSocket: WebSocket as never,
    ...options,
  });
  const ready = new Promise<void>((resolve, reject) => {
    const off = client.on('auth:ok', () => {
      off();
      offErr();
      resolve();
    });
    const offErr = client.on('auth:error', (e) => {
      off();
      offErr();
      reject(new Error(`${e.code}: ${e.message}`));
    });
  });
  client.connect();
  await ready;
  return client;
}

/** Waits until `check` returns a truthy value (polling), or fails after `ms`. */
export async function waitFor<T>(check: () => T | Promise<T>, ms = 3000, what = 'condition'): Promise<NonNullable<T>> {
  const start = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw WebSocket speaking the protocol by hand: for bad input and protocol-level checks. */
export class RawSocket {
  readonly ws: WebSocket;
  readonly messages: any[] = [];
  closed: { code: number; reason: string } | undefined;
  readonly opened: Promise<void>;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.on('message', (d) => this.messages.push(JSON.parse(d.toString())));
    this.ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  async next(type: string, ms = 3000, match: (m: any) => boolean = () => true): Promise<any> {
    return waitFor(() => this.messages.find((m) => m.type === type && match(m)), ms, `a "${type}" message`);
  }

  async auth(t: TestServer, userId: string, room = 'room-1'): Promise<any> {
    await this.opened;
    this.send({ type: 'auth', apiKey: t.publishableKey, token: await mintToken(t, userId), room });
    return this.next('auth:ok');
  }

  async waitClosed(ms = 3000): Promise<{ code: number; reason: string }> {
    return waitFor(() => this.closed, ms, 'the socket to close');
  }

  close(): void {
    this.ws.close();
  }
}
