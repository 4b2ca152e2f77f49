import type { ErrorCode } from '@pulse/protocol/lite';

/** A peer of the room's P2P session, as `p2p.peers` shows it (one entry per user). */
export interface PeerState {
  /** The peer's user id. */
  userId: string;
  /**
   * The connection to the peer: `connected` once data can flow (over a WebRTC data channel, or
   * over the WebSocket relay for peers outside the mesh), `connecting` while WebRTC is being set
   * up, `disconnected` once it failed or closed.
   */
  state: 'connecting' | 'connected' | 'disconnected';
  /** Whether a WebRTC data channel to the peer is open (false for peers reached over the relay). */
  dataChannelOpen: boolean;
}

/** How this client's shared data travels: directly between browsers, or through the server. */
export type P2PTransport = 'p2p' | 'websocket';

/** A raw message from a peer: `data` is parsed JSON, a string, or (binary) a Uint8Array. */
export interface P2PMessageEvent {
  data: unknown;
  fromUserId: string;
}

/** Events of `p2p.on(…)`. */
export interface P2PEvents {
  [key: string]: unknown;
  /** A raw message from a peer (`send` / `sendTo`). */
  message: P2PMessageEvent;
  /** A user joined the room's P2P session. */
  'peer:connect': PeerState;
  /** A user left it (their last connection closed). */
  'peer:disconnect': { userId: string };
  /** A peer's connection state or data channel changed. */
  'peer:state': PeerState;
  /** `p2p.transport` changed. */
  'transport:change': P2PTransport;
  /** A P2P request failed, or the server could not store the room's state. */
  error: { code: ErrorCode; message: string };
  /** The manager was torn down (`destroy()`, allowP2P turned off, room changed). */
  destroyed: { reason: string };
}
