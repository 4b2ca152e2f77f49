import { z } from 'zod';
import type { EnvConfig } from './config.ts';
import type { DeviceType } from './fields.ts';
import type { ThreadWithComments } from './models.ts';

/** Objects that exist on the WebSocket side only (or first). Ids of users here are external ids. */

/** The signed-in user, and every user as the realtime API shows them. `id` is your userId. */
export interface PulseUser {
  id: string;
  name: string;
  avatar: string | null;
  color: string;
}

export type PresenceStatus = 'online' | 'idle';

/** One user in a room (all of their tabs together). */
export interface PresenceMember {
  userId: string;
  user: PulseUser;
  status: PresenceStatus;
  deviceType: DeviceType;
  lastSeen: string;
}

export const notificationKindSchema = z.enum(['mention', 'reply']);
export type NotificationKind = z.infer<typeof notificationKindSchema>;

export interface Notification {
  id: string;
  kind: NotificationKind;
  roomId: string;
  threadId: string;
  commentId: string;
  /** Who wrote the comment. */
  actorId: string;
  /** The start of the comment. */
  preview: string;
  createdAt: string;
  read: boolean;
}

export type ActivityKind =
  | 'thread.created'
  | 'thread.resolved'
  | 'thread.reopened'
  | 'thread.deleted'
  | 'comment.created'
  | 'comment.edited'
  | 'comment.deleted'
  | 'drawing.cleared';

export interface ActivityEntry {
  id: string;
  roomId: string;
  userId: string | null;
  kind: ActivityKind;
  threadId: string | null;
  commentId: string | null;
  preview: string | null;
  createdAt: string;
}

/** A freehand stroke; points are relative to the document (0–1 on each axis). */
export interface DrawStroke {
  id: string;
  userId: string;
  points: [number, number][];
  color: string;
  width: number;
  createdAt: string;
}

/** Everything a (re)connecting client needs about its room. */
export interface RoomState {
  id: string;
  /** The room's sequence number at the time of this snapshot. */
  seq: number;
  threads: ThreadWithComments[];
  presence: PresenceMember[];
  activity: ActivityEntry[];
  drawing: DrawStroke[];
}

export interface AuthOkPayload {
  user: PulseUser;
  config: EnvConfig;
  room: RoomState;
  notifications: Notification[];
  connectionId: string;
  serverTime: string;
}
