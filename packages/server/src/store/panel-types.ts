import type {
  AdminAuditEntry,
  AdminCommentRow,
  AdminDayStats,
  AdminRole,
  AdminRoomRow,
  AdminThreadRow,
  AdminUserRow,
} from '@pulse/protocol';

/**
 * Store contracts behind the admin panel: admin accounts, their sessions, the login throttle,
 * the audit log, analytics and the data browser. Same invariants as the rest of the Store
 * (see types.ts); the exceptions are spelled out on each method.
 */

export type { AdminRole };

// The panel API's shapes (in @pulse/protocol) are what the store returns for the panel.
export type AuditEntry = AdminAuditEntry;
export type DailyActivity = AdminDayStats;
export type RoomSummary = AdminRoomRow;
export type ThreadSummary = AdminThreadRow;
export type BrowsedComment = AdminCommentRow;
export type CommentAuthor = AdminCommentRow['author'];
export type UserSummary = AdminUserRow;

export interface AdminRow {
  id: string;
  email: string;
  name: string;
  role: AdminRole;
  passwordHash: string;
  createdAt: string;
}

export interface AdminRepo {
  /** Throws `already_exists` when the email is taken. */
  createAdmin(admin: AdminRow): Promise<void>;
  findAdminByEmail(email: string): Promise<AdminRow | undefined>;
  getAdmin(id: string): Promise<AdminRow | undefined>;
  /** Oldest first. */
  listAdmins(): Promise<AdminRow[]>;
  countAdmins(): Promise<number>;
  /**
   * Creates the first account, unless one exists: false then. Atomic across processes (nodes of a
   * cluster answering setup requests at once create one account, not one each).
   */
  createFirstAdmin(admin: AdminRow): Promise<boolean>;
  /**
   * With `by`, the change applies only while that account is still an Admin, checked with the
   * change itself, one team change at a time across nodes: two Admins demoting or removing each
   * other at once cannot both succeed. Throws `forbidden` when `by` is no longer an Admin.
   */
  updateAdminRole(id: string, role: AdminRole, by?: string): Promise<AdminRow | undefined>;
  /** Removes the account and every session of it; false when it did not exist. `by` as above. */
  deleteAdmin(id: string, by?: string): Promise<boolean>;
}

export interface AdminSessionRow {
  /** The SHA-256 of the cookie value: the cookie itself is never stored. */
  id: string;
  adminId: string;
  csrfToken: string;
  createdAt: string;
  expiresAt: string;
}

export interface AdminSessionRepo {
  createAdminSession(session: AdminSessionRow): Promise<void>;
  /**
   * The session and its account as they are now (a role change shows at once), or undefined
   * when the session does not exist, has expired by `now`, or its account was removed.
   */
  findAdminSession(id: string, now: string): Promise<{ session: AdminSessionRow; admin: AdminRow } | undefined>;
  deleteAdminSession(id: string): Promise<void>;
  /** Removes sessions that expired before `now`; returns how many. */
  deleteExpiredAdminSessions(now: string): Promise<number>;
}

/** Failed login attempts, counted per key ("email:…", "ip:…") so every node sees the same count. */
export interface LoginThrottleRepo {
  recordLoginFailure(key: string, at: string): Promise<void>;
  /** Failures of the key at or after `since`, and the time of the oldest of them. */
  loginFailures(key: string, since: string): Promise<{ count: number; oldest: string | null }>;
  clearLoginFailures(key: string): Promise<void>;
  /** Forgets failures older than `before`, for every key. */
  pruneLoginFailures(before: string): Promise<void>;
}

export interface OffsetPage {
  /** Zero-based. */
  offset: number;
  limit: number;
}

export interface Counted<T> {
  items: T[];
  /** How many items match in all (for Previous/Next and "page 2 of 5"). */
  total: number;
}

export interface AuditRepo {
  appendAudit(entry: AuditEntry): Promise<void>;
  /** Newest first (the one list that is not oldest first). `envId` null lists account-wide entries. */
  listAudit(envId: string | null, page: OffsetPage): Promise<Counted<AuditEntry>>;
}

export interface AnalyticsRepo {
  /** Days from `sinceDay` (inclusive) that have any activity, oldest first. */
  dailyActivity(envId: string, sinceDay: string): Promise<DailyActivity[]>;
}

/**
 * The data browser's reads. Rooms, threads and users are listed newest first; a thread's comments
 * oldest first (conversation order). `search` matches case-insensitively anywhere in the room id,
 * or in the user's name or external id; `%` and `_` in it are literal.
 */
export interface BrowseRepo {
  browseRooms(envId: string, query: { search?: string } & OffsetPage): Promise<Counted<RoomSummary>>;
  browseThreads(envId: string, roomId: string, page: OffsetPage): Promise<Counted<ThreadSummary>>;
  browseComments(envId: string, threadId: string, page: OffsetPage): Promise<Counted<BrowsedComment>>;
  browseUsers(envId: string, query: { search?: string } & OffsetPage): Promise<Counted<UserSummary>>;
}
