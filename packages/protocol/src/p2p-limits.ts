/**
 * P2P shared data: constants shared by the client and the server (no zod, so browsers can
 * import them through `@pulse/protocol/lite`).
 */
/** The largest `p2pMaxStateBytes` an environment may set (100 MiB). */
export const P2P_MAX_STATE_BYTES_LIMIT = 104_857_600;

/** Characters of `bytes` bytes as base64, as P2P frames carry states and updates. */
export const base64Chars = (bytes: number): number => Math.ceil(bytes / 3) * 4;

/** Payload characters of one `p2p:chunk` (see P2P_LIMITS.chunkChars). */
const CHUNK_CHARS = 48 * 1024;

export const P2P_LIMITS = {
  /**
   * A P2P frame whose JSON is larger than this is sent as `p2p:chunk` frames of at most this many
   * characters of payload each (WebSocket frames are capped at LIMITS.wsMessageBytes).
   */
  chunkChars: CHUNK_CHARS,
  /** ...and at most this many bytes each as a JSON string in UTF-8 (escapes and non-ASCII text grow). */
  chunkBytes: 48 * 1024,
  /**
   * Chunks of one chunked frame: enough for a state of P2P_MAX_STATE_BYTES_LIMIT as base64 in its
   * frame (~140 M characters).
   */
  chunksPerFrame: Math.ceil((base64Chars(P2P_MAX_STATE_BYTES_LIMIT) + 1024) / CHUNK_CHARS),
  /** Chunked frames a connection may have half-received at once. */
  openChunkedFrames: 4,
  /** A WebRTC signal (SDP or ICE candidate, as the client serialised it). */
  signalChars: 32 * 1024,
  /** Connection ids one `p2p:update` may list as already reached over data channels. */
  exceptPerUpdate: 64,
  /** Largest raw message (`send`/`sendTo`), in characters of its encoded form (the server's check)... */
  rawMessageChars: 60 * 1024,
  /** ...and in bytes as it travels: the encoded data as a JSON string in UTF-8 (the client's check, so a frame fits). */
  rawMessageBytes: 60 * 1024,
  /** Largest message on a WebRTC data channel before it is split into chunks. */
  dataChannelChunkBytes: 16 * 1024,
  /**
   * Yjs client ids (one per document session that wrote to it) a room's shared state may hold:
   * merging a state costs time in proportion to them (~4 µs each), so a state built of crafted
   * updates with thousands each stalled the server for seconds.
   */
  clientsPerRoom: 10_000,
  /** A connection's `p2p:join` is answered once per this long (each sends the room's whole state); sooner: rate_limited. */
  joinIntervalMs: 2000,
  /**
   * `p2p:sync` requests (a state vector: "send me what I lack") from one connection to one peer:
   * PulseClient sends at most one per this long, and answers one peer at most once per this long;
   * the server refuses (rate_limited) a second request to the same peer within half of it.
   */
  syncIntervalMs: 2000,
  /**
   * What one user's raw messages may make the server send in one room, per second, counted as
   * their size times their receivers. Up to a second's worth may be owed at once (so one message
   * of any allowed size goes); past that, raw messages are refused (rate_limited) until it is paid.
   */
  relayBytesPerSecond: 8 * 1024 * 1024,
} as const;

/** Before falling back to the relay, how long a WebRTC connection to a peer may take to open. */
export const P2P_CONNECT_TIMEOUT_MS = 10_000;
/** Local CRDT changes made within this window leave as one merged update. */
export const P2P_UPDATE_BATCH_MS = 20;
/** How often the server looks for expired persisted P2P state. */
export const P2P_SWEEP_INTERVAL_MS = 3_600_000;
