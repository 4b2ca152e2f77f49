import { P2P_CLIENT_TYPES, PulseError, type ClientMessage, type ClientMessageOf, type P2PClientMessageType } from '@pulse/protocol';
import type { Connection } from '../realtime/connection.ts';
import type { RealtimeHub } from '../realtime/hub.ts';
import { parseFrameText, parseMessage } from '../realtime/parse.ts';
import type { P2PService } from './service.ts';

const services = new WeakMap<RealtimeHub, P2PService>();
const byContext = new WeakMap<object, P2PService>();

/** Makes `service` the P2P side of `hub` (server start-up). */
export function attachP2P(hub: RealtimeHub, service: P2PService): void {
  services.set(hub, service);
  byContext.set(hub.ctx, service);
}

/** The P2P service of a server, by its context (REST and panel routes). */
export function p2pOfContext(ctx: object): P2PService {
  const service = byContext.get(ctx);
  if (!service) throw new PulseError('service_unavailable', 'P2P is not running on this server.');
  return service;
}

export function p2pOf(hub: RealtimeHub): P2PService | undefined {
  return services.get(hub);
}

type Handler<T extends P2PClientMessageType> = (service: P2PService, conn: Connection, m: ClientMessageOf<T>, hub: RealtimeHub) => Promise<void> | void;

const RUN: { [T in P2PClientMessageType]: Handler<T> } = {
  'p2p:join': (s, conn, m) => s.join(conn, m),
  'p2p:leave': (s, conn, m) => s.leave(conn, m),
  'p2p:update': (s, conn, m) => s.update(conn, m),
  'p2p:sync': (s, conn, m) => s.sync(conn, m),
  'p2p:signal': (s, conn, m) => s.signal(conn, m),
  'p2p:message': (s, conn, m) => s.message(conn, m),
  'p2p:persist': (s, conn, m) => s.persist(conn, m),
  'p2p:chunk': async (s, conn, m, hub) => {
    const allowance = s.chunkAllowance(conn);
    const text = s.chunks.add(conn, m, allowance.maxChars, allowance.maxOpen);
    if (text === undefined) return;
    let inner: ClientMessage;
    try {
      inner = parseMessage(parseFrameText(text, 'p2p:chunk: the joined pieces are not valid JSON.'));
    } catch (err) {
      conn.strike(); // a malformed frame, however it came
      throw err;
    }
    // From here on, a failure is the carried request's, answered with its ref (or the piece's).
    try {
      if (!inner.type.startsWith('p2p:') || inner.type === 'p2p:chunk') throw new PulseError('invalid_message', 'p2p:chunk may only carry another P2P message.');
      if (allowance.joinOnly && inner.type !== 'p2p:join') throw new PulseError('p2p_not_joined');
      await (RUN[inner.type as P2PClientMessageType] as Handler<P2PClientMessageType>)(s, conn, inner as never, hub);
    } catch (err) {
      if (!(err instanceof PulseError)) throw err;
      sendError(conn, err, 'ref' in inner && inner.ref ? inner : m);
    }
  },
};

function sendError(conn: Connection, err: PulseError, request: ClientMessage): void {
  const ref = 'ref' in request ? request.ref : undefined;
  conn.send({ type: 'p2p:error', code: err.code, message: err.message, ...(ref ? { ref } : {}) });
}

/**
 * The P2P messages' handlers, for the realtime handler table. Their failures are answered with
 * `p2p:error` (carrying the request's ref), which the client's P2P manager reports.
 */
export const P2P_HANDLERS = Object.fromEntries(
  P2P_CLIENT_TYPES.map((type) => [
    type,
    async (hub: RealtimeHub, conn: Connection, m: ClientMessage) => {
      const service = services.get(hub);
      try {
        if (!service) throw new PulseError('service_unavailable', 'P2P is not running on this server.');
        await (RUN[type] as Handler<P2PClientMessageType>)(service, conn, m as never, hub);
      } catch (err) {
        if (!(err instanceof PulseError)) throw err;
        sendError(conn, err, m);
      }
    },
  ]),
) as { [T in P2PClientMessageType]: (hub: RealtimeHub, conn: Connection, m: ClientMessageOf<T>) => Promise<void> };
