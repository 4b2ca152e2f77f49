import net, { type LookupFunction, type Socket } from 'node:net';
import tls from 'node:tls';
import { Http1ResponseError, ResponseReader } from './http1-response.ts';

export interface Http1Post {
  url: URL;
  /** Header names in lower case; `host`, `content-length` and `connection` are set here. */
  headers: Record<string, string>;
  body: string;
  /** Resolves names (the SSRF guard); IP literals are connected to as they are. */
  lookup?: LookupFunction;
  /** Body bytes kept; the rest of a longer body is not read (its connection is closed). */
  bodyCap: number;
  /** No status within this: rejected with Http1Timeout. */
  timeoutMs: number;
  /** How long the body may take once the status has come (within timeoutMs); then what came is the answer. */
  bodyGraceMs: number;
  /** Before the status: rejected with `aborted: …`; after it, what came is the answer. */
  signal?: AbortSignal;
  /** Certificates to trust instead of the system's (tests). */
  ca?: string | Buffer;
}

export interface Http1Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export class Http1Timeout extends Error {}

const UNSAFE = /[\r\n\0]/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** `POST` + headers, as one string; refuses a target or header that could split the request. */
function requestHead(url: URL, headers: Record<string, string>, bodyBytes: number): string {
  const target = url.pathname + url.search;
  if (UNSAFE.test(target) || UNSAFE.test(url.host)) throw new Error('refused: the URL holds a line break');
  let head = `POST ${target} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name) || UNSAFE.test(value)) throw new Error(`refused: an invalid request header (${name})`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}content-length: ${bodyBytes}\r\nconnection: keep-alive\r\n\r\n`;
}

/** One connection and the exchange it carries now, if any. */
class Connection {
  exchange: Exchange | undefined;
  /** Requests sent on it so far. */
  uses = 0;
  /** Set while the connection waits in the pool: takes it out. */
  onIdleEnd: (() => void) | undefined;

  constructor(readonly socket: Socket) {
    // Bytes with no request waiting for them: the connection is out of step, or being abused.
    socket.on('data', (chunk: Buffer) => (this.exchange ? this.exchange.data(chunk) : socket.destroy()));
    socket.on('error', (err) => this.exchange?.closed(err));
    socket.on('close', () => {
      this.exchange?.closed(undefined);
      this.onIdleEnd?.();
    });
    // Armed only while idle (see Http1Client.#release).
    socket.on('timeout', () => {
      if (!this.exchange) socket.destroy();
    });
  }
}

interface Exchange {
  data(chunk: Buffer): void;
  closed(err: Error | undefined): void;
}

/**
 * A small HTTP/1.1 client for webhook POSTs: keep-alive connections per origin, one request at a
 * time on each, written as one buffer, and the response read by ResponseReader. It does what a
 * delivery needs and no more (no pipelining, no upload streaming, no compression): the sending
 * thread's CPU per delivery fell by about a fifth against `node:http` with a keep-alive agent
 * (77–89 µs against 99–111, bench/README round 21). A request whose reused connection closes before
 * any answer (the receiver closed it while it was idle) is sent again once on a new connection.
 */
export class Http1Client {
  readonly #idle = new Map<string, Connection[]>();
  readonly #idleMs: number;
  readonly #maxIdlePerOrigin: number;

  /** `idleMs` stays under the 5 s after which common servers (Node's among them) close an idle connection. */
  constructor(options: { idleMs?: number; maxIdlePerOrigin?: number } = {}) {
    this.#idleMs = options.idleMs ?? 4000;
    this.#maxIdlePerOrigin = options.maxIdlePerOrigin ?? 8;
  }

  /** Idle connections now open (tests). */
  get idleConnections(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  post(request: Http1Post): Promise<Http1Answer> {
    const { url } = request;
    let payload: string;
    try {
      payload = requestHead(url, request.headers, Buffer.byteLength(request.body)) + request.body;
    } catch (err) {
      return Promise.reject(err as Error);
    }
    // Nothing goes out once the server is stopping (a pooled connection would send at once).
    if (request.signal?.aborted) return Promise.reject(new Error('aborted: the server is shutting down'));
    const origin = `${url.protocol}//${url.host}`;
    const started = performance.now();
    return new Promise<Http1Answer>((resolve, reject) => {
      let connection: Connection;
      let reader: ResponseReader;
      let settled = false;
      let timer = setTimeout(() => fail(new Http1Timeout(`timed out after ${request.timeoutMs} ms`)), request.timeoutMs);
      const onAbort = () => fail(new Error('aborted: the server is shutting down'));
      /** Ends the exchange once: false if it had ended. */
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        request.signal?.removeEventListener('abort', onAbort);
        connection.exchange = undefined;
        return true;
      };
      const finish = () => {
        if (!settle()) return;
        if (reader.reusable) this.#release(origin, connection, reader.keepAliveMs);
        else connection.socket.destroy();
        resolve({ status: reader.status, headers: reader.headers, body: reader.body() });
      };
      function fail(err: Error): void {
        // The status is the answer: what happens to the body after it does not change it.
        if (reader.headed) return finish();
        if (!settle()) return;
        connection.socket.destroy();
        reject(err);
      }
      const send = (fresh: boolean) => {
        connection = (fresh ? undefined : this.#take(origin)) ?? this.#connect(request);
        reader = new ResponseReader(request.bodyCap);
        let answered = false;
        let graceArmed = false;
        const reused = connection.uses++ > 0;
        connection.exchange = {
          data: (chunk) => {
            answered = true;
            let complete: boolean;
            try {
              complete = reader.push(chunk);
            } catch (err) {
              return fail(err as Http1ResponseError);
            }
            if (complete) return finish();
            // The body gets one grace period from when the status came, not one per chunk.
            if (reader.headed && !graceArmed && !settled) {
              graceArmed = true;
              clearTimeout(timer);
              timer = setTimeout(finish, Math.max(0, Math.min(request.bodyGraceMs, started + request.timeoutMs - performance.now())));
            }
          },
          closed: (err) => {
            if (reader.untilClose) return finish();
            if (reused && !answered && !settled) {
              connection.exchange = undefined;
              connection.socket.destroy();
              return send(true);
            }
            fail(err ?? new Error('the connection closed before a complete response'));
          },
        };
        connection.socket.write(payload);
      };
      send(false);
      request.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Closes every idle connection. */
  close(): void {
    for (const list of this.#idle.values()) for (const c of list) c.socket.destroy();
    this.#idle.clear();
  }

  #connect(request: Http1Post): Connection {
    const { url } = request;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const lookup = net.isIP(host) ? undefined : request.lookup;
    const socket =
      url.protocol === 'https:'
        ? tls.connect({ host, port, lookup, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'], ca: request.ca })
        : net.connect({ host, port, lookup });
    socket.setNoDelay(true);
    return new Connection(socket);
  }

  #take(origin: string): Connection | undefined {
    const list = this.#idle.get(origin);
    const connection = list?.pop();
    if (list?.length === 0) this.#idle.delete(origin);
    if (!connection) return undefined;
    connection.onIdleEnd = undefined;
    connection.socket.setTimeout(0);
    connection.socket.ref();
    return connection;
  }

  /** Keeps a connection for the next request, for idleMs or less if the receiver keeps it less long. */
  #release(origin: string, connection: Connection, receiverKeepsMs: number | undefined): void {
    const { socket } = connection;
    // A second before the receiver's own limit, so that it is not closing the connection as a request leaves.
    const idleMs = Math.min(this.#idleMs, (receiverKeepsMs ?? Infinity) - 1000);
    if (socket.destroyed || !socket.writable || idleMs <= 0) return void socket.destroy();
    let list = this.#idle.get(origin);
    if (!list) this.#idle.set(origin, (list = []));
    if (list.length >= this.#maxIdlePerOrigin) list.shift()!.socket.destroy();
    list.push(connection);
    const forget = () => {
      const at = list.indexOf(connection);
      if (at !== -1) list.splice(at, 1);
      if (list.length === 0 && this.#idle.get(origin) === list) this.#idle.delete(origin);
    };
    connection.onIdleEnd = forget;
    // An idle connection neither keeps the process alive nor stays open past idleMs.
    socket.unref();
    socket.setTimeout(idleMs);
  }
}
