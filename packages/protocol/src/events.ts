import type { Comment, Reaction, Thread, ThreadWithComments } from './models.ts';

/**
 * Durable room events: what every client in a room receives when its threads, comments or
 * reactions change, whether the change came over WebSocket or REST. `seq` is the room's
 * sequence number after the change; a client that sees a gap resyncs.
 */
export type DurableRoomEvent =
  | { type: 'thread:created'; seq: number; thread: ThreadWithComments }
  | { type: 'thread:updated'; seq: number; thread: Thread }
  | { type: 'thread:deleted'; seq: number; threadId: string }
  | { type: 'comment:created'; seq: number; comment: Comment }
  | { type: 'comment:updated'; seq: number; comment: Comment }
  | { type: 'comment:deleted'; seq: number; commentId: string; threadId: string; threadDeleted: boolean }
  | { type: 'reaction:added'; seq: number; reaction: Reaction }
  | { type: 'reaction:removed'; seq: number; reactionId: string; targetId: string };

export type DurableRoomEventType = DurableRoomEvent['type'];
