/** Every timing constant of the protocol, with its unit in its name. */

/** Default lifetime of a user token minted by POST /auth/token. */
export const TOKEN_DEFAULT_LIFETIME_S = 3600;
/** Shortest and longest lifetime `expiresIn` may ask for. */
export const TOKEN_MIN_LIFETIME_S = 60;
export const TOKEN_MAX_LIFETIME_S = 7 * 24 * 3600;
/** Clock skew tolerated when checking a token's expiry. */
export const TOKEN_CLOCK_TOLERANCE_S = 5;

/** How often a server looks for key, config and environment changes made elsewhere (CLI, other nodes). */
export const CONTROL_POLL_MS = 250;

/** A socket must send `auth` within this time after opening. */
export const AUTH_TIMEOUT_MS = 10_000;
/** Clients send a presence heartbeat this often. */
export const PRESENCE_HEARTBEAT_MS = 30_000;
/** A user without a heartbeat for this long is offline. */
export const PRESENCE_OFFLINE_AFTER_MS = 60_000;
/** A user whose last socket closed stays present this long, so a reconnect does not flicker. */
export const PRESENCE_LEAVE_GRACE_MS = 5_000;
/** A typing indicator expires by itself after this long without a refresh. */
export const TYPING_TTL_MS = 4_000;
/** Ephemeral events are coalesced per user per room and flushed once per tick. */
export const ROOM_TICK_MS = 25;
/**
 * Presence events of a room leave with its next tick; while they keep coming (many users joining
 * at once), at most once per this interval, each socket getting them in one write.
 */
export const PRESENCE_BATCH_MS = 250;
/** The client sends its cursor at most this often. */
export const CURSOR_THROTTLE_MS = 50;
/** Other users' cursors fade after this long without a move. */
export const CURSOR_IDLE_FADE_MS = 3_000;
/** Reconnect backoff: first delay and ceiling. */
export const RECONNECT_BASE_DELAY_MS = 1_000;
export const RECONNECT_MAX_DELAY_MS = 30_000;

/** Uploads never attached to a comment are removed after this long. */
export const UNATTACHED_UPLOAD_TTL_MS = 24 * 3600 * 1000;
/** Admin panel session lifetime. */
export const ADMIN_SESSION_TTL_MS = 7 * 24 * 3600 * 1000;
