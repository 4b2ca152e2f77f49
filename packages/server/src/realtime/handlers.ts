import { LIMITS, PulseError, type ClientMessage, type ClientMessageOf, type EphemeralEvent } from '@pulse/protocol';
import type { Actor } from '../domain/actor.ts';
import type { Connection } from './connection.ts';
import type { RealtimeHub } from './hub.ts';
import { sendRoomState } from './send-state.ts';
import { P2P_HANDLERS } from '../p2p/handlers.ts';

type Handler<T extends ClientMessage['type']> = (hub: RealtimeHub, conn: Connection, message: ClientMessageOf<T>) => Promise<void> | void;

const actorOf = (conn: Connection): Actor => ({ kind: 'user', externalId: conn.identity!.user.id });
const ack = (conn: Connection, ref: string | undefined, extra: { id?: string; seq?: number } = {}) => {
  if (ref) conn.send({ type: 'ack', ref, ...extra });
};

/**
 * What a retried create (offline queue, lost ack) runs into: its id exists, or its attachments
 * are already attached to it, or are gone with it (deleted since). The handler then checks the
 * object is, or was, the sender's and acks.
 */
const isRetryConflict = (err: PulseError) => err.code === 'already_exists' || err.code === 'attachment_in_use' || err.code === 'attachment_not_found';

/** The thread exists in the connection's room (ids from other rooms or environments are unknown here). */
async function threadInRoom(hub: RealtimeHub, conn: Connection, threadId: string): Promise<void> {
  if ((await hub.ctx.collab.threadRoom(conn.identity!.envId, threadId)) !== conn.identity!.roomId) throw new PulseError('thread_not_found');
}

async function commentInRoom(hub: RealtimeHub, conn: Connection, commentId: string): Promise<void> {
  if ((await hub.ctx.collab.commentRoom(conn.identity!.envId, commentId)) !== conn.identity!.roomId) throw new PulseError('comment_not_found');
}

type Flag = 'showCursors' | 'showPresence' | 'showTypingIndicators';

/** Queues an ephemeral event for the room's next tick, unless the environment turned its feature off. */
function relay(hub: RealtimeHub, conn: Connection, flag: Flag | null, event: EphemeralEvent): void {
  if (flag && hub.registry.configFor(conn.identity!.envId)?.[flag] === false) return;
  // Someone appearing offline leaves no live traces either.
  if (conn.appearOffline) return;
  conn.room!.queue(conn.identity!.user.id, event);
}

export const HANDLERS: { [T in ClientMessage['type']]: Handler<T> } = {
  auth: () => {
    throw new PulseError('already_authenticated');
  },

  'cursor:move': (hub, conn, m) => relay(hub, conn, 'showCursors', { type: 'cursor:move', userId: conn.identity!.user.id, position: m.position }),
  'cursor:leave': (hub, conn) => relay(hub, conn, 'showCursors', { type: 'cursor:leave', userId: conn.identity!.user.id }),
  click: (hub, conn, m) => relay(hub, conn, 'showCursors', { type: 'click', userId: conn.identity!.user.id, position: m.position }),
  // Viewports drive follow mode, which starts from the presence avatars.
  viewport: (hub, conn, m) => relay(hub, conn, 'showPresence', { type: 'viewport', userId: conn.identity!.user.id, viewport: m.viewport }),
  selection: (hub, conn, m) => relay(hub, conn, 'showCursors', { type: 'selection', userId: conn.identity!.user.id, selection: m.selection }),
  'typing:start': (hub, conn, m) =>
    relay(hub, conn, 'showTypingIndicators', { type: 'typing', userId: conn.identity!.user.id, threadId: m.threadId, typing: true }),
  'typing:stop': (hub, conn, m) =>
    relay(hub, conn, 'showTypingIndicators', { type: 'typing', userId: conn.identity!.user.id, threadId: m.threadId, typing: false }),
  'emoji:drop': (hub, conn, m) => relay(hub, conn, null, { type: 'emoji:drop', userId: conn.identity!.user.id, emoji: m.emoji, position: m.position }),

  'presence:update': (_hub, conn, m) => {
    conn.status = m.status;
    conn.room!.presence.changed(conn);
    ack(conn, m.ref);
  },
  'presence:heartbeat': (_hub, conn, m) => {
    conn.room!.presence.touch(conn);
    ack(conn, m.ref);
  },
  'presence:appear-offline': (_hub, conn, m) => {
    conn.room!.presence.setAppearOffline(conn, m.appearOffline);
    ack(conn, m.ref);
  },

  'thread:create': async (hub, conn, m) => {
    const { envId, roomId, user } = conn.identity!;
    try {
      const thread = await hub.ctx.collab.createThread(envId, actorOf(conn), {
        id: m.id,
        ...(m.commentId ? { commentId: m.commentId } : {}),
        roomId,
        authorId: user.id,
        body: m.body,
        mentions: m.mentions,
        position: m.position,
        ...(m.attachmentIds ? { attachmentIds: m.attachmentIds } : {}),
      });
      ack(conn, m.ref, { id: thread.id });
    } catch (err) {
      // A retried create (offline queue, reconnect) is acknowledged, not refused.
      if (err instanceof PulseError && isRetryConflict(err)) {
        if (await hub.ctx.collab.isOwnThread(envId, m.id, roomId, user.id)) return ack(conn, m.ref, { id: m.id });
      }
      throw err;
    }
  },
  'thread:resolve': async (hub, conn, m) => {
    await threadInRoom(hub, conn, m.threadId);
    await hub.ctx.collab.setResolved(conn.identity!.envId, actorOf(conn), m.threadId, m.resolved);
    ack(conn, m.ref, { id: m.threadId });
  },
  'thread:delete': async (hub, conn, m) => {
    await threadInRoom(hub, conn, m.threadId);
    await hub.ctx.collab.deleteThread(conn.identity!.envId, actorOf(conn), m.threadId);
    ack(conn, m.ref, { id: m.threadId });
  },
  'comment:create': async (hub, conn, m) => {
    const { envId, roomId, user } = conn.identity!;
    try {
      await threadInRoom(hub, conn, m.threadId);
      const comment = await hub.ctx.collab.addComment(envId, actorOf(conn), {
        ...(m.id ? { id: m.id } : {}),
        threadId: m.threadId,
        roomId,
        authorId: user.id,
        body: m.body,
        mentions: m.mentions ?? [],
        ...(m.attachmentIds ? { attachmentIds: m.attachmentIds } : {}),
      });
      ack(conn, m.ref, { id: comment.id });
    } catch (err) {
      // Also when the thread has gone since: a replayed queue that created, answered and deleted it.
      if (err instanceof PulseError && (isRetryConflict(err) || err.code === 'thread_not_found') && m.id) {
        if (await hub.ctx.collab.isOwnComment(envId, m.id, m.threadId, roomId, user.id)) return ack(conn, m.ref, { id: m.id });
      }
      throw err;
    }
  },
  'comment:edit': async (hub, conn, m) => {
    await commentInRoom(hub, conn, m.commentId);
    await hub.ctx.collab.editComment(conn.identity!.envId, actorOf(conn), m.commentId, {
      body: m.body,
      ...(m.mentions ? { mentions: m.mentions } : {}),
      ...(m.attachmentIds ? { attachmentIds: m.attachmentIds } : {}),
    });
    ack(conn, m.ref, { id: m.commentId });
  },
  'comment:delete': async (hub, conn, m) => {
    await commentInRoom(hub, conn, m.commentId);
    await hub.ctx.collab.deleteComment(conn.identity!.envId, actorOf(conn), m.commentId);
    ack(conn, m.ref, { id: m.commentId });
  },
  'reaction:add': async (hub, conn, m) => {
    await commentInRoom(hub, conn, m.targetId);
    const { reaction } = await hub.ctx.collab.addReaction(conn.identity!.envId, actorOf(conn), { commentId: m.targetId, userId: conn.identity!.user.id, emoji: m.emoji });
    ack(conn, m.ref, { id: reaction.id });
  },
  'reaction:remove': async (hub, conn, m) => {
    const { envId, roomId, user } = conn.identity!;
    let reactionId = m.reactionId;
    // By its id alone, or by both its comment and its emoji.
    if (reactionId !== undefined ? m.targetId !== undefined || m.emoji !== undefined : m.targetId === undefined || m.emoji === undefined) {
      throw new PulseError('invalid_message', 'reaction:remove takes either reactionId, or targetId and emoji.');
    }
    if (reactionId === undefined) {
      if ((await hub.ctx.collab.commentRoom(envId, m.targetId!)) !== roomId) throw new PulseError('comment_not_found');
      reactionId = await hub.ctx.collab.ownReactionId(envId, m.targetId!, user.id, m.emoji!);
      if (reactionId === undefined) throw new PulseError('reaction_not_found');
    } else if ((await hub.ctx.collab.reactionRoom(envId, reactionId)) !== roomId) {
      throw new PulseError('reaction_not_found');
    }
    await hub.ctx.collab.removeReaction(envId, actorOf(conn), reactionId);
    ack(conn, m.ref, { id: reactionId });
  },
  'draw:stroke': async (hub, conn, m) => {
    const { envId, roomId, user } = conn.identity!;
    try {
      const stroke = await hub.ctx.collab.addStroke(envId, roomId, {
        ...(m.id ? { id: m.id } : {}),
        userId: user.id,
        points: m.points,
        color: m.color,
        width: m.width,
      });
      ack(conn, m.ref, { id: stroke.id });
    } catch (err) {
      // A retried stroke (offline queue) is acknowledged; its client id makes it the same stroke.
      if (err instanceof PulseError && err.code === 'already_exists' && m.id && (await hub.ctx.collab.isOwnStroke(envId, m.id, roomId, user.id))) {
        return ack(conn, m.ref, { id: m.id });
      }
      throw err;
    }
  },
  'draw:clear': async (hub, conn, m) => {
    await hub.ctx.collab.clearDrawing(conn.identity!.envId, actorOf(conn), conn.identity!.roomId);
    ack(conn, m.ref);
  },
  'notifications:read': async (hub, conn, m) => {
    const ids = m.all ? 'all' : (m.ids ?? []);
    await hub.ctx.collab.markNotificationsRead(conn.identity!.envId, conn.identity!.user.id, ids);
    ack(conn, m.ref);
  },
  'room:resync': async (hub, conn, m) => {
    const { envId, roomId } = conn.identity!;
    // A room's state can take MBs: a socket gets one every RESYNC_INTERVAL_MS at most (PulseClient backs off and asks again).
    const now = performance.now();
    if (now - conn.lastResyncAt < LIMITS.resyncIntervalMs) {
      throw new PulseError('rate_limited', `room:resync is answered once per ${LIMITS.resyncIntervalMs / 1000} s per connection; ask again shortly.`);
    }
    if (conn.ws.bufferedAmount > LIMITS.wsSoftBufferBytes) {
      throw new PulseError('rate_limited', 'room:resync is answered once this socket has read what it was sent; ask again shortly.');
    }
    if (conn.userSockets && !conn.userSockets.resyncs.take()) {
      throw new PulseError('rate_limited', `room:resync is answered ${LIMITS.resyncsPerUserPerSecond} times a second per user, all their sockets together; ask again shortly.`);
    }
    conn.lastResyncAt = now;
    await sendRoomState([conn], () => hub.roomStateFrame(envId, roomId));
    ack(conn, m.ref);
  },
  // P2P shared data: signalling, relay, sync and persistence (see ../p2p/).
  ...P2P_HANDLERS,
};
