/** Size limits on every string, array and body the server accepts. */
export const LIMITS = {
  /** An admin panel account's password, at least (the panel checks it as it is typed). */
  adminPasswordMinLength: 8,
  idLength: 128,
  roomIdLength: 256,
  userIdLength: 128,
  nameLength: 100,
  urlLength: 2048,
  commentBodyLength: 10_000,
  /** Distinct users a comment may mention (more: `too_many_mentions`). */
  mentionsPerComment: 50,
  /** Distinct user ids one `GET /api/v1/directory/users?ids=` may ask for (more: validation_failed). */
  directoryIds: 100,
  /**
   * Uploads of one user (per environment) not attached to a comment yet, and their bytes, past
   * which further uploads are refused (too_many_pending_uploads) until some are attached, deleted
   * or swept (after a day): one token cannot fill the disk with files it never uses.
   */
  pendingUploadsPerUser: 20,
  pendingUploadBytesPerUser: 200 * 1024 * 1024,
  /** Entries a `mentions` list may hold before duplicates are dropped (more: refused as invalid). */
  mentionsListMax: 200,
  /**
   * Users one author's mentions may notify, per environment and server (a bucket of this burst
   * and rate; a backend writing with the secret key is not limited): past it, the write is
   * refused with rate_limited.
   */
  mentionsPerUserBurst: 250,
  mentionsPerUserPerMinute: 120,
  attachmentsPerCommentHardCap: 20,
  emojiLength: 32,
  selectorLength: 1024,
  pathLength: 2048,
  environmentNameLength: 80,
  /** Points in one drawing stroke, and strokes kept per room. */
  strokePoints: 2000,
  strokesPerRoom: 5000,
  /** Total size of a room's stored drawing (its strokes' points as JSON): every joiner receives it. */
  drawingBytesPerRoom: 1024 * 1024,
  /**
   * What a room's threads may add up to, as the JSON every joiner receives in auth:ok (comment
   * texts and mentions, with a fixed allowance per thread, comment, reaction and attachment):
   * about 4,000 comments of a few lines. Past it, new threads, replies, reactions and longer edits
   * are refused with `room_content_full` until some are deleted.
   */
  roomContentBytes: 2 * 1024 * 1024,
  /** Largest WebSocket frame handled; bigger frames get `message_too_big`. */
  wsMessageBytes: 64 * 1024,
  /**
   * Largest frame before `auth:ok`: room for the largest valid `auth` (a 200-character key, an
   * 8,192-character token and a 256-character room id, the key and room id even written as JSON
   * escapes; a token is base64url, which no encoder escapes); anything bigger ends the socket.
   */
  wsAuthMessageBytes: 16 * 1024,
  /**
   * Everything a socket may send before `auth:ok` (frames, their headers, pings), counted as it
   * arrives: a frame announced as large is not buffered up to wsHardMessageBytes before the
   * socket is ended. Past it the connection is cut without a close frame.
   */
  wsPreAuthBytes: 64 * 1024,
  /**
   * Deepest nesting of arrays and objects in a frame's JSON (a chunked P2P frame's joined text
   * included); deeper frames get `invalid_message` before they are parsed. Messages need 4 levels.
   * V8 parses deeply nested text about 100 times slower than flat text: 1 MB of `[[[…` took 0.4 s.
   */
  wsJsonDepth: 16,
  /** Frames above this are not even read: the socket is closed with MESSAGE_TOO_BIG. */
  wsHardMessageBytes: 1024 * 1024,
  /** Past this much unsent data a socket gets no ephemeral frames (cursors…) until it drains. */
  wsSoftBufferBytes: 256 * 1024,
  /** Past this much unsent data a socket is closed with SLOW_CONSUMER, to resync on reconnect. */
  wsHardBufferBytes: 4 * 1024 * 1024,
  /**
   * Past this much unsent data on all of one user's sockets on a server together, a socket of
   * theirs that is behind (past wsSoftBufferBytes) is closed with SLOW_CONSUMER.
   */
  wsUserBufferBytes: 32 * 1024 * 1024,
  /** Clicks and emoji drops relayed per user per tick; more are dropped. */
  oneShotsPerTick: 8,
  /** A room:resync is answered once per this long per connection (a room's state can take MBs); sooner: rate_limited. */
  resyncIntervalMs: 2000,
  /** ...and this often per user, all their sockets on a server together (a bucket of this burst and rate). */
  resyncsPerUserBurst: 10,
  resyncsPerUserPerSecond: 2,
  /** Notification ids one notifications:read names, asked for or announced (with `all`, the rest are implied). */
  notificationsReadIds: 500,
  /** Threads a user's typing is relayed for per tick; changes for more threads are dropped. */
  typingThreadsPerTick: 2,
  /**
   * Durable requests (and room:resync) a connection may have waiting: they run one after
   * another in arrival order; past this many the server stops reading from the socket.
   */
  durableQueuePerConnection: 32,
  /**
   * Durable requests waiting in the whole process (a quarter of a second of work or so) past
   * which new ones are refused with service_unavailable (REST: 503 with Retry-After) instead of
   * waiting.
   */
  durableQueuePerProcess: 256,
  /**
   * REST writes (`POST`, `PUT`, `PATCH`, `DELETE`) being applied at once in the process (from their
   * checked body to their result): those past it wait their turn, first come first served, at most
   * `restWriteWaitMs` and `restWritesWaiting` of them, then are refused with 503. Below
   * durableQueuePerProcess, so REST alone never saturates the writes; a burst of clients is served
   * at the write path's full rate instead of answered with refusals it retries at once.
   */
  restWritesAtOnce: 128,
  restWritesWaiting: 2048,
  restWriteWaitMs: 500,
  /** Per-connection token buckets: every message after auth, and the durable requests among them. */
  messagesBurst: 200,
  messagesPerSecond: 100,
  writesBurst: 40,
  writesPerSecond: 10,
  /** ...and one user's durable requests, all their sockets on a server together. */
  writesPerUserBurst: 100,
  writesPerUserPerSecond: 20,
  /** Refused frames (rate limited, invalid, oversized) a connection may collect; one more closes it. */
  strikesPerConnection: 20,
  /** Connections one room accepts before ROOM_FULL. */
  connectionsPerRoom: 2000,
  /** Connections one user may hold in one room (tabs, devices), per server. */
  connectionsPerUserPerRoom: 20,
  /** Connections one user may hold on one server, all rooms together. */
  connectionsPerUser: 100,
  /** Sockets one address may hold open before they authenticate. */
  unauthenticatedPerAddress: 256,
  /**
   * Sockets one server holds open before they authenticate, all addresses together (this
   * machine's own too, which the per-address cap leaves alone): past it, upgrades get 503.
   */
  unauthenticatedPerServer: 10_000,
  /** Notifications and activity entries sent in auth:ok. */
  notificationsInState: 50,
  activityInState: 50,
  /** Largest JSON body accepted by the REST API. */
  restBodyBytes: 256 * 1024,
  /** Deepest nesting of arrays and objects in a REST body (room metadata is free-form JSON); deeper gets `invalid_json`. */
  restJsonDepth: 64,
  /** Page size for list endpoints: default and maximum. */
  pageDefault: 50,
  pageMax: 200,
} as const;
