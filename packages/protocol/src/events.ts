import type { Comment, Reaction, Thread, ThreadWithComments } from './models.ts';
import type { ActivityEntry, DrawStroke } from './realtime-models.ts';

/**
 * Durable room events: what every client in a room receives when its threads, comments,
 * reactions or drawing change, whether the change came over WebSocket, REST or the panel.
 * `seq` is the room's sequence number after the change: consecutive per room, so a client
 * that sees a gap knows it missed something and resyncs. `activity` is the activity-log
 * entry the change produced, when it produced one.
 */
export type DurableRoomEvent = (
  | { type: 'thread:created'; thread: ThreadWithComments }
  | { type: 'thread:updated'; thread: Thread }
  | { type: 'thread:deleted'; threadId: string }
  | { type: 'comment:created'; comment: Comment }
  | { type: 'comment:updated'; comment: Comment }
  | { type: 'comment:deleted'; commentId: string; threadId: string; threadDeleted: boolean }
  | { type: 'reaction:added'; reaction: Reaction }
  | { type: 'reaction:removed'; reactionId: string; targetId: string }
  | { type: 'draw:stroke'; stroke: DrawStroke }
  | { type: 'draw:clear'; userId: string | null }
) & { seq: number; activity?: ActivityEntry };

export type DurableRoomEventType = DurableRoomEvent['type'];
