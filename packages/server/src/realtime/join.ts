import { LIMITS, PulseError, TOKEN_CLOCK_TOLERANCE_S, type ClientMessageOf, type PulseUser } from '@pulse/protocol';
import { isUnavailable } from '../store/errors.ts';
import type { Connection } from './connection.ts';
import type { RealtimeHub } from './hub.ts';
import { frameWithState } from './room-state.ts';

/**
 * `auth`: verifies the key and token, joins the room, and answers with auth:ok carrying the
 * user, the config and the room's full state. Durable events published while the answer is
 * being prepared wait in the connection's backlog and follow it.
 */
export async function authenticate(hub: RealtimeHub, conn: Connection, message: ClientMessageOf<'auth'>): Promise<void> {
  const { ctx } = hub;
  conn.authenticating = true;
  try {
    const verified = await ctx.tokens.verify(message.apiKey, message.token);
    const envId = verified.environmentId;
    hub.signIns.take(envId, verified.user.externalId);
    // A room open on this node is stored already: no read for the common case (reconnect waves).
    if (!hub.registry.room(envId, message.room) && (await ctx.store.roomSeq(envId, message.room)) === undefined) hub.newRooms.take(envId, verified.user.externalId);
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
      // The skew the check allowed counts here too: a token just accepted is not closed at once.
      expiresAt: verified.expiresAt.getTime() + TOKEN_CLOCK_TOLERANCE_S * 1000,
    };
    conn.deviceType = message.deviceType ?? 'desktop';
    const room = hub.registry.join(conn, config);
    if (room.ready) {
      // Cluster mode: the room's channel and the other nodes' presence first.
      await room.ready;
      if (!room.connections.has(conn)) return; // closed meanwhile (already detached)
    }
    room.presence.add(conn);
    const [state, notifications] = await Promise.all([
      hub.snapshots.json(envId, message.room, config),
      ctx.store.listNotifications(envId, user.id, LIMITS.notificationsInState),
    ]);
    if (!conn.open) return hub.registry.detach(conn);
    conn.sendNow(
      frameWithState(
        `{"type":"auth:ok","user":${JSON.stringify(user)},"config":${JSON.stringify(config)},"room":`,
        state,
        `,"notifications":${JSON.stringify(notifications)},"connectionId":${JSON.stringify(conn.id)},"serverTime":"${new Date().toISOString()}"}`,
      ),
    );
    conn.stateSentAt = performance.now();
    conn.releaseBacklog();
  } catch (err) {
    if (conn.identity) hub.registry.detach(conn);
    conn.identity = undefined;
    if (err instanceof PulseError) hub.rejectAuth(conn, err);
    else {
      console.error('[pulse] auth failed:', err);
      hub.rejectAuth(conn, new PulseError(isUnavailable(err) ? 'service_unavailable' : 'internal_error'));
    }
  } finally {
    conn.authenticating = false;
  }
}
