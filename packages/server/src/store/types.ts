import type {
  Attachment,
  AttachmentType,
  ActivityEntry,
  ActivityKind,
  DrawStroke,
  Notification,
  NotificationKind,
  ApiKeyInfo,
  Comment,
  EnvConfig,
  EnvConfigPatch,
  EnvironmentCounts,
  KeyKind,
  Page,
  PinPosition,
  Reaction,
  Room,
  Thread,
  ThreadWithComments,
  User,
} from '@pulse/protocol';
import type { Dialect } from './migrations.ts';
import type { AdminRepo, AdminSessionRepo, AnalyticsRepo, AuditRepo, BrowseRepo, LoginThrottleRepo } from './panel-types.ts';
import type { WebhookIntent, WebhookRepo } from './webhook-types.ts';
import type { EmailRepo } from './email-types.ts';

export type * from './panel-types.ts';
export type * from './webhook-types.ts';
export type * from './email-types.ts';

/**
 * The durable store. Invariants every driver keeps (checked by the conformance suite):
 * - every method that takes `envId` reads and writes only that environment's rows;
 *   an object of another environment is reported exactly like a missing one;
 * - a method either applies all of its writes or none (one transaction);
 * - a write that resolves has been committed;
 * - every change to a room's threads, comments or reactions increments the room's `seq`
 *   exactly once, and returns the new value;
 * - lists are ordered by (createdAt, id) ascending and page with an opaque cursor.
 */
export interface Store
  extends EnvironmentRepo,
    KeyRepo,
    ControlRepo,
    UserRepo,
    RoomRepo,
    ThreadRepo,
    NotificationRepo,
    ActivityRepo,
    DrawingRepo,
    AttachmentRepo,
    AdminRepo,
    AdminSessionRepo,
    LoginThrottleRepo,
    AuditRepo,
    AnalyticsRepo,
    SharedStateRepo,
    BrowseRepo,
    WebhookRepo,
    EmailRepo {
  readonly dialect: Dialect;
  migrate(): Promise<void>;
  /** Cheap round trip, for health checks. */
  ping(): Promise<void>;
  /** Write operations waiting for, or inside, a transaction (the group-commit writer's backlog). */
  pendingWrites(): number;
  /** Forgets cached key lookups: a key changed in another process (seen in the control log). */
  invalidateKeys(): void;
  close(): Promise<void>;
}

export interface PageRequest {
  limit: number;
  /** Exclusive lower bound in (createdAt, id) order. */
  after?: { createdAt: string; id: string };
}

export interface EnvironmentRow {
  id: string;
  name: string;
  createdAt: string;
}

export interface NewKey {
  id: string;
  kind: KeyKind;
  keyHash: string;
  prefix: string;
  value: string | null;
}

export interface KeyRecord extends ApiKeyInfo {
  environmentId: string;
}

export interface EnvironmentRepo {
  createEnvironment(env: EnvironmentRow & { config: EnvConfig }, keys: NewKey[]): Promise<void>;
  listEnvironments(): Promise<EnvironmentRow[]>;
  getEnvironment(envId: string): Promise<EnvironmentRow | undefined>;
  renameEnvironment(envId: string, name: string): Promise<EnvironmentRow | undefined>;
  countEnvironment(envId: string): Promise<EnvironmentCounts>;
  getConfig(envId: string): Promise<EnvConfig | undefined>;
  /** Merges the patch into the stored config in one transaction; returns the full result. */
  updateConfig(envId: string, patch: EnvConfigPatch): Promise<EnvConfig | undefined>;
}

export interface KeyRepo {
  listKeys(envId: string): Promise<KeyRecord[]>;
  findKeyByHash(keyHash: string): Promise<KeyRecord | undefined>;
  findKey(keyId: string): Promise<KeyRecord | undefined>;
  /** Revokes one active key; returns it, or undefined when it does not exist in the environment. */
  revokeKey(envId: string, keyId: string, at: string): Promise<KeyRecord | undefined>;
  /** Revokes every active key of the environment and adds the new ones, atomically. Returns the revoked keys. */
  rotateKeys(envId: string, newKeys: NewKey[], at: string): Promise<KeyRecord[]>;
}

export interface ControlEvent {
  id: number;
  environmentId: string | null;
  kind: string;
  createdAt: string;
}

/** A change log that running servers poll, so changes made by the CLI or another node reach them. */
export interface ControlRepo {
  /** Returns the event's id. */
  appendControlEvent(envId: string | null, kind: string, at: string): Promise<number>;
  controlEventsAfter(id: number, limit: number): Promise<ControlEvent[]>;
  lastControlEventId(): Promise<number>;
}

export interface UserProfile {
  externalId: string;
  name: string;
  avatar: string | null;
  /** Undefined keeps the stored colour (or assigns one for a new user). */
  color?: string;
  /** For email notifications; undefined keeps the stored one, null removes it. Never shown to other users. */
  email?: string | null;
}

export interface UserRepo {
  upsertUser(envId: string, profile: UserProfile, at: string): Promise<User>;
  /**
   * The stored user when `upsertUser(profile)` on `day` would change nothing: same profile, and
   * already counted as active that day. A reconnecting user then costs a read, not a write.
   */
  unchangedUser(envId: string, profile: UserProfile, day: string): Promise<User | undefined>;
  getUser(envId: string, externalId: string): Promise<User | undefined>;
  /** Those of the users that exist, in one read. */
  getUsers(envId: string, externalIds: string[]): Promise<User[]>;
  listUsers(envId: string, page: PageRequest): Promise<Page<User>>;
  /**
   * Up to `limit` users whose name contains `text` or whose id starts with it, case-insensitively,
   * by name: the widget's @mention suggestions, over every user.
   */
  searchUsers(envId: string, text: string, limit: number): Promise<User[]>;
}

export interface RoomRepo {
  ensureRoom(envId: string, roomId: string, at: string): Promise<Room>;
  getRoom(envId: string, roomId: string): Promise<(Room & { seq: number }) | undefined>;
  /** The room's sequence number alone (a cheap freshness check for cached views), or undefined. */
  roomSeq(envId: string, roomId: string): Promise<number | undefined>;
  listRooms(envId: string, page: PageRequest): Promise<Page<Room>>;
}

export interface NewComment {
  id: string;
  threadId: string;
  /** When given, the thread must be in this room, or the comment is refused with thread_not_found. */
  roomId?: string;
  userId: string;
  body: string;
  mentions: string[];
  createdAt: string;
}

export interface NewThread {
  id: string;
  roomId: string;
  position: PinPosition | null;
  createdBy: string;
  createdAt: string;
}

export interface Sequenced<T> {
  value: T;
  roomId: string;
  seq: number;
  /** The activity entry written with the change, when one was asked for. */
  activity?: ActivityEntry;
  /** The notifications written with the change. */
  notifications?: StoredNotification[];
  /** Attachments whose rows the change removed: their files are to be deleted. */
  removedAttachments?: string[];
}

export interface NewActivity {
  id: string;
  roomId: string;
  userId: string | null;
  kind: ActivityKind;
  threadId: string | null;
  commentId: string | null;
  preview: string | null;
  createdAt: string;
}

export interface NewNotification {
  id: string;
  userId: string;
  kind: NotificationKind;
  roomId: string;
  threadId: string;
  commentId: string;
  actorId: string;
  preview: string;
  createdAt: string;
}

/** A notification with its recipient. */
export type StoredNotification = Notification & { userId: string };

/** Rows written in the same transaction as a change. */
export interface Effects {
  activity?: NewActivity;
  notifications?: NewNotification[];
  /**
   * Uploads to attach to the comment the change creates (or edits, where the list replaces
   * the comment's attachments). Each must be unattached; `userId`, when set, must own it.
   */
  attach?: { ids: string[]; userId: string | null };
  /** Webhook events the change causes, recorded in the outbox in its transaction. */
  webhooks?: WebhookIntent[];
}

export interface NewAttachment {
  id: string;
  userId: string;
  type: AttachmentType;
  filename: string;
  mimeType: string;
  sizeBytes: number;
  width?: number;
  height?: number;
  durationMs?: number;
  hasThumbnail: boolean;
  createdAt: string;
}

export type AttachmentRecord = Attachment & { userId: string; commentId: string | null; createdAt: string };

export interface AttachmentRepo {
  createAttachment(envId: string, attachment: NewAttachment): Promise<AttachmentRecord>;
  getAttachment(envId: string, id: string): Promise<AttachmentRecord | undefined>;
  /** Deletes the user's upload if it is still not attached to a comment; false otherwise (gone, someone else's, or attached). */
  deleteUnattachedUpload(envId: string, userId: string, id: string): Promise<boolean>;
  /** The user's uploads not attached to a comment (yet): how many, and their bytes. */
  pendingUploads(envId: string, userId: string): Promise<{ count: number; bytes: number }>;
  /** Uploads never attached and created before `before`, in any environment. */
  staleAttachments(before: string, limit: number): Promise<{ envId: string; id: string }[]>;
  deleteAttachments(envId: string, ids: string[]): Promise<void>;
}

/** What stays of a deleted thread, comment or stroke: enough to recognise a replayed create. */
export type DeletedKind = 'thread' | 'comment' | 'stroke';
export interface DeletedId {
  roomId: string;
  /** A comment's thread. */
  threadId: string | null;
  /** The author (a thread's creator). */
  userId: string;
}

export interface ThreadRepo {
  /** Creates the room if needed, the thread and its first comment. Throws `already_exists` on a duplicate id. */
  createThread(envId: string, thread: NewThread, first: Omit<NewComment, 'threadId'>, effects?: Effects): Promise<Sequenced<ThreadWithComments>>;
  getThread(envId: string, threadId: string): Promise<Thread | undefined>;
  /** A thread's room and creator (the author of its first comment, deleted or not). */
  threadOwner(envId: string, threadId: string): Promise<{ roomId: string; userId: string } | undefined>;
  getThreadWithComments(envId: string, threadId: string): Promise<ThreadWithComments | undefined>;
  listThreads(envId: string, roomId: string, filter: { resolved?: boolean }, page: PageRequest): Promise<Page<Thread>>;
  /** Every thread of a room with its comments and reactions (a room's full state). */
  listRoomThreadsWithComments(envId: string, roomId: string): Promise<ThreadWithComments[]>;
  setThreadResolved(envId: string, threadId: string, resolved: boolean, at: string, effects?: Effects): Promise<Sequenced<Thread> | undefined>;
  deleteThread(envId: string, threadId: string, effects?: Effects): Promise<Sequenced<Thread> | undefined>;
  /** External ids of everyone who commented in the thread (each once, in no particular order). */
  threadParticipants(envId: string, threadId: string): Promise<string[]>;

  /** A deleted thread's, comment's or stroke's id: its ids stay taken (creates with them throw `already_exists`). */
  deletedId(envId: string, kind: DeletedKind, id: string): Promise<DeletedId | undefined>;

  /** Throws `thread_not_found` or `already_exists`. */
  createComment(envId: string, comment: NewComment, effects?: Effects): Promise<Sequenced<Comment>>;
  getComment(envId: string, commentId: string): Promise<Comment | undefined>;
  /** A comment's thread, room and author (one indexed read), for recognising a retried create. */
  commentOwner(envId: string, commentId: string): Promise<{ threadId: string; roomId: string; userId: string } | undefined>;
  /** The room a comment is in (one indexed read), or undefined when there is no such comment. */
  commentRoom(envId: string, commentId: string): Promise<string | undefined>;
  listComments(envId: string, threadId: string, page: PageRequest): Promise<Page<Comment>>;
  updateComment(
    envId: string,
    commentId: string,
    /** `preview`: the new start of the text for the comment's notifications. */
    change: { body: string; mentions: string[]; preview: string },
    at: string,
    effects?: Effects,
  ): Promise<Sequenced<Comment> | undefined>;
  /** Deletes the comment, and its thread when it was the last one (recording `ifThreadDeleted` then). */
  deleteComment(
    envId: string,
    commentId: string,
    effects?: Effects,
    ifThreadDeleted?: WebhookIntent[],
  ): Promise<Sequenced<{ comment: Comment; threadDeleted: boolean }> | undefined>;

  /** One reaction per user per emoji per comment: an existing one is returned with `created: false`. Throws `comment_not_found`. */
  addReaction(
    envId: string,
    reaction: { id: string; commentId: string; userId: string; emoji: string; createdAt: string },
    effects?: Effects,
  ): Promise<Sequenced<{ reaction: Reaction; created: boolean }>>;
  getReaction(envId: string, reactionId: string): Promise<Reaction | undefined>;
  deleteReaction(envId: string, reactionId: string, effects?: Effects): Promise<Sequenced<Reaction> | undefined>;
}

export interface NotificationRepo {
  /** The user's newest notifications, newest first. */
  listNotifications(envId: string, userId: string, limit: number): Promise<Notification[]>;
  /** The users who have a notification of the comment (read or not). */
  notifiedOfComment(envId: string, commentId: string): Promise<string[]>;
  /** Marks the given (or all) unread notifications read; returns the ids that changed. */
  markNotificationsRead(envId: string, userId: string, ids: string[] | 'all', at: string): Promise<string[]>;
}

export interface ActivityRepo {
  /** The room's newest activity entries, oldest first. */
  listActivity(envId: string, roomId: string, limit: number): Promise<ActivityEntry[]>;
}

export interface DrawingRepo {
  /** Adds a stroke (creating the room if needed), dropping the oldest beyond `maxStrokes`. */
  /** Refuses with `drawing_full` past `maxBytes` of points in the room; drops the oldest strokes past `maxStrokes`. */
  addStroke(envId: string, roomId: string, stroke: DrawStroke, limits: { maxStrokes: number; maxBytes: number }): Promise<Sequenced<DrawStroke>>;
  getStroke(envId: string, strokeId: string): Promise<(DrawStroke & { roomId: string }) | undefined>;
  /** Removes every stroke of the room; returns how many. */
  clearDrawing(envId: string, roomId: string, effects?: Effects): Promise<Sequenced<number>>;
  listStrokes(envId: string, roomId: string): Promise<DrawStroke[]>;
}

/** See SharedStateRepo.sharedStateStamp. */
export const sharedStateStamp = (version: number, updatedAt: string) => `${version}@${updatedAt}`;

/** A room's persisted P2P shared data: its Yjs document as one merged update. */
export interface SharedStateRecord {
  roomId: string;
  state: Uint8Array;
  bytes: number;
  version: number;
  updatedAt: string;
  expiresAt: string;
}

/**
 * P2P shared data. Writes are compare-and-set on `version`, so nodes of a cluster merging into
 * the same room never overwrite each other's updates: the loser reads again and merges again.
 */
export interface SharedStateRepo {
  getSharedState(envId: string, roomId: string): Promise<SharedStateRecord | undefined>;
  /**
   * What tells the stored state from any other (undefined: none stored), without reading it:
   * its version and write time (a version alone repeats after a delete).
   */
  sharedStateStamp(envId: string, roomId: string): Promise<string | undefined>;
  /**
   * Stores `state` if the stored version is still `expectedVersion` (null: nothing stored yet).
   * Returns the new version, or undefined when another writer came first (nothing written).
   */
  putSharedState(
    envId: string,
    roomId: string,
    write: { state: Uint8Array; expectedVersion: number | null; at: string; expiresAt: string },
  ): Promise<number | undefined>;
  /** Removes the room's state; returns whether there was any. */
  deleteSharedState(envId: string, roomId: string): Promise<boolean>;
  /** Removes every room's state that expired before `now`; returns how many. */
  deleteExpiredSharedState(now: string): Promise<number>;
  /** Rooms of the environment with stored state, newest first (metadata only). */
  listSharedState(envId: string, limit: number): Promise<Omit<SharedStateRecord, 'state'>[]>;
}
