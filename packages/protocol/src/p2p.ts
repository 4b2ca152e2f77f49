import { z } from 'zod';
import type { ErrorCode } from './errors.ts';
import { clientId, externalUserId, requestRef as ref } from './fields.ts';
import { P2P_LIMITS } from './p2p-limits.ts';

export * from './p2p-limits.ts';

/**
 * P2P shared data over the WebSocket: joining a room's P2P mesh, WebRTC signalling, the relay
 * for CRDT updates and raw messages, the sync step on (re)join and persistence.
 *
 * CRDT payloads are Yjs updates and state vectors, base64-encoded. Peers are addressed by their
 * connection id (one user may have several tabs); raw messages can also target a user id.
 * Signals are opaque strings: the server forwards them to the named peer in the same room and
 * environment and never looks inside.
 */

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64 = z
  .string()
  .max(P2P_LIMITS.chunkChars * P2P_LIMITS.chunksPerFrame)
  .regex(BASE64, 'must be base64');
const connectionId = clientId;

const p = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) => z.object({ type: z.literal(type), ref, ...shape }).strict();

export const p2pClientMessages = [
  /** Enter the room's P2P session. `stateVector`: what the client's document already holds. */
  p('p2p:join', { stateVector: base64, webrtc: z.boolean() }),
  /** Leave it; `update` carries what the server has not seen yet (a diff against its state vector). */
  p('p2p:leave', { update: base64.optional() }),
  /** A CRDT update for every peer not listed in `except` (those got it over a data channel). */
  p('p2p:update', { update: base64, except: z.array(connectionId).max(P2P_LIMITS.exceptPerUpdate).optional() }),
  /** The sync step with one peer: my state vector, and/or what you miss. */
  p('p2p:sync', { to: connectionId, stateVector: base64.optional(), update: base64.optional() }),
  /** A WebRTC offer, answer or ICE candidate for one peer. Opaque. */
  p('p2p:signal', { to: connectionId, signal: z.string().max(P2P_LIMITS.signalChars) }),
  /** A raw message to every peer, or to one user's connections (`to`), but those in `except`. */
  p('p2p:message', {
    to: externalUserId.optional(),
    except: z.array(connectionId).max(P2P_LIMITS.exceptPerUpdate).optional(),
    data: z.string().max(P2P_LIMITS.rawMessageChars),
    encoding: z.enum(['json', 'text', 'binary']),
  }).refine((m) => m.encoding !== 'binary' || BASE64.test(m.data), { message: 'must be base64 when `encoding` is "binary"', path: ['data'] }),
  /** What the server lacks, answering `p2p:persist-request` (a diff against its state vector). */
  p('p2p:persist', { update: base64 }),
  /** One piece of a P2P frame too large for one WebSocket frame; the pieces join into its JSON. */
  p('p2p:chunk', {
    id: clientId,
    index: z.number().int().min(0).max(P2P_LIMITS.chunksPerFrame - 1),
    count: z.number().int().min(1).max(P2P_LIMITS.chunksPerFrame),
    data: z.string().max(P2P_LIMITS.chunkChars),
  }),
] as const;

export type P2PClientMessage = z.infer<(typeof p2pClientMessages)[number]>;
export type P2PClientMessageType = P2PClientMessage['type'];
export const P2P_CLIENT_TYPES = p2pClientMessages.map((s) => s.shape.type.value) as P2PClientMessageType[];

/** One peer of a room's P2P session, as the server announces it. */
export interface P2PPeer {
  userId: string;
  connectionId: string;
  /** Whether the peer can open WebRTC data channels (browsers); Node clients cannot. */
  webrtc: boolean;
  /** Whether the peer has a place in the mesh (at most `p2pMeshLimit`); others use the relay. */
  mesh: boolean;
}

/** How a raw message's `data` string is to be read: JSON, the string itself, or base64 bytes. */
export type P2PEncoding = 'json' | 'text' | 'binary';

export type P2PServerMessage =
  /** Answers `p2p:join`: who you are, who is here, and the stored state you miss. */
  | { type: 'p2p:joined'; ref?: string; self: P2PPeer; peers: P2PPeer[]; update: string; stateVector: string }
  | { type: 'p2p:peer-joined'; peer: P2PPeer }
  | { type: 'p2p:peer-left'; userId: string; connectionId: string }
  /** A peer's entry changed: a relay peer got a place in the mesh (`peer.mesh`), possibly you. */
  | { type: 'p2p:peer-updated'; peer: P2PPeer }
  | { type: 'p2p:update'; from: string; userId: string; update: string }
  | { type: 'p2p:sync'; from: string; userId: string; stateVector?: string; update?: string }
  | { type: 'p2p:signal'; from: string; userId: string; signal: string }
  | { type: 'p2p:message'; from: string; fromUserId: string; data: string; encoding: P2PEncoding }
  /** The server asks one peer per room for what it lacks (`stateVector`: what it has). */
  | { type: 'p2p:persist-request'; stateVector: string }
  /** The room's state was stored; `stateVector` is what the server now holds. */
  | { type: 'p2p:saved'; stateVector: string; bytes: number; at: string }
  /** The room's shared state was deleted (REST, panel): drop the document and join afresh. */
  | { type: 'p2p:reset' }
  /** A P2P request failed, or the room's state could not be stored. */
  | { type: 'p2p:error'; code: ErrorCode; message: string; ref?: string };

export type P2PServerMessageType = P2PServerMessage['type'];
