import type { EnvConfig } from './config.ts';
import type { Attachment, Reaction } from './models.ts';

/**
 * Response bodies of the admin API under /panel/api (docs/admin-api.md), as the admin panel
 * reads them. Types only: the panel imports them from here instead of keeping its own copies.
 */

export type AdminRole = 'admin' | 'member';

/** A panel account: never its password hash. */
export interface AdminAccount {
  id: string;
  email: string;
  name: string;
  role: AdminRole;
  createdAt: string;
}

export interface AdminEnvironmentCounts {
  rooms: number;
  threads: number;
  users: number;
  comments: number;
}

export interface AdminEnvironment {
  id: string;
  name: string;
  createdAt: string;
  counts: AdminEnvironmentCounts;
}

/** A key as listed: `value` is the full publishable key, null for secret keys (shown once). */
export interface AdminApiKey {
  id: string;
  kind: 'publishable' | 'secret';
  prefix: string;
  value: string | null;
  createdAt: string;
  revokedAt: string | null;
  status: 'active' | 'revoked';
}

/** A new key pair: the secret key is in this response and nowhere else, ever. */
export interface AdminKeyPair {
  publishableKey: string;
  secretKey: string;
}

/** One value of an environment's config. */
export type AdminConfigValue = EnvConfig[keyof EnvConfig];

/** A paged list: `page` is 1-based. */
export interface AdminPage<T> {
  items: T[];
  page: number;
  pageSize: number;
  total: number;
  totalPages: number;
}

export interface AdminAuditEntry {
  id: string;
  /** Null for account-wide operations (team changes). */
  environmentId: string | null;
  /** The admin account, or null for the CLI. */
  actorId: string | null;
  actorName: string;
  actorEmail: string | null;
  /** `keys.rotated`, `key.revoked`, `config.updated`, `comment.deleted`, … */
  action: string;
  detail: string | null;
  createdAt: string;
}

export interface AdminDayStats {
  /** YYYY-MM-DD (UTC). */
  day: string;
  comments: number;
  activeUsers: number;
}

export interface AdminRoomRow {
  id: string;
  createdAt: string;
  threads: number;
  comments: number;
}

export interface AdminThreadRow {
  id: string;
  roomId: string;
  resolved: boolean;
  createdAt: string;
  updatedAt: string;
  comments: number;
  /** The first comment's body and author (external id), or null when the thread has none. */
  /** `userName`: the author's name, or null for a user the environment does not know. */
  firstComment: { body: string; userId: string; userName: string | null } | null;
}

export interface AdminCommentRow {
  id: string;
  threadId: string;
  body: string;
  createdAt: string;
  editedAt: string | null;
  /** `name`, `avatar` and `color` are null when the author's user record is gone. */
  author: { externalId: string; name: string | null; avatar: string | null; color: string | null };
  /** The users the comment mentions that exist, with their names (the body holds `@externalId`). */
  mentions: { externalId: string; name: string }[];
  reactions: Reaction[];
  attachments: Attachment[];
}

export interface AdminUserRow {
  externalId: string;
  name: string;
  avatar: string | null;
  color: string;
  comments: number;
  /** When the user was first seen. */
  firstSeen: string;
}
