import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { BlockList, isIP, type Socket } from 'node:net';
import { PulseError } from '@pulse/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Limits on how long and how many HTTP connections a client may hold, so that slow or stalled
 * clients cannot tie up the server (login forms, uploads) for minutes:
 *
 * - headers must arrive within `headersTimeoutMs` (Node's server.headersTimeout);
 * - a connection on which nothing moves, in either direction, for `idleTimeoutMs` is closed:
 *   this is the "no progress" limit that applies to uploads, however large;
 * - a request body other than an upload must be complete within `bodyTimeoutMs` of its headers
 *   (answered 408), so trickling a login form byte by byte does not keep it open;
 * - a whole request, upload included, must arrive within `uploadTimeoutMs` (Node's requestTimeout);
 * - one client address holds at most `maxConnectionsPerAddress` connections, WebSockets included;
 *   one more is answered 429 and closed. Connections from a trusted proxy are not counted (the
 *   proxy stands for many clients; limit them there), nor, unless `limitLoopback`, those from this
 *   machine (a local proxy, or the operator's own tools).
 *
 * - on close(), requests in flight may finish for up to `closeGraceMs` (their responses say
 *   `Connection: close` and their connections close after them; idle keep-alive connections close
 *   at once), then whatever is left is cut. Without this a keep-alive connection whose response
 *   finished just after close() began stayed open until the client's keep-alive ended (72 s), and
 *   close() waited for it.
 *
 * Upgraded (WebSocket) sockets are no longer HTTP requests: Node stops applying its header and
 * request timeouts to them, and `ws` clears the idle timeout; the realtime hub has its own
 * heartbeats. hardening-timeouts.test.ts checks that a quiet WebSocket outlives all of these.
 */
export interface HttpLimits {
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  bodyTimeoutMs: number;
  uploadTimeoutMs: number;
  maxConnectionsPerAddress: number;
  /** How often Node looks for requests past their header or request deadline. */
  checkIntervalMs: number;
  /** How long close() lets requests in flight finish before cutting their connections. */
  closeGraceMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 20_000,
  idleTimeoutMs: 60_000,
  bodyTimeoutMs: 30_000,
  uploadTimeoutMs: 30 * 60_000,
  maxConnectionsPerAddress: 512,
  checkIntervalMs: 1000,
  closeGraceMs: 10_000,
};

/** Routes whose bodies may take long (large files): only the idle and total limits apply. */
const isUpload = (request: FastifyRequest) => request.url === '/api/v1/upload' || request.url.startsWith('/api/v1/upload?');

/** The Fastify constructor options these limits need. */
export function fastifyTimeouts(limits: HttpLimits) {
  return {
    connectionTimeout: limits.idleTimeoutMs,
    requestTimeout: limits.uploadTimeoutMs,
    http: { connectionsCheckingInterval: limits.checkIntervalMs, headersTimeout: Math.min(limits.headersTimeoutMs, limits.uploadTimeoutMs) },
  };
}

const NAMED_RANGES: Record<string, [string, number, 'ipv4' | 'ipv6'][]> = {
  loopback: [['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']],
  linklocal: [['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']],
  uniquelocal: [['10.0.0.0', 8, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.168.0.0', 16, 'ipv4'], ['fc00::', 7, 'ipv6']],
};

const plainAddress = (address: string) => (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address);

/** Whether a TCP peer is one of the trusted proxies of PULSE_TRUST_PROXY. */
export function trustedPeer(trustProxy: false | number | string | undefined): (address: string) => boolean {
  if (!trustProxy) return () => false;
  if (typeof trustProxy === 'number') return () => true; // a hop count trusts whoever is in front
  const list = new BlockList();
  for (const entry of trustProxy.split(',').map((e) => e.trim())) {
    for (const [net, bits, type] of NAMED_RANGES[entry] ?? []) list.addSubnet(net, bits, type);
    if (NAMED_RANGES[entry]) continue;
    const [ip, bits] = entry.split('/');
    const type = isIP(ip!) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(ip!, type);
    else list.addSubnet(ip!, Number(bits), type);
  }
  return (address) => {
    const plain = plainAddress(address);
    return list.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
  };
}

/** Whether an address is this machine's own (127.0.0.0/8, ::1). */
export const isLoopback = trustedPeer('loopback');

/**
 * Which client addresses the per-address caps leave alone (open connections here, sockets not yet
 * authenticated in the realtime gateway): this machine's own, a local proxy or the operator's
 * tools, unless `limitLoopback` (the tests of those caps, whose clients are all local).
 */
export const uncappedAddress = (limitLoopback: boolean | undefined): ((address: string) => boolean) => (limitLoopback ? () => false : isLoopback);

/**
 * The client's address of a raw request (a WebSocket upgrade, which Fastify does not see), as
 * Fastify's `request.ip` has it: the TCP peer, or, when that is a trusted proxy, the nearest
 * address in X-Forwarded-For that is not one.
 */
export function clientAddressOf(trustProxy: false | number | string | undefined): (request: IncomingMessage) => string {
  const trusted = trustedPeer(trustProxy);
  return (request) => {
    const peer = plainAddress(request.socket.remoteAddress ?? '');
    const header = request.headers['x-forwarded-for'];
    if (!trustProxy || typeof header !== 'string') return peer;
    const chain = [peer, ...header.split(',').map((a) => plainAddress(a.trim())).filter(Boolean).reverse()];
    if (typeof trustProxy === 'number') return chain[Math.min(trustProxy, chain.length - 1)]!;
    return chain.find((address, i) => i === chain.length - 1 || !trusted(address))!;
  };
}

/** A last response written straight to the socket, its body from the error catalogue. */
function rawResponse(error: PulseError, extra = ''): string {
  const body = JSON.stringify(error.toBody());
  return (
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** Ends a socket after a last response; destroys it if the peer does not close its side soon. */
function endWith(socket: Socket, response: string): void {
  if (socket.destroyed) return;
  socket.end(response);
  setTimeout(() => socket.destroy(), 2000).unref();
}

/**
 * Makes close() finish once the requests in flight have: Node's server.close() only closes the
 * keep-alive connections idle at that moment, so one whose response ends a moment later would stay
 * open (and keep close() waiting) until the client's keep-alive ran out.
 */
function installGracefulClose(app: FastifyInstance, graceMs: number): void {
  const server = app.server;
  const inFlight = new Set<ServerResponse>();
  let closing = false;
  // After this response, the connection closes: told to the client when the headers are still to
  // be written (Node then closes it itself), otherwise closed once the response has gone out.
  const lastOnItsConnection = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
    else res.once('finish', () => setImmediate(() => server.closeIdleConnections()));
  };
  // Prepended, so it runs before Fastify answers (a request arriving while closing gets 503).
  server.prependListener('request', (_req, res: ServerResponse) => {
    if (closing) return lastOnItsConnection(res);
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  app.addHook('preClose', (done) => {
    closing = true;
    for (const res of inFlight) lastOnItsConnection(res);
    inFlight.clear();
    server.closeIdleConnections();
    const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
    deadline.unref();
    server.once('close', () => clearTimeout(deadline));
    done();
  });
}

/**
 * A check for each request that says once, in the log, that a proxy in front of Pulse is not
 * trusted: with PULSE_TRUST_PROXY unset, a request from this machine that carries
 * X-Forwarded-For comes from a local proxy, and every client behind it shares one address (the
 * login throttle cannot tell them apart, and the per-address caps leave this machine alone).
 */
function untrustedProxyWarning(app: FastifyInstance): (request: FastifyRequest) => void {
  let warned = false;
  return (request) => {
    if (warned || request.headers['x-forwarded-for'] === undefined) return;
    const peer = request.raw.socket.remoteAddress;
    if (peer === undefined || !isLoopback(peer)) return;
    warned = true;
    app.log.warn(
      'A proxy on this machine sends X-Forwarded-For, but PULSE_TRUST_PROXY is not set: every client behind it is seen as one local address. Set PULSE_TRUST_PROXY=loopback (see docs/self-hosting.md, "Behind a reverse proxy").',
    );
  };
}

/** Installs the limits on a Fastify app built with fastifyTimeouts(limits). */
export function installHttpLimits(app: FastifyInstance, limits: HttpLimits, trustProxy: false | number | string | undefined, limitLoopback = false): void {
  const server = app.server;
  server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.uploadTimeoutMs);
  installGracefulClose(app, limits.closeGraceMs);
  const warnOfProxy = trustProxy ? undefined : untrustedProxyWarning(app);

  // Connections per client address, counted from accept to close.
  const open = new Map<string, number>();
  const refused = new WeakSet<Socket>();
  const trusted = trustedPeer(trustProxy);
  const uncapped = uncappedAddress(limitLoopback);
  const max = limits.maxConnectionsPerAddress;
  server.prependListener('connection', (socket: Socket) => {
    const address = socket.remoteAddress ? plainAddress(socket.remoteAddress) : undefined;
    if (!address || max <= 0 || trusted(address) || uncapped(address)) return;
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      refused.add(socket);
      endWith(
        socket,
        rawResponse(new PulseError('rate_limited', `Too many open connections from your address (at most ${max}). Close some and try again.`), 'Retry-After: 1\r\n'),
      );
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });

  app.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw;
    warnOfProxy?.(request);
    // A request that slipped in on a refused connection is never handled.
    if (refused.has(raw.socket)) {
      reply.hijack();
      raw.socket.destroy();
      return;
    }
    if (raw.complete || isUpload(request)) return done();
    // Runs out even if a reply went out early (a 403 before the body): the body must still stop.
    const timer = setTimeout(() => {
      if (raw.complete || raw.socket.destroyed) return;
      if (reply.raw.headersSent) raw.socket.destroy();
      else endWith(raw.socket, rawResponse(new PulseError('request_timeout', `The request body did not arrive within ${limits.bodyTimeoutMs / 1000} s.`)));
    }, limits.bodyTimeoutMs);
    timer.unref();
    // Both listeners go once either fires: a keep-alive socket serves many requests.
    const clear = () => {
      clearTimeout(timer);
      raw.off('end', clear);
      raw.socket.off('close', clear);
    };
    raw.once('end', clear);
    raw.socket.once('close', clear);
    done();
  });
}
