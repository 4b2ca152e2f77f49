/** Size limits on every string, array and body the server accepts. */
export const LIMITS = {
  idLength: 128,
  roomIdLength: 256,
  userIdLength: 128,
  nameLength: 100,
  urlLength: 2048,
  commentBodyLength: 10_000,
  mentionsPerComment: 50,
  attachmentsPerCommentHardCap: 20,
  emojiLength: 32,
  selectorLength: 1024,
  pathLength: 2048,
  environmentNameLength: 80,
  /** Points in one drawing stroke, and strokes kept per room. */
  strokePoints: 2000,
  strokesPerRoom: 5000,
  /** Largest WebSocket frame handled; bigger frames get `message_too_big`. */
  wsMessageBytes: 64 * 1024,
  /** Frames above this are not even read: the socket is closed with MESSAGE_TOO_BIG. */
  wsHardMessageBytes: 1024 * 1024,
  /** Past this much unsent data a socket gets no ephemeral frames (cursors…) until it drains. */
  wsSoftBufferBytes: 256 * 1024,
  /** Past this much unsent data a socket is closed with SLOW_CONSUMER, to resync on reconnect. */
  wsHardBufferBytes: 4 * 1024 * 1024,
  /** Clicks and emoji drops relayed per user per tick; more are dropped. */
  oneShotsPerTick: 8,
  /** Connections one room accepts before ROOM_FULL. */
  connectionsPerRoom: 2000,
  /** Notifications and activity entries sent in auth:ok. */
  notificationsInState: 50,
  activityInState: 50,
  /** Largest JSON body accepted by the REST API. */
  restBodyBytes: 256 * 1024,
  /** Page size for list endpoints: default and maximum. */
  pageDefault: 50,
  pageMax: 200,
} as const;
