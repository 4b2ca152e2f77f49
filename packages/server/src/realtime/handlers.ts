import {
  clientMessageSchema,
  CLOSE_CODES,
  DURABLE_TYPES,
  LIMITS,
  PulseError,
  type ClientMessage,
  type ClientMessageOf,
  type EnvConfig,
  type EphemeralEvent,
  type PulseUser,
  type RoomState,
} from '@pulse/protocol';
import type { Actor } from '../domain/actor.ts';
import type { Connection } from './connection.ts';
import type { RealtimeHub } from './hub.ts';

const KNOWN_TYPES = new Set(clientMessageSchema.options.map((o) => o.shape.type.value as string));
const RATE_LIMIT_STRIKES = 50;
const STRIKE_WINDOW_MS = 10_000;

/** Parses a frame into a client message, or throws the error the client should get. */
function parse(raw: unknown): ClientMessage {
  let result: ReturnType<typeof clientMessageSchema.safeParse>;
  try {
    result = clientMessageSchema.safeParse(raw);
  } catch {
    // Pathological nesting can exhaust the stack inside validation.
    throw new PulseError('invalid_message', 'The message is nested too deeply.');
  }
  if (result.success) return result.data;
  const type = (raw as { type?: unknown } | null)?.type;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new PulseError('invalid_message', 'A frame must be a JSON object with a "type".');
  if (typeof type !== 'string' || !KNOWN_TYPES.has(type)) {
    const shown = typeof type === 'string' ? JSON.stringify(type.slice(0, 64)) : `(a ${Array.isArray(type) ? 'array' : typeof type})`;
    throw new PulseError('unknown_message_type', `Unknown message type ${shown}.`);
  }
  const issue = result.error.issues.find((i) => i.path[0] !== 'type') ?? result.error.issues[0]!;
  const path = issue.path.join('.');
  const detail = issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
  throw new PulseError('invalid_message', `${type}: ${path ? `${path}: ` : ''}${detail}`);
}

export async function handleMessage(hub: RealtimeHub, conn: Connection, raw: unknown): Promise<void> {
  if (!conn.identity) {
    if (conn.authenticating) throw new PulseError('not_authenticated', 'Wait for auth:ok before sending.');
    let message: ClientMessage;
    try {
      message = parse(raw);
    } catch (err) {
      hub.rejectAuth(conn, err instanceof PulseError ? err : new PulseError('invalid_message'));
      return;
    }
    if (message.type !== 'auth') {
      hub.rejectAuth(conn, new PulseError('not_authenticated'));
      return;
    }
    return authenticate(hub, conn, message);
  }

  const message = parse(raw);
  if (message.type === 'auth') throw new PulseError('already_authenticated');
  if (!conn.messages.take()) {
    // Ephemeral floods are simply thinned out; only requests that expect an answer get an error.
    if (isEphemeral(message)) return;
    strike(conn);
    throw new PulseError('rate_limited');
  }
  const handler = HANDLERS[message.type] as Handler<typeof message.type>;
  await handler(hub, conn, message as never);
}

/** A connection that keeps hitting its limits (RATE_LIMIT_STRIKES within STRIKE_WINDOW_MS) is closed. */
function strike(conn: Connection): void {
  const now = Date.now();
  if (now - conn.strikeWindowStart > STRIKE_WINDOW_MS) {
    conn.strikeWindowStart = now;
    conn.strikes = 0;
  }
  if (++conn.strikes > RATE_LIMIT_STRIKES) conn.close(CLOSE_CODES.RATE_LIMITED, 'rate limited');
}

function isEphemeral(m: ClientMessage): boolean {
  return !('ref' in m && m.ref) && !DURABLE.has(m.type);
}

/** Requests that expect an answer: they are refused with rate_limited rather than dropped. */
const DURABLE = new Set<string>([...DURABLE_TYPES, 'room:resync']);

export async function authenticate(hub: RealtimeHub, conn: Connection, message: ClientMessageOf<'auth'>): Promise<void> {
  const { ctx } = hub;
  conn.authenticating = true;
  try {
    const verified = await ctx.tokens.verify(message.apiKey, message.token);
    const envId = verified.environmentId;
    const stored = await ctx.collab.upsertUser(envId, verified.user);
    const config = await ctx.configs.require(envId);
    if (!conn.open) return;
    const user: PulseUser = { id: stored.externalId, name: stored.name, avatar: stored.avatar, color: stored.color };
    conn.identity = {
      envId,
      roomId: message.room,
      user,
      publishableKeyId: verified.publishableKeyId,
      secretKeyId: verified.secretKeyId,
    };
    conn.deviceType = message.deviceType ?? 'desktop';
    const room = hub.join(conn, config);
    if (room.ready) {
      // Cluster mode: the room's channel and the other nodes' presence first.
      await room.ready;
      if (!room.connections.has(conn)) return; // closed meanwhile (already detached)
    }
    room.presence.add(conn);
    const [state, notifications] = await Promise.all([
      loadRoomState(hub, envId, message.room, config),
      ctx.store.listNotifications(envId, user.id, LIMITS.notificationsInState),
    ]);
    if (!conn.open) return hub.detach(conn);
    conn.sendNow({
      type: 'auth:ok',
      user,
      config,
      room: state,
      notifications,
      connectionId: conn.id,
      serverTime: new Date().toISOString(),
    });
    const backlog = conn.backlog ?? [];
    conn.backlog = undefined;
    for (const frame of backlog) conn.sendFrame(frame, 'durable');
  } catch (err) {
    if (conn.identity) hub.detach(conn);
    conn.identity = undefined;
    if (err instanceof PulseError) hub.rejectAuth(conn, err);
    else {
      console.error('[pulse] auth failed:', err);
      conn.sendNow({ type: 'auth:error', code: 'internal_error', message: new PulseError('internal_error').message });
      conn.close(1011, 'internal error');
    }
  } finally {
    conn.authenticating = false;
  }
}

/**
 * A room's full state. The sequence number is read first: an event committed meanwhile is
 * then both in the snapshot and delivered after it, and clients apply events idempotently.
 */
export async function loadRoomState(hub: RealtimeHub, envId: string, roomId: string, config: EnvConfig): Promise<RoomState> {
  const { store } = hub.ctx;
  await store.ensureRoom(envId, roomId, new Date().toISOString());
  const seq = (await store.getRoom(envId, roomId))?.seq ?? 0;
  const [threads, activity, drawing, presence] = await Promise.all([
    store.listRoomThreadsWithComments(envId, roomId),
    store.listActivity(envId, roomId, LIMITS.activityInState),
    store.listStrokes(envId, roomId),
    config.showPresence ? hub.presenceMembers(envId, roomId) : Promise.resolve([]),
  ]);
  return { id: roomId, seq, threads, presence, activity, drawing };
}

type Handler<T extends ClientMessage['type']> = (hub: RealtimeHub, conn: Connection, message: ClientMessageOf<T>) => Promise<void> | void;

const actorOf = (conn: Connection): Actor => ({ kind: 'user', externalId: conn.identity!.user.id });
const ack = (conn: Connection, ref: string | undefined, extra: { id?: string; seq?: number } = {}) => {
  if (ref) conn.send({ type: 'ack', ref, ...extra });
};

/**
 * What a retried create (offline queue, lost ack) runs into: its id exists, or its attachments
 * are already attached to it. The handler then checks the object is the sender's and acks.
 */
const isRetryConflict = (err: PulseError) => err.code === 'already_exists' || err.code === 'attachment_in_use';

/** The thread exists in the connection's room (ids from other rooms or environments are unknown here). */
async function threadInRoom(hub: RealtimeHub, conn: Connection, threadId: string) {
  const { envId, roomId } = conn.identity!;
  const thread = await hub.ctx.store.getThread(envId, threadId);
  if (!thread || thread.roomId !== roomId) throw new PulseError('thread_not_found');
  return thread;
}

async function commentInRoom(hub: RealtimeHub, conn: Connection, commentId: string): Promise<void> {
  const roomId = await hub.ctx.store.commentRoom(conn.identity!.envId, commentId);
  if (roomId !== conn.identity!.roomId) throw new PulseError('comment_not_found');
}

function durableRateLimit(conn: Connection): void {
  if (!conn.durable.take()) {
    strike(conn);
    throw new PulseError('rate_limited');
  }
}

type Flag = 'showCursors' | 'showPresence' | 'showTypingIndicators';

/** Queues an ephemeral event for the room's next tick, unless the environment turned its feature off. */
function relay(hub: RealtimeHub, conn: Connection, flag: Flag | null, event: EphemeralEvent): void {
  if (flag && hub.configFor(conn.identity!.envId)?.[flag] === false) return;
  // Someone appearing offline leaves no live traces either.
  if (conn.appearOffline) return;
  conn.room!.queue(conn.identity!.user.id, event);
}

const HANDLERS: { [T in ClientMessage['type']]: Handler<T> } = {
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
    durableRateLimit(conn);
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
        const existing = await hub.ctx.store.getThreadWithComments(envId, m.id);
        if (existing && existing.roomId === roomId && existing.comments[0]?.userId === user.id) return ack(conn, m.ref, { id: m.id });
      }
      throw err;
    }
  },
  'thread:resolve': async (hub, conn, m) => {
    durableRateLimit(conn);
    await threadInRoom(hub, conn, m.threadId);
    await hub.ctx.collab.setResolved(conn.identity!.envId, actorOf(conn), m.threadId, m.resolved);
    ack(conn, m.ref, { id: m.threadId });
  },
  'thread:delete': async (hub, conn, m) => {
    durableRateLimit(conn);
    await threadInRoom(hub, conn, m.threadId);
    await hub.ctx.collab.deleteThread(conn.identity!.envId, actorOf(conn), m.threadId);
    ack(conn, m.ref, { id: m.threadId });
  },
  'comment:create': async (hub, conn, m) => {
    durableRateLimit(conn);
    await threadInRoom(hub, conn, m.threadId);
    const { envId, user } = conn.identity!;
    try {
      const comment = await hub.ctx.collab.addComment(envId, actorOf(conn), {
        ...(m.id ? { id: m.id } : {}),
        threadId: m.threadId,
        authorId: user.id,
        body: m.body,
        mentions: m.mentions ?? [],
        ...(m.attachmentIds ? { attachmentIds: m.attachmentIds } : {}),
      });
      ack(conn, m.ref, { id: comment.id });
    } catch (err) {
      if (err instanceof PulseError && isRetryConflict(err) && m.id) {
        const existing = await hub.ctx.store.getComment(envId, m.id);
        if (existing && existing.threadId === m.threadId && existing.userId === user.id) return ack(conn, m.ref, { id: m.id });
      }
      throw err;
    }
  },
  'comment:edit': async (hub, conn, m) => {
    durableRateLimit(conn);
    await commentInRoom(hub, conn, m.commentId);
    await hub.ctx.collab.editComment(conn.identity!.envId, actorOf(conn), m.commentId, {
      body: m.body,
      ...(m.mentions ? { mentions: m.mentions } : {}),
      ...(m.attachmentIds ? { attachmentIds: m.attachmentIds } : {}),
    });
    ack(conn, m.ref, { id: m.commentId });
  },
  'comment:delete': async (hub, conn, m) => {
    durableRateLimit(conn);
    await commentInRoom(hub, conn, m.commentId);
    await hub.ctx.collab.deleteComment(conn.identity!.envId, actorOf(conn), m.commentId);
    ack(conn, m.ref, { id: m.commentId });
  },
  'reaction:add': async (hub, conn, m) => {
    durableRateLimit(conn);
    await commentInRoom(hub, conn, m.targetId);
    const { reaction } = await hub.ctx.collab.addReaction(conn.identity!.envId, { commentId: m.targetId, userId: conn.identity!.user.id, emoji: m.emoji });
    ack(conn, m.ref, { id: reaction.id });
  },
  'reaction:remove': async (hub, conn, m) => {
    durableRateLimit(conn);
    const reaction = await hub.ctx.store.getReaction(conn.identity!.envId, m.reactionId);
    if (!reaction) throw new PulseError('reaction_not_found');
    await commentInRoom(hub, conn, reaction.targetId).catch(() => {
      throw new PulseError('reaction_not_found');
    });
    await hub.ctx.collab.removeReaction(conn.identity!.envId, actorOf(conn), m.reactionId);
    ack(conn, m.ref, { id: m.reactionId });
  },
  'draw:stroke': async (hub, conn, m) => {
    durableRateLimit(conn);
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
      if (err instanceof PulseError && err.code === 'already_exists' && m.id) return ack(conn, m.ref, { id: m.id });
      throw err;
    }
  },
  'draw:clear': async (hub, conn, m) => {
    durableRateLimit(conn);
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
    const config = hub.configFor(envId) ?? (await hub.ctx.configs.require(envId));
    conn.send({ type: 'room:state', room: await loadRoomState(hub, envId, roomId, config) });
    ack(conn, m.ref);
  },
};
