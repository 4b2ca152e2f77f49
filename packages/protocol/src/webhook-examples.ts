import type { Comment, Reaction, Room, Thread } from './models.ts';
import type { WebhookEventType } from './webhook-events.ts';
import type { WebhookData } from './webhooks.ts';

/** The room every example event is about: no real room has this id unless you make one. */
export const WEBHOOK_EXAMPLE_ROOM = 'pulse-example-room';

/**
 * An example `data` of each event type, as "send an example event" delivers it: a receiver's
 * handler can be tried before a real event happens. Every id says it is an example; the shapes
 * are those of `webhookDataSchemas`.
 */
export function webhookExampleData(type: WebhookEventType, environmentId: string, at: string): WebhookData {
  const roomId = WEBHOOK_EXAMPLE_ROOM;
  const base = { environmentId, roomId, actor: { type: 'user' as const, userId: 'example-user' } };
  // As the real events of these types: Pulse noticed them, nobody caused them.
  const noticed = { ...base, actor: { type: 'system' as const } };
  const room: Room = { id: roomId, environmentId, metadata: null, createdAt: at };
  const thread: Thread = {
    id: 'thread_example',
    roomId,
    resolved: type === 'thread.resolved',
    position: { x: 0.5, y: 0.25 },
    positionX: 0.5,
    positionY: 0.25,
    createdBy: 'example-user',
    createdAt: at,
    updatedAt: at,
  };
  const reaction: Reaction = { id: 'reaction_example', targetId: 'comment_example', targetType: 'comment', userId: 'example-user', emoji: '👍', createdAt: at };
  const comment: Comment = {
    id: 'comment_example',
    threadId: thread.id,
    userId: 'example-user',
    body: 'An example comment from Pulse, mentioning @example-colleague.',
    mentions: ['example-colleague'],
    createdAt: at,
    editedAt: type === 'comment.edited' ? at : null,
    reactions: type === 'reaction.added' ? [reaction] : [],
    attachments: [],
  };
  const onComment = { ...base, threadId: thread.id, commentId: comment.id };
  const notification = (kind: 'mention') => ({
    ...onComment,
    notificationId: 'notification_example',
    recipientId: 'example-colleague',
    notification: { id: 'notification_example', kind, roomId, threadId: thread.id, commentId: comment.id, actorId: 'example-user', preview: comment.body, createdAt: at, read: false },
  });
  switch (type) {
    case 'thread.created':
      return { ...base, threadId: thread.id, thread: { ...thread, comments: [comment] } };
    case 'thread.resolved':
    case 'thread.reopened':
    case 'thread.deleted':
      return { ...base, threadId: thread.id, thread };
    case 'comment.created':
    case 'comment.edited':
      return { ...onComment, comment };
    case 'comment.deleted':
      return { ...onComment, threadDeleted: false, comment };
    case 'reaction.added':
    case 'reaction.removed':
      return { ...onComment, reactionId: reaction.id, reaction };
    case 'notification.created':
      return notification('mention');
    case 'notification.unread':
      return { ...notification('mention'), actor: noticed.actor };
    case 'room.created':
      return { ...noticed, room };
    case 'p2p.state.persisted':
      return { ...noticed, sharedState: { roomId, bytes: 1024, version: 1, updatedAt: at, expiresAt: new Date(Date.parse(at) + 30 * 86_400_000).toISOString() } };
  }
}
