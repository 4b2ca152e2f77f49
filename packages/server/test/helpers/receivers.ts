import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  signature: string;
  /** The body as parsed by the standard verifier. */
  payload: any;
  path: string;
  receivedAt: number;
}

/** What the receiver does with the next requests: answer (status), hang (never answer), or redirect (but requests for the location itself). */
export type ReceiverMode = { kind: 'ok' } | { kind: 'slow'; ms: number } | { kind: 'fail'; status: number; headers?: Record<string, string>; body?: string } | { kind: 'hang' } | { kind: 'redirect'; location: string };

/**
 * A webhook receiver on loopback that verifies every request with the `standardwebhooks`
 * package (what a Pulse user would run), records the verified ones, and can fail, hang or
 * redirect on demand. A request that does not verify is answered 401 and counted in `rejected`.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  rejected = 0;
  requests = 0;
  /** When each request arrived (epoch ms). */
  readonly requestTimes: number[] = [];
  /** Most requests open at once so far. */
  maxConcurrent = 0;
  #open = 0;
  mode: ReceiverMode = { kind: 'ok' };
  #secret: string;
  #server: Server | undefined;
  #port = 0;
  readonly #hanging = new Set<ServerResponse>();

  constructor(secret = '') {
    this.#secret = secret;
  }

  set secret(value: string) {
    this.#secret = value;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hooks`;
  }

  async start(port = this.#port): Promise<this> {
    const server = createServer((req, res) => this.#handle(req, res));
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening (the port is kept, so `start()` comes back on the same URL). */
  async stop(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#hanging.clear();
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    this.requestTimes.push(Date.now());
    this.maxConcurrent = Math.max(this.maxConcurrent, ++this.#open);
    res.on('close', () => this.#open--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const mode = this.mode;
      if (mode.kind === 'hang') {
        this.#hanging.add(res);
        return;
      }
      if (mode.kind === 'redirect' && req.url !== mode.location) {
        res.writeHead(307, { location: mode.location }).end();
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      };
      let payload: unknown;
      try {
        payload = new Webhook(this.#secret).verify(body, headers);
      } catch {
        this.rejected++;
        res.writeHead(401).end('signature does not verify');
        return;
      }
      if (mode.kind === 'fail') {
        res.writeHead(mode.status, { 'content-type': 'text/plain', ...mode.headers }).end(mode.body ?? `failing on purpose (${mode.status})`);
        return;
      }
      this.received.push({
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        signature: headers['webhook-signature'],
        payload,
        path: req.url ?? '',
        receivedAt: Date.now(),
      });
      if (mode.kind === 'slow') setTimeout(() => res.writeHead(204).end(), mode.ms);
      else res.writeHead(204).end();
    });
  }

  ofType(type: string): ReceivedWebhook[] {
    return this.received.filter((r) => r.payload?.type === type);
  }
}
